//! `Settings::validate`: the rules a value must meet beyond its type, checked once after every
//! override, before anything starts.
//!
//! Each section is destructured field by field so that adding a setting does not compile until
//! someone decides here whether it needs a rule.

use std::collections::HashMap;
use std::fmt::Display;

use super::{
    redis_url, AuthSettings, ChannelSettings, ConfigError, HealthSettings, MarketSettings,
    RedisSettings, RedisTlsSettings, ServerSettings, SessionSettings, Settings, SocketIoSettings,
    StreamingSettings,
};
use crate::access::TrustedProxies;
use crate::domain::kind::DEFAULT_CHANNELS;

const MIB: usize = 1024 * 1024;

/// More than this many problems means the file is not worth reading on.
const MAX_PROBLEMS: usize = 20;

impl Settings {
    /// Every broken rule, not only the first, so a file is fixed in one round: after each
    /// problem the offending key is set back to its default and the rules run again. (A file
    /// that is not TOML, or has an unknown key or a wrongly typed value, never gets this far: it
    /// is reported where the parser stopped.)
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        let mut candidate = self.clone();
        while let Err(problem) = candidate.validate() {
            let repaired = match &problem {
                ConfigError::Invalid { key, .. } => candidate.with_default_at(key),
                _ => None,
            };
            problems.push(problem);
            match repaired {
                Some(next) if problems.len() < MAX_PROBLEMS => candidate = next,
                _ => break,
            }
        }
        problems
    }

    /// These settings with the value at `key` (`server.max_sessions`, or an entry such as
    /// `channels.extra[2].channel`, whose whole entry goes) back to its default; `None` for a
    /// key that is not a settings path (an environment variable) or cannot be removed.
    fn with_default_at(&self, key: &str) -> Option<Settings> {
        let mut tree = toml::Table::try_from(self).ok()?;
        let parts: Vec<&str> = key.split('.').collect();
        let mut table = &mut tree;
        for (i, part) in parts.iter().enumerate() {
            if let Some((name, index)) = part.split_once('[') {
                // An entry of a list (`channels.extra[2]`): the whole entry goes.
                let index: usize = index.strip_suffix(']')?.parse().ok()?;
                let list = table.get_mut(name)?.as_array_mut()?;
                if index >= list.len() {
                    return None;
                }
                list.remove(index);
                break;
            }
            if i + 1 == parts.len() {
                table.remove(*part)?;
            } else {
                table = table.get_mut(*part)?.as_table_mut()?;
            }
        }
        tree.try_into().ok()
    }

    /// Returns the first broken rule, naming its full key path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let Settings {
            server,
            redis,
            auth,
            session,
            socketio,
            streaming,
            market,
            alerts,
            health,
            jobs,
            snapshot,
            history,
            offline,
            // Its type admits only valid formats.
            log: _,
            // Any name; empty means the host name.
            instance: _,
            channels,
        } = self;
        validate_server(server)?;
        validate_redis(redis)?;
        validate_auth(auth, server.demo_mode)?;
        validate_session(session)?;
        validate_socketio(socketio)?;
        validate_streaming(streaming)?;
        validate_market(market)?;
        between("alerts.rules_ttl_secs", alerts.rules_ttl_secs, 1, 86_400)?;
        validate_health(health)?;
        between(
            "jobs.max_active_per_user",
            jobs.max_active_per_user,
            1,
            1000,
        )?;
        between("snapshot.ttl_secs", snapshot.ttl_secs, 1, 604_800)?;
        between("history.size", history.size, 1, 100_000)?;
        between("history.ttl_secs", history.ttl_secs, 1, 604_800)?;
        between("offline.max_messages", offline.max_messages, 1, 100_000)?;
        between("offline.ttl_secs", offline.ttl_secs, 60, 2_592_000)?;
        validate_channels(channels, !redis.cluster.is_empty())
    }
}

