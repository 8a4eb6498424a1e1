//! Database layer of the vision platform: sea-orm entities and the [`Db`] repository.
//!
//! The same code runs on SQLite (the embedded, one-machine mode) and PostgreSQL (the distributed
//! mode). [`Db::connect`] picks the backend from the URL and runs the migrations of the
//! `vision-migrations` crate.
//!
//! # Where things are
//!
//! | module | what |
//! |---|---|
//! | `error` | [`DbError`], [`Result`] |
//! | `connect` | [`Db`], [`Db::connect`], [`Db::migrate`], [`Db::ping`], [`Db::backend_name`], [`Db::conn`], [`Db::close`] |
//! | `cursor` | [`Cursor`] (keyset pagination), [`now`] |
//! | [`entities`] | the sea-orm entities, one per table, and [`ImageStatus`] |
//! | `repository::images` | image rows and their status transitions ([`NewImage`], [`ImageFilter`]) |
//! | `repository::outbox` | the upload outbox ([`Db::mark_published`], [`Db::unpublished_images`]) |
//! | `repository::predictions` | [`NewPrediction`], [`RecordedPredictions`], [`PredictionFilter`] |
//! | `repository::comparisons` | [`NewComparison`], completing images |
//! | `repository::statistics` | [`ModelStats`] and the dashboard's raw figures |
//! | `repository::events` | the audit log |
//! | `repository::experiments` | what experiments read: shadow and production answers side by side, stored descriptors with production's answers ([`Db::shadow_pairs`], [`Db::stored_answers`]) |
//! | `repository::registry` | the model registry: versions, aliases and their history ([`NewModelVersion`], [`AliasChange`], [`Db::alias_at`]) |
//! | `messages` | the bus message a row becomes ([`images::Model::submitted`]) |
//! | `testing` | test helpers, behind the cargo feature `testing` |
//!
//! Every module of `repository/` adds one `impl Db` block for its concern; its types are
//! re-exported here. New concerns (e.g. an `audit` trail, API `keys`) get a module of their own
//! there.
//!
//! # API
//!
//! Connection:
//! - [`Db::connect`]`(url)`: `sqlite://path.db` (the file is created if missing; WAL, a busy
//!   timeout of 10 s and foreign keys are enabled; a pool of 8 connections, migrated first over
//!   a single connection; `sqlite::memory:` is accepted too, with one connection) or
//!   `postgres://user@host/db` (pool of 16); then runs
//!   [`Migrator::up`](vision_migrations::MigratorTrait::up) (on PostgreSQL in a
//!   transaction under an advisory lock, so several processes may start at once). [`Db::ping`],
//!   [`Db::backend_name`] (`"sqlite"` or `"postgres"`), [`Db::conn`] for queries this crate does
//!   not cover.
//!
//! Images:
//! - [`Db::insert_image`]`(`[`NewImage`]`) -> images::Model` (status
//!   [`ImageStatus::Pending`], `created_at` now);
//! - [`Db::get_image`], [`Db::get_images`] (for a GraphQL dataloader, any order),
//!   [`Db::delete_image`] (predictions and comparison go with it, `ON DELETE CASCADE`);
//! - [`Db::list_images`]`(&`[`ImageFilter`]`, after: Option<`[`Cursor`]`>, limit)`: newest first
//!   (`created_at DESC, id DESC`), keyset pagination: pass the [`Cursor`] of the last row of a
//!   page ([`Cursor::from`]`(&model)`) to get the next page; [`Db::count_images`];
//! - [`Db::set_extracted`], [`Db::mark_failed`], [`Db::complete_images`]: status transitions,
//!   see each method;
//! - [`Db::incomplete_images`], [`Db::incomplete_images_before`]: `pending` or `extracted`
//!   images, oldest first (crash recovery);
//! - the upload outbox: [`Db::mark_published`], [`Db::unpublished_images`].
//!
//! Predictions and comparisons:
//! - [`Db::record_predictions`]`(Vec<`[`NewPrediction`]`>) -> `[`RecordedPredictions`]:
//!   idempotent on `(image_id, model, model_version)`, several at once, one statement, then
//!   their images' predictions;
//! - [`Db::predictions_for_images`], [`Db::list_predictions`]`(&`[`PredictionFilter`]`, after,
//!   limit)` (newest first, keyset pagination), [`Db::recent_predictions`];
//! - [`Db::complete_images`]`(Vec<(id, `[`NewComparison`]`)>)` (in one transaction; a
//!   comparison names the fastest and the most confident model with their versions),
//!   [`Db::comparisons_for_images`].
//!
//! Statistics, from rollups kept in the transactions that record and delete predictions, so
//! that their cost does not grow with the predictions stored: [`Db::model_stats`]`(since) ->
//! Vec<`[`ModelStats`]`>`, [`Db::model_figures`], [`Db::series`] (time buckets),
//! [`Db::class_counts`], and the dashboard's [`Db::confusion_counts`],
//! [`Db::predicted_class_counts`], [`Db::activity_since`]; [`Db::rebuild_stats_rollups`]
//! recomputes them from the rows.
//!
//! Events (F25): [`Db::record_event`].
//!
//! The pipeline feed ([`pipeline_feed`]): every prediction recorded, image completed and image
//! failed appends a row in the transaction of that change, numbered in commit order (on
//! PostgreSQL the appending transactions take an advisory lock, so numbers and commits agree);
//! live subscriptions read it from a cursor with [`Db::feed_after`], [`Db::feed_head`],
//! [`Db::feed_oldest`]; retention deletes the oldest rows with [`Db::purge_feed_before`].
//!
//! Maintenance jobs ([`job_runs`], [`job_locks`]): [`Db::try_lock_job`] / [`Db::unlock_job`]
//! (a lease, so one run of a job at a time across replicas), [`Db::start_job_run`] (marks runs
//! left running by a dead process failed), [`Db::finish_job_run`], [`Db::job_runs`]; what
//! retention deletes in batches: [`Db::images_before`] with [`Db::delete_images`],
//! [`Db::purge_predictions_batch`], [`Db::purge_feed_before`]; what the data-quality job reads:
//! [`Db::stored_images`], [`Db::newest_stored_images`], [`Db::keys_with_rows`],
//! [`Db::stuck_images`], [`Db::completed_without_predictions`],
//! [`Db::completed_without_comparison`].
//!
//! Test helpers (feature `testing`, for test crates only): `insert_prediction` and
//! `complete_image` (one at a time), `purge_predictions_before` (all at once, in the retention
//! job's batches), `recent_events`, `find_extracted_by_hash`.
//!
//! Entities: [`images`], [`predictions`], [`comparisons`], [`events`] (module [`entities`]);
//! JSON columns are typed: `images.descriptors` is [`Descriptors`] (`Vec<f32>`),
//! `predictions.top_k` is [`TopKList`] (`Vec<`[`TopK`]`>`), `events.detail` is
//! `serde_json::Value`. `images.status` is [`ImageStatus`], stored as text (`pending`,
//! `extracted`, `completed`, `failed`); reading any other stored value is an error
//! ([`DbError::Database`]). `sea_orm` is re-exported for callers that need their own queries
//! through [`Db::conn`].
//!
//! # Conventions
//!
//! - Timestamps are written by this crate, truncated to whole microseconds (PostgreSQL's
//!   precision) so that a value read back is exactly the value written; this keeps cursors exact
//!   on both backends.
//! - A [`Cursor`] is an opaque string (hex of a version byte, the microsecond timestamp and the
//!   id); [`Cursor::decode`] of anything else is [`DbError::InvalidCursor`].
//! - NaN and infinite numbers are refused with [`DbError::InvalidInput`] (JSON and SQLite
//!   cannot store them faithfully).
//! - Operations on a missing image return [`DbError::NotFound`] (including a prediction or
//!   comparison for an image that does not exist: the foreign key violation is mapped).
//! - Percentiles in [`ModelStats`] use the nearest-rank method: the p-th percentile of `n`
//!   latencies sorted ascending is the value at 1-based rank `ceil(p / 100 * n)`
//!   ([`nearest_rank`]). They are computed by the database (`ORDER BY inference_ms LIMIT 1
//!   OFFSET rank - 1`), portable to both backends, inside one read transaction (repeatable read
//!   on PostgreSQL) so all the numbers of one call agree.

