//! The object-store seam: raw images live under dated keys
//! (`raw-images/YYYY/MM/DD/<uuid>.<ext>`), in a local directory for the embedded mode and in
//! S3/MinIO for the distributed one.

mod local;
mod s3;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

pub use local::LocalStore;
pub use s3::{S3Settings, S3Store};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("invalid object key {0:?}")]
    InvalidKey(String),
    #[error("object store unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Stores `bytes` under `key` atomically: a reader sees the whole object or none.
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<(), StoreError>;
    async fn get(&self, key: &str) -> Result<Bytes, StoreError>;
    /// Removes an object; removing a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Up to `limit` objects whose keys start with `prefix` and come after `after`, in
    /// ascending key order (byte order): pass the last key of a page to get the next.
    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectInfo>, StoreError>;
    /// Short name for health reports ("local", "s3").
    fn kind(&self) -> &'static str;
    /// Whether the store can currently be reached.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

/// The dated key of a raw image.
pub fn raw_image_key(id: Uuid, extension: &str, at: DateTime<Utc>) -> String {
    format!(
        "raw-images/{:04}/{:02}/{:02}/{}.{}",
        at.year(),
        at.month(),
        at.day(),
        id,
        extension
    )
}

/// Keys are relative paths of plain segments; anything that could escape the store is refused.
pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidKey(key.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dated_keys() {
        let id = Uuid::nil();
        let at = Utc.with_ymd_and_hms(2026, 3, 7, 1, 2, 3).unwrap();
        let key = raw_image_key(id, "jpg", at);
        assert_eq!(
            key,
            "raw-images/2026/03/07/00000000-0000-0000-0000-000000000000.jpg"
        );
        assert!(check_key(&key).is_ok());
        for bad in ["", "/etc/passwd", "a/../b", "a//b", "a/./b", "a b"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
