//! [`Db`]: the connection pool, [`Db::connect`] (backend from the URL, then the migrations),
//! [`Db::ping`], [`Db::backend_name`], [`Db::conn`].

use std::time::Duration;

use sea_orm::TransactionTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use vision_migrations::MigratorTrait;

use crate::{DbError, Migrator, Result};

/// Key of the PostgreSQL advisory lock held while migrating.
const MIGRATION_LOCK_KEY: i64 = 0x7669_7369_6f6e; // "vision"

const SQLITE_POOL_SIZE: u32 = 8;
const POSTGRES_POOL_SIZE: u32 = 16;
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The repository: a cheap-to-clone handle on a connection pool.
#[derive(Clone, Debug)]
pub struct Db {
    pub(crate) conn: DatabaseConnection,
    /// Audit entries waiting to be written in a group (see [`Db::append_audit`]).
    pub(crate) audit_appends: std::sync::Arc<crate::repository::audit::AuditAppends>,
    /// Closed time-series points read before (see `rollups::points`).
    pub(crate) points: std::sync::Arc<crate::rollups::points::PointCache>,
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
            let single = Db::from_connection(connect(1).await?);
            single.migrate().await?;
            single.close().await?;
            let db = Db::from_connection(connect(SQLITE_POOL_SIZE).await?);
            tracing::info!(url = %redact(url), backend = "sqlite", "database ready");
            return Ok(db);
        }
        let max = if url.starts_with("sqlite:") {
            1
        } else {
            POSTGRES_POOL_SIZE
        };
        let db = Db::from_connection(connect(max).await?);
        db.migrate().await?;
        tracing::info!(url = %redact(url), backend = db.backend_name(), "database ready");
        Ok(db)
    }

    /// Wraps an existing connection without running the migrations.
    pub fn from_connection(conn: DatabaseConnection) -> Db {
        Db {
            conn,
            audit_appends: Default::default(),
            points: Default::default(),
        }
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
        run.await.map_err(DbError::Migration)?;
        self.ensure_stats_rollups().await
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
