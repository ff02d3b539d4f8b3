//! SQLite implementation of the [`Store`] contract, on rusqlite.
//!
//! Reads use a pool of read-only connections (WAL lets them run beside the
//! writer), each read running on tokio's blocking pool. Every write goes to
//! one writer thread that owns the only writing connection and commits in
//! groups: it drains the jobs waiting for it, runs each inside its own
//! SAVEPOINT (a failing job rolls back alone), then commits them all with one
//! fsync. That is how durable writes reach thousands per second with
//! `synchronous=FULL`, and with a single writer no two stock changes ever
//! interleave; guarded statements and CHECK constraints back that up.
//!
//! rusqlite rather than sqlx here: sqlx's SQLite driver hands every
//! statement to a worker thread and back, and on 2 cores that hand-off, not
//! the disk, capped movements near 2,000/s (docs/PERFORMANCE.md). Statements
//! are still only ever built from constant fragments with bound parameters.

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
use errors::{db_error, unavailable};
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
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

pub use dump::{is_sqlite_file, restore_file};
pub use migrate::LATEST_VERSION;

/// How many queued writes one commit may carry.
const MAX_GROUP: usize = 512;

/// How often the checkpointer copies committed WAL pages into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// WAL pages after which the writer checkpoints itself (32 MB): a backstop
/// that bounds the WAL, which only a checkpoint that finds nothing newer
/// than itself can restart; the checkpointer has done most of the copying by
/// then.
const WRITER_CHECKPOINT_PAGES: u32 = 8000;

/// Settings for opening a SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// `synchronous=FULL` (fsync on every commit) when true, `NORMAL` otherwise.
    pub sync_full: bool,
    /// Size of the read-only connection pool.
    pub read_connections: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            sync_full: true,
            read_connections: 4,
        }
    }
}

/// The part of a `sqlite://` URL after the scheme: a file path, relative to
/// the working directory unless it starts with `/`.
pub fn path_from_url(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let rest = rest.split('?').next().unwrap_or_default();
    (!rest.is_empty()).then(|| PathBuf::from(rest))
}

type Reply = Box<dyn FnOnce(Result<()>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Read-only connections, each owned by a reader thread of its own that
/// takes reads from one queue. A fixed set of threads: handing each read to
/// tokio's blocking pool instead made that pool grow to dozens of threads
/// under load (a thread that has just finished is not yet idle when the
/// next read comes), each holding memory of its own.
struct ReadPool {
    jobs: std::sync::mpsc::Sender<ReadJob>,
    in_use: Arc<AtomicU32>,
    size: u32,
}

/// A reader thread: runs reads on its connection until the store is gone.
fn run_reader(
    conn: Connection,
    queue: Arc<Mutex<std::sync::mpsc::Receiver<ReadJob>>>,
    in_use: Arc<AtomicU32>,
) {
    loop {
        let job = match queue.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        in_use.fetch_add(1, Ordering::Relaxed);
        // A read that panics loses its answer (its caller hears "not
        // answered"), not this thread and its connection.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&conn)));
        in_use.fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct SqliteStore {
    reads: Arc<ReadPool>,
    jobs: mpsc::Sender<Job>,
    writer_busy: Arc<AtomicBool>,
    /// Dropped with the store, which ends the checkpointer thread.
    _checkpointer: std::sync::mpsc::Sender<()>,
}

fn configure(conn: &Connection, sync_full: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    // nosemgrep: inventory-sql-built-with-format -- the value is one of two literals, FULL or NORMAL
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; PRAGMA cache_size = -2000; PRAGMA temp_store = MEMORY;",
        if sync_full { "FULL" } else { "NORMAL" }
    ))?;
    // The store has about 80 cached statements (some built per query shape)
    // and the writer runs most of them: an LRU cache smaller than that would
    // prepare them again and again.
    conn.set_prepared_statement_cache_capacity(256);
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, applies pending
    /// migrations and makes sure the MAIN location exists.
    pub async fn open(path: &Path, opts: &SqliteOptions) -> Result<Self> {
        let path = path.to_owned();
        let opts = opts.clone();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path, &opts))
            .await
            .map_err(Error::internal)?
    }

    fn open_blocking(path: &Path, opts: &SqliteOptions) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let cannot_open =
            |e: rusqlite::Error| unavailable(format!("cannot open {}: {e}", path.display()));
        let mut writer = Connection::open(path).map_err(cannot_open)?;
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(cannot_open)?;
        configure(&writer, opts.sync_full).map_err(cannot_open)?;
        writer
            .pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
            .map_err(cannot_open)?;
        migrate::run(&mut writer)?;
        writes::ensure_main_location(&writer)?;

        let size = opts.read_connections.max(1);
        let (read_jobs, read_queue) = std::sync::mpsc::channel::<ReadJob>();
        let read_queue = Arc::new(Mutex::new(read_queue));
        let in_use = Arc::new(AtomicU32::new(0));
        for n in 0..size {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(cannot_open)?;
            configure(&conn, opts.sync_full).map_err(cannot_open)?;
            let (queue, in_use) = (read_queue.clone(), in_use.clone());
            std::thread::Builder::new()
                .name(format!("sqlite-reader-{n}"))
                .spawn(move || run_reader(conn, queue, in_use))
                .map_err(Error::internal)?;
        }
        let reads = Arc::new(ReadPool {
            jobs: read_jobs,
            in_use,
            size,
        });

        let checkpoints = Connection::open(path).map_err(cannot_open)?;
        configure(&checkpoints, opts.sync_full).map_err(cannot_open)?;
        let (checkpointer, stop) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpointer".into())
            .spawn(move || run_checkpointer(checkpoints, stop))
            .map_err(Error::internal)?;

        let (jobs, rx) = mpsc::channel::<Job>(4096);
        let writer_busy = Arc::new(AtomicBool::new(false));
        let busy = writer_busy.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(writer, rx, busy))
            .map_err(Error::internal)?;
        Ok(Self {
            reads,
            jobs,
            writer_busy,
            _checkpointer: checkpointer,
        })
    }

    /// Runs `f` on the writer connection inside the next group commit and
    /// returns its result once that commit is durable.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        // The job runs on the writer thread: it takes the sender's audit
        // context with it, for the entries it records.
        let context = AuditContext::current();
        let job: Job = Box::new(move |conn| {
            let result = context.sync_scope(|| f(conn));
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit: Result<()>| {
                let _ = tx.send(commit.and(result));
            });
            (ok, reply)
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| unavailable("the SQLite writer has stopped"))?;
        rx.await
            .map_err(|_| unavailable("the write was not committed"))?
    }

    /// Runs `f` on a read-only connection, on the next free reader thread.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        self.reads
            .jobs
            .send(job)
            .map_err(|_| unavailable("the SQLite readers have stopped"))?;
        rx.await
            .map_err(|_| Error::internal("a read ended without an answer"))?
    }

    /// Takes a consistent copy of the database into `dest` (which must not
    /// exist) while writes go on: `VACUUM INTO` on a read connection copies
    /// one WAL snapshot and never holds up the writer. (It cannot run on the
    /// writer, whose jobs run inside a transaction.)
    pub async fn backup_into(&self, dest: &Path) -> Result<()> {
        let dest = dest.to_string_lossy().into_owned();
        self.read(move |conn| {
            conn.execute("VACUUM INTO ?1", params![dest])
                .map_err(db_error)?;
            Ok(())
        })
        .await
    }
}

