//! The issue-7 scenarios, each one command, and the search for the highest loss-free rate.
//!
//! Every scenario starts its own redis-server and tickrouter (`servers`), connects its clients,
//! runs its phases (`run`) and returns one JSON object. Prices go to clients that subscribed to
//! `symbol:BENCH` (the send time rides in `volume`); per-user events are `dashboard_alert`s with a
//! `user_id` (or, with `--event backtest`, backtest progress of jobs whose owner record exists).
//! The `stalled-burst` scenario lives in `stalled_burst.rs` and starts its servers the same way,
//! with `config_for`, `header` and `target_of` from here.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::clients::{ClientSpec, Protocol};
use crate::publisher::{self, Payload};
use crate::run::{round, Bench, PhasePlan, Target};
use crate::servers::{self, ServerKind, ServerOpts, Servers};
use tickrouter::domain::redis_names::channel as channels;

pub const SYMBOL: &str = "BENCH";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UserEvent {
    /// `dashboard_alert` with a `user_id` on tickstock.dashboard.alerts (Market handler).
    Alert,
    /// `backtest_progress` on tickstock.events.backtesting.progress (Backtest handler, owner
    /// read once per job from tickstock:jobs:{id}).
    Backtest,
}

/// Settings common to every scenario; `None` means the scenario's own default.
#[derive(Debug, Clone)]
pub struct Options {
    pub clients: Option<usize>,
    pub rate: Option<f64>,
    pub duration: Option<f64>,
    pub instances: usize,
    pub threads: usize,
    pub settle: f64,
    pub drain: f64,
    pub payload_bytes: usize,
    pub server: ServerKind,
    pub event: UserEvent,
    pub stall_duration: f64,
    pub messages: Option<u64>,
    pub connect_concurrency: usize,
    pub connect_timeout: f64,
    /// A 3-master Redis Cluster instead of one redis-server.
    pub redis_cluster: bool,
    /// More settings for every instance (TOML), after the scenario's own.
    pub server_toml: Option<String>,
}

/// What a scenario runs by default.
pub struct Defaults {
    pub clients: usize,
    pub rate: f64,
    pub duration: f64,
}

pub fn defaults(scenario: u8) -> Defaults {
    let (clients, rate, duration) = match scenario {
        1 => (100, 1000.0, 10.0),
        2 => (1000, 100.0, 10.0),
        3 => (10_000, 10.0, 10.0),
        4 => (2000, 5000.0, 10.0),
        5 => (100, 1000.0, 10.0),
        _ => (0, 0.0, 0.0),
    };
    Defaults {
        clients,
        rate,
        duration,
    }
}

