//! Object store on a local directory (the embedded default).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::{ObjectStore, StoreError, check_key};

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        std::fs::create_dir_all(&root)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", root.display())))?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

fn unavailable(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{}: {e}", path.display()))
}

/// Writes beside the target, then renames: readers never see half an object.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().expect("keys have a parent");
    std::fs::create_dir_all(dir).map_err(|e| unavailable(dir, e))?;
    let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
    std::fs::write(&tmp, bytes).map_err(|e| unavailable(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        unavailable(path, e)
    })
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put(&self, key: &str, bytes: Bytes, _content_type: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        // One trip to the blocking pool for the directory, the write and the rename (three
        // `tokio::fs` calls would be three).
        tokio::task::spawn_blocking(move || write_whole(&path, &bytes))
            .await
            .map_err(|e| StoreError::Unavailable(format!("object write panicked: {e}")))?
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Bytes::from(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(key.to_string()))
            }
            Err(e) => Err(unavailable(&path, e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(unavailable(&path, e)),
        }
    }

    fn kind(&self) -> &'static str {
        "local"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        tokio::fs::metadata(&self.root)
            .await
            .map(|_| ())
            .map_err(|e| unavailable(&self.root, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_delete() {
        let dir = std::env::temp_dir().join(format!("vision-store-{}", uuid::Uuid::new_v4()));
        let store = LocalStore::new(&dir).unwrap();
        let key = "raw-images/2026/01/02/a.png";
        store
            .put(key, Bytes::from_static(b"abc"), "image/png")
            .await
            .unwrap();
        assert_eq!(store.get(key).await.unwrap(), Bytes::from_static(b"abc"));
        store.delete(key).await.unwrap();
        store.delete(key).await.unwrap();
        assert!(matches!(store.get(key).await, Err(StoreError::NotFound(_))));
        assert!(matches!(
            store.get("../x").await,
            Err(StoreError::InvalidKey(_))
        ));
        store.ping().await.unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
