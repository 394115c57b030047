//! Lock-free pipeline counters, shared by every actor through an `Arc<Stats>`.
//!
//! Channels are fixed at startup, so per-channel and per-(channel, reason) counters are plain
//! arrays of atomics indexed by `ChannelId` and `DropReason::index()` (rows of
//! `DropReason::COUNT`, derived from the enum): counting a drop on the hot path is one relaxed
//! `fetch_add`, never a lock.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Map, Value};
use strum::{EnumCount, VariantArray};

use crate::domain::alert_rules::Refusal;
use crate::domain::drop::DropReason;
use crate::domain::event::EpochMillis;
use crate::domain::streaming_buffer::BufferCounters;
use crate::domain::user_cache::CacheCounters;
use crate::telemetry::histogram::{self, Histogram};

/// Index of a subscribed channel or pattern in `Stats::channel_names`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelId(pub usize);

const REASONS: usize = DropReason::COUNT;
const REFUSALS: usize = Refusal::COUNT;

/// User-level pattern alert rules: alerts that passed, and refusals by reason.
#[derive(Default)]
pub struct AlertFilterStats {
    pub passed: AtomicU64,
    refused: [AtomicU64; REFUSALS],
}

impl AlertFilterStats {
    pub fn record(&self, outcome: Result<(), Refusal>) {
        match outcome {
            Ok(()) => self.passed.fetch_add(1, Relaxed),
            Err(r) => self.refused[r as usize].fetch_add(1, Relaxed),
        };
    }

    pub fn refused(&self) -> impl Iterator<Item = (Refusal, u64)> + '_ {
        Refusal::VARIANTS
            .iter()
            .copied()
            .zip(&self.refused)
            .map(|(r, n)| (r, n.load(Relaxed)))
    }

    fn snapshot(&self) -> Value {
        let refused: Map<String, Value> = Refusal::VARIANTS
            .iter()
            .zip(&self.refused)
            .map(|(r, n)| (r.as_str().to_owned(), json!(n.load(Relaxed))))
            .collect();
        json!({"passed": self.passed.load(Relaxed), "refused": refused})
    }
}

/// Totals of the streaming buffers (patterns and indicators together).
#[derive(Default)]
pub struct BufferStats {
    buffered: AtomicU64,
    deduplicated: AtomicU64,
    flushed: AtomicU64,
    flush_cycles: AtomicU64,
    largest_batch: AtomicU64,
}

impl BufferStats {
    pub fn store(&self, c: BufferCounters) {
        self.buffered.store(c.buffered, Relaxed);
        self.deduplicated.store(c.deduplicated, Relaxed);
        self.flushed.store(c.flushed, Relaxed);
        self.flush_cycles.store(c.flush_cycles, Relaxed);
        self.largest_batch.store(c.largest_batch, Relaxed);
    }

    pub fn values(&self) -> BufferCounters {
        BufferCounters {
            buffered: self.buffered.load(Relaxed),
            deduplicated: self.deduplicated.load(Relaxed),
            flushed: self.flushed.load(Relaxed),
            flush_cycles: self.flush_cycles.load(Relaxed),
            largest_batch: self.largest_batch.load(Relaxed),
        }
    }

    fn snapshot(&self) -> Value {
        json!({
            "buffered": self.buffered.load(Relaxed),
            "deduplicated": self.deduplicated.load(Relaxed),
            "flushed": self.flushed.load(Relaxed),
            "flush_cycles": self.flush_cycles.load(Relaxed),
            "largest_batch": self.largest_batch.load(Relaxed),
        })
    }
}

#[derive(Default)]
pub struct CacheStats {
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    loads: AtomicU64,
}

impl CacheStats {
    pub fn store(&self, c: CacheCounters) {
        self.hits.store(c.hits, Relaxed);
        self.misses.store(c.misses, Relaxed);
        self.invalidations.store(c.invalidations, Relaxed);
        self.loads.store(c.loads, Relaxed);
    }

    pub fn values(&self) -> CacheCounters {
        CacheCounters {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            invalidations: self.invalidations.load(Relaxed),
            loads: self.loads.load(Relaxed),
        }
    }

    fn snapshot(&self) -> Value {
        json!({
            "hits": self.hits.load(Relaxed),
            "misses": self.misses.load(Relaxed),
            "invalidations": self.invalidations.load(Relaxed),
            "loads": self.loads.load(Relaxed),
        })
    }
}

#[derive(Default)]
struct ChannelCounters {
    received: AtomicU64,
    drops: [AtomicU64; REASONS],
}

