//! RoomRegistry: maps each stream to this instance's sessions, and fans publications out to them.
//!
//! Holds each session as its outbound queue (never the session type) plus a handle to its
//! socket. What a session receives is decided by `domain::fanout` (its own filter, its queue,
//! no frame after a gap); this actor only applies it, counts, and runs the sweep on its own
//! timer that closes slow consumers and silent sessions, because a session whose client
//! stopped reading is frozen and cannot close itself: its connection is reset from here.
//! The latest frames it keeps for new watchers (`domain::snapshot`) are shared with other
//! instances through `snapshot_store`, read once at start and written once a second.

mod messages;
pub mod queue;
mod users;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use log::{debug, info, warn};

pub use messages::{
    outbox, publish, CloseAll, Connect, Deliver, Disconnect, Origin, Outbox, Publish,
    SessionShared, SetUserSymbols, UpdateSession,
};
use queue::Refused;
use users::Users;

use crate::domain::close::CloseReason;
use crate::domain::drop::DropReason;
use crate::domain::fanout::{Fate, Limits, Offer, Outbound, Outflow, Verdict};
use crate::domain::filter::SessionFilter;
use crate::domain::history::Mark;
use crate::domain::ids::{SessionId, UserId};
use crate::domain::publication::Publication;
use crate::domain::snapshot::Snapshots;
use crate::domain::stream::{Stream, StreamIndex, Topic};
use crate::freed_memory::{self, Trimmer};
use crate::net::ConnCloser;
use crate::pipeline::snapshot_store::SnapshotStore;
use crate::telemetry::events::{
    EventDropped, FramesDelivered, QueuedForLater, SessionOpened, SessionReset, SessionsChanged,
    SlowConsumerDetected, SnapshotsDelivered,
};
use crate::telemetry::Stats;

/// How often the snapshots kept meanwhile are written for other instances.
const SHARE_SNAPSHOTS_EVERY: Duration = Duration::from_secs(1);

/// Registry mailbox size; publishes beyond it are shed and counted as `overloaded`.
pub const REGISTRY_QUEUE: usize = 16_384;

#[derive(Debug, Clone, Copy)]
pub struct RegistryConfig {
    pub limits: Limits,
    /// Bytes one session may have queued.
    pub max_queued_bytes: usize,
    /// How old a kept latest frame may be and still be shown to a new watcher.
    pub snapshot_ttl: Duration,
}

impl RegistryConfig {
    /// Often enough to act well within the grace period, rarely enough to cost nothing.
    fn sweep_every(&self) -> Duration {
        (self.limits.slow_consumer_grace / 4)
            .clamp(Duration::from_millis(25), Duration::from_millis(250))
    }
}

/// A session's outbound queue with its byte bound.
struct SessionQueue {
    outbox: Outbox,
    shared: Arc<SessionShared>,
    max_bytes: usize,
}

impl Outbound for SessionQueue {
    fn offer(&self, publication: &Publication) -> Offer {
        let frame = &publication.frame;
        if self.shared.queued_bytes() + frame.len() > self.max_bytes {
            return Offer::Full;
        }
        let mark = Mark::of(publication);
        match self.outbox.try_send(Deliver::Frame(frame.clone(), mark)) {
            Ok(()) => {
                self.shared.queue(frame.len());
                Offer::Accepted
            }
            Err(Refused::Full(_)) => Offer::Full,
            Err(Refused::Closed(_)) => Offer::Gone,
        }
    }

    fn offer_close(&self, reason: CloseReason) -> bool {
        self.outbox.try_send(Deliver::Close(reason)).is_ok()
    }
}

struct Member {
    /// The session's user, read from its `user:{id}` stream.
    user: Option<UserId>,
    /// The streams the session asked for; its user's watchlist symbols are added to these
    /// while it follows the stored watchlist.
    own_streams: HashSet<Stream>,
    follows_stored: bool,
    queue: SessionQueue,
    closer: Option<ConnCloser>,
    filter: SessionFilter,
    outflow: Outflow,
}