fn validate_health(health: &HealthSettings) -> Result<(), ConfigError> {
    let HealthSettings {
        probe_interval_secs,
        redis_latency_warn_ms,
        redis_latency_window_secs,
    } = health;
    between("health.probe_interval_secs", *probe_interval_secs, 1, 3600)?;
    between(
        "health.redis_latency_warn_ms",
        *redis_latency_warn_ms,
        1,
        60_000,
    )?;
    between(
        "health.redis_latency_window_secs",
        *redis_latency_window_secs,
        1,
        3600,
    )
}

fn validate_server(server: &ServerSettings) -> Result<(), ConfigError> {
    let ServerSettings {
        bind,
        max_sessions,
        workers,
        static_dir: _,
        demo_mode: _,
        allowed_origins,
        admin_bind: _,
        max_sessions_per_address,
        trusted_proxies,
        body_timeout_secs,
        // Read and checked when the listener starts (and by `check`).
        tls: _,
        autobahn_echo,
    } = server;
    require(
        !autobahn_echo || bind.ip().is_loopback(),
        "server.autobahn_echo",
        autobahn_echo,
        format_args!(
            "is for the Autobahn conformance run only (scripts/autobahn.sh) and needs a loopback \
             server.bind, not {bind}"
        ),
    )?;
    at_least("server.max_sessions", *max_sessions, 1)?;
    between("server.workers", *workers, 0, 256)?;
    at_least(
        "server.max_sessions_per_address",
        *max_sessions_per_address,
        1,
    )?;
    between("server.body_timeout_secs", *body_timeout_secs, 1, 300)?;
    let key = "server.allowed_origins";
    for origin in allowed_origins {
        let alone = origin != "*" || allowed_origins.len() == 1;
        require(
            alone,
            key,
            "\"*\"",
            "allows every origin, so it must be the only entry",
        )?;
        let shaped =
            origin == "*" || origin.starts_with("http://") || origin.starts_with("https://");
        let shown = format!("{origin:?}");
        require(
            shaped,
            key,
            shown,
            "is not an origin like \"https://app.example.com\"",
        )?;
    }
    TrustedProxies::parse(trusted_proxies)
        .map(|_| ())
        .map_err(|e| {
            ConfigError::invalid(
                "server.trusted_proxies",
                format_args!("{:?}", e.0),
                "is not an IP address or CIDR range",
            )
        })
}

fn validate_redis(redis: &RedisSettings) -> Result<(), ConfigError> {
    let RedisSettings {
        url,
        cluster,
        max_message_bytes,
        inbound_queue_messages,
        reconnect_initial_ms,
        reconnect_max_ms,
        keepalive_secs,
        tls,
    } = redis;
    require(
        redis_url::has_known_scheme(url),
        "redis.url",
        format_args!("{:?}", redis_url::redact(url)),
        "must start with redis://, rediss:// (TLS) or unix://",
    )?;
    for (index, node) in cluster.iter().enumerate() {
        require(
            node.starts_with("redis://") || node.starts_with("rediss://"),
            &format!("redis.cluster[{index}]"),
            format_args!("{:?}", redis_url::redact(node)),
            "must start with redis:// or rediss:// (TLS)",
        )?;
        require(
            node.starts_with("rediss://") == cluster[0].starts_with("rediss://"),
            &format!("redis.cluster[{index}]"),
            format_args!("{:?}", redis_url::redact(node)),
            "every seed node uses TLS (rediss://) or none does",
        )?;
    }
    // The files themselves are read when the client is made (and by `check`).
    let RedisTlsSettings { ca, cert, key } = tls;
    require(
        cert.is_some() == key.is_some(),
        "redis.tls",
        "cert and key",
        "go together: set both or neither",
    )?;
    let tls_url = cluster.first().unwrap_or(url);
    require(
        tls_url.starts_with("rediss://") || (ca.is_none() && cert.is_none()),
        "redis.tls",
        format_args!("{:?}", redis_url::redact(tls_url)),
        "applies to a rediss:// URL only",
    )?;
    between("redis.max_message_bytes", *max_message_bytes, 1, 64 * MIB)?;
    between(
        "redis.inbound_queue_messages",
        *inbound_queue_messages,
        256,
        1 << 20,
    )?;
    at_least("redis.reconnect_initial_ms", *reconnect_initial_ms, 10)?;
    require(
        reconnect_max_ms >= reconnect_initial_ms,
        "redis.reconnect_max_ms",
        reconnect_max_ms,
        format_args!("must be at least redis.reconnect_initial_ms ({reconnect_initial_ms})"),
    )?;
    between("redis.keepalive_secs", *keepalive_secs, 1, 300)
}

