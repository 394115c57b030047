//! Identity for HTTP endpoints: `Authorization: Bearer <JWT>`, verified like WebSocket tokens.
//! A header (not a cookie) carries the token, so these endpoints are not exposed to CSRF.

use actix_web::HttpRequest;

use super::error::ApiError;
use crate::auth::Authenticator;
use crate::domain::identity::Identity;

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

/// Like `bearer`, and the identity must have the admin role (403 otherwise).
pub fn admin(req: &HttpRequest, auth: &Authenticator) -> Result<Identity, ApiError> {
    let identity = bearer(req, auth)?;
    if identity.admin {
        Ok(identity)
    } else {
        Err(ApiError::forbidden("this endpoint needs the admin role"))
    }
}
