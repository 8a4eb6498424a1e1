//! Nothing accepted is lost: an image the database holds but the pipeline never finished is
//! processed after a restart.

use bytes::Bytes;
use uuid::Uuid;
use vision_core::ObjectStore;
use vision_core::objects::{LocalStore, raw_image_key};
use vision_db::{Db, NewImage};

use crate::common::{TestApp, config_for, prepared_dir};
use crate::images::{self, RED};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_left_pending_is_processed_on_start() {
    let dir = prepared_dir();
    let config = config_for(dir.path());
    // As if a gateway had stored and recorded an upload, then crashed before announcing it.
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let db = Db::connect(&config.database_url()).await.unwrap();
    let store = LocalStore::new(config.objects_dir()).unwrap();
    let id = Uuid::new_v4();
    let bytes = images::png(RED);
    let key = raw_image_key(id, "png", chrono::Utc::now());
    store
        .put(&key, Bytes::from(bytes.clone()), "image/png")
        .await
        .unwrap();
    db.insert_image(NewImage {
        id,
        object_key: key,
        content_hash: "0".repeat(64),
        content_type: "image/png".into(),
        size_bytes: bytes.len() as i64,
        width: 48,
        height: 40,
        source: "upload".into(),
        label: Some("airplane".into()),
    })
    .await
    .unwrap();
    db.close().await.unwrap();

    let app = TestApp::start_in(dir).await;
    let image = app.wait_done(&id.to_string()).await;
    assert_eq!(image["status"], "COMPLETED", "{image:#}");
    assert_eq!(image["predictions"].as_array().unwrap().len(), 3);
    assert_eq!(image["comparison"]["consensusClass"], "airplane");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_survive_a_restart() {
    let app = TestApp::start().await;
    let id = app
        .upload_ok("red.png", images::png(RED), Some("airplane"))
        .await;
    let before = app.wait_done(&id).await;
    let dir = app.stop().await;

    let app = TestApp::start_in(dir).await;
    let after = app.wait_done(&id).await;
    assert_eq!(before, after);
    app.stop().await;
}
