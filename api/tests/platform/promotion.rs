//! Promotion without downtime (F21): a head version promoted in the middle of a replay is
//! served at once, with no image failed or lost, every prediction made by the old or the new
//! version, and the replica never going back to the old once it serves the new; a shadow
//! version scores beside production without ever being the answer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vision_testkit::bundle::{CIFAR10_CLASSES, HeadSpec, head_onnx};

use crate::common::{TestApp, prepared_dir, write_cifar10};
use crate::images::{BLUE, GREEN, RED};
use crate::ws::{Protocol, Subscriber};

/// `fast` with other weights: red is a cat (the shipped test head says airplane).
fn cats() -> Vec<u8> {
    head_onnx(
        &HeadSpec::colours(
            "fast",
            "x",
            &CIFAR10_CLASSES,
            ["cat", "automobile", "bird"],
            5.0,
        )
        .weights,
    )
}

async fn register(app: &TestApp, label: &str) {
    let response = app
        .multipart(
            "mutation($file: Upload!, $label: String) { registerModelVersion(file: $file, \
             name: \"fast\", kind: CLASSIFIER, label: $label) { version } }",
            json!({ "file": null, "label": label }),
            vec![("variables.file".into(), "fast.onnx".into(), cats())],
        )
        .await;
    assert!(response.get("errors").is_none(), "{response:#}");
}

async fn replay(app: &TestApp, id: &str) -> Value {
    app.query(
        "query($id: ID!) { replay(id: $id) { status submitted completed failed error } }",
        json!({ "id": id }),
    )
    .await["replay"]
        .clone()
}

