//! Issue 3: per-user alert rules and watchlists read from Redis, conflation, and streaming
//! deduplication across channels, checked from real WebSocket clients.

use serde_json::{json, Value};

use crate::util::{wait_for, App, Client, Redis, WAIT};

const PATTERNS: &str = "tickstock.events.patterns";

fn alert(symbol: &str, pattern: &str, confidence: f64) -> String {
    json!({"event_type": "pattern_detected", "data": {"symbol": symbol, "pattern": pattern, "confidence": confidence}}).to_string()
}

/// Connects `user` and waits until tickrouter has read their records (rules and watchlist).
fn connect_loaded(app: &App, user: &str) -> Client {
    let before = loads(app);
    let client = app.ws_as(user, &[]);
    wait_for("the user's records to be read", WAIT, || {
        (loads(app) >= before + 2).then_some(())
    });
    client
}

fn loads(app: &App) -> u64 {
    let s = app.stats();
    s["alert_rules_cache"]["loads"].as_u64().unwrap_or(0)
        + s["watchlist_cache"]["loads"].as_u64().unwrap_or(0)
}

fn confidences(frames: &[Value]) -> Vec<f64> {
    frames
        .iter()
        .filter(|f| f["event"] == "pattern_alert")
        .map(|f| f["data"]["confidence"].as_f64().unwrap())
        .collect()
}

/// Publishes the alerts, then a sentinel every default rule accepts, and returns what arrived
/// before the sentinel.
fn alerts_received(redis: &Redis, client: &mut Client, alerts: &[(&str, &str, f64)]) -> Vec<f64> {
    for (symbol, pattern, confidence) in alerts {
        redis.publish(PATTERNS, alert(symbol, pattern, *confidence));
    }
    redis.publish(PATTERNS, alert("ZZZ", "Doji", 0.99));
    confidences(&client.frames_until("sentinel", |f| f["data"]["symbol"] == "ZZZ"))
}

#[test]
fn a_user_with_two_sessions_gets_each_alert_on_both() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut first = connect_loaded(&app, "alice");
    let mut second = app.ws_as("alice", &[]);
    redis.publish(PATTERNS, alert("AAPL", "Doji", 0.9));
    for client in [&mut first, &mut second] {
        let frame = client.expect("pattern_alert");
        assert_eq!(
            (
                frame["data"]["symbol"].clone(),
                frame["data"]["confidence"].clone()
            ),
            (json!("AAPL"), json!(0.9))
        );
    }
}

/// Signing in never means receiving fewer alerts by itself: a user who stored no rules gets
/// exactly what an anonymous session gets (no catalogue, threshold or hourly cap nobody chose).
#[test]
fn a_user_with_nothing_stored_gets_what_an_anonymous_session_gets() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut signed_in = connect_loaded(&app, "frank");
    let mut anonymous = app.ws();
    let mut alerts = Vec::new();
    alerts.extend([("AAPL", "High_Volume_Surge", 0.9); 5]);
    alerts.extend([("AAPL", "Doji", 0.3); 5]);
    alerts.extend([("AAPL", "Doji", 0.9); 60]);
    let got = alerts_received(&redis, &mut signed_in, &alerts);
    assert_eq!(got.len(), 70, "{got:?}");
    let anonymous_got =
        confidences(&anonymous.frames_until("sentinel", |f| f["data"]["symbol"] == "ZZZ"));
    assert_eq!(got, anonymous_got);
    assert_eq!(
        app.stats()["alert_rules"]["passed"],
        71,
        "70 and the sentinel"
    );
}

#[test]
fn user_thresholds_and_symbol_lists_from_redis_apply() {
    let redis = Redis::start();
    redis.set(
        "tickstock:alerts:subscriptions:bob",
        &json!({
            "Doji": {"pattern": "Doji", "enabled": true, "confidence_threshold": 0.8, "notification_types": ["in_app"], "symbols": null},
            "Hammer": {"pattern": "Hammer", "enabled": true, "confidence_threshold": 0.5, "symbols": ["NVDA"]},
        })
        .to_string(),
    );
    let app = App::start(&redis);
    let mut bob = connect_loaded(&app, "bob");
    let got = alerts_received(
        &redis,
        &mut bob,
        &[
            ("AAPL", "Doji", 0.79),
            ("AAPL", "Doji", 0.8),
            ("AAPL", "Doji", 0.95),
        ],
    );
    assert_eq!(got, vec![0.8, 0.95]);
    let got = alerts_received(
        &redis,
        &mut bob,
        &[
            ("AAPL", "Hammer", 0.9),
            ("NVDA", "Hammer", 0.6),
            ("AAPL", "Harami", 0.9),
        ],
    );
    assert_eq!(got, vec![0.6], "Hammer only on NVDA, Harami not subscribed");
    let refused = &app.stats()["alert_rules"]["refused"];
    assert_eq!(refused["below_threshold"], 1);
    assert_eq!(refused["symbol_not_subscribed"], 1);
    assert_eq!(refused["not_subscribed"], 1);
}

