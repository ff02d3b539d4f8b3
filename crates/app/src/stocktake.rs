//! Stock counts: post what was counted at a location as one batch of
//! adjustments, refused when the counted items moved after the count began.

use crate::after_commit::Change;
use crate::application::App;
use crate::principal::{Principal, UseCase};
use inventory_core::catalogue::Item;
use inventory_core::ledger::ItemRef;
use inventory_core::paging::{MovementQuery, SeqOrder};
use inventory_core::stocktake::{CountResult, CreateStockCount, StockCount};
use inventory_core::{fold, Error, Result};

impl App {
    /// The ledger's position now: the seq of the newest movement (0 for an
    /// empty ledger), which a count sheet records as its `as_of_seq`.
    pub async fn ledger_position(&self, caller: &Principal) -> Result<i64> {
        self.run(caller, UseCase::ListMovements, async {
            let newest = self
                .store
                .list_movements(&MovementQuery {
                    order: SeqOrder::Desc,
                    limit: 1,
                    ..MovementQuery::default()
                })
                .await?;
            Ok(newest.rows.first().map_or(0, |m| m.seq))
        })
        .await
    }

    /// The items that scanned or typed `codes` name (a barcode exactly,
    /// else a SKU without regard to case), each with its books at the
    /// location `code`: one read for all the items and one for all the
    /// balances, whatever the number of lines (a count sheet's review).
    /// `None` where no item has the code.
    pub async fn count_books(
        &self,
        caller: &Principal,
        location: &str,
        codes: &[String],
    ) -> Result<Vec<Option<(Item, i64)>>> {
        self.run(caller, UseCase::ItemStock, async {
            let codes: Vec<&str> = codes.iter().map(|c| c.trim()).collect();
            let items = self
                .store
                .find_items_by_keys(
                    codes.iter().map(|c| fold(c)).collect(),
                    codes.iter().map(|c| (*c).to_owned()).collect(),
                )
                .await?;
            let found: Vec<Option<Item>> = codes
                .iter()
                .map(|code| {
                    let by_barcode = items.iter().find(|i| i.barcode.as_deref() == Some(*code));
                    by_barcode
                        .or_else(|| items.iter().find(|i| fold(&i.sku) == fold(code)))
                        .cloned()
                })
                .collect();
            let ids = found.iter().flatten().map(|i| i.id).collect();
            let books = self.store.on_hand_at(location, ids).await?;
            Ok(found
                .into_iter()
                .map(|item| {
                    item.map(|i| {
                        let on_hand = books.get(&i.id).copied().unwrap_or(0);
                        (i, on_hand)
                    })
                })
                .collect())
        })
        .await
    }

    pub async fn post_stock_count(
        &self,
        caller: &Principal,
        input: CreateStockCount,
    ) -> Result<CountResult> {
        self.run(caller, UseCase::PostStockCount, async {
            let valid = input.validate()?;
            if let Some(code) = &valid.location {
                self.known_location(code, "location").await?;
            }
            let mut lines = Vec::with_capacity(valid.lines.len());
            for (i, (item, counted)) in valid.lines.iter().enumerate() {
                let field = match item {
                    ItemRef::Id(_) => format!("lines[{i}].item_id"),
                    ItemRef::Sku(_) => format!("lines[{i}].sku"),
                };
                lines.push((self.resolve_item(item, &field).await?, *counted));
            }
            let count = StockCount {
                location: valid.location,
                as_of_seq: valid.as_of_seq,
                reference: valid.reference,
                lines,
            };
            match self.store.post_stock_count(count, &caller.actor()).await {
                Ok(result) => {
                    if !result.adjustments.is_empty() {
                        self.after_commit(Change::Movements(&result.adjustments))
                            .await;
                    }
                    Ok(result)
                }
                // An adjustment's refusal is the count's: it names its item
                // (archived, or reserved stock it cannot count away).
                Err(Error::AtIndex { source, .. }) => Err(self.explain(*source).await),
                Err(e) => Err(self.explain(e).await),
            }
        })
        .await
    }
}
