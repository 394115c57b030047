//! The settings tree: one typed, documented section per pipeline stage, its defaults, loading from
//! TOML and the list of Redis subscriptions it implies.
//!
//! Settings are resolved as defaults → file → environment ([`Settings::apply_env`]) → command-line
//! overrides, and validated once at the end ([`Settings::validate`]), all in
//! [`Settings::resolve`], so that an override can repair a file value instead of tripping over it.
//! Unknown keys are rejected: a typo in a config file must not silently fall back to a default.

mod env;
mod error;
mod redis_url;
mod resolve;
mod validate;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::kind::{EventKind, DEFAULT_CHANNELS};

pub use error::ConfigError;
pub use resolve::Overrides;

/// Everything tickrouter can be configured with. `Settings::default()` is a working local setup.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub session: SessionSettings,
    pub socketio: SocketIoSettings,
    pub streaming: StreamingSettings,
    pub market: MarketSettings,
    pub alerts: AlertSettings,
    pub health: HealthSettings,
    pub jobs: JobSettings,
    pub snapshot: SnapshotSettings,
    pub history: HistorySettings,
    pub offline: OfflineSettings,
    pub log: LogSettings,
    pub instance: InstanceSettings,
    pub channels: ChannelSettings,
}

/// The HTTP/WebSocket listener.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address the HTTP and WebSocket listener binds to.
    pub bind: SocketAddr,
    /// WebSocket upgrades beyond this many live sessions are answered with 503. At least 1.
    pub max_sessions: usize,
    /// HTTP worker threads; each holds its share of the WebSocket sessions and writes their
    /// frames. 0 = one per CPU. At most 256.
    pub workers: usize,
    /// Dashboard files. A relative path resolves against the working directory, not the config
    /// file.
    pub static_dir: PathBuf,
    /// Exposes the endpoint that issues demo tokens without credentials. Never in production.
    pub demo_mode: bool,
    /// Browser origins (`scheme://host[:port]`) that may open a WebSocket and call `/api/*`
    /// across origins (CORS). Empty: origins whose host name is the request's own host name, on
    /// any port. `["*"]`: any origin. Requests without an `Origin` header (not a browser) pass.
    pub allowed_origins: Vec<String>,
    /// When set, `/metrics`, `/stats` and `/debug*` are served on this address only (loopback or
    /// a private network) and not on `bind`; `/health` and `/ready` are served on both.
    pub admin_bind: Option<SocketAddr>,
    /// Live sessions one client address may hold; beyond, the upgrade gets 503. At least 1
    /// (above `max_sessions`, only that limit applies).
    pub max_sessions_per_address: usize,
    /// Reverse proxies (IP addresses or CIDR ranges) whose `X-Forwarded-For` names the client
    /// address used for `max_sessions_per_address`.
    pub trusted_proxies: Vec<String>,
    /// Seconds a client has to send the request body it announced; then `408` and the
    /// connection closes. 1 to 300.
    pub body_timeout_secs: u64,
    /// `[server.tls]`: serve `https://` and `wss://` on `bind` (the admin listener stays plain).
    pub tls: Option<TlsSettings>,
    /// Test-only, left out of the example file: serves `/autobahn/echo`, a WebSocket that echoes
    /// every message, for the Autobahn conformance run (scripts/autobahn.sh). Refused unless
    /// `bind` is a loopback address.
    pub autobahn_echo: bool,
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            max_sessions: 10_000,
            workers: 0,
            static_dir: PathBuf::from("static"),
            demo_mode: false,
            allowed_origins: Vec::new(),
            admin_bind: None,
            max_sessions_per_address: 1_000,
            trusted_proxies: Vec::new(),
            body_timeout_secs: 10,
            tls: None,
            autobahn_echo: false,
        }
    }
}

