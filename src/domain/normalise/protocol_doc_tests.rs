//! docs/PROTOCOL.md's event examples have the shape of the frames the server really sends: every
//! contract fixture is normalised and encoded by its audience function, as the pipeline does, and
//! each documented example of an event must use only fields those frames have (with the same JSON
//! types) and show every field they always have. Free-form objects the producers fill
//! (`metadata`, `details`, ...) are compared by type only.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::contract_tests::fixtures;
use super::normalise;
use crate::domain::audience;
use crate::domain::event::{EpochMillis, Event, Preference, PreferenceSignal};
use crate::domain::ids::{Symbol, UserId};
use crate::domain::outbound::Frame;
use crate::domain::preferences::{AlertRules, PreferencesChanged};
use crate::domain::publication::Publication;
use crate::domain::streaming_buffer::{IndicatorsBatch, PatternsBatch};

const PROTOCOL: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md"));

/// Objects whose keys are the producers' (passed through), so only their type is compared.
const FREE_FORM: &[&str] = &[
    "metadata",
    "details",
    "indicators",
    "parameters",
    "bar_data",
    "values",
    "context",
    "results",
    "data",
    "connection",
    "data_flow",
    "resources",
    "stale_symbols",
    "components",
    "metrics",
    "volume_data",
    "fields",
    "processed_symbols",
    "issues",
];

/// The frames the server sends for one normalised event.
fn frames(event: &Event) -> Vec<Frame> {
    let owner = UserId::new("42").unwrap();
    let now = EpochMillis(0);
    let publications = match event {
        Event::PatternAlert(e) => audience::pattern_alert(e, &[]),
        Event::StreamingPattern(e) => {
            let batch = PatternsBatch {
                patterns: std::slice::from_ref(e),
                count: 1,
                timestamp: now,
            };
            vec![
                audience::streaming_pattern(e),
                audience::streaming_patterns(&batch),
            ]
        }
        Event::StreamingIndicator(e) => {
            let batch = IndicatorsBatch {
                indicators: std::slice::from_ref(e),
                count: 1,
                timestamp: now,
            };
            vec![
                audience::streaming_indicator(e),
                audience::streaming_indicators(&batch),
            ]
        }
        Event::IndicatorUpdate(e) => vec![audience::indicator_update(e)],
        Event::IndicatorAlert(e) => vec![audience::indicator_alert(e)],
        Event::CriticalAlert(e) => vec![audience::critical_alert(e)],
        Event::StreamingSession(e) => vec![audience::streaming_session(e)],
        Event::StreamingHealth(e) => vec![audience::streaming_health(e)],
        Event::SystemHealth(e) => vec![audience::system_health(e)],
        Event::BacktestProgress(e) => vec![audience::backtest_progress(&owner, e)],
        Event::BacktestResult(e) => vec![audience::backtest_result(&owner, e)],
        Event::PriceUpdate(e) => vec![audience::price(e)],
        Event::OhlcvUpdate(e) => vec![audience::ohlcv(e)],
        Event::MarketSummary(e) => vec![audience::market_summary(e)],
        Event::MarketEvent(e) => vec![audience::market_event(e)],
        Event::PreferenceSignal(e) => preferences_changed(e),
        Event::ErrorReport(e) => vec![audience::error_report(e)],
        Event::Monitoring(e) => vec![audience::monitoring(e)],
        Event::Tick(e) => vec![audience::tick(e)],
        Event::AdminTick(e) => vec![audience::admin_tick(e)],
    };
    publications.into_iter().map(|p| p.frame).collect()
}

