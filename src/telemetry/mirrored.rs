//! Totals another actor owns (the streaming buffers', the per-user caches'), mirrored here
//! whenever they change so `/stats` and `/metrics` can read them from any thread.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde_json::{json, Value};

use crate::domain::streaming_buffer::BufferCounters;
use crate::domain::user_cache::CacheCounters;

/// Totals of the streaming buffers (patterns and indicators together).
#[derive(Default)]
pub struct BufferStats {
    buffered: AtomicU64,
    deduplicated: AtomicU64,
    flushed: AtomicU64,
    flush_cycles: AtomicU64,
    largest_batch: AtomicU64,
}

impl BufferStats {
    pub fn store(&self, c: BufferCounters) {
        self.buffered.store(c.buffered, Relaxed);
        self.deduplicated.store(c.deduplicated, Relaxed);
        self.flushed.store(c.flushed, Relaxed);
        self.flush_cycles.store(c.flush_cycles, Relaxed);
        self.largest_batch.store(c.largest_batch, Relaxed);
    }

    pub fn values(&self) -> BufferCounters {
        BufferCounters {
            buffered: self.buffered.load(Relaxed),
            deduplicated: self.deduplicated.load(Relaxed),
            flushed: self.flushed.load(Relaxed),
            flush_cycles: self.flush_cycles.load(Relaxed),
            largest_batch: self.largest_batch.load(Relaxed),
        }
    }

    /// The `/stats` object: the counters under their own field names.
    pub fn snapshot(&self) -> Value {
        json!(self.values())
    }
}

#[derive(Default)]
pub struct CacheStats {
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    loads: AtomicU64,
}

impl CacheStats {
    pub fn store(&self, c: CacheCounters) {
        self.hits.store(c.hits, Relaxed);
        self.misses.store(c.misses, Relaxed);
        self.invalidations.store(c.invalidations, Relaxed);
        self.loads.store(c.loads, Relaxed);
    }

    pub fn values(&self) -> CacheCounters {
        CacheCounters {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            invalidations: self.invalidations.load(Relaxed),
            loads: self.loads.load(Relaxed),
        }
    }

    /// The `/stats` object: the counters under their own field names.
    pub fn snapshot(&self) -> Value {
        json!(self.values())
    }
}
