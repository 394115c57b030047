//! tickrouter-bench: the issue-7 load generator. Each scenario is one command that starts a
//! private redis-server and a release tickrouter on free ports, connects real WebSocket clients
//! speaking tickrouter's protocol, publishes to Redis at a fixed rate with the send time in each
//! message, and prints one JSON line: delivered frames/s, loss, publish-to-receive latency
//! (p50/p99/p99.9/max), server CPU per 1,000 deliveries, RSS, and its own CPU.
//!
//! ```text
//! cargo run --release -p tickrouter-bench -- scenario 1          # 100 clients x 1,000 msg/s
//! cargo run --release -p tickrouter-bench -- scenario 1 --duration 2 --clients 5 --check
//! cargo run --release -p tickrouter-bench -- max-rate --clients 1000
//! cargo run --release -p tickrouter-bench -- stalled-burst --clients 200
//! cargo run --release -p tickrouter-bench -- resume-storm        # 1,000 clients resume 100 frames
//! ```
//!
//! `resume-storm` (issue 13): L live clients get a steady load (`--live prices`, scenario 1's
//! load, or `--live alerts`, scenario 4's) through a baseline phase and then a second phase
//! during which S storm clients (`--storm-clients`, 1,000) are started together, each resuming
//! R (`--replay`, 100) pattern alerts it missed; it reports the storm's completion time, each
//! client's replay time, frames lost, and the live latency during the storm against the
//! baseline (`resume_storm.rs`).
//!
//! Modelled on the shared load generator (docs/GLOSSARY.md#peers-shared-bench): a publisher
//! thread with a synchronous Redis connection, clients on a multi-thread tokio runtime,
//! per-thread HDR histograms, CPU and RSS from /proc. BENCHMARKS.md has the results and the
//! commands.

mod clients;
mod procstat;
mod publisher;
mod record;
mod resume_storm;
mod run;
mod scan;
mod scenarios;
mod servers;
mod stalled_burst;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::Value;

use clients::Protocol;
use scenarios::{Criteria, Noise, Options, Peer, UserEvent};
use servers::ServerKind;

#[derive(Debug, Parser)]
#[command(
    name = "tickrouter-bench",
    about = "Load generator and benchmark scenarios for tickrouter (issue 7); prints one JSON line per run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one scenario: 1 = 100 clients x 1,000 msg/s; 2 = 1,000 clients x 100 msg/s;
    /// 3 = 10,000 connections x 10 msg/s (memory per connection); 4 = 1,000 users x 2 sessions,
    /// every event to one user; 5 = scenario 1 plus a client that never reads; 6 = ingest only.
    Scenario {
        /// 1 to 6
        #[arg(value_parser = clap::value_parser!(u8).range(1..=6))]
        number: u8,
        #[command(flatten)]
        common: Common,
        /// Exit non-zero unless every client connected and got every frame (the smoke check).
        #[arg(long)]
        check: bool,
    },
    /// The highest rate to N clients (scenario 1's setup) with no loss (and, optionally, p99
    /// under a bound): doubles from --start until a rate fails, then bisects.
    MaxRate {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 100.0)]
        start: f64,
        #[arg(long, default_value_t = 1_000_000.0)]
        max: f64,
        /// Bisection steps after the first failing rate.
        #[arg(long, default_value_t = 4)]
        steps: usize,
        #[arg(long, default_value_t = 0.0)]
        max_loss_pct: f64,
        #[arg(long)]
        max_p99_ms: Option<f64>,
    },
    /// Stalled clients after a short burst: N clients subscribed to `alerts` stop reading, a
    /// burst of ~2 KB critical alerts (shorter than the slow-consumer grace) is published, then
    /// memory, `sessions.active` and slow-consumer closes are sampled for grace + 10 s, and each
    /// client finally reads to see how its connection ended. --clients defaults to 1,000.
    StalledBurst {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        burst: BurstArgs,
    },
    /// Resume storm (issue 13): L live clients (--clients, default 100) get --rate msg/s (1,000)
    /// of --live prices or alerts for --duration s (10) twice: a baseline phase, then a phase
    /// during which --storm-clients clients are started together (TCP connects and upgrades
    /// limited to --connect-concurrency at a time), each sends `resume` of the `patterns` stream
    /// from a position taken before --replay pattern alerts were published, and must get exactly
    /// those frames, then the ack. Reports the storm's completion time, per-client replay times,
    /// frames lost, and the live latency during the storm against the baseline.
    ResumeStorm {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        storm: StormArgs,
        /// Exit non-zero unless every storm client got exactly its frames and every live client
        /// every frame (the smoke check; no timing).
        #[arg(long)]
        check: bool,
    },
    /// Scenario 5 against another server (one of the benchmark peers), already running.
    PeerStall {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        ws_url: String,
        #[arg(long, value_enum)]
        protocol: PeerProtocol,
        /// webdis: the channel clients SUBSCRIBE to is --channel.
        #[arg(long, default_value = "redis://127.0.0.1:6379/")]
        redis_url: String,
        #[arg(long, default_value = "prices")]
        channel: String,
        /// The server's PID (CPU, RSS).
        #[arg(long)]
        pid: Option<i32>,
        #[arg(long)]
        redis_pid: Option<i32>,
    },
}

