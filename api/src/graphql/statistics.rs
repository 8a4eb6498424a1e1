//! Statistics queries of the dashboard (F17-F19).

use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Duration, Utc};

use super::types::{ClassCount, ClassMetrics, ConfusionMatrix, Throughput, TimeBucket};
use crate::errors::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::stats::{self, MAX_BUCKETS};

#[derive(Default)]
pub struct StatisticsQuery;

const MAX_BUCKET_SECONDS: i32 = 86_400;
const MAX_WINDOW_SECONDS: i32 = 3_600;

#[Object]
impl StatisticsQuery {
    /// Rows are the true class, columns the predicted class: `model`'s predictions on labeled
    /// images made since `since` (all time when null).
    async fn confusion_matrix(
        &self,
        ctx: &Context<'_>,
        model: String,
        since: Option<DateTime<Utc>>,
    ) -> Result<ConfusionMatrix> {
        let state = ctx.data_unchecked::<AppState>();
        let cells = state
            .db
            .confusion_counts(&model, since)
            .await
            .map_err(|e| ApiError::internal("cannot count predictions", e))?;
        Ok(ConfusionMatrix::new(model, stats::confusion(&cells)))
    }

    /// Precision, recall and F1 of every class for one model, since `since`.
    async fn class_metrics(
        &self,
        ctx: &Context<'_>,
        model: String,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ClassMetrics>> {
        let state = ctx.data_unchecked::<AppState>();
        let failed = |e| ApiError::internal("cannot count predictions", e);
        let cells = state
            .db
            .confusion_counts(&model, since)
            .await
            .map_err(failed)?;
        let predicted = state
            .db
            .predicted_class_counts(Some(&model), since)
            .await
            .map_err(failed)?;
        let matrix = stats::confusion(&cells);
        Ok(stats::class_metrics(&matrix, &predicted)
            .into_iter()
            .map(ClassMetrics::from)
            .collect())
    }

    /// Predicted classes, all models together when `model` is null.
    async fn class_distribution(
        &self,
        ctx: &Context<'_>,
        model: Option<String>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ClassCount>> {
        let state = ctx.data_unchecked::<AppState>();
        let counts = state
            .db
            .predicted_class_counts(model.as_deref(), since)
            .await
            .map_err(|e| ApiError::internal("cannot count predictions", e))?;
        Ok(counts
            .into_iter()
            .map(|(class, count)| ClassCount {
                class,
                count: count as i64,
            })
            .collect())
    }

    /// Accuracy and latency per model over time, in buckets of `bucketSeconds` (1 ..= 86400)
    /// aligned on the Unix epoch, over `[since, until)` (`until` defaults to now). At most 500
    /// buckets per model: an older `since` is moved forward.
    async fn time_series(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 60)] bucket_seconds: i32,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<TimeBucket>> {
        if !(1..=MAX_BUCKET_SECONDS).contains(&bucket_seconds) {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                format!("bucketSeconds must be in 1..={MAX_BUCKET_SECONDS}, not {bucket_seconds}"),
            )
            .into());
        }
        let bucket = i64::from(bucket_seconds);
        let until = until.unwrap_or_else(Utc::now);
        // Align the earliest bucket so that at most MAX_BUCKETS of them fit before `until`.
        let earliest = (until.timestamp().div_euclid(bucket) - (MAX_BUCKETS - 1)) * bucket;
        let earliest = DateTime::from_timestamp(earliest, 0).unwrap_or_default();
        let since = since.map_or(earliest, |s| s.max(earliest));
        let state = ctx.data_unchecked::<AppState>();
        let samples = state
            .db
            .prediction_samples(since, until)
            .await
            .map_err(|e| ApiError::internal("cannot read predictions", e))?;
        Ok(stats::bucketize(&samples, bucket)
            .into_iter()
            .map(TimeBucket::from)
            .collect())
    }

    /// Images and predictions per second over the last `windowSeconds` (1 ..= 3600).
    async fn throughput(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 60)] window_seconds: i32,
    ) -> Result<Throughput> {
        if !(1..=MAX_WINDOW_SECONDS).contains(&window_seconds) {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                format!("windowSeconds must be in 1..={MAX_WINDOW_SECONDS}, not {window_seconds}"),
            )
            .into());
        }
        let state = ctx.data_unchecked::<AppState>();
        let since = Utc::now() - Duration::seconds(i64::from(window_seconds));
        let activity = state
            .db
            .activity_since(since)
            .await
            .map_err(|e| ApiError::internal("cannot count activity", e))?;
        let seconds = f64::from(window_seconds);
        Ok(Throughput {
            window_seconds,
            images_completed: activity.images_completed as i64,
            images_per_second: activity.images_completed as f64 / seconds,
            predictions_per_second: activity.predictions as f64 / seconds,
        })
    }
}
