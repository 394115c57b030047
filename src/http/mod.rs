//! The HTTP surface: one route table, reused by the server and the tests.

mod admin;
pub mod auth;
mod autobahn;
mod backtests;
mod body;
mod dashboard;
mod debug;
mod error;
mod health;
mod preferences;
pub mod socketio;
mod ws;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use actix_cors::Cors;
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{guard, web, HttpResponse};

use crate::access::{AddressCounts, OriginPolicy, TrustedProxies};
use crate::demo::DEMO_USER;
use crate::domain::monitor::Monitor;
use crate::pipeline::session::SessionDeps;
use crate::telemetry::health::HealthState;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::Stats;

/// Shared state of every HTTP worker.
pub struct AppState {
    pub sessions: Arc<SessionDeps>,
    pub stats: Arc<Stats>,
    pub health: Arc<HealthState>,
    pub next_session_id: AtomicU64,
    pub max_sessions: usize,
    pub static_dir: std::path::PathBuf,
    /// Set only in demo mode: the secret `/api/demo-token` signs with.
    pub demo_secret: Option<String>,
    /// `server.autobahn_echo` (test-only): whether `/autobahn/echo` exists.
    pub autobahn_echo: bool,
    /// One check per pipeline actor, for `/ready`.
    pub actors: Vec<(&'static str, LivenessCheck)>,
    pub metrics: Metrics,
    pub monitor: Arc<Mutex<Monitor>>,
    /// Redis commands for the backtest API (the app's shared lazy connection manager).
    pub commands: crate::redis_client::Commands,
    pub access: Access,
    /// The Socket.IO endpoint's long-polling sessions.
    pub polling: socketio::PollingSessions,
    /// `server.body_timeout_secs`.
    pub body_timeout: std::time::Duration,
    /// `jobs.max_active_per_user`.
    pub max_active_jobs: usize,
    /// `instance.id`.
    pub instance: String,
}

/// Who may connect: `server.allowed_origins`, `trusted_proxies`, `max_sessions_per_address`.
pub struct Access {
    pub origins: OriginPolicy,
    pub proxies: TrustedProxies,
    pub addresses: Arc<AddressCounts>,
    pub max_sessions_per_address: usize,
}

/// True while an actor is running.
pub type LivenessCheck = Box<dyn Fn() -> bool + Send + Sync>;

/// What one listener serves: the client port serves the operator endpoints too unless
/// `server.admin_bind` gives them their own port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Client { with_operator: bool },
    Admin,
}

/// The route table of one listener. Every resource answers a method it does not serve with 405
/// and `Allow`, and `HEAD` wherever it serves `GET`; browser pages from `origins` may call the
/// API and load the JS client across origins (CORS).
pub fn routes(listener: Listener, origins: OriginPolicy) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let probes = |cfg: &mut web::ServiceConfig| {
            cfg.service(resource("/live", "GET, HEAD").route(get().to(health::live)))
                .service(resource("/health", "GET, HEAD").route(get().to(health::health)))
                .service(resource("/ready", "GET, HEAD").route(get().to(health::ready)));
        };
        let operator = |cfg: &mut web::ServiceConfig| {
            cfg.service(resource("/stats", "GET, HEAD").route(get().to(stats)))
                .service(resource("/metrics", "GET, HEAD").route(get().to(metrics)))
                .service(resource("/debug", "GET, HEAD").route(get().to(dashboard::debug_page)))
                .service(resource("/debug/messages", "GET, HEAD").route(get().to(debug::messages)))
                .service(
                    resource("/debug/field-names", "GET, HEAD").route(get().to(debug::field_names)),
                )
                .service(resource("/debug/clear", "POST").route(web::post().to(debug::clear)));
        };
        probes(cfg);
        match listener {
            Listener::Admin => operator(cfg),
            Listener::Client { with_operator } => {
                if with_operator {
                    operator(cfg);
                }
                client(cfg, origins);
            }
        }
    }
}

