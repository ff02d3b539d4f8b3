//! A concurrent map bounded by the total weight of its entries (bytes, or
//! one per entry), whose entries also expire after a time to live.
//!
//! Written here rather than taken from a general cache crate for its
//! footprint: the item cache holds one entry per item, and with 100,000
//! items a general-purpose entry's bookkeeping (access and write order
//! nodes, timer wheel, frequency sketch) cost more than the item's JSON.
//! Here an entry is its key, its value, a weight, a coarse expiry and a
//! "used since last looked at" bit in a hash map, plus its key in a ring.
//!
//! Eviction is CLOCK (second chance): when a shard is over its share of the
//! bound, keys are taken from the front of its ring; one used since it was
//! last looked at goes to the back with the bit cleared, one that was not is
//! evicted. Recently read entries stay; entries read once go first.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most shards a cache is split into (fewer for small bounds, so that
/// each shard's share still holds entries).
const SHARDS: usize = 64;
/// A shard's share of the bound is at least this many weight units.
const MIN_SHARE: u64 = 4096;

struct Slot<V> {
    value: V,
    weight: u32,
    /// Seconds since the cache was made, after which the entry is gone.
    expires: u32,
    used: bool,
}

struct Shard<K, V> {
    map: HashMap<K, Slot<V>, RandomState>,
    /// Keys in CLOCK order; may hold keys already removed (skipped when met).
    ring: VecDeque<K>,
    weight: u64,
}

pub struct BoundedCache<K, V> {
    shards: Box<[Mutex<Shard<K, V>>]>,
    hasher: RandomState,
    weigh: fn(&K, &V) -> u32,
    shard_budget: u64,
    ttl_secs: u32,
    start: Instant,
}

