//! Message builders: one per channel, with one variant per shape the real producers are known
//! to publish (docs/PRODUCERS.md, per channel, and the fixtures in tests/fixtures/contract/).
//! The caller picks the variant, so every shape is exercised on purpose and each builder is a
//! pure function of its inputs. Shape names such as Phase 5 or Sprint 40 are explained in
//! docs/GLOSSARY.md#producer-history.

use serde_json::{json, Value};
use strum::{IntoStaticStr, VariantArray};

use super::clock::iso8601;
use super::market::{Bar, Indicators, Quote, Trade};

/// The `source` every demo message carries, so nobody mistakes it for real data.
const SOURCE: &str = "demo";
const TIMEFRAME: &str = "1min";
const DETECTION_METHOD: &str = "demo_random_walk";

pub(super) fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

fn epoch(seconds: f64) -> f64 {
    round(seconds, 3)
}

// ---- market data (epoch-second timestamps) ----

pub(super) fn price_update(trade: &Trade, now: f64) -> Value {
    let quote = &trade.quote;
    json!({
        "type": "price_update",
        "symbol": quote.symbol,
        "price": round(quote.price, 2),
        "change": round(quote.change(), 2),
        "change_percent": round(quote.change_percent(), 2),
        "volume": quote.session_volume,
        "timestamp": epoch(now),
        "source": SOURCE,
        "symbol_type": if quote.etf { "ETF" } else { "CS" },
    })
}

pub(super) fn market_tick(trade: &Trade, now: f64) -> Value {
    json!({
        "type": "market_tick",
        "symbol": trade.quote.symbol,
        "price": round(trade.quote.price, 2),
        "volume": trade.size,
        "timestamp": epoch(now),
        "source": SOURCE,
    })
}

/// The pre-Sprint-54 tick shape: `ticker`, not `symbol`.
pub(super) fn tick_data(trade: &Trade, now: f64) -> Value {
    json!({
        "event_type": "tick_data",
        "ticker": trade.quote.symbol,
        "price": round(trade.quote.price, 2),
        "volume": trade.size,
        "timestamp": epoch(now),
        "source": SOURCE,
        "market_status": "REGULAR",
    })
}

/// Flat, as the subscriber reads it, or with the prices nested under `ohlcv{}` as some
/// producers send them.
pub(super) fn ohlcv(symbol: &str, bar: &Bar, nested: bool, now: f64) -> Value {
    let prices = json!({
        "open": round(bar.open, 2),
        "high": round(bar.high, 2),
        "low": round(bar.low, 2),
        "close": round(bar.close, 2),
        "volume": bar.volume,
    });
    let mut message = json!({
        "symbol": symbol,
        "timeframe": TIMEFRAME,
        "timestamp": epoch(now),
        "source": SOURCE,
    });
    if nested {
        message["ohlcv"] = prices;
    } else {
        merge(&mut message, prices);
    }
    message
}

pub(super) fn volume_spike(symbol: &str, current: f64, average: f64, now: f64) -> Value {
    json!({
        "type": "volume_spike",
        "symbol": symbol,
        "timestamp": epoch(now),
        "source": SOURCE,
        "volume_data": {
            "current_volume": current.round() as u64,
            "average_volume": average.round() as u64,
            "spike_multiple": round(current / average, 2),
        },
    })
}

#[derive(Debug, Clone, Copy)]
pub(super) struct MarketSummary {
    pub total_symbols: usize,
    pub symbols_up: usize,
    pub symbols_down: usize,
    pub total_volume: u64,
    /// Percent units, like `change_percent`.
    pub market_cap_change: f64,
}

/// Flat, as the subscriber reads it, or nested under `summary{}` like the Sprint 14 producer.
pub(super) fn market_summary(summary: &MarketSummary, nested: bool, now: f64) -> Value {
    let figures = json!({
        "total_symbols": summary.total_symbols,
        "symbols_up": summary.symbols_up,
        "symbols_down": summary.symbols_down,
        "total_volume": summary.total_volume,
        "market_cap_change": round(summary.market_cap_change, 2),
    });
    let mut message = json!({"type": "market_summary", "timestamp": epoch(now), "source": SOURCE});
    if nested {
        message["summary"] = figures;
    } else {
        merge(&mut message, figures);
    }
    message
}

// ---- pattern detections ----

