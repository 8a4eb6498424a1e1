//! What an ONNX file declares it takes and gives: its one input's and one output's dimensions,
//! read from the file without building a plan, to check a model before it is registered.

use tract_onnx::pb::tensor_shape_proto::dimension::Value;
use tract_onnx::prelude::Framework;

use crate::runtime::InferenceError;

/// The declared input and output of a model with one of each. A dimension is `None` when it
/// is symbolic (the batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub input_name: String,
    pub input: Vec<Option<i64>>,
    pub output_name: String,
    pub output: Vec<Option<i64>>,
}

/// Reads the signature of the ONNX model in `bytes`. A file that is not an ONNX model, or a
/// model with other than one float input and one output, is an error saying why.
pub fn read_signature(bytes: &[u8]) -> Result<Signature, InferenceError> {
    let invalid = |reason: String| InferenceError::Load {
        path: "<uploaded model>".into(),
        reason,
    };
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(|e| invalid(format!("not an ONNX model: {e:#}")))?;
    let graph = proto
        .graph
        .ok_or_else(|| invalid("the model has no graph".into()))?;
    // Initializers may be listed as inputs too (older exporters): they are not fed.
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<_> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(&i.name.as_str()))
        .collect();
    let [input] = inputs.as_slice() else {
        return Err(invalid(format!("{} inputs, expected 1", inputs.len())));
    };
    let [output] = graph.output.as_slice() else {
        return Err(invalid(format!(
            "{} outputs, expected 1",
            graph.output.len()
        )));
    };
    Ok(Signature {
        input_name: input.name.clone(),
        input: dims(input).map_err(|e| invalid(format!("input {}: {e}", input.name)))?,
        output_name: output.name.clone(),
        output: dims(output).map_err(|e| invalid(format!("output {}: {e}", output.name)))?,
    })
}

fn dims(value: &tract_onnx::pb::ValueInfoProto) -> Result<Vec<Option<i64>>, String> {
    use tract_onnx::pb::type_proto::Value as Type;
    let Some(Type::TensorType(tensor)) = value.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err("not a tensor".into());
    };
    // 1 is FLOAT in ONNX's TensorProto.DataType.
    if tensor.elem_type != 1 {
        return Err(format!("element type {} is not float32", tensor.elem_type));
    }
    let shape = tensor.shape.as_ref().ok_or("no declared shape")?;
    Ok(shape
        .dim
        .iter()
        .map(|d| match d.value {
            Some(Value::DimValue(n)) if n > 0 => Some(n),
            _ => None,
        })
        .collect())
}
