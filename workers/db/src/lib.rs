//! Database layer of the vision platform: sea-orm entities and the [`Db`] repository.
//!
//! The same code runs on SQLite (the embedded, one-machine mode) and PostgreSQL (the distributed
//! mode). [`Db::connect`] picks the backend from the URL and runs the migrations of the
//! `vision-migrations` crate.
//!
//! # API
//!
//! Connection:
//! - [`Db::connect`]`(url)`: `sqlite://path.db` (the file is created if missing; WAL, a busy
//!   timeout of 10 s and foreign keys are enabled; a pool of 8 connections, migrated first over
//!   a single connection; `sqlite::memory:` is accepted too, with one connection) or
//!   `postgres://user@host/db` (pool of 16); then runs [`Migrator::up`] (on PostgreSQL in a
//!   transaction under an advisory lock, so several processes may start at once). [`Db::ping`], [`Db::backend_name`] (`"sqlite"` or
//!   `"postgres"`), [`Db::conn`] for queries this crate does not cover.
//!
//! Images:
//! - [`Db::insert_image`]`(`[`NewImage`]`) -> images::Model` (status `pending`, `created_at` now);
//! - [`Db::get_image`], [`Db::get_images`] (for a GraphQL dataloader, any order),
//!   [`Db::delete_image`] (predictions and comparison go with it, `ON DELETE CASCADE`);
//! - [`Db::list_images`]`(&`[`ImageFilter`]`, after: Option<`[`Cursor`]`>, limit)`: newest first
//!   (`created_at DESC, id DESC`), keyset pagination: pass the [`Cursor`] of the last row of a
//!   page ([`Cursor::from`]`(&model)`) to get the next page; [`Db::count_images`];
//! - [`Db::set_extracted`], [`Db::mark_failed`], [`Db::complete_image`]: status transitions,
//!   see each method;
//! - [`Db::incomplete_images`]: `pending` or `extracted` images, oldest first (crash recovery);
//! - [`Db::find_extracted_by_hash`]: an image with the same content hash that already has
//!   descriptors (F4 descriptor reuse).
//!
//! Predictions and comparisons:
//! - [`Db::insert_prediction`]`(`[`NewPrediction`]`) -> bool`: idempotent on
//!   `(image_id, model, model_version)`; `false` if it was already there;
//!   [`Db::record_predictions`]: several at once, one statement, then their images' predictions
//!   ([`RecordedPredictions`]);
//! - [`Db::predictions_for_images`], [`Db::list_predictions`]`(&`[`PredictionFilter`]`, after,
//!   limit)` (newest first, keyset pagination), [`Db::recent_predictions`];
//! - [`Db::complete_image`]`(id, `[`NewComparison`]`) -> bool`, [`Db::complete_images`] (several
//!   in one transaction), [`Db::comparisons_for_images`];
//! - [`Db::model_stats`]`(since) -> Vec<`[`ModelStats`]`>`;
//! - [`Db::purge_predictions_before`] (F23 retention).
//!
//! Dashboard figures (module `statistics`): [`Db::confusion_counts`],
//! [`Db::predicted_class_counts`], [`Db::prediction_samples`] (a bounded window),
//! [`Db::activity_since`].
//!
//! Events (F25): [`Db::record_event`], [`Db::recent_events`].
//!
//! Entities: [`images`], [`predictions`], [`comparisons`], [`events`] (module [`entities`]);
//! JSON columns are typed: `images.descriptors` is [`Descriptors`] (`Vec<f32>`),
//! `predictions.top_k` is [`TopKList`] (`Vec<`[`TopK`]`>`), `events.detail` is
//! `serde_json::Value`. Image statuses are the `images::STATUS_*` constants. `sea_orm` is
//! re-exported for callers that need their own queries through [`Db::conn`].
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
//!   latencies sorted ascending is the value at 1-based rank `ceil(p / 100 * n)`. They are
//!   computed by the database (`ORDER BY inference_ms LIMIT 1 OFFSET rank - 1`), portable to
//!   both backends, inside one read transaction (repeatable read on PostgreSQL) so all the
//!   numbers of one call agree.

pub mod entities;
mod statistics;

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, Func, OnConflict, Query, SelectStatement};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    AccessMode, ActiveValue::Set, ColumnTrait, Condition, ConnectOptions, ConnectionTrait,
    Database, DatabaseConnection, DbBackend, DbErr, EntityTrait, IdenStatic, IsolationLevel, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr, TransactionTrait,
    TryInsertResult,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use entities::{Descriptors, TopK, TopKList, comparisons, events, images, predictions};
pub use sea_orm;
pub use sea_orm::prelude::DateTimeUtc;
pub use statistics::{Activity, LabelledCount, PredictionSample};
pub use vision_migrations::Migrator;
use vision_migrations::MigratorTrait;

