//! Scenario `resume-storm` (issue 13): many clients reconnect at once and each resumes the
//! `patterns` stream, while other clients receive a steady live load.
//!
//! 1. L live clients connect (price watchers as in scenario 1, or, with `--live alerts`, two
//!    signed-in sessions per user receiving `dashboard_alert`s as in scenario 4).
//! 2. A probe client connects anonymously (its default topics include `patterns`) and reads the
//!    `patterns` position (epoch, offset K) from `connection_confirmed`; then R pattern alerts
//!    are published on `tickstock.events.patterns`, and the probe must see all of them live with
//!    offsets K+1..K+R, so they are in the history before the storm.
//! 3. Baseline: one measured phase of the live load, no storm.
//! 4. Storm: the same phase again; `--storm-at` seconds into its publishing, S storm clients are
//!    all started together (connects limited only by `--connect-concurrency`, which bounds the
//!    TCP connects and WebSocket upgrades in flight, not the resumes). Each sends
//!    `{"op":"resume","streams":{"patterns":{"epoch":E,"offset":K}}}` as its first frame, right
//!    after the upgrade, as tickrouter.js does on open, and must receive exactly the R frames
//!    K+1..K+R in order, then the `ack` with `recovered: true, replayed: R`. Anything short of
//!    that counts as lost frames. A storm client then stays connected (reading) to the end.
//!
//! Reported: the storm's completion time (first connect attempt to last ack), per-client times
//! (resume sent to ack, and connect attempt to ack: p50/p99/max), frames replayed and lost, and
//! the live clients' figures for the baseline phase, the storm phase, and only the live messages
//! sent while the storm ran (first attempt to last ack), with loss for those too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use memchr::memmem;
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::clients::{self, ClientSpec, Protocol, Shared, Ws};
use crate::publisher::{self, Payload};
use crate::record;
use crate::run::{loss_pct, round, Bench};
use crate::scenarios::{self, Noise, Options, UserEvent};
use crate::servers::{ServerOpts, Servers};
use tickrouter::domain::redis_names::channel as channels;

pub const NAME: &str = "resume-storm";

/// The live load the storm runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Live {
    /// Price updates to clients watching `symbol:BENCH` (scenario 1: no history written).
    Prices,
    /// `dashboard_alert`s to signed-in users, two sessions each (scenario 4 with `--event
    /// alert`: every one written to the user's history stream).
    Alerts,
}

/// The scenario's own settings (the rest comes from the common `Options`).
#[derive(Debug, Clone)]
pub struct Storm {
    /// Storm clients.
    pub clients: usize,
    /// Pattern alerts each storm client missed and resumes.
    pub replay: u64,
    /// Seconds into the storm phase's publishing when the storm starts.
    pub at_s: f64,
    pub live: Live,
}

/// Live-load defaults: clients, msg/s, seconds per phase.
fn live_defaults(live: Live) -> (usize, f64, f64) {
    match live {
        Live::Prices => (100, 1000.0, 10.0),
        Live::Alerts => (100, 1000.0, 10.0),
    }
}

/// A `pattern_detected` in the flat shape of the brief; each one distinct by its timestamp.
pub struct PatternAlert {
    pub epoch_s: f64,
}

impl Payload for PatternAlert {
    fn build(&mut self, seq: u64, _sent_ns: u64, out: &mut Vec<u8>) {
        use std::io::Write as _;
        out.clear();
        let _ = write!(
            out,
            r#"{{"event_type":"pattern_detected","pattern":"Doji","symbol":"AAPL","confidence":0.9,"timestamp":{:.6}}}"#,
            self.epoch_s + seq as f64 * 1e-6
        );
    }
}

/// What one storm client saw.
#[derive(Debug, Default)]
struct Outcome {
    /// Seconds since the storm started: upgrade done, `connection_confirmed`, `ack`.
    upgraded_s: Option<f64>,
    confirmed_s: Option<f64>,
    resume_sent_s: Option<f64>,
    ack_s: Option<f64>,
    /// Replayed frames that came in order (K+1, K+2, ...); the first one out of order stops the
    /// count.
    in_order: u64,
    /// `patterns` frames received before the ack, in order or not.
    frames: u64,
    recovered: Option<bool>,
    replayed: Option<u64>,
    reason: Option<String>,
    error: Option<String>,
}

