//! The storage contract. Every backend implements [`Store`] and passes the
//! contract suite in `inventory-store-tests`.

use crate::dump::{DumpRows, ExportCounts};
use crate::error::Result;
use crate::model::*;
use crate::paging::{ItemQuery, MovementQuery, Page};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

/// A response recorded under an `Idempotency-Key`.
/// Database connections, for `inventory_db_pool_connections{state}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub active: u32,
    pub idle: u32,
    pub max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

/// Renders the response body that a replay must return verbatim.
pub type Render<T> = Arc<dyn Fn(&T) -> String + Send + Sync>;

/// Asks a store to record the response of a create in the same transaction
/// as the change itself, so that a change is never applied without its key
/// (nor the key kept without the change).
pub struct Idempotency<T> {
    pub user_id: Uuid,
    pub key: String,
    pub request_hash: String,
    pub status: u16,
    pub render: Render<T>,
}

impl<T> Clone for Idempotency<T> {
    fn clone(&self) -> Self {
        Self {
            user_id: self.user_id,
            key: self.key.clone(),
            request_hash: self.request_hash.clone(),
            status: self.status,
            render: self.render.clone(),
        }
    }
}

/// What a create returns: the new value, or the response recorded by an
/// earlier request with the same idempotency key (a race another request won).
#[derive(Debug, Clone)]
pub enum Created<T> {
    New(T),
    Replay(StoredResponse),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
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

    // users and sessions
    async fn count_users(&self) -> Result<i64>;
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        idem: Option<Idempotency<User>>,
    ) -> Result<Created<User>>;
    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>>;
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    /// The user behind an unexpired session.
    async fn find_session(&self, token_hash: &str) -> Result<Option<(User, DateTime<Utc>)>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;

    // locations
    async fn create_location(
        &self,
        new: CreateLocation,
        idem: Option<Idempotency<Location>>,
    ) -> Result<Created<Location>>;
    async fn get_location(&self, id: Uuid) -> Result<Location>;
    /// Locations ordered by code, after `after_code`.
    async fn list_locations(&self, after_code: Option<&str>, limit: u32) -> Result<Page<Location>>;
    async fn update_location(&self, id: Uuid, patch: LocationPatch) -> Result<Location>;

    // items
    async fn create_item(
        &self,
        new: NewItem,
        idem: Option<Idempotency<Item>>,
    ) -> Result<Created<Item>>;
    async fn get_item(&self, id: Uuid) -> Result<Item>;
    /// Applies a merge patch; with `if_version`, only when the item is still at it.
    async fn update_item(
        &self,
        id: Uuid,
        patch: ItemPatch,
        if_version: Option<i64>,
    ) -> Result<Item>;
    /// Archives an item that holds no stock; true if this call archived it.
    async fn archive_item(&self, id: Uuid, if_version: Option<i64>) -> Result<bool>;
    async fn list_items(&self, query: &ItemQuery) -> Result<Page<Item>>;
    /// Items not archived.
    async fn count_items(&self) -> Result<i64>;
    /// All items, archived ones included (items are never deleted).
    async fn count_all_items(&self) -> Result<i64>;
    /// Items not archived with `reorder_point > 0 AND available <= reorder_point`.
    async fn count_low_stock(&self) -> Result<i64>;

    // the ledger
    /// Applies all movements in one transaction, or none. A failure is
    /// tagged with the index of the first failing entry.
    async fn apply_movements(
        &self,
        movements: Vec<NewMovement>,
        actor: &Actor,
        idem: Option<Idempotency<Vec<MovementResult>>>,
    ) -> Result<Created<Vec<MovementResult>>>;
    async fn list_movements(&self, query: &MovementQuery) -> Result<Page<Movement>>;
    /// Per-location balances; with `as_of`, summed from the ledger up to that instant.
    async fn item_stock(&self, item_id: Uuid, as_of: Option<DateTime<Utc>>) -> Result<StockReport>;
    /// The sum of the item's ledger, for audits: it must equal `on_hand`.
    async fn ledger_sum(&self, item_id: Uuid) -> Result<i64>;

    // the change feed
    /// Events with `id > after`, oldest first, at most `limit`. Every change
    /// to an item and every movement records one in its own transaction.
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>>;
    /// The id of the newest event, 0 when there is none.
    async fn last_event_id(&self) -> Result<i64>;

    // idempotency
    async fn find_idempotent(&self, user_id: Uuid, key: &str) -> Result<Option<StoredResponse>>;
    /// Forgets idempotency keys recorded before `keys_before` and sessions
    /// that have expired; returns how many rows went.
    async fn purge_expired(&self, keys_before: DateTime<Utc>) -> Result<u64>;

    // backup and moving between backends (crate::dump)
    /// Writes every user, location, item, stock balance, movement and event
    /// to `out` in the export format, from one consistent snapshot taken
    /// while writes go on (rows are streamed, not held in memory).
    async fn export(&self, out: Box<dyn std::io::Write + Send>) -> Result<ExportCounts>;
    /// Loads rows of a validated export into an empty database (no users,
    /// items, movements or events; no location but MAIN, which the file's
    /// MAIN replaces) in one transaction: all or nothing. A row the database
    /// refuses fails with a validation error naming its line. Afterwards the
    /// ledger `seq` and event ids continue after the imported ones.
    async fn import(&self, rows: DumpRows) -> Result<ExportCounts>;
}
