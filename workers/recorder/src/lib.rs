//! The results recorder: makes the pipeline's output durable and tells the gateways.
//!
//! - `predictions-output-stream` -> one row per (image, model, version) -> `PredictionRecorded`;
//!   when every expected head has answered, the comparison -> `ImageCompleted`.
//! - `image-features-stream` -> the image's descriptors, so recovery need not extract again.
//! - `dead-letter` -> the image marked failed with the reason -> `ImageFailed`.
//!
//! Writes are idempotent, so a redelivered message changes nothing and is acknowledged.

mod comparison;
mod recovery;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vision_core::messages::{
    self, DeadLetter, FeaturesExtracted, PipelineEvent, PredictionMade, SCHEMA_VERSION,
};
use vision_core::metrics::metrics;
use vision_core::{Message, MessageBus, Outcome, consume, consume_batches, topics};
use vision_db::{Db, NewPrediction, TopK, predictions};

pub use comparison::compare;
pub use recovery::{Sweep, image_submitted, recover};

/// Consumer group of every recorder replica.
pub const GROUP: &str = "recorder";

/// Messages of one topic recorded together at most (those already waiting: see
/// [`consume_batches`]): one statement for a batch of predictions, one read for the
/// completions of a batch, instead of two or three round trips of the database per message.
const BATCH: usize = 64;

pub struct RecorderStage {
    bus: Arc<dyn MessageBus>,
    db: Db,
    expected_models: Vec<String>,
    sweep: Sweep,
}

impl RecorderStage {
    /// `expected_models`: the heads whose predictions complete an image.
    pub fn new(bus: Arc<dyn MessageBus>, db: Db, expected_models: Vec<String>) -> Self {
        Self {
            bus,
            db,
            expected_models,
            sweep: Sweep::default(),
        }
    }

    /// How often, and after how long, images that stay incomplete are sent again.
    pub fn with_sweep(mut self, sweep: Sweep) -> Self {
        self.sweep = sweep;
        self
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let predictions = self
            .bus
            .subscribe(topics::PREDICTIONS_OUTPUT, GROUP)
            .await?;
        let features = self.bus.subscribe(topics::IMAGE_FEATURES, GROUP).await?;
        let dead_letters = self.bus.subscribe(topics::DEAD_LETTER, GROUP).await?;
        tracing::info!(models = ?self.expected_models, "recorder stage started");
        let this = &self;
        tokio::join!(
            consume_batches("record", predictions, shutdown.clone(), 4, BATCH, |batch| {
                this.on_predictions(batch)
            }),
            consume_batches(
                "record_features",
                features,
                shutdown.clone(),
                2,
                BATCH,
                |batch| this.on_features(batch)
            ),
            consume("record_failure", dead_letters, shutdown.clone(), 1, |d| {
                this.on_dead_letter(d)
            }),
            recovery::sweep(&this.db, &*this.bus, this.sweep, shutdown.clone()),
        );
        tracing::info!("recorder stage stopped");
        Ok(())
    }

    async fn publish(&self, event: PipelineEvent) -> Result<(), String> {
        let key = event.image_id().to_string();
        self.bus
            .publish(topics::PIPELINE_EVENTS, &key, messages::encode(&event))
            .await
            .map_err(|e| e.to_string())
    }

    /// Records a batch of predictions: one statement for all, one read of their images'
    /// predictions, then an event per new one and the completion of every image they finish.
    async fn on_predictions(&self, batch: Vec<Message>) -> Outcome {
        let started = Instant::now();
        let count = batch.len();
        let rows: Vec<NewPrediction> = batch.iter().filter_map(decode_prediction).collect();
        let recorded = match self.db.record_predictions(rows).await {
            Ok(recorded) => recorded,
            Err(e) if is_missing_image(&e) && count == 1 => {
                tracing::warn!(error = %e, "prediction for an unknown image dropped");
                return Outcome::Done;
            }
            // An unknown image (deleted meanwhile): one by one, so the others are kept.
            Err(e) if is_missing_image(&e) => return self.one_by_one(batch).await,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let events = recorded
            .stored
            .iter()
            .zip(&recorded.inserted)
            .filter(|(_, inserted)| **inserted)
            .map(|(row, _)| {
                self.publish(PipelineEvent::PredictionRecorded {
                    v: SCHEMA_VERSION,
                    image_id: row.image_id,
                    model: row.model.clone(),
                    model_version: row.model_version.clone(),
                })
            });
        if let Err(e) = publish_all(events).await {
            return Outcome::Retry(e);
        }
        // Also on a redelivery: the crash may have come between the insert and the completion.
        if let Err(e) = self.complete_with(recorded.stored).await {
            return Outcome::Retry(e);
        }
        let per_message = started.elapsed().as_secs_f64() / count.max(1) as f64;
        let histogram = metrics().stage_duration.with_label_values(&["record"]);
        for _ in 0..count {
            histogram.observe(per_message);
        }
        Outcome::Done
    }

    /// A batch that cannot be recorded whole, one prediction at a time.
    async fn one_by_one(&self, batch: Vec<Message>) -> Outcome {
        for message in batch {
            if let Outcome::Retry(e) = Box::pin(self.on_predictions(vec![message])).await {
                return Outcome::Retry(e);
            }
        }
        Outcome::Done
    }

    /// Completes every image of `predictions` (their rows, already read) once its descriptors
    /// are stored and every expected head has a prediction: one read of the images, one
    /// transaction. Both the features and the predictions handlers call this after their own
    /// write, so whichever lands last completes the image, and a completed image always shows
    /// its extractor figures.
    async fn complete_with(&self, predictions: Vec<predictions::Model>) -> Result<(), String> {
        let mut by_image: BTreeMap<Uuid, Vec<predictions::Model>> = BTreeMap::new();
        for row in predictions {
            by_image.entry(row.image_id).or_default().push(row);
        }
        let answered: BTreeMap<Uuid, _> = by_image
            .into_iter()
            .filter_map(|(id, rows)| Some((id, compare(&rows, &self.expected_models)?)))
            .collect();
        if answered.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = answered.keys().copied().collect();
        let extracted: HashSet<Uuid> = self
            .db
            .get_images(&ids)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|image| image.extractor_version.is_some())
            .map(|image| image.id)
            .collect();
        let ready = answered
            .into_iter()
            .filter(|(id, _)| extracted.contains(id))
            .collect();
        let completed = self
            .db
            .complete_images(ready)
            .await
            .map_err(|e| e.to_string())?;
        publish_all(completed.into_iter().map(|image_id| {
            self.publish(PipelineEvent::ImageCompleted {
                v: SCHEMA_VERSION,
                image_id,
            })
        }))
        .await
    }

