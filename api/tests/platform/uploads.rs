//! F1, F2, F3: uploads are checked, stored under a dated key, recorded, and processed.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::common::TestApp;
use crate::images::{self, BLUE, GREEN, RED};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_upload_is_stored_recorded_and_returned_at_once() {
    let app = TestApp::start().await;
    let bytes = images::png(RED);
    let response = app.upload("red.png", bytes.clone(), Some("Airplane")).await;
    assert!(response.get("errors").is_none(), "{response:#}");
    let image = &response["data"]["uploadImage"];
    assert_eq!(image["status"], "PENDING");
    assert_eq!(image["label"], "airplane");
    assert_eq!(image["source"], "upload");
    assert_eq!(image["contentType"], "image/png");
    assert_eq!(
        (image["width"].as_i64(), image["height"].as_i64()),
        (Some(48), Some(40))
    );
    assert_eq!(image["sizeBytes"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(image["contentHash"], hex::encode(Sha256::digest(&bytes)));

    // The object sits under raw-images/YYYY/MM/DD/<id>.png with the uploaded bytes.
    let id = image["id"].as_str().unwrap();
    let key = image["objectKey"].as_str().unwrap();
    let parts: Vec<&str> = key.split('/').collect();
    assert_eq!(parts.len(), 5, "{key}");
    assert_eq!(parts[0], "raw-images");
    assert_eq!(parts[4], format!("{id}.png"));
    let stored = std::fs::read(app.dir.path().join("data/objects").join(key)).unwrap();
    assert_eq!(stored, bytes);

    let done = app.wait_done(id).await;
    assert_eq!(done["status"], "COMPLETED", "{done:#}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_comes_from_the_bytes_not_the_name() {
    let app = TestApp::start().await;
    for (name, bytes, mime) in [
        ("photo.jpg", images::png(GREEN), "image/png"),
        ("photo.png", images::jpeg(BLUE), "image/jpeg"),
        ("photo", images::webp(RED), "image/webp"),
    ] {
        let response = app.upload(name, bytes, None).await;
        assert!(response.get("errors").is_none(), "{response:#}");
        assert_eq!(
            response["data"]["uploadImage"]["contentType"], mime,
            "{name}"
        );
        assert_eq!(
            response["data"]["uploadImage"]["label"],
            serde_json::Value::Null
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_upload_stores_and_processes_every_file() {
    let app = TestApp::start().await;
    let response = app
        .upload_batch(
            vec![
                ("a.png", images::png(RED)),
                ("b.jpg", images::jpeg(GREEN)),
                ("c.webp", images::webp(BLUE)),
            ],
            Some(vec![Some("airplane"), None, Some("bird")]),
        )
        .await;
    assert!(response.get("errors").is_none(), "{response:#}");
    let records = response["data"]["uploadImages"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    let labels: Vec<_> = records.iter().map(|r| r["label"].clone()).collect();
    assert_eq!(labels, [json!("airplane"), json!(null), json!("bird")]);
    assert_eq!(app.object_files().len(), 3);
    let expected = ["airplane", "automobile", "bird"];
    for (record, class) in records.iter().zip(expected) {
        let done = app.wait_done(record["id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "COMPLETED");
        assert_eq!(done["comparison"]["consensusClass"], class, "{done:#}");
    }
    // Without labels at all.
    let response = app
        .upload_batch(vec![("d.png", images::png(RED))], None)
        .await;
    assert!(response.get("errors").is_none(), "{response:#}");
    assert_eq!(app.image_rows().await, 4);
    app.stop().await;
}
