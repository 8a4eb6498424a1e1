//! Tiny ONNX model bundles for tests, written from Rust (no Python, no shipped weights needed).
//!
//! The extractor averages the image's R, G and B over all pixels (descriptors = the mean colour in
//! 0..1, so `descriptor_dim` is 3); each head scores the classes linearly from that colour
//! (`softmax(descriptors x W)`, one row of [`HeadSpec::weights`] per class). A test therefore knows
//! every head's answer for a solid-colour image, and can make heads (or two versions of one head)
//! disagree on purpose.
//!
//! [`write`] writes any [`BundleSpec`]; ready-made specs: [`default_bundle`] (the ten CIFAR-10
//! classes, heads `fast`, `balanced`, `accurate`; written by [`write_bundle`]), [`colours_bundle`]
//! and [`colours_four_heads_bundle`] (classes `red`, `green`, `blue`), [`two_versions_bundle`]
//! (two versions of `fast` that disagree on green).

use std::collections::HashSet;
use std::io;
use std::path::Path;

use prost::Message;
use tract_onnx::pb;
use vision_inference::manifest::{self, Manifest, ModelEntry};

/// The CIFAR-10 class names in their label order (the default bundle's classes).
pub use vision_inference::dataset::CIFAR10_CLASSES;

/// The extractor's name, file stem and version in every bundle written here.
pub const EXTRACTOR_NAME: &str = "extractor";
pub const EXTRACTOR_VERSION: &str = "extractor-test-v1";

/// What [`write`] writes: the classes (in the heads' output order), the extractor's input side,
/// and the heads (in the manifest's display order).
#[derive(Debug, Clone, PartialEq)]
pub struct BundleSpec {
    pub classes: Vec<String>,
    pub input_size: u32,
    pub heads: Vec<HeadSpec>,
}

/// One head: `probabilities = softmax(mean_colour x W)`.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadSpec {
    pub name: String,
    pub version: String,
    /// One row per class (as many as [`BundleSpec::classes`]): how much the image's mean red,
    /// green and blue (each 0..1) add to that class's logit.
    pub weights: Vec<[f32; 3]>,
}

impl BundleSpec {
    pub fn new(classes: &[&str], input_size: u32, heads: Vec<HeadSpec>) -> Self {
        Self {
            classes: classes.iter().map(|c| c.to_string()).collect(),
            input_size,
            heads,
        }
    }

    /// The file a head is written to: `{name}.onnx`, or `{name}-{version}.onnx` when another head
    /// in the spec has the same name.
    pub fn head_file(&self, head: &HeadSpec) -> String {
        let same_name = self.heads.iter().filter(|h| h.name == head.name).count();
        if same_name > 1 {
            format!("{}-{}.onnx", head.name, head.version)
        } else {
            format!("{}.onnx", head.name)
        }
    }

    /// Why [`write`] would refuse this spec, if it would.
    fn check(&self) -> Result<(), String> {
        if self.classes.is_empty() {
            return Err("no classes".into());
        }
        if self.input_size == 0 {
            return Err("input_size 0".into());
        }
        let mut files = HashSet::from([format!("{EXTRACTOR_NAME}.onnx")]);
        let mut versions = HashSet::new();
        for head in &self.heads {
            if head.weights.len() != self.classes.len() {
                return Err(format!(
                    "head {} {} has {} weight rows for {} classes",
                    head.name,
                    head.version,
                    head.weights.len(),
                    self.classes.len()
                ));
            }
            if !versions.insert((&head.name, &head.version)) {
                return Err(format!("head {} {} twice", head.name, head.version));
            }
            let file = self.head_file(head);
            if file.contains(['/', '\\']) || file.starts_with('.') {
                return Err(format!("{file:?} is not a plain file name"));
            }
            if !files.insert(file.clone()) {
                return Err(format!("two models would be written to {file}"));
            }
        }
        Ok(())
    }
}

impl HeadSpec {
    pub fn new(name: &str, version: &str, weights: Vec<[f32; 3]>) -> Self {
        Self {
            name: name.to_string(),
            version: version.to_string(),
            weights,
        }
    }

