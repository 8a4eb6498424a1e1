//! A classifier stage: `image-features-stream` -> one head -> `predictions-output-stream`.
//! One stage per head (`fast`, `balanced`, `accurate`), each in its own consumer group, so every
//! head sees every image and replicas of one head share the load.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use vision_core::messages::{self, ClassScore, FeaturesExtracted, PredictionMade, SCHEMA_VERSION};
use vision_core::metrics::metrics;
use vision_core::{Message, MessageBus, Outcome, consume, topics};
use vision_inference::ClassifierModel;

/// Consumer group of the replicas of one head.
pub fn group(model: &str) -> String {
    format!("classifier-{model}")
}

pub struct ClassifierStage {
    bus: Arc<dyn MessageBus>,
    model: Arc<ClassifierModel>,
}

impl ClassifierStage {
    pub fn new(bus: Arc<dyn MessageBus>, model: Arc<ClassifierModel>) -> Self {
        Self { bus, model }
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let subscription = self
            .bus
            .subscribe(topics::IMAGE_FEATURES, &group(&self.model.name))
            .await?;
        tracing::info!(model = %self.model.name, version = %self.model.version, "classifier stage started");
        let this = &self;
        // Heads take microseconds: what a delivery waits for is the bus taking the prediction
        // (a broker round trip on Kafka), so several are in flight.
        consume("classify", subscription, shutdown, 16, |d| this.handle(d)).await;
        tracing::info!(model = %self.model.name, "classifier stage stopped");
        Ok(())
    }

    async fn handle(&self, delivery: Message) -> Outcome {
        let features: FeaturesExtracted = match messages::decode(&delivery.payload) {
            Ok(m) => m,
            Err(e) => return self.dead_letter(&delivery, e.to_string()).await,
        };
        let started = Instant::now();
        let classification = match self.model.classify(&features.descriptors) {
            Ok(c) => c,
            Err(e) => return self.dead_letter(&delivery, e.to_string()).await,
        };
        let elapsed = started.elapsed();
        let m = metrics();
        m.inference_duration
            .with_label_values(&[&self.model.name])
            .observe(elapsed.as_secs_f64());
        m.predictions.with_label_values(&[&self.model.name]).inc();
        let prediction = PredictionMade {
            v: SCHEMA_VERSION,
            image_id: features.image_id,
            model: self.model.name.clone(),
            model_version: self.model.version.clone(),
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
            label: features.label,
            submitted_at: features.submitted_at,
        };
        let key = features.image_id.to_string();
        match self
            .bus
            .publish(
                topics::PREDICTIONS_OUTPUT,
                &key,
                messages::encode(&prediction),
            )
            .await
        {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    async fn dead_letter(&self, message: &Message, reason: String) -> Outcome {
        let stage = format!("classifier-{}", self.model.name);
        let image_id = message.key.parse().ok();
        vision_core::bus::dead_letter(&*self.bus, message, image_id, "classify", &stage, reason)
            .await
    }
}
