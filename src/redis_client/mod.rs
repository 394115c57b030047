//! How tickrouter reaches Redis: one server (`redis.url`: `redis://`, `unix://`, or TLS with
//! `rediss://`), or a Redis Cluster (`redis.cluster`, its seed nodes). TLS is verified with
//! `[redis.tls] ca` (else the system's roots) and presents the client certificate when one is
//! set; the parameters travel in each connection's info, so every connection made from a
//! target (subscribers, commands, checks) uses them.
//!
//! Keys go through [`Commands`]; subscriptions need connections of their own, to one node
//! ([`Target::subscriber_nodes`], spoken by our own [`subscriber`]) or, for sharded channels,
//! to the cluster ([`Target::cluster_pubsub`]).

mod commands;
pub mod subscriber;

use std::time::Duration;

use redis::aio::ConnectionManagerConfig;
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::{Client, ClientTlsConfig, ProtocolVersion, TlsCertificates};

pub use commands::Commands;
pub use subscriber::Endpoint;

use crate::config::RedisSettings;

/// Where Redis is, with the TLS material read.
#[derive(Clone)]
pub struct Target {
    /// The server, or a cluster's seed nodes, each as a single-node client.
    nodes: Vec<Client>,
    /// The same nodes for the classic subscriber, which speaks for itself ([`subscriber`]).
    subscribers: Vec<Endpoint>,
    cluster: Option<Cluster>,
}

#[derive(Clone)]
struct Cluster {
    client: ClusterClient,
    /// The same cluster over RESP3, whose pushes carry sharded channels' messages.
    pubsub: ClusterClient,
}

/// Why no client could be made: a malformed URL or an unreadable certificate file, named.
pub fn target(redis: &RedisSettings) -> Result<Target, String> {
    let certificates = certificates(redis)?;
    let (key, urls) = match redis.cluster.as_slice() {
        [] => ("redis.url", std::slice::from_ref(&redis.url)),
        seeds => ("redis.cluster", seeds),
    };
    let nodes = urls
        .iter()
        .map(|url| match &certificates {
            Some(tls) if url.starts_with("rediss://") => {
                Client::build_with_tls(url.as_str(), tls.clone())
            }
            _ => Client::open(url.as_str()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{key}: {e}"))?;
    // Loaded only when a URL asks for TLS: the system's roots are read from disk.
    let tls = urls
        .iter()
        .any(|url| url.starts_with("rediss://"))
        .then(|| subscriber::tls_config(certificates.as_ref()))
        .transpose()?;
    let subscribers = nodes
        .iter()
        .map(|node| Endpoint::new(node.get_connection_info(), tls.as_ref()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{key}: {e}"))?;
    let cluster = if redis.cluster.is_empty() {
        None
    } else {
        let build = |protocol| {
            let mut builder =
                ClusterClientBuilder::new(nodes.iter().map(|s| s.get_connection_info().clone()))
                    .use_protocol(protocol);
            if let Some(tls) = certificates.clone() {
                builder = builder.certs(tls);
            }
            builder.build().map_err(|e| format!("redis.cluster: {e}"))
        };
        Some(Cluster {
            client: build(ProtocolVersion::RESP2)?,
            pubsub: build(ProtocolVersion::RESP3)?,
        })
    };
    Ok(Target {
        nodes,
        subscribers,
        cluster,
    })
}

/// The `[redis.tls]` files, read; `None` when none is set (the system's roots verify).
fn certificates(redis: &RedisSettings) -> Result<Option<TlsCertificates>, String> {
    let tls = &redis.tls;
    if tls.ca.is_none() && tls.cert.is_none() {
        return Ok(None);
    }
    let read = |key: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("{key}: cannot read {}: {e}", path.display()))
    };
    let root_cert = tls
        .ca
        .as_deref()
        .map(|path| read("redis.tls.ca", path))
        .transpose()?;
    let client_tls = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => Some(ClientTlsConfig {
            client_cert: read("redis.tls.cert", cert)?,
            client_key: read("redis.tls.key", key)?,
        }),
        _ => None,
    };
    Ok(Some(TlsCertificates {
        client_tls,
        root_cert,
    }))
}

impl Target {
    /// A connection for commands, connected on first use and reconnected (or, in a cluster,
    /// re-routed) by the crate; every command answers within `timeout`.
    pub fn commands(&self, timeout: Duration) -> Result<Commands, String> {
        match &self.cluster {
            None => self.nodes[0]
                .get_connection_manager_lazy(
                    ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(timeout))
                        .set_response_timeout(Some(timeout)),
                )
                .map(Commands::Manager)
                .map_err(|e| format!("redis.url: {e}")),
            Some(Cluster { client, .. }) => Ok(Commands::Cluster(
                client.get_pending_async_connection_with_config(
                    ClusterConfig::new()
                        .set_connection_timeout(timeout)
                        .set_response_timeout(timeout),
                ),
            )),
        }
    }

    /// A connection of its own, for commands that block (XREADGROUP ... BLOCK) and must not
    /// hold up anyone else's.
    pub async fn dedicated(&self, response_timeout: Duration) -> redis::RedisResult<Commands> {
        match &self.cluster {
            None => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_response_timeout(Some(response_timeout));
                self.nodes[0]
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map(Commands::Direct)
            }
            Some(Cluster { client, .. }) => client
                .get_async_connection_with_config(
                    ClusterConfig::new().set_response_timeout(response_timeout),
                )
                .await
                .map(Commands::Cluster),
        }
    }

    /// The nodes classic subscriptions can sit on, in the order to try them: any node of a
    /// cluster receives every classic PUBLISH over the cluster bus.
    pub fn subscriber_nodes(&self) -> &[Endpoint] {
        &self.subscribers
    }

    /// The first of those nodes, for commands: where `check` tests pub/sub.
    pub fn first_node(&self) -> &Client {
        &self.nodes[0]
    }

    /// The cluster over RESP3, for sharded subscriptions; `None` for a single server.
    pub fn cluster_pubsub(&self) -> Option<&ClusterClient> {
        self.cluster.as_ref().map(|c| &c.pubsub)
    }
}
