//! PostgreSQL implementation of the [`Store`] contract, on sqlx.
//!
//! Reads use a pool of connections. Every write goes to one writer task per
//! store that owns a dedicated connection and commits in groups, like the
//! SQLite store: it drains the jobs waiting for it, runs each inside its own
//! SAVEPOINT (a failing job rolls back alone), then commits them together.
//! Several replicas may write at once: stock changes are guarded statements
//! backed by CHECK constraints and row locks, and the ledger's `seq` comes
//! from a single-row counter updated inside the writing transaction, so it
//! follows commit order. If the writer's connection breaks (the database
//! restarted), the jobs of that group are answered "unavailable" and the
//! next group reconnects.
//!
//! SQL is runtime-checked (`sqlx::query`, `QueryBuilder::push_bind`), built
//! only from constant fragments with bound parameters.

mod audit;
mod dump;
mod errors;
mod expiry;
mod history;
mod invariants;
mod journal;
mod migrate;
mod purchasing;
mod reservations;
mod rows;
mod sales;
mod users;
mod writes;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use errors::{connection_lost, db_error, unavailable};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use inventory_core::audit::{AuditContext, AuditEntry, AuditQuery, NewAuditEntry};
use inventory_core::dump::{DumpRows, ExportCounts, ExportOptions};
use inventory_core::history::{DayFigure, Days, ValueHistory};
use inventory_core::invariants::Violation;
use inventory_core::model::*;
use inventory_core::paging::{ItemQuery, ItemSort, MovementQuery, Page, SeqOrder};
use inventory_core::parties::{Party, PartyPatch, PartyQuery};
use inventory_core::purchasing::{
    NewPurchaseOrder, PoQuery, PurchaseOrder, PurchaseOrderPatch, ReceiptResult,
    ReceivePurchaseOrder,
};
use inventory_core::reservations::{
    NewReservation, Reservation, ReservationPatch, ReservationQuery, ReservationStatus,
};
use inventory_core::sales::{
    NewSalesOrder, SalesOrder, SalesOrderPatch, SalesOrderQuery, ShipRequest,
};
use inventory_core::store::{
    AdminStore, AuditStore, CatalogueStore, Created, EndSessions, EventStore, HistoryStore,
    Idempotency, IdentityStore, LedgerStore, OrderIdem, PartyStore, PoolStats, PurchaseStore,
    ReservationStore, SalesStore, StoredResponse,
};
use inventory_core::{fold, Error, Result};
use rows::*;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder};
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

pub use migrate::LATEST_VERSION;

/// How many queued writes one commit may carry.
const MAX_GROUP: usize = 512;

/// A pooled connection idle for longer than this is pinged before use.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Settings for connecting to PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Size of the read pool (the writer has one more connection of its own).
    pub pool_size: u32,
    /// Longest a statement may run before the server cancels it.
    pub statement_timeout: std::time::Duration,
    /// Longest to wait for a new connection, or for a pooled one.
    pub connect_timeout: std::time::Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 10,
            statement_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

type Reply = Box<dyn FnOnce(Result<()>) + Send>;
type Run = Box<dyn for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, (bool, Reply)> + Send>;

/// One write, run inside the writer's group transaction.
enum Job {
    /// Any other write, in a savepoint of its own.
    Run(Run),
    /// A request of one movement and no Idempotency-Key. Those of a group
    /// are applied together by one function call (see
    /// [`writes::apply_batch`]): a refused one writes nothing, so they need
    /// no savepoints.
    Movement {
        movement: NewMovement,
        created_by: String,
        /// The sender's, for the movement's audit entry (boxed: the
        /// variant stays near the size of the other).
        context: Box<AuditContext>,
        reply: oneshot::Sender<Result<MovementResult>>,
    },
}

/// Gives a closure the higher-ranked signature of a job's body.
fn run<F>(f: F) -> Run
where
    F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, (bool, Reply)> + Send + 'static,
{
    Box::new(f)
}

pub struct PgStore {
    pool: PgPool,
    jobs: mpsc::Sender<Job>,
    writer_busy: Arc<AtomicBool>,
    /// What new connections (the writer's included) connect with.
    connect: Arc<std::sync::RwLock<PgConnectOptions>>,
    opts: PostgresOptions,
}

/// The connection settings for `url`, with the store's own on top.
fn connect_options(url: &str, opts: &PostgresOptions) -> Result<PgConnectOptions> {
    Ok(PgConnectOptions::from_str(url)
        .map_err(|e| Error::Internal(format!("invalid PostgreSQL URL: {e}")))?
        .application_name("inventory")
        // JIT compilation costs milliseconds and only pays off for long
        // analytical queries; a misestimated short one must not pay it.
        .options([
            (
                "statement_timeout",
                format!("{}ms", opts.statement_timeout.as_millis()),
            ),
            ("jit", "off".to_owned()),
        ]))
}

