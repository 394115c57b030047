//! The WebSocket clients: connect, speak the server's protocol until the client is ready, then
//! read every frame and record the latency of each send timestamp in it.
//!
//! tickrouter's protocol: wait for `connection_confirmed`, send the client's ops (each with an
//! `id`), and count the client as ready only once every op got its `ack` (or `pong`); an `error`
//! reply fails the client. Socket.IO v4 and webdis are spoken too, so the same client can
//! measure the peers (webdis, Flask-SocketIO, Node Socket.IO) as the shared load generator
//! does (docs/GLOSSARY.md#peers-shared-bench; results in BENCHMARKS.md#issue-7-fan-out-scenarios-side-by-side-with-the-peers).

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use memchr::memmem;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::record;
use crate::scan::Scanner;

pub type Ws = WebSocketStream<TcpStream>;

/// How a client talks to the server until it is ready.
#[derive(Debug, Clone)]
pub enum Protocol {
    /// tickrouter: these ops (JSON text, each with a distinct `id`), one reply awaited per op.
    Tickrouter { ops: Vec<String> },
    /// Socket.IO v4 over the websocket transport only (Engine.IO open packet, `40`, pings).
    SocketIo,
    /// Send `init`, then wait for a frame containing `ready` (webdis: its SUBSCRIBE answer).
    Webdis { init: String, ready: String },
}

#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Full URL, token included.
    pub url: String,
    pub protocol: Protocol,
    /// When set, every frame that carries a timestamp must also contain these bytes (the
    /// addressed user), or it counts as misrouted.
    pub marker: Option<Vec<u8>>,
    /// Connects and becomes ready, then never reads again.
    pub stall: bool,
}

/// State shared by every client task and the measuring thread.
pub struct Shared {
    pub scanner: Scanner,
    pub ready: AtomicUsize,
    pub failed: AtomicUsize,
    pub disconnects: AtomicUsize,
    pub misrouted: AtomicU64,
    /// Set once a measurement is over: disconnects after it are not errors.
    pub stopping: AtomicBool,
    /// The stalled client's socket, to watch its TCP state (-1: none).
    pub stalled_fd: AtomicI32,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    pub fn new(scan_key: &[u8]) -> Self {
        Shared {
            scanner: Scanner::new(scan_key),
            ready: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            disconnects: AtomicUsize::new(0),
            misrouted: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            stalled_fd: AtomicI32::new(-1),
            first_error: Mutex::new(None),
        }
    }

    pub fn note_error(&self, e: String) {
        let mut g = self.first_error.lock().unwrap();
        if g.is_none() {
            *g = Some(e);
        }
    }

    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().unwrap().clone()
    }

    fn lost(&self, i: usize, why: String) {
        if !self.stopping.load(Relaxed) {
            self.note_error(format!("client {i}: {why}"));
            self.disconnects.fetch_add(1, Relaxed);
        }
    }
}

/// Whether the stalled client's connection is over (the server sent FIN or RST), from the
/// client socket's TCP state; `None` when there is no stalled client.
pub fn stalled_connection_closed(sh: &Shared) -> Option<bool> {
    let fd = sh.stalled_fd.load(Relaxed);
    if fd < 0 {
        return None;
    }
    Some(tcp_closed(fd))
}

/// Whether the server is done with the connection on client socket `fd` (FIN or RST received),
/// read from its TCP state without reading the socket. `fd` must stay open while this runs.
pub fn tcp_closed(fd: i32) -> bool {
    // SAFETY: getsockopt writes at most `len` bytes into a zeroed, properly sized struct; the
    // caller keeps the socket open.
    let state = unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        if rc != 0 {
            return true;
        }
        info.tcpi_state
    };
    // 1 = ESTABLISHED; CLOSE_WAIT (8, FIN received) and CLOSE (7, reset) mean the server is done.
    state != 1
}

async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | None => return Err("closed during handshake".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("read during handshake: {e}")),
        }
    }
}

async fn send(ws: &mut Ws, text: &str) -> Result<(), String> {
    ws.send(Message::text(text.to_owned()))
        .await
        .map_err(|e| format!("send: {e}"))
}

/// Opens the TCP connection and the WebSocket, then speaks the protocol until ready.
async fn connect(spec: &ClientSpec, sh: &Shared) -> Result<Ws, String> {
    connect_with(spec, sh, None).await
}