/// One detected candlestick pattern and the market context it was found in.
#[derive(Debug, Clone, Copy)]
pub(super) struct Detection {
    pub pattern: &'static str,
    /// 0..1.
    pub confidence: f64,
    pub quote: Quote,
    pub bar: Bar,
    /// daily / intraday / combo, the batch engine's tiers.
    pub tier: &'static str,
}

impl Detection {
    fn body_ratio(&self) -> f64 {
        let range = self.bar.high - self.bar.low;
        if range > 0.0 {
            round((self.bar.close - self.bar.open).abs() / range, 4)
        } else {
            0.0
        }
    }

    fn bar_data(&self) -> Value {
        json!({
            "open": round(self.bar.open, 2),
            "high": round(self.bar.high, 2),
            "low": round(self.bar.low, 2),
            "close": round(self.bar.close, 2),
            "volume": self.bar.volume,
        })
    }
}

/// The shapes seen on `tickstock.events.patterns`, lettered as in docs/PRODUCERS.md#patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PatternEventShape {
    /// Shape C, the "exact format required": `data{symbol, pattern, confidence, flow_id, ...}`.
    Canonical,
    /// Shape A: everything at the top level, plus `details{}`.
    Flat,
    /// Shape D: a TickStockPL wrapper around the canonical `data`, giving `data.data`.
    DoubleNested,
    /// Shape E: the Sprint 69 job's flat `pattern_name` with an ISO `detected_at`.
    PatternName,
}

/// `percent` sends the confidence on a 0..100 scale (85 for 0.85), as some producers do.
pub(super) fn pattern_event(
    detection: &Detection,
    shape: PatternEventShape,
    percent: bool,
    flow_id: &str,
    now: f64,
) -> Value {
    let quote = &detection.quote;
    let confidence = if percent {
        (detection.confidence * 100.0).round()
    } else {
        round(detection.confidence, 3)
    };
    let current_price = round(quote.price, 2);
    let price_change = round(quote.change_percent(), 2);
    match shape {
        PatternEventShape::Canonical => json!({
            "event_type": "pattern_detected",
            "source": SOURCE,
            "timestamp": epoch(now),
            "data": {
                "symbol": quote.symbol,
                "pattern": detection.pattern,
                "confidence": confidence,
                "flow_id": flow_id,
                "tier": detection.tier,
                "current_price": current_price,
                "price_change": price_change,
                "volume": quote.session_volume,
                "timestamp": epoch(now),
            },
        }),
        PatternEventShape::Flat => json!({
            "event_type": "pattern_detected",
            "source": SOURCE,
            "timestamp": epoch(now),
            "pattern": detection.pattern,
            "symbol": quote.symbol,
            "confidence": confidence,
            "current_price": current_price,
            "price_change": price_change,
            "details": {"detection_method": DETECTION_METHOD, "tier": detection.tier},
        }),
        PatternEventShape::DoubleNested => json!({
            "event_type": "pattern_detected",
            "source": SOURCE,
            "timestamp": epoch(now),
            "data": {
                "flow_id": flow_id,
                "data": {
                    "symbol": quote.symbol,
                    "pattern": detection.pattern,
                    "confidence": confidence,
                    "tier": detection.tier,
                    "current_price": current_price,
                    "price_change": price_change,
                },
            },
        }),
        PatternEventShape::PatternName => json!({
            "symbol": quote.symbol,
            "pattern_name": detection.pattern,
            "confidence": confidence,
            "timeframe": "daily",
            "detected_at": iso8601(now),
            "metadata": {"job": "demo_pattern_detection", "flow_id": flow_id},
        }),
    }
}

/// The single-detection shapes seen on `tickstock:patterns:streaming`
/// (docs/PRODUCERS.md#streaming-patterns; Phase 5 and Sprint 40 in docs/GLOSSARY.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StreamingShape {
    /// What TickStockPL actually sends: `detection{pattern, ..., parameters{}}`.
    Producer,
    /// The Phase 5 simulator: `event`, `session_id`, `detection{pattern_type, parameters{...}}`.
    Phase5,
    /// The Sprint 40 contract: `detection{pattern_type, bar_data{}, metadata{}}`.
    Sprint40,
}

