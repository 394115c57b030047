//! The composition root: builds the pipeline in flow order, serves HTTP, and tears everything
//! down in reverse when the shutdown future resolves.

use std::fmt;
use std::future::Future;
use std::net::TcpListener;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use actix_web::{web, App, HttpServer};
use log::{info, warn};

use crate::access::{OriginPolicy, TrustedProxies};
use crate::auth::Authenticator;
use crate::config::{ServerSettings, Settings, Subscription};
use crate::domain::close::CloseReason;
use crate::domain::fanout;
use crate::domain::monitor::Monitor;
use crate::domain::session_state::Limits;
use crate::http::socketio::PollingSessions;
use crate::http::{self, Access, AppState, Listener};
use crate::open_files::{self, Outcome};
use crate::pipeline::handlers::{
    Backtest, Flush, Market, MarketConfig, MarketLogic, Outlet, Streaming, StreamingConfig,
    StreamingLogic, SystemEvents, Users, UsersConfig,
};
use crate::pipeline::history::{Drain, HistoryConfig, HistoryStore, Recorder, Window};
use crate::pipeline::redis_reader::{
    Backoff, Mode, Normaliser, Pushes, ReaderConfig, RedisReader, ShardedReader, Source,
    StopReading, StreamReader, StreamReaderActor, StreamSource, Subscriptions,
};
use crate::pipeline::registry::{CloseAll, RegistryConfig, RoomRegistry};
use crate::pipeline::router::{Handlers, Router};
use crate::pipeline::session::{EngineConfig, SessionConfig, SessionDeps};
use crate::pipeline::snapshot_store::SnapshotStore;
use crate::redis_client::{Commands, Target};
use crate::telemetry::health::{HealthState, LatencyWatch};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::{ChannelId, Stats};

/// Time allowed for Redis commands issued by handlers (job owners, heartbeat probe).
const REDIS_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Time sessions get to receive their close frame before the HTTP server stops.
const SESSION_CLOSE_GRACE: Duration = Duration::from_millis(300);
/// Shutdown gives up waiting and exits after this long.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(8);

/// Why the service could not start serving.
#[derive(Debug)]
pub enum StartupError {
    /// No Redis client could be made (URL or TLS files).
    Redis(String),
    /// A setting only checkable by using it, such as an unreadable `auth.public_key_file`.
    Config(crate::config::ConfigError),
    Io(std::io::Error),
    AdminBind(std::net::SocketAddr, std::io::Error),
    Tls(crate::tls::TlsError),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::Redis(e) => write!(f, "[config] {e}"),
            StartupError::Config(e) => write!(f, "[config] {e}"),
            StartupError::Io(e) => write!(f, "cannot start the HTTP server: {e}"),
            StartupError::Tls(e) => write!(f, "[config] {e}"),
            StartupError::AdminBind(addr, e) => {
                write!(
                    f,
                    "[config] server.admin_bind: cannot listen on {addr}: {e}"
                )
            }
        }
    }
}

impl std::error::Error for StartupError {}

impl From<std::io::Error> for StartupError {
    fn from(e: std::io::Error) -> Self {
        StartupError::Io(e)
    }
}

fn sources(settings: &Settings) -> Vec<Source> {
    settings
        .subscriptions()
        .into_iter()
        .map(|s| match s {
            Subscription::Channel { name, kind } => Source {
                name,
                mode: Mode::Channel,
                kind,
            },
            Subscription::Pattern { glob, kind } => Source {
                name: glob,
                mode: Mode::Pattern,
                kind,
            },
            Subscription::Sharded { name, kind } => Source {
                name,
                mode: Mode::Sharded,
                kind,
            },
        })
        .collect()
}

/// The Redis Streams read beside the channels; their counters follow the channels' (`Stats`).
fn stream_sources(settings: &Settings) -> Vec<StreamSource> {
    let first = sources(settings).len();
    let routes = settings.channels.streams.iter().enumerate();
    routes
        .map(|(i, route)| StreamSource {
            key: route.key.clone(),
            kind: route.kind,
            field: route.field.clone(),
            channel: ChannelId(first + i),
        })
        .collect()
}

