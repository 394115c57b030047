//! Redis outages: tickrouter keeps its sessions, reports the outage, and resubscribes.

use serde_json::json;

use crate::util::{http_get, wait_for, App, Redis, WAIT};

/// Delivers an event, lets `take_away` make Redis unusable, waits for `/health` to report it,
/// lets `bring_back` restore it, and checks that the same session gets events again.
fn survives_outage<T>(take_away: impl FnOnce(Redis) -> T, bring_back: impl FnOnce(T) -> Redis) {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut client = app.ws();
    let mut round_trip = |redis: &Redis, n: u32| {
        let health = json!({"overall_status": "healthy", "message": n.to_string()});
        redis.publish("tickstock.health.status", health.to_string());
        assert_eq!(
            client.expect("system_health")["data"]["message"],
            n.to_string()
        );
    };
    round_trip(&redis, 1);

    let gone = take_away(redis);
    wait_for("/health to report the outage", WAIT, || {
        let (status, body) = http_get(app.addr, "/health");
        (status == 503 && body.contains("not connected")).then_some(())
    });

    let redis = bring_back(gone);
    wait_for("tickrouter to resubscribe", WAIT, || {
        (app.stats()["redis"]["connected"] == true).then_some(())
    });
    round_trip(&redis, 2);
    assert!(app.stats()["redis"]["connects"].as_u64().unwrap() >= 2);
    let (status, _) = http_get(app.addr, "/health");
    assert_eq!(status, 200);
}

#[test]
fn redis_restart_is_survived_without_restarting_tickrouter() {
    survives_outage(
        |redis| {
            let port = redis.port;
            redis.kill();
            port
        },
        |port| Redis::start_on(port, &[]),
    );
}

/// A stopped server keeps the connection open: only the keep-alive PING (1 s in tests) can
/// notice that nothing answers.
#[test]
fn a_hung_redis_is_found_by_the_keepalive_and_reconnected_after() {
    survives_outage(
        |redis| {
            redis.signal("STOP");
            redis
        },
        |redis| {
            redis.signal("CONT");
            redis
        },
    );
}

