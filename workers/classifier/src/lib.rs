//! A classifier stage: `image-features-stream` -> one head -> `predictions-output-stream`.
//! One stage per head name (its consumer group in the stage table is per head), so every head
//! sees every image and replicas of one head share the load.
//!
//! A stage serves what its [`ServedHead`] holds: the production version, whose prediction is
//! the answer, and a shadow version when one is set, which scores the same images and publishes
//! its own prediction, flagged. The served set is swapped whole from outside (the registry's
//! watcher) while the stage runs: each image is scored with the set it started with.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use vision_core::messages::{ClassScore, FeaturesExtracted, PredictionMade, SCHEMA_VERSION};
use vision_core::metrics::metrics;
use vision_core::stage::{self, StageKind};
use vision_core::{MessageBus, Output, Retry, Stage, Verdict, topics};
use vision_inference::{ClassifierModel, ServedHead};

pub struct ClassifierStage {
    bus: Arc<dyn MessageBus>,
    head: String,
    served: Arc<ArcSwap<ServedHead>>,
}

impl ClassifierStage {
    /// The stage of head `head`, serving what `served` holds (swapped from outside).
    pub fn new(bus: Arc<dyn MessageBus>, head: String, served: Arc<ArcSwap<ServedHead>>) -> Self {
        Self { bus, head, served }
    }

    /// A stage whose served versions never change.
    pub fn fixed(bus: Arc<dyn MessageBus>, head: String, served: ServedHead) -> Self {
        Self::new(bus, head, Arc::new(ArcSwap::from_pointee(served)))
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let versions = self.served.load().labels();
        tracing::info!(model = %self.head, ?versions, "classifier stage started");
        stage::run(
            &self,
            StageKind::Classifier.spec(),
            topics::IMAGE_FEATURES.name(),
            Some(&self.head),
            self.bus.as_ref(),
            shutdown,
            None,
        )
        .await?;
        tracing::info!(model = %self.head, "classifier stage stopped");
        Ok(())
    }
}

/// One version's prediction for `features`.
fn predict(
    model: &ClassifierModel,
    features: &FeaturesExtracted,
    shadow: bool,
) -> Result<PredictionMade, String> {
    let started = Instant::now();
    let classification = model
        .classify(&features.descriptors)
        .map_err(|e| format!("{} {}: {e}", model.name, model.version))?;
    let elapsed = started.elapsed();
    let m = metrics();
    m.inference_duration
        .with_label_values(&[&model.name])
        .observe(elapsed.as_secs_f64());
    m.predictions.with_label_values(&[&model.name]).inc();
    Ok(PredictionMade {
        v: SCHEMA_VERSION,
        image_id: features.image_id,
        model: model.name.clone(),
        model_version: model.version.clone(),
        predicted_class: classification.class.clone(),
        class_index: classification.class_index as u32,
        confidence: f64::from(classification.confidence),
        top_k: classification
            .top_k
            .iter()
            .map(|(class, p)| ClassScore {
                class: class.clone(),
                probability: f64::from(*p),
            })
            .collect(),
        inference_ms: elapsed.as_secs_f64() * 1000.0,
        label: features.label.clone(),
        submitted_at: features.submitted_at,
        shadow,
    })
}

#[async_trait]
impl Stage for ClassifierStage {
    type Input = FeaturesExtracted;

    async fn handle(&self, features: FeaturesExtracted) -> Result<Verdict, Retry> {
        // This image is scored with the versions served now, whatever is swapped meanwhile.
        let served = self.served.load_full();
        let key = features.image_id.to_string();
        let answer = match predict(&served.production, &features, false) {
            Ok(prediction) => prediction,
            // Descriptors the head cannot read (another width): the image cannot complete.
            Err(reason) => return Ok(Verdict::reject(Some(features.image_id), reason)),
        };
        let mut outputs = vec![Output::new(
            topics::PREDICTIONS_OUTPUT,
            key.clone(),
            &answer,
        )];
        if let Some(shadow) = &served.shadow {
            // A shadow that fails is logged and counted; it never holds the answer back.
            match predict(shadow, &features, true) {
                Ok(prediction) => {
                    outputs.push(Output::new(topics::PREDICTIONS_OUTPUT, key, &prediction))
                }
                Err(reason) => {
                    tracing::warn!(model = %shadow.name, version = %shadow.version, %reason, "shadow failed");
                    metrics()
                        .errors
                        .with_label_values(&["classify", "shadow"])
                        .inc();
                }
            }
        }
        Ok(Verdict::Done(outputs))
    }
}
