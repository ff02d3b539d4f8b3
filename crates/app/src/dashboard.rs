//! The figures a dashboard shows, read together.

use crate::application::App;
use crate::principal::{Principal, UseCase};
use inventory_core::history::{DayFigure, Days};
use inventory_core::ledger::Movement;
use inventory_core::paging::{MovementQuery, SeqOrder};
use inventory_core::Result;

/// How many days the dashboard's charts cover (today included).
pub const CHART_DAYS: u32 = 30;

pub struct Dashboard {
    /// Active (not archived) items.
    pub items: i64,
    /// Active items at or below their reorder point.
    pub low_stock: i64,
    /// Movements since midnight UTC (the last day of `movements_per_day`).
    pub movements_today: i64,
    /// Stock value now, in ten-thousandths: Σ on_hand × unit_cost.
    pub stock_value: i128,
    /// Movements per UTC day over the last [`CHART_DAYS`] days, oldest first.
    pub movements_per_day: Vec<DayFigure<i64>>,
    /// Stock value at the end of each of those days, at today's unit
    /// costs (today's figure is the value now).
    pub value_per_day: Vec<DayFigure<i128>>,
    pub latest: Vec<Movement>,
}

impl App {
    pub async fn dashboard(&self, caller: &Principal, latest: u32) -> Result<Dashboard> {
        self.run(caller, UseCase::Dashboard, async {
            let days = Days::ending(inventory_core::now().date_naive(), CHART_DAYS);
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
            let movements_per_day = self.store.movements_per_day(days).await?;
            let value = self.store.stock_value_per_day(days).await?;
            Ok(Dashboard {
                items,
                low_stock,
                movements_today: movements_per_day.last().map_or(0, |d| d.value),
                stock_value: value.now,
                movements_per_day,
                value_per_day: value.days,
                latest: newest.rows,
            })
        })
        .await
    }
}