/// Copies committed WAL pages into the database file on its own connection,
/// so that the random writes and the fsync of a checkpoint keep the writer
/// waiting only when the WAL reaches [`WRITER_CHECKPOINT_PAGES`]. A PASSIVE
/// checkpoint never blocks the writer or the readers. Runs until the store
/// (the sender of `stop`) is dropped.
fn run_checkpointer(conn: Connection, stop: std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        // (busy, WAL pages, pages copied): only a failure is worth a line.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "background WAL checkpoint failed");
        }
    }
}

/// The group-commit loop: one transaction per batch of queued jobs, each job
/// isolated in a savepoint.
fn run_writer(conn: Connection, mut rx: mpsc::Receiver<Job>, busy: Arc<AtomicBool>) {
    // Cached: these run around every job, and parsing them each time cost
    // more than some jobs.
    let exec = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute([]))
            .map(drop)
            .map_err(db_error)
    };
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = rx.blocking_recv() {
        jobs.push(first);
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        busy.store(true, Ordering::Relaxed);
        if let Err(e) = exec("BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "cannot begin a write transaction");
            jobs.clear(); // dropping a job tells its caller the write failed
            busy.store(false, Ordering::Relaxed);
            continue;
        }
        let mut committed: Vec<Reply> = Vec::with_capacity(jobs.len());
        for job in jobs.drain(..) {
            if let Err(e) = exec("SAVEPOINT job") {
                tracing::error!(error = %e, "cannot open a savepoint");
                continue;
            }
            let (ok, reply) = expiry::as_one_instant(|| job(&conn));
            if ok {
                if exec("RELEASE job").is_ok() {
                    committed.push(reply);
                } else {
                    reply(Err(unavailable("cannot release a savepoint")));
                }
            } else {
                if exec("ROLLBACK TO job")
                    .and_then(|_| exec("RELEASE job"))
                    .is_err()
                {
                    tracing::error!("cannot roll back a failed write");
                }
                reply(Ok(()));
            }
        }
        match exec("COMMIT") {
            Ok(()) => committed.into_iter().for_each(|r| r(Ok(()))),
            Err(e) => {
                tracing::error!(error = %e, "group commit failed");
                let _ = exec("ROLLBACK");
                committed
                    .into_iter()
                    .for_each(|r| r(Err(unavailable("the write could not be committed"))));
            }
        }
        busy.store(false, Ordering::Relaxed);
    }
}