/// A signal makes no frame itself; the `preferences_changed` that follows it carries what the
/// reload found: here the defaults and rules with every field set.
fn preferences_changed(signal: &PreferenceSignal) -> Vec<Publication> {
    let user = signal.user_id.clone();
    let changes = match signal.what {
        Preference::AlertRules => {
            let all_set = AlertRules::from_records(
                Some(
                    r#"{"max_alerts_per_hour": 5, "quiet_hours_start": "22:00",
                         "quiet_hours_end": "06:00", "time_zone": "Europe/Berlin"}"#,
                ),
                Some(r#"{"Doji": {"confidence_threshold": 0.8, "symbols": ["AAPL"]}}"#),
            )
            .unwrap();
            vec![
                PreferencesChanged::alert_rules(user.clone(), AlertRules::default()),
                PreferencesChanged::alert_rules(user, all_set),
            ]
        }
        Preference::Watchlist => {
            let symbols = [Symbol::new("AAPL").unwrap()];
            vec![PreferencesChanged::watchlist(user, &symbols)]
        }
    };
    changes.iter().map(audience::preferences_changed).collect()
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every path of a value (`a.b`, `list[].c`) with its JSON type, free-form objects not entered.
fn paths(v: &Value, at: &str, out: &mut BTreeSet<(String, &'static str)>) {
    match v {
        Value::Object(map) => {
            for (key, child) in map {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                out.insert((path.clone(), type_of(child)));
                if !FREE_FORM.contains(&key.as_str()) {
                    paths(child, &path, out);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                paths(item, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

/// The `data` of every frame the fixtures produce, by event name.
fn real_data() -> BTreeMap<String, Vec<Value>> {
    let mut by_event: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (_, kind, cases) in fixtures() {
        for (_, body) in cases {
            for event in normalise(kind, &body, EpochMillis(1)).into_iter().flatten() {
                for frame in frames(&event) {
                    let mut v: Value = serde_json::from_str(&frame.0).unwrap();
                    let name = v["event"].as_str().unwrap().to_owned();
                    by_event.entry(name).or_default().push(v["data"].take());
                }
            }
        }
    }
    by_event
}

/// Every JSON example of section 9, with the events it may be an example of.
fn documented_examples() -> Vec<(Vec<String>, Value)> {
    let section = PROTOCOL
        .split("## 9. Server events")
        .nth(1)
        .and_then(|rest| rest.split("\n## 10.").next())
        .expect("PROTOCOL.md section 9");
    let mut examples = Vec::new();
    let (mut heading_events, mut in_json) = (Vec::new(), false);
    for line in section.lines() {
        if line.starts_with("###") {
            heading_events = line
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect();
        } else if line.starts_with("```json") {
            in_json = true;
        } else if line.starts_with("```") {
            in_json = false;
        } else if in_json && !line.trim().is_empty() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("PROTOCOL.md example is not JSON ({e}): {line}"));
            match (v.get("event").and_then(Value::as_str), v.get("data")) {
                (Some(event), Some(data)) => examples.push((vec![event.to_owned()], data.clone())),
                _ => examples.push((heading_events.clone(), v)),
            }
        }
    }
    examples
}

#[test]
fn every_event_example_in_protocol_md_has_the_shape_of_a_real_frame() {
    let real = real_data();
    let examples = documented_examples();
    assert!(
        examples.len() >= 20,
        "found only {} examples",
        examples.len()
    );
    let mut problems = Vec::new();
    for (events, example) in &examples {
        let frames: Vec<&Value> = events.iter().flat_map(|e| real.get(e)).flatten().collect();
        if frames.is_empty() {
            problems.push(format!("{events:?}: no fixture produces this event"));
            continue;
        }
        let mut documented = BTreeSet::new();
        paths(example, "", &mut documented);
        let shapes: Vec<BTreeSet<_>> = frames
            .iter()
            .map(|f| {
                let mut p = BTreeSet::new();
                paths(f, "", &mut p);
                p
            })
            .collect();
        let seen: BTreeSet<_> = shapes.iter().flatten().cloned().collect();
        for (path, ty) in &documented {
            if !seen.contains(&(path.clone(), *ty)) {
                problems.push(format!(
                    "{events:?}: the example's `{path}` ({ty}) is never sent"
                ));
            }
        }
        // Fields every real frame of this example's kind has: a documented shape has them too.
        let same_kind = |s: &&BTreeSet<(String, &str)>| {
            let top = |set: &BTreeSet<(String, &str)>| -> BTreeSet<String> {
                set.iter()
                    .filter(|(p, _)| !p.contains('.') && !p.contains('['))
                    .map(|(p, _)| p.clone())
                    .collect()
            };
            let (mine, theirs) = (top(&documented), top(s));
            mine.is_subset(&theirs) || theirs.is_subset(&mine)
        };
        let alike: Vec<&BTreeSet<_>> = shapes.iter().filter(same_kind).collect();
        if let Some(first) = alike.first() {
            let always = alike.iter().skip(1).fold((*first).clone(), |acc, s| {
                acc.intersection(s).cloned().collect()
            });
            for (path, ty) in always.difference(&documented) {
                problems.push(format!(
                    "{events:?}: every real frame has `{path}` ({ty}), the example does not"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
