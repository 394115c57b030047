//! Test harness: a real `redis-server` on a free port, tickrouter in-process on a free port,
//! real WebSocket clients over loopback, and waits that poll a condition up to a timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tickrouter::config::Settings;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// 32+ bytes: shorter secrets are refused unless `auth.allow_short_secret`.
pub const SECRET: &str = "tickrouter-integration-test-secret";
pub const WAIT: Duration = Duration::from_secs(5);

/// Polls `check` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private redis-server, killed on drop.
pub struct Redis {
    pub port: u16,
    child: Child,
}

static NEXT_REDIS: AtomicU64 = AtomicU64::new(0);

impl Redis {
    pub fn start() -> Redis {
        Redis::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Redis {
        (0..5)
            .find_map(|_| Redis::try_start(free_port(), extra))
            .expect("could not start a private redis-server")
    }

    /// On a given port (to restart a killed server where tickrouter expects it).
    pub fn start_on(port: u16, extra: &[&str]) -> Redis {
        Redis::try_start(port, extra).expect("could not start redis-server on its old port")
    }

    /// `free_port` releases the port before redis-server binds it, so a parallel test may get the
    /// same one; the loser exits, and a plain connect would reach the winner. A unique
    /// `dbfilename` (nothing is ever saved) tells whose server answers.
    pub fn try_start(port: u16, extra: &[&str]) -> Option<Redis> {
        let name = format!(
            "tickrouter-test-{}-{}.rdb",
            std::process::id(),
            NEXT_REDIS.fetch_add(1, Ordering::Relaxed)
        );
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dbfilename", &name])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test.sh installs it)");
        let mut redis = Redis { port, child };
        let password = extra
            .windows(2)
            .find(|w| w[0] == "--requirepass")
            .map(|w| w[1].to_owned());
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if !matches!(redis.child.try_wait(), Ok(None)) {
                return None;
            }
            if redis.answers_as(&name, password.as_deref()) {
                return Some(redis);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn answers_as(&self, name: &str, password: Option<&str>) -> bool {
        let url = match password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/0", self.port),
            None => self.url(),
        };
        let Ok(mut conn) = redis::Client::open(url).and_then(|c| c.get_connection()) else {
            return false;
        };
        let config: Result<Vec<String>, _> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("dbfilename")
            .query(&mut conn);
        config.ok().and_then(|c| c.get(1).cloned()).as_deref() == Some(name)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// Runs one command, its words given as strings.
    pub fn query<T: redis::FromRedisValue>(&self, words: &[&str]) -> T {
        let mut cmd = redis::cmd(words[0]);
        for word in &words[1..] {
            cmd.arg(*word);
        }
        cmd.query(&mut self.conn()).unwrap()
    }

    /// A user's pattern alerts counted this hour (and the hour before, across a boundary) in
    /// the counters every instance shares.
    pub fn hourly_alert_count(&self, user: &str) -> u64 {
        let counters: Vec<String> =
            self.query(&["KEYS", &format!("tickstock:alerts:ratelimit:{user}:*")]);
        let counts = counters.iter().map(|k| self.query::<u64>(&["GET", k]));
        counts.sum()
    }

    pub fn publish(&self, channel: &str, payload: impl AsRef<[u8]>) {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload.as_ref())
            .query(&mut self.conn())
            .unwrap();
    }

    pub fn set(&self, key: &str, value: &str) {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query(&mut self.conn())
            .unwrap();
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops (`STOP`) or continues (`CONT`) the server: a stopped server keeps its connections
    /// open and answers nothing, like a hung host.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} failed");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tickrouter running in its own thread and actix System; shut down on drop.
pub struct App {
    pub addr: SocketAddr,
    /// Where `/stats` is served: `server.admin_bind` when set.
    operator: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

pub fn settings_for(redis: &Redis) -> Settings {
    let mut s = Settings::default();
    s.redis.url = redis.url();
    s.auth.jwt_secret = Some(SECRET.into());
    s.server.static_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/static").into();
    s.redis.reconnect_initial_ms = 50;
    s.redis.reconnect_max_ms = 500;
    s.redis.keepalive_secs = 1;
    s
}

impl App {
    pub fn start(redis: &Redis) -> App {
        App::start_with(settings_for(redis))
    }

    pub fn start_with(settings: Settings) -> App {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let operator = settings.server.admin_bind.unwrap_or(addr);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix::System::new().block_on(async move {
                tickrouter::app::run(settings, listener, async {
                    let _ = rx.await;
                })
                .await
                .expect("tickrouter failed");
            });
        });
        let app = App {
            addr,
            operator,
            stop: Some(tx),
            thread: Some(thread),
        };
        wait_for("tickrouter to subscribe to Redis", WAIT, || {
            (app.stats()["redis"]["connected"] == true).then_some(())
        });
        app
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path)
    }

    /// `/stats`, or Null while its listener is not up yet.
    pub fn stats(&self) -> Value {
        if TcpStream::connect(self.operator).is_err() {
            return Value::Null;
        }
        let (_, body) = http_get(self.operator, "/stats");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    pub fn drops(&self, channel: &str, reason: &str) -> u64 {
        outcomes_of_channel(&self.stats(), channel)
            .get(reason)
            .copied()
            .unwrap_or(0)
    }

    /// Waits until the drop counter for (channel, reason) reaches `n`.
    pub fn wait_drops(&self, channel: &str, reason: &str, n: u64) {
        wait_for(&format!("{n} {reason} drops on {channel}"), WAIT, || {
            (self.drops(channel, reason) >= n).then_some(())
        });
    }

    pub fn ws(&self) -> Client {
        Client::connect(self.addr, None)
    }

    pub fn ws_as(&self, user: &str, roles: &[&str]) -> Client {
        Client::connect(
            self.addr,
            Some(&tickrouter::auth::issue_token(SECRET, user, roles, 300)),
        )
    }
}

impl App {
    /// Triggers a graceful shutdown and waits for it on another thread, so the caller can watch
    /// what clients receive meanwhile.
    pub fn shut_down_in_background(self) -> JoinHandle<()> {
        std::thread::spawn(move || drop(self))
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The two families of reasons in `/stats`: events nobody wanted, and events lost.
const OUTCOME_FAMILIES: [&str; 2] = ["filtered", "dropped"];

/// How many messages or items ended for `reason`, whichever family it belongs to.
pub fn outcome(stats: &Value, reason: &str) -> u64 {
    OUTCOME_FAMILIES
        .iter()
        .find_map(|f| stats[format!("{f}_by_reason")][reason].as_u64())
        .unwrap_or(0)
}

/// A channel's reasons (both families) with their counts, those that happened.
pub fn outcomes_of_channel(
    stats: &Value,
    channel: &str,
) -> std::collections::BTreeMap<String, u64> {
    OUTCOME_FAMILIES
        .iter()
        .filter_map(|f| stats[format!("{f}_by_channel")][channel].as_object())
        .flatten()
        .map(|(reason, n)| (reason.clone(), n.as_u64().unwrap_or(0)))
        .collect()
}

/// A minimal HTTP/1.1 GET (the tests need status and body only).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_request(addr, "GET", path, &[], None)
}

/// A minimal HTTP/1.1 request with extra headers and an optional JSON body; returns the status
/// and the body.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let answer = http_exchange(addr, method, path, headers, body);
    (answer.status, answer.body)
}

/// An HTTP answer with its headers (names lower-cased).
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Like `http_request`, with the answer's headers.
pub fn http_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.unwrap_or("").as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Whether a WebSocket read only ran into the socket's read timeout (nothing arrived yet).
pub fn read_timed_out(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(e) if matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ))
}

