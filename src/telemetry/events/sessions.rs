//! The sessions' events: admission, membership, fan-out to their queues, and client errors.

use std::time::Duration;

use std::net::IpAddr;

use log::{debug, info, warn};

use super::InternalEvent;
use crate::domain::close::CloseReason;
use crate::domain::ids::{SessionId, UserId};
use crate::domain::protocol::ProtocolError;
use crate::telemetry::{Scalar, Stats};

/// A WebSocket upgrade was refused before it became a session.
pub struct SessionRefused(pub RefusedBecause);

#[derive(Debug, Clone, Copy)]
pub enum RefusedBecause {
    /// `server.max_sessions`.
    ServerFull,
    /// `server.max_sessions_per_address`.
    AddressFull,
    /// `server.allowed_origins`.
    Origin,
}

impl InternalEvent for SessionRefused {
    fn emit(self, stats: &Stats) {
        // Debug only: a flood of refused upgrades must not flood the log too.
        debug!("Refused a WebSocket upgrade: {:?}.", self.0);
        stats.add(Scalar::SessionsRefused, 1);
    }
}

/// A WebSocket session began: one info line per connect, for operators following who comes
/// and goes.
pub struct SessionStarted<'a> {
    pub session: SessionId,
    pub user: Option<&'a UserId>,
    pub address: Option<IpAddr>,
}

impl InternalEvent for SessionStarted<'_> {
    fn emit(self, _: &Stats) {
        info!(
            "Session {} connected: {}, from {}.",
            self.session,
            who(self.user),
            from(self.address)
        );
    }
}

/// A WebSocket session ended, after `duration`, for `reason`.
pub struct SessionEnded<'a> {
    pub session: SessionId,
    pub user: Option<&'a UserId>,
    pub address: Option<IpAddr>,
    pub duration: Duration,
    pub reason: &'static str,
}

impl InternalEvent for SessionEnded<'_> {
    fn emit(self, _: &Stats) {
        info!(
            "Session {} disconnected after {:.1} s: {} ({}, from {}).",
            self.session,
            self.duration.as_secs_f64(),
            self.reason,
            who(self.user),
            from(self.address)
        );
    }
}

fn who(user: Option<&UserId>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |u| format!("user {u}"))
}

fn from(address: Option<IpAddr>) -> String {
    address.map_or_else(|| "an unknown address".to_owned(), |a| a.to_string())
}

/// The registry took in a new session.
pub struct SessionOpened;

impl InternalEvent for SessionOpened {
    fn emit(self, stats: &Stats) {
        stats.add(Scalar::SessionsOpened, 1);
    }
}

/// The registry's membership changed: sessions connected, streams with at least one of them.
pub struct SessionsChanged {
    pub active: usize,
    pub streams: usize,
}

impl InternalEvent for SessionsChanged {
    fn emit(self, stats: &Stats) {
        stats.set(Scalar::SessionsActive, self.active as u64);
        stats.set(Scalar::Rooms, self.streams as u64);
    }
}

/// One publication's fan-out: frames queued, frames shed on full queues, and how long after it
/// was read off Redis (timed only when something was delivered).
pub struct FramesDelivered {
    pub delivered: u64,
    pub shed: u64,
    pub latency: Duration,
}

impl InternalEvent for FramesDelivered {
    fn emit(self, stats: &Stats) {
        stats.add(Scalar::FramesDelivered, self.delivered);
        stats.add(Scalar::FramesShed, self.shed);
        if self.delivered > 0 {
            stats.processing_seconds.observe(self.latency.as_secs_f64());
        }
    }
}

/// Snapshots queued to a session that started watching their streams: delivered frames, but
/// not events processed now, so they stay out of the processing-time histogram.
pub struct SnapshotsDelivered(pub u64);

impl InternalEvent for SnapshotsDelivered {
    fn emit(self, stats: &Stats) {
        stats.add(Scalar::FramesDelivered, self.0);
        stats.add(Scalar::SnapshotHits, self.0);
    }
}

/// A session's queue was full for the first time: it gets nothing more and is closed within
/// `grace`.
pub struct SlowConsumerDetected {
    pub session: SessionId,
    pub grace: Duration,
}

impl InternalEvent for SlowConsumerDetected {
    fn emit(self, stats: &Stats) {
        warn!(
            "Session {} is a slow consumer (outbound queue full): it gets nothing more and is \
             closed within {:?}.",
            self.session, self.grace
        );
        stats.add(Scalar::SlowConsumerCloses, 1);
    }
}

/// The registry reset a session's connection: a slow consumer still there at the end of its
/// grace, or a session silent past its idle limit, neither of which closed by itself (counted
/// already when it became a slow consumer; idle resets are only logged).
pub struct SessionReset {
    pub session: SessionId,
    pub reason: CloseReason,
}

impl InternalEvent for SessionReset {
    fn emit(self, _: &Stats) {
        warn!(
            "Resetting the connection of session {}: {} (it did not close by itself).",
            self.session,
            self.reason.description()
        );
    }
}

/// A client frame was answered with an `error` frame. Logged at debug only: clients can send
/// bad frames as fast as they like.
pub struct ClientError<'a> {
    pub session: SessionId,
    pub error: &'a ProtocolError,
}

impl InternalEvent for ClientError<'_> {
    fn emit(self, stats: &Stats) {
        debug!(
            "Session {}: {:?}: {}",
            self.session, self.error.code, self.error.message
        );
        stats.add(Scalar::ClientErrors, 1);
    }
}
