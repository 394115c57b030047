//! RedisReader: owns the pub/sub connection. Subscribes every configured channel and pattern,
//! normalises each message at the edge and hands the events to the router, a burst at a time.
//! In a Redis Cluster it sits on one node (any node receives every classic PUBLISH) and moves
//! to the next seed node when that one goes away; sharded channels have their own reader
//! (`sharded`).
//!
//! It never waits on downstream (`try_send`; a full router queue is a counted `overloaded`
//! drop), and what Redis delivers faster than it can parse waits in a bounded queue
//! (`redis.inbound_queue_messages`; beyond it, `overloaded` again), so neither Redis nor this
//! process buffers without limit. On connection loss it reconnects with backoff and re-subscribes
//! everything; a keep-alive PING detects connections that died silently.

mod backoff;
mod ingest;
mod pushes;
mod sharded;
mod streams;
mod subscriber;
mod subscriptions;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use redis::aio::MultiplexedConnection;
use redis::PushInfo;

pub use backoff::Backoff;
pub use ingest::{Message, Normaliser};
pub use pushes::Pushes;
pub use sharded::ShardedReader;
pub use streams::{StreamReader, StreamReaderActor, StreamSource};
pub use subscriber::open as open_subscriber;
pub use subscriptions::{Mode, Push, Source, Subscriptions};

use crate::telemetry::events::{RedisConnected, RedisConnectionFailed, RedisConnectionLost};
use crate::telemetry::Stats;

/// Most pushes handled (and events handed to the router) in one go: large enough that a burst
/// costs the router one mailbox message per batch, small enough to keep latency flat.
const BATCH: usize = 256;

/// Stops a reader: no more events from it (the first step of shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopReading;

macro_rules! stop_reading {
    ($($reader:ty),*) => {$(
        impl Handler<StopReading> for $reader {
            type Result = ();
            fn handle(&mut self, _: StopReading, ctx: &mut Context<Self>) {
                ctx.stop();
            }
        }
    )*};
}
stop_reading!(RedisReader, ShardedReader, StreamReaderActor);

pub struct ReaderConfig {
    pub max_message_bytes: usize,
    pub inbound_queue_messages: usize,
    pub keepalive: Duration,
    pub backoff: Backoff,
}

pub struct RedisReader {
    /// Where the subscription can sit, tried in turn: one server, or a cluster's seed nodes.
    nodes: Vec<redis::Client>,
    /// The node to try next.
    node: usize,
    pushes: Pushes,
    stats: Arc<Stats>,
    config: ReaderConfig,
    connection: Option<MultiplexedConnection>,
    stream: Option<SpawnHandle>,
    connected_at: Option<Instant>,
    /// When the current connection last delivered anything.
    last_push: Instant,
}

impl RedisReader {
    pub fn new(
        nodes: Vec<redis::Client>,
        pushes: Pushes,
        stats: Arc<Stats>,
        config: ReaderConfig,
    ) -> Self {
        RedisReader {
            nodes,
            node: 0,
            pushes,
            stats,
            config,
            connection: None,
            stream: None,
            connected_at: None,
            last_push: Instant::now(),
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        let (sender, pushes) = self.pushes.queue(self.config.inbound_queue_messages, BATCH);
        let client = self.nodes[self.node % self.nodes.len()].clone();
        let timeout = self.config.keepalive;
        let subscriptions = self.pushes.subscriptions.clone();
        let open = async move {
            let mut connection = subscriber::open(&client, sender, timeout).await?;
            let channels = subscriptions.names(Mode::Channel);
            if !channels.is_empty() {
                connection.subscribe(&channels).await?;
            }
            let patterns = subscriptions.names(Mode::Pattern);
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
        let subscriptions = &self.pushes.subscriptions;
        self.stats.emit(RedisConnected {
            subscriptions: subscriptions.count() - subscriptions.names(Mode::Sharded).len(),
            node: self.nodes[self.node % self.nodes.len()]
                .get_connection_info()
                .addr(),
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

    /// The next attempt goes to the next node (a single server: the same one again).
    fn schedule_reconnect(&mut self, ctx: &mut Context<Self>) {
        self.node = (self.node + 1) % self.nodes.len();
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
        self.pushes.route(&pushes);
    }

    /// The default would stop the actor; a lost connection must be retried instead.
    fn finished(&mut self, ctx: &mut Self::Context) {
        if self.stream.is_some() {
            self.stream = None;
            self.on_lost("connection closed", ctx);
        }
    }
}
