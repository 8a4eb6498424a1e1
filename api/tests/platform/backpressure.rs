//! Backpressure: a gateway holds at most `max_backlog` images accepted and not finished; past
//! that an upload waits, then is refused with OVERLOADED, `retryAfter` and HTTP 503 with
//! `Retry-After`, and nothing of it is stored. Room comes back as images finish.
//!
//! The gateway runs without stages, so nothing finishes until the test completes an image
//! through the repository, as the recorder would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;
use vision_core::bus::MemoryBus;
use vision_core::messages::{PipelineEvent, SCHEMA_VERSION};
use vision_core::topics;

use crate::common::{TestApp, config_for, fast_comparison, prepared_dir};
use crate::images::{self, BLUE, GREEN, RED};

const BACKLOG: usize = 2;
const WAIT_MS: u64 = 300;

/// The gateway, and its bus (to tell it of images finished, as the recorder does).
async fn gateway() -> (TestApp, Arc<MemoryBus>) {
    let dir = prepared_dir();
    let mut config = config_for(dir.path());
    config.max_backlog = BACKLOG;
    config.admission_wait_ms = WAIT_MS;
    let bus = Arc::new(MemoryBus::new());
    (TestApp::start_gateway(dir, config, bus.clone()).await, bus)
}

/// `uploadImage` of one PNG: (HTTP status, `Retry-After`, body).
async fn upload(app: &TestApp, colour: [u8; 3]) -> (u16, Option<String>, Value) {
    send_upload(&app.client, &app.base, colour).await
}

async fn send_upload(
    client: &reqwest::Client,
    base: &str,
    colour: [u8; 3],
) -> (u16, Option<String>, Value) {
    let operations = json!({
        "query": "mutation ($file: Upload!) { uploadImage(file: $file) { id } }",
        "variables": { "file": null },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(images::png(colour)).file_name("x.png"),
        );
    let response = client
        .post(format!("{base}/graphql"))
        .header("apollo-require-preflight", "true")
        .multipart(form)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.json().await.expect("JSON"))
}

fn id_of(body: &Value) -> Uuid {
    body["data"]["uploadImage"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("accepted: {body:#}"))
        .parse()
        .unwrap()
}

/// Completes `id` as the recorder would: the row, then the wake-up on the bus.
async fn finish(app: &TestApp, bus: &MemoryBus, id: Uuid) {
    let db = &app.platform().state.db;
    assert_eq!(
        db.complete_images(vec![(id, fast_comparison())])
            .await
            .unwrap(),
        [id]
    );
    let event = PipelineEvent::ImageCompleted {
        v: SCHEMA_VERSION,
        image_id: id,
    };
    topics::PIPELINE_EVENTS
        .publish(bus, &id.to_string(), &event)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backlog_refuses_with_overloaded_and_loses_nothing() {
    let (app, bus) = gateway().await;
    let (status, _, first) = upload(&app, RED).await;
    assert_eq!(status, 200, "{first:#}");
    let (_, _, second) = upload(&app, GREEN).await;
    let first = id_of(&first);
    id_of(&second);
    assert_eq!(app.platform().state.ingest.admission().backlog(), BACKLOG);

    // Full: the third waits, then is refused, with nothing stored.
    let started = Instant::now();
    let (status, retry_after, refused) = upload(&app, BLUE).await;
    assert!(started.elapsed() >= Duration::from_millis(WAIT_MS));
    assert_eq!(status, 503, "{refused:#}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    let error = &refused["errors"][0];
    assert_eq!(error["extensions"]["code"], "OVERLOADED", "{refused:#}");
    assert_eq!(error["extensions"]["retryAfter"], 1);
    assert_eq!(refused["data"], Value::Null);
    assert_eq!(app.image_rows().await, 2);
    assert_eq!(app.object_files().len(), 2);
    // The two uploads are on the audit record; the refusal is a metric, not an entry.
    let outcomes: Vec<String> = app
        .platform()
        .state
        .db
        .audit_log(&vision_db::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {}", e.operation, e.outcome))
        .collect();
    assert_eq!(
        outcomes,
        ["mutation uploadImage OK", "mutation uploadImage OK"]
    );

    // One finishes: its room comes back (the feed tells the gateway), and an upload waiting
    // for room is let in.
    let waiting = {
        let (client, base) = (app.client.clone(), app.base.clone());
        tokio::spawn(async move { send_upload(&client, &base, BLUE).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    finish(&app, &bus, first).await;
    let (status, _, body) = waiting.await.unwrap();
    assert_eq!(status, 200, "{body:#}");
    id_of(&body);
    assert_eq!(app.image_rows().await, 3);
    app.stop().await;
}
