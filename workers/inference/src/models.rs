//! The loaded model bundle: one extractor (backbone + PCA) and the heads, each behind a runtime
//! [`Session`]. Loaded once per process and shared by reference.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::DynamicImage;

use crate::manifest::{self, Manifest, ManifestError, ModelEntry};
use crate::preprocess;
use crate::runtime::{self, InferenceError, Parallelism, RuntimeKind, Session, Tensor};

/// How many classes a prediction lists in its top-k.
pub const TOP_K: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error("no classifier named {0:?} in the bundle")]
    UnknownModel(String),
}

/// Image -> descriptor vector.
pub struct ExtractorModel {
    pub version: String,
    pub input_size: u32,
    pub descriptor_dim: usize,
    session: Arc<dyn Session>,
}

impl ExtractorModel {
    pub fn new(entry: &ModelEntry, session: Arc<dyn Session>) -> Self {
        Self::from_session(
            entry.version.clone(),
            entry.input_size.unwrap_or(preprocess::SOURCE_SIZE),
            entry.descriptor_dim,
            session,
        )
    }

    /// An extractor of a loaded `session` (a registry version's, say).
    pub fn from_session(
        version: String,
        input_size: u32,
        descriptor_dim: usize,
        session: Arc<dyn Session>,
    ) -> Self {
        Self {
            version,
            input_size,
            descriptor_dim,
            session,
        }
    }

    /// Descriptors of a batch of images, one row per image.
    pub fn extract(&self, images: &[&DynamicImage]) -> Result<Vec<Vec<f32>>, InferenceError> {
        let size = self.input_size;
        let mut pixels = Vec::with_capacity(images.len() * (size * size * 3) as usize);
        for image in images {
            pixels.extend(preprocess::to_pixels(image, size, false));
        }
        let output = self.run_pixels(images.len(), pixels)?;
        Ok((0..images.len()).map(|i| output.row(i).to_vec()).collect())
    }

    /// Runs the graph on `n` preprocessed images laid out NHWC.
    pub fn run_pixels(&self, n: usize, pixels: Vec<f32>) -> Result<Tensor, InferenceError> {
        let size = self.input_size as usize;
        let output = self
            .session
            .run(Tensor::new(vec![n, size, size, 3], pixels)?)?;
        if output.shape.len() != 2 || output.shape[0] != n {
            return Err(InferenceError::Shape(format!(
                "extractor returned {:?} for {n} images",
                output.shape
            )));
        }
        Ok(output)
    }

    pub fn runtime(&self) -> RuntimeKind {
        self.session.runtime()
    }
}

/// One head's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub class_index: usize,
    pub class: String,
    pub confidence: f32,
    /// The best classes with their probabilities, best first.
    pub top_k: Vec<(String, f32)>,
    pub probabilities: Vec<f32>,
}

/// Descriptors -> class probabilities.
pub struct ClassifierModel {
    pub name: String,
    pub version: String,
    pub classes: Vec<String>,
    /// The extractor version (its label) whose descriptors it reads; the production
    /// extractor's when `None`.
    pub extractor: Option<String>,
    session: Arc<dyn Session>,
}

impl ClassifierModel {
    pub fn new(entry: &ModelEntry, classes: Vec<String>, session: Arc<dyn Session>) -> Self {
        Self::from_session(entry.name.clone(), entry.version.clone(), classes, session)
    }

    /// Head `name` at `version` over `classes`, of a loaded `session` (a registry version's).
    pub fn from_session(
        name: String,
        version: String,
        classes: Vec<String>,
        session: Arc<dyn Session>,
    ) -> Self {
        Self {
            name,
            version,
            classes,
            extractor: None,
            session,
        }
    }

    /// The same head, reading the descriptors of extractor version `label`.
    pub fn bound_to(mut self, label: Option<String>) -> Self {
        self.extractor = label;
        self
    }

    /// Classifies each row of `descriptors` (`n` rows of equal width).
    pub fn classify_batch(
        &self,
        n: usize,
        descriptors: Vec<f32>,
    ) -> Result<Vec<Classification>, InferenceError> {
        if n == 0 || !descriptors.len().is_multiple_of(n) {
            return Err(InferenceError::Shape(format!(
                "{} values cannot be {n} rows",
                descriptors.len()
            )));
        }
        let width = descriptors.len() / n;
        let output = self
            .session
            .run(Tensor::new(vec![n, width], descriptors)?)?;
        if output.shape != [n, self.classes.len()] {
            return Err(InferenceError::Shape(format!(
                "{} returned {:?}, expected [{n}, {}]",
                self.name,
                output.shape,
                self.classes.len()
            )));
        }
        Ok((0..n).map(|i| self.describe(output.row(i))).collect())
    }

    pub fn classify(&self, descriptors: &[f32]) -> Result<Classification, InferenceError> {
        Ok(self
            .classify_batch(1, descriptors.to_vec())?
            .pop()
            .expect("one row in, one out"))
    }

    fn describe(&self, probabilities: &[f32]) -> Classification {
        let mut order: Vec<usize> = (0..probabilities.len()).collect();
        order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
        let best = order[0];
        Classification {
            class_index: best,
            class: self.classes[best].clone(),
            confidence: probabilities[best],
            top_k: order
                .iter()
                .take(TOP_K)
                .map(|&i| (self.classes[i].clone(), probabilities[i]))
                .collect(),
            probabilities: probabilities.to_vec(),
        }
    }

    pub fn runtime(&self) -> RuntimeKind {
        self.session.runtime()
    }
}

/// The whole shipped bundle.
pub struct ModelBundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub extractor: Arc<ExtractorModel>,
    pub classifiers: Vec<Arc<ClassifierModel>>,
}

