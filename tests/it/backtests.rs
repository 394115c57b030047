//! The backtest job API against a real Redis: validation, authentication, ownership, the
//! stored layout, the published requests, and the job lifecycle driven by progress and result
//! events on the real channels.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use tickrouter::auth::issue_token;

use crate::util::{
    api, raw_api, settings_for, token, wait_for, App, Client, Listener, Redis, SECRET, WAIT,
};

use tickrouter::domain::redis_names::channel::{
    BACKTEST_PROGRESS as PROGRESS, BACKTEST_RESULTS as RESULTS, JOBS_BACKTEST as JOBS,
    JOBS_CANCEL as CANCELS, JOBS_SYSTEM, SYSTEM_HEALTH,
};

const DAY: i64 = 24 * 3600;

fn request() -> Value {
    json!({
        "symbols": ["AAPL", "msft"],
        "start_date": "2024-01-01",
        "end_date": "2024-12-31",
        "patterns": ["Doji", "Hammer"],
    })
}

fn submit(app: &App, user: &str, body: &Value) -> String {
    let (status, reply) = api(app, "POST", "/api/backtests", Some(user), Some(body));
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["status"], "queued");
    reply["job_id"].as_str().unwrap().to_owned()
}

fn job(app: &App, user: &str, id: &str) -> Value {
    let (status, record) = api(
        app,
        "GET",
        &format!("/api/backtests/{id}"),
        Some(user),
        None,
    );
    assert_eq!(status, 200, "{record}");
    record
}

fn cancel(app: &App, user: &str, id: &str) -> (u16, Value) {
    api(
        app,
        "POST",
        &format!("/api/backtests/{id}/cancel"),
        Some(user),
        None,
    )
}

fn publish_progress(redis: &Redis, job: &str, progress: f64, symbol: &str) {
    redis.publish(
        PROGRESS,
        json!({
            "event_type": "backtest_progress", "source": "tickstock_pl", "job_id": job,
            "progress": progress, "status": "processing", "current_symbol": symbol,
            "processed_symbols": 1, "estimated_completion": 1_760_557_333.342,
            "timestamp": 1_760_557_168.342,
        })
        .to_string(),
    );
}

fn publish_result(redis: &Redis, job: &str, status: &str, extra: Value) {
    let mut message = json!({
        "event_type": "backtest_result", "source": "tickstock_pl", "job_id": job,
        "status": status, "timestamp": 1_760_557_488.342,
    });
    message
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    redis.publish(RESULTS, message.to_string());
}

/// Every backtest frame a session receives before a public sentinel (a health event).
fn backtest_frames_before_sentinel(redis: &Redis, client: &mut Client) -> Vec<Value> {
    redis.publish(SYSTEM_HEALTH, json!({"status": "healthy"}).to_string());
    client
        .frames_until("health sentinel", |f| f["event"] == "system_health")
        .into_iter()
        .filter(|f| f["event"].as_str().unwrap_or("").starts_with("backtest"))
        .collect()
}

fn ttl(redis: &Redis, key: &str) -> i64 {
    redis.query(&["TTL", key])
}

fn in_active_set(redis: &Redis, job: &str) -> bool {
    redis
        .query::<Option<f64>>(&["ZSCORE", "tickstock:active_jobs", job])
        .is_some()
}

