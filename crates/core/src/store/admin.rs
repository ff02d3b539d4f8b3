//! Operating the store: health, connections, housekeeping, and moving a
//! whole database in and out (crate::dump).

use crate::dump::{DumpRows, ExportCounts, ExportOptions};
use crate::error::Result;
use crate::invariants::Violation;
use crate::store::idempotency::StoredResponse;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Database connections, for `inventory_db_pool_connections{state}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub active: u32,
    pub idle: u32,
    pub max: u32,
}

#[async_trait]
pub trait AdminStore: Send + Sync + 'static {
    /// Name of the backend, for logs and metrics.
    fn backend(&self) -> &'static str;
    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;
    /// The database connections: in use, idle, and the most there can be
    /// (the writer's connection included).
    fn pool_stats(&self) -> PoolStats;
    /// New connections use `url` from now on (a rotated password); open
    /// ones stay. False when the backend cannot switch while running.
    fn set_database_url(&self, _url: &str) -> Result<bool> {
        Ok(false)
    }
    /// Whether other server processes may write to the same database (true
    /// for PostgreSQL). Then no process may trust a cache of its own alone.
    fn shared_by_replicas(&self) -> bool {
        false
    }

    /// The rows that break a rule of `crate::invariants` (at most
    /// `MAX_PER_RULE` per rule), read from one snapshot.
    async fn check_invariants(&self) -> Result<Vec<Violation>>;

    /// The response recorded under a user's idempotency key, if any.
    async fn find_idempotent(&self, user_id: Uuid, key: &str) -> Result<Option<StoredResponse>>;
    /// Forgets idempotency keys recorded before `keys_before` and sessions
    /// that have expired; returns how many rows went.
    async fn purge_expired(&self, keys_before: DateTime<Utc>) -> Result<u64>;

    /// Writes every user, location, item, stock balance, movement and event
    /// to `out` in the export format, from one consistent snapshot taken
    /// while writes go on (rows are streamed, not held in memory).
    async fn export(
        &self,
        out: Box<dyn std::io::Write + Send>,
        options: ExportOptions,
    ) -> Result<ExportCounts>;
    /// Loads rows of a validated export into an empty database (no users,
    /// items, movements or events; at most the one location it was born
    /// with, which the file's locations replace) in one transaction: all or
    /// nothing. A row the database refuses fails with a validation error
    /// naming its line. Afterwards the ledger `seq` and event ids continue
    /// after the imported ones.
    async fn import(&self, rows: DumpRows) -> Result<ExportCounts>;
}
