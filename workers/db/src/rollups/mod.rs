//! Statistics rollups (F17): per time bucket, model version and class, the counts, sums and
//! latency sketches every statistics query needs, kept equal to the predictions stored.
//!
//! - Written in the transaction that records predictions, and taken out in the one that
//!   deletes them (an image deleted, retention), so they always equal a recomputation from
//!   the rows ([`Db::rebuild_stats_rollups`] does one).
//! - Buckets come at several sizes ([`MODEL_LEVELS`], [`CLASS_LEVELS`]); a time range is read
//!   as the fewest buckets that make it up ([`cover`](cover::cover)), plus raw predictions for
//!   what is finer than the finest bucket. A query's cost depends on its range, not on how
//!   many predictions there are.
//! - Counts are exact; latency percentiles come from [`LatencySketch`]es, within
//!   [`RELATIVE_ERROR`](sketch::RELATIVE_ERROR) of the exact nearest-rank value.

mod check;
pub(crate) mod cover;
pub(crate) mod points;
mod read;
pub mod sketch;
mod write;

pub use check::RollupDrift;
pub use read::{Figures, SeriesPoint};
pub(crate) use write::{Fact, Sign, apply, remove_matching};

/// Bucket sizes, in seconds, of `stats_by_model` (latency, accuracy, time series): the
/// dashboard's time series buckets (5 s .. 1 h) are multiples of one of them.
pub const MODEL_LEVELS: [i64; 4] = [5, 60, 3_600, 86_400];

/// Bucket sizes of `stats_by_class` (confusion matrices, class distributions); rows per
/// bucket grow with the classes, so the finest is a minute.
pub const CLASS_LEVELS: [i64; 3] = [60, 3_600, 86_400];

/// Key of the PostgreSQL advisory lock that makes the read-modify-write of rollup rows one at
/// a time across processes (SQLite has one writer anyway).
pub(crate) const ROLLUP_LOCK_KEY: i64 = 0x7669_7369_6f6e_726f; // "visionro"

/// The columns of `stats_by_model`, in the order rows are written and read.
pub(crate) const MODEL_COLUMNS: [&str; 10] = [
    "level",
    "bucket",
    "model",
    "model_version",
    "count",
    "labeled",
    "correct",
    "sum_inference_ms",
    "sum_confidence",
    "sketch",
];

/// The figures of one `stats_by_model` row (or of a change to it).
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub count: i64,
    pub labeled: i64,
    pub correct: i64,
    pub sum_ms: f64,
    pub sum_confidence: f64,
    pub sketch: sketch::LatencySketch,
}

impl Totals {
    /// Counts one prediction.
    pub(crate) fn add_fact(&mut self, f: &write::Fact) {
        self.count += 1;
        self.labeled += i64::from(f.correct.is_some());
        self.correct += i64::from(f.correct == Some(true));
        self.sum_ms += f.inference_ms;
        self.sum_confidence += f.confidence;
        self.sketch.add(f.inference_ms);
    }

    pub(crate) fn merge(&mut self, other: &Totals) {
        self.count += other.count;
        self.labeled += other.labeled;
        self.correct += other.correct;
        self.sum_ms += other.sum_ms;
        self.sum_confidence += other.sum_confidence;
        self.sketch.merge(&other.sketch);
    }

    /// Takes `other` out; counts stop at zero.
    pub(crate) fn subtract(&mut self, other: &Totals) {
        self.count = (self.count - other.count).max(0);
        self.labeled = (self.labeled - other.labeled).max(0);
        self.correct = (self.correct - other.correct).max(0);
        self.sum_ms -= other.sum_ms;
        self.sum_confidence -= other.sum_confidence;
        self.sketch.subtract(&other.sketch);
    }
}

/// One `stats_by_model` row: (level, bucket, model, model version) and its figures.
pub(crate) type ModelKey = (i64, i64, String, String);

/// Reads a row selected with [`MODEL_COLUMNS`].
pub(crate) fn read_model_row(row: &sea_orm::QueryResult) -> crate::Result<(ModelKey, Totals)> {
    let sketch: Vec<u8> = row.try_get("", "sketch")?;
    Ok((
        (
            i64::from(row.try_get::<i32>("", "level")?),
            row.try_get("", "bucket")?,
            row.try_get("", "model")?,
            row.try_get("", "model_version")?,
        ),
        Totals {
            count: row.try_get("", "count")?,
            labeled: row.try_get("", "labeled")?,
            correct: row.try_get("", "correct")?,
            sum_ms: row.try_get("", "sum_inference_ms")?,
            sum_confidence: row.try_get("", "sum_confidence")?,
            sketch: sketch::LatencySketch::decode(&sketch)
                .map_err(|e| crate::DbError::Database(sea_orm::DbErr::Custom(e.to_string())))?,
        },
    ))
}
