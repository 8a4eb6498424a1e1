//! Checks a model before anything of it is stored: it is an ONNX model of one float input and
//! one output, its shapes fit its role (an extractor's image in and descriptors out; a head's
//! descriptors of its extractor in and one probability per class out), the configured runtime
//! loads it, and a warm-up inference gives finite values of the declared shape.

use std::io::Write;

use vision_inference::runtime::{self, Parallelism, RuntimeKind, Tensor};
use vision_inference::{Signature, read_signature};

use crate::RegistryError;

/// What the model must fit.
#[derive(Debug, Clone)]
pub enum Expected {
    /// An extractor: `[N, S, S, 3]` pixels in, `[N, D]` descriptors out.
    Extractor,
    /// A head: `[N, D]` descriptors in, `[N, C]` probabilities out.
    Classifier {
        descriptor_dim: usize,
        classes: usize,
    },
}

/// The checked model's shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub signature: Signature,
    /// Descriptors out (extractor) or in (head).
    pub descriptor_dim: usize,
    /// The image side (extractor only).
    pub input_size: Option<u32>,
}

/// Checks `bytes` against `expected`, then loads them on `runtime` and runs one warm-up
/// inference. Blocking: call it off the async workers.
pub fn check(
    bytes: &[u8],
    expected: &Expected,
    runtime: RuntimeKind,
) -> Result<Checked, RegistryError> {
    let signature =
        read_signature(bytes).map_err(|e| RegistryError::InvalidModel(e.to_string()))?;
    let checked = check_shapes(signature, expected)?;
    warm_up(bytes, &checked, expected, runtime)?;
    Ok(checked)
}

fn fixed(dims: &[Option<i64>], at: usize) -> Option<usize> {
    dims.get(at).copied().flatten().map(|d| d as usize)
}

fn check_shapes(signature: Signature, expected: &Expected) -> Result<Checked, RegistryError> {
    let mismatch = |what: String| RegistryError::ShapeMismatch(what);
    let (input, output) = (&signature.input, &signature.output);
    match expected {
        Expected::Extractor => {
            let side = fixed(input, 1);
            let square_rgb = input.len() == 4
                && side.is_some()
                && fixed(input, 2) == side
                && fixed(input, 3) == Some(3);
            if !square_rgb {
                return Err(mismatch(format!(
                    "an extractor takes [N, S, S, 3] pixels, this one {input:?}"
                )));
            }
            let Some(dim) = fixed(output, 1).filter(|_| output.len() == 2) else {
                return Err(mismatch(format!(
                    "an extractor gives [N, D] descriptors, this one {output:?}"
                )));
            };
            Ok(Checked {
                input_size: side.map(|s| s as u32),
                descriptor_dim: dim,
                signature,
            })
        }
        Expected::Classifier {
            descriptor_dim,
            classes,
        } => {
            if input.len() != 2 || fixed(input, 1) != Some(*descriptor_dim) {
                return Err(mismatch(format!(
                    "the extractor gives {descriptor_dim} descriptors; this head takes {input:?}"
                )));
            }
            if output.len() != 2 || fixed(output, 1) != Some(*classes) {
                return Err(mismatch(format!(
                    "the head must give one probability per class ({classes}); it gives {output:?}"
                )));
            }
            Ok(Checked {
                descriptor_dim: *descriptor_dim,
                input_size: None,
                signature,
            })
        }
    }
}

/// Loads the model on the runtime that will serve it and runs it once on zeros.
fn warm_up(
    bytes: &[u8],
    checked: &Checked,
    expected: &Expected,
    kind: RuntimeKind,
) -> Result<(), RegistryError> {
    let invalid = |reason: String| RegistryError::InvalidModel(reason);
    let mut file = tempfile::NamedTempFile::new().map_err(|e| invalid(e.to_string()))?;
    file.write_all(bytes).map_err(|e| invalid(e.to_string()))?;
    let session = runtime::load(file.path(), kind, Parallelism::threads(1))
        .map_err(|e| invalid(format!("{kind} cannot load it: {e}")))?;
    let (input, want) = match expected {
        Expected::Extractor => {
            let side = checked.input_size.unwrap_or(1) as usize;
            (
                Tensor::new(vec![1, side, side, 3], vec![0.0; side * side * 3]),
                vec![1, checked.descriptor_dim],
            )
        }
        Expected::Classifier { classes, .. } => (
            Tensor::new(
                vec![1, checked.descriptor_dim],
                vec![0.0; checked.descriptor_dim],
            ),
            vec![1, *classes],
        ),
    };
    let input = input.map_err(|e| invalid(e.to_string()))?;
    let output = session
        .run(input)
        .map_err(|e| invalid(format!("the warm-up inference failed: {e}")))?;
    if output.shape != want {
        return Err(RegistryError::ShapeMismatch(format!(
            "the warm-up inference gave {:?}, expected {want:?}",
            output.shape
        )));
    }
    if let Some(bad) = output.data.iter().find(|x| !x.is_finite()) {
        return Err(invalid(format!("the warm-up inference gave {bad}")));
    }
    Ok(())
}