/// An HMAC secret shorter than this can be brute-forced offline from any token it signed.
const MIN_SECRET_BYTES: usize = 32;

fn validate_auth(auth: &AuthSettings, demo_mode: bool) -> Result<(), ConfigError> {
    let AuthSettings {
        jwt_secret,
        allow_short_secret,
        public_key_file,
        jwks_url,
        jwks_min_refresh_secs,
        jwks_max_age_secs,
        // any value; none means the claim is not checked
        audience: _,
        issuer: _,
        // 0 is "no maximum", any other value a maximum
        max_token_lifetime_secs: _,
        expiry_warning_secs,
    } = auth;
    if let Some(secret) = jwt_secret {
        require(
            secret.len() >= MIN_SECRET_BYTES || *allow_short_secret,
            "auth.jwt_secret",
            // never the secret itself: this message is printed and logged
            format_args!("<{} bytes>", secret.len()),
            format_args!(
                "must be at least {MIN_SECRET_BYTES} bytes (TICKROUTER_JWT_SECRET too; e.g. \
                 `openssl rand -base64 48`), or set auth.allow_short_secret = true"
            ),
        )?;
    }
    let sources = [
        ("auth.jwt_secret", jwt_secret.is_some()),
        ("auth.public_key_file", public_key_file.is_some()),
        ("auth.jwks_url", jwks_url.is_some()),
    ];
    let mut set = sources.iter().filter(|(_, set)| *set).map(|(key, _)| *key);
    if let (Some(first), Some(second)) = (set.next(), set.next()) {
        return Err(ConfigError::invalid(
            second,
            "set",
            format_args!(
                "cannot be combined with {first}: tokens are verified with one key source"
            ),
        ));
    }
    require(
        !demo_mode || jwt_secret.is_some() || public_key_file.is_none() && jwks_url.is_none(),
        "server.demo_mode",
        true,
        "signs demo tokens with auth.jwt_secret, so it cannot be combined with \
         auth.public_key_file or auth.jwks_url",
    )?;
    if let Some(url) = jwks_url {
        require(
            jwks_url_is_safe(url),
            "auth.jwks_url",
            format_args!("{url:?}"),
            "must be https://, or http:// to a loopback address (127.0.0.1, [::1], localhost): \
             keys fetched over plain HTTP could be replaced on the way",
        )?;
    }
    between(
        "auth.jwks_min_refresh_secs",
        *jwks_min_refresh_secs,
        1,
        3600,
    )?;
    between("auth.jwks_max_age_secs", *jwks_max_age_secs, 60, 86_400)?;
    between("auth.expiry_warning_secs", *expiry_warning_secs, 1, 3600)
}

