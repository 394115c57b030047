//! Clients that stop reading are always closed, and never left with a silent gap: a session
//! whose queue overflowed gets nothing more and is closed as `slow_consumer` within the grace
//! period, whether or not more traffic comes; a silent client is closed at the idle timeout even
//! when its session is frozen; what a client got before the end is an unbroken prefix.

#[allow(dead_code)]
#[path = "it/util.rs"]
mod util;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use socket2::{Domain, Socket, Type};
use tungstenite::{Message, WebSocket};

use util::{wait_for, App, Redis, WAIT};

const CRITICAL: &str = "tickstock:alerts:critical";

/// A WebSocket client with a tiny receive buffer, so the server's writes back up into its own
/// queue soon after the client stops reading.
struct Stalled {
    ws: WebSocket<TcpStream>,
}

impl Stalled {
    fn connect(addr: SocketAddr, topics: &[&str]) -> Stalled {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(&addr.into()).unwrap();
        let stream: TcpStream = socket.into();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let (ws, _) = tungstenite::client(format!("ws://{addr}/ws"), stream).unwrap();
        let mut client = Stalled { ws };
        let op = json!({"op": "subscribe", "topics": topics, "id": 1});
        client
            .ws
            .send(Message::Text(op.to_string().into()))
            .unwrap();
        let deadline = Instant::now() + WAIT;
        while let End::Frame(frame) = client.next(deadline) {
            if frame["id"] == 1 {
                return client;
            }
        }
        panic!("no reply to subscribe");
    }

    fn next(&mut self, deadline: Instant) -> End {
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Text(t)) => return End::Frame(serde_json::from_str(&t).unwrap()),
                Ok(Message::Close(frame)) => {
                    return End::Closed(frame.map(|f| f.reason.to_string()).unwrap_or_default())
                }
                Ok(_) => continue,
                Err(e) if util::read_timed_out(&e) => continue,
                Err(e) => return End::Reset(e.to_string()),
            }
        }
        End::TimedOut
    }

    /// Reads everything left, pausing `pause` after each frame: the sequence numbers of the
    /// critical alerts received, and how the connection ended.
    fn read_to_end(&mut self, pause: Duration) -> (Vec<usize>, End) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            match self.next(deadline) {
                End::Frame(f) if f["event"] == "critical_alert" => {
                    seen.push(sequence(&f));
                    std::thread::sleep(pause);
                }
                End::Frame(_) => {}
                end => return (seen, end),
            }
        }
    }
}

