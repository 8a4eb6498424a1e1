//! Tiny ONNX bundles for tests, written from Rust (no Python, no shipped weights needed).
//!
//! The extractor averages the image's R, G and B over all pixels (descriptors = mean colour in
//! 0..1); each head scores classes linearly from that colour. So a red image is an `airplane`
//! for every head, a green one an `automobile` for `fast` and `accurate` but a `cat` for
//! `balanced`, a blue one a `bird`: tests know the answers and see the heads disagree.

use std::path::Path;

use prost::Message;
use tract_onnx::pb;

use crate::manifest::{self, Manifest, ModelEntry};

const FLOAT: i32 = 1;

fn tensor(name: &str, dims: &[i64], values: Vec<f32>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_string(),
        dims: dims.to_vec(),
        data_type: FLOAT,
        float_data: values,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Option<i64>]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => Value::DimValue(*v),
                None => Value::DimParam("N".to_string()),
            }),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: FLOAT,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(
    op: &str,
    inputs: &[&str],
    output: &str,
    attributes: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.to_string(),
        name: output.to_string(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        attribute: attributes,
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_string(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_string(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

fn model(graph: pb::GraphProto) -> Vec<u8> {
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "vision-testkit".into(),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Extractor: `pixels` [N,S,S,3] (0..255) -> `descriptors` [N,3] = mean colour in 0..1.
pub fn extractor_onnx(size: i64) -> Vec<u8> {
    model(pb::GraphProto {
        name: "test-extractor".into(),
        node: vec![
            node(
                "ReduceMean",
                &["pixels"],
                "mean",
                vec![ints("axes", &[1, 2]), int("keepdims", 0)],
            ),
            node("Div", &["mean", "scale"], "descriptors", vec![]),
        ],
        initializer: vec![tensor("scale", &[], vec![255.0])],
        input: vec![value_info(
            "pixels",
            &[None, Some(size), Some(size), Some(3)],
        )],
        output: vec![value_info("descriptors", &[None, Some(3)])],
        ..Default::default()
    })
}

/// Head: `descriptors` [N,3] -> `probabilities` [N,10] = softmax(descriptors x W).
pub fn head_onnx(weights: [[f32; 10]; 3]) -> Vec<u8> {
    model(pb::GraphProto {
        name: "test-head".into(),
        node: vec![
            node("MatMul", &["descriptors", "w"], "logits", vec![]),
            node(
                "Softmax",
                &["logits"],
                "probabilities",
                vec![int("axis", 1)],
            ),
        ],
        initializer: vec![tensor(
            "w",
            &[3, 10],
            weights.iter().flatten().copied().collect(),
        )],
        input: vec![value_info("descriptors", &[None, Some(3)])],
        output: vec![value_info("probabilities", &[None, Some(10)])],
        ..Default::default()
    })
}

/// Red -> class `red`, green -> `green`, blue -> `blue`, with `gain` setting the confidence.
fn colour_weights(red: usize, green: usize, blue: usize, gain: f32) -> [[f32; 10]; 3] {
    let mut w = [[0.0; 10]; 3];
    w[0][red] = gain;
    w[1][green] = gain;
    w[2][blue] = gain;
    w
}

/// Writes a complete test bundle (three heads, manifest with checksums) into `dir`.
pub fn write_bundle(dir: &Path, input_size: u32) -> std::io::Result<Manifest> {
    std::fs::create_dir_all(dir)?;
    let classes: Vec<String> = vision_core::classes::CIFAR10_CLASSES
        .iter()
        .map(|c| c.to_string())
        .collect();
    let write = |name: &str, bytes: Vec<u8>, dim: usize, input: Option<u32>| {
        let file = format!("{name}.onnx");
        std::fs::write(dir.join(&file), bytes)?;
        let sha256 = manifest::sha256_file(&dir.join(&file)).map_err(std::io::Error::other)?;
        Ok::<_, std::io::Error>(ModelEntry {
            name: name.to_string(),
            version: format!("{name}-test-v1"),
            file,
            sha256,
            descriptor_dim: dim,
            input_size: input,
            details: Default::default(),
        })
    };
    let extractor = write(
        "extractor",
        extractor_onnx(i64::from(input_size)),
        3,
        Some(input_size),
    )?;
    let classifiers = vec![
        write("fast", head_onnx(colour_weights(0, 1, 2, 4.0)), 3, None)?,
        write("balanced", head_onnx(colour_weights(0, 3, 2, 6.0)), 3, None)?,
        write("accurate", head_onnx(colour_weights(0, 1, 2, 9.0)), 3, None)?,
    ];
    let manifest = Manifest {
        classes,
        extractor,
        classifiers,
    };
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?,
    )?;
    Ok(manifest)
}
