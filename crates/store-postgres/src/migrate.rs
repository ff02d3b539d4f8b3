//! Numbered migrations, embedded in the binary, applied under an advisory
//! lock so that replicas starting together never race. A database whose
//! schema is newer than this binary knows is refused rather than misread.

use crate::errors::db_error;
use futures_util::future::BoxFuture;
use inventory_core::{Error, Result};
use sqlx::{Executor, PgConnection};

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

/// The advisory lock key that serialises migrations ("inventor" in ASCII).
const MIGRATION_LOCK: i64 = 0x696e_7665_6e74_6f72;

/// Applies pending migrations. Boxed so that `PgStore::open` stays `Send`.
pub(crate) fn run(conn: &mut PgConnection) -> BoxFuture<'_, Result<()>> {
    Box::pin(async move {
        // Waiting for another replica's migration is not a slow statement.
        conn.execute("SET statement_timeout = 0")
            .await
            .map_err(db_error)?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        let result = migrate_locked(conn).await;
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(db_error);
        let reset = conn
            .execute("RESET statement_timeout")
            .await
            .map_err(db_error);
        result?;
        unlocked?;
        reset?;
        Ok(())
    })
}

fn migrate_locked(conn: &mut PgConnection) -> BoxFuture<'_, Result<()>> {
    Box::pin(async move {
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(db_error)?;
        let current: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations")
                .fetch_one(&mut *conn)
                .await
                .map_err(db_error)?;
        if current > LATEST_VERSION {
            return Err(Error::Internal(format!(
                "the database schema is at version {current}, newer than this binary supports ({LATEST_VERSION}); run a newer inventory"
            )));
        }
        for &(version, name, sql) in MIGRATIONS {
            if version <= current {
                continue;
            }
            conn.execute("BEGIN").await.map_err(db_error)?;
            let applied = apply(conn, version, name, sql).await;
            let end = if applied.is_ok() {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            let ended = conn.execute(end).await.map_err(db_error);
            applied?;
            ended?;
            tracing::info!(version, name, "applied migration");
        }
        Ok(())
    })
}

fn apply<'c>(
    conn: &'c mut PgConnection,
    version: i64,
    name: &'static str,
    sql: &'static str,
) -> BoxFuture<'c, Result<()>> {
    Box::pin(async move {
        // A plain string runs over the simple query protocol: many statements.
        conn.execute(sql).await.map_err(db_error)?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(version)
            .bind(name)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        Ok(())
    })
}
