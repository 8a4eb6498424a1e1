//! The model-runtime seam: one ONNX file in, a [`Session`] that maps one `f32` tensor to one
//! `f32` tensor out. Two backends: tract (pure Rust, the default) and ONNX Runtime (loaded at run
//! time from `libonnxruntime.so`, see [`ort_backend`]).

pub mod ort_backend;
mod tract_backend;

use std::path::Path;
use std::sync::Arc;

pub use tract_backend::TractSession;

/// A dense `f32` tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self, InferenceError> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(InferenceError::Shape(format!(
                "shape {shape:?} needs {expected} values, got {}",
                data.len()
            )));
        }
        Ok(Self { shape, data })
    }

    /// Row `i` of a 2-D tensor.
    pub fn row(&self, i: usize) -> &[f32] {
        let width = self.shape[1];
        &self.data[i * width..(i + 1) * width]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error("cannot load model {path}: {reason}")]
    Load { path: String, reason: String },
    #[error("ONNX Runtime library unavailable: {0}")]
    RuntimeUnavailable(String),
    #[error("inference failed: {0}")]
    Run(String),
    #[error("bad tensor shape: {0}")]
    Shape(String),
}

/// Runs one model. Implementations are shared between threads.
pub trait Session: Send + Sync {
    fn run(&self, input: Tensor) -> Result<Tensor, InferenceError>;
    /// The backend's name, for model cards and metrics.
    fn runtime(&self) -> RuntimeKind;
}

/// The inference backends, as `--runtime` / `VISION_RUNTIME` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RuntimeKind {
    /// tract, pure Rust.
    #[default]
    Tract,
    /// ONNX Runtime, loaded from `ORT_DYLIB_PATH`.
    #[value(alias = "onnxruntime")]
    Ort,
}

impl RuntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Tract => "tract",
            RuntimeKind::Ort => "ort",
        }
    }
}

impl std::fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many calls of one model may run at once, and with how many threads each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Calls at once. ORT keeps one session per call (each holds the weights); tract's plan is
    /// shared by any number of callers.
    pub sessions: usize,
    /// Intra-op threads per call (ORT only: tract runs each call on the calling thread).
    pub threads: usize,
}

impl Parallelism {
    /// One call at a time on `threads` threads.
    pub fn threads(threads: usize) -> Self {
        Self {
            sessions: 1,
            threads,
        }
    }
}

/// Loads `path` with the chosen backend.
pub fn load(
    path: &Path,
    kind: RuntimeKind,
    parallelism: Parallelism,
) -> Result<Arc<dyn Session>, InferenceError> {
    Ok(match kind {
        RuntimeKind::Tract => Arc::new(TractSession::load(path)?),
        RuntimeKind::Ort => Arc::new(ort_backend::OrtSession::load(
            path,
            parallelism.sessions,
            parallelism.threads,
        )?),
    })
}
