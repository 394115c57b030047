//! Recorder: writes each publication of a recoverable stream to its history before the registry
//! delivers it, so its frame carries the offset every instance agrees on.
//!
//! Publications are written in arrival order, a batch per round trip: while one batch is in
//! Redis the next gathers, so under load a round trip serves many publications and the offsets
//! follow the order the handlers produced them in. When Redis does not take a batch, its
//! publications are delivered without offsets (counted), rather than held back; and when more
//! than `MAX_WAITING` (or `MAX_WAITING_BYTES`) wait for Redis, it cannot keep up: everything
//! waiting, the batch in Redis included, is delivered at once without offsets (counted), so live
//! delivery never waits long and what is released at once stays small. Either way the stream's
//! next write starts a new epoch: a gap in the history is never silent.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::store::{Append, HistoryStore, Written};
use crate::domain::event::EpochMillis;
use crate::domain::history::{message_id, Place, Recoverable, Repeats};
use crate::domain::publication::Publication;
use crate::domain::stream::Stream;
use crate::pipeline::registry::{publish, Origin, RoomRegistry};
use crate::telemetry::events::{HistoryBehind, HistoryWriteFailed, HistoryWritten};
use crate::telemetry::Stats;

/// Recorder mailbox size; publications beyond it are shed and counted as `overloaded`.
pub const RECORDER_QUEUE: usize = 16_384;

/// Publications per round trip at most, and their frames' bytes at most (big frames make long
/// round trips, which everything behind them waits for).
const MAX_BATCH: usize = 256;
const MAX_BATCH_BYTES: usize = 256 << 10;

/// Publications, and the frame bytes they hold, waiting for Redis beyond which it counts as
/// fallen behind. Bursts fit (a Redis Stream's backlog read at startup; a burst of pattern
/// alerts, each one write per signed-in user it reaches, about 250 bytes of memory per copy);
/// what is released at once stays within a quarter of a session's outbound queue
/// (`session.outbound_queue_bytes`, default 8 MiB).
const MAX_WAITING: usize = 65_536;
const MAX_WAITING_BYTES: usize = 2 << 20;

/// How long a message's offset is remembered for other instances that saw the same message:
/// pub/sub reaches every subscriber within milliseconds, so seconds are plenty, and each
/// remembered message costs Redis about 170 bytes.
const DEDUPE_WINDOW: Duration = Duration::from_secs(30);

/// A publication of a recoverable stream, to write and then deliver.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Record {
    pub publication: Publication,
    pub origin: Origin,
}

/// Resolves once every publication received so far has been written and handed on: shutdown.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

pub struct Recorder {
    store: HistoryStore,
    registry: Addr<RoomRegistry>,
    stats: Arc<Stats>,
    /// In arrival order, waiting for the batch in Redis, each with the bytes it holds.
    pending: VecDeque<(Publication, Origin, usize)>,
    pending_bytes: usize,
    writing: bool,
    /// The batch in Redis, until it is delivered: when Redis falls behind, it goes out before
    /// its write returns (without offsets).
    in_flight: Option<Vec<(Publication, Origin)>>,
    repeats: Repeats,
    /// Streams with publications that went out unwritten: their next write starts a new epoch,
    /// so a client whose position is older hears `epoch_changed` instead of missing them
    /// silently.
    broken: HashSet<Stream>,
}

impl Recorder {
    pub fn new(store: HistoryStore, registry: Addr<RoomRegistry>, stats: Arc<Stats>) -> Self {
        Recorder {
            store,
            registry,
            stats,
            pending: VecDeque::new(),
            pending_bytes: 0,
            writing: false,
            in_flight: None,
            repeats: Repeats::new(DEDUPE_WINDOW),
            broken: HashSet::new(),
        }
    }

    /// A Streams entry may be read again long after another instance wrote it (this one was
    /// down), so its identity is kept for as long as the topics' history.
    fn durable_dedupe(&self) -> Duration {
        let history = self.store.config().topics.ttl;
        history.clamp(DEDUPE_WINDOW, Duration::from_secs(86_400))
    }

    /// How one publication is written: the name every instance gives it, for how long other
    /// instances' copies are recognised, and whether it starts a new epoch.
    fn naming(&mut self, p: &Publication, origin: &Origin, now: Instant) -> Naming {
        let stream = p.stream.to_string();
        // An event made here rather than read from Redis (a timer's) is named by its frame, so
        // instances that made the same one write it once.
        let message = origin
            .message
            .unwrap_or_else(|| message_id(&stream, p.frame.0.as_bytes(), 0));
        let (message, dedupe) = match origin.receipt {
            // A Streams entry id never repeats: a second copy is the same entry read again.
            Some(_) => (message, self.durable_dedupe()),
            None => (self.repeats.identify(&stream, message, now), DEDUPE_WINDOW),
        };
        Naming {
            message,
            dedupe,
            new_epoch: self.broken.remove(&p.stream),
        }
    }

