//! SystemEvents: producer health, streaming session and health events, critical alerts
//! (public topics), and errors, monitoring and the raw tick feed (admin topic), each through its
//! audience in `domain::audience`. (Named so it cannot be mistaken for `actix::System`.)
//!
//! It also probes for `/health`, on its own connection and schedule (`health.probe_interval_secs`),
//! so a health request never touches Redis and never publishes anything: the producer heartbeat
//! key, a timed PING and `INFO`. And it logs a heartbeat line a minute.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::redis_client::Commands;
use actix::prelude::*;
use log::{info, warn};
use redis::AsyncCommands;

use super::{Flush, Input, Outlet, HANDLER_QUEUE};
use crate::domain::audience;
use crate::domain::drop::Family;
use crate::domain::event::{
    CriticalAlert, EpochMillis, ErrorReport, MonitoringEvent, StreamingHealth, StreamingSession,
    SystemHealth, Tick,
};
use crate::domain::operations_log::{self, LogEntry};
use crate::domain::publication::Publication;
use crate::domain::redis_names::{key, PRODUCER_HEARTBEAT_KEY};
use crate::telemetry::events::{MonitoringReported, ProducerErrorReported};
use crate::telemetry::health::{HealthState, ProducerHeartbeat, RedisFigures};
use crate::telemetry::Scalar;

const HEARTBEAT_LOG_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, PartialEq)]
pub enum SystemInput {
    Health(SystemHealth),
    StreamingSession(StreamingSession),
    StreamingHealth(StreamingHealth),
    Critical(CriticalAlert),
    Error(ErrorReport),
    Monitoring(MonitoringEvent),
    AdminTick(Tick),
}

/// The logic: each event's one publication.
pub fn publication(item: &SystemInput) -> Publication {
    match item {
        SystemInput::Health(e) => audience::system_health(e),
        SystemInput::StreamingSession(e) => audience::streaming_session(e),
        SystemInput::StreamingHealth(e) => audience::streaming_health(e),
        SystemInput::Critical(e) => audience::critical_alert(e),
        SystemInput::Error(e) => audience::error_report(e),
        SystemInput::Monitoring(e) => audience::monitoring(e),
        SystemInput::AdminTick(e) => audience::admin_tick(e),
    }
}

/// What the heartbeat key held, `now` in epoch seconds.
pub fn producer_heartbeat(read: Result<Option<String>, ()>, now: f64) -> ProducerHeartbeat {
    match read {
        Ok(None) => ProducerHeartbeat::Missing,
        Ok(Some(text)) => match text.trim().parse::<f64>() {
            Ok(at) => ProducerHeartbeat::Age((now - at).max(0.0)),
            Err(_) => ProducerHeartbeat::Unreadable,
        },
        Err(()) => ProducerHeartbeat::Unreadable,
    }
}

pub struct SystemEvents {
    outlet: Outlet,
    redis: Commands,
    health: Arc<HealthState>,
    probe_every: Duration,
}

impl SystemEvents {
    pub fn new(
        redis: Commands,
        health: Arc<HealthState>,
        probe_every: Duration,
        outlet: Outlet,
    ) -> Self {
        SystemEvents {
            outlet,
            redis,
            health,
            probe_every,
        }
    }

    /// One line a minute with the main counts, so a log alone shows whether events flow.
    fn log_heartbeat(&self) {
        let s = self.outlet.stats();
        let redis = if s.redis_connected() {
            "connected"
        } else {
            "DISCONNECTED"
        };
        info!(
            "Heartbeat: {} received, {} delivered, {} filtered, {} dropped, {} sessions, {} slow-consumer closes, Redis {redis}.",
            s.get(Scalar::MessagesReceived),
            s.get(Scalar::FramesDelivered),
            s.total(Family::Filtered),
            s.total(Family::Dropped),
            s.get(Scalar::SessionsActive),
            s.get(Scalar::SlowConsumerCloses),
        );
    }

    /// Adds a producer report to the operations log, trimmed to its size and age.
    fn keep(&self, entry: LogEntry, ctx: &mut Context<Self>) {
        let mut redis = self.redis.clone();
        let oldest = EpochMillis::now().0 - operations_log::MAX_AGE_MS;
        let write = async move {
            let mut add = redis::cmd("XADD");
            add.arg(key::OPERATIONS_LOG)
                .arg("MAXLEN")
                .arg("~")
                .arg(operations_log::MAX_ENTRIES)
                .arg("*");
            for (field, value) in entry.fields() {
                add.arg(field).arg(value);
            }
            let trim = redis::cmd("XTRIM")
                .arg(key::OPERATIONS_LOG)
                .arg("MINID")
                .arg("~")
                .arg(oldest)
                .to_owned();
            let mut pipe = redis::pipe();
            pipe.add_command(add).ignore().add_command(trim).ignore();
            if let Err(e) = pipe.query_async::<()>(&mut redis).await {
                warn!("Cannot keep a producer report in the operations log: {e}.");
            }
        };
        ctx.spawn(write.into_actor(self));
    }

