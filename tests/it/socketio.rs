//! `/socket.io/` against the Engine.IO v4 and Socket.IO v5 specifications (their test-suites
//! are the model): the handshake, CONNECT with and without a token, events as ops with their
//! acknowledgements, events for the right user only, and what the specifications say to do
//! with packets that break them.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::util::{http_get, read_timed_out, settings_for, token, App, Redis, WAIT};

/// A raw Engine.IO client over a real WebSocket: it writes packets as text and reads them back,
/// so every byte the server sends is checked.
struct Raw {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    /// Answer the server's pings (off: a silent client).
    pong: bool,
}

enum Read {
    Text(String),
    Closed(u16),
}

impl Raw {
    fn open(addr: SocketAddr) -> (Raw, Value) {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tungstenite::connect(url).expect("the Socket.IO WebSocket upgrade failed");
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        }
        let mut raw = Raw { ws, pong: true };
        let open = raw.next();
        let handshake = open.strip_prefix('0').expect("the first packet is open");
        (raw, serde_json::from_str(handshake).unwrap())
    }

    /// Opens and joins the main namespace with `auth`; returns `connection_confirmed`'s data.
    fn connect(addr: SocketAddr, auth: Option<Value>) -> (Raw, Value) {
        let (mut raw, _) = Raw::open(addr);
        raw.send(&format!(
            "40{}",
            auth.map_or(String::new(), |a| a.to_string())
        ));
        let reply = raw.next();
        let sid: Value = serde_json::from_str(reply.strip_prefix("40").unwrap()).unwrap();
        assert!(sid["sid"].is_string(), "{reply}");
        let confirmed = raw.event("connection_confirmed");
        (raw, confirmed)
    }

    fn send(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).unwrap();
    }

    fn read(&mut self, timeout: Duration) -> Option<Read> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Text(t)) if t.as_str() == "2" => {
                    if self.pong {
                        self.send("3");
                    }
                }
                Ok(Message::Text(t)) => return Some(Read::Text(t.to_string())),
                Ok(Message::Close(frame)) => {
                    return Some(Read::Closed(frame.map_or(1005, |f| f.code.into())))
                }
                Ok(_) => {}
                Err(e) if read_timed_out(&e) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Some(Read::Closed(1006))
                }
                Err(e) => panic!("WebSocket read failed: {e}"),
            }
        }
        None
    }

    /// The next packet other than a ping.
    fn next(&mut self) -> String {
        match self.read(WAIT) {
            Some(Read::Text(t)) => t,
            Some(Read::Closed(code)) => panic!("the server closed with {code}"),
            None => panic!("no packet within {WAIT:?}"),
        }
    }

    /// The data of the next EVENT named `name` (other packets are skipped).
    fn event(&mut self, name: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let packet = self.next();
            if let Some(array) = packet.strip_prefix("42") {
                let args: Vec<Value> = serde_json::from_str(array).unwrap();
                if args[0] == name {
                    return args[1].clone();
                }
            }
        }
        panic!("no {name} event within {WAIT:?}");
    }

    /// Every EVENT before the one `until` accepts, as (name, data).
    fn events_until(&mut self, until: impl Fn(&str, &Value) -> bool) -> Vec<(String, Value)> {
        let mut seen = Vec::new();
        loop {
            let packet = self.next();
            let Some(array) = packet.strip_prefix("42") else {
                continue;
            };
            let args: Vec<Value> = serde_json::from_str(array).unwrap();
            let name = args[0].as_str().unwrap().to_owned();
            if until(&name, &args[1]) {
                return seen;
            }
            seen.push((name, args[1].clone()));
        }
    }

    /// Emits `name` with `data` and acknowledgement id `id`; returns the ACK's one argument.
    fn emit_with_ack(&mut self, id: u64, name: &str, data: Value) -> Value {
        self.send(&format!("42{id}{}", json!([name, data])));
        let prefix = format!("43{id}");
        loop {
            let packet = self.next();
            if let Some(args) = packet.strip_prefix(&prefix) {
                let args: Vec<Value> = serde_json::from_str(args).unwrap();
                assert_eq!(args.len(), 1, "{packet}");
                return args[0].clone();
            }
        }
    }

    /// Reads until the server closes; returns the close code.
    fn expect_close(&mut self, within: Duration) -> u16 {
        loop {
            match self.read(within) {
                Some(Read::Closed(code)) => return code,
                Some(Read::Text(_)) => {}
                None => panic!("the server did not close within {within:?}"),
            }
        }
    }
}

