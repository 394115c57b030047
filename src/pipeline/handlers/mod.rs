//! The handlers, one actor per domain, all the same shape: a logic type (its state, `on_event`
//! turning one routed event into publications through `domain::audience`, `flush` for what it
//! holds back) inside a thin actor that receives the same messages: `Input<T>` (a routed event)
//! and `Flush` (shutdown). Streaming and Market need nothing else, so they run in the common
//! `shell::Shell`; Users, Backtest and SystemEvents read or write Redis, so their actors do that
//! I/O and feed the results to their logic.
//!
//! - `streaming`: streaming patterns and indicators (batched), indicator alerts.
//! - `users`: who is online and what they want (`domain::directory`), and pattern alerts, whose
//!   audience depends on it.
//! - `market`: prices (threshold, conflation), OHLCV, ticks, summaries, market events.
//! - `backtest`: progress and results, through the job record, to the job's owner.
//! - `system_events`: producer health, streaming sessions, critical alerts, admin events.

mod backtest;
mod market;
mod shell;
mod streaming;
mod system_events;
mod users;

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

pub use backtest::{Backtest, BacktestInput};
pub use market::{Market, MarketConfig, MarketInput, MarketLogic};
pub use shell::{Logic, Shell};
pub use streaming::{Streaming, StreamingConfig, StreamingInput, StreamingLogic};
pub use system_events::{SystemEvents, SystemInput};
pub use users::{SessionUser, Users, UsersConfig, UsersInput};

use crate::domain::drop::DropReason;
use crate::domain::history::Recoverable;
use crate::domain::publication::Publication;
use crate::domain::receipt::Receipt;
use crate::pipeline::history::{Record, Recorder};
use crate::pipeline::registry::{publish, Origin, RoomRegistry};
use crate::telemetry::events::{EventDropped, FramePublished};
use crate::telemetry::{ChannelId, Stats};

/// Mailbox size of the router and each handler; overflow is shed and counted as `overloaded`.
pub const HANDLER_QUEUE: usize = 16_384;

/// An event routed to a handler, with the channel it came from (for per-channel accounting).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Input<T> {
    pub channel: ChannelId,
    pub item: T,
    /// When the message was read from Redis.
    pub received_at: Instant,
    /// The event's `history::message_id`.
    pub message: u64,
    /// A Redis Streams entry's receipt, held by every publication made from the event.
    pub receipt: Option<Arc<Receipt>>,
}

impl<T> Input<T> {
    pub fn origin(&self) -> Origin {
        Origin {
            channel: Some(self.channel),
            received_at: self.received_at,
            message: Some(self.message),
            receipt: self.receipt.clone(),
        }
    }
}

/// Sends whatever a handler holds back (buffers, conflation windows) now: graceful shutdown.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

/// The handlers' way to the registry: through the history first for recoverable streams.
#[derive(Clone)]
pub struct Outlet {
    registry: Addr<RoomRegistry>,
    recorder: Addr<Recorder>,
    stats: Arc<Stats>,
}

impl Outlet {
    pub fn new(registry: Addr<RoomRegistry>, recorder: Addr<Recorder>, stats: Arc<Stats>) -> Self {
        Outlet {
            registry,
            recorder,
            stats,
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn registry(&self) -> &Addr<RoomRegistry> {
        &self.registry
    }

    pub fn send(&self, publication: Publication, origin: Origin) {
        self.stats.emit(FramePublished);
        let channel = origin.channel;
        if Recoverable::of(&publication.stream).is_none() {
            return publish(&self.registry, &self.stats, publication, origin);
        }
        if self
            .recorder
            .try_send(Record {
                publication,
                origin,
            })
            .is_err()
        {
            self.stats.emit(EventDropped {
                channel,
                reason: DropReason::Overloaded,
            });
        }
    }

    pub fn send_all(&self, publications: impl IntoIterator<Item = (Publication, Origin)>) {
        for (publication, origin) in publications {
            self.send(publication, origin);
        }
    }
}
