//! History positions: which streams are recoverable, how their frames carry `stream` and
//! `offset`, what one stored entry holds, and what a resume or a connecting user's offline queue
//! gets from what Redis returned. Pure; `pipeline::history` does the Redis I/O.
//!
//! Every publication of a recoverable stream is written to its history (a Redis Stream whose
//! entry ids are the offsets, `{offset}-0`) before it is delivered, so the offset a frame
//! carries is the same on every instance. An epoch names one unbroken history: when Redis lost
//! it (restarted empty, evicted), a new epoch starts and old offsets mean nothing there.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr, VariantArray};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use super::filter::AlertKey;
use super::ids::UserId;
use super::outbound::{EventName, Frame};
use super::publication::{FilterKey, Publication};
use super::stream::{Stream, Topic};

/// A recoverable stream, as clients name it. `user` is the session's own user's stream.
/// `streaming` and `market` (high-rate, superseded by the next value) and symbols (which get
/// snapshots instead) are not replayed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    VariantArray,
    IntoStaticStr,
    EnumString,
    Serialize,
    Deserialize,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Recoverable {
    Patterns,
    Alerts,
    System,
    Admin,
    User,
}

impl Recoverable {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The recoverable stream a publication's stream is, if any.
    pub fn of(stream: &Stream) -> Option<Recoverable> {
        match stream {
            Stream::Topic(Topic::Patterns) => Some(Recoverable::Patterns),
            Stream::Topic(Topic::Alerts) => Some(Recoverable::Alerts),
            Stream::Topic(Topic::System) => Some(Recoverable::System),
            Stream::Topic(Topic::Admin) => Some(Recoverable::Admin),
            Stream::User(_) => Some(Recoverable::User),
            Stream::Topic(Topic::Streaming | Topic::Market) | Stream::Symbol(_) => None,
        }
    }

    /// The stream this name means for a session of `user`.
    pub fn stream(self, user: Option<&UserId>) -> Option<Stream> {
        Some(match self {
            Recoverable::Patterns => Stream::Topic(Topic::Patterns),
            Recoverable::Alerts => Stream::Topic(Topic::Alerts),
            Recoverable::System => Stream::Topic(Topic::System),
            Recoverable::Admin => Stream::Topic(Topic::Admin),
            Recoverable::User => Stream::User(user?.clone()),
        })
    }
}

/// Where a publication was written: its offset, in which history (the epoch, by a tag: offsets
/// of two epochs must not be compared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub epoch: u64,
    pub offset: u64,
}

impl Place {
    pub fn new(epoch: &str, offset: u64) -> Place {
        Place {
            epoch: message_id("epoch", epoch.as_bytes(), 0),
            offset,
        }
    }
}

/// A delivered frame's place in its recoverable stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub stream: Recoverable,
    pub place: Place,
}

impl Mark {
    /// A written publication's place (none before it is written, or on other streams).
    pub fn of(publication: &Publication) -> Option<Mark> {
        Some(Mark {
            stream: Recoverable::of(&publication.stream)?,
            place: publication.written?,
        })
    }
}

/// Where a client is in one stream's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    pub epoch: String,
    pub offset: u64,
}

/// Why a stream was not recovered; its wire name goes in the `resume` ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, IntoStaticStr, VariantArray)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum NotRecovered {
    /// The history the position belongs to is gone (Redis lost it, or the position is from
    /// elsewhere).
    EpochChanged,
    /// Part of what the client missed has left the history (beyond `size` or `ttl_secs`).
    TooOld,
    /// The session does not follow this stream (not subscribed, not signed in, not an admin).
    NotAllowed,
    /// The history could not be read (Redis unavailable).
    Unavailable,
}

impl NotRecovered {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One stream's answer in the `resume` ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Recovery {
    Recovered {
        recovered: bool,
        replayed: usize,
    },
    Not {
        recovered: bool,
        reason: NotRecovered,
    },
}

impl Recovery {
    pub fn recovered(replayed: usize) -> Self {
        Recovery::Recovered {
            recovered: true,
            replayed,
        }
    }

    pub fn not(reason: NotRecovered) -> Self {
        Recovery::Not {
            recovered: false,
            reason,
        }
    }
}

