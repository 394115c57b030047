//! Streaming lifecycle and health: session started/stopped, streaming health, system health.

use serde_json::Value;

use super::super::drop::DropReason;
use super::super::event::{
    EpochMillis, Event, JsonMap, StreamingHealth, StreamingHealthBody, StreamingSession,
    StreamingSessionStart, StreamingSessionStop, SystemHealth,
};
use super::json::Json;
use super::layers::{Msg, Shape, TIMESTAMP};
use super::value::{self as v, Res};

pub(super) const STREAMING_SESSION_SHAPE: Shape = Shape {
    wrappers: &["session", "event"],
    key_fields: &[&["session_id"]],
    batch: None,
};

pub(super) const STREAMING_HEALTH_SHAPE: Shape = Shape {
    wrappers: &["health", "event"],
    key_fields: &[&["status"]],
    batch: None,
};

pub(super) const SYSTEM_HEALTH_SHAPE: Shape = Shape {
    wrappers: &["event"],
    key_fields: &[&["overall_status", "status"]],
    batch: None,
};

const UNKNOWN: &str = "unknown";

fn session_id(m: &Msg<'_>) -> Res<String> {
    v::required_text(m.get(&["session_id"]), DropReason::MissingField)
}

fn text_or(m: &Msg<'_>, aliases: &[&str], default: &str) -> Res<String> {
    Ok(v::text(m.own(aliases))?.unwrap_or_else(|| default.to_owned()))
}

/// `tickstock:streaming:session_started`, from `session`, `data` or the top level.
pub(super) fn streaming_session_started(m: &Msg<'_>, _received_at: EpochMillis) -> Res<Event> {
    Ok(Event::StreamingSession(
        StreamingSession::StreamingSessionStarted(StreamingSessionStart {
            session_id: session_id(m)?,
            universe: v::text(m.own(&["universe", "symbol_universe_key"]))?,
            start_time: v::timestamp(m.own(&["start_time", "started_at"]))?,
            symbol_count: v::count(m.own(&["symbol_count"]))?.unwrap_or(0),
            status: text_or(m, &["status"], UNKNOWN)?,
            trigger_type: v::text(m.own(&["trigger_type"]))?,
        }),
    ))
}

/// `tickstock:streaming:session_stopped`, from `session`, `data` or the top level.
pub(super) fn streaming_session_stopped(m: &Msg<'_>, _received_at: EpochMillis) -> Res<Event> {
    Ok(Event::StreamingSession(
        StreamingSession::StreamingSessionStopped(StreamingSessionStop {
            session_id: session_id(m)?,
            stopped_at: v::timestamp(m.own(&["stopped_at", "stop_time"]))?,
            duration_seconds: v::number(m.own(&["duration_seconds"]))?.unwrap_or(0.0),
            total_patterns: v::count(m.own(&["total_patterns"]))?.unwrap_or(0),
            total_indicators: v::count(m.own(&["total_indicators"]))?.unwrap_or(0),
            final_status: text_or(m, &["final_status", "status"], UNKNOWN)?,
            reason: v::text(m.own(&["reason"]))?,
        }),
    ))
}

/// `tickstock:streaming:health`: `health` unwrapped (or flat); `issues` and the Sprint 40
/// `resource_usage` / `connection_status` are carried (docs/PRODUCERS.md#streaming-health).
pub(super) fn streaming_health(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    let flow = m.own(&["data_flow"]);
    let incoming_flow = v::object_or_empty(flow)?;
    let ticks_per_second = match v::number(m.own(&["ticks_per_second"]))? {
        Some(t) => t,
        None => v::number(
            flow.and_then(|flow| flow.get("ticks_per_second"))
                .filter(|t| !t.is_null()),
        )?
        .unwrap_or(0.0),
    };
    let mut data_flow = JsonMap::new();
    data_flow.insert("ticks_per_second".to_owned(), Value::from(ticks_per_second));
    for (key, value) in incoming_flow {
        if !value.is_null() || key != "ticks_per_second" {
            data_flow.insert(key, value);
        }
    }
    let issues = match m.own(&["issues"]) {
        None => Vec::new(),
        Some(Json::Array(items)) => items.iter().map(Json::to_value).collect(),
        Some(_) => return Err(DropReason::InvalidValue),
    };
    Ok(Event::StreamingHealth(StreamingHealth {
        health: StreamingHealthBody {
            timestamp: v::timestamp(m.outer_first(TIMESTAMP))?.unwrap_or(received_at),
            session_id: v::text(m.get(&["session_id"]))?,
            status: text_or(m, &["status"], UNKNOWN)?,
            active_symbols: v::count(m.own(&["active_symbols"]))?.unwrap_or(0),
            ticks_per_second,
            patterns_detected: v::count(m.own(&["patterns_detected"]))?.unwrap_or(0),
            indicators_calculated: v::count(m.own(&["indicators_calculated"]))?.unwrap_or(0),
            connection: v::object_or_empty(m.own(&["connection"]))?,
            data_flow,
            resources: v::object_or_empty(m.own(&["resources", "resource_usage"]))?,
            stale_symbols: v::object_or_empty(m.own(&["stale_symbols"]))?,
            issues,
            connection_status: v::text(m.own(&["connection_status"]))?,
        },
    }))
}

