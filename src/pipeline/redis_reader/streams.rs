//! StreamReader: reads the configured Redis Streams (`channels.streams`) with this instance's
//! own consumer group, beside the pub/sub reader, for producers that want nothing lost.
//!
//! Each entry gets a `Receipt` that every event and publication made from it holds; when the
//! last is done (routed, written to history, delivered, or dropped as invalid) the entry is
//! acknowledged with XACK. So an entry read but not handled before a crash stays pending and is
//! read again at the next start (this consumer's pending entries come first), and entries added
//! while tickrouter was down wait in the group. The stream itself is never trimmed or deleted;
//! the group is created at the stream's end (MKSTREAM) the first time, so a first start does
//! not replay the producer's whole history.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use redis::streams::{StreamInfoGroupsReply, StreamReadReply};
use redis::{RedisResult, Value};
use tokio::sync::mpsc;

use super::ingest::{Arrival, Message, Normaliser};
use super::{Backoff, BATCH};
use crate::domain::drop::DropReason;
use crate::domain::kind::EventKind;
use crate::domain::receipt::Receipt;
use crate::pipeline::router::RouterInbox;
use crate::redis_client::{Commands, Target};
use crate::telemetry::events::{
    EventDropped, StreamBacklog, StreamEntriesAcknowledged, StreamReadFailed,
};
use crate::telemetry::{ChannelId, Stats};

/// How long one XREADGROUP waits for new entries before it is issued again.
const BLOCK: Duration = Duration::from_secs(2);
/// How often each stream's backlog (the group's pending entries) is read for `/stats`.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

/// One configured stream, with the channel id its counters are kept under.
#[derive(Debug, Clone)]
pub struct StreamSource {
    pub key: String,
    pub kind: EventKind,
    pub field: String,
    pub channel: ChannelId,
}

pub struct StreamReader {
    target: Target,
    commands: Commands,
    sources: Arc<[StreamSource]>,
    group: Arc<str>,
    consumer: Arc<str>,
    normaliser: Arc<Normaliser>,
    router: RouterInbox,
    stats: Arc<Stats>,
    backoff: Backoff,
}

/// An entry to acknowledge: its stream (index in `sources`) and id.
type Done = (usize, String);

