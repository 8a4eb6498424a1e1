//! Time series: accuracy and latency per model in fixed time buckets, from the rollups.

use chrono::{DateTime, Utc};
use vision_db::{MODEL_LEVELS, SeriesPoint};

/// Buckets per model a time series covers at most: the window is cut to this many buckets.
pub const MAX_BUCKETS: i64 = 500;

/// Rollup rows per bucket a time series may read at most: a bucket size is refused when the
/// largest rollup level dividing it is finer than this many per bucket.
pub const MAX_ROWS_PER_BUCKET: i64 = 60;

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

impl From<SeriesPoint> for Bucket {
    fn from(p: SeriesPoint) -> Self {
        let f = &p.figures;
        Self {
            start: p.start,
            count: f.count,
            labeled: f.labeled,
            correct: f.correct,
            accuracy: f.accuracy(),
            mean_latency_ms: f.mean_inference_ms(),
            latency_p50_ms: f.latency_percentile(50),
            latency_p95_ms: f.latency_percentile(95),
            model: p.model,
        }
    }
}

/// Why a bucket size is refused, if it is: it must be made of whole rollup buckets, at most
/// [`MAX_ROWS_PER_BUCKET`] of them (5 s steps up to 5 min, minutes up to an hour, hours up
/// to a day).
pub fn bucket_size_problem(bucket_seconds: i64, max: i64) -> Option<String> {
    let finest = MODEL_LEVELS[0];
    let fits = (finest..=max).contains(&bucket_seconds)
        && MODEL_LEVELS
            .iter()
            .rev()
            .find(|l| bucket_seconds % **l == 0)
            .is_some_and(|l| bucket_seconds / l <= MAX_ROWS_PER_BUCKET);
    (!fits).then(|| {
        format!(
            "bucketSeconds must be a multiple of 5 up to 300, of 60 up to 3600 or of 3600 up to \
             {max}, not {bucket_seconds}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vision_db::Figures;

    #[test]
    fn a_point_becomes_a_bucket() {
        let mut f = Figures {
            count: 3,
            labeled: 2,
            correct: 1,
            sum_inference_ms: 6.0,
            ..Figures::default()
        };
        for ms in [1.0, 2.0, 3.0] {
            f.latency.add(ms);
        }
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let b = Bucket::from(SeriesPoint {
            model: "fast".into(),
            start,
            figures: f,
        });
        assert_eq!((b.count, b.labeled, b.correct), (3, 2, 1));
        assert_eq!(b.accuracy, Some(0.5));
        assert_eq!(b.mean_latency_ms, 2.0);
        assert!((b.latency_p50_ms - 2.0).abs() <= 0.02);
        assert!((b.latency_p95_ms - 3.0).abs() <= 0.03);
    }

    #[test]
    fn bucket_sizes_are_whole_rollup_buckets() {
        for ok in [5, 10, 60, 295, 300, 600, 3_540, 3_600, 7_200, 86_400] {
            assert_eq!(bucket_size_problem(ok, 86_400), None, "{ok}");
        }
        for bad in [0, 1, 4, 7, 305, 3_605, 86_395, 90_000] {
            assert!(bucket_size_problem(bad, 86_400).is_some(), "{bad}");
        }
    }
}