impl<K, V> BoundedCache<K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    /// A cache whose entries weigh `weigh` each, `max_weight` in all.
    pub fn new(max_weight: u64, ttl: Duration, weigh: fn(&K, &V) -> u32) -> Self {
        let count = usize::try_from(max_weight / MIN_SHARE)
            .unwrap_or(SHARDS)
            .clamp(1, SHARDS);
        let shards = (0..count)
            .map(|_| {
                Mutex::new(Shard {
                    map: HashMap::with_hasher(RandomState::new()),
                    ring: VecDeque::new(),
                    weight: 0,
                })
            })
            .collect();
        Self {
            shards,
            hasher: RandomState::new(),
            weigh,
            shard_budget: max_weight / count as u64,
            ttl_secs: u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX).max(1),
            start: Instant::now(),
        }
    }

    /// A cache of at most about `capacity` entries.
    pub fn with_capacity(capacity: u64, ttl: Duration) -> Self {
        Self::new(capacity, ttl, |_, _| 1)
    }

    fn shard(&self, key: &K) -> &Mutex<Shard<K, V>> {
        &self.shards[(self.hasher.hash_one(key) as usize) % self.shards.len()]
    }

    fn now(&self) -> u32 {
        u32::try_from(self.start.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let now = self.now();
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        match shard.map.get_mut(key) {
            Some(slot) if slot.expires > now => {
                slot.used = true;
                Some(slot.value.clone())
            }
            Some(_) => {
                if let Some(slot) = shard.map.remove(key) {
                    shard.weight -= u64::from(slot.weight);
                }
                None
            }
            None => None,
        }
    }

    pub fn insert(&self, key: K, value: V) {
        let weight = (self.weigh)(&key, &value);
        if u64::from(weight) > self.shard_budget {
            // Larger than its shard's share: never kept (and nothing older
            // under the key either).
            self.invalidate(&key);
            return;
        }
        let expires = self.now().saturating_add(self.ttl_secs);
        let mut guard = self.shard(&key).lock().unwrap_or_else(|e| e.into_inner());
        let shard = &mut *guard;
        let slot = Slot {
            value,
            weight,
            expires,
            used: false,
        };
        match shard.map.insert(key.clone(), slot) {
            Some(old) => shard.weight -= u64::from(old.weight),
            None => shard.ring.push_back(key),
        }
        shard.weight += u64::from(weight);
        self.evict(shard);
        // Keys of removed entries linger in the ring: compact it when they
        // outnumber the live ones.
        if shard.ring.len() > 2 * shard.map.len() + 64 {
            let map = &shard.map;
            shard.ring.retain(|k| map.contains_key(k));
        }
    }

    /// CLOCK: see the module docs.
    fn evict(&self, shard: &mut Shard<K, V>) {
        // Each key gets at most one second chance per call.
        let mut budget = shard.ring.len() * 2;
        while shard.weight > self.shard_budget && budget > 0 {
            budget -= 1;
            let Some(key) = shard.ring.pop_front() else {
                break;
            };
            match shard.map.get_mut(&key) {
                None => {}
                Some(slot) if slot.used => {
                    slot.used = false;
                    shard.ring.push_back(key);
                }
                Some(_) => {
                    if let Some(slot) = shard.map.remove(&key) {
                        shard.weight -= u64::from(slot.weight);
                    }
                }
            }
        }
    }

    pub fn invalidate(&self, key: &K) {
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = shard.map.remove(key) {
            shard.weight -= u64::from(slot.weight);
        }
    }

    /// Drops every entry.
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.map.clear();
            shard.ring.clear();
            shard.weight = 0;
        }
    }

    /// Entries held, and their total weight.
    pub fn size(&self) -> (usize, u64) {
        self.shards.iter().fold((0, 0), |(n, w), shard| {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            (n + shard.map.len(), w + shard.weight)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_weight_stays_under_the_bound() {
        let cache: BoundedCache<u32, Vec<u8>> =
            BoundedCache::new(64 * 1_000, Duration::from_secs(60), |_, v| v.len() as u32);
        for key in 0..1_000u32 {
            cache.insert(key, vec![0u8; 100]);
        }
        let (entries, weight) = cache.size();
        assert!(weight <= 64 * 1_000, "{weight} bytes held");
        assert!(entries <= 640 && entries > 300, "{entries} entries");
        // A value heavier than a shard's share is not kept at all.
        cache.insert(5_000, vec![0u8; 10_000]);
        assert!(cache.get(&5_000).is_none());
    }

    #[test]
    fn entries_read_since_they_were_last_looked_at_are_kept() {
        // A small bound is one shard: ten entries of weight one.
        let cache: BoundedCache<u32, u32> =
            BoundedCache::with_capacity(10, Duration::from_secs(60));
        assert_eq!(cache.shards.len(), 1);
        let hot: Vec<u32> = (0..15).collect();
        for k in &hot[..10] {
            cache.insert(*k, *k);
        }
        // Read the first five, then push five more in: the unread ones go.
        for k in &hot[..5] {
            assert_eq!(cache.get(k), Some(*k));
        }
        for k in &hot[10..] {
            cache.insert(*k, *k);
        }
        for k in &hot[..5] {
            assert_eq!(cache.get(k), Some(*k), "a read entry was evicted");
        }
        for k in &hot[5..10] {
            assert_eq!(cache.get(k), None, "an unread entry stayed");
        }
    }

    #[test]
    fn entries_expire_after_their_time_to_live() {
        let mut cache: BoundedCache<u32, u32> =
            BoundedCache::with_capacity(100, Duration::from_secs(60));
        cache.insert(1, 1);
        assert_eq!(cache.get(&1), Some(1));
        // Two minutes on (the clock is the cache's own start instant).
        cache.start -= Duration::from_secs(120);
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.size(), (0, 0));
    }

    #[test]
    fn invalidated_and_replaced_entries_are_accounted() {
        let cache: BoundedCache<u32, Vec<u8>> =
            BoundedCache::new(1 << 20, Duration::from_secs(60), |_, v| v.len() as u32);
        cache.insert(1, vec![0; 10]);
        cache.insert(1, vec![0; 30]);
        assert_eq!(cache.size(), (1, 30));
        cache.invalidate(&1);
        assert_eq!(cache.size(), (0, 0));
        assert_eq!(cache.get(&1), None);
        // Churn does not grow the ring without end.
        for round in 0..1_000u32 {
            cache.insert(round % 3, vec![0; 5]);
            cache.invalidate(&(round % 3));
        }
        let ring: usize = cache
            .shards
            .iter()
            .map(|s| s.lock().unwrap().ring.len())
            .sum();
        assert!(ring <= SHARDS * 66, "{ring} keys in the rings");
    }
}
