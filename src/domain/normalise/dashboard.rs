//! Dashboard channels: volume spikes, symbol metadata, market alerts, the dashboard summary and
//! watchlist-change notices.

use super::super::drop::DropReason;
use super::super::event::{
    DashboardAlertBody, EpochMillis, Event, MarketEvent, Preference, PreferenceSignal,
};
use super::super::ids::UserId;
use super::json::Json;
use super::layers::{Msg, Shape, SYMBOL};
use super::value::{self as v, Res};

const SUMMARY_KEYS: &[&str] = &[
    "watchlist_count",
    "alerts_today",
    "top_movers",
    "market_status",
];

pub(super) const VOLUME_SPIKE_SHAPE: Shape = Shape {
    wrappers: &["event"],
    key_fields: &[SYMBOL, &["volume_data"]],
    batch: None,
};

pub(super) const SYMBOL_METADATA_SHAPE: Shape = Shape {
    wrappers: &["event"],
    key_fields: &[SYMBOL, &["metadata"]],
    batch: None,
};

pub(super) const DASHBOARD_ALERT_SHAPE: Shape = Shape {
    wrappers: &["event"],
    key_fields: &[&["alert"]],
    batch: None,
};

pub(super) const DASHBOARD_SUMMARY_SHAPE: Shape = Shape {
    wrappers: &["summary", "event"],
    key_fields: &[SUMMARY_KEYS],
    batch: None,
};

/// The user-signal channels (`tickstock.dashboard.watchlist`, `tickstock.jobs.alerts`).
pub(super) const USER_SIGNAL_SHAPE: Shape = Shape {
    wrappers: &["event"],
    key_fields: &[&["user_id"]],
    batch: None,
};

/// The user id, if any; present but blank or not a string/number is `MissingUserId`, so a
/// message meant for one user is never delivered to others.
fn user_id(m: &Msg<'_>) -> Res<Option<UserId>> {
    match m.get(&["user_id"]) {
        None => Ok(None),
        Some(raw) => {
            let id = v::text(Some(raw)).ok().flatten().and_then(UserId::new);
            id.map(Some).ok_or(DropReason::MissingUserId)
        }
    }
}

pub(super) fn volume_spike(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    Ok(Event::MarketEvent(MarketEvent::VolumeSpike {
        symbol: m.symbol()?,
        volume_data: v::object_or_empty(m.own(&["volume_data"]))?,
        timestamp: m.time(received_at)?,
    }))
}

pub(super) fn symbol_metadata(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    Ok(Event::MarketEvent(MarketEvent::SymbolMetadata {
        symbol: m.symbol()?,
        metadata: v::object_or_empty(m.own(&["metadata"]))?,
        timestamp: m.time(received_at)?,
    }))
}

/// `tickstock.dashboard.alerts`: needs an `alert` object; `user_id` from it or the message.
pub(super) fn dashboard_alert(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    let Some(Json::Object(body)) = m.own(&["alert"]) else {
        return Err(DropReason::MissingField);
    };
    let timestamp = m.time(received_at)?;
    let mut alert = m.clone();
    alert.push(body);
    Ok(Event::MarketEvent(MarketEvent::DashboardAlert {
        alert: DashboardAlertBody {
            id: v::text(alert.own(&["id"]))?,
            alert_type: v::text(alert.own(&["type"]))?,
            title: v::text(alert.own(&["title"]))?,
            description: v::text(alert.own(&["description"]))?,
            symbol: alert.optional_symbol().transpose()?,
            timestamp: alert.time(received_at)?,
            show_notification: v::flag(alert.own(&["show_notification"]))?.unwrap_or(false),
        },
        user_id: user_id(&alert)?,
        timestamp,
    }))
}

/// `tickstock.dashboard.summary`: the known summary keys that are present, unchanged.
pub(super) fn dashboard_summary(m: &Msg<'_>, received_at: EpochMillis) -> Res<Event> {
    let summary = m.own_fields(SUMMARY_KEYS);
    if summary.is_empty() {
        return Err(DropReason::MissingField);
    }
    Ok(Event::MarketEvent(MarketEvent::DashboardSummary {
        summary,
        timestamp: m.time(received_at)?,
    }))
}

/// `tickstock.dashboard.watchlist`: only the user id matters (cache invalidation).
pub(super) fn watchlist_changed(m: &Msg<'_>, _received_at: EpochMillis) -> Res<Event> {
    preference_signal(m, Preference::Watchlist)
}

/// `tickstock.jobs.alerts` (`alert_subscriptions_changed`): only the user id matters; the rules
/// are read from their records, the one copy every instance agrees on.
pub(super) fn alert_rules_changed(m: &Msg<'_>, _received_at: EpochMillis) -> Res<Event> {
    preference_signal(m, Preference::AlertRules)
}

fn preference_signal(m: &Msg<'_>, what: Preference) -> Res<Event> {
    let user_id = user_id(m)?.ok_or(DropReason::MissingUserId)?;
    Ok(Event::PreferenceSignal(PreferenceSignal { user_id, what }))
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
    fn dashboard_alert_user_comes_from_alert_or_message() {
        let out = run(
            EventKind::DashboardAlert,
            json!({"user_id": 42, "timestamp": 5, "alert": {"id": 7, "title": "t"}}),
        );
        let [Ok(Event::MarketEvent(MarketEvent::DashboardAlert {
            alert,
            user_id,
            timestamp,
        }))] = out.as_slice()
        else {
            panic!("{out:?}")
        };
        assert_eq!(user_id.as_ref().map(UserId::as_str), Some("42"));
        assert_eq!(
            (alert.id.as_deref(), alert.timestamp, *timestamp),
            (Some("7"), EpochMillis(5000), EpochMillis(5000))
        );
        assert!(!alert.show_notification);
        let blank_user = json!({"alert": {"user_id": " "}});
        assert_eq!(
            run(EventKind::DashboardAlert, blank_user),
            vec![Err(DropReason::MissingUserId)]
        );
        let not_object = json!({"alert": "price_target"});
        assert_eq!(
            run(EventKind::DashboardAlert, not_object),
            vec![Err(DropReason::MissingField)]
        );
    }

    #[test]
    fn dashboard_summary_keeps_known_keys_only() {
        let out = run(
            EventKind::DashboardSummary,
            json!({"alerts_today": 7, "secret": 1}),
        );
        let [Ok(Event::MarketEvent(MarketEvent::DashboardSummary { summary, .. }))] = &out[..]
        else {
            panic!("{out:?}")
        };
        assert_eq!(summary.keys().collect::<Vec<_>>(), ["alerts_today"]);
        let none = json!({"type": "dashboard_summary"});
        assert_eq!(
            run(EventKind::DashboardSummary, none),
            vec![Err(DropReason::MissingField)]
        );
    }

    #[test]
    fn watchlist_needs_a_user() {
        let out = run(EventKind::WatchlistUpdate, json!({"user_id": 42}));
        assert!(
            matches!(&out[..], [Ok(Event::PreferenceSignal(w))] if w.user_id.as_str() == "42" && w.what == Preference::Watchlist)
        );
        let none = json!({"user_id": ""});
        assert_eq!(
            run(EventKind::WatchlistUpdate, none),
            vec![Err(DropReason::MissingUserId)]
        );
    }
}
