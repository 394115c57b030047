//! Identity for HTTP endpoints: `Authorization: Bearer <JWT>`, verified like WebSocket tokens.
//! A header (not a cookie) carries the token, so these endpoints are not exposed to CSRF.

use actix_web::HttpRequest;

use super::error::ApiError;
use crate::auth::{AuthError, Authenticator};
use crate::domain::identity::Identity;
use crate::domain::ids::UserId;

/// The token of an `Authorization: Bearer <token>` header; `None` without one, or with another
/// scheme (such as `Basic`, which a proxy may add) or an empty token.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    // The scheme is case-insensitive (RFC 9110 section 11.1).
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty()).then_some(token)
}

/// The caller's identity from the bearer token; 401 without a valid one. Verified with the keys
/// at hand: a token naming a key the issuer's JWKS has not shown yet is refused once, and the
/// refresh it starts lets the retry through.
pub fn bearer(req: &HttpRequest, auth: &Authenticator) -> Result<Identity, ApiError> {
    let token = bearer_token(req).ok_or_else(ApiError::missing_token)?;
    auth.verify(token).map_err(ApiError::from)
}

/// The user a valid bearer token names.
pub fn user(req: &HttpRequest, auth: &Authenticator) -> Result<UserId, ApiError> {
    // A verified token always names a user; treat anything else as an invalid token.
    bearer(req, auth)?
        .user
        .ok_or_else(|| AuthError::BadSubject.into())
}

/// Like `bearer`, and the identity must have the admin role (403 otherwise).
pub fn admin(req: &HttpRequest, auth: &Authenticator) -> Result<Identity, ApiError> {
    let identity = bearer(req, auth)?;
    if identity.admin {
        Ok(identity)
    } else {
        Err(ApiError::forbidden("this endpoint needs the admin role"))
    }
}
