//! WebSocket frames as RFC 6455 has them: invalid UTF-8 (whole, fragmented, in a close reason)
//! closes with 1007; fragmented messages are reassembled; every kind of frame counts against the
//! rate limit, so floods of frames the session refuses end like op floods; and the test-only
//! echo endpoint the Autobahn run uses.

use serde_json::Value;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};
use tungstenite::Message;

use tickrouter::config::Settings;

use crate::util::{settings_for, App, Redis};

const TEXT: OpCode = OpCode::Data(Data::Text);
const CONTINUE: OpCode = OpCode::Data(Data::Continue);

/// One frame exactly as given (tungstenite's own constructors refuse a close frame with a
/// reason that is not UTF-8).
fn raw(payload: &[u8], opcode: OpCode, fin: bool) -> Message {
    let header = FrameHeader {
        is_final: fin,
        opcode,
        ..FrameHeader::default()
    };
    Message::Frame(Frame::from_payload(header, payload.to_vec().into()))
}

#[test]
fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut client = app.ws();
    client
        .send_raw(raw(b"{\"op\":\"ping\",\"x\":\"\xff\"}", TEXT, true))
        .unwrap();
    assert_eq!(client.expect_close(), (1007, "invalid_payload".to_owned()));
}

#[test]
fn invalid_utf8_split_across_fragments_closes_with_1007() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut client = app.ws();
    // "é" is 0xc3 0xa9: its first byte ends the first fragment, and the second fragment goes on
    // with a byte that cannot continue it. Each fragment alone could be the start of valid text.
    client
        .send_raw(raw(b"{\"op\":\"\xc3", TEXT, false))
        .unwrap();
    client.send_raw(raw(b"(\"}", CONTINUE, true)).unwrap();
    let (seen, close) = client.read_until_close();
    assert_eq!(close, (1007, "invalid_payload".to_owned()), "{seen:?}");
    assert!(seen.is_empty(), "no error frame before the close: {seen:?}");
}

#[test]
fn invalid_utf8_in_a_close_reason_closes_with_1007() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut client = app.ws();
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye \xce\xba\xff");
    client
        .send_raw(raw(&payload, OpCode::Control(Control::Close), true))
        .unwrap();
    assert_eq!(client.expect_close(), (1007, "invalid_payload".to_owned()));
}

