//! An in-process read cache that never serves a value older than the last
//! acknowledged write.
//!
//! The classic cache-aside race: a reader misses, reads the old row, the
//! writer commits and invalidates, then the reader fills the cache with the
//! old row. Here every key maps to a stripe holding a generation number. An
//! invalidation bumps it (after the commit); a fill only lands if the stripe's
//! generation is still the one seen before the database read began.

use crate::bounded::BoundedCache;
use bytes::Bytes;
use inventory_core::catalogue::Item;
use inventory_core::Error;
use std::future::Future;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Mutex;
use std::time::Duration;

/// An item as served: its entity tag and its JSON, rendered once per
/// version (a cache hit costs no serialization) into one exact-size
/// allocation that every copy shares (cloning is a reference count).
#[derive(Clone)]
pub struct CachedItem {
    /// The `ETag` value, then the JSON.
    bytes: Bytes,
    etag_len: usize,
}

impl CachedItem {
    pub fn render(item: &Item) -> Result<Self, Error> {
        let etag = item.etag();
        let mut buf = Vec::with_capacity(etag.len() + 512);
        buf.extend_from_slice(etag.as_bytes());
        serde_json::to_writer(&mut buf, item).map_err(Error::internal)?;
        Ok(Self::from_buffer(buf, etag.len()))
    }

    /// An item read back from elsewhere (Redis): its tag and its JSON.
    pub fn from_parts(etag: &[u8], json: &[u8]) -> Self {
        let mut buf = Vec::with_capacity(etag.len() + json.len());
        buf.extend_from_slice(etag);
        buf.extend_from_slice(json);
        Self {
            bytes: Bytes::from(buf),
            etag_len: etag.len(),
        }
    }

    fn from_buffer(buf: Vec<u8>, etag_len: usize) -> Self {
        // Held for as long as the item is cached: copied into an allocation
        // of its exact size (shrinking in place keeps the allocator's
        // larger block).
        Self {
            bytes: Bytes::copy_from_slice(&buf),
            etag_len,
        }
    }

    /// The `ETag` value (a quoted version number).
    pub fn etag(&self) -> Bytes {
        self.bytes.slice(..self.etag_len)
    }

    pub fn json(&self) -> Bytes {
        self.bytes.slice(self.etag_len..)
    }

    /// What an entry costs in memory: its bytes, the allocator's rounding
    /// and the buffer's shared header, and the cache's own bookkeeping (the
    /// hash map slot and the ring's key: `crate::bounded`).
    pub(crate) fn weight(&self) -> u32 {
        const BOOKKEEPING: usize = 160;
        u32::try_from(self.bytes.len() + BOOKKEEPING).unwrap_or(u32::MAX)
    }
}

/// A process-local cache whose fills cannot land after an invalidation.
pub struct CoherentCache<K, V> {
    /// `None` when caching is off: every read loads.
    entries: Option<BoundedCache<K, V>>,
    /// Generation counters, each behind its own lock.
    stripes: Vec<Mutex<u64>>,
    hasher: RandomState,
}

const STRIPES: usize = 256;

