//! Identity for HTTP endpoints: `Authorization: Bearer <JWT>`, verified like WebSocket tokens.
//! A header (not a cookie) carries the token, so these endpoints are not exposed to CSRF.

use actix_web::HttpRequest;

use super::error::ApiError;
use crate::auth::{AuthError, Authenticator};
use crate::domain::identity::Identity;
use crate::domain::ids::UserId;

/// The caller's identity from the bearer token; 401 without a valid one.
pub fn bearer(req: &HttpRequest, auth: &Authenticator) -> Result<Identity, ApiError> {
    let token = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::missing_token)?;
    auth.verify(token).map_err(ApiError::from)
}

/// The user a valid bearer token names.
pub fn user(req: &HttpRequest, auth: &Authenticator) -> Result<UserId, ApiError> {
    // A verified token always names a user; treat anything else as an invalid token.
    bearer(req, auth)?
        .user
        .ok_or_else(|| AuthError::Invalid("no user".into()).into())
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
