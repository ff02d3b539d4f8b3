//! Readiness and the figures a metrics scrape reads (from memory, except
//! the low-stock count, recounted at most every ten seconds).

use crate::application::App;
use inventory_core::store::PoolStats;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How stale `inventory_low_stock_items` may be: counting is a scan.
pub const LOW_STOCK_MAX_AGE: Duration = Duration::from_secs(10);

/// The state of a dependency, for `/ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Ok,
    /// Redis unreachable: still ready, reads go to the database.
    Degraded,
    Unavailable,
    /// Not configured.
    Off,
    /// Not checked (shutting down).
    Unknown,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Degraded => "degraded",
            Self::Unavailable => "unavailable",
            Self::Off => "off",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub shutting_down: bool,
    pub database: Check,
    pub cache: Check,
}

/// What a scrape reports.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    pub items_total: i64,
    pub items_active: i64,
    pub low_stock: Option<i64>,
    pub pool: PoolStats,
}

impl App {
    /// Ready when the database answers and shutdown has not begun. The
    /// cache is optional: a down Redis is degraded, never unready.
    pub async fn readiness(&self) -> Readiness {
        let cache = match &self.redis {
            None => Check::Off,
            Some(redis) if redis.ping().await => Check::Ok,
            Some(_) => Check::Degraded,
        };
        if self.is_shutting_down() {
            return Readiness {
                ready: false,
                shutting_down: true,
                database: Check::Unknown,
                cache,
            };
        }
        let database = match self.store.ping().await {
            Ok(()) => Check::Ok,
            Err(e) => {
                tracing::warn!(error = %e, "readiness check failed");
                Check::Unavailable
            }
        };
        Readiness {
            ready: database == Check::Ok,
            shutting_down: false,
            database,
            cache,
        }
    }

    pub async fn gauges(&self) -> Gauges {
        Gauges {
            items_total: self.items_total.load(Ordering::Relaxed),
            items_active: self.items_active.load(Ordering::Relaxed),
            low_stock: self.low_stock_items().await,
            pool: self.store.pool_stats(),
        }
    }

    /// Items at or below their reorder point, recounted when the last count
    /// is older than [`LOW_STOCK_MAX_AGE`]; `None` if never counted (the
    /// database has been down since start).
    async fn low_stock_items(&self) -> Option<i64> {
        let mut last = self.low_stock.lock().await;
        if let Some((at, n)) = *last {
            if at.elapsed() < LOW_STOCK_MAX_AGE {
                return Some(n);
            }
        }
        let counted = tokio::time::timeout(Duration::from_secs(2), self.store.count_low_stock());
        match counted.await {
            Ok(Ok(n)) => {
                *last = Some((std::time::Instant::now(), n));
                Some(n)
            }
            _ => last.map(|(_, n)| n),
        }
    }
}
