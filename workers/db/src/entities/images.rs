//! `images`: one row per uploaded image.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::Descriptors;

/// Where an image is in the pipeline. Stored as text with exactly these values; a stored value
/// that is none of them is an error when read.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "lowercase")]
pub enum ImageStatus {
    /// Waiting for the feature extractor (`pending`).
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Descriptors written, waiting for the classifiers (`extracted`).
    #[sea_orm(string_value = "extracted")]
    Extracted,
    /// All classifiers answered and the comparison is recorded (`completed`).
    #[sea_orm(string_value = "completed")]
    Completed,
    /// Processing failed, see `failure_reason` (`failed`).
    #[sea_orm(string_value = "failed")]
    Failed,
}

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
    pub status: ImageStatus,
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
