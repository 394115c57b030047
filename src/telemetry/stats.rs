//! Lock-free pipeline counters, shared by every actor through an `Arc<Stats>`: written only by
//! the internal events (`Stats::emit`), read by `/stats`, `/metrics`, `/health` and the
//! heartbeat log line.
//!
//! Scalars live in one array indexed by `Scalar` (the rows of `table::SCALARS`). Channels are
//! fixed at startup, so per-channel and per-(channel, reason) counters are plain arrays of
//! atomics indexed by `ChannelId` and `DropReason::index()` (rows of `DropReason::COUNT`,
//! derived from the enum): counting on the hot path is one relaxed `fetch_add`, never a lock.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use serde_json::{json, Map, Value};
use strum::{EnumCount, VariantArray};

use super::events::InternalEvent;
use super::histogram::{self, Histogram};
use super::mirrored::{BufferStats, CacheStats};
use super::table::{Kind, Scalar, SCALARS};
use crate::domain::alert_rules::Refusal;
use crate::domain::drop::{DropReason, Family};
use crate::domain::event::EpochMillis;

/// Index of a subscribed channel or pattern, in the order of the names given to `Stats::new`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelId(pub usize);

const REASONS: usize = DropReason::COUNT;
const REFUSALS: usize = Refusal::COUNT;

#[derive(Default)]
struct ChannelCounters {
    received: AtomicU64,
    drops: [AtomicU64; REASONS],
    /// Redis Streams sources only (`channels.streams`).
    stream: Option<StreamCounters>,
}

/// A Redis Stream's consumer group, as last measured.
#[derive(Default)]
struct StreamCounters {
    /// Read by this instance and not yet acknowledged.
    pending: AtomicU64,
    /// Not yet read by this instance's group.
    undelivered: AtomicU64,
    acknowledged: AtomicU64,
}

pub struct Stats {
    started: Instant,
    scalars: [AtomicU64; SCALARS.len()],
    channel_names: Vec<String>,
    channels: Vec<ChannelCounters>,
    /// Drops that belong to no single channel (a whole streaming batch, a shed control message).
    unattributed: [AtomicU64; REASONS],
    /// Epoch millis of the last message read from Redis (0 = none yet).
    last_event_at: AtomicI64,
    /// Pattern alerts refused by a user's rules, by `Refusal`.
    alert_refusals: [AtomicU64; REFUSALS],
    pub(super) streaming_buffer: BufferStats,
    pub(super) watchlist_cache: CacheStats,
    pub(super) alert_rules_cache: CacheStats,
    /// From reading a message off Redis to queueing its frame to the sessions (buffer wait
    /// included for batches, timed from their oldest item).
    pub(super) processing_seconds: Histogram,
    /// Items per streaming batch.
    pub(super) batch_sizes: Histogram,
}

impl Stats {
    /// The pub/sub channels and patterns, then the `streams` (Redis Streams keys), in the order
    /// their `ChannelId`s number them.
    pub fn new(channel_names: Vec<String>) -> Self {
        Stats::with_streams(channel_names, Vec::new())
    }

    pub fn with_streams(mut channel_names: Vec<String>, streams: Vec<String>) -> Self {
        let pubsub = channel_names.len();
        channel_names.extend(streams);
        let channels = (0..channel_names.len())
            .map(|i| ChannelCounters {
                stream: (i >= pubsub).then(StreamCounters::default),
                ..ChannelCounters::default()
            })
            .collect();
        Stats {
            started: Instant::now(),
            scalars: std::array::from_fn(|_| AtomicU64::new(0)),
            channel_names,
            channels,
            unattributed: Default::default(),
            last_event_at: AtomicI64::new(0),
            alert_refusals: Default::default(),
            streaming_buffer: BufferStats::default(),
            watchlist_cache: CacheStats::default(),
            alert_rules_cache: CacheStats::default(),
            processing_seconds: Histogram::new(histogram::SECONDS),
            batch_sizes: Histogram::new(histogram::ITEMS),
        }
    }

    /// Records one occurrence: the event knows what it counts and what, if anything, it logs.
    pub fn emit(&self, event: impl InternalEvent) {
        event.emit(self);
    }

    pub fn get(&self, scalar: Scalar) -> u64 {
        self.scalars[scalar as usize].load(Relaxed)
    }

