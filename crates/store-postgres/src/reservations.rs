//! Reservations on PostgreSQL. Writes run on the writer connection inside
//! their job's savepoint; every write group holds the counters' row locks,
//! so the writes of all replicas are serialized, and the guarded `reserved`
//! updates (backed by the balances' CHECK reserved <= on_hand) keep the
//! figures exact.

use crate::errors::db_error;
use crate::expiry::{
    expire_before_guard, expire_due, load_reservation, reservation_from_row, unreserve,
    RESERVATION_SELECT,
};
use crate::journal::{record_events, remember, replay};
use crate::rows::*;
use chrono::{DateTime, Utc};
use inventory_core::events::{event_kind, NewEvent};
use inventory_core::ledger::{Actor, Refusal};
use inventory_core::paging::Page;
use inventory_core::reservations::{
    NewReservation, Reservation, ReservationPatch, ReservationQuery, ReservationStatus,
};
use inventory_core::store::{Created, Idempotency};
use inventory_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use std::time::Duration;
use uuid::Uuid;

/// The sweeper's lease name (see `leases`).
const SWEEPER_LEASE: &str = "reservation-sweeper";

pub(crate) async fn create_reservation(
    conn: &mut PgConnection,
    new: NewReservation,
    actor: &Actor,
    idem: Option<Idempotency<Reservation>>,
) -> Result<Created<Reservation>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    let reservation = hold(conn, &new, actor).await?;
    remember(conn, &idem, &reservation).await?;
    Ok(Created::New(reservation))
}