    fn probe(&mut self, ctx: &mut Context<Self>) {
        let mut redis = self.redis.clone();
        let read = async move {
            let heartbeat = redis.get::<_, Option<String>>(PRODUCER_HEARTBEAT_KEY).await;
            let sent = Instant::now();
            let pong = redis::cmd("PING").query_async::<String>(&mut redis).await;
            let latency = pong.ok().map(|_| sent.elapsed());
            let info = redis::cmd("INFO").query_async(&mut redis).await;
            (
                heartbeat,
                latency,
                info.ok().and_then(|i| RedisFigures::from_reply(&i)),
            )
        };
        ctx.spawn(
            read.into_actor(self)
                .map(|(heartbeat, latency, figures), act, _| {
                    let now = EpochMillis::now().0 as f64 / 1000.0;
                    let heartbeat = producer_heartbeat(heartbeat.map_err(|_| ()), now);
                    let errors = act.outlet.stats().get(Scalar::RedisConnectionErrors);
                    act.health.record(heartbeat, errors);
                    act.health.record_redis(latency, figures, Instant::now());
                }),
        );
    }
}

impl Actor for SystemEvents {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(HANDLER_QUEUE);
        self.probe(ctx);
        ctx.run_interval(self.probe_every, |act, ctx| act.probe(ctx));
        ctx.run_interval(HEARTBEAT_LOG_INTERVAL, |act, _| act.log_heartbeat());
    }
}

impl Handler<Input<SystemInput>> for SystemEvents {
    type Result = ();

    fn handle(&mut self, msg: Input<SystemInput>, ctx: &mut Self::Context) {
        let stats = self.outlet.stats();
        let kept = match &msg.item {
            SystemInput::Error(report) => {
                stats.emit(ProducerErrorReported(report));
                Some(LogEntry::of_error(report))
            }
            SystemInput::Monitoring(event) => {
                stats.emit(MonitoringReported(event));
                Some(LogEntry::of_monitoring(event))
            }
            _ => None,
        };
        if let Some(entry) = kept {
            self.keep(entry, ctx);
        }
        self.outlet.send(publication(&msg.item), msg.origin());
    }
}

/// Nothing is held back here; handled so every handler answers the same shutdown message.
impl Handler<Flush> for SystemEvents {
    type Result = ();

    fn handle(&mut self, _: Flush, _: &mut Self::Context) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{CriticalAlertBody, SystemHealth};
    use crate::domain::stream::{Stream, Topic};

    #[test]
    fn health_and_alerts_are_public_and_the_admin_feed_is_for_admins() {
        let health = SystemInput::Health(SystemHealth {
            overall_status: "healthy".into(),
            timestamp: EpochMillis(0),
            source: None,
            message: None,
            metrics: None,
            components: None,
        });
        assert_eq!(publication(&health).stream, Stream::Topic(Topic::System));
        assert!(!publication(&health).targeted);
        let critical = SystemInput::Critical(CriticalAlert {
            alert: CriticalAlertBody {
                alert_type: "HIGH_LAG".into(),
                message: "lag".into(),
                severity: "critical".into(),
                is_recovery: false,
                timestamp: EpochMillis(0),
                component: None,
                action_required: None,
                recovery: None,
                data: Default::default(),
            },
        });
        assert_eq!(publication(&critical).stream, Stream::Topic(Topic::Alerts));
        let tick = SystemInput::AdminTick(Tick::sample());
        assert_eq!(publication(&tick).stream, Stream::Topic(Topic::Admin));
        assert!(publication(&tick)
            .frame
            .0
            .starts_with(r#"{"event":"tick_update""#));
    }

    #[test]
    fn the_heartbeat_key_gives_the_producers_age_or_says_why_not() {
        let at = |text: &str| producer_heartbeat(Ok(Some(text.into())), 100.0);
        assert!(matches!(at("90.5"), ProducerHeartbeat::Age(a) if a == 9.5));
        assert!(matches!(at("200"), ProducerHeartbeat::Age(a) if a == 0.0));
        assert!(matches!(at("soon"), ProducerHeartbeat::Unreadable));
        assert!(matches!(
            producer_heartbeat(Ok(None), 1.0),
            ProducerHeartbeat::Missing
        ));
        assert!(matches!(
            producer_heartbeat(Err(()), 1.0),
            ProducerHeartbeat::Unreadable
        ));
    }
}
