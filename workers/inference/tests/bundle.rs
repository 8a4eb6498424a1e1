//! Loads a generated bundle with tract and checks the whole image -> classes path.

use image::{DynamicImage, ImageBuffer, Rgb};
use vision_inference::{ModelBundle, Parallelism, RuntimeKind, manifest};
use vision_testkit::bundle as testkit;

fn solid(r: u8, g: u8, b: u8) -> DynamicImage {
    DynamicImage::ImageRgb8(ImageBuffer::from_pixel(50, 40, Rgb([r, g, b])))
}

#[test]
fn generated_bundle_classifies_colours() {
    let dir = tempfile::tempdir().unwrap();
    testkit::write_bundle(dir.path(), 16).unwrap();
    let bundle =
        ModelBundle::load(dir.path(), RuntimeKind::Tract, Parallelism::threads(1)).unwrap();
    let images = [solid(250, 0, 0), solid(0, 250, 0), solid(0, 0, 250)];
    let refs: Vec<&DynamicImage> = images.iter().collect();
    let descriptors = bundle.extractor.extract(&refs).unwrap();
    assert_eq!(descriptors.len(), 3);
    assert!((descriptors[0][0] - 250.0 / 255.0).abs() < 1e-4);

    let expected = [
        ("fast", ["airplane", "automobile", "bird"]),
        ("balanced", ["airplane", "cat", "bird"]),
        ("accurate", ["airplane", "automobile", "bird"]),
    ];
    let heads = bundle.heads();
    for (name, classes) in expected {
        let (_, versions) = heads.iter().find(|(n, _)| n == name).unwrap();
        let head = &versions[0];
        for (d, class) in descriptors.iter().zip(classes) {
            let c = head.classify(d).unwrap();
            assert_eq!(c.class, class, "{name}");
            assert_eq!(c.top_k.len(), 3);
            assert!((c.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4);
            assert!(c.top_k[0].1 >= c.top_k[1].1);
        }
    }
}

#[test]
fn a_tampered_model_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    testkit::write_bundle(dir.path(), 8).unwrap();
    std::fs::write(dir.path().join("fast.onnx"), b"tampered").unwrap();
    let err = ModelBundle::load(dir.path(), RuntimeKind::Tract, Parallelism::threads(1))
        .err()
        .expect("checksum mismatch");
    assert!(err.to_string().contains("sha256"), "{err}");
    let _ = manifest::sha256_file(&dir.path().join("fast.onnx")).unwrap();
}

/// A split process loads only its own model; the per-shape tract plans give the same row for an
/// image whether it comes alone or in a batch.
#[test]
fn one_model_loads_alone_and_batches_agree_with_single_images() {
    let dir = tempfile::tempdir().unwrap();
    testkit::write_bundle(dir.path(), 16).unwrap();
    let extractor =
        ModelBundle::load_extractor(dir.path(), RuntimeKind::Tract, Parallelism::threads(1))
            .unwrap();
    let (red, blue) = (solid(250, 0, 0), solid(0, 0, 250));
    let alone = extractor.extract(&[&blue]).unwrap();
    let together = extractor.extract(&[&red, &blue]).unwrap();
    assert_eq!(alone[0], together[1]);

    let head = ModelBundle::load_head(dir.path(), RuntimeKind::Tract, "balanced").unwrap();
    assert_eq!(head.len(), 1);
    assert_eq!(head[0].name, "balanced");
    let unknown = ModelBundle::load_head(dir.path(), RuntimeKind::Tract, "huge")
        .err()
        .expect("no head named huge")
        .to_string();
    assert!(
        unknown.contains("huge") && unknown.contains("accurate"),
        "{unknown}"
    );
}

/// `vision-models time` runs a model on each runtime it can load and reports its time.
#[test]
fn timing_reports_each_runtime() {
    let dir = tempfile::tempdir().unwrap();
    testkit::write_bundle(dir.path(), 16).unwrap();
    let options = vision_inference::offline::timing::TimingOptions {
        model: dir.path().join("extractor.onnx"),
        size: 16,
        threads: 1,
        batch: 2,
        images: 4,
        python: None,
        script: "unused".into(),
    };
    let report = vision_inference::offline::timing::time_model(&options).unwrap();
    let tract = &report.timings[0];
    assert_eq!(tract.runtime, "tract");
    assert!(tract.ms_per_image > 0.0 && tract.vs_python_onnxruntime.is_none());
}

/// A head listed with two versions loads both, each with its own weights; a manifest that lists
/// one (name, version) twice is refused.
#[test]
fn two_versions_of_one_head_load_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    testkit::write(dir.path(), &testkit::two_versions_bundle(16)).unwrap();
    let bundle =
        ModelBundle::load(dir.path(), RuntimeKind::Tract, Parallelism::threads(1)).unwrap();
    let heads = bundle.heads();
    let fast = &heads.iter().find(|(name, _)| name == "fast").unwrap().1;
    assert_eq!(fast.len(), 2);
    assert_ne!(fast[0].version, fast[1].version);
    let green = bundle.extractor.extract(&[&solid(0, 250, 0)]).unwrap();
    let answers: Vec<String> = fast
        .iter()
        .map(|v| v.classify(&green[0]).unwrap().class)
        .collect();
    assert_ne!(answers[0], answers[1], "the versions disagree on green");
    let alone = ModelBundle::load_head(dir.path(), RuntimeKind::Tract, "fast").unwrap();
    assert_eq!(alone.len(), 2);

    let path = dir.path().join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let models = manifest["models"].as_array_mut().unwrap();
    let twin = models.iter().find(|m| m["name"] == "fast").unwrap().clone();
    models.push(twin);
    std::fs::write(&path, manifest.to_string()).unwrap();
    let refused = ModelBundle::load(dir.path(), RuntimeKind::Tract, Parallelism::threads(1))
        .err()
        .expect("a duplicated head version")
        .to_string();
    assert!(refused.contains("listed twice"), "{refused}");
}
