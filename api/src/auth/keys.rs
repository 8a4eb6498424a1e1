//! API keys: made here, shown once, stored as SHA-256 only.

use sha2::{Digest, Sha256};
use vision_db::{Db, NewApiKey, Role, api_keys};

use crate::errors::{ApiError, ErrorCode};

/// What every key starts with, so that a leaked one is recognisable (secret scanners).
pub const KEY_PREFIX: &str = "vsk_";
/// Characters of a key kept to tell keys apart: the prefix and 8 more.
const SHOWN: usize = KEY_PREFIX.len() + 8;

/// A new key: `vsk_` and 64 hex digits of randomness (two v4 UUIDs: 244 random bits).
pub fn generate() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    format!("{KEY_PREFIX}{}{}", a.simple(), b.simple())
}

/// The stored form of a key: hex SHA-256. A key has 244 random bits, so a fast hash is enough
/// (no password stretching needed) and lets every request be checked with one indexed lookup.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A key just created: the secret (shown once) and its row.
pub struct CreatedKey {
    pub key: String,
    pub row: api_keys::Model,
}

/// Creates a key named `name` with `role`, recorded as made by `by`.
pub async fn create(db: &Db, name: &str, role: Role, by: &str) -> Result<CreatedKey, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::new(
            ErrorCode::InvalidArgument,
            "a key's name is 1 to 100 characters",
        ));
    }
    let key = generate();
    let row = db
        .create_api_key(NewApiKey {
            name: name.to_string(),
            role,
            prefix: key[..SHOWN].to_string(),
            key_hash: hash(&key),
            created_by: by.to_string(),
        })
        .await?;
    Ok(CreatedKey { key, row })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(
            a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 64,
            "{a}"
        );
        assert_eq!(hash(&a).len(), 64);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
    }
}
