//! Item reads through a cache that never serves a value older than the last
//! acknowledged write, bounded in memory.
//!
//! Which cache serves depends on the deployment:
//!
//! | backend | Redis | item cache |
//! |---|---|---|
//! | one process owns the database (SQLite) | no | process-local [`CoherentCache`] |
//! | replicas share the database (PostgreSQL) | no | none: every read goes to the database |
//! | either | yes | Redis, plus local copies checked against it on every read ([`crate::redis`]) |
//!
//! The local copies weigh what their JSON and tag do (plus an allowance for
//! the cache's own bookkeeping), and their total stays under
//! `CACHE_MAX_BYTES`.

use crate::bounded::BoundedCache;
use crate::cache::{CachedItem, CoherentCache};
use crate::redis::{LocalCopies, Redis};
use inventory_core::{Error, Store};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Where item reads are cached.
pub(crate) enum ItemCache {
    /// This process is the only writer (SQLite): a process-local cache.
    Local(CoherentCache<Uuid, CachedItem>),
    /// Replicas share Redis: local copies checked against the generation in
    /// Redis on every read.
    Shared(LocalCopies),
    /// Replicas share the database and there is no Redis: no cache at all,
    /// since invalidating one process's copy would not be enough.
    Off,
}

impl ItemCache {
    pub(crate) fn new(store: &dyn Store, redis: bool, ttl: Duration, max_bytes: u64) -> Self {
        match (redis, store.shared_by_replicas()) {
            (true, _) => Self::Shared(BoundedCache::new(
                max_bytes,
                ttl,
                |_, (_, _, item): &(Arc<str>, u64, CachedItem)| item.weight(),
            )),
            (false, false) => Self::Local(CoherentCache::weighted(max_bytes, ttl, |_, item| {
                item.weight()
            })),
            (false, true) => Self::Off,
        }
    }

    /// The item, from a cache that holds its current version, or loaded.
    pub(crate) async fn get<F, Fut>(
        &self,
        redis: Option<&Redis>,
        id: Uuid,
        load: F,
    ) -> Result<CachedItem, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedItem, Error>>,
    {
        match self {
            Self::Local(cache) => {
                if let Some(hit) = cache.get(&id) {
                    metrics::counter!("inventory_cache_hits_total", "layer" => "local")
                        .increment(1);
                    return Ok(hit);
                }
                metrics::counter!("inventory_cache_misses_total", "layer" => "local").increment(1);
                cache.get_or_load(&id, load).await
            }
            Self::Shared(local) => match redis {
                Some(redis) => redis.get_or_load(id, local, load).await,
                None => load().await,
            },
            Self::Off => load().await,
        }
    }

    /// After a committed write to the item, before it is acknowledged.
    pub(crate) async fn invalidate(&self, redis: Option<&Redis>, id: Uuid) {
        match self {
            Self::Local(cache) => cache.invalidate(&id),
            Self::Shared(local) => {
                local.invalidate(&id);
                if let Some(redis) = redis {
                    redis.invalidate(id).await;
                }
            }
            Self::Off => {}
        }
    }
}
