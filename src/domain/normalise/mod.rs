//! The one normaliser: raw bytes from any channel -> typed `Event`s or named drops.
//!
//! `normalise` parses strictly, drops probes, unwraps the kind's wrappers, unpacks batches and
//! hands each event object to its kind's builder (one file per family of kinds).
//!
//! The payload is parsed once, into a `json::Json` tree that borrows its keys and strings from
//! the bytes: validating the whole message costs a pass over it, and only what a builder keeps
//! (a symbol, a name, a field forwarded as JSON) is copied. `layers` walks that tree level by
//! level and `value` turns a looked-up field into a number, text or timestamp.
//!
//! docs/PRODUCERS.md describes, per channel, what this accepts and produces (#parsing,
//! #wrappers, #aliases, #units, #drops); the producer generations comments name (Sprint 40,
//! Phase 5, the simulator, ...) are in docs/GLOSSARY.md#producer-history.

mod alerts;
mod backtest;
mod dashboard;
mod detections;
mod json;
mod layers;
mod market;
mod ops;
mod streaming;
mod value;

#[cfg(test)]
mod contract_table;
#[cfg(test)]
mod contract_tests;
#[cfg(test)]
mod protocol_doc_tests;

use super::drop::DropReason;
use super::event::{EpochMillis, Event};
use super::kind::EventKind;
use json::{Json, Object};
use layers::{Msg, Shape, Unwrapped};
use value::Res;