fn count(conn: &Connection, sql: &str) -> Result<i64> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(db_error)
}

#[async_trait]
impl AdminStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        if self.jobs.is_closed() {
            return Err(unavailable("the SQLite writer has stopped"));
        }
        self.read(|conn| count(conn, "SELECT 1").map(|_| ())).await
    }

    fn pool_stats(&self) -> PoolStats {
        let max = self.reads.size + 1;
        let active = (self.reads.in_use.load(Ordering::Relaxed)
            + u32::from(self.writer_busy.load(Ordering::Relaxed)))
        .min(max);
        PoolStats {
            active,
            idle: max - active,
            max,
        }
    }

    async fn find_idempotent(&self, user_id: Uuid, key: &str) -> Result<Option<StoredResponse>> {
        let key = key.to_owned();
        self.read(move |conn| writes::find_idempotent(conn, user_id, &key))
            .await
    }

    async fn purge_expired(&self, keys_before: DateTime<Utc>) -> Result<u64> {
        self.write(move |conn| {
            let keys = conn
                .execute(
                    "DELETE FROM idempotency_keys WHERE created_at < ?1",
                    params![micros(keys_before)],
                )
                .map_err(db_error)?;
            let sessions = conn
                .execute(
                    "DELETE FROM sessions WHERE expires_at <= ?1",
                    params![micros(Utc::now())],
                )
                .map_err(db_error)?;
            Ok((keys + sessions) as u64)
        })
        .await
    }

    async fn check_invariants(&self) -> Result<Vec<Violation>> {
        self.read(|conn| in_snapshot(conn, invariants::check)).await
    }

    async fn export(
        &self,
        out: Box<dyn std::io::Write + Send>,
        options: ExportOptions,
    ) -> Result<ExportCounts> {
        self.read(move |conn| dump::export(conn, out, options))
            .await
    }

    async fn import(&self, rows: DumpRows) -> Result<ExportCounts> {
        self.write(move |conn| dump::import(conn, rows)).await
    }
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn count_users(&self) -> Result<i64> {
        self.read(|conn| count(conn, "SELECT COUNT(*) FROM users"))
            .await
    }

    async fn create_user(
        &self,
        user: User,
        password_hash: &str,
        idem: Option<Idempotency<User>>,
    ) -> Result<Created<User>> {
        let password_hash = password_hash.to_owned();
        self.write(move |conn| writes::create_user(conn, user, password_hash, idem))
            .await
    }

    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>> {
        let username = username.to_owned();
        self.read(move |conn| users::find_user(conn, &username))
            .await
    }

    async fn get_user(&self, id: Uuid) -> Result<User> {
        self.read(move |conn| users::get_user(conn, id)).await
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Page<User>> {
        let query = query.clone();
        self.read(move |conn| users::list_users(conn, &query)).await
    }

    async fn update_user(
        &self,
        id: Uuid,
        patch: &UserPatch,
        if_version: Option<i64>,
    ) -> Result<User> {
        let patch = patch.clone();
        self.write(move |conn| users::update_user(conn, id, &patch, if_version))
            .await
    }

    async fn set_password(
        &self,
        id: Uuid,
        password_hash: &str,
        must_change_password: bool,
        end: EndSessions<'_>,
    ) -> Result<User> {
        let hash = password_hash.to_owned();
        let keep = match end {
            EndSessions::All => None,
            EndSessions::AllBut(token_hash) => Some(token_hash.to_owned()),
        };
        self.write(move |conn| {
            let end = keep
                .as_deref()
                .map_or(EndSessions::All, EndSessions::AllBut);
            users::set_password(conn, id, &hash, must_change_password, end)
        })
        .await
    }

    async fn count_enabled_admins(&self) -> Result<i64> {
        self.read(users::count_enabled_admins).await
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
            users::create_session(conn, &token_hash, user_id, expires_at, &client)
        })
        .await
    }

    async fn find_session(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        let token_hash = token_hash.to_owned();
        self.read(move |conn| users::find_session(conn, &token_hash))
            .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |conn| users::delete_session(conn, &token_hash))
            .await
    }

    async fn touch_session(&self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        self.write(move |conn| users::touch_session(conn, id, at))
            .await
    }

    async fn list_sessions(&self, user_id: Uuid) -> Result<Vec<Session>> {
        self.read(move |conn| users::list_sessions(conn, user_id))
            .await
    }

    async fn end_session(&self, user_id: Uuid, session_id: Uuid) -> Result<String> {
        self.write(move |conn| users::end_session(conn, user_id, session_id))
            .await
    }

    async fn create_api_token(
        &self,
        token_hash: &str,
        user_id: Uuid,
        token: &NewApiToken,
    ) -> Result<ApiToken> {
        let (token_hash, token) = (token_hash.to_owned(), token.clone());
        self.write(move |conn| users::create_api_token(conn, &token_hash, user_id, &token))
            .await
    }

    async fn list_api_tokens(&self, user_id: Uuid) -> Result<Vec<ApiToken>> {
        self.read(move |conn| users::list_api_tokens(conn, user_id))
            .await
    }

    async fn revoke_api_token(&self, user_id: Uuid, token_id: Uuid) -> Result<String> {
        self.write(move |conn| users::revoke_api_token(conn, user_id, token_id))
            .await
    }
}