/// The pub/sub subscriber connection.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// `redis://`, `rediss://` (TLS) or `unix://` URL; may carry a password, so `Debug` redacts
    /// it.
    pub url: String,
    /// A Redis Cluster's seed nodes (`redis://host:port` or `rediss://`), instead of `url`:
    /// keys go through a cluster client, classic channels are subscribed on one node (moving to
    /// another when it goes away), `sharded` channels with SSUBSCRIBE on their slot's owner.
    /// Empty: one Redis at `url`.
    pub cluster: Vec<String>,
    /// Inbound messages larger than this are dropped with reason `too_large`. 1 byte to 64 MiB.
    pub max_message_bytes: usize,
    /// Messages read from Redis that wait for the pipeline; beyond this (after a burst's grace,
    /// `redis_reader::inbound`), new ones are dropped and counted as `overloaded` so memory stays
    /// bounded. 256 to 1,048,576.
    pub inbound_queue_messages: usize,
    /// First reconnect delay; doubles up to `reconnect_max_ms`. At least 10.
    pub reconnect_initial_ms: u64,
    /// Ceiling of the reconnect backoff. At least `reconnect_initial_ms`.
    pub reconnect_max_ms: u64,
    /// Interval of the PING that detects a dead subscriber connection. 1 to 300.
    pub keepalive_secs: u64,
    /// `[redis.tls]`, for a `rediss://` URL.
    pub tls: RedisTlsSettings,
}

/// TLS to Redis. Without `ca` the system's roots verify the server; `cert` and `key` (PEM) are
/// the client certificate for servers that require one, and go together.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisTlsSettings {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379/0".to_owned(),
            cluster: Vec::new(),
            max_message_bytes: 1024 * 1024,
            inbound_queue_messages: 16_384,
            reconnect_initial_ms: 100,
            reconnect_max_ms: 10_000,
            keepalive_secs: 5,
            tls: RedisTlsSettings::default(),
        }
    }
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so that a new field cannot be left out of the output by accident.
        let RedisSettings {
            url,
            cluster,
            max_message_bytes,
            inbound_queue_messages,
            reconnect_initial_ms,
            reconnect_max_ms,
            keepalive_secs,
            tls,
        } = self;
        f.debug_struct("RedisSettings")
            .field("url", &redis_url::redact(url))
            .field(
                "cluster",
                &cluster
                    .iter()
                    .map(|u| redis_url::redact(u))
                    .collect::<Vec<_>>(),
            )
            .field("max_message_bytes", max_message_bytes)
            .field("inbound_queue_messages", inbound_queue_messages)
            .field("reconnect_initial_ms", reconnect_initial_ms)
            .field("reconnect_max_ms", reconnect_max_ms)
            .field("keepalive_secs", keepalive_secs)
            .field("tls", tls)
            .finish()
    }
}