/// Errors of the database layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no supported backend (`sqlite:` or `postgres:`/`postgresql:`).
    #[error("unsupported database url {0:?}: expected sqlite://... or postgres://...")]
    UnsupportedUrl(String),
    /// The database could not be reached or opened.
    #[error("cannot connect to database {url}: {source}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// The driver error.
        #[source]
        source: DbErr,
    },
    /// Running the migrations failed.
    #[error("database migration failed: {0}")]
    Migration(#[source] DbErr),
    /// A cursor string that [`Cursor::encode`] did not produce.
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    /// A value the database cannot store faithfully (a NaN or infinite number).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The row does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// `"image"`.
        entity: &'static str,
        /// The id looked for.
        id: Uuid,
    },
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

/// Result of this crate.
pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// A new image, as accepted by the API (status `pending`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewImage {
    pub id: Uuid,
    pub object_key: String,
    /// Hex SHA-256 of the content.
    pub content_hash: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub width: i32,
    pub height: i32,
    /// `upload`, `batch`, `webcam`, `cifar10`, ...
    pub source: String,
    /// Ground-truth class name, when known.
    pub label: Option<String>,
}

/// Filter of [`Db::list_images`] and [`Db::count_images`]; `None` means any.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageFilter {
    pub source: Option<String>,
    /// One of the `images::STATUS_*` values.
    pub status: Option<String>,
    pub label: Option<String>,
}

/// Filter of [`Db::list_predictions`]; `None` means any. `since` is inclusive, `until`
/// exclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictionFilter {
    pub image_id: Option<Uuid>,
    pub model: Option<String>,
    pub since: Option<DateTimeUtc>,
    pub until: Option<DateTimeUtc>,
}

/// A classifier's answer for one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewPrediction {
    pub image_id: Uuid,
    pub model: String,
    pub model_version: String,
    pub predicted_class: String,
    pub class_index: i32,
    pub confidence: f64,
    /// Most probable first.
    pub top_k: Vec<TopK>,
    pub inference_ms: f64,
    /// `None` when the image has no label.
    pub correct: Option<bool>,
}

/// What [`Db::record_predictions`] stored.
#[derive(Clone, Debug)]
pub struct RecordedPredictions {
    /// Every prediction of the images concerned, oldest first (as
    /// [`Db::predictions_for_images`]).
    pub stored: Vec<predictions::Model>,
    /// For each row of `stored`: whether this call inserted it.
    pub inserted: Vec<bool>,
}

/// The comparison of the models on one image (F8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewComparison {
    pub fastest_model: String,
    pub most_confident_model: String,
    pub consensus_class: Option<String>,
    /// Fraction of models that voted for the consensus class.
    pub agreement: f64,
}

/// Statistics of one model over the predictions selected by [`Db::model_stats`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelStats {
    pub model: String,
    /// Every version seen, sorted.
    pub model_versions: Vec<String>,
    /// Number of predictions.
    pub count: u64,
    /// Nearest-rank percentiles of `inference_ms`.
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_p99_ms: f64,
    pub mean_latency_ms: f64,
    pub mean_confidence: f64,
    /// Predictions on labelled images (`correct` not null).
    pub labeled: u64,
    /// Predictions equal to the label.
    pub correct: u64,
    /// `correct / labeled`, `None` when nothing is labelled.
    pub accuracy: Option<f64>,
}

/// Position in a newest-first listing: the `(created_at, id)` of the last row of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub created_at: DateTimeUtc,
    pub id: Uuid,
}

const CURSOR_VERSION: u8 = 1;
const CURSOR_BYTES: usize = 1 + 8 + 16;

impl Cursor {
    /// A cursor; `created_at` is truncated to microseconds.
    pub fn new(created_at: DateTimeUtc, id: Uuid) -> Self {
        Cursor {
            created_at: truncate_micros(created_at),
            id,
        }
    }

    /// Opaque string form (hex).
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(CURSOR_BYTES);
        bytes.push(CURSOR_VERSION);
        bytes.extend_from_slice(&self.created_at.timestamp_micros().to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        hex::encode(bytes)
    }

    /// Parses [`Cursor::encode`]'s output.
    pub fn decode(s: &str) -> Result<Cursor> {
        let bad = |why: &str| DbError::InvalidCursor(format!("{why}: {s:?}"));
        let bytes = hex::decode(s.trim()).map_err(|_| bad("not a cursor"))?;
        if bytes.len() != CURSOR_BYTES {
            return Err(bad("wrong length"));
        }
        if bytes[0] != CURSOR_VERSION {
            return Err(bad("unknown cursor version"));
        }
        let micros = i64::from_be_bytes(bytes[1..9].try_into().map_err(|_| bad("bad time"))?);
        let created_at = DateTime::from_timestamp_micros(micros).ok_or_else(|| bad("bad time"))?;
        let id = Uuid::from_slice(&bytes[9..]).map_err(|_| bad("bad id"))?;
        Ok(Cursor { created_at, id })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.encode())
    }
}

