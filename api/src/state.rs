//! What every request handler shares: storage, bus, limits, model cards, readiness and the
//! pipeline-event feed. Cheap to clone (handles only).

use std::sync::Arc;

use vision_core::{MessageBus, ObjectStore};
use vision_db::Db;
use vision_inference::ImageLimits;

use crate::catalog::ModelCatalog;
use crate::events::EventHub;
use crate::health::Readiness;
use crate::ingest::PublishedMarks;
use crate::replay::Replays;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub bus: Arc<dyn MessageBus>,
    pub store: Arc<dyn ObjectStore>,
    pub limits: UploadLimits,
    pub models: Arc<ModelCatalog>,
    pub readiness: Arc<Readiness>,
    pub events: EventHub,
    pub replays: Replays,
    /// Marks uploads published (batched; see `ingest::PublishedMarks`).
    pub published: PublishedMarks,
}

#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub image: ImageLimits,
    /// Most files in one `uploadImages`.
    pub max_batch: usize,
    /// Files of one batch checked (decoded) at once.
    pub check_parallelism: usize,
    /// How long an upload waits for the bus to take its messages before leaving them to the
    /// outbox relay (the upload is accepted either way).
    pub publish_wait: std::time::Duration,
}
