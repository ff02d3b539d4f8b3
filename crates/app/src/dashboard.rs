//! The figures a dashboard shows, read together.

use crate::application::App;
use crate::principal::{Principal, UseCase};
use inventory_core::ledger::Movement;
use inventory_core::paging::{MovementQuery, SeqOrder, MAX_LIMIT};
use inventory_core::Result;

/// Movements today are counted up to this many (then "or more"): the
/// count pages through the ledger, so it is bounded.
pub const TODAY_COUNT_CAP: usize = 1000;

pub struct Dashboard {
    /// Active (not archived) items.
    pub items: i64,
    /// Active items at or below their reorder point.
    pub low_stock: i64,
    /// Movements since midnight UTC, up to [`TODAY_COUNT_CAP`].
    pub movements_today: usize,
    pub latest: Vec<Movement>,
}

impl App {
    pub async fn dashboard(&self, caller: &Principal, latest: u32) -> Result<Dashboard> {
        self.run(caller, UseCase::Dashboard, async {
            let items = self.store.count_items().await?;
            let low_stock = self.store.count_low_stock().await?;
            let newest = self
                .store
                .list_movements(&MovementQuery {
                    order: SeqOrder::Desc,
                    limit: latest,
                    ..MovementQuery::default()
                })
                .await?;
            let midnight = inventory_core::now()
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc());
            let mut today = 0;
            let mut after_seq = None;
            while today < TODAY_COUNT_CAP {
                let page = self
                    .store
                    .list_movements(&MovementQuery {
                        since: midnight,
                        limit: MAX_LIMIT,
                        after_seq,
                        ..MovementQuery::default()
                    })
                    .await?;
                today += page.rows.len();
                match page.rows.last() {
                    Some(last) if page.next_cursor.is_some() => after_seq = Some(last.seq),
                    _ => break,
                }
            }
            Ok(Dashboard {
                items,
                low_stock,
                movements_today: today.min(TODAY_COUNT_CAP),
                latest: newest.rows,
            })
        })
        .await
    }
}
