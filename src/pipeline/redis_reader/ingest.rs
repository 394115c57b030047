//! One message at the edge, the same for pub/sub and Redis Streams: the size limit, the
//! normaliser, the per-channel accounting, the monitor's record, and the events handed on with
//! the identity every instance gives them (`history::message_id`).

use std::sync::{Arc, Mutex, TryLockError};
use std::time::Instant;

use crate::domain::drop::DropReason;
use crate::domain::event::EpochMillis;
use crate::domain::history::message_id;
use crate::domain::kind::EventKind;
use crate::domain::monitor::{Monitor, Outcome};
use crate::domain::normalise::normalise;
use crate::domain::receipt::Receipt;
use crate::pipeline::router::Routed;
use crate::telemetry::events::{MessageNormalised, MonitorSkipped};
use crate::telemetry::{ChannelId, Stats};

/// When a batch of messages was taken from Redis: read once per batch, since its messages
/// arrived together (two clock reads per message were 2.6 % of the CPU at 400,000 msg/s).
#[derive(Clone, Copy)]
pub struct Arrival {
    pub at: Instant,
    pub epoch: EpochMillis,
}

impl Arrival {
    pub fn now() -> Arrival {
        Arrival {
            at: Instant::now(),
            epoch: EpochMillis::now(),
        }
    }
}

/// One message read from Redis.
pub struct Message<'a> {
    pub channel: ChannelId,
    /// The channel, pattern or stream key it came from.
    pub source: &'a str,
    pub kind: EventKind,
    pub payload: &'a [u8],
    /// What names it on every instance: the payload for pub/sub, the entry id for Streams.
    pub identity: &'a [u8],
    /// Held by every event made from it (Streams entries only).
    pub receipt: Option<Arc<Receipt>>,
    pub arrival: Arrival,
}

pub struct Normaliser {
    pub stats: Arc<Stats>,
    pub monitor: Arc<Mutex<Monitor>>,
    pub max_message_bytes: usize,
}

impl Normaliser {
    /// Normalises one message; its events are appended to `routed`.
    pub fn ingest(&self, m: Message<'_>, routed: &mut Vec<Routed>) {
        let Arrival {
            at: received_at,
            epoch: now,
        } = m.arrival;
        let mut outcome = Outcome {
            events: 0,
            drops: Vec::new(),
        };
        if m.payload.len() > self.max_message_bytes {
            outcome.drops.push(DropReason::TooLarge);
        } else {
            for (index, result) in normalise(m.kind, m.payload, now).into_iter().enumerate() {
                match result {
                    Ok(event) => {
                        outcome.events += 1;
                        routed.push(Routed {
                            channel: m.channel,
                            event,
                            received_at,
                            message: message_id(m.source, m.identity, index),
                            receipt: m.receipt.clone(),
                        });
                    }
                    Err(reason) => outcome.drops.push(reason),
                }
            }
        }
        self.stats.emit(MessageNormalised {
            channel: m.channel,
            outcome: &outcome,
        });
        self.monitor(&m, outcome, now);
    }

    /// Records the message for `/debug/messages` unless an operator is reading the monitor at
    /// this very moment: then it is skipped (and counted) rather than waited for.
    fn monitor(&self, m: &Message<'_>, outcome: Outcome, at: EpochMillis) {
        let (name, kind, payload) = (m.source, m.kind, m.payload);
        match self.monitor.try_lock() {
            Ok(mut monitor) => monitor.record(name, kind, payload, outcome, at),
            Err(TryLockError::Poisoned(poisoned)) => poisoned
                .into_inner()
                .record(name, kind, payload, outcome, at),
            Err(TryLockError::WouldBlock) => self.stats.emit(MonitorSkipped),
        }
    }
}
