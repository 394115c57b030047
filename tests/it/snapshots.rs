//! Snapshots: a session that starts watching a symbol gets its latest price and bar at once, and
//! a new session the latest health and market summary, from either instance, marked
//! `"snapshot": true`; live frames follow as usual.

use serde_json::{json, Value};

use crate::util::{wait_for, App, Client, Redis, WAIT};

fn snapshot_of(client: &mut Client, event: &str) -> Value {
    client.next_where(&format!("a {event} snapshot"), WAIT, |f| {
        f["event"] == event && f["snapshot"] == true
    })
}

#[test]
fn a_new_watcher_sees_the_latest_state_at_once_on_either_instance() {
    let redis = Redis::start();
    let (a, b) = (App::start(&redis), App::start(&redis));
    redis.publish(
        "tickstock.market.prices",
        json!({"symbol": "AAPL", "price": 190.5, "change_percent": 1.2}).to_string(),
    );
    redis.publish(
        "tickstock.market.ohlcv",
        json!({"symbol": "AAPL", "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5}).to_string(),
    );
    redis.publish(
        "tickstock.health.status",
        json!({"status": "healthy", "components": {}}).to_string(),
    );
    for app in [&a, &b] {
        wait_for("both instances to route the three events", WAIT, || {
            (app.stats()["events"]["published"].as_u64() >= Some(3)).then_some(())
        });
    }
    let mut latest = 190.5;
    for (i, app) in [&a, &b].into_iter().enumerate() {
        let mut client = app.ws();
        client.snapshots = true;
        let health = snapshot_of(&mut client, "system_health");
        assert_eq!(health["data"]["overall_status"], "healthy");
        let ack = client.op(json!({"op": "watchlist", "symbols": ["aapl"]}));
        assert_eq!(ack["event"], "ack");
        // Both, in either order.
        let (mut price, mut bar) = (None, None);
        while price.is_none() || bar.is_none() {
            let frame =
                client.next_where("the symbol's snapshots", WAIT, |f| f["snapshot"] == true);
            match frame["event"].as_str() {
                Some("dashboard_price_update") => price = Some(frame),
                Some("dashboard_ohlcv_update") => bar = Some(frame),
                _ => {}
            }
        }
        let (price, bar) = (price.unwrap(), bar.unwrap());
        assert_eq!(
            price["data"]["price"], latest,
            "the latest, from either instance"
        );
        assert_eq!(bar["data"]["ohlcv"]["close"], 1.5);
        // Live frames are not snapshots.
        latest = 191.0 + i as f64;
        redis.publish(
            "tickstock.market.prices",
            json!({"symbol": "AAPL", "price": latest, "change_percent": 1.3}).to_string(),
        );
        let live = client.next_where("the live price", WAIT, |f| {
            f["event"] == "dashboard_price_update" && f["data"]["price"] == latest
        });
        assert!(live.get("snapshot").is_none(), "{live}");
    }
    for app in [&a, &b] {
        let hits = app.stats()["snapshots"]["delivered"].as_u64().unwrap();
        assert!(hits >= 3, "counted: health, price and bar ({hits})");
    }
}

#[test]
fn an_instance_that_starts_later_has_the_snapshots_of_the_others() {
    let redis = Redis::start();
    let first = App::start(&redis);
    let mut watcher = first.ws();
    watcher.op(json!({"op": "watchlist", "symbols": ["NVDA"]}));
    redis.publish(
        "tickstock.market.prices",
        json!({"symbol": "NVDA", "price": 188.6, "change_percent": 1.2}).to_string(),
    );
    watcher.expect("dashboard_price_update");
    wait_for("the snapshot shared in Redis", WAIT, || {
        (redis.query::<u64>(&["HLEN", "tickrouter:snapshots"]) >= 1).then_some(())
    });
    let later = App::start(&redis);
    let mut client = later.ws();
    client.snapshots = true;
    client.op(json!({"op": "watchlist", "symbols": ["NVDA"]}));
    let frame = client.expect("dashboard_price_update");
    assert_eq!(frame["snapshot"], true, "{frame}");
    assert_eq!(frame["data"]["price"], 188.6);
}