/// `,"offset":N` at the end of a frame of the `patterns` stream.
fn patterns_offset(frame: &[u8]) -> Option<u64> {
    memmem::find(frame, br#""stream":"patterns""#)?;
    let key = br#""offset":"#;
    let at = memmem::rfind(frame, key)? + key.len();
    let digits: &[u8] = &frame[at..];
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

async fn storm_client(
    spec: ClientSpec,
    sh: Arc<Shared>,
    sem: Arc<Semaphore>,
    t0: Instant,
    timeout: Duration,
    resume_op: Arc<String>,
    from_offset: u64,
) -> (Outcome, Option<Ws>) {
    let mut out = Outcome::default();
    let since = |t0: Instant| Some(t0.elapsed().as_secs_f64());
    let permit = sem.acquire().await.expect("semaphore");
    let conn = tokio::time::timeout(timeout, clients::connect_with(&spec, &sh, None)).await;
    drop(permit);
    let mut ws = match conn {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            out.error = Some(e);
            return (out, None);
        }
        Err(_) => {
            out.error = Some(format!("not connected within {timeout:?}"));
            return (out, None);
        }
    };
    out.upgraded_s = since(t0);
    if let Err(e) = ws.send(Message::text(resume_op.as_str())).await {
        out.error = Some(format!("send resume: {e}"));
        return (out, None);
    }
    out.resume_sent_s = since(t0);
    let deadline = tokio::time::Instant::from_std(t0) + timeout;
    let mut next = from_offset + 1;
    let mut ordered = true;
    loop {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => {
                out.error = Some(format!("read: {e}"));
                return (out, None);
            }
            Ok(None) => {
                out.error = Some("closed before the ack".into());
                return (out, None);
            }
            Err(_) => {
                out.error = Some(format!("no ack within {timeout:?} of the storm's start"));
                return (out, None);
            }
        };
        let Message::Text(t) = msg else { continue };
        let b = t.as_bytes();
        if b.starts_with(br#"{"event":"connection_confirmed""#) {
            out.confirmed_s = since(t0);
        } else if b.starts_with(br#"{"event":"ack""#) {
            out.ack_s = since(t0);
            let v: Value = serde_json::from_slice(b).unwrap_or(Value::Null);
            let p = &v["data"]["streams"]["patterns"];
            out.recovered = p["recovered"].as_bool();
            out.replayed = p["replayed"].as_u64();
            out.reason = p["reason"].as_str().map(str::to_owned);
            break;
        } else if b.starts_with(br#"{"event":"error""#) {
            out.error = Some(format!("resume refused: {:.200}", t.as_str()));
            return (out, None);
        } else if let Some(offset) = patterns_offset(b) {
            out.frames += 1;
            if ordered && offset == next {
                out.in_order += 1;
                next += 1;
            } else {
                ordered = false;
            }
        }
    }
    (out, Some(ws))
}

/// Percentiles (ms) of a list of seconds.
fn dist_ms(mut xs: Vec<f64>) -> Value {
    if xs.is_empty() {
        return Value::Null;
    }
    xs.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let i = ((xs.len() as f64 * p).ceil() as usize).clamp(1, xs.len()) - 1;
        round(xs[i] * 1000.0, 1)
    };
    json!({"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": q(1.0), "n": xs.len()})
}

