//! Socket.IO v5 packets (socket.io-protocol, "Packet format"):
//! `<type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]`, carried in Engine.IO
//! `message` packets.
//!
//! Decoding checks each type's data the way the reference parser (socket.io-parser) does, so a
//! packet it would refuse is refused here too, with a typed reason. Binary packets
//! (BINARY_EVENT, BINARY_ACK) are refused as [`PacketError::Binary`]: their attachments would
//! follow as binary frames that no tickrouter op reads.

use serde_json::Value;

/// The main namespace, the only one tickrouter serves.
pub const MAIN_NAMESPACE: &str = "/";

/// Event names the protocol reserves: a client may not emit them.
const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// A packet from a client.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet<'a> {
    pub namespace: &'a str,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// CONNECT, with the client's `auth` object if it sent one.
    Connect(Option<serde_json::Map<String, Value>>),
    Disconnect,
    /// EVENT: its name and arguments, and the id to acknowledge it with, if the client wants an
    /// acknowledgement.
    Event {
        name: String,
        args: Vec<Value>,
        ack: Option<u64>,
    },
    /// ACK of a server event (the server asks for none, so a session ignores these).
    Ack {
        id: u64,
        args: Vec<Value>,
    },
    /// CONNECT_ERROR (only servers send it; a client's is refused by the session).
    ConnectError(Value),
}

/// Why a client's text is not a Socket.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketError {
    Empty,
    UnknownType(char),
    /// BINARY_EVENT or BINARY_ACK.
    Binary,
    /// The data is not JSON, or not the shape the packet type needs.
    InvalidPayload(String),
    /// An ACK without an id, or an id too large.
    InvalidAckId,
}

impl std::fmt::Display for PacketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PacketError::Empty => f.write_str("an empty Socket.IO packet"),
            PacketError::UnknownType(c) => write!(f, "unknown Socket.IO packet type {c:?}"),
            PacketError::Binary => f.write_str("binary Socket.IO packets are not supported"),
            PacketError::InvalidPayload(why) => write!(f, "invalid Socket.IO payload: {why}"),
            PacketError::InvalidAckId => f.write_str("invalid Socket.IO acknowledgement id"),
        }
    }
}

impl std::error::Error for PacketError {}

