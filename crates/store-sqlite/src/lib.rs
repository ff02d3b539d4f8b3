//! SQLite implementation of the [`Store`] contract.
//!
//! Reads use a pool of read-only connections (WAL lets them run beside the
//! writer). Every write goes to one writer task that owns the only writing
//! connection and commits in groups: it drains the jobs waiting for it, runs
//! each inside its own SAVEPOINT (a failing job rolls back alone), then
//! commits them all with one fsync. That is how durable writes reach
//! thousands per second with `synchronous=FULL`, and with a single writer no
//! two stock changes ever interleave; guarded statements and CHECK
//! constraints back that up.

mod migrate;
mod rows;
mod writes;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use inventory_core::model::*;
use inventory_core::paging::{ItemQuery, ItemSort, MovementQuery, Page, SeqOrder};
use inventory_core::store::{Created, Idempotency, StoredResponse};
use inventory_core::{Error, Result, Store};
use rows::*;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Row, Sqlite};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

pub use migrate::LATEST_VERSION;

/// How many queued writes one commit may carry.
const MAX_GROUP: usize = 512;

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
            read_connections: 8,
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
type Job = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (bool, Reply)> + Send>;

pub struct SqliteStore {
    reads: SqlitePool,
    jobs: mpsc::Sender<Job>,
    writer_busy: Arc<AtomicBool>,
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(e.to_string())
}

/// Maps a database error: I/O and locking trouble is "unavailable", the rest
/// is internal. Constraint violations are mapped where the statement is known.
pub(crate) fn db_error(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => unavailable(e),
        sqlx::Error::Database(d)
            if matches!(d.code().as_deref(), Some("5" | "6" | "10" | "13" | "14")) =>
        {
            // SQLITE_BUSY, LOCKED, IOERR, FULL, CANTOPEN
            unavailable(e)
        }
        _ => Error::internal(e),
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, applies pending
    /// migrations and makes sure the MAIN location exists.
    pub async fn open(path: &Path, opts: &SqliteOptions) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let base = SqliteConnectOptions::from_str("sqlite://")
            .map_err(Error::internal)?
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if opts.sync_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .pragma("cache_size", "-4000")
            .pragma("temp_store", "memory")
            .statement_cache_capacity(256)
            .disable_statement_logging();

        let mut writer = base
            .clone()
            .create_if_missing(true)
            .connect()
            .await
            .map_err(|e| unavailable(format!("cannot open {}: {e}", path.display())))?;
        migrate::run(&mut writer).await?;
        writes::ensure_main_location(&mut writer).await?;

        let reads = SqlitePoolOptions::new()
            .max_connections(opts.read_connections.max(1))
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(base.read_only(true))
            .await
            .map_err(unavailable)?;

        let (jobs, rx) = mpsc::channel::<Job>(4096);
        let writer_busy = Arc::new(AtomicBool::new(false));
        tokio::spawn(run_writer(writer, rx, writer_busy.clone()));
        Ok(Self {
            reads,
            jobs,
            writer_busy,
        })
    }

    /// Runs `f` on the writer connection inside the next group commit and
    /// returns its result once that commit is durable.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let result = f(conn).await;
                let ok = result.is_ok();
                let reply: Reply = Box::new(move |commit: Result<()>| {
                    let _ = tx.send(commit.and(result));
                });
                (ok, reply)
            })
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| unavailable("the SQLite writer has stopped"))?;
        rx.await
            .map_err(|_| unavailable("the write was not committed"))?
    }

    /// Takes a consistent copy of the database into `dest` while writes go on.
    pub async fn backup_into(&self, dest: &Path) -> Result<()> {
        let dest = dest.to_string_lossy().into_owned();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query("VACUUM INTO ?")
                    .bind(dest)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                Ok(())
            })
        })
        .await
    }
}

async fn exec(conn: &mut SqliteConnection, sql: &str) -> Result<()> {
    sqlx::query(sql)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(db_error)
}