/// The storm's summary from every client's outcome.
fn storm_fields(outcomes: &[Outcome], replay: u64, elapsed_s: f64) -> Map<String, Value> {
    let mut m = Map::new();
    let n = outcomes.len() as u64;
    let upgraded = outcomes.iter().filter(|o| o.upgraded_s.is_some()).count();
    let acked = outcomes.iter().filter(|o| o.ack_s.is_some()).count();
    let recovered = outcomes
        .iter()
        .filter(|o| o.recovered == Some(true))
        .count();
    let complete = outcomes
        .iter()
        .filter(|o| o.recovered == Some(true) && o.in_order == replay && o.frames == replay)
        .count();
    let in_order: u64 = outcomes.iter().map(|o| o.in_order.min(replay)).sum();
    let frames: u64 = outcomes.iter().map(|o| o.frames).sum();
    let expected = n * replay;
    m.insert("clients".into(), json!(n));
    m.insert("connected".into(), json!(upgraded));
    m.insert("acked".into(), json!(acked));
    m.insert("recovered".into(), json!(recovered));
    m.insert("complete".into(), json!(complete));
    m.insert("expected_frames".into(), json!(expected));
    m.insert("replayed_frames".into(), json!(frames));
    m.insert("replayed_in_order".into(), json!(in_order));
    m.insert("lost_frames".into(), json!(expected - in_order));
    m.insert(
        "extra_frames".into(),
        json!(frames.saturating_sub(in_order)),
    );
    let acked_replayed: u64 = outcomes.iter().filter_map(|o| o.replayed).sum();
    m.insert("ack_replayed_sum".into(), json!(acked_replayed));
    let mut reasons = Map::new();
    for o in outcomes {
        if let Some(r) = &o.reason {
            let c = reasons.entry(r.clone()).or_insert(json!(0));
            *c = json!(c.as_u64().unwrap_or(0) + 1);
        }
    }
    m.insert("not_recovered_reasons".into(), Value::Object(reasons));
    let last_ack = outcomes
        .iter()
        .filter_map(|o| o.ack_s)
        .fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))));
    let last_upgrade = outcomes
        .iter()
        .filter_map(|o| o.upgraded_s)
        .fold(0.0f64, f64::max);
    m.insert(
        "completion_s".into(),
        json!(if acked as u64 == n {
            last_ack.map(|x| round(x, 3))
        } else {
            None
        }),
    );
    m.insert("last_ack_s".into(), json!(last_ack.map(|x| round(x, 3))));
    m.insert("all_upgraded_s".into(), json!(round(last_upgrade, 3)));
    m.insert("elapsed_s".into(), json!(round(elapsed_s, 3)));
    let pick = |f: &dyn Fn(&Outcome) -> Option<f64>| outcomes.iter().filter_map(f).collect();
    m.insert(
        "replay_ms".into(),
        dist_ms(pick(&|o| Some(o.ack_s? - o.resume_sent_s?))),
    );
    m.insert("client_ms".into(), dist_ms(pick(&|o| o.ack_s)));
    m.insert("upgrade_ms".into(), dist_ms(pick(&|o| o.upgraded_s)));
    m.insert(
        "confirmed_after_upgrade_ms".into(),
        dist_ms(pick(&|o| Some(o.confirmed_s? - o.upgraded_s?))),
    );
    let first_error = outcomes.iter().find_map(|o| o.error.clone());
    m.insert(
        "failed".into(),
        json!(outcomes.iter().filter(|o| o.error.is_some()).count()),
    );
    m.insert("first_error".into(), json!(first_error));
    m
}

/// The live clients' latency of the messages sent while the storm ran, from the window
/// histograms (`record::open_window`).
fn window_fields(live_clients: usize, per_msg: f64) -> Map<String, Value> {
    let h = record::merged_window();
    let published = record::window_published();
    let expected = (published as f64 * per_msg).round() as u64;
    let received = h.len();
    let us = |ns: u64| round(ns as f64 / 1000.0, 1);
    let q = |x: f64| {
        if h.is_empty() {
            Value::Null
        } else {
            json!(us(h.value_at_quantile(x)))
        }
    };
    let mut m = Map::new();
    m.insert("live_clients".into(), json!(live_clients));
    m.insert("published".into(), json!(published));
    m.insert("expected_deliveries".into(), json!(expected));
    m.insert("received".into(), json!(received));
    m.insert("loss_pct".into(), json!(loss_pct(expected, received)));
    m.insert("p50_us".into(), q(0.5));
    m.insert("p90_us".into(), q(0.9));
    m.insert("p99_us".into(), q(0.99));
    m.insert("p999_us".into(), q(0.999));
    m.insert("max_us".into(), q(1.0));
    m
}

/// The probe's next text frame (`None` for other frames: the server's pings), or an error once
/// `deadline` passed (a per-read timeout would never fire: pings come every 10 s).
async fn probe_read(ws: &mut Ws, deadline: tokio::time::Instant) -> Result<Option<String>, String> {
    match tokio::time::timeout_at(deadline, ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => Ok(Some(t.as_str().to_owned())),
        Ok(Some(Ok(_))) => Ok(None),
        Ok(Some(Err(e))) => Err(format!("probe: {e}")),
        Ok(None) => Err("probe: closed".to_string()),
        Err(_) => Err("probe: still waiting after 30 s".to_string()),
    }
}

