//! Dashboard statistics shaped from the database's raw figures (F17-F19): confusion matrices,
//! per-class metrics and time buckets. Pure functions, so the GraphQL layer stays thin and the
//! arithmetic is tested on its own.

mod confusion;
mod series;

pub use confusion::{ClassMetric, Confusion, class_metrics, confusion};
pub use series::{Bucket, MAX_BUCKETS, bucketize};