#[async_trait]
impl CatalogueStore for SqliteStore {
    async fn create_location(
        &self,
        location: Location,
        idem: Option<Idempotency<Location>>,
    ) -> Result<Created<Location>> {
        self.write(move |conn| writes::create_location(conn, location, idem))
            .await
    }

    async fn get_location(&self, id: Uuid) -> Result<Location> {
        self.read(move |conn| writes::load_location(conn, id)).await
    }

    async fn find_location(&self, code: &str) -> Result<Option<Location>> {
        let code = code.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {LOCATION_COLUMNS} FROM locations WHERE code = ?1"
            ))
            .and_then(|mut stmt| {
                stmt.query_row(params![code], |r| Ok(location_from_row(r)))
                    .optional()
            })
            .map_err(db_error)?
            .transpose()
        })
        .await
    }

    async fn list_locations(&self, after_code: Option<&str>, limit: u32) -> Result<Page<Location>> {
        let after = after_code.unwrap_or("").to_owned();
        self.read(move |conn| {
            let mut locations = query_all(
                conn,
                &format!(
                    "SELECT {LOCATION_COLUMNS} FROM locations WHERE code > ?1 ORDER BY code LIMIT ?2"
                ),
                vec![SqlValue::Text(after), SqlValue::Integer(i64::from(limit) + 1)],
                location_from_row,
            )?;
            let next = page_end(&mut locations, limit, |l| l.code.clone());
            Ok(Page {
                rows: locations,
                next_cursor: next,
            })
        })
        .await
    }

    async fn update_location(&self, id: Uuid, patch: LocationPatch) -> Result<Location> {
        self.write(move |conn| writes::update_location(conn, id, patch))
            .await
    }

    async fn create_item(
        &self,
        item: Item,
        idem: Option<Idempotency<Item>>,
    ) -> Result<Created<Item>> {
        self.write(move |conn| writes::create_item(conn, item, idem))
            .await
    }

    async fn get_item(&self, id: Uuid) -> Result<Item> {
        self.read(move |conn| writes::load_item(conn, id)).await
    }

    async fn find_item_by_sku(&self, sku: &str) -> Result<Option<Item>> {
        let folded = fold(sku);
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {ITEM_COLUMNS} FROM items WHERE sku_folded = ?1"
            ))
            .and_then(|mut stmt| {
                stmt.query_row(params![folded], |r| Ok(item_from_row(r)))
                    .optional()
            })
            .map_err(db_error)?
            .transpose()
        })
        .await
    }

    async fn update_item(
        &self,
        id: Uuid,
        patch: ItemPatch,
        if_version: Option<i64>,
    ) -> Result<Item> {
        self.write(move |conn| writes::update_item(conn, id, patch, if_version))
            .await
    }

    async fn archive_item(&self, id: Uuid, if_version: Option<i64>) -> Result<bool> {
        self.write(move |conn| writes::archive_item(conn, id, if_version))
            .await
    }

    async fn restore_item(&self, id: Uuid, if_version: Option<i64>) -> Result<(Item, bool)> {
        self.write(move |conn| writes::restore_item(conn, id, if_version))
            .await
    }

    async fn list_items(&self, query: &ItemQuery) -> Result<Page<Item>> {
        let query = query.clone();
        self.read(move |conn| {
            let mut sql = format!("SELECT {ITEM_COLUMNS} FROM items WHERE 1 = 1");
            let mut values: Vec<SqlValue> = Vec::new();
            let mut bind = |sql: &mut String, fragment: &str, value: SqlValue| {
                values.push(value);
                sql.push_str(&fragment.replace('?', &format!("?{}", values.len())));
            };
            if !query.include_archived {
                sql.push_str(" AND archived = 0");
            }
            if let Some(sku) = &query.sku {
                bind(&mut sql, " AND sku_folded = ?", SqlValue::Text(fold(sku)));
            }
            if let Some(barcode) = &query.barcode {
                bind(
                    &mut sql,
                    " AND barcode = ?",
                    SqlValue::Text(barcode.clone()),
                );
            }
            if let Some(category) = &query.category {
                bind(
                    &mut sql,
                    " AND category_folded = ?",
                    SqlValue::Text(fold(category)),
                );
            }
            if let Some(code) = &query.location {
                bind(
                    &mut sql,
                    " AND EXISTS (SELECT 1 FROM stock s JOIN locations l ON l.id = s.location_id \
                     WHERE s.item_id = items.id AND s.on_hand > 0 AND l.code = ?)",
                    SqlValue::Text(code.clone()),
                );
            }
            if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
                bind(
                    &mut sql,
                    " AND (sku_folded LIKE ? ESCAPE '\\'",
                    SqlValue::Text(escape_like(&fold(q))),
                );
                bind(
                    &mut sql,
                    " OR name_folded LIKE ? ESCAPE '\\'",
                    SqlValue::Text(escape_like(&fold(q))),
                );
                bind(
                    &mut sql,
                    " OR barcode = ?)",
                    SqlValue::Text(q.trim().to_owned()),
                );
            }
            if query.low_stock {
                sql.push_str(" AND reorder_point > 0 AND on_hand - reserved <= reorder_point");
            }
            let (column, op, dir) = match query.sort {
                ItemSort::SkuAsc => ("sku", ">", "ASC"),
                ItemSort::SkuDesc => ("sku", "<", "DESC"),
                ItemSort::CreatedAsc => ("id", ">", "ASC"),
                ItemSort::CreatedDesc => ("id", "<", "DESC"),
            };
            if let Some(after) = &query.after {
                bind(
                    &mut sql,
                    &format!(" AND {column} {op} ?"),
                    SqlValue::Text(after.key.clone()),
                );
            }
            bind(
                &mut sql,
                &format!(" ORDER BY {column} {dir} LIMIT ?"),
                SqlValue::Integer(i64::from(query.limit) + 1),
            );
            let mut items = query_all(conn, &sql, values, item_from_row)?;
            let sort = query.sort;
            let next = page_end(&mut items, query.limit, |i| match sort {
                ItemSort::SkuAsc | ItemSort::SkuDesc => i.sku.clone(),
                ItemSort::CreatedAsc | ItemSort::CreatedDesc => i.id.to_string(),
            });
            Ok(Page {
                rows: items,
                next_cursor: next,
            })
        })
        .await
    }

    async fn find_items_by_keys(
        &self,
        skus_folded: Vec<String>,
        barcodes: Vec<String>,
    ) -> Result<Vec<Item>> {
        // The keys travel as two bound JSON arrays, read by json_each.
        let skus = serde_json::to_string(&skus_folded).map_err(Error::internal)?;
        let barcodes = serde_json::to_string(&barcodes).map_err(Error::internal)?;
        self.read(move |conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {ITEM_COLUMNS} FROM items \
                     WHERE sku_folded IN (SELECT value FROM json_each(?1)) \
                     OR barcode IN (SELECT value FROM json_each(?2))"
                ),
                vec![SqlValue::Text(skus), SqlValue::Text(barcodes)],
                item_from_row,
            )
        })
        .await
    }

    async fn import_items(&self, writes: Vec<ItemWrite>) -> Result<Vec<Item>> {
        self.write(move |conn| writes::import_items(conn, writes))
            .await
    }

    async fn count_items(&self) -> Result<i64> {
        self.read(|conn| count(conn, "SELECT COUNT(*) FROM items WHERE archived = 0"))
            .await
    }

    async fn count_all_items(&self) -> Result<i64> {
        self.read(|conn| count(conn, "SELECT COUNT(*) FROM items"))
            .await
    }

    async fn count_low_stock(&self) -> Result<i64> {
        self.read(|conn| {
            count(
                conn,
                "SELECT COUNT(*) FROM items WHERE archived = 0 AND reorder_point > 0 AND on_hand - reserved <= reorder_point",
            )
        })
        .await
    }
}

