//! What the demo publishes and when: each stream's cadence scaled to the requested rate, the
//! rotation through the producers' shape variants, the simulated lag incidents, and the session
//! counters that the health messages report. Pure: it turns instants into batches, `mod.rs`
//! sends them.

use crate::domain::alert_rules::CATALOGUE;
use fastrand::Rng;
use strum::VariantArray;

use super::channel;
use super::link::Outbound;
use super::market::{Indicators, Market};
use super::payloads::{
    self, AlertKind, Detection, IndicatorAlert, IndicatorKind, MarketSummary, NameKey,
    PatternEventShape, SessionReport, StreamingShape, SystemMetrics,
};
use super::DemoOptions;

// Shares of `rate` for the market streams. They add up to 1, so `rate` is the market total.
// At the CLI's default rate of 20 over 12 symbols, each symbol gets a bar every ~6 s.
const PRICE_SHARE: f64 = 0.60;
const TICK_SHARE: f64 = 0.25;
const ALL_TICKS_SHARE: f64 = 0.05;
const BAR_SHARE: f64 = 0.10;

/// Engine output per market event. At rate 20 these give a pattern event every ~2 s, 3
/// streaming patterns and 5 indicators a second, and a volume spike every ~10 s. Each has a
/// floor, so a slow demo still shows every kind of event.
const PATTERN_EVENTS: Share = Share {
    of_rate: 0.025,
    at_least: 0.1,
};
const STREAMING_PATTERNS: Share = Share {
    of_rate: 0.15,
    at_least: 0.2,
};
const INDICATORS: Share = Share {
    of_rate: 0.25,
    at_least: 0.5,
};
const VOLUME_SPIKES: Share = Share {
    of_rate: 0.005,
    at_least: 1.0 / 60.0,
};

const SUMMARY_EVERY: f64 = 5.0;
const STREAM_HEALTH_EVERY: f64 = 5.0;
const SYSTEM_HEALTH_EVERY: f64 = 10.0;
/// The router calls a heartbeat fresh when it is under 60 s old.
const HEARTBEAT_EVERY: f64 = 10.0;
/// A lag incident every minute, the first one early enough for a new user to see it.
const LAG_EVERY: f64 = 60.0;
const FIRST_LAG_AFTER: f64 = 30.0;
const LAG_LASTS: f64 = 10.0;
/// Indicator alerts are rare in real life; without these gaps the random walk would cross a
/// threshold every few seconds.
const ALERT_GAP: f64 = 10.0;
const SYMBOL_ALERT_GAP: f64 = 60.0;
/// After a stall longer than this (a suspended laptop, a slow Redis), skip the missed events
/// instead of bursting them all out at once.
const MAX_BACKLOG: f64 = 1.0;

const TIERS: [&str; 3] = ["daily", "intraday", "combo"];
/// Canonical most often, as the contract asks, but every shape keeps coming.
const PATTERN_EVENT_SHAPES: [PatternEventShape; 6] = [
    PatternEventShape::Canonical,
    PatternEventShape::Flat,
    PatternEventShape::Canonical,
    PatternEventShape::DoubleNested,
    PatternEventShape::Canonical,
    PatternEventShape::PatternName,
];
/// Every 4th pattern event sends its confidence as a percentage.
const PERCENT_EVERY: u64 = 4;
/// `None` is a `patterns: [...]` batch message.
const STREAMING_SHAPES: [Option<StreamingShape>; 8] = [
    Some(StreamingShape::Producer),
    Some(StreamingShape::Producer),
    Some(StreamingShape::Phase5),
    Some(StreamingShape::Producer),
    None,
    Some(StreamingShape::Producer),
    Some(StreamingShape::Sprint40),
    Some(StreamingShape::Producer),
];
/// The contract says only these go to `tickstock:patterns:detected` as well.
const HIGH_CONFIDENCE: f64 = 0.8;

struct Share {
    of_rate: f64,
    at_least: f64,
}

