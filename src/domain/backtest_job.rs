//! Backtest jobs (seed-spec §g1): the submission request and its validation, job ids, the job
//! record stored in Redis, its state machine, and the messages published to the backtester.
//!
//! Pure logic: the HTTP layer and the Backtest handler do the I/O around it.
//!
//! States: `queued` -> `running` (first progress, sets `started_at`) -> `completed` (progress
//! 1.0, `completed_at`, `results`) / `failed` / `cancelled`. A terminal state never changes
//! again, so a progress report that arrives after a cancel is ignored.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

use super::event::{BacktestOutcome, BacktestProgress, BacktestResult, JsonMap};
use super::ids::{JobId, Symbol, UserId};

/// Request limits (seed-spec §g1).
pub const MAX_SYMBOLS: usize = 50;
pub const MAX_RANGE_DAYS: i64 = 1825;
/// Commission and slippage are fractions of the traded value, at most 1 %.
pub const MAX_COST_RATE: f64 = 0.01;
/// Longest accepted pattern name; the catalogue's longest (`alert_rules::CATALOGUE`) is 18
/// characters. Names outside the catalogue are the backtester's to judge.
pub const MAX_PATTERN_NAME: usize = 64;

/// Defaults for the optional parameters (seed-spec §g1).
pub const DEFAULT_INITIAL_CAPITAL: f64 = 100_000.0;
pub const DEFAULT_COMMISSION_RATE: f64 = 0.001;
pub const DEFAULT_SLIPPAGE_RATE: f64 = 0.0005;
pub const DEFAULT_MAX_POSITION_SIZE: f64 = 0.1;
pub const DEFAULT_STOP_LOSS_PCT: f64 = 0.05;
pub const DEFAULT_TAKE_PROFIT_PCT: f64 = 0.10;

/// Job records live 7 days, refreshed on every save; a user's job index 30 days.
pub const JOB_TTL_SECS: u64 = 7 * 24 * 3600;
pub const USER_JOBS_TTL_SECS: u64 = 30 * 24 * 3600;
/// Jobs listed per user, newest first.
pub const LIST_LIMIT: usize = 50;

/// `source` of every message tickrouter publishes.
pub const SOURCE: &str = "tickrouter";

/// `backtest_<epoch_s>_<8 hex>`; `random` supplies the hex part.
pub fn new_job_id(epoch_secs: i64, random: u32) -> JobId {
    JobId::new(&format!("backtest_{epoch_secs}_{random:08x}")).expect("a job id has no spaces")
}

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

/// Every invalid field of a request, by field name, with a message for the user.
pub type FieldErrors = BTreeMap<String, String>;

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

/// The value when valid; otherwise records the field's message.
fn keep<T>(errors: &mut FieldErrors, field: &str, result: Result<T, String>) -> Option<T> {
    result
        .map_err(|message| errors.insert(field.to_owned(), message))
        .ok()
}

fn symbols(v: Option<&Value>) -> Result<Vec<Symbol>, String> {
    let items = list(v, "symbols")?;
    let mut out: Vec<Symbol> = Vec::new();
    for item in items {
        let symbol = item
            .as_str()
            .and_then(Symbol::new)
            .ok_or_else(|| format!("{item} is not a valid symbol"))?;
        if !out.contains(&symbol) {
            out.push(symbol);
        }
    }
    match out.len() {
        0 => Err("at least one symbol is required".into()),
        n if n > MAX_SYMBOLS => Err(format!("at most {MAX_SYMBOLS} symbols, not {n}")),
        _ => Ok(out),
    }
}

fn patterns(v: Option<&Value>) -> Result<Vec<String>, String> {
    let items = list(v, "patterns")?;
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let name = item
            .as_str()
            .map(str::trim)
            .filter(|name| !name.is_empty() && name.len() <= MAX_PATTERN_NAME)
            .ok_or_else(|| format!("{item} is not a pattern name"))?;
        if !out.iter().any(|known| known == name) {
            out.push(name.to_owned());
        }
    }
    if out.is_empty() {
        return Err("at least one pattern is required".into());
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    #[default]
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

/// `tickstock:jobs:{job_id}`. Every field is always present (`null` when unset). Times are
/// epoch milliseconds. Fields other than `job_id` and `user_id` have defaults, so a minimal
/// record written by another tool still loads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: JobId,
    #[serde(deserialize_with = "user_id_text")]
    pub user_id: UserId,
    #[serde(default)]
    pub config: Option<BacktestConfig>,
    #[serde(default)]
    pub status: JobStatus,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub started_at: Option<i64>,
    #[serde(default)]
    pub completed_at: Option<i64>,
    /// 0..1.
    #[serde(default)]
    pub progress: f64,
    #[serde(default)]
    pub current_symbol: Option<String>,
    #[serde(default)]
    pub estimated_completion: Option<i64>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub results: Option<JsonMap>,
}

