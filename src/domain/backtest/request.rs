//! A `POST /api/backtests` body: validated into the [`BacktestConfig`] a job record keeps and
//! the backtester receives, or every invalid field with a message for the user. Unknown fields
//! are ignored; `null` means "use the default".

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::fields::{keep, FieldErrors};
use crate::domain::filter::{MAX_PATTERN_NAME, MAX_SUBSCRIPTIONS};
use crate::domain::ids::Symbol;

/// Request limits, the legacy ones (docs/PRODUCERS.md#backtest-jobs).
pub const MAX_SYMBOLS: usize = 50;
pub const MAX_RANGE_DAYS: i64 = 1825;
/// Commission and slippage are fractions of the traded value, at most 1 %.
pub const MAX_COST_RATE: f64 = 0.01;

/// Defaults for the optional parameters, the legacy ones (docs/PRODUCERS.md#backtest-jobs).
pub const DEFAULT_INITIAL_CAPITAL: f64 = 100_000.0;
pub const DEFAULT_COMMISSION_RATE: f64 = 0.001;
pub const DEFAULT_SLIPPAGE_RATE: f64 = 0.0005;
pub const DEFAULT_MAX_POSITION_SIZE: f64 = 0.1;
pub const DEFAULT_STOP_LOSS_PCT: f64 = 0.05;
pub const DEFAULT_TAKE_PROFIT_PCT: f64 = 0.10;

/// A validated submission: what the job record keeps as `config` and the backtester receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestConfig {
    /// Upper-case, without duplicates, in the order given.
    pub symbols: Vec<Symbol>,
    /// `YYYY-MM-DD`.
    pub start_date: String,
    pub end_date: String,
    pub patterns: Vec<String>,
    pub initial_capital: f64,
    pub commission_rate: f64,
    pub slippage_rate: f64,
    pub max_position_size: f64,
    pub stop_loss_pct: f64,
    pub take_profit_pct: f64,
}

impl BacktestConfig {
    /// Validates a `POST /api/backtests` body, collecting every invalid field rather than
    /// stopping at the first. Unknown fields are ignored; `null` means "use the default".
    pub fn from_request(body: &Value) -> Result<BacktestConfig, FieldErrors> {
        let mut errors = FieldErrors::new();
        let Some(body) = body.as_object() else {
            errors.insert("body".into(), "must be a JSON object".into());
            return Err(errors);
        };
        let e = &mut errors;
        let symbols = keep(e, "symbols", symbols(body.get("symbols")));
        let patterns = keep(e, "patterns", patterns(body.get("patterns")));
        let start = keep(e, "start_date", date(body.get("start_date")));
        let end = keep(e, "end_date", date(body.get("end_date")));
        let mut number = |field: &str, default: f64, rule: Rule| {
            keep(e, field, number(body.get(field), default, rule))
        };
        let initial_capital = number("initial_capital", DEFAULT_INITIAL_CAPITAL, Rule::Positive);
        let commission_rate = number("commission_rate", DEFAULT_COMMISSION_RATE, Rule::CostRate);
        let slippage_rate = number("slippage_rate", DEFAULT_SLIPPAGE_RATE, Rule::CostRate);
        let max_position_size = number(
            "max_position_size",
            DEFAULT_MAX_POSITION_SIZE,
            Rule::FractionUpToOne,
        );
        let stop_loss_pct = number(
            "stop_loss_pct",
            DEFAULT_STOP_LOSS_PCT,
            Rule::FractionBelowOne,
        );
        let take_profit_pct = number("take_profit_pct", DEFAULT_TAKE_PROFIT_PCT, Rule::Positive);
        if let (Some((start_day, _)), Some((end_day, _))) = (&start, &end) {
            let days = (*end_day - *start_day).num_days();
            if days <= 0 {
                errors.insert("end_date".into(), "must be after start_date".into());
            } else if days > MAX_RANGE_DAYS {
                errors.insert(
                    "end_date".into(),
                    format!("the range may be at most {MAX_RANGE_DAYS} days, not {days}"),
                );
            }
        }
        match (
            symbols,
            patterns,
            start,
            end,
            initial_capital,
            commission_rate,
            slippage_rate,
            max_position_size,
            stop_loss_pct,
            take_profit_pct,
        ) {
            (
                Some(symbols),
                Some(patterns),
                Some((_, start_date)),
                Some((_, end_date)),
                Some(initial_capital),
                Some(commission_rate),
                Some(slippage_rate),
                Some(max_position_size),
                Some(stop_loss_pct),
                Some(take_profit_pct),
            ) if errors.is_empty() => Ok(BacktestConfig {
                symbols,
                start_date,
                end_date,
                patterns,
                initial_capital,
                commission_rate,
                slippage_rate,
                max_position_size,
                stop_loss_pct,
                take_profit_pct,
            }),
            _ => Err(errors),
        }
    }
}

