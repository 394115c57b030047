//! `ApiError`: every error an HTTP endpoint answers, as a status and the JSON body clients
//! parse, `{"error": <code>, "message": <text>}`. Two endpoints add a field they have always sent:
//! a refused submission lists its invalid fields instead of a message, and a refused cancel
//! names the job's final status. Handlers return it and actix writes the response.

use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::auth::AuthError;
use crate::domain::backtest::JobStatus;
use crate::domain::fields::FieldErrors;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: Detail,
    /// Seconds for a `Retry-After` header: the failure is momentary.
    retry_after: Option<u32>,
}

#[derive(Debug)]
enum Detail {
    Message(String),
    /// Every invalid field of a request, by name; there is no single message to give.
    Fields(FieldErrors),
    /// The status that made the request impossible, next to the message.
    JobStatus(String, JobStatus),
}

/// The body's fields in alphabetical order, the order these bodies had when they were built
/// with `json!` (whose maps sort their keys), so clients comparing bytes see no change.
#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a FieldErrors>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<JobStatus>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: Detail::Message(message.into()),
            retry_after: None,
        }
    }

    /// 400 `invalid_request` with every invalid field of the request.
    pub fn invalid_request(fields: FieldErrors) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            detail: Detail::Fields(fields),
            retry_after: None,
        }
    }

    /// 503: Redis, which holds what the endpoint reads or writes, did not answer. Logged, since
    /// the client cannot fix it.
    pub fn redis_unavailable(api: &str, e: redis::RedisError) -> Self {
        log::warn!("{api}: Redis error: {e}.");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "redis_unavailable",
            e.to_string(),
        )
    }

    /// 401 for a request without a bearer token.
    pub fn missing_token() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "send Authorization: Bearer <token>",
        )
    }

    /// 403 for a valid token without the role an endpoint needs.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 409: the job already finished with `status`.
    pub fn job_finished(status: JobStatus) -> Self {
        let message = format!("cannot cancel a job with status {}", status.as_str());
        ApiError {
            status: StatusCode::CONFLICT,
            code: "job_finished",
            detail: Detail::JobStatus(message, status),
            retry_after: None,
        }
    }

    /// Asks the client to retry after `secs` seconds.
    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    fn body(&self) -> Body<'_> {
        let (message, fields, status) = match &self.detail {
            Detail::Message(message) => (Some(message.as_str()), None, None),
            Detail::Fields(fields) => (None, Some(fields), None),
            Detail::JobStatus(message, status) => (Some(message.as_str()), None, Some(*status)),
        };
        Body {
            error: self.code,
            fields,
            message,
            status,
        }
    }
}

/// A refused token: 401 with the code the WebSocket protocol gives the same refusal.
impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, e.code().as_str(), e.to_string())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Detail::Message(message) | Detail::JobStatus(message, _) => {
                write!(f, "{}: {message}", self.code)
            }
            Detail::Fields(fields) => write!(f, "{}: {} invalid fields", self.code, fields.len()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(e: &ApiError) -> String {
        serde_json::to_string(&e.body()).unwrap()
    }

    #[test]
    fn bodies_keep_their_shapes() {
        let e = ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such job");
        assert_eq!(body(&e), r#"{"error":"not_found","message":"no such job"}"#);
        let e = ApiError::job_finished(JobStatus::Completed);
        assert_eq!(e.status_code(), StatusCode::CONFLICT);
        assert_eq!(
            body(&e),
            r#"{"error":"job_finished","message":"cannot cancel a job with status completed","status":"completed"}"#
        );
        let fields = FieldErrors::from([("patterns".to_owned(), "required".to_owned())]);
        let e = ApiError::invalid_request(fields);
        assert_eq!(e.status_code(), StatusCode::BAD_REQUEST);
        assert_eq!(
            body(&e),
            r#"{"error":"invalid_request","fields":{"patterns":"required"}}"#
        );
    }

    #[test]
    fn token_refusals_use_the_protocol_codes() {
        let e = ApiError::from(AuthError::Disabled);
        assert_eq!(e.status_code(), StatusCode::UNAUTHORIZED);
        assert_eq!(e.code, "auth_disabled");
        assert_eq!(ApiError::from(AuthError::Expired).code, "invalid_token");
        assert_eq!(
            ApiError::missing_token().status_code(),
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn retry_after_becomes_a_header() {
        let response = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "x")
            .retry_after(1)
            .error_response();
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
    }
}
