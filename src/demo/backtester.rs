//! The simulated backtester: takes job requests and cancels from `tickstock.jobs.*`, runs
//! several jobs at once on a small time-driven scheduler, and publishes their progress and
//! results as the TickStockPL backtester does (docs/PRODUCERS.md#backtest-events and
//! #outbound-channels). `JobBoard` is the scheduler and never touches Redis; `serve` is the
//! thread that feeds it from Redis.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use fastrand::Rng;
use log::{info, warn};
use redis::{Client, Connection, RedisResult};
use serde_json::Value;

use super::channel;
use super::clock;
use super::link::{self, Backoff, Outbound, Publisher};
use super::market::gaussian;
use super::payloads::{self, BacktestProgress, BacktestResults};

/// How long the listener waits for a request before moving the running jobs on; also bounds
/// how late it notices `stop`.
const POLL: Duration = Duration::from_millis(100);
/// Progress reports per job: a few a second.
const REPORT_EVERY: f64 = 0.3;
/// Simulated work per symbol: 1 s plus up to this much more.
const SYMBOL_SECONDS: f64 = 1.0;
const SYMBOL_JITTER: f64 = 1.0;
/// The submit endpoint's validation limits (docs/PRODUCERS.md#backtest-jobs); a demo job
/// honours them too.
const MAX_SYMBOLS: usize = 50;
const MAX_DAYS: i64 = 1825;

/// A validated `backtest_job` request.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct JobRequest {
    pub job_id: String,
    pub user_id: Option<String>,
    pub symbols: Vec<String>,
    pub patterns: usize,
    /// Calendar days from `start_date` to `end_date`.
    pub days: i64,
}

/// Checks a request against the contract; the error says what is wrong, for the log.
pub(super) fn parse_request(payload: &[u8]) -> Result<JobRequest, String> {
    let request = json_object(payload)?;
    if let Some(kind) = request.get("type").filter(|kind| *kind != "backtest_job") {
        return Err(format!("type {kind} is not \"backtest_job\""));
    }
    let job_id = job_id(&request)?;
    let symbols: Vec<String> = string_list(&request, "symbols")?;
    if !(1..=MAX_SYMBOLS).contains(&symbols.len()) {
        return Err(format!(
            "{} symbols, expected 1 to {MAX_SYMBOLS}",
            symbols.len()
        ));
    }
    let patterns = string_list(&request, "patterns")?.len();
    if patterns == 0 {
        return Err("no patterns".to_owned());
    }
    let start = date(&request, "start_date")?;
    let days = date(&request, "end_date")? - start;
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(format!(
            "date range of {days} days, expected 1 to {MAX_DAYS}"
        ));
    }
    let capital = &request["parameters"]["initial_capital"];
    if !capital.is_null() && !capital.as_f64().is_some_and(|capital| capital > 0.0) {
        return Err(format!(
            "initial_capital {capital} is not a positive number"
        ));
    }
    Ok(JobRequest {
        job_id,
        user_id: request.get("user_id").map(|user| {
            user.as_str()
                .map_or_else(|| user.to_string(), str::to_owned)
        }),
        symbols,
        patterns,
        days,
    })
}

fn json_object(payload: &[u8]) -> Result<Value, String> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|error| format!("invalid JSON: {error}"))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err("not a JSON object".to_owned())
    }
}

fn job_id(message: &Value) -> Result<String, String> {
    match message.get("job_id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => Ok(id.to_owned()),
        _ => Err("no job_id".to_owned()),
    }
}

fn string_list(request: &Value, field: &str) -> Result<Vec<String>, String> {
    let items = request[field]
        .as_array()
        .ok_or_else(|| format!("{field} is not a list"))?;
    items
        .iter()
        .map(|item| match item.as_str() {
            Some(text) if !text.is_empty() => Ok(text.to_owned()),
            _ => Err(format!("{field} holds {item}, not a name")),
        })
        .collect()
}

fn date(request: &Value, field: &str) -> Result<i64, String> {
    request[field]
        .as_str()
        .and_then(clock::parse_date)
        .ok_or_else(|| format!("{field} {} is not a YYYY-MM-DD date", request[field]))
}