impl ModelBundle {
    /// Loads `dir/manifest.json` and every model in it, checking each file's sha256 first.
    /// `extractor` says how many backbone passes may run at once and on how many threads.
    pub fn load(
        dir: &Path,
        runtime: RuntimeKind,
        extractor: Parallelism,
    ) -> Result<Self, BundleError> {
        let manifest = Manifest::load(&dir.join("manifest.json"))?;
        for entry in manifest.entries() {
            manifest::verify(dir, entry)?;
        }
        let extractor = load_extractor(dir, &manifest, runtime, extractor)?;
        let classifiers = manifest
            .classifiers
            .iter()
            .map(|entry| load_classifier(dir, &manifest, entry, runtime))
            .collect::<Result<Vec<_>, BundleError>>()?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            extractor,
            classifiers,
        })
    }

    /// Only the extractor of the bundle in `dir` (checked), for a process that runs nothing else.
    pub fn load_extractor(
        dir: &Path,
        runtime: RuntimeKind,
        parallelism: Parallelism,
    ) -> Result<Arc<ExtractorModel>, BundleError> {
        let manifest = Manifest::load(&dir.join("manifest.json"))?;
        manifest::verify(dir, &manifest.extractor)?;
        load_extractor(dir, &manifest, runtime, parallelism)
    }

    /// Only the versions of head `name` of the bundle in `dir` (checked), for a process that
    /// runs nothing else.
    pub fn load_head(
        dir: &Path,
        runtime: RuntimeKind,
        name: &str,
    ) -> Result<Vec<Arc<ClassifierModel>>, BundleError> {
        let manifest = Manifest::load(&dir.join("manifest.json"))?;
        let entries: Vec<&ModelEntry> = manifest.head_versions(name).collect();
        if entries.is_empty() {
            return Err(BundleError::UnknownModel(format!(
                "{name} (known heads: {})",
                manifest.head_names().join(", ")
            )));
        }
        entries
            .into_iter()
            .map(|entry| {
                manifest::verify(dir, entry)?;
                load_classifier(dir, &manifest, entry, runtime)
            })
            .collect()
    }

    /// The heads, each with its versions, in display order.
    pub fn heads(&self) -> Vec<(String, Vec<Arc<ClassifierModel>>)> {
        self.manifest
            .head_names()
            .into_iter()
            .map(|name| {
                let versions = self
                    .classifiers
                    .iter()
                    .filter(|c| c.name == name)
                    .cloned()
                    .collect();
                (name, versions)
            })
            .collect()
    }
}

fn load_extractor(
    dir: &Path,
    manifest: &Manifest,
    runtime: RuntimeKind,
    parallelism: Parallelism,
) -> Result<Arc<ExtractorModel>, BundleError> {
    let session = runtime::load(&dir.join(&manifest.extractor.file), runtime, parallelism)?;
    Ok(Arc::new(ExtractorModel::new(&manifest.extractor, session)))
}

fn load_classifier(
    dir: &Path,
    manifest: &Manifest,
    entry: &ModelEntry,
    runtime: RuntimeKind,
) -> Result<Arc<ClassifierModel>, BundleError> {
    // Heads are tiny: one thread each, whatever the backend.
    let session = runtime::load(&dir.join(&entry.file), runtime, Parallelism::threads(1))?;
    Ok(Arc::new(ClassifierModel::new(
        entry,
        manifest.classes.clone(),
        session,
    )))
}

/// The extractor versions an extractor stage runs on every image: production, whose
/// descriptors every head bound to it reads (and the database stores), and the others that a
/// served head version is bound to (a shadow or candidate of another descriptor size). All
/// take the same input size, so one decoded image feeds them all. Swapped whole when the
/// registry changes.
#[derive(Clone)]
pub struct ServedExtractors {
    pub production: Arc<ExtractorModel>,
    pub others: Vec<Arc<ExtractorModel>>,
}

impl ServedExtractors {
    /// Production alone.
    pub fn production(model: Arc<ExtractorModel>) -> Self {
        Self {
            production: model,
            others: Vec::new(),
        }
    }

    /// Every version served, production first.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ExtractorModel>> {
        std::iter::once(&self.production).chain(&self.others)
    }

    /// The labels served: production's, then the others' in order.
    pub fn labels(&self) -> Vec<String> {
        self.all().map(|m| m.version.clone()).collect()
    }
}

/// A head as a classifier stage serves it: its production version, whose prediction is the
/// answer; optionally a shadow version that scores the same images beside it (stored, flagged,
/// never the answer); optionally an A/B candidate that answers a share of the images (the
/// others' version then scores them as a shadow, so both are compared on every image). Swapped
/// whole when the registry changes.
#[derive(Clone)]
pub struct ServedHead {
    pub production: Arc<ClassifierModel>,
    pub shadow: Option<Arc<ClassifierModel>>,
    /// The candidate and the share of images it answers, in `(0, 1]`.
    pub candidate: Option<(Arc<ClassifierModel>, f64)>,
}

/// What a [`ServedHead`] serves, by version label (the candidate's share in millionths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedLabels {
    pub production: String,
    pub shadow: Option<String>,
    pub candidate: Option<(String, u32)>,
}

impl ServedHead {
    /// Production alone.
    pub fn production(model: Arc<ClassifierModel>) -> Self {
        Self {
            production: model,
            shadow: None,
            candidate: None,
        }
    }

    pub fn labels(&self) -> ServedLabels {
        ServedLabels {
            production: self.production.version.clone(),
            shadow: self.shadow.as_ref().map(|s| s.version.clone()),
            candidate: self
                .candidate
                .as_ref()
                .map(|(c, share)| (c.version.clone(), (share * 1e6).round() as u32)),
        }
    }
}