#[test]
fn the_hourly_cap_counts_only_alerts_that_passed_and_quiet_hours_silence() {
    let redis = Redis::start();
    redis.set(
        "tickstock:alerts:prefs:carol",
        r#"{"global_enabled": true, "max_alerts_per_hour": 3}"#,
    );
    redis.set(
        "tickstock:alerts:subscriptions:carol",
        r#"{"Doji": {"pattern": "Doji", "enabled": true, "confidence_threshold": 0.5}}"#,
    );
    redis.set(
        "tickstock:alerts:prefs:dave",
        r#"{"quiet_hours_start": "00:00", "quiet_hours_end": "23:59"}"#,
    );
    let app = App::start(&redis);
    let mut carol = connect_loaded(&app, "carol");
    // Three filtered alerts first: they must not use up carol's budget of three.
    let got = alerts_received(
        &redis,
        &mut carol,
        &[
            ("A", "Doji", 0.1),
            ("A", "Doji", 0.2),
            ("A", "Nope", 0.9),
            ("A", "Doji", 0.6),
            ("A", "Doji", 0.7),
        ],
    );
    assert_eq!(
        got,
        vec![0.6, 0.7],
        "the sentinel was the third and last alert of the hour"
    );
    redis.publish(PATTERNS, alert("AAPL", "Doji", 0.9));
    redis.publish(PATTERNS, alert("DONE", "Doji", 0.9));
    wait_for("the capped alerts to be refused", WAIT, || {
        (app.stats()["alert_rules"]["refused"]["rate_limited"] == 2).then_some(())
    });
    let hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600;
    let counted: Option<u64> = redis::cmd("GET")
        .arg(format!("tickstock:alerts:ratelimit:carol:{hour}"))
        .query(&mut redis.conn())
        .unwrap();
    assert_eq!(
        counted,
        Some(3),
        "the legacy Redis counter mirrors delivered alerts only"
    );

    let mut dave = connect_loaded(&app, "dave");
    redis.publish(PATTERNS, alert("AAPL", "Doji", 0.9));
    wait_for("quiet hours to refuse", WAIT, || {
        (app.stats()["alert_rules"]["refused"]["quiet_hours"] == 1).then_some(())
    });
    let mut anon = app.ws();
    redis.publish(PATTERNS, alert("LAST", "Doji", 0.9));
    anon.next_where("the anonymous copy", WAIT, |f| {
        f["data"]["symbol"] == "LAST"
    });
    assert!(
        dave.recv(std::time::Duration::from_millis(200)).is_none(),
        "quiet hours deliver nothing"
    );
}

