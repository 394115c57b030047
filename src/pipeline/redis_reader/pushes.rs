//! Pub/sub messages to the router: what the classic and the sharded subscriber share. Each
//! message is matched to its subscription, normalised, and a batch's events go to the router in
//! one hand-off; a full router is a counted `overloaded` drop, never a wait.

use std::sync::Arc;

use log::warn;

use super::ingest::{Arrival, Message, Normaliser};
use super::subscriptions::{Push, Subscriptions};
use crate::domain::drop::DropReason;
use crate::pipeline::router::RouterInbox;
use crate::redis_client::subscriber::Incoming;
use crate::telemetry::events::{EventDropped, InboundQueueFull};
use crate::telemetry::Stats;

pub struct Pushes {
    pub subscriptions: Arc<Subscriptions>,
    pub normaliser: Normaliser,
    pub router: RouterInbox,
}

impl Pushes {
    pub fn route<'a>(&self, replies: impl IntoIterator<Item = Incoming<'a>>) {
        let replies = replies.into_iter();
        let mut routed = Vec::with_capacity(replies.size_hint().0);
        let arrival = Arrival::now();
        for reply in replies {
            match self.subscriptions.classify(reply) {
                Push::Message { channel, payload } => {
                    let source = self.subscriptions.source(channel);
                    let message = Message {
                        channel,
                        source: &source.name,
                        kind: source.kind,
                        payload,
                        identity: payload,
                        receipt: None,
                        arrival,
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
                self.normaliser.stats.emit(EventDropped {
                    channel: Some(r.channel),
                    reason: DropReason::Overloaded,
                });
            }
        }
    }

    /// What counts the messages that found the inbound queue full (`overloaded`).
    pub fn overflow(&self) -> Overflow {
        Overflow {
            subscriptions: self.subscriptions.clone(),
            stats: self.normaliser.stats.clone(),
        }
    }
}

/// What counts the messages the inbound queue had no room for; it lives wherever the socket is
/// read (for sharded channels, the redis crate's connection driver).
pub struct Overflow {
    subscriptions: Arc<Subscriptions>,
    stats: Arc<Stats>,
}

impl Overflow {
    pub fn count<'a>(&self, replies: impl IntoIterator<Item = Incoming<'a>>) {
        for reply in replies {
            if let Push::Message { channel, .. } = self.subscriptions.classify(reply) {
                self.stats.emit(InboundQueueFull { channel });
            }
        }
    }
}
