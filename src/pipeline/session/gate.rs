//! What a session does with each frame its client sends, before any op is read: the rate limit
//! (`session.max_ops_per_second`), the size limit and the protocol's own answers (pong, close).
//!
//! Every frame counts against the limit, whatever it is (text, binary, a fragment, an
//! oversized message, ping, pong), because each costs the server work: a client that floods
//! with frames the session refuses must meet the same `rate_limited` errors and abuse close as
//! one that floods with ops. A close frame counts too, but is always honoured: the client is
//! leaving.

use std::mem;
use std::time::{Duration, Instant};

use actix_http::ws::CloseReason as WsCloseReason;
use actix_web::web::Bytes;
use bytestring::ByteString;

use super::reader::{Inbound, Violation};
use crate::domain::close::CloseReason;
use crate::domain::protocol::{ErrorCode, ProtocolError};

/// What the session must do for one frame.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// A whole text message, within the limits: the session's own business.
    Text(ByteString),
    /// A whole binary message, within the limits.
    Binary(Bytes),
    /// Answer a ping.
    Pong(Bytes),
    /// Send this `error` frame.
    Error(ProtocolError),
    /// The connection breaks the protocol: close it with the violation's reason.
    Fail(Violation),
    /// Close the connection with this reason.
    Close(CloseReason),
    /// The client closes: answer with the same close frame.
    Closed(Option<WsCloseReason>),
    /// Nothing to do: a pong, a fragment that does not end its message, or the end of a
    /// message some of whose frames were refused.
    Nothing,
}

/// One session's limits on what its client sends.
pub struct Gate {
    rate: OpRate,
    max_message_bytes: usize,
    /// A fragment of the message being read was refused, so the whole message is dropped.
    dropping: bool,
}

impl Gate {
    pub fn new(max_ops_per_second: u32, max_message_bytes: usize, now: Instant) -> Self {
        Gate {
            rate: OpRate::new(max_ops_per_second, now),
            max_message_bytes,
            dropping: false,
        }
    }

    pub fn step(&mut self, frame: Result<Inbound, Violation>, now: Instant) -> Step {
        let frame = match frame {
            Ok(frame) => frame,
            Err(violation) => return Step::Fail(violation),
        };
        match (frame, self.rate.admit(now)) {
            (Inbound::Close(reason), _) => Step::Closed(reason),
            (_, Admit::Abuse) => Step::Close(CloseReason::Abuse),
            (frame, Admit::No) => {
                // Control frames may come between fragments; only data frames decide the fate
                // of the message they belong to.
                match frame {
                    Inbound::Fragment => self.dropping = true,
                    Inbound::Text(_) | Inbound::Binary(_) | Inbound::TooLarge { .. } => {
                        self.dropping = false
                    }
                    Inbound::Ping(_) | Inbound::Pong | Inbound::Close(_) => {}
                }
                let msg = format!("more than {} frames per second", self.rate.limit);
                Step::Error(ProtocolError::new(ErrorCode::RateLimited, msg))
            }
            (Inbound::Text(_) | Inbound::Binary(_) | Inbound::TooLarge { .. }, Admit::Yes)
                if mem::take(&mut self.dropping) =>
            {
                Step::Nothing
            }
            (Inbound::Text(text), Admit::Yes) => Step::Text(text),
            (Inbound::Binary(data), Admit::Yes) => Step::Binary(data),
            (Inbound::TooLarge { bytes }, Admit::Yes) => {
                let msg = format!(
                    "message of {bytes} bytes exceeds the {} byte limit",
                    self.max_message_bytes
                );
                Step::Error(ProtocolError::new(ErrorCode::FrameTooLarge, msg))
            }
            (Inbound::Ping(payload), Admit::Yes) => Step::Pong(payload),
            (Inbound::Fragment | Inbound::Pong, Admit::Yes) => Step::Nothing,
        }
    }
}

enum Admit {
    Yes,
    No,
    /// Far beyond the limit for a whole window: the client ignores `rate_limited` errors.
    Abuse,
}

/// Fixed one-second window frame counter.
struct OpRate {
    limit: u32,
    window_start: Instant,
    count: u32,
}

impl OpRate {
    fn new(limit: u32, now: Instant) -> Self {
        OpRate {
            limit: limit.max(1),
            window_start: now,
            count: 0,
        }
    }

