//! `Image`: an accepted upload and where it is in the pipeline.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use vision_db::entities::images;

use super::{Comparison, Prediction};
use crate::graphql::Loaders;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ImageStatus {
    /// Stored, waiting for the extractor.
    Pending,
    /// Descriptors computed, waiting for the classifiers.
    Extracted,
    /// Every classifier answered; the comparison is available.
    Completed,
    /// Cannot be processed; see `failureReason`.
    Failed,
}

impl ImageStatus {
    /// The value stored in the database.
    pub fn as_db(self) -> images::ImageStatus {
        match self {
            ImageStatus::Pending => images::ImageStatus::Pending,
            ImageStatus::Extracted => images::ImageStatus::Extracted,
            ImageStatus::Completed => images::ImageStatus::Completed,
            ImageStatus::Failed => images::ImageStatus::Failed,
        }
    }

    pub fn from_db(status: images::ImageStatus) -> Self {
        match status {
            images::ImageStatus::Pending => ImageStatus::Pending,
            images::ImageStatus::Extracted => ImageStatus::Extracted,
            images::ImageStatus::Completed => ImageStatus::Completed,
            images::ImageStatus::Failed => ImageStatus::Failed,
        }
    }
}

#[derive(Debug, Default, InputObject)]
pub struct ImageFilter {
    pub source: Option<String>,
    pub status: Option<ImageStatus>,
    /// Ground-truth label (one of `classes`).
    pub label: Option<String>,
}

impl From<ImageFilter> for vision_db::ImageFilter {
    fn from(filter: ImageFilter) -> Self {
        vision_db::ImageFilter {
            source: filter.source.map(|s| s.trim().to_ascii_lowercase()),
            status: filter.status.map(ImageStatus::as_db),
            label: filter.label.map(|l| l.trim().to_ascii_lowercase()),
        }
    }
}

pub struct Image(pub images::Model);

#[Object]
impl Image {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Where the image came from (`upload`, `webcam`, `cifar10`...).
    async fn source(&self) -> &str {
        &self.0.source
    }

    /// The ground-truth class given at upload, if any.
    async fn label(&self) -> Option<&str> {
        self.0.label.as_deref()
    }

    async fn status(&self) -> ImageStatus {
        ImageStatus::from_db(self.0.status)
    }

    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason.as_deref()
    }

    /// The type found in the bytes (never the one the client claimed).
    async fn content_type(&self) -> &str {
        &self.0.content_type
    }

    async fn size_bytes(&self) -> i64 {
        self.0.size_bytes
    }

    async fn width(&self) -> i32 {
        self.0.width
    }

    async fn height(&self) -> i32 {
        self.0.height
    }

    /// Hex SHA-256 of the file.
    async fn content_hash(&self) -> &str {
        &self.0.content_hash
    }

    /// Key of the file in the object store.
    async fn object_key(&self) -> &str {
        &self.0.object_key
    }

    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }

    async fn extractor_version(&self) -> Option<&str> {
        self.0.extractor_version.as_deref()
    }

    /// Time the extractor spent on this image, in milliseconds.
    async fn extract_ms(&self) -> Option<f64> {
        self.0.extract_ms
    }

    /// Every classifier's answer, oldest first.
    async fn predictions(&self, ctx: &Context<'_>) -> Result<Vec<Prediction>> {
        let rows = ctx
            .data_unchecked::<Loaders>()
            .predictions
            .load_one(self.0.id)
            .await?
            .unwrap_or_default();
        Ok(rows.into_iter().map(Prediction).collect())
    }

    /// How the classifiers compare; null until every one has answered.
    async fn comparison(&self, ctx: &Context<'_>) -> Result<Option<Comparison>> {
        Ok(ctx
            .data_unchecked::<Loaders>()
            .comparisons
            .load_one(self.0.id)
            .await?
            .map(Comparison::from))
    }
}
