//! The audit trail on PostgreSQL: entries written beside each change (see
//! `journal::record_events`), the list, and the retention prune.

use crate::errors::db_error;
use crate::rows::*;
use inventory_core::audit::{AuditEntry, AuditQuery, NewAuditEntry};
use inventory_core::dump::AuditRow;
use inventory_core::paging::Page;
use inventory_core::Result;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

/// Records `entries` in the current transaction, with one statement.
pub(crate) async fn record_audits(
    conn: &mut PgConnection,
    entries: &[NewAuditEntry],
) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let column =
        |f: fn(&NewAuditEntry) -> Option<String>| entries.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor_username, via, token_id, action, target_type, \
         target_id, changes, request_id, client_addr) \
         SELECT * FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], $5::uuid[], \
         $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])",
    )
    .bind(entries.iter().map(|e| e.at).collect::<Vec<_>>())
    .bind(
        entries
            .iter()
            .map(|e| e.actor.user_id)
            .collect::<Vec<Option<Uuid>>>(),
    )
    .bind(column(|e| e.actor.username.clone()))
    .bind(
        entries
            .iter()
            .map(|e| e.actor.via.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        entries
            .iter()
            .map(|e| e.actor.token_id)
            .collect::<Vec<Option<Uuid>>>(),
    )
    .bind(
        entries
            .iter()
            .map(|e| e.action.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        entries
            .iter()
            .map(|e| e.target_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        entries
            .iter()
            .map(|e| e.target_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        entries
            .iter()
            .map(|e| e.changes.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(column(|e| e.request_id.clone()))
    .bind(column(|e| e.client_addr.clone()))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Records one entry in the current transaction.
pub(crate) async fn record_audit(conn: &mut PgConnection, entry: NewAuditEntry) -> Result<()> {
    record_audits(conn, std::slice::from_ref(&entry)).await
}

/// The columns [`audit_row`] reads (the export names them itself: its
/// queries are static text).
const AUDIT_COLUMNS: &str = "id, at, actor_id, actor_username, via, token_id, action, \
     target_type, target_id, changes, request_id, client_addr";

/// A stored entry as the export writes it (and, converted, as lists show it).
pub(crate) fn audit_row(r: &PgRow) -> Result<AuditRow> {
    Ok(AuditRow {
        id: get(r, "id")?,
        at: get(r, "at")?,
        actor_id: get(r, "actor_id")?,
        actor_username: get(r, "actor_username")?,
        via: get(r, "via")?,
        token_id: get(r, "token_id")?,
        action: get(r, "action")?,
        target_type: get(r, "target_type")?,
        target_id: get(r, "target_id")?,
        changes: get(r, "changes")?,
        request_id: get(r, "request_id")?,
        client_addr: get(r, "client_addr")?,
    })
}

/// Newest first; each filter adds a condition with a bound value.
pub(crate) async fn list_audit(pool: &PgPool, query: &AuditQuery) -> Result<Page<AuditEntry>> {
    let mut sql: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id < "));
    sql.push_bind(query.before_id.unwrap_or(i64::MAX));
    match (query.actor_id(), query.actor.clone()) {
        (Some(id), _) => {
            sql.push(" AND actor_id = ").push_bind(id);
        }
        (None, Some(name)) => {
            sql.push(" AND actor_username = ").push_bind(name);
        }
        (None, None) => {}
    }
    if let Some(action) = &query.action {
        sql.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(target_type) = &query.target_type {
        sql.push(" AND target_type = ")
            .push_bind(target_type.clone());
    }
    if let Some(target_id) = &query.target_id {
        sql.push(" AND target_id = ").push_bind(target_id.clone());
    }
    if let Some(since) = query.since {
        sql.push(" AND at >= ").push_bind(since);
    }
    if let Some(until) = query.until {
        sql.push(" AND at < ").push_bind(until);
    }
    sql.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    let rows = sql.build().fetch_all(pool).await.map_err(db_error)?;
    let entries = rows
        .iter()
        .map(|r| AuditEntry::try_from(audit_row(r)?))
        .collect::<Result<Vec<_>>>()?;
    Ok(query.page(entries))
}
