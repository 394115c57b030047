//! Reading a request body with a deadline and a size limit, so a client that announces a body
//! and never sends it cannot hold a connection (and a worker's attention) for ever.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, BytesMut};
use futures_util::StreamExt;

use super::error::ApiError;
use super::AppState;

/// Larger than any valid request of this API (256 alert rules of 500 symbols fit).
const MAX_BODY_BYTES: usize = 2 << 20;

/// The whole body, or 408 once `server.body_timeout_secs` passed, or 413 beyond the limit.
pub async fn read(payload: web::Payload, state: &AppState) -> Result<Bytes, ApiError> {
    read_at_most(payload, state, MAX_BODY_BYTES).await
}

/// [`read`], with another limit (a Socket.IO polling payload's is `socketio.max_payload`).
pub async fn read_at_most(
    mut payload: web::Payload,
    state: &AppState,
    max_bytes: usize,
) -> Result<Bytes, ApiError> {
    let collect = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.to_string())
            })?;
            if body.len() + chunk.len() > max_bytes {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("a request body may have at most {max_bytes} bytes"),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    actix_web::rt::time::timeout(state.body_timeout, collect)
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    state.body_timeout.as_secs()
                ),
            ))
        })
}