impl<'a> Packet<'a> {
    pub fn decode(text: &'a str) -> Result<Packet<'a>, PacketError> {
        let kind = text.chars().next().ok_or(PacketError::Empty)?;
        let mut rest = &text[kind.len_utf8()..];
        match kind {
            '0'..='4' => {}
            '5' | '6' => return Err(PacketError::Binary),
            other => return Err(PacketError::UnknownType(other)),
        }
        let namespace = if rest.starts_with('/') {
            let end = rest.find(',').unwrap_or(rest.len());
            let namespace = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or("");
            namespace
        } else {
            MAIN_NAMESPACE
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let ack = match digits {
            0 => None,
            _ => Some(
                rest[..digits]
                    .parse::<u64>()
                    .map_err(|_| PacketError::InvalidAckId)?,
            ),
        };
        rest = &rest[digits..];
        let data = match rest {
            "" => None,
            json => Some(
                serde_json::from_str::<Value>(json)
                    .map_err(|e| PacketError::InvalidPayload(e.to_string()))?,
            ),
        };
        let body = match (kind, data) {
            ('0', None) => Body::Connect(None),
            ('0', Some(Value::Object(auth))) => Body::Connect(Some(auth)),
            ('1', None) => Body::Disconnect,
            ('2', Some(Value::Array(args))) => event(args, ack)?,
            ('3', Some(Value::Array(args))) => Body::Ack {
                id: ack.ok_or(PacketError::InvalidAckId)?,
                args,
            },
            ('4', Some(data @ (Value::String(_) | Value::Object(_)))) => Body::ConnectError(data),
            (kind, _) => {
                return Err(PacketError::InvalidPayload(format!(
                    "not the data a packet of type {kind} carries"
                )))
            }
        };
        Ok(Packet { namespace, body })
    }
}

fn event(mut args: Vec<Value>, ack: Option<u64>) -> Result<Body, PacketError> {
    let name = match args.first() {
        Some(Value::String(name)) if !RESERVED_EVENTS.contains(&name.as_str()) => name.clone(),
        Some(Value::String(name)) => {
            return Err(PacketError::InvalidPayload(format!(
                "{name:?} is a reserved event name"
            )))
        }
        _ => {
            return Err(PacketError::InvalidPayload(
                "an event's first element must be its name".into(),
            ))
        }
    };
    args.remove(0);
    Ok(Body::Event { name, args, ack })
}

/// `<type>[<namespace>,]`: the namespace is written only when it is not the main one.
fn head(kind: char, namespace: &str, capacity: usize) -> String {
    let mut text = String::with_capacity(capacity + namespace.len() + 2);
    text.push(kind);
    if namespace != MAIN_NAMESPACE {
        text.push_str(namespace);
        text.push(',');
    }
    text
}

/// The server's CONNECT: `0{"sid":...}` (with `"pid"` when the session can be recovered).
pub fn connect(data_json: &str) -> String {
    let mut text = head('0', MAIN_NAMESPACE, data_json.len());
    text.push_str(data_json);
    text
}

/// CONNECT_ERROR with a plain message, as the reference server sends it:
/// `4{"message":"..."}`.
pub fn connect_error(namespace: &str, message: &str) -> String {
    let data = serde_json::json!({ "message": message }).to_string();
    let mut text = head('4', namespace, data.len());
    text.push_str(&data);
    text
}

/// EVENT `2["<name>",<data>(,<extra>)]`, from the already-encoded JSON of its data (and of an
/// extra last argument, the recovery offset).
pub fn event_raw(name: &str, data_json: &str, extra_json: Option<&str>) -> String {
    let extra = extra_json.map_or(0, |e| e.len() + 1);
    let mut text = head(
        '2',
        MAIN_NAMESPACE,
        name.len() + data_json.len() + extra + 6,
    );
    text.push_str("[\"");
    text.push_str(name);
    text.push_str("\",");
    text.push_str(data_json);
    if let Some(extra) = extra_json {
        text.push(',');
        text.push_str(extra);
    }
    text.push(']');
    text
}

/// ACK `3<id>[<data>]` from the encoded JSON of its one argument.
pub fn ack_raw(id: u64, data_json: &str) -> String {
    let mut text = head('3', MAIN_NAMESPACE, data_json.len() + 22);
    text.push_str(&id.to_string());
    text.push('[');
    text.push_str(data_json);
    text.push(']');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(text: &str) -> Result<Body, PacketError> {
        Packet::decode(text).map(|p| p.body)
    }

    #[test]
    fn connect_packets_with_and_without_auth() {
        assert_eq!(body("0"), Ok(Body::Connect(None)));
        let Ok(Body::Connect(Some(auth))) = body(r#"0{"token":"abc"}"#) else {
            panic!("no auth");
        };
        assert_eq!(auth["token"], "abc");
        let p = Packet::decode(r#"0/admin,{"token":"abc"}"#).unwrap();
        assert_eq!(p.namespace, "/admin");
        // A namespace without a comma ends the packet (the reference parser allows it).
        assert_eq!(Packet::decode("0/random").unwrap().namespace, "/random");
        assert!(matches!(body("0[1]"), Err(PacketError::InvalidPayload(_))));
    }

    #[test]
    fn events_with_and_without_ack_ids() {
        assert_eq!(
            body(r#"2["watchlist",{"symbols":["AAPL"]}]"#),
            Ok(Body::Event {
                name: "watchlist".into(),
                args: vec![json!({"symbols": ["AAPL"]})],
                ack: None
            })
        );
        assert_eq!(
            body(r#"2456["message-with-ack",1,"2",{"3":[false]}]"#),
            Ok(Body::Event {
                name: "message-with-ack".into(),
                args: vec![json!(1), json!("2"), json!({"3": [false]})],
                ack: Some(456)
            })
        );
        assert_eq!(
            Packet::decode(r#"2/admin,7["x"]"#).unwrap(),
            Packet {
                namespace: "/admin",
                body: Body::Event {
                    name: "x".into(),
                    args: vec![],
                    ack: Some(7)
                }
            }
        );
        assert_eq!(
            body("312[true]"),
            Ok(Body::Ack {
                id: 12,
                args: vec![json!(true)]
            })
        );
        assert_eq!(body("1"), Ok(Body::Disconnect));
    }

    #[test]
    fn malformed_packets_are_refused_as_the_reference_parser_refuses_them() {
        assert_eq!(body(""), Err(PacketError::Empty));
        assert_eq!(body("abc"), Err(PacketError::UnknownType('a')));
        assert_eq!(body("9"), Err(PacketError::UnknownType('9')));
        // the test-suite's "invalid payload format" and "invalid ack id"
        assert!(matches!(body("2{}"), Err(PacketError::InvalidPayload(_))));
        assert!(matches!(
            body(r#"2abc["message-with-ack",1]"#),
            Err(PacketError::InvalidPayload(_))
        ));
        assert!(matches!(body("2[]"), Err(PacketError::InvalidPayload(_))));
        assert!(matches!(body("2[1]"), Err(PacketError::InvalidPayload(_))));
        assert!(matches!(
            body(r#"2["disconnect"]"#),
            Err(PacketError::InvalidPayload(_))
        ));
        assert!(matches!(body("1{}"), Err(PacketError::InvalidPayload(_))));
        assert_eq!(body("3[1]"), Err(PacketError::InvalidAckId));
        assert_eq!(
            body("399999999999999999999[1]"),
            Err(PacketError::InvalidAckId)
        );
        assert!(matches!(
            body("2[\"a\""),
            Err(PacketError::InvalidPayload(_))
        ));
    }

    #[test]
    fn binary_packets_are_refused() {
        assert_eq!(
            body(r#"52-["message",{"_placeholder":true,"num":0}]"#),
            Err(PacketError::Binary)
        );
        assert_eq!(body("61-789[{}]"), Err(PacketError::Binary));
    }

    #[test]
    fn server_packets_have_the_spec_bytes() {
        assert_eq!(connect(r#"{"sid":"x"}"#), r#"0{"sid":"x"}"#);
        assert_eq!(
            connect_error("/random", "Invalid namespace"),
            r#"4/random,{"message":"Invalid namespace"}"#
        );
        assert_eq!(
            connect_error("/", "Not authorized"),
            r#"4{"message":"Not authorized"}"#
        );
        assert_eq!(event_raw("pong", "{}", None), r#"2["pong",{}]"#);
        assert_eq!(
            event_raw("pattern_alert", r#"{"a":1}"#, Some(r#""o1""#)),
            r#"2["pattern_alert",{"a":1},"o1"]"#
        );
        assert_eq!(ack_raw(456, r#"{"ok":1}"#), r#"3456[{"ok":1}]"#);
    }
}