    fn admit(&mut self, now: Instant) -> Admit {
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        if self.count <= self.limit {
            Admit::Yes
        } else if self.count <= self.limit.saturating_mul(10) {
            Admit::No
        } else {
            Admit::Abuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_rate_limits_then_flags_abuse_and_resets_each_second() {
        let start = Instant::now();
        let mut rate = OpRate::new(2, start);
        assert!(matches!(rate.admit(start), Admit::Yes));
        assert!(matches!(rate.admit(start), Admit::Yes));
        assert!(matches!(rate.admit(start), Admit::No));
        for _ in 0..17 {
            rate.admit(start);
        }
        assert!(matches!(rate.admit(start), Admit::Abuse));
        assert!(matches!(
            rate.admit(start + Duration::from_secs(1)),
            Admit::Yes
        ));
    }

    fn code(step: &Step) -> Option<ErrorCode> {
        match step {
            Step::Error(err) => Some(err.code),
            _ => None,
        }
    }

    /// Floods one second with `frame` and returns what the gate answered each time, up to and
    /// including the first close.
    fn flood(frame: impl Fn() -> Inbound) -> Vec<Step> {
        let now = Instant::now();
        let mut gate = Gate::new(5, 16, now);
        let mut steps = Vec::new();
        for _ in 0..100 {
            let step = gate.step(Ok(frame()), now);
            let closed = matches!(step, Step::Close(_));
            steps.push(step);
            if closed {
                break;
            }
        }
        steps
    }

    #[test]
    fn every_kind_of_frame_counts_toward_the_rate_limit_and_abuse() {
        let kinds = [
            ("text", Inbound::Text("{}".into())),
            ("binary", Inbound::Binary(Bytes::from_static(b"x"))),
            ("oversized", Inbound::TooLarge { bytes: 100 }),
            ("ping", Inbound::Ping(Bytes::new())),
            ("pong", Inbound::Pong),
            ("fragment", Inbound::Fragment),
        ];
        for (kind, frame) in kinds {
            let steps = flood(|| frame.clone());
            assert_eq!(steps.len(), 51, "{kind}: {steps:?}");
            assert!(
                steps[5..50]
                    .iter()
                    .all(|s| code(s) == Some(ErrorCode::RateLimited)),
                "{kind}: {steps:?}"
            );
            assert_eq!(steps[50], Step::Close(CloseReason::Abuse), "{kind}");
            // Nothing over the limit gets a real answer: no pong, no echo.
            assert!(
                !steps[5..]
                    .iter()
                    .any(|s| matches!(s, Step::Pong(_) | Step::Text(_) | Step::Binary(_))),
                "{kind}"
            );
        }
    }

    #[test]
    fn within_the_limit_frames_get_their_answers() {
        let now = Instant::now();
        let mut gate = Gate::new(50, 16, now);
        let mut step = |frame| gate.step(Ok(frame), now);
        assert_eq!(step(Inbound::Text("t".into())), Step::Text("t".into()));
        assert_eq!(
            step(Inbound::Binary(Bytes::from_static(b"b"))),
            Step::Binary(Bytes::from_static(b"b"))
        );
        assert_eq!(
            step(Inbound::Ping(Bytes::from_static(b"p"))),
            Step::Pong(Bytes::from_static(b"p"))
        );
        assert_eq!(step(Inbound::Pong), Step::Nothing);
        assert_eq!(step(Inbound::Fragment), Step::Nothing);
        assert_eq!(
            code(&step(Inbound::TooLarge { bytes: 17 })),
            Some(ErrorCode::FrameTooLarge)
        );
    }

    #[test]
    fn close_and_violations_end_the_session_whatever_the_rate() {
        let now = Instant::now();
        let mut gate = Gate::new(1, 16, now);
        for _ in 0..20 {
            gate.step(Ok(Inbound::Pong), now);
        }
        assert_eq!(gate.step(Ok(Inbound::Close(None)), now), Step::Closed(None));
        let violation = Violation::InvalidUtf8("text message");
        assert_eq!(
            gate.step(Err(violation.clone()), now),
            Step::Fail(violation)
        );
    }

    #[test]
    fn a_message_with_a_refused_fragment_is_dropped_whole() {
        let start = Instant::now();
        let later = start + Duration::from_secs(1);
        let mut gate = Gate::new(2, 16, start);
        assert_eq!(gate.step(Ok(Inbound::Fragment), start), Step::Nothing);
        assert_eq!(gate.step(Ok(Inbound::Fragment), start), Step::Nothing);
        let refused = gate.step(Ok(Inbound::Fragment), start);
        assert_eq!(code(&refused), Some(ErrorCode::RateLimited));
        // A new window: the ping between fragments is answered, the message is not delivered.
        assert_eq!(
            gate.step(Ok(Inbound::Ping(Bytes::new())), later),
            Step::Pong(Bytes::new())
        );
        assert_eq!(
            gate.step(Ok(Inbound::Text("end".into())), later),
            Step::Nothing
        );
        // The next message is delivered again.
        assert_eq!(
            gate.step(
                Ok(Inbound::Text("next".into())),
                later + Duration::from_secs(1)
            ),
            Step::Text("next".into())
        );
    }
}
