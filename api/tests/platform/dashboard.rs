//! F16-F19: server-side CIFAR-10 replays and the dashboard's statistics. Every figure the
//! statistics queries give is recomputed here from the recorded predictions (read through the
//! plain `predictions` query) and from the images' labels.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestApp, error_code, prepared_dir, write_cifar10};
use crate::images::{self, BLUE, GREEN, RED};
use crate::ws::{Protocol, Subscriber};

use vision_inference::dataset::CIFAR10_CLASSES as CLASSES;

const REPLAY: &str =
    "id status split rate limit submitted completed failed correct error startedAt finishedAt";

/// The test split: the test heads say airplane for red, bird for blue, and for green
/// automobile (`fast`, `accurate`) or cat (`balanced`). Green images labelled `cat` make
/// `balanced` the only head right on them.
fn dataset_app_dir() -> tempfile::TempDir {
    let dir = prepared_dir();
    write_cifar10(
        dir.path(),
        &[
            (RED, "airplane"),
            (GREEN, "automobile"),
            (BLUE, "bird"),
            (GREEN, "cat"),
        ],
        3,
    );
    dir
}

async fn start_replay(app: &TestApp, input: Value) -> Value {
    app.query(
        &format!("mutation($input: ReplayInput) {{ startReplay(input: $input) {{ {REPLAY} }} }}"),
        json!({ "input": input }),
    )
    .await["startReplay"]
        .clone()
}

/// Follows `replayProgress(id)` to its end; returns every snapshot seen.
async fn follow_replay(app: &TestApp, id: &str) -> Vec<Value> {
    let mut ws = Subscriber::connect(&app.addr(), Protocol::TransportWs).await;
    ws.subscribe(
        "progress",
        &format!("subscription($id: ID) {{ replayProgress(id: $id) {{ {REPLAY} }} }}"),
        json!({ "id": id }),
    )
    .await;
    let mut seen = Vec::new();
    loop {
        let (_, payload) = ws.next().await;
        assert!(payload.get("errors").is_none(), "{payload:#}");
        let snapshot = payload["data"]["replayProgress"].clone();
        let running = snapshot["status"] == "RUNNING";
        seen.push(snapshot);
        if !running {
            break;
        }
    }
    ws.wait_complete("progress").await;
    seen
}

