//! The parsed message: a JSON tree that borrows its keys and strings from the payload.
//!
//! `serde_json::Value` copies every key and string of every message into its own allocation
//! and every object into a `BTreeMap`; at ingest rates that was most of the normaliser's time,
//! for fields no builder reads (BENCHMARKS.md, "Ingest without a `Value` tree"). `Json`
//! is parsed by the same `serde_json` deserializer, so what is valid JSON does not change
//! (strict syntax, UTF-8, the nesting limit, number ranges); only a string with an escape is
//! copied (unescaped), and an object is one `Vec` of its entries in payload order. A key given
//! twice resolves to its last value, as in `serde_json::Map`. Builders that forward a field as
//! JSON (`JsonMap`, `Value`) convert just that field with `to_value` / `to_map`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::super::event::JsonMap;

/// One JSON value of a message.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// A JSON object's entries in payload order, duplicates included (lookups take the last).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Object<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Json<'a> {
    /// Parses `payload` strictly, as `serde_json::from_slice::<Value>` would.
    pub fn parse(payload: &'a [u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(payload)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// The field `key` of an object; `None` for anything else.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(object) => object.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The owned `serde_json::Value` this parses to, for fields forwarded as JSON.
    pub fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.as_ref().to_owned()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(object) => Value::Object(object.to_map()),
        }
    }
}

impl<'a> Object<'a> {
    /// The value of `key`; for a key given twice, the last one.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Every key as given, duplicates included.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }

    /// The owned map: inserted in payload order, so a repeated key keeps its last value.
    pub fn to_map(&self) -> JsonMap {
        let mut map = JsonMap::new();
        for (key, value) in &self.0 {
            map.insert(key.as_ref().to_owned(), value.to_value());
        }
        map
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

/// A key or string: borrowed from the payload when it has no escape, unescaped into its own
/// `String` otherwise. (serde's own `Cow<str>` always copies, which is what this module avoids.)
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(s)))
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    // As `Value`'s visitor: a float serde_json parsed is finite, so this is never `Null`.
    fn visit_f64<E>(self, n: f64) -> Result<Json<'de>, E> {
        Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E: Error>(self, s: &'de str) -> Result<Json<'de>, E> {
        TextVisitor
            .visit_borrowed_str(s)
            .map(|Text(s)| Json::String(s))
    }

    fn visit_str<E: Error>(self, s: &str) -> Result<Json<'de>, E> {
        TextVisitor.visit_str(s).map(|Text(s)| Json::String(s))
    }

    fn visit_string<E: Error>(self, s: String) -> Result<Json<'de>, E> {
        TextVisitor.visit_string(s).map(|Text(s)| Json::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut entries = Vec::new();
        while let Some((Text(key), value)) = map.next_entry()? {
            entries.push((key, value));
        }
        Ok(Json::Object(Object(entries)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(payload: &str) -> Object<'_> {
        match Json::parse(payload.as_bytes()) {
            Ok(Json::Object(o)) => o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn strings_without_escapes_are_borrowed_and_escaped_ones_unescaped() {
        let o = object(r#"{"plain": "AAPL", "sym\u0062ol": "a\"b", "t\u00e9": "\u00e9"}"#);
        assert!(matches!(
            o.get("plain"),
            Some(Json::String(Cow::Borrowed("AAPL")))
        ));
        assert_eq!(o.get("symbol").and_then(Json::as_str), Some("a\"b"));
        assert_eq!(o.get("té").and_then(Json::as_str), Some("é"));
        assert_eq!(o.keys().collect::<Vec<_>>(), ["plain", "symbol", "té"]);
    }

    #[test]
    fn a_repeated_key_is_its_last_value_as_in_serde_json() {
        let payload = r#"{"a": 1, "b": {"x": 1, "x": [2]}, "a": null}"#;
        let o = object(payload);
        assert_eq!(o.get("a"), Some(&Json::Null));
        assert!(o.contains_key("a"));
        assert_eq!(o.keys().filter(|k| *k == "a").count(), 2);
        let owned: Value = serde_json::from_str(payload).unwrap();
        assert_eq!(Value::Object(o.to_map()), owned);
        assert_eq!(owned, json!({"a": null, "b": {"x": [2]}}));
    }

    #[test]
    fn to_value_is_what_serde_json_parses() {
        let payload = r#"{"n": [0, -1, 18446744073709551615, 1.5e3, 0.1], "s": "\ud83d\ude00",
                          "t": true, "f": false, "z": null, "o": {"e": {}, "a": []}}"#;
        let owned: Value = serde_json::from_str(payload).unwrap();
        assert_eq!(Json::parse(payload.as_bytes()).unwrap().to_value(), owned);
    }

    #[test]
    fn invalid_json_anywhere_is_an_error_even_in_a_field_nobody_reads() {
        for bad in [
            &br#"{"symbol": "A", "unused": "\xff"}"#[..],
            br#"{"symbol": "A", "unused": [1,]}"#,
            br#"{"symbol": "A", "unused": NaN}"#,
            br#"{"symbol": "A", "unused": 1e400}"#,
            br#"{"symbol": "A", "unused": "\q"}"#,
            br#"{"symbol": "A"} x"#,
        ] {
            assert!(
                Json::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert!(Json::parse(deep.as_bytes()).is_err());
    }
}
