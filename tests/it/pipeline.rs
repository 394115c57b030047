//! End to end: PUBLISH on a real Redis -> tickrouter -> real WebSocket clients, checking who
//! receives what. Absence is checked with a sentinel published after the event under test on
//! the same channel, so no test sleeps.

use serde_json::json;

use crate::util::{App, Redis};

fn pattern(symbol: &str, name: &str, confidence: f64) -> String {
    json!({"event_type": "pattern_detected", "source": "test", "timestamp": 1760557168.342,
           "data": {"symbol": symbol, "pattern": name, "confidence": confidence}})
    .to_string()
}

#[test]
fn pattern_alerts_honour_session_pattern_subscriptions() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut all = app.ws();
    let mut picky = app.ws();
    let ack = picky.op(json!({"op": "pattern_subscriptions", "subscriptions": [
        {"pattern": "Doji", "min_confidence": 0.8, "symbols": ["AAPL"]},
        {"pattern": "Sentinel", "min_confidence": 0.0}
    ]}));
    assert_eq!(ack["data"]["count"], 2);
    for (sym, name, conf) in [
        ("AAPL", "Doji", 0.79),
        ("MSFT", "Doji", 0.9),
        ("AAPL", "Hammer", 0.99),
        ("AAPL", "Doji", 0.8),
        ("AAPL", "Doji", 0.95),
    ] {
        redis.publish("tickstock.events.patterns", pattern(sym, name, conf));
    }
    redis.publish("tickstock.events.patterns", pattern("ZZZ", "Sentinel", 0.5));

    let got = picky.frames_until("sentinel", |f| f["data"]["pattern"] == "Sentinel");
    let confidences: Vec<f64> = got
        .iter()
        .map(|f| f["data"]["confidence"].as_f64().unwrap())
        .collect();
    assert_eq!(confidences, vec![0.8, 0.95]);
    let got = all.frames_until("sentinel", |f| f["data"]["pattern"] == "Sentinel");
    assert_eq!(got.len(), 5, "an unfiltered session gets every alert");
    let alert = &got[0]["data"];
    assert_eq!(alert["symbol"], "AAPL");
    assert_eq!(alert["timestamp"], 1760557168342i64);
}

#[test]
fn price_updates_reach_only_the_symbols_watchers() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut spy = app.ws();
    let mut qqq = app.ws();
    spy.op(json!({"op": "watchlist", "symbols": ["SPY", "DONE"]}));
    qqq.op(json!({"op": "watchlist", "symbols": ["QQQ", "DONE"]}));
    let price = |sym: &str, pct: f64| {
        json!({"type": "price_update", "symbol": sym, "price": 100.0, "change": 1.0, "change_percent": pct, "timestamp": 1760557168.342}).to_string()
    };
    redis.publish("tickstock.market.prices", price("SPY", 0.2));
    redis.publish("tickstock.market.prices", price("SPY", 0.05));
    redis.publish("tickstock.market.prices", price("QQQ", -0.35));
    redis.publish("tickstock.market.prices", price("VUG", 1.0));
    redis.publish("tickstock.market.prices", price("DONE", 1.0));
    let done = |f: &serde_json::Value| f["data"]["symbol"] == "DONE";
    let got = spy.frames_until("sentinel", done);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["event"], "dashboard_price_update");
    assert_eq!(
        got[0]["data"],
        json!({"type": "price_update", "symbol": "SPY", "price": 100.0, "change": 1.0, "change_percent": 0.2, "timestamp": 1760557168342i64})
    );
    let got = qqq.frames_until("sentinel", done);
    assert_eq!(
        got.iter()
            .map(|f| f["data"]["symbol"].clone())
            .collect::<Vec<_>>(),
        vec![json!("QQQ")]
    );
    app.wait_drops("tickstock.market.prices", "below_threshold", 1);
    app.wait_drops("tickstock.market.prices", "no_recipients", 1);
}