#[async_trait]
impl ReservationStore for SqliteStore {
    async fn create_reservation(
        &self,
        new: NewReservation,
        actor: &Actor,
        idem: Option<Idempotency<Reservation>>,
    ) -> Result<Created<Reservation>> {
        let actor = actor.clone();
        self.write(move |conn| reservations::create_reservation(conn, new, &actor, idem))
            .await
    }

    async fn update_reservation(&self, id: Uuid, patch: ReservationPatch) -> Result<Reservation> {
        self.write(move |conn| reservations::update_reservation(conn, id, patch))
            .await
    }

    async fn release_reservation(&self, id: Uuid) -> Result<Reservation> {
        self.write(move |conn| {
            reservations::end_reservation(conn, id, ReservationStatus::Released, "release")
        })
        .await
    }

    async fn get_reservation(&self, id: Uuid) -> Result<Reservation> {
        self.read(move |conn| expiry::load_reservation(conn, id))
            .await
    }

    async fn list_reservations(
        &self,
        query: &ReservationQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<Reservation>> {
        let query = query.clone();
        self.read(move |conn| reservations::list_reservations(conn, &query, now))
            .await
    }

    async fn sweep_expired_reservations(
        &self,
        holder: Uuid,
        lease: Duration,
        limit: u32,
    ) -> Result<Option<Vec<Reservation>>> {
        self.write(move |conn| reservations::sweep(conn, holder, lease, limit))
            .await
    }
}

#[async_trait]
impl SalesStore for SqliteStore {
    async fn create_sales_order(
        &self,
        new: NewSalesOrder,
        actor: &Actor,
        idem: OrderIdem,
    ) -> Result<Created<SalesOrder>> {
        let actor = actor.clone();
        self.write(move |conn| sales::create(conn, new, &actor, idem))
            .await
    }

