//! The inbound path every WebSocket session shares: the upgrade that routes the connection's
//! bytes through [`FrameStream`] (`reader`), and [`handle`], which puts each frame through the
//! session's [`Gate`] and does what the protocol requires (pong, close). What is left, whole
//! messages and `error` frames, is each session's own ([`ClientFrames`]).

use std::time::Instant;

use actix::prelude::*;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use bytestring::ByteString;

use super::gate::{Gate, Step};
use super::reader::{FrameLimits, FrameStream, Inbound, Violation};
use crate::domain::close::CloseReason;
use crate::domain::protocol::ProtocolError;

/// What a session does with what passes its gate.
pub trait ClientFrames: Actor<Context = ws::WebsocketContext<Self>> {
    fn gate(&mut self) -> &mut Gate;
    fn text(&mut self, text: ByteString, ctx: &mut Self::Context);
    fn binary(&mut self, data: Bytes, ctx: &mut Self::Context);
    /// Sends an `error` frame.
    fn error(&mut self, err: ProtocolError, ctx: &mut Self::Context);
    /// Closes the connection for `reason` (a session may log it its own way).
    fn end(&mut self, ctx: &mut Self::Context, reason: CloseReason) {
        close(ctx, reason);
    }
}

/// One frame from the client (the session's `StreamHandler` for [`FrameStream`] calls this).
pub fn handle<A: ClientFrames>(
    act: &mut A,
    frame: Result<Inbound, Violation>,
    ctx: &mut A::Context,
) {
    match act.gate().step(frame, Instant::now()) {
        Step::Text(text) => act.text(text, ctx),
        Step::Binary(data) => act.binary(data, ctx),
        Step::Error(err) => act.error(err, ctx),
        Step::Pong(payload) => ctx.pong(&payload),
        Step::Fail(violation) => {
            log::debug!("WebSocket protocol violation: {violation}");
            act.end(ctx, violation.close_reason());
        }
        Step::Close(reason) => act.end(ctx, reason),
        Step::Closed(reason) => {
            ctx.close(reason);
            ctx.stop();
        }
        Step::Nothing => {}
    }
}

/// Sends the close frame for `reason` and stops the session.
pub fn close<A>(ctx: &mut ws::WebsocketContext<A>, reason: CloseReason)
where
    A: Actor<Context = ws::WebsocketContext<A>>,
{
    ctx.close(Some(ws::CloseReason {
        code: ws::CloseCode::from(reason.code()),
        description: Some(reason.description().to_owned()),
    }));
    ctx.stop();
}

/// Answers the upgrade and starts `actor` on the connection, its client's frames read by a
/// [`FrameStream`] with `limits`.
pub fn upgrade<A>(
    actor: A,
    req: &HttpRequest,
    payload: web::Payload,
    limits: FrameLimits,
) -> Result<HttpResponse, actix_web::Error>
where
    A: ClientFrames
        + StreamHandler<Result<Inbound, Violation>>
        + StreamHandler<Result<ws::Message, ws::ProtocolError>>,
{
    let mut response = ws::handshake(req)?;
    Ok(response.streaming(run(actor, FrameStream::new(payload, limits))))
}

/// Starts `actor` on the client frames `frames`; what it writes comes out as the encoded
/// WebSocket frames the returned stream yields (the actor runs as the stream is polled).
/// actix-web-actors insists on decoding a stream of its own for the actor; it is given one that
/// never yields (so each session also implements
/// `StreamHandler<Result<ws::Message, ws::ProtocolError>>`, never called).
pub fn run<A>(
    actor: A,
    frames: impl futures_util::Stream<Item = Result<Inbound, Violation>> + 'static,
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>>
where
    A: ClientFrames
        + StreamHandler<Result<Inbound, Violation>>
        + StreamHandler<Result<ws::Message, ws::ProtocolError>>,
{
    ws::WebsocketContext::with_factory(futures_util::stream::pending(), move |ctx| {
        ctx.add_stream(frames);
        actor
    })
}