#[test]
fn backtest_events_go_to_the_job_owner_only() {
    let redis = Redis::start();
    let app = App::start(&redis);
    redis.set(
        "tickstock:jobs:job_a",
        r#"{"job_id":"job_a","user_id":"alice"}"#,
    );
    redis.set("tickstock:jobs:job_b", r#"{"job_id":"job_b","user_id":42}"#);
    let mut alice1 = app.ws_as("alice", &[]);
    let mut alice2 = app.ws_as("alice", &[]);
    let mut bob = app.ws_as("42", &[]);
    let mut anon = app.ws();
    let progress = |job: &str, p: f64| {
        json!({"event_type": "backtest_progress", "job_id": job, "progress": p, "status": "processing"}).to_string()
    };
    redis.publish(
        "tickstock.events.backtesting.progress",
        progress("job_b", 45.0),
    );
    redis.publish(
        "tickstock.events.backtesting.progress",
        progress("job_unknown", 0.2),
    );
    redis.publish(
        "tickstock.events.backtesting.progress",
        progress("job_a", 0.5),
    );
    redis.publish(
        "tickstock.events.backtesting.results",
        json!({"job_id": "job_a", "status": "completed", "results": {"roi": 0.12}}).to_string(),
    );

    for alice in [&mut alice1, &mut alice2] {
        let got = alice.frames_until("alice's result", |f| f["event"] == "backtest_result");
        assert_eq!(got.len(), 1, "alice sees only her own progress: {got:?}");
        assert_eq!(got[0]["data"]["job_id"], "job_a");
    }
    let got = bob.frames_until("bob's progress", |f| f["event"] == "backtest_progress");
    assert!(got.is_empty());
    app.wait_drops("tickstock.events.backtesting.progress", "unknown_job", 1);
    // The anonymous session is in no user room: nothing arrives before a public sentinel.
    redis.publish(
        "tickstock.health.status",
        json!({"status": "healthy"}).to_string(),
    );
    let got = anon.frames_until("health sentinel", |f| f["event"] == "system_health");
    assert!(
        got.iter()
            .all(|f| !f["event"].as_str().unwrap().starts_with("backtest")),
        "{got:?}"
    );
}

#[test]
fn admin_events_reach_admins_only() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut admin = app.ws_as("root", &["admin"]);
    let mut user = app.ws_as("u1", &[]);
    let error = json!({"error_id": "e1", "source": "pl", "severity": "error", "message": "boom", "timestamp": "2025-10-15T19:41:02Z", "traceback": "secret stack"});
    redis.publish("tickstock:errors", error.to_string());
    let frame = admin.expect("system_error");
    assert_eq!(frame["data"]["message"], "boom");
    assert!(frame["data"].get("traceback").is_none());
    redis.publish(
        "tickstock.health.status",
        json!({"status": "healthy"}).to_string(),
    );
    let got = user.frames_until("health sentinel", |f| f["event"] == "system_health");
    assert!(got.iter().all(|f| f["event"] != "system_error"), "{got:?}");
}

#[test]
fn streaming_detections_arrive_batched_without_loss_or_duplicates() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut client = app.ws();
    let det = |sym: &str, conf: f64| {
        json!({"type": "streaming_pattern", "detection": {"pattern": "Doji", "symbol": sym, "confidence": conf}}).to_string()
    };
    let mut conn = redis.conn();
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("PUBLISH")
            .arg("tickstock:patterns:streaming")
            .arg(det(&format!("S{i}"), 0.5))
            .ignore();
    }
    let _: () = pipe.query(&mut conn).unwrap();
    let mut total = 0;
    while total < 1000 {
        let batch = client.expect("streaming_patterns_batch");
        let items = batch["data"]["patterns"].as_array().unwrap();
        assert_eq!(
            batch["data"]["count"].as_u64().unwrap() as usize,
            items.len()
        );
        assert!(items.len() <= 100);
        total += items.len();
    }
    assert_eq!(total, 1000);
}

