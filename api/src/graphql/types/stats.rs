//! `ModelStats`: how one head performs over a period (F17).

use async_graphql::SimpleObject;

#[derive(Debug, Clone, SimpleObject)]
pub struct ModelStats {
    pub model: String,
    /// Versions of the head that answered in the period.
    pub model_versions: Vec<String>,
    /// Predictions made.
    pub count: i64,
    /// Nearest-rank latency percentiles, read from mergeable sketches: within 1% of the exact
    /// value.
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_p99_ms: f64,
    pub mean_latency_ms: f64,
    pub mean_confidence: f64,
    /// Predictions on labeled images, the base of `accuracy`.
    pub labeled: i64,
    pub correct: i64,
    /// `correct / labeled`; null without labeled images.
    pub accuracy: Option<f64>,
}

impl From<vision_db::ModelStats> for ModelStats {
    fn from(s: vision_db::ModelStats) -> Self {
        Self {
            model: s.model,
            model_versions: s.model_versions,
            count: s.count as i64,
            latency_p50_ms: s.latency_p50_ms,
            latency_p95_ms: s.latency_p95_ms,
            latency_p99_ms: s.latency_p99_ms,
            mean_latency_ms: s.mean_latency_ms,
            mean_confidence: s.mean_confidence,
            labeled: s.labeled as i64,
            correct: s.correct as i64,
            accuracy: s.accuracy,
        }
    }
}