/// Every prediction, through the paginated `predictions` query, with its image's label.
async fn all_predictions(app: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .query(
                "query($after: String) { predictions(first: 100, after: $after) { \
                 edges { node { model predictedClass inferenceMs correct image { label } } } \
                 pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await;
        let page = &data["predictions"];
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

#[tokio::test]
async fn replay_fills_every_statistic_consistently() {
    let app = TestApp::start_in(dataset_app_dir()).await;
    let started = start_replay(&app, json!({ "rate": 200, "limit": 12, "seed": 3 })).await;
    assert_eq!(started["status"], "RUNNING");
    assert_eq!(started["split"], "TEST");
    let id = started["id"].as_str().unwrap().to_string();

    let progress = follow_replay(&app, &id).await;
    let last = progress.last().unwrap();
    assert_eq!(last["status"], "FINISHED", "{last:#}");
    assert_eq!(last["submitted"], 12);
    assert_eq!(last["completed"], 12);
    assert_eq!(last["failed"], 0);
    // `accurate` is right on everything but the green cats.
    assert_eq!(last["correct"], 9);
    assert!(last["finishedAt"].is_string());
    // Progress never goes backwards.
    for pair in progress.windows(2) {
        assert!(pair[0]["completed"].as_i64() <= pair[1]["completed"].as_i64());
    }
    let listed = app
        .query(&format!("{{ replays {{ {REPLAY} }} }}"), json!({}))
        .await;
    assert_eq!(listed["replays"][0]["id"], id.as_str());
    let one = app
        .query(
            &format!("query($id: ID!) {{ replay(id: $id) {{ {REPLAY} }} }}"),
            json!({ "id": id }),
        )
        .await;
    assert_eq!(one["replay"]["status"], "FINISHED");

    // The replayed images carry their source and label.
    let images = app
        .query("{ images(first: 50, filter: { source: \"cifar10\" }) { totalCount edges { node { label status } } } }", json!({}))
        .await;
    assert_eq!(images["images"]["totalCount"], 12);

    let predictions = all_predictions(&app).await;
    assert_eq!(predictions.len(), 36);

    for model in ["fast", "balanced", "accurate"] {
        let mine: Vec<&Value> = predictions.iter().filter(|p| p["model"] == model).collect();
        // Confusion matrix, recomputed.
        let mut expected = vec![vec![0i64; 10]; 10];
        for p in &mine {
            let row = CLASSES
                .iter()
                .position(|c| *c == p["image"]["label"])
                .unwrap();
            let col = CLASSES
                .iter()
                .position(|c| *c == p["predictedClass"])
                .unwrap();
            expected[row][col] += 1;
        }
        let data = app
            .query(
                "query($m: String!) { confusionMatrix(model: $m) { model classes counts total } \
                 classMetrics(model: $m) { class precision recall f1 support predicted } \
                 classDistribution(model: $m) { class count } }",
                json!({ "m": model }),
            )
            .await;
        let matrix = &data["confusionMatrix"];
        assert_eq!(matrix["classes"], json!(CLASSES));
        assert_eq!(matrix["counts"], json!(expected), "{model}");
        assert_eq!(matrix["total"], 12);

        // Per-class metrics, recomputed from the same predictions.
        for (i, metric) in data["classMetrics"].as_array().unwrap().iter().enumerate() {
            let class = CLASSES[i];
            assert_eq!(metric["class"], class);
            let hits = expected[i][i] as f64;
            let support: i64 = expected[i].iter().sum();
            let called: i64 = expected.iter().map(|row| row[i]).sum();
            assert_eq!(metric["support"], support);
            assert_eq!(metric["predicted"], called);
            let precision = (called > 0).then(|| hits / called as f64);
            let recall = (support > 0).then(|| hits / support as f64);
            assert_eq!(metric["precision"].as_f64(), precision, "{model} {class}");
            assert_eq!(metric["recall"].as_f64(), recall, "{model} {class}");
            if let (Some(p), Some(r)) = (precision, recall) {
                let f1 = if p + r > 0.0 {
                    2.0 * p * r / (p + r)
                } else {
                    0.0
                };
                assert!((metric["f1"].as_f64().unwrap() - f1).abs() < 1e-12);
            }
        }

        // Class distribution, recomputed.
        let mut counts: HashMap<String, i64> = HashMap::new();
        for p in &mine {
            *counts
                .entry(p["predictedClass"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        let served: HashMap<String, i64> = data["classDistribution"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["class"].as_str().unwrap().to_string(),
                    c["count"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(served, counts, "{model}");
    }
    // The colour rules themselves: balanced calls green cat, the others automobile.
    let balanced = app
        .query(
            "{ confusionMatrix(model: \"balanced\") { counts } }",
            json!({}),
        )
        .await;
    assert_eq!(balanced["confusionMatrix"]["counts"][3][3], 3);
    assert_eq!(balanced["confusionMatrix"]["counts"][1][3], 3);

    // Time series: one wide bucket holds everything; counts and accuracy recomputed.
    let series = app
        .query(
            "{ timeSeries(bucketSeconds: 86400) { model start count labeled correct accuracy \
             meanLatencyMs latencyP50Ms latencyP95Ms } }",
            json!({}),
        )
        .await;
    let buckets = series["timeSeries"].as_array().unwrap();
    for model in ["fast", "balanced", "accurate"] {
        let mine: Vec<&Value> = predictions.iter().filter(|p| p["model"] == model).collect();
        let in_buckets: Vec<&Value> = buckets.iter().filter(|b| b["model"] == model).collect();
        let total: i64 = in_buckets
            .iter()
            .map(|b| b["count"].as_i64().unwrap())
            .sum();
        assert_eq!(total, 12, "{model}");
        let correct: i64 = in_buckets
            .iter()
            .map(|b| b["correct"].as_i64().unwrap())
            .sum();
        let expected = mine.iter().filter(|p| p["correct"] == true).count() as i64;
        assert_eq!(correct, expected, "{model}");
        let mut latencies: Vec<f64> = mine
            .iter()
            .map(|p| p["inferenceMs"].as_f64().unwrap())
            .collect();
        latencies.sort_by(f64::total_cmp);
        if in_buckets.len() == 1 {
            // Nearest rank: p50 of 12 is the 6th value, p95 the 12th; sketches hold them
            // within 1%.
            for (field, exact) in [
                ("latencyP50Ms", latencies[5]),
                ("latencyP95Ms", latencies[11]),
            ] {
                let got = in_buckets[0][field].as_f64().unwrap();
                assert!(
                    (got - exact).abs() <= exact * 0.01 + 1e-12,
                    "{field}: {got} vs {exact}"
                );
            }
        }
    }

    let throughput = app
        .query("{ throughput(windowSeconds: 3600) { windowSeconds imagesCompleted imagesPerSecond predictionsPerSecond } }", json!({}))
        .await;
    let t = &throughput["throughput"];
    assert_eq!(t["imagesCompleted"], 12);
    assert!((t["predictionsPerSecond"].as_f64().unwrap() - 36.0 / 3600.0).abs() < 1e-12);
    app.stop().await;
}

#[tokio::test]
async fn replay_refusals_and_stop() {
    // No dataset at all.
    let app = TestApp::start().await;
    let response = app
        .graphql("mutation { startReplay { id } }", json!({}))
        .await;
    assert_eq!(error_code(&response), "DATASET_UNAVAILABLE");
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("test.tar.gz"),
        "{response:#}"
    );
    app.stop().await;

    let app = TestApp::start_in(dataset_app_dir()).await;
    for input in [
        json!({ "rate": 0 }),
        json!({ "rate": 10000 }),
        json!({ "limit": 0 }),
        json!({ "limit": 10001 }),
    ] {
        let response = app
            .graphql(
                "mutation($i: ReplayInput) { startReplay(input: $i) { id } }",
                json!({ "i": input }),
            )
            .await;
        assert_eq!(error_code(&response), "INVALID_ARGUMENT", "{input}");
    }
    // More than the split holds: the replay starts, then fails with the reason.
    let too_many = start_replay(&app, json!({ "limit": 500, "rate": 100 })).await;
    let progress = follow_replay(&app, too_many["id"].as_str().unwrap()).await;
    let last = progress.last().unwrap();
    assert_eq!(last["status"], "FAILED");
    assert!(
        last["error"].as_str().unwrap().contains("12 images"),
        "{last:#}"
    );

    // A slow replay, stopped.
    let slow = start_replay(&app, json!({ "limit": 12, "rate": 0.5 })).await;
    let id = slow["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = app
        .query(
            &format!("mutation($id: ID!) {{ stopReplay(id: $id) {{ {REPLAY} }} }}"),
            json!({ "id": id }),
        )
        .await;
    let stopped = &stopped["stopReplay"];
    assert_eq!(stopped["status"], "STOPPED");
    assert!(stopped["submitted"].as_i64().unwrap() < 12);
    assert!(stopped["finishedAt"].is_string());
    // Stopping again changes nothing; an unknown id is NOT_FOUND.
    let again = app
        .query(
            &format!("mutation($id: ID!) {{ stopReplay(id: $id) {{ {REPLAY} }} }}"),
            json!({ "id": id }),
        )
        .await;
    assert_eq!(again["stopReplay"]["finishedAt"], stopped["finishedAt"]);
    let unknown = app
        .graphql(
            "mutation($id: ID!) { stopReplay(id: $id) { id } }",
            json!({ "id": "00000000-0000-0000-0000-000000000000" }),
        )
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
    // Statistics arguments out of range are typed errors.
    for query in [
        "{ timeSeries(bucketSeconds: 0) { model } }",
        "{ timeSeries(bucketSeconds: 100000) { model } }",
        // Not made of whole rollup buckets (5 s, 1 min, 1 h, 1 day), or of too many.
        "{ timeSeries(bucketSeconds: 7) { model } }",
        "{ timeSeries(bucketSeconds: 305) { model } }",
        "{ throughput(windowSeconds: 0) { imagesPerSecond } }",
    ] {
        assert_eq!(
            error_code(&app.graphql(query, json!({})).await),
            "INVALID_ARGUMENT",
            "{query}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn stats_updated_follows_new_predictions() {
    let app = TestApp::start().await;
    let mut ws = Subscriber::connect(&app.addr(), Protocol::TransportWs).await;
    ws.subscribe(
        "stats",
        "subscription { statsUpdated(intervalMs: 250) { model count } }",
        json!({}),
    )
    .await;
    // The current figures come first: nothing yet.
    let (_, first) = ws.next().await;
    assert_eq!(first["data"]["statsUpdated"], json!([]));
    let id = app
        .upload_ok("red.png", images::png(RED), Some("airplane"))
        .await;
    app.wait_done(&id).await;
    // Then updates until every head's prediction is counted.
    loop {
        let (_, payload) = ws.next().await;
        let stats = payload["data"]["statsUpdated"].as_array().unwrap().clone();
        if stats.len() == 3 && stats.iter().all(|s| s["count"] == 1) {
            break;
        }
    }
    // Quiet pipeline, no update.
    assert!(ws.next_within(Duration::from_millis(800)).await.is_none());
    app.stop().await;
}