#[test]
fn config_can_add_channels_and_glob_patterns() {
    use tickrouter::config::ChannelRoute;
    use tickrouter::domain::kind::EventKind;
    let redis = Redis::start();
    let mut settings = crate::util::settings_for(&redis);
    settings.channels.extra = vec![
        ChannelRoute {
            channel: None,
            pattern: Some("custom.prices.*".into()),
            kind: EventKind::PriceUpdate,
            sharded: false,
        },
        ChannelRoute {
            channel: Some("custom.health".into()),
            pattern: None,
            kind: EventKind::SystemHealth,
            sharded: false,
        },
    ];
    let app = App::start_with(settings);
    let mut client = app.ws();
    client.op(json!({"op": "watchlist", "symbols": ["NVDA"]}));
    redis.publish(
        "custom.prices.nasdaq",
        json!({"symbol": "NVDA", "price": 188.6, "change_percent": 1.2}).to_string(),
    );
    assert_eq!(
        client.expect("dashboard_price_update")["data"]["price"],
        188.6
    );
    redis.publish(
        "custom.health",
        json!({"overall_status": "degraded"}).to_string(),
    );
    assert_eq!(
        client.expect("system_health")["data"]["overall_status"],
        "degraded"
    );
    assert_eq!(app.stats()["received_by_channel"]["custom.prices.*"], 1);
}

#[test]
fn sessions_beyond_the_limit_are_refused_with_503() {
    let redis = Redis::start();
    let mut settings = crate::util::settings_for(&redis);
    settings.server.max_sessions = 2;
    let app = App::start_with(settings);
    let _a = app.ws();
    let _b = app.ws();
    crate::util::wait_for("two sessions registered", crate::util::WAIT, || {
        (app.stats()["sessions"]["active"] == 2).then_some(())
    });
    match crate::util::Client::try_connect(app.addr, None) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
        Err(e) => panic!("expected 503, got {e}"),
        Ok(_) => panic!("third session was accepted"),
    }
    assert_eq!(app.stats()["sessions"]["refused"], 1);
}

/// The subscriber connection speaks for itself (src/redis_client/subscriber/): it presents an
/// ACL user's name and password, and reaches Redis over a Unix socket as well as TCP.
#[test]
fn the_subscriber_signs_in_as_an_acl_user_and_reads_a_unix_socket() {
    let socket = std::env::temp_dir().join(format!(
        "tickrouter-it-{}-{}.sock",
        std::process::id(),
        crate::util::free_port()
    ));
    let socket_arg = socket.display().to_string();
    let redis = Redis::start_with(&["--unixsocket", &socket_arg, "--unixsocketperm", "700"]);
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "feeds", "on", ">s3cret", "~*", "&*", "+@all"][..])
        .query(&mut redis.conn())
        .unwrap();
    // Which connection subscribed, as Redis sees it: its user, and `U` for a Unix socket.
    let subscriber_is = |wanted: &str| {
        let clients: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut redis.conn())
            .unwrap();
        clients
            .lines()
            .filter(|c| !c.contains(" sub=0 psub=0 "))
            .any(|c| c.contains(wanted))
    };
    let urls = [
        (
            format!("redis://feeds:s3cret@127.0.0.1:{}/0", redis.port),
            " user=feeds ",
        ),
        (format!("unix://{socket_arg}"), " flags=PU "),
    ];
    for (url, seen_as) in urls {
        let mut settings = crate::util::settings_for(&redis);
        settings.redis.url = url.clone();
        let app = App::start_with(settings);
        let mut client = app.ws();
        redis.publish("tickstock.events.patterns", pattern("ACL", "Doji", 0.9));
        let alert = client.expect("pattern_alert");
        assert_eq!(alert["data"]["symbol"], "ACL", "{url}");
        assert!(subscriber_is(seen_as), "{url}: no subscriber with{seen_as}");
    }
    let _ = std::fs::remove_file(&socket);
}
