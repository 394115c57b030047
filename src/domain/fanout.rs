//! The fan-out decision for one session: whether a publication reaches it, what its outbound
//! queue said, and when the session must be closed. Pure; the registry supplies the queue and
//! the clock, and acts on the verdicts.
//!
//! The rules (docs/PROTOCOL.md, "Close reasons"):
//! - No silent gap: once one frame has been shed for a session (its queue was full), it gets
//!   nothing more. It is a slow consumer from that moment: a close order follows the frames
//!   already queued, and if the session has not closed within the grace period (a client that
//!   stopped reading freezes its session actor, which then runs nothing), its connection is
//!   reset.
//! - A session whose client has been silent for longer than the idle limit is reset: its own
//!   heartbeat would have closed it by then if it could still run.

use std::time::{Duration, Instant};

use super::close::CloseReason;
use super::filter::SessionFilter;
use super::publication::Publication;

/// What a session's outbound queue said to one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Accepted,
    /// Over the queue's frame or byte bound.
    Full,
    /// The session has ended.
    Gone,
}

/// A session's outbound queue, as the registry sees it.
pub trait Outbound {
    /// Queues the publication's frame (with its history offset, if any).
    fn offer(&self, publication: &Publication) -> Offer;
    /// Queues a close order behind the frames already queued; false when there is no room.
    fn offer_close(&self, reason: CloseReason) -> bool;
}

/// What became of one publication for one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The session's filter does not admit it.
    Filtered,
    Delivered,
    /// Not queued. `first` is the frame that made the session a slow consumer.
    Shed {
        first: bool,
    },
    Gone,
}

/// What to do with a session after a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// Reset its connection and forget it.
    Abort(CloseReason),
}

/// The time limits a sweep applies.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From the first shed frame to the reset of a session that has not closed.
    pub slow_consumer_grace: Duration,
    /// Client silence after which a session that is still registered is reset.
    pub idle: Duration,
}

/// The delivery state of one session.
#[derive(Debug, Clone, Default)]
pub struct Outflow {
    /// When the first frame was shed; from then on the session gets nothing more.
    shedding_since: Option<Instant>,
    /// Whether the close order is in its queue.
    close_queued: bool,
}

impl Outflow {
    /// Offers `publication` to one session of its stream.
    pub fn offer(
        &mut self,
        filter: &SessionFilter,
        queue: &impl Outbound,
        publication: &Publication,
        now: Instant,
    ) -> Fate {
        if !publication.filter.admits(filter) {
            return Fate::Filtered;
        }
        if self.shedding_since.is_some() {
            return Fate::Shed { first: false };
        }
        match queue.offer(publication) {
            Offer::Accepted => Fate::Delivered,
            Offer::Gone => Fate::Gone,
            Offer::Full => {
                self.shedding_since = Some(now);
                self.close_queued = queue.offer_close(CloseReason::SlowConsumer);
                Fate::Shed { first: true }
            }
        }
    }

    pub fn is_slow(&self) -> bool {
        self.shedding_since.is_some()
    }

