//! The model registry's types (F20): versions, aliases, their history, and what a move changed.

use async_graphql::{Json, SimpleObject};
use chrono::{DateTime, Utc};
use vision_db::AliasChange;
use vision_db::entities::model_alias_history::MoveKind;
use vision_db::entities::model_versions::ModelRole;
use vision_db::entities::{
    model_alias_history, model_aliases, model_traffic_splits, model_versions,
};

use super::ModelKind;

/// One registered version of a model: immutable.
#[derive(Debug, Clone, SimpleObject)]
pub struct ModelVersion {
    /// The model (a head name, or the extractor's).
    pub name: String,
    /// 1, 2, 3... in registration order.
    pub version: i32,
    /// The version string its predictions carry (`Prediction.modelVersion`).
    pub label: String,
    pub kind: ModelKind,
    /// Hex SHA-256 of its ONNX file.
    pub sha256: String,
    pub size_bytes: i64,
    /// Key of its ONNX file in the object store.
    pub artifact_key: String,
    /// Input dimensions; null for a symbolic one (the batch).
    pub input_shape: Vec<Option<i64>>,
    pub output_shape: Vec<Option<i64>>,
    /// Descriptors it produces (extractor) or reads (classifier).
    pub descriptor_dim: i32,
    /// Image side in pixels (extractor only).
    pub input_size: Option<i32>,
    /// Class names in output order (classifier only).
    pub classes: Option<Vec<String>>,
    /// The extractor version (its label) whose descriptors a classifier reads.
    pub extractor_label: Option<String>,
    pub metrics: Option<Json<serde_json::Value>>,
    /// The model card.
    pub card: Option<Json<serde_json::Value>>,
    /// Where it comes from: training run, data, parameters.
    pub lineage: Option<Json<serde_json::Value>>,
    pub registered_by: String,
    pub registered_at: DateTime<Utc>,
    /// The aliases that point at it now (`production`, `staging`, ...).
    pub aliases: Vec<String>,
}

impl ModelVersion {
    pub fn new(row: model_versions::Model, aliases: &[model_aliases::Model]) -> Self {
        let dims = |value: serde_json::Value| serde_json::from_value(value).unwrap_or_default();
        Self {
            aliases: aliases
                .iter()
                .filter(|a| a.name == row.name && a.version == row.version)
                .map(|a| a.alias.clone())
                .collect(),
            kind: match row.role {
                ModelRole::Extractor => ModelKind::Extractor,
                ModelRole::Classifier => ModelKind::Classifier,
            },
            input_shape: dims(row.input_shape),
            output_shape: dims(row.output_shape),
            classes: row.classes.and_then(|c| serde_json::from_value(c).ok()),
            metrics: row.metrics.map(Json),
            card: row.card.map(Json),
            lineage: row.lineage.map(Json),
            name: row.name,
            version: row.version,
            label: row.label,
            sha256: row.sha256,
            size_bytes: row.size_bytes,
            artifact_key: row.artifact_key,
            descriptor_dim: row.descriptor_dim,
            input_size: row.input_size,
            extractor_label: row.extractor_label,
            registered_by: row.registered_by,
            registered_at: row.registered_at,
        }
    }
}

/// An alias and the version it points at.
#[derive(Debug, Clone, SimpleObject)]
pub struct ModelAlias {
    pub name: String,
    pub alias: String,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl From<model_aliases::Model> for ModelAlias {
    fn from(row: model_aliases::Model) -> Self {
        Self {
            name: row.name,
            alias: row.alias,
            version: row.version,
            updated_at: row.updated_at,
            updated_by: row.updated_by,
        }
    }
}

/// What a move was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum AliasMoveKind {
    /// An alias set: a promotion, an archive, a shadow...
    Set,
    /// `production` put back where it was before its last forward move.
    Rollback,
    /// An A/B test started, changed (`version`: the candidate) or stopped (`version` null);
    /// `alias` is `ab` and `reason` holds the share.
    Ab,
}

/// One move of an alias (append-only history).
#[derive(Debug, Clone, SimpleObject)]
pub struct AliasMove {
    pub name: String,
    pub alias: String,
    pub kind: AliasMoveKind,
    /// Where it points after the move; null when it was removed.
    pub version: Option<i32>,
    /// Where it pointed before; null when it pointed nowhere.
    pub previous_version: Option<i32>,
    pub changed_at: DateTime<Utc>,
    pub changed_by: String,
    pub reason: Option<String>,
}

impl From<model_alias_history::Model> for AliasMove {
    fn from(row: model_alias_history::Model) -> Self {
        Self {
            name: row.name,
            alias: row.alias,
            version: row.version,
            previous_version: row.previous_version,
            changed_at: row.changed_at,
            changed_by: row.changed_by,
            reason: row.reason,
            kind: match row.kind {
                MoveKind::Set => AliasMoveKind::Set,
                MoveKind::Rollback => AliasMoveKind::Rollback,
                MoveKind::Ab => AliasMoveKind::Ab,
            },
        }
    }
}

/// What a promotion, rollback, archive or alias change did.
#[derive(Debug, Clone, SimpleObject)]
pub struct AliasUpdate {
    pub name: String,
    pub alias: String,
    pub previous_version: Option<i32>,
    pub version: Option<i32>,
    /// False when the alias already pointed there (nothing was recorded).
    pub changed: bool,
}

impl From<AliasChange> for AliasUpdate {
    fn from(change: AliasChange) -> Self {
        Self {
            changed: change.changed(),
            name: change.name,
            alias: change.alias,
            previous_version: change.previous,
            version: change.current,
        }
    }
}

/// A registered model: its versions, aliases and their history.
#[derive(Debug, Clone, SimpleObject)]
pub struct RegisteredModel {
    pub name: String,
    pub kind: ModelKind,
    /// Oldest first.
    pub versions: Vec<ModelVersion>,
    pub aliases: Vec<ModelAlias>,
    /// The version `production` points at.
    pub production: Option<ModelVersion>,
    /// Every move of its aliases and of its A/B test, newest first.
    pub history: Vec<AliasMove>,
    /// The A/B test running on it, if any.
    pub ab_test: Option<AbTest>,
}

/// A head's running A/B test.
#[derive(Debug, Clone, SimpleObject)]
pub struct AbTest {
    /// The candidate version.
    pub version: i32,
    /// The share of images it answers.
    pub share: f64,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl From<model_traffic_splits::Model> for AbTest {
    fn from(row: model_traffic_splits::Model) -> Self {
        Self {
            version: row.version,
            share: row.share,
            updated_at: row.updated_at,
            updated_by: row.updated_by,
        }
    }
}
