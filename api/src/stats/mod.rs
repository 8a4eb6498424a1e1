//! Dashboard statistics (F17-F19): the [`Statistics`] service, and the pure functions that shape
//! the database's rollups (confusion matrices, per-class metrics, time buckets), tested on
//! their own.

mod confusion;
mod series;
mod service;

pub use confusion::{ClassMetric, Confusion, class_metrics, confusion};
pub use series::{Bucket, MAX_BUCKETS, bucket_size_problem};
pub use service::{MAX_BUCKET_SECONDS, MAX_WINDOW_SECONDS, Statistics};