pub struct Stats {
    started: Instant,
    channel_names: Vec<String>,
    channels: Vec<ChannelCounters>,
    /// Drops that belong to no single channel (a whole streaming batch, a shed control message).
    unattributed: [AtomicU64; REASONS],
    /// Raw messages read from Redis.
    pub received: AtomicU64,
    /// Events produced by the normaliser (a batch message yields several).
    pub parsed: AtomicU64,
    /// Events handed by the router to a handler.
    pub routed: AtomicU64,
    /// Encoded frames handed by handlers to the registry.
    pub published: AtomicU64,
    /// Frames accepted into a session's outbound queue.
    pub delivered: AtomicU64,
    /// Frames not queued because the session's outbound queue was full.
    pub frames_shed: AtomicU64,
    pub slow_consumer_closes: AtomicU64,
    /// Client frames answered with an `error` frame.
    pub client_errors: AtomicU64,
    pub sessions_active: AtomicU64,
    pub sessions_total: AtomicU64,
    pub sessions_refused: AtomicU64,
    pub rooms: AtomicU64,
    pub redis_connected: AtomicBool,
    pub redis_connects: AtomicU64,
    pub redis_connection_errors: AtomicU64,
    /// Epoch millis of the last message read from Redis (0 = none yet).
    pub last_event_at: AtomicI64,
    pub alert_rules: AlertFilterStats,
    pub streaming_buffer: BufferStats,
    pub watchlist_cache: CacheStats,
    pub alert_rules_cache: CacheStats,
    /// Price updates replaced by a newer one of the same symbol within the conflation window.
    pub prices_conflated: AtomicU64,
    /// Messages the monitor did not record because an operator was reading it at that moment.
    pub monitor_skipped: AtomicU64,
    /// From reading a message off Redis to queueing its frame to the sessions (buffer wait
    /// included for batches, timed from their oldest item).
    pub processing_seconds: Histogram,
    /// Items per streaming batch.
    pub batch_sizes: Histogram,
}

impl Stats {
    pub fn new(channel_names: Vec<String>) -> Self {
        let channels = channel_names
            .iter()
            .map(|_| ChannelCounters::default())
            .collect();
        Stats {
            started: Instant::now(),
            channel_names,
            channels,
            unattributed: Default::default(),
            received: AtomicU64::new(0),
            parsed: AtomicU64::new(0),
            routed: AtomicU64::new(0),
            published: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            frames_shed: AtomicU64::new(0),
            slow_consumer_closes: AtomicU64::new(0),
            client_errors: AtomicU64::new(0),
            sessions_active: AtomicU64::new(0),
            sessions_total: AtomicU64::new(0),
            sessions_refused: AtomicU64::new(0),
            rooms: AtomicU64::new(0),
            redis_connected: AtomicBool::new(false),
            redis_connects: AtomicU64::new(0),
            redis_connection_errors: AtomicU64::new(0),
            last_event_at: AtomicI64::new(0),
            alert_rules: AlertFilterStats::default(),
            streaming_buffer: BufferStats::default(),
            watchlist_cache: CacheStats::default(),
            alert_rules_cache: CacheStats::default(),
            prices_conflated: AtomicU64::new(0),
            monitor_skipped: AtomicU64::new(0),
            processing_seconds: Histogram::new(histogram::SECONDS),
            batch_sizes: Histogram::new(histogram::ITEMS),
        }
    }

    pub fn channel_name(&self, id: ChannelId) -> &str {
        self.channel_names.get(id.0).map_or("?", String::as_str)
    }

    pub fn record_received(&self, channel: ChannelId) {
        self.received.fetch_add(1, Relaxed);
        if let Some(c) = self.channels.get(channel.0) {
            c.received.fetch_add(1, Relaxed);
        }
        self.last_event_at.store(EpochMillis::now().0, Relaxed);
    }

