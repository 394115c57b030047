//! RedisReader: owns the pub/sub connection (our own, `redis_client::subscriber`). Subscribes
//! every configured channel and pattern, normalises each message at the edge and hands the
//! events to the router, a burst at a time.
//! In a Redis Cluster it sits on one node (any node receives every classic PUBLISH) and moves
//! to the next seed node when that one goes away; sharded channels have their own reader
//! (`sharded`).
//!
//! It never waits on downstream (`try_send`; a full router queue is a counted `overloaded`
//! drop), and what Redis delivers faster than the pipeline takes it waits in a bounded queue
//! (`inbound`, `redis.inbound_queue_messages`; beyond it, `overloaded` again), so neither Redis
//! nor this process buffers without limit. On connection loss it reconnects with backoff and
//! re-subscribes everything; a keep-alive PING detects connections that died silently.

mod backoff;
mod inbound;
mod ingest;
mod pushes;
mod sharded;
mod streams;
mod subscriptions;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

pub use backoff::Backoff;
pub use ingest::{Message, Normaliser};
pub use pushes::Pushes;
pub use sharded::ShardedReader;
pub use streams::{StreamReader, StreamReaderActor, StreamSource};
pub use subscriptions::{Mode, Push, Source, Subscriptions};

use crate::redis_client::subscriber::{self, Chunk, Endpoint, Reader, Writer};
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
    nodes: Vec<Endpoint>,
    /// The node to try next.
    node: usize,
    pushes: Pushes,
    stats: Arc<Stats>,
    config: ReaderConfig,
    /// The current connection: what reads it, what drains its queue, what PINGs it.
    read: Option<SpawnHandle>,
    stream: Option<SpawnHandle>,
    writer: Option<Writer>,
    /// Why the read loop ended; reported once its queue is drained.
    lost: Option<String>,
    connected_at: Option<Instant>,
    /// When the current connection last delivered anything.
    last_push: Instant,
    /// When the keep-alive PING still unanswered went out.
    ping_sent: Option<Instant>,
}

impl RedisReader {
    pub fn new(
        nodes: Vec<Endpoint>,
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
            read: None,
            stream: None,
            writer: None,
            lost: None,
            connected_at: None,
            last_push: Instant::now(),
            ping_sent: None,
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        let endpoint = self.nodes[self.node % self.nodes.len()].clone();
        let timeout = self.config.keepalive;
        let subscriptions = self.pushes.subscriptions.clone();
        let open = async move {
            let channels = subscriptions.names(Mode::Channel);
            let patterns = subscriptions.names(Mode::Pattern);
            subscriber::connect(&endpoint, &channels, &patterns, timeout).await
        };
        ctx.spawn(open.into_actor(self).map(|res, act, ctx| match res {
            Ok((reader, writer)) => act.on_connected(reader, writer, ctx),
            Err(error) => {
                act.stats.emit(RedisConnectionFailed { error: &error });
                act.schedule_reconnect(ctx);
            }
        }));
    }

    /// Reads the connection into the bounded queue (a burst waits for room, an overload is
    /// counted as `overloaded`: `inbound`) and drains the queue into the pipeline.
    fn on_connected(&mut self, mut reader: Reader, writer: Writer, ctx: &mut Context<Self>) {
        let subscriptions = &self.pushes.subscriptions;
        self.stats.emit(RedisConnected {
            subscriptions: subscriptions.count() - subscriptions.names(Mode::Sharded).len(),
            node: &self.nodes[self.node % self.nodes.len()],
        });
        let (queue, chunks) = inbound::bounded(self.config.inbound_queue_messages, 1);
        let overflow = self.pushes.overflow();
        let read = async move {
            loop {
                match reader.next_chunk(BATCH).await {
                    Ok(chunk) => {
                        if let Err(chunk) = queue.send_or_wait(chunk).await {
                            overflow.count(chunk.replies());
                        }
                    }
                    Err(error) => return error,
                }
            }
        };
        self.read = Some(ctx.spawn(read.into_actor(self).map(|error, act, _| {
            act.read = None;
            act.lost = Some(error.to_string());
        })));
        self.stream = Some(ctx.add_stream(chunks));
        self.writer = Some(writer);
        self.connected_at = Some(Instant::now());
        self.last_push = Instant::now();
        self.ping_sent = None;
    }

    fn on_lost(&mut self, why: &str, ctx: &mut Context<Self>) {
        for handle in [self.read.take(), self.stream.take()].into_iter().flatten() {
            ctx.cancel_future(handle);
        }
        self.writer = None;
        self.lost = None;
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

    /// PINGs a connection that has been silent for an interval, and gives it up when nothing
    /// at all has arrived an interval after the PING went out. A connection that delivers needs
    /// no proof of life, and during a backlog the answer comes only after every message Redis
    /// queued before it: any arrival counts, not the answer itself.
    fn keepalive(&mut self, ctx: &mut Context<Self>) {
        if self.stream.is_none() || self.last_push.elapsed() < self.config.keepalive {
            return;
        }
        if self.ping_sent.is_some_and(|sent| self.last_push < sent) {
            let why = format!(
                "nothing arrived within {:?} of a keep-alive PING",
                self.config.keepalive
            );
            return self.on_lost(&why, ctx);
        }
        // None while the last PING is still being written.
        let Some(mut writer) = self.writer.take() else {
            return;
        };
        self.ping_sent = Some(Instant::now());
        let connected_at = self.connected_at;
        let ping = async move { (writer.ping().await, writer) };
        ctx.spawn(ping.into_actor(self).map(move |(res, writer), act, ctx| {
            if act.connected_at != connected_at {
                return; // that connection is gone already
            }
            match res {
                Ok(()) => act.writer = Some(writer),
                Err(e) => act.on_lost(&format!("keep-alive PING failed: {e}"), ctx),
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

impl StreamHandler<Vec<Chunk>> for RedisReader {
    fn handle(&mut self, chunks: Vec<Chunk>, _: &mut Self::Context) {
        self.last_push = Instant::now();
        for chunk in &chunks {
            self.pushes.route(chunk.replies());
        }
    }

    /// The queue ends after the read loop did, once drained: the connection is lost. (The
    /// default would stop the actor; the connection must be made again instead.)
    fn finished(&mut self, ctx: &mut Self::Context) {
        if self.stream.is_some() {
            self.stream = None;
            let why = self
                .lost
                .take()
                .unwrap_or_else(|| "connection closed".into());
            self.on_lost(&why, ctx);
        }
    }
}
