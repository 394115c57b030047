//! A real 3-master Redis Cluster started by the test (`redis-server --cluster-enabled yes` on
//! free ports whose cluster-bus ports are free too, and `redis-cli --cluster create`):
//! classic and sharded channels delivered, keys (history, preferences, jobs) through the
//! cluster client, and the subscriptions kept through what breaks them: a master restarting
//! under two sharded channels in different slots, a slot migrating, the classic subscription's
//! node dying. Each loss is counted and visible in /health.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tickrouter::config::{ChannelRoute, Settings};
use tickrouter::domain::kind::EventKind;

use crate::util::{api, check_config, free_port, wait_for, App, Client, Redis, SECRET};

/// Long enough for a node restart, the cluster agreeing again and a re-subscription.
const RECOVER: Duration = Duration::from_secs(20);

struct Node {
    port: u16,
    /// Where clients connect over TLS, when the cluster has TLS.
    tls_port: Option<u16>,
    /// Its working directory: its cluster config file and any dump it writes (a replica's).
    dir: String,
    redis: Option<Redis>,
}

/// A TLS cluster's files: the server certificate and key, and the CA that signed them.
struct TlsFiles {
    cert: String,
    key: String,
    ca: String,
}

impl Node {
    fn args(dir: &str, tls: Option<(&TlsFiles, u16)>) -> Vec<String> {
        let mut args: Vec<String> = [
            "--cluster-enabled",
            "yes",
            "--dir",
            dir,
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
            // The other masters keep serving while one is down.
            "--cluster-require-full-coverage",
            "no",
            // Replicas sync at once, not after Redis's default 5 s wait for more replicas.
            "--repl-diskless-sync-delay",
            "0",
        ]
        .map(str::to_owned)
        .to_vec();
        if let Some((files, port)) = tls {
            // The plain port stays for the harness; the cluster announces the TLS port, and
            // the bus between nodes is TLS too.
            let tls = [
                "--tls-port",
                &port.to_string(),
                "--tls-cluster",
                "yes",
                "--tls-cert-file",
                &files.cert,
                "--tls-key-file",
                &files.key,
                "--tls-ca-cert-file",
                &files.ca,
                "--tls-auth-clients",
                "no",
            ];
            args.extend(tls.map(str::to_owned));
        }
        args
    }

    fn start(port: u16, dir: &str, tls: Option<(&TlsFiles, u16)>) -> Option<Redis> {
        let args = Node::args(dir, tls);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Redis::try_start(port, &args)
    }

    fn query<T: redis::FromRedisValue>(&self, words: &[&str]) -> T {
        self.redis.as_ref().expect("node is up").query(words)
    }
}

/// Three masters (and their replicas); the nodes' directories removed on drop.
struct Cluster {
    nodes: Vec<Node>,
    tls: Option<TlsFiles>,
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

impl Cluster {
    fn start() -> Cluster {
        Cluster::start_with(None, 0)
    }

    /// Three masters with `replicas` replicas each.
    fn start_with(tls: Option<TlsFiles>, replicas: usize) -> Cluster {
        let mut nodes = Vec::new();
        let id = std::process::id();
        while nodes.len() < 3 * (1 + replicas) {
            let port = cluster_port();
            let dir = std::env::temp_dir().join(format!("tickrouter-test-cluster-{id}-{port}"));
            std::fs::create_dir_all(&dir).unwrap();
            let dir = dir.to_string_lossy().into_owned();
            let tls_port = tls.as_ref().map(|_| free_port());
            let files = tls.as_ref().zip(tls_port);
            match Node::start(port, &dir, files) {
                Some(redis) => nodes.push(Node {
                    port,
                    tls_port,
                    dir,
                    redis: Some(redis),
                }),
                None => drop(std::fs::remove_dir_all(&dir)),
            }
        }
        let mut create = Command::new("redis-cli");
        if let Some(files) = &tls {
            create.args(["--tls", "--cacert", &files.ca]);
        }
        let status = create
            .args(["--cluster", "create"])
            .args(
                nodes
                    .iter()
                    .map(|n| format!("127.0.0.1:{}", n.tls_port.unwrap_or(n.port))),
            )
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli");
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = Cluster { nodes, tls };
        cluster.wait_ok();
        // A replica that never synced cannot take over (its data is too old to be trusted).
        wait_for("every replica in sync", RECOVER, || {
            cluster
                .nodes
                .iter()
                .all(|n| {
                    let info: String = n.query(&["INFO", "replication"]);
                    info.contains("role:master") || info.contains("master_link_status:up")
                })
                .then_some(())
        });
        cluster
    }