async fn connect_writer(connect: &PgConnectOptions, timeout: Duration) -> Result<PgConnection> {
    match tokio::time::timeout(timeout, PgConnection::connect_with(connect)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(match db_error(e) {
            Error::Internal(m) => Error::Unavailable(format!("cannot connect to PostgreSQL: {m}")),
            other => other,
        }),
        Err(_) => Err(unavailable(format!(
            "cannot connect to PostgreSQL within {} ms",
            timeout.as_millis()
        ))),
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://...`), applies pending
    /// migrations under an advisory lock and makes sure MAIN exists.
    pub async fn open(url: &str, opts: &PostgresOptions) -> Result<Self> {
        let connect = connect_options(url, opts)?;
        let mut writer = connect_writer(&connect, opts.connect_timeout).await?;
        migrate::run(&mut writer).await?;
        writes::ensure_main_location(&mut writer).await?;

        let pool = PgPoolOptions::new()
            .max_connections(opts.pool_size.max(1))
            // Connections are kept, not recycled: a request then never waits
            // for a new connection, and a rotated password (see
            // `set_database_url`) has no window in which a request needs one.
            .min_connections(opts.pool_size.max(1))
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(opts.connect_timeout)
            // The pool pings every connection it takes back; a ping before
            // each read would cost a round trip per request, so only a
            // connection that sat idle (the server may have restarted since)
            // is checked before use.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move { Ok(meta.idle_for < IDLE_CHECK || conn.ping().await.is_ok()) })
            })
            .connect_lazy_with(connect.clone());

        let (jobs, rx) = mpsc::channel::<Job>(4096);
        let writer_busy = Arc::new(AtomicBool::new(false));
        let connect = Arc::new(std::sync::RwLock::new(connect));
        tokio::spawn(run_writer(
            writer,
            connect.clone(),
            opts.connect_timeout,
            rx,
            writer_busy.clone(),
        ));
        Ok(Self {
            pool,
            jobs,
            writer_busy,
            connect,
            opts: opts.clone(),
        })
    }

    /// Runs `f` on the writer connection inside the next group commit and
    /// returns its result once that commit is durable.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        // The job runs on the writer's task: it takes the sender's audit
        // context with it, for the entries it records.
        let context = AuditContext::current();
        let run = run(move |conn| {
            Box::pin(async move {
                let result = context.scope(f(conn)).await;
                let ok = result.is_ok();
                let reply: Reply = Box::new(move |commit: Result<()>| {
                    let _ = tx.send(commit.and(result));
                });
                (ok, reply)
            })
        });
        let job = Job::Run(run);
        self.jobs
            .send(job)
            .await
            .map_err(|_| unavailable("the PostgreSQL writer has stopped"))?;
        rx.await
            .map_err(|_| unavailable("the write was not committed"))?
    }
}

/// The group-commit loop: one transaction per batch of queued jobs, each job
/// isolated in a savepoint. It owns its connection and replaces it when it
/// breaks; it ends only when the store is dropped.
async fn run_writer(
    conn: PgConnection,
    connect: Arc<std::sync::RwLock<PgConnectOptions>>,
    timeout: Duration,
    mut rx: mpsc::Receiver<Job>,
    busy: Arc<AtomicBool>,
) {
    let mut conn = Some(conn);
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = rx.recv().await {
        jobs.push(first);
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        busy.store(true, Ordering::Relaxed);
        match begin(&mut conn, &connect, timeout).await {
            Ok(()) => {
                if let Some(c) = conn.as_mut() {
                    if !run_group(c, &mut jobs).await {
                        // Unknown state or lost: the next group reconnects.
                        conn = None;
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot begin a write transaction"),
        }
        // Dropping a job that did not run tells its caller the write failed.
        jobs.clear();
        busy.store(false, Ordering::Relaxed);
    }
}

/// Runs a transaction-control statement. Boxed so that the writer task's
/// future stays `Send` (sqlx's generic executors defeat the inference).
fn exec<'c>(
    conn: &'c mut PgConnection,
    sql: &'static str,
) -> BoxFuture<'c, std::result::Result<(), sqlx::Error>> {
    // A plain string with no arguments goes over the simple query protocol.
    Box::pin(sqlx::Executor::execute(conn, sql).map(|r| r.map(|_| ())))
}

/// Opens the group's transaction, (re)connecting as needed. A connection
/// that cannot even BEGIN (the server restarted since) is replaced once, so
/// the first write after a restart need not fail.
async fn begin(
    conn: &mut Option<PgConnection>,
    connect: &std::sync::RwLock<PgConnectOptions>,
    timeout: Duration,
) -> Result<()> {
    let mut last = unavailable("cannot begin a transaction");
    for _ in 0..2 {
        if conn.is_none() {
            let options = connect
                .read()
                .map_err(|_| Error::internal("connection settings poisoned"))?
                .clone();
            *conn = Some(connect_writer(&options, timeout).await?);
            tracing::info!("the PostgreSQL writer connected");
        }
        let Some(c) = conn.as_mut() else { continue };
        // Every group takes the two counters' row locks first (nearly every
        // write appends an event or a movement): writers on other replicas
        // then queue for whole groups and never deadlock on item rows.
        // (Two statements: a join of the two would be costed as huge and
        // JIT-compiled on every group.)
        let begin = "BEGIN; SELECT value FROM ledger_counter FOR UPDATE; \
                     SELECT value FROM event_counter FOR UPDATE";
        match exec(c, begin).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "the writer connection failed; reconnecting");
                *conn = None;
                last = db_error(e);
            }
        }
    }
    Err(last)
}