/// Reserves `new` behind the guard and records it (no idempotency: the
/// caller's transaction may hold several).
pub(crate) async fn hold(
    conn: &mut PgConnection,
    new: &NewReservation,
    actor: &Actor,
) -> Result<Reservation> {
    let item = sqlx::query("SELECT sku, archived FROM items WHERE id = $1 FOR UPDATE")
        .bind(new.item_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .ok_or(Refusal::NoItem)?;
    if get::<bool>(&item, "archived")? {
        return Err(Refusal::Archived {
            sku: get(&item, "sku")?,
        }
        .into());
    }
    let location = sqlx::query(
        "SELECT id, code FROM locations WHERE CASE WHEN $1::text IS NULL THEN is_default ELSE code = $1 END",
    )
    .bind(new.location.as_deref())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?
    .ok_or_else(|| Refusal::NoLocation {
        field: "location".into(),
        code: new.location.clone().unwrap_or_default(),
    })?;
    let (location_id, code): (Uuid, String) = (get(&location, "id")?, get(&location, "code")?);
    expire_before_guard(conn, &[new.item_id]).await?;
    // The guard: only available stock is reserved.
    let held = sqlx::query(
        "UPDATE stock SET reserved = reserved + $1 WHERE item_id = $2 AND location_id = $3 \
         AND on_hand - reserved >= $1",
    )
    .bind(new.quantity)
    .bind(new.item_id)
    .bind(location_id)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    if held.rows_affected() != 1 {
        let available: Option<i64> = sqlx::query_scalar(
            "SELECT on_hand - reserved FROM stock WHERE item_id = $1 AND location_id = $2",
        )
        .bind(new.item_id)
        .bind(location_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
        return Err(Refusal::Insufficient {
            location: code,
            available: available.unwrap_or(0),
            requested: new.quantity,
        }
        .into());
    }
    sqlx::query("UPDATE items SET reserved = reserved + $1 WHERE id = $2")
        .bind(new.quantity)
        .bind(new.item_id)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let reservation = Reservation {
        id: new.id,
        item_id: new.item_id,
        location: code,
        quantity: new.quantity,
        status: ReservationStatus::Active,
        expires_at: new.expires_at.map(truncate),
        reference: new.reference.clone(),
        note: new.note.clone(),
        created_by: actor.username.clone(),
        created_at: truncate(new.created_at),
        ended_at: None,
    };
    sqlx::query(
        "INSERT INTO reservations (id, item_id, location_id, quantity, status, expires_at, reference, note, \
         order_line_id, created_by, created_at) VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $9, $10)",
    )
    .bind(reservation.id)
    .bind(reservation.item_id)
    .bind(location_id)
    .bind(reservation.quantity)
    .bind(reservation.expires_at)
    .bind(&reservation.reference)
    .bind(&reservation.note)
    .bind(new.order_line_id)
    .bind(&reservation.created_by)
    .bind(reservation.created_at)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    record_events(
        conn,
        &[NewEvent::reservation(
            event_kind::RESERVATION_CREATED,
            &reservation,
        )],
    )
    .await?;
    Ok(reservation)
}

/// The reservation's item and location ids.
async fn place_of(conn: &mut PgConnection, id: Uuid) -> Result<(Uuid, Uuid)> {
    let row = sqlx::query("SELECT item_id, location_id FROM reservations WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .ok_or(Error::NotFound("reservation"))?;
    Ok((get(&row, "item_id")?, get(&row, "location_id")?))
}

pub(crate) async fn update_reservation(
    conn: &mut PgConnection,
    id: Uuid,
    patch: ReservationPatch,
) -> Result<Reservation> {
    let (item_id, location_id) = place_of(conn, id).await?;
    expire_before_guard(conn, &[item_id]).await?;
    let mut reservation = load_reservation(&mut *conn, id).await?;
    let freed = reservation.apply(&patch, inventory_core::now())?;
    reservation.expires_at = reservation.expires_at.map(truncate);
    sqlx::query(
        "UPDATE reservations SET quantity = $1, expires_at = $2 WHERE id = $3 AND status = 'active'",
    )
    .bind(reservation.quantity)
    .bind(reservation.expires_at)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    if freed > 0 {
        unreserve(conn, &[item_id], &[location_id], &[freed]).await?;
    }
    record_events(
        conn,
        &[NewEvent::reservation(
            event_kind::RESERVATION_UPDATED,
            &reservation,
        )],
    )
    .await?;
    Ok(reservation)
}

/// Ends an active reservation as `status` (released or consumed).
pub(crate) async fn end_reservation(
    conn: &mut PgConnection,
    id: Uuid,
    status: ReservationStatus,
    action: &'static str,
) -> Result<Reservation> {
    let (item_id, location_id) = place_of(conn, id).await?;
    expire_before_guard(conn, &[item_id]).await?;
    let reservation = load_reservation(&mut *conn, id).await?;
    let now = truncate(inventory_core::now());
    if reservation.status != ReservationStatus::Active {
        return Err(reservation.ended_error(action, now));
    }
    sqlx::query(
        "UPDATE reservations SET status = $1, ended_at = $2 WHERE id = $3 AND status = 'active'",
    )
    .bind(status.as_str())
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    unreserve(conn, &[item_id], &[location_id], &[reservation.quantity]).await?;
    let ended = Reservation {
        status,
        ended_at: Some(now),
        ..reservation
    };
    let kind = match status {
        ReservationStatus::Consumed => event_kind::RESERVATION_CONSUMED,
        _ => event_kind::RESERVATION_RELEASED,
    };
    record_events(conn, &[NewEvent::reservation(kind, &ended)]).await?;
    Ok(ended)
}

/// Takes or renews the sweeper lease for `holder`; false when another
/// holder's lease has not lapsed.
async fn take_lease(conn: &mut PgConnection, holder: Uuid, lease: Duration) -> Result<bool> {
    let now = inventory_core::now();
    let until = now + chrono::Duration::from_std(lease).map_err(Error::internal)?;
    let taken: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
         WHERE leases.holder = excluded.holder OR leases.until < $4 RETURNING holder",
    )
    .bind(SWEEPER_LEASE)
    .bind(holder)
    .bind(until)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(taken.is_some())
}

pub(crate) async fn sweep(
    conn: &mut PgConnection,
    holder: Uuid,
    lease: Duration,
    limit: u32,
) -> Result<Option<Vec<Reservation>>> {
    if !take_lease(conn, holder, lease).await? {
        return Ok(None);
    }
    expire_due(conn, None, inventory_core::now(), i64::from(limit))
        .await
        .map(Some)
}

pub(crate) fn list_query(
    query: &ReservationQuery,
    now: DateTime<Utc>,
) -> QueryBuilder<'static, Postgres> {
    let mut sql = QueryBuilder::new(format!("{RESERVATION_SELECT} WHERE TRUE"));
    if let Some(item) = query.item_id {
        sql.push(" AND r.item_id = ").push_bind(item);
    }
    if let Some(code) = &query.location {
        sql.push(" AND l.code = ").push_bind(code.clone());
    }
    if let Some(reference) = &query.reference {
        sql.push(" AND r.reference = ").push_bind(reference.clone());
    }
    match query.status {
        Some(ReservationStatus::Active) => {
            sql.push(" AND r.status = 'active' AND (r.expires_at IS NULL OR r.expires_at > ")
                .push_bind(now)
                .push(")");
        }
        Some(ReservationStatus::Expired) => {
            sql.push(" AND (r.status = 'expired' OR (r.status = 'active' AND r.expires_at <= ")
                .push_bind(now)
                .push("))");
        }
        Some(status) => {
            sql.push(" AND r.status = ").push_bind(status.as_str());
        }
        None => {}
    }
    if let Some(after) = query.after {
        sql.push(" AND r.id > ").push_bind(after);
    }
    sql.push(" ORDER BY r.id LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    sql
}

pub(crate) fn page(rows: Vec<PgRow>, limit: u32) -> Result<Page<Reservation>> {
    let found = rows
        .iter()
        .map(reservation_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::keyset(found, limit, |r| r.id.to_string()))
}

/// The active reservations that hold stock for an order line, oldest
/// first: (id, quantity). Call after the line's item's lapsed ones ended.
pub(crate) async fn line_holds(conn: &mut PgConnection, line_id: Uuid) -> Result<Vec<(Uuid, i64)>> {
    sqlx::query_as(
        "SELECT id, quantity FROM reservations WHERE order_line_id = $1 AND status = 'active' ORDER BY id",
    )
    .bind(line_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)
}

/// Sets an active reservation's expiry (`None`: firm), with its event.
pub(crate) async fn set_expiry(
    conn: &mut PgConnection,
    id: Uuid,
    expires_at: Option<DateTime<Utc>>,
) -> Result<()> {
    sqlx::query("UPDATE reservations SET expires_at = $1 WHERE id = $2 AND status = 'active'")
        .bind(expires_at.map(truncate))
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let reservation = load_reservation(&mut *conn, id).await?;
    record_events(
        conn,
        &[NewEvent::reservation(
            event_kind::RESERVATION_UPDATED,
            &reservation,
        )],
    )
    .await
}

/// Uses `take` units of an active reservation for a shipment: all of it
/// ends it as `consumed`, less lowers it. The units are given back to
/// `available`, for the shipment's issue to take in the same transaction.
pub(crate) async fn consume(
    conn: &mut PgConnection,
    id: Uuid,
    quantity: i64,
    take: i64,
) -> Result<()> {
    if take >= quantity {
        end_reservation(conn, id, ReservationStatus::Consumed, "consume").await?;
        return Ok(());
    }
    let (item_id, location_id) = place_of(conn, id).await?;
    sqlx::query(
        "UPDATE reservations SET quantity = quantity - $1 WHERE id = $2 AND status = 'active'",
    )
    .bind(take)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    unreserve(conn, &[item_id], &[location_id], &[take]).await?;
    let reservation = load_reservation(&mut *conn, id).await?;
    record_events(
        conn,
        &[NewEvent::reservation(
            event_kind::RESERVATION_UPDATED,
            &reservation,
        )],
    )
    .await
}
