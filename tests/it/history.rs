//! Nothing missed: recoverable streams carry offsets that every instance agrees on, a client
//! that reconnects resumes from its position on any instance, and a signed-in user's own stream
//! keeps what they missed until they acknowledge it. Two instances share one real Redis.

use std::time::Duration;

use serde_json::{json, Value};
use tickrouter::config::StreamRoute;
use tickrouter::domain::kind::EventKind;

use crate::util::{api, settings_for, wait_for, App, Client, Redis, WAIT};

const PATTERNS: &str = "tickstock.events.patterns";
const HEALTH: &str = "tickstock.health.status";

fn publish_alert(redis: &Redis, n: usize, pattern: &str, confidence: f64) {
    let alert = json!({"event_type": "pattern_detected", "pattern": pattern, "symbol": "AAPL",
        "confidence": confidence, "timestamp": 1_760_557_168.0 + n as f64});
    redis.publish(PATTERNS, alert.to_string());
}

/// The pattern alerts a client receives until a health event published after them.
fn alerts_until_sentinel(redis: &Redis, client: &mut Client) -> Vec<Value> {
    redis.publish(HEALTH, json!({"status": "healthy"}).to_string());
    client
        .frames_until("the sentinel", |f| f["event"] == "system_health")
        .into_iter()
        .filter(|f| f["event"] == "pattern_alert" || f["event"] == "queued_message")
        .collect()
}

/// Stores a user's alert rules through instance `via` and waits until every instance has read
/// them (each loads a user's rules when told they changed, even for a user who is away).
fn store_rules(via: &App, apps: &[&App], user: &str, rules: Value) {
    let loads = |app: &App| app.stats()["alert_rules_cache"]["loads"].as_u64().unwrap();
    let before: Vec<u64> = apps.iter().map(|app| loads(app)).collect();
    let (status, _) = api(via, "PUT", "/api/me/alert-rules", Some(user), Some(&rules));
    assert_eq!(status, 200);
    wait_for("every instance to read the rules", WAIT, || {
        let read = apps.iter().zip(&before).all(|(app, n)| loads(app) > *n);
        read.then_some(())
    });
}

fn position(client: &Client, stream: &str) -> Value {
    client.confirmed["data"]["streams"][stream].clone()
}

fn resume(client: &mut Client, streams: Value) -> (Vec<Value>, Value) {
    client.send_text(&json!({"op": "resume", "id": 77, "streams": streams}).to_string());
    let mut replayed = Vec::new();
    loop {
        let frame = client.recv(WAIT).expect("the resume's ack");
        if frame["id"] == 77 {
            return (replayed, frame);
        }
        replayed.push(frame);
    }
}

