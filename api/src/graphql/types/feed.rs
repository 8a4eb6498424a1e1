//! `PipelineEvent`: one row of the pipeline feed, with the cursor to resume after it.

use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};
use vision_db::FeedKind;

use super::{Image, Prediction};
use crate::events::FeedRow;
use crate::graphql::Loaders;

/// What became durable.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "PipelineEventKind")]
pub enum PipelineEventKind {
    /// A prediction was recorded (`prediction` is set).
    PredictionRecorded,
    /// Every expected head answered the image; its comparison is recorded.
    ImageCompleted,
    /// The image cannot be processed (`image.failureReason` says why).
    ImageFailed,
}

impl From<FeedKind> for PipelineEventKind {
    fn from(kind: FeedKind) -> Self {
        match kind {
            FeedKind::PredictionRecorded => Self::PredictionRecorded,
            FeedKind::ImageCompleted => Self::ImageCompleted,
            FeedKind::ImageFailed => Self::ImageFailed,
        }
    }
}

pub struct PipelineEvent(pub FeedRow);

/// A cursor as clients see it: opaque, but stable across restarts and replicas.
pub fn cursor_text(seq: i64) -> String {
    seq.to_string()
}

#[Object]
impl PipelineEvent {
    /// Pass as `after` to resume right after this event.
    async fn cursor(&self) -> String {
        cursor_text(self.0.seq)
    }

    async fn kind(&self) -> PipelineEventKind {
        self.0.kind.into()
    }

    /// When it became durable.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }

    async fn image_id(&self) -> ID {
        ID(self.0.image_id.to_string())
    }

    /// The image as it is now (`null` if it was deleted since).
    async fn image(&self, ctx: &Context<'_>) -> Result<Option<Image>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(loaders.images.load_one(self.0.image_id).await?.map(Image))
    }

    /// The prediction recorded, for `PREDICTION_RECORDED` (`null` otherwise, or if it was
    /// deleted since).
    async fn prediction(&self, ctx: &Context<'_>) -> Result<Option<Prediction>> {
        let Some(id) = self.0.prediction_id else {
            return Ok(None);
        };
        let loaders = ctx.data_unchecked::<Loaders>();
        let rows = loaders.predictions.load_one(self.0.image_id).await?;
        Ok(rows
            .into_iter()
            .flatten()
            .find(|p| p.id == id)
            .map(Prediction))
    }
}
