//! The client protocol's inbound side: text frame -> typed `Request`, or a typed error.
//!
//! `{"op": ..., "id": <optional number>, ...}`. Parsing never fails silently: every rejection
//! carries an `ErrorCode` and a message naming what was wrong.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::filter::PatternSubscription;
use super::history::Position;

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Option<u64>,
    pub op: Command,
}

/// What a client asks: a change of the session's own state (answered at once from it), or a
/// history read or write (answered once Redis has).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    State(ClientOp),
    /// Send what followed these positions; the keys are recoverable stream names.
    Resume {
        streams: BTreeMap<String, Position>,
    },
    /// Everything up to these offsets was handled; only `user` is acknowledged.
    Ack {
        streams: BTreeMap<String, u64>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientOp {
    Auth {
        token: String,
    },
    Subscribe {
        topics: Vec<String>,
    },
    Unsubscribe {
        topics: Vec<String>,
    },
    Watchlist {
        symbols: Vec<String>,
    },
    PatternSubscriptions {
        subscriptions: Vec<PatternSubscription>,
    },
    Ping,
}

/// Why a client's frame or request was refused; serialised as its wire name
/// ([`ErrorCode::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidJson,
    InvalidFrame,
    MissingOp,
    UnknownOp,
    InvalidField,
    FrameTooLarge,
    BinaryNotSupported,
    InvalidToken,
    AuthDisabled,
    Forbidden,
    UnknownTopic,
    TooManyTopics,
    TooManySymbols,
    RateLimited,
    /// Redis could not be reached for an op that needs it.
    Unavailable,
}