/// Plausible figures for a request: trades scale with symbols x patterns x months, and the
/// return, Sharpe ratio and drawdown follow from the simulated win rate.
pub(super) fn results(request: &JobRequest, rng: &mut Rng) -> BacktestResults {
    let days = request.days as f64;
    let expected_trades = request.symbols.len() as f64 * request.patterns as f64 * days / 30.0;
    let total_trades = (expected_trades * (0.6 + 0.8 * rng.f64())).round().max(1.0) as u64;
    let winning_trades = (total_trades as f64 * (0.42 + 0.26 * rng.f64())).round() as u64;
    let win_rate = winning_trades as f64 / total_trades as f64;
    let years = days / 365.25;
    let volatility = 0.12 + 0.1 * rng.f64();
    let annual_return = (win_rate - 0.5) * 0.9 + 0.03 * gaussian(rng);
    // A strategy can lose most of its capital, never more.
    let roi = (1.0 + annual_return).max(0.05).powf(years) - 1.0;
    let drawdown = volatility * (0.5 + rng.f64()) * years.sqrt().clamp(0.3, 2.0)
        + (-annual_return).max(0.0) * years.min(3.0) / 2.0;
    BacktestResults {
        win_rate,
        total_trades,
        winning_trades,
        roi,
        sharpe_ratio: (annual_return - 0.02) / volatility,
        max_drawdown: drawdown.clamp(0.01, 0.6),
        duration_days: request.days,
    }
}

struct Job {
    request: JobRequest,
    submitted_at: f64,
    /// Seconds after submission at which each symbol's work is done; never empty.
    symbol_ends: Vec<f64>,
    next_report_at: f64,
    /// Seeded from the job id, so the same request gives the same results.
    rng: Rng,
}

impl Job {
    fn new(request: JobRequest, now: f64) -> Self {
        let mut rng = Rng::with_seed(fnv1a(request.job_id.as_bytes()));
        let symbol_ends = request
            .symbols
            .iter()
            .scan(0.0, |done, _| {
                *done += SYMBOL_SECONDS + SYMBOL_JITTER * rng.f64();
                Some(*done)
            })
            .collect();
        Self {
            request,
            submitted_at: now,
            symbol_ends,
            next_report_at: now,
            rng,
        }
    }

    fn duration(&self) -> f64 {
        self.symbol_ends.last().copied().unwrap_or_default()
    }

    fn progress(&self, now: f64) -> Outbound {
        let elapsed = now - self.submitted_at;
        let finished = elapsed >= self.duration();
        let processed = self
            .symbol_ends
            .iter()
            .filter(|end| elapsed >= **end)
            .count();
        let current = processed.min(self.request.symbols.len() - 1);
        let progress = BacktestProgress {
            job_id: &self.request.job_id,
            progress: (elapsed / self.duration()).min(1.0),
            status: if finished { "completed" } else { "processing" },
            current_symbol: &self.request.symbols[current],
            processed_symbols: processed,
            estimated_completion: self.submitted_at + self.duration(),
        };
        publish(
            channel::BACKTEST_PROGRESS,
            payloads::backtest_progress(&progress, now),
        )
    }

    /// The final result: `Some` figures when completed, `None` when cancelled.
    fn result(&self, results: Option<&BacktestResults>, now: f64) -> Outbound {
        let payload =
            payloads::backtest_result(&self.request.job_id, results, now - self.submitted_at, now);
        publish(channel::BACKTEST_RESULTS, payload)
    }
}

fn publish(channel: &'static str, payload: Value) -> Outbound {
    Outbound::Publish { channel, payload }
}

/// A stable 64-bit hash; std's hasher is randomly keyed per process.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The running jobs, advanced by the clock.
#[derive(Default)]
pub(super) struct JobBoard {
    jobs: Vec<Job>,
}

impl JobBoard {
    pub fn running(&self) -> usize {
        self.jobs.len()
    }

    /// Starts the job a request describes, or says why it was ignored.
    pub fn submit(&mut self, payload: &[u8], now: f64) -> Result<&JobRequest, String> {
        let request = parse_request(payload)?;
        if self
            .jobs
            .iter()
            .any(|job| job.request.job_id == request.job_id)
        {
            return Err(format!("job {} is already running", request.job_id));
        }
        self.jobs.push(Job::new(request, now));
        Ok(&self.jobs[self.jobs.len() - 1].request)
    }

    /// Stops the job a `cancel_job` message names and reports it cancelled.
    pub fn cancel(&mut self, payload: &[u8], now: f64) -> Result<Outbound, String> {
        let message = json_object(payload)?;
        if let Some(kind) = message.get("type").filter(|kind| *kind != "cancel_job") {
            return Err(format!("type {kind} is not \"cancel_job\""));
        }
        let job_id = job_id(&message)?;
        let position = self
            .jobs
            .iter()
            .position(|job| job.request.job_id == job_id)
            .ok_or_else(|| format!("no running job {job_id}"))?;
        Ok(self.jobs.remove(position).result(None, now))
    }

