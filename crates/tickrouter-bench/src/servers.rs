//! The system under test: a private `redis-server` and one or more tickrouter instances on free
//! loopback ports, all stopped (by PID) and cleaned up on drop.
//!
//! tickrouter runs as the release binary (`target/release/tickrouter serve`, built first unless
//! `--server-bin` names one) so its CPU and memory are its own; the smoke test runs it in-process
//! instead, where only correctness counts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Secret the bench signs its session tokens with (passed as `TICKROUTER_JWT_SECRET`).
pub const JWT_SECRET: &str = "tickrouter-bench-secret-of-32-bytes+";

/// The repository root, two levels above this package (crates/tickrouter-bench): the workspace
/// that builds the server, and the directory the server runs in, so its `static/` is found.
fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/tickrouter-bench sits two levels below the repository root")
}

/// A free port whose cluster-bus port (+10,000) is free too.
fn cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `GET path` over HTTP/1.0: (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Children die with the bench, even when it is killed.
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// SIGTERM, then SIGKILL after `grace`.
fn stop(child: &mut Child, grace: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    // SAFETY: signalling our own child by its PID.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[derive(Debug, Clone)]
pub enum ServerKind {
    /// The release binary at this path.
    Process(PathBuf),
    /// `tickrouter::app::run` in a thread of this process (smoke test only).
    InProcess,
}

pub struct ServerOpts {
    pub kind: ServerKind,
    pub instances: usize,
    /// Extra TOML for every instance's `--config` (none: built-in defaults).
    pub config: Option<String>,
    /// A 3-master Redis Cluster instead of one redis-server (`redis.cluster`).
    pub cluster: bool,
}

enum Instance {
    Process(Child),
    InProcess {
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<JoinHandle<()>>,
    },
}

pub struct Servers {
    /// One redis-server, or a cluster's three masters.
    redis: Vec<Child>,
    redis_ports: Vec<u16>,
    instances: Vec<(Instance, SocketAddr)>,
    dir: PathBuf,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Builds `target/release/tickrouter` (a no-op when it is up to date) and returns its path.
pub fn release_server_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut dir = exe.parent().ok_or("no exe dir")?;
    if dir.ends_with("deps") {
        dir = dir.parent().ok_or("no profile dir")?;
    }
    let target = dir.parent().ok_or("no target dir")?;
    let root = repo_root();
    if root.join("Cargo.toml").exists() {
        eprintln!("tickrouter-bench: cargo build --release -p tickrouter");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--quiet", "-p", "tickrouter"])
            .current_dir(root)
            .env("CARGO_TARGET_DIR", target)
            .status()
            .map_err(|e| format!("cargo build: {e}"))?;
        if !status.success() {
            return Err("cargo build --release -p tickrouter failed".into());
        }
    }
    let bin = target.join("release").join("tickrouter");
    bin.exists()
        .then_some(bin.clone())
        .ok_or_else(|| format!("{} does not exist", bin.display()))
}

impl Servers {
    pub fn start(opts: &ServerOpts) -> Result<Servers, String> {
        let dir = std::env::temp_dir().join(format!(
            "tickrouter-bench-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut servers = Servers {
            redis: Vec::new(),
            redis_ports: Vec::new(),
            instances: Vec::new(),
            dir,
        };
        let nodes = if opts.cluster { 3 } else { 1 };
        while servers.redis.len() < nodes {
            let port = if opts.cluster {
                cluster_port()
            } else {
                free_port()
            };
            if let Some(child) = start_redis(port, &servers.dir, opts.cluster) {
                servers.redis.push(child);
                servers.redis_ports.push(port);
            } else if servers.redis.is_empty() && !opts.cluster {
                return Err("could not start a private redis-server (is it installed?)".into());
            }
        }
        let mut config = opts.config.clone();
        if opts.cluster {
            servers.create_cluster()?;
            let text = config.get_or_insert_with(String::new);
            if text.contains("[redis]") {
                return Err("a cluster run cannot take a config with its own [redis]".into());
            }
            let seeds: Vec<String> = servers
                .redis_ports
                .iter()
                .map(|p| format!("\"redis://127.0.0.1:{p}\""))
                .collect();
            text.push_str(&format!("\n[redis]\ncluster = [{}]\n", seeds.join(", ")));
        }
        let config_text = config;
        let config = match &config_text {
            Some(text) => {
                let path = servers.dir.join("tickrouter.toml");
                std::fs::write(&path, text).map_err(|e| e.to_string())?;
                Some(path)
            }
            None => None,
        };
        for n in 0..opts.instances.max(1) {
            let instance = match &opts.kind {
                ServerKind::Process(bin) => servers.spawn(bin, config.as_deref(), n)?,
                ServerKind::InProcess => servers.start_in_process(config_text.as_deref())?,
            };
            servers.instances.push(instance);
        }
        for (_, addr) in &servers.instances {
            let deadline = Instant::now() + Duration::from_secs(20);
            while http_get(*addr, "/ready").map(|r| r.0) != Some(200) {
                if Instant::now() > deadline {
                    return Err(format!(
                        "tickrouter at {addr} not ready after 20 s; log: {}",
                        servers.log_tail()
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(servers)
    }

    fn spawn(
        &self,
        bin: &Path,
        config: Option<&Path>,
        n: usize,
    ) -> Result<(Instance, SocketAddr), String> {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::fs::File::create(self.dir.join(format!("tickrouter-{n}.log")))
            .map_err(|e| e.to_string())?;
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--bind", &addr.to_string(), "--redis-url"])
            .arg(self.redis_url());
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        cmd.env("RUST_LOG", "warn")
            .env("TICKROUTER_JWT_SECRET", JWT_SECRET)
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| format!("{}: {e}", bin.display()))?;
        Ok((Instance::Process(child), addr))
    }

    fn start_in_process(&self, config: Option<&str>) -> Result<(Instance, SocketAddr), String> {
        let mut settings = match config {
            Some(text) => {
                tickrouter::config::Settings::from_toml_str(text).map_err(|e| e.to_string())?
            }
            None => tickrouter::config::Settings::default(),
        };
        settings.redis.url = self.redis_url();
        settings.auth.jwt_secret = Some(JWT_SECRET.into());
        settings.server.static_dir = repo_root().join("static");
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix::System::new().block_on(async move {
                let stop = async {
                    let _ = rx.await;
                };
                if let Err(e) = tickrouter::app::run(settings, listener, stop).await {
                    eprintln!("tickrouter-bench: in-process tickrouter failed: {e}");
                }
            });
        });
        Ok((
            Instance::InProcess {
                stop: Some(tx),
                thread: Some(thread),
            },
            addr,
        ))
    }

    /// Where the publisher PUBLISHes: the first node of a cluster (every node hears it).
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.redis_ports[0])
    }

    pub fn redis_pids(&self) -> Vec<i32> {
        self.redis.iter().map(|c| c.id() as i32).collect()
    }

    /// Joins the nodes into one cluster (`redis-cli --cluster create`) and waits until every
    /// node sees all slots served.
    fn create_cluster(&self) -> Result<(), String> {
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(self.redis_ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .arg("--cluster-yes")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("redis-cli: {e}"))?;
        if !status.success() {
            return Err("redis-cli --cluster create failed".into());
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in &self.redis_ports {
            loop {
                let info: Option<String> =
                    redis::Client::open(format!("redis://127.0.0.1:{port}/0"))
                        .and_then(|c| c.get_connection())
                        .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query(&mut c))
                        .ok();
                if info.is_some_and(|i| i.contains("cluster_state:ok")) {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!("cluster node {port} not ok after 20 s"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.instances.iter().map(|(_, a)| *a).collect()
    }

    pub fn ws_urls(&self) -> Vec<String> {
        self.addrs()
            .iter()
            .map(|a| format!("ws://{a}/ws"))
            .collect()
    }

    /// The PIDs whose CPU and memory are the server's (this process when in-process).
    pub fn server_pids(&self) -> Vec<i32> {
        self.instances
            .iter()
            .map(|(i, _)| match i {
                Instance::Process(c) => c.id() as i32,
                Instance::InProcess { .. } => std::process::id() as i32,
            })
            .collect()
    }

    pub fn is_in_process(&self) -> bool {
        self.instances
            .iter()
            .any(|(i, _)| matches!(i, Instance::InProcess { .. }))
    }

    pub fn redis(&self) -> Result<redis::Connection, String> {
        redis::Client::open(self.redis_url())
            .and_then(|c| c.get_connection())
            .map_err(|e| e.to_string())
    }

    /// The last lines of every instance's log, for error messages.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for n in 0..self.instances.len().max(1) {
            if let Ok(text) = std::fs::read_to_string(self.dir.join(format!("tickrouter-{n}.log")))
            {
                let lines: Vec<&str> = text.lines().collect();
                out.push_str(&lines[lines.len().saturating_sub(5)..].join(" | "));
            }
        }
        out
    }
}

/// Every instance's `/stats`, summed where numeric (`None` if one does not answer).
pub fn stats_sum(addrs: &[SocketAddr]) -> Option<Value> {
    let mut total: Option<Value> = None;
    for addr in addrs {
        let (status, body) = http_get(*addr, "/stats")?;
        if status != 200 {
            return None;
        }
        let v: Value = serde_json::from_str(&body).ok()?;
        total = Some(match total {
            None => v,
            Some(t) => add_json(t, &v),
        });
    }
    total
}

fn add_json(a: Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(mut a), Value::Object(b)) => {
            for (k, bv) in b {
                let av = a.remove(k).unwrap_or(Value::Null);
                a.insert(k.clone(), add_json(av, bv));
            }
            Value::Object(a)
        }
        (Value::Number(x), Value::Number(y)) => match (x.as_u64(), y.as_u64()) {
            (Some(x), Some(y)) => Value::from(x + y),
            _ => Value::from(x.as_f64().unwrap_or(0.0) + y.as_f64().unwrap_or(0.0)),
        },
        (Value::Null, b) => b.clone(),
        (a, _) => a,
    }
}

/// Starts redis-server on `port`; `None` if another process got the port first (a unique
/// dbfilename tells whose server answers).
fn start_redis(port: u16, dir: &Path, cluster: bool) -> Option<Child> {
    let name = format!("bench-{}-{port}.rdb", std::process::id());
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dbfilename", &name])
        .arg("--dir")
        .arg(dir);
    if cluster {
        let conf = format!("nodes-{port}.conf");
        cmd.args(["--cluster-enabled", "yes", "--cluster-config-file", &conf]);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().ok()?;
    let url = format!("redis://127.0.0.1:{port}/0");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return None;
        }
        let answer: Option<Vec<String>> = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection())
            .and_then(|mut c| {
                redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("dbfilename")
                    .query(&mut c)
            })
            .ok();
        if answer.as_ref().and_then(|a| a.get(1)) == Some(&name) {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop(&mut child, Duration::from_secs(1));
    None
}

impl Drop for Servers {
    fn drop(&mut self) {
        for (instance, _) in &mut self.instances {
            match instance {
                Instance::Process(child) => stop(child, Duration::from_secs(5)),
                Instance::InProcess { stop, thread } => {
                    if let Some(tx) = stop.take() {
                        let _ = tx.send(());
                    }
                    if let Some(t) = thread.take() {
                        let _ = t.join();
                    }
                }
            }
        }
        for redis in &mut self.redis {
            stop(redis, Duration::from_secs(5));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
