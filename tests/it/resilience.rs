//! Redis outages: tickrouter keeps its sessions, reports the outage, and resubscribes.

use serde_json::json;

use crate::util::{http_get, wait_for, App, Redis, WAIT};

#[test]
fn redis_restart_is_survived_without_restarting_tickrouter() {
    let redis = Redis::start();
    let port = redis.port;
    let app = App::start(&redis);
    let mut client = app.ws();
    let health =
        |n: u32| json!({"overall_status": "healthy", "message": n.to_string()}).to_string();
    redis.publish("tickstock.health.status", health(1));
    assert_eq!(client.expect("system_health")["data"]["message"], "1");

    redis.kill();
    wait_for("/health to report the outage", WAIT, || {
        let (status, body) = http_get(app.addr, "/health");
        (status == 503 && body.contains("not connected")).then_some(())
    });

    let redis = Redis::start_on(port, &[]);
    wait_for("tickrouter to resubscribe", WAIT, || {
        (app.stats()["redis"]["connected"] == true).then_some(())
    });
    redis.publish("tickstock.health.status", health(2));
    assert_eq!(client.expect("system_health")["data"]["message"], "2");
    assert!(app.stats()["redis"]["connects"].as_u64().unwrap() >= 2);
    let (status, _) = http_get(app.addr, "/health");
    assert_eq!(status, 200);
}
