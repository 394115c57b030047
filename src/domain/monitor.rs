//! The message monitor's data: the last inbound messages (invalid ones included, with the drop
//! reason) and, computed when asked, which name fields and wrappers each channel's producers use.
//!
//! Recording copies at most `RAW_LIMIT` bytes into the buffers of the entry it replaces and does
//! no parsing or UTF-8 checking (it runs for every inbound message); the text is decoded, and the
//! analysis parses it, only when an operator reads it.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::{Map, Value};

use super::drop::DropReason;
use super::event::EpochMillis;
use super::kind::EventKind;

pub const CAPACITY: usize = 500;
/// Raw text kept per message; longer messages are truncated (and marked so).
pub const RAW_LIMIT: usize = 4096;

/// The normaliser's verdict on one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Events produced (a batch message may produce several).
    pub events: usize,
    /// Reasons for the message or for items of it that were dropped.
    pub drops: Vec<DropReason>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub id: u64,
    pub received_at: EpochMillis,
    pub channel: String,
    pub kind: EventKind,
    pub bytes: usize,
    pub truncated: bool,
    pub raw: RawText,
    pub outcome: Outcome,
}

/// The kept bytes of a message, shown as text (invalid UTF-8 replaced) when read.
#[derive(Debug, Clone, PartialEq)]
pub struct RawText(pub Vec<u8>);

