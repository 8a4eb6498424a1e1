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

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vision_core::messages::{
    self, DeadLetter, FeaturesExtracted, PipelineEvent, PredictionMade, SCHEMA_VERSION,
};
use vision_core::metrics::metrics;
use vision_core::{Message, MessageBus, Outcome, consume, topics};
use vision_db::{Db, NewPrediction, TopK};

pub use comparison::compare;
pub use recovery::{Sweep, image_submitted, recover};

/// Consumer group of every recorder replica.
pub const GROUP: &str = "recorder";

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
            consume("record", predictions, shutdown.clone(), 16, |d| this
                .on_prediction(d)),
            consume("record_features", features, shutdown.clone(), 4, |d| this
                .on_features(d)),
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

    async fn on_prediction(&self, delivery: Message) -> Outcome {
        let started = Instant::now();
        let p: PredictionMade = match messages::decode(&delivery.payload) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable prediction dropped");
                metrics()
                    .errors
                    .with_label_values(&["record", "malformed"])
                    .inc();
                return Outcome::Done;
            }
        };
        let correct = p
            .label
            .as_ref()
            .map(|label| label.eq_ignore_ascii_case(&p.predicted_class));
        let row = NewPrediction {
            image_id: p.image_id,
            model: p.model.clone(),
            model_version: p.model_version.clone(),
            predicted_class: p.predicted_class.clone(),
            class_index: p.class_index as i32,
            confidence: p.confidence,
            top_k: p
                .top_k
                .iter()
                .map(|s| TopK {
                    class: s.class.clone(),
                    probability: s.probability,
                })
                .collect(),
            inference_ms: p.inference_ms,
            correct,
        };
        let inserted = match self.db.insert_prediction(row).await {
            Ok(inserted) => inserted,
            Err(e) if is_missing_image(&e) => {
                tracing::warn!(image_id = %p.image_id, "prediction for an unknown image dropped");
                return Outcome::Done;
            }
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        if inserted {
            let event = PipelineEvent::PredictionRecorded {
                v: SCHEMA_VERSION,
                image_id: p.image_id,
                model: p.model.clone(),
                model_version: p.model_version.clone(),
            };
            if let Err(e) = self.publish(event).await {
                return Outcome::Retry(e);
            }
        }
        // Also on a redelivery: the crash may have come between the insert and the completion.
        if let Err(e) = self.try_complete(p.image_id).await {
            return Outcome::Retry(e);
        }
        metrics()
            .stage_duration
            .with_label_values(&["record"])
            .observe(started.elapsed().as_secs_f64());
        Outcome::Done
    }

    /// Completes the image once its descriptors are stored and every expected head has a
    /// prediction. Both the features and the predictions handlers call this after their own
    /// write, so whichever lands last completes the image, and a completed image always shows
    /// its extractor figures.
    async fn try_complete(&self, image_id: Uuid) -> Result<(), String> {
        // Predictions first: until the last head has answered, that one read settles it.
        let predictions = self
            .db
            .predictions_for_images(&[image_id])
            .await
            .map_err(|e| e.to_string())?;
        let Some(comparison) = compare(&predictions, &self.expected_models) else {
            return Ok(());
        };
        let image = self
            .db
            .get_image(image_id)
            .await
            .map_err(|e| e.to_string())?;
        if image.is_none_or(|image| image.extractor_version.is_none()) {
            return Ok(());
        }
        let first_time = self
            .db
            .complete_image(image_id, comparison)
            .await
            .map_err(|e| e.to_string())?;
        if first_time {
            self.publish(PipelineEvent::ImageCompleted {
                v: SCHEMA_VERSION,
                image_id,
            })
            .await?;
        }
        Ok(())
    }

    async fn on_features(&self, delivery: Message) -> Outcome {
        let f: FeaturesExtracted = match messages::decode(&delivery.payload) {
            Ok(f) => f,
            // The classifiers dead-letter it; nothing to keep here.
            Err(_) => return Outcome::Done,
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
            Ok(_) => {}
            Err(e) if is_missing_image(&e) => return Outcome::Done,
            Err(e) => return Outcome::Retry(e.to_string()),
        }
        match self.try_complete(f.image_id).await {
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

/// A write that failed because the image row does not exist (deleted, or never committed).
fn is_missing_image(error: &vision_db::DbError) -> bool {
    matches!(error, vision_db::DbError::NotFound { .. })
}