pub(super) fn streaming_pattern(
    detection: &Detection,
    shape: StreamingShape,
    session_id: &str,
    now: f64,
) -> Value {
    let symbol = detection.quote.symbol;
    let confidence = round(detection.confidence, 3);
    match shape {
        StreamingShape::Producer => json!({
            "type": "streaming_pattern",
            "detection": {
                "pattern": detection.pattern,
                "symbol": symbol,
                "confidence": confidence,
                "timestamp": iso8601(now),
                "parameters": {},
                "timeframe": TIMEFRAME,
            },
        }),
        StreamingShape::Phase5 => json!({
            "event": "pattern_detected",
            "session_id": session_id,
            "timestamp": iso8601(now),
            "detection": {
                "pattern_type": detection.pattern,
                "symbol": symbol,
                "timestamp": iso8601(now),
                "confidence": confidence,
                "parameters": {
                    "open": round(detection.bar.open, 2),
                    "close": round(detection.bar.close, 2),
                    "body_ratio": detection.body_ratio(),
                },
                "timeframe": TIMEFRAME,
            },
        }),
        StreamingShape::Sprint40 => json!({
            "type": "streaming_pattern",
            "detection": {
                "symbol": symbol,
                "pattern_type": detection.pattern,
                "confidence": confidence,
                "timestamp": iso8601(now),
                "timeframe": TIMEFRAME,
                "bar_data": detection.bar_data(),
                "metadata": {"session_id": session_id, "detection_method": DETECTION_METHOD},
            },
        }),
    }
}

/// The batch contract: flat detections under `patterns[]`.
pub(super) fn streaming_patterns_batch(detections: &[Detection], now: f64) -> Value {
    let patterns: Vec<Value> = detections
        .iter()
        .map(|detection| {
            json!({
                "symbol": detection.quote.symbol,
                "pattern_type": detection.pattern,
                "confidence": round(detection.confidence, 3),
                "timestamp": iso8601(now),
                "timeframe": TIMEFRAME,
            })
        })
        .collect();
    json!({
        "type": "streaming_patterns_batch",
        "count": patterns.len(),
        "patterns": patterns,
        "batch_timestamp": iso8601(now),
    })
}

// ---- streaming indicators and their alerts ----

/// The demo cycles through `VARIANTS`; each variant's strum name is the indicator's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, VariantArray, IntoStaticStr)]
pub(super) enum IndicatorKind {
    #[strum(serialize = "RSI")]
    Rsi,
    #[strum(serialize = "SMA5")]
    Sma5,
    #[strum(serialize = "EMA20")]
    Ema20,
    #[strum(serialize = "MACD")]
    Macd,
    BollingerBands,
}

impl IndicatorKind {
    fn name(self) -> &'static str {
        self.into()
    }
}

/// Which field names the indicator: producers disagree (docs/PRODUCERS.md#streaming-indicators).
/// The demo cycles through `VARIANTS`; each variant's strum name is the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, VariantArray, IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub(super) enum NameKey {
    /// TickStockPL and the Sprint 40 contract.
    Indicator,
    /// The Phase 5 doc, which also wraps the message in `event` + `session_id`.
    IndicatorType,
    /// What the debug monitor recognised.
    IndicatorName,
}

impl NameKey {
    fn field(self) -> &'static str {
        self.into()
    }
}

/// Scalar indicators carry `value`, multi-line ones `values{}`, inside `calculation{}`.
pub(super) fn streaming_indicator(
    symbol: &str,
    kind: IndicatorKind,
    reading: &Indicators,
    key: NameKey,
    session_id: &str,
    now: f64,
) -> Value {
    let mut calculation = json!({
        "symbol": symbol,
        key.field(): kind.name(),
        "timestamp": iso8601(now),
        "timeframe": TIMEFRAME,
    });
    match kind {
        IndicatorKind::Rsi => calculation["value"] = json!(round(reading.rsi, 2)),
        IndicatorKind::Sma5 => calculation["value"] = json!(round(reading.sma5, 3)),
        IndicatorKind::Ema20 => calculation["value"] = json!(round(reading.ema20, 3)),
        IndicatorKind::Macd => {
            calculation["values"] = json!({
                "macd": round(reading.macd, 4),
                "signal": round(reading.macd_signal, 4),
                "histogram": round(reading.macd - reading.macd_signal, 4),
            });
        }
        IndicatorKind::BollingerBands => {
            calculation["values"] = json!({
                "upper": round(reading.bollinger_upper, 2),
                "middle": round(reading.bollinger_middle, 2),
                "lower": round(reading.bollinger_lower, 2),
            });
        }
    }
    if kind == IndicatorKind::Rsi && key == NameKey::Indicator {
        calculation["metadata"] =
            json!({"period": 14, "overbought_threshold": 70, "oversold_threshold": 30});
    }
    if key == NameKey::IndicatorType {
        json!({
            "event": "indicator_calculated",
            "session_id": session_id,
            "timestamp": iso8601(now),
            "calculation": calculation,
        })
    } else {
        json!({"type": "streaming_indicator", "calculation": calculation})
    }
}