fn session_config(settings: &Settings) -> SessionConfig {
    let s = &settings.session;
    SessionConfig {
        heartbeat_interval: Duration::from_secs(s.heartbeat_interval_secs),
        client_timeout: Duration::from_secs(s.client_timeout_secs),
        max_frame_bytes: s.max_frame_bytes,
        outbound_queue_frames: s.outbound_queue_frames,
        max_ops_per_second: s.max_ops_per_second,
        write_delay: Duration::from_millis(s.write_delay_ms),
        expiry_warning: Duration::from_secs(settings.auth.expiry_warning_secs),
        limits: Limits {
            max_topics: s.max_topics,
            max_symbols: s.max_symbols,
        },
        engine: EngineConfig {
            ping_interval: Duration::from_millis(settings.socketio.ping_interval_ms),
            ping_timeout: Duration::from_millis(settings.socketio.ping_timeout_ms),
            max_payload: settings.socketio.max_payload,
            polling_queue_bytes: s.outbound_queue_bytes,
        },
    }
}

fn history_config(settings: &Settings) -> HistoryConfig {
    HistoryConfig {
        topics: Window {
            size: settings.history.size,
            ttl: Duration::from_secs(settings.history.ttl_secs),
        },
        users: Window {
            size: settings.offline.max_messages,
            ttl: Duration::from_secs(settings.offline.ttl_secs),
        },
    }
}

/// The running actors, in flow order.
struct Pipeline {
    reader: Addr<RedisReader>,
    sharded_reader: Option<Addr<ShardedReader>>,
    stream_readers: Vec<Addr<StreamReaderActor>>,
    router: Addr<Router>,
    handlers: Handlers,
    recorder: Addr<Recorder>,
    registry: Addr<RoomRegistry>,
}

