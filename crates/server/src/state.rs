//! Application state shared by all handlers, and the services that sit
//! between handlers and the store: authentication, idempotency, caching.

use crate::auth;
use crate::cache::CoherentCache;
use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::shared::Redis;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use inventory_core::error::ConflictKind;
use inventory_core::model::{Item, User};
use inventory_core::store::{Idempotency, Render, StoredResponse};
use inventory_core::{Error, FieldError, Store};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Arc<dyn Store>,
    items: ItemCache,
    /// The layer replicas share, when `REDIS_URL` is set.
    pub redis: Option<Redis>,
    /// Sessions by token hash, with the Redis stamp they were loaded under
    /// when replicas share the database (see [`Redis::sessions_stamp`]).
    sessions: CoherentCache<String, CachedSession>,
    in_flight: Mutex<HashSet<(Uuid, String)>>,
    shutting_down: AtomicBool,
    /// Flips to true when shutdown begins, so long-lived streams can end.
    shutdown: tokio::sync::watch::Sender<bool>,
    /// Bumped after every committed change, to wake change-feed streams.
    events_tick: tokio::sync::watch::Sender<u64>,
    /// Items in the catalogue (archived included) and items not archived,
    /// kept in memory so that a scrape never counts rows.
    pub items_total: AtomicI64,
    pub items_active: AtomicI64,
    /// Last count of items at or below their reorder point, and when it was
    /// taken: a scrape recounts at most every [`LOW_STOCK_MAX_AGE`].
    pub low_stock: tokio::sync::Mutex<Option<(std::time::Instant, i64)>>,
}

/// How stale `inventory_low_stock_items` may be: counting is a scan.
pub const LOW_STOCK_MAX_AGE: Duration = Duration::from_secs(10);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

type CachedSession = (Option<crate::shared::SessionStamp>, User, DateTime<Utc>);

/// An item as served: its JSON and its ETag, rendered once per version so
/// that a cache hit costs no serialization.
pub struct CachedItem {
    pub json: Bytes,
    pub etag: HeaderValue,
}

impl CachedItem {
    fn render(item: &Item) -> Result<Self, Error> {
        Ok(Self {
            json: Bytes::from(serde_json::to_vec(item).map_err(Error::internal)?),
            etag: HeaderValue::from_str(&item.etag()).map_err(Error::internal)?,
        })
    }
}

/// Where item reads are cached.
enum ItemCache {
    /// This process is the only writer (SQLite): a process-local cache.
    Local(CoherentCache<Uuid, Arc<CachedItem>>),
    /// Replicas share the database and Redis: local copies checked against
    /// the generation in Redis on every read.
    Shared(crate::shared::LocalCopies),
    /// Replicas share the database and there is no Redis: no cache at all,
    /// since invalidating one process's copy would not be enough.
    Off,
}

/// An idempotent create in progress: holds the in-flight claim on the key
/// until the response is sent.
pub struct IdempotencyClaim {
    state: AppState,
    user_id: Uuid,
    key: String,
    pub request_hash: String,
}

impl IdempotencyClaim {
    pub fn record<T: Serialize + 'static>(&self, status: u16) -> Idempotency<T> {
        let render: Render<T> =
            Arc::new(|value: &T| serde_json::to_string(value).unwrap_or_default());
        Idempotency {
            user_id: self.user_id,
            key: self.key.clone(),
            request_hash: self.request_hash.clone(),
            status,
            render,
        }
    }
}

impl Drop for IdempotencyClaim {
    fn drop(&mut self) {
        if let Ok(mut set) = self.state.in_flight.lock() {
            set.remove(&(self.user_id, std::mem::take(&mut self.key)));
        }
    }
}

/// What an `Idempotency-Key` header leads to.
pub enum IdempotencyStart {
    /// No key: just do it.
    None,
    /// A key seen before with the same request: answer with this.
    Replay(StoredResponse),
    /// A new key: do it and record the response.
    Claimed(IdempotencyClaim),
}

