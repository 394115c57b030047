//! The Socket.IO form of an outbound frame: `{"event":<name>,"data":<data>,...}` (encoded once
//! per publication, `domain::outbound::Frame`) becomes the EVENT `2["<name>",<data>]`.
//!
//! The data is sliced out of the encoded text, not decoded and encoded again: a scan of the
//! JSON finds where it ends. What follows it in the envelope (`stream`/`offset` of a
//! recoverable stream, `snapshot`) is read into [`Envelope::place`] for the recovery offset.

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::domain::outbound::Frame;

/// The parts of an encoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub name: &'a str,
    /// The data's JSON text, as encoded.
    pub data: &'a str,
    /// The frame's place in a recoverable stream, when it has one.
    pub place: Option<(String, u64)>,
}

/// The frame's text is not an envelope this server encodes (a bug, never client input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnEnvelope;

impl std::fmt::Display for NotAnEnvelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not an {\"event\",\"data\"} frame")
    }
}

impl std::error::Error for NotAnEnvelope {}

/// The fields an envelope may have after its data.
#[derive(Deserialize)]
struct Tail {
    stream: Option<String>,
    offset: Option<u64>,
}

impl<'a> Envelope<'a> {
    pub fn of(frame: &'a Frame) -> Result<Envelope<'a>, NotAnEnvelope> {
        let text: &str = &frame.0;
        let rest = text.strip_prefix("{\"event\":\"").ok_or(NotAnEnvelope)?;
        // Event names are the server's own snake_case words: no escapes to skip.
        let quote = rest.find('"').ok_or(NotAnEnvelope)?;
        let name = &rest[..quote];
        let rest = rest[quote..]
            .strip_prefix("\",\"data\":")
            .ok_or(NotAnEnvelope)?;
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<IgnoredAny>();
        values
            .next()
            .ok_or(NotAnEnvelope)?
            .map_err(|_| NotAnEnvelope)?;
        let end = values.byte_offset();
        let (data, tail) = rest.split_at(end);
        let place = match tail {
            "}" => None,
            tail => {
                let fields = tail.strip_prefix(',').ok_or(NotAnEnvelope)?;
                let tail: Tail =
                    serde_json::from_str(&format!("{{{fields}")).map_err(|_| NotAnEnvelope)?;
                tail.stream.zip(tail.offset)
            }
        };
        Ok(Envelope { name, data, place })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::history::Recoverable;
    use crate::domain::outbound::EventName;
    use serde_json::json;

    #[test]
    fn the_data_is_sliced_out_as_encoded() {
        let data = json!({"symbol": "AAPL", "nested": {"s": "}\"{", "n": [1, 2]}});
        let frame = Frame::encode(EventName::PatternAlert, &data);
        let envelope = Envelope::of(&frame).unwrap();
        assert_eq!(envelope.name, "pattern_alert");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(envelope.data).unwrap(),
            data
        );
        assert_eq!(envelope.place, None);
    }

    #[test]
    fn recoverable_frames_carry_their_place() {
        let frame = Frame::encode(EventName::PatternAlert, &json!({"a": 1}));
        let at = frame.at(Recoverable::Patterns, 1042);
        let envelope = Envelope::of(&at).unwrap();
        assert_eq!(envelope.data, r#"{"a":1}"#);
        assert_eq!(envelope.place, Some(("patterns".to_owned(), 1042)));
        let queued = frame.queued(7, 99);
        let envelope = Envelope::of(&queued).unwrap();
        assert_eq!(envelope.name, "queued_message");
        assert_eq!(
            envelope.data,
            r#"{"event":"pattern_alert","data":{"a":1},"queued_at":99}"#
        );
        assert_eq!(envelope.place, Some(("user".to_owned(), 7)));
        let snapshot = frame.as_snapshot();
        let snapshot = Envelope::of(&snapshot).unwrap();
        assert_eq!((snapshot.data, snapshot.place), (r#"{"a":1}"#, None));
    }

    #[test]
    fn other_text_is_refused() {
        for text in [
            "",
            "{}",
            r#"{"data":1,"event":"x"}"#,
            r#"{"event":"x","data":"#,
        ] {
            assert_eq!(
                Envelope::of(&Frame(text.into())),
                Err(NotAnEnvelope),
                "{text}"
            );
        }
    }
}
