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
mod read;
pub mod sketch;
mod write;

pub use check::RollupDrift;
pub use read::{Figures, SeriesPoint};
pub(crate) use write::{Sign, apply, load_facts, remove_matching};

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
