//! `/health` (every dependency, 503 when one is down) and `/ready` (200 once this process can
//! serve: database migrated, models loaded, interrupted work recovered).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::HttpState;
use crate::health::HealthStatus;

pub async fn health(State(state): State<HttpState>) -> Response {
    let report = state.app.health.check().await;
    let code = match report.status {
        HealthStatus::Up => StatusCode::OK,
        HealthStatus::Down => StatusCode::SERVICE_UNAVAILABLE,
    };
    (code, Json(report)).into_response()
}

pub async fn ready(State(state): State<HttpState>) -> Response {
    let ready = state.app.health.readiness().is_ready();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(serde_json::json!({ "ready": ready }))).into_response()
}
