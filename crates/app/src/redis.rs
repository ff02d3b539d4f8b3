//! Redis as the layer that replicas share: an item cache that stays
//! strictly coherent across replicas, and change-feed wake-ups over pub/sub.
//!
//! Coherence. Every item has a generation counter in Redis. A write, after
//! its commit and before it is acknowledged, bumps the generation and deletes
//! the cached value. A read fetches the generation (batched with other
//! reads waiting at the same time, see [`Redis::probe`]) and trusts a value
//! (in this process, or else in Redis) only when it carries the current
//! generation. A reader that missed fills Redis with
//! a compare-and-set script that only stores its value if the generation is
//! still the one it saw before reading the database, which closes the
//! cache-aside race (a reader that read the old row cannot store it after
//! the writer invalidated).
//!
//! Redis being down or slow never fails a request: every call has a short
//! timeout, and a failure means "read the database" (counted as
//! `inventory_errors_total{type="cache"}`). The connection manager
//! reconnects by itself.

use crate::cache::CachedItem;
use inventory_core::Error;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Longest a cache call may take before the database is asked instead.
const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// Channel that carries "events were committed" between replicas.
pub const EVENTS_CHANNEL: &str = "inventory:events";

/// Stores a value only if the generation is still the one the reader saw.
const FILL_SCRIPT: &str = r"
local gen = redis.call('GET', KEYS[1]) or '0'
if gen == ARGV[1] and redis.call('GET', KEYS[3]) == ARGV[4] then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
";

/// This process's copies of items, each with the Redis epoch and
/// generation it was valid at (bounded by bytes, see [`crate::item_cache`]).
pub type LocalCopies = crate::bounded::BoundedCache<Uuid, (Arc<str>, u64, CachedItem)>;

#[derive(Clone)]
pub struct Redis {
    /// Invalidations that failed while Redis was unreachable; retried until
    /// they land, and meanwhile this replica reads those items from the
    /// database.
    pending: Arc<std::sync::Mutex<std::collections::HashSet<Uuid>>>,
    /// The client and its connection; replaced when the URL changes (a
    /// rotated password, see [`Redis::set_url`]).
    link: Arc<std::sync::RwLock<Link>>,
    ttl: Duration,
    fill: Arc<Script>,
    /// A logout whose generation bump has not reached Redis yet: until it
    /// does, this replica checks every token in the database.
    sessions_pending: Arc<std::sync::atomic::AtomicBool>,
    /// Wakes the task that publishes "events committed".
    publish: Arc<tokio::sync::Notify>,
    /// Item reads waiting for their probe (see [`Redis::probe`]).
    probes: tokio::sync::mpsc::UnboundedSender<WaitingProbe>,
}

/// An item read waiting for the next probe batch.
type WaitingProbe = (Uuid, tokio::sync::oneshot::Sender<Option<Probe>>);

/// Probe batches on their way to Redis at once. While they are, new reads
/// queue up and go together in the next one.
const PROBES_IN_FLIGHT: usize = 2;
/// Most item reads one probe batch carries.
const MAX_PROBE_BATCH: usize = 256;

/// Bumped by every logout on any replica: a replica trusts its copy of a
/// session only while the generation (and the dataset epoch) it was loaded
/// under is still current.
const SESSIONS_GEN_KEY: &str = "inventory:sessions:generation";

/// What one round trip to Redis read for an item (and a session) read.
pub struct Probe {
    conn: ConnectionManager,
    epoch: Option<Arc<str>>,
    generation: Option<u64>,
    sessions_generation: u64,
}

/// The Redis dataset's name and the sessions generation, read together.
pub type SessionStamp = (Arc<str>, u64);

struct Link {
    client: redis::Client,
    /// Set once the first connection succeeds; it reconnects by itself after.
    manager: Option<ConnectionManager>,
    /// Bumped by every new URL, so that a slow connect for an older one
    /// cannot win.
    generation: u64,
}

