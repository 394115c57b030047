//! Contract tests: every fixture case under `tests/fixtures/contract` against a hand-written
//! expectation table, plus a no-panic sweep over deterministically mutated fixture payloads.

use serde_json::{json, Value};
use strum::VariantArray;

use super::super::drop::DropReason;
use super::super::event::{EpochMillis, Event, MarketEvent};
use super::super::kind::{EventKind, DEFAULT_CHANNELS};
use super::contract_table::Expect::{self, Dropped, Events};
use super::contract_table::Val::{self, Absent, Len, NotIn, B, F, I, S};
use super::contract_table::TABLE;
use super::normalise;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/contract");
const NOT_CHANNELS: [&str; 2] = ["browser-events.json", "README.md"];
const RECEIVED: EpochMillis = EpochMillis(1_760_557_170_000);

/// `{"event": <variant>, "data": <outbound payload>}`; a dashboard alert's (serde-skipped)
/// recipient is added as `user_id`.
fn wire(event: &Event) -> Value {
    let (name, data) = match event {
        Event::PatternAlert(p) => ("PatternAlert", serde_json::to_value(p)),
        Event::StreamingPattern(p) => ("StreamingPattern", serde_json::to_value(p)),
        Event::StreamingIndicator(p) => ("StreamingIndicator", serde_json::to_value(p)),
        Event::IndicatorUpdate(p) => ("IndicatorUpdate", serde_json::to_value(p)),
        Event::IndicatorAlert(p) => ("IndicatorAlert", serde_json::to_value(p)),
        Event::CriticalAlert(p) => ("CriticalAlert", serde_json::to_value(p)),
        Event::StreamingSession(p) => ("StreamingSession", serde_json::to_value(p)),
        Event::StreamingHealth(p) => ("StreamingHealth", serde_json::to_value(p)),
        Event::SystemHealth(p) => ("SystemHealth", serde_json::to_value(p)),
        Event::BacktestProgress(p) => ("BacktestProgress", serde_json::to_value(p)),
        Event::BacktestResult(p) => ("BacktestResult", serde_json::to_value(p)),
        Event::PriceUpdate(p) => ("PriceUpdate", serde_json::to_value(p)),
        Event::OhlcvUpdate(p) => ("OhlcvUpdate", serde_json::to_value(p)),
        Event::MarketSummary(p) => ("MarketSummary", serde_json::to_value(p)),
        Event::MarketEvent(p) => ("MarketEvent", serde_json::to_value(p)),
        Event::PreferenceSignal(p) => ("PreferenceSignal", serde_json::to_value(p)),
        Event::ErrorReport(p) => ("ErrorReport", serde_json::to_value(p)),
        Event::Monitoring(p) => ("Monitoring", serde_json::to_value(p)),
        Event::Tick(p) => ("Tick", serde_json::to_value(p)),
        Event::AdminTick(p) => ("AdminTick", serde_json::to_value(p)),
    };
    let mut out = json!({"event": name, "data": data.expect("payloads serialise")});
    if let Event::MarketEvent(MarketEvent::DashboardAlert {
        user_id: Some(u), ..
    }) = event
    {
        out["user_id"] = json!(u.as_str());
    }
    out
}

fn check_value(at: &str, got: Option<&Value>, want: &Val) -> Result<(), String> {
    let ok = match (want, got) {
        (Absent, None) => true,
        (Absent, Some(_)) | (_, None) => false,
        (S(s), Some(v)) => v.as_str() == Some(*s),
        (F(f), Some(v)) => v.as_f64().is_some_and(|g| (g - f).abs() < 1e-9),
        (I(i), Some(v)) => v.as_i64() == Some(*i),
        (B(b), Some(v)) => v.as_bool() == Some(*b),
        (Len(n), Some(Value::Array(a))) => a.len() == *n,
        (Len(n), Some(Value::Object(o))) => o.len() == *n,
        (Len(_), Some(_)) => false,
        (NotIn(text), Some(v)) => !v.to_string().contains(text),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{at}: expected {want:?}, got {got:?}"))
    }
}