/// The alert types the producers document (docs/PRODUCERS.md#indicator-alerts); each variant's
/// strum name is its `alert_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, VariantArray, IntoStaticStr)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub(super) enum AlertKind {
    RsiOverbought,
    RsiOversold,
    MacdBullishCross,
    MacdBearishCross,
    BbUpperBreak,
    BbLowerBreak,
}

impl AlertKind {
    fn name(self) -> &'static str {
        self.into()
    }

    /// The indicator, and the key its reading has in the flat shape's `data{}`.
    fn indicator(self) -> (&'static str, &'static str) {
        match self {
            Self::RsiOverbought | Self::RsiOversold => ("RSI", "rsi"),
            Self::MacdBullishCross | Self::MacdBearishCross => ("MACD", "histogram"),
            Self::BbUpperBreak | Self::BbLowerBreak => ("BollingerBands", "price"),
        }
    }

    fn direction(self) -> &'static str {
        match self {
            Self::RsiOverbought | Self::MacdBullishCross | Self::BbUpperBreak => "above",
            Self::RsiOversold | Self::MacdBearishCross | Self::BbLowerBreak => "below",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct IndicatorAlert {
    pub symbol: &'static str,
    pub kind: AlertKind,
    pub value: f64,
    pub threshold: f64,
}

/// Flat (Phase 5, what the legacy code read) or nested under `alert{}` (Sprint 40 contract).
pub(super) fn indicator_alert(
    alert: &IndicatorAlert,
    nested: bool,
    session_id: &str,
    now: f64,
) -> Value {
    let (indicator, data_key) = alert.kind.indicator();
    let value = round(alert.value, 4);
    let threshold = round(alert.threshold, 4);
    if nested {
        json!({
            "type": "indicator_alert",
            "alert": {
                "symbol": alert.symbol,
                "alert_type": alert.kind.name(),
                "timestamp": iso8601(now),
                "data": {
                    "indicator": indicator,
                    "value": value,
                    "threshold": threshold,
                    "direction": alert.kind.direction(),
                },
                "severity": "warning",
            },
        })
    } else {
        json!({
            "alert_type": alert.kind.name(),
            "symbol": alert.symbol,
            "timestamp": iso8601(now),
            "session_id": session_id,
            "data": {data_key: value, "threshold": threshold},
        })
    }
}

// ---- critical alerts ----

const LAG_THRESHOLD_MS: u64 = 1000;
const LAG_COMPONENT: &str = "demo_stream_processor";

/// A processing-lag incident: flat simulator shape or the Sprint 40 `alert{}` contract.
pub(super) fn critical_lag(lag_ms: u64, nested: bool, now: f64) -> Value {
    let message = format!("Processing lag {lag_ms}ms above {LAG_THRESHOLD_MS}ms threshold");
    if nested {
        json!({
            "type": "critical_alert",
            "alert": {
                "severity": "critical",
                "message": message,
                "timestamp": iso8601(now),
                "component": LAG_COMPONENT,
                "action_required": "None: simulated by the demo, recovers by itself",
                "recovery": null,
            },
        })
    } else {
        json!({
            "type": "HIGH_LAG",
            "message": message,
            "severity": "critical",
            "timestamp": iso8601(now),
            "data": {"processing_lag_ms": lag_ms, "threshold_ms": LAG_THRESHOLD_MS},
        })
    }
}

/// The notice that closes a lag incident: same channel, severity "info", a `recovery` text.
pub(super) fn critical_recovery(outage_seconds: f64, nested: bool, now: f64) -> Value {
    let message = "Processing lag back to normal";
    let recovery = format!("Lag back under {LAG_THRESHOLD_MS}ms after {outage_seconds:.0} s");
    if nested {
        json!({
            "type": "critical_alert",
            "alert": {
                "severity": "info",
                "message": message,
                "timestamp": iso8601(now),
                "component": LAG_COMPONENT,
                "action_required": null,
                "recovery": recovery,
            },
        })
    } else {
        json!({
            "type": "HIGH_LAG",
            "message": message,
            "severity": "info",
            "timestamp": iso8601(now),
            "recovery": recovery,
        })
    }
}

// ---- streaming session and health ----

pub(super) fn session_started(session_id: &str, symbol_count: usize, now: f64) -> Value {
    json!({
        "type": "streaming_session_started",
        "session": {
            "session_id": session_id,
            "universe": "demo",
            "started_at": iso8601(now),
            "symbol_count": symbol_count,
            "status": "active",
        },
        "timestamp": iso8601(now),
    })
}

/// What a streaming session did, for its stop notice and health reports.
#[derive(Debug, Clone, Copy)]
pub(super) struct SessionReport<'a> {
    pub session_id: &'a str,
    pub duration_seconds: f64,
    pub patterns_detected: u64,
    pub indicators_calculated: u64,
}

