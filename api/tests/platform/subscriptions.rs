//! F11: live subscriptions over WebSocket, both protocols, on `/graphql`.

use std::collections::BTreeSet;

use serde_json::json;

use crate::common::TestApp;
use crate::images::{self, RED};
use crate::ws::{Protocol, Subscriber};

const PREDICTION_ADDED: &str = "subscription ($imageId: ID, $model: String) {
    predictionAdded(imageId: $imageId, model: $model) {
        imageId model modelVersion predictedClass confidence inferenceMs correct
        topK { class probability }
    }
}";

const IMAGE_COMPLETED: &str = "subscription ($imageId: ID) {
    imageCompleted(imageId: $imageId) {
        id status completedAt
        predictions { model }
        comparison { consensusClass agreement fastestModel mostConfidentModel }
    }
}";

async fn predictions_then_completion(protocol: Protocol) {
    let app = TestApp::start().await;
    let mut subscriber = Subscriber::connect(&app.addr(), protocol).await;
    subscriber
        .subscribe("predictions", PREDICTION_ADDED, json!({}))
        .await;
    subscriber
        .subscribe("completed", IMAGE_COMPLETED, json!({}))
        .await;
    // The subscriptions start asynchronously: a request through the same server orders them
    // before the upload in practice, and the pipeline takes longer than that anyway.
    app.query("{ models { name } }", json!({})).await;
    let id = app
        .upload_ok("red.png", images::png(RED), Some("airplane"))
        .await;

    let mut models = BTreeSet::new();
    let mut completed = None;
    while completed.is_none() || models.len() < 3 {
        let (sub, payload) = subscriber.next().await;
        assert!(payload.get("errors").is_none(), "{payload:#}");
        match sub.as_str() {
            "predictions" => {
                let p = &payload["data"]["predictionAdded"];
                assert_eq!(p["imageId"], id.as_str());
                assert_eq!(p["predictedClass"], "airplane");
                assert_eq!(p["correct"], true);
                assert_eq!(p["topK"].as_array().unwrap().len(), 3);
                assert!(p["modelVersion"].as_str().unwrap().ends_with("-test-v1"));
                assert!(
                    completed.is_none(),
                    "imageCompleted came before every prediction"
                );
                assert!(models.insert(p["model"].as_str().unwrap().to_string()));
            }
            "completed" => {
                let image = payload["data"]["imageCompleted"].clone();
                assert_eq!(image["id"], id.as_str());
                assert_eq!(image["status"], "COMPLETED");
                assert_eq!(image["predictions"].as_array().unwrap().len(), 3);
                assert_eq!(image["comparison"]["consensusClass"], "airplane");
                assert_eq!(image["comparison"]["agreement"], 1.0);
                completed = Some(image);
            }
            other => panic!("unexpected subscription {other}"),
        }
    }
    assert_eq!(
        models,
        BTreeSet::from(["accurate".into(), "balanced".into(), "fast".into()])
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_transport_ws_gets_predictions_then_completion() {
    predictions_then_completion(Protocol::TransportWs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_graphql_ws_gets_predictions_then_completion() {
    predictions_then_completion(Protocol::LegacyWs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_subscriptions_replay_what_is_already_recorded() {
    let app = TestApp::start().await;
    let id = app.upload_ok("red.png", images::png(RED), None).await;
    app.wait_done(&id).await;

    // Subscribing after the fact still delivers: what the database holds is replayed.
    let mut subscriber = Subscriber::connect(&app.addr(), Protocol::TransportWs).await;
    subscriber
        .subscribe("done", IMAGE_COMPLETED, json!({ "imageId": id }))
        .await;
    let (sub, payload) = subscriber.next().await;
    assert_eq!(sub, "done");
    assert_eq!(payload["data"]["imageCompleted"]["id"], id.as_str());
    // One image completes once: the subscription then ends.
    let end = subscriber.next_message().await;
    assert_eq!(end["type"], "complete", "{end}");
    assert_eq!(end["id"], "done");

    subscriber
        .subscribe(
            "fast",
            PREDICTION_ADDED,
            json!({ "imageId": id, "model": "fast" }),
        )
        .await;
    let (_, payload) = subscriber.next().await;
    let p = &payload["data"]["predictionAdded"];
    assert_eq!(p["model"], "fast");
    assert_eq!(
        p["correct"],
        serde_json::Value::Null,
        "no label, no verdict"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_to_an_unknown_image_is_refused() {
    let app = TestApp::start().await;
    let mut subscriber = Subscriber::connect(&app.addr(), Protocol::TransportWs).await;
    subscriber
        .subscribe(
            "x",
            IMAGE_COMPLETED,
            json!({ "imageId": uuid::Uuid::new_v4().to_string() }),
        )
        .await;
    let (_, payload) = subscriber.next().await;
    assert_eq!(
        crate::common::error_code(&payload),
        "NOT_FOUND",
        "{payload:#}"
    );
    let end = subscriber.next_message().await;
    assert_eq!(end["type"], "complete", "{end}");
    app.stop().await;
}