    /// Run on the registry's own timer, so a session is judged even when no more frames come
    /// for it and even when its own actor is frozen.
    pub fn review(
        &mut self,
        queue: &impl Outbound,
        silent_for: Duration,
        limits: Limits,
        now: Instant,
    ) -> Verdict {
        if let Some(since) = self.shedding_since {
            if !self.close_queued {
                self.close_queued = queue.offer_close(CloseReason::SlowConsumer);
            }
            if now.saturating_duration_since(since) >= limits.slow_consumer_grace {
                return Verdict::Abort(CloseReason::SlowConsumer);
            }
            return Verdict::Keep;
        }
        if silent_for >= limits.idle {
            return Verdict::Abort(CloseReason::IdleTimeout);
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use super::*;
    use crate::domain::filter::{AlertKey, PatternFilter, PatternSubscription};
    use crate::domain::ids::Symbol;
    use crate::domain::outbound::EventName;
    use crate::domain::publication::FilterKey;
    use crate::domain::stream::Topic;

    /// A queue with room for `free` frames; records what it was given.
    struct Queue {
        free: Cell<usize>,
        gone: bool,
        frames: Cell<usize>,
        closes: RefCell<Vec<CloseReason>>,
        close_room: bool,
    }

    fn queue(free: usize) -> Queue {
        Queue {
            free: Cell::new(free),
            gone: false,
            frames: Cell::new(0),
            closes: RefCell::new(Vec::new()),
            close_room: false,
        }
    }

    impl Outbound for Queue {
        fn offer(&self, _: &Publication) -> Offer {
            if self.gone {
                return Offer::Gone;
            }
            if self.free.get() == 0 {
                return Offer::Full;
            }
            self.free.set(self.free.get() - 1);
            self.frames.set(self.frames.get() + 1);
            Offer::Accepted
        }

        fn offer_close(&self, reason: CloseReason) -> bool {
            if self.close_room {
                self.closes.borrow_mut().push(reason);
            }
            self.close_room
        }
    }

    const LIMITS: Limits = Limits {
        slow_consumer_grace: Duration::from_secs(2),
        idle: Duration::from_secs(40),
    };

    fn health() -> Publication {
        Publication::broadcast(Topic::System, EventName::SystemHealth, &"ok")
    }

    fn anyone() -> SessionFilter {
        SessionFilter::default()
    }

    #[test]
    fn frames_are_delivered_while_the_queue_has_room() {
        let (mut flow, q, now) = (Outflow::default(), queue(2), Instant::now());
        assert_eq!(flow.offer(&anyone(), &q, &health(), now), Fate::Delivered);
        assert_eq!(flow.offer(&anyone(), &q, &health(), now), Fate::Delivered);
        assert_eq!(q.frames.get(), 2);
        assert!(!flow.is_slow());
        assert_eq!(flow.review(&q, Duration::ZERO, LIMITS, now), Verdict::Keep);
    }

    #[test]
    fn after_the_first_shed_frame_nothing_more_is_queued() {
        let (mut flow, q, now) = (Outflow::default(), queue(1), Instant::now());
        assert_eq!(flow.offer(&anyone(), &q, &health(), now), Fate::Delivered);
        assert_eq!(
            flow.offer(&anyone(), &q, &health(), now),
            Fate::Shed { first: true }
        );
        q.free.set(100); // the client reads again: too late, it has a gap
        assert_eq!(
            flow.offer(&anyone(), &q, &health(), now),
            Fate::Shed { first: false }
        );
        assert_eq!(q.frames.get(), 1, "no frame after the gap");
    }

    #[test]
    fn a_full_queue_is_closed_within_the_grace_without_more_traffic() {
        let (mut flow, mut q, t0) = (Outflow::default(), queue(0), Instant::now());
        flow.offer(&anyone(), &q, &health(), t0);
        assert!(
            q.closes.borrow().is_empty(),
            "no room for the close order yet"
        );
        let before = t0 + Duration::from_millis(1999);
        assert_eq!(
            flow.review(&q, Duration::ZERO, LIMITS, before),
            Verdict::Keep
        );
        q.close_room = true;
        flow.review(&q, Duration::ZERO, LIMITS, before);
        flow.review(&q, Duration::ZERO, LIMITS, before);
        assert_eq!(
            *q.closes.borrow(),
            [CloseReason::SlowConsumer],
            "one close order, queued as soon as there is room"
        );
        assert_eq!(
            flow.review(&q, Duration::ZERO, LIMITS, t0 + LIMITS.slow_consumer_grace),
            Verdict::Abort(CloseReason::SlowConsumer)
        );
    }

    #[test]
    fn a_silent_client_is_reset_at_the_idle_limit() {
        let (mut flow, q, now) = (Outflow::default(), queue(4), Instant::now());
        let just_under = LIMITS.idle - Duration::from_millis(1);
        assert_eq!(flow.review(&q, just_under, LIMITS, now), Verdict::Keep);
        assert_eq!(
            flow.review(&q, LIMITS.idle, LIMITS, now),
            Verdict::Abort(CloseReason::IdleTimeout)
        );
    }

    #[test]
    fn filtered_and_gone_sessions_take_nothing() {
        let now = Instant::now();
        let mut flow = Outflow::default();
        let doji = AlertKey {
            pattern: "Doji".into(),
            symbol: Symbol::new("AAPL").unwrap(),
            confidence: 0.9,
        };
        let alert = health().filtered(FilterKey::Alert(doji));
        let hammer_only = SessionFilter {
            signed_in: true,
            patterns: PatternFilter::compile(&[PatternSubscription {
                pattern: "Hammer".into(),
                min_confidence: 0.0,
                symbols: None,
            }])
            .unwrap(),
        };
        let q = queue(0);
        assert_eq!(flow.offer(&hammer_only, &q, &alert, now), Fate::Filtered);
        assert!(
            !flow.is_slow(),
            "a filtered frame never counts against a full queue"
        );
        let gone = Queue {
            gone: true,
            ..queue(4)
        };
        assert_eq!(flow.offer(&anyone(), &gone, &health(), now), Fate::Gone);
    }
}