/// Client identity: how tokens are verified (docs/SECURITY.md). At most one key source is set:
/// `jwt_secret` (HS256/384/512), `public_key_file` (RS*, PS*, ES256/384 or EdDSA, by the key's
/// type) or `jwks_url`. None means every session is anonymous.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HMAC secret that signs session tokens (HS256, HS384 or HS512). `None` (an empty string in
    /// the file) means no secret. Prefer the `TICKROUTER_JWT_SECRET` environment variable over
    /// the file. At least 32 bytes unless `allow_short_secret`.
    #[serde(deserialize_with = "empty_as_none")]
    pub jwt_secret: Option<String>,
    /// Accepts a `jwt_secret` shorter than 32 bytes, which can be brute-forced offline from any
    /// token. Never in production.
    pub allow_short_secret: bool,
    /// PEM public key (RSA, EC P-256/P-384 or Ed25519) that verifies tokens signed elsewhere.
    #[serde(deserialize_with = "empty_as_none_path")]
    pub public_key_file: Option<PathBuf>,
    /// JWKS document with the token issuer's public keys, by `kid`. `https://`, or `http://` to a
    /// loopback address only.
    #[serde(deserialize_with = "empty_as_none")]
    pub jwks_url: Option<String>,
    /// Least seconds between two fetches of `jwks_url` (a token naming an unknown `kid` asks
    /// for one). 1 to 3600.
    pub jwks_min_refresh_secs: u64,
    /// The JWKS is fetched again when it is older than this on the next token. 60 to 86400.
    pub jwks_max_age_secs: u64,
    /// When set, a token must carry this `aud`.
    #[serde(deserialize_with = "empty_as_none")]
    pub audience: Option<String>,
    /// When set, a token must carry this `iss`.
    #[serde(deserialize_with = "empty_as_none")]
    pub issuer: Option<String>,
    /// Refuses tokens valid for longer than this many seconds (`exp - iat`, or `exp - now`
    /// without `iat`). 0 = no maximum.
    pub max_token_lifetime_secs: u64,
    /// An open session gets `token_expiring` this long before its token's `exp`, or halfway
    /// through what is left when that is sooner. 1 to 3600.
    pub expiry_warning_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            allow_short_secret: false,
            public_key_file: None,
            jwks_url: None,
            jwks_min_refresh_secs: 30,
            jwks_max_age_secs: 3600,
            audience: None,
            issuer: None,
            max_token_lifetime_secs: 0,
            expiry_warning_secs: 60,
        }
    }
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so that a new field cannot be left out of the output by accident.
        let AuthSettings {
            jwt_secret,
            allow_short_secret,
            public_key_file,
            jwks_url,
            jwks_min_refresh_secs,
            jwks_max_age_secs,
            audience,
            issuer,
            max_token_lifetime_secs,
            expiry_warning_secs,
        } = self;
        f.debug_struct("AuthSettings")
            .field("jwt_secret", &jwt_secret.as_ref().map(|_| "<redacted>"))
            .field("allow_short_secret", allow_short_secret)
            .field("public_key_file", public_key_file)
            .field("jwks_url", jwks_url)
            .field("jwks_min_refresh_secs", jwks_min_refresh_secs)
            .field("jwks_max_age_secs", jwks_max_age_secs)
            .field("audience", audience)
            .field("issuer", issuer)
            .field("max_token_lifetime_secs", max_token_lifetime_secs)
            .field("expiry_warning_secs", expiry_warning_secs)
            .finish()
    }
}

/// One WebSocket session.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// Interval of the server's ping. At least 1.
    pub heartbeat_interval_secs: u64,
    /// A client silent for this long is closed. Greater than `heartbeat_interval_secs`, so a live
    /// client always gets a ping to answer first.
    pub client_timeout_secs: u64,
    /// Client messages larger than this (all fragments together) get an error frame. 64 bytes
    /// to 16 MiB.
    pub max_frame_bytes: usize,
    /// Capacity of the per-session outbound queue. At least 16.
    pub outbound_queue_frames: usize,
    /// Bytes queued per session (frames are shared, so this bounds what one slow session can
    /// keep alive). At least 65536.
    pub outbound_queue_bytes: usize,
    /// A session whose queue stays full this long is cut off (its connection is reset) and counted
    /// as a `slow_consumer` close. At least 100.
    pub slow_consumer_grace_ms: u64,
    /// Topic names one `subscribe`/`unsubscribe` op may carry. At least 1.
    pub max_topics: usize,
    /// Watchlist symbols one session may hold. At least 1.
    pub max_symbols: usize,
    /// Client frames of any kind accepted per second; more get `rate_limited` errors, and more
    /// than ten times this closes the session as abusive. At least 1.
    pub max_ops_per_second: u32,
    /// How long a frame may wait for the session's next ones so they are written together, in
    /// one system call (still separate WebSocket frames). 0 (default): each frame is written as
    /// soon as the session gets to it, for the lowest latency. 0 to 1000.
    pub write_delay_ms: u64,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval_secs: 10,
            client_timeout_secs: 30,
            max_frame_bytes: 64 * 1024,
            outbound_queue_frames: 1024,
            outbound_queue_bytes: 8 * 1024 * 1024,
            slow_consumer_grace_ms: 2000,
            max_topics: 64,
            max_symbols: 500,
            max_ops_per_second: 50,
            write_delay_ms: 0,
        }
    }
}

