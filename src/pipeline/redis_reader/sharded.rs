//! ShardedReader: the channels configured `sharded = true`, subscribed with SSUBSCRIBE on the
//! owner of each channel's slot through the cluster client, and kept subscribed.
//!
//! The redis crate loses them in two ways (measured with 1.8): after a node restarts it
//! re-subscribes all of that node's channels in one SSUBSCRIBE, which Redis refuses with
//! CROSSSLOT when they span slots, and it tells no one; when a slot migrates, the old owner
//! sends SUNSUBSCRIBE and the crate forgets the channel. So this reader keeps its own account
//! ([`Shards`]): a disconnection marks every channel down, an unsolicited SUNSUBSCRIBE marks
//! that channel down, and every channel down is re-subscribed on its own (one slot per call,
//! following MOVED to the new owner) every [`RETRY`] until it holds. Each loss is counted as a
//! subscription gap and shows in /health while channels are down.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, Value};

use super::pushes::Pushes;
use super::subscriptions::Mode;
use super::{inbound, Backoff, BATCH};
use crate::redis_client::subscriber::Incoming;
use crate::telemetry::events::{
    RedisConnectionFailed, ShardedSubscribed, ShardedSubscribing, ShardedSubscriptionLost,
};
use crate::telemetry::Stats;

/// How often channels that are down are tried again.
const RETRY: Duration = Duration::from_millis(500);

/// Each wanted channel's state; pure, so the re-subscription rules are unit-tested.
#[derive(Debug)]
pub struct Shards {
    names: Vec<String>,
    state: Vec<State>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Up,
    Down,
    /// An SSUBSCRIBE is on its way.
    Trying,
}

impl Shards {
    /// Every channel starts down: nothing is subscribed yet.
    pub fn new(names: Vec<String>) -> Self {
        let state = vec![State::Down; names.len()];
        Shards { names, state }
    }

    pub fn down(&self) -> usize {
        self.state.iter().filter(|s| **s != State::Up).count()
    }

    /// The channels to subscribe now (each marked as being tried).
    pub fn due(&mut self) -> Vec<(usize, String)> {
        let mut due = Vec::new();
        for (i, state) in self.state.iter_mut().enumerate() {
            if *state == State::Down {
                *state = State::Trying;
                due.push((i, self.names[i].clone()));
            }
        }
        due
    }

    /// The outcome of an SSUBSCRIBE.
    pub fn tried(&mut self, index: usize, subscribed: bool) {
        if self.state[index] == State::Trying {
            self.state[index] = if subscribed { State::Up } else { State::Down };
        }
    }

    /// A connection to a node was lost: which channels were on it is not said, so all are
    /// subscribed again (SSUBSCRIBE of a channel already subscribed changes nothing).
    pub fn disconnected(&mut self) {
        self.state.fill(State::Down);
    }

    /// Redis unsubscribed `channel` (its slot moved); `None` if it is not one of ours or was
    /// not up.
    pub fn unsubscribed(&mut self, channel: &[u8]) -> Option<&str> {
        let i = self.names.iter().position(|n| n.as_bytes() == channel)?;
        if self.state[i] != State::Up {
            return None;
        }
        self.state[i] = State::Down;
        Some(&self.names[i])
    }

    pub fn name(&self, index: usize) -> &str {
        &self.names[index]
    }
}

pub struct ShardedReader {
    client: ClusterClient,
    shards: Shards,
    pushes: Pushes,
    stats: Arc<Stats>,
    inbound_queue_messages: usize,
    timeout: Duration,
    backoff: Backoff,
    connection: Option<ClusterConnection>,
}