/// Connects the probe, reads the `patterns` position, publishes `replay` pattern alerts and
/// waits until the probe saw them all live (so they are in the history). Returns (epoch,
/// offset before them, offsets the probe saw).
fn prepare_history(
    rt: &tokio::runtime::Runtime,
    servers: &Servers,
    url: &str,
    replay: u64,
) -> Result<(String, u64, Vec<u64>), String> {
    let sh = Arc::new(Shared::new(b"\"never\""));
    let spec = ClientSpec {
        url: url.to_owned(),
        protocol: Protocol::Tickrouter { ops: Vec::new() },
        marker: None,
        stall: false,
    };
    rt.block_on(async {
        let mut ws = clients::connect_with(&spec, &sh, None).await?;
        let wait = || tokio::time::Instant::now() + Duration::from_secs(30);
        let deadline = wait();
        let confirmed: Value = loop {
            if let Some(t) = probe_read(&mut ws, deadline).await? {
                if t.starts_with(r#"{"event":"connection_confirmed""#) {
                    break serde_json::from_str(&t).map_err(|e| e.to_string())?;
                }
            }
        };
        let p = &confirmed["data"]["streams"]["patterns"];
        let (Some(epoch), Some(offset)) = (p["epoch"].as_str(), p["offset"].as_u64()) else {
            return Err(format!(
                "connection_confirmed has no patterns position (a build without history?): {confirmed}"
            ));
        };
        // Release the hold on live frames (the first op ends it).
        ws.send(Message::text(r#"{"op":"ping","id":1}"#))
            .await
            .map_err(|e| e.to_string())?;
        let mut con = servers.redis()?;
        let mut pipe = redis::pipe();
        let mut payload = PatternAlert {
            epoch_s: chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
        };
        let mut buf = Vec::new();
        for k in 0..replay {
            payload.build(k, 0, &mut buf);
            pipe.cmd("PUBLISH")
                .arg(channels::PATTERN_EVENTS)
                .arg(&buf[..])
                .ignore();
        }
        pipe.query::<()>(&mut con).map_err(|e| e.to_string())?;
        let mut seen = Vec::new();
        let deadline = wait();
        let mut unnumbered = 0;
        while (seen.len() as u64) + unnumbered < replay {
            match probe_read(&mut ws, deadline).await {
                Ok(Some(t)) => {
                    if let Some(o) = patterns_offset(t.as_bytes()) {
                        seen.push(o);
                    } else if t.starts_with(r#"{"event":"pattern_alert""#) {
                        // Delivered without an offset: not written to the history.
                        unnumbered += 1;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(format!(
                        "{e}: saw {} of {replay} pattern alerts with offsets, {unnumbered} without",
                        seen.len()
                    ))
                }
            }
        }
        let _ = ws.close(None).await;
        Ok((epoch.to_owned(), offset, seen))
    })
}

/// One run (no retries).
pub fn run(opts: &Options, storm: &Storm) -> Result<Map<String, Value>, String> {
    let (d_clients, d_rate, d_duration) = live_defaults(storm.live);
    let live_clients = opts.clients.unwrap_or(d_clients);
    let rate = opts.rate.unwrap_or(d_rate);
    let duration = opts.duration.unwrap_or(d_duration);
    let instances = opts.instances.max(1);
    // Every client comes from one address: live + storm + the probe.
    let mut config = scenarios::config_for((live_clients + storm.clients + 1).div_ceil(instances));
    if storm.replay >= 1000 {
        config.push_str(&format!("[history]\nsize = {}\n", storm.replay + 100));
    }
    let config = Some(config);
    let servers = Servers::start(&ServerOpts {
        kind: opts.server.clone(),
        instances,
        config: config.clone(),
        cluster: opts.redis_cluster,
    })?;
    let mut out = scenarios::header(0, opts, &servers, &config);
    out.insert("scenario".into(), json!(NAME));
    let urls = servers.ws_urls();
    let (key, per_msg, users): (&[u8], f64, usize) = match storm.live {
        Live::Prices => (b"\"volume\"", live_clients as f64, 0),
        Live::Alerts => (b"sent_ns", 2.0, (live_clients / 2).max(1)),
    };
    let live_n = if users > 0 { users * 2 } else { live_clients };
    out.insert(
        "live".into(),
        json!(match storm.live {
            Live::Prices => "prices",
            Live::Alerts => "alerts",
        }),
    );
    out.insert("live_clients".into(), json!(live_n));
    out.insert("storm_clients".into(), json!(storm.clients));
    out.insert("replay".into(), json!(storm.replay));
    out.insert("storm_at_s".into(), json!(storm.at_s));
    out.insert(
        "connect_concurrency".into(),
        json!(opts.connect_concurrency),
    );
    let mut bench = Bench::new(scenarios::target_of(&servers), live_n, key, opts.threads);
    bench.connect_concurrency = opts.connect_concurrency;
    bench.connect_timeout = Duration::from_secs_f64(opts.connect_timeout);
    out.insert("rss_empty_mb".into(), json!(bench.server_rss_mb()));
    let specs = match storm.live {
        Live::Prices => scenarios::price_watchers(&urls, live_n, false),
        Live::Alerts => scenarios::user_sessions(&urls, users, UserEvent::Alert),
    };
    let connected = bench.connect(specs);
    out.insert("connected".into(), connected["connected"].clone());
    out.insert("ramp_s".into(), connected["ramp_s"].clone());
    let storm_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (epoch, from, seen) = prepare_history(&storm_rt, &servers, &urls[0], storm.replay)?;
    let want: Vec<u64> = (from + 1..=from + storm.replay).collect();
    out.insert(
        "position".into(),
        json!({"epoch": epoch, "offset": from, "probe_saw_all": seen == want,
               "probe_first": seen.first(), "probe_last": seen.last()}),
    );
    if seen != want {
        out.insert(
            "error".into(),
            json!(format!(
                "the probe saw offsets {:?}..{:?} ({} frames), not {}..{}",
                seen.first(),
                seen.last(),
                seen.len(),
                from + 1,
                from + storm.replay
            )),
        );
    }
    let mut payload: Box<dyn Payload> = match storm.live {
        Live::Prices => Box::new(scenarios::price_payload(opts.payload_bytes)),
        Live::Alerts => Box::new(publisher::UserAlert {
            users,
            bytes: opts.payload_bytes,
        }),
    };
    let channel = match storm.live {
        Live::Prices => channels::PRICES,
        Live::Alerts => channels::DASHBOARD_ALERTS,
    };
    let baseline = bench.phase(
        &scenarios::plan(channel, rate, duration, per_msg, opts),
        payload.as_mut(),
    );

    // The storm phase: the same load, and the storm started from another thread once
    // publishing is under way.
    let (tx, rx) = std::sync::mpsc::channel::<Instant>();
    let mut plan = scenarios::plan(channel, rate, duration, per_msg, opts);
    plan.started = Some(tx);
    let resume_op = Arc::new(format!(
        r#"{{"op":"resume","id":1,"streams":{{"patterns":{{"epoch":"{epoch}","offset":{from}}}}}}}"#
    ));
    let storm_specs: Vec<ClientSpec> = (0..storm.clients)
        .map(|i| ClientSpec {
            url: urls[i % urls.len()].clone(),
            protocol: Protocol::Tickrouter { ops: Vec::new() },
            marker: None,
            stall: false,
        })
        .collect();
    let timeout = Duration::from_secs_f64(opts.connect_timeout);
    let concurrency = opts.connect_concurrency.max(1);
    let at = Duration::from_secs_f64(storm.at_s);
    let replay = storm.replay;
    let rt = &storm_rt;
    let (phase, storm_result) = std::thread::scope(|s| {
        let storm_thread = s.spawn(move || {
            let phase_start = rx.recv().ok()?;
            let sleep = (phase_start + at).saturating_duration_since(Instant::now());
            std::thread::sleep(sleep);
            let sh = Arc::new(Shared::new(b"\"never\""));
            let sem = Arc::new(Semaphore::new(concurrency));
            record::open_window();
            let t0 = Instant::now();
            let results = rt.block_on(async {
                let tasks: Vec<_> = storm_specs
                    .into_iter()
                    .map(|spec| {
                        rt.spawn(storm_client(
                            spec,
                            sh.clone(),
                            sem.clone(),
                            t0,
                            timeout,
                            resume_op.clone(),
                            from,
                        ))
                    })
                    .collect();
                let mut results = Vec::with_capacity(tasks.len());
                for t in tasks {
                    results.push(t.await.unwrap_or_else(|e| {
                        (
                            Outcome {
                                error: Some(format!("task: {e}")),
                                ..Outcome::default()
                            },
                            None,
                        )
                    }));
                }
                results
            });
            record::close_window();
            let elapsed = t0.elapsed().as_secs_f64();
            let storm_start_in_phase = t0.duration_since(phase_start).as_secs_f64();
            // The storm clients stay connected, reading, until the runtime stops.
            let mut outcomes = Vec::with_capacity(results.len());
            for (o, ws) in results {
                if let Some(mut ws) = ws {
                    rt.spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
                }
                outcomes.push(o);
            }
            let mut m = storm_fields(&outcomes, replay, elapsed);
            m.insert(
                "started_s_into_phase".into(),
                json!(round(storm_start_in_phase, 3)),
            );
            Some(m)
        });
        let phase = bench.phase(&plan, payload.as_mut());
        (phase, storm_thread.join().expect("storm thread"))
    });
    let Some(mut storm_m) = storm_result else {
        return Err("the storm phase never started".into());
    };
    let publish_s = phase["publish_s"].as_f64().unwrap_or(0.0);
    let ended = storm_m["started_s_into_phase"].as_f64().unwrap_or(0.0)
        + storm_m["elapsed_s"].as_f64().unwrap_or(0.0);
    storm_m.insert("ended_within_publishing".into(), json!(ended <= publish_s));
    out.insert("storm".into(), Value::Object(storm_m));
    out.insert(
        "live_during_storm".into(),
        Value::Object(window_fields(live_n, per_msg)),
    );
    let ratio = |k: &str| match (phase[k].as_f64(), baseline[k].as_f64()) {
        (Some(p), Some(b)) if b > 0.0 => json!(round(p / b, 2)),
        _ => Value::Null,
    };
    out.insert("p99_ratio_vs_baseline".into(), ratio("p99_us"));
    // Machine noise over both phases (the storm's retries look at these).
    let n = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    out.insert(
        "other_cores".into(),
        json!(n(&baseline, "other_cores").max(n(&phase, "other_cores"))),
    );
    out.insert(
        "steal_s".into(),
        json!(round(n(&baseline, "steal_s") + n(&phase, "steal_s"), 2)),
    );
    out.insert(
        "window_s".into(),
        json!(round(n(&baseline, "window_s") + n(&phase, "window_s"), 2)),
    );
    let error = [&baseline, &phase]
        .iter()
        .find_map(|m| m.get("error").filter(|e| e.is_string()).cloned());
    out.insert("baseline".into(), Value::Object(baseline));
    out.insert("during".into(), Value::Object(phase));
    if out.get("error").is_none_or(Value::is_null) {
        out.insert("error".into(), error.unwrap_or(Value::Null));
    }
    if out.get("error").is_some_and(Value::is_string) {
        out.insert("server_log".into(), json!(servers.log_tail()));
    }
    drop(bench);
    storm_rt.shutdown_background();
    drop(servers);
    Ok(out)
}

/// `run`, repeated while other processes or the hypervisor disturbed it.
pub fn run_clean(
    opts: &Options,
    storm: &Storm,
    noise: Noise,
) -> Result<Map<String, Value>, String> {
    scenarios::retry_while_disturbed(noise, || run(opts, storm))
}

/// Whether every storm client got exactly its frames and every live client every frame.
pub fn complete(m: &Map<String, Value>) -> bool {
    let s = &m["storm"];
    let n = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    n(s, "complete") == n(s, "clients")
        && n(s, "lost_frames") == 0.0
        && n(s, "extra_frames") == 0.0
        && m["position"]["probe_saw_all"] == json!(true)
        && ["baseline", "during"].iter().all(|p| {
            let p = &m[*p];
            n(p, "loss_pct") == 0.0 && n(p, "disconnects") == 0.0 && n(p, "misrouted") == 0.0
        })
        && m.get("connected") == m.get("live_clients")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_of_pattern_frames() {
        let f = br#"{"event":"pattern_alert","data":{"pattern":"Doji","symbol":"AAPL","confidence":0.9,"timestamp":1},"stream":"patterns","offset":1042}"#;
        assert_eq!(patterns_offset(f), Some(1042));
        let other = br#"{"event":"dashboard_alert","data":{},"stream":"alerts","offset":3}"#;
        assert_eq!(patterns_offset(other), None);
    }

    #[test]
    fn pattern_alerts_are_distinct_json() {
        let mut p = PatternAlert { epoch_s: 1.0e9 };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        p.build(0, 0, &mut a);
        p.build(1, 0, &mut b);
        let v: Value = serde_json::from_slice(&a).expect("JSON");
        assert_eq!(v["event_type"], "pattern_detected");
        assert_ne!(a, b);
    }
}
