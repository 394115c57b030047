//! What the background health probe last saw: the producer heartbeat and recent Redis
//! connection errors. The SystemEvents handler writes it on its own schedule and `/health` reads it,
//! so it lives here, between the two, rather than in either.

use std::sync::Mutex;

use crate::domain::event::EpochMillis;

/// How far back connection errors count as recent.
pub const ERROR_WINDOW_SECS: i64 = 300;

/// What the background health probe last saw of the producer heartbeat key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProducerHeartbeat {
    NotCheckedYet,
    Missing,
    /// Age in seconds when checked.
    Age(f64),
    Unreadable,
}

/// Written by the SystemEvents handler's periodic probe, read by `/health`.
pub struct HealthState {
    inner: Mutex<Probe>,
}

struct Probe {
    heartbeat: ProducerHeartbeat,
    /// (time, cumulative connection errors) samples, oldest first, covering the error window.
    error_samples: Vec<(i64, u64)>,
}

impl Default for HealthState {
    fn default() -> Self {
        HealthState {
            inner: Mutex::new(Probe {
                heartbeat: ProducerHeartbeat::NotCheckedYet,
                error_samples: Vec::new(),
            }),
        }
    }
}

impl HealthState {
    pub fn record(&self, heartbeat: ProducerHeartbeat, errors_total: u64) {
        let now = EpochMillis::now().0 / 1000;
        let mut probe = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        probe.heartbeat = heartbeat;
        probe.error_samples.push((now, errors_total));
        probe
            .error_samples
            .retain(|(t, _)| now - t <= ERROR_WINDOW_SECS);
    }

    /// The last heartbeat seen, and how many of `errors_total` fell within the error window.
    pub fn read(&self, errors_total: u64) -> (ProducerHeartbeat, u64) {
        let probe = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let oldest = probe.error_samples.first().map_or(0, |(_, n)| *n);
        (probe.heartbeat, errors_total.saturating_sub(oldest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_window_counts_only_recent_errors() {
        let h = HealthState::default();
        h.record(ProducerHeartbeat::Missing, 10);
        let (_, recent) = h.read(13);
        assert_eq!(recent, 3);
    }
}