pub struct RoomRegistry {
    members: HashMap<SessionId, Member>,
    streams: StreamIndex<SessionId>,
    users: Users,
    stats: Arc<Stats>,
    config: RegistryConfig,
    trimmer: Trimmer,
    snapshots: Snapshots,
    /// Where snapshots are shared with other instances and later starts.
    shared: SnapshotStore,
}

impl RoomRegistry {
    pub fn new(stats: Arc<Stats>, config: RegistryConfig, shared: SnapshotStore) -> Self {
        RoomRegistry {
            shared,
            members: HashMap::new(),
            streams: StreamIndex::default(),
            users: Users::default(),
            stats,
            snapshots: Snapshots::new(config.snapshot_ttl),
            config,
            trimmer: Trimmer::default(),
        }
    }

    fn remove(&mut self, session: SessionId) -> Option<Member> {
        self.streams.remove(session);
        let member = self.members.remove(&session);
        if member.is_some() {
            self.trimmer.session_ended(Instant::now());
        }
        if let Some(user) = member.as_ref().and_then(|m| m.user.as_ref()) {
            self.users.detach(user, session);
        }
        self.update_gauges();
        member
    }

    /// Sets a session's own streams and user, then its effective streams (own + the user's
    /// watchlist).
    fn set_own_streams(&mut self, session: SessionId, own: HashSet<Stream>) {
        let Some(member) = self.members.get_mut(&session) else {
            return;
        };
        let user = own.iter().find_map(|r| match r {
            Stream::User(u) => Some(u.clone()),
            _ => None,
        });
        member.filter.signed_in = user.is_some();
        let previous = std::mem::replace(&mut member.user, user.clone());
        member.own_streams = own;
        if previous != user {
            if let Some(u) = previous {
                self.users.detach(&u, session);
            }
            if let Some(u) = &user {
                self.users.attach(u, session);
            }
        }
        self.apply_streams(session);
    }

    fn apply_streams(&mut self, session: SessionId) {
        let Some(member) = self.members.get(&session) else {
            return;
        };
        let mut streams = member.own_streams.clone();
        if let Some(user) = member.user.as_ref().filter(|_| member.follows_stored) {
            streams.extend(self.users.symbol_streams(user));
        }
        let before = self
            .streams
            .streams_of(session)
            .cloned()
            .unwrap_or_default();
        let joined: Vec<Stream> = streams.difference(&before).cloned().collect();
        self.streams.set_streams(session, streams);
        self.update_gauges();
        self.send_snapshots(session, &joined);
    }

    /// What the session's new streams last published, so it does not start empty.
    fn send_snapshots(&mut self, session: SessionId, joined: &[Stream]) {
        let now = Instant::now();
        let Some(m) = self.members.get_mut(&session) else {
            return;
        };
        let mut delivered = 0;
        for frame in self.snapshots.of(joined, now) {
            let snapshot = Publication::on(Stream::Topic(Topic::System), frame, false);
            if m.outflow.offer(&m.filter, &m.queue, &snapshot, now) == Fate::Delivered {
                delivered += 1;
            }
        }
        if delivered > 0 {
            self.stats.emit(SnapshotsDelivered(delivered));
        }
    }

    /// Closes what `domain::fanout` says must go: slow consumers past their grace, and sessions
    /// silent for longer than their own heartbeat would have allowed.
    fn sweep(&mut self) {
        let now = Instant::now();
        let limits = self.config.limits;
        let mut doomed = Vec::new();
        for (id, m) in &mut self.members {
            let silent_for = m.queue.shared.silent_for(now);
            if let Verdict::Abort(reason) = m.outflow.review(&m.queue, silent_for, limits, now) {
                doomed.push((*id, reason));
            }
        }
        for (id, reason) in doomed {
            let Some(member) = self.remove(id) else {
                continue;
            };
            self.stats.emit(SessionReset {
                session: id,
                reason,
            });
            if let Some(closer) = member.closer {
                closer.abort();
            }
        }
        if self.trimmer.due(now) {
            freed_memory::trim();
        }
    }

