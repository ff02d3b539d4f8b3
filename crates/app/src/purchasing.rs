//! Purchase orders: drafts, submission, receipts into stock, cancelling.

use crate::after_commit::Change;
use crate::application::App;
use crate::idempotency::{json, IdempotencyKey, Outcome};
use crate::principal::{Principal, UseCase};
use inventory_core::paging::Page;
use inventory_core::purchasing::{
    CreatePurchaseOrder, PoQuery, PurchaseOrder, PurchaseOrderPatch, ReceiptResult,
    ReceivePurchaseOrder,
};
use inventory_core::{Error, Result};
use uuid::Uuid;

impl App {
    pub async fn create_purchase_order(
        &self,
        caller: &Principal,
        input: CreatePurchaseOrder,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<PurchaseOrder>> {
        self.run(caller, UseCase::CreatePurchaseOrder, async {
            let order = input.validate(inventory_core::now())?;
            let actor = caller.actor();
            let outcome = self
                .idempotent(caller, key, 201, json(), |idem| {
                    self.store.create_purchase_order(order, &actor, idem)
                })
                .await;
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => return Err(self.explain(e).await),
            };
            if let Outcome::New(_) = &outcome {
                self.after_commit(Change::PurchaseOrder(&[])).await;
            }
            Ok(outcome)
        })
        .await
    }

    pub async fn get_purchase_order(&self, caller: &Principal, id: Uuid) -> Result<PurchaseOrder> {
        self.run(
            caller,
            UseCase::GetPurchaseOrder,
            self.store.get_purchase_order(id),
        )
        .await
    }

    pub async fn list_purchase_orders(
        &self,
        caller: &Principal,
        query: PoQuery,
    ) -> Result<Page<PurchaseOrder>> {
        self.run(caller, UseCase::ListPurchaseOrders, async {
            self.store.list_purchase_orders(&query).await
        })
        .await
    }

    /// Edits a draft; lines merge by `line_id` (see `PurchaseOrderPatch`).
    pub async fn update_purchase_order(
        &self,
        caller: &Principal,
        id: Uuid,
        patch: PurchaseOrderPatch,
    ) -> Result<PurchaseOrder> {
        self.run(caller, UseCase::UpdatePurchaseOrder, async {
            match self.store.update_purchase_order(id, patch).await {
                Ok(order) => {
                    self.after_commit(Change::PurchaseOrder(&[])).await;
                    Ok(order)
                }
                Err(e) => Err(self.explain(e).await),
            }
        })
        .await
    }

    /// `draft` → `submitted`: its lines count as the items' `incoming`.
    pub async fn submit_purchase_order(
        &self,
        caller: &Principal,
        id: Uuid,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<PurchaseOrder>> {
        self.run(caller, UseCase::SubmitPurchaseOrder, async {
            let outcome = self
                .idempotent(caller, key, 201, json(), |idem| {
                    self.store.submit_purchase_order(id, idem)
                })
                .await?;
            if let Outcome::New(order) = &outcome {
                self.after_commit(Change::PurchaseOrder(&items_of(order)))
                    .await;
            }
            Ok(outcome)
        })
        .await
    }

    /// Receives lines into stock, in one transaction with their movements.
    pub async fn receive_purchase_order(
        &self,
        caller: &Principal,
        id: Uuid,
        receipt: ReceivePurchaseOrder,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<ReceiptResult>> {
        self.run(caller, UseCase::ReceivePurchaseOrder, async {
            let actor = caller.actor();
            let outcome = self
                .idempotent(caller, key, 201, json(), |idem| {
                    self.store.receive_purchase_order(id, receipt, &actor, idem)
                })
                .await;
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => return Err(self.explain(receipt_field(e)).await),
            };
            if let Outcome::New(result) = &outcome {
                self.after_commit(Change::Movements(&result.movements))
                    .await;
                self.after_commit(Change::PurchaseOrder(&items_of(&result.order)))
                    .await;
            }
            Ok(outcome)
        })
        .await
    }

    /// Ends an open order: `cancelled`, or `closed` when something was received.
    pub async fn cancel_purchase_order(
        &self,
        caller: &Principal,
        id: Uuid,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<PurchaseOrder>> {
        self.run(caller, UseCase::CancelPurchaseOrder, async {
            let outcome = self
                .idempotent(caller, key, 201, json(), |idem| {
                    self.store.cancel_purchase_order(id, idem)
                })
                .await?;
            if let Outcome::New(order) = &outcome {
                self.after_commit(Change::PurchaseOrder(&items_of(order)))
                    .await;
            }
            Ok(outcome)
        })
        .await
    }
}

/// The items whose `incoming` an order's change may have moved.
fn items_of(order: &PurchaseOrder) -> Vec<Uuid> {
    let mut items: Vec<Uuid> = order.lines.iter().map(|l| l.item_id).collect();
    items.sort_unstable();
    items.dedup();
    items
}

/// A receipt's movement refused at index `i` names the receipt's line
/// (`lines[i].location`), not a movement.
fn receipt_field(e: Error) -> Error {
    match e {
        Error::AtIndex { index, source } => match *source {
            Error::UnknownLocation { code, known, .. } => Error::UnknownLocation {
                field: format!("lines[{index}].location"),
                code,
                known,
            },
            other => other,
        },
        other => other,
    }
}
