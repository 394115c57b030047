//! Giving memory back to the system after sessions end.
//!
//! A session that stopped reading holds its queued frames, its WebSocket write buffer and its
//! queue's blocks; when many end at once (a thousand stalled clients cut off after a burst),
//! glibc's allocator keeps their freed pages in its per-thread arenas, so the process's RSS
//! stays where the burst left it (measured: 100 MB with no session left, against 22 MB idle;
//! BENCHMARKS.md). `malloc_trim` hands the free pages of every arena back.
//!
//! `Trimmer` decides when: once sessions have ended, after a short delay (their memory is freed
//! when their connection's task drops them, just after the registry forgets them), at most once
//! per delay. The trim itself runs on its own thread, since it walks the whole heap.

use std::time::{Duration, Instant};

/// From the first session end since the last trim to the trim.
const DELAY: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Trimmer {
    /// When the first session ended since the last trim.
    pending_since: Option<Instant>,
}

impl Trimmer {
    pub fn session_ended(&mut self, now: Instant) {
        self.pending_since.get_or_insert(now);
    }

    /// Whether to trim now; true at most once per `DELAY`, and only after sessions ended.
    pub fn due(&mut self, now: Instant) -> bool {
        match self.pending_since {
            Some(since) if now.saturating_duration_since(since) >= DELAY => {
                self.pending_since = None;
                true
            }
            _ => false,
        }
    }
}

/// Returns the allocator's free pages to the system, in the background.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::thread::spawn(|| {
        // SAFETY: malloc_trim only releases memory the allocator holds free; it is safe to call
        // from any thread at any time.
        unsafe { libc::malloc_trim(0) };
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_a_while_after_sessions_end() {
        let t0 = Instant::now();
        let mut trimmer = Trimmer::default();
        assert!(!trimmer.due(t0 + DELAY), "nothing ended");
        trimmer.session_ended(t0);
        trimmer.session_ended(t0 + Duration::from_millis(500));
        assert!(!trimmer.due(t0 + Duration::from_millis(999)));
        assert!(trimmer.due(t0 + DELAY));
        assert!(!trimmer.due(t0 + DELAY * 3), "once per batch of ends");
    }
}