    /// Stores each image's descriptors, then completes those whose predictions are all in
    /// (one read of their predictions for the whole batch).
    async fn on_features(&self, batch: Vec<Message>) -> Outcome {
        let mut stored = Vec::new();
        for message in &batch {
            let f: FeaturesExtracted = match messages::decode(&message.payload) {
                Ok(f) => f,
                // The classifiers dead-letter it; nothing to keep here.
                Err(_) => continue,
            };
            match self
                .db
                .set_extracted(
                    f.image_id,
                    &f.descriptors,
                    &f.extractor_version,
                    f.extract_ms,
                )
                .await
            {
                Ok(_) => stored.push(f.image_id),
                Err(e) if is_missing_image(&e) => {}
                Err(e) => return Outcome::Retry(e.to_string()),
            }
        }
        let predictions = match self.db.predictions_for_images(&stored).await {
            Ok(rows) => rows,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        match self.complete_with(predictions).await {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(e),
        }
    }

    async fn on_dead_letter(&self, delivery: Message) -> Outcome {
        let letter: DeadLetter = match messages::decode(&delivery.payload) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "unreadable dead letter dropped");
                return Outcome::Done;
            }
        };
        let Some(image_id) = letter.image_id else {
            return Outcome::Done;
        };
        let reason = format!("{}: {}", letter.stage, letter.reason);
        if let Err(e) = self.db.mark_failed(image_id, &reason).await {
            return if is_missing_image(&e) {
                Outcome::Done
            } else {
                Outcome::Retry(e.to_string())
            };
        }
        let detail = serde_json::json!({ "stage": letter.stage, "reason": letter.reason });
        if let Err(e) = self
            .db
            .record_event("image.failed", Some(&image_id.to_string()), Some(detail))
            .await
        {
            return Outcome::Retry(e.to_string());
        }
        match self
            .publish(PipelineEvent::ImageFailed {
                v: SCHEMA_VERSION,
                image_id,
                reason,
            })
            .await
        {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(e),
        }
    }
}

/// Publishes concurrently; the first failure, if any.
async fn publish_all(
    publishes: impl Iterator<Item = impl Future<Output = Result<(), String>>>,
) -> Result<(), String> {
    futures::future::join_all(publishes)
        .await
        .into_iter()
        .collect()
}

/// The row of one prediction message; an unreadable one is counted and dropped (`None`).
fn decode_prediction(message: &Message) -> Option<NewPrediction> {
    let p: PredictionMade = match messages::decode(&message.payload) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable prediction dropped");
            metrics()
                .errors
                .with_label_values(&["record", "malformed"])
                .inc();
            return None;
        }
    };
    let correct = p
        .label
        .as_ref()
        .map(|label| label.eq_ignore_ascii_case(&p.predicted_class));
    Some(NewPrediction {
        image_id: p.image_id,
        model: p.model,
        model_version: p.model_version,
        predicted_class: p.predicted_class,
        class_index: p.class_index as i32,
        confidence: p.confidence,
        top_k: p
            .top_k
            .into_iter()
            .map(|s| TopK {
                class: s.class,
                probability: s.probability,
            })
            .collect(),
        inference_ms: p.inference_ms,
        correct,
    })
}

/// A write that failed because the image row does not exist (deleted, or never committed).
fn is_missing_image(error: &vision_db::DbError) -> bool {
    matches!(error, vision_db::DbError::NotFound { .. })
}