#[test]
fn every_validation_rule_names_the_invalid_field() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let too_many: Vec<String> = (0..51).map(|i| format!("S{i}")).collect();
    let cases = [
        ("symbols", json!([])),
        ("symbols", json!(too_many)),
        ("symbols", json!("AAPL")),
        ("symbols", json!(["not a symbol"])),
        ("patterns", json!([])),
        ("patterns", json!([""])),
        ("initial_capital", json!(0)),
        ("initial_capital", json!(-100)),
        ("initial_capital", json!("lots")),
        ("commission_rate", json!(-0.001)),
        ("commission_rate", json!(0.011)),
        ("slippage_rate", json!(-0.5)),
        ("slippage_rate", json!(0.02)),
        ("start_date", json!("2024-13-01")),
        ("start_date", json!("01/01/2024")),
        ("end_date", json!("2023-12-31")),
        ("end_date", json!("2024-01-01")),
        ("end_date", json!("2029-01-01")),
        ("max_position_size", json!(2)),
        ("stop_loss_pct", json!(0)),
        ("take_profit_pct", json!(-1)),
    ];
    for (field, bad) in cases {
        let mut body = request();
        body[field] = bad.clone();
        let (status, reply) = api(&app, "POST", "/api/backtests", Some("alice"), Some(&body));
        assert_eq!(status, 400, "{field} = {bad}: {reply}");
        assert_eq!(reply["error"], "invalid_request");
        let fields = reply["fields"].as_object().unwrap();
        assert_eq!(
            fields.keys().collect::<Vec<_>>(),
            [field],
            "{field} = {bad}: {reply}"
        );
        assert!(!fields[field].as_str().unwrap().is_empty());
    }
    for missing in ["symbols", "patterns", "start_date", "end_date"] {
        let mut body = request();
        body.as_object_mut().unwrap().remove(missing);
        let (status, reply) = api(&app, "POST", "/api/backtests", Some("alice"), Some(&body));
        assert_eq!(status, 400);
        assert!(reply["fields"][missing].is_string(), "{missing}: {reply}");
    }

    // Several at once: every one is named.
    let body = json!({
        "symbols": [], "patterns": [], "start_date": "2024-06-01", "end_date": "2024-01-01",
        "initial_capital": -1, "commission_rate": 0.5, "slippage_rate": 0.5,
    });
    let (status, reply) = api(&app, "POST", "/api/backtests", Some("alice"), Some(&body));
    assert_eq!(status, 400);
    let mut named: Vec<&String> = reply["fields"].as_object().unwrap().keys().collect();
    named.sort();
    assert_eq!(
        named,
        [
            "commission_rate",
            "end_date",
            "initial_capital",
            "patterns",
            "slippage_rate",
            "symbols"
        ]
    );
    assert_eq!(reply["fields"]["end_date"], "must be after start_date");

    // Not JSON, or not an object.
    let bearer = format!("Bearer {}", token("alice"));
    let auth = [("Authorization", bearer.as_str())];
    for text in ["{\"symbols\": [", "[1, 2]", ""] {
        let (status, reply) = raw_api(&app, "POST", "/api/backtests", &auth, Some(text));
        assert_eq!(status, 400, "{text:?}");
        assert!(reply["fields"]["body"].is_string(), "{text:?}: {reply}");
    }

    // The edges are accepted: 50 symbols, 1825 days, zero and 1 % costs.
    let fifty: Vec<String> = (0..50).map(|i| format!("S{i}")).collect();
    let edge = json!({
        "symbols": fifty, "patterns": ["Doji"], "start_date": "2024-01-01",
        "end_date": "2028-12-30", "commission_rate": 0, "slippage_rate": 0.01,
    });
    submit(&app, "alice", &edge);
    // Nothing invalid was stored.
    let stored: i64 = redis.query(&["ZCARD", "tickstock:user_jobs:alice"]);
    assert_eq!(stored, 1);
}

#[test]
fn the_api_requires_a_valid_bearer_token() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let id = submit(&app, "alice", &request());
    let forged = format!("Bearer {}", issue_token("other-secret", "alice", &[], 300));
    let expired = format!("Bearer {}", issue_token(SECRET, "alice", &[], -600));
    let basic = format!("Basic {}", token("alice"));
    let calls = [
        ("POST", "/api/backtests".to_owned()),
        ("GET", "/api/backtests".to_owned()),
        ("GET", format!("/api/backtests/{id}")),
        ("POST", format!("/api/backtests/{id}/cancel")),
    ];
    for (method, path) in &calls {
        let body = request().to_string();
        let body = (*method == "POST").then_some(body.as_str());
        for (header, code) in [
            (None, "missing_token"),
            (Some("Bearer"), "missing_token"),
            (Some(basic.as_str()), "missing_token"),
            (Some("Bearer not.a.token"), "invalid_token"),
            (Some(forged.as_str()), "invalid_token"),
            (Some(expired.as_str()), "invalid_token"),
        ] {
            let headers: Vec<(&str, &str)> =
                header.map(|h| ("Authorization", h)).into_iter().collect();
            let (status, reply) = raw_api(&app, method, path, &headers, body);
            assert_eq!(status, 401, "{method} {path} with {header:?}: {reply}");
            assert_eq!(reply["error"], code, "{method} {path} with {header:?}");
        }
    }
    // None of those created or cancelled anything.
    let stored: i64 = redis.query(&["ZCARD", "tickstock:user_jobs:alice"]);
    assert_eq!(stored, 1);
    assert_eq!(job(&app, "alice", &id)["status"], "queued");
}