impl std::str::FromStr for Cursor {
    type Err = DbError;
    fn from_str(s: &str) -> Result<Cursor> {
        Cursor::decode(s)
    }
}

impl From<&images::Model> for Cursor {
    fn from(m: &images::Model) -> Self {
        Cursor::new(m.created_at, m.id)
    }
}

impl From<&predictions::Model> for Cursor {
    fn from(m: &predictions::Model) -> Self {
        Cursor::new(m.created_at, m.id)
    }
}

impl From<&events::Model> for Cursor {
    fn from(m: &events::Model) -> Self {
        Cursor::new(m.created_at, m.id)
    }
}

fn truncate_micros(t: DateTimeUtc) -> DateTimeUtc {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// The current time, truncated to microseconds.
pub fn now() -> DateTimeUtc {
    truncate_micros(Utc::now())
}

/// `(created, id) < (cursor.created_at, cursor.id)`, written portably.
fn before_cursor<C: ColumnTrait>(created: C, id: C, cursor: &Cursor) -> Condition {
    Condition::any().add(created.lt(cursor.created_at)).add(
        Condition::all()
            .add(created.eq(cursor.created_at))
            .add(id.lt(cursor.id)),
    )
}

/// Removes the password from a URL, for error messages.
fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.rsplit_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}

fn map_fk(err: DbErr, entity: &'static str, id: Uuid) -> DbError {
    match err.sql_err() {
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => DbError::NotFound { entity, id },
        _ => DbError::Database(err),
    }
}

/// Ids per `IN (...)` query, well below SQLite's bound-parameter limit.
const IN_CHUNK: usize = 500;

/// Key of the PostgreSQL advisory lock held while migrating.
const MIGRATION_LOCK_KEY: i64 = 0x7669_7369_6f6e; // "vision"

const SQLITE_POOL_SIZE: u32 = 8;
const POSTGRES_POOL_SIZE: u32 = 16;
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

fn connect_options(url: &str, max_connections: u32) -> Result<ConnectOptions> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .max_connections(max_connections)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        if is_sqlite_memory(url) {
            // Every connection to `:memory:` is a different database: keep exactly one, forever.
            let forever = Duration::from_secs(100 * 365 * 24 * 3600);
            opts.max_connections(1)
                .min_connections(1)
                .max_lifetime(forever)
                .idle_timeout(forever);
        }
        let explicit_mode = url.contains("mode=");
        opts.map_sqlx_sqlite_opts(move |o| {
            let o = if explicit_mode {
                o
            } else {
                o.create_if_missing(true)
            };
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
        });
    } else if !(url.starts_with("postgres:") || url.starts_with("postgresql:")) {
        return Err(DbError::UnsupportedUrl(redact(url)));
    }
    Ok(opts)
}

/// The repository: a cheap-to-clone handle on a connection pool.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
}

impl Db {
    /// Connects and runs the migrations. See the crate docs for the accepted URLs.
    pub async fn connect(url: &str) -> Result<Db> {
        let connect = async |max_connections: u32| {
            let opts = connect_options(url, max_connections)?;
            Database::connect(opts)
                .await
                .map_err(|source| DbError::Connect {
                    url: redact(url),
                    source,
                })
        };
        if url.starts_with("sqlite:") && !is_sqlite_memory(url) {
            // Migrate over a single connection, then open the pool. A SQLite connection that
            // read the schema half-way through the migration keeps that stale schema for
            // statement preparation, and then rejects e.g. `ON CONFLICT (image_id, model,
            // model_version)` because it has not seen the unique index yet.
            let single = Db {
                conn: connect(1).await?,
            };
            single.migrate().await?;
            single.close().await?;
            let db = Db {
                conn: connect(SQLITE_POOL_SIZE).await?,
            };
            tracing::info!(url = %redact(url), backend = "sqlite", "database ready");
            return Ok(db);
        }
        let max = if url.starts_with("sqlite:") {
            1
        } else {
            POSTGRES_POOL_SIZE
        };
        let db = Db {
            conn: connect(max).await?,
        };
        db.migrate().await?;
        tracing::info!(url = %redact(url), backend = db.backend_name(), "database ready");
        Ok(db)
    }

    /// Wraps an existing connection without running the migrations.
    pub fn from_connection(conn: DatabaseConnection) -> Db {
        Db { conn }
    }

