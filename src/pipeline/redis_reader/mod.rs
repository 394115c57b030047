//! RedisReader: owns the pub/sub connection. Subscribes every configured channel and pattern,
//! normalises each message at the edge and hands the events to the router, a burst at a time.
//!
//! It never waits on downstream (`try_send`; a full router queue is a counted `overloaded`
//! drop), and what Redis delivers faster than it can parse waits in a bounded queue
//! (`redis.inbound_queue_messages`; beyond it, `overloaded` again), so neither Redis nor this
//! process buffers without limit. On connection loss it reconnects with backoff and re-subscribes
//! everything; a keep-alive PING detects connections that died silently.

mod backoff;
mod ingest;
mod streams;
mod subscriber;
mod subscriptions;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use log::warn;
use redis::aio::MultiplexedConnection;
use redis::PushInfo;

pub use backoff::Backoff;
pub use ingest::{Message, Normaliser};
pub use streams::{StreamReader, StreamReaderActor, StreamSource};
pub use subscriber::open as open_subscriber;
pub use subscriptions::{Push, Source, Subscriptions};

use crate::domain::drop::DropReason;
use crate::domain::monitor::Monitor;
use crate::pipeline::router::RouterInbox;
use crate::telemetry::events::{
    EventDropped, InboundQueueFull, RedisConnected, RedisConnectionFailed, RedisConnectionLost,
};
use crate::telemetry::Stats;

/// Most pushes handled (and events handed to the router) in one go: large enough that a burst
/// costs one wake-up of the router's thread per batch, small enough to keep latency flat.
const BATCH: usize = 256;

pub struct ReaderConfig {
    pub max_message_bytes: usize,
    pub inbound_queue_messages: usize,
    pub keepalive: Duration,
    pub backoff: Backoff,
}

pub struct RedisReader {
    client: redis::Client,
    subscriptions: Arc<Subscriptions>,
    router: RouterInbox,
    stats: Arc<Stats>,
    config: ReaderConfig,
    normaliser: Normaliser,
    connection: Option<MultiplexedConnection>,
    stream: Option<SpawnHandle>,
    connected_at: Option<Instant>,
    /// When the current connection last delivered anything.
    last_push: Instant,
}

