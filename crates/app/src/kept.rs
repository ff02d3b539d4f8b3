//! What the application keeps between dashboard views (see `dashboard`):
//! a leaf, so that `application` can hold it without importing a use case.

use inventory_core::history::{DayFigure, Days};
use inventory_core::ledger::Movement;
use std::time::Instant;

#[derive(Clone)]
pub struct Dashboard {
    /// The change feed's position these figures are current at (read before
    /// them): a live view follows the feed from here and misses nothing.
    pub position: i64,
    /// Active (not archived) items.
    pub items: i64,
    /// Active items at or below their reorder point.
    pub low_stock: i64,
    /// Movements since midnight UTC (the last day of `movements_per_day`).
    pub movements_today: i64,
    /// Stock value now, in ten-thousandths: Σ on_hand × unit_cost.
    pub stock_value: i128,
    /// Movements per UTC day over the last `dashboard::CHART_DAYS` days, oldest first.
    pub movements_per_day: Vec<DayFigure<i64>>,
    /// Stock value at the end of each of those days, at today's unit
    /// costs (today's figure is the value now).
    pub value_per_day: Vec<DayFigure<i128>>,
    pub latest: Vec<Movement>,
}

/// A dashboard as read at a feed position.
pub(crate) struct Figures {
    pub(crate) position: i64,
    pub(crate) latest: u32,
    pub(crate) dashboard: Dashboard,
}

/// The charts' figures for the days before today.
pub(crate) struct PastDays {
    pub(crate) days: Days,
    pub(crate) generation: u64,
    pub(crate) taken: Instant,
    pub(crate) movements: Vec<DayFigure<i64>>,
    pub(crate) values: Vec<DayFigure<i128>>,
}
