//! The history's events: writes to the recoverable streams, resumes, offline queues and
//! snapshots.

use log::warn;

use super::InternalEvent;
use crate::domain::history::NotRecovered;
use crate::telemetry::{Scalar, Stats};

/// A batch of publications went through the history: `written` new entries, `duplicates`
/// another instance had written.
pub struct HistoryWritten {
    pub written: u64,
    pub duplicates: u64,
}

impl InternalEvent for HistoryWritten {
    fn emit(self, stats: &Stats) {
        stats.add(Scalar::HistoryWritten, self.written);
        stats.add(Scalar::HistoryDuplicates, self.duplicates);
    }
}

/// A user-stream publication no session here received: it waits in the user's stream for
/// their next connection (not a loss).
pub struct QueuedForLater;

impl InternalEvent for QueuedForLater {
    fn emit(self, stats: &Stats) {
        stats.add(Scalar::OfflineQueued, 1);
    }
}

/// Redis did not take a batch: its publications go out without offsets, so a client that
/// missed them cannot get them back.
pub struct HistoryWriteFailed<'a> {
    pub publications: u64,
    pub error: &'a redis::RedisError,
}

impl InternalEvent for HistoryWriteFailed<'_> {
    fn emit(self, stats: &Stats) {
        warn!(
            "History write failed for {} publications (delivered without offsets): {}.",
            self.publications, self.error
        );
        stats.add(Scalar::HistoryWriteFailures, self.publications);
    }
}

/// A publication went out unwritten because Redis had fallen too far behind the history
/// writes; its stream starts a new epoch.
pub struct HistoryBehind;

impl InternalEvent for HistoryBehind {
    fn emit(self, stats: &Stats) {
        stats.add(Scalar::HistorySkipped, 1);
    }
}

/// One stream of a `resume`: recovered with `replayed` frames, or not.
pub struct StreamResumed(pub Result<usize, NotRecovered>);

impl InternalEvent for StreamResumed {
    fn emit(self, stats: &Stats) {
        match self.0 {
            Ok(replayed) => {
                stats.add(Scalar::ResumesRecovered, 1);
                stats.add(Scalar::FramesReplayed, replayed as u64);
            }
            Err(reason) => stats.add(
                match reason {
                    NotRecovered::EpochChanged => Scalar::ResumesEpochChanged,
                    NotRecovered::TooOld => Scalar::ResumesTooOld,
                    NotRecovered::NotAllowed => Scalar::ResumesNotAllowed,
                    NotRecovered::Unavailable => Scalar::ResumesUnavailable,
                },
                1,
            ),
        }
    }
}

/// A connecting session was sent `n` unacknowledged user-stream entries.
pub struct QueuedDelivered(pub u64);

impl InternalEvent for QueuedDelivered {
    fn emit(self, stats: &Stats) {
        stats.add(Scalar::OfflineDelivered, self.0);
        stats.add(Scalar::FramesDelivered, self.0);
    }
}

/// A client's `ack` moved its user's acknowledged offset on by `n`.
pub struct QueueAcknowledged(pub u64);

impl InternalEvent for QueueAcknowledged {
    fn emit(self, stats: &Stats) {
        stats.add(Scalar::OfflineAcknowledged, self.0);
    }
}
