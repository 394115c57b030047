//! The operations log: producer errors (`tickstock:errors`) and monitoring reports
//! (`tickstock:monitoring`) kept in a bounded Redis Stream, so they are not lost when no admin is
//! connected, and read back by `GET /api/admin/errors`. What an entry holds and which entries a
//! query selects; the Redis commands are the callers'.

use std::collections::HashMap;

use super::event::{ErrorReport, MonitoringEvent};
use super::outbound::EventName;

/// At most this many entries are kept (trimmed approximately, as Redis does best).
pub const MAX_ENTRIES: usize = 10_000;
/// Entries older than this are trimmed.
pub const MAX_AGE_MS: i64 = 7 * 24 * 3600 * 1000;
/// Entries an API call returns by default, and at most.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1_000;

/// One entry's fields, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// The event admins get live: `system_error` or `monitoring_event`.
    pub event: &'static str,
    pub severity: Option<String>,
    pub source: Option<String>,
    /// The event's data, as JSON.
    pub data: String,
}

impl LogEntry {
    pub fn of_error(report: &ErrorReport) -> Self {
        LogEntry {
            event: EventName::SystemError.as_str(),
            severity: Some(report.severity.clone()),
            source: Some(report.source.clone()),
            data: serde_json::to_string(report).unwrap_or_default(),
        }
    }

    pub fn of_monitoring(event: &MonitoringEvent) -> Self {
        LogEntry {
            event: EventName::MonitoringEvent.as_str(),
            severity: None,
            source: None,
            data: serde_json::to_string(event).unwrap_or_default(),
        }
    }

    /// The stream entry's field-value pairs.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        let mut fields = vec![("event", self.event), ("data", self.data.as_str())];
        fields.extend(self.severity.as_deref().map(|s| ("severity", s)));
        fields.extend(self.source.as_deref().map(|s| ("source", s)));
        fields
    }
}

/// Which entries `GET /api/admin/errors` returns, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogQuery {
    /// Only entries added at or after this time (epoch ms).
    pub since: Option<i64>,
    /// Only entries of this severity (case-insensitive).
    pub severity: Option<String>,
    /// Only entries from this source.
    pub source: Option<String>,
    pub limit: usize,
}

impl LogQuery {
    /// Whether a stored entry (its id `<ms>-<seq>` and fields) is selected.
    pub fn admits(&self, id: &str, fields: &HashMap<String, String>) -> bool {
        let added = id.split('-').next().and_then(|ms| ms.parse::<i64>().ok());
        let recent = match (self.since, added) {
            (Some(since), Some(added)) => added >= since,
            (Some(_), None) => false,
            (None, _) => true,
        };
        let same = |wanted: &Option<String>, field: &str, ignore_case: bool| match wanted {
            None => true,
            Some(w) => fields.get(field).is_some_and(|v| {
                if ignore_case {
                    v.eq_ignore_ascii_case(w)
                } else {
                    v == w
                }
            }),
        };
        recent && same(&self.severity, "severity", true) && same(&self.source, "source", false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EpochMillis;

    fn report() -> ErrorReport {
        ErrorReport {
            error_id: "e1".into(),
            source: "tickstock_pl".into(),
            severity: "critical".into(),
            message: "disk full".into(),
            timestamp: EpochMillis(5),
            category: None,
            component: None,
            context: None,
        }
    }

    fn stored(entry: &LogEntry) -> HashMap<String, String> {
        let fields = entry.fields().into_iter();
        fields.map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    #[test]
    fn an_error_keeps_its_severity_source_and_data() {
        let entry = LogEntry::of_error(&report());
        let fields = stored(&entry);
        assert_eq!(fields["event"], "system_error");
        assert_eq!(fields["severity"], "critical");
        assert_eq!(fields["source"], "tickstock_pl");
        assert!(fields["data"].contains(r#""message":"disk full""#));
    }

    #[test]
    fn queries_select_by_time_severity_and_source() {
        let fields = stored(&LogEntry::of_error(&report()));
        let all = LogQuery::default();
        assert!(all.admits("1000-0", &fields));
        let since = LogQuery {
            since: Some(1000),
            ..LogQuery::default()
        };
        assert!(since.admits("1000-0", &fields));
        assert!(!since.admits("999-3", &fields));
        let severity = LogQuery {
            severity: Some("CRITICAL".into()),
            ..LogQuery::default()
        };
        assert!(severity.admits("1-0", &fields));
        let other_source = LogQuery {
            source: Some("backtester".into()),
            ..LogQuery::default()
        };
        assert!(!other_source.admits("1-0", &fields));
        let monitoring = stored(&LogEntry::of_monitoring(&MonitoringEvent {
            event_type: "METRIC_UPDATE".into(),
            timestamp: EpochMillis(1),
            fields: Default::default(),
        }));
        assert!(!severity.admits("1-0", &monitoring), "no severity to match");
    }
}
