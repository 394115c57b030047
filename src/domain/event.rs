//! The normalised events: what every inbound message becomes, whatever its producer's shape.
//!
//! Each payload struct here *is* the `data` of one outbound WebSocket event: serialising it gives
//! the one documented shape (docs/PROTOCOL.md). Only the fields listed here ever reach a browser,
//! so internal producer fields cannot leak. Optional fields are omitted when the producer did not
//! send them. All timestamps are epoch milliseconds.

use serde::Serialize;
use serde_json::Value;

use super::ids::{JobId, Symbol, UserId};

pub type JsonMap = serde_json::Map<String, Value>;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EpochMillis(pub i64);

impl EpochMillis {
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        EpochMillis(d.as_millis() as i64)
    }
}

/// One normalised inbound event. The variant decides the handler and the outbound event name.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    PatternAlert(PatternAlert),
    StreamingPattern(StreamingPattern),
    StreamingIndicator(StreamingIndicator),
    IndicatorUpdate(IndicatorUpdate),
    IndicatorAlert(IndicatorAlert),
    CriticalAlert(CriticalAlert),
    StreamingSession(StreamingSession),
    StreamingHealth(StreamingHealth),
    SystemHealth(SystemHealth),
    BacktestProgress(BacktestProgress),
    BacktestResult(BacktestResult),
    PriceUpdate(PriceUpdate),
    OhlcvUpdate(OhlcvUpdate),
    MarketSummary(MarketSummary),
    MarketEvent(MarketEvent),
    PreferenceSignal(PreferenceSignal),
    ErrorReport(ErrorReport),
    Monitoring(MonitoringEvent),
    /// `tickstock.all_ticks`: delivered to the symbol's watchers.
    Tick(Tick),
    /// `tickstock:market:ticks`: the raw feed, for admins only.
    AdminTick(Tick),
}

/// `pattern_alert`: a batch/EOD-tier detection from `tickstock.events.patterns`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatternAlert {
    pub pattern: String,
    pub symbol: Symbol,
    /// 0..1 fraction (a producer value in (1, 100] was a percentage).
    pub confidence: f64,
    pub timestamp: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeframe: Option<String>,
    /// What the pattern implies (`reversal`, `bullish`, `bearish`, ...), when the producer says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_change: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<EpochMillis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<JsonMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indicators: Option<JsonMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonMap>,
}

