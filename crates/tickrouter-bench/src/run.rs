//! The measurement engine: connects clients, then runs measured phases (publish at a rate,
//! drain, snapshot) and turns each into a JSON object.
//!
//! A phase's window is publishing plus drain. Over it the engine reads the CPU and memory of the
//! server processes, redis-server, itself and everything else on the machine (`other_cpu_s`,
//! to spot disturbed runs), and the delta of every tickrouter `/stats` counter that explains a
//! loss (drops by reason, frames shed, slow-consumer closes).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

use crate::clients::{self, ClientSpec, Shared};
use crate::procstat::{self, ProcSample};
use crate::publisher::{self, Payload, Plan};
use crate::record;
use crate::servers;

/// What is measured: where the clients connect, where to publish, whose CPU counts.
#[derive(Debug, Clone)]
pub struct Target {
    pub redis_url: String,
    pub server_pids: Vec<i32>,
    /// Every redis-server process (a cluster has several).
    pub redis_pids: Vec<i32>,
    /// tickrouter instances whose `/stats` are read (none for the peers).
    pub stats: Vec<SocketAddr>,
}

pub struct Bench {
    rt: Runtime,
    pub sh: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    received: Arc<[AtomicU64]>,
    /// Which clients are stalled (excluded from per-client figures).
    stalled: Vec<bool>,
    pub target: Target,
    pub connect_concurrency: usize,
    pub connect_timeout: Duration,
}

/// The share of `expected` deliveries that did not arrive, in percent (3 decimals).
pub fn loss_pct(expected: u64, received: u64) -> f64 {
    let loss = if expected > 0 {
        expected.saturating_sub(received) as f64 * 100.0 / expected as f64
    } else {
        0.0
    };
    round(loss, 3)
}

pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn us(ns: u64) -> f64 {
    round(ns as f64 / 1000.0, 1)
}

fn mb(kb: u64) -> f64 {
    round(kb as f64 / 1024.0, 1)
}

/// Snapshot of everything measured at the edges of a window.
struct Snap {
    at: Instant,
    server: Option<ProcSample>,
    redis: Option<ProcSample>,
    me: Option<ProcSample>,
    host: Option<procstat::HostTicks>,
    procs: procstat::Procs,
    stats: Option<Value>,
}

impl Bench {
    pub fn new(target: Target, max_clients: usize, scan_key: &[u8], threads: usize) -> Bench {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .enable_all()
            .build()
            .expect("tokio runtime");
        Bench {
            rt,
            sh: Arc::new(Shared::new(scan_key)),
            tasks: Vec::new(),
            received: (0..max_clients).map(|_| AtomicU64::new(0)).collect(),
            stalled: Vec::new(),
            target,
            connect_concurrency: 64,
            connect_timeout: Duration::from_secs(120),
        }
    }

