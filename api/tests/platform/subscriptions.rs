//! F11: live subscriptions over WebSocket, both protocols, on `/graphql`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use crate::common::TestApp;
use crate::images::{self, BLUE, RED};
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

/// Waits until both unfiltered subscriptions deliver live events. A subscription starts
/// asynchronously after its `subscribe` message (the protocols have no acknowledgement), so
/// probe images are uploaded until one is seen on each.
async fn wait_until_live(app: &TestApp, subscriber: &mut Subscriber) {
    let (mut prediction, mut completion) = (false, false);
    for _ in 0..20 {
        app.upload_ok("probe.png", images::png(BLUE), None).await;
        while let Some((sub, _)) = subscriber.next_within(Duration::from_secs(1)).await {
            match sub.as_str() {
                "predictions" => prediction = true,
                "completed" => completion = true,
                _ => {}
            }
            if prediction && completion {
                return;
            }
        }
    }
    panic!("the subscriptions never went live");
}

async fn predictions_then_completion(protocol: Protocol) {
    let app = TestApp::start().await;
    let mut subscriber = Subscriber::connect(&app.addr(), protocol).await;
    subscriber
        .subscribe("predictions", PREDICTION_ADDED, json!({}))
        .await;
    subscriber
        .subscribe("completed", IMAGE_COMPLETED, json!({}))
        .await;
    wait_until_live(&app, &mut subscriber).await;

    let id = app
        .upload_ok("red.png", images::png(RED), Some("airplane"))
        .await;
    // The usual client flow: subscribe for the image just uploaded. Whether its results are
    // already recorded or not, they arrive once.
    subscriber
        .subscribe("mine", IMAGE_COMPLETED, json!({ "imageId": id }))
        .await;

    let mut models = BTreeSet::new();
    let (mut completed, mut mine) = (0, 0);
    while models.len() < 3 || completed == 0 || mine == 0 {
        let (sub, payload) = subscriber.next().await;
        assert!(payload.get("errors").is_none(), "{payload:#}");
        match sub.as_str() {
            "predictions" => {
                let p = &payload["data"]["predictionAdded"];
                if p["imageId"] != id.as_str() {
                    continue; // a probe's
                }
                assert_eq!(p["predictedClass"], "airplane");
                assert_eq!(p["correct"], true);
                assert_eq!(p["topK"].as_array().unwrap().len(), 3);
                assert!(p["modelVersion"].as_str().unwrap().ends_with("-test-v1"));
                assert!(models.insert(p["model"].as_str().unwrap().to_string()));
            }
            "completed" | "mine" => {
                let image = &payload["data"]["imageCompleted"];
                if image["id"] != id.as_str() {
                    continue; // a probe's
                }
                assert_eq!(image["status"], "COMPLETED");
                assert_eq!(image["predictions"].as_array().unwrap().len(), 3);
                assert_eq!(image["comparison"]["consensusClass"], "airplane");
                assert_eq!(image["comparison"]["agreement"], 1.0);
                if sub == "mine" {
                    mine += 1;
                } else {
                    completed += 1;
                }
            }
            other => panic!("unexpected subscription {other}"),
        }
    }
    assert_eq!(
        models,
        BTreeSet::from(["accurate".into(), "balanced".into(), "fast".into()])
    );
    assert_eq!((completed, mine), (1, 1));
    // The filtered subscription ends after its image.
    subscriber.wait_complete("mine").await;
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
    subscriber.wait_complete("done").await;

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
    subscriber.wait_complete("x").await;
    app.stop().await;
}
