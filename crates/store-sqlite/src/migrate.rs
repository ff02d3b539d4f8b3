//! Numbered migrations, embedded in the binary. A database whose schema is
//! newer than this binary knows is refused rather than misread.

use crate::errors::db_error;
use inventory_core::{Error, Result};
use rusqlite::Connection;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (
        2,
        "defaults_reversals_folding",
        include_str!("../migrations/0002_defaults_reversals_folding.sql"),
    ),
    (
        3,
        "barcodes",
        include_str!("../migrations/0003_barcodes.sql"),
    ),
    (
        4,
        "parties_purchase_orders",
        include_str!("../migrations/0004_parties_purchase_orders.sql"),
    ),
    (
        5,
        "reservations",
        include_str!("../migrations/0005_reservations.sql"),
    ),
    (
        6,
        "sales_orders",
        include_str!("../migrations/0006_sales_orders.sql"),
    ),
];

pub const LATEST_VERSION: i64 = 6;

pub(crate) fn run(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .map_err(db_error)?;
    let current: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(db_error)?;
    if current > LATEST_VERSION {
        return Err(Error::Internal(format!(
            "the database schema is at version {current}, newer than this binary supports ({LATEST_VERSION}); run a newer inventory"
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        let tx = conn.transaction().map_err(db_error)?;
        tx.execute_batch(sql).map_err(db_error)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, datetime('now'))",
            rusqlite::params![version, name],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        tracing::info!(version, name, "applied migration");
    }
    Ok(())
}