impl Share {
    fn per_second(&self, rate: f64) -> f64 {
        (rate * self.of_rate).max(self.at_least)
    }
}

/// When a stream is next due.
struct Cadence {
    interval: f64,
    next_at: f64,
    /// Random streams vary each gap by +-50 % so traffic does not look metronomic.
    jitter: bool,
}

impl Cadence {
    fn per_second(per_second: f64, now: f64) -> Self {
        Self {
            interval: 1.0 / per_second,
            next_at: now,
            jitter: true,
        }
    }

    fn every(interval: f64, first_at: f64) -> Self {
        Self {
            interval,
            next_at: first_at,
            jitter: false,
        }
    }

    /// How many events fell due up to `now`.
    fn due(&mut self, now: f64, rng: &mut Rng) -> usize {
        if now - self.next_at > MAX_BACKLOG {
            self.next_at = now;
        }
        let mut count = 0;
        while self.next_at <= now {
            count += 1;
            let factor = if self.jitter { 0.5 + rng.f64() } else { 1.0 };
            self.next_at += self.interval * factor;
        }
        count
    }
}

/// What a batch contributes to the session's counters once it has reached Redis.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tally {
    pub ticks: u64,
    pub patterns: u64,
    pub indicators: u64,
    pub heartbeat: bool,
}

/// Messages due at one instant.
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub messages: Vec<Outbound>,
    pub tally: Tally,
}

impl Batch {
    fn publish(&mut self, channel: &'static str, payload: serde_json::Value) {
        self.messages.push(Outbound::Publish { channel, payload });
    }
}

/// An ongoing simulated lag incident.
struct Lag {
    started_at: f64,
    nested: bool,
}

pub(super) struct Traffic {
    rng: Rng,
    market: Market,
    session_id: String,
    started_at: f64,
    prices: Cadence,
    ticks: Cadence,
    all_ticks: Cadence,
    bars: Cadence,
    volume_spikes: Cadence,
    pattern_events: Cadence,
    streaming_patterns: Cadence,
    indicators: Cadence,
    summary: Cadence,
    stream_health: Cadence,
    system_health: Cadence,
    heartbeat: Cadence,
    lag_incidents: Cadence,
    lag: Option<Lag>,
    /// Round-robin position of the next OHLCV bar.
    next_bar: usize,
    /// How many messages each rotating stream has sent, to pick its next shape.
    sent_bars: u64,
    sent_summaries: u64,
    sent_pattern_events: u64,
    sent_streaming: u64,
    sent_indicators: u64,
    sent_alerts: u64,
    sent_lags: u64,
    last_alert_at: f64,
    last_symbol_alert_at: Vec<f64>,
    /// Whether each symbol's MACD histogram was last seen positive, to spot crosses.
    macd_positive: Vec<Option<bool>>,
    /// Counters over what reached Redis.
    published: Tally,
    /// A heartbeat whose batch never reached Redis is resent at once: after a Redis restart
    /// the key is gone, and the router would otherwise see no producer for up to 10 s.
    heartbeat_owed: bool,
    window_started_at: f64,
    window_ticks: u64,
}

