//! The results recorder: makes the pipeline's output durable and tells the gateways.
//!
//! - `predictions-output-stream` -> one row per (image, model, version) -> `PredictionRecorded`;
//!   when every expected head has answered (a shadow version's prediction is stored but is not
//!   an answer), the comparison -> `ImageCompleted`.
//! - `image-features-stream` -> the image's descriptors, so recovery need not extract again.
//! - `dead-letter` -> the image marked failed with the reason -> `ImageFailed`.
//!
//! Writes are idempotent, so a redelivered message changes nothing and is acknowledged. Each
//! input is a [`Stage`] of the stage table's `recorder` entry (batches, groups, what becomes of
//! an unreadable message); a database error is retried.

mod comparison;
mod recovery;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vision_core::messages::{
    DeadLetter, FeaturesExtracted, PipelineEvent, PredictionMade, SCHEMA_VERSION,
};
use vision_core::stage::{self, StageKind};
use vision_core::{MessageBus, Output, Retry, Stage, Verdict, topics};
use vision_db::entities::model_versions::ModelRole;
use vision_db::{Db, DbError, NewPrediction, TopK, predictions};

pub use comparison::compare;
pub use recovery::{Sweep, recover};

pub struct RecorderStage {
    bus: Arc<dyn MessageBus>,
    recording: Arc<Recording>,
    sweep: Sweep,
}

/// How long the registry's list of heads is trusted before it is read again.
const HEADS_FRESH_FOR: Duration = Duration::from_secs(2);

/// The heads whose answers complete an image.
#[derive(Debug, Clone)]
pub enum ExpectedHeads {
    /// These names.
    Fixed(Vec<String>),
    /// The classifiers with a production version in the registry (read again every few
    /// seconds, so a head added or retired there is followed).
    Registry,
}

/// What the recorder's three inputs share.
struct Recording {
    db: Db,
    expected: ExpectedHeads,
    /// The registry's heads, and when they were read.
    heads: Mutex<Option<(Instant, Arc<Vec<String>>)>>,
}

impl RecorderStage {
    /// `expected`: the heads whose answers complete an image.
    pub fn new(bus: Arc<dyn MessageBus>, db: Db, expected: ExpectedHeads) -> Self {
        Self {
            bus,
            recording: Arc::new(Recording {
                db,
                expected,
                heads: Mutex::new(None),
            }),
            sweep: Sweep::default(),
        }
    }

    /// How often, and after how long, images that stay incomplete are sent again.
    pub fn with_sweep(mut self, sweep: Sweep) -> Self {
        self.sweep = sweep;
        self
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let spec = StageKind::Recorder.spec();
        let bus = self.bus.as_ref();
        tracing::info!(models = ?self.recording.expected, "recorder stage started");
        let (predictions, features, failures) = (
            Predictions {
                recording: self.recording.clone(),
                bus: self.bus.clone(),
            },
            Features(self.recording.clone()),
            Failures(self.recording.clone()),
        );
        let (a, b, c, ()) = tokio::join!(
            stage::run(
                &predictions,
                spec,
                topics::PREDICTIONS_OUTPUT.name(),
                None,
                bus,
                shutdown.clone(),
                None
            ),
            stage::run(
                &features,
                spec,
                topics::IMAGE_FEATURES.name(),
                None,
                bus,
                shutdown.clone(),
                None
            ),
            stage::run(
                &failures,
                spec,
                topics::DEAD_LETTER.name(),
                None,
                bus,
                shutdown.clone(),
                None
            ),
            recovery::sweep(&self.recording.db, bus, self.sweep, shutdown.clone()),
        );
        a?;
        b?;
        c?;
        tracing::info!("recorder stage stopped");
        Ok(())
    }
}

/// `predictions-output-stream`: one row per (image, model, version).
struct Predictions {
    recording: Arc<Recording>,
    bus: Arc<dyn MessageBus>,
}
/// `image-features-stream`: the image's descriptors, so recovery need not extract again.
struct Features(Arc<Recording>);
/// `dead-letter`: the image marked failed with the reason.
struct Failures(Arc<Recording>);

#[async_trait]
impl Stage for Predictions {
    type Input = PredictionMade;

    async fn handle(&self, message: PredictionMade) -> Result<Verdict, Retry> {
        let mut verdicts = self.handle_batch(vec![message]).await?;
        Ok(verdicts.pop().expect("one verdict"))
    }

