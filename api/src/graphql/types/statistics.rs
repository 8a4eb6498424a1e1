//! Dashboard figures (F17-F19): confusion matrix, per-class metrics, class distribution, time
//! series and throughput.

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};

use crate::stats;

/// Rows are the true class, columns the predicted class, both in `classes` order.
#[derive(Debug, Clone, SimpleObject)]
pub struct ConfusionMatrix {
    pub model: String,
    pub classes: Vec<String>,
    pub counts: Vec<Vec<i64>>,
    /// Labeled predictions counted.
    pub total: i64,
}

impl ConfusionMatrix {
    pub fn new(model: String, matrix: stats::Confusion) -> Self {
        Self {
            model,
            classes: matrix.classes,
            counts: matrix
                .counts
                .into_iter()
                .map(|row| row.into_iter().map(|n| n as i64).collect())
                .collect(),
            total: matrix.total as i64,
        }
    }
}

#[derive(Debug, Clone, SimpleObject)]
pub struct ClassMetrics {
    pub class: String,
    /// null when the model never predicted the class on a labeled image.
    pub precision: Option<f64>,
    /// null when no labeled image has the class.
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// Labeled predictions whose true class is this one.
    pub support: i64,
    /// Predictions of this class (labeled or not).
    pub predicted: i64,
}

impl From<stats::ClassMetric> for ClassMetrics {
    fn from(m: stats::ClassMetric) -> Self {
        Self {
            class: m.class,
            precision: m.precision,
            recall: m.recall,
            f1: m.f1,
            support: m.support as i64,
            predicted: m.predicted as i64,
        }
    }
}

#[derive(Debug, Clone, SimpleObject)]
pub struct ClassCount {
    pub class: String,
    pub count: i64,
}

/// One model in one time bucket. Buckets with no prediction are left out.
#[derive(Debug, Clone, SimpleObject)]
pub struct TimeBucket {
    pub model: String,
    pub start: DateTime<Utc>,
    pub count: i64,
    pub labeled: i64,
    pub correct: i64,
    /// correct / labeled; null without labeled predictions.
    pub accuracy: Option<f64>,
    pub mean_latency_ms: f64,
    /// Nearest-rank percentiles within 1% of the exact value, as in `ModelStats`.
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
}

impl From<stats::Bucket> for TimeBucket {
    fn from(b: stats::Bucket) -> Self {
        Self {
            model: b.model,
            start: b.start,
            count: b.count as i64,
            labeled: b.labeled as i64,
            correct: b.correct as i64,
            accuracy: b.accuracy,
            mean_latency_ms: b.mean_latency_ms,
            latency_p50_ms: b.latency_p50_ms,
            latency_p95_ms: b.latency_p95_ms,
        }
    }
}

#[derive(Debug, Clone, SimpleObject)]
pub struct Throughput {
    pub window_seconds: i32,
    /// Images completed (every head answered) in the window.
    pub images_completed: i64,
    pub images_per_second: f64,
    pub predictions_per_second: f64,
}
