//! The dashboard: the built front-end (`dashboard/dist`, committed) embedded in the binary and
//! served at `/` and `/assets/…`, so `annal serve` needs no file beside it and no network.
//!
//! The page holds no data: it calls the public `/v1` API with the token the user gives it, so it
//! sees exactly what that token may read. Every answer carries a content security policy that
//! allows only this origin, which keeps a hostile payload shown on the page from loading or
//! sending anything elsewhere.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;

use crate::problem::ApiError;
use crate::state::AppState;

/// The built assets, embedded at compile time (in debug builds too: feature `debug-embed`).
#[derive(Embed)]
#[folder = "../../dashboard/dist"]
struct Assets;

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
    script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'none'";

/// The routes of the dashboard's page and assets.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*file}", get(asset))
}

async fn index() -> Response {
    file("index.html")
}

async fn asset(Path(file_name): Path<String>) -> Response {
    file(&format!("assets/{file_name}"))
}

/// The content type of a built file, by its extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn file(path: &str) -> Response {
    let Some(found) = Assets::get(path) else {
        return ApiError::not_found(format!("no dashboard file {path}")).into_response();
    };
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(path)),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    (StatusCode::OK, headers, found.data.into_owned()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed build holds the page and the script and style it loads.
    #[test]
    fn the_embedded_build_holds_the_page_and_what_it_loads() {
        let Some(index) = Assets::get("index.html") else {
            panic!("dashboard/dist/index.html is not embedded");
        };
        let page = String::from_utf8_lossy(&index.data).into_owned();
        for reference in ["/assets/app.js", "/assets/app.css"] {
            assert!(
                page.contains(reference),
                "index.html does not load {reference}"
            );
            let path = reference.trim_start_matches('/');
            assert!(Assets::get(path).is_some(), "{path} is not embedded");
        }
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no remote asset"
        );
    }
}
