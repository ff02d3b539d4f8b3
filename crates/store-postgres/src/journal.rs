//! What every write records beside its change, in its transaction: the
//! change-feed event, its audit entry and the response under its
//! idempotency key.

use crate::audit::record_audits;
use crate::errors::db_error;
use crate::rows::*;
use inventory_core::audit::{self, NewAuditEntry};
use inventory_core::events::NewEvent;
use inventory_core::store::{Idempotency, StoredResponse};
use inventory_core::{Error, Result};
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

pub(crate) async fn find_idempotent<'e, E>(
    conn: E,
    user_id: Uuid,
    key: &str,
) -> Result<Option<StoredResponse>>
where
    E: sqlx::PgExecutor<'e>,
{
    let row = sqlx::query(
        "SELECT request_hash, status, body FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(conn)
    .await
    .map_err(db_error)?;
    row.map(|r| {
        let status: i32 = get(&r, "status")?;
        Ok(StoredResponse {
            request_hash: get(&r, "request_hash")?,
            status: u16::try_from(status).map_err(Error::internal)?,
            body: get(&r, "body")?,
        })
    })
    .transpose()
}

/// The response already recorded under this key, if any (read inside the
/// write's transaction; see `Idempotency::check`).
pub(crate) async fn replay<T>(
    conn: &mut PgConnection,
    idem: &Option<Idempotency<T>>,
) -> Result<Option<StoredResponse>> {
    let Some(idem) = idem else { return Ok(None) };
    idem.check(find_idempotent(&mut *conn, idem.user_id, &idem.key).await?)
}

/// Records the response of a create under its key, in the create's transaction.
pub(crate) async fn remember<T>(
    conn: &mut PgConnection,
    idem: &Option<Idempotency<T>>,
    value: &T,
) -> Result<()> {
    let Some(idem) = idem else { return Ok(()) };
    sqlx::query(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(idem.user_id)
    .bind(&idem.key)
    .bind(&idem.request_hash)
    .bind(i32::from(idem.status))
    .bind(idem.body(value))
    .bind(inventory_core::now())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Records a committed change in the change feed, in the change's transaction.
pub(crate) async fn record_event(conn: &mut PgConnection, event: NewEvent) -> Result<()> {
    record_events(conn, std::slice::from_ref(&event)).await
}

/// Records several changes in the change feed and in the audit trail (see
/// [`audit_entries`]).
pub(crate) async fn record_events(conn: &mut PgConnection, events: &[NewEvent]) -> Result<()> {
    let entries = audit_entries(conn, events).await?;
    insert_events(conn, events).await?;
    record_audits(conn, &entries).await
}

/// The audit entries of `events`, in the current context: each compares
/// its event's data with the entity's previous event (read with one query
/// for all of them; an entity changed twice here compares with the first).
async fn audit_entries(conn: &mut PgConnection, events: &[NewEvent]) -> Result<Vec<NewAuditEntry>> {
    let updated: Vec<Uuid> = events
        .iter()
        .filter(|e| !audit::creates(e.kind))
        .map(|e| e.entity_id)
        .collect();
    let mut latest: HashMap<Uuid, String> = HashMap::new();
    if !updated.is_empty() {
        let rows: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT DISTINCT ON (entity_id) entity_id, data FROM events \
             WHERE entity_id = ANY($1) ORDER BY entity_id, id DESC",
        )
        .bind(&updated)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        latest.extend(rows);
    }
    Ok(events
        .iter()
        .map(|event| {
            let before = match audit::creates(event.kind) {
                true => None,
                false => latest.get(&event.entity_id).cloned(),
            };
            latest.insert(event.entity_id, event.data.clone());
            NewAuditEntry::for_event(event, before.as_deref())
        })
        .collect())
}

/// Inserts events with one statement; their ids are consecutive, in the
/// order given, from the single-row counter (commit order).
pub(crate) async fn insert_events(conn: &mut PgConnection, events: &[NewEvent]) -> Result<()> {
    let kinds: Vec<&str> = events.iter().map(|e| e.kind).collect();
    let ids: Vec<Uuid> = events.iter().map(|e| e.entity_id).collect();
    let data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
    sqlx::query(
        "WITH c AS (UPDATE event_counter SET value = value + $1 RETURNING value) \
         INSERT INTO events (id, kind, entity_id, data, created_at) \
         SELECT c.value - $1 + e.n, e.kind, e.entity_id, e.data, $5 \
         FROM c, unnest($2::text[], $3::uuid[], $4::text[]) WITH ORDINALITY AS e(kind, entity_id, data, n)",
    )
    .bind(events.len() as i64)
    .bind(&kinds)
    .bind(&ids)
    .bind(&data)
    .bind(inventory_core::now())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}
