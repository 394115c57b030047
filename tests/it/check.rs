//! `tickrouter check` (the real binary): one distinct report and exit code per failure.

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
    let dir = std::env::temp_dir().join(format!("tickrouter-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[streaming]\nflush_interval_ms = 20\n").unwrap();
    let (code, report) = check(&["--config", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{report}");
    assert!(
        report.contains("[config] FAIL") && report.contains("streaming.flush_interval_ms"),
        "{report}"
    );
    std::fs::write(&file, "[streaming]\nflush_every = 20\n").unwrap();
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

    let dir = std::env::temp_dir().join(format!("tickrouter-degraded-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("fast-retry.toml");
    std::fs::write(
        &config,
        "[redis]\nreconnect_initial_ms = 50\nreconnect_max_ms = 300\n",
    )
    .unwrap();
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

/// Stops a spawned server even when the test fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
