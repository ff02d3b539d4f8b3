//! The change feed's reading side (events are written by each change).

use crate::error::Result;
use crate::events::Event;
use async_trait::async_trait;

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Events with `id > after`, oldest first, at most `limit`. Every change
    /// to an item and every movement records one in its own transaction.
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>>;
    /// The id of the newest event, 0 when there is none.
    async fn last_event_id(&self) -> Result<i64>;
}