/// A real WebSocket client (tungstenite) reading with a timeout.
pub struct Client {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    pub confirmed: Value,
    /// Whether `recv` returns `"snapshot": true` frames. Off by default: they repeat earlier
    /// state, and the tests that count what an event led to must not count them
    /// (tests/it/snapshots.rs turns them on).
    pub snapshots: bool,
}

impl Client {
    pub fn connect(addr: SocketAddr, token: Option<&str>) -> Client {
        Client::try_connect(addr, token).expect("WebSocket connect failed")
    }

    pub fn try_connect(
        addr: SocketAddr,
        token: Option<&str>,
    ) -> Result<Client, tungstenite::Error> {
        let url = match token {
            Some(t) => format!("ws://{addr}/ws?token={t}"),
            None => format!("ws://{addr}/ws"),
        };
        Client::try_connect_request(url)
    }

    /// Connects with a request the caller built (extra headers, such as `Authorization`).
    pub fn try_connect_request(
        request: impl tungstenite::client::IntoClientRequest,
    ) -> Result<Client, tungstenite::Error> {
        let (ws, _) = tungstenite::connect(request)?;
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
        }
        let mut client = Client {
            ws,
            next_id: 1,
            confirmed: Value::Null,
            snapshots: false,
        };
        client.confirmed = client.expect("connection_confirmed");
        Ok(client)
    }

    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).unwrap();
    }

    /// Sends an op with a fresh id and returns the reply (`ack`, `pong` or `error`) frame.
    pub fn op(&mut self, mut op: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        op["id"] = id.into();
        self.send_text(&op.to_string());
        self.next_where(&format!("reply to op {id}"), WAIT, |f| f["id"] == id)
    }

    /// The next frame of any kind, or None after `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    let frame: Value = serde_json::from_str(&t).expect("server sent invalid JSON");
                    if frame["snapshot"] == true && !self.snapshots {
                        continue;
                    }
                    return Some(frame);
                }
                Ok(Message::Close(frame)) => panic!("the server closed the session: {frame:?}"),
                Ok(_) => continue,
                Err(e) if read_timed_out(&e) => continue,
                Err(e) => panic!("WebSocket read failed: {e}"),
            }
        }
        None
    }

    /// Reads until the server closes the connection; returns the close code and reason.
    pub fn expect_close(&mut self) -> (u16, String) {
        self.read_until_close().1
    }

    /// Every message the server sends until it closes the connection (pings and pongs
    /// included), then the close code and reason.
    pub fn read_until_close(&mut self) -> (Vec<Message>, (u16, String)) {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Close(Some(frame))) => {
                    return (seen, (frame.code.into(), frame.reason.to_string()))
                }
                Ok(Message::Close(None)) => return (seen, (1005, String::new())),
                Ok(message) => seen.push(message),
                Err(e) if read_timed_out(&e) => continue,
                Err(e) => panic!("connection ended without a close frame: {e}"),
            }
        }
        panic!(
            "timed out waiting for the server to close; it sent {} messages, the last {:?}",
            seen.len(),
            seen.last()
        );
    }

    /// Sends a message or a raw frame as it is: tungstenite checks neither the UTF-8 nor the
    /// fragmentation of raw frames. An error once the server has closed is for the caller.
    pub fn send_raw(&mut self, message: Message) -> tungstenite::Result<()> {
        self.ws.send(message)
    }

    /// Every text frame, with the wall-clock time it arrived, until the server closes; then the
    /// close code and reason.
    pub fn frames_until_close(
        &mut self,
        timeout: Duration,
    ) -> (Vec<(std::time::SystemTime, Value)>, (u16, String)) {
        let deadline = Instant::now() + timeout;
        let mut frames = Vec::new();
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Text(t)) => frames.push((
                    std::time::SystemTime::now(),
                    serde_json::from_str(&t).expect("server sent invalid JSON"),
                )),
                Ok(Message::Close(Some(frame))) => {
                    return (frames, (frame.code.into(), frame.reason.to_string()))
                }
                Ok(Message::Close(None)) => return (frames, (1005, String::new())),
                Ok(_) => continue,
                Err(e) if read_timed_out(&e) => continue,
                Err(e) => panic!("connection ended without a close frame: {e}"),
            }
        }
        panic!("timed out waiting for the server to close; saw {frames:?}");
    }

    /// Skips frames until one satisfies `pred`; panics after `timeout`.
    pub fn next_where(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}");
            if let Some(frame) = self.recv(left) {
                if pred(&frame) {
                    return frame;
                }
            }
        }
    }

    /// The next frame with this event name (other events are skipped).
    pub fn expect(&mut self, event: &str) -> Value {
        self.next_where(event, WAIT, |f| f["event"] == event)
    }

    /// Collects every frame until one satisfies `pred` (the sentinel), returning those before it.
    pub fn frames_until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; saw {seen:?}"
            );
            if let Some(frame) = self.recv(left) {
                if pred(&frame) {
                    return seen;
                }
                seen.push(frame);
            }
        }
    }
}

