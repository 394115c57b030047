//! A user's preferences as the user sees them: the alert rules (`GET/PUT /api/me/alert-rules`)
//! and the stored watchlist (`/api/me/watchlist`), both also carried by `preferences_changed`.
//! Converts the rules to and from the legacy Redis records (docs/PRODUCERS.md#alert-rules) and
//! validates a request naming every invalid field. What the rules decide for an alert is
//! `alert_rules::UserRules`, compiled from [`AlertRules`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::event::EpochMillis;
pub use super::event::Preference;
use super::fields::{keep, FieldErrors};
use super::filter::{MAX_PATTERN_NAME, MAX_SUBSCRIPTIONS};
use super::ids::{Symbol, UserId};

pub const MAX_ALERTS_PER_HOUR: u32 = 100_000;
/// The threshold of a stored subscription entry that names none (the legacy records' default).
pub const LEGACY_THRESHOLD: f64 = 0.5;

/// A user's alert rules. The default is what a user who stored nothing has: every alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRules {
    pub enabled: bool,
    pub max_alerts_per_hour: Option<u32>,
    pub quiet_hours: Option<QuietHours>,
    /// Sorted by pattern; empty means every pattern.
    pub subscriptions: Vec<Subscription>,
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules {
            enabled: true,
            max_alerts_per_hour: None,
            quiet_hours: None,
            subscriptions: Vec::new(),
        }
    }
}

/// No alerts from `start` to `end`, both minutes included, on the user's clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QuietHours {
    #[serde(serialize_with = "hh_mm")]
    pub start: NaiveTime,
    #[serde(serialize_with = "hh_mm")]
    pub end: NaiveTime,
    #[serde(serialize_with = "tz_name")]
    pub time_zone: Tz,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subscription {
    pub pattern: String,
    pub enabled: bool,
    /// 0..1; an alert passes when `confidence >= min_confidence`.
    pub min_confidence: f64,
    /// Empty means every symbol.
    pub symbols: Vec<Symbol>,
}

/// The body of `GET /api/me/alert-rules`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRulesDoc {
    pub user_id: UserId,
    /// Whether the user's rules differ from the defaults (false: every alert).
    pub stored: bool,
    #[serde(flatten)]
    pub rules: AlertRules,
}

/// The body of `GET /api/me/watchlist`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchlistDoc {
    pub user_id: UserId,
    /// Sorted.
    pub symbols: Vec<Symbol>,
}

/// The data of a `preferences_changed` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreferencesChanged {
    pub user_id: UserId,
    #[serde(flatten)]
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "changed", rename_all = "snake_case")]
pub enum Change {
    AlertRules { alert_rules: AlertRulesDoc },
    Watchlist { watchlist: WatchlistDoc },
}

/// What tickrouter publishes on `tickstock.jobs.alerts` when a user changed their rules.
#[derive(Debug, Serialize)]
pub struct SubscriptionsNotice<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub user_id: &'a UserId,
    pub subscriptions: &'a [Subscription],
    pub timestamp: EpochMillis,
}

impl<'a> SubscriptionsNotice<'a> {
    pub fn new(user_id: &'a UserId, rules: &'a AlertRules, now: EpochMillis) -> Self {
        SubscriptionsNotice {
            kind: "alert_subscriptions_changed",
            user_id,
            subscriptions: &rules.subscriptions,
            timestamp: now,
        }
    }
}

impl AlertRulesDoc {
    pub fn new(user_id: UserId, rules: AlertRules) -> Self {
        AlertRulesDoc {
            user_id,
            stored: rules != AlertRules::default(),
            rules,
        }
    }
}

impl WatchlistDoc {
    pub fn new<'a>(user_id: UserId, symbols: impl IntoIterator<Item = &'a Symbol>) -> Self {
        let sorted: BTreeSet<&Symbol> = symbols.into_iter().collect();
        WatchlistDoc {
            user_id,
            symbols: sorted.into_iter().cloned().collect(),
        }
    }
}

