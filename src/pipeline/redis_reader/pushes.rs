//! Pub/sub pushes to the router: what the classic and the sharded subscriber share. Each push
//! is matched to its subscription, normalised, and a batch's events go to the router in one
//! hand-off; a full router is a counted `overloaded` drop, never a wait.

use std::sync::Arc;

use log::warn;
use redis::PushInfo;

use super::ingest::{Arrival, Message, Normaliser};
use super::subscriptions::{Push, Subscriptions};
use crate::domain::drop::DropReason;
use crate::pipeline::router::RouterInbox;
use crate::telemetry::events::{EventDropped, InboundQueueFull};

pub struct Pushes {
    pub subscriptions: Arc<Subscriptions>,
    pub normaliser: Normaliser,
    pub router: RouterInbox,
}

impl Pushes {
    pub fn route(&self, pushes: &[PushInfo]) {
        let mut routed = Vec::with_capacity(pushes.len());
        let arrival = Arrival::now();
        for push in pushes {
            match self.subscriptions.classify(push) {
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

    /// The bounded inbound queue of a subscriber connection: a message that finds it full is
    /// read and dropped as `overloaded`.
    pub fn queue(
        &self,
        capacity: usize,
        batch: usize,
    ) -> (
        impl redis::aio::AsyncPushSender,
        impl futures_util::Stream<Item = Vec<PushInfo>>,
    ) {
        let (subscriptions, stats) = (self.subscriptions.clone(), self.normaliser.stats.clone());
        super::subscriber::bounded(capacity, batch, move |push: PushInfo| {
            if let Push::Message { channel, .. } = subscriptions.classify(&push) {
                stats.emit(InboundQueueFull { channel });
            }
        })
    }
}