/// `tickstock.health.status` → `system_health`, status exposed as `overall_status`.
pub(super) fn system_health(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    Ok(Event::SystemHealth(SystemHealth {
        overall_status: v::required_text(
            m.own(&["overall_status", "status"]),
            DropReason::MissingField,
        )?,
        timestamp: m.time(received_at)?,
        source: v::text(m.get(&["source"]))?,
        message: v::text(m.own(&["message"]))?,
        metrics: v::object_if_any(m.own(&["metrics"])),
        components: v::object_if_any(m.own(&["components"])),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::super::kind::EventKind;
    use super::super::normalise;
    use super::*;
    use serde_json::json;

    fn health(v: Value) -> Res<StreamingHealthBody> {
        match normalise(
            EventKind::StreamingHealth,
            v.to_string().as_bytes(),
            EpochMillis(9),
        )
        .pop()
        {
            Some(Ok(Event::StreamingHealth(h))) => Ok(h.health),
            Some(Err(e)) => Err(e),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ticks_per_second_falls_back_to_data_flow_and_is_always_in_it() {
        let h = health(json!({"health": {"data_flow": {"ticks_per_second": 850, "lag": 2}}}));
        let h = h.unwrap();
        assert_eq!(h.ticks_per_second, 850.0);
        assert_eq!(h.data_flow.get("ticks_per_second"), Some(&json!(850)));
        let h = health(json!({"status": "ok", "ticks_per_second": 5.5})).unwrap();
        assert_eq!(h.data_flow.get("ticks_per_second"), Some(&json!(5.5)));
        assert_eq!((h.status.as_str(), h.timestamp), ("ok", EpochMillis(9)));
        let h = health(json!({"data_flow": {"ticks_per_second": null}})).unwrap();
        assert_eq!(h.data_flow.get("ticks_per_second"), Some(&json!(0.0)));
    }

    #[test]
    fn health_timestamp_prefers_the_outer_one() {
        let h = health(json!({"timestamp": 2, "health": {"timestamp": 1}})).unwrap();
        assert_eq!(h.timestamp, EpochMillis(2000));
        assert_eq!(
            health(json!({"health": null})),
            Err(DropReason::InvalidValue)
        );
        assert_eq!(
            health(json!({"issues": "x"})),
            Err(DropReason::InvalidValue)
        );
    }

    #[test]
    fn stopped_session_reads_status_and_stop_time() {
        let raw = json!({"data": {"session_id": "s", "stop_time": 1, "status": "done"}});
        let out = normalise(
            EventKind::StreamingSessionStopped,
            raw.to_string().as_bytes(),
            EpochMillis(0),
        );
        let [Ok(Event::StreamingSession(StreamingSession::StreamingSessionStopped(s)))] = &out[..]
        else {
            panic!("{out:?}")
        };
        assert_eq!(
            (s.final_status.as_str(), s.stopped_at),
            ("done", Some(EpochMillis(1000)))
        );
        let none = json!({"session": {"status": "x"}});
        let out = normalise(
            EventKind::StreamingSessionStarted,
            none.to_string().as_bytes(),
            EpochMillis(0),
        );
        assert_eq!(out, vec![Err(DropReason::MissingField)]);
    }
}