#[test]
fn a_fragmented_op_is_reassembled_and_answered() {
    let redis = Redis::start();
    let app = App::start(&redis);
    let mut client = app.ws();
    client.send_raw(raw(br#"{"op":"pi"#, TEXT, false)).unwrap();
    client
        .send_raw(Message::Ping(b"between".to_vec().into()))
        .unwrap();
    client
        .send_raw(raw(br#"ng","id""#, CONTINUE, false))
        .unwrap();
    client.send_raw(raw(b":41}", CONTINUE, true)).unwrap();
    let pong = client.next_where("the pong", crate::util::WAIT, |f| f["id"] == 41);
    assert_eq!(pong["event"], "pong");
    // A close by the client is answered with the same code.
    client
        .send_raw(Message::Close(Some(tungstenite::protocol::CloseFrame {
            code: CloseCode::Normal,
            reason: "done".into(),
        })))
        .unwrap();
    assert_eq!(client.expect_close(), (1000, "done".to_owned()));
}

/// Sends `frame` far past ten times the limit of a session allowed 5 frames a second (twice
/// over, in case a one-second window ends mid-flood) and returns what the server sent before it
/// closed, and the close.
fn flood(
    configure: impl FnOnce(&mut Settings),
    frame: impl Fn() -> Message,
) -> (Vec<Message>, (u16, String)) {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.session.max_ops_per_second = 5;
    configure(&mut settings);
    let app = App::start_with(settings);
    let mut client = app.ws();
    for _ in 0..110 {
        // Writes fail once the server has closed; what it sent before is still read below.
        if client.send_raw(frame()).is_err() {
            break;
        }
    }
    client.read_until_close()
}

fn error_codes(seen: &[Message]) -> Vec<String> {
    seen.iter()
        .filter_map(|m| match m {
            Message::Text(t) => serde_json::from_str::<Value>(t).ok(),
            _ => None,
        })
        .filter(|f| f["event"] == "error")
        .map(|f| f["data"]["code"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `rate_limited` errors came, then the abuse close.
fn assert_limited_then_closed(kind: &str, seen: &[Message], close: (u16, String)) {
    let codes = error_codes(seen);
    assert!(
        codes.iter().any(|c| c == "rate_limited"),
        "{kind} flood: no rate_limited error in {codes:?}"
    );
    assert_eq!(close, (1008, "abuse".to_owned()), "{kind} flood");
}

#[test]
fn a_binary_flood_is_rate_limited_then_closed_as_abuse() {
    let (seen, close) = flood(|_| {}, || Message::Binary(vec![1, 2, 3].into()));
    assert_limited_then_closed("binary", &seen, close);
    let codes = error_codes(&seen);
    let refused = codes
        .iter()
        .filter(|c| *c == "binary_not_supported")
        .count();
    assert!(
        refused <= 10,
        "only frames within the limit are read: {codes:?}"
    );
}

#[test]
fn an_oversized_frame_flood_is_rate_limited_then_closed_as_abuse() {
    let big = format!(r#"{{"op":"ping","pad":"{}"}}"#, "x".repeat(2000));
    let (seen, close) = flood(
        |s| s.session.max_frame_bytes = 1024,
        || Message::Text(big.clone().into()),
    );
    assert_limited_then_closed("oversized", &seen, close);
    let codes = error_codes(&seen);
    let too_large = codes.iter().filter(|c| *c == "frame_too_large").count();
    assert!((1..=10).contains(&too_large), "{codes:?}");
}

#[test]
fn a_ping_flood_is_rate_limited_then_closed_as_abuse_without_a_pong_for_each() {
    let (seen, close) = flood(|_| {}, || Message::Ping(b"p".to_vec().into()));
    assert_limited_then_closed("ping", &seen, close);
    let pongs = seen
        .iter()
        .filter(|m| matches!(m, Message::Pong(_)))
        .count();
    assert!(
        (1..=10).contains(&pongs),
        "5 pongs a second at most, not one per ping: got {pongs}"
    );
}

#[test]
fn the_echo_endpoint_is_off_by_default() {
    let redis = Redis::start();
    let app = App::start(&redis);
    assert_eq!(app.get("/autobahn/echo").0, 404);
}

#[test]
fn the_echo_endpoint_echoes_through_the_same_frame_handling() {
    let redis = Redis::start();
    let mut settings = settings_for(&redis);
    settings.server.autobahn_echo = true;
    let app = App::start_with(settings);
    let (mut ws, _) = tungstenite::connect(format!("ws://{}/autobahn/echo", app.addr)).unwrap();
    ws.send(raw(b"he", TEXT, false)).unwrap();
    ws.send(raw("llo é".as_bytes(), CONTINUE, true)).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("hello é".into()));
    ws.send(Message::Binary(vec![0, 255].into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Binary(vec![0, 255].into()));
    ws.send(raw(b"\xff", TEXT, true)).unwrap();
    match ws.read().unwrap() {
        Message::Close(Some(close)) => assert_eq!(u16::from(close.code), 1007),
        other => panic!("expected a close, got {other:?}"),
    }
}

/// With write coalescing on, frames still arrive each as its own WebSocket frame, all of them,
/// in order.
#[test]
fn coalesced_writes_keep_every_frame_and_its_order() {
    let redis = crate::util::Redis::start();
    let mut settings = crate::util::settings_for(&redis);
    settings.session.write_delay_ms = 20;
    let app = crate::util::App::start_with(settings);
    let mut client = app.ws();
    for n in 0..200 {
        let health = serde_json::json!({"overall_status": "healthy", "message": format!("m{n}")});
        redis.publish("tickstock.health.status", health.to_string());
    }
    let frames = client.frames_until("the last message", |f| f["data"]["message"] == "m199");
    let messages: Vec<&str> = frames
        .iter()
        .filter(|f| f["event"] == "system_health")
        .map(|f| f["data"]["message"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..199).map(|n| format!("m{n}")).collect();
    assert_eq!(messages, expected);
}