impl Pipeline {
    /// Starts every stage, downstream first, so each has somewhere to send before events flow.
    fn start(
        settings: &Settings,
        target: Target,
        commands: Commands,
        history: HistoryStore,
        stats: &Arc<Stats>,
        health: &Arc<HealthState>,
        monitor: &Arc<Mutex<Monitor>>,
    ) -> Pipeline {
        let s = &settings.session;
        let registry = RegistryConfig {
            limits: fanout::Limits {
                slow_consumer_grace: Duration::from_millis(s.slow_consumer_grace_ms),
                // The session's own heartbeat closes a silent client (with a close frame) at its
                // first tick past the timeout; a whole tick later it cannot run at all.
                idle: Duration::from_secs(s.client_timeout_secs + 2 * s.heartbeat_interval_secs),
            },
            max_queued_bytes: s.outbound_queue_bytes,
            snapshot_ttl: Duration::from_secs(settings.snapshot.ttl_secs),
        };
        let shared = SnapshotStore::new(commands.clone(), registry.snapshot_ttl);
        let registry = RoomRegistry::new(stats.clone(), registry, shared).start();
        let recorder = Recorder::new(history, registry.clone(), stats.clone()).start();
        let outlet = Outlet::new(registry.clone(), recorder.clone(), stats.clone());
        let streaming = StreamingConfig {
            flush_interval: settings
                .streaming
                .buffer_enabled
                .then(|| Duration::from_millis(settings.streaming.flush_interval_ms)),
            max_buffer_size: settings.streaming.max_buffer_size,
        };
        let users = UsersConfig {
            rules_ttl: Duration::from_secs(settings.alerts.rules_ttl_secs),
            watchlist_ttl: Duration::from_secs(settings.market.watchlist_ttl_secs),
            away_grace: Duration::from_secs(settings.history.ttl_secs),
        };
        let market = MarketConfig {
            price_change_threshold_pct: settings.market.price_change_threshold_pct,
            conflation: (settings.market.conflation_ms > 0)
                .then(|| Duration::from_millis(settings.market.conflation_ms)),
        };
        let probe_every = Duration::from_secs(settings.health.probe_interval_secs);
        let handlers = Handlers {
            streaming: Streaming::new(StreamingLogic::new(streaming), outlet.clone()).start(),
            users: Users::new(users, commands.clone(), outlet.clone()).start(),
            market: Market::new(MarketLogic::new(market), outlet.clone()).start(),
            backtest: Backtest::new(commands.clone(), outlet.clone()).start(),
            system: SystemEvents::new(commands.clone(), health.clone(), probe_every, outlet)
                .start(),
        };
        let router = Router::new(handlers.clone(), stats.clone()).start_inbox();
        // The readers run on this arbiter, with the router, handlers and registry: a thread of
        // their own cost every message one more thread woken (docs/ARCHITECTURE.md, "Threads").
        let config = ReaderConfig {
            max_message_bytes: settings.redis.max_message_bytes,
            inbound_queue_messages: settings.redis.inbound_queue_messages,
            keepalive: Duration::from_secs(settings.redis.keepalive_secs),
            backoff: Backoff::new(
                Duration::from_millis(settings.redis.reconnect_initial_ms),
                Duration::from_millis(settings.redis.reconnect_max_ms),
            ),
        };
        let normaliser = || Normaliser {
            stats: stats.clone(),
            monitor: monitor.clone(),
            max_message_bytes: config.max_message_bytes,
        };
        // One XREADGROUP reads every stream, except in a cluster, where the streams' keys are
        // in different slots: there each stream has a reader of its own.
        let streams = stream_sources(settings);
        let groups: Vec<Vec<StreamSource>> = if commands.is_cluster() {
            streams.into_iter().map(|s| vec![s]).collect()
        } else if streams.is_empty() {
            Vec::new()
        } else {
            vec![streams]
        };
        let stream_readers = groups
            .into_iter()
            .map(|streams| {
                let reader = StreamReader::new(
                    target.clone(),
                    commands.clone(),
                    streams,
                    &settings.instance.name(),
                    normaliser(),
                    router.clone(),
                    stats.clone(),
                    config.backoff.clone(),
                );
                StreamReaderActor::new(reader).start()
            })
            .collect();
        let subscriptions = Arc::new(Subscriptions::new(sources(settings)));
        let pushes = || Pushes {
            subscriptions: subscriptions.clone(),
            normaliser: normaliser(),
            router: router.clone(),
        };
        let sharded = !subscriptions.names(Mode::Sharded).is_empty();
        let sharded_reader = target.cluster_pubsub().filter(|_| sharded).map(|client| {
            let (queue, timeout) = (config.inbound_queue_messages, config.keepalive);
            let backoff = config.backoff.clone();
            ShardedReader::new(
                client.clone(),
                pushes(),
                stats.clone(),
                queue,
                timeout,
                backoff,
            )
            .start()
        });
        let reader = RedisReader::new(
            target.subscriber_nodes().to_vec(),
            pushes(),
            stats.clone(),
            config,
        )
        .start();
        Pipeline {
            reader,
            sharded_reader,
            stream_readers,
            router: router.addr,
            handlers,
            recorder,
            registry,
        }
    }

    /// One check per actor, for `/ready`.
    fn liveness(&self) -> Vec<(&'static str, http::LivenessCheck)> {
        let h = &self.handlers;
        let streams = self
            .stream_readers
            .iter()
            .map(|r| ("stream_reader", alive(r)));
        let sharded = self
            .sharded_reader
            .iter()
            .map(|r| ("sharded_reader", alive(r)));
        let mut checks = vec![
            ("redis_reader", alive(&self.reader)),
            ("router", alive(&self.router)),
            ("streaming", alive(&h.streaming)),
            ("users", alive(&h.users)),
            ("market", alive(&h.market)),
            ("backtest", alive(&h.backtest)),
            ("system_events", alive(&h.system)),
            ("recorder", alive(&self.recorder)),
            ("registry", alive(&self.registry)),
        ];
        checks.extend(streams.chain(sharded));
        checks
    }

