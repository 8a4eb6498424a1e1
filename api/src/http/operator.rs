//! The operator port of a worker process (`vision worker ...`, on `VISION_ADDR`): `/health` for
//! the dependencies its stage uses, `/ready` once the stage consumes, `/metrics`. The gateway
//! serves the same paths on its own router.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use vision_core::{MessageBus, ObjectStore};
use vision_db::Db;

use crate::health::{HealthReport, HealthStatus, timed};

/// What a worker's probes look at: its bus, and its store or database when its stage has one.
#[derive(Clone)]
pub struct WorkerProbes {
    pub bus: Arc<dyn MessageBus>,
    pub store: Option<Arc<dyn ObjectStore>>,
    pub db: Option<Db>,
    /// Set once the stage's models are loaded and it consumes.
    pub ready: Arc<AtomicBool>,
}

pub fn worker_router(probes: WorkerProbes) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(super::metrics::render_open))
        .with_state(probes)
        .layer(axum::middleware::from_fn(super::metrics::track))
}

async fn health(State(probes): State<WorkerProbes>) -> Response {
    let mut components = vec![timed("bus", probes.bus.kind(), probes.bus.ping()).await];
    if let Some(store) = &probes.store {
        components.push(timed("objectStore", store.kind(), store.ping()).await);
    }
    if let Some(db) = &probes.db {
        components.push(timed("database", db.backend_name(), db.ping()).await);
    }
    let report = HealthReport::new(components, probes.ready.load(Ordering::Acquire));
    let code = match report.status {
        HealthStatus::Up => StatusCode::OK,
        HealthStatus::Down => StatusCode::SERVICE_UNAVAILABLE,
    };
    (code, Json(report)).into_response()
}

async fn ready(State(probes): State<WorkerProbes>) -> Response {
    let ready = probes.ready.load(Ordering::Acquire);
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(serde_json::json!({ "ready": ready }))).into_response()
}
