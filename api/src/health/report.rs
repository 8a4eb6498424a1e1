//! One check per dependency, run concurrently, each bounded by a timeout so that a hung
//! dependency makes the report say "down" instead of hanging the probe.

use std::future::Future;
use std::time::{Duration, Instant};

use async_graphql::{Enum, SimpleObject};
use serde::Serialize;

use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthStatus {
    Up,
    Down,
}

#[derive(Debug, Clone, Serialize, SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct ComponentHealth {
    /// `database`, `bus`, `objectStore` or `models`.
    pub name: String,
    /// Which implementation (`sqlite`, `postgres`, `memory`, `kafka`, `local`, `tract`...).
    pub kind: String,
    pub status: HealthStatus,
    /// Why it is down, or a short description when up.
    pub detail: Option<String>,
    pub latency_ms: f64,
}

#[derive(Debug, Clone, Serialize, SimpleObject)]
#[graphql(name = "Health")]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// `UP` only when every component is up.
    pub status: HealthStatus,
    pub ready: bool,
    pub components: Vec<ComponentHealth>,
}

/// Checks every dependency of this process.
pub async fn check(state: &AppState) -> HealthReport {
    let (database, bus, store) = tokio::join!(
        timed("database", state.db.backend_name(), state.db.ping()),
        timed("bus", state.bus.kind(), state.bus.ping()),
        timed("objectStore", state.store.kind(), state.store.ping()),
    );
    let models = models(state);
    HealthReport::new(
        vec![database, bus, store, models],
        state.readiness.is_ready(),
    )
}

impl HealthReport {
    /// `UP` when every component is.
    pub fn new(components: Vec<ComponentHealth>, ready: bool) -> Self {
        let status = if components.iter().all(|c| c.status == HealthStatus::Up) {
            HealthStatus::Up
        } else {
            HealthStatus::Down
        };
        Self {
            status,
            ready,
            components,
        }
    }
}

/// One dependency checked within the timeout.
pub(crate) async fn timed<E: std::fmt::Display>(
    name: &str,
    kind: &str,
    check: impl Future<Output = Result<(), E>>,
) -> ComponentHealth {
    let started = Instant::now();
    let (status, detail) = match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => (HealthStatus::Up, None),
        Ok(Err(e)) => (HealthStatus::Down, Some(e.to_string())),
        Err(_) => (
            HealthStatus::Down,
            Some(format!("no answer within {CHECK_TIMEOUT:?}")),
        ),
    };
    ComponentHealth {
        name: name.to_string(),
        kind: kind.to_string(),
        status,
        detail,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

fn models(state: &AppState) -> ComponentHealth {
    let cards = &state.models.cards;
    let loaded = state.readiness.models_loaded();
    let runtime = cards
        .first()
        .map_or("none", |c| c.runtime.as_str())
        .to_string();
    let (status, detail) = if cards.is_empty() {
        (HealthStatus::Down, "no model in the manifest".to_string())
    } else if loaded {
        let names: Vec<&str> = cards.iter().map(|c| c.name.as_str()).collect();
        (HealthStatus::Up, format!("loaded: {}", names.join(", ")))
    } else {
        (HealthStatus::Down, "loading".to_string())
    };
    ComponentHealth {
        name: "models".to_string(),
        kind: runtime,
        status,
        detail: Some(detail),
        latency_ms: 0.0,
    }
}
