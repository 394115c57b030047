//! The real binary: `tickrouter check` gives one distinct report and exit code per failure;
//! `tickrouter serve` fails fast without Redis and sizes its open-file limit for its sessions.

use std::process::Command;

use crate::util::{free_port, Redis};

fn check(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickrouter"))
        .arg("check")
        .args(args)
        .env_remove("REDIS_URL")
        .env_remove("REDIS_HOST")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `tickrouter serve` on `addr` against `redis`, with the settings in `config`.
fn serve(addr: std::net::SocketAddr, redis: &Redis, config: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tickrouter"));
    command
        .args([
            "serve",
            "--bind",
            &addr.to_string(),
            "--redis-url",
            &redis.url(),
        ])
        .arg("--config")
        .arg(config);
    command
}

/// Writes `toml` to a file of this test process's own directory and returns its path.
fn config_file(name: &str, toml: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tickrouter-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, toml).unwrap();
    file
}

#[test]
fn wrong_port_wrong_password_and_healthy_redis_give_three_reports() {
    let (code, report) = check(&[
        "--redis-url",
        &format!("redis://127.0.0.1:{}/0", free_port()),
    ]);
    assert_eq!(code, 3, "{report}");
    assert!(
        report.contains("[connection] FAIL") && report.contains("redis-server is running"),
        "{report}"
    );

    let redis = Redis::start_with(&["--requirepass", "right-password"]);
    let (code, report) = check(&[
        "--redis-url",
        &format!("redis://:wrong@127.0.0.1:{}/0", redis.port),
    ]);
    assert_eq!(code, 4, "{report}");
    assert!(
        report.contains("[connection] FAIL") && report.contains("credentials"),
        "{report}"
    );
    assert!(
        !report.contains("wrong@"),
        "the password is not printed: {report}"
    );

    let (code, report) = check(&[
        "--redis-url",
        &format!("redis://:right-password@127.0.0.1:{}/0", redis.port),
    ]);
    assert_eq!(code, 0, "{report}");
    for category in [
        "[config] ok",
        "[connection] ok",
        "[performance] ok",
        "[channels] ok",
    ] {
        assert!(report.contains(category), "{category} missing in {report}");
    }
}