impl<K, V> CoherentCache<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache of at most about `capacity` entries.
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self::with(BoundedCache::with_capacity(capacity, ttl))
    }

    /// A cache of at most `max_weight` in total, each entry weighing what
    /// `weigh` says (bytes, say), so that its memory has a bound.
    pub fn weighted(max_weight: u64, ttl: Duration, weigh: fn(&K, &V) -> u32) -> Self {
        Self::with(BoundedCache::new(max_weight, ttl, weigh))
    }

    fn with(entries: BoundedCache<K, V>) -> Self {
        Self {
            entries: Some(entries),
            stripes: (0..STRIPES).map(|_| Mutex::new(0)).collect(),
            hasher: RandomState::new(),
        }
    }

    /// A cache that stores nothing: for a database other processes write
    /// to, where invalidating only this process's copy would not be enough.
    pub fn disabled() -> Self {
        Self {
            entries: None,
            stripes: vec![Mutex::new(0)],
            hasher: RandomState::new(),
        }
    }

    fn stripe(&self, key: &K) -> &Mutex<u64> {
        &self.stripes[(self.hasher.hash_one(key) as usize) % self.stripes.len()]
    }

    fn generation(&self, key: &K) -> u64 {
        *self.stripe(key).lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, key: &K) -> Option<V> {
        self.entries.as_ref()?.get(key)
    }

    /// Returns the cached value or loads it; a value loaded while an
    /// invalidation of its stripe happened is returned but not cached.
    pub async fn get_or_load<E, F, Fut>(&self, key: &K, load: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let Some(entries) = &self.entries else {
            return load().await;
        };
        if let Some(v) = entries.get(key) {
            return Ok(v);
        }
        let seen = self.generation(key);
        let value = load().await?;
        let stripe = self.stripe(key).lock().unwrap_or_else(|e| e.into_inner());
        if *stripe == seen {
            entries.insert(key.clone(), value.clone());
        }
        drop(stripe);
        Ok(value)
    }

    /// Call after a write that changed many keys (a user's role, which every
    /// session of theirs holds) has committed.
    pub fn invalidate_all(&self) {
        // Every stripe first, so that no fill in flight can land after.
        let mut stripes: Vec<_> = self
            .stripes
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()))
            .collect();
        for stripe in stripes.iter_mut() {
            **stripe += 1;
        }
        if let Some(entries) = &self.entries {
            entries.clear();
        }
    }

    /// Call after the write that changed `key` has committed.
    pub fn invalidate(&self, key: &K) {
        let mut stripe = self.stripe(key).lock().unwrap_or_else(|e| e.into_inner());
        *stripe += 1;
        if let Some(entries) = &self.entries {
            entries.invalidate(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_item_is_its_tag_and_its_json_in_one_buffer() {
        let item = CachedItem::from_parts(b"\"3\"", b"{\"a\":1}");
        assert_eq!(&item.etag()[..], b"\"3\"");
        assert_eq!(&item.json()[..], b"{\"a\":1}");
        assert_eq!(item.weight(), 3 + 7 + 160);
    }

    #[tokio::test]
    async fn invalidating_all_drops_every_entry_and_every_fill_in_flight() {
        let cache: CoherentCache<u32, u32> = CoherentCache::new(100, Duration::from_secs(60));
        cache
            .get_or_load(&1, || async { Ok::<_, ()>(10) })
            .await
            .unwrap();
        assert_eq!(cache.get(&1), Some(10));
        // A load that began before the invalidation returns its value but
        // does not keep it.
        let got = cache
            .get_or_load(&2, || async {
                cache.invalidate_all();
                Ok::<_, ()>(20)
            })
            .await
            .unwrap();
        assert_eq!(got, 20);
        assert_eq!((cache.get(&1), cache.get(&2)), (None, None));
        cache
            .get_or_load(&2, || async { Ok::<_, ()>(21) })
            .await
            .unwrap();
        assert_eq!(cache.get(&2), Some(21), "later fills are kept again");
    }

    #[tokio::test]
    async fn a_weighted_cache_keeps_its_total_under_the_bound() {
        let cache: CoherentCache<u32, Vec<u8>> =
            CoherentCache::weighted(10_000, Duration::from_secs(60), |_, v| v.len() as u32);
        for key in 0..100u32 {
            let _ = cache
                .get_or_load(&key, || async { Ok::<_, ()>(vec![0u8; 1_000]) })
                .await;
        }
        let (entries, weight) = cache.entries.as_ref().unwrap().size();
        assert!(weight <= 10_000, "{weight} bytes held");
        assert!(entries <= 10, "{entries} entries");
    }

    #[tokio::test]
    async fn a_fill_that_raced_an_invalidation_is_not_kept() {
        let cache: CoherentCache<u32, &str> = CoherentCache::new(10, Duration::from_secs(60));
        // The reader read "old"; before it could fill, the writer invalidated.
        let v = cache
            .get_or_load(&1, || async {
                cache.invalidate(&1);
                Ok::<_, ()>("old")
            })
            .await
            .unwrap();
        assert_eq!(v, "old");
        assert_eq!(cache.get(&1), None, "a stale fill must not land");

        let v = cache
            .get_or_load(&1, || async { Ok::<_, ()>("new") })
            .await
            .unwrap();
        assert_eq!(v, "new");
        assert_eq!(cache.get(&1), Some("new"));
        cache.invalidate(&1);
        assert_eq!(cache.get(&1), None);
    }
}