fn jwks_url_is_safe(url: &str) -> bool {
    if url.len() > "https://".len() && url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn validate_session(session: &SessionSettings) -> Result<(), ConfigError> {
    let SessionSettings {
        heartbeat_interval_secs,
        client_timeout_secs,
        max_frame_bytes,
        outbound_queue_frames,
        outbound_queue_bytes,
        slow_consumer_grace_ms,
        max_topics,
        max_symbols,
        max_ops_per_second,
        write_delay_ms,
    } = session;
    between("session.write_delay_ms", *write_delay_ms, 0, 1000)?;
    at_least(
        "session.heartbeat_interval_secs",
        *heartbeat_interval_secs,
        1,
    )?;
    require(
        client_timeout_secs > heartbeat_interval_secs,
        "session.client_timeout_secs",
        client_timeout_secs,
        format_args!(
            "must be greater than session.heartbeat_interval_secs ({heartbeat_interval_secs})"
        ),
    )?;
    between("session.max_frame_bytes", *max_frame_bytes, 64, 16 * MIB)?;
    at_least("session.outbound_queue_frames", *outbound_queue_frames, 16)?;
    at_least(
        "session.outbound_queue_bytes",
        *outbound_queue_bytes,
        64 * 1024,
    )?;
    at_least(
        "session.slow_consumer_grace_ms",
        *slow_consumer_grace_ms,
        100,
    )?;
    at_least("session.max_topics", *max_topics, 1)?;
    at_least("session.max_symbols", *max_symbols, 1)?;
    at_least("session.max_ops_per_second", *max_ops_per_second, 1)
}

fn validate_socketio(socketio: &SocketIoSettings) -> Result<(), ConfigError> {
    let SocketIoSettings {
        ping_interval_ms,
        ping_timeout_ms,
        max_payload,
        max_polling_sessions,
    } = socketio;
    between(
        "socketio.ping_interval_ms",
        *ping_interval_ms,
        100,
        3_600_000,
    )?;
    between("socketio.ping_timeout_ms", *ping_timeout_ms, 100, 3_600_000)?;
    between("socketio.max_payload", *max_payload, 64, 16 * MIB)?;
    at_least("socketio.max_polling_sessions", *max_polling_sessions, 1)
}

fn validate_streaming(streaming: &StreamingSettings) -> Result<(), ConfigError> {
    let StreamingSettings {
        buffer_enabled: _,
        flush_interval_ms,
        max_buffer_size,
    } = streaming;
    between("streaming.flush_interval_ms", *flush_interval_ms, 50, 1000)?;
    between("streaming.max_buffer_size", *max_buffer_size, 1, 10_000)
}

fn validate_market(market: &MarketSettings) -> Result<(), ConfigError> {
    let MarketSettings {
        price_change_threshold_pct,
        conflation_ms,
        watchlist_ttl_secs,
    } = market;
    require(
        price_change_threshold_pct.is_finite() && *price_change_threshold_pct >= 0.0,
        "market.price_change_threshold_pct",
        price_change_threshold_pct,
        "must be a finite number of at least 0",
    )?;
    between("market.conflation_ms", *conflation_ms, 0, 10_000)?;
    between("market.watchlist_ttl_secs", *watchlist_ttl_secs, 1, 86_400)
}

fn validate_channels(channels: &ChannelSettings, cluster: bool) -> Result<(), ConfigError> {
    let ChannelSettings {
        include_defaults,
        extra,
        streams,
    } = channels;
    let mut keys: HashMap<&str, usize> = HashMap::new();
    for (index, route) in streams.iter().enumerate() {
        let key = format!("channels.streams[{index}].key");
        require(!route.key.is_empty(), &key, "\"\"", "must not be empty")?;
        if let Some(first) = keys.insert(&route.key, index) {
            return Err(ConfigError::invalid(
                key,
                format_args!("{:?}", route.key),
                format_args!("duplicate stream, already in channels.streams[{first}]"),
            ));
        }
        let field = format!("channels.streams[{index}].field");
        require(!route.field.is_empty(), &field, "\"\"", "must not be empty")?;
    }
    require(
        *include_defaults || !extra.is_empty() || !streams.is_empty(),
        "channels.extra",
        "[]",
        "must not be empty when channels.include_defaults = false and no channels.streams are \
         set: nothing would be read",
    )?;

    // Where each name was first subscribed: `None` for the built-in catalogue, else the index
    // in `extra`. A channel subscribed twice would deliver every message twice.
    let mut channel_origin: HashMap<&str, Option<usize>> = HashMap::new();
    if *include_defaults {
        channel_origin.extend(DEFAULT_CHANNELS.iter().map(|&(name, _)| (name, None)));
    }
    let mut pattern_origin: HashMap<&str, usize> = HashMap::new();

    for (index, route) in extra.iter().enumerate() {
        if route.sharded {
            let key = format!("channels.extra[{index}].sharded");
            require(
                route.channel.is_some(),
                &key,
                true,
                "applies to a channel, not a pattern (Redis has no sharded patterns)",
            )?;
            require(
                cluster,
                &key,
                true,
                "needs redis.cluster: sharded channels are a Redis Cluster feature",
            )?;
        }
        match (route.channel.as_deref(), route.pattern.as_deref()) {
            (Some(name), None) => {
                let key = format!("channels.extra[{index}].channel");
                require(!name.is_empty(), &key, "\"\"", "must not be empty")?;
                if let Some(origin) = channel_origin.insert(name, Some(index)) {
                    let by = match origin {
                        None => "the built-in catalogue (channels.include_defaults = true)".into(),
                        Some(first) => format!("channels.extra[{first}]"),
                    };
                    return Err(ConfigError::invalid(
                        key,
                        format_args!("{name:?}"),
                        format_args!("duplicate channel, already subscribed by {by}"),
                    ));
                }
            }
            (None, Some(glob)) => {
                let key = format!("channels.extra[{index}].pattern");
                require(!glob.is_empty(), &key, "\"\"", "must not be empty")?;
                if let Some(first) = pattern_origin.insert(glob, index) {
                    return Err(ConfigError::invalid(
                        key,
                        format_args!("{glob:?}"),
                        format_args!("duplicate pattern, already in channels.extra[{first}]"),
                    ));
                }
            }
            (channel, pattern) => {
                let shown = [("channel", channel), ("pattern", pattern)]
                    .iter()
                    .filter_map(|(field, value)| value.map(|value| format!("{field} = {value:?}")))
                    .chain([format!("kind = {:?}", route.kind.as_str())])
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ConfigError::invalid(
                    format!("channels.extra[{index}]"),
                    format_args!("{{ {shown} }}"),
                    "must set exactly one of channel or pattern",
                ));
            }
        }
    }
    Ok(())
}