/// The Socket.IO endpoint, `/socket.io/` (docs/SOCKETIO.md). Its sessions otherwise follow
/// `[session]`, like those of `/ws`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SocketIoSettings {
    /// Engine.IO `pingInterval`: how often the server pings. 100 to 3600000.
    pub ping_interval_ms: u64,
    /// Engine.IO `pingTimeout`: a client that has not answered a ping this long after the next
    /// one was due is closed. 100 to 3600000.
    pub ping_timeout_ms: u64,
    /// Engine.IO `maxPayload`: the largest client message (and polling request body). 64 to
    /// 16777216 (16 MiB).
    pub max_payload: usize,
    /// HTTP long-polling sessions open at once (each holds state between requests). At least 1.
    pub max_polling_sessions: usize,
}

impl Default for SocketIoSettings {
    fn default() -> Self {
        // The reference server's defaults (engine.io 6), which every client expects.
        Self {
            ping_interval_ms: 25_000,
            ping_timeout_ms: 20_000,
            max_payload: 1_000_000,
            max_polling_sessions: 10_000,
        }
    }
}

/// Batching of streaming patterns and indicators.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamingSettings {
    /// Off: every item goes out on its own as it arrives.
    pub buffer_enabled: bool,
    /// Flush period of the buffer. 50 to 1000, the range the legacy system clamped to.
    pub flush_interval_ms: u64,
    /// Flush early once this many distinct items are buffered. 1 to 10000.
    pub max_buffer_size: usize,
}

impl Default for StreamingSettings {
    fn default() -> Self {
        Self {
            buffer_enabled: true,
            flush_interval_ms: 250,
            max_buffer_size: 100,
        }
    }
}

/// Market data filtering.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketSettings {
    /// Price updates whose |change_percent| is below this are not sent. Finite and at least 0.
    pub price_change_threshold_pct: f64,
    /// Per-symbol conflation window: within it only the latest price update of a symbol is sent.
    /// 0 sends every update at once. At most 10000.
    pub conflation_ms: u64,
    /// How long a user's watchlist (the Redis set `tickstock:watchlist:{user}`) is cached before
    /// it is read again; a message on `tickstock.dashboard.watchlist` refreshes it at once. 1 to
    /// 86400.
    pub watchlist_ttl_secs: u64,
}

impl Default for MarketSettings {
    fn default() -> Self {
        Self {
            price_change_threshold_pct: 0.1,
            conflation_ms: 0,
            watchlist_ttl_secs: 300,
        }
    }
}

/// What a session gets when it starts watching a stream: the latest price and bar of a symbol,
/// the latest system health, streaming health and market summary.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotSettings {
    /// How old the latest frame may be and still be shown. 1 to 604800 (7 days).
    pub ttl_secs: u64,
}

impl Default for SnapshotSettings {
    fn default() -> Self {
        Self { ttl_secs: 86_400 }
    }
}

/// The recoverable streams' history in Redis (`patterns`, `alerts`, `system`, `admin`), which
/// any instance serves to a client that resumes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistorySettings {
    /// Entries kept per stream (Redis trims a little above it). 1 to 100000.
    pub size: usize,
    /// How long an entry stays replayable. 1 to 604800 (7 days).
    pub ttl_secs: u64,
}

impl Default for HistorySettings {
    fn default() -> Self {
        Self {
            size: 1000,
            ttl_secs: 300,
        }
    }
}

/// Each signed-in user's own stream (`user_messages:{user_id}`): what they missed while away,
/// delivered as `queued_message` until they acknowledge it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OfflineSettings {
    /// Entries kept per user. 1 to 100000.
    pub max_messages: usize,
    /// Refreshed on every add: a user away for longer loses the queue. 60 to 2592000 (30 days).
    pub ttl_secs: u64,
}

impl Default for OfflineSettings {
    fn default() -> Self {
        Self {
            max_messages: 1000,
            ttl_secs: 604_800,
        }
    }
}

/// This process among several sharing one Redis.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstanceSettings {
    /// The name `/stats` and JSON log lines carry; empty (the default): the host name.
    pub id: String,
}

impl InstanceSettings {
    /// `id`, or the host name when it is empty.
    pub fn name(&self) -> String {
        match self.id.trim() {
            "" => host_name(),
            id => id.to_owned(),
        }
    }
}