pub(super) fn session_stopped(report: &SessionReport<'_>, now: f64) -> Value {
    json!({
        "type": "streaming_session_stopped",
        "session": {
            "session_id": report.session_id,
            "stopped_at": iso8601(now),
            "duration_seconds": report.duration_seconds.round() as u64,
            "total_patterns": report.patterns_detected,
            "total_indicators": report.indicators_calculated,
            "final_status": "stopped",
        },
        "timestamp": iso8601(now),
    })
}

pub(super) fn streaming_health(
    report: &SessionReport<'_>,
    status: &str,
    active_symbols: usize,
    ticks_per_second: f64,
    now: f64,
) -> Value {
    json!({
        "type": "streaming_health",
        "health": {
            "session_id": report.session_id,
            "status": status,
            "active_symbols": active_symbols,
            "ticks_per_second": round(ticks_per_second, 1),
            "patterns_detected": report.patterns_detected,
            "indicators_calculated": report.indicators_calculated,
            "timestamp": iso8601(now),
        },
        "timestamp": iso8601(now),
    })
}

#[derive(Debug, Clone, Copy)]
pub(super) struct SystemMetrics {
    /// 0..1 fractions, as the backtester reports them.
    pub cpu_usage: f64,
    pub memory_usage: f64,
    pub active_jobs: usize,
    pub queue_depth: u64,
    pub uptime_hours: f64,
}

pub(super) fn system_health(metrics: &SystemMetrics, now: f64) -> Value {
    json!({
        "event_type": "system_health",
        "source": SOURCE,
        "timestamp": epoch(now),
        "status": "healthy",
        "metrics": {
            "cpu_usage": round(metrics.cpu_usage, 2),
            "memory_usage": round(metrics.memory_usage, 2),
            "active_jobs": metrics.active_jobs,
            "queue_depth": metrics.queue_depth,
            "uptime_hours": round(metrics.uptime_hours, 3),
        },
    })
}

// ---- backtests ----

#[derive(Debug, Clone, PartialEq)]
pub(super) struct BacktestProgress<'a> {
    pub job_id: &'a str,
    /// 0..1 fraction; the browser multiplies by 100.
    pub progress: f64,
    /// "processing" while running, "completed" for the final report.
    pub status: &'a str,
    pub current_symbol: &'a str,
    pub processed_symbols: usize,
    pub estimated_completion: f64,
}

