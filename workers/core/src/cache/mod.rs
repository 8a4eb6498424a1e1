//! The descriptor-cache seam (F4): an image uploaded again (same bytes, so same SHA-256) reuses
//! the descriptors the same extractor version computed for it, instead of a second backbone
//! pass. [`MemoryCache`] for one process, [`RedisCache`] (`REDIS_URL`) shared by every extractor
//! replica. A cache is an optimisation only: callers treat its errors as misses.

mod memory;
mod redis;

use async_trait::async_trait;

pub use memory::MemoryCache;
pub use redis::RedisCache;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("descriptor cache unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait DescriptorCache: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<Vec<f32>>, CacheError>;
    async fn put(&self, key: &str, descriptors: &[f32]) -> Result<(), CacheError>;
    /// Short name for health reports ("memory", "redis").
    fn kind(&self) -> &'static str;
}

/// The key of an image's descriptors: they depend on the bytes and on the extractor.
pub fn descriptor_key(extractor_version: &str, content_hash: &str) -> String {
    format!("vision:descriptors:{extractor_version}:{content_hash}")
}