/// What one history entry holds besides its offset: the frame as encoded for live delivery
/// (without `stream`/`offset`), when it was written, the filter key live delivery applied, and
/// the key under which a later entry supersedes it (a job's progress).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub offset: u64,
    pub frame: Frame,
    pub written_ms: u64,
    pub filter: FilterKey,
    pub supersedes: Option<String>,
}

/// The Redis Stream field names of an entry, written once here.
pub mod field {
    pub const FRAME: &str = "f";
    pub const WRITTEN_MS: &str = "t";
    pub const FILTER: &str = "k";
    pub const SUPERSEDES: &str = "c";
}

/// The filter key as stored (`None`: every session of the stream).
#[derive(Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
enum StoredFilter {
    Alert {
        pattern: String,
        symbol: String,
        confidence: f64,
    },
    AnonymousAlert {
        pattern: String,
        symbol: String,
        confidence: f64,
    },
}

/// The filter key in the form an entry stores it; `None` for `Everyone`.
pub fn encode_filter(filter: &FilterKey) -> Option<String> {
    let stored = match filter {
        FilterKey::Everyone => return None,
        FilterKey::Alert(k) => StoredFilter::Alert {
            pattern: k.pattern.clone(),
            symbol: k.symbol.to_string(),
            confidence: k.confidence,
        },
        FilterKey::AnonymousAlert(k) => StoredFilter::AnonymousAlert {
            pattern: k.pattern.clone(),
            symbol: k.symbol.to_string(),
            confidence: k.confidence,
        },
    };
    serde_json::to_string(&stored).ok()
}

/// The stored filter key back; an unreadable one admits nobody rather than everybody, so a
/// damaged entry can never widen an audience.
pub fn decode_filter(text: Option<&str>) -> Option<FilterKey> {
    let Some(text) = text else {
        return Some(FilterKey::Everyone);
    };
    let key = |pattern: String, symbol: String, confidence: f64| {
        Some(AlertKey {
            pattern,
            symbol: super::ids::Symbol::new(&symbol)?,
            confidence,
        })
    };
    match serde_json::from_str(text).ok()? {
        StoredFilter::Alert {
            pattern,
            symbol,
            confidence,
        } => key(pattern, symbol, confidence).map(FilterKey::Alert),
        StoredFilter::AnonymousAlert {
            pattern,
            symbol,
            confidence,
        } => key(pattern, symbol, confidence).map(FilterKey::AnonymousAlert),
    }
}

impl Frame {
    /// The frame with its place in a recoverable stream, spliced into the encoded text:
    /// `{"event":...,"data":...,"stream":"patterns","offset":1042}`.
    pub fn at(&self, stream: Recoverable, offset: u64) -> Frame {
        let body = self.0.strip_suffix('}').unwrap_or(&self.0);
        Frame(
            format!(
                "{body},\"stream\":\"{}\",\"offset\":{offset}}}",
                stream.as_str()
            )
            .into(),
        )
    }

    /// The frame as an offline-queue delivery: `{"event":"queued_message","data":{"event":...,
    /// "data":...,"queued_at":<ms>},"stream":"user","offset":N}`.
    pub fn queued(&self, offset: u64, queued_at_ms: u64) -> Frame {
        let body = self.0.strip_suffix('}').unwrap_or(&self.0);
        Frame(
            format!(
                "{{\"event\":\"{}\",\"data\":{body},\"queued_at\":{queued_at_ms}}},\"stream\":\"user\",\"offset\":{offset}}}",
                EventName::QueuedMessage.as_str()
            )
            .into(),
        )
    }
}

/// What one session has sent of each recoverable stream, so a frame goes out once whether it
/// arrives live or in a replay: live frames are skipped when a replay already sent them, and a
/// replay skips the range the session already sent live.
#[derive(Debug, Default)]
pub struct Sent {
    streams: HashMap<Recoverable, SentRange>,
}

#[derive(Debug, Default)]
struct SentRange {
    epoch: u64,
    /// The first offset sent live on this connection.
    first_live: Option<u64>,
    /// The highest offset sent by any path.
    last: u64,
}

impl Sent {
    /// The stream's range, started afresh when its history's epoch changed (Redis lost it and
    /// offsets began again).
    fn range(&mut self, mark: Mark) -> &mut SentRange {
        let range = self.streams.entry(mark.stream).or_default();
        if range.epoch != mark.place.epoch {
            *range = SentRange {
                epoch: mark.place.epoch,
                ..SentRange::default()
            };
        }
        range
    }