    /// Every node up says the cluster is ok and knows every slot's owner.
    fn wait_ok(&self) {
        let up = self.nodes.iter().filter(|n| n.redis.is_some()).count();
        wait_for("the cluster to be ok", RECOVER, || {
            self.nodes
                .iter()
                .filter(|n| n.redis.is_some())
                .all(|n| {
                    let info: String = n.query(&["CLUSTER", "INFO"]);
                    let nodes: String = n.query(&["CLUSTER", "NODES"]);
                    // Every node up is seen as up (a restarted one is no longer `fail`).
                    let seen_up = nodes.lines().filter(|l| !l.contains("fail")).count();
                    info.contains("cluster_state:ok")
                        && info.contains("cluster_slots_ok:16384")
                        && seen_up >= up
                })
                .then_some(())
        });
    }

    fn urls(&self) -> Vec<String> {
        let url = |n: &Node| match n.tls_port {
            Some(port) => format!("rediss://127.0.0.1:{port}"),
            None => format!("redis://127.0.0.1:{}", n.port),
        };
        self.nodes.iter().map(url).collect()
    }

    fn id(&self, node: usize) -> String {
        self.nodes[node].query(&["CLUSTER", "MYID"])
    }

    fn slot(&self, channel: &str) -> u16 {
        self.up().query::<u16>(&["CLUSTER", "KEYSLOT", channel])
    }

    fn up(&self) -> &Node {
        self.nodes.iter().find(|n| n.redis.is_some()).unwrap()
    }

    /// The index of the node that owns `slot`, by the first node up's view.
    fn owner(&self, slot: u16) -> usize {
        let nodes: String = self.up().query(&["CLUSTER", "NODES"]);
        for line in nodes.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let owns = words[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).contains(&slot),
                None => range.parse::<u16>().ok() == Some(slot),
            });
            if owns {
                let port: u16 = words[1].split(['@', ':']).nth(1).unwrap().parse().unwrap();
                let at = |n: &Node| n.port == port || n.tls_port == Some(port);
                return self.nodes.iter().position(at).unwrap();
            }
        }
        panic!("no owner of slot {slot}");
    }

    /// Channel names whose slots the node owns, each in a slot of its own.
    fn channels_on(&self, node: usize, n: usize) -> Vec<String> {
        let mut found: Vec<(String, u16)> = Vec::new();
        for i in 0.. {
            let name = format!("shard.health.{i}");
            let slot = self.slot(&name);
            if self.owner(slot) == node && found.iter().all(|(_, s)| *s != slot) {
                found.push((name, slot));
                if found.len() == n {
                    break;
                }
            }
        }
        found.into_iter().map(|(name, _)| name).collect()
    }

    /// SPUBLISH on the channel's owner (by the cluster client, which follows MOVED).
    fn spublish(&self, channel: &str, payload: &str) {
        let client = redis::cluster::ClusterClient::new(
            self.nodes
                .iter()
                .filter(|n| n.redis.is_some())
                .map(|n| format!("redis://127.0.0.1:{}", n.port))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        if let Ok(mut con) = client.get_connection() {
            let _: redis::RedisResult<i64> = redis::cmd("SPUBLISH")
                .arg(channel)
                .arg(payload)
                .query(&mut con);
        }
    }

    fn publish(&self, channel: &str, payload: &str) {
        self.up().redis.as_ref().unwrap().publish(channel, payload);
    }

    fn kill(&mut self, node: usize) {
        self.nodes[node].redis.take().unwrap().kill();
    }

    fn restart(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        let tls = self.tls.as_ref().zip(n.tls_port);
        n.redis = Some(Node::start(n.port, &n.dir, tls).expect("the node restarts on its port"));
        self.wait_ok();
    }

    fn settings(&self, sharded: &[String]) -> Settings {
        let mut s = Settings::default();
        s.redis.cluster = self.urls();
        s.redis.tls.ca = self.tls.as_ref().map(|t| t.ca.clone().into());
        s.auth.jwt_secret = Some(SECRET.into());
        s.server.static_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/static").into();
        s.redis.reconnect_initial_ms = 50;
        s.redis.reconnect_max_ms = 500;
        s.redis.keepalive_secs = 1;
        s.channels.extra = sharded
            .iter()
            .map(|name| ChannelRoute {
                channel: Some(name.clone()),
                pattern: None,
                kind: EventKind::SystemHealth,
                sharded: true,
            })
            .collect();
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            drop(node.redis.take());
            let _ = std::fs::remove_dir_all(&node.dir);
        }
    }
}

