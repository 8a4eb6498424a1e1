//! `models/manifest.json`: which files make the shipped model bundle, their versions, checksums
//! and provenance. Written by `models/build/train_heads.py`, read here at start-up.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// On disk the models are one list, each with a `role` (`extractor` or `classifier`); in memory
/// the extractor and the heads are apart.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "ManifestFile", into = "ManifestFile")]
pub struct Manifest {
    /// Class names in the index order of the heads' outputs.
    pub classes: Vec<String>,
    pub extractor: ModelEntry,
    /// The heads, in display order. A head name may come with several versions, which then
    /// answer side by side (each (name, version) once).
    pub classifiers: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelEntry {
    pub name: String,
    pub version: String,
    /// File name, relative to the manifest's folder.
    pub file: String,
    pub sha256: String,
    pub descriptor_dim: usize,
    /// Backbone input side in pixels (extractor only).
    #[serde(default)]
    pub input_size: Option<u32>,
    /// Everything else the build recorded (weights package, data, parameters, scores).
    #[serde(flatten)]
    pub details: BTreeMap<String, serde_json::Value>,
}

/// What a model of the bundle does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelRole {
    /// The backbone that turns an image into descriptors.
    Extractor,
    /// A head that turns descriptors into class probabilities.
    Classifier,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ManifestFile {
    #[serde(default = "schema_version")]
    schema: u32,
    classes: Vec<String>,
    models: Vec<RoleEntry>,
}

fn schema_version() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoleEntry {
    role: ModelRole,
    #[serde(flatten)]
    entry: ModelEntry,
}

impl TryFrom<ManifestFile> for Manifest {
    type Error = String;
    fn try_from(file: ManifestFile) -> Result<Self, String> {
        let mut extractor = None;
        let mut classifiers = Vec::new();
        for model in file.models {
            match model.role {
                ModelRole::Extractor if extractor.is_none() => extractor = Some(model.entry),
                ModelRole::Extractor => return Err("more than one extractor".into()),
                ModelRole::Classifier => classifiers.push(model.entry),
            }
        }
        Ok(Manifest {
            classes: file.classes,
            extractor: extractor.ok_or("no extractor in the manifest")?,
            classifiers,
        })
    }
}

impl From<Manifest> for ManifestFile {
    fn from(m: Manifest) -> Self {
        let role = |role, entry| RoleEntry { role, entry };
        ManifestFile {
            schema: 1,
            classes: m.classes,
            models: std::iter::once(role(ModelRole::Extractor, m.extractor))
                .chain(
                    m.classifiers
                        .into_iter()
                        .map(|c| role(ModelRole::Classifier, c)),
                )
                .collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{file}: sha256 is {actual}, the manifest records {expected}")]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("manifest is inconsistent: {0}")]
    Invalid(String),
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| ManifestError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        let invalid = |m: String| Err(ManifestError::Invalid(m));
        if self.classes.is_empty() {
            return invalid("no classes".into());
        }
        let mut seen = std::collections::HashSet::new();
        for class in &self.classes {
            if class.trim().is_empty() || class.trim() != class {
                return invalid(format!("class name {class:?} is empty or padded"));
            }
            if !seen.insert(class.to_lowercase()) {
                return invalid(format!("class {class:?} is listed twice"));
            }
        }
        if self.extractor.input_size.is_none() {
            return invalid("extractor has no input_size".into());
        }
        if self.classifiers.is_empty() {
            return invalid("no classifier".into());
        }
        let mut heads = std::collections::HashSet::new();
        for head in &self.classifiers {
            if head.name.is_empty() || head.version.is_empty() {
                return invalid("a classifier has no name or no version".into());
            }
            if !heads.insert((&head.name, &head.version)) {
                return invalid(format!(
                    "classifier {} version {} is listed twice",
                    head.name, head.version
                ));
            }
            if head.descriptor_dim != self.extractor.descriptor_dim {
                return invalid(format!(
                    "{} expects {} descriptors, the extractor gives {}",
                    head.name, head.descriptor_dim, self.extractor.descriptor_dim
                ));
            }
        }
        Ok(())
    }

    /// The head names, each once, in display order (a name with several versions counts once).
    pub fn head_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for head in &self.classifiers {
            if !names.contains(&head.name) {
                names.push(head.name.clone());
            }
        }
        names
    }

    /// The versions of head `name`, in manifest order.
    pub fn head_versions<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a ModelEntry> {
        self.classifiers.iter().filter(move |c| c.name == name)
    }

    /// Every entry, extractor first.
    pub fn entries(&self) -> impl Iterator<Item = &ModelEntry> {
        std::iter::once(&self.extractor).chain(self.classifiers.iter())
    }
}

/// Hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, ManifestError> {
    let mut file = std::fs::File::open(path).map_err(|e| ManifestError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(|e| ManifestError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Checks that `entry`'s file in `dir` has the recorded checksum.
pub fn verify(dir: &Path, entry: &ModelEntry) -> Result<(), ManifestError> {
    let actual = sha256_file(&dir.join(&entry.file))?;
    if actual != entry.sha256 {
        return Err(ManifestError::Checksum {
            file: entry.file.clone(),
            expected: entry.sha256.clone(),
            actual,
        });
    }
    Ok(())
}
