//! A user's preferences through `/api/me/*` and the `watchlist` op, on two instances sharing one
//! Redis: what a user stores applies to every session at once and is announced
//! (`preferences_changed`); with nothing stored, a signed-in user gets what an anonymous session
//! gets; a session follows the stored watchlist until it sends its own.

use serde_json::{json, Value};
use tickrouter::domain::redis_names::channel::{JOBS_ALERTS, WATCHLIST};

use crate::util::{api, raw_api, wait_for, App, Client, Listener, Redis, WAIT};

const PATTERNS: &str = "tickstock.events.patterns";
const PRICES: &str = "tickstock.market.prices";

fn alert(symbol: &str, pattern: &str, confidence: f64) -> String {
    json!({"event_type": "pattern_detected", "data": {"symbol": symbol, "pattern": pattern, "confidence": confidence}}).to_string()
}

fn price(symbol: &str) -> String {
    json!({"symbol": symbol, "price": 10.0, "change_percent": 1.0}).to_string()
}

/// The alerts (symbol, pattern, confidence) a client received until the sentinel, an AAPL Doji
/// at 0.999 (which the rules under test accept).
fn alerts_until_sentinel(client: &mut Client) -> Vec<(String, String, f64)> {
    client
        .frames_until("the sentinel alert", |f| f["data"]["confidence"] == 0.999)
        .iter()
        .filter(|f| f["event"] == "pattern_alert")
        .map(|f| {
            let d = &f["data"];
            (
                d["symbol"].as_str().unwrap().to_owned(),
                d["pattern"].as_str().unwrap().to_owned(),
                d["confidence"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn publish_alerts(redis: &Redis, alerts: &[(&str, &str, f64)]) {
    for (symbol, pattern, confidence) in alerts {
        redis.publish(PATTERNS, alert(symbol, pattern, *confidence));
    }
    redis.publish(PATTERNS, alert("AAPL", "Doji", 0.999));
}

/// The next `preferences_changed` of this kind.
fn next_change(client: &mut Client, changed: &str) -> Value {
    client.next_where(&format!("preferences_changed ({changed})"), WAIT, |f| {
        f["event"] == "preferences_changed" && f["data"]["changed"] == changed
    })["data"]
        .clone()
}

#[test]
fn alert_rules_put_through_the_api_apply_to_every_session_on_every_instance() {
    let redis = Redis::start();
    let (a, b) = (App::start(&redis), App::start(&redis));
    let mut on_a = a.ws_as("grace", &[]);
    let mut on_b = b.ws_as("grace", &[]);
    let mut anonymous = a.ws();

    // Nothing stored: exactly what an anonymous session gets.
    let mut mixed = Vec::new();
    mixed.extend([("AAPL", "High_Volume_Surge", 0.9); 5]);
    mixed.extend([("AAPL", "Doji", 0.3); 5]);
    mixed.extend([("AAPL", "Doji", 0.9); 60]);
    publish_alerts(&redis, &mixed);
    let everything = alerts_until_sentinel(&mut anonymous);
    assert_eq!(everything.len(), 70);
    for client in [&mut on_a, &mut on_b] {
        assert_eq!(alerts_until_sentinel(client), everything);
    }
    let (status, stored) = api(&a, "GET", "/api/me/alert-rules", Some("grace"), None);
    assert_eq!(status, 200);
    assert_eq!(
        stored,
        json!({"user_id": "grace", "stored": false, "enabled": true, "max_alerts_per_hour": null,
               "quiet_hours": null, "subscriptions": []})
    );

    // Doji >= 0.8 on AAPL, stored through instance B.
    let mut producers = Listener::on(&redis, JOBS_ALERTS);
    let rules =
        json!({"subscriptions": [{"pattern": "Doji", "min_confidence": 0.8, "symbols": ["aapl"]}]});
    let (status, doc) = api(
        &b,
        "PUT",
        "/api/me/alert-rules",
        Some("grace"),
        Some(&rules),
    );
    assert_eq!(status, 200, "{doc}");
    let expected_subscriptions =
        json!([{"pattern": "Doji", "enabled": true, "min_confidence": 0.8, "symbols": ["AAPL"]}]);
    assert_eq!(doc["stored"], true);
    assert_eq!(doc["subscriptions"], expected_subscriptions);
    let notice = producers.next(WAIT).expect("a notice for producers");
    assert_eq!(notice["type"], "alert_subscriptions_changed");
    assert_eq!(notice["user_id"], "grace");
    assert_eq!(notice["subscriptions"], expected_subscriptions);
    for client in [&mut on_a, &mut on_b] {
        let change = next_change(client, "alert_rules");
        assert_eq!(change["alert_rules"], doc, "the event carries the GET body");
    }
    assert_eq!(
        api(&a, "GET", "/api/me/alert-rules", Some("grace"), None).1,
        doc
    );

    let probe = [
        ("AAPL", "Doji", 0.9),
        ("AAPL", "Doji", 0.7),
        ("MSFT", "Doji", 0.95),
        ("AAPL", "Hammer", 0.9),
        ("AAPL", "High_Volume_Surge", 0.9),
    ];
    publish_alerts(&redis, &probe);
    for client in [&mut on_a, &mut on_b] {
        assert_eq!(
            alerts_until_sentinel(client),
            [("AAPL".to_owned(), "Doji".to_owned(), 0.9)]
        );
    }
    assert_eq!(alerts_until_sentinel(&mut anonymous).len(), 5, "not theirs");

    // PUT {} removes every rule: everything again.
    let (status, cleared) = api(
        &a,
        "PUT",
        "/api/me/alert-rules",
        Some("grace"),
        Some(&json!({})),
    );
    assert_eq!((status, cleared["stored"].clone()), (200, json!(false)));
    assert_eq!(
        next_change(&mut on_b, "alert_rules")["alert_rules"],
        cleared
    );
    publish_alerts(&redis, &probe);
    assert_eq!(alerts_until_sentinel(&mut on_b).len(), 5);
}

#[test]
fn an_invalid_request_names_every_invalid_field_and_changes_nothing() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let bad = json!({
        "max_alerts_per_hour": -1,
        "quiet_hours": {"start": "22:00", "end": "6", "time_zone": "Mars/Olympus"},
        "subscriptions": [{"pattern": "Doji", "min_confidence": 2}]
    });
    let (status, reply) = api(&app, "PUT", "/api/me/alert-rules", Some("ivan"), Some(&bad));
    assert_eq!(status, 400);
    assert_eq!(reply["error"], "invalid_request");
    let fields: Vec<&String> = reply["fields"].as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        [
            "max_alerts_per_hour",
            "quiet_hours.end",
            "quiet_hours.time_zone",
            "subscriptions[0].min_confidence"
        ]
    );
    let (status, reply) = raw_api(&app, "PUT", "/api/me/watchlist", &[], Some("{}"));
    assert_eq!(
        (status, reply["error"].clone()),
        (401, json!("missing_token"))
    );
    let too_many: Vec<String> = (0..501).map(|i| format!("S{i}")).collect();
    let (status, reply) = api(
        &app,
        "PUT",
        "/api/me/watchlist",
        Some("ivan"),
        Some(&json!({"symbols": too_many})),
    );
    assert_eq!(
        status, 400,
        "the session limit, session.max_symbols: {reply}"
    );
    let (_, list) = api(&app, "GET", "/api/me/watchlist", Some("ivan"), None);
    assert_eq!(list, json!({"user_id": "ivan", "symbols": []}));
    let stored: bool = redis::cmd("EXISTS")
        .arg("tickstock:alerts:prefs:ivan")
        .query(&mut redis.conn())
        .unwrap();
    assert!(!stored);
}

#[test]
fn a_session_follows_the_stored_watchlist_until_it_sends_its_own() {
    let redis = Redis::start();
    let set = "tickstock:watchlist:hana";
    redis::cmd("SADD")
        .arg(set)
        .arg("AAPL")
        .query::<()>(&mut redis.conn())
        .unwrap();
    let (a, b) = (App::start(&redis), App::start(&redis));
    let mut follower = a.ws_as("hana", &[]);
    assert_eq!(
        follower.confirmed["data"]["watchlist"],
        json!({"source": "stored", "symbols": ["AAPL"]})
    );
    let mut own = b.ws_as("hana", &[]);
    let ack = own.op(json!({"op": "watchlist", "symbols": ["msft"]}));
    assert_eq!(
        ack["data"],
        json!({"op": "watchlist", "source": "session", "symbols": ["MSFT"]})
    );
    // Sentinels: a price only the follower watches, then one only `own` watches.
    let seen_until = |client: &mut Client, symbol: &str| -> Vec<String> {
        client
            .frames_until(symbol, |f| {
                f["event"] == "dashboard_price_update" && f["data"]["symbol"] == symbol
            })
            .iter()
            .filter(|f| f["event"] == "dashboard_price_update")
            .map(|f| f["data"]["symbol"].as_str().unwrap().to_owned())
            .collect()
    };
    redis.publish(PRICES, price("MSFT"));
    redis.publish(PRICES, price("AAPL"));
    assert!(seen_until(&mut follower, "AAPL").is_empty(), "no MSFT");
    assert!(seen_until(&mut own, "MSFT").is_empty());

    // Changed in Redis by someone else, announced on the legacy channel.
    redis::pipe()
        .del(set)
        .sadd(set, "TSLA")
        .query::<()>(&mut redis.conn())
        .unwrap();
    redis.publish(WATCHLIST, json!({"user_id": "hana"}).to_string());
    for client in [&mut follower, &mut own] {
        let change = next_change(client, "watchlist");
        assert_eq!(change["watchlist"]["symbols"], json!(["TSLA"]));
    }
    wait_for("the follower to watch TSLA", WAIT, || {
        redis.publish(PRICES, price("TSLA"));
        follower
            .recv(std::time::Duration::from_millis(50))
            .filter(|f| f["data"]["symbol"] == "TSLA")
    });
    redis.publish(PRICES, price("TSLA"));
    redis.publish(PRICES, price("MSFT"));
    assert!(
        seen_until(&mut own, "MSFT").is_empty(),
        "a session with its own list does not follow the stored one"
    );

    // Changed through the API on the other instance.
    let (status, doc) = api(
        &b,
        "PUT",
        "/api/me/watchlist",
        Some("hana"),
        Some(&json!({"symbols": ["nvda", "AMD"]})),
    );
    assert_eq!(
        (status, doc),
        (200, json!({"user_id": "hana", "symbols": ["AMD", "NVDA"]}))
    );
    let change = next_change(&mut follower, "watchlist");
    assert_eq!(change["watchlist"]["symbols"], json!(["AMD", "NVDA"]));
    redis.publish(PRICES, price("TSLA"));
    redis.publish(PRICES, price("NVDA"));
    assert!(
        seen_until(&mut follower, "NVDA").is_empty(),
        "TSLA left the watchlist"
    );

    // Signing in on an open session shows the user's stored watchlist in the ack.
    let mut late = a.ws();
    assert_eq!(
        late.confirmed["data"]["watchlist"],
        json!({"source": "session", "symbols": []})
    );
    let token = crate::util::token("hana");
    let ack = late.op(json!({"op": "auth", "token": token}));
    assert_eq!(
        ack["data"]["watchlist"],
        json!({"source": "stored", "symbols": ["AMD", "NVDA"]})
    );
    redis.publish(PRICES, price("AMD"));
    assert!(seen_until(&mut late, "AMD").is_empty());
}