/// Publishes a marked health message with `publish` until `client` receives one (a lost
/// subscription loses what is published meanwhile), within `timeout`; returns the frame.
fn delivered(client: &mut Client, timeout: Duration, publish: impl Fn(&str)) -> Value {
    let deadline = Instant::now() + timeout;
    for attempt in 0.. {
        assert!(
            Instant::now() < deadline,
            "nothing delivered in {timeout:?}"
        );
        let marker = format!("m{attempt}-{}", fastrand::u64(..));
        publish(&json!({"overall_status": "healthy", "message": marker}).to_string());
        let until = Instant::now() + Duration::from_millis(300);
        while let Some(frame) = client.recv(until.saturating_duration_since(Instant::now())) {
            if frame["event"] == "system_health" && frame["data"]["message"] == marker {
                return frame;
            }
        }
    }
    unreachable!()
}

fn health(app: &App) -> Value {
    serde_json::from_str(&app.get("/health").1).unwrap()
}

#[test]
fn a_cluster_carries_channels_history_preferences_and_jobs() {
    let cluster = Cluster::start();
    let sharded = cluster.channels_on(1, 1);
    let app = App::start_with(cluster.settings(&sharded));
    let mut client = app.ws_as("alice", &[]);
    wait_for("the sharded channel subscribed", RECOVER, || {
        (health(&app)["sharded_channels_down"] == 0).then_some(())
    });

    // A classic broadcast, written to history in the cluster: it carries its offset.
    let frame = delivered(&mut client, RECOVER, |m| {
        cluster.publish("tickstock.health.status", m)
    });
    assert!(frame["offset"].as_u64().unwrap() >= 1, "{frame}");
    let frame = delivered(&mut client, RECOVER, |m| cluster.spublish(&sharded[0], m));
    assert!(frame["offset"].as_u64().is_some(), "{frame}");

    // Preferences (two keys in two slots) and a backtest job (record and indexes in three).
    let rules = json!({"max_alerts_per_hour": 7});
    let (status, body) = api(
        &app,
        "PUT",
        "/api/me/alert-rules",
        Some("alice"),
        Some(&rules),
    );
    assert_eq!(status, 200, "{body}");
    let (_, body) = api(&app, "GET", "/api/me/alert-rules", Some("alice"), None);
    assert_eq!(body["max_alerts_per_hour"], 7, "{body}");
    let job = json!({"symbols": ["AAPL"], "start_date": "2024-01-01",
                     "end_date": "2024-06-30", "patterns": ["Doji"]});
    let (status, body) = api(&app, "POST", "/api/backtests", Some("alice"), Some(&job));
    assert_eq!(status, 201, "{body}");
    let (_, list) = api(&app, "GET", "/api/backtests", Some("alice"), None);
    assert_eq!(list["jobs"][0]["job_id"], body["job_id"], "{list}");

    // A user's own stream (its offline queue) in its own slot.
    let alert = json!({"user_id": "alice", "alert": {"id": "c1", "type": "price_target",
        "title": "cluster", "description": "for one user", "symbol": "AAPL",
        "show_notification": false}});
    cluster.publish("tickstock.dashboard.alerts", &alert.to_string());
    let frame = client.expect("dashboard_market_event");
    assert_eq!(frame["stream"], "user", "{frame}");
    assert!(frame["offset"].as_u64().is_some(), "{frame}");
    let health = health(&app);
    assert_eq!(health["redis_connected"], true, "{health}");
    assert!(
        health["redis"]["connected_clients"].as_u64().unwrap() >= 3,
        "{health}"
    );

    // `tickrouter check` against the seeds: the first node's checks, then every master.
    let seeds: Vec<String> = cluster.urls().iter().map(|u| format!("{u:?}")).collect();
    let (code, report) = check_config(&format!("[redis]\ncluster = [{}]\n", seeds.join(", ")));
    assert_eq!(code, Some(0), "{report}");
    assert!(
        report.contains("every Redis Cluster master answered PING"),
        "{report}"
    );
}

#[test]
fn sharded_channels_in_two_slots_of_a_master_resume_after_it_restarts() {
    let mut cluster = Cluster::start();
    let sharded = cluster.channels_on(2, 2);
    let app = App::start_with(cluster.settings(&sharded));
    let mut client = app.ws();
    for channel in &sharded {
        delivered(&mut client, RECOVER, |m| cluster.spublish(channel, m));
    }
    let gaps = health(&app)["subscription_gaps"].as_u64().unwrap();

    cluster.kill(2);
    wait_for("the lost subscriptions in /health", RECOVER, || {
        let h = health(&app);
        (h["sharded_channels_down"].as_u64() > Some(0) && h["status"] == "degraded").then_some(())
    });
    cluster.restart(2);
    for channel in &sharded {
        delivered(&mut client, RECOVER, |m| cluster.spublish(channel, m));
    }
    let h = health(&app);
    assert!(h["subscription_gaps"].as_u64().unwrap() > gaps, "{h}");
    wait_for("no channel down", RECOVER, || {
        (health(&app)["sharded_channels_down"] == 0).then_some(())
    });
}