impl RedisReader {
    pub fn new(
        client: redis::Client,
        sources: Vec<Source>,
        router: RouterInbox,
        stats: Arc<Stats>,
        config: ReaderConfig,
        monitor: Arc<Mutex<Monitor>>,
    ) -> Self {
        RedisReader {
            client,
            subscriptions: Arc::new(Subscriptions::new(sources)),
            router,
            normaliser: Normaliser {
                stats: stats.clone(),
                monitor,
                max_message_bytes: config.max_message_bytes,
            },
            stats,
            config,
            connection: None,
            stream: None,
            connected_at: None,
            last_push: Instant::now(),
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        let (subscriptions, stats) = (self.subscriptions.clone(), self.stats.clone());
        let (sender, pushes) = subscriber::bounded(
            self.config.inbound_queue_messages,
            BATCH,
            move |push: PushInfo| {
                if let Push::Message { channel, .. } = subscriptions.classify(&push) {
                    stats.emit(InboundQueueFull { channel });
                }
            },
        );
        let (client, timeout) = (self.client.clone(), self.config.keepalive);
        let subscriptions = self.subscriptions.clone();
        let open = async move {
            let mut connection = subscriber::open(&client, sender, timeout).await?;
            let channels = subscriptions.names(false);
            if !channels.is_empty() {
                connection.subscribe(&channels).await?;
            }
            let patterns = subscriptions.names(true);
            if !patterns.is_empty() {
                connection.psubscribe(&patterns).await?;
            }
            Ok::<_, redis::RedisError>(connection)
        };
        ctx.spawn(open.into_actor(self).map(|res, act, ctx| match res {
            Ok(connection) => act.on_connected(connection, pushes, ctx),
            Err(error) => {
                act.stats.emit(RedisConnectionFailed { error: &error });
                act.schedule_reconnect(ctx);
            }
        }));
    }

    fn on_connected(
        &mut self,
        connection: MultiplexedConnection,
        pushes: impl Stream<Item = Vec<PushInfo>> + 'static,
        ctx: &mut Context<Self>,
    ) {
        self.stats.emit(RedisConnected {
            subscriptions: self.subscriptions.count(),
        });
        self.connection = Some(connection);
        self.stream = Some(ctx.add_stream(pushes));
        self.connected_at = Some(Instant::now());
        self.last_push = Instant::now();
    }

    fn on_lost(&mut self, why: &str, ctx: &mut Context<Self>) {
        if let Some(handle) = self.stream.take() {
            ctx.cancel_future(handle);
        }
        self.connection = None;
        if let Some(at) = self.connected_at.take() {
            self.config.backoff.connection_lasted(at.elapsed());
        }
        self.stats.emit(RedisConnectionLost { why });
        self.schedule_reconnect(ctx);
    }

    fn schedule_reconnect(&mut self, ctx: &mut Context<Self>) {
        let delay = self.config.backoff.next_delay();
        ctx.run_later(delay, |act, ctx| act.connect(ctx));
    }

    /// PINGs a connection that has been silent for an interval. A connection that delivers
    /// needs no proof of life, and a PING would be answered only after every message Redis has
    /// queued for us: during a backlog longer than the interval that reply comes late although
    /// the link is fine, so a late reply counts as a failure only if nothing arrived meanwhile.
    fn keepalive(&mut self, ctx: &mut Context<Self>) {
        let interval = self.config.keepalive;
        let Some(mut connection) = self.connection.clone() else {
            return;
        };
        if self.last_push.elapsed() < interval {
            return;
        }
        let sent = Instant::now();
        // The connection's response timeout (the keep-alive interval) bounds the wait.
        let ping = async move {
            redis::cmd("PING")
                .query_async::<redis::Value>(&mut connection)
                .await
        };
        ctx.spawn(ping.into_actor(self).map(move |res, act, ctx| {
            let silent = act.connection.is_some() && act.last_push < sent;
            if let (Err(e), true) = (res, silent) {
                act.on_lost(&format!("keep-alive PING failed: {e}"), ctx);
            }
        }));
    }
}

impl Actor for RedisReader {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.connect(ctx);
        ctx.run_interval(self.config.keepalive, |act, ctx| act.keepalive(ctx));
    }
}

impl StreamHandler<Vec<PushInfo>> for RedisReader {
    fn handle(&mut self, pushes: Vec<PushInfo>, _: &mut Self::Context) {
        self.last_push = Instant::now();
        let mut routed = Vec::with_capacity(pushes.len());
        for push in &pushes {
            match self.subscriptions.classify(push) {
                Push::Message { channel, payload } => {
                    let source = self.subscriptions.source(channel);
                    let message = Message {
                        channel,
                        source: &source.name,
                        kind: source.kind,
                        payload,
                        identity: payload,
                        receipt: None,
                    };
                    self.normaliser.ingest(message, &mut routed);
                }
                Push::Unexpected { channel } => warn!(
                    "Message on unexpected channel {:?} ignored.",
                    String::from_utf8_lossy(channel)
                ),
                Push::Control => {}
            }
        }
        if routed.is_empty() {
            return;
        }
        if let Err(routed) = self.router.try_send(routed) {
            for r in &routed {
                self.stats.emit(EventDropped {
                    channel: Some(r.channel),
                    reason: DropReason::Overloaded,
                });
            }
        }
    }

    /// The default would stop the actor; a lost connection must be retried instead.
    fn finished(&mut self, ctx: &mut Self::Context) {
        if self.stream.is_some() {
            self.stream = None;
            self.on_lost("connection closed", ctx);
        }
    }
}
