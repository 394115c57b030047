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

#[test]
fn ready_reports_the_redis_subscription() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let (status, body) = http_get(app.addr, "/ready");
    assert_eq!(
        (status, body.contains(r#""ready":true"#)),
        (200, true),
        "{body}"
    );
    redis.kill();
    wait_for("/ready to fail", WAIT, || {
        let (status, body) = http_get(app.addr, "/ready");
        (status == 503 && body.contains("Redis subscription")).then_some(())
    });
}

#[test]
fn shutdown_flushes_buffers_then_closes_sessions_going_away() {
    let redis = Redis::start();
    let mut settings = crate::util::settings_for(&redis);
    settings.streaming.flush_interval_ms = 1000;
    let app = App::start_with(settings);
    let mut client = app.ws();
    let det = json!({"type": "streaming_pattern", "detection": {"pattern": "Doji", "symbol": "NVDA", "confidence": 0.9}});
    redis.publish("tickstock:patterns:streaming", det.to_string());
    wait_for("the detection to be buffered", WAIT, || {
        (app.stats()["events"]["routed"] == 1).then_some(())
    });
    let stopped = app.shut_down_in_background();
    let batch = client.expect("streaming_patterns_batch");
    assert_eq!(batch["data"]["count"], 1);
    assert_eq!(client.expect_close(), (1001, "going_away".to_owned()));
    stopped.join().unwrap();
}