#[test]
fn the_open_packet_has_the_spec_fields_from_config() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.socketio.ping_interval_ms = 300;
    settings.socketio.ping_timeout_ms = 200;
    let app = App::start_with(settings);
    let (_raw, open) = Raw::open(app.addr);
    let keys: Vec<&String> = open.as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        5,
        "sid, upgrades, pingInterval, pingTimeout, maxPayload: {open}"
    );
    assert_eq!(open["upgrades"], json!([]));
    assert_eq!(open["pingInterval"], 300);
    assert_eq!(open["pingTimeout"], 200);
    assert_eq!(open["maxPayload"], 1_000_000);
    let (_other, second) = Raw::open(app.addr);
    let (a, b) = (
        open["sid"].as_str().unwrap(),
        second["sid"].as_str().unwrap(),
    );
    assert!(a.len() >= 20 && a != b, "{a} {b}");
}

#[test]
fn requests_without_version_or_transport_get_400() {
    let redis = Redis::start();
    let app = App::start(&redis);
    for (query, code) in [
        ("transport=websocket", 5),
        ("EIO=3&transport=websocket", 5),
        ("EIO=4", 0),
        ("EIO=4&transport=abc", 0),
        ("EIO=4&transport=websocket&sid=unknown", 1),
    ] {
        let (status, body) = http_get(app.addr, &format!("/socket.io/?{query}"));
        assert_eq!(status, 400, "{query}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["code"], code, "{query}: {body}");
    }
}

#[test]
fn connect_signs_in_with_the_auth_token_or_gets_connect_error() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let (_anon, confirmed) = Raw::connect(app.addr, None);
    assert_eq!(confirmed["user_id"], Value::Null);
    let (_alice, confirmed) = Raw::connect(app.addr, Some(json!({"token": token("alice")})));
    assert_eq!(confirmed["user_id"], "alice");

    let (mut refused, _) = Raw::open(app.addr);
    refused.send(r#"40{"token":"not-a-jwt"}"#);
    let reply = refused.next();
    let error: Value = serde_json::from_str(reply.strip_prefix("44").unwrap()).unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("malformed token"),
        "{reply}"
    );
    // Refused, not closed: the client may CONNECT again with another token.
    refused.send(&format!("40{}", json!({"token": token("bob")})));
    assert!(refused.next().starts_with("40"));
    assert_eq!(refused.event("connection_confirmed")["user_id"], "bob");
}

