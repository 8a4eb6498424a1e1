//! A classifier stage: `image-features-stream` -> one head -> `predictions-output-stream`.
//! One stage per head name (its consumer group in the stage table is per head), so every head
//! sees every image and replicas of one head share the load. A stage serves every version of
//! its head the bundle lists: each scores each image and publishes its own prediction, so two
//! versions answer the same image side by side, without splitting the traffic between them.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use vision_core::messages::{ClassScore, FeaturesExtracted, PredictionMade, SCHEMA_VERSION};
use vision_core::metrics::metrics;
use vision_core::stage::{self, StageKind};
use vision_core::{MessageBus, Output, Retry, Stage, Verdict, topics};
use vision_inference::ClassifierModel;

pub struct ClassifierStage {
    bus: Arc<dyn MessageBus>,
    head: String,
    versions: Vec<Arc<ClassifierModel>>,
}

impl ClassifierStage {
    /// The stage of head `head`, serving `versions` (at least one, all named `head`).
    pub fn new(
        bus: Arc<dyn MessageBus>,
        head: String,
        versions: Vec<Arc<ClassifierModel>>,
    ) -> Self {
        assert!(!versions.is_empty(), "head {head} has no version");
        assert!(
            versions.iter().all(|v| v.name == head),
            "versions of another head"
        );
        Self {
            bus,
            head,
            versions,
        }
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let versions: Vec<&str> = self.versions.iter().map(|v| v.version.as_str()).collect();
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

    /// One version's prediction for `features`.
    fn predict(
        &self,
        model: &ClassifierModel,
        features: &FeaturesExtracted,
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
        })
    }
}

#[async_trait]
impl Stage for ClassifierStage {
    type Input = FeaturesExtracted;

    async fn handle(&self, features: FeaturesExtracted) -> Result<Verdict, Retry> {
        let key = features.image_id.to_string();
        let mut outputs = Vec::with_capacity(self.versions.len());
        for model in &self.versions {
            match self.predict(model, &features) {
                Ok(prediction) => outputs.push(Output::new(
                    topics::PREDICTIONS_OUTPUT,
                    key.clone(),
                    &prediction,
                )),
                // Descriptors a head cannot read (another width): the image cannot complete.
                Err(reason) => return Ok(Verdict::reject(Some(features.image_id), reason)),
            }
        }
        Ok(Verdict::Done(outputs))
    }
}
