//! Locations and items.

use crate::catalogue::{Item, ItemPatch, ItemWrite, Location, LocationPatch};
use crate::error::Result;
use crate::paging::{ItemQuery, Page};
use crate::store::idempotency::{Created, Idempotency};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
pub trait CatalogueStore: Send + Sync + 'static {
    /// Inserts `location` (built by `CreateLocation::validate`); when it is
    /// the default, the previous default stops being it, in the same
    /// transaction.
    async fn create_location(
        &self,
        location: Location,
        idem: Option<Idempotency<Location>>,
    ) -> Result<Created<Location>>;
    async fn get_location(&self, id: Uuid) -> Result<Location>;
    /// The location with this (normalised) code.
    async fn find_location(&self, code: &str) -> Result<Option<Location>>;
    /// Locations ordered by code, after `after_code`.
    async fn list_locations(&self, after_code: Option<&str>, limit: u32) -> Result<Page<Location>>;
    /// Applies the patch (`LocationPatch::apply`) to the current row; a
    /// location made the default takes the flag from the previous one in
    /// the same transaction.
    async fn update_location(&self, id: Uuid, patch: LocationPatch) -> Result<Location>;

    /// Inserts `item` (built by `CreateItem::validate`); a SKU taken in any
    /// case is a `duplicate-sku` conflict.
    async fn create_item(
        &self,
        item: Item,
        idem: Option<Idempotency<Item>>,
    ) -> Result<Created<Item>>;
    async fn get_item(&self, id: Uuid) -> Result<Item>;
    /// The item whose SKU matches without regard to case.
    async fn find_item_by_sku(&self, sku: &str) -> Result<Option<Item>>;
    /// Applies a merge patch (`ItemPatch::apply`) to the current row; with
    /// `if_version`, only when the item is still at it.
    async fn update_item(
        &self,
        id: Uuid,
        patch: ItemPatch,
        if_version: Option<i64>,
    ) -> Result<Item>;
    /// Archives an item that holds no stock (the guard is in SQL); true if
    /// this call archived it, false if it already was.
    async fn archive_item(&self, id: Uuid, if_version: Option<i64>) -> Result<bool>;
    /// Un-archives an item; true if this call restored it. Returns the item.
    async fn restore_item(&self, id: Uuid, if_version: Option<i64>) -> Result<(Item, bool)>;
    async fn list_items(&self, query: &ItemQuery) -> Result<Page<Item>>;
    /// The items whose folded SKU (`fold`) is one of `skus_folded` or whose
    /// barcode is one of `barcodes`, archived ones included (what an import
    /// of those rows must be checked against).
    async fn find_items_by_keys(
        &self,
        skus_folded: Vec<String>,
        barcodes: Vec<String>,
    ) -> Result<Vec<Item>>;
    /// Applies every write in one transaction, all or nothing: each create
    /// and update exactly as `create_item` / `update_item` (an update at
    /// its `version`, else 412), with the same events. A failure is tagged
    /// with the index of the failing write (`Error::at_index`) and writes
    /// nothing. Returns the items written, in order.
    async fn import_items(&self, writes: Vec<ItemWrite>) -> Result<Vec<Item>>;
    /// Items not archived.
    async fn count_items(&self) -> Result<i64>;
    /// All items, archived ones included (items are never deleted).
    async fn count_all_items(&self) -> Result<i64>;
    /// Items not archived with `reorder_point > 0 AND available <= reorder_point`.
    async fn count_low_stock(&self) -> Result<i64>;
}