#[test]
fn events_are_the_ops_and_their_acks_get_the_ws_reply_data() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let (mut raw, _) = Raw::connect(app.addr, None);
    let ack = raw.emit_with_ack(1, "watchlist", json!({"symbols": ["aapl"]}));
    assert_eq!(
        ack,
        json!({"op": "watchlist", "source": "session", "symbols": ["AAPL"]})
    );
    let ack = raw.emit_with_ack(2, "subscribe", json!({"topics": ["nope"]}));
    assert_eq!(ack["code"], "unknown_topic", "{ack}");
    let ack = raw.emit_with_ack(3, "explode", json!({}));
    assert_eq!(ack["code"], "unknown_op", "{ack}");
    // Without an acknowledgement, the reply is the `/ws` event of the same name.
    raw.send(r#"42["ping"]"#);
    assert!(raw.event("pong")["server_time"].is_i64());
    // The legacy heartbeat.
    raw.send(r#"42["heartbeat"]"#);
    assert!(raw.event("heartbeat_ack")["timestamp"].is_i64());
    // The legacy pattern subscription: only the named patterns come through.
    raw.send(r#"42["subscribe_patterns",{"patterns":["Hammer"]}]"#);
    let confirmed = raw.event("subscription_confirmed");
    assert_eq!(
        (confirmed["patterns"].clone(), confirmed["count"].clone()),
        (json!(["Hammer"]), json!(1))
    );
    for pattern in ["Doji", "Hammer"] {
        redis.publish(
            "tickstock.events.patterns",
            json!({"event_type": "pattern_detected", "source": "test", "timestamp": 1760557168.342,
                   "data": {"symbol": "AAPL", "pattern": pattern, "confidence": 0.9}})
            .to_string(),
        );
    }
    assert_eq!(raw.event("pattern_alert")["pattern"], "Hammer");
    let ack = raw.emit_with_ack(5, "subscribe_patterns", json!({"patterns": 3}));
    assert_eq!(ack["code"], "invalid_field", "{ack}");
    // Binary attachments are refused with an error, the connection stays.
    raw.send(r#"451-["watchlist",{"_placeholder":true,"num":0}]"#);
    assert_eq!(raw.event("error")["code"], "binary_not_supported");
    let ack = raw.emit_with_ack(4, "ping", json!({}));
    assert!(ack["server_time"].is_i64());
}

#[test]
fn events_reach_the_right_user_only() {
    let redis = Redis::start();
    let app = App::start(&redis);
    redis.set(
        "tickstock:jobs:job_a",
        r#"{"job_id":"job_a","user_id":"alice"}"#,
    );
    let (mut alice, _) = Raw::connect(app.addr, Some(json!({"token": token("alice")})));
    let (mut bob, _) = Raw::connect(app.addr, Some(json!({"token": token("bob")})));
    redis.publish(
        "tickstock.events.backtesting.progress",
        json!({"event_type": "backtest_progress", "job_id": "job_a", "progress": 0.5, "status": "processing"}).to_string(),
    );
    assert_eq!(alice.event("backtest_progress")["job_id"], "job_a");
    // A public event after it: bob sees it, and nothing of alice's before it.
    redis.publish(
        "tickstock.events.patterns",
        json!({"event_type": "pattern_detected", "source": "test", "timestamp": 1760557168.342,
               "data": {"symbol": "AAPL", "pattern": "Doji", "confidence": 0.9}})
        .to_string(),
    );
    let got = bob.events_until(|name, data| name == "pattern_alert" && data["symbol"] == "AAPL");
    assert!(got.is_empty(), "bob sees nothing of alice's job: {got:?}");
    let alert = alice.event("pattern_alert");
    assert_eq!(alert["pattern"], "Doji");
}

#[test]
fn packets_the_specs_refuse_close_the_connection() {
    let redis = Redis::start();
    let app = App::start(&redis);
    // Before CONNECT: an invalid handshake.
    let (mut raw, _) = Raw::open(app.addr);
    raw.send("4abc");
    raw.expect_close(WAIT);
    // An unknown namespace gets CONNECT_ERROR, and the connection stays.
    let (mut raw, _) = Raw::open(app.addr);
    raw.send("40/admin,");
    assert_eq!(raw.next(), r#"44/admin,{"message":"Invalid namespace"}"#);
    raw.send("40");
    assert!(raw.next().starts_with("40"));
    // Once connected: a second CONNECT, an event that is not an array, a bad ack id, an unknown
    // Engine.IO packet type.
    for bad in ["40", "42{}", r#"42abc["ping"]"#, "9"] {
        let (mut raw, _) = Raw::connect(app.addr, None);
        raw.send(bad);
        assert_eq!(raw.expect_close(WAIT), 1002, "{bad}");
    }
    wait_client_errors(&app, 5);
}

fn wait_client_errors(app: &App, n: u64) {
    crate::util::wait_for("client errors counted", WAIT, || {
        let stats = app.stats();
        (stats["sessions"]["client_errors"].as_u64() >= Some(n)).then_some(())
    });
}

#[test]
fn a_silent_client_is_closed_after_ping_timeout_and_a_live_one_stays() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.socketio.ping_interval_ms = 200;
    settings.socketio.ping_timeout_ms = 200;
    let app = App::start_with(settings);
    let (mut live, _) = Raw::connect(app.addr, None);
    let (mut silent, _) = Raw::connect(app.addr, None);
    silent.pong = false;
    // Both are read side by side, so the live one answers its pings meanwhile.
    let code = crate::util::wait_for("the silent client to be closed", WAIT, || {
        assert!(
            !matches!(live.read(Duration::from_millis(20)), Some(Read::Closed(_))),
            "the live client was closed"
        );
        match silent.read(Duration::from_millis(20)) {
            Some(Read::Closed(code)) => Some(code),
            _ => None,
        }
    });
    assert_eq!(code, 1000, "idle_timeout's close code, as for /ws");
    // The live client answered every ping meanwhile and is still served.
    let ack = live.emit_with_ack(1, "ping", json!({}));
    assert!(ack["server_time"].is_i64());
}

#[test]
fn an_oversized_message_gets_an_error() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.socketio.max_payload = 1000;
    let app = App::start_with(settings);
    let (mut raw, confirmed) = Raw::connect(app.addr, None);
    assert!(confirmed["session_id"].is_u64());
    let symbols: Vec<String> = (0..200).map(|i| format!("S{i}")).collect();
    raw.send(&format!(
        "421{}",
        json!(["watchlist", {"symbols": symbols}])
    ));
    assert_eq!(raw.event("error")["code"], "frame_too_large");
}

/// Starts tickrouter with quick Engine.IO pings.
fn quick_pings(redis: &Redis, max_polling_sessions: usize) -> App {
    let mut settings = settings_for(redis);
    settings.socketio.ping_interval_ms = 300;
    settings.socketio.ping_timeout_ms = 200;
    settings.socketio.max_polling_sessions = max_polling_sessions;
    App::start_with(settings)
}

fn poll_path(sid: &str) -> String {
    format!("/socket.io/?EIO=4&transport=polling&sid={sid}")
}

/// Opens a polling session; returns its sid and handshake.
fn open_polling(app: &App) -> (String, Value) {
    let (status, body) = http_get(app.addr, "/socket.io/?EIO=4&transport=polling");
    assert_eq!(status, 200, "{body}");
    let open: Value = serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
    (open["sid"].as_str().unwrap().to_owned(), open)
}

fn post(app: &App, sid: &str, body: &str) -> u16 {
    crate::util::http_request(app.addr, "POST", &poll_path(sid), &[], Some(body)).0
}

/// Polls until a payload holds a packet `pred` accepts; returns that packet. The packets after
/// it in the same payload are kept in `left` for the next call.
fn poll_until(app: &App, sid: &str, left: &mut Vec<String>, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(i) = left.iter().position(|p| pred(p)) {
            let packet = left.remove(i);
            left.drain(..i);
            return packet;
        }
        left.clear();
        assert!(Instant::now() < deadline, "no such packet within {WAIT:?}");
        let (status, body) = http_get(app.addr, &poll_path(sid));
        assert_eq!(status, 200, "{body}");
        left.extend(body.split('\x1e').map(str::to_owned));
    }
}

#[test]
fn polling_opens_pings_connects_and_carries_events() {
    let redis = Redis::start();
    let app = quick_pings(&redis, 100);
    let (sid, open) = open_polling(&app);
    let mut left = Vec::new();
    assert_eq!(open["upgrades"], json!(["websocket"]));
    assert_eq!(
        (open["pingInterval"].clone(), open["pingTimeout"].clone()),
        (json!(300), json!(200))
    );
    assert_eq!(sid.len(), 20);
    // The server's ping, answered.
    assert_eq!(poll_until(&app, &sid, &mut left, |p| p == "2"), "2");
    assert_eq!(post(&app, &sid, "3"), 200);
    // CONNECT and an op with an ack in one payload.
    let body = format!(
        "40{}\x1e421{}",
        json!({"token": token("pat")}),
        json!(["watchlist", {"symbols": ["ibm"]}])
    );
    assert_eq!(post(&app, &sid, &body), 200);
    let confirmed = poll_until(&app, &sid, &mut left, |p| {
        p.starts_with("42[\"connection_confirmed\"")
    });
    assert!(confirmed.contains("\"user_id\":\"pat\""), "{confirmed}");
    let ack = poll_until(&app, &sid, &mut left, |p| p.starts_with("431["));
    assert_eq!(
        ack,
        r#"431[{"op":"watchlist","source":"session","symbols":["IBM"]}]"#
    );
}

#[test]
fn wrong_expired_and_closed_sids_get_400() {
    let redis = Redis::start();
    let app = quick_pings(&redis, 100);
    let (status, body) = http_get(app.addr, &poll_path("no-such-sid"));
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["code"].clone()
        ),
        (400, json!(1))
    );
    assert_eq!(post(&app, "no-such-sid", "3"), 400);
    // Never answering a ping: expired after pingInterval + pingTimeout.
    let (silent, _) = open_polling(&app);
    crate::util::wait_for("the silent polling session to expire", WAIT, || {
        (http_get(app.addr, &poll_path(&silent)).0 == 400).then_some(())
    });
    // Closed by the client: the pending GET gets a noop, the next one a 400.
    let (closed, _) = open_polling(&app);
    let pending = {
        let (addr, path) = (app.addr, poll_path(&closed));
        std::thread::spawn(move || http_get(addr, &path))
    };
    assert_eq!(post(&app, &closed, "1"), 200);
    // The pending GET gets a noop (or, if the close overtook it, the 400 of an unknown sid).
    let (status, body) = pending.join().unwrap();
    assert!(
        (status, body.as_str()) == (200, "6") || status == 400,
        "{status} {body}"
    );
    crate::util::wait_for("the closed session's sid to be unknown", WAIT, || {
        (http_get(app.addr, &poll_path(&closed)).0 == 400).then_some(())
    });
}

