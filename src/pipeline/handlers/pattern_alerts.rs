//! PatternAlerts: batch-tier pattern alerts (filtered per session), streaming patterns and
//! indicators (through the streaming buffer), and indicator alerts.

use std::time::Duration;

use actix::prelude::*;

use super::{Audience, Input, Publisher, HANDLER_QUEUE};
use crate::domain::event::{EpochMillis, StreamingIndicator, StreamingPattern};
use crate::domain::outbound::EventName;
use crate::domain::rooms::{Room, Topic};
use crate::domain::streaming_buffer::{IndicatorsBatch, PatternsBatch, StreamingBuffer};
use crate::pipeline::router::PatternInput;

#[derive(Debug, Clone, Copy)]
pub struct StreamingConfig {
    /// `None` sends each streaming item at once as `streaming_pattern` / `streaming_indicator`.
    pub flush_interval: Option<Duration>,
    pub max_buffer_size: usize,
}

pub struct PatternAlerts {
    publisher: Publisher,
    config: StreamingConfig,
    patterns: StreamingBuffer<StreamingPattern>,
    indicators: StreamingBuffer<StreamingIndicator>,
}

const STREAMING: Audience = Audience::Public(Room::Topic(Topic::Streaming));

impl PatternAlerts {
    pub fn new(publisher: Publisher, config: StreamingConfig) -> Self {
        PatternAlerts {
            publisher,
            config,
            patterns: StreamingBuffer::new(config.max_buffer_size),
            indicators: StreamingBuffer::new(config.max_buffer_size),
        }
    }

    fn send_patterns(&self, batch: Vec<StreamingPattern>) {
        let data = PatternsBatch {
            patterns: &batch,
            count: batch.len(),
            timestamp: EpochMillis::now(),
        };
        self.publisher
            .publish(STREAMING, EventName::StreamingPatternsBatch, &data);
    }

    fn send_indicators(&self, batch: Vec<StreamingIndicator>) {
        let data = IndicatorsBatch {
            indicators: &batch,
            count: batch.len(),
            timestamp: EpochMillis::now(),
        };
        self.publisher
            .publish(STREAMING, EventName::StreamingIndicatorsBatch, &data);
    }

    fn flush(&mut self) {
        if let Some(batch) = self.patterns.flush() {
            self.send_patterns(batch);
        }
        if let Some(batch) = self.indicators.flush() {
            self.send_indicators(batch);
        }
    }
}

impl Actor for PatternAlerts {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(HANDLER_QUEUE);
        if let Some(interval) = self.config.flush_interval {
            ctx.run_interval(interval, |act, _| act.flush());
        }
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.flush();
        Running::Stop
    }
}

/// Sends whatever the buffers hold now (graceful shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

impl Handler<Flush> for PatternAlerts {
    type Result = ();

    fn handle(&mut self, _: Flush, _: &mut Self::Context) {
        self.flush();
    }
}

impl Handler<Input<PatternInput>> for PatternAlerts {
    type Result = ();

    fn handle(&mut self, msg: Input<PatternInput>, _: &mut Self::Context) {
        let buffered = self.config.flush_interval.is_some();
        match msg.item {
            PatternInput::Alert(alert) => {
                let audience = Audience::Public(Room::Topic(Topic::Patterns));
                let key = (&alert).into();
                self.publisher
                    .publish_filtered(audience, EventName::PatternAlert, &alert, key);
            }
            PatternInput::Streaming(item) if buffered => {
                if let Some(batch) = self.patterns.push(item) {
                    self.send_patterns(batch);
                }
            }
            PatternInput::Streaming(item) => {
                self.publisher
                    .publish(STREAMING, EventName::StreamingPattern, &item)
            }
            PatternInput::Indicator(item) if buffered => {
                if let Some(batch) = self.indicators.push(item) {
                    self.send_indicators(batch);
                }
            }
            PatternInput::Indicator(item) => {
                self.publisher
                    .publish(STREAMING, EventName::StreamingIndicator, &item)
            }
            PatternInput::IndicatorAlert(alert) => {
                let audience = Audience::Public(Room::Topic(Topic::Alerts));
                self.publisher
                    .publish(audience, EventName::IndicatorAlert, &alert);
            }
        }
    }
}
