//! What every write records beside its change, in its transaction: the
//! change-feed event and the response under its idempotency key.

use crate::errors::db_error;
use crate::rows::*;
use inventory_core::events::NewEvent;
use inventory_core::store::{Idempotency, StoredResponse};
use inventory_core::{Error, Result};
use sqlx::PgConnection;
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

/// Records several changes with one statement; their ids are consecutive,
/// in the order given, from the single-row counter (commit order).
pub(crate) async fn record_events(conn: &mut PgConnection, events: &[NewEvent]) -> Result<()> {
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