fn offsets(frames: &[Value]) -> Vec<u64> {
    frames
        .iter()
        .map(|f| f["offset"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_client_resumes_on_another_instance_with_exactly_what_it_missed() {
    let redis = Redis::start();
    let (a, b) = (App::start(&redis), App::start(&redis));
    let mut on_a = a.ws();
    let mut watcher_b = b.ws();
    let start = position(&on_a, "patterns");
    assert_eq!(start["offset"], 0, "{start}");
    assert_eq!(position(&watcher_b, "patterns"), start, "one history");

    publish_alert(&redis, 0, "Doji", 0.9);
    let first = on_a.expect("pattern_alert");
    assert_eq!(first["stream"], "patterns");
    assert_eq!(first["offset"], 1);
    let same = watcher_b.expect("pattern_alert");
    assert_eq!(
        same["offset"], 1,
        "both instances saw it; one entry, one offset"
    );
    drop(on_a);

    for n in 1..=20 {
        publish_alert(&redis, n, "Hammer", 0.5 + n as f64 / 100.0);
    }
    // Everything is written once the instance that stayed connected has it all.
    let live_b = alerts_until_sentinel(&redis, &mut watcher_b);
    assert_eq!(offsets(&live_b), (2..=21).collect::<Vec<_>>());

    let mut back = b.ws();
    let position = json!({"epoch": start["epoch"], "offset": 1});
    let (replayed, ack) = resume(&mut back, json!({"patterns": position}));
    assert_eq!(
        ack["data"],
        json!({"op": "resume", "streams": {"patterns": {"recovered": true, "replayed": 20}}})
    );
    assert_eq!(offsets(&replayed), (2..=21).collect::<Vec<_>>());
    for (n, frame) in (1..=20).zip(&replayed) {
        assert_eq!(frame["event"], "pattern_alert");
        assert_eq!(frame["data"]["confidence"], 0.5 + n as f64 / 100.0);
    }
    publish_alert(&redis, 21, "Doji", 0.99);
    let live = back.expect("pattern_alert");
    assert_eq!(live["offset"], 22, "then live ones, in order");
    assert_eq!(a.stats()["resumes"]["recovered"], 0);
    assert_eq!(b.stats()["resumes"]["recovered"], 1);
    assert_eq!(b.stats()["resumes"]["replayed"], 20);
    let written = |app: &App| app.stats()["history"]["written"].as_u64().unwrap();
    let duplicates = |app: &App| app.stats()["history"]["duplicates"].as_u64().unwrap();
    // 22 alerts and the sentinel (system health is recoverable too).
    wait_for("both instances to write all 23 messages", WAIT, || {
        (written(&a) + written(&b) + duplicates(&a) + duplicates(&b) == 2 * 23).then_some(())
    });
    assert_eq!(
        written(&a) + written(&b),
        23,
        "each message written once, whichever instance came first"
    );
}

#[test]
fn a_position_beyond_the_history_or_from_a_lost_one_is_not_recovered() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.history.size = 5;
    let app = App::start_with(settings);
    let mut client = app.ws();
    let start = position(&client, "patterns");
    for n in 0..30 {
        publish_alert(&redis, n, "Doji", 0.9);
    }
    assert_eq!(alerts_until_sentinel(&redis, &mut client).len(), 30);
    let (replayed, ack) = resume(&mut client, json!({"patterns": start}));
    assert!(replayed.is_empty(), "never a partial replay: {replayed:?}");
    assert_eq!(
        ack["data"]["streams"]["patterns"],
        json!({"recovered": false, "reason": "too_old"})
    );
    // A recent position still recovers (on a new connection: this one has them already).
    let recent = json!({"epoch": start["epoch"], "offset": 28});
    let (replayed, ack) = resume(&mut app.ws(), json!({"patterns": recent}));
    assert_eq!(ack["data"]["streams"]["patterns"]["recovered"], true);
    assert_eq!(offsets(&replayed), [29, 30]);

    // Redis restarts empty: the history is gone, and so is its epoch.
    let port = redis.port;
    redis.kill();
    let redis = Redis::start_on(port, &[]);
    wait_for("the instance to reconnect", WAIT, || {
        (app.stats()["redis"]["connected"] == true).then_some(())
    });
    let mut later = app.ws();
    assert_ne!(position(&later, "patterns")["epoch"], start["epoch"]);
    let (_, ack) = resume(&mut later, json!({"patterns": recent}));
    assert_eq!(
        ack["data"]["streams"]["patterns"],
        json!({"recovered": false, "reason": "epoch_changed"})
    );
    let now = position(&later, "patterns");
    let (_, ack) = resume(
        &mut later,
        json!({"admin": {"epoch": "x", "offset": 0}, "patterns": now}),
    );
    assert_eq!(
        ack["data"]["streams"],
        json!({"admin": {"recovered": false, "reason": "not_allowed"},
               "patterns": {"recovered": true, "replayed": 0}})
    );
    let stats = app.stats();
    assert_eq!(stats["resumes"]["not_recovered"]["too_old"], 1);
    assert_eq!(stats["resumes"]["not_recovered"]["epoch_changed"], 1);
    assert_eq!(stats["resumes"]["not_recovered"]["not_allowed"], 1);
    drop(redis);
}

#[test]
fn entries_older_than_the_history_ttl_are_too_old() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.history.ttl_secs = 1;
    let app = App::start_with(settings);
    let mut client = app.ws();
    let start = position(&client, "patterns");
    publish_alert(&redis, 0, "Doji", 0.9);
    client.expect("pattern_alert");
    // What is under test is the passing of time itself.
    std::thread::sleep(Duration::from_millis(1_100));
    let (_, ack) = resume(&mut client, json!({"patterns": start}));
    assert_eq!(
        ack["data"]["streams"]["patterns"],
        json!({"recovered": false, "reason": "too_old"})
    );
}

#[test]
fn a_user_gets_what_they_missed_until_they_acknowledge_it() {
    let redis = Redis::start();
    let (a, b) = (App::start(&redis), App::start(&redis));
    let submitted = json!({"symbols": ["AAPL"], "start_date": "2024-01-01",
        "end_date": "2024-12-31", "patterns": ["Doji"]});
    let (status, reply) = api(&a, "POST", "/api/backtests", Some("ada"), Some(&submitted));
    assert_eq!(status, 201, "{reply}");
    let job = reply["job_id"].as_str().unwrap().to_owned();
    // Ada is away while the backtester works.
    for progress in [0.25, 0.5, 0.75] {
        redis.publish(
            "tickstock.events.backtesting.progress",
            json!({"job_id": job, "progress": progress, "status": "processing"}).to_string(),
        );
    }
    redis.publish(
        "tickstock.events.backtesting.results",
        json!({"job_id": job, "status": "completed", "results": {"total_trades": 3}}).to_string(),
    );
    wait_for("the result to be queued", WAIT, || {
        (a.stats()["offline"]["queued"].as_u64() >= Some(4)).then_some(())
    });

    let queued = |app: &App| {
        let mut client = app.ws_as("ada", &[]);
        let frames = alerts_until_sentinel(&redis, &mut client);
        (client, frames)
    };
    let (_, first) = queued(&b);
    let events: Vec<&Value> = first.iter().map(|f| &f["data"]["event"]).collect();
    assert_eq!(
        events,
        ["backtest_progress", "backtest_result"],
        "only the latest progress: {first:?}"
    );
    assert!(first
        .iter()
        .all(|f| f["event"] == "queued_message" && f["stream"] == "user"));
    assert_eq!(first[0]["data"]["data"]["progress"], 0.75);
    assert_eq!(first[1]["data"]["data"]["status"], "completed");
    assert!(first[1]["data"]["queued_at"].as_u64().is_some());

    // Not acknowledged: they come again, on either instance.
    let (mut again, second) = queued(&a);
    assert_eq!(second, first);
    let last = second[1]["offset"].as_u64().unwrap();
    let ack = again.op(json!({"op": "ack", "streams": {"user": last}}));
    assert_eq!(ack["data"], json!({"op": "ack", "streams": {"user": last}}));
    let (_, third) = queued(&b);
    assert!(third.is_empty(), "acknowledged: never again: {third:?}");
    assert_eq!(a.stats()["offline"]["acknowledged"], last);

    let anonymous = a.ws().op(json!({"op": "ack", "streams": {"user": 1}}));
    assert_eq!(anonymous["data"]["code"], "forbidden");
}

/// A user away gets the alerts their stored rules accept queued; one who stored nothing gets
/// every alert queued too, but only within the grace after they left (`history.ttl_secs`), so a
/// client that reconnects soon resumes without a gap (after it, the unit tests of
/// `domain::directory` show nothing is written for them).
#[test]
fn alerts_wait_for_an_absent_user_by_their_stored_rules_or_within_the_grace() {
    let redis = Redis::start();
    let (a, b) = (App::start(&redis), App::start(&redis));
    // "open" stored nothing and has just left.
    let open_session = b.ws_as("open", &[]);
    wait_for("open's session", WAIT, || {
        (b.stats()["sessions"]["active"] == 1).then_some(())
    });
    drop(open_session);
    wait_for("open gone", WAIT, || {
        (b.stats()["sessions"]["active"] == 0).then_some(())
    });
    let rules = json!({"subscriptions": [{"pattern": "Doji", "min_confidence": 0.8}]});
    store_rules(&a, &[&a, &b], "strict", rules);
    publish_alert(&redis, 0, "Doji", 0.9);
    publish_alert(&redis, 1, "Doji", 0.5);
    publish_alert(&redis, 2, "Hammer", 0.95);
    wait_for("the accepted alerts to be queued", WAIT, || {
        (a.stats()["offline"]["queued"].as_u64() >= Some(1)).then_some(())
    });

    let mut strict = b.ws_as("strict", &[]);
    let queued = alerts_until_sentinel(&redis, &mut strict);
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0]["data"]["event"], "pattern_alert");
    assert_eq!(queued[0]["data"]["data"]["confidence"], 0.9);
    assert_eq!(
        queued[0]["offset"], 1,
        "written once though both instances queued it"
    );
    let mut open = a.ws_as("open", &[]);
    let queued = alerts_until_sentinel(&redis, &mut open);
    assert_eq!(
        offsets(&queued),
        [1, 2, 3],
        "every alert, in order: {queued:?}"
    );
}