    /// Connects `specs` (in addition to the clients already connected) and waits until each is
    /// ready or failed.
    pub fn connect(&mut self, specs: Vec<ClientSpec>) -> Map<String, Value> {
        let start = Instant::now();
        let (ready0, failed0) = (self.sh.ready.load(Relaxed), self.sh.failed.load(Relaxed));
        let sem = Arc::new(Semaphore::new(self.connect_concurrency.max(1)));
        let n = specs.len();
        for spec in specs {
            let i = self.stalled.len();
            assert!(
                i < self.received.len(),
                "more clients than Bench::new allowed"
            );
            self.stalled.push(spec.stall);
            let task = clients::client_task(
                i,
                spec,
                self.sh.clone(),
                sem.clone(),
                self.connect_timeout,
                self.received.clone(),
            );
            self.tasks.push(self.rt.spawn(task));
        }
        let deadline = start + self.connect_timeout + Duration::from_secs(1);
        let (mut ready, mut failed);
        loop {
            ready = self.sh.ready.load(Relaxed) - ready0;
            failed = self.sh.failed.load(Relaxed) - failed0;
            if ready + failed >= n || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let ramp_s = start.elapsed().as_secs_f64();
        eprintln!("tickrouter-bench: {ready}/{n} clients ready in {ramp_s:.2} s ({failed} failed)");
        let mut m = Map::new();
        m.insert("clients".into(), json!(n));
        m.insert("connected".into(), json!(ready));
        m.insert("ramp_s".into(), json!(round(ramp_s, 2)));
        m
    }

    fn snap(&self) -> Snap {
        Snap {
            at: Instant::now(),
            server: ProcSample::read_all(&self.target.server_pids),
            redis: Some(&self.target.redis_pids)
                .filter(|pids| !pids.is_empty())
                .and_then(|pids| ProcSample::read_all(pids)),
            me: ProcSample::read(std::process::id() as i32),
            host: procstat::host_ticks(),
            procs: procstat::all_procs(),
            stats: self.stats(),
        }
    }

    pub fn stats(&self) -> Option<Value> {
        if self.target.stats.is_empty() {
            return None;
        }
        servers::stats_sum(&self.target.stats)
    }

    /// Server memory right now (VmRSS of every instance), MB.
    pub fn server_rss_mb(&self) -> Option<f64> {
        ProcSample::read_all(&self.target.server_pids).map(|s| mb(s.rss_kb))
    }

    fn per_client(&self) -> Vec<u64> {
        self.received.iter().map(|c| c.load(Relaxed)).collect()
    }

    /// CPU, memory and machine-noise fields of the window between `a` and `b`.
    fn window_fields(&self, a: &Snap, b: &Snap, deliveries: u64, m: &mut Map<String, Value>) {
        let tck = procstat::clk_tck();
        let window = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
        m.insert("window_s".into(), json!(round(window, 2)));
        let cpu = |x: &Option<ProcSample>, y: &Option<ProcSample>| match (x, y) {
            (Some(x), Some(y)) => Some((y.ticks.saturating_sub(x.ticks)) as f64 / tck),
            _ => None,
        };
        let server_cpu = cpu(&a.server, &b.server);
        if let (Some(c), Some(s)) = (server_cpu, &b.server) {
            m.insert("server_cpu_s".into(), json!(round(c, 2)));
            m.insert("server_cpu_pct".into(), json!(round(c / window * 100.0, 1)));
            m.insert(
                "cpu_us_per_1k_deliveries".into(),
                if deliveries > 0 {
                    json!((c * 1e6 / (deliveries as f64 / 1000.0)).round())
                } else {
                    Value::Null
                },
            );
            m.insert("rss_peak_mb".into(), json!(mb(s.hwm_kb)));
            m.insert("rss_final_mb".into(), json!(mb(s.rss_kb)));
        }
        let redis_cpu = cpu(&a.redis, &b.redis);
        if let Some(c) = redis_cpu {
            m.insert("redis_cpu_s".into(), json!(round(c, 2)));
        }
        let my_cpu = cpu(&a.me, &b.me);
        if let Some(c) = my_cpu {
            m.insert("loadgen_cpu_s".into(), json!(round(c, 2)));
        }
        let mut ours = vec![std::process::id() as i32];
        ours.extend(&self.target.server_pids);
        ours.extend(&self.target.redis_pids);
        let (mut other, kernel) = procstat::others_delta(&a.procs, &b.procs, &ours, tck);
        m.insert("other_procs_cpu_s".into(), json!(round(other, 2)));
        if let (Some(h0), Some(h1)) = (a.host, b.host) {
            let host = h1.busy.saturating_sub(h0.busy) as f64 / tck;
            m.insert("host_busy_cores".into(), json!(round(host / window, 2)));
            let steal = h1.steal.saturating_sub(h0.steal) as f64 / tck;
            m.insert("steal_s".into(), json!(round(steal, 2)));
            // Children reaped in the window count with their whole lifetime; cap by what the
            // machine as a whole spent beyond our own processes. But /proc/stat is sampled at
            // the tick, and on this VM it can miss most of a bursty load (0.03 cores while
            // the server, Redis and this process used 0.33 by their own precise counters):
            // below our own processes it bounds nothing, and the per-process figure stands.
            let ours_cpu: f64 = [server_cpu, redis_cpu, my_cpu].iter().flatten().sum();
            let undercount = host < ours_cpu;
            m.insert("host_stat_undercount".into(), json!(undercount));
            if !undercount {
                other = other.min(host - ours_cpu);
            }
        }
        m.insert("other_cpu_s".into(), json!(round(other, 2)));
        m.insert("other_cores".into(), json!(round(other / window, 2)));
        m.insert("kernel_threads_cpu_s".into(), json!(round(kernel, 2)));
    }

    /// Deltas of the tickrouter counters that account for every published message.
    fn stats_fields(a: &Option<Value>, b: &Option<Value>, m: &mut Map<String, Value>) {
        let (Some(a), Some(b)) = (a, b) else { return };
        let d = |path: &[&str]| -> i64 {
            let get = |v: &Value| path.iter().fold(v, |v, k| &v[*k]).as_i64().unwrap_or(0);
            get(b) - get(a)
        };
        let mut s = Map::new();
        for k in [
            "received",
            "parsed",
            "routed",
            "published",
            "delivered",
            "filtered",
            "dropped",
        ] {
            s.insert(k.into(), json!(d(&["events", k])));
        }
        for k in ["frames_shed", "slow_consumer_closes", "refused"] {
            s.insert(k.into(), json!(d(&["sessions", k])));
        }
        s.insert("redis_reconnects".into(), json!(d(&["redis", "connects"])));
        let mut drops = Map::new();
        for family in ["filtered_by_reason", "dropped_by_reason"] {
            for r in b[family].as_object().into_iter().flat_map(|m| m.keys()) {
                let n = d(&[family, r]);
                if n != 0 {
                    drops.insert(r.clone(), json!(n));
                }
            }
        }
        s.insert("drops".into(), Value::Object(drops));
        // History writes and resumes (issue 13), for builds that have them: whether every
        // recoverable publication was written, or went out without an offset (`skipped`).
        for family in ["history", "resumes"] {
            if let Some(keys) = b[family].as_object() {
                let mut f = Map::new();
                for k in keys.keys() {
                    f.insert(k.clone(), json!(d(&[family, k])));
                }
                s.insert(family.into(), Value::Object(f));
            }
        }
        m.insert("server_stats".into(), Value::Object(s));
    }

    /// What the publisher thread needs of a phase: where to publish, what, how fast.
    fn publisher_plan(&self, plan: &PhasePlan) -> Plan {
        Plan {
            redis_url: self.target.redis_url.clone(),
            channel: plan.channel.clone(),
            rate: plan.rate,
            total: plan.total,
        }
    }

    /// One measured phase: publish `total` messages at `rate`, wait until every expected
    /// delivery arrived (or `drain` passed), and report.
    pub fn phase(&self, plan: &PhasePlan, payload: &mut dyn Payload) -> Map<String, Value> {
        std::thread::sleep(plan.settle);
        self.sh.stopping.store(false, Relaxed);
        let clients_before = self.per_client();
        let (disc0, mis0) = (
            self.sh.disconnects.load(Relaxed),
            self.sh.misrouted.load(Relaxed),
        );
        let closes0 = self.slow_consumer_closes();
        record::reset();
        let a = self.snap();
        if let Some(tx) = &plan.started {
            let _ = tx.send(a.at);
        }
        let pub_plan = self.publisher_plan(plan);
        let mut watch = StallWatch::new(closes0);
        let published = std::thread::scope(|s| {
            let h = s.spawn(|| publisher::publish(&pub_plan, payload));
            while !h.is_finished() {
                if plan.watch_stall {
                    watch.poll(self, a.at);
                }
                std::thread::sleep(Duration::from_millis(if plan.watch_stall { 50 } else { 5 }));
            }
            h.join().expect("publisher panicked")
        });
        if let Some(e) = &published.error {
            self.sh.note_error(e.clone());
        }
        let expected = (published.published as f64 * plan.expect_per_msg).round() as u64;
        let drain_start = Instant::now();
        while record::total() < expected && drain_start.elapsed() < plan.drain {
            if plan.watch_stall {
                watch.poll(self, a.at);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let drain_s = drain_start.elapsed().as_secs_f64();
        if plan.watch_stall {
            // Give a stall that is about to be noticed its chance, then look one last time.
            let until = a.at + Duration::from_secs_f64(plan.stall_deadline_s);
            while !watch.closed() && Instant::now() < until {
                watch.poll(self, a.at);
                std::thread::sleep(Duration::from_millis(50));
            }
            watch.poll(self, a.at);
        }
        let b = self.snap();
        self.sh.stopping.store(true, Relaxed);

        let hist = record::merged();
        let received = hist.len();
        let pub_s = published.elapsed.as_secs_f64().max(1e-9);
        let mut m = Map::new();
        let worst: Vec<Value> = record::worst_slots(5)
            .into_iter()
            .map(|(at_s, ms)| json!([round(at_s, 1), round(ms, 2)]))
            .collect();
        m.insert("worst_100ms_slots_s_ms".into(), json!(worst));
        m.insert("rate".into(), json!(plan.rate));
        m.insert("published".into(), json!(published.published));
        m.insert("publish_s".into(), json!(round(pub_s, 2)));
        m.insert(
            "published_per_s".into(),
            json!(round(published.published as f64 / pub_s, 1)),
        );
        if let Some(avg) = published.receivers_avg() {
            m.insert("redis_receivers_avg".into(), json!(round(avg, 2)));
        }
        m.insert("expected_deliveries".into(), json!(expected));
        m.insert("received".into(), json!(received));
        m.insert("loss_pct".into(), json!(loss_pct(expected, received)));
        m.insert(
            "delivered_per_s".into(),
            json!(round(received as f64 / pub_s, 1)),
        );
        m.insert("drain_s".into(), json!(round(drain_s, 2)));
        let q = |x: f64| {
            if hist.is_empty() {
                Value::Null
            } else {
                json!(us(hist.value_at_quantile(x)))
            }
        };
        m.insert("p50_us".into(), q(0.50));
        m.insert("p90_us".into(), q(0.90));
        m.insert("p99_us".into(), q(0.99));
        m.insert("p999_us".into(), q(0.999));
        m.insert("max_us".into(), q(1.0));
        let mean = if hist.is_empty() {
            Value::Null
        } else {
            json!(round(hist.mean() / 1000.0, 1))
        };
        m.insert("mean_us".into(), mean);
        let per_client: Vec<u64> = self
            .per_client()
            .iter()
            .zip(&clients_before)
            .zip(&self.stalled)
            .take(self.stalled.len())
            .filter(|(_, stalled)| !**stalled)
            .map(|((after, before), _)| after - before)
            .collect();
        if let (Some(lo), Some(hi)) = (per_client.iter().min(), per_client.iter().max()) {
            m.insert("per_client_min".into(), json!(lo));
            m.insert("per_client_max".into(), json!(hi));
        }
        m.insert(
            "disconnects".into(),
            json!(self.sh.disconnects.load(Relaxed) - disc0),
        );
        m.insert(
            "misrouted".into(),
            json!(self.sh.misrouted.load(Relaxed) - mis0),
        );
        if plan.watch_stall {
            m.insert(
                "stalled_closed".into(),
                json!(watch.client_saw_close_at.is_some() || watch.server_closed_at.is_some()),
            );
            m.insert(
                "stalled_closed_after_s".into(),
                json!(watch
                    .server_closed_at
                    .or(watch.client_saw_close_at)
                    .map(|t| round(t, 2))),
            );
            m.insert(
                "stalled_client_saw_close_after_s".into(),
                json!(watch.client_saw_close_at.map(|t| round(t, 2))),
            );
        }
        self.window_fields(&a, &b, received, &mut m);
        Self::stats_fields(&a.stats, &b.stats, &mut m);
        m.insert("error".into(), json!(self.sh.first_error()));
        m
    }

    fn slow_consumer_closes(&self) -> Option<u64> {
        self.stats()
            .and_then(|s| s["sessions"]["slow_consumer_closes"].as_u64())
    }

    /// Ingest only (no clients): publish `total` messages as fast as Redis takes them (or at
    /// `rate`) and time how long tickrouter takes to read, parse and route all of them.
    pub fn ingest(&self, plan: &PhasePlan, payload: &mut dyn Payload) -> Map<String, Value> {
        let Some(s0) = self.stats() else {
            let mut m = Map::new();
            m.insert("error".into(), json!("ingest needs tickrouter's /stats"));
            return m;
        };
        let recv = |s: &Value| s["events"]["received"].as_u64().unwrap_or(0);
        let base = recv(&s0);
        let a = self.snap();
        let pub_plan = self.publisher_plan(plan);
        // (seconds since start, messages received) at each poll.
        let mut trace: Vec<(f64, u64)> = Vec::new();
        let poll = |trace: &mut Vec<(f64, u64)>| {
            if let Some(s) = self.stats() {
                trace.push((a.at.elapsed().as_secs_f64(), recv(&s) - base));
            }
        };
        let published = std::thread::scope(|s| {
            let h = s.spawn(|| publisher::publish(&pub_plan, payload));
            while !h.is_finished() {
                poll(&mut trace);
                std::thread::sleep(Duration::from_millis(20));
            }
            h.join().expect("publisher panicked")
        });
        let mut last_progress = Instant::now();
        let mut last = trace.last().map_or(0, |t| t.1);
        while last < published.published && last_progress.elapsed() < plan.drain {
            poll(&mut trace);
            std::thread::sleep(Duration::from_millis(20));
            let now = trace.last().map_or(0, |t| t.1);
            if now > last {
                last = now;
                last_progress = Instant::now();
            }
        }
        let b = self.snap();
        let pub_s = published.elapsed.as_secs_f64().max(1e-9);
        // The first poll at which everything had arrived, else the last progress.
        let done = trace
            .iter()
            .find(|t| t.1 >= published.published)
            .or_else(|| trace.iter().rev().find(|t| t.1 == last))
            .copied()
            .unwrap_or((pub_s, 0));
        let mut m = Map::new();
        m.insert("rate".into(), json!(plan.rate));
        m.insert("published".into(), json!(published.published));
        m.insert("publish_s".into(), json!(round(pub_s, 2)));
        m.insert(
            "published_per_s".into(),
            json!(round(published.published as f64 / pub_s, 1)),
        );
        m.insert("received".into(), json!(done.1));
        m.insert("all_received_after_s".into(), json!(round(done.0, 3)));
        m.insert(
            "ingest_per_s".into(),
            json!(round(done.1 as f64 / done.0.max(1e-9), 1)),
        );
        // The steady part: the fastest 1-second stretch of the trace.
        let mut best = 0.0f64;
        for (i, t) in trace.iter().enumerate() {
            if let Some(u) = trace[i..].iter().find(|u| u.0 - t.0 >= 1.0) {
                best = best.max((u.1 - t.1) as f64 / (u.0 - t.0));
            }
        }
        m.insert("ingest_best_1s_per_s".into(), json!(round(best, 1)));
        self.window_fields(&a, &b, 0, &mut m);
        m.remove("cpu_us_per_1k_deliveries");
        if let Some(c) = m.get("server_cpu_s").and_then(Value::as_f64) {
            if done.1 > 0 {
                m.insert(
                    "server_cpu_us_per_msg".into(),
                    json!(round(c * 1e6 / done.1 as f64, 2)),
                );
            }
        }
        Self::stats_fields(&a.stats, &b.stats, &mut m);
        if let Some(e) = &published.error {
            m.insert("error".into(), json!(e));
        } else {
            m.insert("error".into(), Value::Null);
        }
        m
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.sh.stopping.store(true, Relaxed);
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub struct PhasePlan {
    pub channel: String,
    pub rate: f64,
    pub total: u64,
    /// Deliveries expected per published message (the readers a message is for).
    pub expect_per_msg: f64,
    pub settle: Duration,
    pub drain: Duration,
    /// Watch for the stalled client to be closed (tickrouter's counter, the client's socket).
    pub watch_stall: bool,
    /// How long after the phase start to keep waiting for that close.
    pub stall_deadline_s: f64,
    /// Told the instant publishing starts (after the histograms were reset), so another
    /// thread can act during the phase (`resume-storm`).
    pub started: Option<std::sync::mpsc::Sender<Instant>>,
}

/// When the stalled client's connection ended, in seconds since the phase started.
struct StallWatch {
    closes0: Option<u64>,
    server_closed_at: Option<f64>,
    client_saw_close_at: Option<f64>,
    last_stats_poll: Option<Instant>,
}

impl StallWatch {
    fn new(closes0: Option<u64>) -> Self {
        StallWatch {
            closes0,
            server_closed_at: None,
            client_saw_close_at: None,
            last_stats_poll: None,
        }
    }

    fn closed(&self) -> bool {
        self.server_closed_at.is_some() || self.client_saw_close_at.is_some()
    }

    fn poll(&mut self, bench: &Bench, start: Instant) {
        let t = start.elapsed().as_secs_f64();
        if self.client_saw_close_at.is_none()
            && clients::stalled_connection_closed(&bench.sh) == Some(true)
        {
            self.client_saw_close_at = Some(t);
        }
        let due = self
            .last_stats_poll
            .is_none_or(|p| p.elapsed() >= Duration::from_millis(200));
        if self.server_closed_at.is_none() && self.closes0.is_some() && due {
            self.last_stats_poll = Some(Instant::now());
            if bench.slow_consumer_closes() > self.closes0 {
                self.server_closed_at = Some(t);
            }
        }
    }
}