fn symbols(v: Option<&Value>) -> Result<Vec<Symbol>, String> {
    let symbols = distinct(v, "symbol", "a valid symbol", |item| {
        item.as_str().and_then(Symbol::new)
    })?;
    match symbols.len() {
        n if n > MAX_SYMBOLS => Err(format!("at most {MAX_SYMBOLS} symbols, not {n}")),
        _ => Ok(symbols),
    }
}

/// The same limits as pattern subscriptions: as many names, as long.
fn patterns(v: Option<&Value>) -> Result<Vec<String>, String> {
    let patterns = distinct(v, "pattern", "a pattern name", |item| {
        let name = item.as_str()?.trim();
        (!name.is_empty() && name.len() <= MAX_PATTERN_NAME).then(|| name.to_owned())
    })?;
    match patterns.len() {
        n if n > MAX_SUBSCRIPTIONS => Err(format!("at most {MAX_SUBSCRIPTIONS} patterns, not {n}")),
        _ => Ok(patterns),
    }
}

/// The distinct items of a required, non-empty list of `one`s, each parsed by `parse` (`None`:
/// the item is not `valid`), in their first order.
fn distinct<T: PartialEq>(
    v: Option<&Value>,
    one: &str,
    valid: &str,
    parse: impl Fn(&Value) -> Option<T>,
) -> Result<Vec<T>, String> {
    let mut out: Vec<T> = Vec::new();
    for item in list(v, &format!("{one}s"))? {
        let parsed = parse(item).ok_or_else(|| format!("{item} is not {valid}"))?;
        if !out.contains(&parsed) {
            out.push(parsed);
        }
    }
    if out.is_empty() {
        return Err(format!("at least one {one} is required"));
    }
    Ok(out)
}

fn list<'a>(v: Option<&'a Value>, what: &str) -> Result<&'a Vec<Value>, String> {
    match v {
        None | Some(Value::Null) => Err(format!("required: a list of {what}")),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("must be a list of {what}")),
    }
}

/// A strict `YYYY-MM-DD` calendar date, with its text.
fn date(v: Option<&Value>) -> Result<(NaiveDate, String), String> {
    let text = match v {
        None | Some(Value::Null) => return Err("required: a date as YYYY-MM-DD".into()),
        Some(Value::String(text)) => text.trim(),
        Some(_) => return Err("must be a date as YYYY-MM-DD".into()),
    };
    let shaped = text.len() == 10
        && text.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        });
    shaped
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .map(|day| (day, text.to_owned()))
        .ok_or_else(|| format!("{text:?} is not a date as YYYY-MM-DD"))
}

#[derive(Clone, Copy)]
enum Rule {
    /// > 0.
    Positive,
    /// 0 to `MAX_COST_RATE`, both included.
    CostRate,
    /// > 0 and <= 1.
    FractionUpToOne,
    /// > 0 and < 1.
    FractionBelowOne,
}

