//! The bundles `vision_testkit::bundle` writes load with vision-inference and answer as their
//! specs say: other class names and counts, two or four heads, two versions of one head.

use image::{DynamicImage, Rgb, RgbImage};
use vision_inference::{ClassifierModel, Manifest, ModelBundle, Parallelism, RuntimeKind};
use vision_testkit::bundle::{self, BundleSpec, HeadSpec};

fn solid(rgb: [u8; 3]) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_pixel(20, 12, Rgb(rgb)))
}

const RED: [u8; 3] = [250, 0, 0];
const GREEN: [u8; 3] = [0, 250, 0];
const BLUE: [u8; 3] = [0, 0, 250];

/// Writes `spec`, loads it back with tract, and returns the bundle with the mean colours of red,
/// green and blue images as its extractor sees them.
fn load(spec: &BundleSpec) -> (tempfile::TempDir, Manifest, ModelBundle, Vec<Vec<f32>>) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = bundle::write(dir.path(), spec).unwrap();
    let loaded =
        ModelBundle::load(dir.path(), RuntimeKind::Tract, Parallelism::threads(1)).unwrap();
    assert_eq!(loaded.manifest.classes, spec.classes);
    assert_eq!(loaded.extractor.input_size, spec.input_size);
    assert_eq!(loaded.extractor.version, bundle::EXTRACTOR_VERSION);
    assert_eq!(loaded.extractor.descriptor_dim, 3);
    let images = [solid(RED), solid(GREEN), solid(BLUE)];
    let refs: Vec<&DynamicImage> = images.iter().collect();
    let descriptors = loaded.extractor.extract(&refs).unwrap();
    (dir, manifest, loaded, descriptors)
}

/// The head with this name and version.
fn head<'a>(bundle: &'a ModelBundle, name: &str, version: &str) -> &'a ClassifierModel {
    bundle
        .classifiers
        .iter()
        .find(|c| c.name == name && c.version == version)
        .unwrap_or_else(|| panic!("no head {name} {version} in the loaded bundle"))
}

/// `head` calls red, green and blue `expected`; returns its confidences on the three.
fn answers(head: &ClassifierModel, descriptors: &[Vec<f32>], expected: [&str; 3]) -> Vec<f32> {
    descriptors
        .iter()
        .zip(expected)
        .map(|(d, class)| {
            let c = head.classify(d).unwrap();
            assert_eq!(c.class, class, "{} {}", head.name, head.version);
            assert_eq!(c.probabilities.len(), head.classes.len());
            let sum: f32 = c.probabilities.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "{} sums to {sum}", head.name);
            c.confidence
        })
        .collect()
}

#[test]
fn the_colours_bundle_has_three_classes_and_two_heads_right_on_pure_colours() {
    let spec = bundle::colours_bundle(16);
    let (_dir, manifest, loaded, descriptors) = load(&spec);
    assert_eq!(manifest.classes, ["red", "green", "blue"]);
    let heads: Vec<(&str, &str)> = loaded
        .classifiers
        .iter()
        .map(|c| (c.name.as_str(), c.version.as_str()))
        .collect();
    assert_eq!(heads, [("lean", "lean-test-v1"), ("keen", "keen-test-v1")]);
    let lean = answers(
        head(&loaded, "lean", "lean-test-v1"),
        &descriptors,
        ["red", "green", "blue"],
    );
    let keen = answers(
        head(&loaded, "keen", "keen-test-v1"),
        &descriptors,
        ["red", "green", "blue"],
    );
    for (l, k) in lean.iter().zip(&keen) {
        assert!(l < k, "keen is surer than lean: {l} vs {k}");
    }
}

#[test]
fn the_four_heads_bundle_serves_four_heads() {
    let spec = bundle::colours_four_heads_bundle(8);
    let (_dir, manifest, loaded, descriptors) = load(&spec);
    assert_eq!(manifest.classifiers.len(), 4);
    let mut confidences = Vec::new();
    for name in ["mild", "lean", "keen", "sure"] {
        let version = format!("{name}-test-v1");
        let head = head(&loaded, name, &version);
        confidences.push(answers(head, &descriptors, ["red", "green", "blue"])[0]);
    }
    assert!(
        confidences.windows(2).all(|w| w[0] < w[1]),
        "{confidences:?}"
    );
}

#[test]
fn two_versions_of_one_head_load_side_by_side_and_disagree_on_green() {
    let spec = bundle::two_versions_bundle(16);
    let (dir, manifest, loaded, descriptors) = load(&spec);
    let files: Vec<&str> = manifest
        .classifiers
        .iter()
        .map(|c| c.file.as_str())
        .collect();
    assert_eq!(files, ["fast-fast-test-v1.onnx", "fast-fast-test-v2.onnx"]);
    for file in files {
        assert!(dir.path().join(file).is_file(), "{file}");
    }
    assert_eq!(loaded.classifiers.len(), 2, "both versions are loaded");
    answers(
        head(&loaded, "fast", "fast-test-v1"),
        &descriptors,
        ["airplane", "cat", "bird"],
    );
    answers(
        head(&loaded, "fast", "fast-test-v2"),
        &descriptors,
        ["airplane", "automobile", "bird"],
    );
}

/// The default bundle is built on the same builder and keeps today's answers and versions.
#[test]
fn the_default_bundle_keeps_its_answers() {
    let spec = bundle::default_bundle(16);
    let (dir, manifest, loaded, descriptors) = load(&spec);
    assert_eq!(manifest.classes, bundle::CIFAR10_CLASSES);
    for (name, expected) in [
        ("fast", ["airplane", "automobile", "bird"]),
        ("balanced", ["airplane", "cat", "bird"]),
        ("accurate", ["airplane", "automobile", "bird"]),
    ] {
        let version = format!("{name}-test-v1");
        answers(head(&loaded, name, &version), &descriptors, expected);
        assert!(dir.path().join(format!("{name}.onnx")).is_file());
    }
    let written = bundle::write_bundle(&dir.path().join("again"), 16).unwrap();
    let sums = |m: &Manifest| m.entries().map(|e| e.sha256.clone()).collect::<Vec<_>>();
    assert_eq!(
        sums(&written),
        sums(&manifest),
        "write_bundle writes this spec"
    );
}

#[test]
fn inconsistent_specs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let classes = ["yes", "no"];
    let refused = |spec: BundleSpec, why: &str| {
        let err = bundle::write(dir.path(), &spec).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(why), "{err}");
    };
    let head = |name: &str, version: &str, rows: usize| {
        HeadSpec::new(name, version, vec![[1.0, 0.0, 0.0]; rows])
    };
    refused(
        BundleSpec::new(&classes, 8, vec![head("a", "a-v1", 3)]),
        "3 weight rows for 2 classes",
    );
    refused(
        BundleSpec::new(&classes, 8, vec![head("a", "v1", 2), head("a", "v1", 2)]),
        "twice",
    );
    refused(
        BundleSpec::new(&classes, 8, vec![head("extractor", "v1", 2)]),
        "extractor.onnx",
    );
    refused(BundleSpec::new(&[], 8, vec![]), "no classes");
}