    pub fn redis_connected(&self) -> bool {
        self.get(Scalar::RedisConnected) != 0
    }

    /// When the last message was read from Redis, if one was.
    pub fn last_event_at(&self) -> Option<EpochMillis> {
        let at = self.last_event_at.load(Relaxed);
        (at > 0).then_some(EpochMillis(at))
    }

    pub fn uptime_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub(super) fn add(&self, scalar: Scalar, n: u64) {
        self.scalars[scalar as usize].fetch_add(n, Relaxed);
    }

    /// Lowers a gauge its events raise and lower in pairs.
    pub(super) fn sub(&self, scalar: Scalar, n: u64) {
        self.scalars[scalar as usize].fetch_sub(n, Relaxed);
    }

    pub(super) fn set(&self, scalar: Scalar, value: u64) {
        self.scalars[scalar as usize].store(value, Relaxed);
    }

    pub(super) fn record_received(&self, channel: ChannelId) {
        self.add(Scalar::MessagesReceived, 1);
        if let Some(c) = self.channels.get(channel.0) {
            c.received.fetch_add(1, Relaxed);
        }
        self.last_event_at.store(EpochMillis::now().0, Relaxed);
    }

    pub(super) fn record_drop(&self, channel: Option<ChannelId>, reason: DropReason) {
        let row = channel
            .and_then(|c| self.channels.get(c.0))
            .map(|c| &c.drops);
        row.unwrap_or(&self.unattributed)[reason.index()].fetch_add(1, Relaxed);
    }

    pub(super) fn record_backlog(&self, channel: ChannelId, pending: u64, undelivered: u64) {
        if let Some(s) = self.channels.get(channel.0).and_then(|c| c.stream.as_ref()) {
            s.pending.store(pending, Relaxed);
            s.undelivered.store(undelivered, Relaxed);
        }
    }

    pub(super) fn record_acknowledged(&self, channel: ChannelId, n: u64) {
        if let Some(s) = self.channels.get(channel.0).and_then(|c| c.stream.as_ref()) {
            s.acknowledged.fetch_add(n, Relaxed);
        }
    }

