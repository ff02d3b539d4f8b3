//! What every write records beside its change, in its transaction: the
//! change-feed event, its audit entry and the response under its
//! idempotency key.

use crate::audit::record_audit;
use crate::errors::db_error;
use crate::rows::*;
use inventory_core::audit::{self, NewAuditEntry};
use inventory_core::events::NewEvent;
use inventory_core::store::{Idempotency, StoredResponse};
use inventory_core::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

pub(crate) fn find_idempotent(
    conn: &Connection,
    user_id: Uuid,
    key: &str,
) -> Result<Option<StoredResponse>> {
    conn.prepare_cached("SELECT request_hash, status, body FROM idempotency_keys WHERE user_id = ?1 AND idem_key = ?2")
        .and_then(|mut stmt| {
            stmt.query_row(params![user_id.to_string(), key], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
            })
            .optional()
        })
        .map_err(db_error)?
        .map(|(request_hash, status, body)| {
            Ok(StoredResponse {
                request_hash,
                status: u16::try_from(status).map_err(Error::internal)?,
                body,
            })
        })
        .transpose()
}

/// The response already recorded under this key, if any (read inside the
/// write's transaction; see `Idempotency::check`).
pub(crate) fn replay<T>(
    conn: &Connection,
    idem: &Option<Idempotency<T>>,
) -> Result<Option<StoredResponse>> {
    let Some(idem) = idem else { return Ok(None) };
    idem.check(find_idempotent(conn, idem.user_id, &idem.key)?)
}

/// Records the response of a create under its key, in the create's transaction.
pub(crate) fn remember<T>(
    conn: &Connection,
    idem: &Option<Idempotency<T>>,
    value: &T,
) -> Result<()> {
    let Some(idem) = idem else { return Ok(()) };
    conn.prepare_cached(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status, body, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            idem.user_id.to_string(),
            idem.key,
            idem.request_hash,
            i64::from(idem.status),
            idem.body(value),
            micros(inventory_core::now()),
        ])
    })
    .map_err(db_error)?;
    Ok(())
}

/// Records a committed change in the change feed and in the audit trail,
/// in the change's transaction.
pub(crate) fn record_event(conn: &Connection, event: NewEvent) -> Result<()> {
    let before = if audit::creates(event.kind) {
        None
    } else {
        previous_event_data(conn, event.entity_id)?
    };
    record_audit(conn, &NewAuditEntry::for_event(&event, before.as_deref()))?;
    conn.prepare_cached(
        "INSERT INTO events (kind, entity_id, data, created_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            event.kind,
            event.entity_id.to_string(),
            event.data,
            micros(inventory_core::now()),
        ])
    })
    .map_err(db_error)?;
    Ok(())
}

/// The data of an entity's latest event (what an audit entry compares with).
fn previous_event_data(conn: &Connection, entity_id: Uuid) -> Result<Option<String>> {
    conn.prepare_cached("SELECT data FROM events WHERE entity_id = ?1 ORDER BY id DESC LIMIT 1")
        .and_then(|mut stmt| {
            stmt.query_row(params![entity_id.to_string()], |r| r.get(0))
                .optional()
        })
        .map_err(db_error)
}
