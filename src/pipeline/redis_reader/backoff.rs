//! Reconnect delays: exponential, capped, jittered, and reset only after a healthy period so a
//! connection that flaps right after connecting keeps backing off.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

/// A connection up at least this long counts as healthy and resets the backoff.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(30);

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The next delay: the capped exponential value, with its upper half randomised so many
    /// instances restarting together do not reconnect in lock-step.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.initial.saturating_mul(1u32 << self.attempt.min(20));
        self.attempt = self.attempt.saturating_add(1);
        let capped = exp.min(self.max);
        let half = capped / 2;
        half + half.mul_f64(fastrand::f64())
    }

    pub fn connection_lasted(&mut self, lasted: Duration) {
        if lasted >= HEALTHY_AFTER {
            self.attempt = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_is_capped_and_resets_after_healthy_period() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        for _ in 0..10 {
            assert!(b.next_delay() <= Duration::from_secs(2));
        }
        assert!(b.next_delay() >= Duration::from_secs(1));
        b.connection_lasted(Duration::from_secs(1));
        assert!(b.next_delay() >= Duration::from_secs(1));
        b.connection_lasted(HEALTHY_AFTER);
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