#[test]
fn entries_added_to_a_stream_while_tickrouter_was_down_are_all_resumed_in_order() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.instance.id = "it-streams".into();
    settings.channels.streams = vec![StreamRoute {
        key: "tickstock:stream:patterns".into(),
        kind: EventKind::PatternDetected,
        field: "data".into(),
    }];
    let xadd = |n: u64| {
        let alert = json!({"event_type": "pattern_detected", "pattern": "Doji", "symbol": "AAPL",
            "confidence": 0.9, "timestamp": 1_760_557_168 + n});
        let _: String = redis::cmd("XADD")
            .arg("tickstock:stream:patterns")
            .arg("*")
            .arg("data")
            .arg(alert.to_string())
            .query(&mut redis.conn())
            .unwrap();
    };
    let app = App::start_with(settings.clone());
    let mut client = app.ws();
    let epoch = position(&client, "patterns")["epoch"].clone();
    xadd(0);
    let first = client.expect("pattern_alert");
    let before_stop = first["offset"].as_u64().unwrap();
    drop(client);
    wait_for("the entry to be acknowledged", WAIT, || {
        let acked = &app.stats()["ingest_streams"]["tickstock:stream:patterns"]["acknowledged"];
        (acked == 1).then_some(())
    });
    drop(app);

    for n in 1..=500 {
        xadd(n);
    }
    let app = App::start_with(settings);
    let mut client = app.ws();
    let position = json!({"epoch": epoch, "offset": before_stop});
    client.send_text(
        &json!({"op": "resume", "id": 5, "streams": {"patterns": position}}).to_string(),
    );
    // Whatever the restarted instance had routed when the resume was read is replayed, the rest
    // follows live: all 500, once each, in order either way.
    let mut alerts = Vec::new();
    while alerts.len() < 500 {
        let frame = client.recv(WAIT).expect("the 500 entries");
        match frame["event"].as_str() {
            Some("pattern_alert") => alerts.push(frame),
            Some("ack") => assert_eq!(frame["data"]["streams"]["patterns"]["recovered"], true),
            _ => {}
        }
    }
    let expected: Vec<u64> = (before_stop + 1..=before_stop + 500).collect();
    assert_eq!(offsets(&alerts), expected);
    let stamps: Vec<i64> = alerts
        .iter()
        .map(|a| a["data"]["timestamp"].as_i64().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "in the order added");
    assert!(
        alerts_until_sentinel(&redis, &mut client).is_empty(),
        "exactly once"
    );
    wait_for("every entry to be acknowledged", WAIT, || {
        let stream = &app.stats()["ingest_streams"]["tickstock:stream:patterns"];
        (stream["acknowledged"] == 500).then_some(())
    });
}

