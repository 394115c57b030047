//! Detections: batch-tier pattern alerts, streaming patterns and streaming indicators.

use super::super::drop::DropReason;
use super::super::event::{
    Calculation, Detection, EpochMillis, Event, IndicatorUpdate, PatternAlert, StreamingIndicator,
    StreamingPattern,
};
use super::json::Json;
use super::layers::{Msg, Shape, INDICATOR_NAME, PATTERN_NAME, SYMBOL};
use super::value::{self as v, Res};

pub(super) const PATTERN_SHAPE: Shape = Shape {
    wrappers: &["detection", "event"],
    key_fields: &[SYMBOL, PATTERN_NAME],
    batch: Some("patterns"),
};

pub(super) const INDICATOR_SHAPE: Shape = Shape {
    wrappers: &["calculation", "indicator", "event"],
    key_fields: &[SYMBOL, INDICATOR_NAME],
    batch: Some("indicators"),
};

const DEFAULT_TIMEFRAME: &str = "1min";

/// `tickstock.events.patterns` → `pattern_alert`. Expiry and update notices are not new events.
pub(super) fn pattern_alert(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    let not_new = m.levels().any(|level| {
        let kind = level
            .get("event_type")
            .and_then(Json::as_str)
            .map(str::trim);
        kind.is_some_and(|k| {
            k.eq_ignore_ascii_case("pattern_expired") || k.eq_ignore_ascii_case("pattern_updated")
        })
    });
    if not_new {
        return Err(DropReason::NotAnEvent);
    }
    Ok(Event::PatternAlert(PatternAlert {
        symbol: m.symbol()?,
        pattern: m.name(PATTERN_NAME)?,
        confidence: v::fraction(m.own(&["confidence"]))?.unwrap_or(0.0),
        timestamp: m.time(received_at)?,
        source: v::text(m.get(&["source"]))?,
        tier: v::text(m.own(&["tier"]))?,
        timeframe: v::text(m.get(&["timeframe"]))?,
        direction: v::text(m.get(&["direction"]))?,
        flow_id: v::text(m.get(&["flow_id"]))?,
        current_price: v::number(m.own(&["current_price"]))?,
        price_change: v::number(m.own(&["price_change"]))?,
        volume: v::number(m.own(&["volume"]))?,
        expires_at: v::timestamp(m.own(&["expires_at"]))?,
        details: v::object_if_any(m.own(&["details"])),
        indicators: v::object_if_any(m.own(&["indicators"])),
        metadata: v::object_if_any(m.own(&["metadata"])),
    }))
}

/// `tickstock:patterns:streaming` / `:detected` → one `streaming_pattern` item.
pub(super) fn streaming_pattern(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    Ok(Event::StreamingPattern(StreamingPattern {
        detection: Detection {
            symbol: m.symbol()?,
            pattern_type: m.name(PATTERN_NAME)?,
            confidence: v::fraction(m.own(&["confidence"]))?.unwrap_or(0.0),
            timestamp: m.time(received_at)?,
            timeframe: timeframe(m)?,
            parameters: v::object_or_empty(m.own(&["parameters"]))?,
            bar_data: v::object_if_any(m.own(&["bar_data"])),
            metadata: v::object_if_any(m.own(&["metadata"])),
            session_id: v::text(m.get(&["session_id"]))?,
        },
    }))
}

/// `tickstock:indicators:streaming` → one `streaming_indicator` item, scalar `value` kept.
pub(super) fn streaming_indicator(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    Ok(Event::StreamingIndicator(StreamingIndicator {
        calculation: Calculation {
            symbol: m.symbol()?,
            indicator_type: m.name(INDICATOR_NAME)?,
            value: v::number(m.own(&["value"]))?,
            values: v::object_or_empty(m.own(&["values"]))?,
            timestamp: m.time(received_at)?,
            timeframe: timeframe(m)?,
            metadata: v::object_if_any(m.own(&["metadata"])),
            session_id: v::text(m.get(&["session_id"]))?,
        },
    }))
}

