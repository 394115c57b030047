//! The echo session behind the test-only `GET /autobahn/echo` (`server.autobahn_echo`): every
//! message goes back as it came. It reads its client exactly as `WsSession` does (`inbound`:
//! the same reader, limits, rate gate and close handling), so that the Autobahn suite
//! (scripts/autobahn.sh) tests what `/ws` clients get. It sends no heartbeat pings: a case must
//! see only the frames it asked for.

use std::time::Instant;

use actix::prelude::*;
use actix_web::web::Bytes;
use actix_web_actors::ws;
use bytestring::ByteString;

use super::gate::Gate;
use super::inbound::{self, ClientFrames};
use super::reader::{Inbound, Violation};
use super::SessionConfig;
use crate::domain::outbound::{EventName, Frame};
use crate::domain::protocol::ProtocolError;

pub struct EchoSession {
    gate: Gate,
}

impl EchoSession {
    pub fn new(config: &SessionConfig) -> Self {
        EchoSession {
            gate: Gate::new(
                config.max_ops_per_second,
                config.max_frame_bytes,
                Instant::now(),
            ),
        }
    }
}

impl Actor for EchoSession {
    type Context = ws::WebsocketContext<Self>;
}

impl ClientFrames for EchoSession {
    fn gate(&mut self) -> &mut Gate {
        &mut self.gate
    }

    fn text(&mut self, text: ByteString, ctx: &mut Self::Context) {
        ctx.text(text);
    }

    fn binary(&mut self, data: Bytes, ctx: &mut Self::Context) {
        ctx.binary(data);
    }

    fn error(&mut self, err: ProtocolError, ctx: &mut Self::Context) {
        ctx.text(Frame::encode_reply(EventName::Error, &err, None).0);
    }
}

impl StreamHandler<Result<Inbound, Violation>> for EchoSession {
    fn handle(&mut self, frame: Result<Inbound, Violation>, ctx: &mut Self::Context) {
        inbound::handle(self, frame, ctx);
    }
}

/// Never called: see `inbound::upgrade`.
impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for EchoSession {
    fn handle(&mut self, _: Result<ws::Message, ws::ProtocolError>, _: &mut Self::Context) {}
}
