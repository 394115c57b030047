//! Socket.IO's connection state recovery (client 4.6+) mapped onto tickrouter's recoverable
//! streams: the string "offset" the server appends to each event, which the client sends back
//! in its CONNECT when it reconnects, is the session's position in every recoverable stream it
//! follows, as of that event: `patterns:<epoch>:<offset>,user:<epoch>:<offset>`.
//!
//! One connection delivers in order, so the last event a client received says what it received
//! of every stream, and a `resume` from those positions replays exactly what it missed.

use std::collections::BTreeMap;

use crate::domain::history::{Position, Recoverable};

/// The recovery offset of these positions.
pub fn encode_offset(positions: &BTreeMap<Recoverable, Position>) -> String {
    let mut text = String::new();
    for (which, position) in positions {
        if !text.is_empty() {
            text.push(',');
        }
        text.push_str(which.as_str());
        text.push(':');
        text.push_str(&position.epoch);
        text.push(':');
        text.push_str(&position.offset.to_string());
    }
    text
}

/// A client's recovery offset is not one this server made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadOffset;

/// The positions of a recovery offset, keyed by stream name as a `resume` asks for them.
pub fn decode_offset(text: &str) -> Result<BTreeMap<String, Position>, BadOffset> {
    text.split(',')
        .map(|part| {
            let mut fields = part.splitn(3, ':');
            let (Some(name), Some(epoch), Some(offset)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(BadOffset);
            };
            let offset = offset.parse().map_err(|_| BadOffset)?;
            if name.is_empty() || epoch.is_empty() {
                return Err(BadOffset);
            }
            let position = Position {
                epoch: epoch.to_owned(),
                offset,
            };
            Ok((name.to_owned(), position))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(epoch: &str, offset: u64) -> Position {
        Position {
            epoch: epoch.into(),
            offset,
        }
    }

    #[test]
    fn offsets_round_trip_into_resume_positions() {
        let positions: BTreeMap<_, _> = [
            (Recoverable::Patterns, at("0a1b2c3d4e5f", 1042)),
            (Recoverable::User, at("ffeeddccbbaa", 7)),
        ]
        .into();
        let text = encode_offset(&positions);
        assert_eq!(text, "patterns:0a1b2c3d4e5f:1042,user:ffeeddccbbaa:7");
        let decoded = decode_offset(&text).unwrap();
        assert_eq!(decoded["patterns"], at("0a1b2c3d4e5f", 1042));
        assert_eq!(decoded["user"], at("ffeeddccbbaa", 7));
    }

    #[test]
    fn offsets_not_made_here_are_refused() {
        for bad in [
            "",
            "patterns",
            "patterns:e1",
            "patterns:e1:x",
            ":e1:1",
            "patterns::1",
        ] {
            assert_eq!(decode_offset(bad), Err(BadOffset), "{bad}");
        }
    }
}
