//! What a session does with the history (`pipeline::history`): its streams' positions in
//! `connection_confirmed`, the user's unacknowledged entries right after it, the `resume` and
//! `ack` ops, and sending each frame once whether it comes live or replayed (`history::Sent`).
//!
//! Every read runs under `ctx.wait`, which holds the session's other events, live frames
//! included, until it is answered: what a replay sends always precedes what was published
//! while it ran.

use std::collections::BTreeMap;
use std::time::Duration;

use actix::prelude::*;
use actix_web_actors::ws;
use futures_util::future::join_all;
use log::warn;

use super::WsSession;
use crate::domain::event::EpochMillis;
use crate::domain::filter::SessionFilter;
use crate::domain::history::{
    latest_only, replay, Mark, NotRecovered, Place, Position, Recoverable, Recovery,
};
use crate::domain::outbound::{EventName, Frame};
use crate::domain::protocol::{ErrorCode, ProtocolError};
use crate::domain::replies::{Op, Reply};
use crate::domain::stream::Stream;
use crate::pipeline::history::{HistoryStore, Read, ReadFrom};
use crate::telemetry::events::{QueueAcknowledged, QueuedDelivered, StreamResumed};

/// How long a session waits for the history before it answers without it.
const READ_WAIT: Duration = Duration::from_secs(3);

impl WsSession {
    /// Reads the positions of the streams the session follows (and the user's unacknowledged
    /// entries), then sends `connection_confirmed` and those entries as `queued_message`.
    pub(super) fn confirm(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let reads = read_each(
            self.deps.history.clone(),
            self.state.recoverable(),
            |which| match which {
                Recoverable::User => ReadFrom::Unacknowledged,
                _ => ReadFrom::Nothing,
            },
        );
        ctx.wait(reads.into_actor(self).map(|reads, act, ctx| {
            let mut positions = BTreeMap::new();
            let (mut queued, mut user_epoch) = (Vec::new(), String::new());
            for (which, read) in reads {
                match read {
                    Ok(read) => {
                        if which == Recoverable::User {
                            queued = read.entries;
                            user_epoch.clone_from(&read.head.epoch);
                        }
                        positions.insert(which, read.head);
                    }
                    Err(e) => warn!(
                        "Session {}: the {} stream's position is unknown ({e}).",
                        act.id,
                        which.as_str()
                    ),
                }
            }
            act.wire.follow(&positions);
            let confirmed = act
                .state
                .connection_confirmed(act.id, EpochMillis::now(), positions);
            act.send_reply(ctx, EventName::ConnectionConfirmed, &confirmed, None);
            let filter = act.filter();
            let mut delivered = 0;
            for entry in latest_only(&queued) {
                let mark = Mark {
                    stream: Recoverable::User,
                    place: Place::new(&user_epoch, entry.offset),
                };
                if entry.filter.admits(&filter) && act.sent.replayed(mark) {
                    act.write_frame(ctx, entry.frame.queued(entry.offset, entry.written_ms));
                    delivered += 1;
                }
            }
            if delivered > 0 {
                act.deps.stats.emit(QueuedDelivered(delivered));
            }
        }));
    }

    /// An op's reply with the latest positions of the recoverable streams the op made the
    /// session follow (`subscribe`, `auth`), so a later `resume` of them knows their epoch.
    pub(super) fn reply_with_heads(
        &mut self,
        reply: Reply,
        event: EventName,
        id: Option<u64>,
        joined: Vec<(Recoverable, Stream)>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        if joined.is_empty() {
            return self.send_reply(ctx, event, &reply, id);
        }
        let reads = read_each(self.deps.history.clone(), joined, |_| ReadFrom::Nothing);
        ctx.wait(reads.into_actor(self).map(move |reads, act, ctx| {
            let heads = reads
                .into_iter()
                .filter_map(|(which, read)| Some((which, read.ok()?.head)))
                .collect();
            act.wire.follow(&heads);
            act.send_reply(ctx, event, &reply.with_streams(heads), id);
        }));
    }

    /// `resume`: every frame after each position the session may read, then the `ack` saying
    /// which streams were recovered.
    pub(super) fn resume(
        &mut self,
        id: Option<u64>,
        asked: BTreeMap<String, Position>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let targets = match self.state.resume_targets(asked) {
            Ok(targets) => targets,
            Err(err) => return self.send_error(ctx, ProtocolError { id, ..err }),
        };
        self.replay_after(
            targets,
            ctx,
            |_, _, _| {},
            move |act, ctx, streams| {
                let reply = Reply::Recovered {
                    op: Op::Resume,
                    streams,
                };
                act.send_reply(ctx, EventName::Ack, &reply, id);
                act.release_held(ctx);
            },
        );
    }

