//! One check per dependency, run concurrently, each bounded by a timeout so that a hung
//! dependency makes the report say "down" instead of hanging the probe.

use std::future::Future;
use std::time::{Duration, Instant};

use std::sync::Arc;

use async_graphql::{Enum, SimpleObject};
use serde::Serialize;
use vision_core::{MessageBus, ObjectStore};
use vision_db::Db;

use super::Readiness;
use crate::catalog::ModelCatalog;

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

/// The gateway's health service: its dependencies and its readiness. Cheap to clone.
#[derive(Clone)]
pub struct Health {
    db: Db,
    bus: Arc<dyn MessageBus>,
    store: Arc<dyn ObjectStore>,
    models: Arc<ModelCatalog>,
    readiness: Arc<Readiness>,
}

impl Health {
    pub fn new(
        db: Db,
        bus: Arc<dyn MessageBus>,
        store: Arc<dyn ObjectStore>,
        models: Arc<ModelCatalog>,
    ) -> Self {
        Self {
            db,
            bus,
            store,
            models,
            readiness: Arc::default(),
        }
    }

    /// What start-up has done so far (the process marks its steps).
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Checks every dependency of this process.
    pub async fn check(&self) -> HealthReport {
        let (database, bus, store) = tokio::join!(
            timed("database", self.db.backend_name(), self.db.ping()),
            timed("bus", self.bus.kind(), self.bus.ping()),
            timed("objectStore", self.store.kind(), self.store.ping()),
        );
        let models = self.models_component();
        HealthReport::new(
            vec![database, bus, store, models],
            self.readiness.is_ready(),
        )
    }

    fn models_component(&self) -> ComponentHealth {
        let cards = &self.models.cards;
        let loaded = self.readiness.models_loaded();
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
