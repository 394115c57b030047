//! What the background health probe last saw: the producer heartbeat, recent Redis connection
//! errors, and Redis itself (PING round trip, `INFO` figures). The SystemEvents handler writes it
//! on its own schedule and `/health` reads it, so it lives here, between the two, rather than in
//! either.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::domain::event::EpochMillis;

/// How far back connection errors count as recent.
pub const ERROR_WINDOW_SECS: i64 = 300;

/// What the background health probe last saw of the producer heartbeat key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProducerHeartbeat {
    NotCheckedYet,
    Missing,
    /// Age in seconds when checked.
    Age(f64),
    Unreadable,
}

/// The Redis figures operators watch, from `INFO` (absent when Redis did not say).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RedisFigures {
    pub connected_clients: Option<u64>,
    pub used_memory_human: Option<String>,
    pub keyspace_hits: Option<u64>,
    pub keyspace_misses: Option<u64>,
}

impl RedisFigures {
    /// Reads the figures out of `INFO`'s `name:value` lines.
    pub fn from_info(info: &str) -> Self {
        let field = |name: &str| {
            info.lines()
                .filter_map(|line| line.trim_end().split_once(':'))
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_owned())
        };
        let number = |name: &str| field(name).and_then(|v| v.parse().ok());
        RedisFigures {
            connected_clients: number("connected_clients"),
            used_memory_human: field("used_memory_human"),
            keyspace_hits: number("keyspace_hits"),
            keyspace_misses: number("keyspace_misses"),
        }
    }

    /// `INFO` as a single server or a cluster answers it: a cluster's client counts and
    /// keyspace figures are the masters' sums, its memory each master's in turn.
    pub fn from_reply(reply: &redis::Value) -> Option<Self> {
        let text = |v: &redis::Value| match v {
            redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
            redis::Value::VerbatimString { text, .. } => Some(text.clone()),
            redis::Value::SimpleString(s) => Some(s.clone()),
            _ => None,
        };
        let infos: Vec<String> = match reply {
            redis::Value::Map(nodes) => nodes.iter().filter_map(|(_, v)| text(v)).collect(),
            single => vec![text(single)?],
        };
        let mut figures = infos.iter().map(|i| RedisFigures::from_info(i));
        let first = figures.next()?;
        Some(figures.fold(first, |sum, f| {
            let add = |a: Option<u64>, b: Option<u64>| Some(a? + b?);
            RedisFigures {
                connected_clients: add(sum.connected_clients, f.connected_clients),
                used_memory_human: sum
                    .used_memory_human
                    .zip(f.used_memory_human)
                    .map(|(a, b)| format!("{a}, {b}")),
                keyspace_hits: add(sum.keyspace_hits, f.keyspace_hits),
                keyspace_misses: add(sum.keyspace_misses, f.keyspace_misses),
            }
        }))
    }
}

/// Whether Redis has been slow for long enough to say so: one slow PING is not a finding.
#[derive(Debug, Clone, Copy)]
pub struct LatencyWatch {
    pub warn_above: Duration,
    pub for_at_least: Duration,
}

/// What the last Redis probe found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RedisProbe {
    /// The PING round trip; `None` when PING failed or timed out.
    pub latency: Option<Duration>,
    pub figures: RedisFigures,
    /// Since when every PING has been slow (or failed), if the last one was.
    pub slow_since: Option<Instant>,
}

/// Written by the SystemEvents handler's periodic probe, read by `/health`.
pub struct HealthState {
    inner: Mutex<Probe>,
    latency_watch: LatencyWatch,
}

struct Probe {
    heartbeat: ProducerHeartbeat,
    /// (time, cumulative connection errors) samples, oldest first, covering the error window.
    error_samples: Vec<(i64, u64)>,
    redis: Option<RedisProbe>,
}

impl HealthState {
    pub fn new(latency_watch: LatencyWatch) -> Self {
        HealthState {
            inner: Mutex::new(Probe {
                heartbeat: ProducerHeartbeat::NotCheckedYet,
                error_samples: Vec::new(),
                redis: None,
            }),
            latency_watch,
        }
    }

    /// A Redis probe's PING round trip (`None`: failed) and `INFO` figures (`None`: unreadable,
    /// the previous ones are kept).
    pub fn record_redis(
        &self,
        latency: Option<Duration>,
        figures: Option<RedisFigures>,
        now: Instant,
    ) {
        let mut probe = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let previous = probe.redis.take().unwrap_or_default();
        let slow = latency.is_none_or(|l| l > self.latency_watch.warn_above);
        probe.redis = Some(RedisProbe {
            latency,
            figures: figures.unwrap_or(previous.figures),
            slow_since: slow.then(|| previous.slow_since.unwrap_or(now)),
        });
    }