#[test]
fn a_bad_config_file_is_reported_with_the_key() {
    let file = config_file("bad-value.toml", "[streaming]\nflush_interval_ms = 20\n");
    let (code, report) = check(&["--config", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{report}");
    assert!(
        report.contains("[config] FAIL") && report.contains("streaming.flush_interval_ms"),
        "{report}"
    );
    let file = config_file("bad-key.toml", "[streaming]\nflush_every = 20\n");
    let (code, report) = check(&["--config", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{report}");
    assert!(report.contains("flush_every"), "{report}");
}

#[test]
fn serve_fails_fast_unless_a_degraded_start_is_allowed() {
    use crate::util::{http_get, wait_for, WAIT};
    let redis_port = free_port();
    let url = format!("redis://127.0.0.1:{redis_port}/0");
    let out = Command::new(env!("CARGO_BIN_EXE_tickrouter"))
        .args(["serve", "--bind", "127.0.0.1:0", "--redis-url", &url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("[connection] FAIL"), "{stderr}");

    let config = config_file(
        "fast-retry.toml",
        "[redis]\nreconnect_initial_ms = 50\nreconnect_max_ms = 300\n",
    );
    let http_port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{http_port}").parse().unwrap();
    let _server = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_tickrouter"))
            .args([
                "serve",
                "--bind",
                &addr.to_string(),
                "--redis-url",
                &url,
                "--allow-degraded-start",
            ])
            .arg("--config")
            .arg(&config)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ready = |expected: u16| {
        std::net::TcpStream::connect(addr).is_ok() && http_get(addr, "/ready").0 == expected
    };
    wait_for("a degraded server that is not ready", WAIT, || {
        ready(503).then_some(())
    });
    let _redis = Redis::start_on(redis_port, &[]);
    wait_for("the server to connect once Redis is up", WAIT, || {
        ready(200).then_some(())
    });
}

#[test]
fn serve_raises_a_low_open_file_limit_to_hold_its_sessions() {
    use std::net::{SocketAddr, TcpStream};
    use std::os::unix::process::CommandExt;
    use std::time::Duration;

    use crate::util::{wait_for, WAIT};

    const SOFT: u64 = 256;
    const SESSIONS: usize = 300; // two descriptors each: far beyond SOFT unless it is raised
    let redis = Redis::start();
    let config = config_file("sessions.toml", "[server]\nmax_sessions = 400\n");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut command = serve(addr, &redis, &config);
    command.stderr(std::process::Stdio::null());
    // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let mut rl = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
            rl.rlim_cur = SOFT;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let server = KillOnDrop(command.spawn().unwrap());
    wait_for("the server to listen", WAIT, || {
        TcpStream::connect(addr).ok()
    });

    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.0.id())).unwrap();
    let soft: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(soft >= 2 * 400, "soft limit still {soft}:\n{limits}");

    // Each session must be accepted and confirmed; a server out of descriptors never answers
    // the upgrade, so every read has a deadline.
    let mut sessions = Vec::with_capacity(SESSIONS);
    for i in 0..SESSIONS {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (mut ws, _) = tungstenite::client(format!("ws://{addr}/ws"), tcp)
            .unwrap_or_else(|e| panic!("session {i} was not accepted: {e}"));
        let first = ws
            .read()
            .unwrap_or_else(|e| panic!("session {i} got no frame: {e}"));
        assert!(
            first.to_text().unwrap().contains("connection_confirmed"),
            "session {i}: {first}"
        );
        sessions.push(ws);
    }
}

/// Stops a spawned server even when the test fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `log.format = "json"`: every line the real binary writes is a JSON object, and each session
/// gets one line when it connects and one when it ends, with user, address and reason.
#[test]
fn json_logs_say_who_connected_and_why_they_left() {
    use std::io::{BufRead, BufReader};
    use std::net::{SocketAddr, TcpStream};
    use std::process::Stdio;
    use std::sync::mpsc;

    use serde_json::Value;

    use crate::util::{wait_for, SECRET, WAIT};

    let redis = Redis::start();
    let config = config_file(
        "json-log.toml",
        "[log]\nformat = \"json\"\n[instance]\nid = \"edge-1\"\n",
    );
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut server = KillOnDrop(
        serve(addr, &redis, &config)
            .env("TICKROUTER_JWT_SECRET", SECRET)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, lines) = mpsc::channel::<Value>();
    let stderr = BufReader::new(server.0.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let parsed = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            if tx.send(parsed).is_err() {
                break;
            }
        }
    });
    let next_message = |wanted: &dyn Fn(&str) -> bool| -> Value {
        loop {
            let line = lines.recv_timeout(WAIT).expect("the wanted log line");
            for field in ["ts", "level", "target", "message"] {
                assert!(line.get(field).is_some(), "{field} missing: {line}");
            }
            if wanted(line["message"].as_str().unwrap()) {
                return line;
            }
        }
    };
    wait_for("the server to listen", WAIT, || {
        TcpStream::connect(addr).ok()
    });
    let token = tickrouter::auth::issue_token(SECRET, "olga", &[], 60);
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/ws?token={token}")).unwrap();
    let connected = next_message(&|m| m.contains("connected:"));
    let text = connected["message"].as_str().unwrap().to_owned();
    assert!(
        text.contains("user olga") && text.contains("127.0.0.1"),
        "{text}"
    );
    assert_eq!(connected["level"], "INFO");
    assert_eq!(connected["instance"], "edge-1", "{connected}");
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    let ended = next_message(&|m| m.contains("disconnected after"));
    let text = ended["message"].as_str().unwrap();
    assert!(
        text.contains("connection closed") && text.contains("user olga"),
        "{text}"
    );
}

#[test]
fn check_names_every_mistake_in_a_file_with_its_fix() {
    let config = config_file(
        "three-mistakes.toml",
        "[server]\nmax_sessions = 0\n\n[session]\nheartbeat_interval_secs = 0\n\n\
         [streaming]\nflush_interval_ms = 20\n",
    );
    let (code, report) = check(&["--config", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{report}");
    for key in [
        "server.max_sessions",
        "session.heartbeat_interval_secs",
        "streaming.flush_interval_ms",
    ] {
        assert!(report.contains(key), "{key} missing from:\n{report}");
    }
    assert!(report.contains("3 problems"), "{report}");
    let (code, report) = check(&["--config", "/nonexistent/tickrouter.toml"]);
    assert_eq!(code, 2);
    assert!(
        report.contains("--config path") && !report.contains("named key"),
        "a missing file is not a key to fix:\n{report}"
    );
}

#[test]
fn config_prints_the_effective_settings_with_secrets_redacted() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickrouter"))
        .args(["config", "--redis-url", "redis://:hunter2@127.0.0.1:6390/1"])
        .env(
            "TICKROUTER_JWT_SECRET",
            "a-secret-that-is-long-enough-to-use-here",
        )
        .env_remove("REDIS_URL")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("hunter2") && !text.contains("a-secret-that"),
        "{text}"
    );
    let settings = tickrouter::config::Settings::from_toml_str(&text).expect("it parses back");
    assert_eq!(settings.redis.url, "redis://:***@127.0.0.1:6390/1");
    assert_eq!(settings.auth.jwt_secret.as_deref(), Some("<redacted>"));
}

#[test]
fn healthcheck_exits_zero_only_for_a_serving_server() {
    let redis = Redis::start();
    let app = crate::util::App::start(&redis);
    let probe = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_tickrouter"))
            .args(["healthcheck", "--url", url])
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(probe(&format!("http://{}/live", app.addr)), Some(0));
    assert_eq!(probe(&format!("http://{}/nothing-here", app.addr)), Some(1));
    assert_eq!(
        probe(&format!("http://127.0.0.1:{}/live", free_port())),
        Some(1)
    );
}