/// The machine's host name (a container's is its id), or `tickrouter` when it has none.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the valid buffer it is given.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(name) if ok && !name.is_empty() => name.to_owned(),
        _ => "tickrouter".to_owned(),
    }
}

/// The log output (the level comes from `RUST_LOG`, default `info`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
}

/// `text`: one readable line per record; `json`: one JSON object per line (`ts`, `level`,
/// `target`, `message`), for log collectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Backtest jobs submitted through the API.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobSettings {
    /// Queued or running jobs one user may have; a submission beyond gets `429`. 1 to 1000.
    pub max_active_per_user: usize,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            max_active_per_user: 5,
        }
    }
}

/// User-level pattern alert rules (the legacy `tickstock:alerts:*` records).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// How long a user's alert preferences and subscriptions are cached before they are read
    /// again. 1 to 86400.
    pub rules_ttl_secs: u64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self { rules_ttl_secs: 60 }
    }
}

/// What `/health` watches besides the subscription: the producer heartbeat and Redis itself.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSettings {
    /// Seconds between two probes (producer heartbeat key, Redis PING and INFO). 1 to 3600.
    pub probe_interval_secs: u64,
    /// A Redis PING round trip above this many ms, for `redis_latency_window_secs`, makes
    /// `/health` a warning. 1 to 60000.
    pub redis_latency_warn_ms: u64,
    /// How long the latency must stay above `redis_latency_warn_ms` before it is a warning, in
    /// seconds, so one slow PING is not. 1 to 3600.
    pub redis_latency_window_secs: u64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            probe_interval_secs: 10,
            redis_latency_warn_ms: 50,
            redis_latency_window_secs: 60,
        }
    }
}

/// Which Redis channels and patterns are consumed, and the kind each one carries.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelSettings {
    /// Subscribe to the built-in catalogue (`DEFAULT_CHANNELS`).
    pub include_defaults: bool,
    /// Routes added after the catalogue. A channel may appear only once across both.
    pub extra: Vec<ChannelRoute>,
    /// Redis Streams read beside the channels, with a consumer group per instance: entries
    /// added while tickrouter was down are routed when it starts.
    pub streams: Vec<StreamRoute>,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        Self {
            include_defaults: true,
            extra: Vec::new(),
            streams: Vec::new(),
        }
    }
}

/// One Redis Stream to read. Each entry's message is the value of its `field`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StreamRoute {
    /// The stream's key. Read and acknowledged, never trimmed or deleted.
    pub key: String,
    /// What every entry carries.
    pub kind: EventKind,
    /// The entry field that holds the message (default `data`).
    #[serde(default = "StreamRoute::default_field")]
    pub field: String,
}

impl StreamRoute {
    fn default_field() -> String {
        "data".into()
    }
}

/// One extra route. Exactly one of `channel` and `pattern` is set (checked by `validate`).
///
/// No `default` here: a route without a kind means nothing, so `kind` is required.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRoute {
    /// A channel name, SUBSCRIBEd.
    pub channel: Option<String>,
    /// A glob, PSUBSCRIBEd.
    pub pattern: Option<String>,
    /// What every message on it carries.
    pub kind: EventKind,
    /// A channel producers publish with SPUBLISH (Redis Cluster, `redis.cluster`): subscribed
    /// with SSUBSCRIBE on its slot's owner.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sharded: bool,
}

impl ChannelRoute {
    /// `None` for a route that sets both or neither; `validate` rejects those.
    fn subscription(&self) -> Option<Subscription> {
        match (&self.channel, &self.pattern) {
            (Some(name), None) if self.sharded => Some(Subscription::Sharded {
                name: name.clone(),
                kind: self.kind,
            }),
            (Some(name), None) => Some(Subscription::Channel {
                name: name.clone(),
                kind: self.kind,
            }),
            (None, Some(glob)) => Some(Subscription::Pattern {
                glob: glob.clone(),
                kind: self.kind,
            }),
            _ => None,
        }
    }
}