/// Producers and older tools store the owner as a string or a number.
fn user_id_text<'de, D: Deserializer<'de>>(d: D) -> Result<UserId, D::Error> {
    let raw = Value::deserialize(d)?;
    let text = match raw {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        other => return Err(serde::de::Error::custom(format!("user_id {other}"))),
    };
    UserId::new(text).ok_or_else(|| serde::de::Error::custom("empty user_id"))
}

/// Why a cancel was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelRefused {
    /// The job belongs to someone else: answered like an unknown job.
    NotOwner,
    /// The job already finished with this status.
    Finished(JobStatus),
}

impl JobRecord {
    pub fn queued(job_id: JobId, user_id: UserId, config: BacktestConfig, now_ms: i64) -> Self {
        JobRecord {
            job_id,
            user_id,
            config: Some(config),
            status: JobStatus::Queued,
            created_at: now_ms,
            started_at: None,
            completed_at: None,
            progress: 0.0,
            current_symbol: None,
            estimated_completion: None,
            error_message: None,
            results: None,
        }
    }

    /// Loads a stored record; `job_id` fills in a record that lacks one.
    pub fn from_stored(job_id: &JobId, text: &str) -> Result<JobRecord, String> {
        let mut value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let object = value.as_object_mut().ok_or("not a JSON object")?;
        object
            .entry("job_id")
            .or_insert_with(|| Value::String(job_id.to_string()));
        serde_json::from_value(value).map_err(|e| format!("not a job record: {e}"))
    }

    /// Just the owner of a stored record that does not load as a whole (a record written by
    /// another tool with fields of other types), so its events still reach the owner.
    pub fn stored_owner(text: &str) -> Option<UserId> {
        #[derive(Deserialize)]
        struct Owner {
            #[serde(deserialize_with = "user_id_text")]
            user_id: UserId,
        }
        serde_json::from_str::<Owner>(text).ok().map(|o| o.user_id)
    }

    /// Queued and running jobs are in `tickstock:active_jobs`.
    pub fn is_active(&self) -> bool {
        !self.status.is_terminal()
    }

    pub fn owned_by(&self, user: &UserId) -> bool {
        &self.user_id == user
    }

    /// Applies a progress report; false when it changes nothing (a finished job, or the same
    /// report again).
    pub fn apply_progress(&mut self, p: &BacktestProgress, now_ms: i64) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        let before = self.clone();
        if self.status == JobStatus::Queued {
            self.status = JobStatus::Running;
            self.started_at = Some(now_ms);
        }
        self.progress = p.progress.clamp(0.0, 1.0);
        if let Some(symbol) = &p.current_symbol {
            self.current_symbol = Some(symbol.clone());
        }
        if let Some(eta) = p.estimated_completion {
            self.estimated_completion = Some(eta.0);
        }
        *self != before
    }

    /// Applies the final result; false when the job had already finished.
    pub fn apply_result(&mut self, r: &BacktestResult, now_ms: i64) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        self.status = match r.status {
            BacktestOutcome::Completed => {
                self.progress = 1.0;
                JobStatus::Completed
            }
            BacktestOutcome::Failed => JobStatus::Failed,
            BacktestOutcome::Cancelled => JobStatus::Cancelled,
        };
        self.started_at.get_or_insert(now_ms);
        self.completed_at = Some(now_ms);
        self.results = Some(r.results.clone());
        self.error_message = r.error_message.clone();
        true
    }

    /// Fails an unfinished job for a reason of tickrouter's own (the request never reached the
    /// backtester); false when it had already finished.
    pub fn fail(&mut self, why: String, now_ms: i64) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        self.status = JobStatus::Failed;
        self.completed_at = Some(now_ms);
        self.error_message = Some(why);
        true
    }

    /// The owner's cancel of a queued or running job.
    pub fn cancel(&mut self, by: &UserId, now_ms: i64) -> Result<(), CancelRefused> {
        if !self.owned_by(by) {
            return Err(CancelRefused::NotOwner);
        }
        if self.status.is_terminal() {
            return Err(CancelRefused::Finished(self.status));
        }
        self.status = JobStatus::Cancelled;
        self.completed_at = Some(now_ms);
        Ok(())
    }

    /// The `backtest_job` request published on `tickstock.jobs.backtest` (seed-spec §a4).
    /// `None` for a record without a config (not created by the submit endpoint).
    pub fn job_request(&self, now_ms: i64) -> Option<Value> {
        let c = self.config.as_ref()?;
        Some(json!({
            "type": "backtest_job",
            "job_id": self.job_id,
            "user_id": self.user_id,
            "symbols": c.symbols,
            "start_date": c.start_date,
            "end_date": c.end_date,
            "patterns": c.patterns,
            "parameters": {
                "initial_capital": c.initial_capital,
                "commission_rate": c.commission_rate,
                "slippage_rate": c.slippage_rate,
                "max_position_size": c.max_position_size,
                "stop_loss_pct": c.stop_loss_pct,
                "take_profit_pct": c.take_profit_pct,
            },
            "timestamp": epoch_seconds(now_ms),
            "source": SOURCE,
        }))
    }
}

