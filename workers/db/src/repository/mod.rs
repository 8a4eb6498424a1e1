//! The [`Db`](crate::Db) methods, one module per concern; each adds an `impl Db` block and
//! defines the types its methods take or return (re-exported at the crate root).

pub(crate) mod api_keys;
pub(crate) mod audit;
pub(crate) mod comparisons;
pub(crate) mod events;
pub(crate) mod experiments;
pub(crate) mod feed;
pub(crate) mod images;
pub(crate) mod jobs;
pub(crate) mod outbox;
pub(crate) mod predictions;
pub(crate) mod quality;
pub(crate) mod registry;
pub(crate) mod statistics;

/// Ids per `IN (...)` query, well below SQLite's bound-parameter limit.
pub(crate) const IN_CHUNK: usize = 500;
/// Rows one multi-row INSERT carries at most: under SQLite's 32,766 parameters for tables of up
/// to 32 columns.
pub(crate) const INSERT_CHUNK: usize = 1_000;

/// `rows` in groups of at most [`INSERT_CHUNK`], one INSERT each; moved, not copied.
pub(crate) fn insert_groups<T>(rows: impl IntoIterator<Item = T>) -> impl Iterator<Item = Vec<T>> {
    let mut rows = rows.into_iter().peekable();
    std::iter::from_fn(move || {
        rows.peek()?;
        Some(rows.by_ref().take(INSERT_CHUNK).collect())
    })
}

/// A count read from the database as `u64` (a negative one, which cannot happen, is 0).
pub(crate) fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
