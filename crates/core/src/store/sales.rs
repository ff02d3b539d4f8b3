//! Sales orders: each write is one transaction with its reservations,
//! movements, events and idempotency record.

use crate::error::Result;
use crate::ledger::Actor;
use crate::paging::Page;
use crate::sales::{NewSalesOrder, SalesOrder, SalesOrderPatch, SalesOrderQuery, ShipRequest};
use crate::store::idempotency::{Created, Idempotency};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// An order write that an `Idempotency-Key` may cover.
pub type OrderIdem = Option<Idempotency<SalesOrder>>;

#[async_trait]
pub trait SalesStore: Send + Sync + 'static {
    /// A draft with the next number (`SO-000001`, ...). Every line's item
    /// exists and is not archived, the customer (if any) exists, and with
    /// `hold_until` every line is reserved until then, all or none (the
    /// first short line: `AtLine` around `InsufficientStock`).
    async fn create_sales_order(
        &self,
        new: NewSalesOrder,
        actor: &Actor,
        idem: OrderIdem,
    ) -> Result<Created<SalesOrder>>;
    /// Applies a PATCH to a draft (see `SalesOrderPatch::apply`); a held
    /// draft's holds follow its lines (released and made again, until the
    /// same instant), all or none.
    async fn update_sales_order(
        &self,
        id: Uuid,
        patch: SalesOrderPatch,
        actor: &Actor,
    ) -> Result<SalesOrder>;
    /// Holds (or keeps holding) every line of a draft until `until`:
    /// extends its active holds, reserves again what lapsed; all or none.
    async fn hold_sales_order(
        &self,
        id: Uuid,
        until: DateTime<Utc>,
        actor: &Actor,
        idem: OrderIdem,
    ) -> Result<Created<SalesOrder>>;
    /// Reserves every line firmly: an active hold becomes firm (it is never
    /// released in between), what is not held is reserved behind the
    /// guard; all or none.
    async fn confirm_sales_order(
        &self,
        id: Uuid,
        actor: &Actor,
        idem: OrderIdem,
    ) -> Result<Created<SalesOrder>>;
    /// Ships (see `SalesOrder::shipment`): per line, its reservation gives
    /// the units back and an `issue` with the order's number as reference
    /// takes them, in one transaction.
    async fn ship_sales_order(
        &self,
        id: Uuid,
        request: ShipRequest,
        actor: &Actor,
        idem: OrderIdem,
    ) -> Result<Created<SalesOrder>>;
    /// Releases what the order still reserves; `cancelled`.
    async fn cancel_sales_order(
        &self,
        id: Uuid,
        actor: &Actor,
        idem: OrderIdem,
    ) -> Result<Created<SalesOrder>>;
    async fn get_sales_order(&self, id: Uuid) -> Result<SalesOrder>;
    /// Oldest first, keyset-paged by id.
    async fn list_sales_orders(&self, query: &SalesOrderQuery) -> Result<Page<SalesOrder>>;
}