#[test]
fn a_watchlist_change_in_redis_reaches_every_session_of_the_user() {
    let redis = Redis::start();
    let key = "tickstock:watchlist:erin";
    let _: () = redis::cmd("SADD")
        .arg(key)
        .arg("AAPL")
        .query(&mut redis.conn())
        .unwrap();
    let app = App::start(&redis);
    let mut first = connect_loaded(&app, "erin");
    let mut second = app.ws_as("erin", &[]);
    let price =
        |symbol: &str| json!({"symbol": symbol, "price": 10.0, "change_percent": 1.0}).to_string();
    redis.publish("tickstock.market.prices", price("AAPL"));
    for client in [&mut first, &mut second] {
        assert_eq!(
            client.expect("dashboard_price_update")["data"]["symbol"],
            "AAPL"
        );
    }
    let _: () = redis::pipe()
        .cmd("DEL")
        .arg(key)
        .cmd("SADD")
        .arg(key)
        .arg("TSLA")
        .query(&mut redis.conn())
        .unwrap();
    let invalidations = app.stats()["watchlist_cache"]["invalidations"]
        .as_u64()
        .unwrap();
    redis.publish(
        "tickstock.dashboard.watchlist",
        json!({"type": "watchlist_update", "user_id": "erin"}).to_string(),
    );
    let started = std::time::Instant::now();
    wait_for("the new watchlist to apply", WAIT, || {
        redis.publish("tickstock.market.prices", price("TSLA"));
        first
            .recv(std::time::Duration::from_millis(50))
            .filter(|f| f["data"]["symbol"] == "TSLA")
    });
    // Reported, not asserted (timing goals live in benchmarks): issue 3 asks for under 1 s.
    eprintln!("watchlist change applied after {:?}", started.elapsed());
    assert_eq!(
        app.stats()["watchlist_cache"]["invalidations"]
            .as_u64()
            .unwrap(),
        invalidations + 1
    );
    redis.publish("tickstock.market.prices", price("AAPL"));
    redis.publish("tickstock.market.prices", price("TSLA"));
    let before = second.frames_until("TSLA on the second session", |f| {
        f["data"]["symbol"] == "TSLA" && f["event"] == "dashboard_price_update"
    });
    assert!(
        before.iter().all(|f| f["data"]["symbol"] != "AAPL"),
        "AAPL left the watchlist: {before:?}"
    );
}

#[test]
fn conflation_sends_the_latest_price_per_window() {
    let redis = Redis::start();
    let mut settings = crate::util::settings_for(&redis);
    settings.market.conflation_ms = 300;
    let app = App::start_with(settings);
    let mut client = app.ws();
    client.op(json!({"op": "watchlist", "symbols": ["NVDA"]}));
    let mut pipe = redis::pipe();
    for i in 1..=20 {
        pipe.cmd("PUBLISH")
            .arg("tickstock.market.prices")
            .arg(
                json!({"symbol": "NVDA", "price": f64::from(i), "change_percent": 1.0}).to_string(),
            )
            .ignore();
    }
    let _: () = pipe.query(&mut redis.conn()).unwrap();
    let mut prices = Vec::new();
    while prices.last() != Some(&20.0) {
        prices.push(
            client.expect("dashboard_price_update")["data"]["price"]
                .as_f64()
                .unwrap(),
        );
    }
    assert!(prices.len() < 20, "{prices:?}");
    assert!(app.stats()["prices_conflated"].as_u64().unwrap() >= 20 - prices.len() as u64);
}

#[test]
fn the_same_detection_on_both_streaming_channels_is_delivered_once() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut client = app.ws();
    let det = json!({"type": "streaming_pattern", "detection": {"pattern": "PriceChange", "symbol": "NVDA", "confidence": 0.95, "timestamp": "2025-10-15T19:39:28.339000+00:00"}}).to_string();
    redis.publish("tickstock:patterns:streaming", &det);
    let first = client.expect("streaming_patterns_batch");
    assert_eq!(first["data"]["count"], 1);
    // The high-confidence copy arrives a flush window later on the other channel.
    redis.publish("tickstock:patterns:detected", &det);
    redis.publish(
        "tickstock:patterns:detected",
        json!({"detection": {"pattern": "Doji", "symbol": "DONE", "confidence": 0.9}}).to_string(),
    );
    let batch = client.expect("streaming_patterns_batch");
    let symbols: Vec<&Value> = batch["data"]["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["detection"]["symbol"])
        .collect();
    assert_eq!(symbols, vec![&json!("DONE")]);
    assert_eq!(app.stats()["streaming_buffer"]["deduplicated"], 1);
}

#[test]
fn with_the_buffer_disabled_each_item_is_sent_at_once() {
    let redis = Redis::start();
    let mut settings = crate::util::settings_for(&redis);
    settings.streaming.buffer_enabled = false;
    let app = App::start_with(settings);
    let mut client = app.ws();
    redis.publish(
        "tickstock:patterns:streaming",
        json!({"detection": {"pattern": "Doji", "symbol": "NVDA", "confidence": 0.9}}).to_string(),
    );
    redis.publish(
        "tickstock:indicators:streaming",
        json!({"calculation": {"indicator": "RSI", "symbol": "NVDA", "value": 71.5}}).to_string(),
    );
    let pattern = client.expect("streaming_pattern");
    assert_eq!(pattern["data"]["detection"]["pattern_type"], "Doji");
    let indicator = client.expect("streaming_indicator");
    assert_eq!(indicator["data"]["calculation"]["value"], 71.5);
}
