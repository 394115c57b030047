//! Streaming alerts: `indicator_alert` and `critical_alert` (with recovery notices flagged).

use super::super::drop::DropReason;
use super::super::event::{
    CriticalAlert, CriticalAlertBody, EpochMillis, Event, IndicatorAlert, IndicatorAlertBody,
};
use super::layers::{Msg, Shape, SYMBOL};
use super::value::{self as v, Res};

pub(super) const INDICATOR_ALERT_SHAPE: Shape = Shape {
    wrappers: &["alert", "event"],
    key_fields: &[SYMBOL, &["alert_type"]],
    batch: None,
};

pub(super) const CRITICAL_ALERT_SHAPE: Shape = Shape {
    wrappers: &["alert", "event"],
    key_fields: &[&["message"]],
    batch: None,
};

/// The envelope `type` of the nested critical-alert shape; never the alert's own type.
const CRITICAL_ENVELOPE: &str = "critical_alert";
const RECOVERY_SEVERITIES: [&str; 4] = ["info", "ok", "resolved", "recovery"];

/// `tickstock:alerts:indicators`: flat or nested under `alert`; symbol and alert type required.
pub(super) fn indicator_alert(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    Ok(Event::IndicatorAlert(IndicatorAlert {
        alert: IndicatorAlertBody {
            symbol: m.symbol()?,
            alert_type: v::required_text(m.own(&["alert_type"]), DropReason::MissingField)?,
            timestamp: m.time(received_at)?,
            severity: v::text(m.own(&["severity"]))?,
            session_id: v::text(m.get(&["session_id"]))?,
            data: v::object_or_empty(m.own(&["data"]))?,
        },
    }))
}

/// `tickstock:alerts:critical`: flat (simulator) or nested under `alert` (Sprint 40); see
/// docs/PRODUCERS.md#critical-alerts.
pub(super) fn critical_alert(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    let message = v::required_text(m.own(&["message"]), DropReason::MissingField)?;
    let alert_type = m
        .levels()
        .rev()
        .filter_map(|level| v::text(level.get("type")).ok().flatten())
        .find(|t| !t.trim().is_empty() && !t.trim().eq_ignore_ascii_case(CRITICAL_ENVELOPE))
        .unwrap_or_else(|| "ALERT".to_owned());
    let severity = v::text(m.own(&["severity"]))?.unwrap_or_else(|| "critical".to_owned());
    let recovery = v::text(m.own(&["recovery"]))?;
    let is_recovery = RECOVERY_SEVERITIES
        .iter()
        .any(|s| severity.trim().eq_ignore_ascii_case(s))
        || recovery.as_deref().is_some_and(|r| !r.trim().is_empty());
    Ok(Event::CriticalAlert(CriticalAlert {
        alert: CriticalAlertBody {
            alert_type,
            message,
            severity,
            is_recovery,
            timestamp: m.time(received_at)?,
            component: v::text(m.own(&["component"]))?,
            action_required: v::text(m.own(&["action_required"]))?,
            recovery,
            data: v::object_or_empty(m.own(&["data"]))?,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::super::super::kind::EventKind;
    use super::super::normalise;
    use super::*;
    use serde_json::{json, Value};

    fn critical(v: Value) -> Res<CriticalAlertBody> {
        match normalise(
            EventKind::CriticalAlert,
            v.to_string().as_bytes(),
            EpochMillis(0),
        )
        .pop()
        {
            Some(Ok(Event::CriticalAlert(a))) => Ok(a.alert),
            Some(Err(e)) => Err(e),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn critical_alert_type_skips_the_envelope() {
        let nested = critical(json!({"type": "critical_alert", "alert": {"message": "m"}}));
        assert_eq!(nested.map(|a| a.alert_type), Ok("ALERT".to_owned()));
        let inner = critical(json!({"type": "critical_alert", "alert": {"message": "m",
                                    "type": "HIGH_LAG"}}));
        assert_eq!(inner.map(|a| a.alert_type), Ok("HIGH_LAG".to_owned()));
        let flat = critical(json!({"type": "CONNECTION_LOST", "message": "m"})).unwrap();
        assert_eq!(
            (flat.alert_type.as_str(), flat.severity.as_str()),
            ("CONNECTION_LOST", "critical")
        );
        assert!(!flat.is_recovery);
        assert_eq!(
            critical(json!({"type": "X"})),
            Err(DropReason::MissingField)
        );
    }

    #[test]
    fn recovery_is_flagged_by_severity_or_text() {
        let by_severity = critical(json!({"message": "m", "severity": "OK"})).unwrap();
        assert!(by_severity.is_recovery);
        let by_text = critical(json!({"message": "m", "severity": "critical", "recovery": "r"}));
        assert!(by_text.unwrap().is_recovery);
        let blank = critical(json!({"message": "m", "recovery": " "})).unwrap();
        assert!(!blank.is_recovery);
    }

    #[test]
    fn indicator_alert_needs_symbol_and_type() {
        let run = |v: Value| {
            normalise(
                EventKind::IndicatorAlert,
                v.to_string().as_bytes(),
                EpochMillis(0),
            )
        };
        assert_eq!(
            run(json!({"symbol": "A", "data": {"rsi": 1}})),
            vec![Err(DropReason::MissingField)]
        );
        assert_eq!(
            run(json!({"alert_type": "X", "data": {"rsi": 1}})),
            vec![Err(DropReason::MissingSymbol)]
        );
        let out = run(json!({"type": "indicator_alert", "symbol": "aapl",
                             "alert": {"alert_type": "RSI", "data": {"rsi": 75}}}));
        let [Ok(Event::IndicatorAlert(a))] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!((a.alert.symbol.as_str(), a.alert.data.len()), ("AAPL", 1));
    }
}