    /// One read of their images' answers, one statement for the whole batch, one read of their
    /// images' predictions, then an event per new prediction and the completion of every image
    /// they finish.
    async fn handle_batch(&self, batch: Vec<PredictionMade>) -> Result<Vec<Verdict>, Retry> {
        let count = batch.len();
        let mut rows: Vec<NewPrediction> = batch.iter().cloned().map(prediction_row).collect();
        self.first_answer_stands(&mut rows).await?;
        let recorded = match self.recording.db.record_predictions(rows).await {
            Ok(recorded) => recorded,
            Err(e @ DbError::NotFound { .. }) if count == 1 => {
                tracing::warn!(error = %e, "prediction for an unknown image dropped");
                return Ok(vec![Verdict::done()]);
            }
            // An unknown image (deleted meanwhile): one by one, so the others are kept.
            Err(DbError::NotFound { .. }) => {
                let mut verdicts = Vec::with_capacity(count);
                for message in batch {
                    verdicts.push(self.handle(message).await?);
                }
                return Ok(verdicts);
            }
            Err(e) => return Err(e.into()),
        };
        // Told before anything completes, so a subscriber sees an image's predictions before
        // its completion.
        let recorded_events = recorded
            .stored
            .iter()
            .zip(&recorded.inserted)
            .filter(|(_, inserted)| **inserted)
            .map(|(row, _)| {
                let event = PipelineEvent::PredictionRecorded {
                    v: SCHEMA_VERSION,
                    image_id: row.image_id,
                    model: row.model.clone(),
                    model_version: row.model_version.clone(),
                };
                let key = row.image_id.to_string();
                async move {
                    topics::PIPELINE_EVENTS
                        .publish(self.bus.as_ref(), &key, &event)
                        .await
                }
            });
        futures::future::try_join_all(recorded_events).await?;
        // Also on a redelivery: the crash may have come between the insert and the completion.
        let outputs = self.recording.complete_with(recorded.stored).await?;
        Ok(batch_verdicts(count, outputs))
    }
}

