//! The model cards the gateway shows (`models` query, health): read from the bundle's manifest,
//! so a gateway knows the models without loading them.

use std::path::Path;

use vision_inference::manifest::ManifestError;
use vision_inference::{Manifest, ModelEntry, RuntimeKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Extractor,
    Classifier,
}

#[derive(Debug, Clone)]
pub struct ModelCard {
    pub name: String,
    pub version: String,
    pub kind: ModelKind,
    pub descriptor_dim: usize,
    pub input_size: Option<u32>,
    pub runtime: RuntimeKind,
}

#[derive(Debug, Clone, Default)]
pub struct ModelCatalog {
    /// Class names in the index order of the heads' outputs.
    pub classes: Vec<String>,
    /// Extractor first, then the heads in display order.
    pub cards: Vec<ModelCard>,
}

impl ModelCatalog {
    pub fn from_manifest(manifest: &Manifest, runtime: RuntimeKind) -> Self {
        let card = |entry: &ModelEntry, kind| ModelCard {
            name: entry.name.clone(),
            version: entry.version.clone(),
            kind,
            descriptor_dim: entry.descriptor_dim,
            input_size: entry.input_size,
            runtime,
        };
        let mut cards = vec![card(&manifest.extractor, ModelKind::Extractor)];
        cards.extend(
            manifest
                .classifiers
                .iter()
                .map(|entry| card(entry, ModelKind::Classifier)),
        );
        Self {
            classes: manifest.classes.clone(),
            cards,
        }
    }

    /// Reads `dir/manifest.json`.
    pub fn load(dir: &Path, runtime: RuntimeKind) -> Result<Self, ManifestError> {
        let manifest = Manifest::load(&dir.join("manifest.json"))?;
        Ok(Self::from_manifest(&manifest, runtime))
    }

    /// Names of the classifier heads, whose predictions make an image complete.
    pub fn classifier_names(&self) -> Vec<String> {
        self.cards
            .iter()
            .filter(|c| c.kind == ModelKind::Classifier)
            .map(|c| c.name.clone())
            .collect()
    }
}