#[test]
fn a_second_concurrent_get_gets_400_and_closes_the_session() {
    let redis = Redis::start();
    // No ping within the test: a GET waits until the session ends.
    let app = App::start_with(settings_for(&redis));
    let (sid, _) = open_polling(&app);
    let gets: Vec<_> = (0..2)
        .map(|_| {
            let (addr, path) = (app.addr, poll_path(&sid));
            std::thread::spawn(move || http_get(addr, &path))
        })
        .collect();
    let mut answers: Vec<(u16, String)> = gets.into_iter().map(|g| g.join().unwrap()).collect();
    answers.sort();
    // The pending one is answered with a noop as the session closes; the other is refused.
    assert_eq!(answers[0], (200, "6".to_owned()));
    assert_eq!(answers[1].0, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&answers[1].1).unwrap()["code"],
        3
    );
    crate::util::wait_for("the session to be closed", WAIT, || {
        (http_get(app.addr, &poll_path(&sid)).0 == 400).then_some(())
    });
    assert_eq!(post(&app, &sid, "3"), 400);
}

#[test]
fn polling_upgrades_to_websocket_and_the_sid_is_then_websocket_only() {
    let redis = Redis::start();
    let app = quick_pings(&redis, 100);
    let (sid, _) = open_polling(&app);
    let mut left = Vec::new();
    assert_eq!(post(&app, &sid, "40"), 200);
    poll_until(&app, &sid, &mut left, |p| {
        p.starts_with("42[\"connection_confirmed\"")
    });
    let url = format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket&sid={sid}",
        app.addr
    );
    let (ws, _) = tungstenite::connect(url.as_str()).unwrap();
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    }
    let mut raw = Raw { ws, pong: true };
    raw.send("2probe");
    assert_eq!(raw.next(), "3probe");
    raw.send("5");
    // The session now answers on the WebSocket.
    let ack = raw.emit_with_ack(7, "watchlist", json!({"symbols": ["dia"]}));
    assert_eq!(ack["symbols"], json!(["DIA"]));
    assert_eq!(http_get(app.addr, &poll_path(&sid)).0, 400);
    assert!(
        tungstenite::connect(url.as_str()).is_err(),
        "a second upgrade is refused"
    );
}

