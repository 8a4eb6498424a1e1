//! A classifier stage: `image-features-stream` -> one head -> `predictions-output-stream`.
//! One stage per head name (its consumer group in the stage table is per head), so every head
//! sees every image and replicas of one head share the load.
//!
//! A stage serves what its [`ServedHead`] holds: the production version, whose prediction is
//! the answer, a shadow version when one is set, which scores the same images and publishes
//! its own prediction, flagged, and an A/B candidate answering a share of the images (chosen by
//! the image, so sticky). The served set is swapped whole from outside (the registry's
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

/// Where image `id` falls in `[0, 1)`: the same for every delivery of the image, so an A/B
/// arm is sticky (ids are random, so arms get their share).
fn bucket(id: uuid::Uuid) -> f64 {
    let bytes = id.as_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

#[async_trait]
impl Stage for ClassifierStage {
    type Input = FeaturesExtracted;

    async fn handle(&self, features: FeaturesExtracted) -> Result<Verdict, Retry> {
        // This image is scored with the versions served now, whatever is swapped meanwhile.
        let served = self.served.load_full();
        let key = features.image_id.to_string();
        // An A/B candidate answers its share of the images; the other arm's version scores
        // them too, as a shadow, so both are compared on every image.
        let (answering, mut shadows) = match &served.candidate {
            Some((candidate, share)) if bucket(features.image_id) < *share => {
                (candidate, vec![&served.production])
            }
            Some((candidate, _)) => (&served.production, vec![candidate]),
            None => (&served.production, Vec::new()),
        };
        shadows.extend(served.shadow.iter());
        let answer = match predict(answering, &features, false) {
            Ok(prediction) => prediction,
            // Descriptors the head cannot read (another width): the image cannot complete.
            Err(reason) => return Ok(Verdict::reject(Some(features.image_id), reason)),
        };
        let mut outputs = vec![Output::new(
            topics::PREDICTIONS_OUTPUT,
            key.clone(),
            &answer,
        )];
        for shadow in shadows {
            // A shadow that fails is logged and counted; it never holds the answer back.
            match predict(shadow, &features, true) {
                Ok(prediction) => outputs.push(Output::new(
                    topics::PREDICTIONS_OUTPUT,
                    key.clone(),
                    &prediction,
                )),
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

#[cfg(test)]
mod tests {
    use super::bucket;

    #[test]
    fn buckets_are_sticky_and_spread() {
        let ids: Vec<uuid::Uuid> = (0..10_000).map(|_| uuid::Uuid::new_v4()).collect();
        for id in &ids[..10] {
            assert_eq!(bucket(*id), bucket(*id));
        }
        let below = ids.iter().filter(|id| bucket(**id) < 0.2).count();
        // 2,000 expected; 5 standard deviations is 200.
        assert!((1800..=2200).contains(&below), "{below}");
        assert!(ids.iter().all(|id| (0.0..1.0).contains(&bucket(*id))));
    }
}