    async fn update_sales_order(
        &self,
        id: Uuid,
        patch: SalesOrderPatch,
        actor: &Actor,
    ) -> Result<SalesOrder> {
        let actor = actor.clone();
        self.write(move |conn| sales::update(conn, id, patch, &actor))
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
        self.write(move |conn| sales::hold_order(conn, id, until, &actor, idem))
            .await
    }

    async fn confirm_sales_order(
        &self,
        id: Uuid,
        actor: &Actor,
        idem: OrderIdem,
    ) -> Result<Created<SalesOrder>> {
        let actor = actor.clone();
        self.write(move |conn| sales::confirm(conn, id, &actor, idem))
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
        self.write(move |conn| sales::ship(conn, id, request, &actor, idem))
            .await
    }

    async fn cancel_sales_order(
        &self,
        id: Uuid,
        _actor: &Actor,
        idem: OrderIdem,
    ) -> Result<Created<SalesOrder>> {
        self.write(move |conn| sales::cancel(conn, id, idem)).await
    }

    async fn get_sales_order(&self, id: Uuid) -> Result<SalesOrder> {
        self.read(move |conn| sales::load_order(conn, id)).await
    }

    async fn list_sales_orders(&self, query: &SalesOrderQuery) -> Result<Page<SalesOrder>> {
        let query = query.clone();
        self.read(move |conn| sales::list(conn, &query)).await
    }
}

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn apply_movements(
        &self,
        movements: Vec<NewMovement>,
        actor: &Actor,
        idem: Option<Idempotency<Vec<MovementResult>>>,
    ) -> Result<Created<Vec<MovementResult>>> {
        let actor = actor.clone();
        self.write(move |conn| writes::apply_movements(conn, movements, actor, idem))
            .await
    }

    async fn post_stock_count(&self, count: StockCount, actor: &Actor) -> Result<CountResult> {
        let actor = actor.clone();
        self.write(move |conn| writes::post_stock_count(conn, count, actor))
            .await
    }

    async fn get_movement(&self, id: Uuid) -> Result<Movement> {
        self.read(move |conn| {
            conn.prepare_cached(&format!("{MOVEMENT_SELECT} WHERE m.id = ?1"))
                .and_then(|mut stmt| {
                    stmt.query_row(params![id.to_string()], |r| Ok(movement_from_row(r)))
                        .optional()
                })
                .map_err(db_error)?
                .ok_or(Error::NotFound("movement"))?
        })
        .await
    }

    async fn list_movements(&self, query: &MovementQuery) -> Result<Page<Movement>> {
        let query = query.clone();
        self.read(move |conn| {
            let mut sql = format!("{MOVEMENT_SELECT} WHERE 1 = 1");
            let mut values: Vec<SqlValue> = Vec::new();
            let mut bind = |sql: &mut String, fragment: &str, value: SqlValue| {
                values.push(value);
                sql.push_str(&fragment.replace('?', &format!("?{}", values.len())));
            };
            if let Some(item_id) = query.item_id {
                bind(
                    &mut sql,
                    " AND m.item_id = ?",
                    SqlValue::Text(item_id.to_string()),
                );
            }
            if let Some(code) = &query.location {
                bind(
                    &mut sql,
                    " AND ? IN (l.code, lf.code, lt.code)",
                    SqlValue::Text(code.clone()),
                );
            }
            if let Some(kind) = query.kind {
                bind(
                    &mut sql,
                    " AND m.kind = ?",
                    SqlValue::Text(kind.as_str().to_owned()),
                );
            }
            if let Some(since) = query.since {
                bind(
                    &mut sql,
                    " AND m.created_at >= ?",
                    SqlValue::Integer(micros(since)),
                );
            }
            if let Some(until) = query.until {
                bind(
                    &mut sql,
                    " AND m.created_at < ?",
                    SqlValue::Integer(micros(until)),
                );
            }
            let (op, dir) = match query.order {
                SeqOrder::Asc => (">", "ASC"),
                SeqOrder::Desc => ("<", "DESC"),
            };
            if let Some(after) = query.after_seq {
                bind(
                    &mut sql,
                    &format!(" AND m.seq {op} ?"),
                    SqlValue::Integer(after),
                );
            }
            bind(
                &mut sql,
                &format!(" ORDER BY m.seq {dir} LIMIT ?"),
                SqlValue::Integer(i64::from(query.limit) + 1),
            );
            let mut movements = query_all(conn, &sql, values, movement_from_row)?;
            let next = page_end(&mut movements, query.limit, |m| m.seq.to_string());
            Ok(Page {
                rows: movements,
                next_cursor: next,
            })
        })
        .await
    }

