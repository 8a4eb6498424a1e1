//! Object store on a local directory (the embedded default).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::{ObjectInfo, ObjectStore, StoreError, check_key};

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

/// Every object under `dir` (a write's temporary file, a dot file, is not one).
fn walk(root: &Path, dir: &Path, found: &mut Vec<ObjectInfo>) -> Result<(), StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(unavailable(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| unavailable(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| unavailable(&path, e))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if kind.is_dir() {
            walk(root, &path, found)?;
        } else if kind.is_file() {
            let key = path
                .strip_prefix(root)
                .expect("under the root")
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/");
            let size = entry.metadata().map_err(|e| unavailable(&path, e))?.len();
            found.push(ObjectInfo { key, size });
        }
    }
    Ok(())
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

    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectInfo>, StoreError> {
        let (root, prefix, after) = (
            self.root.clone(),
            prefix.to_string(),
            after.map(str::to_string),
        );
        tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            walk(&root, &root, &mut found)?;
            // Keys are ASCII: sorting the strings sorts their bytes, as S3 lists them.
            found.retain(|o| {
                o.key.starts_with(&prefix) && after.as_deref().is_none_or(|a| o.key.as_str() > a)
            });
            found.sort_by(|a, b| a.key.cmp(&b.key));
            found.truncate(limit);
            Ok(found)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("object listing panicked: {e}")))?
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

    #[tokio::test]
    async fn lists_in_key_order_by_pages() {
        let dir = std::env::temp_dir().join(format!("vision-store-{}", uuid::Uuid::new_v4()));
        let store = LocalStore::new(&dir).unwrap();
        for key in [
            "raw-images/2026/02/01/b.png",
            "raw-images/2026/01/02/a.png",
            "raw-images/2026/01/02/c.png",
            "models/x/1.onnx",
        ] {
            store
                .put(key, Bytes::from_static(b"abcd"), "")
                .await
                .unwrap();
        }
        // A write in progress (its temporary file) is not an object.
        std::fs::write(dir.join("raw-images/2026/01/02/.x.tmp"), b"half").unwrap();
        let first = store.list("raw-images/", None, 2).await.unwrap();
        let keys: Vec<&str> = first.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            ["raw-images/2026/01/02/a.png", "raw-images/2026/01/02/c.png"]
        );
        assert_eq!(first[0].size, 4);
        let rest = store
            .list("raw-images/", Some(&first[1].key), 2)
            .await
            .unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].key, "raw-images/2026/02/01/b.png");
        assert_eq!(store.list("", None, 10).await.unwrap().len(), 4);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
