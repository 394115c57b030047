//! The client protocol over a real WebSocket: identity, ops, replies, and bad input.

use serde_json::json;

use crate::util::{http_get, App, Client, Redis};

#[test]
fn anonymous_session_gets_public_topics() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let client = app.ws();
    let c = &client.confirmed["data"];
    assert_eq!(c["user_id"], serde_json::Value::Null);
    assert_eq!(
        c["topics"],
        json!(["patterns", "streaming", "alerts", "market", "system"])
    );
    assert!(c["session_id"].as_u64().unwrap() >= 1);
    assert!(c["server_time"].as_i64().unwrap() > 1_700_000_000_000);
}

#[test]
fn token_gives_identity_and_bad_tokens_are_refused() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let admin = app.ws_as("42", &["admin"]);
    assert_eq!(admin.confirmed["data"]["user_id"], "42");
    assert!(admin.confirmed["data"]["topics"]
        .as_array()
        .unwrap()
        .contains(&json!("admin")));

    let forged = tickrouter::auth::issue_token("not-the-secret", "42", &["admin"], 300);
    let expired = tickrouter::auth::issue_token(crate::util::SECRET, "42", &[], -600);
    for token in [forged.as_str(), expired.as_str(), "garbage"] {
        match Client::try_connect(app.addr, Some(token)) {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
            Err(e) => panic!("expected 401, got {e}"),
            Ok(_) => panic!("token {token:?} was accepted"),
        }
    }
}

#[test]
fn auth_op_upgrades_identity_and_rejects_forgeries_without_change() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut client = app.ws();
    let forged = tickrouter::auth::issue_token("wrong", "7", &[], 300);
    let reply = client.op(json!({"op": "auth", "token": forged}));
    assert_eq!(reply["event"], "error");
    assert_eq!(reply["data"]["code"], "invalid_token");
    let good = tickrouter::auth::issue_token(crate::util::SECRET, "7", &[], 300);
    let reply = client.op(json!({"op": "auth", "token": good}));
    assert_eq!(reply["event"], "ack");
    assert_eq!(reply["data"]["user_id"], "7");
}

