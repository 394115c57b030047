//! The registry's messages: session lifecycle from sessions, publications from handlers,
//! watchlists from the Users handler, and what the registry and a session share.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::domain::close::CloseReason;
use crate::domain::drop::DropReason;
use crate::domain::filter::PatternFilter;
use crate::domain::history::Mark;
use crate::domain::ids::{SessionId, Symbol, UserId};
use crate::domain::outbound::Frame;
use crate::domain::publication::Publication;
use crate::domain::receipt::Receipt;
use crate::domain::stream::Stream;
use crate::net::ConnCloser;
use crate::telemetry::events::EventDropped;
use crate::telemetry::{ChannelId, Stats};

use super::queue;

/// What the registry sends a session. A close order rides the same queue as frames, so it is
/// handled after every frame queued before it.
#[derive(Debug, Clone)]
pub enum Deliver {
    /// With its place in a recoverable stream, so the session can tell a replayed frame from
    /// the live one.
    Frame(Frame, Option<Mark>),
    Close(CloseReason),
}

/// A session's outbound queue, bounded in frames: the registry offers with `try_send`, the
/// session drains it as a stream. A queue rather than the actor's mailbox because fan-out
/// is one offer per session per event: the mailbox allocates an envelope for each, the
/// queue only grows while frames wait (`queue`).
pub type Outbox = queue::Sender<Deliver>;

/// The session's end of its outbox.
pub type Frames = queue::Receiver<Deliver>;

/// A new outbound queue of `frames` slots, and the session's end of it.
pub fn outbox(frames: usize) -> (Outbox, Frames) {
    queue::bounded(frames)
}

/// What a session and the registry both see of it, without a message: the bytes waiting in its
/// queue (the channel bounds the frame count; the registry adds what it queues, the session
/// subtracts what it writes) and when its client was last heard from (the session writes it,
/// the registry reads it, because a frozen session cannot run its own idle timer).
#[derive(Debug)]
pub struct SessionShared {
    queued_bytes: AtomicUsize,
    /// Milliseconds since `clock_base()`.
    last_heard: AtomicU64,
}

/// A monotonic origin for `last_heard`, so it fits in an atomic.
fn clock_base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn millis_since_base(at: Instant) -> u64 {
    at.saturating_duration_since(clock_base()).as_millis() as u64
}

impl SessionShared {
    pub fn new(now: Instant) -> Arc<Self> {
        Arc::new(SessionShared {
            queued_bytes: AtomicUsize::new(0),
            last_heard: AtomicU64::new(millis_since_base(now)),
        })
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Relaxed)
    }

    pub fn queue(&self, n: usize) {
        self.queued_bytes.fetch_add(n, Relaxed);
    }

    pub fn release(&self, n: usize) {
        self.queued_bytes.fetch_sub(n, Relaxed);
    }

    pub fn heard(&self, at: Instant) {
        self.last_heard.store(millis_since_base(at), Relaxed);
    }

    pub fn silent_for(&self, now: Instant) -> Duration {
        let last = self.last_heard.load(Relaxed);
        Duration::from_millis(millis_since_base(now).saturating_sub(last))
    }
}

/// A session joins, already knowing its streams and pattern filter.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    pub session: SessionId,
    pub outbox: Outbox,
    pub shared: Arc<SessionShared>,
    /// Present for real TCP connections; lets the registry cut off a frozen session.
    pub closer: Option<ConnCloser>,
    pub streams: HashSet<Stream>,
    pub filter: PatternFilter,
    /// Whether its user's stored watchlist is added to `streams`.
    pub follows_stored: bool,
}

/// The session's streams or pattern filter changed (the full new state, not a diff).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateSession {
    pub session: SessionId,
    pub streams: HashSet<Stream>,
    pub filter: PatternFilter,
    pub follows_stored: bool,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub session: SessionId,
}

/// Where a publication's source message came from, for accounting.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The channel a `no_recipients` drop is counted against (none for streaming batches).
    pub channel: Option<ChannelId>,
    /// When the source message was read from Redis, for the processing-time histogram.
    pub received_at: Instant,
    /// The source event's `history::message_id`, when it came from Redis (not a timer).
    pub message: Option<u64>,
    /// Held until the publication is delivered: a Redis Streams entry is acknowledged when
    /// every publication made from it was.
    pub receipt: Option<Arc<Receipt>>,
}

/// Deliver a publication to the sessions of its stream that admit it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish {
    pub publication: Publication,
    pub origin: Origin,
}

/// Hands a publication to the registry; a full mailbox sheds it, counted as `overloaded`.
pub fn publish(
    registry: &Addr<super::RoomRegistry>,
    stats: &Stats,
    publication: Publication,
    origin: Origin,
) {
    let channel = origin.channel;
    if registry
        .try_send(Publish {
            publication,
            origin,
        })
        .is_err()
    {
        stats.emit(EventDropped {
            channel,
            reason: DropReason::Overloaded,
        });
    }
}

/// A user's stored watchlist: every session of that user that follows it (has not sent its
/// own `watchlist`) receives these `symbol:{SYM}` streams, besides its own.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetUserSymbols {
    pub user: UserId,
    pub symbols: HashSet<Symbol>,
}

/// Graceful shutdown: every session is told to close with `reason`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseAll {
    pub reason: CloseReason,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_measured_from_the_last_frame_heard() {
        let t0 = Instant::now();
        let shared = SessionShared::new(t0);
        assert!(shared.silent_for(t0) < Duration::from_millis(2));
        let later = t0 + Duration::from_secs(31);
        assert!(shared.silent_for(later) >= Duration::from_secs(30));
        shared.heard(later);
        assert!(shared.silent_for(later) < Duration::from_millis(2));
        shared.queue(10);
        shared.release(4);
        assert_eq!(shared.queued_bytes(), 6);
    }
}
