//! Models as data: a bundle with other class names, another number of classes, two or four
//! heads, or two versions of one head, serves through the whole platform with no code change
//! (labels, predictions, completion, comparisons, statistics, replays, the CLI).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use vision_testkit::bundle::{self as testkit, BundleSpec, HeadSpec};

use crate::common::{TestApp, error_code, write_cifar10};
use crate::images::{self, BLUE, GREEN, RED};

/// A data folder with the bundle `spec` in `models/`.
fn bundle_dir(spec: &BundleSpec) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    testkit::write(&dir.path().join("models"), spec).expect("bundle");
    dir
}

fn sorted(values: &Value, field: &str) -> Vec<String> {
    let mut out: Vec<String> = values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[field].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

/// Polls `replay(id)` until it ends.
async fn replay_end(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let replay = app
            .query(
                "query($id: ID!) { replay(id: $id) { status submitted completed failed correct \
                 error scores { model modelVersion answered correct accuracy } } }",
                json!({ "id": id }),
            )
            .await["replay"]
            .clone();
        if replay["status"] != "RUNNING" {
            return replay;
        }
        assert!(Instant::now() < deadline, "replay never ended: {replay:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_replay(app: &TestApp, limit: u32) -> String {
    app.query(
        "mutation($input: ReplayInput) { startReplay(input: $input) { id } }",
        json!({ "input": { "rate": 200, "limit": limit, "seed": 1 } }),
    )
    .await["startReplay"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_of_three_colours_and_two_heads_serves_with_no_code_change() {
    let dir = bundle_dir(&testkit::colours_bundle(32));
    // A CIFAR-10 test split, none of whose classes the colour models know.
    write_cifar10(dir.path(), &[(RED, "airplane")], 2);
    let app = TestApp::start_in(dir).await;

    let bundle = app
        .query("{ classes models { name version kind } }", json!({}))
        .await;
    assert_eq!(bundle["classes"], json!(["red", "green", "blue"]));
    let heads: Vec<&str> = bundle["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "CLASSIFIER")
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(heads, ["lean", "keen"]);

    // Labels are the bundle's classes (any case), and nothing else.
    let refused = app
        .upload("red.png", images::png(RED), Some("airplane"))
        .await;
    assert_eq!(error_code(&refused), "INVALID_LABEL");
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("red, green, blue"), "{message}");
    app.assert_nothing_stored().await;

    let mut ids = Vec::new();
    for (colour, label) in [
        (RED, "Red"),
        (GREEN, "green"),
        (BLUE, "blue"),
        (GREEN, "red"),
    ] {
        ids.push(
            app.upload_ok("c.png", images::png(colour), Some(label))
                .await,
        );
    }
    for (id, (expected, correct)) in ids.iter().zip([
        ("red", true),
        ("green", true),
        ("blue", true),
        ("green", false),
    ]) {
        let image = app.wait_done(id).await;
        assert_eq!(image["status"], "COMPLETED", "{image:#}");
        let predictions = &image["predictions"];
        assert_eq!(sorted(predictions, "model"), ["keen", "lean"]);
        for p in predictions.as_array().unwrap() {
            assert_eq!(p["predictedClass"], expected, "{p:#}");
            assert_eq!(p["correct"], correct);
            // Top-k over three classes: all three, best first.
            assert_eq!(p["topK"].as_array().unwrap().len(), 3);
        }
        let comparison = &image["comparison"];
        assert_eq!(comparison["consensusClass"], expected);
        assert_eq!(comparison["agreement"], 1.0);
        // `keen` is the surer head.
        assert_eq!(comparison["mostConfidentModel"], "keen");
    }
    let label = app
        .query(
            "query($id: ID!) { image(id: $id) { label } }",
            json!({ "id": ids[0] }),
        )
        .await;
    assert_eq!(
        label["image"]["label"], "red",
        "the bundle's spelling is kept"
    );

    // Statistics over the bundle's classes.
    let stats = app
        .query(
            "{ confusionMatrix(model: \"keen\") { classes counts total } \
               classMetrics(model: \"lean\") { class support predicted } \
               modelStats { model count labeled correct } }",
            json!({}),
        )
        .await;
    let matrix = &stats["confusionMatrix"];
    assert_eq!(matrix["classes"], json!(["red", "green", "blue"]));
    assert_eq!(
        matrix["counts"],
        json!([[1, 1, 0], [0, 1, 0], [0, 0, 1]]),
        "rows are labels, columns predictions"
    );
    assert_eq!(matrix["total"], 4);
    let metrics = stats["classMetrics"].as_array().unwrap();
    assert_eq!(
        sorted(&stats["classMetrics"], "class"),
        ["blue", "green", "red"]
    );
    assert_eq!(metrics[0]["support"], 2);
    assert_eq!(metrics[1]["predicted"], 2);
    assert_eq!(sorted(&stats["modelStats"], "model"), ["keen", "lean"]);
    for m in stats["modelStats"].as_array().unwrap() {
        assert_eq!(
            (m["count"].as_i64(), m["correct"].as_i64()),
            (Some(4), Some(3))
        );
    }

    // A replay of a dataset whose classes the models do not know ends with the reason.
    let id = start_replay(&app, 2).await;
    let replay = replay_end(&app, &id).await;
    assert_eq!(replay["status"], "FAILED", "{replay:#}");
    let error = replay["error"].as_str().unwrap();
    assert!(
        error.contains("share none") && error.contains("red, green, blue"),
        "{error}"
    );
    assert_eq!(replay["submitted"], 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_heads_complete_an_image_once_all_four_answered() {
    let app = TestApp::start_in(bundle_dir(&testkit::colours_four_heads_bundle(32))).await;
    let id = app
        .upload_ok("blue.png", images::png(BLUE), Some("blue"))
        .await;
    let image = app.wait_done(&id).await;
    assert_eq!(image["status"], "COMPLETED");
    assert_eq!(
        sorted(&image["predictions"], "model"),
        ["keen", "lean", "mild", "sure"]
    );
    assert_eq!(image["comparison"]["mostConfidentModel"], "sure");
    assert_eq!(image["comparison"]["agreement"], 1.0);
    let stats = app.query("{ modelStats { model count } }", json!({})).await;
    assert_eq!(stats["modelStats"].as_array().unwrap().len(), 4);
    app.stop().await;
}

/// The classes of a CIFAR-10 subset, in another order than CIFAR-10's: `airplane` is index 2
/// here, 0 there.
const SUBSET: [&str; 3] = ["ship", "cat", "airplane"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_sends_only_the_classes_the_models_know_and_scores_every_head() {
    let spec = BundleSpec::new(
        &SUBSET,
        32,
        vec![
            HeadSpec::colours("one", "one-v1", &SUBSET, ["airplane", "cat", "ship"], 5.0),
            HeadSpec::colours("two", "two-v1", &SUBSET, ["airplane", "ship", "ship"], 5.0),
        ],
    );
    let dir = bundle_dir(&spec);
    // `bird` is not one of the models' classes: its images are left out.
    write_cifar10(
        dir.path(),
        &[
            (RED, "airplane"),
            (GREEN, "cat"),
            (BLUE, "ship"),
            (BLUE, "bird"),
        ],
        3,
    );
    let app = TestApp::start_in(dir).await;

    let too_many = start_replay(&app, 10).await;
    let refused = replay_end(&app, &too_many).await;
    assert_eq!(refused["status"], "FAILED");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("9 images of the models' classes"),
        "{refused:#}"
    );

    let id = start_replay(&app, 9).await;
    let replay = replay_end(&app, &id).await;
    assert_eq!(replay["status"], "FINISHED", "{replay:#}");
    assert_eq!(
        (replay["submitted"].as_i64(), replay["completed"].as_i64()),
        (Some(9), Some(9))
    );
    // `two` calls the green cats ships: the consensus ties there, so 6 of 9 are right.
    assert_eq!(replay["correct"], 6);
    let scores: Vec<(String, i64, i64)> = replay["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                format!(
                    "{} {}",
                    s["model"].as_str().unwrap(),
                    s["modelVersion"].as_str().unwrap()
                ),
                s["answered"].as_i64().unwrap(),
                s["correct"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        scores,
        [
            ("one one-v1".to_string(), 9, 9),
            ("two two-v1".to_string(), 9, 6)
        ]
    );
    let labels = app
        .query("{ classDistribution { class count } }", json!({}))
        .await;
    assert_eq!(
        sorted(&labels["classDistribution"], "class"),
        ["airplane", "cat", "ship"]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_versions_of_one_head_answer_the_same_image_side_by_side() {
    let mut spec = testkit::two_versions_bundle(32);
    let classes: Vec<&str> = spec.classes.iter().map(String::as_str).collect();
    spec.heads.push(HeadSpec::colours(
        "accurate",
        "accurate-test-v1",
        &classes,
        ["airplane", "automobile", "bird"],
        9.0,
    ));
    let app = TestApp::start_in(bundle_dir(&spec)).await;

    // The bundle's first version of `fast` answers; its second scores beside it as a shadow.
    let models = app
        .query("{ models { name version kind shadow } }", json!({}))
        .await;
    let fast: Vec<(String, bool)> = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["name"] == "fast")
        .map(|m| {
            (
                m["version"].as_str().unwrap().to_string(),
                m["shadow"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fast,
        [
            ("fast-test-v1".to_string(), false),
            ("fast-test-v2".to_string(), true)
        ]
    );

    let id = app
        .upload_ok("green.png", images::png(GREEN), Some("automobile"))
        .await;
    let image = app.wait_done(&id).await;
    assert_eq!(image["status"], "COMPLETED");
    let predictions = app
        .query(
            "query($id: ID!) { image(id: $id) { predictions { model modelVersion \
             predictedClass correct shadow } } }",
            json!({ "id": id }),
        )
        .await["image"]["predictions"]
        .clone();
    let answers: Vec<(String, String, String, bool, bool)> = predictions
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["model"].as_str().unwrap().to_string(),
                p["modelVersion"].as_str().unwrap().to_string(),
                p["predictedClass"].as_str().unwrap().to_string(),
                p["correct"].as_bool().unwrap(),
                p["shadow"].as_bool().unwrap(),
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        answers,
        [
            (
                "accurate".into(),
                "accurate-test-v1".into(),
                "automobile".into(),
                true,
                false
            ),
            (
                "fast".into(),
                "fast-test-v1".into(),
                "cat".into(),
                false,
                false
            ),
            (
                "fast".into(),
                "fast-test-v2".into(),
                "automobile".into(),
                true,
                true
            ),
        ]
    );
    // The answers are production's: `fast` v1 says cat, `accurate` automobile, a tie.
    let comparison = app
        .query(
            "query($id: ID!) { image(id: $id) { comparison { fastestModel fastestModelVersion \
             mostConfidentModel mostConfidentModelVersion consensusClass agreement } } }",
            json!({ "id": id }),
        )
        .await["image"]["comparison"]
        .clone();
    assert_eq!(comparison["consensusClass"], Value::Null);
    assert_eq!(comparison["agreement"], 0.5);
    assert_eq!(comparison["mostConfidentModel"], "accurate");
    assert_ne!(
        comparison["fastestModelVersion"], "fast-test-v2",
        "{comparison:#}"
    );

    // The head's statistics are its answers: the shadow's are compared, not counted.
    let stats = app
        .query(
            "{ modelStats { model modelVersions count correct } }",
            json!({}),
        )
        .await;
    let fast = stats["modelStats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "fast")
        .unwrap()
        .clone();
    assert_eq!(fast["modelVersions"], json!(["fast-test-v1"]));
    assert_eq!(
        (fast["count"].as_i64(), fast["correct"].as_i64()),
        (Some(1), Some(0))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_the_bundle_s_heads() {
    let app = TestApp::start_in(bundle_dir(&testkit::colours_bundle(32))).await;
    let files = tempfile::tempdir().unwrap();
    let green = files.path().join("green.png");
    std::fs::write(&green, images::png(GREEN)).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_vision"))
        .args([
            "upload",
            green.to_str().unwrap(),
            "--label",
            "green",
            "--url",
            &app.base,
        ])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for head in ["lean", "keen"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(head) && l.contains("green")),
            "{head}: {stdout}"
        );
    }
    app.stop().await;
}