    /// Per Redis Stream source: its key, pending, undelivered and acknowledged entries.
    pub(super) fn stream_rows(&self) -> impl Iterator<Item = (&str, [u64; 3])> + '_ {
        let channels = self.channel_names.iter().zip(&self.channels);
        channels.filter_map(|(name, c)| {
            let s = c.stream.as_ref()?;
            let values = [&s.pending, &s.undelivered, &s.acknowledged].map(|v| v.load(Relaxed));
            Some((name.as_str(), values))
        })
    }

    pub(super) fn record_refusal(&self, refusal: Refusal) {
        self.alert_refusals[refusal as usize].fetch_add(1, Relaxed);
    }

    /// Everything of one family (filtered or dropped), all reasons and channels.
    pub fn total(&self, family: Family) -> u64 {
        DropReason::VARIANTS
            .iter()
            .filter(|r| r.family() == family)
            .map(|r| self.drops_for(*r))
            .sum()
    }

    pub fn drops_for(&self, reason: DropReason) -> u64 {
        self.drop_rows()
            .map(|row| row[reason.index()].load(Relaxed))
            .sum()
    }

    fn drop_rows(&self) -> impl Iterator<Item = &[AtomicU64; REASONS]> {
        self.channels
            .iter()
            .map(|c| &c.drops)
            .chain(std::iter::once(&self.unattributed))
    }

    /// Per channel (and `(none)` for unattributed drops): name, messages received, drops by
    /// reason.
    pub(super) fn channel_rows(&self) -> impl Iterator<Item = (&str, u64, [u64; REASONS])> + '_ {
        let values = |row: &[AtomicU64; REASONS]| std::array::from_fn(|i| row[i].load(Relaxed));
        let channels = self.channel_names.iter().zip(&self.channels);
        channels
            .map(move |(name, c)| (name.as_str(), c.received.load(Relaxed), values(&c.drops)))
            .chain(std::iter::once(("(none)", 0, values(&self.unattributed))))
    }

    pub(super) fn refusals(&self) -> impl Iterator<Item = (Refusal, u64)> + '_ {
        Refusal::VARIANTS
            .iter()
            .copied()
            .zip(&self.alert_refusals)
            .map(|(r, n)| (r, n.load(Relaxed)))
    }

    /// The `/stats` body: the table's scalars at their paths, then what is shaped by hand.
    pub fn snapshot(&self) -> Value {
        let mut root = Map::new();
        for row in SCALARS {
            let value = self.get(row.scalar);
            let value = match row.kind {
                Kind::Counter | Kind::Gauge => json!(value),
                Kind::Flag => json!(value != 0),
            };
            insert(&mut root, row.path, value);
        }
        let received_by_channel: Map<String, Value> = (self.channel_names.iter())
            .zip(&self.channels)
            .map(|(name, c)| (name.clone(), json!(c.received.load(Relaxed))))
            .collect();
        let streams: Map<String, Value> = self
            .stream_rows()
            .map(|(key, [pending, undelivered, acknowledged])| {
                let row = json!({"pending": pending, "undelivered": undelivered,
                    "acknowledged": acknowledged});
                (key.to_owned(), row)
            })
            .collect();
        let refused: Map<String, Value> = self
            .refusals()
            .map(|(r, n)| (r.as_str().to_owned(), json!(n)))
            .collect();
        for (path, value) in [
            ("uptime_seconds", json!(self.uptime_secs())),
            ("events.dropped", json!(self.total(Family::Dropped))),
            ("events.filtered", json!(self.total(Family::Filtered))),
            ("dropped_by_reason", self.by_reason(Family::Dropped)),
            ("dropped_by_channel", self.by_channel(Family::Dropped)),
            ("filtered_by_reason", self.by_reason(Family::Filtered)),
            ("filtered_by_channel", self.by_channel(Family::Filtered)),
            ("received_by_channel", Value::Object(received_by_channel)),
            ("ingest_streams", Value::Object(streams)),
            ("alert_rules.refused", Value::Object(refused)),
            ("streaming_buffer", self.streaming_buffer.snapshot()),
            ("watchlist_cache", self.watchlist_cache.snapshot()),
            ("alert_rules_cache", self.alert_rules_cache.snapshot()),
            (
                "redis.last_event_at",
                json!(self.last_event_at().map(|t| t.0)),
            ),
        ] {
            insert(&mut root, path, value);
        }
        Value::Object(root)
    }
}

impl Stats {
    /// Every reason of the family, with its count (zeros included, so the keys are stable).
    fn by_reason(&self, family: Family) -> Value {
        let reasons = DropReason::VARIANTS.iter().filter(|r| r.family() == family);
        let counts = reasons.map(|r| (r.as_str().to_owned(), json!(self.drops_for(*r))));
        Value::Object(counts.collect())
    }

    /// Per channel (and `(none)`), the family's reasons that happened.
    fn by_channel(&self, family: Family) -> Value {
        let rows = self.channel_rows().filter_map(|(name, _, drops)| {
            let reasons = nonzero(&drops, family);
            (!reasons.is_empty()).then(|| (name.to_owned(), Value::Object(reasons)))
        });
        Value::Object(rows.collect())
    }
}

/// Puts `value` at a dotted `path`, creating the objects on the way.
fn insert(root: &mut Map<String, Value>, path: &str, value: Value) {
    let (groups, leaf) = path.rsplit_once('.').unwrap_or(("", path));
    let mut map = root;
    for group in groups.split('.').filter(|g| !g.is_empty()) {
        map = map
            .entry(group)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("a /stats group is an object");
    }
    map.insert(leaf.to_owned(), value);
}

