//! Engine.IO v4 packets (engine.io-protocol, "Packet encoding"): one type digit then the data,
//! and the HTTP long-polling payload, packets joined by the record separator `\x1e`.
//!
//! Only text is spoken: a binary packet (a binary WebSocket frame, or `b` + base64 in a polling
//! payload) is refused with [`EngineError::Binary`], because no tickrouter op or event carries
//! binary data.

use serde::Serialize;

/// The polling payload's packet separator.
pub const SEPARATOR: char = '\x1e';

/// One Engine.IO packet, borrowing its data from the text it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// The server's handshake (only the server sends it).
    Open,
    Close,
    /// `2`, or `2probe` during the upgrade.
    Ping(&'a str),
    Pong(&'a str),
    /// A Socket.IO packet.
    Message(&'a str),
    Upgrade,
    Noop,
}

/// Why a client's text is not an Engine.IO packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineError {
    Empty,
    UnknownType(char),
    Binary,
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Empty => f.write_str("an empty Engine.IO packet"),
            EngineError::UnknownType(c) => write!(f, "unknown Engine.IO packet type {c:?}"),
            EngineError::Binary => f.write_str("binary Engine.IO packets are not supported"),
        }
    }
}

impl std::error::Error for EngineError {}

impl<'a> Packet<'a> {
    pub fn decode(text: &'a str) -> Result<Packet<'a>, EngineError> {
        let mut chars = text.chars();
        let kind = chars.next().ok_or(EngineError::Empty)?;
        let data = chars.as_str();
        Ok(match kind {
            '0' => Packet::Open,
            '1' => Packet::Close,
            '2' => Packet::Ping(data),
            '3' => Packet::Pong(data),
            '4' => Packet::Message(data),
            '5' => Packet::Upgrade,
            '6' => Packet::Noop,
            'b' => return Err(EngineError::Binary),
            other => return Err(EngineError::UnknownType(other)),
        })
    }

    /// The packet's text (an `Open` packet is [`Handshake::encode`]'s).
    pub fn encode(&self) -> String {
        let (kind, data) = match *self {
            Packet::Open => ('0', ""),
            Packet::Close => ('1', ""),
            Packet::Ping(data) => ('2', data),
            Packet::Pong(data) => ('3', data),
            Packet::Message(data) => ('4', data),
            Packet::Upgrade => ('5', ""),
            Packet::Noop => ('6', ""),
        };
        let mut text = String::with_capacity(1 + data.len());
        text.push(kind);
        text.push_str(data);
        text
    }
}

/// The packets of a polling request's body, in order.
pub fn decode_payload(body: &str) -> impl Iterator<Item = Result<Packet<'_>, EngineError>> {
    body.split(SEPARATOR).map(Packet::decode)
}

/// A polling response's body: the encoded packets joined by the separator.
pub fn encode_payload<S: AsRef<str>>(packets: &[S]) -> String {
    let len = packets.iter().map(|p| p.as_ref().len() + 1).sum();
    let mut body = String::with_capacity(len);
    for (i, packet) in packets.iter().enumerate() {
        if i > 0 {
            body.push(SEPARATOR);
        }
        body.push_str(packet.as_ref());
    }
    body
}

/// The `open` packet's data (engine.io-protocol, "Handshake").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    pub sid: String,
    /// `["websocket"]` for a polling session, none for a WebSocket one.
    pub upgrades: Vec<&'static str>,
    pub ping_interval: u64,
    pub ping_timeout: u64,
    pub max_payload: usize,
}

impl Handshake {
    pub fn encode(&self) -> String {
        // A struct of strings and numbers always serialises.
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("0{json}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_packet_type_round_trips() {
        let packets = [
            (Packet::Close, "1"),
            (Packet::Ping(""), "2"),
            (Packet::Ping("probe"), "2probe"),
            (Packet::Pong("probe"), "3probe"),
            (Packet::Message("2[\"a\"]"), "42[\"a\"]"),
            (Packet::Upgrade, "5"),
            (Packet::Noop, "6"),
        ];
        for (packet, text) in packets {
            assert_eq!(packet.encode(), text);
            assert_eq!(Packet::decode(text), Ok(packet));
        }
        assert_eq!(Packet::decode("0"), Ok(Packet::Open));
    }

    #[test]
    fn bad_packets_are_typed_errors() {
        assert_eq!(Packet::decode(""), Err(EngineError::Empty));
        assert_eq!(Packet::decode("7"), Err(EngineError::UnknownType('7')));
        assert_eq!(Packet::decode("x"), Err(EngineError::UnknownType('x')));
        assert_eq!(Packet::decode("bAQID"), Err(EngineError::Binary));
    }

    #[test]
    fn polling_payloads_use_the_record_separator() {
        let body = encode_payload(&["4hello", "2", "6"]);
        assert_eq!(body, "4hello\x1e2\x1e6");
        let packets: Vec<_> = decode_payload(&body).collect();
        assert_eq!(
            packets,
            [
                Ok(Packet::Message("hello")),
                Ok(Packet::Ping("")),
                Ok(Packet::Noop)
            ]
        );
        // One packet needs no separator; an empty body is one empty (invalid) packet.
        assert_eq!(encode_payload(&["3"]), "3");
        assert_eq!(
            decode_payload("").collect::<Vec<_>>(),
            [Err(EngineError::Empty)]
        );
        assert_eq!(
            decode_payload("4a\x1ebAQID").collect::<Vec<_>>(),
            [Ok(Packet::Message("a")), Err(EngineError::Binary)]
        );
    }

    #[test]
    fn the_handshake_has_the_spec_fields() {
        let open = Handshake {
            sid: "abc".into(),
            upgrades: vec!["websocket"],
            ping_interval: 25000,
            ping_timeout: 20000,
            max_payload: 1_000_000,
        };
        assert_eq!(
            open.encode(),
            r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
    }
}
