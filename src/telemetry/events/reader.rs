//! The Redis reader's events: the subscriber connection, and each message read off it.

use log::{info, warn};

use super::InternalEvent;
use crate::domain::drop::DropReason;
use crate::domain::monitor::Outcome;
use crate::telemetry::{ChannelId, Scalar, Stats};

/// The subscriber connected and subscribed every channel and pattern.
pub struct RedisConnected<'a> {
    pub subscriptions: usize,
    pub node: &'a dyn std::fmt::Display,
}

impl InternalEvent for RedisConnected<'_> {
    fn emit(self, stats: &Stats) {
        info!(
            "Subscribed to {} Redis channels and patterns on {}.",
            self.subscriptions, self.node
        );
        stats.set(Scalar::RedisConnected, 1);
        stats.add(Scalar::RedisConnects, 1);
    }
}

/// Connecting or subscribing failed; a reconnect is scheduled.
pub struct RedisConnectionFailed<'a> {
    pub error: &'a dyn std::fmt::Display,
}

impl InternalEvent for RedisConnectionFailed<'_> {
    fn emit(self, stats: &Stats) {
        warn!("Redis subscribe failed: {}.", self.error);
        stats.add(Scalar::RedisConnectionErrors, 1);
    }
}

/// An established connection closed or stopped answering; a reconnect follows.
pub struct RedisConnectionLost<'a> {
    pub why: &'a str,
}

impl InternalEvent for RedisConnectionLost<'_> {
    fn emit(self, stats: &Stats) {
        warn!(
            "Redis subscriber connection lost ({}); reconnecting.",
            self.why
        );
        stats.set(Scalar::RedisConnected, 0);
        stats.add(Scalar::RedisConnectionErrors, 1);
        stats.add(Scalar::RedisSubscriptionGaps, 1);
    }
}

/// Sharded channels lost their subscription: their node went away (`channel` is `None`: all
/// of them) or their slot moved (the old owner unsubscribed it). They are re-subscribed one at
/// a time until each succeeds.
pub struct ShardedSubscriptionLost<'a> {
    pub channel: Option<&'a str>,
    pub down: usize,
}

impl InternalEvent for ShardedSubscriptionLost<'_> {
    fn emit(self, stats: &Stats) {
        match self.channel {
            Some(channel) => warn!(
                "Redis Cluster unsubscribed sharded channel {channel:?} (its slot moved); \
                 re-subscribing."
            ),
            None => warn!(
                "Redis Cluster connection to a node lost; re-subscribing {} sharded channels.",
                self.down
            ),
        }
        stats.add(Scalar::RedisSubscriptionGaps, 1);
        stats.set(Scalar::RedisShardedDown, self.down as u64);
    }
}

/// The sharded reader starts: its channels are to be subscribed (not a gap: nothing was lost).
pub struct ShardedSubscribing {
    pub channels: usize,
}

impl InternalEvent for ShardedSubscribing {
    fn emit(self, stats: &Stats) {
        info!(
            "Subscribing to {} sharded Redis Cluster channels.",
            self.channels
        );
        stats.set(Scalar::RedisShardedDown, self.channels as u64);
    }
}

/// A sharded channel is subscribed (again); `down` are still waiting.
pub struct ShardedSubscribed<'a> {
    pub channel: &'a str,
    pub down: usize,
}

impl InternalEvent for ShardedSubscribed<'_> {
    fn emit(self, stats: &Stats) {
        info!("Subscribed to sharded channel {:?}.", self.channel);
        stats.set(Scalar::RedisShardedDown, self.down as u64);
    }
}

/// A message arrived while the inbound queue was full: read, and dropped as `overloaded`.
pub struct InboundQueueFull {
    pub channel: ChannelId,
}

impl InternalEvent for InboundQueueFull {
    fn emit(self, stats: &Stats) {
        stats.record_received(self.channel);
        stats.record_drop(Some(self.channel), DropReason::Overloaded);
    }
}

/// A message was read and normalised: the events it produced and what of it was dropped.
pub struct MessageNormalised<'a> {
    pub channel: ChannelId,
    pub outcome: &'a Outcome,
}

impl InternalEvent for MessageNormalised<'_> {
    fn emit(self, stats: &Stats) {
        stats.record_received(self.channel);
        stats.add(Scalar::EventsParsed, self.outcome.events as u64);
        for reason in &self.outcome.drops {
            stats.record_drop(Some(self.channel), *reason);
        }
    }
}

/// The monitor was busy (an operator reading it), so a message was not recorded there.
pub struct MonitorSkipped;

impl InternalEvent for MonitorSkipped {
    fn emit(self, stats: &Stats) {
        stats.add(Scalar::MonitorSkipped, 1);
    }
}

/// Reading or acknowledging a Redis Stream failed; the reader reconnects after a backoff, and
/// what was not acknowledged stays pending for the next read.
pub struct StreamReadFailed<'a> {
    pub error: &'a dyn std::fmt::Display,
}

impl InternalEvent for StreamReadFailed<'_> {
    fn emit(self, stats: &Stats) {
        warn!("Redis Streams ingest failed: {}.", self.error);
        stats.add(Scalar::RedisConnectionErrors, 1);
    }
}

/// A stream's consumer group as measured: entries read and not yet acknowledged, and entries
/// not yet read.
pub struct StreamBacklog {
    pub channel: ChannelId,
    pub pending: u64,
    pub undelivered: u64,
}

impl InternalEvent for StreamBacklog {
    fn emit(self, stats: &Stats) {
        stats.record_backlog(self.channel, self.pending, self.undelivered);
    }
}

/// `n` entries of a stream were acknowledged (XACK) once everything made from them was done.
pub struct StreamEntriesAcknowledged {
    pub channel: ChannelId,
    pub n: u64,
}

impl InternalEvent for StreamEntriesAcknowledged {
    fn emit(self, stats: &Stats) {
        stats.record_acknowledged(self.channel, self.n);
    }
}
