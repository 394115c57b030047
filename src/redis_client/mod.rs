//! How tickrouter reaches Redis: one server (`redis.url`: `redis://`, `unix://`, or TLS with
//! `rediss://`), or a Redis Cluster (`redis.cluster`, its seed nodes). TLS is verified with
//! `[redis.tls] ca` (else the system's roots) and presents the client certificate when one is
//! set; the parameters travel in each connection's info, so every connection made from a
//! target (subscribers, commands, checks) uses them.
//!
//! Keys go through [`Commands`]; subscriptions need connections of their own, to one node
//! ([`Target::subscriber_nodes`]) or, for sharded channels, to the cluster
//! ([`Target::cluster_pubsub`]).

mod commands;

use std::time::Duration;

use redis::aio::ConnectionManagerConfig;
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::{Client, ClientTlsConfig, ProtocolVersion, TlsCertificates};

pub use commands::Commands;

use crate::config::RedisSettings;

/// Where Redis is, with the TLS material read.
// Made once at startup and cloned a handful of times: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum Target {
    Single(Client),
    Cluster {
        client: ClusterClient,
        /// The same cluster over RESP3, whose pushes carry sharded channels' messages.
        pubsub: ClusterClient,
        /// The seed nodes, each as a single-node client: where classic subscriptions sit.
        seeds: Vec<Client>,
    },
}

/// Why no client could be made: a malformed URL or an unreadable certificate file, named.
pub fn target(redis: &RedisSettings) -> Result<Target, String> {
    let certificates = certificates(redis)?;
    let single = |key: &str, url: &str| match &certificates {
        Some(tls) if url.starts_with("rediss://") => {
            Client::build_with_tls(url, tls.clone()).map_err(|e| format!("{key}: {e}"))
        }
        _ => Client::open(url).map_err(|e| format!("{key}: {e}")),
    };
    if redis.cluster.is_empty() {
        return single("redis.url", &redis.url).map(Target::Single);
    }
    let seeds = redis
        .cluster
        .iter()
        .map(|url| single("redis.cluster", url))
        .collect::<Result<Vec<_>, _>>()?;
    let build = |protocol| {
        let mut builder =
            ClusterClientBuilder::new(seeds.iter().map(|s| s.get_connection_info().clone()))
                .use_protocol(protocol);
        if let Some(tls) = certificates.clone() {
            builder = builder.certs(tls);
        }
        builder.build().map_err(|e| format!("redis.cluster: {e}"))
    };
    Ok(Target::Cluster {
        client: build(ProtocolVersion::RESP2)?,
        pubsub: build(ProtocolVersion::RESP3)?,
        seeds,
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
        match self {
            Target::Single(client) => client
                .get_connection_manager_lazy(
                    ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(timeout))
                        .set_response_timeout(Some(timeout)),
                )
                .map(Commands::Manager)
                .map_err(|e| format!("redis.url: {e}")),
            Target::Cluster { client, .. } => Ok(Commands::Cluster(
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
        match self {
            Target::Single(client) => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_response_timeout(Some(response_timeout));
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map(Commands::Direct)
            }
            Target::Cluster { client, .. } => client
                .get_async_connection_with_config(
                    ClusterConfig::new().set_response_timeout(response_timeout),
                )
                .await
                .map(Commands::Cluster),
        }
    }

    /// The nodes classic subscriptions can sit on, in the order to try them: any node of a
    /// cluster receives every classic PUBLISH over the cluster bus.
    pub fn subscriber_nodes(&self) -> Vec<Client> {
        match self {
            Target::Single(client) => vec![client.clone()],
            Target::Cluster { seeds, .. } => seeds.clone(),
        }
    }

    /// The cluster over RESP3, for sharded subscriptions; `None` for a single server.
    pub fn cluster_pubsub(&self) -> Option<&ClusterClient> {
        match self {
            Target::Single(_) => None,
            Target::Cluster { pubsub, .. } => Some(pubsub),
        }
    }
}
