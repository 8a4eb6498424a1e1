//! tract: pure Rust, no system library. The batch axis stays symbolic, so one optimised plan
//! serves any batch size.

use std::path::Path;

use tract_onnx::prelude::*;

use super::{InferenceError, RuntimeKind, Session, Tensor};

type Plan = TypedRunnableModel<TypedModel>;

pub struct TractSession {
    plan: Plan,
}

impl TractSession {
    pub fn load(path: &Path) -> Result<Self, InferenceError> {
        let load_error = |e: TractError| InferenceError::Load {
            path: path.display().to_string(),
            reason: format!("{e:#}"),
        };
        let plan = tract_onnx::onnx()
            .model_for_path(path)
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(load_error)?;
        Ok(Self { plan })
    }
}

impl Session for TractSession {
    fn run(&self, input: Tensor) -> Result<Tensor, InferenceError> {
        let array = tract_ndarray::ArrayD::from_shape_vec(input.shape, input.data)
            .map_err(|e| InferenceError::Shape(e.to_string()))?;
        let outputs = self
            .plan
            .run(tvec!(array.into_tensor().into()))
            .map_err(|e| InferenceError::Run(format!("{e:#}")))?;
        let output = outputs[0]
            .to_array_view::<f32>()
            .map_err(|e| InferenceError::Run(format!("{e:#}")))?;
        Tensor::new(output.shape().to_vec(), output.iter().copied().collect())
    }

    fn runtime(&self) -> RuntimeKind {
        RuntimeKind::Tract
    }
}