#[derive(Debug, Args)]
struct BurstArgs {
    /// The server's session.slow_consumer_grace_ms.
    #[arg(long, default_value_t = 2000)]
    grace_ms: u64,
    /// Critical alerts in the burst.
    #[arg(long, default_value_t = 6000)]
    alerts: u64,
    /// Size of each alert as published.
    #[arg(long, default_value_t = 2048)]
    alert_bytes: usize,
    /// Alerts per second in the burst; 0 = as fast as Redis takes them.
    #[arg(long, default_value_t = 0.0)]
    burst_rate: f64,
    /// SO_RCVBUF of each stalled client's socket, bytes (the kernel doubles it).
    #[arg(long, default_value_t = 4096)]
    rcvbuf: u32,
    /// Seconds of sampling after the burst. Default: grace + 10 s.
    #[arg(long)]
    observe_s: Option<f64>,
    /// Sampling interval after the burst, ms.
    #[arg(long, default_value_t = 250)]
    sample_ms: u64,
    /// At the end each client reads again for at most this long to see its connection's end.
    #[arg(long, default_value_t = 5.0)]
    read_timeout: f64,
    /// The whole run's bound: past it an `error` line is printed and the process exits 3.
    #[arg(long, default_value_t = 180.0)]
    timeout: f64,
}

#[derive(Debug, Args)]
struct StormArgs {
    /// Clients in the storm, all started together.
    #[arg(long, default_value_t = 1000)]
    storm_clients: usize,
    /// Pattern alerts each storm client missed and resumes.
    #[arg(long, default_value_t = 100)]
    replay: u64,
    /// Seconds into the second phase's publishing when the storm starts.
    #[arg(long, default_value_t = 1.0)]
    storm_at: f64,
    /// The live load: prices to symbol watchers (no history) or alerts to users (written to
    /// each user's history stream).
    #[arg(long, value_enum, default_value_t = resume_storm::Live::Prices)]
    live: resume_storm::Live,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PeerProtocol {
    Socketio,
    Webdis,
}

#[derive(Debug, Args)]
struct Common {
    /// Clients (scenario 4: sessions, two per user). Default: the scenario's.
    #[arg(long)]
    clients: Option<usize>,
    /// Messages per second. Default: the scenario's (scenario 6: 0 = as fast as Redis takes it).
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds of publishing. Default: the scenario's (10).
    #[arg(long)]
    duration: Option<f64>,
    /// tickrouter instances on the same Redis; clients are spread round-robin over them.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// A 3-master Redis Cluster (redis-server --cluster-enabled, redis-cli --cluster create)
    /// instead of one redis-server; every instance gets `redis.cluster`.
    #[arg(long)]
    redis_cluster: bool,
    /// More settings for every tickrouter instance, as TOML appended to the scenario's
    /// (e.g. $'[session]\nwrite_delay_ms = 5').
    #[arg(long)]
    server_toml: Option<String>,
    /// Client runtime threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seconds between clients being ready and publishing.
    #[arg(long, default_value_t = 1.0)]
    settle: f64,
    /// Longest wait, after publishing, for deliveries still on their way (later ones are lost).
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// Size of each published message, padded with an ignored field.
    #[arg(long, default_value_t = 200)]
    payload_bytes: usize,
    /// tickrouter binary to run (default: target/release/tickrouter, built first).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Run tickrouter inside this process (correctness only: CPU and RSS are meaningless).
    #[arg(long, hide = true)]
    in_process: bool,
    /// Scenario 4: which per-user event to publish.
    #[arg(long, value_enum, default_value_t = UserEvent::Alert)]
    event: UserEvent,
    /// Scenario 5: seconds of publishing with the stalled client connected.
    #[arg(long, default_value_t = 40.0)]
    stall_duration: f64,
    /// Scenario 6: messages to publish.
    #[arg(long)]
    messages: Option<u64>,
    /// Connections opened at a time during the ramp.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Seconds a client may take to connect and get its ack before it counts as failed.
    #[arg(long, default_value_t = 60.0)]
    connect_timeout: f64,
    /// Repeat a run during which other processes used more than --max-other-cores, or the
    /// hypervisor took more than --max-steal-cores from this machine's vCPUs.
    #[arg(long, default_value_t = 0)]
    retries: usize,
    #[arg(long, default_value_t = 0.25)]
    max_other_cores: f64,
    #[arg(long, default_value_t = 0.01)]
    max_steal_cores: f64,
    /// Before each run, wait up to this many seconds for the machine to be idle.
    #[arg(long, default_value_t = 0.0)]
    quiet_wait: f64,
    /// Free-form label copied into the output.
    #[arg(long)]
    label: Option<String>,
}

impl Common {
    fn options(&self) -> Result<Options, String> {
        let server = if self.in_process {
            ServerKind::InProcess
        } else {
            match &self.server_bin {
                Some(p) => ServerKind::Process(p.clone()),
                None => ServerKind::Process(servers::release_server_binary()?),
            }
        };
        Ok(self.options_with(server))
    }