/// Runs one group; false if the connection must be replaced.
async fn run_group(conn: &mut PgConnection, jobs: &mut Vec<Job>) -> bool {
    let mut committed: Vec<Reply> = Vec::with_capacity(jobs.len());
    let mut movements = Vec::new();
    for job in std::mem::take(jobs) {
        let run = match job {
            Job::Movement {
                movement,
                created_by,
                context,
                reply,
            } => {
                movements.push((movement, created_by, *context, reply));
                continue;
            }
            Job::Run(run) => run,
        };
        // Movements queued before this job are applied before it.
        if !apply_queued_movements(conn, &mut movements, &mut committed).await {
            return abandon(conn, committed).await;
        }
        if let Err(e) = exec(conn, "SAVEPOINT job").await {
            tracing::error!(error = %e, "cannot open a savepoint");
            return abandon(conn, committed).await;
        }
        let (ok, reply) = match AssertUnwindSafe(run(conn)).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(_) => {
                // Its caller hears "not committed" as the reply was dropped.
                tracing::error!("a write job panicked; rolling back its group");
                return abandon(conn, committed).await;
            }
        };
        if ok {
            match exec(conn, "RELEASE SAVEPOINT job").await {
                Ok(()) => committed.push(reply),
                Err(e) => {
                    tracing::error!(error = %e, "cannot release a savepoint");
                    reply(Err(unavailable("the write could not be committed")));
                    return abandon(conn, committed).await;
                }
            }
        } else {
            let rolled_back = exec(conn, "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job").await;
            // A failed job is answered at once: there is nothing to commit.
            reply(Ok(()));
            if let Err(e) = rolled_back {
                tracing::error!(error = %e, "cannot roll back a failed write");
                return abandon(conn, committed).await;
            }
        }
    }
    if !apply_queued_movements(conn, &mut movements, &mut committed).await {
        return abandon(conn, committed).await;
    }
    match exec(conn, "COMMIT").await {
        Ok(()) => {
            committed.into_iter().for_each(|r| r(Ok(())));
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "group commit failed");
            committed
                .into_iter()
                .for_each(|r| r(Err(unavailable("the write could not be committed"))));
            !connection_lost(&e) && exec(conn, "ROLLBACK").await.is_ok()
        }
    }
}

type QueuedMovement = (
    NewMovement,
    String,
    AuditContext,
    oneshot::Sender<Result<MovementResult>>,
);

/// Applies the queued single movements with one call; the applied ones
/// are answered at commit, the refused ones at once. False when the
/// database failed (their callers then hear "not committed").
async fn apply_queued_movements(
    conn: &mut PgConnection,
    queued: &mut Vec<QueuedMovement>,
    committed: &mut Vec<Reply>,
) -> bool {
    if queued.is_empty() {
        return true;
    }
    let (batch, senders): (Vec<_>, Vec<_>) = std::mem::take(queued)
        .into_iter()
        .map(|(m, by, context, reply)| ((m, by), (context, reply)))
        .unzip();
    let (contexts, replies): (Vec<_>, Vec<_>) = senders.into_iter().unzip();
    let results = match writes::apply_batch(conn, batch, true).await {
        Ok(results) if results.len() == replies.len() => results,
        Ok(_) => {
            tracing::error!("inventory_apply_movements returned too few rows");
            return false;
        }
        Err(e) => {
            tracing::error!(error = %e, "applying a batch of movements failed");
            return false;
        }
    };
    // Each applied movement's audit entry is its sender's.
    let (applied, contexts): (Vec<&MovementResult>, Vec<AuditContext>) = results
        .iter()
        .zip(contexts)
        .filter_map(|(r, context)| r.as_ref().ok().map(|r| (r, context)))
        .unzip();
    if !applied.is_empty() {
        if let Err(e) = writes::record_movement_events_of(conn, &applied, contexts).await {
            tracing::error!(error = %e, "recording movement events failed");
            return false;
        }
    }
    for (result, reply) in results.into_iter().zip(replies) {
        match result {
            Ok(applied) => committed.push(Box::new(move |commit: Result<()>| {
                let _ = reply.send(commit.map(|()| applied));
            })),
            Err(refused) => {
                let _ = reply.send(Err(refused.at_index(0)));
            }
        }
    }
    true
}

/// Gives up on a group: its finished jobs are answered "unavailable", the
/// transaction is rolled back, and the connection is replaced.
async fn abandon(conn: &mut PgConnection, committed: Vec<Reply>) -> bool {
    committed
        .into_iter()
        .for_each(|r| r(Err(unavailable("the write could not be committed"))));
    let _ = exec(conn, "ROLLBACK").await;
    false
}

fn bad_cursor() -> Error {
    Error::invalid("cursor", "is not a cursor this list returned")
}

/// Trims the extra row fetched to detect a next page and returns the cursor key.
fn page_end<T>(rows: &mut Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Option<String> {
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(key)
    } else {
        None
    }
}

impl PgStore {
    async fn count(&self, sql: &'static str) -> Result<i64> {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)
    }
}