/// One item of `streaming_patterns_batch` (or the data of `streaming_pattern` when unbuffered):
/// `{"type": "streaming_pattern", "detection": {...}}`, the shape browsers already read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "streaming_pattern")]
pub struct StreamingPattern {
    pub detection: Detection,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub pattern_type: String,
    pub symbol: Symbol,
    pub confidence: f64,
    pub timestamp: EpochMillis,
    /// Defaults to `"1min"`.
    pub timeframe: String,
    /// Defaults to `{}`.
    pub parameters: JsonMap,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bar_data: Option<JsonMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// One item of `streaming_indicators_batch` (or `streaming_indicator` when unbuffered).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "streaming_indicator")]
pub struct StreamingIndicator {
    pub calculation: Calculation,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calculation {
    pub indicator_type: String,
    pub symbol: Symbol,
    /// The scalar value, when the producer sent one (the legacy projection lost it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Multi-valued indicators (MACD, Bollinger); `{}` when absent.
    pub values: JsonMap,
    pub timestamp: EpochMillis,
    pub timeframe: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// `indicator_update`: one indicator value from `tickstock.events.indicators`, sent at once to
/// the `streaming` topic (never batched).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndicatorUpdate {
    pub indicator: String,
    pub symbol: Symbol,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Multi-valued indicators (MACD, Bollinger); `{}` when absent.
    pub values: JsonMap,
    pub timestamp: EpochMillis,
    /// Defaults to `"1min"`.
    pub timeframe: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonMap>,
}

/// `indicator_alert`: `{"type": "indicator_alert", "alert": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "indicator_alert")]
pub struct IndicatorAlert {
    pub alert: IndicatorAlertBody,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndicatorAlertBody {
    pub alert_type: String,
    pub symbol: Symbol,
    pub timestamp: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The alert's values (`rsi`, `indicator`, `value`, `threshold`, ...); `{}` when absent.
    pub data: JsonMap,
}

/// `critical_alert`: `{"type": "critical_alert", "alert": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "critical_alert")]
pub struct CriticalAlert {
    pub alert: CriticalAlertBody,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriticalAlertBody {
    /// What happened (`CONNECTION_LOST`, `HIGH_LAG`, ...); `"ALERT"` when the producer gave none.
    #[serde(rename = "type")]
    pub alert_type: String,
    pub message: String,
    /// Defaults to `"critical"`.
    pub severity: String,
    /// True for recovery notices (severity `info`/`ok`/`resolved` or a `recovery` text), which
    /// share the channel and must not be shown as critical.
    pub is_recovery: bool,
    pub timestamp: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_required: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<String>,
    pub data: JsonMap,
}

/// `streaming_session`: `{"type": "streaming_session_started" | "streaming_session_stopped",
/// "session": {...}}`. Both kinds nest under `session` (the legacy stop event was flat).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "session", rename_all = "snake_case")]
pub enum StreamingSession {
    StreamingSessionStarted(StreamingSessionStart),
    StreamingSessionStopped(StreamingSessionStop),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamingSessionStart {
    pub session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub universe: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<EpochMillis>,
    pub symbol_count: u64,
    /// Defaults to `"unknown"`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamingSessionStop {
    pub session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<EpochMillis>,
    pub duration_seconds: f64,
    pub total_patterns: u64,
    pub total_indicators: u64,
    /// From `final_status`, else `status`, else `"unknown"`.
    pub final_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `streaming_health`: `{"type": "streaming_health", "health": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "streaming_health")]
pub struct StreamingHealth {
    pub health: StreamingHealthBody,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamingHealthBody {
    pub timestamp: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    pub status: String,
    pub active_symbols: u64,
    /// Top-level value, else `data_flow.ticks_per_second`, else 0.
    pub ticks_per_second: f64,
    pub patterns_detected: u64,
    pub indicators_calculated: u64,
    pub connection: JsonMap,
    /// Always carries `ticks_per_second`, merged with the producer's `data_flow`.
    pub data_flow: JsonMap,
    /// `resources`, else the Sprint 40 `resource_usage`.
    pub resources: JsonMap,
    pub stale_symbols: JsonMap,
    pub issues: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_status: Option<String>,
}

/// `system_health` from `tickstock.health.status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemHealth {
    /// The producer's `overall_status` or `status` (browsers read `overall_status`).
    pub overall_status: String,
    pub timestamp: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<JsonMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<JsonMap>,
}

/// `backtest_progress`, delivered to the job owner only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestProgress {
    pub job_id: JobId,
    /// 0..1 fraction.
    pub progress: f64,
    /// The producer's status (`processing`, `completed`, ...), default `"processing"`.
    pub status: String,
    pub timestamp: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_symbol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processed_symbols: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_completion: Option<EpochMillis>,
}

/// `backtest_result`, delivered to the job owner only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestResult {
    pub job_id: JobId,
    pub status: BacktestOutcome,
    pub results: JsonMap,
    pub timestamp: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processing_time_seconds: Option<f64>,
}

/// The final state of a backtest. A missing status means completed (legacy default); an
/// unrecognised one is an `invalid_value` drop rather than a silent "failed".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BacktestOutcome {
    Completed,
    Failed,
    Cancelled,
}

/// `dashboard_price_update`: `{"type": "price_update", ...}`, to the symbol's watchers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "price_update")]
pub struct PriceUpdate {
    pub symbol: Symbol,
    pub price: f64,
    /// Default 0.
    pub change: f64,
    /// Percent units (0.2 means 0.2 %); a missing value is 0 and so below any threshold.
    pub change_percent: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<f64>,
    pub timestamp: EpochMillis,
}

/// `dashboard_ohlcv_update`: `{"type": "ohlcv_update", ...}`, to the symbol's watchers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "ohlcv_update")]
pub struct OhlcvUpdate {
    pub symbol: Symbol,
    /// Default `"1min"`.
    pub timeframe: String,
    pub ohlcv: Ohlcv,
    pub timestamp: EpochMillis,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ohlcv {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// `dashboard_market_summary`: `{"type": "market_summary", "summary": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "market_summary")]
pub struct MarketSummary {
    pub summary: MarketSummaryBody,
    pub timestamp: EpochMillis,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarketSummaryBody {
    pub total_symbols: u64,
    pub symbols_up: u64,
    pub symbols_down: u64,
    pub total_volume: f64,
    pub market_cap_change: f64,
}

/// `dashboard_market_event`: one shape per `type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MarketEvent {
    VolumeSpike {
        symbol: Symbol,
        volume_data: JsonMap,
        timestamp: EpochMillis,
    },
    SymbolMetadata {
        symbol: Symbol,
        metadata: JsonMap,
        timestamp: EpochMillis,
    },
    /// A user-facing market alert; with a `user_id` it goes to that user only.
    DashboardAlert {
        alert: DashboardAlertBody,
        #[serde(skip)]
        user_id: Option<UserId>,
        timestamp: EpochMillis,
    },
    DashboardSummary {
        summary: JsonMap,
        timestamp: EpochMillis,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DashboardAlertBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub alert_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<Symbol>,
    pub timestamp: EpochMillis,
    pub show_notification: bool,
}

/// Which of a user's stored preferences changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Preference {
    AlertRules,
    Watchlist,
}

/// `tickstock.dashboard.watchlist` or `tickstock.jobs.alerts`: a user's stored watchlist or
/// alert rules changed, so every instance reads them again (and tells the user's sessions).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreferenceSignal {
    pub user_id: UserId,
    pub what: Preference,
}

/// `system_error` (admin topic) from `tickstock:errors`, validated as the producers' ErrorMessage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorReport {
    pub error_id: String,
    pub source: String,
    pub severity: String,
    pub message: String,
    pub timestamp: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<JsonMap>,
}

/// `monitoring_event` (admin topic) from `tickstock:monitoring`. Two producer families use
/// `event_type` and `event` as the discriminator; both land in `event_type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitoringEvent {
    pub event_type: String,
    pub timestamp: EpochMillis,
    /// The known payload fields (`metrics`, `health_score`, `alert`, `alert_id`, `health`,
    /// `status`, `details`, `payload`) that were present, unchanged.
    pub fields: JsonMap,
}

/// A raw tick: `tick_data` (watchers) or `tick_update` (admins).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tick {
    pub symbol: Symbol,
    pub price: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<f64>,
    pub timestamp: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub market_status: Option<String>,
}

#[cfg(test)]
impl Tick {
    /// A tick of AAPL at 1.0, for tests.
    pub fn sample() -> Tick {
        Tick {
            symbol: Symbol::new("AAPL").unwrap(),
            price: 1.0,
            volume: None,
            timestamp: EpochMillis(0),
            source: None,
            market_status: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kind::EventKind;
    use super::super::normalise::normalise;
    use super::*;

    fn encode(kind: EventKind, payload: &str) -> String {
        let mut out = normalise(kind, payload.as_bytes(), EpochMillis(7));
        assert_eq!(out.len(), 1, "{kind:?}");
        match out.remove(0).unwrap() {
            Event::StreamingPattern(e) => serde_json::to_string(&e),
            Event::StreamingIndicator(e) => serde_json::to_string(&e),
            Event::IndicatorAlert(e) => serde_json::to_string(&e),
            Event::CriticalAlert(e) => serde_json::to_string(&e),
            Event::StreamingHealth(e) => serde_json::to_string(&e),
            Event::PriceUpdate(e) => serde_json::to_string(&e),
            Event::OhlcvUpdate(e) => serde_json::to_string(&e),
            Event::MarketSummary(e) => serde_json::to_string(&e),
            other => panic!("{kind:?} gave {other:?}"),
        }
        .unwrap()
    }

    /// One of each struct that carries a `type` tag, encoded to the exact bytes browsers got
    /// before the tag moved from a hand-set field to `#[serde(tag)]`: tag first, order kept.
    #[test]
    fn tagged_payloads_encode_byte_identical() {
        let cases: [(EventKind, &str, &str); 8] = [
            (
                EventKind::StreamingPattern,
                r#"{"symbol": "AAPL", "pattern": "Doji", "confidence": 0.8, "session_id": "s1"}"#,
                r#"{"type":"streaming_pattern","detection":{"pattern_type":"Doji","symbol":"AAPL","confidence":0.8,"timestamp":7,"timeframe":"1min","parameters":{},"session_id":"s1"}}"#,
            ),
            (
                EventKind::StreamingIndicator,
                r#"{"symbol": "AAPL", "indicator": "RSI", "value": 55.5, "values": {"a": 1}}"#,
                r#"{"type":"streaming_indicator","calculation":{"indicator_type":"RSI","symbol":"AAPL","value":55.5,"values":{"a":1},"timestamp":7,"timeframe":"1min"}}"#,
            ),
            (
                EventKind::IndicatorAlert,
                r#"{"symbol": "AAPL", "alert_type": "RSI_OVERBOUGHT", "severity": "high", "data": {"rsi": 75}}"#,
                r#"{"type":"indicator_alert","alert":{"alert_type":"RSI_OVERBOUGHT","symbol":"AAPL","timestamp":7,"severity":"high","data":{"rsi":75}}}"#,
            ),
            (
                EventKind::CriticalAlert,
                r#"{"type": "critical_alert", "alert": {"type": "HIGH_LAG", "message": "lag", "component": "db"}}"#,
                r#"{"type":"critical_alert","alert":{"type":"HIGH_LAG","message":"lag","severity":"critical","is_recovery":false,"timestamp":7,"component":"db","data":{}}}"#,
            ),
            (
                EventKind::StreamingHealth,
                r#"{"health": {"status": "ok", "active_symbols": 3, "data_flow": {"ticks_per_second": 2.5}, "issues": ["x"]}}"#,
                r#"{"type":"streaming_health","health":{"timestamp":7,"status":"ok","active_symbols":3,"ticks_per_second":2.5,"patterns_detected":0,"indicators_calculated":0,"connection":{},"data_flow":{"ticks_per_second":2.5},"resources":{},"stale_symbols":{},"issues":["x"]}}"#,
            ),
            (
                EventKind::PriceUpdate,
                r#"{"symbol": "AAPL", "price": 190.5, "change": 1.5, "change_percent": 0.8, "volume": 100}"#,
                r#"{"type":"price_update","symbol":"AAPL","price":190.5,"change":1.5,"change_percent":0.8,"volume":100.0,"timestamp":7}"#,
            ),
            (
                EventKind::OhlcvUpdate,
                r#"{"symbol": "AAPL", "ohlcv": {"open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 10}}"#,
                r#"{"type":"ohlcv_update","symbol":"AAPL","timeframe":"1min","ohlcv":{"open":1.0,"high":2.0,"low":0.5,"close":1.5,"volume":10.0},"timestamp":7}"#,
            ),
            (
                EventKind::MarketSummary,
                r#"{"summary": {"total_symbols": 10, "symbols_up": 6, "symbols_down": 4, "total_volume": 1000}}"#,
                r#"{"type":"market_summary","summary":{"total_symbols":10,"symbols_up":6,"symbols_down":4,"total_volume":1000.0,"market_cap_change":0.0},"timestamp":7}"#,
            ),
        ];
        for (kind, payload, expected) in cases {
            assert_eq!(encode(kind, payload), expected, "{kind:?}");
        }
    }
}
