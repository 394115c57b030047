//! Internal events: one type per thing that happens in the pipeline and is worth counting.
//! Each knows what it counts and, where the occurrence deserves a log line, what it logs, so a
//! call site emits one event (`stats.emit(RedisConnected { .. })`) instead of a log statement
//! next to a counter update. Events are plain values borrowing what they report: emitting one
//! is a relaxed atomic add (or store), with formatting only on the paths that log.
//!
//! One file per pipeline stage: `reader` (Redis), `routing` (hand-offs and drops), `handlers`,
//! `sessions` (registry, sessions, `/ws`), `history` (offsets, resumes, offline queues).

mod handlers;
mod history;
mod reader;
mod routing;
mod sessions;
mod transports;

pub use handlers::{
    AlertFiltered, MonitoringReported, PricesConflated, ProducerErrorReported, StreamingBatchSent,
    StreamingBufferChanged, UserCachesChanged,
};
pub use history::{
    HistoryBehind, HistoryWriteFailed, HistoryWritten, QueueAcknowledged, QueuedDelivered,
    QueuedForLater, StreamResumed,
};
pub use reader::{
    InboundQueueFull, MessageNormalised, MonitorSkipped, RedisConnected, RedisConnectionFailed,
    RedisConnectionLost, ShardedSubscribed, ShardedSubscribing, ShardedSubscriptionLost,
    StreamBacklog, StreamEntriesAcknowledged, StreamReadFailed,
};
pub use routing::{EventDropped, EventRouted, FramePublished};
pub use sessions::{
    ClientError, FramesDelivered, RefusedBecause, SessionEnded, SessionOpened, SessionRefused,
    SessionReset, SessionStarted, SessionsChanged, SlowConsumerDetected, SnapshotsDelivered,
};

pub use transports::{
    FrameReceived, FrameSent, PollingSlowConsumer, PollingUpgraded, Protocol, Transport,
    TransportClosed, TransportOpened,
};

use super::Stats;

/// Something that happened, recorded through `Stats::emit`.
pub trait InternalEvent {
    fn emit(self, stats: &Stats);
}