    /// Applies the pending migrations ([`Db::connect`] already does; with SQLite prefer that,
    /// see the comment there).
    pub async fn migrate(&self) -> Result<()> {
        let run = async {
            match self.conn.get_database_backend() {
                DbBackend::Postgres => {
                    // Several processes may start at once: one migrates, the others wait and
                    // then find nothing to do.
                    let txn = self.conn.begin().await?;
                    txn.execute_unprepared(&format!(
                        "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
                    ))
                    .await?;
                    Migrator::up(&txn, None).await?;
                    txn.commit().await
                }
                _ => Migrator::up(&self.conn, None).await,
            }
        };
        run.await.map_err(DbError::Migration)
    }

    /// The underlying connection, for queries this crate does not offer.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        Ok(self.conn.ping().await?)
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.conn.get_database_backend() {
            DbBackend::Sqlite => "sqlite",
            DbBackend::Postgres => "postgres",
            DbBackend::MySql => "mysql",
        }
    }

    /// Closes the pool.
    pub async fn close(self) -> Result<()> {
        Ok(self.conn.close().await?)
    }

    // ----- images -----------------------------------------------------------------------------

    /// Inserts a new image with status `pending` and `created_at` now.
    pub async fn insert_image(&self, new: NewImage) -> Result<images::Model> {
        let model = images::Model {
            id: new.id,
            created_at: now(),
            object_key: new.object_key,
            content_hash: new.content_hash,
            content_type: new.content_type,
            size_bytes: new.size_bytes,
            width: new.width,
            height: new.height,
            source: new.source,
            label: new.label,
            status: images::STATUS_PENDING.to_owned(),
            failure_reason: None,
            descriptors: None,
            extractor_version: None,
            extract_ms: None,
            completed_at: None,
            published_at: None,
        };
        let am: images::ActiveModel = model.clone().into();
        images::Entity::insert(am)
            .exec_without_returning(&self.conn)
            .await?;
        Ok(model)
    }

    /// Deletes an image with its predictions and comparison; `false` if there was none.
    pub async fn delete_image(&self, id: Uuid) -> Result<bool> {
        let res = images::Entity::delete_by_id(id).exec(&self.conn).await?;
        Ok(res.rows_affected > 0)
    }

    /// One image.
    pub async fn get_image(&self, id: Uuid) -> Result<Option<images::Model>> {
        Ok(images::Entity::find_by_id(id).one(&self.conn).await?)
    }

    /// The images among `ids` that exist, in no particular order.
    pub async fn get_images(&self, ids: &[Uuid]) -> Result<Vec<images::Model>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            out.extend(
                images::Entity::find()
                    .filter(images::Column::Id.is_in(chunk.iter().copied()))
                    .all(&self.conn)
                    .await?,
            );
        }
        Ok(out)
    }

    fn image_condition(filter: &ImageFilter) -> Condition {
        let mut cond = Condition::all();
        if let Some(source) = &filter.source {
            cond = cond.add(images::Column::Source.eq(source.as_str()));
        }
        if let Some(status) = &filter.status {
            cond = cond.add(images::Column::Status.eq(status.as_str()));
        }
        if let Some(label) = &filter.label {
            cond = cond.add(images::Column::Label.eq(label.as_str()));
        }
        cond
    }

    /// Images matching `filter`, newest first (`created_at DESC, id DESC`), at most `limit`,
    /// strictly after `after` (the cursor of the last row of the previous page).
    pub async fn list_images(
        &self,
        filter: &ImageFilter,
        after: Option<Cursor>,
        limit: u64,
    ) -> Result<Vec<images::Model>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut cond = Self::image_condition(filter);
        if let Some(cursor) = &after {
            cond = cond.add(before_cursor(
                images::Column::CreatedAt,
                images::Column::Id,
                cursor,
            ));
        }
        Ok(images::Entity::find()
            .filter(cond)
            .order_by_desc(images::Column::CreatedAt)
            .order_by_desc(images::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    /// Number of images matching `filter`.
    pub async fn count_images(&self, filter: &ImageFilter) -> Result<u64> {
        Ok(images::Entity::find()
            .filter(Self::image_condition(filter))
            .count(&self.conn)
            .await?)
    }

    async fn require_image(&self, id: Uuid) -> Result<()> {
        let found = images::Entity::find_by_id(id)
            .select_only()
            .column(images::Column::Id)
            .into_tuple::<Uuid>()
            .one(&self.conn)
            .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(DbError::NotFound {
                entity: "image",
                id,
            }),
        }
    }

    /// Stores the extractor's output. The status becomes `extracted` if it was `pending`;
    /// an image already `completed` or `failed` keeps its status and `false` is returned. A
    /// `completed` image gets the descriptors all the same (the recorder may see the classifiers'
    /// answers before the extractor's, and the figures belong to the image); a `failed` one
    /// does not. [`DbError::NotFound`] if there is no such image.
    pub async fn set_extracted(
        &self,
        id: Uuid,
        descriptors: &[f32],
        extractor_version: &str,
        extract_ms: f64,
    ) -> Result<bool> {
        if let Some(i) = descriptors.iter().position(|x| !x.is_finite()) {
            return Err(DbError::InvalidInput(format!(
                "descriptor {i} of image {id} is {}",
                descriptors[i]
            )));
        }
        check_finite("extract_ms", extract_ms)?;
        let stored = images::Entity::update_many()
            .col_expr(
                images::Column::Descriptors,
                Expr::value(Descriptors(descriptors.to_vec())),
            )
            .col_expr(
                images::Column::ExtractorVersion,
                Expr::value(extractor_version),
            )
            .col_expr(images::Column::ExtractMs, Expr::value(extract_ms))
            .filter(images::Column::Id.eq(id))
            .filter(images::Column::Status.ne(images::STATUS_FAILED))
            .exec(&self.conn)
            .await?;
        if stored.rows_affected == 0 {
            self.require_image(id).await?;
            return Ok(false);
        }
        let res = images::Entity::update_many()
            .col_expr(
                images::Column::Status,
                Expr::value(images::STATUS_EXTRACTED),
            )
            .filter(images::Column::Id.eq(id))
            .filter(
                images::Column::Status.is_in([images::STATUS_PENDING, images::STATUS_EXTRACTED]),
            )
            .exec(&self.conn)
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// Marks an image `failed` with a reason. A `completed` image is left untouched and `false`
    /// is returned. [`DbError::NotFound`] if there is no such image.
    pub async fn mark_failed(&self, id: Uuid, reason: &str) -> Result<bool> {
        let res = images::Entity::update_many()
            .col_expr(images::Column::Status, Expr::value(images::STATUS_FAILED))
            .col_expr(images::Column::FailureReason, Expr::value(reason))
            .filter(images::Column::Id.eq(id))
            .filter(images::Column::Status.ne(images::STATUS_COMPLETED))
            .exec(&self.conn)
            .await?;
        if res.rows_affected > 0 {
            return Ok(true);
        }
        self.require_image(id).await?;
        Ok(false)
    }

    /// Images still `pending` or `extracted`, oldest first (to resume work after a crash).
    pub async fn incomplete_images(&self, limit: u64) -> Result<Vec<images::Model>> {
        self.incomplete_images_before(None, limit).await
    }

    /// [`Db::incomplete_images`] uploaded before `before` (all of them when `None`).
    pub async fn incomplete_images_before(
        &self,
        before: Option<DateTimeUtc>,
        limit: u64,
    ) -> Result<Vec<images::Model>> {
        let mut query = images::Entity::find().filter(
            images::Column::Status.is_in([images::STATUS_PENDING, images::STATUS_EXTRACTED]),
        );
        if let Some(before) = before {
            query = query.filter(images::Column::CreatedAt.lt(before));
        }
        Ok(query
            .order_by_asc(images::Column::CreatedAt)
            .order_by_asc(images::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    // ----- the upload outbox -----------------------------------------------------------------

    /// Records that the messages of `ids` are on the bus.
    pub async fn mark_published(&self, ids: &[Uuid]) -> Result<()> {
        for chunk in ids.chunks(IN_CHUNK) {
            images::Entity::update_many()
                .col_expr(images::Column::PublishedAt, Expr::value(now()))
                .filter(images::Column::Id.is_in(chunk.iter().copied()))
                .filter(images::Column::PublishedAt.is_null())
                .exec(&self.conn)
                .await?;
        }
        Ok(())
    }

    /// Accepted images whose message is not on the bus yet, uploaded before `before`, oldest
    /// first (the outbox relay publishes them).
    pub async fn unpublished_images(
        &self,
        before: DateTimeUtc,
        limit: u64,
    ) -> Result<Vec<images::Model>> {
        Ok(images::Entity::find()
            .filter(images::Column::PublishedAt.is_null())
            .filter(images::Column::CreatedAt.lt(before))
            .order_by_asc(images::Column::CreatedAt)
            .order_by_asc(images::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    /// The most recent image with this content hash that has descriptors (F4: a re-uploaded
    /// image reuses them).
    pub async fn find_extracted_by_hash(
        &self,
        content_hash: &str,
    ) -> Result<Option<images::Model>> {
        Ok(images::Entity::find()
            .filter(images::Column::ContentHash.eq(content_hash))
            .filter(images::Column::Descriptors.is_not_null())
            .order_by_desc(images::Column::CreatedAt)
            .order_by_desc(images::Column::Id)
            .one(&self.conn)
            .await?)
    }

    // ----- predictions ------------------------------------------------------------------------

    /// Records a prediction: `true` if inserted, `false` if this (image, model, model version)
    /// was already recorded (the stored row is kept). [`DbError::NotFound`] if the image does
    /// not exist.
    pub async fn insert_prediction(&self, new: NewPrediction) -> Result<bool> {
        let recorded = self.record_predictions(vec![new]).await?;
        Ok(recorded.inserted.contains(&true))
    }

    /// Records several predictions with one statement, each idempotent as in
    /// [`Db::insert_prediction`] (one already stored, or twice in `new`, is skipped and the stored
    /// row kept), and returns every prediction of their images afterwards, marking those this
    /// call inserted. Nothing is written if any value is refused or any image is missing
    /// ([`DbError::NotFound`] names one of them).
    pub async fn record_predictions(&self, new: Vec<NewPrediction>) -> Result<RecordedPredictions> {
        for p in &new {
            check_finite("confidence", p.confidence)?;
            check_finite("inference_ms", p.inference_ms)?;
            for t in &p.top_k {
                check_finite("top_k probability", t.probability)?;
            }
        }
        let mut image_ids: Vec<Uuid> = new.iter().map(|p| p.image_id).collect();
        image_ids.sort();
        image_ids.dedup();
        let created_at = now();
        // Our rows carry ids made here: afterwards, a stored row with one of them is one we
        // inserted (no RETURNING, which sea-orm offers on SQLite only behind a feature).
        let ours: HashSet<Uuid> = new.iter().map(|_| Uuid::new_v4()).collect();
        let rows: Vec<predictions::ActiveModel> = new
            .into_iter()
            .zip(&ours)
            .map(|(p, id)| predictions::ActiveModel {
                id: Set(*id),
                image_id: Set(p.image_id),
                model: Set(p.model),
                model_version: Set(p.model_version),
                predicted_class: Set(p.predicted_class),
                class_index: Set(p.class_index),
                confidence: Set(p.confidence),
                top_k: Set(TopKList(p.top_k)),
                inference_ms: Set(p.inference_ms),
                correct: Set(p.correct),
                created_at: Set(created_at),
            })
            .collect();
        if !rows.is_empty() {
            let inserted = predictions::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([
                        predictions::Column::ImageId,
                        predictions::Column::Model,
                        predictions::Column::ModelVersion,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .do_nothing()
                .exec_without_returning(&self.conn)
                .await;
            if let Err(e) = inserted {
                if matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))) {
                    let found: HashSet<Uuid> = self
                        .get_images(&image_ids)
                        .await?
                        .iter()
                        .map(|i| i.id)
                        .collect();
                    if let Some(missing) = image_ids.iter().find(|id| !found.contains(id)) {
                        return Err(DbError::NotFound {
                            entity: "image",
                            id: *missing,
                        });
                    }
                }
                return Err(DbError::Database(e));
            }
        }
        let stored = self.predictions_for_images(&image_ids).await?;
        let inserted = stored.iter().map(|r| ours.contains(&r.id)).collect();
        Ok(RecordedPredictions { stored, inserted })
    }

    /// Every prediction of these images, oldest first.
    pub async fn predictions_for_images(&self, ids: &[Uuid]) -> Result<Vec<predictions::Model>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            out.extend(
                predictions::Entity::find()
                    .filter(predictions::Column::ImageId.is_in(chunk.iter().copied()))
                    .order_by_asc(predictions::Column::CreatedAt)
                    .order_by_asc(predictions::Column::Id)
                    .all(&self.conn)
                    .await?,
            );
        }
        Ok(out)
    }

    /// Predictions matching `filter`, newest first (`created_at DESC, id DESC`), keyset
    /// pagination as in [`Db::list_images`].
    pub async fn list_predictions(
        &self,
        filter: &PredictionFilter,
        after: Option<Cursor>,
        limit: u64,
    ) -> Result<Vec<predictions::Model>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut cond = Condition::all();
        if let Some(image_id) = filter.image_id {
            cond = cond.add(predictions::Column::ImageId.eq(image_id));
        }
        if let Some(model) = &filter.model {
            cond = cond.add(predictions::Column::Model.eq(model.as_str()));
        }
        if let Some(since) = filter.since {
            cond = cond.add(predictions::Column::CreatedAt.gte(since));
        }
        if let Some(until) = filter.until {
            cond = cond.add(predictions::Column::CreatedAt.lt(until));
        }
        if let Some(cursor) = &after {
            cond = cond.add(before_cursor(
                predictions::Column::CreatedAt,
                predictions::Column::Id,
                cursor,
            ));
        }
        Ok(predictions::Entity::find()
            .filter(cond)
            .order_by_desc(predictions::Column::CreatedAt)
            .order_by_desc(predictions::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    /// The `limit` most recent predictions, newest first.
    pub async fn recent_predictions(&self, limit: u64) -> Result<Vec<predictions::Model>> {
        self.list_predictions(&PredictionFilter::default(), None, limit)
            .await
    }

    /// Deletes the predictions created before `cutoff` (F23 retention); returns how many.
    pub async fn purge_predictions_before(&self, cutoff: DateTimeUtc) -> Result<u64> {
        let res = predictions::Entity::delete_many()
            .filter(predictions::Column::CreatedAt.lt(cutoff))
            .exec(&self.conn)
            .await?;
        Ok(res.rows_affected)
    }

    // ----- comparisons ------------------------------------------------------------------------

    /// In one transaction: records the comparison and sets the image `completed` with
    /// `completed_at` now. Returns `true` the first time only; later calls change nothing.
    /// [`DbError::NotFound`] if the image does not exist.
    pub async fn complete_image(&self, id: Uuid, comparison: NewComparison) -> Result<bool> {
        Ok(!self
            .complete_images(vec![(id, comparison)])
            .await?
            .is_empty())
    }

    /// [`Db::complete_image`] for several images in one transaction (one commit); returns the
    /// images this call completed. [`DbError::NotFound`] (and nothing written) if one of them
    /// does not exist.
    pub async fn complete_images(
        &self,
        mut completions: Vec<(Uuid, NewComparison)>,
    ) -> Result<Vec<Uuid>> {
        // One order for every caller, so that two transactions completing the same images
        // never wait for each other crosswise (a deadlock on PostgreSQL).
        completions.sort_by_key(|(id, _)| *id);
        for (_, comparison) in &completions {
            check_finite("agreement", comparison.agreement)?;
        }
        if completions.is_empty() {
            return Ok(Vec::new());
        }
        let completed_at = now();
        let txn = self.conn.begin().await?;
        let mut completed = Vec::new();
        for (id, comparison) in completions {
            let am = comparisons::ActiveModel {
                image_id: Set(id),
                fastest_model: Set(comparison.fastest_model),
                most_confident_model: Set(comparison.most_confident_model),
                consensus_class: Set(comparison.consensus_class),
                agreement: Set(comparison.agreement),
                created_at: Set(completed_at),
            };
            // The insert comes first so that, on SQLite, the transaction takes the write lock
            // at once (waiting under the busy timeout) instead of failing to upgrade a read
            // lock. It decides: the first comparison of an image completes it, later ones
            // change nothing.
            let res = comparisons::Entity::insert(am)
                .on_conflict(
                    OnConflict::column(comparisons::Column::ImageId)
                        .do_nothing()
                        .to_owned(),
                )
                .do_nothing()
                .exec_without_returning(&txn)
                .await
                .map_err(|e| map_fk(e, "image", id))?;
            if !matches!(res, TryInsertResult::Inserted(n) if n > 0) {
                continue;
            }
            images::Entity::update_many()
                .col_expr(
                    images::Column::Status,
                    Expr::value(images::STATUS_COMPLETED),
                )
                .col_expr(images::Column::CompletedAt, Expr::value(completed_at))
                .filter(images::Column::Id.eq(id))
                .exec(&txn)
                .await?;
            completed.push(id);
        }
        txn.commit().await?;
        Ok(completed)
    }

    /// The comparisons of these images (those that are completed), in no particular order.
    pub async fn comparisons_for_images(&self, ids: &[Uuid]) -> Result<Vec<comparisons::Model>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            out.extend(
                comparisons::Entity::find()
                    .filter(comparisons::Column::ImageId.is_in(chunk.iter().copied()))
                    .all(&self.conn)
                    .await?,
            );
        }
        Ok(out)
    }

    // ----- statistics -------------------------------------------------------------------------

    /// Per-model statistics of the predictions created at or after `since` (all if `None`),
    /// sorted by model name. Models without predictions in the window are absent.
    pub async fn model_stats(&self, since: Option<DateTimeUtc>) -> Result<Vec<ModelStats>> {
        use predictions::Column as P;

        let backend = self.conn.get_database_backend();
        let txn = match backend {
            DbBackend::Postgres => {
                self.conn
                    .begin_with_config(
                        Some(IsolationLevel::RepeatableRead),
                        Some(AccessMode::ReadOnly),
                    )
                    .await?
            }
            _ => self.conn.begin().await?,
        };
        let window = |q: &mut SelectStatement| {
            q.from(predictions::Entity);
            if let Some(since) = since {
                q.and_where(Expr::col(P::CreatedAt).gte(since));
            }
        };

        let mut agg = Query::select();
        window(&mut agg);
        agg.column(P::Model)
            .expr_as(Func::count(Expr::col(P::Id)), Alias::new("n"))
            .expr_as(Func::avg(Expr::col(P::InferenceMs)), Alias::new("mean_ms"))
            .expr_as(Func::avg(Expr::col(P::Confidence)), Alias::new("mean_conf"))
            .expr_as(
                Func::sum(Expr::case(Expr::col(P::Correct).is_null(), 0).finally(1)),
                Alias::new("labeled"),
            )
            .expr_as(
                Func::sum(Expr::case(Expr::col(P::Correct).eq(true), 1).finally(0)),
                Alias::new("correct"),
            )
            .group_by_col(P::Model)
            .order_by(P::Model, Order::Asc);
        let rows = txn.query_all(backend.build(&agg)).await?;

        let mut versions = Query::select();
        window(&mut versions);
        versions
            .distinct()
            .column(P::Model)
            .column(P::ModelVersion)
            .order_by(P::Model, Order::Asc)
            .order_by(P::ModelVersion, Order::Asc);
        let version_rows = txn.query_all(backend.build(&versions)).await?;
        let mut model_versions: Vec<(String, String)> = Vec::with_capacity(version_rows.len());
        for row in version_rows {
            model_versions.push((
                row.try_get("", P::Model.as_str())?,
                row.try_get("", P::ModelVersion.as_str())?,
            ));
        }

        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let model: String = row.try_get("", P::Model.as_str())?;
            let count = non_negative(row.try_get::<i64>("", "n")?);
            let labeled = non_negative(row.try_get::<i64>("", "labeled")?);
            let correct = non_negative(row.try_get::<i64>("", "correct")?);
            let mut percentiles = [0.0f64; 3];
            for (slot, p) in percentiles.iter_mut().zip([50u64, 95, 99]) {
                let rank = nearest_rank(p, count);
                let mut q = Query::select();
                window(&mut q);
                q.column(P::InferenceMs)
                    .and_where(Expr::col(P::Model).eq(model.as_str()))
                    .order_by(P::InferenceMs, Order::Asc)
                    .limit(1)
                    .offset(rank.saturating_sub(1));
                if let Some(row) = txn.query_one(backend.build(&q)).await? {
                    *slot = row.try_get("", P::InferenceMs.as_str())?;
                }
            }
            out.push(ModelStats {
                model_versions: model_versions
                    .iter()
                    .filter(|(m, _)| *m == model)
                    .map(|(_, v)| v.clone())
                    .collect(),
                model,
                count,
                latency_p50_ms: percentiles[0],
                latency_p95_ms: percentiles[1],
                latency_p99_ms: percentiles[2],
                mean_latency_ms: row.try_get::<Option<f64>>("", "mean_ms")?.unwrap_or(0.0),
                mean_confidence: row.try_get::<Option<f64>>("", "mean_conf")?.unwrap_or(0.0),
                labeled,
                correct,
                accuracy: (labeled > 0).then(|| correct as f64 / labeled as f64),
            });
        }
        txn.commit().await?;
        Ok(out)
    }

    // ----- events -----------------------------------------------------------------------------

    /// Appends an event to the audit log (F25).
    pub async fn record_event(
        &self,
        kind: &str,
        subject: Option<&str>,
        detail: Option<serde_json::Value>,
    ) -> Result<events::Model> {
        let model = events::Model {
            id: Uuid::new_v4(),
            created_at: now(),
            kind: kind.to_owned(),
            subject: subject.map(str::to_owned),
            detail,
        };
        let am: events::ActiveModel = model.clone().into();
        events::Entity::insert(am)
            .exec_without_returning(&self.conn)
            .await?;
        Ok(model)
    }

    /// The `limit` most recent events, newest first.
    pub async fn recent_events(&self, limit: u64) -> Result<Vec<events::Model>> {
        Ok(events::Entity::find()
            .order_by_desc(events::Column::CreatedAt)
            .order_by_desc(events::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }
}

fn check_finite(what: &str, x: f64) -> Result<()> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(DbError::InvalidInput(format!("{what} is {x}")))
    }
}

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// 1-based nearest rank of the `p`-th percentile (`p` in 1..=100) among `n` sorted values:
/// `ceil(p * n / 100)`, at least 1.
pub fn nearest_rank(p: u64, n: u64) -> u64 {
    (p * n).div_ceil(100).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        let c = Cursor::new(Utc::now(), Uuid::new_v4());
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(matches!(
            Cursor::decode("zz"),
            Err(DbError::InvalidCursor(_))
        ));
        assert!(matches!(
            Cursor::decode(&c.encode()[2..]),
            Err(DbError::InvalidCursor(_))
        ));
    }

    #[test]
    fn nearest_rank_values() {
        assert_eq!(nearest_rank(50, 1), 1);
        assert_eq!(nearest_rank(50, 10), 5);
        assert_eq!(nearest_rank(95, 20), 19);
        assert_eq!(nearest_rank(99, 20), 20);
        assert_eq!(nearest_rank(99, 0), 1);
    }

    #[test]
    fn redacts_password() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
