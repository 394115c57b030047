//! The streaming buffer: collects streaming patterns or indicators for one flush window,
//! keeping the latest item per (symbol, name) in first-arrival order.
//!
//! Unlike the legacy buffer it never truncates: a batch holds every distinct item of the window,
//! a full buffer is flushed early, and `count` always equals the number of items sent.

use std::collections::HashMap;

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

#[derive(Debug)]
pub struct StreamingBuffer<T> {
    items: Vec<T>,
    index: HashMap<(Symbol, String), usize>,
    max_items: usize,
    pub counters: BufferCounters,
}

impl<T: Keyed> StreamingBuffer<T> {
    pub fn new(max_items: usize) -> Self {
        StreamingBuffer {
            items: Vec::new(),
            index: HashMap::new(),
            max_items: max_items.max(1),
            counters: Default::default(),
        }
    }

    /// Adds an item; returns a full batch when the buffer reached its size limit.
    pub fn push(&mut self, item: T) -> Option<Vec<T>> {
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
    pub fn flush(&mut self) -> Option<Vec<T>> {
        (!self.items.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Vec<T> {
        self.index.clear();
        let batch = std::mem::take(&mut self.items);
        self.counters.flush_cycles += 1;
        self.counters.flushed += batch.len() as u64;
        self.counters.largest_batch = self.counters.largest_batch.max(batch.len() as u64);
        batch
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
        StreamingPattern::new(Detection {
            pattern_type: name.into(),
            symbol: Symbol::new(symbol).unwrap(),
            confidence,
            timestamp: EpochMillis(0),
            timeframe: "1min".into(),
            parameters: Default::default(),
            bar_data: None,
            metadata: None,
            session_id: None,
        })
    }

    #[test]
    fn latest_wins_in_first_arrival_order() {
        let mut buf = StreamingBuffer::new(100);
        buf.push(pattern("AMZN", "AlwaysDetected", 0.8));
        buf.push(pattern("NVDA", "Doji", 0.7));
        buf.push(pattern("AMZN", "AlwaysDetected", 0.87));
        let batch = buf.flush().unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].detection.symbol.as_str(), "AMZN");
        assert_eq!(batch[0].detection.confidence, 0.87);
        assert_eq!(buf.counters.deduplicated, 1);
        assert!(buf.flush().is_none());
    }

    #[test]
    fn full_buffer_flushes_early_and_never_truncates() {
        let mut buf = StreamingBuffer::new(100);
        let mut sent = 0;
        for i in 0..1000 {
            if let Some(batch) = buf.push(pattern(&format!("S{i}"), "Doji", 0.5)) {
                assert_eq!(batch.len(), 100);
                sent += batch.len();
            }
        }
        sent += buf.flush().map_or(0, |b| b.len());
        assert_eq!(sent, 1000);
        assert_eq!(buf.counters.flushed, 1000);
        assert_eq!(buf.counters.largest_batch, 100);
    }
}