/// Entries an earlier run read but never finished (it crashed) stay pending for its consumer,
/// and are routed when it starts again.
#[test]
fn entries_read_but_not_acknowledged_before_a_crash_are_routed_at_the_next_start() {
    let redis = Redis::start();
    let key = "tickstock:stream:patterns";
    let query = |words: &[&str]| redis.query::<redis::Value>(words);
    query(&[
        "XGROUP",
        "CREATE",
        key,
        "tickrouter:crashed",
        "$",
        "MKSTREAM",
    ]);
    for n in 0..3 {
        let alert = json!({"event_type": "pattern_detected", "pattern": "Doji",
            "symbol": "AAPL", "confidence": 0.9, "timestamp": 1_760_557_168 + n});
        query(&["XADD", key, "*", "data", &alert.to_string()]);
    }
    // The crashed run's read: delivered to its consumer, never acknowledged.
    query(&[
        "XREADGROUP",
        "GROUP",
        "tickrouter:crashed",
        "crashed",
        "STREAMS",
        key,
        ">",
    ]);

    let mut settings = settings_for(&redis);
    settings.instance.id = "crashed".into();
    settings.channels.streams = vec![StreamRoute {
        key: key.into(),
        kind: EventKind::PatternDetected,
        field: "data".into(),
    }];
    let app = App::start_with(settings);
    wait_for(
        "the pending entries to be routed and acknowledged",
        WAIT,
        || {
            let stream = &app.stats()["ingest_streams"][key];
            (stream["acknowledged"] == 3).then_some(())
        },
    );
    let mut client = app.ws();
    let mut start = position(&client, "patterns");
    assert_eq!(start["offset"], 3);
    start["offset"] = 0.into();
    let (replayed, ack) = resume(&mut client, json!({"patterns": start}));
    assert_eq!(ack["data"]["streams"]["patterns"]["replayed"], 3);
    assert_eq!(offsets(&replayed), [1, 2, 3]);
    let (_, metrics) = app.get("/metrics");
    let acknowledged =
        format!("tickrouter_stream_acknowledged_entries_total{{stream=\"{key}\"}} 3");
    assert!(metrics.contains(&acknowledged), "{metrics}");
    assert!(metrics.contains(
        "tickrouter_stream_entries{stream=\"tickstock:stream:patterns\",state=\"pending\"}"
    ));
}