fn check(out: &[Result<Event, DropReason>], expect: &Expect) -> Result<(), String> {
    match expect {
        Dropped(reason) if out == [Err(*reason)] => Ok(()),
        Dropped(reason) => Err(format!("expected drop {reason:?}, got {out:?}")),
        Events(n, checks) => {
            let events: Vec<Value> = out
                .iter()
                .map(|r| {
                    r.as_ref()
                        .map(wire)
                        .map_err(|e| format!("item dropped: {e:?}"))
                })
                .collect::<Result<_, _>>()?;
            if events.len() != *n {
                return Err(format!("expected {n} events, got {}", events.len()));
            }
            let all = Value::Array(events);
            checks
                .iter()
                .try_for_each(|(at, want)| check_value(at, all.pointer(at), want))
        }
    }
}

/// One channel fixture: (channel, kind, [(case name, published bytes)]).
pub(super) type Fixture = (String, EventKind, Vec<(String, Vec<u8>)>);

pub(super) fn fixtures() -> Vec<Fixture> {
    let mut files: Vec<_> = std::fs::read_dir(FIXTURES)
        .expect("fixtures directory")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| !NOT_CHANNELS.contains(&name.as_str()))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let channel = file
                .strip_suffix(".json")
                .expect("a .json fixture")
                .to_owned();
            let kind = DEFAULT_CHANNELS
                .iter()
                .find(|(name, _)| *name == channel)
                .map(|(_, kind)| *kind)
                .unwrap_or_else(|| panic!("{channel} is not in DEFAULT_CHANNELS"));
            let text = std::fs::read_to_string(format!("{FIXTURES}/{file}")).expect("fixture");
            let cases: Vec<Value> = serde_json::from_str(&text).expect("fixture is a JSON array");
            let cases = cases
                .iter()
                .map(|case| {
                    let name = case["name"].as_str().expect("case name").to_owned();
                    let body = match &case["payload"] {
                        Value::String(raw) => raw.as_bytes().to_vec(),
                        other => serde_json::to_vec(other).expect("compact JSON"),
                    };
                    (name, body)
                })
                .collect();
            (channel, kind, cases)
        })
        .collect()
}

#[test]
fn every_fixture_case_matches_the_expectation_table() {
    let mut failures = Vec::new();
    let mut used = vec![false; TABLE.len()];
    let mut cases = 0;
    for (channel, kind, fixture_cases) in fixtures() {
        for (name, body) in fixture_cases {
            cases += 1;
            let found = TABLE
                .iter()
                .position(|(c, n, _)| *c == channel && *n == name);
            let Some(i) = found else {
                failures.push(format!(
                    "{channel} / {name}: no entry in the expectation table"
                ));
                continue;
            };
            used[i] = true;
            if let Err(why) = check(&normalise(kind, &body, RECEIVED), &TABLE[i].2) {
                failures.push(format!("{channel} / {name}: {why}"));
            }
        }
    }
    for (i, (channel, name, _)) in TABLE.iter().enumerate() {
        if !used[i] {
            failures.push(format!(
                "{channel} / {name}: table entry matches no fixture case"
            ));
        }
    }
    assert!(cases >= TABLE.len(), "only {cases} fixture cases found");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// xorshift64*: deterministic, no extra crates.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

const KEYS: &[&str] = &[
    "data",
    "detection",
    "calculation",
    "indicator",
    "alert",
    "session",
    "health",
    "event",
    "ohlcv",
    "summary",
    "patterns",
    "indicators",
    "symbol",
    "ticker",
    "pattern",
    "confidence",
    "timestamp",
    "progress",
    "job_id",
    "value",
    "values",
    "status",
    "user_id",
    "message",
    "type",
    "issues",
    "data_flow",
    "price",
    "severity",
    "error_id",
    "source",
    "test",
    "event_type",
];

const NOISE: &[u8] = b"{}[]\",:\\0-e.n \xff\x00";

fn weird(rng: &mut Rng) -> Value {
    match rng.below(20) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!("45%"),
        3 => json!(""),
        4 => json!(-1),
        5 => json!(1e308),
        6 => json!(-1e308),
        7 => json!(u64::MAX),
        8 => json!(i64::MIN),
        9 => json!("2025-13-45T99:99:99Z"),
        10 => json!([]),
        11 => json!({}),
        12 => json!("NaN"),
        13 => json!("1e999"),
        14 => json!([{"symbol": "A", "pattern": "B"}, 7, null]),
        15 => json!({"data": {"data": {"symbol": "ZZ", "pattern": "P", "indicator": "I"}}}),
        16 => json!(0.5),
        17 => json!("  "),
        18 => (0..rng.below(60)).fold(json!({"symbol": "X"}), |v, _| json!({"data": v})),
        _ => json!("x".repeat(40)),
    }
}