    /// Sends the next batch to Redis.
    fn write_next(&mut self, ctx: &mut Context<Self>) {
        if self.writing {
            return;
        }
        let (mut batch, mut bytes) = (Vec::new(), 0);
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            let Some((p, origin, held)) = self.pending.pop_front() else {
                break;
            };
            self.pending_bytes -= held;
            bytes += p.frame.len();
            batch.push((p, origin));
        }
        if batch.is_empty() {
            return;
        }
        self.in_flight = Some(batch.clone());
        let now = Instant::now();
        let names: Vec<Naming> = batch
            .iter()
            .map(|(p, origin)| self.naming(p, origin, now))
            .collect();
        self.writing = true;
        let store = self.store.clone();
        let written_ms = EpochMillis::now().0.max(0) as u64;
        let write = async move {
            let appends: Vec<Append> = batch
                .iter()
                .zip(&names)
                .map(|((p, _), name)| append(p, name, written_ms))
                .collect();
            let result = store.append(&appends).await;
            drop(appends);
            (batch, result)
        };
        ctx.spawn(write.into_actor(self).map(|(batch, result), act, ctx| {
            // Gone early when Redis fell behind: it is written, but its frames went out
            // without offsets and its streams start new epochs.
            if act.in_flight.take().is_some() {
                act.deliver(batch, result);
            }
            act.writing = false;
            act.write_next(ctx);
        }));
    }

    /// Redis cannot keep up: everything waiting for it, the batch in Redis first, goes out now
    /// without offsets, and each of its streams starts a new epoch.
    fn release_all(&mut self) {
        let in_flight = self.in_flight.take().unwrap_or_default();
        let waiting = self.pending.drain(..);
        self.pending_bytes = 0;
        let waiting = waiting.map(|(p, origin, _)| (p, origin));
        for (publication, origin) in in_flight.into_iter().chain(waiting) {
            self.stats.emit(HistoryBehind);
            self.broken.insert(publication.stream.clone());
            publish(&self.registry, &self.stats, publication, origin);
        }
    }

    fn deliver(
        &mut self,
        batch: Vec<(Publication, Origin)>,
        result: redis::RedisResult<Vec<Written>>,
    ) {
        match result {
            Ok(written) => {
                let duplicates = written.iter().filter(|w| w.duplicate).count() as u64;
                self.stats.emit(HistoryWritten {
                    written: written.len() as u64 - duplicates,
                    duplicates,
                });
                for ((mut publication, origin), w) in batch.into_iter().zip(written) {
                    if let Some(which) = Recoverable::of(&publication.stream) {
                        publication.frame = publication.frame.at(which, w.offset);
                        publication.written = Some(Place::new(&w.epoch, w.offset));
                    }
                    publish(&self.registry, &self.stats, publication, origin);
                }
            }
            Err(error) => {
                self.stats.emit(HistoryWriteFailed {
                    publications: batch.len() as u64,
                    error: &error,
                });
                for (publication, origin) in batch {
                    self.broken.insert(publication.stream.clone());
                    publish(&self.registry, &self.stats, publication, origin);
                }
            }
        }
    }
}

struct Naming {
    message: u64,
    dedupe: Duration,
    new_epoch: bool,
}

fn append<'a>(p: &'a Publication, name: &Naming, written_ms: u64) -> Append<'a> {
    let which = Recoverable::of(&p.stream).expect("the outlet records recoverable streams only");
    Append {
        which,
        stream: &p.stream,
        frame: &p.frame,
        filter: &p.filter,
        supersedes: p.supersedes.as_deref(),
        message: name.message,
        dedupe: name.dedupe,
        new_epoch: name.new_epoch,
        written_ms,
    }
}

impl Actor for Recorder {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(RECORDER_QUEUE);
    }
}

impl Handler<Record> for Recorder {
    type Result = ();

    fn handle(&mut self, msg: Record, ctx: &mut Self::Context) {
        // The copies of one pattern alert for each user it reaches share one frame: it is held
        // once.
        let frame = &msg.publication.frame;
        let shared = self.pending.back().is_some_and(|(p, ..)| {
            p.frame.0.as_ptr() == frame.0.as_ptr() && p.frame.len() == frame.len()
        });
        let held = if shared { 0 } else { frame.len() };
        if self.pending.len() >= MAX_WAITING || self.pending_bytes + held > MAX_WAITING_BYTES {
            self.release_all();
        }
        self.pending_bytes += held;
        self.pending.push_back((msg.publication, msg.origin, held));
        self.write_next(ctx);
    }
}

impl Handler<Drain> for Recorder {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Drain, _: &mut Self::Context) -> Self::Result {
        drained(self)
    }
}

/// Resolves when nothing is pending or being written, looking every few milliseconds.
fn drained(act: &mut Recorder) -> ResponseActFuture<Recorder, ()> {
    if !act.writing && act.pending.is_empty() {
        return Box::pin(fut::ready(()));
    }
    Box::pin(
        actix::clock::sleep(Duration::from_millis(5))
            .into_actor(act)
            .then(|(), act, _| drained(act)),
    )
}