impl AppState {
    pub async fn new(
        store: Arc<dyn Store>,
        redis: Option<Redis>,
        cache_ttl: Duration,
    ) -> Result<Self, Error> {
        // With replicas writing to the same database, a process-local cache
        // could serve a value another replica has changed.
        let shared = store.shared_by_replicas();
        let with_redis = redis.is_some();
        let items_total = store.count_all_items().await?;
        let items_active = store.count_items().await?;
        let local = || {
            moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(cache_ttl)
                .build()
        };
        let items = match (&redis, shared) {
            (Some(_), _) => ItemCache::Shared(local()),
            (None, false) => ItemCache::Local(CoherentCache::new(100_000, cache_ttl)),
            (None, true) => ItemCache::Off,
        };
        Ok(Self(Arc::new(Inner {
            store,
            items,
            redis,
            // Where other processes can end a session, a copy is trusted only
            // under Redis's current sessions stamp; without Redis, not at all.
            sessions: if shared && !with_redis {
                CoherentCache::disabled()
            } else {
                CoherentCache::new(100_000, Duration::from_secs(60))
            },
            in_flight: Mutex::new(HashSet::new()),
            shutting_down: AtomicBool::new(false),
            shutdown: tokio::sync::watch::channel(false).0,
            events_tick: tokio::sync::watch::channel(0).0,
            items_total: AtomicI64::new(items_total),
            items_active: AtomicI64::new(items_active),
            low_stock: tokio::sync::Mutex::new(None),
        })))
    }

    /// Items at or below their reorder point, recounted when the last count
    /// is older than [`LOW_STOCK_MAX_AGE`]; `None` if never counted (the
    /// database has been down since start).
    pub async fn low_stock_items(&self) -> Option<i64> {
        let mut last = self.low_stock.lock().await;
        if let Some((at, n)) = *last {
            if at.elapsed() < LOW_STOCK_MAX_AGE {
                return Some(n);
            }
        }
        let counted = tokio::time::timeout(Duration::from_secs(2), self.store.count_low_stock());
        match counted.await {
            Ok(Ok(n)) => {
                *last = Some((std::time::Instant::now(), n));
                Some(n)
            }
            _ => last.map(|(_, n)| n),
        }
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.shutdown.send_replace(true);
    }

    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Wakes change-feed streams, here and (through Redis) on the other
    /// replicas: call after a committed change.
    pub fn events_committed(&self) {
        self.wake_event_streams();
        if let Some(redis) = &self.redis {
            redis.events_committed();
        }
    }

    /// Wakes this process's change-feed streams.
    pub fn wake_event_streams(&self) {
        self.events_tick.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn events_ticks(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events_tick.subscribe()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    // ------------------------------------------------------------ auth

    pub async fn authenticate(&self, token: &str) -> Result<AuthUser, ApiError> {
        let stamp = match (&self.redis, self.store.shared_by_replicas()) {
            (Some(redis), true) => Some(redis.sessions_stamp().await),
            _ => None,
        };
        self.authenticate_under(token, stamp).await
    }

    /// An authenticated item read: with Redis shared by replicas, the
    /// session's stamp and the item's cache state come back in one round
    /// trip (the same checks as [`Self::authenticate`] and
    /// [`Self::get_item`], one after the other).
    pub async fn authenticated_item(
        &self,
        token: &str,
        id: Uuid,
    ) -> Result<(AuthUser, Arc<CachedItem>), ApiError> {
        let (Some(redis), true, ItemCache::Shared(local)) =
            (&self.redis, self.store.shared_by_replicas(), &self.items)
        else {
            let caller = self.authenticate(token).await?;
            return Ok((caller, self.get_item(id).await?));
        };
        let probe = redis.probe(id).await;
        let stamp = redis.probed_sessions_stamp(&probe);
        let caller = self.authenticate_under(token, Some(stamp)).await?;
        let store = self.store.clone();
        let load = || async move {
            let item = store.get_item(id).await?;
            CachedItem::render(&item)
        };
        Ok((caller, redis.resolve(id, local, load, probe).await?))
    }

    /// `stamp`: `None` where sessions live in this process only;
    /// `Some(None)` where a copy cannot be trusted now (check the database);
    /// `Some(Some(s))` to trust copies loaded under `s`.
    async fn authenticate_under(
        &self,
        token: &str,
        stamp: Option<Option<crate::shared::SessionStamp>>,
    ) -> Result<AuthUser, ApiError> {
        let token_hash = auth::token_hash(token);
        let stamp = match stamp {
            None => None,
            Some(Some(stamp)) => Some(stamp),
            // No stamp, no trust: ask the database, keep nothing.
            Some(None) => {
                return match self.store.find_session(&token_hash).await? {
                    Some((user, expires_at)) if expires_at > Utc::now() => {
                        Ok(AuthUser { user, token_hash })
                    }
                    _ => Err(ApiError::Unauthorized),
                };
            }
        };
        let load = || async {
            let (user, expires_at) = self
                .store
                .find_session(&token_hash)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            Ok::<_, ApiError>((stamp.clone(), user, expires_at))
        };
        let mut found = self.sessions.get_or_load(&token_hash, load).await?;
        if found.0 != stamp {
            // Loaded under an older stamp: a logout may have ended it since.
            self.sessions.invalidate(&token_hash);
            found = self.sessions.get_or_load(&token_hash, load).await?;
        }
        let (_, user, expires_at) = found;
        if expires_at <= Utc::now() {
            self.sessions.invalidate(&token_hash);
            return Err(ApiError::Unauthorized);
        }
        Ok(AuthUser { user, token_hash })
    }

    /// Checks a username and password; on success opens a session.
    pub async fn login(&self, username: &str, password: &str) -> Result<(String, User), ApiError> {
        let record = self.store.find_user(username).await?;
        let phc = record
            .as_ref()
            .map(|r| r.password_hash.clone())
            .unwrap_or_else(|| auth::dummy_hash().to_owned());
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &phc))
            .await
            .map_err(Error::internal)?;
        let record = match (ok, record) {
            (true, Some(r)) => r,
            _ => return Err(ApiError::InvalidCredentials),
        };
        let token = auth::new_token();
        let expires_at = Utc::now() + ChronoDuration::seconds(auth::TOKEN_TTL_SECS);
        self.store
            .create_session(&auth::token_hash(&token), record.user.id, expires_at)
            .await?;
        Ok((token, record.user))
    }