fn nonzero(row: &[u64; REASONS], family: Family) -> Map<String, Value> {
    DropReason::VARIANTS
        .iter()
        .zip(row)
        .filter(|(r, n)| r.family() == family && **n > 0)
        .map(|(r, n)| (r.as_str().to_owned(), json!(n)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::events::EventDropped;

    fn drop(stats: &Stats, channel: Option<usize>, reason: DropReason) {
        stats.emit(EventDropped {
            channel: channel.map(ChannelId),
            reason,
        });
    }

    #[test]
    fn drops_are_counted_by_reason_and_channel() {
        let stats = Stats::new(vec!["a".into(), "b".into()]);
        drop(&stats, Some(1), DropReason::InvalidJson);
        drop(&stats, Some(1), DropReason::InvalidJson);
        drop(&stats, None, DropReason::Overloaded);
        let snap = stats.snapshot();
        assert_eq!(snap["dropped_by_reason"]["invalid_json"], 2);
        assert_eq!(snap["dropped_by_channel"]["b"]["invalid_json"], 2);
        assert!(snap["dropped_by_channel"].get("a").is_none());
        assert_eq!(snap["dropped_by_channel"]["(none)"]["overloaded"], 1);
        assert_eq!(snap["events"]["dropped"], 3);
        assert_eq!(snap["events"]["filtered"], 0);
    }

    #[test]
    fn normal_filtering_is_counted_apart_from_losses() {
        let stats = Stats::new(vec!["prices".into()]);
        drop(&stats, Some(0), DropReason::NoRecipients);
        drop(&stats, Some(0), DropReason::BelowThreshold);
        drop(&stats, Some(0), DropReason::TooLarge);
        let snap = stats.snapshot();
        assert_eq!(snap["events"]["filtered"], 2);
        assert_eq!(snap["events"]["dropped"], 1);
        assert_eq!(snap["filtered_by_channel"]["prices"]["below_threshold"], 1);
        assert!(snap["dropped_by_reason"].get("no_recipients").is_none());
        assert!(snap["filtered_by_reason"].get("too_large").is_none());
        assert_eq!(snap["dropped_by_channel"]["prices"]["too_large"], 1);
    }

    /// The `/stats` keys the dashboard, the debug page and the integration tests read.
    #[test]
    fn the_stats_shape_is_kept() {
        let snap = Stats::new(vec!["a".into()]).snapshot();
        let keys = |v: &Value| -> Vec<String> {
            let mut k: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let expected: &[(&str, &[&str])] = &[
            (
                "",
                &[
                    "alert_rules",
                    "alert_rules_cache",
                    "dropped_by_channel",
                    "dropped_by_reason",
                    "events",
                    "filtered_by_channel",
                    "filtered_by_reason",
                    "history",
                    "ingest_streams",
                    "monitor_skipped",
                    "offline",
                    "prices_conflated",
                    "received_by_channel",
                    "redis",
                    "resumes",
                    "rooms",
                    "sessions",
                    "snapshots",
                    "streaming_buffer",
                    "transports",
                    "uptime_seconds",
                    "watchlist_cache",
                ],
            ),
            ("alert_rules", &["passed", "refused"]),
            (
                "transports",
                &["socketio", "socketio_polling", "socketio_websocket", "ws"],
            ),
            (
                "history",
                &["duplicates", "skipped", "write_failures", "written"],
            ),
            ("offline", &["acknowledged", "delivered", "queued"]),
            ("resumes", &["not_recovered", "recovered", "replayed"]),
            ("snapshots", &["delivered"]),
            (
                "alert_rules_cache",
                &["hits", "invalidations", "loads", "misses"],
            ),
            (
                "watchlist_cache",
                &["hits", "invalidations", "loads", "misses"],
            ),
            (
                "events",
                &[
                    "delivered",
                    "dropped",
                    "filtered",
                    "parsed",
                    "published",
                    "received",
                    "routed",
                ],
            ),
            (
                "redis",
                &[
                    "connected",
                    "connection_errors",
                    "connects",
                    "last_event_at",
                    "sharded_channels_down",
                    "subscription_gaps",
                ],
            ),
            (
                "sessions",
                &[
                    "active",
                    "client_errors",
                    "frames_shed",
                    "refused",
                    "slow_consumer_closes",
                    "total",
                ],
            ),
            (
                "streaming_buffer",
                &[
                    "buffered",
                    "deduplicated",
                    "flush_cycles",
                    "flushed",
                    "largest_batch",
                ],
            ),
        ];
        for (group, names) in expected {
            let value = if group.is_empty() {
                &snap
            } else {
                &snap[group]
            };
            assert_eq!(keys(value), *names, "{group}");
        }
        assert_eq!(snap["redis"]["connected"], false);
        assert!(snap["redis"]["last_event_at"].is_null());
        assert_eq!(snap["received_by_channel"]["a"], 0);
    }
}
