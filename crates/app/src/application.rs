//! The application: its shared state, the access check and span every use
//! case runs under, and its lifecycle (shutdown, secrets that change,
//! housekeeping). Each use case is a method of [`App`] defined in the
//! module of its area.

use crate::cache::CoherentCache;
use crate::item_cache::ItemCache;
use crate::principal::{Principal, UseCase};
use crate::redis::{Redis, SessionStamp};
use inventory_core::audit::AuditContext;
use inventory_core::identity::SessionRecord;
use inventory_core::{Result, Store};
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;
use uuid::Uuid;

/// Settings of the application layer.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Seconds an item stays cached.
    pub cache_ttl: Duration,
    /// The most memory the process's item copies may take (`CACHE_MAX_BYTES`).
    pub cache_max_bytes: u64,
    /// Wrap every use case in a span (when traces are exported).
    pub trace_use_cases: bool,
    /// The deployment's changes to the permission table
    /// (`INVENTORY_CLERKS_MAY_ADJUST`).
    pub policy: inventory_core::identity::AccessPolicy,
    /// How long audit entries are kept (`AUDIT_RETENTION_DAYS`).
    pub audit_retention_days: u32,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_secs(300),
            cache_max_bytes: 64 * 1024 * 1024,
            trace_use_cases: false,
            policy: Default::default(),
            audit_retention_days: inventory_core::audit::DEFAULT_RETENTION_DAYS,
        }
    }
}

/// A cached session: the stamp it was loaded under, the session (its user
/// and expiry), and when its use was last recorded (seconds since the epoch).
pub(crate) type CachedSession = (Option<SessionStamp>, SessionRecord, Arc<AtomicI64>);

/// The application: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct App(Arc<Inner>);

#[doc(hidden)]
pub struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) items: ItemCache,
    /// The layer replicas share, when `REDIS_URL` is set.
    pub(crate) redis: Option<Redis>,
    /// Sessions by token hash, with the Redis stamp they were loaded under
    /// when replicas share the database (see [`Redis::sessions_stamp`]).
    pub(crate) sessions: CoherentCache<String, CachedSession>,
    /// Idempotency keys of creates in progress, per user.
    pub(crate) in_flight: Mutex<HashSet<(Uuid, String)>>,
    shutting_down: AtomicBool,
    /// Flips to true when shutdown begins, so long-lived streams can end.
    shutdown: tokio::sync::watch::Sender<bool>,
    /// Bumped after every committed change, to wake change-feed streams.
    events_tick: tokio::sync::watch::Sender<u64>,
    /// Items in the catalogue (archived included) and items not archived,
    /// kept in memory so that a scrape never counts rows.
    pub(crate) items_total: AtomicI64,
    pub(crate) items_active: AtomicI64,
    /// Last count of items at or below their reorder point, and when it was
    /// taken: a scrape recounts at most every `health::LOW_STOCK_MAX_AGE`.
    pub(crate) low_stock: tokio::sync::Mutex<Option<(std::time::Instant, i64)>>,
    /// The dashboard's chart figures for past days (see `dashboard`).
    pub(crate) past_days: tokio::sync::Mutex<Option<crate::kept::PastDays>>,
    /// The dashboard's last figures and the feed position they were read at.
    pub(crate) dashboard: tokio::sync::Mutex<Option<crate::kept::Figures>>,
    /// Bumped when an item's cost or status may have changed: the past
    /// days' stock values (at today's unit costs) are then recomputed.
    pub(crate) catalogue_generation: std::sync::atomic::AtomicU64,
    trace_use_cases: bool,
    pub(crate) policy: inventory_core::identity::AccessPolicy,
    pub(crate) audit_retention_days: u32,
    /// Failed sign-ins, counted per username and client address.
    pub(crate) sign_in_throttle: crate::throttle::SignInThrottle,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    pub async fn new(
        store: Arc<dyn Store>,
        redis: Option<Redis>,
        options: AppOptions,
    ) -> Result<Self> {
        // With replicas writing to the same database, a process-local cache
        // could serve a value another replica has changed.
        let shared = store.shared_by_replicas();
        let items_total = store.count_all_items().await?;
        let items_active = store.count_items().await?;
        let items = ItemCache::new(
            store.as_ref(),
            redis.is_some(),
            options.cache_ttl,
            options.cache_max_bytes,
        );
        // Where other processes can end a session, a copy is trusted only
        // under Redis's current sessions stamp; without Redis, not at all.
        let sessions = if shared && redis.is_none() {
            CoherentCache::disabled()
        } else {
            CoherentCache::new(100_000, Duration::from_secs(60))
        };
        let app = Self(Arc::new(Inner {
            store,
            items,
            redis,
            sessions,
            in_flight: Mutex::new(HashSet::new()),
            shutting_down: AtomicBool::new(false),
            shutdown: tokio::sync::watch::channel(false).0,
            events_tick: tokio::sync::watch::channel(0).0,
            items_total: AtomicI64::new(items_total),
            items_active: AtomicI64::new(items_active),
            low_stock: tokio::sync::Mutex::new(None),
            past_days: tokio::sync::Mutex::new(None),
            dashboard: tokio::sync::Mutex::new(None),
            catalogue_generation: std::sync::atomic::AtomicU64::new(0),
            trace_use_cases: options.trace_use_cases,
            policy: options.policy,
            audit_retention_days: options.audit_retention_days,
            sign_in_throttle: Default::default(),
        }));
        if let Some(redis) = &app.redis {
            let wake = app.clone();
            redis.spawn_event_listener(move || wake.wake_event_streams());
        }
        Ok(app)
    }

    /// The store, for start-up, the CLI's backup commands and tests; request
    /// handling goes through the use cases.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Checks the caller's access to `use_case`, then runs `work` inside the
    /// use case's span (when traces are exported).
    pub(crate) async fn run<T>(
        &self,
        caller: &Principal,
        use_case: UseCase,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        caller.require(use_case)?;
        // Whatever it changes is recorded in the audit trail as the caller's.
        AuditContext::current_as(caller.audit_actor())
            .scope(self.traced(use_case, work))
            .await
    }

    /// Runs `work` inside the use case's span (when traces are exported).
    pub(crate) async fn traced<T>(
        &self,
        use_case: UseCase,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        if !self.trace_use_cases {
            return work.await;
        }
        let span = tracing::info_span!(
            "use_case",
            otel.name = use_case.name(),
            otel.kind = "internal",
            use_case = use_case.name(),
            db.system = self.store.backend(),
        );
        work.instrument(span).await
    }

    // ------------------------------------------------------------ lifecycle

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.shutdown.send_replace(true);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Wakes this process's change-feed streams.
    pub fn wake_event_streams(&self) {
        self.events_tick.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn events_ticks(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events_tick.subscribe()
    }

    /// New connections use this database URL (a rotated password); false
    /// when the backend needs a restart for it.
    pub fn set_database_url(&self, url: &str) -> Result<bool> {
        self.store.set_database_url(url)
    }

    /// New Redis connections use this URL; false when there is no Redis.
    pub fn set_redis_url(&self, url: &str) -> Result<bool> {
        match &self.redis {
            Some(redis) => redis.set_url(url).map(|()| true),
            None => Ok(false),
        }
    }

    /// Forgets idempotency keys after 25 hours (kept at least 24 h, as
    /// promised) and expired sessions.
    pub async fn purge_expired(&self) -> Result<u64> {
        let before = chrono::Utc::now() - chrono::Duration::hours(25);
        self.store.purge_expired(before).await
    }
}
