//! Everything between image bytes and class probabilities: input checks, preprocessing, the
//! model-runtime seam (tract or ONNX Runtime), the shipped model bundle and its manifest.
//!
//! The serving stages and the offline tools (feature extraction for training, evaluation) use the
//! same functions here, so that training sees exactly what serving sees.

pub mod dataset;
pub mod image_input;
pub mod manifest;
pub mod models;
pub mod npy;
pub mod offline;
pub mod preprocess;
pub mod resize;
pub mod runtime;
pub mod signature;

pub use image_input::{CheckedImage, ImageKind, ImageLimits, ImageRejection};
pub use manifest::{Manifest, ModelEntry};
pub use models::{
    Classification, ClassifierModel, ExtractorModel, ModelBundle, ServedExtractors, ServedHead,
    ServedLabels,
};
pub use runtime::{InferenceError, Parallelism, RuntimeKind, Session, Tensor};
pub use signature::{Signature, read_signature};
