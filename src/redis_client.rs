//! The Redis client for the settings: plain (`redis://`, `unix://`), or TLS (`rediss://`)
//! verified with `[redis.tls] ca` (else the system's roots) and presenting the client certificate
//! when one is set. The TLS parameters travel in the client's connection info, so every
//! connection made from it (subscriber, commands, checks) uses them.

use redis::{Client, ClientTlsConfig, TlsCertificates};

use crate::config::RedisSettings;

/// Why no client could be made: a malformed URL or an unreadable certificate file, named.
pub fn client(redis: &RedisSettings) -> Result<Client, String> {
    let tls = &redis.tls;
    if !redis.url.starts_with("rediss://") || (tls.ca.is_none() && tls.cert.is_none()) {
        return Client::open(redis.url.as_str()).map_err(|e| format!("redis.url: {e}"));
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
    Client::build_with_tls(
        redis.url.as_str(),
        TlsCertificates {
            client_tls,
            root_cert,
        },
    )
    .map_err(|e| format!("redis.tls: {e}"))
}
