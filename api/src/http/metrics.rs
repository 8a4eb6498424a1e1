//! `/metrics` in the Prometheus text format, and the middleware that counts every request.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vision_core::metrics::metrics;

/// A worker's `/metrics`, on its own probe port (internal to the deployment).
pub async fn render_open() -> Response {
    text(metrics().render())
}

fn text(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The gateway's `/metrics`: admins only while keys are in force (the figures describe the
/// whole platform).
pub async fn render(
    axum::extract::State(state): axum::extract::State<super::HttpState>,
    headers: axum::http::HeaderMap,
) -> Response {
    let caller = match state.app.auth.from_headers(&headers).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    if let Err(refused) = caller.require(crate::auth::Role::Admin) {
        return refused.into_response();
    }
    text(metrics().render())
}

/// Counts requests and their latency by route. The route is the matched pattern, never the raw
/// path, so that scanners cannot grow the label set without bound.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let m = metrics();
    m.http_requests
        .with_label_values(&[route.as_str(), response.status().as_str()])
        .inc();
    m.http_duration
        .with_label_values(&[route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}
