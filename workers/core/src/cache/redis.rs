//! The descriptor cache shared by every extractor replica: Redis at `REDIS_URL`. Vectors are
//! stored as little-endian f32 bytes with an expiry, so the cache never grows without bound.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{CacheError, DescriptorCache};

/// How long a vector stays without being written again.
const TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// A cache that does not answer quickly is skipped: the backbone is the fallback.
const TIMEOUT: Duration = Duration::from_millis(500);

pub struct RedisCache {
    connection: ConnectionManager,
}

impl RedisCache {
    /// Connects to `url` (`redis://host:port[/db]`); reconnects by itself afterwards.
    pub async fn connect(url: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT * 4)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(Self { connection })
    }
}

fn unavailable(e: redis::RedisError) -> CacheError {
    CacheError::Unavailable(e.to_string())
}

#[async_trait]
impl DescriptorCache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<f32>>, CacheError> {
        let bytes: Option<Vec<u8>> = self
            .connection
            .clone()
            .get(key)
            .await
            .map_err(unavailable)?;
        Ok(bytes.and_then(|bytes| decode(&bytes)))
    }

    async fn put(&self, key: &str, descriptors: &[f32]) -> Result<(), CacheError> {
        self.connection
            .clone()
            .set_ex::<_, _, ()>(key, encode(descriptors), TTL.as_secs())
            .await
            .map_err(unavailable)
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

fn encode(descriptors: &[f32]) -> Vec<u8> {
    descriptors.iter().flat_map(|d| d.to_le_bytes()).collect()
}

/// `None` for a value that is not a whole number of floats (written by something else).
fn decode(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_and_foreign_values_are_ignored() {
        let v = vec![0.0, -1.5, f32::MAX, 1e-7];
        assert_eq!(decode(&encode(&v)), Some(v));
        assert_eq!(decode(b"abc"), None);
    }
}