/// One thing the Redis reader subscribes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    Channel { name: String, kind: EventKind },
    Pattern { glob: String, kind: EventKind },
    Sharded { name: String, kind: EventKind },
}

impl Settings {
    /// The settings as TOML, the JWT secret and the Redis password replaced by `<redacted>`:
    /// what `tickrouter config` prints.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.auth.jwt_secret.is_some() {
            shown.auth.jwt_secret = Some("<redacted>".into());
        }
        shown.redis.url = redis_url::redact(&shown.redis.url).into_owned();
        for url in &mut shown.redis.cluster {
            *url = redis_url::redact(url).into_owned();
        }
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot show the settings: {e}\n"))
    }

    /// Parses TOML. Does not validate: overrides may still change the result, so call
    /// [`Settings::validate`] once they are applied.
    pub fn from_toml_str(text: &str) -> Result<Settings, ConfigError> {
        parse(text, None)
    }

    /// Reads and parses a TOML file, without validating (see [`Settings::from_toml_str`]).
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        parse(&text, Some(path))
    }

    /// The file's settings (or the defaults without one), validated, with no overrides.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        let settings = match path {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Everything to subscribe to: the catalogue first (if included), then the extra routes in
    /// file order.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        let defaults = DEFAULT_CHANNELS
            .iter()
            .filter(|_| self.channels.include_defaults)
            .map(|&(name, kind)| Subscription::Channel {
                name: name.to_owned(),
                kind,
            });
        let extra = self
            .channels
            .extra
            .iter()
            .filter_map(ChannelRoute::subscription);
        defaults.chain(extra).collect()
    }
}

fn parse(text: &str, path: Option<&Path>) -> Result<Settings, ConfigError> {
    toml::from_str(text).map_err(|err| ConfigError::Parse {
        path: path.map(Path::to_owned),
        message: err.to_string(),
    })
}

fn empty_as_none<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    Ok(Some(text).filter(|text| !text.is_empty()))
}