#[test]
fn submission_stores_the_legacy_layout_and_publishes_the_request() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut requests = Listener::on(&redis, JOBS);
    let mut body = request();
    body["initial_capital"] = json!(25_000);
    body["commission_rate"] = json!(0.002);
    let before = tickrouter::domain::event::EpochMillis::now().0;
    let id = submit(&app, "alice", &body);

    let parts: Vec<&str> = id.split('_').collect();
    assert_eq!(parts.len(), 3, "{id}");
    assert_eq!(parts[0], "backtest");
    let epoch: i64 = parts[1].parse().unwrap();
    assert!((before / 1000..=before / 1000 + 5).contains(&epoch), "{id}");
    assert!(
        parts[2].len() == 8 && parts[2].chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );

    let published = requests
        .next(WAIT)
        .expect("the request on tickstock.jobs.backtest");
    assert_eq!(published["type"], "backtest_job");
    assert_eq!(published["job_id"], id.as_str());
    assert_eq!(published["user_id"], "alice");
    assert_eq!(published["symbols"], json!(["AAPL", "MSFT"]));
    assert_eq!(published["patterns"], json!(["Doji", "Hammer"]));
    assert_eq!(published["start_date"], "2024-01-01");
    assert_eq!(published["end_date"], "2024-12-31");
    assert_eq!(
        published["parameters"],
        json!({
            "initial_capital": 25_000.0, "commission_rate": 0.002, "slippage_rate": 0.0005,
            "max_position_size": 0.1, "stop_loss_pct": 0.05, "take_profit_pct": 0.1,
            // the integration brief's name for max_position_size
            "position_size": 0.1,
        })
    );
    let timestamp = published["timestamp"]
        .as_f64()
        .expect("epoch seconds as a float");
    assert!((timestamp - before as f64 / 1000.0).abs() < 5.0);
    assert_eq!(published["source"], "tickrouter");

    // The record, the owner's index and the active set, with their lifetimes.
    let key = format!("tickstock:jobs:{id}");
    let stored: String = redis.query(&["GET", &key]);
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["status"], "queued");
    assert_eq!(stored["user_id"], "alice");
    assert_eq!(stored["progress"], 0.0);
    assert_eq!(stored["config"]["initial_capital"], 25_000.0);
    for unset in [
        "started_at",
        "completed_at",
        "current_symbol",
        "results",
        "error_message",
    ] {
        assert!(stored[unset].is_null(), "{unset}: {stored}");
    }
    assert!((7 * DAY - 10..=7 * DAY).contains(&ttl(&redis, &key)));
    let index = "tickstock:user_jobs:alice";
    assert!((30 * DAY - 10..=30 * DAY).contains(&ttl(&redis, index)));
    let score: f64 = redis.query(&["ZSCORE", index, &id]);
    assert_eq!(score as i64, stored["created_at"].as_i64().unwrap());
    assert!(in_active_set(&redis, &id));

    // The API shows the same record; the list is newest first.
    assert_eq!(job(&app, "alice", &id), stored);
    std::thread::sleep(Duration::from_millis(5));
    let newer = submit(&app, "alice", &request());
    let (status, listed) = api(&app, "GET", "/api/backtests", Some("alice"), None);
    assert_eq!(status, 200);
    let ids: Vec<&str> = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [newer.as_str(), id.as_str()]);

    // An index entry whose record expired is dropped from the list and from the sets.
    let _: i64 = redis.query(&["DEL", &key]);
    let (_, listed) = api(&app, "GET", "/api/backtests", Some("alice"), None);
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1);
    let left: i64 = redis.query(&["ZCARD", index]);
    assert_eq!(left, 1);
    assert!(!in_active_set(&redis, &id));
}

