//! Items: create, read (through the coherent cache), list, edit, archive,
//! restore, and per-location stock.

use crate::after_commit::Change;
use crate::application::App;
use crate::cache::CachedItem;
use crate::idempotency::{json, IdempotencyKey, Outcome};
use crate::principal::{Principal, UseCase};
use chrono::{DateTime, Utc};
use inventory_core::catalogue::{CreateItem, Item, ItemPatch};
use inventory_core::history::{DayFigure, Days};
use inventory_core::ledger::StockReport;
use inventory_core::paging::{ItemQuery, Page};
use inventory_core::{Error, Result};
use uuid::Uuid;

/// What an `If-Match` header asked for: any version, or one of these.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IfMatch {
    #[default]
    Any,
    Versions(Vec<i64>),
}

impl App {
    pub async fn create_item(
        &self,
        caller: &Principal,
        input: CreateItem,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<Item>> {
        self.run(caller, UseCase::CreateItem, async {
            let item = input.validate(inventory_core::now())?;
            let outcome = self
                .idempotent(caller, key, 201, json(), |idem| {
                    self.store.create_item(item, idem)
                })
                .await?;
            if let Outcome::New(item) = &outcome {
                self.after_commit(Change::ItemCreated(item)).await;
            }
            Ok(outcome)
        })
        .await
    }

    /// The item as served (its JSON and entity tag), from the cache when it
    /// holds the current version.
    pub async fn get_item(&self, caller: &Principal, id: Uuid) -> Result<CachedItem> {
        self.run(caller, UseCase::GetItem, async {
            let store = self.store.clone();
            let load = || async move {
                let item = store.get_item(id).await?;
                CachedItem::render(&item)
            };
            self.items.get(self.redis.as_ref(), id, load).await
        })
        .await
    }

    /// The item as a value, read from the database (for pages that show and
    /// edit it; API reads go through [`Self::get_item`]).
    pub async fn read_item(&self, caller: &Principal, id: Uuid) -> Result<Item> {
        self.run(caller, UseCase::GetItem, self.store.get_item(id))
            .await
    }

    /// The item a scanned or typed code names: its barcode (exactly) or,
    /// failing that, its SKU (without regard to case).
    pub async fn find_item_by_code(&self, caller: &Principal, code: &str) -> Result<Option<Item>> {
        self.run(caller, UseCase::GetItem, async {
            let code = code.trim();
            let by_barcode = self
                .store
                .list_items(&ItemQuery {
                    barcode: Some(code.to_owned()),
                    include_archived: true,
                    limit: 1,
                    ..ItemQuery::default()
                })
                .await?;
            match by_barcode.rows.into_iter().next() {
                Some(item) => Ok(Some(item)),
                None => self.store.find_item_by_sku(code).await,
            }
        })
        .await
    }

    /// Lists items. A `location` filter must name a location that exists.
    pub async fn list_items(&self, caller: &Principal, query: ItemQuery) -> Result<Page<Item>> {
        self.run(caller, UseCase::ListItems, async {
            if let Some(code) = &query.location {
                self.known_location(code, "location").await?;
            }
            self.store.list_items(&query).await
        })
        .await
    }

    pub async fn update_item(
        &self,
        caller: &Principal,
        id: Uuid,
        patch: ItemPatch,
        if_match: IfMatch,
    ) -> Result<Item> {
        self.run(caller, UseCase::UpdateItem, async {
            let if_version = self.expected_version(id, if_match).await?;
            let item = self.store.update_item(id, patch, if_version).await?;
            self.after_commit(Change::ItemUpdated(id)).await;
            Ok(item)
        })
        .await
    }

    /// Archives an item that holds no stock; archiving an archived item
    /// changes nothing.
    pub async fn archive_item(
        &self,
        caller: &Principal,
        id: Uuid,
        if_match: IfMatch,
    ) -> Result<()> {
        self.run(caller, UseCase::ArchiveItem, async {
            let if_version = self.expected_version(id, if_match).await?;
            let now = self.store.archive_item(id, if_version).await?;
            self.after_commit(Change::ItemArchived { id, now }).await;
            Ok(())
        })
        .await
    }

    /// Brings an archived item back; restoring an active item changes nothing.
    pub async fn restore_item(
        &self,
        caller: &Principal,
        id: Uuid,
        if_match: IfMatch,
    ) -> Result<Item> {
        self.run(caller, UseCase::RestoreItem, async {
            let if_version = self.expected_version(id, if_match).await?;
            let (item, now) = self.store.restore_item(id, if_version).await?;
            self.after_commit(Change::ItemRestored { id, now }).await;
            Ok(item)
        })
        .await
    }

    pub async fn item_stock(
        &self,
        caller: &Principal,
        id: Uuid,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<StockReport> {
        self.run(caller, UseCase::ItemStock, self.store.item_stock(id, as_of))
            .await
    }

    /// The item's total on hand at the end of each of the last `days` UTC
    /// days (today's figure is now), from its ledger; read as `item_stock`.
    pub async fn item_stock_history(
        &self,
        caller: &Principal,
        id: Uuid,
        days: u32,
    ) -> Result<Vec<DayFigure<i64>>> {
        let window = Days::ending(inventory_core::now().date_naive(), days);
        self.run(
            caller,
            UseCase::ItemStock,
            self.store.item_stock_per_day(id, window),
        )
        .await
    }

    /// Resolves `If-Match` to the version a write must find, reading the
    /// item from the store (never the cache) when the header lists versions.
    async fn expected_version(&self, id: Uuid, if_match: IfMatch) -> Result<Option<i64>> {
        match if_match {
            IfMatch::Any => Ok(None),
            IfMatch::Versions(versions) => {
                let current = self.store.get_item(id).await?;
                if versions.contains(&current.version) {
                    Ok(Some(current.version))
                } else {
                    Err(Error::PreconditionFailed)
                }
            }
        }
    }
}
