//! The audit trail on SQLite: entries written beside each change (see
//! `journal::record_event`), the list, and the retention prune.

use crate::errors::db_error;
use crate::rows::*;
use inventory_core::audit::{AuditEntry, AuditQuery, NewAuditEntry};
use inventory_core::dump::AuditRow;
use inventory_core::paging::Page;
use inventory_core::Result;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, Row};

/// Records `entry` in the current transaction.
pub(crate) fn record_audit(conn: &Connection, entry: &NewAuditEntry) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit_log (at, actor_id, actor_username, via, token_id, action, target_type, \
         target_id, changes, request_id, client_addr) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            micros(entry.at),
            entry.actor.user_id.map(|id| id.to_string()),
            entry.actor.username,
            entry.actor.via.as_str(),
            entry.actor.token_id.map(|id| id.to_string()),
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.changes,
            entry.request_id,
            entry.client_addr,
        ])
    })
    .map_err(db_error)?;
    Ok(())
}

pub(crate) const AUDIT_COLUMNS: &str = "id, at, actor_id, actor_username, via, token_id, action, \
     target_type, target_id, changes, request_id, client_addr";

/// A stored entry as the export writes it (and, converted, as lists show it).
pub(crate) fn audit_row(r: &Row<'_>) -> Result<AuditRow> {
    Ok(AuditRow {
        id: get(r, "id")?,
        at: time(r, "at")?,
        actor_id: opt_uuid(r, "actor_id")?,
        actor_username: get(r, "actor_username")?,
        via: get(r, "via")?,
        token_id: opt_uuid(r, "token_id")?,
        action: get(r, "action")?,
        target_type: get(r, "target_type")?,
        target_id: get(r, "target_id")?,
        changes: get(r, "changes")?,
        request_id: get(r, "request_id")?,
        client_addr: get(r, "client_addr")?,
    })
}

/// Newest first; each filter adds a condition with a bound value.
pub(crate) fn list_audit(conn: &Connection, query: &AuditQuery) -> Result<Page<AuditEntry>> {
    let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id < ?1");
    let mut values = vec![SqlValue::Integer(query.before_id.unwrap_or(i64::MAX))];
    let mut bind = |sql: &mut String, fragment: &str, value: SqlValue| {
        values.push(value);
        sql.push_str(&fragment.replace('?', &format!("?{}", values.len())));
    };
    let text = |s: &str| SqlValue::Text(s.to_owned());
    match (query.actor_id(), query.actor.as_deref()) {
        (Some(id), _) => bind(&mut sql, " AND actor_id = ?", text(&id.to_string())),
        (None, Some(name)) => bind(&mut sql, " AND actor_username = ?", text(name)),
        (None, None) => {}
    }
    if let Some(action) = &query.action {
        bind(&mut sql, " AND action = ?", text(action));
    }
    if let Some(target_type) = &query.target_type {
        bind(&mut sql, " AND target_type = ?", text(target_type));
    }
    if let Some(target_id) = &query.target_id {
        bind(&mut sql, " AND target_id = ?", text(target_id));
    }
    if let Some(since) = query.since {
        bind(&mut sql, " AND at >= ?", SqlValue::Integer(micros(since)));
    }
    if let Some(until) = query.until {
        bind(&mut sql, " AND at < ?", SqlValue::Integer(micros(until)));
    }
    bind(
        &mut sql,
        " ORDER BY id DESC LIMIT ?",
        SqlValue::Integer(i64::from(query.limit) + 1),
    );
    let rows = query_all(conn, &sql, values, |r| AuditEntry::try_from(audit_row(r)?))?;
    Ok(query.page(rows))
}

pub(crate) fn prune_audit(conn: &Connection, before: i64) -> Result<u64> {
    let n = conn
        .execute("DELETE FROM audit_log WHERE at < ?1", params![before])
        .map_err(db_error)?;
    Ok(n as u64)
}
