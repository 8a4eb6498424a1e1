//! `Prediction`: one classifier's answer for one image.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use vision_db::entities::predictions;

use super::Image;
use crate::graphql::Loaders;

/// One entry of a top-k list.
#[derive(Debug, Clone, SimpleObject)]
pub struct ClassScore {
    pub class: String,
    pub probability: f64,
}

pub struct Prediction(pub predictions::Model);

#[Object]
impl Prediction {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn image_id(&self) -> ID {
        ID(self.0.image_id.to_string())
    }

    /// The classifier head (one of the `models` of kind CLASSIFIER).
    async fn model(&self) -> &str {
        &self.0.model
    }

    async fn model_version(&self) -> &str {
        &self.0.model_version
    }

    async fn predicted_class(&self) -> &str {
        &self.0.predicted_class
    }

    /// Probability of the predicted class.
    async fn confidence(&self) -> f64 {
        self.0.confidence
    }

    /// The most probable classes, best first.
    async fn top_k(&self) -> Vec<ClassScore> {
        self.0
            .top_k
            .iter()
            .map(|s| ClassScore {
                class: s.class.clone(),
                probability: s.probability,
            })
            .collect()
    }

    /// Time the head spent on this image, in milliseconds.
    async fn inference_ms(&self) -> f64 {
        self.0.inference_ms
    }

    /// Whether the prediction matches the image's label; null when it has none.
    async fn correct(&self) -> Option<bool> {
        self.0.correct
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// A shadow version's prediction: it scored the image beside the production version, and
    /// is never the answer (the comparison and the statistics leave it out).
    async fn shadow(&self) -> bool {
        self.0.shadow
    }

    async fn image(&self, ctx: &Context<'_>) -> Result<Option<Image>> {
        Ok(ctx
            .data_unchecked::<Loaders>()
            .images
            .load_one(self.0.image_id)
            .await?
            .map(Image))
    }
}
