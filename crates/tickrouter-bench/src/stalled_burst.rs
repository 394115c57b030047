//! Scenario `stalled-burst`: do sessions that stop reading get closed when the load that
//! stalled them was a short burst?
//!
//! N clients subscribe to `alerts` and then stop reading from their sockets (a small SO_RCVBUF,
//! so the kernel absorbs only a few frames). A burst of about 2 KB critical alerts is published
//! on `tickstock:alerts:critical`, lasting well under `slow_consumer_grace_ms`. Then nothing
//! more is published while the server's memory, `sessions.active`, `slow_consumer_closes` and
//! the clients' TCP states are sampled every 250 ms for grace + 10 s. Finally every client reads
//! again, until the close frame, a reset, end of stream, or `--read-timeout`: a client that was
//! cut off learns it then. One JSON line; every wait has a deadline, and a watchdog ends the
//! process with an `error` line if the whole run overstays `--timeout`.

use std::io::Write as _;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::clients::{self, ClientSpec, Protocol, Shared};
use crate::procstat::{self, ProcSample};
use crate::publisher::{self, Payload, Plan};
use crate::run::round;
use crate::scenarios::{self, Options};
use crate::servers::{self, ServerOpts, Servers};
use tickrouter::domain::redis_names::channel as channels;

pub const NAME: &str = "stalled-burst";

/// The scenario's own settings (the rest comes from the common `Options`).
#[derive(Debug, Clone)]
pub struct Burst {
    /// The server's `session.slow_consumer_grace_ms`.
    pub grace_ms: u64,
    /// Alerts in the burst.
    pub alerts: u64,
    /// Size of each published alert.
    pub alert_bytes: usize,
    /// Alerts per second; 0 = as fast as Redis takes them.
    pub rate: f64,
    /// SO_RCVBUF of every client socket, bytes.
    pub rcvbuf: u32,
    /// Seconds of sampling after the burst (default: grace + 10 s).
    pub observe_s: Option<f64>,
    pub sample_ms: u64,
    /// How long each client may read, at the end, before it counts as still open.
    pub read_timeout_s: f64,
    /// Hard bound on the whole run.
    pub timeout_s: f64,
}

/// A critical alert of about `bytes` bytes in the nested (Sprint 40) shape; the message names
/// the alert's number and send time.
pub struct CriticalAlert {
    pub bytes: usize,
}

impl Payload for CriticalAlert {
    fn build(&mut self, seq: u64, sent_ns: u64, out: &mut Vec<u8>) {
        out.clear();
        let _ = write!(
            out,
            r#"{{"alert":{{"type":"HIGH_LAG","severity":"critical","message":"burst alert {seq} sent_ns {sent_ns} "#
        );
        // `"}}` closes the message, the alert and the envelope.
        let pad = self.bytes.saturating_sub(out.len() + 3);
        out.resize(out.len() + pad, b'x');
        out.extend_from_slice(br#""}}"#);
    }
}

/// How one client's connection ended once it read again.
#[derive(Debug, Default)]
struct Outcome {
    connected: bool,
    /// "close_frame", "reset", "eof" (no close frame), "error", "still_open", "not_connected".
    end: &'static str,
    detail: Option<String>,
    frames_after_resume: u64,
}

#[allow(clippy::too_many_arguments)]
async fn stalled_client(
    spec: ClientSpec,
    sh: Arc<Shared>,
    sem: Arc<Semaphore>,
    connect_timeout: Duration,
    rcvbuf: u32,
    fd: Arc<[AtomicI32]>,
    i: usize,
    ready: Arc<AtomicUsize>,
    mut resume: watch::Receiver<Option<Duration>>,
) -> Outcome {
    let permit = sem.acquire().await.expect("semaphore");
    let res = tokio::time::timeout(
        connect_timeout,
        clients::connect_with(&spec, &sh, Some(rcvbuf)),
    )
    .await;
    drop(permit);
    let mut ws = match res {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            ready.fetch_add(1, Relaxed);
            return Outcome {
                end: "not_connected",
                detail: Some(e),
                ..Outcome::default()
            };
        }
        Err(_) => {
            ready.fetch_add(1, Relaxed);
            return Outcome {
                end: "not_connected",
                detail: Some(format!("not ready within {connect_timeout:?}")),
                ..Outcome::default()
            };
        }
    };
    {
        use std::os::fd::AsRawFd;
        fd[i].store(ws.get_ref().as_raw_fd(), Relaxed);
    }
    ready.fetch_add(1, Relaxed);
    // Stalled: nothing polls the socket until the measurement says so.
    let read_for = loop {
        if let Some(d) = *resume.borrow_and_update() {
            break d;
        }
        if resume.changed().await.is_err() {
            break Duration::ZERO;
        }
    };
    let mut out = Outcome {
        connected: true,
        end: "still_open",
        ..Outcome::default()
    };
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => {
                    out.end = "close_frame";
                    out.detail = Some(match frame {
                        Some(f) => format!("{} {}", u16::from(f.code), f.reason.as_str()),
                        None => "(no code)".into(),
                    });
                    return;
                }
                Some(Ok(Message::Text(_) | Message::Binary(_))) => out.frames_after_resume += 1,
                Some(Ok(_)) => {}
                None => {
                    out.end = "eof";
                    return;
                }
                Some(Err(e)) => {
                    use tungstenite::error::ProtocolError::ResetWithoutClosingHandshake;
                    out.end = match &e {
                        tungstenite::Error::Io(io)
                            if io.kind() == std::io::ErrorKind::ConnectionReset =>
                        {
                            "reset"
                        }
                        tungstenite::Error::Protocol(ResetWithoutClosingHandshake) => "eof",
                        _ => "error",
                    };
                    out.detail = Some(e.to_string());
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(read_for, read).await;
    fd[i].store(-1, Relaxed);
    out
}

/// One sample after the burst.
struct Sample {
    t: f64,
    rss_mb: Option<f64>,
    active: Option<u64>,
    closes: Option<u64>,
    routed: Option<u64>,
    tcp_closed: usize,
}

fn max(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn mb(kb: u64) -> f64 {
    round(kb as f64 / 1024.0, 1)
}

fn stat(v: &Option<Value>, path: &[&str]) -> Option<u64> {
    let v = v.as_ref()?;
    path.iter().fold(v, |v, k| &v[*k]).as_u64()
}

/// Prints an error line and ends the process if the run is still going after `timeout_s`
/// (children die with it: `servers` starts them with PR_SET_PDEATHSIG).
fn watchdog(timeout_s: f64, label: Option<String>) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(timeout_s));
        let mut m = Map::new();
        m.insert("scenario".into(), json!(NAME));
        m.insert(
            "error".into(),
            json!(format!("timeout: the run took more than {timeout_s} s")),
        );
        if let Some(l) = label {
            m.insert("label".into(), json!(l));
        }
        println!("{}", Value::Object(m));
        std::process::exit(3);
    });
}

