//! Every producer fixture in `tests/fixtures/contract/<channel>.json`, end to end: PUBLISH the
//! case on a real Redis, then check over real WebSockets who receives what, or that exactly one
//! drop with the expected reason was counted and nobody received anything.
//!
//! `TABLE` holds the expected outcome of every (channel, case). Its drop reasons and field values
//! follow the normaliser's own table (`src/domain/normalise/contract_table.rs`); the reasons that
//! only the handlers count (`below_threshold`, `no_recipients`, `unknown_job`) come from
//! `src/pipeline/handlers`. Absence is proven with a sentinel: a valid message published right
//! after the case that reaches the same sessions, so whatever a session got before its sentinel
//! came from the case. Nothing sleeps.

use std::collections::BTreeMap;
use std::time::Instant;
use tickrouter::domain::redis_names::channel::*;

use serde_json::{json, Value};

use crate::util::{App, Client, Redis, WAIT};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/contract");
/// Files in the fixture folder that are not a channel's cases.
const NOT_CHANNELS: [&str; 2] = ["browser-events.json", "README.md"];

macro_rules! channel_tests {
    ($($test:ident: $channel:expr,)*) => {
        /// The channels with a test, one per fixture file (checked by the guard test).
        const TESTED_CHANNELS: &[&str] = &[$($channel),*];
        $(
            #[test]
            fn $test() {
                run_channel($channel);
            }
        )*
    };
}

channel_tests! {
    tickstock_events_patterns: PATTERN_EVENTS,
    tickstock_events_backtesting_progress: BACKTEST_PROGRESS,
    tickstock_events_backtesting_results: BACKTEST_RESULTS,
    tickstock_health_status: SYSTEM_HEALTH,
    tickstock_events_system_health: SYSTEM_HEALTH_EVENTS,
    tickstock_events_indicators: INDICATOR_EVENTS,
    tickstock_streaming_session_started: STREAMING_SESSION_STARTED,
    tickstock_streaming_session_stopped: STREAMING_SESSION_STOPPED,
    tickstock_streaming_health: STREAM_HEALTH,
    tickstock_patterns_streaming: STREAMING_PATTERNS,
    tickstock_patterns_detected: PATTERNS_DETECTED,
    tickstock_indicators_streaming: STREAMING_INDICATORS,
    tickstock_alerts_indicators: INDICATOR_ALERTS,
    tickstock_alerts_critical: CRITICAL_ALERTS,
    tickstock_market_prices: PRICES,
    tickstock_market_ohlcv: OHLCV,
    tickstock_market_volume: VOLUME,
    tickstock_market_summary: SUMMARY,
    tickstock_market_symbols: MARKET_SYMBOLS,
    tickstock_dashboard_watchlist: WATCHLIST,
    tickstock_jobs_alerts: JOBS_ALERTS,
    tickstock_dashboard_alerts: DASHBOARD_ALERTS,
    tickstock_dashboard_summary: DASHBOARD_SUMMARY,
    tickstock_errors: ERRORS,
    tickstock_monitoring: MONITORING,
    tickstock_all_ticks: ALL_TICKS,
    tickstock_market_ticks: MARKET_TICKS,
}