impl Predictions {
    /// An image has one answer per head: the first. A later answer of the same head by another
    /// version (an image redelivered after a promotion, scored again by the new version) is
    /// kept, as a shadow's prediction, so nothing is counted twice.
    async fn first_answer_stands(&self, rows: &mut [NewPrediction]) -> Result<(), DbError> {
        let mut ids: Vec<Uuid> = rows
            .iter()
            .filter(|r| !r.shadow)
            .map(|r| r.image_id)
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        ids.sort();
        ids.dedup();
        let mut answered: HashSet<(Uuid, String, String)> = self
            .recording
            .db
            .predictions_for_images(&ids)
            .await?
            .into_iter()
            .filter(|p| !p.shadow)
            .map(|p| (p.image_id, p.model, p.model_version))
            .collect();
        for row in rows.iter_mut().filter(|r| !r.shadow) {
            let other = answered.iter().any(|(image, model, version)| {
                *image == row.image_id && *model == row.model && *version != row.model_version
            });
            if other {
                tracing::info!(image = %row.image_id, model = %row.model, version = %row.model_version, "a second answer of one head, kept as a shadow's");
                row.shadow = true;
            } else {
                answered.insert((row.image_id, row.model.clone(), row.model_version.clone()));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Stage for Features {
    type Input = FeaturesExtracted;

    async fn handle(&self, message: FeaturesExtracted) -> Result<Verdict, Retry> {
        let mut verdicts = self.handle_batch(vec![message]).await?;
        Ok(verdicts.pop().expect("one verdict"))
    }

    /// Stores each image's descriptors, then completes those whose predictions are all in (one
    /// read of their predictions for the whole batch).
    async fn handle_batch(&self, batch: Vec<FeaturesExtracted>) -> Result<Vec<Verdict>, Retry> {
        let db = &self.0.db;
        let mut stored = Vec::new();
        for f in &batch {
            match db
                .set_extracted(
                    f.image_id,
                    &f.descriptors,
                    &f.extractor_version,
                    f.extract_ms,
                )
                .await
            {
                Ok(_) => stored.push(f.image_id),
                Err(DbError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
            // Those of other extractor versions, for back-tests of the heads that read them.
            let others: Vec<(String, Vec<f32>)> = f
                .other_descriptors
                .iter()
                .map(|o| (o.extractor_version.clone(), o.descriptors.clone()))
                .collect();
            db.set_other_descriptors(f.image_id, &others).await?;
        }
        let predictions = db.predictions_for_images(&stored).await?;
        let outputs = self.0.complete_with(predictions).await?;
        Ok(batch_verdicts(batch.len(), outputs))
    }
}

#[async_trait]
impl Stage for Failures {
    type Input = DeadLetter;

    async fn handle(&self, letter: DeadLetter) -> Result<Verdict, Retry> {
        let Some(image_id) = letter.image_id else {
            return Ok(Verdict::done());
        };
        let db = &self.0.db;
        let reason = format!("{}: {}", letter.stage, letter.reason);
        match db.mark_failed(image_id, &reason).await {
            Ok(_) => {}
            Err(DbError::NotFound { .. }) => return Ok(Verdict::done()),
            Err(e) => return Err(e.into()),
        }
        let detail = serde_json::json!({ "stage": letter.stage, "reason": letter.reason });
        db.record_event("image.failed", Some(&image_id.to_string()), Some(detail))
            .await?;
        Ok(Verdict::publish(event(PipelineEvent::ImageFailed {
            v: SCHEMA_VERSION,
            image_id,
            reason,
        })))
    }
}

impl Recording {
    /// The heads whose answers complete an image, now.
    async fn heads(&self) -> Result<Arc<Vec<String>>, DbError> {
        if let ExpectedHeads::Fixed(heads) = &self.expected {
            return Ok(Arc::new(heads.clone()));
        }
        if let Some((at, heads)) = &*self.heads.lock().expect("heads lock")
            && at.elapsed() < HEADS_FRESH_FOR
        {
            return Ok(heads.clone());
        }
        let mut names: Vec<String> = self
            .db
            .aliased_versions(vision_db::PRODUCTION)
            .await?
            .into_iter()
            .filter(|v| v.role == ModelRole::Classifier)
            .map(|v| v.name)
            .collect();
        names.sort();
        let heads = Arc::new(names);
        *self.heads.lock().expect("heads lock") = Some((Instant::now(), heads.clone()));
        Ok(heads)
    }

    /// Completes every image of `predictions` (their rows, already read) once its descriptors
    /// are stored and every expected head has answered: one read of the images, one
    /// transaction; returns their `ImageCompleted` events. Both the features and the predictions
    /// inputs call this after their own write, so whichever lands last completes the image, and
    /// a completed image always shows its extractor figures.
    async fn complete_with(
        &self,
        predictions: Vec<predictions::Model>,
    ) -> Result<Vec<Output>, DbError> {
        let mut by_image: BTreeMap<Uuid, Vec<predictions::Model>> = BTreeMap::new();
        for row in predictions {
            by_image.entry(row.image_id).or_default().push(row);
        }
        let heads = self.heads().await?;
        let answered: BTreeMap<Uuid, _> = by_image
            .into_iter()
            .filter_map(|(id, rows)| Some((id, compare(&rows, &heads)?)))
            .collect();
        if answered.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = answered.keys().copied().collect();
        let extracted: HashSet<Uuid> = self
            .db
            .get_images(&ids)
            .await?
            .into_iter()
            .filter(|image| image.extractor_version.is_some())
            .map(|image| image.id)
            .collect();
        let ready = answered
            .into_iter()
            .filter(|(id, _)| extracted.contains(id))
            .collect();
        let completed = self.db.complete_images(ready).await?;
        Ok(completed
            .into_iter()
            .map(|image_id| {
                event(PipelineEvent::ImageCompleted {
                    v: SCHEMA_VERSION,
                    image_id,
                })
            })
            .collect())
    }
}

/// A pipeline event, keyed by its image.
fn event(event: PipelineEvent) -> Output {
    Output::new(
        topics::PIPELINE_EVENTS,
        event.image_id().to_string(),
        &event,
    )
}

/// The verdicts of a batch handled as a whole: its outputs on the first, published before any
/// message of the batch is acknowledged.
fn batch_verdicts(count: usize, outputs: Vec<Output>) -> Vec<Verdict> {
    let mut verdicts = vec![Verdict::Done(outputs)];
    verdicts.extend((1..count).map(|_| Verdict::done()));
    verdicts
}

/// The row of one prediction message.
fn prediction_row(p: PredictionMade) -> NewPrediction {
    let correct = p
        .label
        .as_ref()
        .map(|label| label.eq_ignore_ascii_case(&p.predicted_class));
    NewPrediction {
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
        shadow: p.shadow,
    }
}
