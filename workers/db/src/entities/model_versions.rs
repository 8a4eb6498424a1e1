//! `model_versions`: one immutable row per registered version of a model (F20); its ONNX file
//! is in the object store under `artifact_key`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a model does in the pipeline. Stored as text; an unknown stored value is an error.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "lowercase")]
pub enum ModelRole {
    /// Image -> descriptors (`extractor`).
    #[sea_orm(string_value = "extractor")]
    Extractor,
    /// Descriptors -> class probabilities (`classifier`).
    #[sea_orm(string_value = "classifier")]
    Classifier,
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "model_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The model (a head name such as `fast`, or `extractor`).
    pub name: String,
    /// 1, 2, 3... per name, in registration order.
    pub version: i32,
    /// The version string predictions carry (unique per name).
    pub label: String,
    pub role: ModelRole,
    /// Hex SHA-256 of the ONNX file.
    pub sha256: String,
    pub size_bytes: i64,
    /// Key of the ONNX file in the object store (`models/<name>/<version>.onnx`).
    pub artifact_key: String,
    /// Input dimensions; `null` for a symbolic one (the batch).
    #[sea_orm(column_type = "JsonBinary")]
    pub input_shape: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub output_shape: Json,
    /// Descriptor length the model produces (extractor) or reads (classifier).
    pub descriptor_dim: i32,
    /// Side of the square input image in pixels (extractor only).
    pub input_size: Option<i32>,
    /// Class names in output order (classifier only).
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub classes: Option<Json>,
    /// The extractor version (label) whose descriptors a classifier reads.
    pub extractor_label: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub metrics: Option<Json>,
    /// The model card.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub card: Option<Json>,
    /// Where it comes from: training run, data hash, parameters.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub lineage: Option<Json>,
    pub registered_by: String,
    pub registered_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
