//! F7, F8, F10: what queries return once the pipeline has run.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::{TestApp, error_code};
use crate::images::{self, BLUE, GREEN, RED};

fn by_model<'a>(image: &'a Value, model: &str) -> &'a Value {
    image["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model"] == model)
        .unwrap_or_else(|| panic!("no {model} prediction in {image:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_has_three_predictions_and_a_comparison() {
    let app = TestApp::start().await;
    let red = app
        .upload_ok("red.png", images::png(RED), Some("airplane"))
        .await;
    let green = app
        .upload_ok("green.png", images::png(GREEN), Some("automobile"))
        .await;

    let image = app.wait_done(&red).await;
    assert_eq!(image["status"], "COMPLETED");
    assert!(image["completedAt"].is_string());
    // A completed image always carries the extractor's figures (the recorder completes only
    // once the descriptors are stored).
    assert_eq!(image["extractorVersion"], "extractor-test-v1");
    assert!(image["extractMs"].as_f64().unwrap() >= 0.0);
    let predictions = image["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 3);
    for p in predictions {
        let model = p["model"].as_str().unwrap();
        assert_eq!(p["imageId"], red.as_str());
        assert_eq!(p["modelVersion"], format!("{model}-test-v1"));
        assert_eq!(p["predictedClass"], "airplane");
        assert_eq!(p["correct"], true);
        let confidence = p["confidence"].as_f64().unwrap();
        assert!(confidence > 0.1 && confidence <= 1.0, "{confidence}");
        assert!(p["inferenceMs"].as_f64().unwrap() >= 0.0);
        let top_k = p["topK"].as_array().unwrap();
        assert_eq!(top_k.len(), 3);
        assert_eq!(top_k[0]["class"], "airplane");
        assert_eq!(top_k[0]["probability"].as_f64(), Some(confidence));
        let probabilities: Vec<f64> = top_k
            .iter()
            .map(|s| s["probability"].as_f64().unwrap())
            .collect();
        assert!(
            probabilities.windows(2).all(|w| w[0] >= w[1]),
            "{probabilities:?}"
        );
    }
    let comparison = &image["comparison"];
    assert_eq!(comparison["consensusClass"], "airplane");
    assert_eq!(comparison["agreement"], 1.0);
    // The head with the largest weights is the most confident.
    assert_eq!(comparison["mostConfidentModel"], "accurate");
    let fastest = comparison["fastestModel"].as_str().unwrap();
    let fastest_ms = by_model(&image, fastest)["inferenceMs"].as_f64().unwrap();
    for p in predictions {
        assert!(fastest_ms <= p["inferenceMs"].as_f64().unwrap());
    }

    // Green: `balanced` disagrees (cat), so two of three agree on automobile.
    let image = app.wait_done(&green).await;
    assert_eq!(image["comparison"]["consensusClass"], "automobile");
    let agreement = image["comparison"]["agreement"].as_f64().unwrap();
    assert!((agreement - 2.0 / 3.0).abs() < 1e-9, "{agreement}");
    assert_eq!(by_model(&image, "balanced")["predictedClass"], "cat");
    assert_eq!(by_model(&image, "balanced")["correct"], false);
    assert_eq!(by_model(&image, "fast")["correct"], true);

    // A prediction leads back to its image; an unknown id is null, a malformed one an error.
    let data = app
        .query(
            "{ recentPredictions(limit: 2) { model image { id label } } }",
            json!({}),
        )
        .await;
    let recent = data["recentPredictions"].as_array().unwrap();
    assert_eq!(recent.len(), 2);
    assert!(recent.iter().all(|p| p["image"]["id"].is_string()));
    let data = app
        .query(
            "query ($id: ID!) { image(id: $id) { id } }",
            json!({ "id": uuid::Uuid::new_v4().to_string() }),
        )
        .await;
    assert_eq!(data["image"], Value::Null);
    let response = app
        .graphql("{ image(id: \"not-an-id\") { id } }", json!({}))
        .await;
    assert_eq!(error_code(&response), "INVALID_ID");
    app.stop().await;
}

const IMAGES: &str = "query ($first: Int, $after: String, $filter: ImageFilter) {
    images(first: $first, after: $after, filter: $filter) {
        totalCount
        edges { cursor node { id source label status } }
        pageInfo { hasNextPage endCursor }
    }
}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_paginate_newest_first_and_filter() {
    let app = TestApp::start().await;
    let response = app
        .upload_batch(
            vec![
                ("1.png", images::png(RED)),
                ("2.png", images::png(GREEN)),
                ("3.png", images::png(BLUE)),
                ("4.png", images::png(BLUE)),
            ],
            Some(vec![Some("airplane"), None, Some("bird"), Some("bird")]),
        )
        .await;
    assert!(response.get("errors").is_none(), "{response:#}");
    let mut ids: Vec<String> = response["data"]["uploadImages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let cam = app
        .upload_from("cam.jpg", images::jpeg(RED), None, "webcam")
        .await;
    ids.push(
        cam["data"]["uploadImage"]["id"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    for id in &ids {
        app.wait_done(id).await;
    }

    // Pages of two, newest first, until the end.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let data = app
            .query(IMAGES, json!({ "first": 2, "after": after }))
            .await;
        let connection = &data["images"];
        assert_eq!(connection["totalCount"], 5);
        let edges = connection["edges"].as_array().unwrap();
        for edge in edges {
            seen.push(edge["node"]["id"].as_str().unwrap().to_string());
        }
        pages += 1;
        let info = &connection["pageInfo"];
        assert_eq!(info["endCursor"], edges.last().unwrap()["cursor"]);
        if info["hasNextPage"] == false {
            break;
        }
        after = info["endCursor"].clone();
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.first(), ids.last(), "newest first");
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>(),
        ids.iter().collect::<BTreeSet<_>>()
    );

    let count = |filter: Value| {
        let app = &app;
        async move {
            app.query(IMAGES, json!({ "filter": filter })).await["images"]["totalCount"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(count(json!({ "source": "webcam" })).await, 1);
    assert_eq!(count(json!({ "source": "upload" })).await, 4);
    assert_eq!(count(json!({ "label": "bird" })).await, 2);
    assert_eq!(count(json!({ "status": "COMPLETED" })).await, 5);
    assert_eq!(count(json!({ "status": "PENDING" })).await, 0);
    assert_eq!(
        count(json!({ "source": "upload", "label": "airplane" })).await,
        1
    );
    let data = app
        .query(IMAGES, json!({ "filter": { "label": "bird" } }))
        .await;
    let edges = data["images"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2);
    assert!(edges.iter().all(|e| e["node"]["label"] == "bird"));

    // `first` is capped, not refused; a made-up cursor is refused.
    let data = app.query(IMAGES, json!({ "first": 100000 })).await;
    assert_eq!(data["images"]["edges"].as_array().unwrap().len(), 5);
    let response = app
        .graphql(IMAGES, json!({ "after": "not-a-cursor" }))
        .await;
    assert_eq!(error_code(&response), "BAD_CURSOR");
    app.stop().await;
}

const PREDICTIONS: &str = "query ($imageId: ID, $model: String, $since: DateTime, $until: DateTime, $first: Int, $after: String) {
    predictions(imageId: $imageId, model: $model, since: $since, until: $until, first: $first, after: $after) {
        edges { cursor node { id imageId model createdAt } }
        pageInfo { hasNextPage endCursor }
    }
}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_filter_by_image_model_and_time() {
    let app = TestApp::start().await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let a = app.upload_ok("a.png", images::png(RED), None).await;
    let b = app.upload_ok("b.png", images::png(BLUE), None).await;
    app.wait_done(&a).await;
    app.wait_done(&b).await;
    let after = chrono::Utc::now() + chrono::Duration::seconds(1);

    let nodes = |data: &Value| -> Vec<Value> {
        data["predictions"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .collect()
    };
    let all = app.query(PREDICTIONS, json!({})).await;
    assert_eq!(nodes(&all).len(), 6);
    let of_a = app.query(PREDICTIONS, json!({ "imageId": a })).await;
    assert_eq!(nodes(&of_a).len(), 3);
    assert!(nodes(&of_a).iter().all(|p| p["imageId"] == a.as_str()));
    let fast = app.query(PREDICTIONS, json!({ "model": "fast" })).await;
    assert_eq!(nodes(&fast).len(), 2);
    assert!(nodes(&fast).iter().all(|p| p["model"] == "fast"));
    let fast_of_b = app
        .query(PREDICTIONS, json!({ "model": "fast", "imageId": b }))
        .await;
    assert_eq!(nodes(&fast_of_b).len(), 1);
    let window = app
        .query(
            PREDICTIONS,
            json!({ "since": before.to_rfc3339(), "until": after.to_rfc3339() }),
        )
        .await;
    assert_eq!(nodes(&window).len(), 6);
    let future = app
        .query(PREDICTIONS, json!({ "since": after.to_rfc3339() }))
        .await;
    assert_eq!(nodes(&future).len(), 0);
    let past = app
        .query(PREDICTIONS, json!({ "until": before.to_rfc3339() }))
        .await;
    assert_eq!(nodes(&past).len(), 0);

    // Pages.
    let first = app.query(PREDICTIONS, json!({ "first": 4 })).await;
    assert_eq!(nodes(&first).len(), 4);
    assert_eq!(first["predictions"]["pageInfo"]["hasNextPage"], true);
    let rest = app
        .query(
            PREDICTIONS,
            json!({ "first": 4, "after": first["predictions"]["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(nodes(&rest).len(), 2);
    assert_eq!(rest["predictions"]["pageInfo"]["hasNextPage"], false);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_stats_and_model_cards() {
    let app = TestApp::start().await;
    let data = app
        .query(
            "{ models { name version kind descriptorDim inputSize runtime } }",
            json!({}),
        )
        .await;
    let models = data["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["extractor", "fast", "balanced", "accurate"]);
    assert_eq!(models[0]["kind"], "EXTRACTOR");
    assert_eq!(models[0]["inputSize"], 32);
    assert_eq!(models[1]["kind"], "CLASSIFIER");
    assert_eq!(models[1]["inputSize"], Value::Null);
    assert!(
        models
            .iter()
            .all(|m| m["descriptorDim"] == 3 && m["runtime"] == "tract")
    );

    let red = app
        .upload_ok("red.png", images::png(RED), Some("airplane"))
        .await;
    let green = app
        .upload_ok("green.png", images::png(GREEN), Some("automobile"))
        .await;
    let blue = app.upload_ok("blue.png", images::png(BLUE), None).await;
    for id in [&red, &green, &blue] {
        app.wait_done(id).await;
    }
    let query = "query ($since: DateTime) { modelStats(since: $since) {
        model modelVersions count latencyP50Ms latencyP95Ms latencyP99Ms meanLatencyMs
        meanConfidence labeled correct accuracy
    } }";
    let data = app.query(query, json!({})).await;
    let stats = data["modelStats"].as_array().unwrap();
    assert_eq!(stats.len(), 3);
    for s in stats {
        let model = s["model"].as_str().unwrap();
        assert_eq!(s["modelVersions"], json!([format!("{model}-test-v1")]));
        assert_eq!(s["count"], 3);
        assert_eq!(s["labeled"], 2);
        let (p50, p95, p99) = (
            s["latencyP50Ms"].as_f64().unwrap(),
            s["latencyP95Ms"].as_f64().unwrap(),
            s["latencyP99Ms"].as_f64().unwrap(),
        );
        assert!(0.0 <= p50 && p50 <= p95 && p95 <= p99, "{s:#}");
        let confidence = s["meanConfidence"].as_f64().unwrap();
        assert!(confidence > 0.0 && confidence <= 1.0);
        let expected = if model == "balanced" { 0.5 } else { 1.0 };
        assert_eq!(s["accuracy"].as_f64(), Some(expected), "{s:#}");
    }
    let later = (chrono::Utc::now() + chrono::Duration::seconds(5)).to_rfc3339();
    let data = app.query(query, json!({ "since": later })).await;
    assert_eq!(data["modelStats"], json!([]));
    app.stop().await;
}