#[test]
fn the_list_is_capped_at_fifty() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.jobs.max_active_per_user = 100;
    let app = App::start_with(settings);
    for _ in 0..52 {
        submit(&app, "carol", &request());
    }
    let (_, listed) = api(&app, "GET", "/api/backtests", Some("carol"), None);
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 50);
    let (_, empty) = api(&app, "GET", "/api/backtests", Some("dave"), None);
    assert_eq!(empty, json!({"jobs": []}));
}

#[test]
fn another_users_job_is_not_found() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut cancels = Listener::on(&redis, CANCELS);
    let id = submit(&app, "alice", &request());

    let (status, reply) = api(
        &app,
        "GET",
        &format!("/api/backtests/{id}"),
        Some("bob"),
        None,
    );
    assert_eq!((status, &reply["error"]), (404, &json!("not_found")));
    let (status, _) = cancel(&app, "bob", &id);
    assert_eq!(status, 404);
    let (_, listed) = api(&app, "GET", "/api/backtests", Some("bob"), None);
    assert_eq!(listed["jobs"], json!([]));
    // Bob's attempt changed and published nothing.
    assert_eq!(job(&app, "alice", &id)["status"], "queued");
    assert!(cancels.next(Duration::from_millis(300)).is_none());

    // Unknown ids look the same as other people's.
    for unknown in ["backtest_1_deadbeef", "nope"] {
        let (status, _) = api(
            &app,
            "GET",
            &format!("/api/backtests/{unknown}"),
            Some("alice"),
            None,
        );
        assert_eq!(status, 404);
        let (status, _) = cancel(&app, "alice", unknown);
        assert_eq!(status, 404);
    }
}

#[test]
fn the_full_lifecycle_reaches_the_owner_only_and_updates_the_record() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut alice = app.ws_as("alice", &[]);
    let mut bob = app.ws_as("bob", &[]);
    let id = submit(&app, "alice", &request());
    assert_eq!(job(&app, "alice", &id)["status"], "queued");

    // The record is updated before the event goes out, so the API agrees with every frame.
    publish_progress(&redis, &id, 0.0, "AAPL");
    let first = alice.expect("backtest_progress");
    assert_eq!(first["data"]["job_id"], id.as_str());
    let running = job(&app, "alice", &id);
    assert_eq!(running["status"], "running");
    assert_eq!(running["current_symbol"], "AAPL");
    let started_at = running["started_at"].as_i64().expect("started_at set");
    assert!(started_at >= running["created_at"].as_i64().unwrap());
    assert!(running["completed_at"].is_null());
    assert!(in_active_set(&redis, &id));

    publish_progress(&redis, &id, 50.0, "MSFT");
    let half = alice.expect("backtest_progress");
    assert_eq!(half["data"]["progress"], 0.5);
    assert_eq!(half["data"]["current_symbol"], "MSFT");
    let running = job(&app, "alice", &id);
    assert_eq!(
        (&running["progress"], &running["current_symbol"]),
        (&json!(0.5), &json!("MSFT"))
    );
    assert_eq!(running["estimated_completion"], 1_760_557_333_342_i64);
    assert_eq!(
        running["started_at"], started_at,
        "set once, by the first report"
    );

    let figures = json!({"win_rate": 0.65, "total_trades": 150, "winning_trades": 98, "roi": 0.12,
        "sharpe_ratio": 1.8, "max_drawdown": 0.05, "duration_days": 365});
    publish_result(
        &redis,
        &id,
        "completed",
        json!({"results": figures, "processing_time_seconds": 3.2}),
    );
    let result = alice.expect("backtest_result");
    assert_eq!(result["data"]["status"], "completed");
    assert_eq!(result["data"]["results"], figures);
    let done = job(&app, "alice", &id);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["progress"], 1.0);
    assert_eq!(done["results"], figures);
    assert!(done["completed_at"].as_i64().unwrap() >= started_at);
    assert!(
        !in_active_set(&redis, &id),
        "finished jobs leave the active set"
    );
    let key = format!("tickstock:jobs:{id}");
    assert!((7 * DAY - 10..=7 * DAY).contains(&ttl(&redis, &key)));
    let (_, listed) = api(&app, "GET", "/api/backtests", Some("alice"), None);
    assert_eq!(listed["jobs"][0]["status"], "completed");

    // Bob saw none of it; a finished job cannot be cancelled.
    assert_eq!(
        backtest_frames_before_sentinel(&redis, &mut bob),
        Vec::<Value>::new()
    );
    let (status, reply) = cancel(&app, "alice", &id);
    assert_eq!(status, 409, "{reply}");
    assert_eq!(reply["error"], "job_finished");
    assert_eq!(reply["status"], "completed");

    // A late report is still shown to the owner but cannot reopen the job.
    publish_progress(&redis, &id, 0.7, "NVDA");
    alice.expect("backtest_progress");
    let after = job(&app, "alice", &id);
    assert_eq!(
        (&after["status"], &after["progress"]),
        (&json!("completed"), &json!(1.0))
    );
}