    /// A head over `classes` that sends red to class `red`, green to `green` and blue to `blue`
    /// (class names), with `gain` setting how confident it is: the colour's class gets `gain`
    /// times that colour's mean, every other logit 0.
    ///
    /// Panics if one of the three is not in `classes` (a mistake in the test itself).
    pub fn colours(
        name: &str,
        version: &str,
        classes: &[&str],
        [red, green, blue]: [&str; 3],
        gain: f32,
    ) -> Self {
        let mut weights = vec![[0.0; 3]; classes.len()];
        for (channel, class) in [red, green, blue].into_iter().enumerate() {
            let index = classes
                .iter()
                .position(|c| *c == class)
                .unwrap_or_else(|| panic!("{class:?} is not one of {classes:?}"));
            weights[index][channel] += gain;
        }
        Self::new(name, version, weights)
    }
}

/// The bundle [`write_bundle`] writes: the ten CIFAR-10 classes and three heads (versions
/// `{name}-test-v1`). A red image is an `airplane` for every head, a green one an `automobile`
/// for `fast` and `accurate` but a `cat` for `balanced`, a blue one a `bird`; the confidence grows
/// from `fast` to `accurate`.
pub fn default_bundle(input_size: u32) -> BundleSpec {
    let c = &CIFAR10_CLASSES;
    BundleSpec::new(
        c,
        input_size,
        vec![
            HeadSpec::colours(
                "fast",
                "fast-test-v1",
                c,
                ["airplane", "automobile", "bird"],
                4.0,
            ),
            HeadSpec::colours(
                "balanced",
                "balanced-test-v1",
                c,
                ["airplane", "cat", "bird"],
                6.0,
            ),
            HeadSpec::colours(
                "accurate",
                "accurate-test-v1",
                c,
                ["airplane", "automobile", "bird"],
                9.0,
            ),
        ],
    )
}

/// The class names of [`colours_bundle`] and [`colours_four_heads_bundle`].
pub const COLOUR_CLASSES: [&str; 3] = ["red", "green", "blue"];

/// Other class names, another number of classes, two heads: `red`, `green`, `blue`; heads `lean`
/// (less sure) and `keen` (surer), both right on pure colours.
pub fn colours_bundle(input_size: u32) -> BundleSpec {
    let c = &COLOUR_CLASSES;
    BundleSpec::new(
        c,
        input_size,
        vec![
            HeadSpec::colours("lean", "lean-test-v1", c, COLOUR_CLASSES, 3.0),
            HeadSpec::colours("keen", "keen-test-v1", c, COLOUR_CLASSES, 8.0),
        ],
    )
}

/// [`colours_bundle`] with four heads: `lean`, `keen`, `mild`, `sure`, all right on pure colours,
/// confidence `mild` < `lean` < `keen` < `sure`.
pub fn colours_four_heads_bundle(input_size: u32) -> BundleSpec {
    let c = &COLOUR_CLASSES;
    let mut spec = colours_bundle(input_size);
    spec.heads.extend([
        HeadSpec::colours("mild", "mild-test-v1", c, COLOUR_CLASSES, 2.0),
        HeadSpec::colours("sure", "sure-test-v1", c, COLOUR_CLASSES, 12.0),
    ]);
    spec
}

/// Two versions of one head side by side, over the CIFAR-10 classes: `fast` version
/// `fast-test-v1` calls green a `cat`, `fast` version `fast-test-v2` an `automobile`; both call
/// red an `airplane` and blue a `bird`. Files `fast-fast-test-v1.onnx`, `fast-fast-test-v2.onnx`.
pub fn two_versions_bundle(input_size: u32) -> BundleSpec {
    let c = &CIFAR10_CLASSES;
    BundleSpec::new(
        c,
        input_size,
        vec![
            HeadSpec::colours("fast", "fast-test-v1", c, ["airplane", "cat", "bird"], 4.0),
            HeadSpec::colours(
                "fast",
                "fast-test-v2",
                c,
                ["airplane", "automobile", "bird"],
                6.0,
            ),
        ],
    )
}

/// Writes [`default_bundle`] into `dir` (created if missing): `extractor.onnx`, `fast.onnx`,
/// `balanced.onnx`, `accurate.onnx` and `manifest.json` with their checksums.
pub fn write_bundle(dir: &Path, input_size: u32) -> io::Result<Manifest> {
    write(dir, &default_bundle(input_size))
}

