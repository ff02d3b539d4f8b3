//! A [`Store`] that wraps every call in a `store` span, so that traces show
//! each database call as a child of its request. Used only when traces are
//! exported: with tracing off the store is not wrapped and costs nothing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use inventory_core::dump::{DumpRows, ExportCounts};
use inventory_core::model::*;
use inventory_core::paging::{ItemQuery, MovementQuery, Page};
use inventory_core::store::{Created, Idempotency, PoolStats, Store, StoredResponse};
use inventory_core::Result;
use std::sync::Arc;
use tracing::Instrument;
use uuid::Uuid;

pub struct TracedStore {
    inner: Arc<dyn Store>,
}

impl TracedStore {
    pub fn wrap(inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(Self { inner })
    }

    fn span(&self, operation: &'static str) -> tracing::Span {
        tracing::info_span!(
            "store",
            otel.name = operation,
            otel.kind = "client",
            db.system = self.inner.backend(),
            db.operation = operation,
        )
    }
}

#[async_trait]
impl Store for TracedStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().instrument(self.span("ping")).await
    }
    fn pool_stats(&self) -> PoolStats {
        self.inner.pool_stats()
    }
    fn shared_by_replicas(&self) -> bool {
        self.inner.shared_by_replicas()
    }
    fn set_database_url(&self, url: &str) -> Result<bool> {
        self.inner.set_database_url(url)
    }
    async fn count_users(&self) -> Result<i64> {
        self.inner
            .count_users()
            .instrument(self.span("count_users"))
            .await
    }
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        idem: Option<Idempotency<User>>,
    ) -> Result<Created<User>> {
        self.inner
            .create_user(username, password_hash, role, idem)
            .instrument(self.span("create_user"))
            .await
    }
    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>> {
        self.inner
            .find_user(username)
            .instrument(self.span("find_user"))
            .await
    }
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        self.inner
            .create_session(token_hash, user_id, expires_at)
            .instrument(self.span("create_session"))
            .await
    }
    async fn find_session(&self, token_hash: &str) -> Result<Option<(User, DateTime<Utc>)>> {
        self.inner
            .find_session(token_hash)
            .instrument(self.span("find_session"))
            .await
    }
    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.inner
            .delete_session(token_hash)
            .instrument(self.span("delete_session"))
            .await
    }
    async fn create_location(
        &self,
        new: CreateLocation,
        idem: Option<Idempotency<Location>>,
    ) -> Result<Created<Location>> {
        self.inner
            .create_location(new, idem)
            .instrument(self.span("create_location"))
            .await
    }
    async fn get_location(&self, id: Uuid) -> Result<Location> {
        self.inner
            .get_location(id)
            .instrument(self.span("get_location"))
            .await
    }
    async fn list_locations(&self, after_code: Option<&str>, limit: u32) -> Result<Page<Location>> {
        self.inner
            .list_locations(after_code, limit)
            .instrument(self.span("list_locations"))
            .await
    }
    async fn update_location(&self, id: Uuid, patch: LocationPatch) -> Result<Location> {
        self.inner
            .update_location(id, patch)
            .instrument(self.span("update_location"))
            .await
    }
    async fn create_item(
        &self,
        new: NewItem,
        idem: Option<Idempotency<Item>>,
    ) -> Result<Created<Item>> {
        self.inner
            .create_item(new, idem)
            .instrument(self.span("create_item"))
            .await
    }
    async fn get_item(&self, id: Uuid) -> Result<Item> {
        self.inner
            .get_item(id)
            .instrument(self.span("get_item"))
            .await
    }
    async fn update_item(
        &self,
        id: Uuid,
        patch: ItemPatch,
        if_version: Option<i64>,
    ) -> Result<Item> {
        self.inner
            .update_item(id, patch, if_version)
            .instrument(self.span("update_item"))
            .await
    }
    async fn archive_item(&self, id: Uuid, if_version: Option<i64>) -> Result<bool> {
        self.inner
            .archive_item(id, if_version)
            .instrument(self.span("archive_item"))
            .await
    }
    async fn list_items(&self, query: &ItemQuery) -> Result<Page<Item>> {
        self.inner
            .list_items(query)
            .instrument(self.span("list_items"))
            .await
    }
    async fn count_items(&self) -> Result<i64> {
        self.inner
            .count_items()
            .instrument(self.span("count_items"))
            .await
    }
    async fn count_all_items(&self) -> Result<i64> {
        self.inner
            .count_all_items()
            .instrument(self.span("count_all_items"))
            .await
    }
    async fn count_low_stock(&self) -> Result<i64> {
        self.inner
            .count_low_stock()
            .instrument(self.span("count_low_stock"))
            .await
    }
    async fn apply_movements(
        &self,
        movements: Vec<NewMovement>,
        actor: &Actor,
        idem: Option<Idempotency<Vec<MovementResult>>>,
    ) -> Result<Created<Vec<MovementResult>>> {
        self.inner
            .apply_movements(movements, actor, idem)
            .instrument(self.span("apply_movements"))
            .await
    }
    async fn list_movements(&self, query: &MovementQuery) -> Result<Page<Movement>> {
        self.inner
            .list_movements(query)
            .instrument(self.span("list_movements"))
            .await
    }
    async fn item_stock(&self, item_id: Uuid, as_of: Option<DateTime<Utc>>) -> Result<StockReport> {
        self.inner
            .item_stock(item_id, as_of)
            .instrument(self.span("item_stock"))
            .await
    }
    async fn ledger_sum(&self, item_id: Uuid) -> Result<i64> {
        self.inner
            .ledger_sum(item_id)
            .instrument(self.span("ledger_sum"))
            .await
    }
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>> {
        self.inner
            .events_after(after, limit)
            .instrument(self.span("events_after"))
            .await
    }
    async fn last_event_id(&self) -> Result<i64> {
        self.inner
            .last_event_id()
            .instrument(self.span("last_event_id"))
            .await
    }
    async fn find_idempotent(&self, user_id: Uuid, key: &str) -> Result<Option<StoredResponse>> {
        self.inner
            .find_idempotent(user_id, key)
            .instrument(self.span("find_idempotent"))
            .await
    }
    async fn purge_expired(&self, keys_before: DateTime<Utc>) -> Result<u64> {
        self.inner
            .purge_expired(keys_before)
            .instrument(self.span("purge_expired"))
            .await
    }
    async fn export(&self, out: Box<dyn std::io::Write + Send>) -> Result<ExportCounts> {
        self.inner.export(out).instrument(self.span("export")).await
    }
    async fn import(&self, rows: DumpRows) -> Result<ExportCounts> {
        self.inner
            .import(rows)
            .instrument(self.span("import"))
            .await
    }
}