    fn options_with(&self, server: ServerKind) -> Options {
        Options {
            clients: self.clients,
            rate: self.rate,
            duration: self.duration,
            instances: self.instances,
            threads: self.threads,
            settle: self.settle,
            drain: self.drain,
            payload_bytes: self.payload_bytes,
            server,
            event: self.event,
            stall_duration: self.stall_duration,
            messages: self.messages,
            connect_concurrency: self.connect_concurrency,
            connect_timeout: self.connect_timeout,
            redis_cluster: self.redis_cluster,
            server_toml: self.server_toml.clone(),
        }
    }

    fn noise(&self) -> Noise {
        Noise {
            max_other_cores: self.max_other_cores,
            max_steal_cores: self.max_steal_cores,
            retries: self.retries,
            quiet_wait_s: self.quiet_wait,
        }
    }
}

fn print(label: &Option<String>, mut m: serde_json::Map<String, Value>) {
    if let Some(l) = label {
        m.insert("label".into(), Value::from(l.as_str()));
    }
    println!("{}", Value::Object(m));
}

fn main() -> ExitCode {
    record::now_ns(); // fix the reference instant before anything is timed
    procstat::raise_nofile();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scenario {
            number,
            common,
            check,
        } => common.options().and_then(|opts| {
            let m = scenarios::run_clean(number, &opts, common.noise())?;
            let ok = scenarios::lossless(&m);
            print(&common.label, m);
            if check && !ok {
                return Err("check failed: not every client got every frame".into());
            }
            Ok(())
        }),
        Command::MaxRate {
            common,
            start,
            max,
            steps,
            max_loss_pct,
            max_p99_ms,
        } => common.options().and_then(|opts| {
            let criteria = Criteria {
                max_loss_pct,
                max_p99_ms,
            };
            let m = scenarios::max_rate(&opts, start, max, steps, criteria, common.noise())?;
            print(&common.label, m);
            Ok(())
        }),
        Command::StalledBurst { common, burst } => common.options().and_then(|opts| {
            let b = stalled_burst::Burst {
                grace_ms: burst.grace_ms,
                alerts: burst.alerts,
                alert_bytes: burst.alert_bytes,
                rate: burst.burst_rate,
                rcvbuf: burst.rcvbuf,
                observe_s: burst.observe_s,
                sample_ms: burst.sample_ms,
                read_timeout_s: burst.read_timeout,
                timeout_s: burst.timeout,
            };
            let m = stalled_burst::run(&opts, &b, common.quiet_wait, common.label.clone())?;
            print(&common.label, m);
            Ok(())
        }),
        Command::ResumeStorm {
            common,
            storm,
            check,
        } => common.options().and_then(|opts| {
            let st = resume_storm::Storm {
                clients: storm.storm_clients,
                replay: storm.replay,
                at_s: storm.storm_at,
                live: storm.live,
            };
            let m = resume_storm::run_clean(&opts, &st, common.noise())?;
            let ok = resume_storm::complete(&m);
            print(&common.label, m);
            if check && !ok {
                return Err("check failed: a storm client or a live client missed frames".into());
            }
            Ok(())
        }),
        Command::PeerStall {
            common,
            ws_url,
            protocol,
            redis_url,
            channel,
            pid,
            redis_pid,
        } => {
            // The server kind is unused: the peer is already running.
            let opts = common.options_with(ServerKind::InProcess);
            let protocol = match protocol {
                PeerProtocol::Socketio => Protocol::SocketIo,
                PeerProtocol::Webdis => Protocol::Webdis {
                    init: format!(r#"["SUBSCRIBE","{channel}"]"#),
                    ready: r#"["subscribe""#.into(),
                },
            };
            let ws_url = match protocol {
                Protocol::SocketIo if !ws_url.contains("/socket.io") => format!(
                    "{}/socket.io/?EIO=4&transport=websocket",
                    ws_url.trim_end_matches('/')
                ),
                _ => ws_url,
            };
            let peer = Peer {
                ws_url,
                protocol,
                redis_url,
                channel,
                pid,
                redis_pid,
            };
            print(&common.label, scenarios::peer_stall(&peer, &opts));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickrouter-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The CI smoke check (`cargo test` runs it): every scenario end to end against tickrouter
/// in-process, a few clients for about a second each; nothing may be lost, nothing misrouted.
/// No timing assertions: only that the load generator works and delivery is complete.
#[cfg(test)]
mod smoke {
    use super::*;

    /// The latency histograms are the process's (`record`): one end-to-end test at a time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn options(clients: usize) -> Options {
        Options {
            clients: Some(clients),
            rate: Some(200.0),
            duration: Some(1.0),
            instances: 1,
            threads: 2,
            settle: 0.2,
            drain: 2.0,
            payload_bytes: 200,
            server: ServerKind::InProcess,
            event: UserEvent::Alert,
            stall_duration: 1.0,
            messages: Some(5_000),
            connect_concurrency: 64,
            connect_timeout: 20.0,
            redis_cluster: false,
            server_toml: None,
        }
    }

    fn check(scenario: u8, opts: &Options) -> serde_json::Map<String, Value> {
        let m = scenarios::run(scenario, opts).expect("scenario runs");
        assert!(
            scenarios::lossless(&m),
            "scenario {scenario} lost or misrouted frames: {}",
            Value::Object(m.clone())
        );
        m
    }

    #[test]
    fn every_scenario_delivers_every_frame_end_to_end() {
        let _one_at_a_time = serial();
        record::now_ns();
        let m = check(1, &options(5));
        assert_eq!(
            (m["received"].as_u64(), m["per_client_min"].as_u64()),
            (Some(1000), Some(200))
        );
        let m = check(
            2,
            &Options {
                instances: 2,
                ..options(6)
            },
        );
        assert_eq!(m["server_stats"]["delivered"], 1200);
        check(4, &options(6));
        let m = check(
            4,
            &Options {
                event: UserEvent::Backtest,
                ..options(6)
            },
        );
        assert_eq!(m["event"], "backtest_progress");
        // Two instances on a Redis Cluster: classic channels and history writes through it.
        let m = check(
            1,
            &Options {
                instances: 2,
                redis_cluster: true,
                ..options(4)
            },
        );
        assert_eq!(m["redis_cluster"], true);
        let m = check(5, &options(4));
        assert!(m["baseline"]["received"].as_u64() == Some(800));
        assert_eq!(m["stalled_connected"], 1);
        let m = check(
            6,
            &Options {
                rate: None,
                ..options(0)
            },
        );
        assert_eq!(m["server_stats"]["routed"], 5_000);
    }

    /// The resume storm, small: 20 storm clients each resume 30 pattern alerts while 4 live
    /// clients get prices (and then alerts); every frame must arrive, none twice.
    #[test]
    fn resume_storm_replays_every_missed_frame() {
        let _one_at_a_time = serial();
        record::now_ns();
        for live in [resume_storm::Live::Prices, resume_storm::Live::Alerts] {
            let storm = resume_storm::Storm {
                clients: 20,
                replay: 30,
                at_s: 0.2,
                live,
            };
            let m = resume_storm::run(&options(4), &storm).expect("resume-storm runs");
            assert!(
                resume_storm::complete(&m),
                "resume-storm ({live:?}) lost frames: {}",
                Value::Object(m.clone())
            );
            assert_eq!(m["storm"]["replayed_frames"], 600);
            assert_eq!(m["storm"]["recovered"], 20);
        }
    }
}
