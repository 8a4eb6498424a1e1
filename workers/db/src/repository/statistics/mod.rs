//! Statistics computed by the database: per-model figures ([`Db::model_stats`](crate::Db::model_stats),
//! module `models`) and the dashboard's raw figures (module `dashboard`).

mod dashboard;
mod models;

pub use dashboard::{Activity, LabelledCount};
pub use models::{ModelStats, nearest_rank};