    /// Reads what followed each target's position; calls `before` with whether every stream
    /// can be recovered, writes the frames the session has not sent, and calls `after` with
    /// each stream's outcome.
    pub(super) fn replay_after(
        &mut self,
        targets: Vec<(Recoverable, Option<Stream>, Position)>,
        ctx: &mut ws::WebsocketContext<Self>,
        before: impl FnOnce(&mut Self, &mut ws::WebsocketContext<Self>, bool) + 'static,
        after: impl FnOnce(&mut Self, &mut ws::WebsocketContext<Self>, BTreeMap<Recoverable, Recovery>)
            + 'static,
    ) {
        let store = self.deps.history.clone();
        let reads = async move {
            let reads = targets.into_iter().map(|(which, stream, position)| {
                let store = store.clone();
                async move {
                    let read = match stream {
                        None => Err(NotRecovered::NotAllowed),
                        Some(stream) => read_after(&store, &stream, position.offset).await,
                    };
                    (which, position, read)
                }
            });
            join_all(reads).await
        };
        ctx.wait(reads.into_actor(self).map(move |reads, act, ctx| {
            let filter = act.filter();
            let now_ms = EpochMillis::now().0.max(0) as u64;
            let ttl_ms =
                |act: &Self, which| act.deps.history.config().window(which).ttl.as_millis() as u64;
            let all = reads.iter().all(|(which, position, read)| {
                read.as_ref().is_ok_and(|read| {
                    let ttl = ttl_ms(act, *which);
                    replay(position, &read.head, &read.entries, now_ms, ttl).is_ok()
                })
            });
            before(act, ctx, all);
            let mut streams = BTreeMap::new();
            for (which, position, read) in reads {
                let ttl_ms = ttl_ms(act, which);
                let outcome = read.and_then(|read| {
                    let entries = replay(&position, &read.head, &read.entries, now_ms, ttl_ms)?;
                    let mut sent = 0;
                    for entry in entries {
                        let mark = Mark {
                            stream: which,
                            place: Place::new(&read.head.epoch, entry.offset),
                        };
                        if entry.filter.admits(&filter) && act.sent.replayed(mark) {
                            act.write_frame(ctx, entry.frame.at(which, entry.offset));
                            sent += 1;
                        }
                    }
                    Ok(sent)
                });
                act.deps.stats.emit(StreamResumed(outcome));
                let recovery = match outcome {
                    Ok(n) => Recovery::recovered(n),
                    Err(reason) => Recovery::not(reason),
                };
                streams.insert(which, recovery);
            }
            after(act, ctx, streams);
        }));
    }

    /// A live frame, unless a replay already sent it.
    pub(super) fn send_live(
        &mut self,
        frame: Frame,
        mark: Option<Mark>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        if mark.is_none_or(|mark| self.sent.live(mark)) {
            self.write_frame(ctx, frame)
        }
    }

    /// Sends the live frames held since the session started (`HOLD_UNTIL_FIRST_OP`).
    pub(super) fn release_held(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        for (frame, mark) in self.held.take().into_iter().flat_map(|(held, _)| held) {
            self.send_live(frame, Some(mark), ctx);
        }
    }

    /// `ack`: the user's stream is handled up to an offset, for all their sessions.
    pub(super) fn ack(
        &mut self,
        id: Option<u64>,
        asked: BTreeMap<String, u64>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let (user, offset) = match self.state.ack_target(asked) {
            Ok(target) => target,
            Err(err) => return self.send_error(ctx, ProtocolError { id, ..err }),
        };
        let store = self.deps.history.clone();
        let write = async move { timed(store.ack(&user, offset)).await };
        ctx.wait(
            write
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok((before, after)) => {
                        act.deps.stats.emit(QueueAcknowledged(after - before));
                        let reply = Reply::Acknowledged {
                            op: Op::Ack,
                            streams: [(Recoverable::User, after)].into(),
                        };
                        act.send_reply(ctx, EventName::Ack, &reply, id);
                    }
                    Err(e) => {
                        let message = format!("the acknowledgement was not stored: {e}");
                        let err = ProtocolError::new(ErrorCode::Unavailable, message);
                        act.send_error(ctx, ProtocolError { id, ..err });
                    }
                }),
        );
    }

    /// The session's own filter, as the registry applies it to live frames.
    fn filter(&self) -> SessionFilter {
        SessionFilter {
            signed_in: self.state.identity.user.is_some(),
            patterns: self.state.filter.clone(),
        }
    }
}

/// Each stream's head (and entries from where `from` says), read side by side.
async fn read_each(
    store: HistoryStore,
    streams: Vec<(Recoverable, Stream)>,
    from: impl Fn(Recoverable) -> ReadFrom,
) -> Vec<(Recoverable, Result<Read, String>)> {
    let reads = streams.into_iter().map(|(which, stream)| {
        let (store, from) = (store.clone(), from(which));
        async move { (which, timed(store.read(&stream, from)).await) }
    });
    join_all(reads).await
}

/// The stream's head and the entries after `offset`, or why they cannot be had.
async fn read_after(
    store: &HistoryStore,
    stream: &Stream,
    offset: u64,
) -> Result<Read, NotRecovered> {
    match timed(store.read(stream, ReadFrom::Offset(offset + 1))).await {
        Ok(read) => Ok(read),
        Err(e) => {
            warn!("A resume could not read the {stream} history: {e}.");
            Err(NotRecovered::Unavailable)
        }
    }
}

/// `work`, or an error once `READ_WAIT` has passed.
async fn timed<T, E: ToString>(
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(READ_WAIT, work).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("Redis did not answer in time".to_owned()),
    }
}