pub(super) fn backtest_progress(progress: &BacktestProgress<'_>, now: f64) -> Value {
    json!({
        "event_type": "backtest_progress",
        "source": SOURCE,
        "timestamp": epoch(now),
        "job_id": progress.job_id,
        "progress": round(progress.progress, 3),
        "status": progress.status,
        "current_symbol": progress.current_symbol,
        "processed_symbols": progress.processed_symbols,
        "estimated_completion": epoch(progress.estimated_completion),
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct BacktestResults {
    pub win_rate: f64,
    pub total_trades: u64,
    pub winning_trades: u64,
    /// Fractions (0.12 = +12 %), like the backtester's fixtures.
    pub roi: f64,
    pub sharpe_ratio: f64,
    pub max_drawdown: f64,
    pub duration_days: i64,
}

/// A completed job carries `results{}`; a cancelled one (`results` = None) an empty object.
pub(super) fn backtest_result(
    job_id: &str,
    results: Option<&BacktestResults>,
    processing_seconds: f64,
    now: f64,
) -> Value {
    let (status, results) = match results {
        Some(r) => (
            "completed",
            json!({
                "win_rate": round(r.win_rate, 4),
                "total_trades": r.total_trades,
                "winning_trades": r.winning_trades,
                "roi": round(r.roi, 4),
                "sharpe_ratio": round(r.sharpe_ratio, 2),
                "max_drawdown": round(r.max_drawdown, 4),
                "duration_days": r.duration_days,
            }),
        ),
        None => ("cancelled", json!({})),
    };
    json!({
        "event_type": "backtest_result",
        "source": SOURCE,
        "timestamp": epoch(now),
        "job_id": job_id,
        "status": status,
        "results": results,
        "processing_time_seconds": round(processing_seconds, 2),
    })
}

fn merge(target: &mut Value, fields: Value) {
    if let (Value::Object(target), Value::Object(fields)) = (target, fields) {
        target.extend(fields);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_760_557_168.342;
    const SESSION: &str = "df4f5558-c1d6-496f-9b43-6849a55838aa";

    /// The names producers send (docs/PRODUCERS.md#streaming-indicators, #indicator-alerts), pinned.
    #[test]
    fn indicator_and_alert_names() {
        let names = |v: &[&'static str]| v.join(",");
        let kinds: Vec<_> = IndicatorKind::VARIANTS.iter().map(|k| k.name()).collect();
        assert_eq!(names(&kinds), "RSI,SMA5,EMA20,MACD,BollingerBands");
        let keys: Vec<_> = NameKey::VARIANTS.iter().map(|k| k.field()).collect();
        assert_eq!(names(&keys), "indicator,indicator_type,indicator_name");
        let alerts: Vec<_> = AlertKind::VARIANTS.iter().map(|k| k.name()).collect();
        assert_eq!(
            names(&alerts),
            "RSI_OVERBOUGHT,RSI_OVERSOLD,MACD_BULLISH_CROSS,MACD_BEARISH_CROSS,\
             BB_UPPER_BREAK,BB_LOWER_BREAK"
        );
    }

    fn quote() -> Quote {
        Quote {
            symbol: "NVDA",
            price: 188.4237,
            open: 184.0,
            session_volume: 1_250_000,
            etf: false,
        }
    }

    fn bar() -> Bar {
        Bar {
            open: 188.0,
            high: 188.9,
            low: 187.6,
            close: 188.7,
            volume: 902_311,
        }
    }

    fn detection(confidence: f64) -> Detection {
        Detection {
            pattern: "Engulfing",
            confidence,
            quote: quote(),
            bar: bar(),
            tier: "daily",
        }
    }

    fn has_fields(value: &Value, fields: &[&str]) {
        for field in fields {
            assert!(value.get(field).is_some(), "{field} missing in {value}");
        }
    }

    #[test]
    fn price_and_tick_messages_carry_the_documented_fields() {
        let trade = Trade {
            quote: quote(),
            size: 3400,
        };
        let price = price_update(&trade, NOW);
        has_fields(
            &price,
            &[
                "type",
                "symbol",
                "price",
                "change",
                "change_percent",
                "volume",
                "timestamp",
                "source",
            ],
        );
        assert_eq!(price["price"], 188.42);
        assert_eq!(price["change"], 4.42);
        assert_eq!(price["change_percent"], 2.4);
        assert_eq!(price["volume"], 1_250_000);
        assert_eq!(price["timestamp"], NOW);
        assert_eq!(price["source"], "demo");

        let tick = market_tick(&trade, NOW);
        assert_eq!(tick["type"], "market_tick");
        assert_eq!(tick["volume"], 3400);
        let tick = tick_data(&trade, NOW);
        assert_eq!(tick["ticker"], "NVDA");
        assert_eq!(tick["market_status"], "REGULAR");
        assert!(tick.get("symbol").is_none());
    }

    #[test]
    fn ohlcv_and_summary_come_flat_or_nested() {
        let flat = ohlcv("NVDA", &bar(), false, NOW);
        has_fields(
            &flat,
            &[
                "symbol",
                "timeframe",
                "open",
                "high",
                "low",
                "close",
                "volume",
                "timestamp",
            ],
        );
        let nested = ohlcv("NVDA", &bar(), true, NOW);
        assert!(nested.get("open").is_none());
        assert_eq!(nested["ohlcv"]["close"], 188.7);

        let summary = MarketSummary {
            total_symbols: 12,
            symbols_up: 7,
            symbols_down: 5,
            total_volume: 9,
            market_cap_change: 0.123,
        };
        let flat = market_summary(&summary, false, NOW);
        has_fields(
            &flat,
            &[
                "total_symbols",
                "symbols_up",
                "symbols_down",
                "total_volume",
                "market_cap_change",
            ],
        );
        assert_eq!(
            market_summary(&summary, true, NOW)["summary"]["symbols_up"],
            7
        );

        let spike = volume_spike("TSLA", 4_200_000.0, 1_235_000.0, NOW);
        assert_eq!(spike["volume_data"]["spike_multiple"], 3.4);
        assert_eq!(spike["volume_data"]["average_volume"], 1_235_000);
    }

    #[test]
    fn pattern_events_rotate_through_the_known_shapes() {
        let d = detection(0.876);
        let canonical = pattern_event(&d, PatternEventShape::Canonical, false, "flow", NOW);
        has_fields(&canonical, &["event_type", "source", "timestamp", "data"]);
        has_fields(
            &canonical["data"],
            &[
                "symbol",
                "pattern",
                "confidence",
                "flow_id",
                "tier",
                "current_price",
                "price_change",
            ],
        );
        assert_eq!(canonical["data"]["confidence"], 0.876);

        let flat = pattern_event(&d, PatternEventShape::Flat, true, "flow", NOW);
        assert_eq!(flat["pattern"], "Engulfing");
        assert_eq!(flat["confidence"], 88.0);

        let double = pattern_event(&d, PatternEventShape::DoubleNested, false, "flow", NOW);
        assert_eq!(double["data"]["flow_id"], "flow");
        assert_eq!(double["data"]["data"]["symbol"], "NVDA");

        let old = pattern_event(&d, PatternEventShape::PatternName, false, "flow", NOW);
        assert_eq!(old["pattern_name"], "Engulfing");
        assert!(old.get("pattern").is_none());
        assert_eq!(old["detected_at"], "2025-10-15T19:39:28.342Z");
    }

    #[test]
    fn streaming_patterns_use_detection_wrappers_or_batches() {
        let d = detection(0.85);
        let producer = streaming_pattern(&d, StreamingShape::Producer, SESSION, NOW);
        assert_eq!(producer["type"], "streaming_pattern");
        has_fields(
            &producer["detection"],
            &[
                "pattern",
                "symbol",
                "confidence",
                "timestamp",
                "parameters",
                "timeframe",
            ],
        );
        assert_eq!(
            producer["detection"]["timestamp"],
            "2025-10-15T19:39:28.342Z"
        );

        let phase5 = streaming_pattern(&d, StreamingShape::Phase5, SESSION, NOW);
        assert_eq!(phase5["session_id"], SESSION);
        assert_eq!(phase5["detection"]["pattern_type"], "Engulfing");
        has_fields(
            &phase5["detection"]["parameters"],
            &["open", "close", "body_ratio"],
        );

        let sprint40 = streaming_pattern(&d, StreamingShape::Sprint40, SESSION, NOW);
        has_fields(
            &sprint40["detection"]["bar_data"],
            &["open", "high", "low", "close", "volume"],
        );

        let batch = streaming_patterns_batch(&[d, detection(0.6)], NOW);
        assert_eq!(batch["count"], 2);
        assert_eq!(batch["patterns"][1]["confidence"], 0.6);
        assert_eq!(batch["patterns"][0]["pattern_type"], "Engulfing");
    }

    #[test]
    fn indicators_name_themselves_three_ways() {
        let reading = Indicators {
            price: 188.4,
            rsi: 72.456,
            sma5: 188.1234,
            ema20: 187.9,
            macd: 0.4123,
            macd_signal: 0.3877,
            bollinger_upper: 190.0,
            bollinger_middle: 188.0,
            bollinger_lower: 186.0,
        };
        let rsi = streaming_indicator(
            "NVDA",
            IndicatorKind::Rsi,
            &reading,
            NameKey::Indicator,
            SESSION,
            NOW,
        );
        assert_eq!(rsi["calculation"]["indicator"], "RSI");
        assert_eq!(rsi["calculation"]["value"], 72.46);
        assert_eq!(rsi["calculation"]["metadata"]["overbought_threshold"], 70);

        let macd = streaming_indicator(
            "NVDA",
            IndicatorKind::Macd,
            &reading,
            NameKey::IndicatorType,
            SESSION,
            NOW,
        );
        assert_eq!(macd["event"], "indicator_calculated");
        assert_eq!(macd["calculation"]["indicator_type"], "MACD");
        assert_eq!(macd["calculation"]["values"]["histogram"], 0.0246);

        let bands = streaming_indicator(
            "NVDA",
            IndicatorKind::BollingerBands,
            &reading,
            NameKey::IndicatorName,
            SESSION,
            NOW,
        );
        assert_eq!(bands["type"], "streaming_indicator");
        assert_eq!(bands["calculation"]["indicator_name"], "BollingerBands");
        has_fields(
            &bands["calculation"]["values"],
            &["upper", "middle", "lower"],
        );
        assert!(bands["calculation"].get("value").is_none());
    }

    #[test]
    fn alerts_come_flat_or_nested() {
        let alert = IndicatorAlert {
            symbol: "AAPL",
            kind: AlertKind::RsiOverbought,
            value: 75.5,
            threshold: 70.0,
        };
        let flat = indicator_alert(&alert, false, SESSION, NOW);
        assert_eq!(flat["alert_type"], "RSI_OVERBOUGHT");
        assert_eq!(flat["data"]["rsi"], 75.5);
        let nested = indicator_alert(&alert, true, SESSION, NOW);
        assert_eq!(nested["alert"]["data"]["direction"], "above");
        assert_eq!(nested["alert"]["severity"], "warning");

        assert_eq!(critical_lag(1450, false, NOW)["type"], "HIGH_LAG");
        assert_eq!(
            critical_lag(1450, true, NOW)["alert"]["severity"],
            "critical"
        );
        let recovered = critical_recovery(10.0, true, NOW);
        assert_eq!(recovered["alert"]["severity"], "info");
        assert!(recovered["alert"]["recovery"].is_string());
        assert!(critical_recovery(10.0, false, NOW)["recovery"].is_string());
    }

    #[test]
    fn session_and_health_messages_carry_their_wrappers() {
        let report = SessionReport {
            session_id: SESSION,
            duration_seconds: 12.4,
            patterns_detected: 3,
            indicators_calculated: 9,
        };
        assert_eq!(
            session_started(SESSION, 12, NOW)["session"]["status"],
            "active"
        );
        assert_eq!(
            session_stopped(&report, NOW)["session"]["total_indicators"],
            9
        );
        let health = streaming_health(&report, "healthy", 12, 47.53, NOW);
        has_fields(
            &health["health"],
            &[
                "session_id",
                "status",
                "active_symbols",
                "ticks_per_second",
                "patterns_detected",
                "indicators_calculated",
                "timestamp",
            ],
        );
        assert_eq!(health["health"]["ticks_per_second"], 47.5);

        let metrics = SystemMetrics {
            cpu_usage: 0.3,
            memory_usage: 0.6,
            active_jobs: 2,
            queue_depth: 4,
            uptime_hours: 0.01,
        };
        let system = system_health(&metrics, NOW);
        assert_eq!(system["event_type"], "system_health");
        has_fields(
            &system["metrics"],
            &[
                "cpu_usage",
                "memory_usage",
                "active_jobs",
                "queue_depth",
                "uptime_hours",
            ],
        );
    }

    #[test]
    fn backtest_messages_match_the_fixtures() {
        let progress = BacktestProgress {
            job_id: "backtest_1_ab",
            progress: 0.4567,
            status: "processing",
            current_symbol: "AAPL",
            processed_symbols: 1,
            estimated_completion: NOW + 3.0,
        };
        let message = backtest_progress(&progress, NOW);
        assert_eq!(message["progress"], 0.457);
        has_fields(
            &message,
            &[
                "event_type",
                "source",
                "timestamp",
                "job_id",
                "status",
                "estimated_completion",
            ],
        );

        let results = BacktestResults {
            win_rate: 0.65,
            total_trades: 150,
            winning_trades: 98,
            roi: 0.12,
            sharpe_ratio: 1.8,
            max_drawdown: 0.05,
            duration_days: 252,
        };
        let done = backtest_result("backtest_1_ab", Some(&results), 3.21, NOW);
        assert_eq!(done["status"], "completed");
        assert_eq!(done["results"]["total_trades"], 150);
        let cancelled = backtest_result("backtest_1_ab", None, 1.0, NOW);
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(cancelled["results"], json!({}));
    }
}
