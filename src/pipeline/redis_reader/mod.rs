//! RedisReader: owns the pub/sub connection. Subscribes every configured channel and pattern,
//! normalises each message at the edge and hands the events to the router.
//!
//! It never waits on downstream (`try_send`; a full router queue is a counted `overloaded`
//! drop), so Redis never has to buffer for it. On connection loss it reconnects with backoff and
//! re-subscribes everything; a keep-alive PING detects connections that died silently.

mod backoff;

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

use actix::prelude::*;
use log::{info, warn};
use redis::aio::{PubSubSink, PubSubStream};
use redis::Msg;

pub use backoff::Backoff;

use crate::domain::drop::DropReason;
use crate::domain::event::EpochMillis;
use crate::domain::kind::EventKind;
use crate::domain::monitor::{Monitor, Outcome};
use crate::domain::normalise::normalise;
use crate::pipeline::router::{Routed, Router};
use crate::telemetry::{ChannelId, Stats};

/// One subscription, in `ChannelId` order.
#[derive(Debug, Clone)]
pub struct Source {
    /// A channel name, or a glob when `pattern` is true.
    pub name: String,
    pub pattern: bool,
    pub kind: EventKind,
}

pub struct ReaderConfig {
    pub max_message_bytes: usize,
    pub keepalive: Duration,
    pub backoff: Backoff,
}

pub struct RedisReader {
    client: redis::Client,
    sources: Vec<Source>,
    lookup: HashMap<(bool, String), ChannelId>,
    router: Addr<Router>,
    stats: Arc<Stats>,
    config: ReaderConfig,
    monitor: Arc<Mutex<Monitor>>,
    sink: Option<PubSubSink>,
    stream: Option<SpawnHandle>,
    connected_at: Option<Instant>,
}

impl RedisReader {
    pub fn new(
        client: redis::Client,
        sources: Vec<Source>,
        router: Addr<Router>,
        stats: Arc<Stats>,
        config: ReaderConfig,
        monitor: Arc<Mutex<Monitor>>,
    ) -> Self {
        let lookup = sources
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.pattern, s.name.clone()), ChannelId(i)))
            .collect();
        RedisReader {
            client,
            sources,
            lookup,
            router,
            stats,
            config,
            monitor,
            sink: None,
            stream: None,
            connected_at: None,
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        let client = self.client.clone();
        let channels: Vec<String> = self
            .sources
            .iter()
            .filter(|s| !s.pattern)
            .map(|s| s.name.clone())
            .collect();
        let patterns: Vec<String> = self
            .sources
            .iter()
            .filter(|s| s.pattern)
            .map(|s| s.name.clone())
            .collect();
        let open = async move {
            let mut pubsub = client.get_async_pubsub().await?;
            if !channels.is_empty() {
                pubsub.subscribe(&channels).await?;
            }
            if !patterns.is_empty() {
                pubsub.psubscribe(&patterns).await?;
            }
            Ok::<_, redis::RedisError>(pubsub.split())
        };
        ctx.spawn(open.into_actor(self).map(|res, act, ctx| match res {
            Ok((sink, stream)) => act.on_connected(sink, stream, ctx),
            Err(e) => {
                act.stats.redis_connection_errors.fetch_add(1, Relaxed);
                warn!("Redis subscribe failed: {e}.");
                act.schedule_reconnect(ctx);
            }
        }));
    }

    fn on_connected(&mut self, sink: PubSubSink, stream: PubSubStream, ctx: &mut Context<Self>) {
        info!(
            "Subscribed to {} Redis channels and patterns.",
            self.sources.len()
        );
        self.stats.redis_connected.store(true, Relaxed);
        self.stats.redis_connects.fetch_add(1, Relaxed);
        self.sink = Some(sink);
        self.stream = Some(ctx.add_stream(stream));
        self.connected_at = Some(Instant::now());
    }

    fn on_lost(&mut self, why: &str, ctx: &mut Context<Self>) {
        if let Some(handle) = self.stream.take() {
            ctx.cancel_future(handle);
        }
        self.sink = None;
        self.stats.redis_connected.store(false, Relaxed);
        self.stats.redis_connection_errors.fetch_add(1, Relaxed);
        if let Some(at) = self.connected_at.take() {
            self.config.backoff.connection_lasted(at.elapsed());
        }
        warn!("Redis subscriber connection lost ({why}); reconnecting.");
        self.schedule_reconnect(ctx);
    }

    fn schedule_reconnect(&mut self, ctx: &mut Context<Self>) {
        let delay = self.config.backoff.next_delay();
        ctx.run_later(delay, |act, ctx| act.connect(ctx));
    }

    fn keepalive(&mut self, ctx: &mut Context<Self>) {
        let Some(mut sink) = self.sink.clone() else {
            return;
        };
        let timeout = self.config.keepalive;
        let ping =
            async move { actix_web::rt::time::timeout(timeout, sink.ping::<redis::Value>()).await };
        ctx.spawn(ping.into_actor(self).map(|res, act, ctx| {
            let failed = match res {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some("keep-alive PING timed out".to_owned()),
            };
            if let (Some(why), true) = (failed, act.sink.is_some()) {
                act.on_lost(&why, ctx);
            }
        }));
    }

    /// Records the message for `/debug/messages` unless an operator is reading the monitor at
    /// this very moment: then it is skipped (and counted) rather than waited for.
    fn monitor(
        &self,
        channel: ChannelId,
        kind: EventKind,
        payload: &[u8],
        outcome: Outcome,
        at: EpochMillis,
    ) {
        let name = &self.sources[channel.0].name;
        match self.monitor.try_lock() {
            Ok(mut monitor) => monitor.record(name, kind, payload, outcome, at),
            Err(TryLockError::Poisoned(poisoned)) => poisoned
                .into_inner()
                .record(name, kind, payload, outcome, at),
            Err(TryLockError::WouldBlock) => {
                self.stats.monitor_skipped.fetch_add(1, Relaxed);
            }
        }
    }

    fn source_of(&self, msg: &Msg) -> Option<ChannelId> {
        let key = match msg.get_pattern::<Option<String>>() {
            Ok(Some(pattern)) => (true, pattern),
            _ => (false, msg.get_channel_name().to_owned()),
        };
        self.lookup.get(&key).copied()
    }
}

