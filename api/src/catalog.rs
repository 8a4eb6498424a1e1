//! The models the gateway shows (`models`, `classes`, health) and the stages serve: read from
//! the bundle's manifest, so a gateway knows the models without loading them.

use std::path::Path;
use std::sync::Arc;

use vision_inference::manifest::{ManifestError, ModelRole};
use vision_inference::{Manifest, ModelEntry, RuntimeKind};

#[derive(Debug, Clone)]
pub struct ModelCard {
    pub name: String,
    pub version: String,
    pub role: ModelRole,
    pub descriptor_dim: usize,
    pub input_size: Option<u32>,
    pub runtime: RuntimeKind,
}

#[derive(Debug, Clone)]
pub struct ModelCatalog {
    pub manifest: Manifest,
    /// Class names in the index order of the heads' outputs.
    pub classes: Arc<[String]>,
    /// Extractor first, then every head version in display order.
    pub cards: Vec<ModelCard>,
    /// The runtime this process serves models on.
    pub runtime: RuntimeKind,
}

impl ModelCatalog {
    pub fn from_manifest(manifest: Manifest, runtime: RuntimeKind) -> Self {
        let card = |entry: &ModelEntry, role| ModelCard {
            name: entry.name.clone(),
            version: entry.version.clone(),
            role,
            descriptor_dim: entry.descriptor_dim,
            input_size: entry.input_size,
            runtime,
        };
        let mut cards = vec![card(&manifest.extractor, ModelRole::Extractor)];
        cards.extend(
            manifest
                .classifiers
                .iter()
                .map(|entry| card(entry, ModelRole::Classifier)),
        );
        Self {
            classes: manifest.classes.clone().into(),
            manifest,
            cards,
            runtime,
        }
    }

    /// Reads `dir/manifest.json`.
    pub fn load(dir: &Path, runtime: RuntimeKind) -> Result<Self, ManifestError> {
        let manifest = Manifest::load(&dir.join("manifest.json"))?;
        Ok(Self::from_manifest(manifest, runtime))
    }
}
