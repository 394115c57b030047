//! One clock for the publisher and every client, and the latency histograms they record into.
//!
//! `sent_ns` in a payload and the receive time are both nanoseconds since `T0`, an `Instant` of
//! this process, so no clock synchronisation is involved. Each worker thread records into its
//! own histogram (an uncontended mutex); a phase resets them all and merges them at the end.
//! Beside the histograms, the worst latency per 100 ms of send time tells a tail made of one
//! stall from one spread over the run, and a second histogram per thread holds only the
//! messages sent inside a window of send time that a scenario opens and closes while a phase
//! runs (`resume-storm`: the live load while the storm is on).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::scan::Scanner;

static T0: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the process's reference instant.
#[inline]
pub fn now_ns() -> u64 {
    T0.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

pub fn new_hist() -> Histogram<u64> {
    // 1 ns .. 1 hour, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("histogram bounds")
}

struct Hists {
    /// Every message of the phase.
    all: Histogram<u64>,
    /// Only messages sent inside the window (`open_window` .. `close_window`).
    window: Histogram<u64>,
}

struct Recorder {
    hist: Mutex<Hists>,
    count: AtomicU64,
}

static RECORDERS: Mutex<Vec<Arc<Recorder>>> = Mutex::new(Vec::new());

const SLOT_NS: u64 = 100_000_000;
/// Worst latency (ns) of the messages sent in each 100 ms since the phase began (20 minutes).
static SLOTS: [AtomicU64; 12_000] = [const { AtomicU64::new(0) }; 12_000];
static PHASE_START_NS: AtomicU64 = AtomicU64::new(0);
/// Send-time window `[start, end]`, ns; closed (start = MAX) unless a scenario opened it.
static WINDOW_START_NS: AtomicU64 = AtomicU64::new(u64::MAX);
static WINDOW_END_NS: AtomicU64 = AtomicU64::new(u64::MAX);
/// Messages the publisher stamped inside the window.
static WINDOW_PUBLISHED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static LOCAL: Arc<Recorder> = {
        let hists = Hists { all: new_hist(), window: new_hist() };
        let r = Arc::new(Recorder { hist: Mutex::new(hists), count: AtomicU64::new(0) });
        RECORDERS.lock().unwrap().push(r.clone());
        r
    };
}

/// Scans one received frame and records the latency of every send time in it; returns how many.
#[inline]
pub fn record_frame(scanner: &Scanner, frame: &[u8]) -> u64 {
    let now = now_ns();
    let start = PHASE_START_NS.load(Relaxed);
    let (w0, w1) = (WINDOW_START_NS.load(Relaxed), WINDOW_END_NS.load(Relaxed));
    LOCAL.with(|r| {
        let mut h = r.hist.lock().unwrap();
        let n = scanner.scan(frame, |sent| {
            let latency = now.saturating_sub(sent).max(1);
            h.all.saturating_record(latency);
            if (w0..=w1).contains(&sent) {
                h.window.saturating_record(latency);
            }
            let slot = (sent.saturating_sub(start) / SLOT_NS) as usize;
            if let Some(worst) = SLOTS.get(slot) {
                worst.fetch_max(latency, Relaxed);
            }
        });
        if n > 0 {
            r.count.fetch_add(n, Relaxed);
        }
        n
    })
}

/// Deliveries recorded since the last reset, over all threads.
pub fn total() -> u64 {
    RECORDERS
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.count.load(Relaxed))
        .sum()
}

/// Forgets everything recorded so far (before a measured phase), the window included.
pub fn reset() {
    for r in RECORDERS.lock().unwrap().iter() {
        let mut h = r.hist.lock().unwrap();
        h.all.reset();
        h.window.reset();
        r.count.store(0, Relaxed);
    }
    WINDOW_START_NS.store(u64::MAX, Relaxed);
    WINDOW_END_NS.store(u64::MAX, Relaxed);
    WINDOW_PUBLISHED.store(0, Relaxed);
    for slot in &SLOTS {
        slot.store(0, Relaxed);
    }
    PHASE_START_NS.store(now_ns(), Relaxed);
}

/// The `n` 100 ms stretches of send time with the worst latency, worst first: (seconds into
/// the phase, worst latency in ms).
pub fn worst_slots(n: usize) -> Vec<(f64, f64)> {
    let mut slots: Vec<(usize, u64)> = SLOTS
        .iter()
        .map(|s| s.load(Relaxed))
        .enumerate()
        .filter(|&(_, worst)| worst > 0)
        .collect();
    slots.sort_by_key(|&(_, worst)| std::cmp::Reverse(worst));
    slots
        .into_iter()
        .take(n)
        .map(|(i, worst)| (i as f64 * SLOT_NS as f64 / 1e9, worst as f64 / 1e6))
        .collect()
}

/// All threads' histograms merged.
pub fn merged() -> Histogram<u64> {
    let mut all = new_hist();
    for r in RECORDERS.lock().unwrap().iter() {
        all.add(&r.hist.lock().unwrap().all).expect("same bounds");
    }
    all
}

/// From now on, messages sent are also recorded in the window histogram (until `close_window`).
pub fn open_window() {
    WINDOW_END_NS.store(u64::MAX, Relaxed);
    WINDOW_START_NS.store(now_ns(), Relaxed);
}

/// Messages sent from now on are no longer part of the window (those sent before it still are,
/// whenever they arrive).
pub fn close_window() {
    WINDOW_END_NS.store(now_ns(), Relaxed);
}

/// Whether a message stamped `sent_ns` falls in the window; the publisher counts those.
#[inline]
pub fn note_published(sent_ns: u64) {
    let (w0, w1) = (WINDOW_START_NS.load(Relaxed), WINDOW_END_NS.load(Relaxed));
    if (w0..=w1).contains(&sent_ns) {
        WINDOW_PUBLISHED.fetch_add(1, Relaxed);
    }
}

/// Messages the publisher stamped inside the window.
pub fn window_published() -> u64 {
    WINDOW_PUBLISHED.load(Relaxed)
}

/// The window histograms of all threads merged.
pub fn merged_window() -> Histogram<u64> {
    let mut all = new_hist();
    for r in RECORDERS.lock().unwrap().iter() {
        all.add(&r.hist.lock().unwrap().window)
            .expect("same bounds");
    }
    all
}