impl Actor for RedisReader {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.connect(ctx);
        ctx.run_interval(self.config.keepalive, |act, ctx| act.keepalive(ctx));
    }
}

impl StreamHandler<Msg> for RedisReader {
    fn handle(&mut self, msg: Msg, _: &mut Self::Context) {
        let Some(channel) = self.source_of(&msg) else {
            warn!(
                "Message on unexpected channel {:?} ignored.",
                msg.get_channel_name()
            );
            return;
        };
        let received_at = Instant::now();
        let now = EpochMillis::now();
        self.stats.record_received(channel);
        let payload = msg.get_payload_bytes();
        let kind = self.sources[channel.0].kind;
        let mut outcome = Outcome {
            events: 0,
            drops: Vec::new(),
        };
        if payload.len() > self.config.max_message_bytes {
            outcome.drops.push(DropReason::TooLarge);
        } else {
            for result in normalise(kind, payload, now) {
                match result {
                    Ok(event) => {
                        outcome.events += 1;
                        let routed = Routed {
                            channel,
                            event,
                            received_at,
                        };
                        if self.router.try_send(routed).is_err() {
                            self.stats
                                .record_drop(Some(channel), DropReason::Overloaded);
                        }
                    }
                    Err(reason) => outcome.drops.push(reason),
                }
            }
        }
        self.stats.parsed.fetch_add(outcome.events as u64, Relaxed);
        for reason in &outcome.drops {
            self.stats.record_drop(Some(channel), *reason);
        }
        self.monitor(channel, kind, payload, outcome, now);
    }

    /// The default would stop the actor; a lost connection must be retried instead.
    fn finished(&mut self, ctx: &mut Self::Context) {
        if self.stream.is_some() {
            self.stream = None;
            self.on_lost("stream ended", ctx);
        }
    }
}
