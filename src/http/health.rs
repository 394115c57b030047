//! `GET /health`: the service's own status, by the legacy health rules done right
//! (docs/PRODUCERS.md#heartbeat): a live Redis subscription, *recent* (not lifetime) connection
//! errors, Redis's own latency and figures, the producer heartbeat key instead of our own cache
//! keys, and recent traffic. Every non-healthy status says why.

use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::AppState;
use crate::domain::event::EpochMillis;
use crate::telemetry::health::{LatencyWatch, ProducerHeartbeat, RedisFigures, RedisProbe};
use crate::telemetry::{Scalar, Stats};

/// Connection errors within the probe's error window (`health::ERROR_WINDOW_SECS`) beyond which the
/// service is degraded.
const MAX_RECENT_ERRORS: u64 = 5;
/// The producer writes its heartbeat every 60 s.
const HEARTBEAT_FRESH_SECS: f64 = 60.0;
const QUIET_WARNING_SECS: f64 = 300.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Healthy,
    Warning,
    Degraded,
    Error,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub status: Status,
    pub reasons: Vec<String>,
    pub redis_connected: bool,
    pub recent_connection_errors: u64,
    /// Subscriptions lost since start (a subscriber connection, a cluster node, a sharded
    /// channel's slot moving): each is a span of messages not received.
    pub subscription_gaps: u64,
    /// Sharded channels (Redis Cluster) not subscribed at the moment.
    pub sharded_channels_down: u64,
    pub producer_heartbeat_age_seconds: Option<f64>,
    pub last_event_age_seconds: Option<f64>,
    pub uptime_seconds: f64,
    pub sessions: u64,
    /// What the last probe saw of Redis; `null` before the first.
    pub redis: Option<RedisReport>,
}

#[derive(Debug, Serialize)]
pub struct RedisReport {
    /// The PING round trip; `null` when PING failed.
    pub latency_ms: Option<f64>,
    #[serde(flatten)]
    pub figures: RedisFigures,
}

/// What the probes found, for `assess`.
pub struct Probed {
    pub heartbeat: ProducerHeartbeat,
    pub recent_errors: u64,
    pub redis: Option<RedisProbe>,
    /// How long Redis has been slow, when that is long enough to warn.
    pub redis_slow_for: Option<Duration>,
    pub latency_watch: LatencyWatch,
}

pub fn assess(stats: &Stats, probed: Probed) -> Report {
    let Probed {
        heartbeat,
        recent_errors,
        redis,
        redis_slow_for,
        latency_watch,
    } = probed;
    let now = EpochMillis::now().0;
    let last_event_age = stats
        .last_event_at()
        .map(|last| (now - last.0) as f64 / 1000.0);
    let redis_connected = stats.redis_connected();
    let uptime = stats.uptime_secs();
    let mut findings: Vec<(Status, String)> = Vec::new();
    if !redis_connected {
        findings.push((Status::Error, "Redis subscriber is not connected".into()));
    }
    let sharded_down = stats.get(Scalar::RedisShardedDown);
    if sharded_down > 0 {
        findings.push((
            Status::Degraded,
            format!(
                "{sharded_down} sharded Redis Cluster channels are not subscribed (re-subscribing)"
            ),
        ));
    }
    if recent_errors > MAX_RECENT_ERRORS {
        findings.push((
            Status::Degraded,
            format!("{recent_errors} Redis connection errors in the last 5 minutes"),
        ));
    }
    if let (Some(slow_for), Some(probe)) = (redis_slow_for, &redis) {
        let reason = match probe.latency {
            Some(latency) => format!(
                "Redis PING took {} ms, over {} ms for {} s",
                latency.as_millis(),
                latency_watch.warn_above.as_millis(),
                slow_for.as_secs()
            ),
            None => format!("Redis has not answered PING for {} s", slow_for.as_secs()),
        };
        findings.push((Status::Warning, reason));
    }
    match heartbeat {
        ProducerHeartbeat::Age(age) if age <= HEARTBEAT_FRESH_SECS => {}
        ProducerHeartbeat::Age(age) => findings.push((
            Status::Warning,
            format!("producer heartbeat is {age:.0} s old"),
        )),
        ProducerHeartbeat::Missing => findings.push((
            Status::Warning,
            "no producer heartbeat (tickstock:producer:heartbeat)".into(),
        )),
        ProducerHeartbeat::Unreadable => findings.push((
            Status::Warning,
            "producer heartbeat key is unreadable".into(),
        )),
        ProducerHeartbeat::NotCheckedYet => {}
    }
    let quiet = last_event_age.unwrap_or(uptime);
    if quiet > QUIET_WARNING_SECS {
        findings.push((
            Status::Warning,
            format!("no events received in the last {quiet:.0} s"),
        ));
    }
    let status = findings
        .iter()
        .map(|(s, _)| *s)
        .max()
        .unwrap_or(Status::Healthy);
    Report {
        status,
        reasons: findings.into_iter().map(|(_, r)| r).collect(),
        redis_connected,
        recent_connection_errors: recent_errors,
        subscription_gaps: stats.get(Scalar::RedisSubscriptionGaps),
        sharded_channels_down: sharded_down,
        producer_heartbeat_age_seconds: match heartbeat {
            ProducerHeartbeat::Age(a) => Some(a),
            _ => None,
        },
        last_event_age_seconds: last_event_age,
        uptime_seconds: uptime,
        sessions: stats.get(Scalar::SessionsActive),
        redis: redis.map(|probe| RedisReport {
            latency_ms: probe.latency.map(|l| l.as_secs_f64() * 1000.0),
            figures: probe.figures,
        }),
    }
}

pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let (heartbeat, recent_errors) = state
        .health
        .read(state.stats.get(Scalar::RedisConnectionErrors));
    let (redis, redis_slow_for) = state.health.redis(Instant::now());
    let probed = Probed {
        heartbeat,
        recent_errors,
        redis,
        redis_slow_for,
        latency_watch: state.health.latency_watch(),
    };
    let report = assess(&state.stats, probed);
    if report.status == Status::Error {
        HttpResponse::ServiceUnavailable().json(report)
    } else {
        HttpResponse::Ok().json(report)
    }
}

/// `GET /live`: 200 whenever the process answers HTTP at all. The liveness probe: a Redis outage
/// makes `/health` an error and `/ready` false, and restarting the server would not fix Redis.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"live": true}))
}

/// `GET /ready`: 200 once the Redis subscription is up and every pipeline actor runs; 503 with
/// the reasons otherwise. Orchestrators route traffic on this (readiness), and never restart on
/// it or on `/health`: `/live` is the liveness probe.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let mut reasons = Vec::new();
    if !state.stats.redis_connected() {
        reasons.push("Redis subscription is not established".to_owned());
    }
    reasons.extend(
        state
            .actors
            .iter()
            .filter(|(_, alive)| !alive())
            .map(|(name, _)| format!("actor {name} has stopped")),
    );
    let body = serde_json::json!({"ready": reasons.is_empty(), "reasons": reasons});
    if reasons.is_empty() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::events::{RedisConnected, ShardedSubscriptionLost};

    const WATCH: LatencyWatch = LatencyWatch {
        warn_above: Duration::from_millis(50),
        for_at_least: Duration::from_secs(60),
    };

    fn probed(heartbeat: ProducerHeartbeat, recent_errors: u64) -> Probed {
        Probed {
            heartbeat,
            recent_errors,
            redis: None,
            redis_slow_for: None,
            latency_watch: WATCH,
        }
    }

    #[test]
    fn disconnected_redis_is_an_error_and_says_why() {
        let stats = Stats::new(vec![]);
        let r = assess(&stats, probed(ProducerHeartbeat::Age(1.0), 0));
        assert_eq!(r.status, Status::Error);
        assert!(r.reasons[0].contains("not connected"));
    }

    #[test]
    fn stale_heartbeat_warns_and_recent_errors_degrade() {
        let stats = Stats::new(vec![]);
        stats.emit(RedisConnected {
            subscriptions: 0,
            node: &redis::ConnectionAddr::Tcp("h".into(), 1),
        });
        assert_eq!(
            assess(&stats, probed(ProducerHeartbeat::Age(5.0), 0)).status,
            Status::Healthy
        );
        assert_eq!(
            assess(&stats, probed(ProducerHeartbeat::Age(61.0), 0)).status,
            Status::Warning
        );
        assert_eq!(
            assess(&stats, probed(ProducerHeartbeat::Missing, 0)).status,
            Status::Warning
        );
        let r = assess(&stats, probed(ProducerHeartbeat::Missing, 6));
        assert_eq!(r.status, Status::Degraded);
        assert_eq!(r.reasons.len(), 2);
    }

    #[test]
    fn redis_slow_for_the_window_warns_with_its_latency() {
        let stats = Stats::new(vec![]);
        stats.emit(RedisConnected {
            subscriptions: 0,
            node: &redis::ConnectionAddr::Tcp("h".into(), 1),
        });
        let probe = RedisProbe {
            latency: Some(Duration::from_millis(120)),
            figures: RedisFigures {
                connected_clients: Some(3),
                ..RedisFigures::default()
            },
            slow_since: None,
        };
        let r = assess(
            &stats,
            Probed {
                redis: Some(probe),
                redis_slow_for: Some(Duration::from_secs(61)),
                ..probed(ProducerHeartbeat::Age(1.0), 0)
            },
        );
        assert_eq!(r.status, Status::Warning);
        assert_eq!(r.reasons, ["Redis PING took 120 ms, over 50 ms for 61 s"]);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["redis"]["latency_ms"], 120.0);
        assert_eq!(json["redis"]["connected_clients"], 3);
        stats.emit(ShardedSubscriptionLost {
            channel: Some("s"),
            down: 1,
        });
        let r = assess(&stats, probed(ProducerHeartbeat::Age(1.0), 0));
        assert_eq!(r.status, Status::Degraded);
        assert_eq!(r.subscription_gaps, 1);
        assert!(r.reasons[0].contains("1 sharded"), "{:?}", r.reasons);
    }
}
