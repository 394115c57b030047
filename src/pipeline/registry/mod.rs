//! RoomRegistry: the only owner of room membership, and where fan-out happens.
//!
//! Holds each session as a `Recipient<Deliver>` (never the session type) plus a handle to its
//! socket. Fan-out uses `try_send` only, so a session's bounded mailbox is its outbound queue; a
//! session whose queue stays full for `slow_consumer_grace` is cut off at the socket, because a
//! stalled actix-web-actors session is frozen and cannot close itself
//! (see `../shared/notes/slow-consumers.md`).

mod messages;

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use log::{debug, info, warn};

pub use messages::{CloseAll, Connect, Deliver, Disconnect, Publish, QueuedBytes, UpdateSession};

use crate::domain::drop::DropReason;
use crate::domain::filter::PatternFilter;
use crate::domain::ids::SessionId;
use crate::domain::rooms::Rooms;
use crate::net::ConnCloser;
use crate::telemetry::Stats;

/// Registry mailbox size; publishes beyond it are shed and counted as `overloaded`.
pub const REGISTRY_QUEUE: usize = 16_384;

/// What became of one frame offered to one session.
enum Queue {
    Accepted,
    /// Over the frame or byte bound of the session's outbound queue.
    Full,
    Gone,
}

struct Member {
    recipient: Recipient<Deliver>,
    queued: QueuedBytes,
    closer: Option<ConnCloser>,
    filter: PatternFilter,
    /// When the session's queue was first found full in the current streak.
    full_since: Option<Instant>,
}

pub struct RoomRegistry {
    members: HashMap<SessionId, Member>,
    rooms: Rooms<SessionId>,
    stats: Arc<Stats>,
    slow_consumer_grace: Duration,
    max_queued_bytes: usize,
}

impl RoomRegistry {
    pub fn new(stats: Arc<Stats>, slow_consumer_grace: Duration, max_queued_bytes: usize) -> Self {
        RoomRegistry {
            members: HashMap::new(),
            rooms: Rooms::default(),
            stats,
            slow_consumer_grace,
            max_queued_bytes,
        }
    }

    fn remove(&mut self, session: SessionId) -> Option<Member> {
        self.rooms.remove(session);
        let member = self.members.remove(&session);
        self.update_gauges();
        member
    }

    fn update_gauges(&self) {
        self.stats
            .sessions_active
            .store(self.members.len() as u64, Relaxed);
        self.stats
            .rooms
            .store(self.rooms.room_count() as u64, Relaxed);
    }
}

impl Actor for RoomRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(REGISTRY_QUEUE);
    }
}

impl Handler<Connect> for RoomRegistry {
    type Result = ();

    fn handle(&mut self, msg: Connect, _: &mut Self::Context) {
        self.rooms.set_rooms(msg.session, msg.rooms);
        let member = Member {
            recipient: msg.recipient,
            queued: msg.queued,
            closer: msg.closer,
            filter: msg.filter,
            full_since: None,
        };
        self.members.insert(msg.session, member);
        self.stats.sessions_total.fetch_add(1, Relaxed);
        self.update_gauges();
    }
}

impl Handler<UpdateSession> for RoomRegistry {
    type Result = ();

    fn handle(&mut self, msg: UpdateSession, _: &mut Self::Context) {
        if let Some(member) = self.members.get_mut(&msg.session) {
            member.filter = msg.filter;
            self.rooms.set_rooms(msg.session, msg.rooms);
            self.update_gauges();
        }
    }
}

impl Handler<Disconnect> for RoomRegistry {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, _: &mut Self::Context) {
        self.remove(msg.session);
    }
}

impl Handler<Publish> for RoomRegistry {
    type Result = ();

    fn handle(&mut self, msg: Publish, _: &mut Self::Context) {
        let now = Instant::now();
        let (mut delivered, mut shed, mut matched) = (0u64, 0u64, 0u64);
        let mut slow = Vec::new();
        let mut gone = Vec::new();
        for id in self.rooms.members(&msg.room) {
            let Some(member) = self.members.get_mut(&id) else {
                continue;
            };
            if let Some(key) = &msg.only_matching {
                if !member.filter.matches(key) {
                    continue;
                }
            }
            // A session that is already gone does not count as a recipient, so a targeted event
            // whose only member just left is still counted as `no_recipients`.
            let len = msg.frame.len();
            let outcome = if member.queued.get() + len > self.max_queued_bytes {
                Queue::Full
            } else {
                match member.recipient.try_send(Deliver::Frame(msg.frame.clone())) {
                    Ok(()) => Queue::Accepted,
                    Err(SendError::Full(_)) => Queue::Full,
                    Err(SendError::Closed(_)) => Queue::Gone,
                }
            };
            match outcome {
                Queue::Accepted => {
                    member.queued.add(len);
                    matched += 1;
                    delivered += 1;
                    member.full_since = None;
                }
                Queue::Full => {
                    matched += 1;
                    shed += 1;
                    let since = *member.full_since.get_or_insert(now);
                    if now.duration_since(since) >= self.slow_consumer_grace {
                        slow.push(id);
                    }
                }
                Queue::Gone => gone.push(id),
            }
        }
        Stats::add(&self.stats.delivered, delivered);
        Stats::add(&self.stats.frames_shed, shed);
        if matched == 0 && msg.origin.is_some() {
            self.stats.record_drop(msg.origin, DropReason::NoRecipients);
        }
        for id in gone {
            debug!("Session {id} is gone; removing it from the registry.");
            self.remove(id);
        }
        for id in slow {
            if let Some(member) = self.remove(id) {
                warn!(
                    "Closing session {id}: slow_consumer (outbound queue full for {:?}).",
                    self.slow_consumer_grace
                );
                self.stats.slow_consumer_closes.fetch_add(1, Relaxed);
                if let Some(closer) = member.closer {
                    closer.abort();
                }
            }
        }
    }
}

impl Handler<CloseAll> for RoomRegistry {
    type Result = ();

    fn handle(&mut self, msg: CloseAll, _: &mut Self::Context) {
        info!(
            "Closing {} sessions: {}.",
            self.members.len(),
            msg.reason.description()
        );
        for member in self.members.values() {
            let _ = member.recipient.try_send(Deliver::Close(msg.reason));
        }
    }
}
