//! `models/manifest.json`: which files make the shipped model bundle, their versions, checksums
//! and provenance. Written by `models/build/train_heads.py`, read here at start-up.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Class names in the index order of the heads' outputs.
    pub classes: Vec<String>,
    pub extractor: ModelEntry,
    /// The heads, in display order (fast, balanced, accurate).
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
        if self.classes.is_empty() {
            return Err(ManifestError::Invalid("no classes".into()));
        }
        if self.extractor.input_size.is_none() {
            return Err(ManifestError::Invalid("extractor has no input_size".into()));
        }
        for head in &self.classifiers {
            if head.descriptor_dim != self.extractor.descriptor_dim {
                return Err(ManifestError::Invalid(format!(
                    "{} expects {} descriptors, the extractor gives {}",
                    head.name, head.descriptor_dim, self.extractor.descriptor_dim
                )));
            }
        }
        Ok(())
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
