//! System: producer health, streaming session and health events, critical alerts (public), and
//! errors, monitoring and the raw tick feed (admin room only). The tick feed is high-rate and
//! informational, so an empty admin room is not counted as a drop for it.
//!
//! It also probes the producer heartbeat key for `/health`, on its own connection and schedule,
//! so a health request never touches Redis and never publishes anything.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use log::info;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;

use super::{Audience, Input, Publisher, HANDLER_QUEUE};
use crate::domain::event::EpochMillis;
use crate::domain::outbound::EventName;
use crate::domain::redis_names::PRODUCER_HEARTBEAT_KEY;
use crate::domain::rooms::{Room, Topic};
use crate::pipeline::router::SystemInput;
use crate::telemetry::health::{HealthState, ProducerHeartbeat};

const PROBE_INTERVAL: Duration = Duration::from_secs(10);
const HEARTBEAT_LOG_INTERVAL: Duration = Duration::from_secs(60);

pub struct System {
    publisher: Publisher,
    redis: ConnectionManager,
    health: Arc<HealthState>,
}

impl System {
    pub fn new(publisher: Publisher, redis: ConnectionManager, health: Arc<HealthState>) -> Self {
        System {
            publisher,
            redis,
            health,
        }
    }

    /// One line a minute with the main counts, so a log alone shows whether events flow.
    fn log_heartbeat(&self) {
        let s = self.publisher.stats();
        let redis = if s.redis_connected.load(Relaxed) {
            "connected"
        } else {
            "DISCONNECTED"
        };
        info!(
            "Heartbeat: {} received, {} delivered, {} dropped, {} sessions, {} slow-consumer closes, Redis {redis}.",
            s.received.load(Relaxed),
            s.delivered.load(Relaxed),
            s.drops_total(),
            s.sessions_active.load(Relaxed),
            s.slow_consumer_closes.load(Relaxed),
        );
    }

    fn probe(&mut self, ctx: &mut Context<Self>) {
        let mut redis = self.redis.clone();
        let read = async move { redis.get::<_, Option<String>>(PRODUCER_HEARTBEAT_KEY).await };
        ctx.spawn(read.into_actor(self).map(|res, act, _| {
            let now = EpochMillis::now().0 as f64 / 1000.0;
            let heartbeat = match res {
                Ok(None) => ProducerHeartbeat::Missing,
                Ok(Some(text)) => match text.trim().parse::<f64>() {
                    Ok(at) => ProducerHeartbeat::Age((now - at).max(0.0)),
                    Err(_) => ProducerHeartbeat::Unreadable,
                },
                Err(_) => ProducerHeartbeat::Unreadable,
            };
            let errors = act.publisher.stats().redis_connection_errors.load(Relaxed);
            act.health.record(heartbeat, errors);
        }));
    }
}

impl Actor for System {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(HANDLER_QUEUE);
        self.probe(ctx);
        ctx.run_interval(PROBE_INTERVAL, |act, ctx| act.probe(ctx));
        ctx.run_interval(HEARTBEAT_LOG_INTERVAL, |act, _| act.log_heartbeat());
    }
}

impl Handler<Input<SystemInput>> for System {
    type Result = ();

    fn handle(&mut self, msg: Input<SystemInput>, _: &mut Self::Context) {
        let public = |topic| Audience::public(Room::Topic(topic)).since(msg.received_at);
        let admin =
            Audience::targeted(Room::Topic(Topic::Admin), msg.channel).since(msg.received_at);
        let p = &self.publisher;
        match msg.item {
            SystemInput::Health(e) => p.publish(public(Topic::System), EventName::SystemHealth, &e),
            SystemInput::StreamingSession(e) => {
                p.publish(public(Topic::Streaming), EventName::StreamingSession, &e)
            }
            SystemInput::StreamingHealth(e) => {
                p.publish(public(Topic::Streaming), EventName::StreamingHealth, &e)
            }
            SystemInput::Critical(e) => {
                p.publish(public(Topic::Alerts), EventName::CriticalAlert, &e)
            }
            SystemInput::Error(e) => p.publish(admin, EventName::SystemError, &e),
            SystemInput::Monitoring(e) => p.publish(admin, EventName::MonitoringEvent, &e),
            SystemInput::AdminTick(e) => p.publish(public(Topic::Admin), EventName::TickUpdate, &e),
        }
    }
}
