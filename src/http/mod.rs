//! The HTTP surface: one route table, reused by the server and the tests.

mod admin;
pub mod auth;
mod autobahn;
mod backtests;
mod dashboard;
mod debug;
mod error;
mod health;
mod preferences;
mod ws;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use actix_web::{web, HttpResponse};

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
    pub commands: redis::aio::ConnectionManager,
}

/// True while an actor is running.
pub type LivenessCheck = Box<dyn Fn() -> bool + Send + Sync>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(ws::connect))
        .route("/autobahn/echo", web::get().to(autobahn::echo))
        .route("/health", web::get().to(health::health))
        .route("/ready", web::get().to(health::ready))
        .route("/stats", web::get().to(stats))
        .route("/metrics", web::get().to(metrics))
        .route("/debug", web::get().to(dashboard::debug_page))
        .route("/debug/messages", web::get().to(debug::messages))
        .route("/debug/field-names", web::get().to(debug::field_names))
        .route("/debug/clear", web::post().to(debug::clear))
        .route("/", web::get().to(dashboard::index))
        .route("/static/{file}", web::get().to(dashboard::asset))
        .route("/api/demo-token", web::get().to(demo_token))
        .service(
            web::resource("/api/backtests")
                .route(web::get().to(backtests::list))
                .route(web::post().to(backtests::submit)),
        )
        .route("/api/admin/errors", web::get().to(admin::errors))
        .service(
            web::resource("/api/me/alert-rules")
                .route(web::get().to(preferences::get_alert_rules))
                .route(web::put().to(preferences::put_alert_rules)),
        )
        .service(
            web::resource("/api/me/watchlist")
                .route(web::get().to(preferences::get_watchlist))
                .route(web::put().to(preferences::put_watchlist)),
        )
        .route("/api/backtests/{id}", web::get().to(backtests::get))
        .route(
            "/api/backtests/{id}/cancel",
            web::post().to(backtests::cancel),
        );
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

const DEMO_USER: &str = "demo";
const DEMO_TOKEN_TTL_SECS: i64 = 12 * 3600;

async fn stats(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.stats.snapshot())
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    match state.metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
