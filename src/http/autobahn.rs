//! `GET /autobahn/echo`: a WebSocket that sends every message back, for the Autobahn
//! conformance run (scripts/autobahn.sh) only. It exists only with `server.autobahn_echo`
//! (test-only, refused unless the listener is on loopback); otherwise 404.

use actix_web::{web, Error, HttpRequest, HttpResponse};

use super::AppState;
use crate::pipeline::session::{upgrade, EchoSession};

pub async fn echo(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    if !state.autobahn_echo {
        return Ok(HttpResponse::NotFound().finish());
    }
    let config = &state.sessions.config;
    upgrade(
        EchoSession::new(config),
        &req,
        stream,
        config.frame_limits(),
    )
}
