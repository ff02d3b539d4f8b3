//! Daily series read back from the ledger, for charts (see
//! [`crate::history`] for the arithmetic and what a series means).

use crate::error::Result;
use crate::history::{DayFigure, Days, ValueHistory};
use async_trait::async_trait;
use uuid::Uuid;

/// Reads over the ledger by UTC day. Every method is bounded by its
/// window (at most [`crate::history::MAX_DAYS`] days), reads through the
/// `created_at` index (or the item's), and answers from one snapshot.
/// Stock value is integer ten-thousandths (as `unit_cost`), exact.
#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// Movements recorded on each day of the window (every kind,
    /// reversals included), oldest first, 0 on a day without any.
    async fn movements_per_day(&self, days: Days) -> Result<Vec<DayFigure<i64>>>;

    /// The stock value now: Σ `on_hand` × `unit_cost` over the items that
    /// are not archived (an archived item holds no stock).
    async fn stock_value(&self) -> Result<i128>;

    /// The stock value now and at the end of each day of the window, at
    /// today's unit costs: the value now less what every later movement
    /// changed (quantity × the item's current `unit_cost`). A day that has
    /// not ended yet shows the value now.
    async fn stock_value_per_day(&self, days: Days) -> Result<ValueHistory>;

    /// The item's total `on_hand` at the end of each day of the window,
    /// from its ledger (now less its later movements). Not found for an
    /// unknown item.
    async fn item_stock_per_day(&self, item_id: Uuid, days: Days) -> Result<Vec<DayFigure<i64>>>;
}
