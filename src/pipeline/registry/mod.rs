//! RoomRegistry: the only owner of room membership, and where fan-out happens.
//!
//! Holds each session as its `Outbox` (never the session type) plus a handle to its socket.
//! Fan-out uses `try_send` only, so nothing waits on a session's bounded outbound queue; a
//! session whose queue stays full for `slow_consumer_grace` is cut off at the socket, because a
//! stalled actix-web-actors session is frozen and cannot close itself
//! (see `../shared/notes/slow-consumers.md`).

mod messages;
mod users;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use log::{debug, info, warn};
use tokio::sync::mpsc::error::TrySendError;

pub use messages::{
    outbox, CloseAll, Connect, Deliver, Disconnect, Only, Outbox, Presence, Publish, QueuedBytes,
    SetUserSymbols, UpdateSession, WatchPresence,
};
use users::{Change, Users};

use crate::domain::drop::DropReason;
use crate::domain::filter::PatternFilter;
use crate::domain::ids::{SessionId, UserId};
use crate::domain::rooms::{Room, Rooms};
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
    /// The session's user, read from its `user:{id}` room.
    user: Option<UserId>,
    /// The rooms the session asked for; its user's watchlist symbols are added to these.
    own_rooms: HashSet<Room>,
    outbox: Outbox,
    queued: QueuedBytes,
    closer: Option<ConnCloser>,
    filter: PatternFilter,
    /// When the session's queue was first found full in the current streak.
    full_since: Option<Instant>,
}

pub struct RoomRegistry {
    members: HashMap<SessionId, Member>,
    rooms: Rooms<SessionId>,
    users: Users,
    presence: Vec<Recipient<Presence>>,
    stats: Arc<Stats>,
    slow_consumer_grace: Duration,
    max_queued_bytes: usize,
}

impl RoomRegistry {
    pub fn new(stats: Arc<Stats>, slow_consumer_grace: Duration, max_queued_bytes: usize) -> Self {
        RoomRegistry {
            members: HashMap::new(),
            rooms: Rooms::default(),
            users: Users::default(),
            presence: Vec::new(),
            stats,
            slow_consumer_grace,
            max_queued_bytes,
        }
    }

    fn remove(&mut self, session: SessionId) -> Option<Member> {
        self.rooms.remove(session);
        let member = self.members.remove(&session);
        if let Some(user) = member.as_ref().and_then(|m| m.user.as_ref()) {
            let change = self.users.detach(user, session);
            self.announce(change);
        }
        self.update_gauges();
        member
    }

    /// Sets a session's own rooms and user, then its effective rooms (own + user watchlist).
    fn set_own_rooms(&mut self, session: SessionId, own_rooms: HashSet<Room>) {
        let Some(member) = self.members.get_mut(&session) else {
            return;
        };
        let user = own_rooms.iter().find_map(|r| match r {
            Room::User(u) => Some(u.clone()),
            _ => None,
        });
        let previous = std::mem::replace(&mut member.user, user.clone());
        member.own_rooms = own_rooms;
        if previous != user {
            let left = previous.and_then(|u| self.users.detach(&u, session));
            let joined = user.as_ref().and_then(|u| self.users.attach(u, session));
            self.announce(left);
            self.announce(joined);
        }
        self.apply_rooms(session);
    }

    fn apply_rooms(&mut self, session: SessionId) {
        let Some(member) = self.members.get(&session) else {
            return;
        };
        let mut rooms = member.own_rooms.clone();
        if let Some(user) = &member.user {
            rooms.extend(self.users.symbol_rooms(user));
        }
        self.rooms.set_rooms(session, rooms);
        self.update_gauges();
    }

    fn announce(&self, change: Option<Change>) {
        let presence = match change {
            Some(Change::CameOnline(user)) => Presence { user, online: true },
            Some(Change::WentOffline(user)) => Presence {
                user,
                online: false,
            },
            None => return,
        };
        for watcher in &self.presence {
            watcher.do_send(presence.clone());
        }
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
        let member = Member {
            user: None,
            own_rooms: HashSet::new(),
            outbox: msg.outbox,
            queued: msg.queued,
            closer: msg.closer,
            filter: msg.filter,
            full_since: None,
        };
        self.members.insert(msg.session, member);
        self.stats.sessions_total.fetch_add(1, Relaxed);
        self.set_own_rooms(msg.session, msg.rooms);
    }
}

impl Handler<UpdateSession> for RoomRegistry {
    type Result = ();

    fn handle(&mut self, msg: UpdateSession, _: &mut Self::Context) {
        if let Some(member) = self.members.get_mut(&msg.session) {
            member.filter = msg.filter;
            self.set_own_rooms(msg.session, msg.rooms);
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
            if msg.only.anonymous && member.user.is_some() {
                continue;
            }
            if let Some(key) = &msg.only.matching {
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
                match member.outbox.try_send(Deliver::Frame(msg.frame.clone())) {
                    Ok(()) => Queue::Accepted,
                    Err(TrySendError::Full(_)) => Queue::Full,
                    Err(TrySendError::Closed(_)) => Queue::Gone,
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
        if let (Some(at), true) = (msg.received_at, delivered > 0) {
            self.stats
                .processing_seconds
                .observe(now.duration_since(at).as_secs_f64());
        }
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

impl Handler<SetUserSymbols> for RoomRegistry {
    type Result = ();

    fn handle(&mut self, msg: SetUserSymbols, _: &mut Self::Context) {
        for session in self.users.set_symbols(&msg.user, msg.symbols) {
            self.apply_rooms(session);
        }
    }
}

impl Handler<WatchPresence> for RoomRegistry {
    type Result = ();

    fn handle(&mut self, msg: WatchPresence, _: &mut Self::Context) {
        for user in self.users.online() {
            msg.0.do_send(Presence {
                user: user.clone(),
                online: true,
            });
        }
        self.presence.push(msg.0);
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
            let _ = member.outbox.try_send(Deliver::Close(msg.reason));
        }
    }
}
