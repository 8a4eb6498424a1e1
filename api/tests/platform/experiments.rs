//! Experiments (F24): a shadow version compared with production on the images both scored, and
//! a registered version back-tested on past images' stored descriptors; every figure against a
//! re-scoring done here (the test heads answer by colour).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vision_testkit::bundle::{CIFAR10_CLASSES, HeadSpec, head_onnx};

use crate::common::{TestApp, error_code};
use crate::images::{self, BLUE, GREEN, RED};

const PAIRED: &str = "n labeled accuracyA accuracyB weightedF1A weightedF1B difference \
    differenceLow differenceHigh mcnemarB mcnemarC mcnemarP agreement latencyP50MsA \
    latencyP50MsB";

/// `fast` version 2: red is a cat; green and blue as the shipped test head (automobile, bird).
async fn register_cats(app: &TestApp) {
    let weights = HeadSpec::colours(
        "fast",
        "x",
        &CIFAR10_CLASSES,
        ["cat", "automobile", "bird"],
        5.0,
    )
    .weights;
    let response = app
        .multipart(
            "mutation($file: Upload!) { registerModelVersion(file: $file, name: \"fast\", \
             kind: CLASSIFIER, label: \"fast-cats\") { version } }",
            json!({ "file": null }),
            vec![(
                "variables.file".into(),
                "f.onnx".into(),
                head_onnx(&weights),
            )],
        )
        .await;
    assert!(response.get("errors").is_none(), "{response:#}");
}

/// 4 red airplanes, 3 green automobiles, 2 blue birds: production (v1) is right on all nine,
/// version 2 wrong on the four red ones.
async fn upload_nine(app: &TestApp) {
    let mut ids = Vec::new();
    for (colour, label, count) in [
        (RED, "airplane", 4),
        (GREEN, "automobile", 3),
        (BLUE, "bird", 2),
    ] {
        for _ in 0..count {
            ids.push(
                app.upload_ok("c.png", images::png(colour), Some(label))
                    .await,
            );
        }
    }
    for id in ids {
        assert_eq!(app.wait_done(&id).await["status"], "COMPLETED");
    }
}