    /// A live frame: whether to send it (false when a replay already did).
    pub fn live(&mut self, mark: Mark) -> bool {
        let offset = mark.place.offset;
        let range = self.range(mark);
        if offset <= range.last {
            return false;
        }
        range.first_live.get_or_insert(offset);
        range.last = offset;
        true
    }

    /// A replayed or queued frame: whether to send it (false when it went out live).
    pub fn replayed(&mut self, mark: Mark) -> bool {
        let offset = mark.place.offset;
        let range = self.range(mark);
        if range
            .first_live
            .is_some_and(|first| (first..=range.last).contains(&offset))
        {
            return false;
        }
        range.last = range.last.max(offset);
        true
    }
}

/// Names one event of one source message the same way on every instance (XXH3, a specified
/// hash whose value is the same on every build and platform, of the payload, seeded with the
/// channel's hash plus the event's index in the message), so instances that all saw it write it to
/// history once. Two identical payloads on one channel within the dedupe window are one message
/// (producers that repeat a message verbatim meant it once). It runs on every inbound message:
/// XXH3 takes about 22 ns for a 200-byte payload where byte-at-a-time FNV-1a took 265.
pub fn message_id(channel: &str, payload: &[u8], index: usize) -> u64 {
    let seed = xxh3_64(channel.as_bytes()).wrapping_add(index as u64);
    xxh3_64_with_seed(payload, seed)
}

/// Tells apart repeats of one message: the n-th time an identical message (same `message_id`)
/// arrives on a stream within the window is the n-th copy, on every instance alike (pub/sub
/// delivers the same sequence to every subscriber), so identical payloads published twice stay
/// two entries while each instance's copy of one of them is still recognised as the same.
#[derive(Debug)]
pub struct Repeats {
    window: std::time::Duration,
    /// Copies seen since `rotated_at`, and in the window before: a generation older than that
    /// is dropped whole, so forgetting costs nothing per message.
    current: HashMap<u64, (u64, std::time::Instant)>,
    previous: HashMap<u64, (u64, std::time::Instant)>,
    rotated_at: Option<std::time::Instant>,
}

impl Repeats {
    pub fn new(window: std::time::Duration) -> Self {
        Repeats {
            window,
            current: HashMap::new(),
            previous: HashMap::new(),
            rotated_at: None,
        }
    }

    /// The identity of this copy of `message` on `stream`: the message's own for its first
    /// copy within the window, a derived one for each repeat.
    pub fn identify(&mut self, stream: &str, message: u64, now: std::time::Instant) -> u64 {
        let rotated_at = *self.rotated_at.get_or_insert(now);
        if now.saturating_duration_since(rotated_at) >= self.window {
            self.previous = std::mem::take(&mut self.current);
            self.rotated_at = Some(now);
        }
        let key = message_id(stream, &message.to_le_bytes(), 0);
        let seen = self
            .current
            .remove(&key)
            .or_else(|| self.previous.remove(&key));
        let copy = match seen {
            Some((n, last)) if now.saturating_duration_since(last) < self.window => n + 1,
            _ => 0,
        };
        self.current.insert(key, (copy, now));
        if copy == 0 {
            message
        } else {
            message_id(stream, &message.to_le_bytes(), copy as usize)
        }
    }
}

/// What a resume of one stream gets: the entries after the client's offset, or why not. `head`
/// is the stream's latest position in Redis (its epoch is created on first use, so offset 0 of
/// an epoch is a position too); `entries` are those Redis returned from `asked.offset + 1` on,
/// in order.
pub fn replay<'a>(
    asked: &Position,
    head: &Position,
    entries: &'a [Entry],
    now_ms: u64,
    ttl_ms: u64,
) -> Result<Vec<&'a Entry>, NotRecovered> {
    if asked.epoch != head.epoch || asked.offset > head.offset {
        return Err(NotRecovered::EpochChanged);
    }
    if asked.offset == head.offset {
        return Ok(Vec::new());
    }
    // The first missed entry must still be there and young enough: a gap at the start means
    // it was trimmed or expired. (Entries the client missed can only have left from the start.)
    let first_ok = entries.first().is_some_and(|e| {
        e.offset == asked.offset + 1 && now_ms.saturating_sub(e.written_ms) <= ttl_ms
    });
    // Offsets are contiguous within an epoch; a hole is an entry lost, never a silent gap.
    let contiguous = entries.windows(2).all(|w| w[1].offset == w[0].offset + 1);
    if !first_ok || !contiguous {
        return Err(NotRecovered::TooOld);
    }
    Ok(latest_only(entries))
}

