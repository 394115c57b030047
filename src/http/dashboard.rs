//! The bundled dashboard: `static/index.html` at `/`, the debug page at `/debug`, and their
//! assets under `/static/`. Each page carries its Content-Security-Policy as a header too, with
//! `frame-ancestors` (which a `<meta>` policy cannot set), so no other site can frame it.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use super::AppState;

/// The dashboard's policy: same-origin scripts, styles and sockets only.
const DASHBOARD_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";
/// The operator's debug page keeps its script and style inline.
const DEBUG_CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; \
     script-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub async fn index(state: web::Data<AppState>) -> HttpResponse {
    serve(&state, "index.html")
}

pub async fn debug_page(state: web::Data<AppState>) -> HttpResponse {
    serve(&state, "debug.html")
}

/// The JS client, served on its own route so other origins may load it (CORS).
pub async fn client_library(state: web::Data<AppState>) -> HttpResponse {
    serve(&state, "tickrouter.js")
}

pub async fn asset(state: web::Data<AppState>, file: web::Path<String>) -> HttpResponse {
    serve(&state, &file)
}

fn serve(state: &AppState, file: &str) -> HttpResponse {
    // Plain file names only: no separators or leading dot, so nothing outside static_dir.
    let plain = !file.starts_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    let content_type = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        _ => return not_found(),
    };
    if !plain {
        return not_found();
    }
    let Ok(body) = std::fs::read(state.static_dir.join(file)) else {
        return not_found();
    };
    let mut answer = HttpResponse::Ok();
    answer.content_type(content_type);
    match file {
        "index.html" => answer.insert_header((header::CONTENT_SECURITY_POLICY, DASHBOARD_CSP)),
        "debug.html" => answer.insert_header((header::CONTENT_SECURITY_POLICY, DEBUG_CSP)),
        _ => &mut answer,
    };
    answer.body(body)
}

/// Says nothing about where the files live on the server.
fn not_found() -> HttpResponse {
    HttpResponse::NotFound().body("no such file")
}
