//! Statistics queries of the dashboard (F17-F19), answered by the statistics service.

use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};

use super::types::{ClassCount, ClassMetrics, ConfusionMatrix, Throughput, TimeBucket};
use crate::state::AppState;

#[derive(Default)]
pub struct StatisticsQuery;

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
        let statistics = &ctx.data_unchecked::<AppState>().statistics;
        let matrix = statistics.confusion(&model, since).await?;
        Ok(ConfusionMatrix::new(model, matrix))
    }

    /// Precision, recall and F1 of every class for one model, since `since`.
    async fn class_metrics(
        &self,
        ctx: &Context<'_>,
        model: String,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ClassMetrics>> {
        let statistics = &ctx.data_unchecked::<AppState>().statistics;
        let metrics = statistics.class_metrics(&model, since).await?;
        Ok(metrics.into_iter().map(ClassMetrics::from).collect())
    }

    /// Predicted classes, all models together when `model` is null.
    async fn class_distribution(
        &self,
        ctx: &Context<'_>,
        model: Option<String>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ClassCount>> {
        let statistics = &ctx.data_unchecked::<AppState>().statistics;
        let counts = statistics
            .class_distribution(model.as_deref(), since)
            .await?;
        Ok(counts
            .into_iter()
            .map(|(class, count)| ClassCount {
                class,
                count: count as i64,
            })
            .collect())
    }

    /// Accuracy and latency per model over time, in buckets of `bucketSeconds` (a multiple of
    /// 5 up to 300, of 60 up to 3600 or of 3600 up to 86400) aligned on the Unix epoch, over `[since, until)` (`until` defaults to now). At most 500
    /// buckets per model: an older `since` is moved forward.
    async fn time_series(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 60)] bucket_seconds: i32,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<TimeBucket>> {
        let statistics = &ctx.data_unchecked::<AppState>().statistics;
        let buckets = statistics.time_series(bucket_seconds, since, until).await?;
        Ok(buckets.into_iter().map(TimeBucket::from).collect())
    }

    /// Images and predictions per second over the last `windowSeconds` (1 ..= 3600).
    async fn throughput(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 60)] window_seconds: i32,
    ) -> Result<Throughput> {
        let statistics = &ctx.data_unchecked::<AppState>().statistics;
        let activity = statistics.activity(window_seconds).await?;
        let seconds = f64::from(window_seconds);
        Ok(Throughput {
            window_seconds,
            images_completed: activity.images_completed as i64,
            images_per_second: activity.images_completed as f64 / seconds,
            predictions_per_second: activity.predictions as f64 / seconds,
        })
    }
}
