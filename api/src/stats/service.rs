//! The statistics service: the dashboard's figures (F17-F19) from the database's counts, shaped
//! over the models' classes. The GraphQL resolvers only translate its results.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use vision_db::{Activity, Db, ModelStats};

use super::{
    Bucket, ClassMetric, Confusion, MAX_BUCKETS, bucket_size_problem, class_metrics, confusion,
};
use crate::errors::{ApiError, ApiResult, ErrorCode};

/// Longest time bucket, in seconds (a day).
pub const MAX_BUCKET_SECONDS: i32 = 86_400;
/// Longest throughput window, in seconds (an hour).
pub const MAX_WINDOW_SECONDS: i32 = 3_600;

/// Cheap to clone.
#[derive(Clone)]
pub struct Statistics {
    db: Db,
    /// The models' classes: the rows and columns of confusion matrices.
    classes: Arc<[String]>,
}

impl Statistics {
    pub fn new(db: Db, classes: Arc<[String]>) -> Self {
        Self { db, classes }
    }

    /// Latency, confidence and accuracy per model since `since` (all time when `None`).
    pub async fn model_stats(&self, since: Option<DateTime<Utc>>) -> ApiResult<Vec<ModelStats>> {
        Ok(self.db.model_stats(since).await?)
    }

    /// `model`'s confusion matrix over labelled images since `since`.
    pub async fn confusion(
        &self,
        model: &str,
        since: Option<DateTime<Utc>>,
    ) -> ApiResult<Confusion> {
        let cells = self.db.confusion_counts(model, since).await?;
        Ok(confusion(&cells, &self.classes))
    }

    /// Precision, recall and F1 of every class for `model` since `since`.
    pub async fn class_metrics(
        &self,
        model: &str,
        since: Option<DateTime<Utc>>,
    ) -> ApiResult<Vec<ClassMetric>> {
        let matrix = self.confusion(model, since).await?;
        let predicted = self.db.predicted_class_counts(Some(model), since).await?;
        Ok(class_metrics(&matrix, &predicted))
    }

    /// How often each class was predicted, by one model or all together.
    pub async fn class_distribution(
        &self,
        model: Option<&str>,
        since: Option<DateTime<Utc>>,
    ) -> ApiResult<Vec<(String, u64)>> {
        Ok(self.db.predicted_class_counts(model, since).await?)
    }

    /// Accuracy and latency per model in buckets of `bucket_seconds` (see
    /// [`bucket_size_problem`]: 5 s .. a day) aligned on the Unix epoch, over `[since, until)` (`until` defaults to now), at most
    /// [`MAX_BUCKETS`] per model: an older `since` is moved forward.
    pub async fn time_series(
        &self,
        bucket_seconds: i32,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> ApiResult<Vec<Bucket>> {
        let bucket = i64::from(bucket_seconds);
        if let Some(problem) = bucket_size_problem(bucket, i64::from(MAX_BUCKET_SECONDS)) {
            return Err(ApiError::new(ErrorCode::InvalidArgument, problem));
        }
        let until = until.unwrap_or_else(Utc::now);
        // Align the earliest bucket so that at most MAX_BUCKETS of them fit before `until`.
        let earliest = (until.timestamp().div_euclid(bucket) - (MAX_BUCKETS - 1)) * bucket;
        let earliest = DateTime::from_timestamp(earliest, 0).unwrap_or_default();
        let since = since.map_or(earliest, |s| s.max(earliest));
        let points = self.db.series(bucket, since, until).await?;
        Ok(points.into_iter().map(Bucket::from).collect())
    }

    /// Images completed and predictions made over the last `window_seconds` (1 ..= an hour).
    pub async fn activity(&self, window_seconds: i32) -> ApiResult<Activity> {
        if !(1..=MAX_WINDOW_SECONDS).contains(&window_seconds) {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                format!("windowSeconds must be in 1..={MAX_WINDOW_SECONDS}, not {window_seconds}"),
            ));
        }
        let since = Utc::now() - Duration::seconds(i64::from(window_seconds));
        Ok(self.db.activity_since(since).await?)
    }
}