/// Connects `client` in the background, retrying every second, and makes it
/// the live connection unless a newer URL came meanwhile. Until then the
/// previous connection (already authenticated) keeps serving.
fn establish(link: Arc<std::sync::RwLock<Link>>, client: redis::Client, generation: u64) {
    tokio::spawn(async move {
        loop {
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Duration::from_secs(1))
                .set_response_timeout(Duration::from_secs(1))
                .set_number_of_retries(1);
            match ConnectionManager::new_with_config(client.clone(), config).await {
                Ok(manager) => {
                    if let Ok(mut link) = link.write() {
                        if link.generation == generation {
                            link.manager = Some(manager);
                        }
                    }
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "cannot reach redis yet; retrying"),
            }
            if link
                .read()
                .map(|l| l.generation != generation)
                .unwrap_or(true)
            {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

/// Names this Redis dataset. A Redis that restarted empty or was flushed
/// gets a new epoch, so no replica trusts a generation from before.
const EPOCH_KEY: &str = "inventory:epoch";

/// A new or emptied Redis gets a name; nothing cached is trusted this time.
async fn name_dataset(conn: &mut ConnectionManager) {
    let fresh = crate::passwords::random_secret(12);
    if let Err(e) = bounded(async {
        redis::cmd("SET")
            .arg(EPOCH_KEY)
            .arg(fresh)
            .arg("NX")
            .query_async::<Option<String>>(conn)
            .await
    })
    .await
    {
        cache_error(e);
    }
}

fn gen_key(id: Uuid) -> String {
    format!("inventory:item-gen:{id}")
}

fn value_key(id: Uuid) -> String {
    format!("inventory:item:{id}")
}

/// Failed sign-ins counted against a throttle key (`user:NAME`, `addr:IP`):
/// a sorted set of attempts scored by their time in milliseconds.
fn sign_in_key(key: &str) -> String {
    format!("inventory:sign-in-failures:{key}")
}

fn cache_error(e: impl std::fmt::Display) {
    cache_errors(1, e);
}

/// `requests` requests fell back to the database for one reason.
fn cache_errors(requests: usize, e: impl std::fmt::Display) {
    metrics::counter!("inventory_errors_total", "type" => "cache").increment(requests as u64);
    tracing::warn!(error = %e, requests, "cache unavailable; reading the database");
}

async fn bounded<T>(call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// Moves the sessions generation from outside a server (the command
/// line's `inventory user reset-password`): every replica then checks the
/// sessions it caches against the database again at their next use.
pub async fn sessions_changed_at(url: &str) -> Result<(), String> {
    let client =
        redis::Client::open(url).map_err(|_| "REDIS_URL is not a redis:// URL".to_owned())?;
    let mut conn = match tokio::time::timeout(
        Duration::from_secs(5),
        client.get_multiplexed_async_connection(),
    )
    .await
    {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("timed out connecting".into()),
    };
    bounded(conn.incr::<_, _, u64>(SESSIONS_GEN_KEY, 1))
        .await
        .map(|_| ())
}

/// A cached item as stored in Redis: `generation \n etag \n json`.
fn encode(generation: u64, item: &CachedItem) -> Vec<u8> {
    let mut out = format!("{generation}\n").into_bytes();
    out.extend_from_slice(&item.etag());
    out.push(b'\n');
    out.extend_from_slice(&item.json());
    out
}

fn decode(bytes: &[u8]) -> Option<(u64, CachedItem)> {
    let mut parts = bytes.splitn(3, |b| *b == b'\n');
    let generation = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let etag = parts.next()?;
    // An entity tag is a quoted string of visible characters.
    if etag.len() < 2 || !etag.iter().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let json = parts.next()?;
    Some((generation, CachedItem::from_parts(etag, json)))
}

impl Redis {
    /// Connects in the background: a Redis that is down at start-up is not
    /// an error, only a degraded cache until it answers.
    pub fn connect(url: &str, ttl: Duration) -> Result<Self, Error> {
        let client = redis::Client::open(url)
            .map_err(|_| Error::Internal("REDIS_URL is not a redis:// URL".into()))?;
        let (probes, waiting) = tokio::sync::mpsc::unbounded_channel();
        let redis = Self {
            pending: Default::default(),
            link: Arc::new(std::sync::RwLock::new(Link {
                client: client.clone(),
                manager: None,
                generation: 0,
            })),
            ttl,
            fill: Arc::new(Script::new(FILL_SCRIPT)),
            sessions_pending: Default::default(),
            publish: Default::default(),
            probes,
        };
        establish(redis.link.clone(), client, 0);
        tokio::spawn(redis.clone().send_probes(waiting));
        let publisher = redis.clone();
        tokio::spawn(async move {
            loop {
                publisher.publish.notified().await;
                publisher.publish_events().await;
            }
        });
        let retry = redis.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let ids: Vec<Uuid> = retry
                    .pending
                    .lock()
                    .map(|p| p.iter().copied().collect())
                    .unwrap_or_default();
                for id in ids {
                    if retry.try_invalidate(id).await.is_ok() {
                        if let Ok(mut p) = retry.pending.lock() {
                            p.remove(&id);
                        }
                    }
                }
                if retry
                    .sessions_pending
                    .load(std::sync::atomic::Ordering::SeqCst)
                    && retry.try_bump_sessions().await.is_ok()
                {
                    retry
                        .sessions_pending
                        .store(false, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
        Ok(redis)
    }

    fn conn(&self) -> Result<ConnectionManager, String> {
        self.link
            .read()
            .ok()
            .and_then(|l| l.manager.clone())
            .ok_or_else(|| "not connected yet".to_owned())
    }

    /// Connects with a new URL (a rotated password) in the background; the
    /// current connection serves until the new one is up.
    pub fn set_url(&self, url: &str) -> Result<(), Error> {
        let client = redis::Client::open(url)
            .map_err(|_| Error::Internal("REDIS_URL is not a redis:// URL".into()))?;
        let generation = {
            let mut link = self
                .link
                .write()
                .map_err(|_| Error::internal("redis link poisoned"))?;
            link.client = client.clone();
            link.generation += 1;
            link.generation
        };
        establish(self.link.clone(), client, generation);
        Ok(())
    }

    pub async fn ping(&self) -> bool {
        let Ok(mut conn) = self.conn() else {
            return false;
        };
        bounded(redis::cmd("PING").query_async::<String>(&mut conn))
            .await
            .is_ok()
    }

    /// The item from the cache, or loaded and offered to the cache.
    /// `local` is this process's copy, trusted only at the current generation.
    pub async fn get_or_load<F, Fut>(
        &self,
        id: Uuid,
        local: &LocalCopies,
        load: F,
    ) -> Result<CachedItem, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedItem, Error>>,
    {
        let probe = self.probe(id).await;
        self.resolve(id, local, load, probe).await
    }

    /// Reads, in one round trip, what a cached item read needs (the epoch
    /// and the item's generation) and the sessions generation, so that an
    /// authenticated read costs one round trip. `None`: the item must come
    /// from the database.
    ///
    /// Reads that wait at the same time share one `MGET`: each joins a batch
    /// that has not been sent yet, so what it reads was read after it began
    /// (a write acknowledged before that is seen).
    pub async fn probe(&self, id: Uuid) -> Option<Probe> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.probes.send((id, answer)).ok()?;
        answered.await.ok().flatten()
    }

    /// Sends the waiting probes in batches, at most [`PROBES_IN_FLIGHT`]
    /// at once.
    async fn send_probes(self, mut waiting: tokio::sync::mpsc::UnboundedReceiver<WaitingProbe>) {
        let in_flight = Arc::new(tokio::sync::Semaphore::new(PROBES_IN_FLIGHT));
        let mut batch = Vec::new();
        loop {
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                return;
            };
            if waiting.recv_many(&mut batch, MAX_PROBE_BATCH).await == 0 {
                return;
            }
            let redis = self.clone();
            let batch = std::mem::take(&mut batch);
            tokio::spawn(async move {
                redis.probe_batch(batch).await;
                drop(permit);
            });
        }
    }

    async fn probe_batch(&self, batch: Vec<WaitingProbe>) {
        let fetched = match self.conn() {
            Ok(conn) => {
                let mut mget = redis::cmd("MGET");
                mget.arg(EPOCH_KEY).arg(SESSIONS_GEN_KEY);
                for (id, _) in &batch {
                    mget.arg(gen_key(*id));
                }
                let mut mget_conn = conn.clone();
                bounded(async {
                    mget.query_async::<Vec<Option<String>>>(&mut mget_conn)
                        .await
                })
                .await
                .and_then(|values| {
                    if values.len() == batch.len() + 2 {
                        Ok((conn, values))
                    } else {
                        Err("MGET answered the wrong number of values".to_owned())
                    }
                })
            }
            Err(e) => Err(e),
        };
        let (conn, values) = match fetched {
            Ok(fetched) => fetched,
            Err(e) => {
                // Dropping the batch answers every read `None`: the database.
                cache_errors(batch.len(), e);
                return;
            }
        };
        let mut values = values.into_iter();
        let epoch: Option<Arc<str>> = values.next().flatten().map(Arc::from);
        let sessions_generation = values.next().flatten().and_then(|g| g.parse().ok());
        for ((_, answer), generation) in batch.into_iter().zip(values) {
            let _ = answer.send(Some(Probe {
                conn: conn.clone(),
                epoch: epoch.clone(),
                generation: generation.and_then(|g| g.parse().ok()),
                sessions_generation: sessions_generation.unwrap_or(0),
            }));
        }
    }

    /// The sessions stamp a probe read, under the rules of
    /// [`Self::sessions_stamp`].
    pub fn probed_sessions_stamp(&self, probe: &Option<Probe>) -> Option<SessionStamp> {
        if self
            .sessions_pending
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return None;
        }
        let probe = probe.as_ref()?;
        Some((probe.epoch.clone()?, probe.sessions_generation))
    }

    /// The item from what `probe` read: a local or Redis copy at the
    /// current generation, or loaded and offered to Redis.
    pub async fn resolve<F, Fut>(
        &self,
        id: Uuid,
        local: &LocalCopies,
        load: F,
        probe: Option<Probe>,
    ) -> Result<CachedItem, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedItem, Error>>,
    {
        let Some(Probe {
            mut conn,
            epoch,
            generation,
            ..
        }) = probe
        else {
            return load().await;
        };
        if self.pending.lock().map(|p| p.contains(&id)).unwrap_or(true) {
            return load().await;
        }
        let (gen_k, val_k) = (gen_key(id), value_key(id));
        let Some(epoch) = epoch else {
            name_dataset(&mut conn).await;
            metrics::counter!("inventory_cache_misses_total", "layer" => "redis").increment(1);
            return load().await;
        };
        let generation = generation.unwrap_or(0);
        if let Some((e, g, item)) = local.get(&id) {
            if g == generation && e == epoch {
                metrics::counter!("inventory_cache_hits_total", "layer" => "local").increment(1);
                return Ok(item);
            }
        }
        metrics::counter!("inventory_cache_misses_total", "layer" => "local").increment(1);
        // Read after the generation: a value stamped with it is still that
        // generation's (a write since would have deleted it).
        let stored = match bounded(conn.get::<_, Option<Vec<u8>>>(&val_k)).await {
            Ok(stored) => stored,
            Err(e) => {
                cache_error(e);
                return load().await;
            }
        };
        if let Some((g, item)) = stored.as_deref().and_then(decode) {
            if g == generation {
                metrics::counter!("inventory_cache_hits_total", "layer" => "redis").increment(1);
                local.insert(id, (epoch.clone(), g, item.clone()));
                return Ok(item);
            }
        }
        metrics::counter!("inventory_cache_misses_total", "layer" => "redis").increment(1);
        let item = load().await?;
        let filled = bounded(
            self.fill
                .key(&gen_k)
                .key(&val_k)
                .key(EPOCH_KEY)
                .arg(generation.to_string())
                .arg(encode(generation, &item))
                .arg(self.ttl.as_secs().max(1))
                .arg(&*epoch)
                .invoke_async::<i64>(&mut conn),
        )
        .await;
        match filled {
            // Stored: this process may keep it too, at that generation.
            Ok(1) => {
                local.insert(id, (epoch.clone(), generation, item.clone()));
            }
            Ok(_) => {} // a writer got in between: serve it once, keep nothing
            Err(e) => cache_error(e),
        }
        Ok(item)
    }

    /// After a committed write, before it is acknowledged: no replica may
    /// serve the old value from here on. If Redis cannot be reached, the
    /// invalidation is retried in the background until it lands, and this
    /// replica reads the item from the database meanwhile.
    pub async fn invalidate(&self, id: Uuid) {
        for _attempt in 0..2 {
            match self.try_invalidate(id).await {
                Ok(()) => return,
                Err(e) => cache_error(e),
            }
        }
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id);
        }
    }

    async fn try_invalidate(&self, id: Uuid) -> Result<(), String> {
        let mut conn = self.conn()?;
        let (gen_k, val_k) = (gen_key(id), value_key(id));
        // The generation outlives any value stamped with it.
        let keep = (self.ttl.as_secs().max(1) * 2) as i64;
        bounded(async {
            redis::pipe()
                .incr(&gen_k, 1)
                .ignore()
                .expire(&gen_k, keep)
                .ignore()
                .del(&val_k)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    /// The current sessions stamp, or `None` when sessions must be checked
    /// in the database (Redis unreachable, emptied, or a logout of this
    /// replica's not yet announced).
    pub async fn sessions_stamp(&self) -> Option<SessionStamp> {
        if self
            .sessions_pending
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return None;
        }
        let mut conn = self.conn().map_err(cache_error).ok()?;
        let fetched = bounded(async {
            redis::pipe()
                .get(EPOCH_KEY)
                .get(SESSIONS_GEN_KEY)
                .query_async::<(Option<String>, Option<u64>)>(&mut conn)
                .await
        })
        .await;
        match fetched {
            Ok((Some(epoch), generation)) => Some((Arc::from(epoch), generation.unwrap_or(0))),
            Ok((None, _)) => {
                name_dataset(&mut conn).await;
                None
            }
            Err(e) => {
                cache_error(e);
                None
            }
        }
    }

    /// After a session was deleted, before the logout is acknowledged: no
    /// replica may accept the token from its copy any more.
    pub async fn sessions_changed(&self) {
        for _attempt in 0..2 {
            match self.try_bump_sessions().await {
                Ok(()) => return,
                Err(e) => cache_error(e),
            }
        }
        self.sessions_pending
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    async fn try_bump_sessions(&self) -> Result<(), String> {
        let mut conn = self.conn()?;
        bounded(conn.incr::<_, _, u64>(SESSIONS_GEN_KEY, 1))
            .await
            .map(|_| ())
    }

    /// Per throttle key: failed sign-ins within `window_ms` before `now`,
    /// and the oldest one's time (one round trip; old ones are dropped).
    pub(crate) async fn recent_failures(
        &self,
        keys: &[&str],
        now: i64,
        window_ms: i64,
    ) -> Result<Vec<(usize, Option<i64>)>, String> {
        let mut conn = self.conn()?;
        let mut pipe = redis::pipe();
        for key in keys {
            let key = sign_in_key(key);
            pipe.zrembyscore(&key, "-inf", now - window_ms)
                .ignore()
                .zcard(&key)
                .zrange_withscores(&key, 0, 0);
        }
        // Two answers per limit: the count, then the oldest (member, score).
        let answers: Vec<redis::Value> = bounded(pipe.query_async(&mut conn)).await?;
        answers
            .chunks(2)
            .map(|pair| {
                let count: usize = redis::from_redis_value(&pair[0]).map_err(|e| e.to_string())?;
                let oldest: Vec<(String, f64)> = pair
                    .get(1)
                    .map(redis::from_redis_value)
                    .transpose()
                    .map_err(|e| e.to_string())?
                    .unwrap_or_default();
                Ok((count, oldest.first().map(|(_, at)| *at as i64)))
            })
            .collect()
    }

    /// Counts a failed sign-in at `now` against each key; the sets expire
    /// with the window.
    pub(crate) async fn add_failure(
        &self,
        keys: &[&str],
        now: i64,
        window_ms: i64,
    ) -> Result<(), String> {
        let mut conn = self.conn()?;
        // Unique per attempt, so that two at the same millisecond both count.
        let member = format!("{now}-{}", Uuid::now_v7().simple());
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in keys {
            let key = sign_in_key(key);
            pipe.zadd(&key, &member, now)
                .ignore()
                .pexpire(&key, window_ms)
                .ignore();
        }
        bounded(pipe.query_async::<()>(&mut conn)).await
    }

    /// Forgets a throttle key's failures.
    pub(crate) async fn clear_failures(&self, key: &str) -> Result<(), String> {
        let mut conn = self.conn()?;
        bounded(conn.del::<_, ()>(sign_in_key(key))).await
    }

    /// Tells the other replicas that events were committed. Commits that
    /// come while a message is on its way share the next one: at a
    /// thousand writes a second, Redis sees far fewer messages.
    pub fn events_committed(&self) {
        self.publish.notify_one();
    }

    async fn publish_events(&self) {
        let Ok(mut conn) = self.conn() else { return };
        if let Err(e) = bounded(conn.publish::<_, _, i64>(EVENTS_CHANNEL, "1")).await {
            cache_error(e);
        }
    }

    /// Calls `wake` for every "events committed" message from any replica;
    /// resubscribes by itself after Redis comes back.
    pub fn spawn_event_listener(&self, wake: impl Fn() + Send + 'static) {
        let link = self.link.clone();
        tokio::spawn(async move {
            use futures_util::StreamExt;
            loop {
                let client = link.read().ok().map(|l| l.client.clone());
                let Some(client) = client else { return };
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if pubsub.subscribe(EVENTS_CHANNEL).await.is_ok() {
                            // A message may have been missed while away.
                            wake();
                            let mut messages = pubsub.on_message();
                            while messages.next().await.is_some() {
                                wake();
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "event listener cannot reach redis"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_items_round_trip_through_their_encoding() {
        let item = CachedItem::from_parts(b"\"3\"", b"{\"a\":\"x\\ny\"}");
        let (g, back) = decode(&encode(7, &item)).unwrap();
        assert_eq!(g, 7);
        assert_eq!(back.json(), item.json());
        assert_eq!(back.etag(), item.etag());
        assert!(decode(b"garbage").is_none());
    }
}