/// `connect`, with the client socket's receive buffer set to `rcvbuf` bytes before the
/// handshake (the kernel doubles it and applies its floor). A small buffer makes a client that
/// stops reading look stalled to the server after a few frames, instead of after the megabytes
/// that loopback autotuning would otherwise absorb.
pub async fn connect_with(
    spec: &ClientSpec,
    sh: &Shared,
    rcvbuf: Option<u32>,
) -> Result<Ws, String> {
    let mut req = spec
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("bad url {}: {e}", spec.url))?;
    // Browsers send an Origin; webdis 0.1.9 never answers an upgrade without one.
    req.headers_mut()
        .insert("Origin", HeaderValue::from_static("http://127.0.0.1"));
    let uri = req.uri();
    let host = uri.host().unwrap_or("127.0.0.1").to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let addr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("no address for {host}"))?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| e.to_string())?;
    if let Some(bytes) = rcvbuf {
        // Before connect, so the window advertised in the SYN is already the small one.
        socket
            .set_recv_buffer_size(bytes)
            .map_err(|e| format!("SO_RCVBUF: {e}"))?;
    }
    let tcp = socket
        .connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    if spec.stall {
        sh.stalled_fd.store(tcp.as_raw_fd(), Relaxed);
    }
    // tungstenite zero-fills its read buffer before every read: 4 KiB keeps that cheap
    // (loadgen measured ~4 us per delivery in memset with the 64 KiB default).
    let cfg = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(req, tcp, Some(cfg))
        .await
        .map_err(|e| format!("upgrade {}: {e}", spec.url))?;
    match &spec.protocol {
        Protocol::Tickrouter { ops } => {
            for op in ops {
                send(&mut ws, op).await?;
            }
            let mut replies = 0;
            while replies < ops.len() {
                let t = next_text(&mut ws).await?;
                if t.starts_with(r#"{"event":"ack""#) || t.starts_with(r#"{"event":"pong""#) {
                    replies += 1;
                } else if t.starts_with(r#"{"event":"error""#) {
                    return Err(format!("op refused: {t:.200}"));
                } else {
                    record::record_frame(&sh.scanner, t.as_bytes());
                }
            }
        }
        Protocol::SocketIo => {
            let open = next_text(&mut ws).await?;
            if !open.starts_with('0') {
                return Err(format!("expected an Engine.IO open packet, got {open:.80}"));
            }
            send(&mut ws, "40").await?;
            loop {
                let t = next_text(&mut ws).await?;
                if t.starts_with("40") {
                    break;
                } else if t == "2" {
                    send(&mut ws, "3").await?;
                } else if t.starts_with("44") {
                    return Err(format!("Socket.IO connect error: {t:.120}"));
                }
            }
        }
        Protocol::Webdis { init, ready } => {
            send(&mut ws, init).await?;
            loop {
                let t = next_text(&mut ws).await?;
                if t.contains(ready.as_str()) {
                    break;
                }
            }
        }
    }
    Ok(ws)
}

/// One client, from connect to the end of the process (the caller aborts the task).
pub async fn client_task(
    i: usize,
    spec: ClientSpec,
    sh: Arc<Shared>,
    sem: Arc<Semaphore>,
    connect_timeout: Duration,
    received: Arc<[AtomicU64]>,
) {
    let permit = sem.acquire().await.expect("semaphore");
    let res = tokio::time::timeout(connect_timeout, connect(&spec, &sh)).await;
    drop(permit);
    let mut ws = match res {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            sh.note_error(format!("client {i}: {e}"));
            sh.failed.fetch_add(1, Relaxed);
            return;
        }
        Err(_) => {
            sh.note_error(format!("client {i}: not ready within {connect_timeout:?}"));
            sh.failed.fetch_add(1, Relaxed);
            return;
        }
    };
    sh.ready.fetch_add(1, Relaxed);
    if spec.stall {
        // Hold the connection open and never read from it again.
        std::future::pending::<()>().await;
        drop(ws);
        return;
    }
    let socketio = matches!(spec.protocol, Protocol::SocketIo);
    let marker = spec.marker.as_deref().map(memmem::Finder::new);
    let mut mine = 0u64;
    loop {
        let frame = match ws.next().await {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Binary(b))) => {
                mine += record::record_frame(&sh.scanner, &b);
                received[i].store(mine, Relaxed);
                continue;
            }
            Some(Ok(Message::Close(_))) | None => return sh.lost(i, "closed by the server".into()),
            Some(Ok(_)) => continue, // ping/pong: tungstenite answers pings itself
            Some(Err(e)) => return sh.lost(i, e.to_string()),
        };
        let b = frame.as_bytes();
        if socketio {
            if b == b"2" {
                if let Err(e) = send(&mut ws, "3").await {
                    return sh.lost(i, e);
                }
                continue;
            }
            if b.starts_with(b"41") {
                return sh.lost(i, "Socket.IO disconnect packet".into());
            }
        }
        let n = record::record_frame(&sh.scanner, b);
        if n > 0 {
            mine += n;
            received[i].store(mine, Relaxed);
            if let Some(m) = &marker {
                if m.find(b).is_none() {
                    sh.misrouted.fetch_add(n, Relaxed);
                }
            }
        }
    }
}