#[derive(Debug)]
enum End {
    Frame(Value),
    /// A close frame, with its reason.
    Closed(String),
    /// The connection was reset or ended without a close frame (the error says how).
    Reset(#[allow(dead_code)] String),
    TimedOut,
}

fn sequence(frame: &Value) -> usize {
    frame["data"]["alert"]["message"]
        .as_str()
        .and_then(|m| m.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a numbered alert: {frame}"))
}

/// Publishes critical alerts `0..count` of about `bytes` each, as fast as Redis takes them.
fn burst(redis_url: &str, count: usize, bytes: usize) {
    let padding = "x".repeat(bytes);
    let mut conn = redis::Client::open(redis_url)
        .unwrap()
        .get_connection()
        .unwrap();
    for chunk in (0..count).collect::<Vec<_>>().chunks(200) {
        let mut pipe = redis::pipe();
        for n in chunk {
            let alert = json!({"alert": {"type": "HIGH_LAG", "severity": "critical",
                                         "message": format!("{n} {padding}")}});
            pipe.cmd("PUBLISH")
                .arg(CRITICAL)
                .arg(alert.to_string())
                .ignore();
        }
        let _: () = pipe.query(&mut conn).unwrap();
    }
}

/// Asserts that `seen` is `0..k` for some k: nothing missing before the end.
fn assert_unbroken_prefix(seen: &[usize]) {
    for (i, n) in seen.iter().enumerate() {
        assert_eq!(*n, i, "frame {i} is alert {n}: a gap ({seen:?})");
    }
}

fn active_sessions(app: &App) -> u64 {
    app.stats()["sessions"]["active"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

#[test]
fn a_short_burst_closes_a_stalled_client_within_the_grace_and_leaves_no_gap() {
    let redis = Redis::start();
    let mut settings = util::settings_for(&redis);
    settings.session.slow_consumer_grace_ms = 1000;
    let grace = Duration::from_millis(settings.session.slow_consumer_grace_ms);
    let app = App::start_with(settings);
    let mut stalled = Stalled::connect(app.addr, &["alerts"]);

    // 6,000 alerts of 2 KB (12 MB), over well before the grace period ends, so no later frame
    // can be what judges the session.
    burst(&redis.url(), 6_000, 2_000);
    // Every frame the session could be offered has been offered (and the first shed one with
    // them) once the server has routed the whole burst: the grace runs from before this point.
    wait_for("the burst to be routed", WAIT, || {
        (app.stats()["events"]["routed"] == 6_000).then_some(())
    });
    let burst_end = Instant::now();
    wait_for(
        "the stalled session to be closed",
        grace + Duration::from_secs(1),
        || (active_sessions(&app) == 0).then_some(()),
    );
    let stats = app.stats();
    assert_eq!(stats["sessions"]["slow_consumer_closes"], 1);
    assert!(stats["sessions"]["frames_shed"].as_u64().unwrap() > 0);
    eprintln!(
        "closed {:?} after the burst was routed",
        burst_end.elapsed()
    );

    // Reading again, it finds what it was sent before the gap, then the end; never more.
    let (seen, end) = stalled.read_to_end(Duration::ZERO);
    assert_unbroken_prefix(&seen);
    assert!(seen.len() < 6_000, "frames were shed, so not all arrived");
    match end {
        End::Closed(reason) => assert_eq!(reason, "slow_consumer"),
        End::Reset(_) => {}
        other => panic!("the connection did not end: {other:?}"),
    }
}

#[test]
fn a_client_that_reads_slowly_through_a_flood_gets_a_prefix_then_the_close() {
    let redis = Redis::start();
    let mut settings = util::settings_for(&redis);
    settings.session.outbound_queue_frames = 64;
    settings.session.slow_consumer_grace_ms = 5000;
    let app = App::start_with(settings);
    let mut slow = Stalled::connect(app.addr, &["alerts"]);

    let publisher = {
        let redis_url = redis.url();
        std::thread::spawn(move || {
            burst(&redis_url, 3_000, 1_000);
        })
    };
    // About 1,000 frames a second: far slower than the flood, fast enough to drain the queue
    // (64 frames plus the kernel's buffers) and read the close order within the grace.
    let (seen, end) = slow.read_to_end(Duration::from_millis(1));
    publisher.join().unwrap();
    assert_unbroken_prefix(&seen);
    assert!(!seen.is_empty() && seen.len() < 3_000, "got {}", seen.len());
    match end {
        End::Closed(reason) => assert_eq!(reason, "slow_consumer"),
        other => panic!("expected the slow_consumer close after the prefix: {other:?}"),
    }
    assert_eq!(app.stats()["sessions"]["slow_consumer_closes"], 1);
}

#[test]
fn a_client_that_stops_reading_with_no_traffic_is_closed_by_the_idle_timeout() {
    let redis = Redis::start();
    let mut settings = util::settings_for(&redis);
    settings.session.heartbeat_interval_secs = 1;
    settings.session.client_timeout_secs = 2;
    let app = App::start_with(settings);
    // Never reads again, so it never answers the server's pings either.
    let mut silent = Stalled::connect(app.addr, &["alerts"]);
    wait_for(
        "the silent session to be closed",
        Duration::from_secs(10),
        || (active_sessions(&app) == 0).then_some(()),
    );
    let (seen, end) = silent.read_to_end(Duration::ZERO);
    assert!(seen.is_empty());
    match end {
        End::Closed(reason) => assert_eq!(reason, "idle_timeout"),
        other => panic!("expected the idle_timeout close: {other:?}"),
    }
}

#[test]
fn a_frozen_session_whose_queue_never_filled_is_reset_at_the_idle_timeout() {
    let redis = Redis::start();
    let mut settings = util::settings_for(&redis);
    settings.session.heartbeat_interval_secs = 1;
    settings.session.client_timeout_secs = 2;
    // Stream for the whole burst, so it is never a slow consumer: only the idle timeout can end
    // it, and its own timer cannot run once the socket is full.
    settings.session.outbound_queue_frames = 8_192;
    settings.session.outbound_queue_bytes = 256 << 20;
    let app = App::start_with(settings);
    let mut frozen = Stalled::connect(app.addr, &["alerts"]);
    burst(&redis.url(), 4_000, 4_000);
    wait_for(
        "the frozen session to be reset",
        Duration::from_secs(15),
        || (active_sessions(&app) == 0).then_some(()),
    );
    assert_eq!(app.stats()["sessions"]["slow_consumer_closes"], 0);
    assert_eq!(app.stats()["sessions"]["frames_shed"], 0);
    let (seen, end) = frozen.read_to_end(Duration::ZERO);
    assert_unbroken_prefix(&seen);
    assert!(seen.len() < 4_000, "it was reset before reading everything");
    assert!(
        matches!(end, End::Reset(_) | End::Closed(_)),
        "the connection did not end: {end:?}"
    );
}