#[test]
fn polling_sessions_are_bounded_in_number() {
    let redis = Redis::start();
    let app = quick_pings(&redis, 1);
    let _held = open_polling(&app);
    let (status, body) = http_get(app.addr, "/socket.io/?EIO=4&transport=polling");
    assert_eq!(status, 503, "{body}");
    // The WebSocket transport is not bounded by it.
    Raw::connect(app.addr, None);
}

/// The last argument of an EVENT packet that carries the recovery offset.
fn event_with_offset(packet: &str) -> (Value, String) {
    let args: Vec<Value> = serde_json::from_str(packet.strip_prefix("42").unwrap()).unwrap();
    assert_eq!(args.len(), 3, "{packet}");
    (args[1].clone(), args[2].as_str().unwrap().to_owned())
}

fn alert(symbol: &str) -> String {
    json!({"event_type": "pattern_detected", "source": "test", "timestamp": 1760557168.342,
           "data": {"symbol": symbol, "pattern": "Doji", "confidence": 0.9}})
    .to_string()
}

#[test]
fn a_reconnecting_client_recovers_what_it_missed_with_its_pid_and_offset() {
    let redis = Redis::start();
    let app = App::start(&redis);
    // Anonymous: its alerts come on the patterns topic. (A signed-in user's come on their own
    // stream, recovered the same way; it holds what arrived while they were away only when
    // their stored rules accept it, as for /ws.)
    let (mut first, _) = Raw::open(app.addr);
    first.send("40");
    let connect: Value = serde_json::from_str(first.next().strip_prefix("40").unwrap()).unwrap();
    let pid = connect["pid"].as_str().unwrap().to_owned();
    first.event("connection_confirmed");
    redis.publish("tickstock.events.patterns", alert("AAA"));
    let packet = first.next();
    let (data, offset) = event_with_offset(&packet);
    assert_eq!(data["symbol"], "AAA");
    assert!(offset.contains("patterns:"), "{offset}");

    drop(first);
    // Missed while away.
    redis.publish("tickstock.events.patterns", alert("BBB"));
    redis.publish("tickstock.events.patterns", alert("CCC"));

    let (mut second, _) = Raw::open(app.addr);
    second.send(&format!("40{}", json!({"pid": pid, "offset": offset})));
    let connect: Value = serde_json::from_str(second.next().strip_prefix("40").unwrap()).unwrap();
    assert_eq!(connect["pid"], pid.as_str(), "recovered: the same pid");
    // Replayed (or, for what the history did not hold yet, live), each once, in order.
    let before =
        second.events_until(|name, data| name == "pattern_alert" && data["symbol"] == "CCC");
    let alerts: Vec<&Value> = before
        .iter()
        .filter(|(name, _)| name == "pattern_alert")
        .map(|(_, data)| &data["symbol"])
        .collect();
    assert_eq!(alerts, [&json!("BBB")]);
    // An offset from another history (or none the server made) is not recovered: a new pid.
    let (mut third, _) = Raw::open(app.addr);
    third.send(&format!(
        "40{}",
        json!({"pid": pid, "offset": "patterns:not-an-epoch:1"})
    ));
    let connect: Value = serde_json::from_str(third.next().strip_prefix("40").unwrap()).unwrap();
    assert_ne!(connect["pid"], pid.as_str());
    third.event("connection_confirmed");
}

