//! Per-model statistics ([`Db::model_stats`]): counts, means, accuracy and latency
//! percentiles, from the rollups (percentiles within the sketches' relative error).

use serde::{Deserialize, Serialize};

use crate::{DateTimeUtc, Db, Figures, Result};

/// Statistics of one model over the predictions selected by [`Db::model_stats`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelStats {
    pub model: String,
    /// Every version seen, sorted.
    pub model_versions: Vec<String>,
    /// Number of predictions.
    pub count: u64,
    /// Nearest-rank percentiles of `inference_ms`, within
    /// [`RELATIVE_ERROR`](crate::RELATIVE_ERROR).
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_p99_ms: f64,
    pub mean_latency_ms: f64,
    pub mean_confidence: f64,
    /// Predictions on labelled images (`correct` not null).
    pub labeled: u64,
    /// Predictions equal to the label.
    pub correct: u64,
    /// `correct / labeled`, `None` when nothing is labelled.
    pub accuracy: Option<f64>,
}

impl ModelStats {
    pub fn new(model: String, f: &Figures) -> Self {
        Self {
            model,
            model_versions: f.versions.iter().cloned().collect(),
            count: f.count,
            latency_p50_ms: f.latency_percentile(50),
            latency_p95_ms: f.latency_percentile(95),
            latency_p99_ms: f.latency_percentile(99),
            mean_latency_ms: f.mean_inference_ms(),
            mean_confidence: f.mean_confidence(),
            labeled: f.labeled,
            correct: f.correct,
            accuracy: f.accuracy(),
        }
    }
}

/// 1-based nearest rank of the `p`-th percentile (`p` in 1..=100) among `n` sorted values:
/// `ceil(p * n / 100)`, at least 1.
pub fn nearest_rank(p: u64, n: u64) -> u64 {
    (p * n).div_ceil(100).max(1)
}

impl Db {
    /// Per-model statistics of the predictions created at or after `since` (all if `None`),
    /// sorted by model name. Models without predictions in the window are absent.
    pub async fn model_stats(&self, since: Option<DateTimeUtc>) -> Result<Vec<ModelStats>> {
        Ok(self
            .model_figures(since, None)
            .await?
            .into_iter()
            .map(|(model, f)| ModelStats::new(model, &f))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_values() {
        assert_eq!(nearest_rank(50, 1), 1);
        assert_eq!(nearest_rank(50, 10), 5);
        assert_eq!(nearest_rank(95, 20), 19);
        assert_eq!(nearest_rank(99, 20), 20);
        assert_eq!(nearest_rank(99, 0), 1);
    }
}
