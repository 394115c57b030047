//! Operations channels for admins: `tickstock:errors` reports and `tickstock:monitoring` events.

use super::super::drop::DropReason;
use super::super::event::{EpochMillis, ErrorReport, Event, MonitoringEvent};
use super::layers::{Msg, Shape};
use super::value::{self as v, Res};

const SEVERITIES: [&str; 5] = ["critical", "error", "warning", "info", "debug"];
const MONITORING_FIELDS: &[&str] = &[
    "metrics",
    "health_score",
    "alert",
    "alert_id",
    "health",
    "status",
    "details",
    "payload",
];

pub(super) const ERROR_SHAPE: Shape = Shape {
    wrappers: &["event"],
    key_fields: &[&["error_id"], &["message"]],
    batch: None,
};

pub(super) const MONITORING_SHAPE: Shape = Shape {
    wrappers: &["event"],
    key_fields: &[&["event_type", "event"]],
    batch: None,
};

fn required(m: &Msg<'_>, key: &str) -> Res<String> {
    v::required_text(m.own(&[key]), DropReason::MissingField)
}

/// The producers' `ErrorMessage`; `traceback` is never forwarded.
pub(super) fn error_report(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    let error_id = required(m, "error_id")?;
    let source = v::required_text(m.get(&["source"]), DropReason::MissingField)?;
    let severity = required(m, "severity")?.trim().to_ascii_lowercase();
    if !SEVERITIES.contains(&severity.as_str()) {
        return Err(DropReason::InvalidValue);
    }
    Ok(Event::ErrorReport(ErrorReport {
        error_id,
        source,
        severity,
        message: required(m, "message")?,
        timestamp: m.time(received_at)?,
        category: v::text(m.own(&["category"]))?,
        component: v::text(m.own(&["component"]))?,
        context: v::object_if_any(m.own(&["context"])),
    }))
}

/// Both monitoring producer families: the discriminator is `event_type` or `event`.
pub(super) fn monitoring(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    let event_type = v::required_text(m.own(&["event_type", "event"]), DropReason::MissingField)?;
    let fields = m.own_fields(MONITORING_FIELDS);
    Ok(Event::Monitoring(MonitoringEvent {
        event_type,
        timestamp: m.time(received_at)?,
        fields,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::super::kind::EventKind;
    use super::super::normalise;
    use super::*;
    use serde_json::{json, Value};

    fn run(kind: EventKind, v: Value) -> Vec<Res<Event>> {
        normalise(kind, v.to_string().as_bytes(), EpochMillis(0))
    }

    #[test]
    fn error_reports_are_validated() {
        let ok = json!({"error_id": "e", "source": "pl", "severity": "WARNING", "message": "m",
                        "traceback": "secret frames", "context": {"a": 1}});
        let out = run(EventKind::ErrorReport, ok.clone());
        let [Ok(Event::ErrorReport(e))] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(e.severity, "warning");
        assert!(!serde_json::to_string(e).unwrap().contains("traceback"));
        let mut bad = ok.clone();
        bad["severity"] = json!("fatal");
        assert_eq!(
            run(EventKind::ErrorReport, bad),
            vec![Err(DropReason::InvalidValue)]
        );
        let mut no_message = ok;
        no_message["message"] = json!(null);
        assert_eq!(
            run(EventKind::ErrorReport, no_message),
            vec![Err(DropReason::MissingField)]
        );
    }

    #[test]
    fn monitoring_accepts_both_discriminators() {
        let out = run(
            EventKind::Monitoring,
            json!({"event": "job", "payload": {"p": 1}, "x": 1}),
        );
        let [Ok(Event::Monitoring(e))] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!((e.event_type.as_str(), e.fields.len()), ("job", 1));
        assert_eq!(
            run(EventKind::Monitoring, json!({"status": "PAUSED"})),
            vec![Err(DropReason::MissingField)]
        );
    }
}
