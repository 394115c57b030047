//! A fixed-bucket histogram updated with relaxed atomics, so observing on an actor thread never
//! takes a lock (prometheus-client's own histogram locks a mutex per observation).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, then the overflow (+Inf) bucket.
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum of observations in millionths, so it fits an integer atomic.
    sum_micros: AtomicU64,
}

/// Latency buckets in seconds: 0.5 ms to 5 s.
pub const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Batch size buckets in items.
pub const ITEMS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        let i = self.bounds.partition_point(|b| *b < value);
        self.buckets[i].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_micros
            .fetch_add((value.max(0.0) * 1e6) as u64, Relaxed);
    }

    /// (sum, count, per-bucket counts with their upper bounds, the last one +Inf).
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let bounds = self
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY));
        let buckets = bounds
            .zip(&self.buckets)
            .map(|(b, n)| (b, n.load(Relaxed)))
            .collect();
        (
            self.sum_micros.load(Relaxed) as f64 / 1e6,
            self.count.load(Relaxed),
            buckets,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 1.0, 5.0, 50.0] {
            h.observe(v);
        }
        let (sum, count, buckets) = h.snapshot();
        assert_eq!((sum, count), (56.5, 4));
        assert_eq!(buckets, vec![(1.0, 2), (10.0, 1), (f64::INFINITY, 1)]);
    }
}
