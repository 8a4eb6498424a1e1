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
    let descriptors = readable(model, features)?;
    let started = Instant::now();
    let classification = model
        .classify(descriptors)
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

/// The descriptors `model` reads in `features`: those of the extractor it is bound to.
fn readable<'a>(
    model: &ClassifierModel,
    features: &'a FeaturesExtracted,
) -> Result<&'a [f32], String> {
    features
        .descriptors_for(model.extractor.as_deref())
        .ok_or_else(|| {
            format!(
                "{} {} reads extractor {}, whose descriptors are not in the message (from {})",
                model.name,
                model.version,
                model.extractor.as_deref().unwrap_or_default(),
                features.extractor_version
            )
        })
}

/// Where an image falls in `[0, 1)`: by its content key, so the same bytes uploaded twice fall
/// in the same place, or by its id in a message without one. The same for every delivery, so
/// an A/B arm is sticky; both are uniformly spread (a hash, a random id), so arms get their
/// share.
fn bucket(features: &FeaturesExtracted) -> f64 {
    let key = features.content_key.unwrap_or_else(|| {
        let mut first = [0u8; 8];
        first.copy_from_slice(&features.image_id.as_bytes()[..8]);
        u64::from_be_bytes(first)
    });
    (key >> 11) as f64 / (1u64 << 53) as f64
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
            // A candidate of another descriptor size answers only once its extractor runs (the
            // extractor stage follows the registry too, a moment apart).
            Some((candidate, share))
                if bucket(&features) < *share && readable(candidate, &features).is_ok() =>
            {
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
    use uuid::Uuid;
    use vision_core::messages::{FeaturesExtracted, SCHEMA_VERSION, content_key};

    use super::bucket;

    /// A message for a new upload (a new id) of the image whose hex SHA-256 is `hash`.
    fn features(hash: Option<&str>) -> FeaturesExtracted {
        FeaturesExtracted {
            v: SCHEMA_VERSION,
            image_id: Uuid::new_v4(),
            descriptors: Vec::new(),
            extractor_version: "e".into(),
            extract_ms: 0.0,
            label: None,
            submitted_at: Default::default(),
            content_key: hash.and_then(content_key),
            other_descriptors: Vec::new(),
        }
    }

    /// Of 10,000 images, the share below 0.2 is 2,000 within 5 standard deviations (200).
    fn spread(images: &[FeaturesExtracted]) {
        let below = images.iter().filter(|f| bucket(f) < 0.2).count();
        assert!((1800..=2200).contains(&below), "{below}");
        assert!(images.iter().all(|f| (0.0..1.0).contains(&bucket(f))));
    }

    #[test]
    fn buckets_follow_the_bytes_and_spread() {
        // Random 256-bit values stand for hashes (a SHA-256 is as uniform).
        let hashes: Vec<String> = (0..10_000)
            .map(|_| format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple()))
            .collect();
        let keyed: Vec<FeaturesExtracted> = hashes.iter().map(|h| features(Some(h))).collect();
        assert!(keyed.iter().all(|f| f.content_key.is_some()));
        spread(&keyed);
        // The same bytes again (another upload: another id) fall in the same place.
        for (hash, f) in hashes.iter().zip(&keyed).take(50) {
            let again = features(Some(hash));
            assert_ne!(again.image_id, f.image_id);
            assert_eq!(bucket(&again), bucket(f));
        }
    }

    #[test]
    fn without_a_content_key_buckets_follow_the_id() {
        let plain: Vec<FeaturesExtracted> = (0..10_000).map(|_| features(None)).collect();
        spread(&plain);
        for f in &plain[..10] {
            assert_eq!(bucket(f), bucket(&f.clone()));
        }
    }
}