    pub async fn logout(&self, caller: &AuthUser) -> Result<(), ApiError> {
        self.store.delete_session(&caller.token_hash).await?;
        self.sessions.invalidate(&caller.token_hash);
        if let (Some(redis), true) = (&self.redis, self.store.shared_by_replicas()) {
            redis.sessions_changed().await;
        }
        Ok(())
    }

    // ------------------------------------------------------------ items cache

    pub async fn get_item(&self, id: Uuid) -> Result<Arc<CachedItem>, Error> {
        let store = self.store.clone();
        let load = || async move {
            let item = store.get_item(id).await?;
            CachedItem::render(&item)
        };
        match &self.items {
            ItemCache::Local(cache) => {
                if let Some(hit) = cache.get(&id) {
                    metrics::counter!("inventory_cache_hits_total", "layer" => "local")
                        .increment(1);
                    return Ok(hit);
                }
                metrics::counter!("inventory_cache_misses_total", "layer" => "local").increment(1);
                cache
                    .get_or_load(&id, || async move { load().await.map(Arc::new) })
                    .await
            }
            ItemCache::Shared(local) => match &self.redis {
                Some(redis) => redis.get_or_load(id, local, load).await,
                None => load().await.map(Arc::new),
            },
            ItemCache::Off => load().await.map(Arc::new),
        }
    }

    /// Call after a committed write to the item, before acknowledging it.
    pub async fn item_changed(&self, id: Uuid) {
        match &self.items {
            ItemCache::Local(cache) => cache.invalidate(&id),
            ItemCache::Shared(local) => {
                local.invalidate(&id);
                if let Some(redis) = &self.redis {
                    redis.invalidate(id).await;
                }
            }
            ItemCache::Off => {}
        }
        self.events_committed();
    }

    // ------------------------------------------------------------ idempotency

    /// Starts an idempotent create: replays a recorded response, refuses a
    /// key in flight (409) or reused with another request (422), or claims it.
    pub async fn begin_idempotent(
        &self,
        caller: &AuthUser,
        headers: &HeaderMap,
        route: &str,
        body: &[u8],
    ) -> Result<IdempotencyStart, ApiError> {
        let Some(value) = headers.get("idempotency-key") else {
            return Ok(IdempotencyStart::None);
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                Error::Validation(vec![FieldError::new(
                    "Idempotency-Key",
                    "must be 1-255 visible ASCII characters",
                )])
            })?
            .to_owned();
        let mut hasher = Sha256::new();
        hasher.update(route.as_bytes());
        hasher.update([0]);
        hasher.update(body);
        let request_hash = hex::encode(hasher.finalize());

        let user_id = caller.user.id;
        {
            let mut set = self.in_flight.lock().map_err(Error::internal)?;
            if !set.insert((user_id, key.clone())) {
                return Err(Error::conflict(
                    ConflictKind::IdempotencyInFlight,
                    "a request with this Idempotency-Key is still in flight; retry when it has finished",
                )
                .into());
            }
        }
        let claim = IdempotencyClaim {
            state: self.clone(),
            user_id,
            key,
            request_hash,
        };
        match self.store.find_idempotent(user_id, &claim.key).await? {
            Some(stored) if stored.request_hash != claim.request_hash => {
                Err(Error::IdempotencyMismatch.into())
            }
            Some(stored) => Ok(IdempotencyStart::Replay(stored)),
            None => Ok(IdempotencyStart::Claimed(claim)),
        }
    }
}
