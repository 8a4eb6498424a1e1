//! Database schema of the vision platform.
//!
//! [`Migrator`] is a sea-orm-migration migrator; `vision-db` runs `Migrator::up` on connect.
//! Every migration works on both SQLite (embedded mode) and PostgreSQL (distributed mode).
//!
//! Tables (see `m20250101_000001_initial` for the exact columns):
//! - `images`: one row per uploaded image, its status (`pending`, `extracted`, `completed`,
//!   `failed`) and the descriptors written by the feature extractor;
//! - `predictions`: one row per (image, model, model version), unique, so redelivered messages
//!   are idempotent;
//! - `comparisons`: one row per completed image (F8);
//! - `events`: audit log of system events (F25).
//!
//! `m20261124_000002_outbox` adds `images.published_at`: the images table is also the upload
//! outbox (rows whose message is not on the bus yet).
//!
//! `m20261203_000003_comparison_versions` adds `comparisons.fastest_model_version` and
//! `comparisons.most_confident_model_version` (`''` in rows from before).
//!
//! `m20261203_000004_model_registry` adds the model registry: `model_versions` (immutable),
//! `model_aliases` (an alias points at one version) and `model_alias_history` (append-only).
//!
//! `m20261203_000005_shadow_predictions` adds `predictions.shadow` (a shadow version's
//! prediction: stored and compared, never the answer; `false` before).
//!
//! `m20261203_000006_traffic_splits` adds `model_traffic_splits` (A/B tests: a candidate
//! version answers a share of a head's images).
//!
//! `m20261203_000007_alias_move_kinds` adds `model_alias_history.kind` (`set`, `rollback`, `ab`).
//!
//! `m20261204_000008_api_keys` adds `api_keys` (callers' keys with their roles; only hashes).
//!
//! `m20261204_000009_audit_log` adds `audit_log` (callers' actions, hash-chained).
//!
//! `m20261204_000010_pipeline_feed` adds `pipeline_feed` (what became durable, in commit order:
//! the cursor source of live subscriptions).
//!
//! `m20261204_000011_jobs` adds `job_runs` (maintenance runs and their reports) and `job_locks`
//! (one run of a job at a time across replicas).
//!
//! `m20261205_000014_image_descriptors` adds `image_descriptors`: an image's descriptors from
//! other extractor versions (heads of another descriptor size), for their back-tests.

pub use sea_orm_migration::prelude::*;

mod m20250101_000001_initial;
mod m20261124_000002_outbox;
mod m20261203_000003_comparison_versions;
mod m20261203_000004_model_registry;
mod m20261203_000005_shadow_predictions;
mod m20261203_000006_traffic_splits;
mod m20261203_000007_alias_move_kinds;
mod m20261204_000008_api_keys;
mod m20261204_000009_audit_log;
mod m20261204_000010_pipeline_feed;
mod m20261204_000011_jobs;
mod m20261205_000012_stats_rollups;
mod m20261205_000013_rollup_generation;
mod m20261205_000014_image_descriptors;

/// The migrator of the vision platform.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250101_000001_initial::Migration),
            Box::new(m20261124_000002_outbox::Migration),
            Box::new(m20261203_000003_comparison_versions::Migration),
            Box::new(m20261203_000004_model_registry::Migration),
            Box::new(m20261203_000005_shadow_predictions::Migration),
            Box::new(m20261203_000006_traffic_splits::Migration),
            Box::new(m20261203_000007_alias_move_kinds::Migration),
            Box::new(m20261204_000008_api_keys::Migration),
            Box::new(m20261204_000009_audit_log::Migration),
            Box::new(m20261204_000010_pipeline_feed::Migration),
            Box::new(m20261204_000011_jobs::Migration),
            Box::new(m20261205_000012_stats_rollups::Migration),
            Box::new(m20261205_000013_rollup_generation::Migration),
            Box::new(m20261205_000014_image_descriptors::Migration),
        ]
    }
}
