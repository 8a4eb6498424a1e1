//! `ModelInfo`: a model version the platform serves.

use async_graphql::{Enum, SimpleObject};
use vision_db::entities::model_versions;
use vision_inference::RuntimeKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ModelKind {
    /// The backbone that turns an image into descriptors.
    Extractor,
    /// A head that turns descriptors into class probabilities.
    Classifier,
}

#[derive(Debug, Clone, SimpleObject)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    pub kind: ModelKind,
    /// Length of the descriptor vector the model produces (extractor) or reads (classifier).
    pub descriptor_dim: i32,
    /// Side of the square input image in pixels (extractor only).
    pub input_size: Option<i32>,
    /// Inference runtime (`tract` or `ort`).
    pub runtime: String,
    /// A shadow version: it scores every image beside the production version of its head, its
    /// predictions stored and flagged, never the answer.
    pub shadow: bool,
}

impl ModelInfo {
    pub fn new(version: &model_versions::Model, runtime: RuntimeKind, shadow: bool) -> Self {
        Self {
            name: version.name.clone(),
            version: version.label.clone(),
            kind: match version.role {
                model_versions::ModelRole::Extractor => ModelKind::Extractor,
                model_versions::ModelRole::Classifier => ModelKind::Classifier,
            },
            descriptor_dim: version.descriptor_dim,
            input_size: version.input_size,
            runtime: runtime.to_string(),
            shadow,
        }
    }
}
