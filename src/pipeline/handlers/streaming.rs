//! Streaming: the real-time tier's pattern detections and indicator values, gathered by the
//! streaming buffer into `streaming_*_batch` frames (or sent one by one when the buffer is off),
//! with detections that arrive twice (on two channels) dropped; and indicator alerts.

use std::time::{Duration, Instant};

use super::shell::{Logic, Out, Shell};
use super::Input;
use crate::domain::audience;
use crate::domain::event::{
    EpochMillis, IndicatorAlert, IndicatorUpdate, StreamingIndicator, StreamingPattern,
};
use crate::domain::publication::Publication;
use crate::domain::streaming_buffer::{
    Batch, BufferCounters, IndicatorsBatch, PatternsBatch, RecentDetections, StreamingBuffer,
};
use crate::pipeline::registry::Origin;
use crate::telemetry::events::{StreamingBatchSent, StreamingBufferChanged};
use crate::telemetry::Stats;

/// Detections remembered for cross-channel deduplication.
const RECENT_DETECTIONS: usize = 20_000;

#[derive(Debug, PartialEq)]
pub enum StreamingInput {
    Pattern(StreamingPattern),
    Indicator(StreamingIndicator),
    /// An indicator value of the brief's channel: never buffered.
    IndicatorUpdate(IndicatorUpdate),
    IndicatorAlert(IndicatorAlert),
}

#[derive(Debug, Clone, Copy)]
pub struct StreamingConfig {
    /// `None` sends each streaming item at once as `streaming_pattern` / `streaming_indicator`.
    pub flush_interval: Option<Duration>,
    pub max_buffer_size: usize,
}

/// The Streaming handler: its logic in the common handler actor.
pub type Streaming = Shell<StreamingLogic>;

/// The logic: buffers, deduplication and the batch frames.
pub struct StreamingLogic {
    flush_interval: Option<Duration>,
    patterns: StreamingBuffer<StreamingPattern>,
    indicators: StreamingBuffer<StreamingIndicator>,
    recent: RecentDetections,
    /// Streaming detections dropped as copies of one already accepted (cross-channel).
    duplicates: u64,
    /// Items of each batch sent since the last report, for the batch-size histogram.
    batch_sizes: Vec<usize>,
}

impl StreamingLogic {
    pub fn new(config: StreamingConfig) -> Self {
        StreamingLogic {
            flush_interval: config.flush_interval,
            patterns: StreamingBuffer::new(config.max_buffer_size),
            indicators: StreamingBuffer::new(config.max_buffer_size),
            recent: RecentDetections::new(RECENT_DETECTIONS),
            duplicates: 0,
            batch_sizes: Vec::new(),
        }
    }

    pub fn counters(&self) -> BufferCounters {
        let mut counters = self.patterns.counters.plus(self.indicators.counters);
        counters.deduplicated += self.duplicates;
        counters
    }

    fn patterns_batch(&mut self, batch: Batch<StreamingPattern>) -> (Publication, Origin) {
        self.batch_sizes.push(batch.items.len());
        let data = PatternsBatch {
            patterns: &batch.items,
            count: batch.items.len(),
            timestamp: EpochMillis::now(),
        };
        (
            audience::streaming_patterns(&data),
            batch_origin(batch.oldest),
        )
    }

    fn indicators_batch(&mut self, batch: Batch<StreamingIndicator>) -> (Publication, Origin) {
        self.batch_sizes.push(batch.items.len());
        let data = IndicatorsBatch {
            indicators: &batch.items,
            count: batch.items.len(),
            timestamp: EpochMillis::now(),
        };
        (
            audience::streaming_indicators(&data),
            batch_origin(batch.oldest),
        )
    }
}

impl Logic for StreamingLogic {
    type Item = StreamingInput;

    fn on_event(&mut self, input: Input<StreamingInput>) -> Out {
        let buffered = self.flush_interval.is_some();
        let origin = input.origin();
        match input.item {
            StreamingInput::Pattern(item) if !self.recent.first_time(&item) => {
                self.duplicates += 1;
                vec![]
            }
            StreamingInput::Pattern(item) if buffered => {
                let full = self.patterns.push(item, input.received_at);
                full.map(|b| self.patterns_batch(b)).into_iter().collect()
            }
            StreamingInput::Pattern(item) => vec![(audience::streaming_pattern(&item), origin)],
            StreamingInput::Indicator(item) if buffered => {
                let full = self.indicators.push(item, input.received_at);
                full.map(|b| self.indicators_batch(b)).into_iter().collect()
            }
            StreamingInput::Indicator(item) => {
                vec![(audience::streaming_indicator(&item), origin)]
            }
            StreamingInput::IndicatorUpdate(update) => {
                vec![(audience::indicator_update(&update), origin)]
            }
            StreamingInput::IndicatorAlert(alert) => {
                vec![(audience::indicator_alert(&alert), origin)]
            }
        }
    }

    /// The flush interval elapsed, or the server is shutting down: what the buffers hold.
    fn flush(&mut self) -> Out {
        let patterns = self.patterns.flush().map(|b| self.patterns_batch(b));
        let indicators = self.indicators.flush().map(|b| self.indicators_batch(b));
        patterns.into_iter().chain(indicators).collect()
    }

