//! Is the process healthy (every dependency answers) and ready (models loaded, database
//! migrated, interrupted work recovered)? Served on `/health` and `/ready`, and as the `health`
//! GraphQL query.

mod readiness;
mod report;

pub use readiness::Readiness;
pub(crate) use report::timed;
pub use report::{ComponentHealth, Health, HealthReport, HealthStatus};