    async fn item_stock(&self, item_id: Uuid, as_of: Option<DateTime<Utc>>) -> Result<StockReport> {
        self.read(move |conn| {
            let id = item_id.to_string();
            // One read transaction so that the item and its balances agree.
            conn.execute_batch("BEGIN").map_err(db_error)?;
            let result = stock_report(conn, item_id, &id, as_of);
            let _ = conn.execute_batch("COMMIT");
            result
        })
        .await
    }

    async fn on_hand_at(
        &self,
        code: &str,
        item_ids: Vec<Uuid>,
    ) -> Result<std::collections::HashMap<Uuid, i64>> {
        let code = code.to_owned();
        let ids = serde_json::to_string(&item_ids).map_err(Error::internal)?;
        self.read(move |conn| {
            let rows = query_all(
                conn,
                "SELECT s.item_id, s.on_hand FROM stock s JOIN locations l ON l.id = s.location_id \
                 WHERE l.code = ?1 AND s.item_id IN (SELECT value FROM json_each(?2))",
                vec![SqlValue::Text(code), SqlValue::Text(ids)],
                |r| Ok((uuid(r, "item_id")?, get::<i64>(r, "on_hand")?)),
            )?;
            Ok(rows.into_iter().collect())
        })
        .await
    }

    async fn ledger_sum(&self, item_id: Uuid) -> Result<i64> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT COALESCE(SUM(CASE kind WHEN 'issue' THEN -quantity WHEN 'transfer' THEN 0 ELSE quantity END), 0) \
                 FROM movements WHERE item_id = ?1",
            )
            .and_then(|mut s| s.query_row(params![item_id.to_string()], |r| r.get(0)))
            .map_err(db_error)
        })
        .await
    }
}

#[async_trait]
impl HistoryStore for SqliteStore {
    async fn movements_per_day(&self, days: Days) -> Result<Vec<DayFigure<i64>>> {
        self.read(move |conn| history::movements_per_day(conn, days))
            .await
    }

    async fn stock_value(&self) -> Result<i128> {
        self.read(history::stock_value).await
    }

    async fn stock_value_per_day(&self, days: Days) -> Result<ValueHistory> {
        self.read(move |conn| in_snapshot(conn, |conn| history::stock_value_per_day(conn, days)))
            .await
    }

    async fn item_stock_per_day(&self, item_id: Uuid, days: Days) -> Result<Vec<DayFigure<i64>>> {
        self.read(move |conn| {
            in_snapshot(conn, |conn| {
                history::item_stock_per_day(conn, item_id, days)
            })
        })
        .await
    }
}