impl Traffic {
    pub fn new(options: &DemoOptions, now: f64, seed: u64) -> Self {
        let mut rng = Rng::with_seed(seed);
        let rate = options.rate;
        let trade_rate = rate * (PRICE_SHARE + TICK_SHARE + ALL_TICKS_SHARE);
        let market = Market::new(options.symbols, trade_rate, rng.u64(..));
        let symbols = market.count();
        Self {
            session_id: uuid(&mut rng),
            rng,
            market,
            started_at: now,
            prices: Cadence::per_second(rate * PRICE_SHARE, now),
            ticks: Cadence::per_second(rate * TICK_SHARE, now),
            all_ticks: Cadence::per_second(rate * ALL_TICKS_SHARE, now),
            bars: Cadence::per_second(rate * BAR_SHARE, now),
            volume_spikes: Cadence::per_second(VOLUME_SPIKES.per_second(rate), now + 5.0),
            pattern_events: Cadence::per_second(PATTERN_EVENTS.per_second(rate), now),
            streaming_patterns: Cadence::per_second(STREAMING_PATTERNS.per_second(rate), now),
            indicators: Cadence::per_second(INDICATORS.per_second(rate), now),
            summary: Cadence::every(SUMMARY_EVERY, now),
            // The first report waits for a full window of ticks to measure.
            stream_health: Cadence::every(STREAM_HEALTH_EVERY, now + STREAM_HEALTH_EVERY),
            system_health: Cadence::every(SYSTEM_HEALTH_EVERY, now),
            heartbeat: Cadence::every(HEARTBEAT_EVERY, now),
            lag_incidents: Cadence::every(LAG_EVERY, now + FIRST_LAG_AFTER),
            lag: None,
            next_bar: 0,
            sent_bars: 0,
            sent_summaries: 0,
            sent_pattern_events: 0,
            sent_streaming: 0,
            sent_indicators: 0,
            sent_alerts: 0,
            sent_lags: 0,
            last_alert_at: f64::NEG_INFINITY,
            last_symbol_alert_at: vec![f64::NEG_INFINITY; symbols],
            macd_positive: vec![None; symbols],
            published: Tally::default(),
            heartbeat_owed: false,
            window_started_at: now,
            window_ticks: 0,
        }
    }