fn subscribe_op() -> String {
    format!(r#"{{"op":"subscribe","id":1,"topics":["symbol:{SYMBOL}"]}}"#)
}

pub(crate) fn price_watchers(urls: &[String], n: usize, stall: bool) -> Vec<ClientSpec> {
    (0..n)
        .map(|i| ClientSpec {
            url: urls[i % urls.len()].clone(),
            protocol: Protocol::Tickrouter {
                ops: vec![subscribe_op()],
            },
            marker: None,
            stall,
        })
        .collect()
}

pub(crate) fn price_payload(bytes: usize) -> publisher::PriceUpdate {
    publisher::PriceUpdate {
        symbol: SYMBOL.into(),
        bytes,
    }
}

/// The tickrouter config the scenario needs beyond the defaults.
pub(crate) fn config_for(clients_per_instance: usize) -> String {
    // The default session limit is 10,000; scenario 3 holds exactly that many plus headroom.
    // Every client of the load generator comes from one address (plus one probe connection),
    // so beyond the default per-address limit of 1,000 that address may hold them all. Each key
    // is written only when its default would bind, so server binaries older than the key (A/B
    // campaigns) still run the scenarios that do not need it.
    let max = (clients_per_instance + 1000).max(10_000);
    let mut server = String::from("[server]\n");
    if clients_per_instance >= 9_000 {
        server.push_str(&format!("max_sessions = {max}\n"));
    }
    if clients_per_instance + 1 > 1_000 {
        server.push_str(&format!("max_sessions_per_address = {max}\n"));
    }
    server
}

pub(crate) fn header(
    scenario: u8,
    opts: &Options,
    servers: &Servers,
    config: &Option<String>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("scenario".into(), json!(scenario));
    m.insert(
        "date".into(),
        json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    m.insert("loadavg_1m".into(), json!(crate::procstat::loadavg()));
    m.insert("instances".into(), json!(opts.instances));
    m.insert("redis_cluster".into(), json!(opts.redis_cluster));
    m.insert("nofile".into(), json!(crate::procstat::nofile()));
    m.insert(
        "server".into(),
        json!(if servers.is_in_process() {
            "in-process"
        } else {
            "release binary"
        }),
    );
    m.insert("config".into(), json!(config));
    m
}

pub(crate) fn target_of(servers: &Servers) -> Target {
    Target {
        redis_url: servers.redis_url(),
        server_pids: servers.server_pids(),
        redis_pids: servers.redis_pids(),
        stats: servers.addrs(),
    }
}

pub(crate) fn plan(
    channel: &str,
    rate: f64,
    duration: f64,
    per_msg: f64,
    opts: &Options,
) -> PhasePlan {
    PhasePlan {
        channel: channel.into(),
        rate,
        total: (rate * duration).round().max(1.0) as u64,
        expect_per_msg: per_msg,
        settle: Duration::from_secs_f64(opts.settle),
        drain: Duration::from_secs_f64(opts.drain),
        watch_stall: false,
        stall_deadline_s: 0.0,
        started: None,
    }
}

/// Runs scenario 1 to 6 once and returns its JSON object.
pub fn run(scenario: u8, opts: &Options) -> Result<Map<String, Value>, String> {
    if !(1..=6).contains(&scenario) {
        return Err(format!("no scenario {scenario}: 1 to 6"));
    }
    let d = defaults(scenario);
    let clients = opts.clients.unwrap_or(d.clients);
    let rate = opts.rate.unwrap_or(d.rate);
    let duration = opts.duration.unwrap_or(d.duration);
    let instances = opts.instances.max(1);
    let mut config = config_for(clients.div_ceil(instances));
    config.push_str(opts.server_toml.as_deref().unwrap_or_default());
    let config = Some(config);
    let servers = Servers::start(&ServerOpts {
        kind: opts.server.clone(),
        instances,
        config: config.clone(),
        cluster: opts.redis_cluster,
    })?;
    let mut out = header(scenario, opts, &servers, &config);
    let key: &[u8] = match (scenario, opts.event) {
        (4, UserEvent::Alert) => b"sent_ns",
        (4, UserEvent::Backtest) => b"\"processed_symbols\"",
        _ => b"\"volume\"",
    };
    let mut bench = Bench::new(target_of(&servers), clients + 1, key, opts.threads);
    bench.connect_concurrency = opts.connect_concurrency;
    bench.connect_timeout = Duration::from_secs_f64(opts.connect_timeout);
    let rss_empty = bench.server_rss_mb();
    out.insert("rss_empty_mb".into(), json!(rss_empty));
    let urls = servers.ws_urls();
    let bytes = opts.payload_bytes;
    match scenario {
        1..=3 => {
            out.extend(bench.connect(price_watchers(&urls, clients, false)));
            idle_memory(&bench, rss_empty, clients, opts, &mut out);
            let plan = plan(channels::PRICES, rate, duration, clients as f64, opts);
            out.extend(bench.phase(&plan, &mut price_payload(bytes)));
        }
        4 => {
            let users = (clients / 2).max(1);
            let (channel, mut payload): (&str, Box<dyn Payload>) = match opts.event {
                UserEvent::Alert => (
                    channels::DASHBOARD_ALERTS,
                    Box::new(publisher::UserAlert { users, bytes }),
                ),
                UserEvent::Backtest => {
                    let mut con = servers.redis()?;
                    let mut pipe = redis::pipe();
                    for u in 0..users {
                        pipe.cmd("SET")
                            .arg(format!("tickstock:jobs:job-u{u}"))
                            .arg(format!(r#"{{"user_id":"u{u}","status":"running"}}"#))
                            .ignore();
                    }
                    pipe.query::<()>(&mut con).map_err(|e| e.to_string())?;
                    (
                        channels::BACKTEST_PROGRESS,
                        Box::new(publisher::BacktestProgress { users, bytes }),
                    )
                }
            };
            let specs = user_sessions(&urls, users, opts.event);
            out.insert("users".into(), json!(users));
            out.insert(
                "event".into(),
                json!(match opts.event {
                    UserEvent::Alert => "dashboard_alert",
                    UserEvent::Backtest => "backtest_progress",
                }),
            );
            out.extend(bench.connect(specs));
            idle_memory(&bench, rss_empty, users * 2, opts, &mut out);
            let plan = plan(channel, rate, duration, 2.0, opts);
            out.extend(bench.phase(&plan, payload.as_mut()));
        }
        5 => {
            out.extend(bench.connect(price_watchers(&urls, clients, false)));
            idle_memory(&bench, rss_empty, clients, opts, &mut out);
            baseline_then_stall(
                &mut bench,
                channels::PRICES,
                (rate, duration, clients),
                price_watchers(&urls, 1, true),
                &mut price_payload(bytes),
                opts,
                &mut out,
            );
        }
        _ => {
            // Ingest only: let Redis hold the backlog (its default 32 MB pub/sub output limit
            // would disconnect a subscriber that falls behind a publisher this fast).
            let mut con = servers.redis()?;
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("client-output-buffer-limit")
                .arg("pubsub 0 0 0")
                .query::<()>(&mut con)
                .map_err(|e| e.to_string())?;
            let total = opts.messages.unwrap_or(1_000_000);
            let plan = PhasePlan {
                total,
                drain: Duration::from_secs_f64(opts.drain.max(5.0)),
                ..plan(channels::PRICES, rate, 0.0, 0.0, opts)
            };
            std::thread::sleep(Duration::from_secs_f64(opts.settle));
            out.insert("clients".into(), json!(0));
            out.extend(bench.ingest(&plan, &mut price_payload(bytes)));
        }
    }
    if out.get("error").is_some_and(Value::is_string) {
        out.insert("server_log".into(), json!(servers.log_tail()));
    }
    drop(bench);
    drop(servers);
    Ok(out)
}

/// Two signed-in sessions for each of `users` users (`u0`, `u1`, ...), subscribed to `alerts`;
/// every frame with a timestamp must name the session's user.
pub(crate) fn user_sessions(urls: &[String], users: usize, event: UserEvent) -> Vec<ClientSpec> {
    (0..users * 2)
        .map(|i| {
            let user = format!("u{}", i / 2);
            let token = tickrouter::auth::issue_token(servers::JWT_SECRET, &user, &[], 3600);
            let marker = match event {
                UserEvent::Alert => format!(r#""title":"{user}""#),
                UserEvent::Backtest => format!(r#""job_id":"job-{user}""#),
            };
            ClientSpec {
                url: format!("{}?token={token}", urls[i % urls.len()]),
                protocol: Protocol::Tickrouter {
                    ops: vec![r#"{"op":"subscribe","id":1,"topics":["alerts"]}"#.into()],
                },
                marker: Some(marker.into_bytes()),
                stall: false,
            }
        })
        .collect()
}

/// Server memory once the clients are connected and idle, and what each connection costs.
fn idle_memory(
    bench: &Bench,
    rss_empty: Option<f64>,
    connections: usize,
    opts: &Options,
    out: &mut Map<String, Value>,
) {
    std::thread::sleep(Duration::from_secs_f64(opts.settle));
    let idle = bench.server_rss_mb();
    out.insert("rss_idle_mb".into(), json!(idle));
    if let (Some(idle), Some(empty), true) = (idle, rss_empty, connections > 0) {
        out.insert(
            "rss_per_conn_kb".into(),
            json!(round((idle - empty) * 1024.0 / connections as f64, 1)),
        );
    }
}

/// Whether a run delivered everything to everyone it should have.
pub fn lossless(m: &Map<String, Value>) -> bool {
    let n = |k: &str| m.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    if m.get("scenario") == Some(&json!(6)) {
        return n("received") >= n("published") && n("published") > 0.0;
    }
    n("connected") == n("clients")
        && n("loss_pct") == 0.0
        && n("disconnects") == 0.0
        && n("misrouted") == 0.0
        && n("received") > 0.0
}

/// Waits (up to `max_wait_s`) until the whole machine is nearly idle: busy below `max_busy`
/// cores over one second, by /proc/stat and by the processes' own counters (the larger: the
/// first is sampled at the tick and can miss a bursty load). Returns the last busy figure seen.
pub fn wait_quiet(max_busy: f64, max_wait_s: f64) -> f64 {
    use crate::procstat::{all_procs, host_ticks, others_delta};
    let tck = crate::procstat::clk_tck();
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(max_wait_s);
    loop {
        let (a, pa) = (host_ticks().map_or(0, |h| h.busy), all_procs());
        std::thread::sleep(Duration::from_secs(1));
        let (b, pb) = (host_ticks().map_or(0, |h| h.busy), all_procs());
        let (user, kernel) = others_delta(&pa, &pb, &[], tck);
        let busy = (b.saturating_sub(a) as f64 / tck).max(user + kernel);
        if busy < max_busy || std::time::Instant::now() >= deadline {
            return round(busy, 2);
        }
    }
}

/// How disturbed runs are handled.
#[derive(Debug, Clone, Copy)]
pub struct Noise {
    /// Runs during which other processes used more than this many cores are repeated.
    pub max_other_cores: f64,
    /// So are runs during which the hypervisor took more than this many cores (steal).
    pub max_steal_cores: f64,
    pub retries: usize,
    /// Before each run, wait up to this long for the machine to go quiet (0: do not wait).
    pub quiet_wait_s: f64,
}

/// `run`, repeated (up to `noise.retries` times) while other processes or the hypervisor
/// disturbed it; the last line says how many tries were discarded and whether it is still
/// `contended`.
pub fn run_clean(scenario: u8, opts: &Options, noise: Noise) -> Result<Map<String, Value>, String> {
    retry_while_disturbed(noise, || run(scenario, opts))
}

/// Runs `measure` (after waiting for a quiet machine), again while other processes or the
/// hypervisor disturbed it, up to `noise.retries` times; the result says whether the kept run
/// was `contended` and how many tries were discarded.
pub fn retry_while_disturbed(
    noise: Noise,
    mut measure: impl FnMut() -> Result<Map<String, Value>, String>,
) -> Result<Map<String, Value>, String> {
    let mut tries = 0;
    loop {
        if noise.quiet_wait_s > 0.0 {
            wait_quiet(0.3, noise.quiet_wait_s);
        }
        let mut m = measure()?;
        let n = |k: &str| m.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let (other, steal) = (n("other_cores"), n("steal_s") / n("window_s").max(1e-9));
        let contended = other > noise.max_other_cores || steal > noise.max_steal_cores;
        m.insert("contended".into(), json!(contended));
        m.insert("discarded_tries".into(), json!(tries));
        if !contended || tries >= noise.retries {
            return Ok(m);
        }
        eprintln!(
            "tickrouter-bench: other processes used {other:.2} cores and the hypervisor {steal:.3} during the run; discarding it: {}",
            Value::Object(m)
        );
        tries += 1;
    }
}

/// What a rate must achieve to pass in `max_rate`.
#[derive(Debug, Clone, Copy)]
pub struct Criteria {
    pub max_loss_pct: f64,
    pub max_p99_ms: Option<f64>,
}

fn passes(m: &Map<String, Value>, c: Criteria) -> bool {
    let n = |k: &str| m.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    n("connected") == n("clients")
        && n("loss_pct") <= c.max_loss_pct
        && n("disconnects") == 0.0
        && c.max_p99_ms.is_none_or(|p| n("p99_us") <= p * 1000.0)
}

/// The highest publish rate to `opts.clients` price watchers that meets `criteria`: doubles
/// from `start` until a rate fails, then bisects `steps` times. Each probe is a fresh server
/// (scenario 1's setup with the given clients and rate). Prints every probe's line; returns the
/// summary.
pub fn max_rate(
    opts: &Options,
    start: f64,
    max: f64,
    steps: usize,
    criteria: Criteria,
    noise: Noise,
) -> Result<Map<String, Value>, String> {
    let clients = opts.clients.unwrap_or(1000);
    let mut probes = Vec::new();
    let mut probe = |rate: f64| -> Result<bool, String> {
        let o = Options {
            clients: Some(clients),
            rate: Some(rate),
            ..opts.clone()
        };
        let mut m = run_clean(1, &o, noise)?;
        let ok = passes(&m, criteria);
        m.insert("max_rate_probe".into(), json!(true));
        m.insert("pass".into(), json!(ok));
        println!("{}", Value::Object(m.clone()));
        eprintln!(
            "tickrouter-bench: rate {rate} -> {} (loss {}%, p99 {} us, delivered {}/s)",
            if ok { "pass" } else { "fail" },
            m["loss_pct"],
            m["p99_us"],
            m["delivered_per_s"]
        );
        probes.push(json!({"rate": rate, "pass": ok, "loss_pct": m["loss_pct"],
            "p99_us": m["p99_us"], "delivered_per_s": m["delivered_per_s"],
            "server_cpu_pct": m.get("server_cpu_pct"), "other_cores": m.get("other_cores")}));
        Ok(ok)
    };
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    let mut rate = start;
    loop {
        if probe(rate)? {
            lo = rate;
            if rate >= max {
                break;
            }
            rate = (rate * 2.0).min(max);
        } else {
            hi = rate;
            break;
        }
    }
    if lo > 0.0 && hi > 0.0 {
        for _ in 0..steps {
            let mid = ((lo + hi) / 2.0).round();
            if probe(mid)? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
    }
    let mut m = Map::new();
    m.insert("max_rate".into(), json!(true));
    m.insert("clients".into(), json!(clients));
    m.insert("max_loss_pct".into(), json!(criteria.max_loss_pct));
    m.insert("max_p99_ms".into(), json!(criteria.max_p99_ms));
    m.insert("max_rate_pass".into(), json!(lo));
    m.insert("min_rate_fail".into(), json!(hi));
    m.insert("max_deliveries_per_s".into(), json!(lo * clients as f64));
    m.insert("probes".into(), Value::Array(probes));
    Ok(m)
}

/// Scenario 5's measurement on readers already connected: a baseline phase at `rate` for
/// `duration` s, then `stalled` (a client that subscribes and never reads) joins for
/// `opts.stall_duration` s of the same load; the second phase's figures go into `out` beside the
/// baseline and the p99 ratio between them.
fn baseline_then_stall(
    bench: &mut Bench,
    channel: &str,
    (rate, duration, clients): (f64, f64, usize),
    stalled: Vec<ClientSpec>,
    payload: &mut dyn Payload,
    opts: &Options,
    out: &mut Map<String, Value>,
) {
    let baseline = bench.phase(
        &plan(channel, rate, duration, clients as f64, opts),
        payload,
    );
    let stalled = bench.connect(stalled);
    out.insert("stalled_connected".into(), stalled["connected"].clone());
    let mut stall_plan = plan(channel, rate, opts.stall_duration, clients as f64, opts);
    stall_plan.watch_stall = true;
    stall_plan.stall_deadline_s = opts.stall_duration + opts.drain;
    let phase = bench.phase(&stall_plan, payload);
    let ratio = match (phase["p99_us"].as_f64(), baseline["p99_us"].as_f64()) {
        (Some(p), Some(b)) if b > 0.0 => json!(round(p / b, 2)),
        _ => Value::Null,
    };
    out.insert("p99_ratio_vs_baseline".into(), ratio);
    out.insert("baseline".into(), Value::Object(baseline));
    out.extend(phase);
}

/// Where a benchmark peer (docs/GLOSSARY.md#peers-shared-bench) listens and how its clients
/// talk.
pub struct Peer {
    pub ws_url: String,
    pub protocol: Protocol,
    pub redis_url: String,
    pub channel: String,
    pub pid: Option<i32>,
    pub redis_pid: Option<i32>,
}

/// Scenario 5 against any server (the peers): `clients` readers, a baseline phase, then one
/// client that connects and never reads, for `opts.stall_duration` seconds. Whether the server
/// closes it is read from the stalled client's own TCP state.
pub fn peer_stall(peer: &Peer, opts: &Options) -> Map<String, Value> {
    let d = defaults(5);
    let clients = opts.clients.unwrap_or(d.clients);
    let rate = opts.rate.unwrap_or(d.rate);
    let duration = opts.duration.unwrap_or(d.duration);
    let target = Target {
        redis_url: peer.redis_url.clone(),
        server_pids: peer.pid.into_iter().collect(),
        redis_pids: peer.redis_pid.into_iter().collect(),
        stats: Vec::new(),
    };
    let mut bench = Bench::new(target, clients + 1, b"sent_ns", opts.threads);
    bench.connect_concurrency = opts.connect_concurrency;
    bench.connect_timeout = Duration::from_secs_f64(opts.connect_timeout);
    let spec = |stall| ClientSpec {
        url: peer.ws_url.clone(),
        protocol: peer.protocol.clone(),
        marker: None,
        stall,
    };
    let mut out = Map::new();
    out.insert("scenario".into(), json!(5));
    out.insert(
        "date".into(),
        json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    out.insert("loadavg_1m".into(), json!(crate::procstat::loadavg()));
    out.insert("rss_empty_mb".into(), json!(bench.server_rss_mb()));
    out.extend(bench.connect((0..clients).map(|_| spec(false)).collect()));
    let mut payload = publisher::PeerPrice {
        bytes: opts.payload_bytes,
    };
    baseline_then_stall(
        &mut bench,
        &peer.channel,
        (rate, duration, clients),
        vec![spec(true)],
        &mut payload,
        opts,
        &mut out,
    );
    out
}