#[async_trait]
impl AdminStore for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn set_database_url(&self, url: &str) -> Result<bool> {
        let options = connect_options(url, &self.opts)?;
        self.pool.set_connect_options(options.clone());
        *self
            .connect
            .write()
            .map_err(|_| Error::internal("connection settings poisoned"))? = options;
        Ok(true)
    }

    fn shared_by_replicas(&self) -> bool {
        true
    }

    async fn ping(&self) -> Result<()> {
        if self.jobs.is_closed() {
            return Err(unavailable("the PostgreSQL writer has stopped"));
        }
        self.count("SELECT 1::BIGINT").await.map(|_| ())
    }

    fn pool_stats(&self) -> PoolStats {
        let busy = u32::from(self.writer_busy.load(Ordering::Relaxed));
        let open = self.pool.size();
        let idle = (self.pool.num_idle() as u32).min(open);
        PoolStats {
            active: open - idle + busy,
            idle: idle + 1 - busy,
            max: self.pool.options().get_max_connections() + 1,
        }
    }

    async fn find_idempotent(&self, user_id: Uuid, key: &str) -> Result<Option<StoredResponse>> {
        writes::find_idempotent(&self.pool, user_id, key).await
    }

    async fn purge_expired(&self, keys_before: DateTime<Utc>) -> Result<u64> {
        self.write(move |conn| {
            Box::pin(async move {
                let keys = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                    .bind(keys_before)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                    .bind(Utc::now())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                Ok(keys + sessions)
            })
        })
        .await
    }

    async fn check_invariants(&self) -> Result<Vec<Violation>> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let found = invariants::check(&mut tx).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(found)
    }

    async fn export(
        &self,
        out: Box<dyn std::io::Write + Send>,
        options: ExportOptions,
    ) -> Result<ExportCounts> {
        dump::export(&self.pool, out, options).await
    }

    async fn import(&self, rows: DumpRows) -> Result<ExportCounts> {
        self.write(move |conn| Box::pin(dump::import(conn, rows)))
            .await
    }
}

#[async_trait]
impl IdentityStore for PgStore {
    async fn count_users(&self) -> Result<i64> {
        self.count("SELECT COUNT(*) FROM users").await
    }

    async fn create_user(
        &self,
        user: User,
        password_hash: &str,
        idem: Option<Idempotency<User>>,
    ) -> Result<Created<User>> {
        let password_hash = password_hash.to_owned();
        self.write(move |conn| Box::pin(writes::create_user(conn, user, password_hash, idem)))
            .await
    }

    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>> {
        users::find_user(&self.pool, username).await
    }

    async fn get_user(&self, id: Uuid) -> Result<User> {
        users::get_user(&self.pool, id).await
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Page<User>> {
        users::list_users(&self.pool, query).await
    }

    async fn update_user(
        &self,
        id: Uuid,
        patch: &UserPatch,
        if_version: Option<i64>,
    ) -> Result<User> {
        let patch = patch.clone();
        self.write(move |conn| Box::pin(users::update_user(conn, id, patch, if_version)))
            .await
    }

    async fn set_password(
        &self,
        id: Uuid,
        password_hash: &str,
        must_change_password: bool,
        end: EndSessions<'_>,
    ) -> Result<User> {
        let (hash, keep) = (password_hash.to_owned(), users::kept(end));
        self.write(move |conn| {
            Box::pin(users::set_password(
                conn,
                id,
                hash,
                must_change_password,
                keep,
            ))
        })
        .await
    }

    async fn count_enabled_admins(&self) -> Result<i64> {
        users::count_enabled_admins(&self.pool).await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
        client: &SessionClient,
    ) -> Result<()> {
        let (token_hash, client) = (token_hash.to_owned(), client.clone());
        self.write(move |conn| {
            Box::pin(users::create_session(
                conn, token_hash, user_id, expires_at, client,
            ))
        })
        .await
    }

    async fn find_session(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        users::find_session(&self.pool, token_hash).await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |conn| Box::pin(users::delete_session(conn, token_hash)))
            .await
    }

    async fn touch_session(&self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        self.write(move |conn| Box::pin(users::touch_session(conn, id, at)))
            .await
    }

    async fn list_sessions(&self, user_id: Uuid) -> Result<Vec<Session>> {
        users::list_sessions(&self.pool, user_id).await
    }

    async fn end_session(&self, user_id: Uuid, session_id: Uuid) -> Result<String> {
        self.write(move |conn| Box::pin(users::end_session(conn, user_id, session_id)))
            .await
    }

    async fn create_api_token(
        &self,
        token_hash: &str,
        user_id: Uuid,
        token: &NewApiToken,
    ) -> Result<ApiToken> {
        let (token_hash, token) = (token_hash.to_owned(), token.clone());
        self.write(move |conn| Box::pin(users::create_api_token(conn, token_hash, user_id, token)))
            .await
    }

    async fn list_api_tokens(&self, user_id: Uuid) -> Result<Vec<ApiToken>> {
        users::list_api_tokens(&self.pool, user_id).await
    }

    async fn revoke_api_token(&self, user_id: Uuid, token_id: Uuid) -> Result<String> {
        self.write(move |conn| Box::pin(users::revoke_api_token(conn, user_id, token_id)))
            .await
    }
}

#[async_trait]
impl CatalogueStore for PgStore {
    async fn create_location(
        &self,
        location: Location,
        idem: Option<Idempotency<Location>>,
    ) -> Result<Created<Location>> {
        self.write(move |conn| Box::pin(writes::create_location(conn, location, idem)))
            .await
    }