/// `tickrouter check` with these settings (TOML), without the caller's Redis environment:
/// its exit code and report.
pub fn check_config(toml: &str) -> (Option<i32>, String) {
    let config = std::env::temp_dir().join(format!("tickrouter-check-{}.toml", free_port()));
    std::fs::write(&config, toml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickrouter"))
        .args(["check", "--config"])
        .arg(&config)
        .env_remove("REDIS_URL")
        .env_remove("REDIS_HOST")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&config);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

pub fn token(user: &str) -> String {
    tickrouter::auth::issue_token(SECRET, user, &[], 300)
}

/// Calls the HTTP API as `user` (no Authorization header when `None`); the body parsed as JSON.
pub fn api(
    app: &App,
    method: &str,
    path: &str,
    user: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let bearer = user.map(|u| format!("Bearer {}", token(u)));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("Authorization", b.as_str()))
        .collect();
    raw_api(
        app,
        method,
        path,
        &headers,
        body.map(Value::to_string).as_deref(),
    )
}

pub fn raw_api(
    app: &App,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Value) {
    let (status, text) = http_request(app.addr, method, path, headers, body);
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"))
    };
    (status, value)
}

/// A subscription to one channel, read with a timeout.
pub struct Listener {
    pubsub: redis::PubSub<'static>,
}

impl Listener {
    pub fn on(redis: &Redis, channel: &str) -> Listener {
        // The connection must outlive the PubSub borrowing it; a test-long leak is fine.
        let conn: &'static mut redis::Connection = Box::leak(Box::new(redis.conn()));
        let mut pubsub = conn.as_pubsub();
        pubsub.subscribe(channel).unwrap();
        pubsub
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Listener { pubsub }
    }

    pub fn next(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            match self.pubsub.get_message() {
                Ok(msg) => {
                    let text: String = msg.get_payload().unwrap();
                    return Some(serde_json::from_str(&text).unwrap());
                }
                Err(e) if e.is_timeout() => continue,
                Err(e) => panic!("subscription failed: {e}"),
            }
        }
        None
    }
}
