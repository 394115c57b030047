//! The bundled dashboard: `static/index.html` at `/` and its assets under `/static/`.

use actix_web::{web, HttpResponse};

use super::AppState;

pub async fn index(state: web::Data<AppState>) -> HttpResponse {
    serve(&state, "index.html")
}

pub async fn debug_page(state: web::Data<AppState>) -> HttpResponse {
    serve(&state, "debug.html")
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
        _ => return HttpResponse::NotFound().finish(),
    };
    if !plain {
        return HttpResponse::NotFound().finish();
    }
    match std::fs::read(state.static_dir.join(file)) {
        Ok(body) => HttpResponse::Ok().content_type(content_type).body(body),
        Err(_) => HttpResponse::NotFound().body(format!(
            "{file} not found in {}",
            state.static_dir.display()
        )),
    }
}