#[test]
fn failed_and_cancelled_results_map_to_their_status() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut alice = app.ws_as("alice", &[]);
    let failing = submit(&app, "alice", &request());
    let cancelled = submit(&app, "alice", &request());
    let canceled = submit(&app, "alice", &request());
    publish_progress(&redis, &failing, 0.2, "AAPL");
    publish_result(
        &redis,
        &failing,
        "failed",
        json!({"error_message": "No OHLCV data for MSFT", "results": {}}),
    );
    publish_result(&redis, &cancelled, "cancelled", json!({"results": {}}));
    publish_result(&redis, &canceled, "canceled", json!({}));
    for _ in 0..3 {
        alice.expect("backtest_result");
    }
    let failed = job(&app, "alice", &failing);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error_message"], "No OHLCV data for MSFT");
    assert_eq!(failed["progress"], 0.2);
    assert!(failed["completed_at"].is_i64());
    for id in [&cancelled, &canceled] {
        let record = job(&app, "alice", id);
        assert_eq!(record["status"], "cancelled", "{record}");
        assert!(record["completed_at"].is_i64());
    }
    for id in [&failing, &cancelled, &canceled] {
        assert!(!in_active_set(&redis, id));
    }
}

/// A backtester written to the integration brief listens on `tickstock.jobs.backtest` (reading
/// `job_type` and `parameters.position_size`) and `tickstock.jobs.system` (cancel commands), and
/// reports on the same progress and result channels.
#[test]
fn a_backtester_of_the_briefs_dialect_gets_the_request_and_the_cancel() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut requests = Listener::on(&redis, JOBS);
    let mut commands = Listener::on(&redis, JOBS_SYSTEM);
    let mut body = request();
    body["max_position_size"] = json!(0.25);
    let id = submit(&app, "alice", &body);
    let job = requests.next(WAIT).expect("the request");
    assert_eq!(job["job_type"], "backtest");
    assert_eq!(job["job_id"], id.as_str());
    assert_eq!(job["user_id"], "alice");
    assert_eq!(job["parameters"]["position_size"], 0.25);
    assert_eq!(job["parameters"]["initial_capital"], json!(100_000.0));

    let mut alice = app.ws_as("alice", &[]);
    publish_progress(&redis, &id, 0.3, "AAPL");
    assert_eq!(
        alice.expect("backtest_progress")["data"]["job_id"],
        id.as_str()
    );
    let (status, record) = cancel(&app, "alice", &id);
    assert_eq!(status, 200, "{record}");
    let command = commands
        .next(WAIT)
        .expect("the cancel on tickstock.jobs.system");
    assert_eq!(command["command"], "cancel_job");
    assert_eq!(command["job_id"], id.as_str());
    assert!(command["timestamp"].as_f64().unwrap() > 0.0);
}