/// The entries, without those a later entry supersedes (a job's progress, but its latest).
pub fn latest_only(entries: &[Entry]) -> Vec<&Entry> {
    let mut last: HashMap<&str, u64> = HashMap::new();
    for e in entries {
        if let Some(key) = &e.supersedes {
            last.insert(key, e.offset);
        }
    }
    entries
        .iter()
        .filter(|e| {
            e.supersedes
                .as_deref()
                .is_none_or(|key| last.get(key) == Some(&e.offset))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::Symbol;

    fn entry(offset: u64, written_ms: u64) -> Entry {
        Entry {
            offset,
            frame: Frame::encode(EventName::Pong, &offset),
            written_ms,
            filter: FilterKey::Everyone,
            supersedes: None,
        }
    }

    fn at(epoch: &str, offset: u64) -> Position {
        Position {
            epoch: epoch.into(),
            offset,
        }
    }

    fn head(epoch: &str, offset: u64) -> Position {
        Position {
            epoch: epoch.into(),
            offset,
        }
    }

    #[test]
    fn every_name_parses_and_only_the_durable_topics_are_recoverable() {
        for r in Recoverable::VARIANTS {
            assert_eq!(r.as_str().parse::<Recoverable>().unwrap(), *r);
        }
        let user = UserId::new("u1").unwrap();
        for r in Recoverable::VARIANTS {
            let stream = r.stream(Some(&user)).unwrap();
            assert_eq!(Recoverable::of(&stream), Some(*r));
        }
        assert_eq!(Recoverable::User.stream(None), None);
        assert_eq!(Recoverable::of(&Stream::Topic(Topic::Streaming)), None);
        assert_eq!(Recoverable::of(&Stream::Topic(Topic::Market)), None);
        let aapl = Stream::Symbol(Symbol::new("AAPL").unwrap());
        assert_eq!(Recoverable::of(&aapl), None);
    }

    #[test]
    fn frames_carry_their_stream_and_offset() {
        let f = Frame::encode(EventName::PatternAlert, &serde_json::json!({"a": 1}));
        assert_eq!(
            &*f.at(Recoverable::Patterns, 1042).0,
            r#"{"event":"pattern_alert","data":{"a":1},"stream":"patterns","offset":1042}"#
        );
        assert_eq!(
            &*f.queued(7, 1700).0,
            r#"{"event":"queued_message","data":{"event":"pattern_alert","data":{"a":1},"queued_at":1700},"stream":"user","offset":7}"#
        );
    }

    #[test]
    fn a_resume_gets_exactly_what_followed_its_offset() {
        let entries: Vec<Entry> = (41..=45).map(|o| entry(o, 1_000)).collect();
        let got = replay(&at("e", 40), &head("e", 45), &entries, 2_000, 60_000).unwrap();
        let offsets: Vec<u64> = got.iter().map(|e| e.offset).collect();
        assert_eq!(offsets, vec![41, 42, 43, 44, 45]);
        assert!(replay(&at("e", 45), &head("e", 45), &[], 0, 1)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_gap_at_the_start_or_an_old_entry_is_too_old() {
        let trimmed: Vec<Entry> = (43..=45).map(|o| entry(o, 1_000)).collect();
        let asked = at("e", 40);
        assert_eq!(
            replay(&asked, &head("e", 45), &trimmed, 2_000, 60_000),
            Err(NotRecovered::TooOld)
        );
        assert_eq!(
            replay(&asked, &head("e", 45), &[], 2_000, 60_000),
            Err(NotRecovered::TooOld),
            "everything expired"
        );
        let holed: Vec<Entry> = [41, 42, 44, 45].map(|o| entry(o, 1_000)).into();
        assert_eq!(
            replay(&asked, &head("e", 45), &holed, 2_000, 60_000),
            Err(NotRecovered::TooOld),
            "an entry lost in the middle"
        );
        let old: Vec<Entry> = (41..=45).map(|o| entry(o, 1_000)).collect();
        assert_eq!(
            replay(&asked, &head("e", 45), &old, 62_000, 60_000),
            Err(NotRecovered::TooOld)
        );
    }

    #[test]
    fn another_epoch_or_an_offset_never_reached_is_a_changed_epoch() {
        assert_eq!(
            replay(&at("old", 3), &head("new", 5), &[], 0, 1),
            Err(NotRecovered::EpochChanged)
        );
        assert_eq!(
            replay(&at("e", 9), &head("e", 5), &[], 0, 1),
            Err(NotRecovered::EpochChanged)
        );
    }

    fn mark(offset: u64) -> Mark {
        Mark {
            stream: Recoverable::Patterns,
            place: Place::new("e1", offset),
        }
    }

    #[test]
    fn a_frame_goes_out_once_whether_live_or_replayed() {
        let mut sent = Sent::default();
        // Live 50 and 51 went out before the client's resume from 40 was read.
        assert!(sent.live(mark(50)) && sent.live(mark(51)));
        let replayed: Vec<u64> = (41..=52).filter(|o| sent.replayed(mark(*o))).collect();
        assert_eq!(replayed, [41, 42, 43, 44, 45, 46, 47, 48, 49, 52]);
        assert!(!sent.live(mark(52)), "the replay sent it already");
        assert!(sent.live(mark(53)));
        let user = Mark {
            stream: Recoverable::User,
            place: Place::new("e1", 1),
        };
        assert!(sent.replayed(user), "streams are counted apart");
        let restarted = Mark {
            stream: Recoverable::Patterns,
            place: Place::new("e2", 1),
        };
        assert!(sent.live(restarted), "a new epoch counts from 1 again");
    }

    #[test]
    fn message_ids_are_stable_and_tell_events_apart() {
        let id = message_id("tickstock.events.patterns", b"{}", 0);
        assert_eq!(id, message_id("tickstock.events.patterns", b"{}", 0));
        assert_eq!(
            id, 0x0d72_da33_5dbd_ecff,
            "the same on every build and instance"
        );
        assert_ne!(id, message_id("tickstock.events.patterns", b"{}", 1));
        assert_ne!(id, message_id("tickstock.events.patternz", b"{}", 0));
    }

    #[test]
    fn identical_messages_are_told_apart_by_their_place_in_the_sequence() {
        let window = std::time::Duration::from_secs(30);
        let (mut a, mut b) = (Repeats::new(window), Repeats::new(window));
        let t0 = std::time::Instant::now();
        let ids_a: Vec<u64> = (0..3).map(|_| a.identify("patterns", 7, t0)).collect();
        let ids_b: Vec<u64> = (0..3).map(|_| b.identify("patterns", 7, t0)).collect();
        assert_eq!(ids_a, ids_b, "every instance names each copy alike");
        assert_eq!(ids_a[0], 7);
        assert!(ids_a[0] != ids_a[1] && ids_a[1] != ids_a[2] && ids_a[0] != ids_a[2]);
        assert_eq!(a.identify("user:u1", 7, t0), 7, "counted per stream");
        let later = t0 + window;
        assert_eq!(a.identify("patterns", 7, later), 7, "a new first copy");
        let soon = later + window / 2;
        assert_ne!(
            a.identify("patterns", 7, soon),
            7,
            "remembered across a rotation"
        );
        assert_eq!(
            a.identify("patterns", 7, soon + 2 * window),
            7,
            "forgotten after"
        );
    }

    #[test]
    fn a_later_entry_of_the_same_job_supersedes_the_earlier() {
        let mut entries: Vec<Entry> = (1..=4).map(|o| entry(o, 0)).collect();
        entries[0].supersedes = Some("progress:j1".into());
        entries[1].supersedes = Some("progress:j2".into());
        entries[2].supersedes = Some("progress:j1".into());
        let kept: Vec<u64> = latest_only(&entries).iter().map(|e| e.offset).collect();
        assert_eq!(kept, vec![2, 3, 4]);
    }

    #[test]
    fn stored_filters_round_trip_and_a_damaged_one_admits_nobody() {
        let key = AlertKey {
            pattern: "Doji".into(),
            symbol: Symbol::new("AAPL").unwrap(),
            confidence: 0.9,
        };
        for filter in [
            FilterKey::Everyone,
            FilterKey::Alert(key.clone()),
            FilterKey::AnonymousAlert(key),
        ] {
            let text = encode_filter(&filter);
            assert_eq!(decode_filter(text.as_deref()), Some(filter));
        }
        assert_eq!(decode_filter(Some("{nope")), None);
    }
}