#[test]
fn a_sharded_subscription_follows_its_slot_to_another_master() {
    let cluster = Cluster::start();
    let sharded = cluster.channels_on(0, 1);
    let app = App::start_with(cluster.settings(&sharded));
    let mut client = app.ws();
    delivered(&mut client, RECOVER, |m| cluster.spublish(&sharded[0], m));

    let slot = cluster.slot(&sharded[0]).to_string();
    let (from, to) = (cluster.id(0), cluster.id(1));
    let _: () = cluster.nodes[1].query(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from]);
    let _: () = cluster.nodes[0].query(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to]);
    for node in [1, 0, 2] {
        let _: () = cluster.nodes[node].query(&["CLUSTER", "SETSLOT", &slot, "NODE", &to]);
    }
    wait_for("the slot to move", RECOVER, || {
        (cluster.owner(slot.parse().unwrap()) == 1).then_some(())
    });
    delivered(&mut client, RECOVER, |m| cluster.spublish(&sharded[0], m));
    let (_, subscribers): (String, u64) =
        cluster.nodes[1].query(&["PUBSUB", "SHARDNUMSUB", &sharded[0]]);
    assert_eq!(subscribers, 1, "subscribed on the new owner");
    assert!(health(&app)["subscription_gaps"].as_u64().unwrap() >= 1);
}

#[test]
fn the_classic_subscription_moves_when_its_node_dies() {
    let mut cluster = Cluster::start();
    let app = App::start_with(cluster.settings(&[]));
    let mut client = app.ws();
    delivered(&mut client, RECOVER, |m| {
        cluster.publish("tickstock.health.status", m)
    });
    // PUBSUB NUMSUB counts the node's own subscribers.
    let on = |cluster: &Cluster, node: usize| {
        cluster.nodes[node].redis.is_some() && {
            let n: (String, u64) =
                cluster.nodes[node].query(&["PUBSUB", "NUMSUB", "tickstock.health.status"]);
            n.1 > 0
        }
    };
    let node = (0..3)
        .find(|&n| on(&cluster, n))
        .expect("subscribed on a node");
    cluster.kill(node);
    let started = Instant::now();
    delivered(&mut client, RECOVER, |m| {
        cluster.publish("tickstock.health.status", m)
    });
    let moved = started.elapsed();
    assert!((0..3).any(|n| n != node && on(&cluster, n)));
    assert!(health(&app)["subscription_gaps"].as_u64().unwrap() >= 1);
    eprintln!("the classic subscription moved in {moved:?}");
}

#[test]
fn a_tls_cluster_works_with_rediss_seeds_and_the_configured_ca() {
    let dir = std::env::temp_dir().join(format!("tickrouter-cluster-tls-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let (server, ca) = crate::tls::make_certificates(&dir);
    let files = TlsFiles {
        cert: server.cert.display().to_string(),
        key: server.key.display().to_string(),
        ca: ca.display().to_string(),
    };
    let cluster = Cluster::start_with(Some(files), 0);
    let app = App::start_with(cluster.settings(&[]));
    let mut client = app.ws();
    let frame = delivered(&mut client, RECOVER, |m| {
        cluster.publish("tickstock.health.status", m)
    });
    assert!(
        frame["offset"].as_u64().is_some(),
        "history written over TLS: {frame}"
    );
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_replica_taking_over_a_dead_master_carries_its_sharded_channel_and_keys() {
    let mut cluster = Cluster::start_with(None, 1);
    let master = cluster.owner(cluster.slot("shard.health.0"));
    let sharded = cluster.channels_on(master, 1);
    let app = App::start_with(cluster.settings(&sharded));
    let mut client = app.ws();
    delivered(&mut client, RECOVER, |m| cluster.spublish(&sharded[0], m));

    cluster.kill(master);
    wait_for("a replica promoted", RECOVER, || {
        (cluster.owner(cluster.slot(&sharded[0])) != master).then_some(())
    });
    cluster.wait_ok();
    let frame = delivered(&mut client, RECOVER, |m| cluster.spublish(&sharded[0], m));
    assert!(
        frame["offset"].as_u64().is_some(),
        "history written after the failover: {frame}"
    );
    assert!(health(&app)["subscription_gaps"].as_u64().unwrap() >= 1);
}