mod connect;
mod cursor;
pub mod entities;
mod error;
mod messages;
mod repository;
mod rollups;
#[cfg(feature = "testing")]
mod testing;

pub use connect::Db;
pub use cursor::{Cursor, now};
pub use entities::api_keys::Role;
pub use entities::images::ImageStatus;
pub use entities::pipeline_feed::FeedKind;
pub use entities::{
    Descriptors, TopK, TopKList, api_keys, audit_log, comparisons, events, images, job_locks,
    job_runs, pipeline_feed, predictions,
};
pub use error::{DbError, Result};
pub use repository::api_keys::NewApiKey;
pub use repository::audit::{AuditFilter, AuditVerification, NewAuditEntry};
pub use repository::comparisons::NewComparison;
pub use repository::experiments::{ImageWindow, PairedRow, StoredAnswer};
pub use repository::images::{ImageFilter, NewImage};
pub use repository::predictions::{NewPrediction, PredictionFilter, RecordedPredictions};
pub use repository::quality::{StoredImage, Violations};
pub use repository::registry::{
    AB, ARCHIVED, AliasChange, NewModelVersion, PRODUCTION, SHADOW, STAGING, artifact_key,
};
pub use repository::statistics::{Activity, LabelledCount, ModelStats, nearest_rank};
pub use rollups::sketch::{LatencySketch, RELATIVE_ERROR};
pub use rollups::{CLASS_LEVELS, Figures, MODEL_LEVELS, RollupDrift, SeriesPoint};
pub use sea_orm;
pub use sea_orm::prelude::DateTimeUtc;
pub use vision_migrations::Migrator;