type Build = fn(&Msg<'_>, EpochMillis) -> Res<Event>;

/// Normalises one inbound message. A batch message yields one entry per item; every entry is
/// either an event or the reason that item was dropped. Never panics, whatever the input.
pub fn normalise(
    kind: EventKind,
    payload: &[u8],
    received_at: EpochMillis,
) -> Vec<Result<Event, DropReason>> {
    let root = match Json::parse(payload) {
        Ok(Json::Object(root)) => root,
        Ok(_) => return vec![Err(DropReason::NotAnObject)],
        Err(_) => return vec![Err(DropReason::InvalidJson)],
    };
    if is_probe(&root) {
        return vec![Err(DropReason::Probe)];
    }
    let (shape, build) = family(kind);
    match Msg::new(&root).peel(shape, true) {
        Err(reason) => vec![Err(reason)],
        Ok(Unwrapped::One(msg)) => vec![build(&msg, received_at)],
        Ok(Unwrapped::Batch(_, [])) => vec![Err(DropReason::EmptyBatch)],
        Ok(Unwrapped::Batch(outer, items)) => items
            .iter()
            .map(|item| batch_item(&outer, item, shape, build, received_at))
            .collect(),
    }
}

/// One batch element, itself possibly wrapped, with the batch's levels as fallbacks.
fn batch_item(
    outer: &Msg<'_>,
    item: &Json<'_>,
    shape: &Shape,
    build: Build,
    received_at: EpochMillis,
) -> Res<Event> {
    let Json::Object(item) = item else {
        return Err(DropReason::NotAnObject);
    };
    let mut msg = outer.clone();
    msg.push(item);
    match msg.peel(shape, false)? {
        Unwrapped::One(msg) | Unwrapped::Batch(msg, _) => build(&msg, received_at),
    }
}

/// A `{"test": ...}` health-check or startup-validator probe (optionally with a timestamp).
fn is_probe(root: &Object<'_>) -> bool {
    root.contains_key("test") && root.keys().all(|k| k == "test" || k == "timestamp")
}

fn family(kind: EventKind) -> (&'static Shape, Build) {
    use EventKind as K;
    match kind {
        K::PatternDetected => (&detections::PATTERN_SHAPE, detections::pattern_alert),
        K::StreamingPattern => (&detections::PATTERN_SHAPE, detections::streaming_pattern),
        K::StreamingIndicator => (
            &detections::INDICATOR_SHAPE,
            detections::streaming_indicator,
        ),
        K::IndicatorUpdate => (&detections::INDICATOR_SHAPE, detections::indicator_update),
        K::IndicatorAlert => (&alerts::INDICATOR_ALERT_SHAPE, alerts::indicator_alert),
        K::CriticalAlert => (&alerts::CRITICAL_ALERT_SHAPE, alerts::critical_alert),
        K::StreamingSessionStarted => (
            &streaming::STREAMING_SESSION_SHAPE,
            streaming::streaming_session_started,
        ),
        K::StreamingSessionStopped => (
            &streaming::STREAMING_SESSION_SHAPE,
            streaming::streaming_session_stopped,
        ),
        K::StreamingHealth => (
            &streaming::STREAMING_HEALTH_SHAPE,
            streaming::streaming_health,
        ),
        K::SystemHealth => (&streaming::SYSTEM_HEALTH_SHAPE, streaming::system_health),
        K::BacktestProgress => (&backtest::BACKTEST_SHAPE, backtest::progress),
        K::BacktestResult => (&backtest::BACKTEST_SHAPE, backtest::result),
        K::PriceUpdate => (&market::PRICE_SHAPE, market::price_update),
        K::OhlcvUpdate => (&market::OHLCV_SHAPE, market::ohlcv_update),
        K::MarketSummary => (&market::SUMMARY_SHAPE, market::market_summary),
        K::TickData => (&market::PRICE_SHAPE, market::tick_data),
        K::MarketTick => (&market::PRICE_SHAPE, market::market_tick),
        K::VolumeSpike => (&dashboard::VOLUME_SPIKE_SHAPE, dashboard::volume_spike),
        K::SymbolMetadata => (
            &dashboard::SYMBOL_METADATA_SHAPE,
            dashboard::symbol_metadata,
        ),
        K::DashboardAlert => (
            &dashboard::DASHBOARD_ALERT_SHAPE,
            dashboard::dashboard_alert,
        ),
        K::DashboardSummary => (
            &dashboard::DASHBOARD_SUMMARY_SHAPE,
            dashboard::dashboard_summary,
        ),
        K::WatchlistUpdate => (&dashboard::USER_SIGNAL_SHAPE, dashboard::watchlist_changed),
        K::AlertRulesUpdate => (
            &dashboard::USER_SIGNAL_SHAPE,
            dashboard::alert_rules_changed,
        ),
        K::ErrorReport => (&ops::ERROR_SHAPE, ops::error_report),
        K::Monitoring => (&ops::MONITORING_SHAPE, ops::monitoring),
    }
}

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::*;

    const NOW: EpochMillis = EpochMillis(1);

    fn all_kinds(payload: &[u8]) -> Vec<Vec<Res<Event>>> {
        EventKind::VARIANTS
            .iter()
            .map(|k| normalise(*k, payload, NOW))
            .collect()
    }

    #[test]
    fn strict_json_only() {
        for bad in [
            &b""[..],
            b"{'symbol': 'AAPL'}",
            b"{\"value\": NaN}",
            b"{\"value\": Infinity}",
            b"{\"a\": 1,}",
            b"{\"a\": \"\xff\"}",
        ] {
            for out in all_kinds(bad) {
                assert_eq!(out, vec![Err(DropReason::InvalidJson)], "{bad:?}");
            }
        }
        for not_object in [&b"[{}]"[..], b"\"healthy\"", b"3", b"null"] {
            for out in all_kinds(not_object) {
                assert_eq!(out, vec![Err(DropReason::NotAnObject)]);
            }
        }
    }

    #[test]
    fn probes_are_dropped_for_every_kind() {
        for probe in [
            &br#"{"test": "permission_check"}"#[..],
            br#"{"test": 1, "timestamp": 2}"#,
        ] {
            for out in all_kinds(probe) {
                assert_eq!(out, vec![Err(DropReason::Probe)]);
            }
        }
        let not_probe = br#"{"test": true, "symbol": "AAPL", "price": 1}"#;
        assert!(normalise(EventKind::TickData, not_probe, NOW)[0].is_ok());
    }

    #[test]
    fn a_key_given_twice_counts_with_its_last_value() {
        let price = |payload: &[u8]| match &normalise(EventKind::PriceUpdate, payload, NOW)[..] {
            [Ok(Event::PriceUpdate(p))] => Ok(p.price),
            [Err(reason)] => Err(*reason),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            price(br#"{"symbol": "A", "price": 1, "price": 2}"#),
            Ok(2.0)
        );
        assert_eq!(
            price(br#"{"symbol": "A", "price": 1, "price": null}"#),
            Err(DropReason::MissingField)
        );
        assert_eq!(
            price(br#"{"symbol": "A", "price": 1, "\u0070rice": "3"}"#),
            Ok(3.0)
        );
    }

    #[test]
    fn nesting_beyond_serde_limit_is_invalid_json_and_never_overflows() {
        let deep = format!("{}{}", "{\"data\":".repeat(5000), "}".repeat(5000));
        for out in all_kinds(deep.as_bytes()) {
            assert_eq!(out, vec![Err(DropReason::InvalidJson)]);
        }
        let within = format!("{}{{}}{}", "{\"data\":".repeat(100), "}".repeat(100));
        for out in all_kinds(within.as_bytes()) {
            assert_eq!(out.len(), 1);
        }
        let pattern = normalise(EventKind::PatternDetected, within.as_bytes(), NOW);
        assert_eq!(pattern, vec![Err(DropReason::InvalidValue)]);
    }
}