    pub fn symbols(&self) -> Vec<&'static str> {
        (0..self.market.count())
            .map(|index| self.market.symbol(index))
            .collect()
    }

    /// Announces the streaming session.
    pub fn opening(&self) -> Batch {
        let mut batch = Batch::default();
        let payload =
            payloads::session_started(&self.session_id, self.market.count(), self.started_at);
        batch.publish(channel::STREAMING_SESSION_STARTED, payload);
        batch
    }

    /// Everything due up to `now`. `active_jobs` is the backtester's load, for system health.
    pub fn step(&mut self, now: f64, active_jobs: usize) -> Batch {
        let mut batch = Batch::default();
        self.market_data(now, &mut batch);
        self.pattern_events(now, &mut batch);
        self.streaming_patterns(now, &mut batch);
        self.indicators(now, &mut batch);
        self.lag_incident(now, &mut batch);
        self.status(now, active_jobs, &mut batch);
        batch
    }

    /// Counts a batch that reached Redis, so health reports what was really published.
    pub fn confirm(&mut self, batch: &Batch) {
        self.published.ticks += batch.tally.ticks;
        self.published.patterns += batch.tally.patterns;
        self.published.indicators += batch.tally.indicators;
        self.window_ticks += batch.tally.ticks;
        if batch.tally.heartbeat {
            self.heartbeat_owed = false;
        }
    }

    /// Closes the streaming session.
    pub fn closing(&self, now: f64) -> Batch {
        let mut batch = Batch::default();
        batch.publish(
            channel::STREAMING_SESSION_STOPPED,
            payloads::session_stopped(&self.report(now), now),
        );
        batch
    }

    fn report(&self, now: f64) -> SessionReport<'_> {
        SessionReport {
            session_id: &self.session_id,
            duration_seconds: now - self.started_at,
            patterns_detected: self.published.patterns,
            indicators_calculated: self.published.indicators,
        }
    }

    fn random_symbol(&mut self) -> usize {
        self.rng.usize(..self.market.count())
    }

    fn market_data(&mut self, now: f64, batch: &mut Batch) {
        for _ in 0..self.prices.due(now, &mut self.rng) {
            let index = self.random_symbol();
            batch.publish(
                channel::PRICES,
                payloads::price_update(&self.market.trade(index), now),
            );
            batch.tally.ticks += 1;
        }
        for _ in 0..self.ticks.due(now, &mut self.rng) {
            let index = self.random_symbol();
            batch.publish(
                channel::MARKET_TICKS,
                payloads::market_tick(&self.market.trade(index), now),
            );
            batch.tally.ticks += 1;
        }
        for _ in 0..self.all_ticks.due(now, &mut self.rng) {
            let index = self.random_symbol();
            batch.publish(
                channel::ALL_TICKS,
                payloads::tick_data(&self.market.trade(index), now),
            );
            batch.tally.ticks += 1;
        }
        for _ in 0..self.bars.due(now, &mut self.rng) {
            let index = self.next_bar;
            self.next_bar = (index + 1) % self.market.count();
            let bar = self.market.take_bar(index);
            let nested = self.sent_bars % 4 == 3;
            self.sent_bars += 1;
            batch.publish(
                channel::OHLCV,
                payloads::ohlcv(self.market.symbol(index), &bar, nested, now),
            );
        }
        for _ in 0..self.volume_spikes.due(now, &mut self.rng) {
            let index = self.random_symbol();
            let average = self.market.minute_volume(index);
            let current = average * (2.5 + 3.5 * self.rng.f64());
            batch.publish(
                channel::VOLUME,
                payloads::volume_spike(self.market.symbol(index), current, average, now),
            );
        }
    }

    fn detection(&mut self) -> Detection {
        let index = self.random_symbol();
        Detection {
            pattern: CATALOGUE[self.rng.usize(..CATALOGUE.len())],
            confidence: 0.5 + 0.48 * self.rng.f64(),
            quote: self.market.quote(index),
            bar: self.market.bar(index),
            tier: TIERS[self.rng.usize(..TIERS.len())],
        }
    }

    fn pattern_events(&mut self, now: f64, batch: &mut Batch) {
        for _ in 0..self.pattern_events.due(now, &mut self.rng) {
            let detection = self.detection();
            let count = self.sent_pattern_events;
            self.sent_pattern_events += 1;
            let shape = PATTERN_EVENT_SHAPES[count as usize % PATTERN_EVENT_SHAPES.len()];
            let percent = count % PERCENT_EVERY == PERCENT_EVERY - 1;
            let flow_id = uuid(&mut self.rng);
            let payload = payloads::pattern_event(&detection, shape, percent, &flow_id, now);
            batch.publish(channel::PATTERN_EVENTS, payload);
        }
    }

    fn streaming_patterns(&mut self, now: f64, batch: &mut Batch) {
        for _ in 0..self.streaming_patterns.due(now, &mut self.rng) {
            let shape = STREAMING_SHAPES[self.sent_streaming as usize % STREAMING_SHAPES.len()];
            self.sent_streaming += 1;
            match shape {
                Some(shape) => {
                    let detection = self.detection();
                    let payload =
                        payloads::streaming_pattern(&detection, shape, &self.session_id, now);
                    if detection.confidence >= HIGH_CONFIDENCE {
                        batch.publish(channel::PATTERNS_DETECTED, payload.clone());
                    }
                    batch.publish(channel::STREAMING_PATTERNS, payload);
                    batch.tally.patterns += 1;
                }
                None => {
                    let size = self.rng.usize(2..=4);
                    let detections: Vec<Detection> = (0..size).map(|_| self.detection()).collect();
                    let confident: Vec<Detection> = detections
                        .iter()
                        .filter(|d| d.confidence >= HIGH_CONFIDENCE)
                        .copied()
                        .collect();
                    if !confident.is_empty() {
                        batch.publish(
                            channel::PATTERNS_DETECTED,
                            payloads::streaming_patterns_batch(&confident, now),
                        );
                    }
                    batch.publish(
                        channel::STREAMING_PATTERNS,
                        payloads::streaming_patterns_batch(&detections, now),
                    );
                    batch.tally.patterns += size as u64;
                }
            }
        }
    }

    fn indicators(&mut self, now: f64, batch: &mut Batch) {
        for _ in 0..self.indicators.due(now, &mut self.rng) {
            let count = self.sent_indicators as usize;
            self.sent_indicators += 1;
            let kind = IndicatorKind::VARIANTS[count % IndicatorKind::VARIANTS.len()];
            let key = NameKey::VARIANTS[count % NameKey::VARIANTS.len()];
            let index = self.random_symbol();
            let reading = self.market.indicators(index);
            let symbol = self.market.symbol(index);
            let payload =
                payloads::streaming_indicator(symbol, kind, &reading, key, &self.session_id, now);
            batch.publish(channel::STREAMING_INDICATORS, payload);
            batch.tally.indicators += 1;

            if let Some(alert) = self.crossing(index, kind, &reading, now) {
                let nested = self.sent_alerts % 2 == 1;
                self.sent_alerts += 1;
                batch.publish(
                    channel::INDICATOR_ALERTS,
                    payloads::indicator_alert(&alert, nested, &self.session_id, now),
                );
            }
        }
    }

    /// The alert a reading raises, if any and if the alert gaps allow one now.
    fn crossing(
        &mut self,
        index: usize,
        kind: IndicatorKind,
        reading: &Indicators,
        now: f64,
    ) -> Option<IndicatorAlert> {
        let (alert_kind, value, threshold) = match kind {
            IndicatorKind::Rsi if reading.rsi > 70.0 => {
                (AlertKind::RsiOverbought, reading.rsi, 70.0)
            }
            IndicatorKind::Rsi if reading.rsi < 30.0 => (AlertKind::RsiOversold, reading.rsi, 30.0),
            IndicatorKind::Macd => {
                let histogram = reading.macd - reading.macd_signal;
                let positive = histogram > 0.0;
                let previous = self.macd_positive[index].replace(positive);
                match previous {
                    Some(false) if positive => (AlertKind::MacdBullishCross, histogram, 0.0),
                    Some(true) if !positive => (AlertKind::MacdBearishCross, histogram, 0.0),
                    _ => return None,
                }
            }
            IndicatorKind::BollingerBands if reading.price > reading.bollinger_upper => (
                AlertKind::BbUpperBreak,
                reading.price,
                reading.bollinger_upper,
            ),
            IndicatorKind::BollingerBands if reading.price < reading.bollinger_lower => (
                AlertKind::BbLowerBreak,
                reading.price,
                reading.bollinger_lower,
            ),
            _ => return None,
        };
        if now - self.last_alert_at < ALERT_GAP
            || now - self.last_symbol_alert_at[index] < SYMBOL_ALERT_GAP
        {
            return None;
        }
        self.last_alert_at = now;
        self.last_symbol_alert_at[index] = now;
        Some(IndicatorAlert {
            symbol: self.market.symbol(index),
            kind: alert_kind,
            value,
            threshold,
        })
    }

    fn lag_incident(&mut self, now: f64, batch: &mut Batch) {
        if let Some(lag) = &self.lag {
            if now - lag.started_at >= LAG_LASTS {
                let payload = payloads::critical_recovery(now - lag.started_at, lag.nested, now);
                batch.publish(channel::CRITICAL_ALERTS, payload);
                self.lag = None;
            }
        }
        if self.lag_incidents.due(now, &mut self.rng) > 0 && self.lag.is_none() {
            let nested = self.sent_lags % 2 == 1;
            self.sent_lags += 1;
            let lag_ms = self.rng.u64(1200..=2500);
            batch.publish(
                channel::CRITICAL_ALERTS,
                payloads::critical_lag(lag_ms, nested, now),
            );
            self.lag = Some(Lag {
                started_at: now,
                nested,
            });
        }
    }

    fn status(&mut self, now: f64, active_jobs: usize, batch: &mut Batch) {
        if self.summary.due(now, &mut self.rng) > 0 {
            let mut summary = MarketSummary {
                total_symbols: self.market.count(),
                symbols_up: 0,
                symbols_down: 0,
                total_volume: 0,
                market_cap_change: 0.0,
            };
            for quote in self.market.quotes() {
                summary.symbols_up += usize::from(quote.price > quote.open);
                summary.symbols_down += usize::from(quote.price < quote.open);
                summary.total_volume += quote.session_volume;
                summary.market_cap_change += quote.change_percent() / self.market.count() as f64;
            }
            let nested = self.sent_summaries % 3 == 2;
            self.sent_summaries += 1;
            batch.publish(
                channel::SUMMARY,
                payloads::market_summary(&summary, nested, now),
            );
        }
        if self.stream_health.due(now, &mut self.rng) > 0 {
            let elapsed = (now - self.window_started_at).max(f64::EPSILON);
            let ticks_per_second = self.window_ticks as f64 / elapsed;
            self.window_started_at = now;
            self.window_ticks = 0;
            let status = if self.lag.is_some() {
                "degraded"
            } else {
                "healthy"
            };
            let payload = payloads::streaming_health(
                &self.report(now),
                status,
                self.market.count(),
                ticks_per_second,
                now,
            );
            batch.publish(channel::STREAM_HEALTH, payload);
        }
        if self.system_health.due(now, &mut self.rng) > 0 {
            let metrics = SystemMetrics {
                cpu_usage: 0.2 + 0.25 * self.rng.f64() + 0.05 * active_jobs as f64,
                memory_usage: 0.55 + 0.1 * self.rng.f64(),
                active_jobs,
                queue_depth: self.rng.u64(0..15) + 5 * active_jobs as u64,
                uptime_hours: (now - self.started_at) / 3600.0,
            };
            batch.publish(
                channel::SYSTEM_HEALTH,
                payloads::system_health(&metrics, now),
            );
        }
        if self.heartbeat.due(now, &mut self.rng) > 0 || self.heartbeat_owed {
            batch
                .messages
                .push(Outbound::Heartbeat { epoch_seconds: now });
            batch.tally.heartbeat = true;
            self.heartbeat_owed = true;
        }
    }
}