impl RawText {
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

impl Serialize for RawText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

#[derive(Debug, Default)]
pub struct Monitor {
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// Filters of `GET /debug/messages`; channel and type match as substrings.
#[derive(Debug, Default)]
pub struct Query<'a> {
    pub limit: usize,
    pub channel: Option<&'a str>,
    pub kind: Option<&'a str>,
}

impl Monitor {
    pub fn record(
        &mut self,
        channel: &str,
        kind: EventKind,
        payload: &[u8],
        outcome: Outcome,
        at: EpochMillis,
    ) {
        let kept = &payload[..payload.len().min(RAW_LIMIT)];
        let (mut name, mut raw) = match self.entries.len() {
            CAPACITY => self
                .entries
                .pop_front()
                .map(|old| (old.channel, old.raw.0))
                .unwrap_or_default(),
            _ => Default::default(),
        };
        name.clear();
        name.push_str(channel);
        raw.clear();
        raw.extend_from_slice(kept);
        self.entries.push_back(Entry {
            id: self.next_id,
            received_at: at,
            channel: name,
            kind,
            bytes: payload.len(),
            truncated: kept.len() < payload.len(),
            raw: RawText(raw),
            outcome,
        });
        self.next_id += 1;
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Newest first.
    pub fn query(&self, q: &Query<'_>) -> Vec<Entry> {
        self.entries
            .iter()
            .rev()
            .filter(|e| q.channel.is_none_or(|c| e.channel.contains(c)))
            .filter(|e| q.kind.is_none_or(|k| e.kind.as_str().contains(k)))
            .take(q.limit)
            .cloned()
            .collect()
    }

    /// Per channel: which name fields and wrappers the kept messages used.
    pub fn field_names(&self) -> BTreeMap<String, FieldReport> {
        let mut report: BTreeMap<String, FieldReport> = BTreeMap::new();
        for entry in &self.entries {
            let channel = report.entry(entry.channel.clone()).or_default();
            channel.messages += 1;
            match serde_json::from_slice::<Value>(&entry.raw.0) {
                Ok(Value::Object(root)) => walk(&root, 0, channel),
                _ => channel.unparsed += 1,
            }
        }
        for r in report.values_mut() {
            r.has_inconsistency =
                r.pattern_name_fields.len() > 1 || r.indicator_name_fields.len() > 1;
            r.recommendation = if r.has_inconsistency {
                "producers on this channel disagree on the name field; standardise on \
                 pattern_type / indicator_type (tickrouter accepts every variant meanwhile)"
            } else {
                "consistent"
            };
        }
        report
    }
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct FieldReport {
    pub messages: usize,
    /// Kept messages that were not a JSON object (or were truncated).
    pub unparsed: usize,
    pub pattern_name_fields: BTreeMap<String, usize>,
    pub indicator_name_fields: BTreeMap<String, usize>,
    pub wrappers: BTreeMap<String, usize>,
    pub has_inconsistency: bool,
    pub recommendation: &'static str,
}

const WRAPPERS: [&str; 10] = [
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
];
const PATTERN_NAMES: [&str; 3] = ["pattern", "pattern_type", "pattern_name"];
const INDICATOR_NAMES: [&str; 3] = ["indicator", "indicator_type", "indicator_name"];
const MAX_DEPTH: usize = 8;

fn walk(obj: &Map<String, Value>, depth: usize, report: &mut FieldReport) {
    for (key, value) in obj {
        let k = key.as_str();
        if PATTERN_NAMES.contains(&k) && value.is_string() {
            *report.pattern_name_fields.entry(key.clone()).or_default() += 1;
        }
        if INDICATOR_NAMES.contains(&k) && value.is_string() {
            *report.indicator_name_fields.entry(key.clone()).or_default() += 1;
        }
        if depth < MAX_DEPTH {
            match value {
                Value::Object(inner) if WRAPPERS.contains(&k) => {
                    *report.wrappers.entry(key.clone()).or_default() += 1;
                    walk(inner, depth + 1, report);
                }
                Value::Array(items) if k == "patterns" || k == "indicators" => {
                    *report.wrappers.entry(format!("{key}[]")).or_default() += 1;
                    for item in items.iter().filter_map(Value::as_object) {
                        walk(item, depth + 1, report);
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Outcome {
        Outcome {
            events: 1,
            drops: vec![],
        }
    }

    #[test]
    fn keeps_the_newest_entries_newest_first_with_filters() {
        let mut m = Monitor::default();
        for i in 0..CAPACITY + 10 {
            let channel = if i % 2 == 0 { "a.prices" } else { "b.errors" };
            m.record(
                channel,
                EventKind::PriceUpdate,
                format!("{i}").as_bytes(),
                ok(),
                EpochMillis(0),
            );
        }
        let all = m.query(&Query {
            limit: 1000,
            ..Query::default()
        });
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].raw.text(), (CAPACITY + 9).to_string());
        let errors = m.query(&Query {
            limit: 3,
            channel: Some("errors"),
            kind: None,
        });
        assert!(errors.len() == 3 && errors.iter().all(|e| e.channel == "b.errors"));
        assert!(m
            .query(&Query {
                limit: 3,
                channel: None,
                kind: Some("ohlcv")
            })
            .is_empty());
    }

    #[test]
    fn invalid_messages_are_kept_with_their_reason_and_truncated() {
        let mut m = Monitor::default();
        let huge = vec![b'x'; RAW_LIMIT + 10];
        m.record(
            "c",
            EventKind::PatternDetected,
            &huge,
            Outcome {
                events: 0,
                drops: vec![DropReason::InvalidJson],
            },
            EpochMillis(1),
        );
        let e = &m.query(&Query {
            limit: 1,
            ..Query::default()
        })[0];
        assert!(e.truncated && e.raw.0.len() == RAW_LIMIT && e.bytes == RAW_LIMIT + 10);
        assert_eq!(e.outcome.drops, vec![DropReason::InvalidJson]);
    }

    #[test]
    fn field_name_report_spots_mixed_producers() {
        let mut m = Monitor::default();
        for raw in [
            r#"{"detection": {"pattern": "Doji", "symbol": "A"}}"#,
            r#"{"detection": {"pattern_type": "Doji", "symbol": "A"}}"#,
            r#"{"patterns": [{"pattern_name": "Doji"}]}"#,
            "garbage",
        ] {
            m.record(
                "s",
                EventKind::StreamingPattern,
                raw.as_bytes(),
                ok(),
                EpochMillis(0),
            );
        }
        let r = &m.field_names()["s"];
        assert_eq!(r.messages, 4);
        assert_eq!(r.unparsed, 1);
        assert_eq!(r.pattern_name_fields.len(), 3);
        assert_eq!(r.wrappers["detection"], 2);
        assert_eq!(r.wrappers["patterns[]"], 1);
        assert!(r.has_inconsistency);
    }
}