    async fn get_location(&self, id: Uuid) -> Result<Location> {
        let row = sqlx::query(&format!(
            "SELECT {LOCATION_COLUMNS} FROM locations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .ok_or(Error::NotFound("location"))?;
        location_from_row(&row)
    }

    async fn find_location(&self, code: &str) -> Result<Option<Location>> {
        let row = sqlx::query(&format!(
            "SELECT {LOCATION_COLUMNS} FROM locations WHERE code = $1"
        ))
        .bind(code)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(location_from_row).transpose()
    }

    async fn list_locations(&self, after_code: Option<&str>, limit: u32) -> Result<Page<Location>> {
        let rows = sqlx::query(&format!(
            "SELECT {LOCATION_COLUMNS} FROM locations WHERE code > $1 ORDER BY code LIMIT $2"
        ))
        .bind(after_code.unwrap_or(""))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let mut locations = rows
            .iter()
            .map(location_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next = page_end(&mut locations, limit, |l| l.code.clone());
        Ok(Page {
            rows: locations,
            next_cursor: next,
        })
    }

    async fn update_location(&self, id: Uuid, patch: LocationPatch) -> Result<Location> {
        self.write(move |conn| Box::pin(writes::update_location(conn, id, patch)))
            .await
    }

    async fn create_item(
        &self,
        item: Item,
        idem: Option<Idempotency<Item>>,
    ) -> Result<Created<Item>> {
        self.write(move |conn| Box::pin(writes::create_item(conn, item, idem)))
            .await
    }

    async fn get_item(&self, id: Uuid) -> Result<Item> {
        writes::load_item(&self.pool, id, false).await
    }

    async fn find_item_by_sku(&self, sku: &str) -> Result<Option<Item>> {
        let row = sqlx::query(&format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE sku_folded = $1"
        ))
        .bind(fold(sku))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(item_from_row).transpose()
    }

    async fn update_item(
        &self,
        id: Uuid,
        patch: ItemPatch,
        if_version: Option<i64>,
    ) -> Result<Item> {
        self.write(move |conn| Box::pin(writes::update_item(conn, id, patch, if_version)))
            .await
    }

    async fn archive_item(&self, id: Uuid, if_version: Option<i64>) -> Result<bool> {
        self.write(move |conn| Box::pin(writes::archive_item(conn, id, if_version)))
            .await
    }

    async fn restore_item(&self, id: Uuid, if_version: Option<i64>) -> Result<(Item, bool)> {
        self.write(move |conn| Box::pin(writes::restore_item(conn, id, if_version)))
            .await
    }

    async fn list_items(&self, query: &ItemQuery) -> Result<Page<Item>> {
        let mut qb: QueryBuilder<'_, Postgres> =
            QueryBuilder::new(format!("SELECT {ITEM_COLUMNS} FROM items WHERE TRUE"));
        if !query.include_archived {
            qb.push(" AND NOT archived");
        }
        if let Some(sku) = &query.sku {
            qb.push(" AND sku_folded = ").push_bind(fold(sku));
        }
        if let Some(barcode) = &query.barcode {
            qb.push(" AND barcode = ").push_bind(barcode.clone());
        }
        if let Some(category) = &query.category {
            qb.push(" AND category_folded = ").push_bind(fold(category));
        }
        if let Some(code) = &query.location {
            qb.push(
                " AND EXISTS (SELECT 1 FROM stock s JOIN locations l ON l.id = s.location_id \
                 WHERE s.item_id = items.id AND s.on_hand > 0 AND l.code = ",
            )
            .push_bind(code.clone())
            .push(")");
        }
        if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
            let pattern = escape_like(&fold(q));
            qb.push(" AND (sku_folded LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR name_folded LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\' OR barcode = ")
                .push_bind(q.trim().to_owned())
                .push(")");
        }
        if query.low_stock {
            qb.push(" AND reorder_point > 0 AND on_hand - reserved <= reorder_point");
        }
        let (column, op, dir) = match query.sort {
            ItemSort::SkuAsc => ("sku", " > ", "ASC"),
            ItemSort::SkuDesc => ("sku", " < ", "DESC"),
            ItemSort::CreatedAsc => ("id", " > ", "ASC"),
            ItemSort::CreatedDesc => ("id", " < ", "DESC"),
        };
        if let Some(after) = &query.after {
            qb.push(" AND ").push(column).push(op);
            match query.sort {
                ItemSort::SkuAsc | ItemSort::SkuDesc => qb.push_bind(after.key.clone()),
                ItemSort::CreatedAsc | ItemSort::CreatedDesc => {
                    qb.push_bind(Uuid::parse_str(&after.key).map_err(|_| bad_cursor())?)
                }
            };
        }
        qb.push(" ORDER BY ")
            .push(column)
            .push(" ")
            .push(dir)
            .push(" LIMIT ")
            .push_bind(i64::from(query.limit) + 1);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(db_error)?;
        let mut items = rows.iter().map(item_from_row).collect::<Result<Vec<_>>>()?;
        let sort = query.sort;
        let next = page_end(&mut items, query.limit, |i| match sort {
            ItemSort::SkuAsc | ItemSort::SkuDesc => i.sku.clone(),
            ItemSort::CreatedAsc | ItemSort::CreatedDesc => i.id.to_string(),
        });
        Ok(Page {
            rows: items,
            next_cursor: next,
        })
    }

    async fn find_items_by_keys(
        &self,
        skus_folded: Vec<String>,
        barcodes: Vec<String>,
    ) -> Result<Vec<Item>> {
        let rows = sqlx::query(&format!(
            "SELECT {ITEM_COLUMNS} FROM items \
             WHERE sku_folded = ANY($1::text[]) OR barcode = ANY($2::text[])"
        ))
        .bind(&skus_folded)
        .bind(&barcodes)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(item_from_row).collect()
    }

    async fn import_items(&self, writes: Vec<ItemWrite>) -> Result<Vec<Item>> {
        self.write(move |conn| Box::pin(writes::import_items(conn, writes)))
            .await
    }

    async fn count_items(&self) -> Result<i64> {
        self.count("SELECT COUNT(*) FROM items WHERE NOT archived")
            .await
    }

    async fn count_all_items(&self) -> Result<i64> {
        self.count("SELECT COUNT(*) FROM items").await
    }

    async fn count_low_stock(&self) -> Result<i64> {
        self.count(
            "SELECT COUNT(*) FROM items WHERE NOT archived AND reorder_point > 0 AND on_hand - reserved <= reorder_point",
        )
        .await
    }
}

#[async_trait]
impl ReservationStore for PgStore {
    async fn create_reservation(
        &self,
        new: NewReservation,
        actor: &Actor,
        idem: Option<Idempotency<Reservation>>,
    ) -> Result<Created<Reservation>> {
        let actor = actor.clone();
        self.write(move |conn| {
            Box::pin(async move { reservations::create_reservation(conn, new, &actor, idem).await })
        })
        .await
    }

