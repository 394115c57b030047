//! The expected outcome of every contract fixture case, keyed by (channel, case name).

use super::super::drop::DropReason;
use crate::domain::redis_names::channel::*;

/// 2025-10-15T19:39:28.342Z, the fixtures' usual epoch-seconds timestamp.
const T0: i64 = 1_760_557_168_342;
/// 2025-10-15T19:39:28.339Z, their usual ISO timestamp.
const T_ISO: i64 = 1_760_557_168_339;
const SESSION: &str = "df4f5558-c1d6-496f-9b43-6849a55838aa";
const JOB: &str = "backtest_1760556900_9f3a1c2e";

/// A check at a JSON pointer into `[{"event": <variant>, "data": <payload>}, ...]`.
#[derive(Debug)]
pub(super) enum Val {
    S(&'static str),
    F(f64),
    I(i64),
    B(bool),
    Absent,
    Len(usize),
    /// The compact serialisation of the value does not contain this text.
    NotIn(&'static str),
}

#[derive(Debug)]
pub(super) enum Expect {
    Dropped(DropReason),
    Events(usize, &'static [(&'static str, Val)]),
}

use DropReason as R;
use Expect::{Dropped, Events};
use Val::{Absent, Len, NotIn, B, F, I, S};

#[rustfmt::skip]
pub(super) const TABLE: &[(&str, &str, Expect)] = &[
    (PATTERN_EVENTS, "canonical_single_nested", Events(1, &[
        ("/0/event", S("PatternAlert")), ("/0/data/symbol", S("NVDA")),
        ("/0/data/pattern", S("Engulfing")), ("/0/data/confidence", F(0.88)),
        ("/0/data/flow_id", S("3f9c2a1e-7b4d-4c8e-9a51-0d2e6f1b7c44")),
        ("/0/data/tier", S("daily")), ("/0/data/current_price", F(188.42)),
        ("/0/data/volume", F(1_250_000.0)), ("/0/data/timestamp", I(T0 - 400)),
        ("/0/data/source", S("TickStockPL"))])),
    (PATTERN_EVENTS, "brief_flat_with_direction", Events(1, &[
        ("/0/data/pattern", S("Doji")), ("/0/data/symbol", S("AAPL")),
        ("/0/data/direction", S("reversal")), ("/0/data/confidence", F(0.85)),
        ("/0/data/timeframe", S("1min")), ("/0/data/source", S("tickstock_pl")),
        ("/0/data/metadata/price", F(150.25)), ("/0/data/timestamp", I(T0)),
        ("/0/data/event_type", Absent)])),
    (PATTERN_EVENTS, "flat_sprint10_test_shape", Events(1, &[
        ("/0/data/pattern", S("Doji")), ("/0/data/symbol", S("AAPL")),
        ("/0/data/confidence", F(0.85)), ("/0/data/details/detection_method", S("ML_model_v2")),
        ("/0/data/timestamp", I(T0))])),
    (PATTERN_EVENTS, "flat_with_cache_fields_tier_in_source", Events(1, &[
        ("/0/data/symbol", S("GOOGL")), ("/0/data/pattern", S("Hammer")),
        ("/0/data/confidence", F(0.78)), ("/0/data/source", S("intraday")),
        ("/0/data/expires_at", I(1_760_558_968_342)), ("/0/data/indicators/rsi", F(45.0)),
        ("/0/data/price_change", F(-0.8))])),
    (PATTERN_EVENTS, "double_nested_data_data", Events(1, &[
        ("/0/data/symbol", S("TSLA")), ("/0/data/pattern", S("MorningStar")),
        ("/0/data/confidence", F(0.91)), ("/0/data/tier", S("combo")),
        ("/0/data/flow_id", S("a2b7e0c4-11f3-4d7a-8c0e-55e9d3f2a190")),
        ("/0/data/source", S("TickStockPL")), ("/0/data/timestamp", I(T0))])),
    (PATTERN_EVENTS, "old_field_pattern_name_sprint69_job", Events(1, &[
        ("/0/data/symbol", S("MSFT")), ("/0/data/pattern", S("Hammer")),
        ("/0/data/timeframe", S("daily")), ("/0/data/timestamp", I(1_760_558_700_000)),
        ("/0/data/metadata/job", S("daily_pattern_detection"))])),
    (PATTERN_EVENTS, "fallback_detector_shape", Events(1, &[
        ("/0/data/pattern", S("High_Volume_Surge")), ("/0/data/confidence", F(0.67)),
        ("/0/data/source", S("fallback")), ("/0/data/indicators/volume", F(8_800_000.0))])),
    (PATTERN_EVENTS, "pattern_expired_event_type", Dropped(R::NotAnEvent)),
    (PATTERN_EVENTS, "triple_nested", Events(1, &[
        ("/0/data/symbol", S("META")), ("/0/data/pattern", S("Doji")),
        ("/0/data/confidence", F(0.8))])),
    (PATTERN_EVENTS, "missing_symbol", Dropped(R::MissingSymbol)),
    (PATTERN_EVENTS, "missing_pattern_name", Dropped(R::MissingName)),
    (PATTERN_EVENTS, "legacy_doc_ticker_and_pattern_type", Events(1, &[
        ("/0/data/symbol", S("AAPL")), ("/0/data/pattern", S("price_movement")),
        ("/0/data/confidence", F(0.85))])),
    (PATTERN_EVENTS, "startup_validator_probe", Dropped(R::Probe)),
    (PATTERN_EVENTS, "health_endpoint_probe", Dropped(R::Probe)),
    (PATTERN_EVENTS, "unknown_and_sensitive_extra_fields", Events(1, &[
        ("/0/data/symbol", S("AAPL")), ("/0/data/timeframe", S("Daily")),
        ("/0/data", NotIn("internal_user_id")), ("/0/data", NotIn("sensitive_123")),
        ("/0/data", NotIn("database_query")), ("/0/data", NotIn("SELECT")),
        ("/0/data", NotIn("api_secret")), ("/0/data", NotIn("secret_key_456")),
        ("/0/data", NotIn("experimental_score"))])),
    (PATTERN_EVENTS, "confidence_percent_scale", Events(1, &[
        ("/0/data/symbol", S("AMZN")), ("/0/data/confidence", F(0.85))])),
    (PATTERN_EVENTS, "confidence_missing_defaults_zero", Events(1, &[
        ("/0/data/pattern", S("Harami")), ("/0/data/confidence", F(0.0))])),
    (PATTERN_EVENTS, "data_is_a_string", Dropped(R::NotAnObject)),
    (PATTERN_EVENTS, "json_array_not_object", Dropped(R::NotAnObject)),
    (PATTERN_EVENTS, "invalid_json_truncated", Dropped(R::InvalidJson)),
    (PATTERN_EVENTS, "python_repr_not_json", Dropped(R::InvalidJson)),

    (BACKTEST_PROGRESS, "canonical_progress", Events(1, &[
        ("/0/event", S("BacktestProgress")), ("/0/data/job_id", S(JOB)),
        ("/0/data/progress", F(0.45)), ("/0/data/status", S("processing")),
        ("/0/data/current_symbol", S("AAPL")), ("/0/data/processed_symbols", I(45)),
        ("/0/data/estimated_completion", I(1_760_557_333_342)), ("/0/data/timestamp", I(T0))])),
    (BACKTEST_PROGRESS, "progress_complete", Events(1, &[
        ("/0/data/progress", F(1.0)), ("/0/data/status", S("completed"))])),
    (BACKTEST_PROGRESS, "missing_job_id", Dropped(R::MissingJobId)),
    // The owner lookup (and its `unknown_job` drop) happens downstream.
    (BACKTEST_PROGRESS, "unknown_job_id", Events(1, &[
        ("/0/data/job_id", S("backtest_1700000000_deadbeef")), ("/0/data/progress", F(0.2))])),
    (BACKTEST_PROGRESS, "progress_as_percent_number", Events(1, &[("/0/data/progress", F(0.45))])),
    (BACKTEST_PROGRESS, "progress_as_string", Dropped(R::InvalidValue)),
    (BACKTEST_PROGRESS, "startup_validator_probe", Dropped(R::Probe)),
    (BACKTEST_PROGRESS, "health_endpoint_probe", Dropped(R::Probe)),
    (BACKTEST_PROGRESS, "invalid_json", Dropped(R::InvalidJson)),

    (BACKTEST_RESULTS, "completed_with_results", Events(1, &[
        ("/0/event", S("BacktestResult")), ("/0/data/status", S("completed")),
        ("/0/data/results/win_rate", F(0.65)), ("/0/data/results/duration_days", I(252)),
        ("/0/data/processing_time_seconds", F(45.2)), ("/0/data/error_message", Absent)])),
    (BACKTEST_RESULTS, "failed_with_error", Events(1, &[
        ("/0/data/status", S("failed")), ("/0/data/job_id", S("backtest_1760557000_1b2c3d4e")),
        ("/0/data/error_message",
         S("No OHLCV data for symbol XYZQ in range 2020-01-01..2020-12-31")),
        ("/0/data/results", Len(0))])),
    (BACKTEST_RESULTS, "cancelled_status", Events(1, &[("/0/data/status", S("cancelled"))])),
    (BACKTEST_RESULTS, "missing_status_defaults_completed", Events(1, &[
        ("/0/data/status", S("completed")), ("/0/data/results/roi", F(0.02))])),
    (BACKTEST_RESULTS, "missing_job_id", Dropped(R::MissingJobId)),
    (BACKTEST_RESULTS, "startup_validator_probe", Dropped(R::Probe)),
    (BACKTEST_RESULTS, "invalid_json", Dropped(R::InvalidJson)),

    (SYSTEM_HEALTH, "healthy_with_metrics", Events(1, &[
        ("/0/event", S("SystemHealth")), ("/0/data/overall_status", S("healthy")),
        ("/0/data/metrics/uptime_hours", F(72.5)), ("/0/data/source", S("tickstock_pl")),
        ("/0/data/status", Absent)])),
    (SYSTEM_HEALTH, "degraded", Events(1, &[("/0/data/overall_status", S("degraded"))])),
    (SYSTEM_HEALTH, "overall_status_shape_browser_expects", Events(1, &[
        ("/0/data/overall_status", S("healthy")),
        ("/0/data/components/backtester", S("degraded"))])),
    (SYSTEM_HEALTH, "health_endpoint_probe", Dropped(R::Probe)),
    (SYSTEM_HEALTH, "startup_validator_probe", Dropped(R::Probe)),
    (SYSTEM_HEALTH, "invalid_json", Dropped(R::InvalidJson)),
    (SYSTEM_HEALTH, "json_string_literal_not_object", Dropped(R::NotAnObject)),

    (SYSTEM_HEALTH_EVENTS, "brief_flat_system_health", Events(1, &[
        ("/0/event", S("SystemHealth")), ("/0/data/overall_status", S("warning")),
        ("/0/data/components/redis", S("warning")), ("/0/data/timestamp", I(T0))])),
    (SYSTEM_HEALTH_EVENTS, "startup_validator_probe", Dropped(R::Probe)),
    (SYSTEM_HEALTH_EVENTS, "json_array_not_object", Dropped(R::NotAnObject)),

    (INDICATOR_EVENTS, "brief_flat_indicator_calculated", Events(1, &[
        ("/0/event", S("IndicatorUpdate")), ("/0/data/indicator", S("RSI")),
        ("/0/data/symbol", S("AAPL")), ("/0/data/value", F(65.5)),
        ("/0/data/values", Len(0)), ("/0/data/timeframe", S("1min")),
        ("/0/data/source", S("tickstock_pl")), ("/0/data/metadata/period", I(14)),
        ("/0/data/timestamp", I(T0)), ("/0/data/event_type", Absent)])),
    (INDICATOR_EVENTS, "multi_valued_nested_in_data", Events(1, &[
        ("/0/data/indicator", S("MACD")), ("/0/data/symbol", S("MSFT")),
        ("/0/data/values/signal", F(0.9)), ("/0/data/value", Absent),
        ("/0/data/timeframe", S("1min")), ("/0/data/timestamp", I(T_ISO))])),
    (INDICATOR_EVENTS, "missing_symbol", Dropped(R::MissingSymbol)),
    (INDICATOR_EVENTS, "startup_validator_probe", Dropped(R::Probe)),
    (INDICATOR_EVENTS, "invalid_json", Dropped(R::InvalidJson)),

    (STREAMING_SESSION_STARTED, "sprint40_contract", Events(1, &[
        ("/0/event", S("StreamingSession")), ("/0/data/type", S("streaming_session_started")),
        ("/0/data/session/session_id", S(SESSION)),
        ("/0/data/session/universe", S("market_leaders:top_500")),
        ("/0/data/session/start_time", I(1_760_535_000_000)),
        ("/0/data/session/symbol_count", I(500)), ("/0/data/session/status", S("active"))])),
    (STREAMING_SESSION_STARTED, "alias_keys_inside_session", Events(1, &[
        ("/0/data/session/universe", S("nasdaq100")),
        ("/0/data/session/start_time", I(1_760_535_000_000)),
        ("/0/data/session/symbol_count", I(102)), ("/0/data/session/status", S("unknown"))])),
    (STREAMING_SESSION_STARTED, "phase5_data_wrapper", Events(1, &[
        ("/0/data/session/session_id", S(SESSION)),
        ("/0/data/session/universe", S("market_leaders:top_500")),
        ("/0/data/session/trigger_type", S("scheduled")),
        ("/0/data/session/symbol_count", I(0))])),
    (STREAMING_SESSION_STARTED, "missing_session_id", Dropped(R::MissingField)),
    (STREAMING_SESSION_STARTED, "invalid_json", Dropped(R::InvalidJson)),

    (STREAMING_SESSION_STOPPED, "sprint40_contract", Events(1, &[
        ("/0/data/type", S("streaming_session_stopped")),
        ("/0/data/session/session_id", S(SESSION)),
        ("/0/data/session/stopped_at", I(1_760_558_400_000)),
        ("/0/data/session/duration_seconds", F(23400.0)),
        ("/0/data/session/total_patterns", I(1250)),
        ("/0/data/session/total_indicators", I(45000)),
        ("/0/data/session/final_status", S("completed"))])),
    (STREAMING_SESSION_STOPPED, "flat_no_wrapper", Events(1, &[
        ("/0/data/session/final_status", S("stopped")),
        ("/0/data/session/total_patterns", I(1250))])),
    (STREAMING_SESSION_STOPPED, "phase5_data_wrapper", Events(1, &[
        ("/0/data/session/session_id", S(SESSION)),
        ("/0/data/session/stopped_at", I(1_760_558_400_000)),
        ("/0/data/session/reason", S("market_close")),
        ("/0/data/session/final_status", S("unknown"))])),
    (STREAMING_SESSION_STOPPED, "mock_status_not_final_status", Events(1, &[
        ("/0/data/session/final_status", S("completed")),
        ("/0/data/session/duration_seconds", F(0.0))])),
    (STREAMING_SESSION_STOPPED, "invalid_json", Dropped(R::InvalidJson)),

    (STREAM_HEALTH, "sprint40_nested_health", Events(1, &[
        ("/0/event", S("StreamingHealth")), ("/0/data/type", S("streaming_health")),
        ("/0/data/health/status", S("healthy")), ("/0/data/health/session_id", S(SESSION)),
        ("/0/data/health/active_symbols", I(70)), ("/0/data/health/ticks_per_second", F(53.1)),
        ("/0/data/health/patterns_detected", I(12)),
        ("/0/data/health/indicators_calculated", I(840)),
        ("/0/data/health/data_flow/ticks_per_second", F(53.1)),
        ("/0/data/health/connection", Len(0)), ("/0/data/health/issues", Len(0)),
        ("/0/data/health/timestamp", I(1_760_561_711_000))])),
    (STREAM_HEALTH, "phase5_flat_with_issues", Events(1, &[
        ("/0/data/health/status", S("warning")), ("/0/data/health/issues", Len(1)),
        ("/0/data/health/issues/0", S("Processing lag above threshold: 250ms")),
        ("/0/data/health/ticks_per_second", F(850.0)),
        ("/0/data/health/data_flow/ticks_per_second", F(850.0)),
        ("/0/data/health/data_flow/processing_lag_ms", I(250)),
        ("/0/data/health/resources/cpu_percent", F(32.5)),
        ("/0/data/health/connection/active", I(1)),
        ("/0/data/health/stale_symbols/count", I(0)),
        ("/0/data/health/active_symbols", I(487)),
        ("/0/data/health/timestamp", I(1_760_538_600_000))])),
    (STREAM_HEALTH, "sprint40_requirement_variant", Events(1, &[
        ("/0/data/health/status", S("critical")),
        ("/0/data/health/connection_status", S("reconnecting")),
        ("/0/data/health/resources/threads_active", I(8)), ("/0/data/health/issues", Len(2)),
        ("/0/data/health/ticks_per_second", F(0.0)),
        ("/0/data/health/timestamp", I(1_760_541_000_000))])),
    (STREAM_HEALTH, "mock_health_update", Events(1, &[
        ("/0/data/health/status", S("healthy")), ("/0/data/health/active_symbols", I(8)),
        ("/0/data/health/ticks_per_second", F(312.0)), ("/0/data/health/issues", Len(0)),
        ("/0/data/health/timestamp", I(T_ISO))])),
    (STREAM_HEALTH, "health_null", Dropped(R::InvalidValue)),
    (STREAM_HEALTH, "invalid_json", Dropped(R::InvalidJson)),

    (STREAMING_PATTERNS, "real_producer_pattern_field", Events(1, &[
        ("/0/event", S("StreamingPattern")), ("/0/data/type", S("streaming_pattern")),
        ("/0/data/detection/pattern_type", S("AlwaysDetected")),
        ("/0/data/detection/symbol", S("NVDA")), ("/0/data/detection/confidence", F(0.85)),
        ("/0/data/detection/timestamp", I(T_ISO)), ("/0/data/detection/parameters", Len(0)),
        ("/0/data/detection/timeframe", S("1min"))])),
    (STREAMING_PATTERNS, "phase5_pattern_type_field", Events(1, &[
        ("/0/data/detection/pattern_type", S("Doji")), ("/0/data/detection/symbol", S("AAPL")),
        ("/0/data/detection/confidence", F(0.853)), ("/0/data/detection/parameters", Len(3)),
        ("/0/data/detection/session_id", S(SESSION)),
        ("/0/data/detection/timestamp", I(1_760_557_140_000))])),
    (STREAMING_PATTERNS, "sprint40_contract_bar_data_metadata", Events(1, &[
        ("/0/data/detection/pattern_type", S("Hammer")),
        ("/0/data/detection/bar_data/close", F(251.52)),
        ("/0/data/detection/metadata/detection_method", S("DynamicPatternIndicatorLoader")),
        ("/0/data/detection/timestamp", I(1_760_557_140_000))])),
    (STREAMING_PATTERNS, "pattern_name_field", Events(1, &[
        ("/0/data/detection/pattern_type", S("PriceChange")),
        ("/0/data/detection/symbol", S("MSFT"))])),
    (STREAMING_PATTERNS, "flat_no_detection_wrapper", Events(1, &[
        ("/0/data/detection/pattern_type", S("PriceChange")),
        ("/0/data/detection/symbol", S("GOOG"))])),
    (STREAMING_PATTERNS, "dedup_first_of_two", Events(1, &[
        ("/0/data/detection/symbol", S("AMZN")), ("/0/data/detection/confidence", F(0.8))])),
    (STREAMING_PATTERNS, "dedup_second_of_two_same_window", Events(1, &[
        ("/0/data/detection/confidence", F(0.87)),
        ("/0/data/detection/timestamp", I(1_760_557_168_441))])),
    (STREAMING_PATTERNS, "batch_message_contract", Events(2, &[
        ("/0/data/detection/symbol", S("NVDA")), ("/0/data/detection/pattern_type", S("Doji")),
        ("/1/data/detection/symbol", S("TSLA")), ("/1/data/detection/pattern_type", S("Hammer")),
        ("/1/data/detection/confidence", F(0.78))])),
    (STREAMING_PATTERNS, "missing_symbol", Dropped(R::MissingSymbol)),
    (STREAMING_PATTERNS, "missing_pattern_name", Dropped(R::MissingName)),
    (STREAMING_PATTERNS, "confidence_as_string", Events(1, &[
        ("/0/data/detection/symbol", S("NFLX")), ("/0/data/detection/confidence", F(0.85))])),
    (STREAMING_PATTERNS, "confidence_null", Events(1, &[("/0/data/detection/confidence", F(0.0))])),
    (STREAMING_PATTERNS, "detection_not_object", Dropped(R::NotAnObject)),
    (STREAMING_PATTERNS, "unknown_fields", Events(1, &[
        ("/0/data/detection/symbol", S("AVGO")), ("/0/data", NotIn("volume_rank")),
        ("/0/data", NotIn("Technology")), ("/0/data", NotIn("producer_version"))])),
    (STREAMING_PATTERNS, "invalid_json", Dropped(R::InvalidJson)),

    (PATTERNS_DETECTED, "high_confidence_duplicate_of_streaming", Events(1, &[
        ("/0/data/detection/symbol", S("NVDA")),
        ("/0/data/detection/pattern_type", S("PriceChange")),
        ("/0/data/detection/confidence", F(0.95))])),
    (PATTERNS_DETECTED, "phase5_high_confidence", Events(1, &[
        ("/0/data/detection/symbol", S("JPM")),
        ("/0/data/detection/pattern_type", S("HeadShoulders")),
        ("/0/data/detection/parameters/neckline", F(201.4)),
        ("/0/data/detection/session_id", S(SESSION))])),
    (PATTERNS_DETECTED, "mock_patterns_batch", Events(2, &[
        ("/0/data/detection/symbol", S("AAPL")), ("/0/data/detection/pattern_type", S("Harami")),
        ("/1/data/detection/symbol", S("META")),
        ("/1/data/detection/pattern_type", S("ShootingStar")),
        ("/1/data/detection/confidence", F(0.88))])),
    (PATTERNS_DETECTED, "below_contract_threshold", Events(1, &[
        ("/0/data/detection/symbol", S("BAC")), ("/0/data/detection/confidence", F(0.61))])),
    (PATTERNS_DETECTED, "invalid_json", Dropped(R::InvalidJson)),

    (STREAMING_INDICATORS, "real_producer_indicator_value", Events(1, &[
        ("/0/event", S("StreamingIndicator")), ("/0/data/type", S("streaming_indicator")),
        ("/0/data/calculation/indicator_type", S("SMA5")),
        ("/0/data/calculation/symbol", S("BRK.B")), ("/0/data/calculation/value", F(260.438)),
        ("/0/data/calculation/values", Len(0)), ("/0/data/calculation/timeframe", S("1min")),
        ("/0/data/calculation/timestamp", I(1_760_580_120_000))])),
    (STREAMING_INDICATORS, "phase5_values_object", Events(1, &[
        ("/0/data/calculation/indicator_type", S("MACD")),
        ("/0/data/calculation/values/macd", F(0.4123)), ("/0/data/calculation/value", Absent),
        ("/0/data/calculation/session_id", S(SESSION)),
        ("/0/data/calculation/timestamp", I(1_760_557_140_000))])),
    (STREAMING_INDICATORS, "sprint40_contract_metadata", Events(1, &[
        ("/0/data/calculation/indicator_type", S("RSI")),
        ("/0/data/calculation/value", F(72.5)),
        ("/0/data/calculation/metadata/period", I(14))])),
    (STREAMING_INDICATORS, "dedup_rsi_first", Events(1, &[("/0/data/calculation/value", F(68.2))])),
    (STREAMING_INDICATORS, "dedup_rsi_second_same_window", Events(1, &[
        ("/0/data/calculation/value", F(70.4))])),
    (STREAMING_INDICATORS, "mock_indicator_wrapper", Events(1, &[
        ("/0/data/calculation/symbol", S("AMD")),
        ("/0/data/calculation/indicator_type", S("EMA")),
        ("/0/data/calculation/value", F(55.31))])),
    (STREAMING_INDICATORS, "indicator_name_field", Events(1, &[
        ("/0/data/calculation/indicator_type", S("BollingerBands")),
        ("/0/data/calculation/values/upper", F(512.2))])),
    (STREAMING_INDICATORS, "missing_symbol", Dropped(R::MissingSymbol)),
    (STREAMING_INDICATORS, "invalid_json", Dropped(R::InvalidJson)),
    (STREAMING_INDICATORS, "nan_value_python_accepts", Dropped(R::InvalidJson)),

    (INDICATOR_ALERTS, "flat_phase5_shape", Events(1, &[
        ("/0/event", S("IndicatorAlert")), ("/0/data/type", S("indicator_alert")),
        ("/0/data/alert/alert_type", S("RSI_OVERBOUGHT")), ("/0/data/alert/symbol", S("AAPL")),
        ("/0/data/alert/data/rsi", F(75.5)), ("/0/data/alert/session_id", S(SESSION)),
        ("/0/data/alert/timestamp", I(T_ISO))])),
    (INDICATOR_ALERTS, "sprint40_nested_alert", Events(1, &[
        ("/0/data/alert/alert_type", S("RSI_OVERBOUGHT")), ("/0/data/alert/symbol", S("AAPL")),
        ("/0/data/alert/data/value", F(75.2)), ("/0/data/alert/severity", S("warning")),
        ("/0/data/alert/timestamp", I(1_760_542_200_000))])),
    (INDICATOR_ALERTS, "mock_nested_macd", Events(1, &[
        ("/0/data/alert/alert_type", S("MACD_BULLISH_CROSS")),
        ("/0/data/alert/symbol", S("NVDA"))])),
    (INDICATOR_ALERTS, "unknown_alert_type", Events(1, &[
        ("/0/data/alert/alert_type", S("VWAP_CROSS")), ("/0/data/alert/data/vwap", F(421.3))])),
    (INDICATOR_ALERTS, "missing_symbol", Dropped(R::MissingSymbol)),
    (INDICATOR_ALERTS, "invalid_json", Dropped(R::InvalidJson)),

    (CRITICAL_ALERTS, "flat_simulator_shape", Events(1, &[
        ("/0/event", S("CriticalAlert")), ("/0/data/type", S("critical_alert")),
        ("/0/data/alert/type", S("CONNECTION_LOST")),
        ("/0/data/alert/message", S("Lost connection to Massive WebSocket")),
        ("/0/data/alert/severity", S("critical")), ("/0/data/alert/is_recovery", B(false)),
        ("/0/data/alert/data/reconnect_attempts", I(3)), ("/0/data/alert/timestamp", I(T_ISO))])),
    (CRITICAL_ALERTS, "sprint40_nested_alert", Events(1, &[
        ("/0/data/alert/type", S("ALERT")),
        ("/0/data/alert/message", S("WebSocket connection lost to Massive")),
        ("/0/data/alert/component", S("massive_websocket")),
        ("/0/data/alert/action_required",
         S("Manual intervention needed - check API credentials")),
        ("/0/data/alert/recovery", Absent), ("/0/data/alert/is_recovery", B(false)),
        ("/0/data/alert/timestamp", I(1_760_546_700_000))])),
    (CRITICAL_ALERTS, "recovery_notice", Events(1, &[
        ("/0/data/alert/severity", S("info")), ("/0/data/alert/is_recovery", B(true)),
        ("/0/data/alert/recovery", S("Connection re-established successfully after 5 minutes")),
        ("/0/data/alert/action_required", Absent),
        ("/0/data/alert/timestamp", I(1_760_547_000_000))])),
    (CRITICAL_ALERTS, "missing_severity", Events(1, &[
        ("/0/data/alert/type", S("HIGH_LAG")), ("/0/data/alert/severity", S("critical")),
        ("/0/data/alert/data", Len(0))])),
    (CRITICAL_ALERTS, "invalid_json", Dropped(R::InvalidJson)),

    (PRICES, "etf_price_update_watched", Events(1, &[
        ("/0/event", S("PriceUpdate")), ("/0/data/type", S("price_update")),
        ("/0/data/symbol", S("SPY")), ("/0/data/price", F(512.34)), ("/0/data/change", F(1.02)),
        ("/0/data/change_percent", F(0.2)), ("/0/data/volume", F(38_150_221.0)),
        ("/0/data/timestamp", I(T0)), ("/0/data", NotIn("symbol_type")),
        ("/0/data", NotIn("source"))])),
    // The significance threshold and the watcher lookup are applied downstream.
    (PRICES, "insignificant_move", Events(1, &[("/0/data/change_percent", F(0.05))])),
    (PRICES, "missing_change_percent", Events(1, &[
        ("/0/data/symbol", S("QQQ")), ("/0/data/change_percent", F(0.0)),
        ("/0/data/change", F(0.0))])),
    (PRICES, "unwatched_symbol", Events(1, &[("/0/data/symbol", S("VUG"))])),
    (PRICES, "negative_significant_move", Events(1, &[("/0/data/change_percent", F(-0.35))])),
    (PRICES, "missing_symbol", Dropped(R::MissingSymbol)),
    (PRICES, "invalid_json", Dropped(R::InvalidJson)),

    (OHLCV, "minute_bar_flat", Events(1, &[
        ("/0/event", S("OhlcvUpdate")), ("/0/data/type", S("ohlcv_update")),
        ("/0/data/symbol", S("AAPL")), ("/0/data/timeframe", S("1min")),
        ("/0/data/ohlcv/open", F(229.1)), ("/0/data/ohlcv/close", F(229.33)),
        ("/0/data/ohlcv/volume", F(184_220.0))])),
    (OHLCV, "missing_timeframe", Events(1, &[
        ("/0/data/timeframe", S("1min")), ("/0/data/timestamp", I(1_760_557_228_342))])),
    (OHLCV, "nested_ohlcv_object", Events(1, &[
        ("/0/data/symbol", S("NVDA")), ("/0/data/timeframe", S("5min")),
        ("/0/data/ohlcv/high", F(188.9)), ("/0/data/ohlcv/volume", F(902_311.0)),
        ("/0/data/timestamp", I(T0))])),
    (OHLCV, "unwatched_symbol", Events(1, &[("/0/data/symbol", S("ZZZZ"))])),
    (OHLCV, "invalid_json", Dropped(R::InvalidJson)),

    (SUMMARY, "flat_summary", Events(1, &[
        ("/0/event", S("MarketSummary")), ("/0/data/type", S("market_summary")),
        ("/0/data/summary/total_symbols", I(4812)), ("/0/data/summary/symbols_up", I(2977)),
        ("/0/data/summary/symbols_down", I(1640)),
        ("/0/data/summary/total_volume", F(12_411_873_340.0)),
        ("/0/data/summary/market_cap_change", F(0.84))])),
    (SUMMARY, "nested_summary_sprint14_test", Events(1, &[
        ("/0/data/summary/total_symbols", I(4500)),
        ("/0/data/summary/market_cap_change", F(-0.6)), ("/0/data/timestamp", I(T0))])),
    (SUMMARY, "invalid_json", Dropped(R::InvalidJson)),

    (MARKET_SYMBOLS, "symbol_metadata", Events(1, &[
        ("/0/event", S("MarketEvent")), ("/0/data/type", S("symbol_metadata")),
        ("/0/data/symbol", S("NVDA")), ("/0/data/metadata/name", S("NVIDIA Corp"))])),
    (MARKET_SYMBOLS, "missing_symbol", Dropped(R::MissingSymbol)),
    (MARKET_SYMBOLS, "invalid_json", Dropped(R::InvalidJson)),

    (VOLUME, "volume_spike", Events(1, &[
        ("/0/data/type", S("volume_spike")), ("/0/data/symbol", S("TSLA")),
        ("/0/data/volume_data/spike_multiple", F(3.4))])),
    (VOLUME, "invalid_json", Dropped(R::InvalidJson)),
    (VOLUME, "missing_symbol", Dropped(R::MissingSymbol)),

    (WATCHLIST, "user_watchlist_changed", Events(1, &[
        ("/0/event", S("PreferenceSignal")), ("/0/data/user_id", S("42")), ("/0/data/what", S("watchlist"))])),
    (WATCHLIST, "integer_user_id", Events(1, &[("/0/data/user_id", S("42"))])),
    (WATCHLIST, "missing_user_id", Dropped(R::MissingUserId)),
    (WATCHLIST, "invalid_json", Dropped(R::InvalidJson)),

    (JOBS_ALERTS, "subscriptions_changed", Events(1, &[
        ("/0/event", S("PreferenceSignal")), ("/0/data/user_id", S("42")),
        ("/0/data/what", S("alert_rules"))])),
    (JOBS_ALERTS, "integer_user_id", Events(1, &[("/0/data/user_id", S("42"))])),
    (JOBS_ALERTS, "missing_user_id", Dropped(R::MissingUserId)),

    (DASHBOARD_ALERTS, "market_alert", Events(1, &[
        ("/0/data/type", S("dashboard_alert")), ("/0/data/alert/id", S("alrt-20251015-0007")),
        ("/0/data/alert/type", S("price_target")), ("/0/data/alert/title", S("AAPL crossed 230")),
        ("/0/data/alert/symbol", S("AAPL")), ("/0/data/alert/show_notification", B(true)),
        ("/0/data/alert/timestamp", I(T0)), ("/0/user_id", Absent)])),
    (DASHBOARD_ALERTS, "missing_alert_object_unknown_fields", Dropped(R::MissingField)),
    (DASHBOARD_ALERTS, "invalid_json", Dropped(R::InvalidJson)),

    (DASHBOARD_SUMMARY, "dashboard_summary", Events(1, &[
        ("/0/data/type", S("dashboard_summary")), ("/0/data/summary", Len(3)),
        ("/0/data/summary/alerts_today", I(7)), ("/0/data/summary/top_movers", Len(2))])),
    (DASHBOARD_SUMMARY, "invalid_json", Dropped(R::InvalidJson)),

    (ERRORS, "valid_error_message", Events(1, &[
        ("/0/event", S("ErrorReport")),
        ("/0/data/error_id", S("0b7f5c2e-3a41-4d5e-9f60-7e8d1c2b3a4f")),
        ("/0/data/source", S("TickStockPL")), ("/0/data/severity", S("error")),
        ("/0/data/category", S("database")), ("/0/data/component", S("StreamingPersistence")),
        ("/0/data/context/batch_size", I(50)), ("/0/data/timestamp", I(1_760_557_262_118)),
        ("/0/data", NotIn("traceback"))])),
    (ERRORS, "missing_error_id", Dropped(R::MissingField)),
    (ERRORS, "processing_payload_shape", Dropped(R::MissingField)),
    (ERRORS, "invalid_json", Dropped(R::InvalidJson)),

    (MONITORING, "metric_update_high_cpu", Events(1, &[
        ("/0/event", S("Monitoring")), ("/0/data/event_type", S("METRIC_UPDATE")),
        ("/0/data/fields", Len(2)), ("/0/data/fields/metrics/system/cpu_percent", F(92.4)),
        ("/0/data/fields/health_score/overall", I(65)),
        ("/0/data/timestamp", I(1_760_557_500_000))])),
    (MONITORING, "alert_triggered_critical", Events(1, &[
        ("/0/data/event_type", S("ALERT_TRIGGERED")),
        ("/0/data/fields/alert/level", S("CRITICAL"))])),
    (MONITORING, "alert_resolved", Events(1, &[
        ("/0/data/event_type", S("ALERT_RESOLVED")),
        ("/0/data/fields/alert_id", S("mon-alert-311"))])),
    (MONITORING, "health_check_components", Events(1, &[
        ("/0/data/fields/health/status", S("DEGRADED"))])),
    (MONITORING, "system_status_paused", Events(1, &[
        ("/0/data/fields/status", S("PAUSED")),
        ("/0/data/fields/details/reason", S("maintenance"))])),
    (MONITORING, "job_progress_update_other_schema", Events(1, &[
        ("/0/data/event_type", S("job_progress_update")),
        ("/0/data/fields/payload/phase", S("data_import")),
        ("/0/data/timestamp", I(1_760_562_900_000))])),
    (MONITORING, "invalid_json", Dropped(R::InvalidJson)),

    (ALL_TICKS, "tick_data", Events(1, &[
        ("/0/event", S("Tick")), ("/0/data/symbol", S("AAPL")), ("/0/data/price", F(229.41)),
        ("/0/data/volume", F(1200.0)), ("/0/data/timestamp", I(T0)),
        ("/0/data/source", S("massive")), ("/0/data/market_status", S("REGULAR"))])),
    (ALL_TICKS, "missing_ticker", Dropped(R::MissingSymbol)),
    (ALL_TICKS, "invalid_json", Dropped(R::InvalidJson)),

    (MARKET_TICKS, "market_tick", Events(1, &[
        ("/0/event", S("AdminTick")), ("/0/data/symbol", S("NVDA")),
        ("/0/data/price", F(188.62)), ("/0/data/volume", F(3400.0)),
        ("/0/data/source", S("massive")), ("/0/data/market_status", Absent)])),
    (MARKET_TICKS, "invalid_json", Dropped(R::InvalidJson)),
];