#[test]
fn bad_client_input_gets_error_frames_and_the_session_lives_on() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut client = app.ws();
    let cases = [
        ("not json at all", "invalid_json"),
        ("[1,2,3]", "invalid_frame"),
        (r#"{"topics":["patterns"]}"#, "missing_op"),
        (r#"{"op":"launch_rockets"}"#, "unknown_op"),
        (r#"{"op":"subscribe","topics":"patterns"}"#, "invalid_field"),
        (r#"{"op":"watchlist","symbols":[1,2]}"#, "invalid_field"),
        (
            r#"{"op":"subscribe","topics":["nonsense"]}"#,
            "unknown_topic",
        ),
        (r#"{"op":"subscribe","topics":["admin"]}"#, "forbidden"),
        (
            r#"{"op":"pattern_subscriptions","subscriptions":[{"pattern":"Doji","min_confidence":7}]}"#,
            "invalid_field",
        ),
    ];
    for (text, code) in cases {
        client.send_text(text);
        let frame = client.expect("error");
        assert_eq!(frame["data"]["code"], code, "for {text}");
        assert!(!frame["data"]["message"].as_str().unwrap().is_empty());
    }
    let oversize = format!(r#"{{"op":"ping","pad":"{}"}}"#, "x".repeat(70_000));
    client.send_text(&oversize);
    assert_eq!(client.expect("error")["data"]["code"], "frame_too_large");
    let pong = client.op(json!({"op": "ping"}));
    assert_eq!(pong["event"], "pong");
    assert!(app.stats()["sessions"]["client_errors"].as_u64().unwrap() >= 10);
}

#[test]
fn subscribe_replaces_defaults_and_acks_the_topic_list() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut client = app.ws();
    let ack = client.op(json!({"op": "subscribe", "topics": ["patterns", "symbol:aapl"]}));
    assert_eq!(ack["event"], "ack");
    assert_eq!(ack["data"]["topics"], json!(["patterns", "symbol:AAPL"]));
    let ack = client.op(json!({"op": "unsubscribe", "topics": ["symbol:AAPL"]}));
    assert_eq!(ack["data"]["topics"], json!(["patterns"]));
    let ack = client.op(json!({"op": "watchlist", "symbols": ["msft", "nvda"]}));
    assert_eq!(ack["data"]["symbols"], json!(["MSFT", "NVDA"]));
}

#[test]
fn health_and_stats_report_the_truth() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let (status, body) = http_get(app.addr, "/health");
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["redis_connected"], true);
    // No producer heartbeat key in a fresh Redis: a warning that says so, not "healthy".
    crate::util::wait_for("heartbeat probe", crate::util::WAIT, || {
        let (_, body) = http_get(app.addr, "/health");
        let h: serde_json::Value = serde_json::from_str(&body).unwrap();
        (h["status"] == "warning").then_some(h)
    });
    redis.set(
        "tickstock:producer:heartbeat",
        &format!("{}", chrono_now_secs()),
    );
    let stats = app.stats();
    assert_eq!(stats["redis"]["connected"], true);
    assert_eq!(stats["sessions"]["active"], 0);

    redis.kill();
    crate::util::wait_for(
        "/health to report the Redis outage",
        crate::util::WAIT,
        || {
            let (status, body) = http_get(app.addr, "/health");
            (status == 503 && body.contains("not connected")).then_some(())
        },
    );
}

fn chrono_now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn a_client_that_never_answers_pings_is_closed_as_idle() {
    use std::io::Read;
    let redis = Redis::start();
    let mut settings = crate::util::settings_for(&redis);
    settings.session.heartbeat_interval_secs = 1;
    settings.session.client_timeout_secs = 2;
    let app = crate::util::App::start_with(settings);
    let (ws, _) = tungstenite::connect(format!("ws://{}/ws", app.addr)).unwrap();
    // Read raw frames so nothing answers the server's pings.
    let mut tcp = match ws.into_inner() {
        tungstenite::stream::MaybeTlsStream::Plain(s) => s,
        _ => unreachable!(),
    };
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let close = loop {
        if let Some(close) = find_close_frame(&buf) {
            break close;
        }
        let n = tcp
            .read(&mut chunk)
            .expect("server never closed the idle session");
        assert!(n > 0, "connection ended without a close frame");
        buf.extend_from_slice(&chunk[..n]);
    };
    assert_eq!(close.0, 1000);
    assert_eq!(close.1, "idle_timeout");
}

/// Scans unmasked server frames for a close frame; returns its code and reason.
fn find_close_frame(mut buf: &[u8]) -> Option<(u16, String)> {
    while buf.len() >= 2 {
        let opcode = buf[0] & 0x0f;
        let (len, header) = match buf[1] & 0x7f {
            126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
            126 => return None,
            127 => return None,
            n => (n as usize, 2),
        };
        let payload = buf.get(header..header + len)?;
        if opcode == 0x8 {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            return Some((code, String::from_utf8_lossy(&payload[2..]).into_owned()));
        }
        buf = &buf[header + len..];
    }
    None
}

#[test]
fn op_flooding_is_rate_limited_and_the_session_recovers() {
    let redis = Redis::start();
    let mut settings = crate::util::settings_for(&redis);
    settings.session.max_ops_per_second = 5;
    let app = crate::util::App::start_with(settings);
    let mut client = app.ws();
    for _ in 0..20 {
        client.send_text(r#"{"op":"ping"}"#);
    }
    let replies: Vec<String> = (0..20)
        .map(|_| {
            client.next_where("a reply", crate::util::WAIT, |f| {
                f["event"] == "pong" || f["event"] == "error"
            })
        })
        .map(|f| f["data"]["code"].as_str().unwrap_or("pong").to_owned())
        .collect();
    assert!(
        replies.iter().filter(|r| *r == "rate_limited").count() >= 14,
        "{replies:?}"
    );
    // Poll gently: a client that keeps flooding past ten times the limit is closed as abusive.
    let deadline = std::time::Instant::now() + crate::util::WAIT;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the rate window never reset"
        );
        client.send_text(r#"{"op":"ping"}"#);
        let reply = client.next_where("a reply", crate::util::WAIT, |f| {
            f["event"] == "pong" || f["event"] == "error"
        });
        if reply["event"] == "pong" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    for _ in 0..100 {
        client.send_text(r#"{"op":"ping"}"#);
    }
    assert_eq!(client.expect_close(), (1008, "abuse".to_owned()));
}
