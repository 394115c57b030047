//! The streaming buffer: collects streaming patterns or indicators for one flush window,
//! keeping the latest item per (symbol, name) in first-arrival order.
//!
//! Unlike the legacy buffer it never truncates: a batch holds every distinct item of the window,
//! a full buffer is flushed early, and `count` always equals the number of items sent.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use serde::Serialize;

use super::event::{EpochMillis, StreamingIndicator, StreamingPattern};
use super::ids::Symbol;

/// An item the buffer can deduplicate.
pub trait Keyed {
    fn key(&self) -> (&Symbol, &str);
}

impl Keyed for StreamingPattern {
    fn key(&self) -> (&Symbol, &str) {
        (&self.detection.symbol, &self.detection.pattern_type)
    }
}

impl Keyed for StreamingIndicator {
    fn key(&self) -> (&Symbol, &str) {
        (&self.calculation.symbol, &self.calculation.indicator_type)
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BufferCounters {
    pub buffered: u64,
    pub deduplicated: u64,
    pub flushed: u64,
    pub flush_cycles: u64,
    pub largest_batch: u64,
}

impl BufferCounters {
    /// Both buffers' counters together (the largest batch is the larger of the two).
    pub fn plus(self, o: BufferCounters) -> BufferCounters {
        BufferCounters {
            buffered: self.buffered + o.buffered,
            deduplicated: self.deduplicated + o.deduplicated,
            flushed: self.flushed + o.flushed,
            flush_cycles: self.flush_cycles + o.flush_cycles,
            largest_batch: self.largest_batch.max(o.largest_batch),
        }
    }
}

/// Detections already accepted, so the copy of a detection that arrives on both
/// `tickstock:patterns:streaming` and `tickstock:patterns:detected` is sent once even when the
/// two copies fall into different flush windows. A copy has the same symbol, pattern, timestamp
/// and confidence (a revised confidence is news, not a copy); the oldest entries are forgotten
/// beyond `capacity`.
#[derive(Debug)]
pub struct RecentDetections {
    seen: HashSet<DetectionId>,
    order: VecDeque<DetectionId>,
    capacity: usize,
}

type DetectionId = (Symbol, String, EpochMillis, u64);

impl RecentDetections {
    pub fn new(capacity: usize) -> Self {
        RecentDetections {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// True the first time this detection is seen.
    pub fn first_time(&mut self, item: &StreamingPattern) -> bool {
        let d = &item.detection;
        let id = (
            d.symbol.clone(),
            d.pattern_type.clone(),
            d.timestamp,
            d.confidence.to_bits(),
        );
        if !self.seen.insert(id.clone()) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

#[derive(Debug)]
pub struct StreamingBuffer<T> {
    items: Vec<T>,
    index: HashMap<(Symbol, String), usize>,
    /// When the first item of the current window arrived (timing of the batch).
    oldest: Option<Instant>,
    max_items: usize,
    pub counters: BufferCounters,
}

/// What a flush hands out: the items, and when the oldest of them arrived.
#[derive(Debug)]
pub struct Batch<T> {
    pub items: Vec<T>,
    pub oldest: Instant,
}

impl<T: Keyed> StreamingBuffer<T> {
    pub fn new(max_items: usize) -> Self {
        StreamingBuffer {
            items: Vec::new(),
            index: HashMap::new(),
            oldest: None,
            max_items: max_items.max(1),
            counters: Default::default(),
        }
    }

    /// Adds an item received at `received_at`; returns a full batch when the buffer reached its
    /// size limit.
    pub fn push(&mut self, item: T, received_at: Instant) -> Option<Batch<T>> {
        self.oldest.get_or_insert(received_at);
        let (symbol, name) = item.key();
        match self.index.get(&(symbol.clone(), name.to_owned())) {
            Some(&i) => {
                self.items[i] = item;
                self.counters.deduplicated += 1;
                None
            }
            None => {
                let key = (symbol.clone(), name.to_owned());
                self.index.insert(key, self.items.len());
                self.items.push(item);
                self.counters.buffered += 1;
                (self.items.len() >= self.max_items).then(|| self.take())
            }
        }
    }

    /// Empties the buffer for a flush; `None` when there is nothing to send.
    pub fn flush(&mut self) -> Option<Batch<T>> {
        (!self.items.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Batch<T> {
        self.index.clear();
        let items = std::mem::take(&mut self.items);
        self.counters.flush_cycles += 1;
        self.counters.flushed += items.len() as u64;
        self.counters.largest_batch = self.counters.largest_batch.max(items.len() as u64);
        let oldest = self.oldest.take().unwrap_or_else(Instant::now);
        Batch { items, oldest }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// `streaming_patterns_batch` data.
#[derive(Debug, Serialize)]
pub struct PatternsBatch<'a> {
    pub patterns: &'a [StreamingPattern],
    pub count: usize,
    pub timestamp: EpochMillis,
}

/// `streaming_indicators_batch` data.
#[derive(Debug, Serialize)]
pub struct IndicatorsBatch<'a> {
    pub indicators: &'a [StreamingIndicator],
    pub count: usize,
    pub timestamp: EpochMillis,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::Detection;

    fn pattern(symbol: &str, name: &str, confidence: f64) -> StreamingPattern {
        StreamingPattern {
            detection: Detection {
                pattern_type: name.into(),
                symbol: Symbol::new(symbol).unwrap(),
                confidence,
                timestamp: EpochMillis(0),
                timeframe: "1min".into(),
                parameters: Default::default(),
                bar_data: None,
                metadata: None,
                session_id: None,
            },
        }
    }

    #[test]
    fn latest_wins_in_first_arrival_order() {
        let mut buf = StreamingBuffer::new(100);
        let t0 = Instant::now();
        buf.push(pattern("AMZN", "AlwaysDetected", 0.8), t0);
        buf.push(pattern("NVDA", "Doji", 0.7), Instant::now());
        buf.push(pattern("AMZN", "AlwaysDetected", 0.87), Instant::now());
        let Batch {
            items: batch,
            oldest,
        } = buf.flush().unwrap();
        assert_eq!(oldest, t0, "a batch is timed from its first item");
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].detection.symbol.as_str(), "AMZN");
        assert_eq!(batch[0].detection.confidence, 0.87);
        assert_eq!(buf.counters.deduplicated, 1);
        assert!(buf.flush().is_none());
    }

    #[test]
    fn a_detection_seen_on_both_channels_is_accepted_once() {
        let mut recent = RecentDetections::new(2);
        let a = pattern("NVDA", "PriceChange", 0.95);
        assert!(recent.first_time(&a));
        assert!(!recent.first_time(&a.clone()));
        let mut later = a.clone();
        later.detection.timestamp = EpochMillis(1);
        assert!(
            recent.first_time(&later),
            "a new detection of the same pattern is new"
        );
        let revised = pattern("NVDA", "PriceChange", 0.9);
        assert!(
            recent.first_time(&revised),
            "a revised confidence is not a copy"
        );
        assert!(recent.first_time(&a), "forgotten beyond capacity");
    }

    #[test]
    fn full_buffer_flushes_early_and_never_truncates() {
        let mut buf = StreamingBuffer::new(100);
        let mut sent = 0;
        for i in 0..1000 {
            if let Some(batch) = buf.push(pattern(&format!("S{i}"), "Doji", 0.5), Instant::now()) {
                assert_eq!(batch.items.len(), 100);
                sent += batch.items.len();
            }
        }
        sent += buf.flush().map_or(0, |b| b.items.len());
        assert_eq!(sent, 1000);
        assert_eq!(buf.counters.flushed, 1000);
        assert_eq!(buf.counters.largest_batch, 100);
    }
}