    fn flush_every(&self) -> Option<Duration> {
        self.flush_interval
    }

    fn report(&mut self, stats: &Stats) {
        for items in self.batch_sizes.drain(..) {
            stats.emit(StreamingBatchSent { items });
        }
        stats.emit(StreamingBufferChanged(self.counters()));
    }
}

/// A batch belongs to no single channel; it is timed from its oldest item.
fn batch_origin(oldest: Instant) -> Origin {
    Origin {
        channel: None,
        received_at: oldest,
        message: None,
        receipt: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{Calculation, Detection};
    use crate::domain::ids::Symbol;
    use crate::domain::stream::{Stream, Topic};
    use crate::telemetry::ChannelId;

    fn pattern(symbol: &str, at: i64) -> StreamingPattern {
        StreamingPattern {
            detection: Detection {
                pattern_type: "Doji".into(),
                symbol: Symbol::new(symbol).unwrap(),
                confidence: 0.8,
                timestamp: EpochMillis(at),
                timeframe: "1min".into(),
                parameters: Default::default(),
                bar_data: None,
                metadata: None,
                session_id: None,
            },
        }
    }

    fn indicator(symbol: &str) -> StreamingIndicator {
        StreamingIndicator {
            calculation: Calculation {
                indicator_type: "RSI".into(),
                symbol: Symbol::new(symbol).unwrap(),
                value: Some(50.0),
                values: Default::default(),
                timestamp: EpochMillis(1),
                timeframe: "1min".into(),
                metadata: None,
                session_id: None,
            },
        }
    }

    fn input(item: StreamingInput) -> Input<StreamingInput> {
        Input {
            channel: ChannelId(3),
            item,
            received_at: Instant::now(),
            message: 0,
            receipt: None,
        }
    }

    fn config(buffered: bool) -> StreamingConfig {
        StreamingConfig {
            flush_interval: buffered.then_some(Duration::from_millis(100)),
            max_buffer_size: 2,
        }
    }

    #[test]
    fn buffered_items_go_out_as_batches_on_flush_or_when_full() {
        let mut logic = StreamingLogic::new(config(true));
        assert!(logic
            .on_event(input(StreamingInput::Pattern(pattern("A", 1))))
            .is_empty());
        let full = logic.on_event(input(StreamingInput::Pattern(pattern("B", 1))));
        assert_eq!(full.len(), 1, "the buffer holds two items");
        let (publication, origin) = &full[0];
        assert_eq!(publication.stream, Stream::Topic(Topic::Streaming));
        assert!(publication
            .frame
            .0
            .contains(r#""event":"streaming_patterns_batch""#));
        assert!(publication.frame.0.contains(r#""count":2"#));
        assert_eq!(origin.channel, None, "a batch belongs to no single channel");
        logic.on_event(input(StreamingInput::Indicator(indicator("A"))));
        let flushed = logic.flush();
        assert_eq!(flushed.len(), 1);
        assert!(flushed[0].0.frame.0.contains("streaming_indicators_batch"));
        assert!(logic.flush().is_empty());
        assert_eq!(logic.batch_sizes, [2, 1]);
    }

    #[test]
    fn indicator_updates_are_sent_at_once_even_with_the_buffer_on() {
        let mut logic = StreamingLogic::new(config(true));
        let update = IndicatorUpdate {
            indicator: "RSI".into(),
            symbol: Symbol::new("AAPL").unwrap(),
            value: Some(65.5),
            values: Default::default(),
            timestamp: EpochMillis(1),
            timeframe: "1min".into(),
            source: None,
            metadata: None,
        };
        let out = logic.on_event(input(StreamingInput::IndicatorUpdate(update.clone())));
        assert_eq!(out.len(), 1);
        assert!(out[0]
            .0
            .frame
            .0
            .starts_with(r#"{"event":"indicator_update","data":{"indicator":"RSI""#));
        assert_eq!(
            logic
                .on_event(input(StreamingInput::IndicatorUpdate(update)))
                .len(),
            1
        );
        assert!(logic.flush().is_empty(), "nothing was buffered");
    }

    #[test]
    fn a_detection_seen_twice_is_sent_once() {
        let mut logic = StreamingLogic::new(config(false));
        let first = logic.on_event(input(StreamingInput::Pattern(pattern("A", 5))));
        assert_eq!(first.len(), 1);
        assert!(first[0]
            .0
            .frame
            .0
            .starts_with(r#"{"event":"streaming_pattern""#));
        assert!(logic
            .on_event(input(StreamingInput::Pattern(pattern("A", 5))))
            .is_empty());
        assert_eq!(logic.counters().deduplicated, 1);
    }

    #[test]
    fn unbuffered_items_and_indicator_alerts_go_at_once_with_their_channel() {
        let mut logic = StreamingLogic::new(config(false));
        let out = logic.on_event(input(StreamingInput::Indicator(indicator("A"))));
        assert_eq!(out[0].1.channel, Some(ChannelId(3)));
        assert!(out[0]
            .0
            .frame
            .0
            .starts_with(r#"{"event":"streaming_indicator""#));
        assert!(logic.flush().is_empty());
    }
}
