//! Stock counts: post what was counted at a location as one batch of
//! adjustments, refused when the counted items moved after the count began.

use crate::after_commit::Change;
use crate::application::App;
use crate::principal::{Principal, UseCase};
use inventory_core::ledger::ItemRef;
use inventory_core::paging::{MovementQuery, SeqOrder};
use inventory_core::stocktake::{CountResult, CreateStockCount, StockCount};
use inventory_core::{Error, Result};

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