/// Every prediction of `model`, through the paginated query.
async fn predictions_of(app: &TestApp, model: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app
            .query(
                "query($model: String, $after: String) { predictions(model: $model, first: 100, \
                 after: $after) { edges { node { imageId modelVersion shadow } } \
                 pageInfo { hasNextPage endCursor } } }",
                json!({ "model": model, "after": after }),
            )
            .await["predictions"]
            .clone();
        out.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone()),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            return out;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_during_a_replay_loses_nothing_and_never_goes_back() {
    const IMAGES: usize = 2_000;
    let dir = prepared_dir();
    write_cifar10(
        dir.path(),
        &[
            (RED, "airplane"),
            (GREEN, "automobile"),
            (BLUE, "bird"),
            (RED, "cat"),
        ],
        IMAGES / 4,
    );
    let mut config = crate::common::config_for(dir.path());
    // Only the event makes the swap: a periodic check would hide a lost one.
    config.model_check_ms = 3_600_000;
    let app = TestApp::start_with(dir, config).await;
    register(&app, "fast-cats").await;

    // The rollout, live, from before the promotion.
    let mut rollout = Subscriber::connect(&app.addr(), Protocol::TransportWs).await;
    rollout
        .subscribe(
            "rollout",
            "subscription { modelRollout(model: \"fast\") { replica stage production } }",
            json!({}),
        )
        .await;

    let mut changes = Subscriber::connect(&app.addr(), Protocol::TransportWs).await;
    changes
        .subscribe(
            "changes",
            "subscription { modelChanged(model: \"fast\") { model kind alias version previousVersion } }",
            json!({}),
        )
        .await;

    let id = app
        .query(
            "mutation { startReplay(input: { rate: 500, limit: 2000, seed: 5 }) { id } }",
            json!({}),
        )
        .await["startReplay"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let progress = replay(&app, &id).await;
        if progress["completed"].as_i64().unwrap() >= (IMAGES / 3) as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "replay too slow: {progress:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let promoted = app
        .query(
            "mutation { promoteModelVersion(name: \"fast\", version: 2) { changed } }",
            json!({}),
        )
        .await;
    assert_eq!(promoted["promoteModelVersion"]["changed"], true);
    let (_, change) = tokio::time::timeout(Duration::from_secs(10), changes.next())
        .await
        .expect("the promotion is told");
    assert_eq!(
        change["data"]["modelChanged"],
        json!({ "model": "fast", "kind": "alias", "alias": "production", "version": 2,
                "previousVersion": 1 })
    );
    let done = loop {
        let progress = replay(&app, &id).await;
        if progress["status"] != "RUNNING" {
            break progress;
        }
        assert!(
            Instant::now() < deadline,
            "replay never ended: {progress:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["status"], "FINISHED", "{done:#}");
    assert_eq!(
        (done["completed"].as_i64(), done["failed"].as_i64()),
        (Some(IMAGES as i64), Some(0))
    );

    // Every image has one answer from `fast`, by the old or the new version; both served.
    let fast = predictions_of(&app, "fast").await;
    let mut per_image: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_version: BTreeMap<String, usize> = BTreeMap::new();
    for p in &fast {
        assert_eq!(p["shadow"], false);
        *per_image
            .entry(p["imageId"].as_str().unwrap().into())
            .or_default() += 1;
        *per_version
            .entry(p["modelVersion"].as_str().unwrap().into())
            .or_default() += 1;
    }
    assert_eq!(per_image.len(), IMAGES);
    assert!(
        per_image.values().all(|n| *n == 1),
        "an image answered twice"
    );
    assert_eq!(
        per_version.keys().collect::<Vec<_>>(),
        ["fast-cats", "fast-test-v1"],
        "{per_version:?}"
    );
    assert!(per_version["fast-cats"] > 0 && per_version["fast-test-v1"] > 0);

    // The replica said what it served: the old, then the new, never the old again.
    let mut served = Vec::new();
    while served.last().map(String::as_str) != Some("fast-cats") {
        let (_, payload) = tokio::time::timeout(Duration::from_secs(10), rollout.next())
            .await
            .expect("the replica says what it serves");
        served.push(
            payload["data"]["modelRollout"]["production"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let first_new = served.iter().position(|l| l == "fast-cats").unwrap();
    assert!(
        served[..first_new].iter().all(|l| l == "fast-test-v1"),
        "{served:?}"
    );
    let now = app
        .query(
            "{ modelRollout(model: \"fast\") { production stage } }",
            json!({}),
        )
        .await;
    assert_eq!(
        now["modelRollout"],
        json!([{ "production": "fast-cats", "stage": "classifier-fast" }])
    );
    // After the replay, new images are the new version's only.
    let id = app
        .upload_ok("red.png", crate::images::png(RED), Some("cat"))
        .await;
    let image = app.wait_done(&id).await;
    let fast: Vec<&Value> = image["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["model"] == "fast")
        .collect();
    assert_eq!(fast.len(), 1);
    assert_eq!(fast[0]["modelVersion"], "fast-cats");
    assert_eq!(fast[0]["predictedClass"], "cat");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_scores_beside_production_and_is_never_the_answer() {
    let app = TestApp::start().await;
    register(&app, "fast-cats").await;
    let set = app
        .query(
            "mutation { setModelAlias(name: \"fast\", alias: \"shadow\", version: 2) { changed } }",
            json!({}),
        )
        .await;
    assert_eq!(set["setModelAlias"]["changed"], true);
    // The swap follows the event; wait until the head serves its shadow.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let models = app
            .query("{ models { name version shadow } }", json!({}))
            .await;
        let rollout = app
            .query("{ modelRollout(model: \"fast\") { shadow } }", json!({}))
            .await;
        if rollout["modelRollout"][0]["shadow"] == "fast-cats" {
            assert!(
                models["models"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["version"] == "fast-cats" && m["shadow"] == true)
            );
            break;
        }
        assert!(Instant::now() < deadline, "the shadow was never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = app
        .upload_ok("red.png", crate::images::png(RED), Some("airplane"))
        .await;
    let image = app.wait_done(&id).await;
    assert_eq!(image["status"], "COMPLETED");
    let predictions = app
        .query(
            "query($id: ID!) { image(id: $id) { predictions { model modelVersion \
             predictedClass shadow } comparison { agreement consensusClass } } }",
            json!({ "id": id }),
        )
        .await["image"]
        .clone();
    let fast: Vec<(String, String, bool)> = predictions["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["model"] == "fast")
        .map(|p| {
            (
                p["modelVersion"].as_str().unwrap().to_string(),
                p["predictedClass"].as_str().unwrap().to_string(),
                p["shadow"].as_bool().unwrap(),
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        fast,
        [
            ("fast-cats".to_string(), "cat".to_string(), true),
            ("fast-test-v1".to_string(), "airplane".to_string(), false),
        ]
    );
    // Every head's answer says airplane: the shadow's cat is not counted.
    assert_eq!(predictions["comparison"]["consensusClass"], "airplane");
    assert_eq!(predictions["comparison"]["agreement"], 1.0);
    app.stop().await;
}
