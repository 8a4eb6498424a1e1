//! Predictions grouped into fixed time buckets per model: accuracy and latency over time.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use vision_db::{PredictionSample, nearest_rank};

/// Buckets per model a time series covers at most: the window is cut to this many buckets.
pub const MAX_BUCKETS: i64 = 500;

/// One model in one bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub model: String,
    pub start: DateTime<Utc>,
    pub count: u64,
    pub labeled: u64,
    pub correct: u64,
    pub accuracy: Option<f64>,
    pub mean_latency_ms: f64,
    /// Nearest-rank percentiles, as in `modelStats`.
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
}

/// Groups samples by model and by `bucket_seconds`-long bucket (aligned on the Unix epoch);
/// sorted by model, then time. Empty buckets are left out.
pub fn bucketize(samples: &[PredictionSample], bucket_seconds: i64) -> Vec<Bucket> {
    assert!(bucket_seconds > 0, "bucket size must be positive");
    let mut groups: BTreeMap<(&str, i64), Vec<&PredictionSample>> = BTreeMap::new();
    for s in samples {
        let start = s.created_at.timestamp().div_euclid(bucket_seconds) * bucket_seconds;
        groups.entry((&s.model, start)).or_default().push(s);
    }
    groups
        .into_iter()
        .map(|((model, start), members)| {
            let mut latencies: Vec<f64> = members.iter().map(|s| s.inference_ms).collect();
            latencies.sort_by(f64::total_cmp);
            let count = latencies.len() as u64;
            let percentile = |p: u64| latencies[(nearest_rank(p, count) - 1) as usize];
            let labeled = members.iter().filter(|s| s.correct.is_some()).count() as u64;
            let correct = members.iter().filter(|s| s.correct == Some(true)).count() as u64;
            Bucket {
                model: model.to_string(),
                start: DateTime::from_timestamp(start, 0).unwrap_or_default(),
                count,
                labeled,
                correct,
                accuracy: (labeled > 0).then(|| correct as f64 / labeled as f64),
                mean_latency_ms: latencies.iter().sum::<f64>() / count as f64,
                latency_p50_ms: percentile(50),
                latency_p95_ms: percentile(95),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(model: &str, second: i64, ms: f64, correct: Option<bool>) -> PredictionSample {
        PredictionSample {
            model: model.into(),
            created_at: DateTime::from_timestamp(1_700_000_000 + second, 0).unwrap(),
            inference_ms: ms,
            correct,
        }
    }

    #[test]
    fn groups_by_model_and_bucket() {
        // 1_700_000_000 is a multiple of 10 and of 60.
        let samples = [
            sample("fast", 1, 1.0, Some(true)),
            sample("fast", 2, 3.0, Some(false)),
            sample("fast", 9, 2.0, None),
            sample("fast", 10, 5.0, Some(true)),
            sample("accurate", 3, 7.0, Some(true)),
        ];
        let buckets = bucketize(&samples, 10);
        assert_eq!(buckets.len(), 3);
        assert_eq!(buckets[0].model, "accurate");
        let first = &buckets[1];
        assert_eq!(first.model, "fast");
        assert_eq!(first.start.timestamp(), 1_700_000_000);
        assert_eq!((first.count, first.labeled, first.correct), (3, 2, 1));
        assert_eq!(first.accuracy, Some(0.5));
        assert_eq!(first.mean_latency_ms, 2.0);
        assert_eq!(first.latency_p50_ms, 2.0);
        assert_eq!(first.latency_p95_ms, 3.0);
        assert_eq!(buckets[2].start.timestamp(), 1_700_000_010);
        assert_eq!(buckets[2].accuracy, Some(1.0));
    }

    #[test]
    fn unlabelled_bucket_has_no_accuracy() {
        let buckets = bucketize(&[sample("fast", 0, 1.0, None)], 60);
        assert_eq!(buckets[0].accuracy, None);
    }
}
