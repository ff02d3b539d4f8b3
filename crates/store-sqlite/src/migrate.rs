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
    (
        7,
        "users_access",
        include_str!("../migrations/0007_users_access.sql"),
    ),
    (
        8,
        "api_tokens",
        include_str!("../migrations/0008_api_tokens.sql"),
    ),
    (
        9,
        "audit_log",
        include_str!("../migrations/0009_audit_log.sql"),
    ),
];

pub const LATEST_VERSION: i64 = 9;

pub(crate) fn run(conn: &mut Connection) -> Result<()> {
    run_to(conn, LATEST_VERSION)
}

/// Applies the migrations after the database's version, up to `last`.
fn run_to(conn: &mut Connection, last: i64) -> Result<()> {
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
    for (version, name, sql) in MIGRATIONS
        .iter()
        .filter(|(v, _, _)| *v > current && *v <= last)
    {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Users and sessions of a schema-6 database migrate cleanly to 7: each
    /// session gets a distinct id (and keeps working), each user
    /// `updated_at` = `created_at`, enabled, no password change pending.
    #[test]
    fn users_and_sessions_migrate_to_7() {
        let mut conn = Connection::open_in_memory().unwrap();
        run_to(&mut conn, 6).unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, username, password_hash, role, created_at) \
             VALUES ('u1', 'ann', 'h', 'admin', 42); \
             INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
             VALUES ('t1', 'u1', 1, 99), ('t2', 'u1', 2, 99);",
        )
        .unwrap();
        run(&mut conn).unwrap();
        let (updated, disabled, must_change): (i64, bool, bool) = conn
            .query_row(
                "SELECT updated_at, disabled, must_change_password FROM users",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((updated, disabled, must_change), (42, false, false));
        let mut stmt = conn
            .prepare("SELECT id, user_id, expires_at FROM sessions ORDER BY token_hash")
            .unwrap();
        let rows: Vec<(String, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(rows.len(), 2);
        for (id, user, expires) in &rows {
            let id = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(id.get_version_num(), 4);
            assert_eq!((user.as_str(), *expires), ("u1", 99));
        }
        assert_ne!(rows[0].0, rows[1].0);
    }
}
