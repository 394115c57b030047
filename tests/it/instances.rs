//! Several instances on one Redis behave as one server: three tickrouters and 300 clients
//! spread over them. Broadcasts reach every client once, user events reach exactly that user's
//! sessions whichever instance they are on, and a user's alert cap counts each alert once.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::util::{api, wait_for, App, Client, Redis, WAIT};

const USERS: usize = 50;

/// Every frame a client receives until the sentinel health message, by event name.
fn until_sentinel(client: &mut Client, sentinel: &str) -> Vec<Value> {
    client.frames_until("the sentinel", |f| {
        f["event"] == "system_health" && f["data"]["message"] == sentinel
    })
}

#[test]
fn three_instances_and_300_clients_behave_as_one_server() {
    let redis = Redis::start();
    let apps = [App::start(&redis), App::start(&redis), App::start(&redis)];
    // A capped user: at most 3 alerts an hour, on whichever instances.
    let capped = json!({"max_alerts_per_hour": 3});
    let (status, _) = api(
        &apps[0],
        "PUT",
        "/api/me/alert-rules",
        Some("u0"),
        Some(&capped),
    );
    assert_eq!(status, 200);

    // Each user has two sessions on two different instances; 200 anonymous sessions besides.
    let mut users: Vec<(usize, usize, Client)> = Vec::new();
    for u in 0..USERS {
        for s in 0..2 {
            let app = &apps[(u + s) % 3];
            users.push((u, (u + s) % 3, app.ws_as(&format!("u{u}"), &[])));
        }
    }
    let mut anonymous: Vec<Client> = (0..200).map(|i| apps[i % 3].ws()).collect();
    let mut per_app = [0u64; 3];
    users.iter().for_each(|(_, app, _)| per_app[*app] += 1);
    (0..200).for_each(|i| per_app[i % 3] += 1);
    for (app, n) in apps.iter().zip(per_app) {
        wait_for("every session to be registered", WAIT, || {
            (app.stats()["sessions"]["active"] == n).then_some(())
        });
    }

    // 5 broadcasts, 2 user events for every user, 5 pattern alerts.
    for n in 0..5 {
        let health = json!({"overall_status": "healthy", "message": format!("b{n}")});
        redis.publish("tickstock.health.status", health.to_string());
    }
    for round in 0..2 {
        for u in 0..USERS {
            let alert = json!({"user_id": format!("u{u}"), "alert": {"id": format!("a{round}-{u}"),
                "type": "price_target", "title": format!("u{u}"), "description": "for one user",
                "symbol": "AAPL", "show_notification": false}});
            redis.publish("tickstock.dashboard.alerts", alert.to_string());
        }
    }
    for n in 0..5 {
        let alert = json!({"event_type": "pattern_detected", "pattern": "Doji", "symbol": "AAPL",
            "confidence": 0.9, "timestamp": 1_760_557_168.0 + n as f64});
        redis.publish("tickstock.events.patterns", alert.to_string());
    }
    let sentinel = json!({"overall_status": "healthy", "message": "end"});
    redis.publish("tickstock.health.status", sentinel.to_string());

    let broadcasts = |frames: &[Value]| -> Vec<String> {
        let health = frames.iter().filter(|f| f["event"] == "system_health");
        health
            .map(|f| f["data"]["message"].as_str().unwrap().to_owned())
            .collect()
    };
    let expected_broadcasts: Vec<String> = (0..5).map(|n| format!("b{n}")).collect();
    for client in &mut anonymous {
        let frames = until_sentinel(client, "end");
        assert_eq!(
            broadcasts(&frames),
            expected_broadcasts,
            "once each, in order"
        );
        let alerts = frames
            .iter()
            .filter(|f| f["event"] == "pattern_alert")
            .count();
        assert_eq!(alerts, 5);
        assert!(
            !frames
                .iter()
                .any(|f| f["event"] == "dashboard_market_event"),
            "no user's events reach an anonymous session"
        );
    }
    let mut offsets_seen: HashMap<usize, Vec<u64>> = HashMap::new();
    for (u, _, client) in &mut users {
        let frames = until_sentinel(client, "end");
        assert_eq!(broadcasts(&frames), expected_broadcasts);
        let mine: Vec<&str> = frames
            .iter()
            .filter(|f| f["event"] == "dashboard_market_event")
            .map(|f| f["data"]["alert"]["title"].as_str().unwrap_or_default())
            .collect();
        let me = format!("u{u}");
        assert_eq!(
            mine,
            [me.as_str(), me.as_str()],
            "exactly this user's two events"
        );
        let alerts: Vec<u64> = frames
            .iter()
            .filter(|f| f["event"] == "pattern_alert")
            .map(|f| f["offset"].as_u64().unwrap())
            .collect();
        let cap = if *u == 0 { 3 } else { 5 };
        assert_eq!(
            alerts.len(),
            cap,
            "u{u}: each alert once, the capped user 3"
        );
        // The user's two sessions, on two instances, agree on the offsets.
        let seen = offsets_seen.entry(*u).or_insert_with(|| alerts.clone());
        assert_eq!(*seen, alerts);
    }
    assert_eq!(
        redis.hourly_alert_count("u0"),
        3,
        "the capped user's hourly count, shared by the instances"
    );
}