/// The group-commit loop: one transaction per batch of queued jobs, each job
/// isolated in a savepoint.
async fn run_writer(
    mut conn: SqliteConnection,
    mut rx: mpsc::Receiver<Job>,
    busy: Arc<AtomicBool>,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut jobs, MAX_GROUP).await > 0 {
        busy.store(true, Ordering::Relaxed);
        if let Err(e) = exec(&mut conn, "BEGIN IMMEDIATE").await {
            tracing::error!(error = %e, "cannot begin a write transaction");
            jobs.clear(); // dropping a job tells its caller the write failed
            busy.store(false, Ordering::Relaxed);
            continue;
        }
        let mut committed: Vec<Reply> = Vec::with_capacity(jobs.len());
        for job in jobs.drain(..) {
            if let Err(e) = exec(&mut conn, "SAVEPOINT job").await {
                tracing::error!(error = %e, "cannot open a savepoint");
                continue;
            }
            let (ok, reply) = job(&mut conn).await;
            if ok {
                if exec(&mut conn, "RELEASE job").await.is_ok() {
                    committed.push(reply);
                } else {
                    reply(Err(unavailable("cannot release a savepoint")));
                }
            } else {
                let undone = exec(&mut conn, "ROLLBACK TO job").await.is_ok()
                    && exec(&mut conn, "RELEASE job").await.is_ok();
                if !undone {
                    tracing::error!("cannot roll back a failed write");
                }
                reply(Ok(()));
            }
        }
        match exec(&mut conn, "COMMIT").await {
            Ok(()) => committed.into_iter().for_each(|r| r(Ok(()))),
            Err(e) => {
                tracing::error!(error = %e, "group commit failed");
                let _ = exec(&mut conn, "ROLLBACK").await;
                committed
                    .into_iter()
                    .for_each(|r| r(Err(unavailable("the write could not be committed"))));
            }
        }
        busy.store(false, Ordering::Relaxed);
    }
    let _ = conn.close().await;
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        if self.jobs.is_closed() {
            return Err(unavailable("the SQLite writer has stopped"));
        }
        sqlx::query("SELECT 1")
            .execute(&self.reads)
            .await
            .map(|_| ())
            .map_err(db_error)
    }

    fn connections_in_use(&self) -> u32 {
        let reads = self
            .reads
            .size()
            .saturating_sub(self.reads.num_idle() as u32);
        reads + u32::from(self.writer_busy.load(Ordering::Relaxed))
    }

    async fn count_users(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.reads)
            .await
            .map_err(db_error)
    }

    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        idem: Option<Idempotency<User>>,
    ) -> Result<Created<User>> {
        let (username, password_hash) = (username.to_owned(), password_hash.to_owned());
        self.write(move |conn| {
            Box::pin(
                async move { writes::create_user(conn, username, password_hash, role, idem).await },
            )
        })
        .await
    }

    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT id, username, role, created_at, password_hash FROM users WHERE username = ?",
        )
        .bind(username)
        .fetch_optional(&self.reads)
        .await
        .map_err(db_error)?;
        row.map(|r| {
            Ok(UserRecord {
                user: user_from_row(&r)?,
                password_hash: r.try_get("password_hash").map_err(Error::internal)?,
            })
        })
        .transpose()
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
                    .bind(token_hash)
                    .bind(user_id.to_string())
                    .bind(micros(now()))
                    .bind(micros(expires_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                Ok(())
            })
        })
        .await
    }

    async fn find_session(&self, token_hash: &str) -> Result<Option<(User, DateTime<Utc>)>> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.role, u.created_at, s.expires_at FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?",
        )
        .bind(token_hash)
        .bind(micros(now()))
        .fetch_optional(&self.reads)
        .await
        .map_err(db_error)?;
        row.map(|r| Ok((user_from_row(&r)?, time(&r, "expires_at")?)))
            .transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
                    .bind(token_hash)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                Ok(())
            })
        })
        .await
    }

    async fn create_location(
        &self,
        new: CreateLocation,
        idem: Option<Idempotency<Location>>,
    ) -> Result<Created<Location>> {
        self.write(move |conn| {
            Box::pin(async move { writes::create_location(conn, new, idem).await })
        })
        .await
    }

    async fn get_location(&self, id: Uuid) -> Result<Location> {
        sqlx::query("SELECT id, code, name, created_at, updated_at FROM locations WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.reads)
            .await
            .map_err(db_error)?
            .map(|r| location_from_row(&r))
            .transpose()?
            .ok_or(Error::NotFound("location"))
    }

    async fn list_locations(&self, after_code: Option<&str>, limit: u32) -> Result<Page<Location>> {
        let rows = sqlx::query(
            "SELECT id, code, name, created_at, updated_at FROM locations WHERE code > ? ORDER BY code LIMIT ?",
        )
        .bind(after_code.unwrap_or(""))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.reads)
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
        self.write(move |conn| {
            Box::pin(async move { writes::update_location(conn, id, patch).await })
        })
        .await
    }

    async fn create_item(
        &self,
        new: NewItem,
        idem: Option<Idempotency<Item>>,
    ) -> Result<Created<Item>> {
        self.write(move |conn| Box::pin(async move { writes::create_item(conn, new, idem).await }))
            .await
    }

    async fn get_item(&self, id: Uuid) -> Result<Item> {
        sqlx::query(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.reads)
            .await
            .map_err(db_error)?
            .map(|r| item_from_row(&r))
            .transpose()?
            .ok_or(Error::NotFound("item"))
    }

    async fn update_item(
        &self,
        id: Uuid,
        patch: ItemPatch,
        if_version: Option<i64>,
    ) -> Result<Item> {
        self.write(move |conn| {
            Box::pin(async move { writes::update_item(conn, id, patch, if_version).await })
        })
        .await
    }

    async fn archive_item(&self, id: Uuid, if_version: Option<i64>) -> Result<bool> {
        self.write(move |conn| {
            Box::pin(async move { writes::archive_item(conn, id, if_version).await })
        })
        .await
    }

    async fn list_items(&self, query: &ItemQuery) -> Result<Page<Item>> {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {ITEM_COLUMNS} FROM items WHERE 1 = 1"));
        if !query.include_archived {
            qb.push(" AND archived = 0");
        }
        if let Some(sku) = &query.sku {
            qb.push(" AND sku = ").push_bind(sku.clone());
        }
        if let Some(category) = &query.category {
            qb.push(" AND category = ").push_bind(category.clone());
        }
        if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
            let pattern = escape_like(&q.to_lowercase());
            qb.push(" AND (sku_folded LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR name_folded LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if query.low_stock {
            qb.push(" AND reorder_point > 0 AND on_hand - reserved <= reorder_point");
        }
        let (column, op, dir) = match query.sort {
            ItemSort::SkuAsc => ("sku", ">", "ASC"),
            ItemSort::SkuDesc => ("sku", "<", "DESC"),
            ItemSort::CreatedAsc => ("id", ">", "ASC"),
            ItemSort::CreatedDesc => ("id", "<", "DESC"),
        };
        if let Some(after) = &query.after {
            qb.push(format!(" AND {column} {op} "))
                .push_bind(after.key.clone());
        }
        qb.push(format!(" ORDER BY {column} {dir} LIMIT "))
            .push_bind(i64::from(query.limit) + 1);
        let rows = qb.build().fetch_all(&self.reads).await.map_err(db_error)?;
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

    async fn count_items(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM items WHERE archived = 0")
            .fetch_one(&self.reads)
            .await
            .map_err(db_error)
    }

    async fn count_all_items(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM items")
            .fetch_one(&self.reads)
            .await
            .map_err(db_error)
    }

    async fn count_low_stock(&self) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM items WHERE archived = 0 AND reorder_point > 0 AND on_hand - reserved <= reorder_point",
        )
        .fetch_one(&self.reads)
        .await
        .map_err(db_error)
    }

    async fn apply_movements(
        &self,
        movements: Vec<NewMovement>,
        actor: &Actor,
        idem: Option<Idempotency<Vec<MovementResult>>>,
    ) -> Result<Created<Vec<MovementResult>>> {
        let actor = actor.clone();
        self.write(move |conn| {
            Box::pin(async move { writes::apply_movements(conn, movements, actor, idem).await })
        })
        .await
    }

    async fn list_movements(&self, query: &MovementQuery) -> Result<Page<Movement>> {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("{MOVEMENT_SELECT} WHERE 1 = 1"));
        if let Some(item_id) = query.item_id {
            qb.push(" AND m.item_id = ").push_bind(item_id.to_string());
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
            qb.push(" AND m.created_at >= ").push_bind(micros(since));
        }
        if let Some(until) = query.until {
            qb.push(" AND m.created_at < ").push_bind(micros(until));
        }
        let (op, dir) = match query.order {
            SeqOrder::Asc => (">", "ASC"),
            SeqOrder::Desc => ("<", "DESC"),
        };
        if let Some(after) = query.after_seq {
            qb.push(format!(" AND m.seq {op} ")).push_bind(after);
        }
        qb.push(format!(" ORDER BY m.seq {dir} LIMIT "))
            .push_bind(i64::from(query.limit) + 1);
        let rows = qb.build().fetch_all(&self.reads).await.map_err(db_error)?;
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
        let id = item_id.to_string();
        let mut conn = self.reads.acquire().await.map_err(db_error)?;
        // One read transaction so that the item and its balances agree.
        let mut tx = conn.begin().await.map_err(db_error)?;
        let sku: String = sqlx::query_scalar("SELECT sku FROM items WHERE id = ?")
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?
            .ok_or(Error::NotFound("item"))?;
        let rows = match as_of {
            None => sqlx::query(
                "SELECT l.code, s.on_hand, s.reserved FROM stock s JOIN locations l ON l.id = s.location_id \
                 WHERE s.item_id = ? ORDER BY l.code",
            )
            .bind(&id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?,
            Some(at) => sqlx::query(
                "SELECT l.code, SUM(d.delta) AS on_hand, 0 AS reserved FROM ( \
                   SELECT location_id AS loc, CASE kind WHEN 'issue' THEN -quantity ELSE quantity END AS delta \
                     FROM movements WHERE item_id = ?1 AND created_at <= ?2 AND kind <> 'transfer' \
                   UNION ALL SELECT from_location_id, -quantity FROM movements \
                     WHERE item_id = ?1 AND created_at <= ?2 AND kind = 'transfer' \
                   UNION ALL SELECT to_location_id, quantity FROM movements \
                     WHERE item_id = ?1 AND created_at <= ?2 AND kind = 'transfer' \
                 ) d JOIN locations l ON l.id = d.loc GROUP BY l.code ORDER BY l.code",
            )
            .bind(&id)
            .bind(micros(at))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?,
        };
        tx.commit().await.map_err(db_error)?;
        let locations = rows
            .iter()
            .map(|r| {
                let on_hand: i64 = r.try_get("on_hand").map_err(Error::internal)?;
                let reserved: i64 = r.try_get("reserved").map_err(Error::internal)?;
                Ok(LocationBalance {
                    location: r.try_get("code").map_err(Error::internal)?,
                    on_hand,
                    reserved,
                    available: on_hand - reserved,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let on_hand = locations.iter().map(|l| l.on_hand).sum();
        let reserved = locations.iter().map(|l| l.reserved).sum();
        Ok(StockReport {
            item_id,
            sku,
            as_of,
            locations,
            on_hand,
            reserved,
            available: on_hand - reserved,
        })
    }

    async fn ledger_sum(&self, item_id: Uuid) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COALESCE(SUM(CASE kind WHEN 'issue' THEN -quantity WHEN 'transfer' THEN 0 ELSE quantity END), 0) \
             FROM movements WHERE item_id = ?",
        )
        .bind(item_id.to_string())
        .fetch_one(&self.reads)
        .await
        .map_err(db_error)
    }

    async fn find_idempotent(&self, user_id: Uuid, key: &str) -> Result<Option<StoredResponse>> {
        writes::find_idempotent_in(&self.reads, user_id, key).await
    }

    async fn purge_expired(&self, keys_before: DateTime<Utc>) -> Result<u64> {
        self.write(move |conn| {
            Box::pin(async move {
                let keys = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < ?")
                    .bind(micros(keys_before))
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
                    .bind(micros(now()))
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                Ok(keys.rows_affected() + sessions.rows_affected())
            })
        })
        .await
    }
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
