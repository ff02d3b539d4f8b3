//! Numbered migrations, embedded in the binary. A database whose schema is
//! newer than this binary knows is refused rather than misread.

use inventory_core::{Error, Result};
use sqlx::sqlite::SqliteConnection;
use sqlx::Connection;

const MIGRATIONS: &[(i64, &str, &str)] =
    &[(1, "init", include_str!("../migrations/0001_init.sql"))];

pub const LATEST_VERSION: i64 = 1;

pub(crate) async fn run(conn: &mut SqliteConnection) -> Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *conn)
    .await
    .map_err(crate::db_error)?;
    let current: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&mut *conn)
            .await
            .map_err(crate::db_error)?;
    if current > LATEST_VERSION {
        return Err(Error::Internal(format!(
            "the database schema is at version {current}, newer than this binary supports ({LATEST_VERSION}); run a newer inventory"
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        let mut tx = conn.begin().await.map_err(crate::db_error)?;
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(crate::db_error)?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, datetime('now'))")
            .bind(version)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(crate::db_error)?;
        tx.commit().await.map_err(crate::db_error)?;
        tracing::info!(version, name, "applied migration");
    }
    Ok(())
}