/// A user online on one instance while another instance also queues for them (it knows their
/// stored rules): each alert reaches them once, and their stream holds it once.
#[test]
fn an_alert_seen_by_every_instance_reaches_an_online_user_once() {
    let redis = Redis::start();
    let (a, b) = (App::start(&redis), App::start(&redis));
    let rules = json!({"subscriptions": [{"pattern": "Doji", "min_confidence": 0.5}]});
    store_rules(&a, &[&a, &b], "grace", rules);
    let mut grace = a.ws_as("grace", &[]);
    for n in 0..10 {
        publish_alert(&redis, n, "Doji", 0.9);
    }
    let got = alerts_until_sentinel(&redis, &mut grace);
    assert_eq!(offsets(&got), (1..=10).collect::<Vec<_>>(), "{got:?}");
    let entries: u64 = redis::cmd("XLEN")
        .arg("user_messages:grace")
        .query(&mut redis.conn())
        .unwrap();
    assert_eq!(
        entries, 10,
        "one entry per alert, whichever instance wrote it"
    );
}

/// A publication Redis would not store still goes out (without an offset), and the stream's
/// next write starts a new epoch: a position from before it is answered `epoch_changed`, never
/// resumed as if nothing were missing.
#[test]
fn a_failed_history_write_starts_a_new_epoch() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut client = app.ws();
    let before = position(&client, "patterns");
    publish_alert(&redis, 0, "Doji", 0.9);
    assert_eq!(client.expect("pattern_alert")["offset"], 1);
    let damage = |words: &[&str]| redis.query::<()>(words);
    damage(&["DEL", "tickrouter:history:patterns"]);
    damage(&["SET", "tickrouter:history:patterns", "not a stream"]);
    publish_alert(&redis, 1, "Doji", 0.9);
    let unwritten = client.expect("pattern_alert");
    assert!(unwritten.get("offset").is_none(), "{unwritten}");
    assert_eq!(app.stats()["history"]["write_failures"], 1);
    damage(&["DEL", "tickrouter:history:patterns"]);
    publish_alert(&redis, 2, "Doji", 0.9);
    assert_eq!(client.expect("pattern_alert")["offset"], 1, "a new epoch");
    let mut back = app.ws();
    assert_ne!(position(&back, "patterns")["epoch"], before["epoch"]);
    let (_, ack) = resume(
        &mut back,
        json!({"patterns": {"epoch": before["epoch"], "offset": 1}}),
    );
    assert_eq!(
        ack["data"]["streams"]["patterns"],
        json!({"recovered": false, "reason": "epoch_changed"})
    );
}

/// A stream followed after connecting comes with its position in the op's ack, so the client
/// can resume it after a reconnect like the others.
#[test]
fn subscribe_and_auth_acks_give_the_position_of_newly_followed_streams() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut client = app.ws();
    let epoch = position(&client, "patterns")["epoch"].clone();
    let narrowed = client.op(json!({"op": "subscribe", "topics": ["system"]}));
    assert!(
        narrowed["data"].get("streams").is_none(),
        "nothing new: {narrowed}"
    );
    publish_alert(&redis, 0, "Doji", 0.9);
    wait_for("the alert to be written", WAIT, || {
        (app.stats()["history"]["written"] == 1).then_some(())
    });
    let widened = client.op(json!({"op": "subscribe", "topics": ["patterns"]}));
    assert_eq!(
        widened["data"]["streams"],
        json!({"patterns": {"epoch": epoch, "offset": 1}})
    );
    let signed_in = client.op(json!({"op": "auth", "token": crate::util::token("ada")}));
    assert_eq!(signed_in["data"]["streams"]["user"]["offset"], 0);
    assert!(signed_in["data"]["streams"].get("patterns").is_none());
}