/// The figures a re-scoring by hand gives for the nine images: A right on 9, B on 5.
fn assert_nine(c: &Value) {
    assert_eq!(
        (c["n"].as_i64(), c["labeled"].as_i64()),
        (Some(9), Some(9)),
        "{c:#}"
    );
    assert_eq!(c["accuracyA"], 1.0);
    assert!((c["accuracyB"].as_f64().unwrap() - 5.0 / 9.0).abs() < 1e-9);
    assert!((c["difference"].as_f64().unwrap() + 4.0 / 9.0).abs() < 1e-9);
    assert_eq!(
        (c["mcnemarB"].as_i64(), c["mcnemarC"].as_i64()),
        (Some(4), Some(0))
    );
    assert!((c["mcnemarP"].as_f64().unwrap() - 0.125).abs() < 1e-12);
    assert!((c["agreement"].as_f64().unwrap() - 5.0 / 9.0).abs() < 1e-9);
    // Wald: d = -4/9, se = sqrt(4 - 16/9) / 9.
    let half = 1.96 * (4.0f64 - 16.0 / 9.0).sqrt() / 9.0;
    assert!((c["differenceLow"].as_f64().unwrap() - (-4.0 / 9.0 - half)).abs() < 1e-9);
    assert!((c["differenceHigh"].as_f64().unwrap() - (-4.0 / 9.0 + half)).abs() < 1e-9);
    assert_eq!(c["weightedF1A"], 1.0);
    // B: airplane F1 0 (4 of 9 images), automobile 1 (3), bird 1 (2); cat has no image.
    assert!((c["weightedF1B"].as_f64().unwrap() - 5.0 / 9.0).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_is_compared_with_production_on_the_images_both_scored() {
    let app = TestApp::start().await;
    register_cats(&app).await;
    let none = app
        .query(
            &format!(
                "{{ shadowComparison(model: \"fast\") {{ shadow comparison {{ {PAIRED} }} }} }}"
            ),
            json!({}),
        )
        .await;
    assert_eq!(none["shadowComparison"], Value::Null, "no shadow yet");
    app.query(
        "mutation { setModelAlias(name: \"fast\", alias: \"shadow\", version: 2) { changed } }",
        json!({}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while app
        .query("{ modelRollout(model: \"fast\") { shadow } }", json!({}))
        .await["modelRollout"][0]["shadow"]
        != "fast-cats"
    {
        assert!(Instant::now() < deadline, "the shadow is never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    upload_nine(&app).await;
    let data = app
        .query(
            &format!(
                "{{ shadowComparison(model: \"fast\") {{ shadow comparison {{ {PAIRED} }} }} }}"
            ),
            json!({}),
        )
        .await;
    assert_eq!(data["shadowComparison"]["shadow"], "fast-cats");
    assert_nine(&data["shadowComparison"]["comparison"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_version_is_back_tested_on_past_images() {
    let app = TestApp::start().await;
    upload_nine(&app).await;
    register_cats(&app).await;
    let data = app
        .query(
            &format!(
                "{{ backtest(model: \"fast\", version: 2) {{ label seconds comparison {{ {PAIRED} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let backtest = &data["backtest"];
    assert_eq!(backtest["label"], "fast-cats");
    assert!(backtest["seconds"].as_f64().unwrap() >= 0.0);
    assert_nine(&backtest["comparison"]);
    // The window: nothing before the first upload.
    let none = app
        .query(
            "query($until: DateTime!) { backtest(model: \"fast\", version: 2, until: $until) \
             { comparison { n } } }",
            json!({ "until": "2000-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(none["backtest"]["comparison"]["n"], 0);
    for (query, code) in [
        (
            "{ backtest(model: \"fast\", version: 9) { label } }",
            "NOT_FOUND",
        ),
        (
            "{ backtest(model: \"extractor\", version: 1) { label } }",
            "INVALID_ARGUMENT",
        ),
        (
            "{ backtest(model: \"fast\", version: 2, last: 0) { label } }",
            "INVALID_ARGUMENT",
        ),
    ] {
        assert_eq!(
            error_code(&app.graphql(query, json!({})).await),
            code,
            "{query}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ab_test_answers_a_sticky_share_and_compares_both_on_every_image() {
    let app = TestApp::start().await;
    register_cats(&app).await;
    let refused = app
        .graphql(
            "mutation { startAbTest(model: \"fast\", version: 2, share: 1.5) }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&refused), "INVALID_ARGUMENT");
    let started = app
        .query(
            "mutation { startAbTest(model: \"fast\", version: 2, share: 0.5) }",
            json!({}),
        )
        .await;
    assert_eq!(started["startAbTest"], true);
    let deadline = Instant::now() + Duration::from_secs(20);
    while app
        .query("{ modelRollout(model: \"fast\") { candidate } }", json!({}))
        .await["modelRollout"][0]["candidate"]
        != "fast-cats"
    {
        assert!(Instant::now() < deadline, "the candidate is never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Red images: production says airplane, the candidate cat. 20 different ones (a little
    // blue in each), each uploaded twice: the arm follows the bytes, not the upload.
    let mut answered_by = std::collections::BTreeMap::<String, usize>::new();
    for shade in 0..20u8 {
        let bytes = images::png([255, 0, shade]);
        let mut versions = Vec::new();
        for _ in 0..2 {
            let id = app
                .upload_ok("red.png", bytes.clone(), Some("airplane"))
                .await;
            let image = app.wait_done(&id).await;
            let fast: Vec<&Value> = image["predictions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["model"] == "fast")
                .collect();
            assert_eq!(fast.len(), 2, "both arms score every image: {image:#}");
            let answer = app
                .query(
                    "query($id: ID!) { image(id: $id) { predictions { model modelVersion shadow } \
                     comparison { consensusClass } } }",
                    json!({ "id": id }),
                )
                .await["image"]
                .clone();
            let answering: Vec<&Value> = answer["predictions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["model"] == "fast" && p["shadow"] == false)
                .collect();
            assert_eq!(answering.len(), 1);
            versions.push(answering[0]["modelVersion"].as_str().unwrap().to_owned());
        }
        assert_eq!(
            versions[0], versions[1],
            "shade {shade}: the same bytes, another arm"
        );
        *answered_by.entry(versions[0].clone()).or_default() += 1;
    }
    // Half each, give or take (20 images: both arms answer some; fewer than 2 of 20 on one
    // side has a chance of 2e-5).
    assert!(
        answered_by.get("fast-cats").copied().unwrap_or(0) >= 2,
        "{answered_by:?}"
    );
    assert!(
        answered_by.get("fast-test-v1").copied().unwrap_or(0) >= 2,
        "{answered_by:?}"
    );
    let data = app
        .query(
            &format!(
                "{{ abComparison(model: \"fast\") {{ production candidate share comparison {{ {PAIRED} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let ab = &data["abComparison"];
    assert_eq!(
        (ab["production"].as_str(), ab["candidate"].as_str()),
        (Some("fast-test-v1"), Some("fast-cats"))
    );
    assert_eq!(ab["share"], 0.5);
    let c = &ab["comparison"];
    assert_eq!(
        (
            c["n"].as_i64(),
            c["mcnemarB"].as_i64(),
            c["mcnemarC"].as_i64()
        ),
        (Some(40), Some(40), Some(0))
    );
    assert_eq!(
        (c["accuracyA"].as_f64(), c["accuracyB"].as_f64()),
        (Some(1.0), Some(0.0))
    );
    let stopped = app
        .query("mutation { stopAbTest(model: \"fast\") }", json!({}))
        .await;
    assert_eq!(stopped["stopAbTest"], true);
    let again = app
        .query("mutation { stopAbTest(model: \"fast\") }", json!({}))
        .await;
    assert_eq!(again["stopAbTest"], false);
    app.stop().await;
}

/// Uploads red images until one has a prediction `wanted` accepts, and returns that prediction
/// (what the stages serve follows the registry a moment after it changes).
async fn probe_until(app: &TestApp, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            Instant::now() < deadline,
            "no image ever got the prediction wanted"
        );
        let id = app.upload_ok("p.png", images::png(RED), None).await;
        let image = app.wait_done(&id).await;
        assert_eq!(image["status"], "COMPLETED", "{image:#}");
        let found = app
            .query(
                "query($id: ID!) { image(id: $id) { predictions { modelVersion predictedClass \
                 shadow } } }",
                json!({ "id": id }),
            )
            .await["image"]["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| wanted(p))
            .cloned();
        if let Some(prediction) = found {
            return prediction;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers `bytes` as a new version of `name` (`kind` EXTRACTOR or CLASSIFIER) labelled
/// `label`, bound to extractor `extractor` when given.
async fn register(
    app: &TestApp,
    name: &str,
    kind: &str,
    label: &str,
    extractor: Option<&str>,
    bytes: Vec<u8>,
) -> Value {
    app.multipart(
        &format!(
            "mutation($file: Upload!, $extractor: String) {{ registerModelVersion(file: $file, \
             name: \"{name}\", kind: {kind}, label: \"{label}\", extractorLabel: $extractor) \
             {{ version descriptorDim }} }}"
        ),
        json!({ "file": null, "extractor": extractor }),
        vec![("variables.file".into(), "m.onnx".into(), bytes)],
    )
    .await
}

/// Descriptor sizes side by side (F24): a shadow head bound to an extractor version of
/// another size (6 values against production's 3) reads that extractor's descriptors, which
/// the extractor stage computes on every image while the head is served, and is compared with
/// production like any shadow. A head cannot be bound to an extractor that does not fit it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_of_another_descriptor_size_reads_its_own_extractor() {
    use vision_testkit::bundle::{linear_head_onnx, wide_extractor_onnx, with_padding};

    let app = TestApp::start().await;
    // Past the image file limit (the upload limit + 1 MiB), as a real backbone (13.5 MB) is
    // past the default one: a registration alone in its request may carry it.
    let padded = with_padding(
        &wide_extractor_onnx(32),
        crate::common::MAX_UPLOAD_BYTES + 1536 * 1024,
    );
    let wide = register(&app, "extractor", "EXTRACTOR", "wide", None, padded).await;
    assert!(wide.get("errors").is_none(), "{wide:#}");
    assert_eq!(wide["data"]["registerModelVersion"]["descriptorDim"], 6);
    // `fast-cats`'s weights on the mean colour, none on its inverse.
    let rows: Vec<Vec<f32>> = HeadSpec::colours(
        "fast",
        "x",
        &CIFAR10_CLASSES,
        ["cat", "automobile", "bird"],
        5.0,
    )
    .weights
    .iter()
    .map(|row| [row.as_slice(), &[0.0; 3]].concat())
    .collect();
    // Six values in: refused against production's three, taken against `wide`.
    let refused = register(
        &app,
        "fast",
        "CLASSIFIER",
        "fast-wide",
        None,
        linear_head_onnx(&rows),
    )
    .await;
    assert_eq!(error_code(&refused), "SHAPE_MISMATCH", "{refused:#}");
    let head = register(
        &app,
        "fast",
        "CLASSIFIER",
        "fast-wide",
        Some("wide"),
        linear_head_onnx(&rows),
    )
    .await;
    assert!(head.get("errors").is_none(), "{head:#}");
    assert_eq!(head["data"]["registerModelVersion"]["descriptorDim"], 6);
    app.query(
        "mutation { setModelAlias(name: \"fast\", alias: \"shadow\", version: 2) { changed } }",
        json!({}),
    )
    .await;

    // Once the head serves it and the extractor runs `wide`, an image gets both answers.
    let probe = probe_until(&app, |p| p["shadow"] == true).await;
    assert_eq!(probe["modelVersion"], "fast-wide");
    assert_eq!(
        probe["predictedClass"], "cat",
        "red is a cat to the wide head"
    );

    upload_nine(&app).await;
    let data = app
        .query(
            &format!(
                "{{ shadowComparison(model: \"fast\") {{ shadow comparison {{ {PAIRED} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let c = &data["shadowComparison"]["comparison"];
    assert_eq!(data["shadowComparison"]["shadow"], "fast-wide");
    // Its extractor's descriptors were kept beside production's: it back-tests on them (the
    // nine, and the probes that went through once `wide` ran), with the same figures.
    let backtest = app
        .query(
            &format!("{{ backtest(model: \"fast\", version: 2) {{ comparison {{ {PAIRED} }} }} }}"),
            json!({}),
        )
        .await;
    let b = &backtest["backtest"]["comparison"];
    assert!(b["n"].as_i64().unwrap() >= 10, "{b:#}");
    assert_eq!(b["labeled"].as_i64(), Some(9), "{b:#}");
    assert!(
        (b["accuracyB"].as_f64().unwrap() - 5.0 / 9.0).abs() < 1e-9,
        "{b:#}"
    );
    assert_eq!(
        (b["mcnemarB"].as_i64(), b["mcnemarC"].as_i64()),
        (Some(4), Some(0))
    );
    // A head of an extractor that never ran has nothing to be scored on, and it says so.
    let never = register(
        &app,
        "extractor",
        "EXTRACTOR",
        "wide-2",
        None,
        wide_extractor_onnx(32),
    )
    .await;
    assert!(never.get("errors").is_none(), "{never:#}");
    let head = register(
        &app,
        "fast",
        "CLASSIFIER",
        "fast-wide-2",
        Some("wide-2"),
        linear_head_onnx(&rows),
    )
    .await;
    let version = head["data"]["registerModelVersion"]["version"]
        .as_i64()
        .unwrap();
    let refused = app
        .graphql(
            &format!(
                "{{ backtest(model: \"fast\", version: {version}) {{ comparison {{ n }} }} }}"
            ),
            json!({}),
        )
        .await;
    assert_eq!(error_code(&refused), "INVALID_ARGUMENT", "{refused:#}");
    // The nine and the probe that the shadow scored (unlabeled).
    assert_eq!(
        (c["n"].as_i64(), c["labeled"].as_i64()),
        (Some(10), Some(9)),
        "{c:#}"
    );
    assert_eq!(c["accuracyA"], 1.0);
    assert!(
        (c["accuracyB"].as_f64().unwrap() - 5.0 / 9.0).abs() < 1e-9,
        "{c:#}"
    );
    assert_eq!(
        (c["mcnemarB"].as_i64(), c["mcnemarC"].as_i64()),
        (Some(4), Some(0))
    );
    app.stop().await;
}

/// `vision models import DIR` registers a bundle of another descriptor size (its extractor, then
/// its head bound to it, figures as metrics), and that head, as an A/B candidate answering
/// every image, answers from its own extractor's descriptors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_bundle_of_another_size_answers_as_an_ab_candidate() {
    use vision_testkit::bundle::{linear_head_onnx, wide_extractor_onnx};

    let app = TestApp::start().await;
    let bundle = tempfile::tempdir().unwrap();
    // Red is a cat, read from the inverse colour alone: 1 - green and 1 - blue are 1 for red.
    let rows: Vec<Vec<f32>> = CIFAR10_CLASSES
        .iter()
        .map(|class| match *class {
            "cat" => vec![0.0, 0.0, 0.0, 0.0, 5.0, 5.0],
            _ => vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        })
        .collect();
    std::fs::write(
        bundle.path().join("extractor.onnx"),
        wide_extractor_onnx(32),
    )
    .unwrap();
    std::fs::write(bundle.path().join("fast.onnx"), linear_head_onnx(&rows)).unwrap();
    let manifest = json!({
        "schema": 1,
        "classes": CIFAR10_CLASSES,
        "models": [
            { "name": "extractor", "role": "extractor", "version": "wide-v1",
              "file": "extractor.onnx", "descriptor_dim": 6, "provenance": { "from": "test" } },
            { "name": "fast", "role": "classifier", "version": "fast-wide-v1", "file": "fast.onnx",
              "descriptor_dim": 6, "validation_accuracy": 0.5 },
        ]
    });
    std::fs::write(
        bundle.path().join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let vision = |args: Vec<&str>| {
        let base = app.base.clone();
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        async move {
            let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_vision"))
                .args(&args)
                .args(["--url", &base])
                .output()
                .await
                .unwrap();
            let out = String::from_utf8_lossy(&output.stdout).to_string();
            let err = String::from_utf8_lossy(&output.stderr).to_string();
            (output.status.success(), out, err)
        }
    };
    let dir = bundle.path().to_str().unwrap();
    let (ok, out, err) = vision(vec!["models", "import", dir]).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("registered extractor version 2 (wide-v1)"),
        "{out}"
    );
    assert!(
        out.contains("registered fast version 2 (fast-wide-v1), reading wide-v1"),
        "{out}"
    );
    let versions = app
        .query(
            "{ registeredModel(name: \"fast\") { versions { version metrics extractorLabel } } }",
            json!({}),
        )
        .await;
    let second = &versions["registeredModel"]["versions"][1];
    assert_eq!(
        second["metrics"]["validation_accuracy"], 0.5,
        "{versions:#}"
    );
    assert_eq!(second["extractorLabel"], "wide-v1", "{versions:#}");
    // Again: the labels are taken, and it says so.
    let (ok, _, err) = vision(vec!["models", "import", dir]).await;
    assert!(!ok && err.contains("VERSION_EXISTS"), "{err}");

    let (ok, out, err) = vision(vec!["models", "ab", "fast", "2", "--share", "1"]).await;
    assert!(ok, "{out}{err}");
    let answer = probe_until(&app, |p| {
        p["shadow"] == false && p["modelVersion"] == "fast-wide-v1"
    })
    .await;
    assert_eq!(answer["predictedClass"], "cat", "{answer:#}");
    app.stop().await;
}