impl ErrorCode {
    /// The name clients see, in `error` frames and, for token refusals, in HTTP error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidFrame => "invalid_frame",
            ErrorCode::MissingOp => "missing_op",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::BinaryNotSupported => "binary_not_supported",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::AuthDisabled => "auth_disabled",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::UnknownTopic => "unknown_topic",
            ErrorCode::TooManyTopics => "too_many_topics",
            ErrorCode::TooManySymbols => "too_many_symbols",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The `data` of an `error` frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip)]
    pub id: Option<u64>,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
            id: None,
        }
    }

    fn with_id(mut self, id: Option<u64>) -> Self {
        self.id = id;
        self
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthArgs {
    token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicsArgs {
    topics: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SymbolsArgs {
    symbols: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternArgs {
    subscriptions: Vec<PatternSubscription>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResumeArgs {
    streams: BTreeMap<String, Position>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AckArgs {
    streams: BTreeMap<String, u64>,
}

pub fn parse_request(text: &str) -> Result<Request, ProtocolError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ProtocolError::new(
            ErrorCode::InvalidJson,
            format!("frame is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(mut obj) = value else {
        return Err(ProtocolError::new(
            ErrorCode::InvalidFrame,
            "frame must be a JSON object",
        ));
    };
    let id = match obj.remove("id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            ProtocolError::new(ErrorCode::InvalidField, "id must be a non-negative integer")
        })?),
    };
    let op = match obj.remove("op") {
        Some(Value::String(op)) => op,
        Some(_) => {
            return Err(
                ProtocolError::new(ErrorCode::InvalidField, "op must be a string").with_id(id),
            )
        }
        None => {
            return Err(ProtocolError::new(ErrorCode::MissingOp, "frame has no \"op\"").with_id(id))
        }
    };
    parse_op(&op, obj, id)
}

/// The op named `op` with the arguments `obj`, answered with `id`: the request of a `/ws`
/// frame once its `op` and `id` are taken out, or of a Socket.IO event (its name, its data and
/// its acknowledgement id).
pub fn parse_op(
    op: &str,
    obj: Map<String, Value>,
    id: Option<u64>,
) -> Result<Request, ProtocolError> {
    let state = |op: Result<ClientOp, ProtocolError>| op.map(Command::State);
    let op = match op {
        "auth" => state(args::<AuthArgs>(obj).map(|a| ClientOp::Auth { token: a.token })),
        "subscribe" => {
            state(args::<TopicsArgs>(obj).map(|a| ClientOp::Subscribe { topics: a.topics }))
        }
        "unsubscribe" => {
            state(args::<TopicsArgs>(obj).map(|a| ClientOp::Unsubscribe { topics: a.topics }))
        }
        "watchlist" => {
            state(args::<SymbolsArgs>(obj).map(|a| ClientOp::Watchlist { symbols: a.symbols }))
        }
        "pattern_subscriptions" => {
            state(
                args::<PatternArgs>(obj).map(|a| ClientOp::PatternSubscriptions {
                    subscriptions: a.subscriptions,
                }),
            )
        }
        "ping" => state(args::<NoArgs>(obj).map(|_| ClientOp::Ping)),
        "resume" => args::<ResumeArgs>(obj).map(|a| Command::Resume { streams: a.streams }),
        "ack" => args::<AckArgs>(obj).map(|a| Command::Ack { streams: a.streams }),
        other => Err(ProtocolError::new(
            ErrorCode::UnknownOp,
            format!(
                "unknown op {other:?}; expected one of auth, subscribe, unsubscribe, watchlist, \
                 pattern_subscriptions, ping, resume, ack"
            ),
        )),
    };
    op.map(|op| Request { id, op }).map_err(|e| e.with_id(id))
}

fn args<T: DeserializeOwned>(obj: Map<String, Value>) -> Result<T, ProtocolError> {
    serde_json::from_value(Value::Object(obj))
        .map_err(|e| ProtocolError::new(ErrorCode::InvalidField, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> ErrorCode {
        parse_request(text).unwrap_err().code
    }

    #[test]
    fn parses_every_op() {
        let r = parse_request(r#"{"op":"subscribe","id":3,"topics":["patterns"]}"#).unwrap();
        assert_eq!(r.id, Some(3));
        assert_eq!(
            r.op,
            Command::State(ClientOp::Subscribe {
                topics: vec!["patterns".into()]
            })
        );
        assert_eq!(
            parse_request(r#"{"op":"ping"}"#).unwrap().op,
            Command::State(ClientOp::Ping)
        );
        assert!(matches!(
            parse_request(r#"{"op":"pattern_subscriptions","subscriptions":[{"pattern":"Doji","min_confidence":0.7}]}"#)
                .unwrap()
                .op,
            Command::State(ClientOp::PatternSubscriptions { .. })
        ));
        assert!(matches!(
            parse_request(r#"{"op":"auth","token":"t"}"#).unwrap().op,
            Command::State(ClientOp::Auth { .. })
        ));
        assert!(matches!(
            parse_request(r#"{"op":"watchlist","symbols":[]}"#)
                .unwrap()
                .op,
            Command::State(ClientOp::Watchlist { .. })
        ));
        let resume = parse_request(
            r#"{"op":"resume","id":4,"streams":{"patterns":{"epoch":"e1","offset":1040}}}"#,
        )
        .unwrap();
        let Command::Resume { streams } = resume.op else {
            panic!("not a resume: {resume:?}");
        };
        assert_eq!(streams["patterns"].offset, 1040);
        assert_eq!(
            parse_request(r#"{"op":"ack","streams":{"user":7}}"#)
                .unwrap()
                .op,
            Command::Ack {
                streams: [("user".to_owned(), 7)].into()
            }
        );
    }

    #[test]
    fn rejects_bad_frames_with_named_codes() {
        assert_eq!(code("not json"), ErrorCode::InvalidJson);
        assert_eq!(code("[1,2]"), ErrorCode::InvalidFrame);
        assert_eq!(code(r#"{"topics":[]}"#), ErrorCode::MissingOp);
        assert_eq!(code(r#"{"op":"explode"}"#), ErrorCode::UnknownOp);
        assert_eq!(code(r#"{"op":7}"#), ErrorCode::InvalidField);
        assert_eq!(
            code(r#"{"op":"subscribe","topics":"patterns"}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"op":"subscribe","topics":[1]}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"op":"subscribe","topics":[],"extra":1}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(code(r#"{"op":"ping","id":-1}"#), ErrorCode::InvalidField);
        assert_eq!(
            code(r#"{"op":"resume","streams":{"patterns":{"offset":3}}}"#),
            ErrorCode::InvalidField,
            "a position needs its epoch"
        );
        assert_eq!(
            code(r#"{"op":"ack","streams":{"user":-1}}"#),
            ErrorCode::InvalidField
        );
    }

    #[test]
    fn error_codes_serialise_as_their_wire_names() {
        let e = ProtocolError::new(ErrorCode::TooManySymbols, "at most 3");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"code":"too_many_symbols","message":"at most 3"}"#
        );
    }

    #[test]
    fn errors_echo_the_id_when_known() {
        let e = parse_request(r#"{"op":"nope","id":9}"#).unwrap_err();
        assert_eq!(e.id, Some(9));
    }
}