    /// Progress reports that fell due, and results for jobs that finished.
    pub fn advance(&mut self, now: f64) -> Vec<Outbound> {
        let mut out = Vec::new();
        self.jobs.retain_mut(|job| {
            if now - job.submitted_at >= job.duration() {
                out.push(job.progress(now));
                let figures = results(&job.request, &mut job.rng);
                out.push(job.result(Some(&figures), now));
                info!(
                    "Demo backtest {} completed: {} trades, win rate {:.2}, ROI {:.3}.",
                    job.request.job_id, figures.total_trades, figures.win_rate, figures.roi
                );
                return false;
            }
            if now >= job.next_report_at {
                out.push(job.progress(now));
                job.next_report_at = now + REPORT_EVERY;
            }
            true
        });
        out
    }

    /// Reports every running job cancelled, for shutdown.
    pub fn cancel_all(&mut self, now: f64) -> Vec<Outbound> {
        self.jobs
            .drain(..)
            .map(|job| job.result(None, now))
            .collect()
    }
}

/// Runs the backtester until `stop` is set: listens on the job channels (re-subscribing after a
/// Redis restart) and keeps `active_jobs` up to date for system health.
pub(super) fn serve(
    client: &Client,
    connection: Connection,
    active_jobs: &AtomicUsize,
    stop: &AtomicBool,
) {
    let mut desk = Desk {
        board: JobBoard::default(),
        publisher: Publisher::new(client.clone(), None, "backtester"),
        active_jobs,
    };
    let mut backoff = Backoff::new();
    let mut connection = Some(connection);
    while !stop.load(Ordering::Relaxed) {
        let session = connection
            .take()
            .map_or_else(|| link::reconnect(client), Ok);
        if let Err(error) =
            session.and_then(|connection| desk.listen(connection, &mut backoff, stop))
        {
            let delay = backoff.next_delay();
            warn!("Demo backtester lost its job subscription, retrying in {delay:?}: {error}");
            desk.idle(delay, stop);
        }
    }
    let cancelled = desk.board.cancel_all(clock::now());
    if !cancelled.is_empty() {
        info!(
            "Demo backtester cancelled {} running jobs on shutdown.",
            cancelled.len()
        );
        desk.publisher.send(&cancelled);
    }
    active_jobs.store(0, Ordering::Relaxed);
}

/// The backtester's I/O around its `JobBoard`.
struct Desk<'a> {
    board: JobBoard,
    publisher: Publisher,
    active_jobs: &'a AtomicUsize,
}