fn empty_as_none_path<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PathBuf>, D::Error> {
    empty_as_none(deserializer).map(|text| text.map(PathBuf::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/tickrouter.example.toml"
    ));

    #[test]
    fn example_file_is_exactly_the_defaults() {
        assert_eq!(
            Settings::from_toml_str(EXAMPLE).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
        assert_eq!(Settings::load(None).unwrap(), Settings::default());
    }

    #[test]
    fn commented_route_examples_in_the_example_file_are_valid() {
        // The example file shows `[[channels.extra]]` commented out; uncomment it so the
        // documentation cannot drift from what the parser accepts.
        // A commented route runs from its `# [[channels.` line to the next blank line. The
        // sharded route needs the cluster seeds, uncommented too.
        let mut in_route = false;
        let uncommented: String = EXAMPLE
            .lines()
            .map(|line| {
                in_route = line.starts_with("# [[channels.") || (in_route && !line.is_empty());
                let setting = line
                    .strip_prefix("# ")
                    .filter(|rest| rest.starts_with("[[") || rest.contains(" = "));
                match setting {
                    Some(rest) if in_route || rest.starts_with("cluster = ") => rest,
                    _ => line,
                }
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let settings = Settings::from_toml_str(&uncommented).unwrap();
        settings.validate().unwrap();
        assert!(settings.channels.extra.len() >= 2);
        assert!(settings.channels.extra.iter().any(|r| r.sharded));
        assert_eq!(settings.redis.cluster.len(), 3);
        assert_eq!(settings.channels.streams.len(), 1);
    }

    #[test]
    fn empty_file_and_empty_sections_give_defaults() {
        assert_eq!(Settings::from_toml_str("").unwrap(), Settings::default());
        let sections = "[server]\n[redis]\n[auth]\n[session]\n[streaming]\n[market]\n[channels]\n";
        assert_eq!(
            Settings::from_toml_str(sections).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn partial_section_keeps_other_defaults() {
        let settings = Settings::from_toml_str("[session]\nmax_topics = 3\n").unwrap();
        assert_eq!(settings.session.max_topics, 3);
        assert_eq!(settings.session.max_symbols, 500);
    }

    #[test]
    fn jwt_secret_empty_is_none_and_set_is_some() {
        let none = Settings::from_toml_str("[auth]\njwt_secret = \"\"\n").unwrap();
        assert_eq!(none.auth.jwt_secret, None);
        let some = Settings::from_toml_str("[auth]\njwt_secret = \"s3cret\"\n").unwrap();
        assert_eq!(some.auth.jwt_secret.as_deref(), Some("s3cret"));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let mut settings = Settings::default();
        settings.auth.jwt_secret = Some("topsecret".to_owned());
        settings.redis.url = "redis://:hunter2@db:6379/0".to_owned();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("topsecret"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("db:6379"), "{debug}");
    }

    fn parse_error(text: &str) -> String {
        match Settings::from_toml_str(text) {
            Err(err @ ConfigError::Parse { .. }) => err.to_string(),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn unknown_top_level_key_is_rejected_by_name() {
        let message = parse_error("[serverr]\nbind = \"127.0.0.1:1\"\n");
        assert!(message.contains("serverr"), "{message}");
        let message = parse_error("verbose = true\n");
        assert!(message.contains("verbose"), "{message}");
    }

    #[test]
    fn unknown_nested_key_is_rejected_by_name() {
        let message = parse_error("[session]\nmax_topic = 3\n");
        assert!(message.contains("max_topic"), "{message}");
        let message = parse_error(
            "[[channels.extra]]\nchannel = \"a\"\nkind = \"price_update\"\nglob = \"x\"\n",
        );
        assert!(message.contains("glob"), "{message}");
    }

    #[test]
    fn wrong_types_and_unknown_kinds_are_parse_errors() {
        let message = parse_error("[server]\nbind = \"not an address\"\n");
        assert!(message.contains("bind"), "{message}");
        let message = parse_error("[[channels.extra]]\nchannel = \"a\"\nkind = \"price\"\n");
        assert!(message.contains("price"), "{message}");
        let message = parse_error("[[channels.extra]]\nchannel = \"a\"\n");
        assert!(message.contains("kind"), "{message}");
    }

    #[test]
    fn from_file_names_the_file_in_errors() {
        let missing = Path::new("/nonexistent/tickrouter.toml");
        let err = Settings::from_file(missing).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("/nonexistent/tickrouter.toml"));
    }

    #[test]
    fn subscriptions_list_defaults_then_extras() {
        let settings = Settings::from_toml_str(
            "[[channels.extra]]\nchannel = \"my.prices\"\nkind = \"price_update\"\n\
             [[channels.extra]]\npattern = \"feeds.*.ticks\"\nkind = \"tick_data\"\n",
        )
        .unwrap();
        settings.validate().unwrap();
        let subscriptions = settings.subscriptions();
        assert_eq!(subscriptions.len(), DEFAULT_CHANNELS.len() + 2);
        let (first_name, first_kind) = DEFAULT_CHANNELS[0];
        assert_eq!(
            subscriptions[0],
            Subscription::Channel {
                name: first_name.to_owned(),
                kind: first_kind
            }
        );
        assert_eq!(
            subscriptions[DEFAULT_CHANNELS.len()..],
            [
                Subscription::Channel {
                    name: "my.prices".to_owned(),
                    kind: EventKind::PriceUpdate
                },
                Subscription::Pattern {
                    glob: "feeds.*.ticks".to_owned(),
                    kind: EventKind::TickData
                },
            ]
        );
    }

    #[test]
    fn subscriptions_without_defaults_are_only_the_extras() {
        let settings = Settings::from_toml_str(
            "[channels]\ninclude_defaults = false\n\
             [[channels.extra]]\nchannel = \"tickstock.market.prices\"\nkind = \"tick_data\"\n",
        )
        .unwrap();
        settings.validate().unwrap();
        assert_eq!(
            settings.subscriptions(),
            [Subscription::Channel {
                name: "tickstock.market.prices".to_owned(),
                kind: EventKind::TickData
            }]
        );
    }
}