    fn update_gauges(&self) {
        self.stats.emit(SessionsChanged {
            active: self.members.len(),
            streams: self.streams.stream_count(),
        });
    }
}

impl Actor for RoomRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(REGISTRY_QUEUE);
        ctx.run_interval(self.config.sweep_every(), |act, _| act.sweep());
        let load = self.shared.clone();
        ctx.spawn(
            async move { load.load().await }
                .into_actor(self)
                .map(|res, act, _| match res {
                    Ok(shared) => {
                        let now = Instant::now();
                        shared.into_iter().for_each(|s| act.snapshots.seed(s, now));
                    }
                    Err(e) => warn!("Cannot read the shared snapshots: {e}."),
                }),
        );
        ctx.run_interval(SHARE_SNAPSHOTS_EVERY, |act, ctx| {
            let changed = act.snapshots.take_changed(Instant::now());
            let store = act.shared.clone();
            ctx.spawn(fut::wrap_future(async move {
                if let Err(e) = store.save(changed).await {
                    debug!("Cannot share snapshots: {e}.");
                }
            }));
        });
    }
}

impl Handler<Connect> for RoomRegistry {
    type Result = ();

    fn handle(&mut self, msg: Connect, _: &mut Self::Context) {
        let member = Member {
            user: None,
            own_streams: HashSet::new(),
            follows_stored: msg.follows_stored,
            queue: SessionQueue {
                outbox: msg.outbox,
                shared: msg.shared,
                max_bytes: self.config.max_queued_bytes,
            },
            closer: msg.closer,
            filter: SessionFilter {
                signed_in: false,
                patterns: msg.filter,
            },
            outflow: Outflow::default(),
        };
        self.members.insert(msg.session, member);
        self.stats.emit(SessionOpened);
        self.set_own_streams(msg.session, msg.streams);
    }
}

impl Handler<UpdateSession> for RoomRegistry {
    type Result = ();

    fn handle(&mut self, msg: UpdateSession, _: &mut Self::Context) {
        if let Some(member) = self.members.get_mut(&msg.session) {
            member.filter.patterns = msg.filter;
            member.follows_stored = msg.follows_stored;
            self.set_own_streams(msg.session, msg.streams);
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
        let Publish {
            publication,
            origin,
        } = msg;
        let now = Instant::now();
        self.snapshots.keep(&publication, now);
        let (mut delivered, mut shed, mut matched) = (0u64, 0u64, 0u64);
        let mut gone = Vec::new();
        for id in self.streams.members(&publication.stream) {
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            match m.outflow.offer(&m.filter, &m.queue, &publication, now) {
                Fate::Filtered => {}
                Fate::Delivered => {
                    matched += 1;
                    delivered += 1;
                }
                Fate::Shed { first } => {
                    matched += 1;
                    shed += 1;
                    if first {
                        self.stats.emit(SlowConsumerDetected {
                            session: id,
                            grace: self.config.limits.slow_consumer_grace,
                        });
                    }
                }
                // A session that is already gone does not count as a recipient, so a targeted
                // event whose only member just left is still counted as `no_recipients`.
                Fate::Gone => gone.push(id),
            }
        }
        self.stats.emit(FramesDelivered {
            delivered,
            shed,
            latency: now.duration_since(origin.received_at),
        });
        if matched == 0 && publication.targeted {
            match (&publication.stream, publication.written) {
                // In the user's stream, for their next connection.
                (Stream::User(_), Some(_)) => self.stats.emit(QueuedForLater),
                _ => self.stats.emit(EventDropped {
                    channel: origin.channel,
                    reason: DropReason::NoRecipients,
                }),
            }
        }
        for id in gone {
            debug!("Session {id} is gone; removing it from the registry.");
            self.remove(id);
        }
    }
}

impl Handler<SetUserSymbols> for RoomRegistry {
    type Result = ();

    fn handle(&mut self, msg: SetUserSymbols, _: &mut Self::Context) {
        for session in self.users.set_symbols(&msg.user, msg.symbols) {
            self.apply_streams(session);
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
            member.queue.offer_close(msg.reason);
        }
    }
}