fn number(v: Option<&Value>, default: f64, rule: Rule) -> Result<f64, String> {
    let n = match v {
        None | Some(Value::Null) => return Ok(default),
        Some(v) => v.as_f64().ok_or("must be a number")?,
    };
    let (ok, message) = match rule {
        Rule::Positive => (n > 0.0, "must be greater than 0".to_owned()),
        Rule::CostRate => (
            (0.0..=MAX_COST_RATE).contains(&n),
            format!("must be between 0 and {MAX_COST_RATE} (a fraction: 0.001 is 0.1 %)"),
        ),
        Rule::FractionUpToOne => (
            n > 0.0 && n <= 1.0,
            "must be a fraction greater than 0 and at most 1".to_owned(),
        ),
        Rule::FractionBelowOne => (
            n > 0.0 && n < 1.0,
            "must be a fraction between 0 and 1".to_owned(),
        ),
    };
    if ok {
        Ok(n)
    } else {
        Err(message)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::valid;
    use super::*;

    fn with(field: &str, value: Value) -> Value {
        let mut body = valid();
        body[field] = value;
        body
    }

    fn errors(body: Value) -> FieldErrors {
        BacktestConfig::from_request(&body).expect_err("should be invalid")
    }

    fn only_error(body: Value) -> (String, String) {
        let errors = errors(body);
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn a_minimal_request_gets_the_defaults() {
        let c = BacktestConfig::from_request(&valid()).unwrap();
        let symbols: Vec<&str> = c.symbols.iter().map(Symbol::as_str).collect();
        assert_eq!(symbols, ["AAPL", "MSFT"]);
        assert_eq!(c.patterns, ["Doji", "Hammer"]);
        assert_eq!(
            (c.start_date.as_str(), c.end_date.as_str()),
            ("2024-01-01", "2024-12-31")
        );
        assert_eq!(c.initial_capital, 100_000.0);
        assert_eq!(c.commission_rate, 0.001);
        assert_eq!(c.slippage_rate, 0.0005);
        assert_eq!(c.max_position_size, 0.1);
        assert_eq!(c.stop_loss_pct, 0.05);
        assert_eq!(c.take_profit_pct, 0.10);
        let nulls = with("initial_capital", Value::Null);
        assert_eq!(
            BacktestConfig::from_request(&nulls)
                .unwrap()
                .initial_capital,
            100_000.0
        );
    }

    #[test]
    fn given_parameters_are_kept_and_duplicates_removed() {
        let mut body = valid();
        body["symbols"] = json!(["nvda", "NVDA", "AMD"]);
        body["patterns"] = json!(["Doji", " Doji "]);
        body["initial_capital"] = json!(5000);
        body["commission_rate"] = json!(0);
        body["slippage_rate"] = json!(0.01);
        body["max_position_size"] = json!(1);
        body["stop_loss_pct"] = json!(0.2);
        body["take_profit_pct"] = json!(1.5);
        body["unknown"] = json!("ignored");
        let c = BacktestConfig::from_request(&body).unwrap();
        assert_eq!(c.symbols.len(), 2);
        assert_eq!(c.patterns, ["Doji"]);
        assert_eq!(
            (c.initial_capital, c.commission_rate, c.slippage_rate),
            (5000.0, 0.0, 0.01)
        );
        assert_eq!(
            (c.max_position_size, c.stop_loss_pct, c.take_profit_pct),
            (1.0, 0.2, 1.5)
        );
    }

    #[test]
    fn symbols_must_be_one_to_fifty_valid_names() {
        let fifty: Vec<String> = (0..50).map(|i| format!("S{i}")).collect();
        assert!(BacktestConfig::from_request(&with("symbols", json!(fifty))).is_ok());
        let fifty_one: Vec<String> = (0..51).map(|i| format!("S{i}")).collect();
        for bad in [
            json!([]),
            json!(fifty_one),
            json!("AAPL"),
            json!(["AAPL", 7]),
            json!(["A B"]),
            Value::Null,
        ] {
            let (field, message) = only_error(with("symbols", bad.clone()));
            assert_eq!(field, "symbols", "{bad}");
            assert!(!message.is_empty());
        }
        let mut missing = valid();
        missing.as_object_mut().unwrap().remove("symbols");
        assert_eq!(only_error(missing).0, "symbols");
        assert!(only_error(with("symbols", json!(fifty_one)))
            .1
            .contains("at most 50"));
    }

    #[test]
    fn at_least_one_pattern_is_required() {
        for bad in [
            json!([]),
            json!([""]),
            json!("Doji"),
            json!([1]),
            Value::Null,
        ] {
            assert_eq!(
                only_error(with("patterns", bad.clone())).0,
                "patterns",
                "{bad}"
            );
        }
        let long = "x".repeat(MAX_PATTERN_NAME + 1);
        assert_eq!(only_error(with("patterns", json!([long]))).0, "patterns");
    }

    #[test]
    fn capital_must_be_positive_and_costs_within_one_percent() {
        for (field, bad) in [
            ("initial_capital", json!(0)),
            ("initial_capital", json!(-1)),
            ("initial_capital", json!("100000")),
            ("commission_rate", json!(-0.0001)),
            ("commission_rate", json!(0.0101)),
            ("commission_rate", json!(true)),
            ("slippage_rate", json!(0.02)),
            ("slippage_rate", json!(-1)),
            ("max_position_size", json!(0)),
            ("max_position_size", json!(1.5)),
            ("stop_loss_pct", json!(1)),
            ("stop_loss_pct", json!(0)),
            ("take_profit_pct", json!(0)),
        ] {
            assert_eq!(only_error(with(field, bad.clone())).0, field, "{bad}");
        }
        for edge in [json!(0), json!(0.01)] {
            assert!(BacktestConfig::from_request(&with("commission_rate", edge.clone())).is_ok());
            assert!(BacktestConfig::from_request(&with("slippage_rate", edge)).is_ok());
        }
    }

    #[test]
    fn dates_are_strict_ordered_and_at_most_1825_days_apart() {
        for bad in [
            "2024-1-01",
            "2024/01/01",
            "2024-02-30",
            "01-01-2024",
            "",
            "2024-01-01T00:00",
        ] {
            assert_eq!(
                only_error(with("start_date", json!(bad))).0,
                "start_date",
                "{bad}"
            );
        }
        assert_eq!(only_error(with("end_date", json!(20241231))).0, "end_date");
        let (field, message) = only_error(with("end_date", json!("2024-01-01")));
        assert_eq!(
            (field.as_str(), message.as_str()),
            ("end_date", "must be after start_date")
        );
        assert_eq!(
            only_error(with("end_date", json!("2023-06-01"))).0,
            "end_date"
        );
        // 2024-01-01 + 1825 days = 2028-12-30 (2024 and 2028 are leap years).
        assert!(BacktestConfig::from_request(&with("end_date", json!("2028-12-30"))).is_ok());
        let (field, message) = only_error(with("end_date", json!("2028-12-31")));
        assert_eq!(field, "end_date");
        assert!(message.contains("1825"), "{message}");
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let body = json!({
            "symbols": [],
            "patterns": [],
            "start_date": "soon",
            "end_date": "later",
            "initial_capital": -5,
            "commission_rate": 0.5,
            "slippage_rate": 0.5,
        });
        let names: Vec<String> = errors(body).into_keys().collect();
        assert_eq!(
            names,
            [
                "commission_rate",
                "end_date",
                "initial_capital",
                "patterns",
                "slippage_rate",
                "start_date",
                "symbols"
            ]
        );
        assert_eq!(errors(json!([1])).into_keys().collect::<Vec<_>>(), ["body"]);
        assert_eq!(errors(json!({})).len(), 4);
    }
}