impl PreferencesChanged {
    pub fn alert_rules(user_id: UserId, rules: AlertRules) -> Self {
        let alert_rules = AlertRulesDoc::new(user_id.clone(), rules);
        PreferencesChanged {
            user_id,
            change: Change::AlertRules { alert_rules },
        }
    }

    pub fn watchlist<'a>(user_id: UserId, symbols: impl IntoIterator<Item = &'a Symbol>) -> Self {
        let watchlist = WatchlistDoc::new(user_id.clone(), symbols);
        PreferencesChanged {
            user_id,
            change: Change::Watchlist { watchlist },
        }
    }
}

/// A record that exists but cannot be used; the user then keeps the previous or default rules.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidRecord(pub String);

/// `tickstock:alerts:prefs:{user}`; `time_zone` is ours (the legacy system used server time).
#[derive(Debug, Serialize, Deserialize)]
struct PrefsRecord {
    #[serde(default = "yes")]
    global_enabled: bool,
    #[serde(default)]
    max_alerts_per_hour: Option<u32>,
    #[serde(default)]
    quiet_hours_start: Option<String>,
    #[serde(default)]
    quiet_hours_end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_zone: Option<String>,
}

/// One entry of `tickstock:alerts:subscriptions:{user}` (a JSON map pattern -> entry).
#[derive(Debug, Serialize, Deserialize)]
struct SubscriptionRecord {
    #[serde(default)]
    pattern: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "legacy_threshold")]
    confidence_threshold: f64,
    #[serde(default)]
    notification_types: Vec<String>,
    /// Empty or null means every symbol.
    #[serde(default)]
    symbols: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

fn legacy_threshold() -> f64 {
    LEGACY_THRESHOLD
}

fn hh_mm<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.format("%H:%M"))
}

fn tz_name<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

fn parse_hh_mm(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").ok()
}

fn parse_tz(name: &str) -> Option<Tz> {
    name.trim().parse().ok()
}

