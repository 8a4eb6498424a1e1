//! The web dashboard (`frontend/`, built by `npm run build`) at `/`. Its pages route by URL
//! fragment, so any path that is not a file gets `index.html`. Without a built dashboard, `/`
//! says how to build one instead of a bare 404.

use std::path::Path;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use tower_http::services::{ServeDir, ServeFile};

/// Routes `/` and every path no other route takes.
pub fn routes<S: Clone + Send + Sync + 'static>(dir: Option<&Path>) -> Router<S> {
    match dir {
        Some(dir) => Router::new().fallback_service(
            ServeDir::new(dir).not_found_service(ServeFile::new(dir.join("index.html"))),
        ),
        None => Router::new().route("/", get(not_built)).fallback(not_found),
    }
}

async fn not_built() -> Html<&'static str> {
    Html(
        "<!doctype html><title>vision</title><h1>vision</h1>\
         <p>The dashboard is not built: run <code>npm ci &amp;&amp; npm run build</code> in \
         <code>frontend/</code> (or start with <code>scripts/serve.sh</code>), or set \
         <code>VISION_FRONTEND_DIR</code>.</p>\
         <p>GraphQL (GraphiQL in a browser): <a href=\"/graphql\">/graphql</a>.</p>",
    )
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}
