//! `ModelInfo`: a model of the loaded bundle.

use async_graphql::{Enum, SimpleObject};

use vision_inference::manifest::ModelRole;

use crate::catalog::ModelCard;

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
}

impl From<&ModelCard> for ModelInfo {
    fn from(card: &ModelCard) -> Self {
        Self {
            name: card.name.clone(),
            version: card.version.clone(),
            kind: match card.role {
                ModelRole::Extractor => ModelKind::Extractor,
                ModelRole::Classifier => ModelKind::Classifier,
            },
            descriptor_dim: card.descriptor_dim as i32,
            input_size: card.input_size.map(|s| s as i32),
            runtime: card.runtime.to_string(),
        }
    }
}