    async fn update_reservation(&self, id: Uuid, patch: ReservationPatch) -> Result<Reservation> {
        self.write(move |conn| Box::pin(reservations::update_reservation(conn, id, patch)))
            .await
    }

    async fn release_reservation(&self, id: Uuid) -> Result<Reservation> {
        self.write(move |conn| {
            Box::pin(reservations::end_reservation(
                conn,
                id,
                ReservationStatus::Released,
                "release",
            ))
        })
        .await
    }

    async fn get_reservation(&self, id: Uuid) -> Result<Reservation> {
        expiry::load_reservation(&self.pool, id).await
    }

    async fn list_reservations(
        &self,
        query: &ReservationQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<Reservation>> {
        let rows = reservations::list_query(query, now)
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        reservations::page(rows, query.limit)
    }

    async fn sweep_expired_reservations(
        &self,
        holder: Uuid,
        lease: Duration,
        limit: u32,
    ) -> Result<Option<Vec<Reservation>>> {
        self.write(move |conn| Box::pin(reservations::sweep(conn, holder, lease, limit)))
            .await
    }
}

#[async_trait]
impl SalesStore for PgStore {
    async fn create_sales_order(
        &self,
        new: NewSalesOrder,
        actor: &Actor,
        idem: OrderIdem,
    ) -> Result<Created<SalesOrder>> {
        let actor = actor.clone();
        self.write(move |conn| Box::pin(sales::create(conn, new, actor, idem)))
            .await
    }

    async fn update_sales_order(
        &self,
        id: Uuid,
        patch: SalesOrderPatch,
        actor: &Actor,
    ) -> Result<SalesOrder> {
        let actor = actor.clone();
        self.write(move |conn| Box::pin(sales::update(conn, id, patch, actor)))
            .await
    }

    async fn hold_sales_order(
        &self,
        id: Uuid,
        until: DateTime<Utc>,
        actor: &Actor,
        idem: OrderIdem,
    ) -> Result<Created<SalesOrder>> {
        let actor = actor.clone();
        self.write(move |conn| Box::pin(sales::hold_order(conn, id, until, actor, idem)))
            .await
    }

    async fn confirm_sales_order(
        &self,
        id: Uuid,
        actor: &Actor,
        idem: OrderIdem,
    ) -> Result<Created<SalesOrder>> {
        let actor = actor.clone();
        self.write(move |conn| Box::pin(sales::confirm(conn, id, actor, idem)))
            .await
    }

    async fn ship_sales_order(
        &self,
        id: Uuid,
        request: ShipRequest,
        actor: &Actor,
        idem: OrderIdem,
    ) -> Result<Created<SalesOrder>> {
        let actor = actor.clone();
        self.write(move |conn| Box::pin(sales::ship(conn, id, request, actor, idem)))
            .await
    }

    async fn cancel_sales_order(
        &self,
        id: Uuid,
        _actor: &Actor,
        idem: OrderIdem,
    ) -> Result<Created<SalesOrder>> {
        self.write(move |conn| Box::pin(sales::cancel(conn, id, idem)))
            .await
    }

    async fn get_sales_order(&self, id: Uuid) -> Result<SalesOrder> {
        sales::read_order(&self.pool, id).await
    }