fn node_count(v: &Value) -> usize {
    1 + match v {
        Value::Array(items) => items.iter().map(node_count).sum(),
        Value::Object(map) => map.values().map(node_count).sum(),
        _ => 0,
    }
}

/// Applies `f` to the `n`-th node in pre-order; returns true once applied.
fn at_node(v: &mut Value, n: &mut usize, f: &mut dyn FnMut(&mut Value)) -> bool {
    if *n == 0 {
        f(v);
        return true;
    }
    *n -= 1;
    match v {
        Value::Array(items) => items.iter_mut().any(|item| at_node(item, n, f)),
        Value::Object(map) => map.values_mut().any(|item| at_node(item, n, f)),
        _ => false,
    }
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let parsed: Option<Value> = serde_json::from_slice(seed).ok();
    match (rng.below(6), parsed) {
        (0, _) => seed[..rng.below(seed.len() + 1)].to_vec(),
        (1, _) => {
            let mut bytes = seed.to_vec();
            for _ in 0..=rng.below(4) {
                let pos = rng.below(bytes.len());
                if let Some(b) = bytes.get_mut(pos) {
                    *b = NOISE.get(rng.below(NOISE.len())).copied().unwrap_or(b' ');
                }
            }
            bytes
        }
        (2 | 3, Some(mut v)) => {
            let mut n = rng.below(node_count(&v));
            let replacement = weird(rng);
            at_node(&mut v, &mut n, &mut |node| *node = replacement.clone());
            serde_json::to_vec(&v).unwrap_or_default()
        }
        (4, Some(mut v)) => {
            let mut n = rng.below(node_count(&v));
            let key = KEYS[rng.below(KEYS.len())];
            let value = weird(rng);
            at_node(&mut v, &mut n, &mut |node| {
                if let Value::Object(map) = node {
                    map.insert(key.to_owned(), value.clone());
                }
            });
            serde_json::to_vec(&v).unwrap_or_default()
        }
        (_, Some(v)) => {
            let key = KEYS[rng.below(11)];
            let wrapped = if key == "patterns" || key == "indicators" {
                json!({ key: [v.clone(), weird(rng), v] })
            } else {
                json!({ key: v, "timestamp": weird(rng) })
            };
            serde_json::to_vec(&wrapped).unwrap_or_default()
        }
        (_, None) => seed.iter().rev().copied().collect(),
    }
}

#[test]
fn mutated_payloads_never_panic_for_any_kind() {
    let seeds: Vec<Vec<u8>> = fixtures()
        .into_iter()
        .flat_map(|(_, _, cases)| cases)
        .map(|(_, body)| body)
        .collect();
    assert!(!seeds.is_empty());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut inputs = 0;
    for round in 0..600 {
        let seed = &seeds[round % seeds.len()];
        let input = mutate(seed, &mut rng);
        for &kind in EventKind::VARIANTS {
            let out = normalise(kind, &input, RECEIVED);
            assert!(!out.is_empty(), "{kind:?} gave no entry for {input:?}");
        }
        inputs += 1;
    }
    assert_eq!(inputs, 600);
}
