//! Events of the hand-offs between stages (reader -> router -> handlers -> registry), and drops,
//! which any stage may count.

use super::InternalEvent;
use crate::domain::drop::DropReason;
use crate::telemetry::{ChannelId, Scalar, Stats};

/// A message or item was dropped; `channel` is `None` when it belongs to no single channel (a
/// streaming batch). Not logged: drops come in floods, `/stats` and `/metrics` show them.
pub struct EventDropped {
    pub channel: Option<ChannelId>,
    pub reason: DropReason,
}

impl InternalEvent for EventDropped {
    fn emit(self, stats: &Stats) {
        stats.record_drop(self.channel, self.reason);
    }
}

/// The router handed an event to its handler.
pub struct EventRouted;

impl InternalEvent for EventRouted {
    fn emit(self, stats: &Stats) {
        stats.add(Scalar::EventsRouted, 1);
    }
}

/// A handler handed an encoded frame to the registry.
pub struct FramePublished;

impl InternalEvent for FramePublished {
    fn emit(self, stats: &Stats) {
        stats.add(Scalar::FramesPublished, 1);
    }
}