    pub fn record_drop(&self, channel: Option<ChannelId>, reason: DropReason) {
        let row = channel
            .and_then(|c| self.channels.get(c.0))
            .map(|c| &c.drops);
        row.unwrap_or(&self.unattributed)[reason.index()].fetch_add(1, Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn drops_total(&self) -> u64 {
        self.channels
            .iter()
            .map(|c| &c.drops)
            .chain(std::iter::once(&self.unattributed))
            .flat_map(|row| row.iter())
            .map(|n| n.load(Relaxed))
            .sum()
    }

    /// Per channel (and `(none)` for unattributed drops): name, messages received, drops by
    /// reason.
    pub fn channel_rows(&self) -> impl Iterator<Item = (&str, u64, [u64; REASONS])> + '_ {
        let values = |row: &[AtomicU64; REASONS]| std::array::from_fn(|i| row[i].load(Relaxed));
        let channels = self.channel_names.iter().zip(&self.channels);
        channels
            .map(move |(name, c)| (name.as_str(), c.received.load(Relaxed), values(&c.drops)))
            .chain(std::iter::once(("(none)", 0, values(&self.unattributed))))
    }

    pub fn drops_for(&self, reason: DropReason) -> u64 {
        self.channels
            .iter()
            .map(|c| &c.drops)
            .chain(std::iter::once(&self.unattributed))
            .map(|row| row[reason.index()].load(Relaxed))
            .sum()
    }

    pub fn uptime_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The `/stats` body.
    pub fn snapshot(&self) -> Value {
        let load = |n: &AtomicU64| n.load(Relaxed);
        let by_reason: Map<String, Value> = DropReason::VARIANTS
            .iter()
            .map(|r| (r.as_str().to_owned(), json!(self.drops_for(*r))))
            .collect();
        let mut by_channel = Map::new();
        let mut received_by_channel = Map::new();
        for (name, c) in self.channel_names.iter().zip(&self.channels) {
            received_by_channel.insert(name.clone(), json!(load(&c.received)));
            let reasons = nonzero(&c.drops);
            if !reasons.is_empty() {
                by_channel.insert(name.clone(), Value::Object(reasons));
            }
        }
        let unattributed = nonzero(&self.unattributed);
        if !unattributed.is_empty() {
            by_channel.insert("(none)".to_owned(), Value::Object(unattributed));
        }
        let last_event = self.last_event_at.load(Relaxed);
        json!({
            "uptime_seconds": self.uptime_secs(),
            "events": {
                "received": load(&self.received),
                "parsed": load(&self.parsed),
                "routed": load(&self.routed),
                "published": load(&self.published),
                "delivered": load(&self.delivered),
                "dropped": self.drops_total(),
            },
            "drops_by_reason": by_reason,
            "drops_by_channel": by_channel,
            "received_by_channel": received_by_channel,
            "sessions": {
                "active": load(&self.sessions_active),
                "total": load(&self.sessions_total),
                "refused": load(&self.sessions_refused),
                "frames_shed": load(&self.frames_shed),
                "slow_consumer_closes": load(&self.slow_consumer_closes),
                "client_errors": load(&self.client_errors),
            },
            "rooms": load(&self.rooms),
            "alert_rules": self.alert_rules.snapshot(),
            "streaming_buffer": self.streaming_buffer.snapshot(),
            "watchlist_cache": self.watchlist_cache.snapshot(),
            "alert_rules_cache": self.alert_rules_cache.snapshot(),
            "prices_conflated": load(&self.prices_conflated),
            "monitor_skipped": load(&self.monitor_skipped),
            "redis": RedisSnapshot {
                connected: self.redis_connected.load(Relaxed),
                connects: load(&self.redis_connects),
                connection_errors: load(&self.redis_connection_errors),
                last_event_at: (last_event > 0).then_some(last_event),
            },
        })
    }
}

#[derive(Serialize)]
struct RedisSnapshot {
    connected: bool,
    connects: u64,
    connection_errors: u64,
    last_event_at: Option<i64>,
}

fn nonzero(row: &[AtomicU64; REASONS]) -> Map<String, Value> {
    DropReason::VARIANTS
        .iter()
        .zip(row)
        .filter_map(|(r, n)| {
            let n = n.load(Relaxed);
            (n > 0).then(|| (r.as_str().to_owned(), json!(n)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_counted_by_reason_and_channel() {
        let stats = Stats::new(vec!["a".into(), "b".into()]);
        stats.record_drop(Some(ChannelId(1)), DropReason::InvalidJson);
        stats.record_drop(Some(ChannelId(1)), DropReason::InvalidJson);
        stats.record_drop(None, DropReason::Overloaded);
        let snap = stats.snapshot();
        assert_eq!(snap["drops_by_reason"]["invalid_json"], 2);
        assert_eq!(snap["drops_by_channel"]["b"]["invalid_json"], 2);
        assert!(snap["drops_by_channel"].get("a").is_none());
        assert_eq!(snap["drops_by_channel"]["(none)"]["overloaded"], 1);
        assert_eq!(snap["events"]["dropped"], 3);
    }
}