fn require(
    holds: bool,
    key: &str,
    value: impl Display,
    requirement: impl Display,
) -> Result<(), ConfigError> {
    if holds {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, value, requirement))
    }
}

fn at_least<T: PartialOrd + Display>(key: &str, value: T, min: T) -> Result<(), ConfigError> {
    let holds = value >= min;
    require(holds, key, value, format_args!("must be at least {min}"))
}

fn between<T: PartialOrd + Display>(
    key: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), ConfigError> {
    let holds = min <= value && value <= max;
    require(
        holds,
        key,
        value,
        format_args!("must be between {min} and {max}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies `toml` on top of the defaults and returns the rejected key and the full message.
    fn rejected(toml: &str) -> (String, String) {
        let settings = Settings::from_toml_str(toml).unwrap();
        let err = settings.validate().unwrap_err();
        let text = err.to_string();
        match err {
            ConfigError::Invalid { key, .. } => (key, text),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn accepted(toml: &str) {
        let settings = Settings::from_toml_str(toml).unwrap();
        if let Err(err) = settings.validate() {
            panic!("{toml:?} was rejected: {err}");
        }
    }

    #[test]
    fn redis_tls_needs_a_rediss_url_and_cert_with_key() {
        let (key, _) = rejected("[redis.tls]\nca = \"/ca.pem\"\n");
        assert_eq!(key, "redis.tls", "the default URL is redis://");
        let (key, text) =
            rejected("[redis]\nurl = \"rediss://h:6380/0\"\n[redis.tls]\ncert = \"/c.pem\"\n");
        assert_eq!(key, "redis.tls");
        assert!(text.contains("both or neither"), "{text}");
        accepted("[redis]\nurl = \"rediss://h:6380/0\"\n[redis.tls]\nca = \"/ca.pem\"\n");
        accepted("[redis]\nurl = \"rediss://h:6380/0\"\n");
    }

    #[test]
    fn cluster_seeds_and_sharded_channels() {
        let (key, _) = rejected("[redis]\ncluster = [\"unix:///r.sock\"]\n");
        assert_eq!(key, "redis.cluster[0]");
        let (key, text) = rejected("[redis]\ncluster = [\"redis://a:1\", \"rediss://b:2\"]\n");
        assert_eq!(key, "redis.cluster[1]");
        assert!(text.contains("TLS"), "{text}");
        accepted("[redis]\ncluster = [\"rediss://a:1\"]\n[redis.tls]\nca = \"/ca.pem\"\n");
        let sharded =
            "[[channels.extra]]\nchannel = \"s\"\nkind = \"price_update\"\nsharded = true\n";
        let (key, text) = rejected(sharded);
        assert_eq!(key, "channels.extra[0].sharded");
        assert!(text.contains("redis.cluster"), "{text}");
        accepted(&format!("[redis]\ncluster = [\"redis://a:1\"]\n{sharded}"));
        let pattern =
            "[redis]\ncluster = [\"redis://a:1\"]\n[[channels.extra]]\npattern = \"s*\"\n\
                       kind = \"price_update\"\nsharded = true\n";
        assert_eq!(rejected(pattern).0, "channels.extra[0].sharded");
    }

    #[test]
    fn message_names_key_value_and_rule() {
        let (key, text) = rejected("[streaming]\nflush_interval_ms = 20\n");
        assert_eq!(key, "streaming.flush_interval_ms");
        assert_eq!(
            text,
            "invalid configuration: streaming.flush_interval_ms = 20: must be between 50 and 1000"
        );
    }

    #[test]
    fn every_rule_rejects_a_bad_value_by_key() {
        let cases = [
            ("[server]\nmax_sessions = 0", "server.max_sessions"),
            ("[server]\nworkers = 257", "server.workers"),
            ("[redis]\nurl = \"http://h:1\"", "redis.url"),
            ("[redis]\nurl = \"\"", "redis.url"),
            ("[redis]\nmax_message_bytes = 0", "redis.max_message_bytes"),
            (
                "[redis]\nmax_message_bytes = 67108865",
                "redis.max_message_bytes",
            ),
            (
                "[redis]\nreconnect_initial_ms = 9",
                "redis.reconnect_initial_ms",
            ),
            (
                "[redis]\nreconnect_initial_ms = 500\nreconnect_max_ms = 499",
                "redis.reconnect_max_ms",
            ),
            ("[redis]\nkeepalive_secs = 0", "redis.keepalive_secs"),
            (
                "[redis]\ninbound_queue_messages = 255",
                "redis.inbound_queue_messages",
            ),
            (
                "[redis]\ninbound_queue_messages = 1048577",
                "redis.inbound_queue_messages",
            ),
            ("[redis]\nkeepalive_secs = 301", "redis.keepalive_secs"),
            (
                "[session]\nheartbeat_interval_secs = 0",
                "session.heartbeat_interval_secs",
            ),
            (
                "[session]\nheartbeat_interval_secs = 30",
                "session.client_timeout_secs",
            ),
            ("[session]\nmax_frame_bytes = 63", "session.max_frame_bytes"),
            (
                "[session]\nmax_frame_bytes = 16777217",
                "session.max_frame_bytes",
            ),
            (
                "[session]\noutbound_queue_frames = 15",
                "session.outbound_queue_frames",
            ),
            (
                "[session]\noutbound_queue_bytes = 65535",
                "session.outbound_queue_bytes",
            ),
            (
                "[session]\nslow_consumer_grace_ms = 99",
                "session.slow_consumer_grace_ms",
            ),
            ("[session]\nmax_topics = 0", "session.max_topics"),
            ("[session]\nmax_symbols = 0", "session.max_symbols"),
            (
                "[session]\nmax_ops_per_second = 0",
                "session.max_ops_per_second",
            ),
            (
                "[socketio]\nping_interval_ms = 99",
                "socketio.ping_interval_ms",
            ),
            (
                "[socketio]\nping_timeout_ms = 3600001",
                "socketio.ping_timeout_ms",
            ),
            ("[socketio]\nmax_payload = 63", "socketio.max_payload"),
            (
                "[socketio]\nmax_polling_sessions = 0",
                "socketio.max_polling_sessions",
            ),
            (
                "[streaming]\nflush_interval_ms = 49",
                "streaming.flush_interval_ms",
            ),
            (
                "[streaming]\nflush_interval_ms = 1001",
                "streaming.flush_interval_ms",
            ),
            (
                "[streaming]\nmax_buffer_size = 0",
                "streaming.max_buffer_size",
            ),
            (
                "[streaming]\nmax_buffer_size = 10001",
                "streaming.max_buffer_size",
            ),
            (
                "[market]\nprice_change_threshold_pct = -0.1",
                "market.price_change_threshold_pct",
            ),
            ("[market]\nconflation_ms = 10001", "market.conflation_ms"),
            (
                "[market]\nwatchlist_ttl_secs = 0",
                "market.watchlist_ttl_secs",
            ),
            ("[alerts]\nrules_ttl_secs = 0", "alerts.rules_ttl_secs"),
            (
                "[health]\nredis_latency_warn_ms = 0",
                "health.redis_latency_warn_ms",
            ),
            (
                "[health]\nprobe_interval_secs = 0",
                "health.probe_interval_secs",
            ),
            (
                "[market]\nprice_change_threshold_pct = nan",
                "market.price_change_threshold_pct",
            ),
            (
                "[market]\nprice_change_threshold_pct = inf",
                "market.price_change_threshold_pct",
            ),
            ("[channels]\ninclude_defaults = false", "channels.extra"),
            ("[auth]\njwt_secret = \"short\"", "auth.jwt_secret"),
            (
                "[auth]\njwks_url = \"http://keys.example.com/jwks.json\"",
                "auth.jwks_url",
            ),
            ("[auth]\njwks_url = \"ftp://h/jwks\"", "auth.jwks_url"),
            (
                "[auth]\njwks_url = \"http://127.0.0.1.evil.com/jwks\"",
                "auth.jwks_url",
            ),
            (
                "[auth]\njwt_secret = \"0123456789abcdef0123456789abcdef\"\n\
                 public_key_file = \"k.pem\"",
                "auth.public_key_file",
            ),
            (
                "[auth]\npublic_key_file = \"k.pem\"\njwks_url = \"https://h/jwks\"",
                "auth.jwks_url",
            ),
            (
                "[server]\ndemo_mode = true\n[auth]\npublic_key_file = \"k.pem\"",
                "server.demo_mode",
            ),
            (
                "[auth]\njwks_min_refresh_secs = 0",
                "auth.jwks_min_refresh_secs",
            ),
            ("[auth]\njwks_max_age_secs = 59", "auth.jwks_max_age_secs"),
            (
                "[auth]\nexpiry_warning_secs = 0",
                "auth.expiry_warning_secs",
            ),
        ];
        for (toml, expected_key) in cases {
            let (key, text) = rejected(toml);
            assert_eq!(key, expected_key, "for {toml:?}");
            assert!(text.contains(expected_key), "{text}");
        }
    }

    #[test]
    fn boundary_values_are_accepted() {
        for toml in [
            "[server]\nmax_sessions = 1",
            "[redis]\nurl = \"redis://h:6380/1\"",
            "[redis]\nurl = \"unix:///run/redis.sock\"",
            "[redis]\nmax_message_bytes = 67108864",
            "[redis]\nreconnect_initial_ms = 10\nreconnect_max_ms = 10",
            "[redis]\nkeepalive_secs = 300",
            "[redis]\ninbound_queue_messages = 256",
            "[redis]\ninbound_queue_messages = 1048576",
            "[session]\nheartbeat_interval_secs = 1\nclient_timeout_secs = 2",
            "[session]\nmax_frame_bytes = 64",
            "[session]\noutbound_queue_frames = 16\nslow_consumer_grace_ms = 100",
            "[streaming]\nflush_interval_ms = 50\nmax_buffer_size = 10000",
            "[streaming]\nflush_interval_ms = 1000\nmax_buffer_size = 1",
            "[market]\nprice_change_threshold_pct = 0.0",
            "[auth]\njwt_secret = \"0123456789abcdef0123456789abcdef\"",
            "[auth]\njwt_secret = \"short\"\nallow_short_secret = true",
            "[auth]\njwks_url = \"https://issuer.example.com/.well-known/jwks.json\"",
            "[auth]\njwks_url = \"http://127.0.0.1:8081/jwks\"",
            "[auth]\njwks_url = \"http://[::1]:8081/jwks\"",
            "[auth]\njwks_url = \"http://localhost/jwks\"",
            "[server]\ndemo_mode = true",
        ] {
            accepted(toml);
        }
    }

    #[test]
    fn a_short_secret_is_refused_without_showing_it() {
        let (key, text) = rejected("[auth]\njwt_secret = \"hunter2-hunter2\"");
        assert_eq!(key, "auth.jwt_secret");
        assert!(text.contains("<15 bytes>"), "{text}");
        assert!(text.contains("allow_short_secret"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn redis_url_error_hides_the_password() {
        let (_, text) = rejected("[redis]\nurl = \"http://:hunter2@h:1/0\"");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("redis.url"), "{text}");
    }

    #[test]
    fn route_needs_exactly_one_of_channel_and_pattern() {
        let (key, text) = rejected(
            "[[channels.extra]]\nchannel = \"a\"\npattern = \"a.*\"\nkind = \"tick_data\"",
        );
        assert_eq!(key, "channels.extra[0]");
        assert!(text.contains("exactly one of channel or pattern"), "{text}");
        let (key, _) = rejected("[[channels.extra]]\nkind = \"tick_data\"");
        assert_eq!(key, "channels.extra[0]");
    }

    #[test]
    fn empty_channel_or_pattern_is_rejected() {
        let (key, _) = rejected("[[channels.extra]]\nchannel = \"\"\nkind = \"tick_data\"");
        assert_eq!(key, "channels.extra[0].channel");
        let (key, _) = rejected("[[channels.extra]]\npattern = \"\"\nkind = \"tick_data\"");
        assert_eq!(key, "channels.extra[0].pattern");
    }

    #[test]
    fn channel_duplicating_the_catalogue_is_rejected() {
        let (key, text) = rejected(
            "[[channels.extra]]\nchannel = \"x\"\nkind = \"tick_data\"\n\
             [[channels.extra]]\nchannel = \"tickstock.market.prices\"\nkind = \"price_update\"",
        );
        assert_eq!(key, "channels.extra[1].channel");
        assert!(text.contains("built-in catalogue"), "{text}");
    }

    #[test]
    fn channel_duplicating_another_extra_is_rejected() {
        let (key, text) = rejected(
            "[channels]\ninclude_defaults = false\n\
             [[channels.extra]]\nchannel = \"x\"\nkind = \"tick_data\"\n\
             [[channels.extra]]\nchannel = \"x\"\nkind = \"price_update\"",
        );
        assert_eq!(key, "channels.extra[1].channel");
        assert!(text.contains("channels.extra[0]"), "{text}");
    }

    #[test]
    fn duplicate_pattern_is_rejected() {
        let (key, _) = rejected(
            "[[channels.extra]]\npattern = \"x.*\"\nkind = \"tick_data\"\n\
             [[channels.extra]]\npattern = \"x.*\"\nkind = \"price_update\"",
        );
        assert_eq!(key, "channels.extra[1].pattern");
    }

    #[test]
    fn catalogue_names_are_free_when_defaults_are_off() {
        accepted(
            "[channels]\ninclude_defaults = false\n\
             [[channels.extra]]\nchannel = \"tickstock.market.prices\"\nkind = \"tick_data\"",
        );
    }

    #[test]
    fn the_test_only_autobahn_echo_needs_a_loopback_bind() {
        let (key, text) = rejected("[server]\nbind = \"0.0.0.0:8080\"\nautobahn_echo = true");
        assert_eq!(key, "server.autobahn_echo");
        assert!(text.contains("loopback"), "{text}");
        accepted("[server]\nautobahn_echo = true");
        accepted("[server]\nbind = \"[::1]:0\"\nautobahn_echo = true");
        accepted("[server]\nbind = \"0.0.0.0:8080\"\nautobahn_echo = false");
    }
}
