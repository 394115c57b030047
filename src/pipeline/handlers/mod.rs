//! The domain handlers, one actor each, and the plumbing they share: the `Input` envelope and
//! `Publisher`, which encodes an outbound event once and hands it to the registry.

mod backtest;
mod market_data;
mod pattern_alerts;
mod system;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use serde::Serialize;

pub use backtest::Backtest;
pub use market_data::{MarketConfig, MarketData};
pub use pattern_alerts::{Flush, PatternAlerts, StreamingConfig};
pub use system::System;

use crate::domain::drop::DropReason;
use crate::domain::outbound::{EventName, Frame};
use crate::domain::rooms::Room;
use crate::pipeline::registry::{Only, Publish, RoomRegistry};
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
}

/// Who an outbound event is for, and when its source message was read from Redis.
///
/// Targeted audiences count a `no_recipients` drop when nobody may receive the event; public
/// topics do not (nobody listening is not a loss).
pub struct Audience {
    room: Room,
    origin: Option<ChannelId>,
    received_at: Option<Instant>,
}

impl Audience {
    pub fn public(room: Room) -> Self {
        Audience {
            room,
            origin: None,
            received_at: None,
        }
    }

    pub fn targeted(room: Room, channel: ChannelId) -> Self {
        Audience {
            room,
            origin: Some(channel),
            received_at: None,
        }
    }

    /// Times the delivery from this instant (the processing-time histogram).
    pub fn since(mut self, received_at: Instant) -> Self {
        self.received_at = Some(received_at);
        self
    }
}

#[derive(Clone)]
pub struct Publisher {
    registry: Addr<RoomRegistry>,
    stats: Arc<Stats>,
}

impl Publisher {
    pub fn new(registry: Addr<RoomRegistry>, stats: Arc<Stats>) -> Self {
        Publisher { registry, stats }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn registry(&self) -> &Addr<RoomRegistry> {
        &self.registry
    }

    pub fn publish<T: Serialize>(&self, audience: Audience, event: EventName, data: &T) {
        self.send(audience, Frame::encode(event, data), Only::default());
    }

    /// Sends an already encoded frame (one encoding shared by several audiences) to the members
    /// of the audience's room that `only` admits.
    pub fn send(&self, audience: Audience, frame: Frame, only: Only) {
        let Audience {
            room,
            origin,
            received_at,
        } = audience;
        self.stats.published.fetch_add(1, Relaxed);
        if self
            .registry
            .try_send(Publish {
                room,
                frame,
                only,
                origin,
                received_at,
            })
            .is_err()
        {
            self.stats.record_drop(origin, DropReason::Overloaded);
        }
    }
}
