//! Identity for HTTP endpoints: `Authorization: Bearer <JWT>`, verified like WebSocket tokens.
//! A header (not a cookie) carries the token, so these endpoints are not exposed to CSRF.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use crate::auth::{AuthError, Authenticator};
use crate::domain::identity::Identity;

/// Why a request was refused; answers 401 or 403 with `{error, message}`.
#[derive(Debug)]
pub enum Refused {
    MissingToken,
    Token(AuthError),
    NotAdmin,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::MissingToken => f.write_str("send Authorization: Bearer <token>"),
            Refused::Token(e) => write!(f, "{e}"),
            Refused::NotAdmin => f.write_str("this endpoint needs the admin role"),
        }
    }
}

impl ResponseError for Refused {
    fn status_code(&self) -> StatusCode {
        match self {
            Refused::NotAdmin => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            Refused::MissingToken => "missing_token",
            Refused::Token(AuthError::Disabled) => "auth_disabled",
            Refused::Token(_) => "invalid_token",
            Refused::NotAdmin => "forbidden",
        };
        HttpResponse::build(self.status_code())
            .json(json!({"error": code, "message": self.to_string()}))
    }
}

/// The caller's identity from the bearer token.
pub fn bearer(req: &HttpRequest, auth: &Authenticator) -> Result<Identity, Refused> {
    let token = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(Refused::MissingToken)?;
    auth.verify(token).map_err(Refused::Token)
}

/// Like `bearer`, and the identity must have the admin role.
pub fn admin(req: &HttpRequest, auth: &Authenticator) -> Result<Identity, Refused> {
    let identity = bearer(req, auth)?;
    if identity.admin {
        Ok(identity)
    } else {
        Err(Refused::NotAdmin)
    }
}