/// The `cancel_job` message published on `tickstock.jobs.cancel` (seed-spec §a4).
pub fn cancel_request(job: &JobId, now_ms: i64) -> Value {
    json!({
        "type": "cancel_job",
        "job_id": job,
        "timestamp": epoch_seconds(now_ms),
        "source": SOURCE,
    })
}

/// The producers' timestamp form: epoch seconds as a float.
fn epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::super::event::EpochMillis;
    use super::*;

    fn valid() -> Value {
        json!({
            "symbols": ["aapl", "MSFT"],
            "start_date": "2024-01-01",
            "end_date": "2024-12-31",
            "patterns": ["Doji", "Hammer"],
        })
    }

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

    #[test]
    fn job_ids_have_the_legacy_format() {
        assert_eq!(
            new_job_id(1_760_556_900, 0x9f3a_1c2e).as_str(),
            "backtest_1760556900_9f3a1c2e"
        );
        assert_eq!(new_job_id(5, 0xab).as_str(), "backtest_5_000000ab");
    }

    fn record() -> JobRecord {
        let config = BacktestConfig::from_request(&valid()).unwrap();
        JobRecord::queued(
            new_job_id(1_760_000_000, 1),
            UserId::new("alice").unwrap(),
            config,
            1_000,
        )
    }

    fn progress(fraction: f64) -> BacktestProgress {
        BacktestProgress {
            job_id: JobId::new("j").unwrap(),
            progress: fraction,
            status: "processing".into(),
            timestamp: EpochMillis(0),
            current_symbol: Some("MSFT".into()),
            processed_symbols: None,
            estimated_completion: Some(EpochMillis(9_000)),
        }
    }

    fn result(status: BacktestOutcome) -> BacktestResult {
        let mut results = JsonMap::new();
        results.insert("roi".into(), json!(0.12));
        BacktestResult {
            job_id: JobId::new("j").unwrap(),
            status,
            results,
            timestamp: EpochMillis(0),
            error_message: (status == BacktestOutcome::Failed).then(|| "no data".to_owned()),
            processing_time_seconds: None,
        }
    }

    #[test]
    fn progress_starts_the_job_once() {
        let mut r = record();
        assert!(r.is_active());
        assert!(r.apply_progress(&progress(0.25), 2_000));
        assert_eq!(r.status, JobStatus::Running);
        assert_eq!(r.started_at, Some(2_000));
        assert_eq!(r.current_symbol.as_deref(), Some("MSFT"));
        assert_eq!(r.estimated_completion, Some(9_000));
        assert!(r.apply_progress(&progress(0.5), 3_000));
        assert_eq!((r.started_at, r.progress), (Some(2_000), 0.5));
        assert!(!r.apply_progress(&progress(0.5), 4_000), "same report");
    }

    #[test]
    fn results_finish_the_job_for_good() {
        let mut r = record();
        r.apply_progress(&progress(0.4), 2_000);
        assert!(r.apply_result(&result(BacktestOutcome::Completed), 5_000));
        assert_eq!(r.status, JobStatus::Completed);
        assert_eq!((r.progress, r.completed_at), (1.0, Some(5_000)));
        assert_eq!(r.results.as_ref().unwrap()["roi"], json!(0.12));
        assert!(!r.is_active());
        let done = r.clone();
        assert!(!r.apply_progress(&progress(0.1), 6_000));
        assert!(!r.apply_result(&result(BacktestOutcome::Failed), 6_000));
        assert_eq!(r, done);

        let mut failed = record();
        assert!(failed.apply_result(&result(BacktestOutcome::Failed), 5_000));
        assert_eq!(failed.status, JobStatus::Failed);
        assert_eq!(failed.error_message.as_deref(), Some("no data"));
        assert_eq!(failed.progress, 0.0);
        assert_eq!(failed.started_at, Some(5_000));

        let mut cancelled = record();
        assert!(cancelled.apply_result(&result(BacktestOutcome::Cancelled), 5_000));
        assert_eq!(cancelled.status, JobStatus::Cancelled);
        assert!(!cancelled.fail("late".into(), 6_000));

        let mut unsent = record();
        assert!(unsent.fail("Redis is down".into(), 2_000));
        assert_eq!(unsent.status, JobStatus::Failed);
        assert_eq!(unsent.error_message.as_deref(), Some("Redis is down"));
        assert_eq!(unsent.completed_at, Some(2_000));
    }

    #[test]
    fn only_the_owner_cancels_and_only_an_unfinished_job() {
        let alice = UserId::new("alice").unwrap();
        let bob = UserId::new("bob").unwrap();
        let mut r = record();
        assert_eq!(r.cancel(&bob, 2_000), Err(CancelRefused::NotOwner));
        assert_eq!(r.status, JobStatus::Queued);
        r.apply_progress(&progress(0.3), 2_000);
        assert_eq!(r.cancel(&alice, 3_000), Ok(()));
        assert_eq!(
            (r.status, r.completed_at),
            (JobStatus::Cancelled, Some(3_000))
        );
        assert_eq!(
            r.cancel(&alice, 4_000),
            Err(CancelRefused::Finished(JobStatus::Cancelled))
        );
        // A report the backtester sent before it saw the cancel changes nothing.
        assert!(!r.apply_progress(&progress(0.6), 4_000));
        assert!(!r.apply_result(&result(BacktestOutcome::Completed), 4_000));
        assert_eq!((r.status, r.progress), (JobStatus::Cancelled, 0.3));
    }

    #[test]
    fn records_round_trip_and_minimal_ones_load() {
        let r = record();
        let text = serde_json::to_string(&r).unwrap();
        let stored: Value = serde_json::from_str(&text).unwrap();
        for field in [
            "job_id",
            "user_id",
            "config",
            "status",
            "created_at",
            "started_at",
            "completed_at",
            "progress",
            "current_symbol",
            "estimated_completion",
            "error_message",
            "results",
        ] {
            assert!(stored.get(field).is_some(), "{field} missing from {text}");
        }
        assert_eq!(stored["status"], "queued");
        assert_eq!(stored["config"]["symbols"], json!(["AAPL", "MSFT"]));
        assert_eq!(JobRecord::from_stored(&r.job_id, &text).unwrap(), r);

        let job = JobId::new("job_b").unwrap();
        let minimal = JobRecord::from_stored(&job, r#"{"user_id": 42}"#).unwrap();
        assert_eq!(
            (minimal.job_id.as_str(), minimal.user_id.as_str()),
            ("job_b", "42")
        );
        assert_eq!(minimal.status, JobStatus::Queued);
        for bad in [
            "nope",
            "[1]",
            r#"{"user_id": null}"#,
            r#"{"user_id": " "}"#,
            "{}",
        ] {
            assert!(JobRecord::from_stored(&job, bad).is_err(), "{bad}");
        }
        let odd_status = r#"{"user_id": "a", "status": "exploded", "created_at": "2025-10-15"}"#;
        assert!(JobRecord::from_stored(&job, odd_status).is_err());
        assert_eq!(JobRecord::stored_owner(odd_status).unwrap().as_str(), "a");
        assert_eq!(
            JobRecord::stored_owner(r#"{"user_id": 7}"#)
                .unwrap()
                .as_str(),
            "7"
        );
        assert!(JobRecord::stored_owner(r#"{"user": 7}"#).is_none());
    }

    #[test]
    fn published_messages_have_the_appv2_shape() {
        let r = record();
        let request = r.job_request(1_760_557_168_342).unwrap();
        assert_eq!(request["type"], "backtest_job");
        assert_eq!(request["job_id"], r.job_id.as_str());
        assert_eq!(request["user_id"], "alice");
        assert_eq!(request["symbols"], json!(["AAPL", "MSFT"]));
        assert_eq!(request["patterns"], json!(["Doji", "Hammer"]));
        assert_eq!(request["start_date"], "2024-01-01");
        assert_eq!(request["end_date"], "2024-12-31");
        assert_eq!(request["timestamp"], json!(1_760_557_168.342));
        assert_eq!(request["source"], "tickrouter");
        let parameters = request["parameters"].as_object().unwrap();
        assert_eq!(parameters.len(), 6);
        assert_eq!(parameters["initial_capital"], json!(100_000.0));
        assert_eq!(parameters["take_profit_pct"], json!(0.1));

        let cancel = cancel_request(&r.job_id, 2_500);
        assert_eq!(
            cancel,
            json!({"type": "cancel_job", "job_id": r.job_id.as_str(), "timestamp": 2.5, "source": "tickrouter"})
        );
    }
}