impl StreamReader {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: Target,
        commands: Commands,
        sources: Vec<StreamSource>,
        instance: &str,
        normaliser: Normaliser,
        router: RouterInbox,
        stats: Arc<Stats>,
        backoff: Backoff,
    ) -> Self {
        StreamReader {
            target,
            commands,
            sources: sources.into(),
            group: format!("tickrouter:{instance}").into(),
            consumer: instance.into(),
            normaliser: Arc::new(normaliser),
            router,
            stats,
            backoff,
        }
    }

    /// Reads until the connection fails, then again after a backoff, for as long as its actor
    /// runs.
    async fn read_forever(self: Arc<Self>, done: mpsc::UnboundedSender<Done>) {
        let mut backoff = self.backoff.clone();
        // This consumer's pending entries are read once per process: after a reconnect, the
        // pending ones are still on their way through this process.
        let mut pending_read = false;
        loop {
            let started = std::time::Instant::now();
            if let Err(error) = self.read(&done, &mut pending_read).await {
                self.stats.emit(StreamReadFailed { error: &error });
                backoff.connection_lasted(started.elapsed());
                actix::clock::sleep(backoff.next_delay()).await;
            }
        }
    }

    async fn read(
        &self,
        done: &mpsc::UnboundedSender<Done>,
        pending_read: &mut bool,
    ) -> RedisResult<()> {
        // A blocking read must be allowed to wait its whole BLOCK.
        let mut con = self.target.dedicated(BLOCK * 2).await?;
        for source in self.sources.iter() {
            let created: RedisResult<()> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&source.key)
                .arg(&*self.group)
                .arg("$")
                .arg("MKSTREAM")
                .query_async(&mut con)
                .await;
            match created {
                Err(e) if e.code() != Some("BUSYGROUP") => return Err(e),
                _ => {}
            }
        }
        // This consumer's pending entries, from the start, each batch after the last one read
        // (they stay pending until their receipts drop); then new entries (`>`).
        let mut after: Vec<String> = vec!["0".to_owned(); self.sources.len()];
        loop {
            let mut read = redis::cmd("XREADGROUP");
            read.arg("GROUP")
                .arg(&*self.group)
                .arg(&*self.consumer)
                .arg("COUNT")
                .arg(BATCH);
            if *pending_read {
                read.arg("BLOCK").arg(BLOCK.as_millis() as u64);
            }
            read.arg("STREAMS");
            for source in self.sources.iter() {
                read.arg(&source.key);
            }
            for last in &after {
                read.arg(if *pending_read { ">" } else { last.as_str() });
            }
            let reply: Option<StreamReadReply> = read.query_async(&mut con).await?;
            let Some(reply) = reply else {
                continue;
            };
            let mut entries = 0;
            for stream in &reply.keys {
                if let (Some(index), Some(last)) = (self.index_of(&stream.key), stream.ids.last()) {
                    after[index].clone_from(&last.id);
                    entries += stream.ids.len();
                }
            }
            self.route(reply, done);
            if !*pending_read && entries == 0 {
                *pending_read = true;
            }
        }
    }

    fn index_of(&self, key: &str) -> Option<usize> {
        self.sources.iter().position(|s| s.key == key)
    }

    /// Hands every entry's events to the router.
    fn route(&self, reply: StreamReadReply, done: &mpsc::UnboundedSender<Done>) {
        let mut routed = Vec::new();
        let arrival = Arrival::now();
        for stream in reply.keys {
            let Some(index) = self.index_of(&stream.key) else {
                continue;
            };
            let source = &self.sources[index];
            for entry in stream.ids {
                let done = done.clone();
                let id = entry.id.clone();
                let receipt = Arc::new(Receipt::new(move || {
                    let _ = done.send((index, id));
                }));
                let payload = match entry.map.get(&source.field) {
                    Some(Value::BulkString(bytes)) => bytes.as_slice(),
                    Some(Value::SimpleString(text)) => text.as_bytes(),
                    _ => {
                        // No message to route: nothing will ever make it valid, so it is
                        // acknowledged (the receipt drops) and counted.
                        self.stats.emit(EventDropped {
                            channel: Some(source.channel),
                            reason: DropReason::MissingField,
                        });
                        continue;
                    }
                };
                let message = Message {
                    channel: source.channel,
                    source: &source.key,
                    kind: source.kind,
                    payload,
                    identity: entry.id.as_bytes(),
                    receipt: Some(receipt),
                    arrival,
                };
                self.normaliser.ingest(message, &mut routed);
            }
        }
        if !routed.is_empty() {
            if let Err(routed) = self.router.try_send(routed) {
                // Dropping them drops their receipts: acknowledged, and counted as lost.
                for r in &routed {
                    self.stats.emit(EventDropped {
                        channel: Some(r.channel),
                        reason: DropReason::Overloaded,
                    });
                }
            }
        }
    }

    /// Acknowledges finished entries, as many per XACK as have finished meanwhile.
    async fn acknowledge(self: Arc<Self>, mut done: mpsc::UnboundedReceiver<Done>) {
        let mut con = self.commands.clone();
        while let Some(first) = done.recv().await {
            let mut by_stream: Vec<Vec<String>> = vec![Vec::new(); self.sources.len()];
            by_stream[first.0].push(first.1);
            while let Ok((index, id)) = done.try_recv() {
                by_stream[index].push(id);
            }
            for (index, ids) in by_stream.into_iter().enumerate() {
                if ids.is_empty() {
                    continue;
                }
                let source = &self.sources[index];
                let acked: RedisResult<u64> = redis::cmd("XACK")
                    .arg(&source.key)
                    .arg(&*self.group)
                    .arg(&ids)
                    .query_async(&mut con)
                    .await;
                match acked {
                    Ok(n) => self.stats.emit(StreamEntriesAcknowledged {
                        channel: source.channel,
                        n,
                    }),
                    // Still pending: read again at the next start.
                    Err(error) => self.stats.emit(StreamReadFailed { error: &error }),
                }
            }
        }
    }

    /// Reads each stream's backlog: entries delivered to this instance's group and not yet
    /// acknowledged, and entries not yet delivered.
    async fn measure_backlog(self: Arc<Self>) {
        let mut con = self.commands.clone();
        loop {
            for source in self.sources.iter() {
                let info: RedisResult<StreamInfoGroupsReply> = redis::cmd("XINFO")
                    .arg("GROUPS")
                    .arg(&source.key)
                    .query_async(&mut con)
                    .await;
                if let Ok(info) = info {
                    if let Some(group) = info.groups.iter().find(|g| *g.name == *self.group) {
                        self.stats.emit(StreamBacklog {
                            channel: source.channel,
                            pending: group.pending as u64,
                            undelivered: group.lag.unwrap_or(0) as u64,
                        });
                    }
                }
            }
            actix::clock::sleep(BACKLOG_EVERY).await;
        }
    }
}

/// The actor whose context runs the reader's tasks: their handle (for `/ready` and shutdown).
pub struct StreamReaderActor(Option<StreamReader>);

impl StreamReaderActor {
    pub fn new(reader: StreamReader) -> Self {
        StreamReaderActor(Some(reader))
    }
}

impl Actor for StreamReaderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(reader) = self.0.take() else {
            return;
        };
        let reader = Arc::new(reader);
        let (done, finished) = mpsc::unbounded_channel();
        ctx.spawn(fut::wrap_future(reader.clone().read_forever(done)));
        ctx.spawn(fut::wrap_future(reader.clone().acknowledge(finished)));
        ctx.spawn(fut::wrap_future(reader.measure_backlog()));
    }
}