    /// Upstream first: no new events, then every handler sends what it holds back, in flow
    /// order, then every session is told to close after its queued frames (the close order
    /// rides the same queues).
    async fn stop(&self) {
        self.reader.do_send(StopReading);
        if let Some(reader) = &self.sharded_reader {
            reader.do_send(StopReading);
        }
        for reader in &self.stream_readers {
            reader.do_send(StopReading);
        }
        let h = &self.handlers;
        let _ = h.streaming.send(Flush).await;
        let _ = h.users.send(Flush).await;
        let _ = h.market.send(Flush).await;
        let _ = h.backtest.send(Flush).await;
        let _ = h.system.send(Flush).await;
        let drained = self.recorder.send(Drain);
        let _ = actix_web::rt::time::timeout(REDIS_COMMAND_TIMEOUT * 2, drained).await;
        let _ = self
            .registry
            .send(CloseAll {
                reason: CloseReason::Shutdown,
            })
            .await;
        actix_web::rt::time::sleep(SESSION_CLOSE_GRACE).await;
    }
}

/// The token verifier, and in demo mode the secret `/api/demo-token` signs with (made up when
/// none is configured). With a JWKS, its first fetch starts now, so the first client does not
/// wait for it.
fn authentication(
    settings: &Settings,
) -> Result<(Arc<Authenticator>, Option<String>), StartupError> {
    let demo_secret = settings.server.demo_mode.then(|| {
        warn!("Demo mode: GET /api/demo-token hands out tokens to anyone. Never use it in production.");
        settings.auth.jwt_secret.clone().unwrap_or_else(|| fastrand_secret(32))
    });
    let auth = Authenticator::from_settings(&settings.auth, demo_secret.as_deref())
        .map_err(StartupError::Config)?;
    if !auth.enabled() {
        warn!("No token key configured (TICKROUTER_JWT_SECRET, auth.jwt_secret, auth.public_key_file or auth.jwks_url): every session is anonymous.");
    }
    if let Some(jwks) = auth.jwks() {
        let jwks = jwks.clone();
        actix_web::rt::spawn(async move { jwks.refresh_for(None).await });
    }
    Ok((Arc::new(auth), demo_secret))
}