impl AlertRules {
    /// Reads the two legacy records (`None`: the key is absent, and nothing of it applies). An
    /// empty subscriptions map means every pattern, as an absent one does; invalid symbols in an
    /// entry are skipped.
    pub fn from_records(
        prefs: Option<&str>,
        subscriptions: Option<&str>,
    ) -> Result<AlertRules, InvalidRecord> {
        let mut rules = AlertRules::default();
        if let Some(text) = prefs {
            let prefs: PrefsRecord =
                serde_json::from_str(text).map_err(|e| InvalidRecord(format!("prefs: {e}")))?;
            rules.enabled = prefs.global_enabled;
            rules.max_alerts_per_hour = prefs.max_alerts_per_hour;
            if let (Some(start), Some(end)) = (&prefs.quiet_hours_start, &prefs.quiet_hours_end) {
                let time = |t: &str| {
                    parse_hh_mm(t)
                        .ok_or_else(|| InvalidRecord(format!("quiet hours {t:?} must be HH:MM")))
                };
                let time_zone = match &prefs.time_zone {
                    None => Tz::UTC,
                    Some(name) => parse_tz(name)
                        .ok_or_else(|| InvalidRecord(format!("unknown time zone {name:?}")))?,
                };
                rules.quiet_hours = Some(QuietHours {
                    start: time(start)?,
                    end: time(end)?,
                    time_zone,
                });
            }
        }
        if let Some(text) = subscriptions {
            let map: BTreeMap<String, SubscriptionRecord> = serde_json::from_str(text)
                .map_err(|e| InvalidRecord(format!("subscriptions: {e}")))?;
            rules.subscriptions = map
                .into_iter()
                .map(|(pattern, sub)| {
                    if !(0.0..=1.0).contains(&sub.confidence_threshold) {
                        return Err(InvalidRecord(format!(
                            "{pattern}: confidence_threshold must be 0..1"
                        )));
                    }
                    let symbols: BTreeSet<Symbol> = sub
                        .symbols
                        .iter()
                        .flatten()
                        .filter_map(|s| Symbol::new(s))
                        .collect();
                    Ok(Subscription {
                        pattern,
                        enabled: sub.enabled,
                        min_confidence: sub.confidence_threshold,
                        symbols: symbols.into_iter().collect(),
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(rules)
    }

    /// The legacy records that hold these rules; `None` for a record that would only repeat the
    /// defaults, so it is deleted and a user who set nothing has nothing stored.
    pub fn to_records(&self) -> (Option<String>, Option<String>) {
        let defaults = AlertRules::default();
        let has_prefs = self.enabled != defaults.enabled
            || self.max_alerts_per_hour.is_some()
            || self.quiet_hours.is_some();
        let prefs = has_prefs.then(|| PrefsRecord {
            global_enabled: self.enabled,
            max_alerts_per_hour: self.max_alerts_per_hour,
            quiet_hours_start: self
                .quiet_hours
                .map(|q| q.start.format("%H:%M").to_string()),
            quiet_hours_end: self.quiet_hours.map(|q| q.end.format("%H:%M").to_string()),
            time_zone: self.quiet_hours.map(|q| q.time_zone.name().to_owned()),
        });
        let subscriptions = (!self.subscriptions.is_empty()).then(|| {
            self.subscriptions
                .iter()
                .map(|s| {
                    let record = SubscriptionRecord {
                        pattern: s.pattern.clone(),
                        enabled: s.enabled,
                        confidence_threshold: s.min_confidence,
                        notification_types: vec!["in_app".to_owned()],
                        symbols: (!s.symbols.is_empty())
                            .then(|| s.symbols.iter().map(|s| s.to_string()).collect()),
                    };
                    (s.pattern.clone(), record)
                })
                .collect::<BTreeMap<_, _>>()
        });
        (prefs.map(|p| json(&p)), subscriptions.map(|s| json(&s)))
    }

    /// Validates a `PUT /api/me/alert-rules` body; absent or null fields take their defaults.
    /// `user_id` and `stored` (read-only fields a client may echo from `GET`) are ignored.
    pub fn from_request(body: &Value, max_symbols: usize) -> Result<AlertRules, FieldErrors> {
        let mut errors = FieldErrors::new();
        let Some(body) = body.as_object() else {
            errors.insert("body".into(), "must be a JSON object".into());
            return Err(errors);
        };
        let e = &mut errors;
        unknown_fields(
            e,
            "",
            body,
            &[
                "enabled",
                "max_alerts_per_hour",
                "quiet_hours",
                "subscriptions",
                "user_id",
                "stored",
            ],
        );
        let enabled = keep(e, "enabled", flag(body.get("enabled")));
        let cap = keep(
            e,
            "max_alerts_per_hour",
            cap(body.get("max_alerts_per_hour")),
        );
        let quiet = quiet_hours(e, body.get("quiet_hours"));
        let subscriptions = subscriptions(e, body.get("subscriptions"), max_symbols);
        match (enabled, cap, quiet, subscriptions) {
            (Some(enabled), Some(max_alerts_per_hour), Some(quiet_hours), Some(subscriptions))
                if errors.is_empty() =>
            {
                Ok(AlertRules {
                    enabled,
                    max_alerts_per_hour,
                    quiet_hours,
                    subscriptions,
                })
            }
            _ => Err(errors),
        }
    }
}

/// Plain strings, numbers and maps: serialising them cannot fail.
fn json(v: &impl Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Validates a `PUT /api/me/watchlist` body: `{"symbols": [...]}`, sorted and distinct.
pub fn watchlist_from_request(
    body: &Value,
    max_symbols: usize,
) -> Result<Vec<Symbol>, FieldErrors> {
    let mut errors = FieldErrors::new();
    let Some(body) = body.as_object() else {
        errors.insert("body".into(), "must be a JSON object".into());
        return Err(errors);
    };
    unknown_fields(&mut errors, "", body, &["symbols", "user_id"]);
    let symbols = match body.get("symbols") {
        Some(v @ Value::Array(_)) => symbol_list(&mut errors, "symbols", v, max_symbols),
        _ => {
            errors.insert("symbols".into(), "required: a list of symbols".into());
            None
        }
    };
    match symbols {
        Some(symbols) if errors.is_empty() => Ok(symbols),
        _ => Err(errors),
    }
}

fn unknown_fields(e: &mut FieldErrors, prefix: &str, obj: &Map<String, Value>, known: &[&str]) {
    for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
        e.insert(format!("{prefix}{key}"), "unknown field".into());
    }
}

fn flag(v: Option<&Value>) -> Result<bool, String> {
    match v {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err("must be true or false".into()),
    }
}

fn cap(v: Option<&Value>) -> Result<Option<u32>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_u64()
            .filter(|n| (1..=u64::from(MAX_ALERTS_PER_HOUR)).contains(n))
            .map(|n| Some(n as u32))
            .ok_or_else(|| {
                format!(
                    "must be a whole number from 1 to {MAX_ALERTS_PER_HOUR}, or null for no cap"
                )
            }),
    }
}

fn quiet_hours(e: &mut FieldErrors, v: Option<&Value>) -> Option<Option<QuietHours>> {
    let obj = match v {
        None | Some(Value::Null) => return Some(None),
        Some(Value::Object(obj)) => obj,
        Some(_) => {
            e.insert(
                "quiet_hours".into(),
                "must be {start, end, time_zone} or null".into(),
            );
            return None;
        }
    };
    unknown_fields(e, "quiet_hours.", obj, &["start", "end", "time_zone"]);
    let time = |field: &str| match obj.get(field) {
        Some(Value::String(t)) => parse_hh_mm(t).ok_or_else(|| format!("{t:?} is not HH:MM")),
        _ => Err("required: a time as HH:MM".to_owned()),
    };
    let start = keep(e, "quiet_hours.start", time("start"));
    let end = keep(e, "quiet_hours.end", time("end"));
    let time_zone = keep(
        e,
        "quiet_hours.time_zone",
        match obj.get("time_zone") {
            None | Some(Value::Null) => Ok(Tz::UTC),
            Some(Value::String(name)) => {
                parse_tz(name).ok_or_else(|| format!("unknown time zone {name:?}"))
            }
            Some(_) => Err("must be an IANA time zone name such as \"Europe/Berlin\"".into()),
        },
    );
    Some(Some(QuietHours {
        start: start?,
        end: end?,
        time_zone: time_zone?,
    }))
}

fn subscriptions(
    e: &mut FieldErrors,
    v: Option<&Value>,
    max_symbols: usize,
) -> Option<Vec<Subscription>> {
    let items = match v {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(items)) if items.len() <= MAX_SUBSCRIPTIONS => items,
        Some(Value::Array(items)) => {
            e.insert(
                "subscriptions".into(),
                format!("at most {MAX_SUBSCRIPTIONS} entries, not {}", items.len()),
            );
            return None;
        }
        Some(_) => {
            e.insert("subscriptions".into(), "must be a list".into());
            return None;
        }
    };
    let mut out: BTreeMap<String, Subscription> = BTreeMap::new();
    let mut valid = true;
    for (i, item) in items.iter().enumerate() {
        let at = format!("subscriptions[{i}]");
        match subscription(e, &at, item, max_symbols) {
            Some(sub) if out.contains_key(&sub.pattern) => {
                e.insert(
                    format!("{at}.pattern"),
                    format!("{:?} is listed twice", sub.pattern),
                );
                valid = false;
            }
            Some(sub) => {
                out.insert(sub.pattern.clone(), sub);
            }
            None => valid = false,
        }
    }
    valid.then(|| out.into_values().collect())
}

fn subscription(
    e: &mut FieldErrors,
    at: &str,
    item: &Value,
    max_symbols: usize,
) -> Option<Subscription> {
    let Some(obj) = item.as_object() else {
        e.insert(
            at.to_owned(),
            "must be {pattern, min_confidence, symbols, enabled}".into(),
        );
        return None;
    };
    unknown_fields(
        e,
        &format!("{at}."),
        obj,
        &["pattern", "min_confidence", "symbols", "enabled"],
    );
    let pattern = keep(
        e,
        &format!("{at}.pattern"),
        match obj.get("pattern") {
            Some(Value::String(p)) if !p.trim().is_empty() && p.len() <= MAX_PATTERN_NAME => {
                Ok(p.clone())
            }
            Some(Value::String(_)) => Err(format!(
                "must not be blank, at most {MAX_PATTERN_NAME} characters"
            )),
            _ => Err("required: the exact pattern name".into()),
        },
    );
    let min_confidence = keep(
        e,
        &format!("{at}.min_confidence"),
        match obj.get("min_confidence") {
            None | Some(Value::Null) => Ok(0.0),
            Some(v) => v
                .as_f64()
                .filter(|c| (0.0..=1.0).contains(c))
                .ok_or_else(|| "must be between 0 and 1".to_owned()),
        },
    );
    let enabled = keep(e, &format!("{at}.enabled"), flag(obj.get("enabled")));
    let symbols = match obj.get("symbols") {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(v) => symbol_list(e, &format!("{at}.symbols"), v, max_symbols),
    };
    Some(Subscription {
        pattern: pattern?,
        enabled: enabled?,
        min_confidence: min_confidence?,
        symbols: symbols?,
    })
}

/// A list of symbols, sorted and distinct; each invalid one named by its index.
fn symbol_list(e: &mut FieldErrors, at: &str, v: &Value, max: usize) -> Option<Vec<Symbol>> {
    let Some(items) = v.as_array() else {
        e.insert(at.to_owned(), "must be a list of symbols".into());
        return None;
    };
    let mut symbols = BTreeSet::new();
    let mut valid = true;
    for (j, item) in items.iter().enumerate() {
        match item.as_str().and_then(Symbol::new) {
            Some(sym) => {
                symbols.insert(sym);
            }
            None => {
                e.insert(
                    format!("{at}[{j}]"),
                    format!("{item} is not a valid symbol"),
                );
                valid = false;
            }
        }
    }
    if symbols.len() > max {
        e.insert(
            at.to_owned(),
            format!("at most {max} symbols, not {}", symbols.len()),
        );
        valid = false;
    }
    valid.then(|| symbols.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errors(body: Value) -> Vec<String> {
        let e = AlertRules::from_request(&body, 3).expect_err("should be invalid");
        e.into_keys().collect()
    }

    #[test]
    fn a_request_round_trips_through_the_legacy_records() {
        let body = json!({
            "user_id": "ignored", "stored": true, "enabled": true, "max_alerts_per_hour": 10,
            "quiet_hours": {"start": "22:00", "end": "06:30", "time_zone": "America/New_York"},
            "subscriptions": [
                {"pattern": "Hammer", "min_confidence": 0.5},
                {"pattern": "Doji", "min_confidence": 0.8, "symbols": ["aapl"], "enabled": false}
            ]
        });
        let rules = AlertRules::from_request(&body, 3).unwrap();
        assert_eq!(rules.subscriptions[0].pattern, "Doji", "sorted by pattern");
        assert_eq!(
            rules.subscriptions[0].symbols,
            [Symbol::new("AAPL").unwrap()]
        );
        let (prefs, subs) = rules.to_records();
        let back = AlertRules::from_records(prefs.as_deref(), subs.as_deref()).unwrap();
        assert_eq!(back, rules);
        let doc =
            serde_json::to_value(AlertRulesDoc::new(UserId::new("7").unwrap(), rules)).unwrap();
        assert_eq!(doc["stored"], true);
        assert_eq!(
            doc["quiet_hours"],
            json!({"start": "22:00", "end": "06:30", "time_zone": "America/New_York"})
        );
        assert_eq!(doc["subscriptions"][0]["symbols"], json!(["AAPL"]));
    }

    #[test]
    fn defaults_store_nothing_and_are_not_stored() {
        let rules = AlertRules::from_request(&json!({}), 3).unwrap();
        assert_eq!(rules, AlertRules::default());
        assert_eq!(rules.to_records(), (None, None));
        let doc = AlertRulesDoc::new(UserId::new("7").unwrap(), rules);
        assert!(!doc.stored);
        let nulls =
            json!({"max_alerts_per_hour": null, "quiet_hours": null, "subscriptions": null});
        assert_eq!(
            AlertRules::from_request(&nulls, 3).unwrap(),
            AlertRules::default()
        );
    }

    #[test]
    fn every_invalid_field_is_named_at_once() {
        let body = json!({
            "enabled": "yes", "max_alerts_per_hour": 0, "colour": "red",
            "quiet_hours": {"start": "25:00", "end": "06:00", "time_zone": "Mars/Olympus"},
            "subscriptions": [
                {"pattern": " ", "min_confidence": 2},
                {"pattern": "Doji", "symbols": ["AAPL", "$$$", "MSFT", "NVDA", "TSLA"]},
                {"pattern": "Hammer", "extra": 1},
                {"pattern": "Hammer"}
            ]
        });
        assert_eq!(
            errors(body),
            [
                "colour",
                "enabled",
                "max_alerts_per_hour",
                "quiet_hours.start",
                "quiet_hours.time_zone",
                "subscriptions[0].min_confidence",
                "subscriptions[0].pattern",
                "subscriptions[1].symbols",
                "subscriptions[1].symbols[1]",
                "subscriptions[2].extra",
                "subscriptions[3].pattern",
            ]
        );
        assert_eq!(errors(json!([])), ["body"]);
        let too_many: Vec<Value> = (0..=MAX_SUBSCRIPTIONS)
            .map(|i| json!({"pattern": format!("P{i}")}))
            .collect();
        assert_eq!(
            errors(json!({"subscriptions": too_many})),
            ["subscriptions"]
        );
    }

    #[test]
    fn a_watchlist_request_is_sorted_distinct_and_bounded() {
        let ok = watchlist_from_request(&json!({"symbols": ["msft", "AAPL", "aapl"]}), 3);
        assert_eq!(
            ok.unwrap(),
            [Symbol::new("AAPL").unwrap(), Symbol::new("MSFT").unwrap()]
        );
        assert!(watchlist_from_request(&json!({"symbols": []}), 3)
            .unwrap()
            .is_empty());
        let bad = watchlist_from_request(&json!({"symbols": ["A", "B", "C", "D", "!"]}), 3);
        let keys: Vec<String> = bad.unwrap_err().into_keys().collect();
        assert_eq!(keys, ["symbols", "symbols[4]"]);
        let missing = watchlist_from_request(&json!({"tickers": ["A"]}), 3).unwrap_err();
        assert_eq!(
            missing.into_keys().collect::<Vec<_>>(),
            ["symbols", "tickers"]
        );
    }

    #[test]
    fn records_written_by_others_are_read_leniently() {
        let legacy = r#"{"Doji": {"pattern": "Doji", "enabled": true, "symbols": ["aapl", "$$"],
                         "notification_types": ["in_app"], "created_at": "x"}}"#;
        let rules = AlertRules::from_records(None, Some(legacy)).unwrap();
        assert_eq!(rules.subscriptions[0].min_confidence, LEGACY_THRESHOLD);
        assert_eq!(
            rules.subscriptions[0].symbols,
            [Symbol::new("AAPL").unwrap()]
        );
        let server_time = r#"{"quiet_hours_start": "22:00", "quiet_hours_end": "06:00"}"#;
        let q = AlertRules::from_records(Some(server_time), None).unwrap();
        assert_eq!(
            q.quiet_hours.unwrap().time_zone,
            Tz::UTC,
            "no zone stored: UTC"
        );
        assert!(AlertRules::from_records(Some(r#"{"time_zone": "Nowhere", "quiet_hours_start": "1:00", "quiet_hours_end": "2:00"}"#), None).is_err());
        assert!(AlertRules::from_records(None, Some("not json")).is_err());
    }

    #[test]
    fn a_change_event_carries_the_get_body() {
        let user = UserId::new("42").unwrap();
        let change = PreferencesChanged::watchlist(user, &[Symbol::new("MSFT").unwrap()]);
        assert_eq!(
            serde_json::to_value(change).unwrap(),
            json!({"user_id": "42", "changed": "watchlist",
                   "watchlist": {"user_id": "42", "symbols": ["MSFT"]}})
        );
    }
}