/// A random (version 4) UUID, the form producers use for `session_id` and `flow_id`.
fn uuid(rng: &mut Rng) -> String {
    let bits = rng.u128(..);
    let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::Value;

    use super::*;

    const START: f64 = 1_760_557_168.0;
    const STEP: f64 = 0.05;

    /// Runs the schedule for `seconds` of simulated time, every batch confirmed.
    fn simulate(rate: f64, seconds: f64) -> (Traffic, Vec<Outbound>) {
        let options = DemoOptions { rate, symbols: 12 };
        let mut traffic = Traffic::new(&options, START, 42);
        let mut sent = traffic.opening().messages;
        let steps = (seconds / STEP) as usize;
        for step in 1..=steps {
            let batch = traffic.step(START + step as f64 * STEP, 0);
            traffic.confirm(&batch);
            sent.extend(batch.messages);
        }
        (traffic, sent)
    }

    fn per_channel(sent: &[Outbound]) -> HashMap<&'static str, Vec<&Value>> {
        let mut channels: HashMap<_, Vec<_>> = HashMap::new();
        for outbound in sent {
            if let Outbound::Publish { channel, payload } = outbound {
                channels.entry(*channel).or_default().push(payload);
            }
        }
        channels
    }

    #[test]
    fn rates_follow_the_requested_rate() {
        let seconds = 120.0;
        let (_, fast) = simulate(200.0, 20.0);
        let fast_prices = per_channel(&fast)[channel::PRICES].len() as f64 / 20.0;
        assert!(
            (108.0..132.0).contains(&fast_prices),
            "{fast_prices} prices/s at rate 200"
        );

        let (_, sent) = simulate(20.0, seconds);
        let channels = per_channel(&sent);
        let rate = |channel: &str| channels.get(channel).map_or(0, Vec::len) as f64 / seconds;
        let market = rate(channel::PRICES)
            + rate(channel::MARKET_TICKS)
            + rate(channel::ALL_TICKS)
            + rate(channel::OHLCV);
        assert!((18.0..22.0).contains(&market), "market events {market}/s");
        assert!(rate(channel::PRICES) > rate(channel::MARKET_TICKS));
        assert!((2.5..3.5).contains(&rate(channel::STREAMING_PATTERNS)));
        assert!((4.5..5.5).contains(&rate(channel::STREAMING_INDICATORS)));
        assert!((0.35..0.65).contains(&rate(channel::PATTERN_EVENTS)));
        let count = |channel: &str| channels[channel].len();
        assert!((24..=25).contains(&count(channel::SUMMARY)));
        assert!((23..=24).contains(&count(channel::STREAM_HEALTH)));
        assert!((12..=13).contains(&count(channel::SYSTEM_HEALTH)));
        assert_eq!(channels[channel::STREAMING_SESSION_STARTED].len(), 1);
        assert!(!channels[channel::VOLUME].is_empty());
        assert!(!channels[channel::INDICATOR_ALERTS].is_empty());
        let heartbeats = sent
            .iter()
            .filter(|o| matches!(o, Outbound::Heartbeat { .. }))
            .count();
        assert!((12..=13).contains(&heartbeats));
    }

    #[test]
    fn every_shape_variant_is_published() {
        let (_, sent) = simulate(20.0, 120.0);
        let channels = per_channel(&sent);
        let patterns = &channels[channel::PATTERN_EVENTS];
        assert!(patterns.iter().any(|p| p["data"]["pattern"].is_string()));
        assert!(patterns
            .iter()
            .any(|p| p["data"]["data"]["pattern"].is_string()));
        assert!(patterns.iter().any(|p| p["pattern"].is_string()));
        assert!(patterns.iter().any(|p| p["pattern_name"].is_string()));
        let confidence = |p: &&Value| {
            [
                &p["confidence"],
                &p["data"]["confidence"],
                &p["data"]["data"]["confidence"],
            ]
            .into_iter()
            .find_map(Value::as_f64)
            .unwrap()
        };
        assert!(patterns.iter().any(|p| confidence(p) > 1.0));
        assert!(patterns
            .iter()
            .all(|p| (0.5..=98.0).contains(&confidence(p))));

        let streaming = &channels[channel::STREAMING_PATTERNS];
        assert!(streaming
            .iter()
            .any(|p| p["detection"]["pattern"].is_string()));
        assert!(streaming
            .iter()
            .any(|p| p["detection"]["pattern_type"].is_string()));
        assert!(streaming
            .iter()
            .any(|p| p["detection"]["bar_data"].is_object()));
        assert!(streaming.iter().any(|p| p["patterns"].is_array()));

        let indicators = &channels[channel::STREAMING_INDICATORS];
        for key in ["indicator", "indicator_type", "indicator_name"] {
            assert!(
                indicators.iter().any(|p| p["calculation"][key].is_string()),
                "{key}"
            );
        }
        assert!(indicators
            .iter()
            .any(|p| p["calculation"]["value"].is_number()));
        assert!(indicators
            .iter()
            .any(|p| p["calculation"]["values"].is_object()));

        let bars = &channels[channel::OHLCV];
        assert!(
            bars.iter().any(|b| b["ohlcv"].is_object())
                && bars.iter().any(|b| b["close"].is_number())
        );
        let summaries = &channels[channel::SUMMARY];
        assert!(summaries.iter().any(|s| s["summary"].is_object()));
    }

    #[test]
    fn only_confident_detections_are_also_published_as_detected() {
        let (_, sent) = simulate(20.0, 60.0);
        let channels = per_channel(&sent);
        let detected = &channels[channel::PATTERNS_DETECTED];
        assert!(!detected.is_empty());
        for message in detected {
            let items: Vec<&Value> = match message["patterns"].as_array() {
                Some(items) => items.iter().collect(),
                None => vec![&message["detection"]],
            };
            for item in items {
                assert!(item["confidence"].as_f64().unwrap() >= HIGH_CONFIDENCE);
            }
        }
        let single_detected = detected.iter().filter(|m| m["detection"].is_object());
        for message in single_detected {
            assert!(channels[channel::STREAMING_PATTERNS].contains(message));
        }
    }

    #[test]
    fn a_lag_incident_is_followed_by_its_recovery() {
        let (_, sent) = simulate(20.0, 105.0);
        let channels = per_channel(&sent);
        let critical = &channels[channel::CRITICAL_ALERTS];
        let severity = |m: &Value| {
            m["severity"]
                .as_str()
                .or(m["alert"]["severity"].as_str())
                .map(str::to_owned)
        };
        let severities: Vec<_> = critical.iter().filter_map(|m| severity(m)).collect();
        assert_eq!(severities, ["critical", "info", "critical", "info"]);
        let health = &channels[channel::STREAM_HEALTH];
        assert!(health.iter().any(|h| h["health"]["status"] == "degraded"));
        assert!(health.iter().any(|h| h["health"]["status"] == "healthy"));
    }

    #[test]
    fn health_reports_what_was_published() {
        let options = DemoOptions {
            rate: 20.0,
            symbols: 12,
        };
        let mut traffic = Traffic::new(&options, START, 1);
        let mut health = Vec::new();
        for step in 1..=210 {
            let now = START + f64::from(step) * STEP;
            let batch = traffic.step(now, 0);
            // Redis goes "down" at 5 s, when the first report is due: nothing more is confirmed.
            if step < 100 {
                traffic.confirm(&batch);
            }
            health.extend(batch.messages.into_iter().filter_map(|o| match o {
                Outbound::Publish {
                    channel: channel::STREAM_HEALTH,
                    payload,
                } => Some(payload),
                _ => None,
            }));
        }
        let tps: Vec<f64> = health
            .iter()
            .map(|h| h["health"]["ticks_per_second"].as_f64().unwrap())
            .collect();
        assert_eq!(tps.len(), 2);
        assert!((15.0..21.0).contains(&tps[0]), "{tps:?}");
        assert_eq!(tps[1], 0.0);
        let stopped = traffic.closing(START + 10.0);
        let Outbound::Publish { payload, .. } = &stopped.messages[0] else {
            panic!()
        };
        assert_eq!(
            payload["session"]["total_indicators"],
            health[0]["health"]["indicators_calculated"]
        );
    }

    #[test]
    fn a_lost_heartbeat_is_resent_until_it_lands() {
        let mut traffic = Traffic::new(&DemoOptions::default(), START, 5);
        let has_heartbeat = |batch: &Batch| {
            batch
                .messages
                .iter()
                .any(|o| matches!(o, Outbound::Heartbeat { .. }))
        };
        let first = traffic.step(START + STEP, 0);
        assert!(has_heartbeat(&first));
        let retried = traffic.step(START + 2.0 * STEP, 0);
        assert!(has_heartbeat(&retried));
        traffic.confirm(&retried);
        assert!(!has_heartbeat(&traffic.step(START + 3.0 * STEP, 0)));
    }

    #[test]
    fn a_stall_does_not_burst_the_backlog() {
        let options = DemoOptions {
            rate: 20.0,
            symbols: 12,
        };
        let mut traffic = Traffic::new(&options, START, 3);
        traffic.step(START, 0);
        let burst = traffic.step(START + 60.0, 0);
        let prices = burst
            .messages
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Outbound::Publish {
                        channel: channel::PRICES,
                        ..
                    }
                )
            })
            .count();
        assert!(prices < 5, "{prices} price updates after a stall");
    }

    #[test]
    fn slow_demos_still_show_engine_events() {
        let (_, sent) = simulate(1.0, 60.0);
        let channels = per_channel(&sent);
        assert!(channels[channel::STREAMING_PATTERNS].len() >= 6);
        assert!(channels[channel::STREAMING_INDICATORS].len() >= 20);
        assert!(channels[channel::PATTERN_EVENTS].len() >= 3);
    }

    #[test]
    fn uuids_are_version_4() {
        let mut rng = Rng::with_seed(9);
        let id = uuid(&mut rng);
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, uuid(&mut rng));
    }
}
