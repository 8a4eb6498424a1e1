//! [`DbError`] and the crate's [`Result`].

use sea_orm::{DbErr, SqlErr};
use uuid::Uuid;

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
    /// A cursor string that [`Cursor::encode`](crate::Cursor::encode) did not produce.
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
    /// A row with the same unique values exists (a model version's label).
    #[error("{0}")]
    Conflict(String),
    /// No version `version` of model `name` is registered.
    #[error("model {name} has no version {version}")]
    UnknownModelVersion {
        /// The model.
        name: String,
        /// The version number looked for.
        version: i32,
    },
    /// Any other database error (including a stored value this crate cannot read, such as an
    /// unknown image status).
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

/// Result of this crate.
pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// A foreign key violation is the referenced row missing: [`DbError::NotFound`].
pub(crate) fn map_fk(err: DbErr, entity: &'static str, id: Uuid) -> DbError {
    match err.sql_err() {
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => DbError::NotFound { entity, id },
        _ => DbError::Database(err),
    }
}

/// Refuses NaN and infinities ([`DbError::InvalidInput`] naming `what`).
pub(crate) fn check_finite(what: &str, x: f64) -> Result<()> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(DbError::InvalidInput(format!("{what} is {x}")))
    }
}