    async fn list_sales_orders(&self, query: &SalesOrderQuery) -> Result<Page<SalesOrder>> {
        sales::list(&self.pool, query).await
    }
}

#[async_trait]
impl LedgerStore for PgStore {
    async fn apply_movements(
        &self,
        movements: Vec<NewMovement>,
        actor: &Actor,
        idem: Option<Idempotency<Vec<MovementResult>>>,
    ) -> Result<Created<Vec<MovementResult>>> {
        let actor = actor.clone();
        // A reversal is never batched with other requests: its unique key
        // may refuse it, which aborts a statement, so it needs a savepoint.
        if movements.len() == 1 && idem.is_none() && movements[0].reverses.is_none() {
            let (reply, rx) = oneshot::channel();
            let job = Job::Movement {
                movement: movements.into_iter().next().expect("one movement"),
                created_by: actor.username,
                context: Box::new(AuditContext::current()),
                reply,
            };
            self.jobs
                .send(job)
                .await
                .map_err(|_| unavailable("the PostgreSQL writer has stopped"))?;
            let applied = rx
                .await
                .map_err(|_| unavailable("the write was not committed"))??;
            return Ok(Created::New(vec![applied]));
        }
        // A request of several movements, or one whose response is
        // recorded, is undone through a savepoint when refused.
        self.write(move |conn| Box::pin(writes::apply_movements(conn, movements, actor, idem)))
            .await
    }

    async fn post_stock_count(&self, count: StockCount, actor: &Actor) -> Result<CountResult> {
        let actor = actor.clone();
        self.write(move |conn| Box::pin(writes::post_stock_count(conn, count, actor)))
            .await
    }

    async fn get_movement(&self, id: Uuid) -> Result<Movement> {
        let row = sqlx::query(&format!("{MOVEMENT_SELECT} WHERE m.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .ok_or(Error::NotFound("movement"))?;
        movement_from_row(&row)
    }

    async fn list_movements(&self, query: &MovementQuery) -> Result<Page<Movement>> {
        let mut qb: QueryBuilder<'_, Postgres> =
            QueryBuilder::new(format!("{MOVEMENT_SELECT} WHERE TRUE"));
        if let Some(item_id) = query.item_id {
            qb.push(" AND m.item_id = ").push_bind(item_id);
        }
        if let Some(code) = &query.location {
            qb.push(" AND ")
                .push_bind(code.clone())
                .push(" IN (l.code, lf.code, lt.code)");
        }
        if let Some(kind) = query.kind {
            qb.push(" AND m.kind = ").push_bind(kind.as_str());
        }
        if let Some(since) = query.since {
            qb.push(" AND m.created_at >= ").push_bind(since);
        }
        if let Some(until) = query.until {
            qb.push(" AND m.created_at < ").push_bind(until);
        }
        let (op, dir) = match query.order {
            SeqOrder::Asc => (" > ", "ASC"),
            SeqOrder::Desc => (" < ", "DESC"),
        };
        if let Some(after) = query.after_seq {
            qb.push(" AND m.seq").push(op).push_bind(after);
        }
        qb.push(" ORDER BY m.seq ")
            .push(dir)
            .push(" LIMIT ")
            .push_bind(i64::from(query.limit) + 1);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(db_error)?;
        let mut movements = rows
            .iter()
            .map(movement_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next = page_end(&mut movements, query.limit, |m| m.seq.to_string());
        Ok(Page {
            rows: movements,
            next_cursor: next,
        })
    }

    async fn item_stock(&self, item_id: Uuid, as_of: Option<DateTime<Utc>>) -> Result<StockReport> {
        let (sku, incoming): (String, i64) =
            sqlx::query_as("SELECT sku, incoming FROM items WHERE id = $1")
                .bind(item_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?
                .ok_or(Error::NotFound("item"))?;
        // One statement, so one snapshot: the balances always agree.
        let rows = match as_of {
            // A reservation past its expiry holds nothing from that instant,
            // even before a write or the sweeper has ended it.
            None => sqlx::query(
                "SELECT l.code, s.on_hand, s.reserved - (SELECT COALESCE(SUM(r.quantity), 0) \
                   FROM reservations r WHERE r.item_id = s.item_id AND r.location_id = s.location_id \
                   AND r.status = 'active' AND r.expires_at <= $2)::BIGINT AS reserved \
                 FROM stock s JOIN locations l ON l.id = s.location_id WHERE s.item_id = $1 ORDER BY l.code",
            )
            .bind(item_id)
            .bind(inventory_core::now())
            .fetch_all(&self.pool)
            .await,
            Some(at) => sqlx::query(
                "SELECT l.code, SUM(d.delta)::BIGINT AS on_hand, 0::BIGINT AS reserved FROM ( \
                   SELECT location_id AS loc, CASE kind WHEN 'issue' THEN -quantity ELSE quantity END AS delta \
                     FROM movements WHERE item_id = $1 AND created_at <= $2 AND kind <> 'transfer' \
                   UNION ALL SELECT from_location_id, -quantity FROM movements \
                     WHERE item_id = $1 AND created_at <= $2 AND kind = 'transfer' \
                   UNION ALL SELECT to_location_id, quantity FROM movements \
                     WHERE item_id = $1 AND created_at <= $2 AND kind = 'transfer' \
                 ) d JOIN locations l ON l.id = d.loc GROUP BY l.code ORDER BY l.code",
            )
            .bind(item_id)
            .bind(at)
            .fetch_all(&self.pool)
            .await,
        }
        .map_err(db_error)?;
        let locations = rows
            .iter()
            .map(balance_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(StockReport::new(item_id, sku, as_of, locations, incoming))
    }

    async fn on_hand_at(
        &self,
        code: &str,
        item_ids: Vec<Uuid>,
    ) -> Result<std::collections::HashMap<Uuid, i64>> {
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT s.item_id, s.on_hand FROM stock s JOIN locations l ON l.id = s.location_id \
             WHERE l.code = $1 AND s.item_id = ANY($2)",
        )
        .bind(code)
        .bind(&item_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().collect())
    }

    async fn ledger_sum(&self, item_id: Uuid) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COALESCE(SUM(CASE kind WHEN 'issue' THEN -quantity WHEN 'transfer' THEN 0 ELSE quantity END), 0)::BIGINT \
             FROM movements WHERE item_id = $1",
        )
        .bind(item_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)
    }
}

#[async_trait]
impl HistoryStore for PgStore {
    async fn movements_per_day(&self, days: Days) -> Result<Vec<DayFigure<i64>>> {
        history::movements_per_day(&self.pool, days).await
    }

    async fn stock_value(&self) -> Result<i128> {
        history::stock_value(&self.pool).await
    }

    async fn stock_value_per_day(&self, days: Days) -> Result<ValueHistory> {
        history::stock_value_per_day(&self.pool, days).await
    }

    async fn item_stock_per_day(&self, item_id: Uuid, days: Days) -> Result<Vec<DayFigure<i64>>> {
        history::item_stock_per_day(&self.pool, item_id, days).await
    }
}

#[async_trait]
impl AuditStore for PgStore {
    async fn record_audit(&self, entry: NewAuditEntry) -> Result<()> {
        self.write(move |conn| Box::pin(audit::record_audit(conn, entry)))
            .await
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Page<AuditEntry>> {
        audit::list_audit(&self.pool, query).await
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64> {
        self.write(move |conn| {
            Box::pin(async move {
                let n = sqlx::query("DELETE FROM audit_log WHERE at < $1")
                    .bind(before)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                Ok(n.rows_affected())
            })
        })
        .await
    }
}

#[async_trait]
impl EventStore for PgStore {
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT id, kind, entity_id, data, created_at FROM events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn last_event_id(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0)::BIGINT FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)
    }
}

#[async_trait]
impl PartyStore for PgStore {
    async fn create_party(
        &self,
        party: Party,
        idem: Option<Idempotency<Party>>,
    ) -> Result<Created<Party>> {
        self.write(move |conn| Box::pin(purchasing::create_party(conn, party, idem)))
            .await
    }

    async fn get_party(&self, id: Uuid) -> Result<Party> {
        purchasing::load_party(&self.pool, id).await
    }

    async fn list_parties(&self, query: &PartyQuery) -> Result<Page<Party>> {
        purchasing::list_parties(&self.pool, query).await
    }

    async fn update_party(
        &self,
        id: Uuid,
        patch: PartyPatch,
        if_version: Option<i64>,
    ) -> Result<Party> {
        self.write(move |conn| Box::pin(purchasing::update_party(conn, id, patch, if_version)))
            .await
    }
}

impl PgStore {
    /// A read-only, repeatable-read transaction: an order and its lines
    /// come from one snapshot.
    async fn snapshot(&self) -> Result<sqlx::Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        Ok(tx)
    }
}

#[async_trait]
impl PurchaseStore for PgStore {
    async fn create_purchase_order(
        &self,
        order: NewPurchaseOrder,
        actor: &Actor,
        idem: Option<Idempotency<PurchaseOrder>>,
    ) -> Result<Created<PurchaseOrder>> {
        let actor = actor.clone();
        self.write(move |conn| Box::pin(purchasing::create_order(conn, order, actor, idem)))
            .await
    }