/// The three probes while Redis is down and back: `/live` always 200 (restarting would not
/// fix Redis), `/ready` and `/health` 503 during the outage and 200 after.
#[test]
fn probes_while_redis_is_down_and_back() {
    let redis = Redis::start();
    let port = redis.port;
    let app = App::start(&redis);
    let probe = |path: &str| http_get(app.addr, path);
    let (status, body) = probe("/ready");
    assert_eq!(
        (status, body.contains(r#""ready":true"#)),
        (200, true),
        "{body}"
    );
    assert_eq!(probe("/live").0, 200);
    redis.kill();
    wait_for("/ready to fail", WAIT, || {
        let (status, body) = probe("/ready");
        (status == 503 && body.contains("Redis subscription")).then_some(())
    });
    wait_for("/health to report an error", WAIT, || {
        (probe("/health").0 == 503).then_some(())
    });
    assert_eq!(probe("/live").0, 200, "alive while Redis is down");
    let _back = Redis::start_on(port, &[]);
    wait_for("/ready once Redis is back", WAIT, || {
        (probe("/ready").0 == 200).then_some(())
    });
    wait_for("/health once Redis is back", WAIT, || {
        (probe("/health").0 == 200).then_some(())
    });
    assert_eq!(probe("/live").0, 200);
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

#[test]
fn garbage_on_every_channel_is_counted_and_never_stalls_delivery() {
    use tickrouter::domain::kind::DEFAULT_CHANNELS;
    // 27 x 2 MiB in one burst is over Redis's default output-buffer limit for a subscriber
    // (32 MiB): on a starved machine Redis would drop the connection before tickrouter has
    // read it all. What is under test is tickrouter's accounting, so Redis gets room.
    let redis = Redis::start_with(&["--client-output-buffer-limit", "pubsub 256mb 64mb 60"]);
    let app = App::start(&redis);
    let mut client = app.ws();
    let garbage: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\xff\xfe\x00 not utf-8".to_vec(),
        b"{\"data\":".to_vec(),
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]".to_vec(),
        "{\"data\":".repeat(5000).into_bytes(),
        br#"{"data":{"data":{"data":{"data":{"data":{"data":"x"}}}}}}"#.to_vec(),
        br#"{"symbol":{"nested":true},"pattern":["Doji"],"confidence":"high","price":"cheap"}"#.to_vec(),
        br#"{"patterns":[1,"two",null,{"symbol":"AAPL"}],"indicators":{}}"#.to_vec(),
        br#"{"timestamp":"yesterday","job_id":{},"progress":1e308}"#.to_vec(),
        vec![b'x'; 2 << 20],
    ];
    let mut conn = redis.conn();
    let mut pipe = redis::pipe();
    for (channel, _) in DEFAULT_CHANNELS {
        for payload in &garbage {
            pipe.cmd("PUBLISH")
                .arg(*channel)
                .arg(payload.as_slice())
                .ignore();
        }
    }
    let _: () = pipe.query(&mut conn).unwrap();
    let sent = (DEFAULT_CHANNELS.len() * garbage.len()) as u64;
    wait_for("every garbage message to be read", WAIT, || {
        (app.stats()["events"]["received"] == sent).then_some(())
    });
    let stats = app.stats();
    assert_eq!(
        crate::util::outcome(&stats, "too_large"),
        DEFAULT_CHANNELS.len() as u64
    );
    assert!(crate::util::outcome(&stats, "invalid_json") >= 4 * DEFAULT_CHANNELS.len() as u64);
    assert_eq!(crate::util::outcome(&stats, "overloaded"), 0);
    redis.publish(
        "tickstock.health.status",
        json!({"overall_status": "healthy", "message": "after"}).to_string(),
    );
    let frame = client.next_where("the first real event", WAIT, |f| {
        f["event"] == "system_health"
    });
    assert_eq!(
        frame["data"]["message"], "after",
        "no garbage became a system_health event"
    );
}

/// A burst far beyond `redis.inbound_queue_messages` (and the router's queue): every message
/// either reaches the end of the pipeline or is counted as `overloaded`, none is lost unseen.
#[test]
fn an_ingest_burst_beyond_the_queues_is_fully_accounted_for() {
    let redis = Redis::start();
    let mut settings = crate::util::settings_for(&redis);
    settings.redis.inbound_queue_messages = 256;
    let app = App::start_with(settings);
    const SENT: u64 = 100_000;
    let payload = json!({"type": "price_update", "symbol": "NOBODY", "price": 100.0,
        "change": 1.0, "change_percent": 1.0, "timestamp": 1760557168.342})
    .to_string();
    let mut conn = redis.conn();
    for _ in 0..SENT / 10_000 {
        let mut pipe = redis::pipe();
        for _ in 0..10_000 {
            pipe.cmd("PUBLISH")
                .arg("tickstock.market.prices")
                .arg(&payload)
                .ignore();
        }
        let _: () = pipe.query(&mut conn).unwrap();
    }
    // Nobody watches the symbol, so each message that got through ends as `no_recipients`.
    let stats = wait_for("every message to reach an outcome", WAIT * 3, || {
        let stats = app.stats();
        let outcomes = crate::util::outcome(&stats, "no_recipients")
            + crate::util::outcome(&stats, "overloaded");
        (outcomes == SENT).then_some(stats)
    });
    assert_eq!(stats["events"]["received"], SENT, "{stats}");
    assert_eq!(stats["redis"]["connection_errors"], 0, "{stats}");
}

/// `/health` reports Redis's latency and `INFO` figures, warns when Redis stays slow for the
/// window (here: a client keeping the server busy with `DEBUG SLEEP`), and recovers after.
#[test]
fn health_reports_redis_figures_and_warns_while_redis_is_slow() {
    let redis = Redis::start_with(&["--enable-debug-command", "yes"]);
    let mut settings = crate::util::settings_for(&redis);
    settings.health.probe_interval_secs = 1;
    settings.health.redis_latency_warn_ms = 50;
    settings.health.redis_latency_window_secs = 1;
    // The subscriber's own keep-alive must not take the slow server for a dead one.
    settings.redis.keepalive_secs = 30;
    let app = App::start_with(settings);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    redis.set("tickstock:producer:heartbeat", &now.to_string());
    let health = || -> serde_json::Value { serde_json::from_str(&app.get("/health").1).unwrap() };
    let report = wait_for("a healthy report with Redis figures", WAIT * 2, || {
        let h = health();
        let probed = h["redis"]["latency_ms"].is_number() && h["status"] == "healthy";
        probed.then_some(h)
    });
    assert!(
        report["redis"]["connected_clients"].as_u64().unwrap() >= 2,
        "{report}"
    );
    assert!(report["redis"]["used_memory_human"].is_string(), "{report}");
    assert!(report["redis"]["keyspace_hits"].is_u64(), "{report}");
    assert!(report["redis"]["keyspace_misses"].is_u64(), "{report}");

    let slow = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut conn = redis.conn();
            while slow.load(std::sync::atomic::Ordering::Relaxed) {
                let _: () = redis::cmd("DEBUG")
                    .arg("SLEEP")
                    .arg(0.2)
                    .query(&mut conn)
                    .unwrap();
            }
        });
        let report = wait_for("a warning about Redis latency", WAIT * 3, || {
            let h = health();
            (h["status"] == "warning").then_some(h)
        });
        slow.store(false, std::sync::atomic::Ordering::Relaxed);
        let reasons = report["reasons"].to_string();
        assert!(reasons.contains("Redis PING took"), "{report}");
        assert_eq!(report["redis_connected"], true, "{report}");
    });
    wait_for("healthy again", WAIT * 3, || {
        (health()["status"] == "healthy").then_some(())
    });
}