    /// The last Redis probe, and how long Redis has been slow if that is long enough to warn.
    pub fn redis(&self, now: Instant) -> (Option<RedisProbe>, Option<Duration>) {
        let probe = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let redis = probe.redis.clone();
        let slow_for = redis
            .as_ref()
            .and_then(|r| r.slow_since)
            .map(|since| now.saturating_duration_since(since))
            .filter(|slow_for| *slow_for >= self.latency_watch.for_at_least);
        (redis, slow_for)
    }

    pub fn latency_watch(&self) -> LatencyWatch {
        self.latency_watch
    }
}

impl HealthState {
    pub fn record(&self, heartbeat: ProducerHeartbeat, errors_total: u64) {
        let now = EpochMillis::now().0 / 1000;
        let mut probe = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        probe.heartbeat = heartbeat;
        probe.error_samples.push((now, errors_total));
        probe
            .error_samples
            .retain(|(t, _)| now - t <= ERROR_WINDOW_SECS);
    }

    /// The last heartbeat seen, and how many of `errors_total` fell within the error window.
    pub fn read(&self, errors_total: u64) -> (ProducerHeartbeat, u64) {
        let probe = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let oldest = probe.error_samples.first().map_or(0, |(_, n)| *n);
        (probe.heartbeat, errors_total.saturating_sub(oldest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_reply_sums_the_masters() {
        let info = |clients: u64, mem: &str| {
            redis::Value::BulkString(
                format!("connected_clients:{clients}\r\nused_memory_human:{mem}\r\nkeyspace_hits:1\r\nkeyspace_misses:2\r\n")
                    .into_bytes(),
            )
        };
        let node = |n: &str| redis::Value::BulkString(n.as_bytes().to_vec());
        let reply = redis::Value::Map(vec![
            (node("a:1"), info(3, "1M")),
            (node("b:2"), info(4, "2M")),
        ]);
        let f = RedisFigures::from_reply(&reply).unwrap();
        assert_eq!(f.connected_clients, Some(7));
        assert_eq!(f.keyspace_misses, Some(4));
        assert_eq!(f.used_memory_human.as_deref(), Some("1M, 2M"));
        let single = RedisFigures::from_reply(&info(5, "9M")).unwrap();
        assert_eq!(single.connected_clients, Some(5));
    }

    const WATCH: LatencyWatch = LatencyWatch {
        warn_above: Duration::from_millis(50),
        for_at_least: Duration::from_secs(60),
    };

    #[test]
    fn info_figures_are_read_by_name() {
        let info = "# Clients\r\nconnected_clients:7\r\nblocked_clients:0\r\n# Memory\r\n\
                    used_memory:1048576\r\nused_memory_human:1.00M\r\n# Stats\r\n\
                    keyspace_hits:120\r\nkeyspace_misses:3\r\n";
        assert_eq!(
            RedisFigures::from_info(info),
            RedisFigures {
                connected_clients: Some(7),
                used_memory_human: Some("1.00M".into()),
                keyspace_hits: Some(120),
                keyspace_misses: Some(3),
            }
        );
        assert_eq!(RedisFigures::from_info("garbage"), RedisFigures::default());
    }

    #[test]
    fn redis_is_slow_only_when_every_ping_for_the_window_was() {
        let h = HealthState::new(WATCH);
        let t0 = Instant::now();
        let fast = Some(Duration::from_millis(2));
        let slow = Some(Duration::from_millis(80));
        h.record_redis(fast, Some(RedisFigures::default()), t0);
        assert_eq!(h.redis(t0).1, None);
        h.record_redis(slow, None, t0 + Duration::from_secs(10));
        h.record_redis(None, None, t0 + Duration::from_secs(40));
        assert_eq!(h.redis(t0 + Duration::from_secs(69)).1, None, "slow 59 s");
        assert_eq!(
            h.redis(t0 + Duration::from_secs(70)).1,
            Some(Duration::from_secs(60))
        );
        h.record_redis(fast, None, t0 + Duration::from_secs(80));
        assert_eq!(h.redis(t0 + Duration::from_secs(200)).1, None, "fast again");
        assert_eq!(
            h.redis(t0).0.unwrap().figures,
            RedisFigures::default(),
            "figures kept when INFO failed"
        );
    }

    #[test]
    fn error_window_counts_only_recent_errors() {
        let h = HealthState::new(WATCH);
        h.record(ProducerHeartbeat::Missing, 10);
        let (_, recent) = h.read(13);
        assert_eq!(recent, 3);
    }
}