/// Writes the bundle `spec` describes into `dir` (created if missing): `extractor.onnx`, one ONNX
/// file per head (see [`BundleSpec::head_file`]) and `manifest.json` with their checksums.
/// Returns the manifest written. A spec with no classes, weight rows that do not match the
/// classes, or the same head version twice is refused with `InvalidInput`.
pub fn write(dir: &Path, spec: &BundleSpec) -> io::Result<Manifest> {
    spec.check()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    std::fs::create_dir_all(dir)?;
    let entry = |name: &str, version: &str, file: String, bytes: Vec<u8>| {
        let path = dir.join(&file);
        std::fs::write(&path, bytes)?;
        let sha256 = manifest::sha256_file(&path).map_err(io::Error::other)?;
        Ok::<_, io::Error>(ModelEntry {
            name: name.to_string(),
            version: version.to_string(),
            file,
            sha256,
            descriptor_dim: 3,
            input_size: None,
            details: Default::default(),
        })
    };
    let extractor = ModelEntry {
        input_size: Some(spec.input_size),
        ..entry(
            EXTRACTOR_NAME,
            EXTRACTOR_VERSION,
            format!("{EXTRACTOR_NAME}.onnx"),
            extractor_onnx(i64::from(spec.input_size)),
        )?
    };
    let classifiers = spec
        .heads
        .iter()
        .map(|head| {
            entry(
                &head.name,
                &head.version,
                spec.head_file(head),
                head_onnx(&head.weights),
            )
        })
        .collect::<io::Result<Vec<_>>>()?;
    let manifest = Manifest {
        classes: spec.classes.clone(),
        extractor,
        classifiers,
    };
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?,
    )?;
    Ok(manifest)
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

/// An extractor of another descriptor size: `pixels` [N,S,S,3] (0..255) -> `descriptors` [N,6]
/// = the mean colour in 0..1, then one minus it. Heads bound to it read six values, so a test
/// can serve two descriptor sizes side by side and know every answer.
pub fn wide_extractor_onnx(size: i64) -> Vec<u8> {
    model(pb::GraphProto {
        name: "test-wide-extractor".into(),
        node: vec![
            node(
                "ReduceMean",
                &["pixels"],
                "mean",
                vec![ints("axes", &[1, 2]), int("keepdims", 0)],
            ),
            node("Div", &["mean", "scale"], "colour", vec![]),
            node("Sub", &["one", "colour"], "inverse", vec![]),
            node(
                "Concat",
                &["colour", "inverse"],
                "descriptors",
                vec![int("axis", 1)],
            ),
        ],
        initializer: vec![
            tensor("scale", &[], vec![255.0]),
            tensor("one", &[], vec![1.0]),
        ],
        input: vec![value_info(
            "pixels",
            &[None, Some(size), Some(size), Some(3)],
        )],
        output: vec![value_info("descriptors", &[None, Some(6)])],
        ..Default::default()
    })
}

/// `model` (ONNX bytes) with an unused initializer of `bytes` more bytes: a file as large as a
/// real backbone's that answers as the small one does.
pub fn with_padding(model: &[u8], bytes: usize) -> Vec<u8> {
    let mut model = pb::ModelProto::decode(model).expect("an ONNX model");
    let graph = model.graph.as_mut().expect("a graph");
    graph.initializer.push(tensor(
        "padding",
        &[(bytes / 4) as i64],
        vec![0.5; bytes / 4],
    ));
    model.encode_to_vec()
}

/// Head: `descriptors` [N,3] -> `probabilities` [N,C] = softmax(descriptors x W), with
/// `W[channel][class] = weights[class][channel]` and C = `weights.len()`.
pub fn head_onnx(weights: &[[f32; 3]]) -> Vec<u8> {
    let rows: Vec<Vec<f32>> = weights.iter().map(|row| row.to_vec()).collect();
    linear_head_onnx(&rows)
}

/// Head over descriptors of any width D (that of `weights`' rows, all equal): `descriptors`
/// [N,D] -> `probabilities` [N,C] = softmax(descriptors x W), `W[d][class] = weights[class][d]`.
pub fn linear_head_onnx(weights: &[Vec<f32>]) -> Vec<u8> {
    let classes = weights.len();
    let width = weights.first().map_or(0, Vec::len);
    assert!(
        weights.iter().all(|row| row.len() == width),
        "rows of one width"
    );
    let w: Vec<f32> = (0..width)
        .flat_map(|d| weights.iter().map(move |row| row[d]))
        .collect();
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
        initializer: vec![tensor("w", &[width as i64, classes as i64], w)],
        input: vec![value_info("descriptors", &[None, Some(width as i64)])],
        output: vec![value_info("probabilities", &[None, Some(classes as i64)])],
        ..Default::default()
    })
}

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
