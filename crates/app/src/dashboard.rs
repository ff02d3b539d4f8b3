//! The figures a dashboard shows, read together.
//!
//! The charts' past days are figures of closed days: movements per day
//! never change once the day is over, and a past day's stock value at
//! today's unit costs changes only when an item's cost (or status) does.
//! So they are computed once and kept (per process) until the UTC day
//! turns, an item changes here, or [`PAST_DAYS_MAX_AGE`] passes (an item
//! changed on another replica); today's figures are read on every view.
//! Reading the history walks every movement of the window, which at
//! hundreds of thousands of movements takes the better part of a second:
//! once per minute, not once per view (the dashboard is a live page that
//! every change makes every open copy fetch again).
//!
//! The whole set is also kept with the change feed's position it was read
//! at: a view finds it still true while no change has been committed since
//! (on any replica: the position is the database's), and views that arrive
//! together share one reading.

use crate::application::App;
use crate::principal::{Principal, UseCase};
use inventory_core::history::{DayFigure, Days};
use inventory_core::paging::{MovementQuery, SeqOrder};
use inventory_core::Result;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How many days the dashboard's charts cover (today included).
pub const CHART_DAYS: u32 = 30;

/// The longest the past days' figures are kept.
pub const PAST_DAYS_MAX_AGE: Duration = Duration::from_secs(60);

pub use crate::kept::Dashboard;
use crate::kept::{Figures, PastDays};

impl App {
    pub async fn dashboard(&self, caller: &Principal, latest: u32) -> Result<Dashboard> {
        self.run(caller, UseCase::Dashboard, async {
            let mut kept = self.dashboard.lock().await;
            // Read under the lock: whoever computed while this view waited
            // read at least this position, unless a change came since.
            let position = self.store.last_event_id().await?;
            let today = inventory_core::now().date_naive();
            if let Some(f) = kept.as_ref().filter(|f| {
                f.position == position
                    && f.latest == latest
                    && f.dashboard.movements_per_day.last().map(|d| d.day) == Some(today)
            }) {
                return Ok(f.dashboard.clone());
            }
            let dashboard = self.read_dashboard(position, latest).await?;
            *kept = Some(Figures {
                position,
                latest,
                dashboard: dashboard.clone(),
            });
            Ok(dashboard)
        })
        .await
    }

    async fn read_dashboard(&self, position: i64, latest: u32) -> Result<Dashboard> {
        let days = Days::ending(inventory_core::now().date_naive(), CHART_DAYS);
        let today = Days::ending(days.last(), 1);
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
        let (mut movements_per_day, mut value_per_day) = self.past_days(days).await?;
        let movements_today = self
            .store
            .movements_per_day(today)
            .await?
            .first()
            .map_or(0, |d| d.value);
        let stock_value = self.store.stock_value().await?;
        movements_per_day.push(DayFigure {
            day: days.last(),
            value: movements_today,
        });
        value_per_day.push(DayFigure {
            day: days.last(),
            value: stock_value,
        });
        Ok(Dashboard {
            position,
            items,
            low_stock,
            movements_today,
            stock_value,
            movements_per_day,
            value_per_day,
            latest: newest.rows,
        })
    }

    /// The figures of every day of `days` but the last (today), from the
    /// kept copy while it holds; one caller computes them at a time, the
    /// others wait for its result.
    async fn past_days(&self, days: Days) -> Result<(Vec<DayFigure<i64>>, Vec<DayFigure<i128>>)> {
        let mut kept = self.past_days.lock().await;
        let generation = self.catalogue_generation.load(Ordering::Relaxed);
        let fresh = kept.as_ref().is_some_and(|p| {
            p.days == days && p.generation == generation && p.taken.elapsed() < PAST_DAYS_MAX_AGE
        });
        if !fresh {
            let mut movements = self.store.movements_per_day(days).await?;
            let mut values = self.store.stock_value_per_day(days).await?.days;
            movements.pop();
            values.pop();
            *kept = Some(PastDays {
                days,
                generation,
                taken: Instant::now(),
                movements,
                values,
            });
        }
        let past = kept.as_ref().expect("just filled");
        Ok((past.movements.clone(), past.values.clone()))
    }
}
