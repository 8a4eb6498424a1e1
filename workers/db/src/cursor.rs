//! [`Cursor`]: keyset pagination of the newest-first listings, and the crate's clock ([`now`]).

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition};
use uuid::Uuid;

use crate::{DateTimeUtc, DbError, Result, events, images, predictions};

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
pub(crate) fn before_cursor<C: ColumnTrait>(created: C, id: C, cursor: &Cursor) -> Condition {
    Condition::any().add(created.lt(cursor.created_at)).add(
        Condition::all()
            .add(created.eq(cursor.created_at))
            .add(id.lt(cursor.id)),
    )
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
}
