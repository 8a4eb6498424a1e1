//! What request handlers share: the gateway's services, each built from the handles it needs
//! (nothing here is imported back by them), plus the database for plain reads and the model
//! catalog. Cheap to clone.

use std::sync::Arc;

use vision_core::ObjectStore;
use vision_db::Db;
use vision_registry::Registry;

use crate::auth::Authenticator;
use crate::auth::audit::Audit;
use crate::auth::rate::RateLimiter;
use crate::catalog::ModelCatalog;
use crate::events::EventHub;
use crate::health::Health;
use crate::ingest::Ingest;
use crate::jobs::Jobs;
use crate::replay::Replays;
use crate::rollout::Rollout;
use crate::stats::Statistics;

#[derive(Clone)]
pub struct AppState {
    /// Reads of images and predictions (queries, dataloaders).
    pub db: Db,
    /// Stored image files (`/images/{id}/file`).
    pub store: Arc<dyn ObjectStore>,
    /// The models of the bundle: classes, heads and their versions.
    pub models: Arc<ModelCatalog>,
    pub ingest: Ingest,
    pub replays: Replays,
    pub statistics: Statistics,
    pub health: Health,
    /// The model registry: versions, aliases, promotions.
    pub registry: Registry,
    /// Which versions each serving replica serves.
    pub rollout: Rollout,
    /// The pipeline-event feed of the live subscriptions.
    pub events: EventHub,
    /// Callers' credentials to callers (API keys).
    pub auth: Authenticator,
    /// The audit log of callers' actions.
    pub audit: Audit,
    /// Operations per caller and per IP.
    pub limiter: RateLimiter,
    /// Maintenance jobs (retention).
    pub jobs: Jobs,
}
