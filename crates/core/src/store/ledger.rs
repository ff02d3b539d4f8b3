//! The stock ledger.

use crate::error::Result;
use crate::ledger::{Actor, Movement, MovementResult, NewMovement, StockReport};
use crate::paging::{MovementQuery, Page};
use crate::stocktake::{CountResult, StockCount};
use crate::store::idempotency::{Created, Idempotency};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

#[async_trait]
pub trait LedgerStore: Send + Sync + 'static {
    /// Applies all movements in one transaction, or none. Each one: the
    /// item exists and is not archived, its locations exist (`None` is the
    /// default location), every outflow passes the guard (see
    /// `crate::ledger`), the balances and the item's totals move, the
    /// ledger row and its event are written. A refusal is a
    /// `crate::ledger::Refusal`, tagged with the index of the first failing
    /// entry; a second reversal of one movement is an `already-reversed`
    /// conflict (a unique key on `reverses`).
    async fn apply_movements(
        &self,
        movements: Vec<NewMovement>,
        actor: &Actor,
        idem: Option<Idempotency<Vec<MovementResult>>>,
    ) -> Result<Created<Vec<MovementResult>>>;
    /// Posts a stock count in one transaction: reads the books (see
    /// `crate::stocktake::Books`) while holding the counted items against
    /// concurrent movements, lets `StockCount::plan` decide, and applies its
    /// adjustments as [`Self::apply_movements`] would (a refusal of one is
    /// the refusal of the count, tagged with its index among them).
    async fn post_stock_count(&self, count: StockCount, actor: &Actor) -> Result<CountResult>;
    async fn get_movement(&self, id: Uuid) -> Result<Movement>;
    async fn list_movements(&self, query: &MovementQuery) -> Result<Page<Movement>>;
    /// Per-location balances; with `as_of`, summed from the ledger up to that instant.
    async fn item_stock(&self, item_id: Uuid, as_of: Option<DateTime<Utc>>) -> Result<StockReport>;
    /// What each of `item_ids` has on hand at the location `code`, in one
    /// read (a stock count's books); items with nothing there are absent.
    async fn on_hand_at(&self, code: &str, item_ids: Vec<Uuid>) -> Result<HashMap<Uuid, i64>>;
    /// The sum of the item's ledger, for audits: it must equal `on_hand`.
    async fn ledger_sum(&self, item_id: Uuid) -> Result<i64>;
}
