//! The shipped bundle in `models/`: every file matches its recorded sha256 (checked by
//! `ModelBundle::load`), tract classifies real CIFAR-10 test images, and ONNX Runtime gives the
//! same outputs as tract (parity within 1e-4).

use std::path::{Path, PathBuf};

use image::DynamicImage;
use vision_inference::dataset::{self, Split};
use vision_inference::{ModelBundle, Parallelism, RuntimeKind, offline, runtime};
use vision_testkit::bundle as testkit;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn test_images(n: usize) -> Vec<(usize, DynamicImage)> {
    let archive = repo().join("../shared/data/cifar10/test.tar.gz");
    let samples = dataset::read_samples(&archive, Split::Test)
        .unwrap_or_else(|e| panic!("CIFAR-10 test split needed at {}: {e}", archive.display()));
    offline::spread(samples, n)
        .into_iter()
        .map(|s| (s.class_index, image::load_from_memory(&s.bytes).unwrap()))
        .collect()
}

/// ONNX Runtime is optional for users, but CI installs it and must exercise it.
fn ort_available() -> bool {
    let path = runtime::ort_backend::library_path();
    let found = path.exists() || std::env::var_os("ORT_DYLIB_PATH").is_some();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must test the ONNX Runtime backend: set ORT_DYLIB_PATH (scripts/test.sh does)"
        );
        eprintln!("ONNX Runtime library not found: ORT parity NOT checked in this run");
    }
    found
}

#[test]
fn shipped_models_classify_cifar10_with_tract() {
    let bundle = ModelBundle::load(
        &repo().join("models"),
        RuntimeKind::Tract,
        Parallelism::threads(1),
    )
    .expect("shipped bundle loads and matches its checksums");
    assert_eq!(bundle.classifiers.len(), 3);
    let images = test_images(30);
    let refs: Vec<&DynamicImage> = images.iter().map(|(_, i)| i).collect();
    let descriptors = bundle.extractor.extract(&refs).unwrap();
    assert_eq!(descriptors[0].len(), bundle.extractor.descriptor_dim);
    for head in &bundle.classifiers {
        let correct = descriptors
            .iter()
            .zip(&images)
            .filter(|(d, (truth, _))| head.classify(d).unwrap().class_index == *truth)
            .count();
        // The heads score about 80-90% on the test split; 30 images spread over the classes.
        assert!(correct >= 20, "{}: {correct}/30 correct", head.name);
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn ort_and_tract_agree_on_the_shipped_models() {
    if !ort_available() {
        return;
    }
    let dir = repo().join("models");
    let tract = ModelBundle::load(&dir, RuntimeKind::Tract, Parallelism::threads(1)).unwrap();
    let ort = ModelBundle::load(&dir, RuntimeKind::Ort, Parallelism::threads(2))
        .expect("ONNX Runtime loads the bundle");
    let images = test_images(8);
    let refs: Vec<&DynamicImage> = images.iter().map(|(_, i)| i).collect();
    let a = tract.extractor.extract(&refs).unwrap();
    let b = ort.extractor.extract(&refs).unwrap();
    for (x, y) in a.iter().zip(&b) {
        let scale = x.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        assert!(
            max_abs_diff(x, y) / scale < 1e-4,
            "extractor differs: {}",
            max_abs_diff(x, y)
        );
    }
    for (ht, ho) in tract.classifiers.iter().zip(&ort.classifiers) {
        for d in &a {
            let pt = ht.classify(d).unwrap().probabilities;
            let po = ho.classify(d).unwrap().probabilities;
            assert!(max_abs_diff(&pt, &po) < 1e-4, "{} differs", ht.name);
        }
    }
}

#[test]
fn ort_and_tract_agree_on_a_generated_bundle() {
    if !ort_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    testkit::write_bundle(dir.path(), 16).unwrap();
    let tract = ModelBundle::load(dir.path(), RuntimeKind::Tract, Parallelism::threads(1)).unwrap();
    let ort = ModelBundle::load(dir.path(), RuntimeKind::Ort, Parallelism::threads(1)).unwrap();
    let images = test_images(4);
    let refs: Vec<&DynamicImage> = images.iter().map(|(_, i)| i).collect();
    let a = tract.extractor.extract(&refs).unwrap();
    let b = ort.extractor.extract(&refs).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert!(max_abs_diff(x, y) < 1e-5);
    }
}

#[test]
fn a_missing_onnx_runtime_library_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    testkit::write_bundle(dir.path(), 8).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vision-models"))
        .args([
            "featurize",
            "--runtime",
            "ort",
            "--size",
            "8",
            "--limit",
            "1",
            "--split",
            "test",
        ])
        .arg("--model")
        .arg(dir.path().join("extractor.onnx"))
        .arg("--dataset")
        .arg(repo().join("../shared/data/cifar10/test.tar.gz"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ONNX Runtime library unavailable")
            && stderr.contains("pip install onnxruntime")
            && stderr.contains("ORT_DYLIB_PATH"),
        "{stderr}"
    );
}

/// The other descriptor sizes (`scripts/build-variants.sh`): each bundle in
/// `models/variants/pca<D>/` loads against its checksums, gives D descriptors, puts its PCA on
/// the shipped extractor's backbone (the one recorded in its manifest), and its heads classify
/// real CIFAR-10 test images.
#[test]
fn descriptor_size_variants_share_the_shipped_backbone_and_classify() {
    let shipped = vision_inference::manifest::sha256_file(&repo().join("models/extractor.onnx"))
        .expect("shipped extractor");
    let images = test_images(30);
    let refs: Vec<&DynamicImage> = images.iter().map(|(_, i)| i).collect();
    for dim in [10, 50] {
        let dir = repo().join(format!("models/variants/pca{dim}"));
        let bundle = ModelBundle::load(&dir, RuntimeKind::Tract, Parallelism::threads(1))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(
            manifest["models"][0]["provenance"]["backbone_from"]["sha256"], shipped,
            "pca{dim} is not on the shipped backbone"
        );
        assert_eq!(bundle.extractor.descriptor_dim, dim);
        let descriptors = bundle.extractor.extract(&refs).unwrap();
        assert!(descriptors.iter().all(|d| d.len() == dim));
        assert_eq!(bundle.classifiers.len(), 3);
        for head in &bundle.classifiers {
            let correct = descriptors
                .iter()
                .zip(&images)
                .filter(|(d, (truth, _))| head.classify(d).unwrap().class_index == *truth)
                .count();
            assert!(
                correct >= 20,
                "pca{dim} {}: {correct}/30 correct",
                head.name
            );
        }
    }
}