/// Runs several reads in one read transaction, so that they agree.
fn in_snapshot<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("BEGIN").map_err(db_error)?;
    let result = f(conn);
    let _ = conn.execute_batch("COMMIT");
    result
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn record_audit(&self, entry: NewAuditEntry) -> Result<()> {
        self.write(move |conn| audit::record_audit(conn, &entry))
            .await
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Page<AuditEntry>> {
        let query = query.clone();
        self.read(move |conn| audit::list_audit(conn, &query)).await
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64> {
        self.write(move |conn| audit::prune_audit(conn, micros(before)))
            .await
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>> {
        self.read(move |conn| {
            query_all(
                conn,
                "SELECT id, kind, entity_id, data, created_at FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
                vec![SqlValue::Integer(after), SqlValue::Integer(i64::from(limit))],
                event_from_row,
            )
        })
        .await
    }

    async fn last_event_id(&self) -> Result<i64> {
        self.read(|conn| count(conn, "SELECT COALESCE(MAX(id), 0) FROM events"))
            .await
    }
}

#[async_trait]
impl PartyStore for SqliteStore {
    async fn create_party(
        &self,
        party: Party,
        idem: Option<Idempotency<Party>>,
    ) -> Result<Created<Party>> {
        self.write(move |conn| purchasing::create_party(conn, party, idem))
            .await
    }

    async fn get_party(&self, id: Uuid) -> Result<Party> {
        self.read(move |conn| purchasing::load_party(conn, id))
            .await
    }

    async fn list_parties(&self, query: &PartyQuery) -> Result<Page<Party>> {
        let query = query.clone();
        self.read(move |conn| purchasing::list_parties(conn, &query))
            .await
    }

    async fn update_party(
        &self,
        id: Uuid,
        patch: PartyPatch,
        if_version: Option<i64>,
    ) -> Result<Party> {
        self.write(move |conn| purchasing::update_party(conn, id, patch, if_version))
            .await
    }
}

#[async_trait]
impl PurchaseStore for SqliteStore {
    async fn create_purchase_order(
        &self,
        order: NewPurchaseOrder,
        actor: &Actor,
        idem: Option<Idempotency<PurchaseOrder>>,
    ) -> Result<Created<PurchaseOrder>> {
        let actor = actor.clone();
        self.write(move |conn| purchasing::create_order(conn, order, actor, idem))
            .await
    }

    async fn get_purchase_order(&self, id: Uuid) -> Result<PurchaseOrder> {
        self.read(move |conn| in_snapshot(conn, |conn| purchasing::load_order(conn, id)))
            .await
    }

    async fn list_purchase_orders(&self, query: &PoQuery) -> Result<Page<PurchaseOrder>> {
        let query = query.clone();
        self.read(move |conn| in_snapshot(conn, |conn| purchasing::list_orders(conn, &query)))
            .await
    }

    async fn update_purchase_order(
        &self,
        id: Uuid,
        patch: PurchaseOrderPatch,
    ) -> Result<PurchaseOrder> {
        self.write(move |conn| purchasing::update_order(conn, id, patch))
            .await
    }

    async fn submit_purchase_order(
        &self,
        id: Uuid,
        idem: Option<Idempotency<PurchaseOrder>>,
    ) -> Result<Created<PurchaseOrder>> {
        self.write(move |conn| purchasing::submit_order(conn, id, idem))
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
        self.write(move |conn| purchasing::receive_order(conn, id, receipt, actor, idem))
            .await
    }

    async fn cancel_purchase_order(
        &self,
        id: Uuid,
        idem: Option<Idempotency<PurchaseOrder>>,
    ) -> Result<Created<PurchaseOrder>> {
        self.write(move |conn| purchasing::cancel_order(conn, id, idem))
            .await
    }
}

fn stock_report(
    conn: &Connection,
    item_id: Uuid,
    id: &str,
    as_of: Option<DateTime<Utc>>,
) -> Result<StockReport> {
    let (sku, incoming): (String, i64) = conn
        .prepare_cached("SELECT sku, incoming FROM items WHERE id = ?1")
        .and_then(|mut s| {
            s.query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db_error)?
        .ok_or(Error::NotFound("item"))?;
    let balance = |r: &rusqlite::Row<'_>| {
        let code: String = get(r, "code")?;
        Ok(LocationBalance::new(
            code,
            get(r, "on_hand")?,
            get(r, "reserved")?,
        ))
    };
    let locations = match as_of {
        // A reservation past its expiry holds nothing from that instant,
        // even before a write or the sweeper has ended it.
        None => query_all(
            conn,
            "SELECT l.code, s.on_hand, s.reserved - (SELECT COALESCE(SUM(r.quantity), 0) \
               FROM reservations r WHERE r.item_id = s.item_id AND r.location_id = s.location_id \
               AND r.status = 'active' AND r.expires_at <= ?2) AS reserved \
             FROM stock s JOIN locations l ON l.id = s.location_id WHERE s.item_id = ?1 ORDER BY l.code",
            vec![
                SqlValue::Text(id.to_owned()),
                SqlValue::Integer(micros(inventory_core::now())),
            ],
            balance,
        )?,
        Some(at) => query_all(
            conn,
            "SELECT l.code, SUM(d.delta) AS on_hand, 0 AS reserved FROM ( \
               SELECT location_id AS loc, CASE kind WHEN 'issue' THEN -quantity ELSE quantity END AS delta \
                 FROM movements WHERE item_id = ?1 AND created_at <= ?2 AND kind <> 'transfer' \
               UNION ALL SELECT from_location_id, -quantity FROM movements \
                 WHERE item_id = ?1 AND created_at <= ?2 AND kind = 'transfer' \
               UNION ALL SELECT to_location_id, quantity FROM movements \
                 WHERE item_id = ?1 AND created_at <= ?2 AND kind = 'transfer' \
             ) d JOIN locations l ON l.id = d.loc GROUP BY l.code ORDER BY l.code",
            vec![SqlValue::Text(id.to_owned()), SqlValue::Integer(micros(at))],
            balance,
        )?,
    };
    Ok(StockReport::new(item_id, sku, as_of, locations, incoming))
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