    async fn get_purchase_order(&self, id: Uuid) -> Result<PurchaseOrder> {
        let mut tx = self.snapshot().await?;
        let order = purchasing::load_order(&mut tx, id).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(order)
    }

    async fn list_purchase_orders(&self, query: &PoQuery) -> Result<Page<PurchaseOrder>> {
        let mut tx = self.snapshot().await?;
        let page = purchasing::list_orders(&mut tx, query).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(page)
    }

    async fn update_purchase_order(
        &self,
        id: Uuid,
        patch: PurchaseOrderPatch,
    ) -> Result<PurchaseOrder> {
        self.write(move |conn| Box::pin(purchasing::update_order(conn, id, patch)))
            .await
    }

    async fn submit_purchase_order(
        &self,
        id: Uuid,
        idem: Option<Idempotency<PurchaseOrder>>,
    ) -> Result<Created<PurchaseOrder>> {
        self.write(move |conn| Box::pin(purchasing::submit_order(conn, id, idem)))
            .await
    }

    async fn receive_purchase_order(
        &self,
        id: Uuid,
        receipt: ReceivePurchaseOrder,
        actor: &Actor,
        idem: Option<Idempotency<ReceiptResult>>,
    ) -> Result<Created<ReceiptResult>> {
        let actor = actor.clone();
        self.write(move |conn| Box::pin(purchasing::receive_order(conn, id, receipt, actor, idem)))
            .await
    }

    async fn cancel_purchase_order(
        &self,
        id: Uuid,
        idem: Option<Idempotency<PurchaseOrder>>,
    ) -> Result<Created<PurchaseOrder>> {
        self.write(move |conn| Box::pin(purchasing::cancel_order(conn, id, idem)))
            .await
    }
}