/// `tickstock.events.indicators` -> `indicator_update`: the same aliases and values as a
/// streaming indicator, one per message.
pub(super) fn indicator_update(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    Ok(Event::IndicatorUpdate(IndicatorUpdate {
        indicator: m.name(INDICATOR_NAME)?,
        symbol: m.symbol()?,
        value: v::number(m.own(&["value"]))?,
        values: v::object_or_empty(m.own(&["values"]))?,
        timestamp: m.time(received_at)?,
        timeframe: timeframe(m)?,
        source: v::text(m.get(&["source"]))?,
        metadata: v::object_if_any(m.own(&["metadata"])),
    }))
}

pub(super) fn timeframe(m: &Msg<'_>) -> Res<String> {
    Ok(v::text(m.get(&["timeframe"]))?.unwrap_or_else(|| DEFAULT_TIMEFRAME.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::super::super::kind::EventKind;
    use super::super::normalise;
    use super::*;
    use serde_json::{json, Value};

    const NOW: EpochMillis = EpochMillis(1_760_557_170_000);

    fn run(kind: EventKind, v: Value) -> Vec<Res<Event>> {
        normalise(kind, v.to_string().as_bytes(), NOW)
    }

    #[test]
    fn pattern_alert_reads_every_alias_and_copies_known_fields_only() {
        let out = run(
            EventKind::PatternDetected,
            json!({"ticker": "aapl", "pattern_name": "Hammer", "confidence": "72",
                   "detected_at": "2025-10-15T20:05:00+00:00", "api_secret": "x", "tier": 3}),
        );
        let [Ok(Event::PatternAlert(p))] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!((p.symbol.as_str(), p.pattern.as_str()), ("AAPL", "Hammer"));
        assert_eq!(
            (p.confidence, p.timestamp),
            (0.72, EpochMillis(1_760_558_700_000))
        );
        assert_eq!(p.tier.as_deref(), Some("3"));
        assert!(!serde_json::to_string(p).unwrap().contains("api_secret"));
    }

    #[test]
    fn pattern_updates_are_not_events() {
        let out = run(
            EventKind::PatternDetected,
            json!({"event_type": "pattern_updated", "data": {"symbol": "A", "pattern": "B"}}),
        );
        assert_eq!(out, vec![Err(DropReason::NotAnEvent)]);
    }

    #[test]
    fn batch_items_are_normalised_one_by_one_with_outer_fallbacks() {
        let out = run(
            EventKind::StreamingPattern,
            json!({"session_id": "s1", "timestamp": 1760557168, "patterns": [
                {"detection": {"symbol": "AAPL", "pattern_type": "Harami"}},
                {"symbol": "NVDA"},
                "Doji",
                {"data": {"symbol": "TSLA", "pattern": "Hammer", "confidence": 101}}
            ]}),
        );
        assert_eq!(out.len(), 4);
        let Ok(Event::StreamingPattern(first)) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(first.detection.session_id.as_deref(), Some("s1"));
        assert_eq!(first.detection.timestamp, EpochMillis(1_760_557_168_000));
        assert_eq!(first.detection.timeframe, "1min");
        assert_eq!(
            out[1..],
            [
                Err(DropReason::MissingName),
                Err(DropReason::NotAnObject),
                Err(DropReason::InvalidValue)
            ]
        );
        let empty = run(EventKind::StreamingIndicator, json!({"indicators": []}));
        assert_eq!(empty, vec![Err(DropReason::EmptyBatch)]);
    }

    #[test]
    fn indicator_value_is_kept_and_must_be_a_scalar_number() {
        let out = run(
            EventKind::StreamingIndicator,
            json!({"type": "indicator_update",
                   "indicator": {"symbol": "AMD", "indicator_type": "EMA", "value": "55.31"}}),
        );
        let [Ok(Event::StreamingIndicator(i))] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(i.calculation.indicator_type, "EMA");
        assert_eq!(i.calculation.value, Some(55.31));
        let bad = json!({"symbol": "AMD", "indicator": "EMA", "value": [1]});
        assert_eq!(
            run(EventKind::StreamingIndicator, bad),
            vec![Err(DropReason::InvalidValue)]
        );
        let null = json!({"symbol": "AMD", "indicator": "EMA", "value": null});
        let [Ok(Event::StreamingIndicator(i))] = &run(EventKind::StreamingIndicator, null)[..]
        else {
            panic!()
        };
        assert_eq!(i.calculation.value, None);
    }
}