/// The routes browsers and clients use.
fn client(cfg: &mut web::ServiceConfig, origins: OriginPolicy) {
    cfg.service(resource("/ws", "GET").route(web::get().to(ws::connect)))
        .service(
            // CORS: a page of an allowed origin starts on long-polling (XHR) as `io()` does.
            resource("/socket.io/", "GET, POST")
                .wrap(cors(origins.clone()))
                .route(web::get().to(socketio::engine))
                .route(web::post().to(socketio::engine)),
        )
        .service(resource("/autobahn/echo", "GET").route(web::get().to(autobahn::echo)))
        .service(resource("/", "GET, HEAD").route(get().to(dashboard::index)))
        .service(
            resource("/static/tickrouter.js", "GET, HEAD")
                .wrap(cors(origins.clone()))
                .route(get().to(dashboard::client_library)),
        )
        .service(resource("/static/{file}", "GET, HEAD").route(get().to(dashboard::asset)))
        .service(
            web::scope("/api")
                .wrap(cors(origins))
                .service(resource("/info", "GET, HEAD").route(get().to(info)))
                .service(resource("/demo-token", "GET, HEAD").route(get().to(demo_token)))
                .service(
                    resource("/backtests", "GET, HEAD, POST")
                        .route(get().to(backtests::list))
                        .route(web::post().to(backtests::submit)),
                )
                .service(resource("/backtests/{id}", "GET, HEAD").route(get().to(backtests::get)))
                .service(
                    resource("/backtests/{id}/cancel", "POST")
                        .route(web::post().to(backtests::cancel)),
                )
                .service(resource("/admin/errors", "GET, HEAD").route(get().to(admin::errors)))
                .service(
                    resource("/me/alert-rules", "GET, HEAD, PUT")
                        .route(get().to(preferences::get_alert_rules))
                        .route(web::put().to(preferences::put_alert_rules)),
                )
                .service(
                    resource("/me/watchlist", "GET, HEAD, PUT")
                        .route(get().to(preferences::get_watchlist))
                        .route(web::put().to(preferences::put_watchlist)),
                ),
        );
}

/// A resource that answers other methods with 405 and the ones it has.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        let message = format!("this endpoint answers {allow}");
        HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, allow))
            .json(serde_json::json!({"error": "method_not_allowed", "message": message}))
    }))
}

/// `GET`, and `HEAD` with the same headers and no body (actix drops the body of a HEAD answer).
fn get() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Cross-origin calls from the allowed origins, with the bearer token header.
fn cors(origins: OriginPolicy) -> Cors {
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            let host = head
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok());
            origins.allows(origin.to_str().ok(), host)
        })
        .allowed_methods(["GET", "HEAD", "POST", "PUT"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(3600)
}

/// Headers every answer carries unless it sets its own (the dashboard's pages set their CSP):
/// nothing here is meant to be framed, sniffed into another type, or to leak the URL onwards.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
}

/// What a page needs to know before it signs in: whether tokens are checked at all, and whether
/// demo tokens are handed out (so the dashboard does not probe `/api/demo-token` for a 404).
async fn info(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "auth": state.sessions.auth.enabled(),
        "demo_mode": state.demo_secret.is_some(),
    }))
}

#[derive(serde::Deserialize)]
struct DemoTokenQuery {
    role: Option<String>,
}

/// The demo user's token, so the bundled dashboard works without a login; `?role=admin` adds
/// the admin role, so the admin panel can be tried too. 404 unless demo mode.
async fn demo_token(state: web::Data<AppState>, q: web::Query<DemoTokenQuery>) -> HttpResponse {
    let Some(secret) = &state.demo_secret else {
        return HttpResponse::NotFound().finish();
    };
    let roles: &[&str] = match q.role.as_deref() {
        Some("admin") => &["admin"],
        _ => &[],
    };
    let token = crate::auth::issue_token(secret, DEMO_USER, roles, DEMO_TOKEN_TTL_SECS);
    HttpResponse::Ok().json(serde_json::json!({"token": token, "user_id": DEMO_USER}))
}

const DEMO_TOKEN_TTL_SECS: i64 = 12 * 3600;

async fn stats(state: web::Data<AppState>) -> HttpResponse {
    let mut snapshot = state.stats.snapshot();
    snapshot["instance"] = serde_json::Value::from(state.instance.as_str());
    HttpResponse::Ok().json(snapshot)
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    match state.metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