#[test]
fn every_fixture_case_has_an_expected_outcome() {
    let mut channels = fixture_channels();
    let mut tested = TESTED_CHANNELS.to_vec();
    channels.sort_unstable();
    tested.sort_unstable();
    assert_eq!(channels, tested, "every fixture file needs a channel test");

    let mut missing = Vec::new();
    for channel in &channels {
        for (name, _) in fixture_cases(channel) {
            if !TABLE
                .iter()
                .any(|(c, n, _)| *c == channel.as_str() && *n == name)
            {
                missing.push(format!("{channel} / {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fixture cases without an entry in fixtures.rs TABLE: {missing:#?}"
    );

    for (i, (channel, name, outcome)) in TABLE.iter().enumerate() {
        let cases = fixture_cases(channel);
        assert!(
            cases.iter().any(|(n, _)| n.as_str() == *name),
            "TABLE entry {channel} / {name} has no fixture case"
        );
        assert!(
            !TABLE[..i].iter().any(|(c, n, _)| c == channel && n == name),
            "TABLE has {channel} / {name} twice"
        );
        if let Outcome::MergedInto(target) = outcome {
            assert!(
                matches!(
                    expected(channel, target),
                    Outcome::Delivered {
                        to: To::Batched(_),
                        ..
                    }
                ),
                "{channel} / {name} merges into {target}, which must be a batched delivery"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The expected outcomes
// ---------------------------------------------------------------------------------------------

/// What one fixture case must lead to.
#[derive(Debug)]
enum Outcome {
    /// `event` reaches exactly the sessions `to` names, once, and `checks` hold on it.
    Delivered {
        event: &'static str,
        to: To,
        checks: &'static [Check],
    },
    /// The channel's count for the reason (`filtered_by_channel` or `dropped_by_channel`) rises
    /// by exactly one and no session gets anything.
    Dropped(&'static str),
    /// Consumed without a browser event and without a drop.
    NoEvent,
    /// Published back to back with the named case of the same channel (one flush window) and
    /// checked with it: the two become one batch item carrying the later values.
    MergedInto(&'static str),
}

/// Who receives a delivered event, and who is checked not to.
#[derive(Debug, Clone, Copy)]
enum To {
    /// Any session on the default public topics (an anonymous one is checked).
    Topic,
    /// Admin sessions only; a signed-in session without the role gets nothing.
    Admin,
    /// Sessions watching this symbol; a session watching another symbol gets nothing.
    Watchers(&'static str),
    /// The sessions of the user `tickstock:jobs:<job_id>` names; another user gets nothing.
    Owner(&'static str),
    /// This many items inside `streaming_*_batch` frames (`data.patterns` / `data.indicators`).
    Batched(usize),
}

/// A check at a JSON pointer into the delivered `data` (or, for `Batched`, into the array of
/// delivered items).
type Check = (&'static str, Val);

#[derive(Debug)]
enum Val {
    S(&'static str),
    F(f64),
    I(i64),
    B(bool),
    Absent,
    /// Array or object length.
    Len(usize),
    /// Nowhere in the text of what the session received for the case (pointer ignored).
    NotIn(&'static str),
}

const fn delivered(event: &'static str, to: To, checks: &'static [Check]) -> Outcome {
    Outcome::Delivered { event, to, checks }
}

const ALERT: &str = "pattern_alert";
const B_PROGRESS: &str = "backtest_progress";
const B_RESULT: &str = "backtest_result";
const SESSION_EV: &str = "streaming_session";
const P_BATCH: &str = "streaming_patterns_batch";
const I_BATCH: &str = "streaming_indicators_batch";
const INDICATOR: &str = "indicator_update";
const MARKET_EV: &str = "dashboard_market_event";
const SESSION: &str = "df4f5558-c1d6-496f-9b43-6849a55838aa";
const JOB: &str = "backtest_1760556900_9f3a1c2e";

use Outcome::{Dropped, MergedInto, NoEvent};
use To::{Admin, Batched, Owner, Topic, Watchers};
use Val::{Absent, Len, NotIn, B, F, I, S};

#[rustfmt::skip]
const TABLE: &[(&str, &str, Outcome)] = &[
    (PATTERN_EVENTS, "canonical_single_nested", delivered(ALERT, Topic, &[
        ("/symbol", S("NVDA")), ("/pattern", S("Engulfing")), ("/confidence", F(0.88)),
        ("/tier", S("daily")), ("/timestamp", I(1_760_557_167_942))])),
    (PATTERN_EVENTS, "brief_flat_with_direction", delivered(ALERT, Topic, &[
        ("/symbol", S("AAPL")), ("/pattern", S("Doji")), ("/direction", S("reversal"))])),
    (PATTERN_EVENTS, "flat_sprint10_test_shape", delivered(ALERT, Topic, &[
        ("/symbol", S("AAPL")), ("/pattern", S("Doji")), ("/confidence", F(0.85))])),
    (PATTERN_EVENTS, "flat_with_cache_fields_tier_in_source", delivered(ALERT, Topic, &[
        ("/symbol", S("GOOGL")), ("/pattern", S("Hammer")), ("/source", S("intraday"))])),
    (PATTERN_EVENTS, "double_nested_data_data", delivered(ALERT, Topic, &[
        ("/symbol", S("TSLA")), ("/pattern", S("MorningStar")), ("/confidence", F(0.91)),
        ("/flow_id", S("a2b7e0c4-11f3-4d7a-8c0e-55e9d3f2a190"))])),
    (PATTERN_EVENTS, "old_field_pattern_name_sprint69_job", delivered(ALERT, Topic, &[
        ("/symbol", S("MSFT")), ("/pattern", S("Hammer")), ("/confidence", F(0.72))])),
    // No session filter means every pattern, so an unfiltered session gets it too.
    (PATTERN_EVENTS, "fallback_detector_shape", delivered(ALERT, Topic, &[
        ("/symbol", S("AMD")), ("/pattern", S("High_Volume_Surge")), ("/confidence", F(0.67))])),
    (PATTERN_EVENTS, "pattern_expired_event_type", Dropped("not_an_event")),
    (PATTERN_EVENTS, "triple_nested", delivered(ALERT, Topic, &[
        ("/symbol", S("META")), ("/pattern", S("Doji")), ("/confidence", F(0.8))])),
    (PATTERN_EVENTS, "missing_symbol", Dropped("missing_symbol")),
    (PATTERN_EVENTS, "missing_pattern_name", Dropped("missing_name")),
    (PATTERN_EVENTS, "legacy_doc_ticker_and_pattern_type", delivered(ALERT, Topic, &[
        ("/symbol", S("AAPL")), ("/pattern", S("price_movement"))])),
    (PATTERN_EVENTS, "startup_validator_probe", Dropped("probe")),
    (PATTERN_EVENTS, "health_endpoint_probe", Dropped("probe")),
    (PATTERN_EVENTS, "unknown_and_sensitive_extra_fields", delivered(ALERT, Topic, &[
        ("/symbol", S("AAPL")), ("/pattern", S("Doji")),
        ("", NotIn("internal_user_id")), ("", NotIn("sensitive_123")),
        ("", NotIn("database_query")), ("", NotIn("SELECT")),
        ("", NotIn("api_secret")), ("", NotIn("secret_key_456")),
        ("", NotIn("experimental_score"))])),
    (PATTERN_EVENTS, "confidence_percent_scale", delivered(ALERT, Topic, &[
        ("/symbol", S("AMZN")), ("/confidence", F(0.85))])),
    // No server-side default threshold: an unfiltered session gets the 0-confidence alert.
    (PATTERN_EVENTS, "confidence_missing_defaults_zero", delivered(ALERT, Topic, &[
        ("/pattern", S("Harami")), ("/confidence", F(0.0))])),
    (PATTERN_EVENTS, "data_is_a_string", Dropped("not_an_object")),
    (PATTERN_EVENTS, "json_array_not_object", Dropped("not_an_object")),
    (PATTERN_EVENTS, "invalid_json_truncated", Dropped("invalid_json")),
    (PATTERN_EVENTS, "python_repr_not_json", Dropped("invalid_json")),

    (BACKTEST_PROGRESS, "canonical_progress", delivered(B_PROGRESS, Owner("alice"), &[
        ("/job_id", S(JOB)), ("/progress", F(0.45)), ("/status", S("processing")),
        ("/current_symbol", S("AAPL"))])),
    (BACKTEST_PROGRESS, "progress_complete", delivered(B_PROGRESS, Owner("alice"), &[
        ("/progress", F(1.0)), ("/status", S("completed"))])),
    (BACKTEST_PROGRESS, "missing_job_id", Dropped("missing_job_id")),
    (BACKTEST_PROGRESS, "unknown_job_id", Dropped("unknown_job")),
    (BACKTEST_PROGRESS, "progress_as_percent_number", delivered(B_PROGRESS, Owner("alice"), &[
        ("/progress", F(0.45))])),
    (BACKTEST_PROGRESS, "progress_as_string", Dropped("invalid_value")),
    (BACKTEST_PROGRESS, "startup_validator_probe", Dropped("probe")),
    (BACKTEST_PROGRESS, "health_endpoint_probe", Dropped("probe")),
    (BACKTEST_PROGRESS, "invalid_json", Dropped("invalid_json")),

    (BACKTEST_RESULTS, "completed_with_results", delivered(B_RESULT, Owner("alice"), &[
        ("/job_id", S(JOB)), ("/status", S("completed")), ("/results/win_rate", F(0.65)),
        ("/results/total_trades", I(150))])),
    (BACKTEST_RESULTS, "failed_with_error", delivered(B_RESULT, Owner("bob"), &[
        ("/status", S("failed")),
        ("/error_message", S("No OHLCV data for symbol XYZQ in range 2020-01-01..2020-12-31"))])),
    (BACKTEST_RESULTS, "cancelled_status", delivered(B_RESULT, Owner("carol"), &[
        ("/status", S("cancelled"))])),
    (BACKTEST_RESULTS, "missing_status_defaults_completed", delivered(B_RESULT, Owner("alice"), &[
        ("/status", S("completed")), ("/results/roi", F(0.02))])),
    (BACKTEST_RESULTS, "missing_job_id", Dropped("missing_job_id")),
    (BACKTEST_RESULTS, "startup_validator_probe", Dropped("probe")),
    (BACKTEST_RESULTS, "invalid_json", Dropped("invalid_json")),

    (SYSTEM_HEALTH, "healthy_with_metrics", delivered("system_health", Topic, &[
        ("/overall_status", S("healthy")), ("/metrics/active_jobs", I(3))])),
    (SYSTEM_HEALTH, "degraded", delivered("system_health", Topic, &[
        ("/overall_status", S("degraded"))])),
    (SYSTEM_HEALTH, "overall_status_shape_browser_expects", delivered("system_health", Topic, &[
        ("/overall_status", S("healthy")), ("/components/backtester", S("degraded"))])),
    (SYSTEM_HEALTH, "health_endpoint_probe", Dropped("probe")),
    (SYSTEM_HEALTH, "startup_validator_probe", Dropped("probe")),
    (SYSTEM_HEALTH, "invalid_json", Dropped("invalid_json")),
    (SYSTEM_HEALTH, "json_string_literal_not_object", Dropped("not_an_object")),
    (SYSTEM_HEALTH_EVENTS, "brief_flat_system_health", delivered("system_health", Topic, &[
        ("/overall_status", S("warning")), ("/components/database", S("healthy"))])),
    (SYSTEM_HEALTH_EVENTS, "startup_validator_probe", Dropped("probe")),
    (SYSTEM_HEALTH_EVENTS, "json_array_not_object", Dropped("not_an_object")),
    (INDICATOR_EVENTS, "brief_flat_indicator_calculated", delivered(INDICATOR, Topic, &[
        ("/indicator", S("RSI")), ("/symbol", S("AAPL")), ("/value", F(65.5)),
        ("/source", S("tickstock_pl")), ("/metadata/period", I(14))])),
    (INDICATOR_EVENTS, "multi_valued_nested_in_data", delivered(INDICATOR, Topic, &[
        ("/indicator", S("MACD")), ("/symbol", S("MSFT")), ("/values/histogram", F(0.3))])),
    (INDICATOR_EVENTS, "missing_symbol", Dropped("missing_symbol")),
    (INDICATOR_EVENTS, "startup_validator_probe", Dropped("probe")),
    (INDICATOR_EVENTS, "invalid_json", Dropped("invalid_json")),

    (STREAMING_SESSION_STARTED, "sprint40_contract", delivered(SESSION_EV, Topic, &[
        ("/type", S("streaming_session_started")), ("/session/session_id", S(SESSION)),
        ("/session/universe", S("market_leaders:top_500")), ("/session/symbol_count", I(500)),
        ("/session/start_time", I(1_760_535_000_000)), ("/session/status", S("active"))])),
    (STREAMING_SESSION_STARTED, "alias_keys_inside_session", delivered(SESSION_EV, Topic, &[
        ("/session/universe", S("nasdaq100")), ("/session/start_time", I(1_760_535_000_000)),
        ("/session/status", S("unknown"))])),
    (STREAMING_SESSION_STARTED, "phase5_data_wrapper", delivered(SESSION_EV, Topic, &[
        ("/session/session_id", S(SESSION)),
        ("/session/universe", S("market_leaders:top_500"))])),
    (STREAMING_SESSION_STARTED, "missing_session_id", Dropped("missing_field")),
    (STREAMING_SESSION_STARTED, "invalid_json", Dropped("invalid_json")),

    (STREAMING_SESSION_STOPPED, "sprint40_contract", delivered(SESSION_EV, Topic, &[
        ("/type", S("streaming_session_stopped")), ("/session/session_id", S(SESSION)),
        ("/session/total_patterns", I(1250)), ("/session/final_status", S("completed"))])),
    (STREAMING_SESSION_STOPPED, "flat_no_wrapper", delivered(SESSION_EV, Topic, &[
        ("/session/session_id", S(SESSION)), ("/session/final_status", S("stopped"))])),
    (STREAMING_SESSION_STOPPED, "phase5_data_wrapper", delivered(SESSION_EV, Topic, &[
        ("/session/session_id", S(SESSION)), ("/session/stopped_at", I(1_760_558_400_000)),
        ("/session/final_status", S("unknown"))])),
    (STREAMING_SESSION_STOPPED, "mock_status_not_final_status", delivered(SESSION_EV, Topic, &[
        ("/session/final_status", S("completed"))])),
    (STREAMING_SESSION_STOPPED, "invalid_json", Dropped("invalid_json")),

    (STREAM_HEALTH, "sprint40_nested_health", delivered("streaming_health", Topic, &[
        ("/health/status", S("healthy")), ("/health/active_symbols", I(70)),
        ("/health/ticks_per_second", F(53.1)), ("/health/data_flow/ticks_per_second", F(53.1))])),
    (STREAM_HEALTH, "phase5_flat_with_issues", delivered("streaming_health", Topic, &[
        ("/health/status", S("warning")), ("/health/issues", Len(1)),
        ("/health/issues/0", S("Processing lag above threshold: 250ms")),
        ("/health/data_flow/ticks_per_second", F(850.0))])),
    (STREAM_HEALTH, "sprint40_requirement_variant", delivered("streaming_health", Topic, &[
        ("/health/status", S("critical")), ("/health/connection_status", S("reconnecting")),
        ("/health/resources/threads_active", I(8)), ("/health/issues", Len(2))])),
    (STREAM_HEALTH, "mock_health_update", delivered("streaming_health", Topic, &[
        ("/health/status", S("healthy")), ("/health/active_symbols", I(8))])),
    (STREAM_HEALTH, "health_null", Dropped("invalid_value")),
    (STREAM_HEALTH, "invalid_json", Dropped("invalid_json")),

    (STREAMING_PATTERNS, "real_producer_pattern_field", delivered(P_BATCH, Batched(1), &[
        ("/0/type", S("streaming_pattern")), ("/0/detection/pattern_type", S("AlwaysDetected")),
        ("/0/detection/symbol", S("NVDA")), ("/0/detection/confidence", F(0.85)),
        ("/0/detection/timeframe", S("1min"))])),
    (STREAMING_PATTERNS, "phase5_pattern_type_field", delivered(P_BATCH, Batched(1), &[
        ("/0/detection/pattern_type", S("Doji")), ("/0/detection/symbol", S("AAPL")),
        ("/0/detection/parameters", Len(3))])),
    (STREAMING_PATTERNS, "sprint40_contract_bar_data_metadata", delivered(P_BATCH, Batched(1), &[
        ("/0/detection/pattern_type", S("Hammer")), ("/0/detection/symbol", S("TSLA")),
        ("/0/detection/bar_data/close", F(251.52)),
        ("/0/detection/metadata/detection_method", S("DynamicPatternIndicatorLoader"))])),
    (STREAMING_PATTERNS, "pattern_name_field", delivered(P_BATCH, Batched(1), &[
        ("/0/detection/pattern_type", S("PriceChange")), ("/0/detection/symbol", S("MSFT"))])),
    (STREAMING_PATTERNS, "flat_no_detection_wrapper", delivered(P_BATCH, Batched(1), &[
        ("/0/detection/pattern_type", S("PriceChange")), ("/0/detection/symbol", S("GOOG"))])),
    (STREAMING_PATTERNS, "dedup_first_of_two", MergedInto("dedup_second_of_two_same_window")),
    (STREAMING_PATTERNS, "dedup_second_of_two_same_window", delivered(P_BATCH, Batched(1), &[
        ("/0/detection/pattern_type", S("AlwaysDetected")), ("/0/detection/symbol", S("AMZN")),
        ("/0/detection/confidence", F(0.87))])),
    // Its TSLA Hammer at 19:39:00Z is the very detection sprint40_contract_bar_data_metadata
    // delivered earlier in this run, so only the NVDA Doji is new (sent once, issue 3).
    (STREAMING_PATTERNS, "batch_message_contract", delivered(P_BATCH, Batched(1), &[
        ("/0/detection/symbol", S("NVDA")), ("/0/detection/pattern_type", S("Doji"))])),
    (STREAMING_PATTERNS, "missing_symbol", Dropped("missing_symbol")),
    (STREAMING_PATTERNS, "missing_pattern_name", Dropped("missing_name")),
    (STREAMING_PATTERNS, "confidence_as_string", delivered(P_BATCH, Batched(1), &[
        ("/0/detection/symbol", S("NFLX")), ("/0/detection/confidence", F(0.85))])),
    (STREAMING_PATTERNS, "confidence_null", delivered(P_BATCH, Batched(1), &[
        ("/0/detection/symbol", S("NFLX")), ("/0/detection/confidence", F(0.0))])),
    (STREAMING_PATTERNS, "detection_not_object", Dropped("not_an_object")),
    (STREAMING_PATTERNS, "unknown_fields", delivered(P_BATCH, Batched(1), &[
        ("/0/detection/symbol", S("AVGO")), ("/0/detection/pattern_type", S("Engulfing")),
        ("", NotIn("volume_rank")), ("", NotIn("Technology")), ("", NotIn("producer_version"))])),
    (STREAMING_PATTERNS, "invalid_json", Dropped("invalid_json")),

    (PATTERNS_DETECTED, "high_confidence_duplicate_of_streaming", delivered(P_BATCH, Batched(1), &[
        ("/0/detection/symbol", S("NVDA")), ("/0/detection/pattern_type", S("PriceChange")),
        ("/0/detection/confidence", F(0.95))])),
    (PATTERNS_DETECTED, "phase5_high_confidence", delivered(P_BATCH, Batched(1), &[
        ("/0/detection/symbol", S("JPM")), ("/0/detection/pattern_type", S("HeadShoulders")),
        ("/0/detection/parameters/neckline", F(201.4))])),
    (PATTERNS_DETECTED, "mock_patterns_batch", delivered(P_BATCH, Batched(2), &[
        ("/0/detection/symbol", S("AAPL")), ("/0/detection/pattern_type", S("Harami")),
        ("/1/detection/symbol", S("META")), ("/1/detection/pattern_type", S("ShootingStar"))])),
    (PATTERNS_DETECTED, "below_contract_threshold", delivered(P_BATCH, Batched(1), &[
        ("/0/detection/symbol", S("BAC")), ("/0/detection/confidence", F(0.61))])),
    (PATTERNS_DETECTED, "invalid_json", Dropped("invalid_json")),

    (STREAMING_INDICATORS, "real_producer_indicator_value", delivered(I_BATCH, Batched(1), &[
        ("/0/type", S("streaming_indicator")), ("/0/calculation/symbol", S("BRK.B")),
        ("/0/calculation/indicator_type", S("SMA5")), ("/0/calculation/value", F(260.438))])),
    (STREAMING_INDICATORS, "phase5_values_object", delivered(I_BATCH, Batched(1), &[
        ("/0/calculation/symbol", S("AAPL")), ("/0/calculation/indicator_type", S("MACD")),
        ("/0/calculation/values/macd", F(0.4123)), ("/0/calculation/value", Absent)])),
    (STREAMING_INDICATORS, "sprint40_contract_metadata", delivered(I_BATCH, Batched(1), &[
        ("/0/calculation/symbol", S("TSLA")), ("/0/calculation/value", F(72.5)),
        ("/0/calculation/metadata/period", I(14))])),
    (STREAMING_INDICATORS, "dedup_rsi_first", MergedInto("dedup_rsi_second_same_window")),
    (STREAMING_INDICATORS, "dedup_rsi_second_same_window", delivered(I_BATCH, Batched(1), &[
        ("/0/calculation/symbol", S("AAPL")), ("/0/calculation/indicator_type", S("RSI")),
        ("/0/calculation/value", F(70.4))])),
    (STREAMING_INDICATORS, "mock_indicator_wrapper", delivered(I_BATCH, Batched(1), &[
        ("/0/calculation/symbol", S("AMD")), ("/0/calculation/indicator_type", S("EMA")),
        ("/0/calculation/value", F(55.31))])),
    (STREAMING_INDICATORS, "indicator_name_field", delivered(I_BATCH, Batched(1), &[
        ("/0/calculation/symbol", S("QQQ")),
        ("/0/calculation/indicator_type", S("BollingerBands")),
        ("/0/calculation/values/upper", F(512.2))])),
    (STREAMING_INDICATORS, "missing_symbol", Dropped("missing_symbol")),
    (STREAMING_INDICATORS, "invalid_json", Dropped("invalid_json")),
    (STREAMING_INDICATORS, "nan_value_python_accepts", Dropped("invalid_json")),

    (INDICATOR_ALERTS, "flat_phase5_shape", delivered("indicator_alert", Topic, &[
        ("/type", S("indicator_alert")), ("/alert/alert_type", S("RSI_OVERBOUGHT")),
        ("/alert/symbol", S("AAPL")), ("/alert/data/rsi", F(75.5)),
        ("/alert/session_id", S(SESSION))])),
    (INDICATOR_ALERTS, "sprint40_nested_alert", delivered("indicator_alert", Topic, &[
        ("/alert/alert_type", S("RSI_OVERBOUGHT")), ("/alert/symbol", S("AAPL")),
        ("/alert/data/value", F(75.2))])),
    (INDICATOR_ALERTS, "mock_nested_macd", delivered("indicator_alert", Topic, &[
        ("/alert/alert_type", S("MACD_BULLISH_CROSS")), ("/alert/symbol", S("NVDA"))])),
    (INDICATOR_ALERTS, "unknown_alert_type", delivered("indicator_alert", Topic, &[
        ("/alert/alert_type", S("VWAP_CROSS")), ("/alert/symbol", S("MSFT"))])),
    (INDICATOR_ALERTS, "missing_symbol", Dropped("missing_symbol")),
    (INDICATOR_ALERTS, "invalid_json", Dropped("invalid_json")),

    (CRITICAL_ALERTS, "flat_simulator_shape", delivered("critical_alert", Topic, &[
        ("/type", S("critical_alert")), ("/alert/type", S("CONNECTION_LOST")),
        ("/alert/message", S("Lost connection to Massive WebSocket")),
        ("/alert/severity", S("critical")), ("/alert/is_recovery", B(false)),
        ("/alert/data/reconnect_attempts", I(3))])),
    (CRITICAL_ALERTS, "sprint40_nested_alert", delivered("critical_alert", Topic, &[
        ("/alert/message", S("WebSocket connection lost to Massive")),
        ("/alert/component", S("massive_websocket")), ("/alert/severity", S("critical")),
        ("/alert/is_recovery", B(false))])),
    (CRITICAL_ALERTS, "recovery_notice", delivered("critical_alert", Topic, &[
        ("/alert/severity", S("info")), ("/alert/is_recovery", B(true))])),
    (CRITICAL_ALERTS, "missing_severity", delivered("critical_alert", Topic, &[
        ("/alert/type", S("HIGH_LAG")), ("/alert/severity", S("critical"))])),
    (CRITICAL_ALERTS, "invalid_json", Dropped("invalid_json")),

    (PRICES, "etf_price_update_watched", delivered("dashboard_price_update", Watchers("SPY"), &[
        ("/type", S("price_update")), ("/symbol", S("SPY")), ("/price", F(512.34)),
        ("/change", F(1.02)), ("/change_percent", F(0.2)), ("/volume", F(38_150_221.0)),
        ("", NotIn("symbol_type"))])),
    (PRICES, "insignificant_move", Dropped("below_threshold")),
    (PRICES, "missing_change_percent", Dropped("below_threshold")),
    (PRICES, "unwatched_symbol", Dropped("no_recipients")),
    (PRICES, "negative_significant_move", delivered("dashboard_price_update", Watchers("QQQ"), &[
        ("/symbol", S("QQQ")), ("/change_percent", F(-0.35))])),
    (PRICES, "missing_symbol", Dropped("missing_symbol")),
    (PRICES, "invalid_json", Dropped("invalid_json")),

    (OHLCV, "minute_bar_flat", delivered("dashboard_ohlcv_update", Watchers("AAPL"), &[
        ("/type", S("ohlcv_update")), ("/symbol", S("AAPL")), ("/timeframe", S("1min")),
        ("/ohlcv/open", F(229.1)), ("/ohlcv/close", F(229.33)), ("/ohlcv/volume", F(184_220.0))])),
    (OHLCV, "missing_timeframe", delivered("dashboard_ohlcv_update", Watchers("AAPL"), &[
        ("/timeframe", S("1min")), ("/ohlcv/close", F(229.45))])),
    (OHLCV, "nested_ohlcv_object", delivered("dashboard_ohlcv_update", Watchers("NVDA"), &[
        ("/symbol", S("NVDA")), ("/timeframe", S("5min")), ("/ohlcv/open", F(188.0)),
        ("/ohlcv/high", F(188.9)), ("/ohlcv/low", F(187.6)), ("/ohlcv/close", F(188.7)),
        ("/ohlcv/volume", F(902_311.0))])),
    (OHLCV, "unwatched_symbol", Dropped("no_recipients")),
    (OHLCV, "invalid_json", Dropped("invalid_json")),

    (VOLUME, "volume_spike", delivered(MARKET_EV, Topic, &[
        ("/type", S("volume_spike")), ("/symbol", S("TSLA")),
        ("/volume_data/spike_multiple", F(3.4))])),
    (VOLUME, "invalid_json", Dropped("invalid_json")),
    (VOLUME, "missing_symbol", Dropped("missing_symbol")),

    (SUMMARY, "flat_summary", delivered("dashboard_market_summary", Topic, &[
        ("/type", S("market_summary")), ("/summary/total_symbols", I(4812)),
        ("/summary/symbols_up", I(2977)), ("/summary/symbols_down", I(1640)),
        ("/summary/market_cap_change", F(0.84))])),
    (SUMMARY, "nested_summary_sprint14_test", delivered("dashboard_market_summary", Topic, &[
        ("/summary/total_symbols", I(4500)), ("/summary/market_cap_change", F(-0.6))])),
    (SUMMARY, "invalid_json", Dropped("invalid_json")),

    (MARKET_SYMBOLS, "symbol_metadata", delivered(MARKET_EV, Topic, &[
        ("/type", S("symbol_metadata")), ("/symbol", S("NVDA")),
        ("/metadata/name", S("NVIDIA Corp"))])),
    (MARKET_SYMBOLS, "missing_symbol", Dropped("missing_symbol")),
    (MARKET_SYMBOLS, "invalid_json", Dropped("invalid_json")),

    (WATCHLIST, "user_watchlist_changed", NoEvent),
    (WATCHLIST, "integer_user_id", NoEvent),
    (WATCHLIST, "missing_user_id", Dropped("missing_user_id")),
    (WATCHLIST, "invalid_json", Dropped("invalid_json")),
    (JOBS_ALERTS, "subscriptions_changed", NoEvent),
    (JOBS_ALERTS, "integer_user_id", NoEvent),
    (JOBS_ALERTS, "missing_user_id", Dropped("missing_user_id")),

    (DASHBOARD_ALERTS, "market_alert", delivered(MARKET_EV, Topic, &[
        ("/type", S("dashboard_alert")), ("/alert/id", S("alrt-20251015-0007")),
        ("/alert/title", S("AAPL crossed 230")), ("/alert/show_notification", B(true))])),
    (DASHBOARD_ALERTS, "missing_alert_object_unknown_fields", Dropped("missing_field")),
    (DASHBOARD_ALERTS, "invalid_json", Dropped("invalid_json")),

    (DASHBOARD_SUMMARY, "dashboard_summary", delivered(MARKET_EV, Topic, &[
        ("/type", S("dashboard_summary")), ("/summary/alerts_today", I(7)),
        ("/summary/top_movers", Len(2))])),
    (DASHBOARD_SUMMARY, "invalid_json", Dropped("invalid_json")),

    (ERRORS, "valid_error_message", delivered("system_error", Admin, &[
        ("/error_id", S("0b7f5c2e-3a41-4d5e-9f60-7e8d1c2b3a4f")), ("/severity", S("error")),
        ("/message", S("Timeout writing intraday_patterns batch")), ("", NotIn("traceback"))])),
    (ERRORS, "missing_error_id", Dropped("missing_field")),
    (ERRORS, "processing_payload_shape", Dropped("missing_field")),
    (ERRORS, "invalid_json", Dropped("invalid_json")),

    (MONITORING, "metric_update_high_cpu", delivered("monitoring_event", Admin, &[
        ("/event_type", S("METRIC_UPDATE")), ("/fields/metrics/system/cpu_percent", F(92.4))])),
    (MONITORING, "alert_triggered_critical", delivered("monitoring_event", Admin, &[
        ("/event_type", S("ALERT_TRIGGERED")), ("/fields/alert/level", S("CRITICAL"))])),
    (MONITORING, "alert_resolved", delivered("monitoring_event", Admin, &[
        ("/event_type", S("ALERT_RESOLVED")), ("/fields/alert_id", S("mon-alert-311"))])),
    (MONITORING, "health_check_components", delivered("monitoring_event", Admin, &[
        ("/event_type", S("HEALTH_CHECK")), ("/fields/health/status", S("DEGRADED"))])),
    (MONITORING, "system_status_paused", delivered("monitoring_event", Admin, &[
        ("/event_type", S("SYSTEM_STATUS")), ("/fields/status", S("PAUSED"))])),
    (MONITORING, "job_progress_update_other_schema", delivered("monitoring_event", Admin, &[
        ("/event_type", S("job_progress_update")),
        ("/fields/payload/phase", S("data_import"))])),
    (MONITORING, "invalid_json", Dropped("invalid_json")),

    (ALL_TICKS, "tick_data", delivered("tick_data", Watchers("AAPL"), &[
        ("/symbol", S("AAPL")), ("/price", F(229.41)), ("/volume", F(1200.0))])),
    (ALL_TICKS, "missing_ticker", Dropped("missing_symbol")),
    (ALL_TICKS, "invalid_json", Dropped("invalid_json")),

    (MARKET_TICKS, "market_tick", delivered("tick_update", Admin, &[
        ("/symbol", S("NVDA")), ("/price", F(188.62))])),
    (MARKET_TICKS, "invalid_json", Dropped("invalid_json")),
];

fn expected(channel: &str, name: &str) -> &'static Outcome {
    TABLE
        .iter()
        .find(|(c, n, _)| *c == channel && *n == name)
        .map(|(_, _, outcome)| outcome)
        .unwrap_or_else(|| panic!("no TABLE entry for {channel} / {name}"))
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn fixture_channels() -> Vec<String> {
    std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|file| !NOT_CHANNELS.contains(&file.as_str()))
        .map(|file| {
            file.strip_suffix(".json")
                .expect("only .json fixtures")
                .to_owned()
        })
        .collect()
}

/// `(name, payload)` of every case in the channel's fixture file, in file order.
fn fixture_cases(channel: &str) -> Vec<(String, Value)> {
    let path = format!("{FIXTURES}/{channel}.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    cases
        .into_iter()
        .map(|case| {
            (
                case["name"].as_str().unwrap().to_owned(),
                case["payload"].clone(),
            )
        })
        .collect()
}

/// The raw message body: a string payload verbatim (the malformed cases), anything else as
/// compact JSON.
fn body(payload: &Value) -> String {
    match payload {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Running the cases
// ---------------------------------------------------------------------------------------------

fn run_channel(channel: &'static str) {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut run = Run {
        app,
        redis,
        channel,
        seq: 0,
    };
    let cases = fixture_cases(channel);
    for (name, payload) in &cases {
        if let Outcome::MergedInto(_) = expected(channel, name) {
            continue;
        }
        let mut payloads: Vec<&Value> = cases
            .iter()
            .filter(|(first, _)| {
                matches!(expected(channel, first), Outcome::MergedInto(t) if *t == name.as_str())
            })
            .map(|(_, p)| p)
            .collect();
        payloads.push(payload);
        run.case(name, expected(channel, name), &payloads);
    }
}

/// One channel's app, Redis and sentinel counter. `app` is declared first so it stops first.
struct Run {
    app: App,
    redis: Redis,
    channel: &'static str,
    seq: u64,
}

/// Where a channel's events go; decides who watches a case that must reach nobody.
enum Audience {
    Public,
    Admin,
    Symbol,
    Owner,
}

fn audience(channel: &str) -> Audience {
    match channel {
        ERRORS | MONITORING | MARKET_TICKS => Audience::Admin,
        PRICES | OHLCV | ALL_TICKS => Audience::Symbol,
        BACKTEST_PROGRESS | BACKTEST_RESULTS => Audience::Owner,
        _ => Audience::Public,
    }
}

/// A valid message published after the case that reaches a session the way the case would.
struct Sentinel {
    channel: &'static str,
    payload: Value,
    /// Unique to this attempt (and user): a symbol, job id or other carried string.
    token: String,
    /// Text found only in the frame (or batch item) the sentinel produces.
    needle: String,
}

/// The sentinel for `channel`, attempt `n`, and (for per-user routes) `user`. Every sentinel is on
/// the case's own channel except for the watchlist channel, which makes no event at all: its
/// sentinel is a volume spike, which the same handler (MarketData) handles in order.
fn sentinel(channel: &'static str, n: u64, user: Option<&str>) -> Sentinel {
    let t = match user {
        Some(user) => format!("SENT{n}X-{user}"),
        None => format!("SENT{n}X"),
    };
    let needle = format!("\"{t}\"");
    let (on, payload) = match channel {
        PATTERN_EVENTS => (
            channel,
            json!({"symbol": t, "pattern": "Sentinel", "confidence": 0.9}),
        ),
        BACKTEST_PROGRESS => (channel, json!({"job_id": t, "progress": 0.5})),
        BACKTEST_RESULTS => (
            channel,
            json!({"job_id": t, "status": "completed", "results": {}}),
        ),
        SYSTEM_HEALTH | SYSTEM_HEALTH_EVENTS => (channel, json!({"status": t})),
        INDICATOR_EVENTS => (
            channel,
            json!({"indicator": "Sentinel", "symbol": t, "value": 1.0}),
        ),
        STREAMING_SESSION_STARTED | STREAMING_SESSION_STOPPED => {
            (channel, json!({"session": {"session_id": t}}))
        }
        STREAM_HEALTH => (
            channel,
            json!({"health": {"status": "healthy", "session_id": t}}),
        ),
        STREAMING_PATTERNS | PATTERNS_DETECTED => (
            channel,
            json!({"detection": {"pattern": "Sentinel", "symbol": t, "confidence": 0.9}}),
        ),
        STREAMING_INDICATORS => (
            channel,
            json!({"calculation": {"indicator": "Sentinel", "symbol": t, "value": 1.0}}),
        ),
        INDICATOR_ALERTS => (channel, json!({"alert_type": "SENTINEL", "symbol": t})),
        CRITICAL_ALERTS => (channel, json!({"type": "SENTINEL", "message": t})),
        PRICES => (
            channel,
            json!({"symbol": t, "price": 1.0, "change_percent": 1.0}),
        ),
        OHLCV => (
            channel,
            json!({"symbol": t, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0}),
        ),
        VOLUME | WATCHLIST | JOBS_ALERTS => (VOLUME, json!({"symbol": t, "volume_data": {}})),
        SUMMARY => {
            // A market summary carries no free text, so a unique count marks it.
            let count = 9_000_000 + n;
            return Sentinel {
                channel,
                payload: json!({"total_symbols": count}),
                token: t,
                needle: format!("\"total_symbols\":{count}"),
            };
        }
        MARKET_SYMBOLS => (channel, json!({"symbol": t, "metadata": {}})),
        DASHBOARD_ALERTS => (channel, json!({"alert": {"id": t}})),
        DASHBOARD_SUMMARY => (channel, json!({"market_status": t})),
        ERRORS => (
            channel,
            json!({"error_id": t, "source": "test", "severity": "info", "message": "sentinel"}),
        ),
        MONITORING => (channel, json!({"event_type": t})),
        ALL_TICKS => (channel, json!({"ticker": t, "price": 1.0})),
        MARKET_TICKS => (channel, json!({"symbol": t, "price": 1.0})),
        other => panic!("no sentinel for channel {other}"),
    };
    Sentinel {
        channel: on,
        payload,
        token: t,
        needle,
    }
}

/// A WebSocket session watching one case: whether the case must reach it, and its sentinel.
struct Session {
    who: String,
    client: Client,
    receives: bool,
    sentinel: Sentinel,
}

/// What a session got before its sentinel: `(event, units)` per frame, where a streaming batch's
/// units are its items and any other frame is one unit. Sentinel frames and items are left out.
type Received = Vec<(String, Vec<Value>)>;

impl Run {
    fn case(&mut self, name: &str, outcome: &Outcome, payloads: &[&Value]) {
        // A merged pair can straddle a flush tick; then it was not in one window, so try again.
        for _ in 0..3 {
            if self.attempt(name, outcome, payloads) {
                return;
            }
        }
        panic!(
            "{} / {name}: the pair never landed in one flush window",
            self.channel
        );
    }

    /// Runs the case once; false when a merged pair arrived in two batches.
    fn attempt(&mut self, name: &str, outcome: &Outcome, payloads: &[&Value]) -> bool {
        self.seq += 1;
        let ctx = format!("{} / {name}", self.channel);
        let mut sessions = self.sessions(outcome, payloads[payloads.len() - 1], self.seq);
        if let Outcome::Delivered {
            to: Owner(user), ..
        } = outcome
        {
            for payload in payloads {
                self.set_owner(payload["job_id"].as_str().unwrap(), user);
            }
        }
        let drops_before = self.drops();
        let received_before = self.received();

        let mut messages: Vec<(&str, String)> =
            payloads.iter().map(|p| (self.channel, body(p))).collect();
        let mut needles: Vec<String> = Vec::new();
        for s in &sessions {
            if !needles.contains(&s.sentinel.needle) {
                needles.push(s.sentinel.needle.clone());
                messages.push((s.sentinel.channel, s.sentinel.payload.to_string()));
            }
        }
        self.publish(&messages);
        let got: Vec<(&Session, Received)> = sessions
            .iter_mut()
            .map(|s| {
                let received = drain(&mut s.client, &s.sentinel.needle, &needles);
                (&*s, received)
            })
            .collect();
        let on_channel = messages.iter().filter(|(c, _)| *c == self.channel).count();
        assert_eq!(
            self.received(),
            received_before + on_channel as u64,
            "{ctx}: tickrouter did not consume every message published on the channel"
        );

        match outcome {
            Outcome::Delivered { event, to, checks } => {
                for (session, received) in &got {
                    if !session.receives {
                        assert!(
                            received.is_empty(),
                            "{ctx}: {} is outside the audience but got {received:?}",
                            session.who
                        );
                        continue;
                    }
                    assert!(
                        received.iter().all(|(e, _)| e == event),
                        "{ctx}: {} expected only {event}, got {received:?}",
                        session.who
                    );
                    let units: Vec<Value> = received
                        .iter()
                        .flat_map(|(_, u)| u.iter().cloned())
                        .collect();
                    let text = Value::Array(units.clone()).to_string();
                    let target = match to {
                        Batched(n) => {
                            if payloads.len() > 1 && received.len() > 1 {
                                return false;
                            }
                            assert_eq!(units.len(), *n, "{ctx}: batch items {units:?}");
                            Value::Array(units)
                        }
                        _ => {
                            assert_eq!(units.len(), 1, "{ctx}: expected one {event}: {units:?}");
                            units[0]["data"].clone()
                        }
                    };
                    check_fields(&ctx, &target, &text, checks);
                }
                assert_eq!(
                    self.drops(),
                    drops_before,
                    "{ctx}: a delivered case was counted as a drop"
                );
            }
            Outcome::Dropped(reason) => {
                for (session, received) in &got {
                    assert!(
                        received.is_empty(),
                        "{ctx}: dropped, but {} got {received:?}",
                        session.who
                    );
                }
                let mut want = drops_before;
                *want.entry(reason.to_string()).or_default() += 1;
                self.app.wait_drops(self.channel, reason, want[*reason]);
                assert_eq!(
                    self.drops(),
                    want,
                    "{ctx}: expected exactly one {reason} drop"
                );
            }
            Outcome::NoEvent => {
                for (session, received) in &got {
                    assert!(
                        received.is_empty(),
                        "{ctx}: {} got {received:?}",
                        session.who
                    );
                }
                assert_eq!(self.drops(), drops_before, "{ctx}: counted a drop");
            }
            Outcome::MergedInto(_) => unreachable!("checked with the case it merges into"),
        }
        true
    }

    /// The sessions that watch a case: its audience (told to expect it when it is delivered),
    /// and for narrower audiences one session just outside it.
    fn sessions(&self, outcome: &Outcome, payload: &Value, n: u64) -> Vec<Session> {
        let to = match outcome {
            Outcome::Delivered { to, .. } => *to,
            _ => match audience(self.channel) {
                Audience::Public => Topic,
                Audience::Admin => Admin,
                // Watch the case's own symbol, unless the point is that nobody does.
                Audience::Symbol => match (outcome, symbol_of(payload)) {
                    (Dropped("no_recipients"), _) | (_, None) => {
                        return vec![self.watcher(&[], false, n)]
                    }
                    (_, Some(symbol)) => return vec![self.watcher(&[symbol], false, n)],
                },
                Audience::Owner => Owner("alice"),
            },
        };
        let receives = matches!(outcome, Outcome::Delivered { .. });
        match to {
            Topic | Batched(_) => vec![Session {
                who: "an anonymous session".into(),
                client: self.app.ws(),
                receives,
                sentinel: sentinel(self.channel, n, None),
            }],
            Admin => vec![
                Session {
                    who: "an admin".into(),
                    client: self.app.ws_as("admin", &["admin"]),
                    receives,
                    sentinel: sentinel(self.channel, n, None),
                },
                // Only admins get this channel's events, so a public System-handler event
                // (handled in order with them) is this session's sentinel.
                Session {
                    who: "a non-admin user".into(),
                    client: self.app.ws_as("u1", &[]),
                    receives: false,
                    sentinel: sentinel(SYSTEM_HEALTH, n, Some("u1")),
                },
            ],
            Watchers(symbol) => vec![
                self.watcher(&[symbol], receives, n),
                self.watcher(&["IBM"], false, n),
            ],
            Owner(user) => vec![
                self.owner(user, receives, n),
                self.owner("mallory", false, n),
            ],
        }
    }

    /// A session watching `symbols` plus this attempt's sentinel symbol.
    fn watcher(&self, symbols: &[&str], receives: bool, n: u64) -> Session {
        let sentinel = sentinel(self.channel, n, None);
        let mut client = self.app.ws();
        let mut watch: Vec<&str> = symbols.to_vec();
        watch.push(&sentinel.token);
        let ack = client.op(json!({"op": "watchlist", "symbols": watch}));
        assert_eq!(ack["event"], "ack", "{ack}");
        Session {
            who: format!("a session watching {symbols:?}"),
            client,
            receives,
            sentinel,
        }
    }

    /// A session of `user`, with a sentinel job of its own.
    fn owner(&self, user: &str, receives: bool, n: u64) -> Session {
        let sentinel = sentinel(self.channel, n, Some(user));
        self.set_owner(&sentinel.token, user);
        Session {
            who: format!("user {user}"),
            client: self.app.ws_as(user, &[]),
            receives,
            sentinel,
        }
    }

    fn set_owner(&self, job_id: &str, user: &str) {
        let record = json!({"job_id": job_id, "user_id": user});
        self.redis
            .set(&format!("tickstock:jobs:{job_id}"), &record.to_string());
    }

    /// PUBLISHes every message in one pipeline, so they arrive back to back and in order.
    fn publish(&self, messages: &[(&str, String)]) {
        let mut pipe = redis::pipe();
        for (channel, body) in messages {
            pipe.cmd("PUBLISH").arg(*channel).arg(body).ignore();
        }
        let _: () = pipe.query(&mut self.redis.conn()).unwrap();
    }

    /// This channel's drop counters by reason.
    fn drops(&self) -> BTreeMap<String, u64> {
        crate::util::outcomes_of_channel(&self.app.stats(), self.channel)
    }

    fn received(&self) -> u64 {
        self.app.stats()["received_by_channel"][self.channel]
            .as_u64()
            .unwrap()
    }
}

fn symbol_of(payload: &Value) -> Option<&str> {
    payload
        .get("symbol")
        .or_else(|| payload.get("ticker"))
        .and_then(Value::as_str)
}

/// Reads frames until the one containing `needle` (this session's sentinel).
fn drain(client: &mut Client, needle: &str, all_needles: &[String]) -> Received {
    let is_sentinel = |v: &Value| {
        let text = v.to_string();
        all_needles.iter().any(|n| text.contains(n.as_str()))
    };
    let deadline = Instant::now() + WAIT;
    let mut got = Received::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for the sentinel {needle}; got {got:?}"
        );
        let Some(frame) = client.recv(left) else {
            continue;
        };
        // What the user's stream kept of earlier cases, not this case's audience.
        if frame["event"] == "queued_message" {
            continue;
        }
        let last = frame.to_string().contains(needle);
        let event = frame["event"].as_str().unwrap_or_default().to_owned();
        let units: Vec<Value> = match batch_items(&frame) {
            Some(items) => items.into_iter().filter(|i| !is_sentinel(i)).collect(),
            None if is_sentinel(&frame) => Vec::new(),
            None => vec![frame],
        };
        if !units.is_empty() {
            got.push((event, units));
        }
        if last {
            return got;
        }
    }
}

/// The items of a `streaming_patterns_batch` / `streaming_indicators_batch` frame.
fn batch_items(frame: &Value) -> Option<Vec<Value>> {
    let key = match frame["event"].as_str()? {
        "streaming_patterns_batch" => "patterns",
        "streaming_indicators_batch" => "indicators",
        _ => return None,
    };
    let items = frame["data"][key].as_array().expect("batch items").clone();
    assert_eq!(frame["data"]["count"], items.len(), "batch count: {frame}");
    Some(items)
}

/// Checks `got` (the delivered `data`, or the batch items); `NotIn` looks at `text`, everything
/// the session received for the case.
fn check_fields(ctx: &str, got: &Value, text: &str, checks: &[Check]) {
    for (at, want) in checks {
        let value = got.pointer(at);
        let ok = match (want, value) {
            (NotIn(hidden), _) => !text.contains(hidden),
            (Absent, found) => found.is_none(),
            (_, None) => false,
            (S(s), Some(v)) => v.as_str() == Some(*s),
            (F(f), Some(v)) => v.as_f64().is_some_and(|g| (g - f).abs() < 1e-9),
            (I(i), Some(v)) => v.as_i64() == Some(*i),
            (B(b), Some(v)) => v.as_bool() == Some(*b),
            (Len(n), Some(Value::Array(a))) => a.len() == *n,
            (Len(n), Some(Value::Object(o))) => o.len() == *n,
            (Len(_), Some(_)) => false,
        };
        assert!(
            ok,
            "{ctx}: at {at:?} expected {want:?}, got {value:?} in {got}"
        );
    }
}
