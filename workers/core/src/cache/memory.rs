//! An in-process descriptor cache of bounded size: the oldest entries go first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{CacheError, DescriptorCache};

pub struct MemoryCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, Vec<f32>>,
    /// Insertion order, for eviction.
    order: VecDeque<String>,
}

impl MemoryCache {
    /// Holds at most `capacity` vectors (a 256-float vector is 1 KiB).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::default(),
        }
    }
}

#[async_trait]
impl DescriptorCache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<f32>>, CacheError> {
        let entries = self.entries.lock().expect("cache poisoned");
        Ok(entries.map.get(key).cloned())
    }

    async fn put(&self, key: &str, descriptors: &[f32]) -> Result<(), CacheError> {
        let mut entries = self.entries.lock().expect("cache poisoned");
        if entries
            .map
            .insert(key.to_string(), descriptors.to_vec())
            .is_none()
        {
            entries.order.push_back(key.to_string());
        }
        while entries.map.len() > self.capacity {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            entries.map.remove(&oldest);
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_newest_entries_within_capacity() {
        let cache = MemoryCache::new(2);
        assert_eq!(cache.get("a").await.unwrap(), None);
        cache.put("a", &[1.0]).await.unwrap();
        cache.put("b", &[2.0]).await.unwrap();
        // Rewriting a key neither duplicates nor reorders it.
        cache.put("a", &[1.5]).await.unwrap();
        assert_eq!(cache.get("a").await.unwrap(), Some(vec![1.5]));
        cache.put("c", &[3.0]).await.unwrap();
        assert_eq!(cache.get("a").await.unwrap(), None, "oldest evicted");
        assert_eq!(cache.get("b").await.unwrap(), Some(vec![2.0]));
        assert_eq!(cache.get("c").await.unwrap(), Some(vec![3.0]));
    }
}
