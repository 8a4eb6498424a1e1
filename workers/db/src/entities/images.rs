//! `images`: one row per uploaded image.

use sea_orm::entity::prelude::*;

use super::Descriptors;

/// Waiting for the feature extractor.
pub const STATUS_PENDING: &str = "pending";
/// Descriptors written, waiting for the classifiers.
pub const STATUS_EXTRACTED: &str = "extracted";
/// All classifiers answered and the comparison is recorded.
pub const STATUS_COMPLETED: &str = "completed";
/// Processing failed, see `failure_reason`.
pub const STATUS_FAILED: &str = "failed";

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "images")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub created_at: DateTimeUtc,
    /// Key of the object in the object store.
    pub object_key: String,
    /// Hex SHA-256 of the content (indexed, not unique).
    pub content_hash: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub width: i32,
    pub height: i32,
    /// Where the image came from: `upload`, `batch`, `webcam`, `cifar10`, ...
    pub source: String,
    /// Ground-truth class name, when known.
    pub label: Option<String>,
    /// One of the `STATUS_*` constants.
    pub status: String,
    pub failure_reason: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub descriptors: Option<Descriptors>,
    pub extractor_version: Option<String>,
    pub extract_ms: Option<f64>,
    pub completed_at: Option<DateTimeUtc>,
    /// When the image's message went on the bus; `None` while it waits in the outbox.
    pub published_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::predictions::Entity")]
    Predictions,
    #[sea_orm(has_one = "super::comparisons::Entity")]
    Comparison,
}

impl Related<super::predictions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Predictions.def()
    }
}

impl Related<super::comparisons::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Comparison.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