#[test]
fn cancel_marks_the_job_and_tells_the_backtester() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut cancels = Listener::on(&redis, CANCELS);
    let mut alice = app.ws_as("alice", &[]);
    let id = submit(&app, "alice", &request());
    publish_progress(&redis, &id, 0.3, "AAPL");
    alice.expect("backtest_progress");

    let before = tickrouter::domain::event::EpochMillis::now().0;
    let (status, record) = cancel(&app, "alice", &id);
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["status"], "cancelled");
    assert!(record["completed_at"].as_i64().unwrap() >= before);
    assert!(!in_active_set(&redis, &id));
    let message = cancels
        .next(WAIT)
        .expect("the cancel on tickstock.jobs.cancel");
    assert_eq!(message["type"], "cancel_job");
    assert_eq!(message["job_id"], id.as_str());
    assert_eq!(message["source"], "tickrouter");
    assert!((message["timestamp"].as_f64().unwrap() - before as f64 / 1000.0).abs() < 5.0);

    // Reports the backtester sent before it saw the cancel reach the owner but change nothing.
    publish_progress(&redis, &id, 0.6, "MSFT");
    assert_eq!(alice.expect("backtest_progress")["data"]["progress"], 0.6);
    publish_result(&redis, &id, "completed", json!({"results": {"roi": 0.1}}));
    alice.expect("backtest_result");
    let after = job(&app, "alice", &id);
    assert_eq!(after["status"], "cancelled");
    assert_eq!(after["progress"], 0.3);
    assert!(after["results"].is_null());
    assert_eq!(after["completed_at"], record["completed_at"]);
    assert!(!in_active_set(&redis, &id));

    let (status, reply) = cancel(&app, "alice", &id);
    assert_eq!((status, &reply["status"]), (409, &json!("cancelled")));
    assert!(cancels.next(Duration::from_millis(300)).is_none());
}

#[test]
fn the_demo_backtester_runs_a_submitted_job_to_its_result() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut alice = app.ws_as("alice", &[]);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let url = redis.url();
        let options = tickrouter::demo::DemoOptions {
            rate: 1.0,
            symbols: 2,
        };
        let stop = &stop;
        scope.spawn(move || tickrouter::demo::run(&url, &options, stop).unwrap());
        // The demo subscribes to the job channels on its own thread; wait until it listens.
        wait_for("the demo backtester to subscribe", WAIT, || {
            let (_, listeners): (String, i64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(JOBS)
                .query(&mut redis.conn())
                .unwrap();
            (listeners > 0).then_some(())
        });
        let body = json!({"symbols": ["AAPL", "MSFT"], "patterns": ["Doji"],
            "start_date": "2024-01-01", "end_date": "2024-06-30"});
        let id = submit(&app, "alice", &body);
        // Two symbols take the demo 2 to 4 s.
        let mut progress = Vec::new();
        let result = loop {
            let frame = alice.next_where("the demo's reports", Duration::from_secs(15), |f| {
                f["event"].as_str().unwrap_or("").starts_with("backtest")
            });
            assert_eq!(frame["data"]["job_id"], id.as_str());
            if frame["event"] == "backtest_result" {
                break frame;
            }
            progress.push(frame["data"]["progress"].as_f64().unwrap());
        };
        stop.store(true, Ordering::Relaxed);
        assert_eq!(result["data"]["status"], "completed");
        assert!(progress.len() >= 3, "{progress:?}");
        assert_eq!(progress.last(), Some(&1.0));
        let done = job(&app, "alice", &id);
        assert_eq!(done["status"], "completed", "{done}");
        assert!(done["results"]["total_trades"].as_u64().unwrap() > 0);
        assert!(done["started_at"].is_i64());
    });
}

#[test]
fn a_cancel_racing_progress_reports_is_never_lost() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut alice = app.ws_as("alice", &[]);
    for round in 0..5 {
        let id = submit(&app, "alice", &request());
        const REPORTS: usize = 150;
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut pipe = redis::pipe();
                for i in 0..REPORTS {
                    let report = json!({"job_id": id, "progress": i as f64 / REPORTS as f64});
                    pipe.cmd("PUBLISH")
                        .arg(PROGRESS)
                        .arg(report.to_string())
                        .ignore();
                }
                let _: () = pipe.query(&mut redis.conn()).unwrap();
            });
            std::thread::sleep(Duration::from_millis(5 * round));
            let (status, reply) = cancel(&app, "alice", &id);
            assert_eq!(status, 200, "{reply}");
        });
        let mut seen = 0;
        while seen < REPORTS {
            alice.expect("backtest_progress");
            seen += 1;
        }
        let record = job(&app, "alice", &id);
        assert_eq!(record["status"], "cancelled", "round {round}: {record}");
        assert!(!in_active_set(&redis, &id), "round {round}");
    }
}
