//! Bounded property-based fuzzing of the parsers that take untrusted input: the normaliser (any
//! bytes on any channel), the client protocol (any text frame, then the session rules) and the
//! subscriber's RESP reader (any bytes off the socket, and real replies however they are cut).
//! None may panic; `scripts/test.sh` runs a bounded number of cases on every run.

use proptest::prelude::*;
use serde_json::{Map, Value};
use strum::VariantArray;

use tickrouter::auth::Authenticator;
use tickrouter::domain::event::EpochMillis;
use tickrouter::domain::identity::Identity;
use tickrouter::domain::kind::EventKind;
use tickrouter::domain::normalise::normalise;
use tickrouter::domain::protocol::{parse_request, Command, Request};
use tickrouter::domain::session_state::{Limits, SessionState};
use tickrouter::redis_client::subscriber::resp::{complete, replies, Incoming};

/// Field names producers use, so generated objects reach deep into the normaliser.
const KEYS: &[&str] = &[
    "data",
    "detection",
    "calculation",
    "alert",
    "session",
    "health",
    "indicator",
    "event",
    "ohlcv",
    "summary",
    "patterns",
    "indicators",
    "symbol",
    "ticker",
    "pattern",
    "pattern_type",
    "pattern_name",
    "indicator_type",
    "indicator_name",
    "confidence",
    "timestamp",
    "detected_at",
    "job_id",
    "progress",
    "status",
    "results",
    "user_id",
    "price",
    "change_percent",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "value",
    "values",
    "message",
    "severity",
    "type",
    "event_type",
    "session_id",
    "error_id",
    "source",
    "test",
    "op",
    "id",
    "topics",
    "symbols",
    "subscriptions",
    "min_confidence",
    "token",
    "alert_type",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e12f64..1.0e12).prop_map(Value::from),
        "[A-Za-z0-9 .:%_-]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("AAPL"),
            Just("45%"),
            Just("2025-10-15T19:39:28Z"),
            Just("1760557168.342"),
            Just("")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn kind() -> impl Strategy<Value = EventKind> {
    prop::sample::select(EventKind::VARIANTS.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn normaliser_never_panics_on_bytes(kind in kind(), bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = normalise(kind, &bytes, EpochMillis(0));
    }

    #[test]
    fn normaliser_never_panics_on_producer_like_json(kind in kind(), value in json_value()) {
        let _ = normalise(kind, value.to_string().as_bytes(), EpochMillis(0));
    }

    #[test]
    fn protocol_parser_and_session_rules_never_panic(value in json_value(), text in ".{0,64}") {
        let auth = Authenticator::new(Some("k"));
        let limits = Limits { max_topics: 8, max_symbols: 8 };
        let mut state = SessionState::new(Identity::default());
        for frame in [value.to_string(), text] {
            if let Ok(Request { op: Command::State(op), .. }) = parse_request(&frame) {
                let _ = state.apply(op, &auth, limits);
            }
        }
    }

    #[test]
    fn resp_reader_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = complete(&bytes, usize::MAX);
    }

    /// Messages read the same whether the socket delivers them whole or cut anywhere.
    #[test]
    fn resp_messages_survive_any_split(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut wire = Vec::new();
        for p in &payloads {
            wire.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n");
            wire.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
            wire.extend_from_slice(p);
            wire.extend_from_slice(b"\r\n");
        }
        let cut = cut.index(wire.len() + 1);
        let (first, len) = complete(&wire[..cut], usize::MAX).unwrap();
        let (rest, rest_len) = complete(&wire[len..], usize::MAX).unwrap();
        prop_assert_eq!(first + rest, payloads.len());
        prop_assert_eq!(len + rest_len, wire.len());
        let read: Vec<&[u8]> = replies(&wire[..len], first)
            .chain(replies(&wire[len..], rest))
            .map(|r| match r {
                Incoming::Message { payload, .. } => payload,
                other => panic!("{other:?}"),
            })
            .collect();
        prop_assert_eq!(read, payloads.iter().map(Vec::as_slice).collect::<Vec<_>>());
    }
}