pub fn run(
    opts: &Options,
    b: &Burst,
    quiet_wait_s: f64,
    label: Option<String>,
) -> Result<Map<String, Value>, String> {
    watchdog(b.timeout_s, label);
    if quiet_wait_s > 0.0 {
        scenarios::wait_quiet(0.3, quiet_wait_s);
    }
    let n = opts.clients.unwrap_or(1000);
    let instances = opts.instances.max(1);
    let config = Some(format!(
        "{}[session]\nslow_consumer_grace_ms = {}\n",
        scenarios::config_for(n.div_ceil(instances)),
        b.grace_ms
    ));
    let servers = Servers::start(&ServerOpts {
        kind: opts.server.clone(),
        instances,
        config: config.clone(),
        cluster: opts.redis_cluster,
    })?;
    let mut out = scenarios::header(0, opts, &servers, &config);
    out.insert("scenario".into(), json!(NAME));
    let observe_s = b.observe_s.unwrap_or(b.grace_ms as f64 / 1000.0 + 10.0);
    out.insert("grace_ms".into(), json!(b.grace_ms));
    out.insert("rcvbuf_bytes".into(), json!(b.rcvbuf));
    out.insert("alert_bytes".into(), json!(b.alert_bytes));
    out.insert("observe_s".into(), json!(observe_s));
    let target = scenarios::target_of(&servers);
    let rss = || ProcSample::read_all(&target.server_pids).map(|s| mb(s.rss_kb));
    let stats = || servers::stats_sum(&target.stats);
    std::thread::sleep(Duration::from_secs_f64(opts.settle));
    let rss_empty = rss();
    out.insert("rss_before_connect_mb".into(), json!(rss_empty));

    // Connect and stall.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let sh = Arc::new(Shared::new(b"\"sent_ns\""));
    let sem = Arc::new(Semaphore::new(opts.connect_concurrency.max(1)));
    let fds: Arc<[AtomicI32]> = (0..n).map(|_| AtomicI32::new(-1)).collect();
    let ready = Arc::new(AtomicUsize::new(0));
    let (resume_tx, resume_rx) = watch::channel(None);
    let urls = servers.ws_urls();
    let connect_timeout = Duration::from_secs_f64(opts.connect_timeout);
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let spec = ClientSpec {
                url: urls[i % urls.len()].clone(),
                protocol: Protocol::Tickrouter {
                    ops: vec![r#"{"op":"subscribe","id":1,"topics":["alerts"]}"#.into()],
                },
                marker: None,
                stall: true,
            };
            rt.spawn(stalled_client(
                spec,
                sh.clone(),
                sem.clone(),
                connect_timeout,
                b.rcvbuf,
                fds.clone(),
                i,
                ready.clone(),
                resume_rx.clone(),
            ))
        })
        .collect();
    let deadline = start + connect_timeout + Duration::from_secs(2);
    while ready.load(Relaxed) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let connected = fds.iter().filter(|f| f.load(Relaxed) >= 0).count();
    out.insert("clients".into(), json!(n));
    out.insert("connected".into(), json!(connected));
    out.insert(
        "ramp_s".into(),
        json!(round(start.elapsed().as_secs_f64(), 2)),
    );
    eprintln!("tickrouter-bench: {connected}/{n} stalled clients subscribed to alerts");
    std::thread::sleep(Duration::from_secs_f64(opts.settle));
    let rss_idle = rss();
    out.insert("rss_idle_mb".into(), json!(rss_idle));
    if let (Some(idle), Some(empty), true) = (rss_idle, rss_empty, connected > 0) {
        out.insert(
            "rss_per_conn_kb".into(),
            json!(round((idle - empty) * 1024.0 / connected as f64, 1)),
        );
    }
    let s0 = stats();
    out.insert(
        "sessions_active_before".into(),
        json!(stat(&s0, &["sessions", "active"])),
    );

    // The burst, with the server's memory sampled every 50 ms while it lasts.
    let tck = procstat::clk_tck();
    let (host0, procs0) = (procstat::host_ticks(), procstat::all_procs());
    let cpu0 = ProcSample::read_all(&target.server_pids);
    let plan = Plan {
        redis_url: target.redis_url.clone(),
        channel: channels::CRITICAL_ALERTS.into(),
        rate: b.rate,
        total: b.alerts,
    };
    let mut payload = CriticalAlert {
        bytes: b.alert_bytes,
    };
    let mut burst_peak: Option<f64> = None;
    let published = std::thread::scope(|s| {
        let h = s.spawn(|| publisher::publish(&plan, &mut payload));
        while !h.is_finished() {
            burst_peak = max(burst_peak, rss());
            std::thread::sleep(Duration::from_millis(50));
        }
        h.join().expect("publisher panicked")
    });
    let burst_end = Instant::now();
    burst_peak = max(burst_peak, rss());
    out.insert("alerts".into(), json!(published.published));
    out.insert(
        "burst_s".into(),
        json!(round(published.elapsed.as_secs_f64(), 3)),
    );
    if let Some(avg) = published.receivers_avg() {
        out.insert("redis_receivers_avg".into(), json!(round(avg, 2)));
    }
    out.insert("rss_peak_during_burst_mb".into(), json!(burst_peak));

    // After the burst: nothing published; sample until grace + 10 s.
    let closed_now = || {
        fds.iter()
            .map(|f| f.load(Relaxed))
            .filter(|&fd| fd >= 0 && clients::tcp_closed(fd))
            .count()
    };
    let mut samples = Vec::new();
    let step = Duration::from_millis(b.sample_ms.max(10));
    let mut k = 0u32;
    loop {
        let t = burst_end.elapsed().as_secs_f64();
        let s = stats();
        if samples.is_empty() {
            // The server answers /stats late while it is still working through the burst.
            out.insert(
                "first_stats_after_s".into(),
                json!(round(burst_end.elapsed().as_secs_f64(), 2)),
            );
        }
        samples.push(Sample {
            t,
            rss_mb: rss(),
            active: stat(&s, &["sessions", "active"]),
            closes: stat(&s, &["sessions", "slow_consumer_closes"]),
            routed: stat(&s, &["events", "routed"]),
            tcp_closed: closed_now(),
        });
        // The next tick still ahead: a slow /stats answer skips ticks rather than bunching them.
        let ticks = (burst_end.elapsed().as_secs_f64() / step.as_secs_f64()).floor() as u32;
        k = (k + 1).max(ticks + 1);
        let next = burst_end + step * k;
        if next.duration_since(burst_end).as_secs_f64() > observe_s {
            break;
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let s1 = stats();
    let cpu1 = ProcSample::read_all(&target.server_pids);
    let (host1, procs1) = (procstat::host_ticks(), procstat::all_procs());
    let window = burst_end.elapsed().as_secs_f64() + published.elapsed.as_secs_f64();

    let last = samples.last().expect("one sample at least");
    let routed0 = stat(&s0, &["events", "routed"]).unwrap_or(0);
    out.insert(
        "all_routed_after_s".into(),
        json!(samples
            .iter()
            .find(|s| s.routed.is_some_and(|r| r >= routed0 + published.published))
            .map(|s| round(s.t, 2))),
    );
    let zero_at = samples.iter().find(|s| s.active == Some(0)).map(|s| s.t);
    // When `sessions.active` took the value it ended at, for good.
    let settled_at = samples
        .iter()
        .rposition(|s| s.active != last.active)
        .map_or(0.0, |i| samples[i + 1].t);
    out.insert(
        "sessions_active_zero_after_s".into(),
        json!(zero_at.map(|t| round(t, 2))),
    );
    out.insert("sessions_active_end".into(), json!(last.active));
    out.insert(
        "sessions_settled_after_s".into(),
        json!(round(settled_at, 2)),
    );
    let delta = |path: &[&str]| match (stat(&s0, path), stat(&s1, path)) {
        (Some(a), Some(b)) => json!(b.saturating_sub(a)),
        _ => Value::Null,
    };
    out.insert(
        "slow_consumer_closes".into(),
        delta(&["sessions", "slow_consumer_closes"]),
    );
    out.insert("frames_shed".into(), delta(&["sessions", "frames_shed"]));
    out.insert("delivered".into(), delta(&["events", "delivered"]));
    out.insert("routed".into(), delta(&["events", "routed"]));
    out.insert("dropped".into(), delta(&["events", "dropped"]));
    out.insert("client_sockets_closed_end".into(), json!(last.tcp_closed));
    out.insert(
        "client_sockets_all_closed_after_s".into(),
        json!(samples
            .iter()
            .find(|s| connected > 0 && s.tcp_closed >= connected)
            .map(|s| round(s.t, 2))),
    );
    out.insert("rss_end_mb".into(), json!(last.rss_mb));
    out.insert(
        "rss_max_after_burst_mb".into(),
        json!(samples.iter().filter_map(|s| s.rss_mb).reduce(f64::max)),
    );
    out.insert(
        "rss_hwm_mb".into(),
        json!(ProcSample::read_all(&target.server_pids).map(|s| mb(s.hwm_kb))),
    );
    out.insert(
        "samples_fields".into(),
        json!([
            "t_s",
            "rss_mb",
            "sessions_active",
            "slow_consumer_closes",
            "routed",
            "client_sockets_closed"
        ]),
    );
    out.insert(
        "samples".into(),
        Value::Array(
            samples
                .iter()
                .map(|s| {
                    json!([
                        round(s.t, 2),
                        s.rss_mb,
                        s.active,
                        s.closes,
                        s.routed,
                        s.tcp_closed
                    ])
                })
                .collect(),
        ),
    );
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        out.insert(
            "server_cpu_s".into(),
            json!(round(b.ticks.saturating_sub(a.ticks) as f64 / tck, 2)),
        );
    }
    if let (Some(h0), Some(h1)) = (host0, host1) {
        out.insert(
            "steal_s".into(),
            json!(round(h1.steal.saturating_sub(h0.steal) as f64 / tck, 2)),
        );
        let mut ours = vec![std::process::id() as i32];
        ours.extend(&target.server_pids);
        ours.extend(&target.redis_pids);
        let (other, _) = procstat::others_delta(&procs0, &procs1, &ours, tck);
        out.insert(
            "other_cores".into(),
            json!(round(other / window.max(1e-9), 2)),
        );
    }

    // Every client reads again: how does it learn its fate?
    let _ = resume_tx.send(Some(Duration::from_secs_f64(b.read_timeout_s)));
    let outcomes: Vec<Outcome> = rt.block_on(async {
        let mut v = Vec::with_capacity(tasks.len());
        for t in tasks {
            v.push(t.await.unwrap_or_default());
        }
        v
    });
    let mut ends = Map::new();
    let mut reasons = Map::new();
    for o in outcomes.iter().filter(|o| o.connected) {
        let e = ends.entry(o.end).or_insert(json!(0));
        *e = json!(e.as_u64().unwrap_or(0) + 1);
        if let Some(d) = &o.detail {
            let r = reasons.entry(format!("{}: {d}", o.end)).or_insert(json!(0));
            *r = json!(r.as_u64().unwrap_or(0) + 1);
        }
    }
    out.insert("client_ends".into(), Value::Object(ends));
    out.insert("client_end_details".into(), Value::Object(reasons));
    let frames: Vec<u64> = outcomes.iter().map(|o| o.frames_after_resume).collect();
    out.insert(
        "frames_read_after_resume".into(),
        json!({"total": frames.iter().sum::<u64>(), "min": frames.iter().min(),
               "max": frames.iter().max()}),
    );
    out.insert("error".into(), json!(sh.first_error()));
    rt.shutdown_background();
    drop(servers);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_is_a_critical_alert_of_the_asked_size() {
        let mut out = Vec::new();
        CriticalAlert { bytes: 2048 }.build(7, 123, &mut out);
        assert_eq!(out.len(), 2048);
        let v: Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(v["alert"]["severity"], "critical");
        assert!(v["alert"]["message"]
            .as_str()
            .unwrap()
            .starts_with("burst alert 7 sent_ns 123 "));
    }
}