/// Runs the service on `listener` until `shutdown` resolves (or the HTTP server fails).
/// Must be called inside an actix `System`.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartupError> {
    match open_files::ensure_for(settings.server.max_sessions) {
        Ok(Outcome::Enough { .. }) => {}
        Ok(o @ (Outcome::Raised { .. } | Outcome::Nearly { .. })) => info!("{o}."),
        Ok(o @ Outcome::Short { .. }) => warn!("{o}."),
        Err(e) => warn!("Cannot read or raise the open-file limit: {e}."),
    }
    let (auth, demo_secret) = authentication(&settings)?;
    let names = sources(&settings).into_iter().map(|s| s.name).collect();
    let keys = settings
        .channels
        .streams
        .iter()
        .map(|s| s.key.clone())
        .collect();
    let stats = Arc::new(Stats::with_streams(names, keys));
    let target = crate::redis_client::target(&settings.redis).map_err(StartupError::Redis)?;
    let connection = || {
        target
            .commands(REDIS_COMMAND_TIMEOUT)
            .map_err(StartupError::Redis)
    };
    let commands = connection()?;
    // The history writes get a connection of their own: on the shared one, every live
    // recoverable frame would wait behind whatever sessions read (a storm of resumes).
    let history_writes = HistoryStore::new(connection()?, history_config(&settings));
    let health = Arc::new(HealthState::new(LatencyWatch {
        warn_above: Duration::from_millis(settings.health.redis_latency_warn_ms),
        for_at_least: Duration::from_secs(settings.health.redis_latency_window_secs),
    }));
    let monitor = Arc::new(Mutex::new(Monitor::default()));
    let history = HistoryStore::new(commands.clone(), history_config(&settings));
    let pipeline = Pipeline::start(
        &settings,
        target,
        commands.clone(),
        history_writes,
        &stats,
        &health,
        &monitor,
    );

    let state = web::Data::new(AppState {
        sessions: Arc::new(SessionDeps {
            registry: pipeline.registry.clone(),
            users: pipeline.handlers.users.clone(),
            auth,
            stats: stats.clone(),
            history,
            config: session_config(&settings),
        }),
        metrics: Metrics::new(stats.clone()),
        stats,
        health,
        next_session_id: AtomicU64::new(1),
        max_sessions: settings.server.max_sessions,
        static_dir: settings.server.static_dir.clone(),
        demo_secret,
        autobahn_echo: settings.server.autobahn_echo,
        actors: pipeline.liveness(),
        monitor,
        commands,
        access: access(&settings.server),
        polling: PollingSessions::new(settings.socketio.max_polling_sessions),
        body_timeout: Duration::from_secs(settings.server.body_timeout_secs),
        max_active_jobs: settings.jobs.max_active_per_user,
        instance: settings.instance.name(),
    });
    if settings.server.autobahn_echo {
        warn!("server.autobahn_echo: serving the test-only echo WebSocket /autobahn/echo.");
    }
    let addr = listener.local_addr()?;
    let origins = OriginPolicy::new(&settings.server.allowed_origins);
    let admin_bind = settings.server.admin_bind;
    let client_routes = Listener::Client {
        with_operator: admin_bind.is_none(),
    };
    let app = move |listener: Listener| {
        let (state, origins) = (state.clone(), origins.clone());
        move || {
            App::new()
                .app_data(state.clone())
                .wrap(http::security_headers())
                .configure(http::routes(listener, origins.clone()))
        }
    };
    let mut server = HttpServer::new(app(client_routes))
        .on_connect(crate::net::on_connect)
        .disable_signals()
        .shutdown_timeout(3);
    if settings.server.workers > 0 {
        server = server.workers(settings.server.workers);
    }
    let server = match &settings.server.tls {
        Some(tls) => {
            let config = crate::tls::server_config(tls).map_err(StartupError::Tls)?;
            server.listen_rustls_0_23(listener, config)?
        }
        None => server.listen(listener)?,
    }
    .run();
    let handle = server.handle();
    let server = actix_web::rt::spawn(server);
    let (http, ws) = match settings.server.tls {
        Some(_) => ("https", "wss"),
        None => ("http", "ws"),
    };
    info!(
        "tickrouter {} listening on {http}://{addr} (dashboard at {http}://{addr}/, WebSocket at {ws}://{addr}/ws).",
        settings.instance.name()
    );
    let admin = match admin_bind {
        Some(bind) => {
            let admin = HttpServer::new(app(Listener::Admin))
                .workers(1)
                .disable_signals()
                .shutdown_timeout(1)
                .bind(bind)
                .map_err(|e| StartupError::AdminBind(bind, e))?
                .run();
            info!("Operator endpoints (/metrics, /stats, /debug) on http://{bind} only.");
            Some((admin.handle(), actix_web::rt::spawn(admin)))
        }
        None => None,
    };

    shutdown.await;
    info!("Shutting down: flushing buffers and closing sessions.");
    let stop_in_order = async {
        pipeline.stop().await;
        handle.stop(true).await;
    };
    if actix_web::rt::time::timeout(SHUTDOWN_DEADLINE, stop_in_order)
        .await
        .is_err()
    {
        warn!("Shutdown took longer than {SHUTDOWN_DEADLINE:?}; stopping now.");
        handle.stop(false).await;
    }
    let _ = server.await;
    if let Some((handle, server)) = admin {
        handle.stop(true).await;
        let _ = server.await;
    }
    info!("Stopped.");
    Ok(())
}

fn access(server: &ServerSettings) -> Access {
    Access {
        origins: OriginPolicy::new(&server.allowed_origins),
        // Validated with the settings.
        proxies: TrustedProxies::parse(&server.trusted_proxies).unwrap_or_default(),
        addresses: Arc::default(),
        max_sessions_per_address: server.max_sessions_per_address,
    }
}

fn alive<A: Actor>(addr: &Addr<A>) -> http::LivenessCheck {
    let addr = addr.clone();
    Box::new(move || addr.connected())
}

fn fastrand_secret(len: usize) -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(len)
        .collect()
}