impl Desk<'_> {
    /// One subscription's life: `Ok` when stopped, `Err` when Redis went away.
    fn listen(
        &mut self,
        mut connection: Connection,
        backoff: &mut Backoff,
        stop: &AtomicBool,
    ) -> RedisResult<()> {
        let mut pubsub = connection.as_pubsub();
        pubsub.subscribe(&[channel::JOBS_BACKTEST, channel::JOBS_CANCEL])?;
        pubsub.set_read_timeout(Some(POLL))?;
        backoff.reset();
        info!(
            "Demo backtester listening on {} and {}.",
            channel::JOBS_BACKTEST,
            channel::JOBS_CANCEL
        );
        while !stop.load(Ordering::Relaxed) {
            match pubsub.get_message() {
                Ok(message) => self.handle(message.get_channel_name(), message.get_payload_bytes()),
                Err(error) if error.is_timeout() => {}
                Err(error) => return Err(error),
            }
            self.tick();
        }
        Ok(())
    }

    fn handle(&mut self, channel: &str, payload: &[u8]) {
        let now = clock::now();
        if channel == channel::JOBS_CANCEL {
            match self.board.cancel(payload, now) {
                Ok(result) => {
                    info!("Demo backtester cancelled a job on request.");
                    self.publisher.send(&[result]);
                }
                Err(reason) => info!("Demo backtester ignored a cancel request: {reason}."),
            }
            return;
        }
        match self.board.submit(payload, now) {
            Ok(job) => info!(
                "Demo backtest {} started for user {}: {} symbols, {} patterns, {} days.",
                job.job_id,
                job.user_id.as_deref().unwrap_or("unknown"),
                job.symbols.len(),
                job.patterns,
                job.days
            ),
            Err(reason) => warn!("Demo backtester ignored a malformed job request: {reason}."),
        }
    }

    fn tick(&mut self) {
        let due = self.board.advance(clock::now());
        self.publisher.send(&due);
        self.active_jobs
            .store(self.board.running(), Ordering::Relaxed);
    }

    /// Keeps jobs moving while waiting to reconnect.
    fn idle(&mut self, delay: Duration, stop: &AtomicBool) {
        let until = Instant::now() + delay;
        while !stop.load(Ordering::Relaxed) && Instant::now() < until {
            thread::sleep(POLL);
            self.tick();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: f64 = 1_760_557_168.0;

    fn request(job_id: &str, symbols: &[&str]) -> Vec<u8> {
        json!({
            "type": "backtest_job",
            "job_id": job_id,
            "user_id": "42",
            "symbols": symbols,
            "start_date": "2024-01-01",
            "end_date": "2024-12-31",
            "patterns": ["Doji", "Hammer"],
            "parameters": {"initial_capital": 100000, "commission_rate": 0.001},
            "timestamp": NOW,
            "source": "tickstock_appv2",
        })
        .to_string()
        .into_bytes()
    }

    fn payloads_on<'a>(out: &'a [Outbound], wanted: &str) -> Vec<&'a Value> {
        out.iter()
            .filter_map(|o| match o {
                Outbound::Publish { channel, payload } if *channel == wanted => Some(payload),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn parses_the_appv2_request() {
        let parsed = parse_request(&request("backtest_1_ab", &["AAPL", "MSFT"])).unwrap();
        assert_eq!(parsed.job_id, "backtest_1_ab");
        assert_eq!(parsed.user_id.as_deref(), Some("42"));
        assert_eq!(parsed.symbols, ["AAPL", "MSFT"]);
        assert_eq!(parsed.patterns, 2);
        assert_eq!(parsed.days, 365);
    }

    #[test]
    fn parses_what_tickrouter_publishes() {
        use crate::domain::backtest::{new_job_id, BacktestConfig, JobRecord};
        use crate::domain::ids::UserId;

        let config = BacktestConfig::from_request(&json!({
            "symbols": ["aapl", "NVDA"], "patterns": ["Doji", "MorningStar", "Hammer"],
            "start_date": "2024-03-01", "end_date": "2024-05-30",
        }))
        .unwrap();
        let job_id = new_job_id(1_760_557_168, 0xabcd);
        let record = JobRecord::queued(job_id.clone(), UserId::new("7").unwrap(), config, 0);
        let published = record.job_request(1_760_557_168_342).unwrap().to_string();
        let parsed = parse_request(published.as_bytes()).unwrap();
        assert_eq!(parsed.job_id, job_id.as_str());
        assert_eq!(parsed.user_id.as_deref(), Some("7"));
        assert_eq!(parsed.symbols, ["AAPL", "NVDA"]);
        assert_eq!((parsed.patterns, parsed.days), (3, 90));
    }

    #[test]
    fn malformed_requests_are_refused_with_a_reason() {
        let valid: Value = serde_json::from_slice(&request("job", &["AAPL"])).unwrap();
        let broken = |field: &str, value: Value| {
            let mut message = valid.clone();
            message[field] = value;
            parse_request(message.to_string().as_bytes())
        };
        assert!(parse_request(b"{not json")
            .unwrap_err()
            .contains("invalid JSON"));
        assert!(parse_request(b"[1]").is_err());
        assert!(broken("type", json!("cancel_job")).is_err());
        assert!(broken("job_id", json!("")).is_err());
        assert!(broken("job_id", json!(7)).is_err());
        assert!(broken("symbols", json!([])).is_err());
        assert!(broken("symbols", json!("AAPL")).is_err());
        assert!(broken("symbols", json!([1])).is_err());
        assert!(broken("patterns", json!([])).is_err());
        assert!(broken("start_date", json!("2025-02-30")).is_err());
        assert!(broken("end_date", json!("2023-12-31")).is_err());
        assert!(broken("end_date", json!("2031-01-01")).is_err());
        assert!(broken("parameters", json!({"initial_capital": -5})).is_err());
        assert!(broken("parameters", json!({})).is_ok());
        assert!(broken("user_id", json!(42)).is_ok());
    }

    #[test]
    fn results_are_plausible() {
        let parsed = parse_request(&request("job", &["AAPL", "MSFT", "NVDA"])).unwrap();
        for seed in 0..500 {
            let r = results(&parsed, &mut Rng::with_seed(seed));
            // 3 symbols x 2 patterns x 365/30 months = 73 trades expected.
            assert!((40..=105).contains(&r.total_trades), "{r:?}");
            assert!(r.winning_trades <= r.total_trades);
            assert!((0.4..=0.7).contains(&r.win_rate), "{r:?}");
            assert!((-0.5..1.0).contains(&r.roi), "{r:?}");
            assert!(r.sharpe_ratio.abs() < 3.0, "{r:?}");
            assert!((0.01..=0.6).contains(&r.max_drawdown), "{r:?}");
            assert_eq!(r.duration_days, 365);
        }
    }

    #[test]
    fn a_job_reports_progress_then_its_result() {
        let mut board = JobBoard::default();
        board
            .submit(&request("job", &["AAPL", "MSFT"]), NOW)
            .unwrap();
        let mut out = Vec::new();
        let mut now = NOW;
        while board.running() > 0 {
            out.extend(board.advance(now));
            now += 0.1;
            assert!(now < NOW + 5.0, "a two-symbol job should take 2 to 4 s");
        }
        let progress = payloads_on(&out, channel::BACKTEST_PROGRESS);
        assert!(
            progress.len() >= 7,
            "a few reports a second, got {}",
            progress.len()
        );
        let fractions: Vec<f64> = progress
            .iter()
            .map(|p| p["progress"].as_f64().unwrap())
            .collect();
        assert!(
            fractions.windows(2).all(|pair| pair[0] <= pair[1]),
            "{fractions:?}"
        );
        assert_eq!(fractions[0], 0.0);
        assert_eq!(*fractions.last().unwrap(), 1.0);
        assert_eq!(progress[0]["current_symbol"], "AAPL");
        assert_eq!(progress.last().unwrap()["current_symbol"], "MSFT");
        assert_eq!(progress.last().unwrap()["status"], "completed");
        assert_eq!(progress.last().unwrap()["processed_symbols"], 2);

        let results = payloads_on(&out, channel::BACKTEST_RESULTS);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0]["status"], "completed");
        assert_eq!(results[0]["job_id"], "job");
        assert!(results[0]["results"]["total_trades"].as_u64().unwrap() > 0);
    }

    #[test]
    fn a_cancelled_job_stops() {
        let mut board = JobBoard::default();
        board.submit(&request("keep", &["AAPL"]), NOW).unwrap();
        board
            .submit(&request("drop", &["AAPL", "MSFT", "NVDA"]), NOW)
            .unwrap();
        assert!(board.submit(&request("drop", &["AAPL"]), NOW).is_err());
        board.advance(NOW + 0.5);

        let cancel = json!({"type": "cancel_job", "job_id": "drop", "source": "tickstock_appv2"})
            .to_string();
        let Outbound::Publish { channel, payload } =
            board.cancel(cancel.as_bytes(), NOW + 0.6).unwrap()
        else {
            panic!("a cancel publishes a result");
        };
        assert_eq!(channel, channel::BACKTEST_RESULTS);
        assert_eq!(payload["status"], "cancelled");
        assert_eq!(payload["job_id"], "drop");
        assert!(board.cancel(cancel.as_bytes(), NOW + 0.7).is_err());

        let mut later = Vec::new();
        for step in 1..=60 {
            later.extend(board.advance(NOW + 0.6 + f64::from(step) * 0.1));
        }
        assert!(later.iter().all(
            |o| !matches!(o, Outbound::Publish { payload, .. } if payload["job_id"] == "drop")
        ));
        assert_eq!(
            payloads_on(&later, channel::BACKTEST_RESULTS)[0]["job_id"],
            "keep"
        );
        assert_eq!(board.running(), 0);
    }

    #[test]
    fn shutdown_cancels_running_jobs() {
        let mut board = JobBoard::default();
        board.submit(&request("a", &["AAPL"]), NOW).unwrap();
        board.submit(&request("b", &["AAPL"]), NOW).unwrap();
        let out = board.cancel_all(NOW + 0.2);
        let statuses: Vec<_> = payloads_on(&out, channel::BACKTEST_RESULTS)
            .iter()
            .map(|p| p["status"].clone())
            .collect();
        assert_eq!(statuses, [json!("cancelled"), json!("cancelled")]);
        assert_eq!(board.running(), 0);
    }
}