impl ShardedReader {
    pub fn new(
        client: ClusterClient,
        pushes: Pushes,
        stats: Arc<Stats>,
        inbound_queue_messages: usize,
        timeout: Duration,
        backoff: Backoff,
    ) -> Self {
        let names = pushes.subscriptions.names(Mode::Sharded);
        ShardedReader {
            client,
            shards: Shards::new(names.into_iter().map(str::to_owned).collect()),
            pushes,
            stats,
            inbound_queue_messages,
            timeout,
            backoff,
            connection: None,
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        let (queue, pushes) = inbound::bounded(self.inbound_queue_messages, BATCH);
        let overflow = self.pushes.overflow();
        // Called on the connection's driver task, which must never wait.
        let sender = move |push: PushInfo| {
            if let Err(push) = queue.send(push) {
                overflow.count([incoming(&push)]);
            }
            Ok::<(), Infallible>(())
        };
        let config = ClusterConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_push_sender(sender);
        let client = self.client.clone();
        let open = async move { client.get_async_connection_with_config(config).await };
        ctx.spawn(open.into_actor(self).map(|res, act, ctx| match res {
            Ok(connection) => {
                act.connection = Some(connection);
                ctx.add_stream(pushes);
                act.shards.disconnected();
                act.resubscribe(ctx);
            }
            Err(error) => {
                act.stats.emit(RedisConnectionFailed { error: &error });
                ctx.run_later(act.backoff.next_delay(), |act, ctx| act.connect(ctx));
            }
        }));
    }

    /// Sends one SSUBSCRIBE per channel that is down.
    fn resubscribe(&mut self, ctx: &mut Context<Self>) {
        let Some(connection) = &self.connection else {
            return;
        };
        for (index, name) in self.shards.due() {
            let mut connection = connection.clone();
            let subscribe = async move { connection.ssubscribe(&name).await };
            ctx.spawn(subscribe.into_actor(self).map(move |res, act, _| {
                act.shards.tried(index, res.is_ok());
                match res {
                    Ok(()) => act.stats.emit(ShardedSubscribed {
                        channel: act.shards.name(index),
                        down: act.shards.down(),
                    }),
                    Err(e) => log::debug!(
                        "SSUBSCRIBE {:?} failed ({e}); retrying.",
                        act.shards.name(index)
                    ),
                }
            }));
        }
    }

    fn control(&mut self, push: &PushInfo) {
        match (&push.kind, push.data.first()) {
            (PushKind::Disconnection, _) => {
                self.shards.disconnected();
                self.stats.emit(ShardedSubscriptionLost {
                    channel: None,
                    down: self.shards.down(),
                });
            }
            (PushKind::SUnsubscribe, Some(Value::BulkString(channel))) => {
                let lost = self.shards.unsubscribed(channel).map(str::to_owned);
                if let Some(channel) = lost {
                    self.stats.emit(ShardedSubscriptionLost {
                        channel: Some(&channel),
                        down: self.shards.down(),
                    });
                }
            }
            _ => {}
        }
    }
}

impl Actor for ShardedReader {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.stats.emit(ShardedSubscribing {
            channels: self.shards.down(),
        });
        self.connect(ctx);
        ctx.run_interval(RETRY, |act, ctx| act.resubscribe(ctx));
    }
}

impl StreamHandler<Vec<PushInfo>> for ShardedReader {
    fn handle(&mut self, pushes: Vec<PushInfo>, ctx: &mut Self::Context) {
        for push in &pushes {
            self.control(push);
        }
        self.pushes.route(pushes.iter().map(incoming));
        if self.shards.down() > 0 {
            self.resubscribe(ctx);
        }
    }

    /// The cluster connection lives as long as this actor; if its pushes end anyway, start
    /// over with a new one.
    fn finished(&mut self, ctx: &mut Self::Context) {
        self.connection = None;
        self.shards.disconnected();
        ctx.run_later(self.backoff.next_delay(), |act, ctx| act.connect(ctx));
    }
}

/// A push of the cluster connection (the redis crate's, over RESP3) as our own subscriber
/// would have read it. Only sharded channels are subscribed there: no pattern messages.
fn incoming(push: &PushInfo) -> Incoming<'_> {
    match (&push.kind, push.data.as_slice()) {
        (
            PushKind::Message | PushKind::SMessage,
            [Value::BulkString(channel), Value::BulkString(payload)],
        ) => Incoming::Message { channel, payload },
        _ => Incoming::Control,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn crate_pushes_read_as_our_subscriber_reads_them() {
        let push = |kind, data: &[&str]| PushInfo {
            kind,
            data: data.iter().map(|s| bulk(s)).collect(),
        };
        let message = push(PushKind::SMessage, &["c", "x"]);
        assert_eq!(
            incoming(&message),
            Incoming::Message {
                channel: b"c",
                payload: b"x"
            }
        );
        for control in [
            push(PushKind::SSubscribe, &["c", "1"]),
            push(PushKind::PMessage, &["t:*", "t:1", "x"]),
            push(PushKind::Message, &["c"]),
            PushInfo {
                kind: PushKind::Message,
                data: vec![bulk("c"), Value::Int(3)],
            },
            PushInfo {
                kind: PushKind::Disconnection,
                data: vec![],
            },
        ] {
            assert_eq!(incoming(&control), Incoming::Control, "{control:?}");
        }
    }

    fn shards() -> Shards {
        Shards::new(vec!["a".into(), "b".into()])
    }

    #[test]
    fn each_channel_is_tried_once_until_its_outcome() {
        let mut s = shards();
        assert_eq!(s.down(), 2);
        assert_eq!(s.due().len(), 2);
        assert!(s.due().is_empty(), "attempts in flight are not repeated");
        s.tried(0, true);
        s.tried(1, false);
        assert_eq!(s.down(), 1);
        assert_eq!(s.due(), [(1, "b".to_owned())]);
    }

    #[test]
    fn a_moved_slot_downs_only_its_channel_and_only_once() {
        let mut s = shards();
        s.due();
        s.tried(0, true);
        s.tried(1, true);
        assert_eq!(s.unsubscribed(b"a"), Some("a"));
        assert_eq!(s.unsubscribed(b"a"), None, "already down: one gap, not two");
        assert_eq!(s.unsubscribed(b"zzz"), None);
        assert_eq!(s.due(), [(0, "a".to_owned())]);
    }

    #[test]
    fn a_disconnection_downs_all_and_a_late_outcome_does_not_raise_them() {
        let mut s = shards();
        s.due();
        s.disconnected();
        s.tried(0, true);
        assert_eq!(s.down(), 2, "the attempt predates the disconnection");
        assert_eq!(s.due().len(), 2);
    }
}
