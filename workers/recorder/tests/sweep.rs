//! While the recorder runs, an image that stays incomplete (its message lost by a broker, say)
//! is sent through the pipeline again, at most once per `stale_after`; finished ones never are.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::new_image;
use tokio_util::sync::CancellationToken;
use vision_core::bus::MemoryBus;
use vision_core::messages::{self, ImageSubmitted};
use vision_core::{MessageBus, topics};
use vision_db::Db;
use vision_recorder::{ExpectedHeads, RecorderStage, Sweep};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_that_stay_incomplete_are_sent_again_without_flooding() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let db = Db::connect(&url).await.unwrap();
    let stuck = db.insert_image(new_image(None)).await.unwrap();
    let failed = db.insert_image(new_image(None)).await.unwrap();
    db.mark_failed(failed.id, "corrupt").await.unwrap();

    let bus = Arc::new(MemoryBus::new());
    let mut input = bus
        .subscribe(topics::IMAGES_INPUT.name(), "test")
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let sweep = Sweep {
        every: Duration::from_millis(50),
        stale_after: Duration::from_millis(600),
        most: 10,
    };
    let recorder = RecorderStage::new(bus.clone(), db, ExpectedHeads::Fixed(vec!["fast".into()]))
        .with_sweep(sweep);
    let run = tokio::spawn(recorder.run(stop.clone()));

    // Over 2 s of checks every 50 ms: re-sent once it is stale, then at most once per 600 ms
    // (about 3 times, never 40), and only the stuck image.
    let started = Instant::now();
    let mut resent = Vec::new();
    while started.elapsed() < Duration::from_secs(2) {
        if let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(100), input.next()).await {
            let m: ImageSubmitted = messages::decode(&d.payload).unwrap();
            assert_eq!(m.image_id, stuck.id, "only incomplete images are re-sent");
            assert_eq!(m.content_hash.as_deref(), Some(stuck.content_hash.as_str()));
            resent.push(started.elapsed());
        }
    }
    assert!(
        (1..=4).contains(&resent.len()),
        "re-sent {} times: {resent:?}",
        resent.len()
    );
    stop.cancel();
    run.await.unwrap().unwrap();
}
