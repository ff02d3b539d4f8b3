//! Purchase orders. Each method is one transaction: the order's rows, the
//! items' `incoming`, the movements of a receipt, the events and the
//! idempotency record commit or roll back together.

use crate::error::Result;
use crate::ledger::Actor;
use crate::paging::Page;
use crate::purchasing::{
    NewPurchaseOrder, PoQuery, PurchaseOrder, PurchaseOrderPatch, ReceiptResult,
    ReceivePurchaseOrder,
};
use crate::store::idempotency::{Created, Idempotency};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
pub trait PurchaseStore: Send + Sync + 'static {
    /// Inserts a draft: the supplier must be a party that supplies and is
    /// not archived (422 `supplier_id`), `receive_to` a location (422), each
    /// line's item an active item (422 `lines[i].item_id`; a line without a
    /// cost takes the item's). The number (`PO-000001`...) is the next one,
    /// allocated in the transaction (unique key `purchase_orders_number_key`).
    async fn create_purchase_order(
        &self,
        order: NewPurchaseOrder,
        actor: &Actor,
        idem: Option<Idempotency<PurchaseOrder>>,
    ) -> Result<Created<PurchaseOrder>>;
    async fn get_purchase_order(&self, id: Uuid) -> Result<PurchaseOrder>;
    /// Orders newest first (by number), with their lines.
    async fn list_purchase_orders(&self, query: &PoQuery) -> Result<Page<PurchaseOrder>>;
    /// Edits a draft (`PurchaseOrderPatch::apply`), checked as a create is.
    async fn update_purchase_order(
        &self,
        id: Uuid,
        patch: PurchaseOrderPatch,
    ) -> Result<PurchaseOrder>;
    /// `draft` → `submitted`; each line's quantity joins its item's `incoming`.
    async fn submit_purchase_order(
        &self,
        id: Uuid,
        idem: Option<Idempotency<PurchaseOrder>>,
    ) -> Result<Created<PurchaseOrder>>;
    /// Applies `PurchaseOrder::plan_receipt`: `receive` movements as
    /// `LedgerStore::apply_movements` applies them (balances, events,
    /// guards), each linked to its line; the lines' `received` (guarded in
    /// SQL: never past the quantity without `allow_over_receipt`), the
    /// items' `incoming`, the status, and `purchase_order.received`.
    async fn receive_purchase_order(
        &self,
        id: Uuid,
        receipt: ReceivePurchaseOrder,
        actor: &Actor,
        idem: Option<Idempotency<ReceiptResult>>,
    ) -> Result<Created<ReceiptResult>>;
    /// Ends an open order: `cancelled` (nothing received) or `closed`; what
    /// was outstanding leaves the items' `incoming`.
    async fn cancel_purchase_order(
        &self,
        id: Uuid,
        idem: Option<Idempotency<PurchaseOrder>>,
    ) -> Result<Created<PurchaseOrder>>;
}
