//! Messages that wait for the recorder are recorded in batches: each prediction once (a
//! redelivery in the same batch too), an event per new prediction and per completed image, and a
//! prediction for an unknown image dropped without losing the rest of its batch.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::new_image;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vision_core::bus::MemoryBus;
use vision_core::messages::{self, ClassScore, FeaturesExtracted, PipelineEvent, PredictionMade};
use vision_core::{MessageBus, topics};
use vision_db::{Db, images};
use vision_recorder::{ExpectedHeads, RecorderStage};

const MODELS: [&str; 3] = ["fast", "balanced", "accurate"];

fn prediction(image_id: Uuid, model: &str) -> PredictionMade {
    PredictionMade {
        v: messages::SCHEMA_VERSION,
        image_id,
        model: model.into(),
        model_version: format!("{model}-1"),
        predicted_class: "cat".into(),
        class_index: 3,
        confidence: 0.9,
        top_k: vec![ClassScore {
            class: "cat".into(),
            probability: 0.9,
        }],
        inference_ms: 0.1,
        label: Some("cat".into()),
        submitted_at: Utc::now(),
        shadow: false,
    }
}

fn features(image_id: Uuid) -> FeaturesExtracted {
    FeaturesExtracted {
        v: messages::SCHEMA_VERSION,
        image_id,
        descriptors: vec![0.5; 20],
        extractor_version: "ext-1".into(),
        extract_ms: 3.0,
        label: Some("cat".into()),
        submitted_at: Utc::now(),
        content_key: None,
        other_descriptors: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_messages_are_recorded_in_batches_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let db = Db::connect(&url).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(db.insert_image(new_image(Some("cat"))).await.unwrap().id);
    }
    let bus = Arc::new(MemoryBus::new());
    let mut events = bus
        .subscribe(topics::PIPELINE_EVENTS.name(), "test")
        .await
        .unwrap();
    // Everything waits before the recorder starts, so it comes in batches: every prediction of
    // the 20 images, one of them twice (a redelivery), and one for an image that does not exist.
    let unknown = Uuid::new_v4();
    for id in &ids {
        topics::IMAGE_FEATURES
            .publish(bus.as_ref(), &id.to_string(), &features(*id))
            .await
            .unwrap();
        for model in MODELS {
            topics::PREDICTIONS_OUTPUT
                .publish(bus.as_ref(), &id.to_string(), &prediction(*id, model))
                .await
                .unwrap();
        }
    }
    for (id, model) in [(ids[3], "fast"), (unknown, "balanced")] {
        topics::PREDICTIONS_OUTPUT
            .publish(bus.as_ref(), &id.to_string(), &prediction(id, model))
            .await
            .unwrap();
    }
    let stop = CancellationToken::new();
    let models = ExpectedHeads::Fixed(MODELS.iter().map(|m| m.to_string()).collect());
    let run = tokio::spawn(RecorderStage::new(bus.clone(), db.clone(), models).run(stop.clone()));

    // One event per prediction and one completion per image, nothing more.
    let mut recorded: HashMap<(Uuid, String), usize> = HashMap::new();
    let mut completed: HashMap<Uuid, usize> = HashMap::new();
    while completed.len() < ids.len() {
        let delivery = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("events within 10 s")
            .unwrap();
        match messages::decode::<PipelineEvent>(&delivery.payload).unwrap() {
            PipelineEvent::PredictionRecorded {
                image_id, model, ..
            } => *recorded.entry((image_id, model)).or_default() += 1,
            PipelineEvent::ImageCompleted { image_id, .. } => {
                *completed.entry(image_id).or_default() += 1
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    // Let anything duplicated arrive before counting.
    if let Ok(Some(delivery)) =
        tokio::time::timeout(Duration::from_millis(300), events.next()).await
    {
        panic!(
            "event after every image completed: {:?}",
            messages::decode::<PipelineEvent>(&delivery.payload)
        );
    }
    assert_eq!(recorded.len(), ids.len() * MODELS.len());
    assert!(recorded.values().all(|n| *n == 1), "{recorded:?}");
    assert!(completed.values().all(|n| *n == 1), "{completed:?}");
    stop.cancel();
    run.await.unwrap().unwrap();

    let stored = db.predictions_for_images(&ids).await.unwrap();
    assert_eq!(stored.len(), ids.len() * MODELS.len());
    for image in db.get_images(&ids).await.unwrap() {
        assert_eq!(image.status, images::ImageStatus::Completed);
        assert_eq!(image.extractor_version.as_deref(), Some("ext-1"));
    }
    assert!(
        db.predictions_for_images(&[unknown])
            .await
            .unwrap()
            .is_empty()
    );
}
