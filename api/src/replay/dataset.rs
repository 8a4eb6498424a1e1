//! Where the CIFAR-10 splits are, and a cache so that a split is read once per process.
//!
//! A folder (`VISION_CIFAR10_DIR`) may hold, per split, `train.tar.gz` / `test.tar.gz` (JPEG files
//! in one folder per class), `train/` / `test/` folders of class folders, or the official
//! `cifar-10-binary.tar.gz` (both splits).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vision_inference::dataset::{self, Sample};

use crate::errors::{ApiError, ApiResult, ErrorCode};

/// The official binary archive's name.
pub const OFFICIAL_ARCHIVE: &str = "cifar-10-binary.tar.gz";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
#[graphql(name = "CifarSplit")]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }

    /// Images in the official split.
    pub fn size(self) -> usize {
        match self {
            Split::Train => 50_000,
            Split::Test => 10_000,
        }
    }

    fn of_dataset(self) -> dataset::Split {
        match self {
            Split::Train => dataset::Split::Train,
            Split::Test => dataset::Split::Test,
        }
    }
}

/// The configured folder and the splits read so far. Cheap to clone.
#[derive(Clone)]
pub struct CifarDatasets {
    dir: Option<PathBuf>,
    loaded: Arc<tokio::sync::Mutex<HashMap<Split, Arc<Vec<Sample>>>>>,
}

impl CifarDatasets {
    /// `dir` is where to look; `None` means no dataset (replays are refused with the reason).
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            loaded: Arc::default(),
        }
    }

    /// The file or folder that holds `split`.
    pub fn locate(&self, split: Split) -> ApiResult<PathBuf> {
        let Some(dir) = &self.dir else {
            return Err(unavailable(
                "no CIFAR-10 folder is configured: set VISION_CIFAR10_DIR".to_string(),
            ));
        };
        candidates(dir, split)
            .into_iter()
            .find(|path| path.exists())
            .ok_or_else(|| {
                unavailable(format!(
                    "no CIFAR-10 {} split in {}: expected {name}.tar.gz, a {name}/ folder of class \
                     folders, or {OFFICIAL_ARCHIVE}",
                    split.name(),
                    dir.display(),
                    name = split.name(),
                ))
            })
    }

    /// Every sample of `split`, sorted by (class, name); read on first use.
    pub async fn load(&self, split: Split) -> ApiResult<Arc<Vec<Sample>>> {
        let mut loaded = self.loaded.lock().await;
        if let Some(samples) = loaded.get(&split) {
            return Ok(samples.clone());
        }
        let path = self.locate(split)?;
        let samples =
            tokio::task::spawn_blocking(move || dataset::read_samples(&path, split.of_dataset()))
                .await?
                .map_err(|e| unavailable(e.to_string()))?;
        tracing::info!(
            split = split.name(),
            images = samples.len(),
            "CIFAR-10 split loaded"
        );
        let samples = Arc::new(samples);
        loaded.insert(split, samples.clone());
        Ok(samples)
    }
}

fn candidates(dir: &Path, split: Split) -> Vec<PathBuf> {
    vec![
        dir.join(format!("{}.tar.gz", split.name())),
        dir.join(split.name()),
        dir.join(OFFICIAL_ARCHIVE),
    ]
}

fn unavailable(message: String) -> ApiError {
    ApiError::new(ErrorCode::DatasetUnavailable, message)
}
