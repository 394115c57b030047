//! Request validation that names every invalid field at once (the HTTP API's 400 bodies), so a
//! user fixes a form in one round trip rather than one field per try.

use std::collections::BTreeMap;

/// Every invalid field of a request, by field name, with a message for the user.
pub type FieldErrors = BTreeMap<String, String>;

/// The value when valid; otherwise records the field's message.
pub fn keep<T>(errors: &mut FieldErrors, field: &str, result: Result<T, String>) -> Option<T> {
    result
        .map_err(|message| errors.insert(field.to_owned(), message))
        .ok()
}