#[test]
fn a_polling_client_that_does_not_poll_is_closed_as_a_slow_consumer() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.session.outbound_queue_bytes = 64 * 1024;
    let app = App::start_with(settings);
    let (sid, _) = open_polling(&app);
    assert_eq!(post(&app, &sid, "40"), 200);
    // About 200 bytes each: well over 64 KiB, never polled.
    for i in 0..1000 {
        redis.publish("tickstock.events.patterns", alert(&format!("S{i}")));
    }
    crate::util::wait_for("the slow polling consumer to be closed", WAIT, || {
        (app.stats()["sessions"]["slow_consumer_closes"] == 1).then_some(())
    });
    // Its session has ended: the next poll is refused (a pending one would have heard `close`).
    crate::util::wait_for("the sid to be unknown", WAIT, || {
        (http_get(app.addr, &poll_path(&sid)).0 == 400).then_some(())
    });
}

#[test]
fn sessions_count_against_the_server_limit_from_their_handshake() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.server.max_sessions = 2;
    let app = App::start_with(settings);
    // Neither has joined the namespace, yet both hold a place.
    let _first = Raw::open(app.addr);
    let _second = open_polling(&app);
    let (status, _) = http_get(app.addr, "/socket.io/?EIO=4&transport=polling");
    assert_eq!(status, 503);
    let refused = crate::util::Client::try_connect(app.addr, None);
    assert!(refused.is_err(), "/ws shares the limit");
}

#[test]
fn a_polling_payload_over_max_payload_gets_413() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.socketio.max_payload = 100;
    let app = App::start_with(settings);
    let (sid, open) = open_polling(&app);
    assert_eq!(open["maxPayload"], 100);
    let big = format!("42{}", json!(["watchlist", {"symbols": ["X".repeat(100)]}]));
    assert_eq!(post(&app, &sid, &big), 413);
    assert_eq!(post(&app, &sid, "40"), 200, "the session goes on");
}

/// A page of an allowed origin on another host long-polls as `io()` does: the handshake and the
/// polls carry its CORS answer; a page of another origin is refused.
#[test]
fn an_allowed_origin_long_polls_across_origins() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.server.allowed_origins = vec!["https://app.example.com".into()];
    let app = App::start_with(settings);
    let path = "/socket.io/?EIO=4&transport=polling";
    let page = [("Origin", "https://app.example.com")];
    let answer = crate::util::http_exchange(app.addr, "GET", path, &page, None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let open: Value = serde_json::from_str(answer.body.strip_prefix('0').unwrap()).unwrap();
    let sid = open["sid"].as_str().unwrap();
    let preflight = crate::util::http_exchange(
        app.addr,
        "OPTIONS",
        &poll_path(sid),
        &[
            ("Origin", "https://app.example.com"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        None,
    );
    assert_eq!(preflight.status, 200);
    let answer = crate::util::http_exchange(app.addr, "POST", &poll_path(sid), &page, Some("40"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let other = [("Origin", "https://evil.example.com")];
    let answer = crate::util::http_exchange(app.addr, "GET", path, &other, None);
    assert_ne!(answer.status, 200, "{}", answer.body);
}
