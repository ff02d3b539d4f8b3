//! Reservations past their expiry end here, before any guard reads
//! availability, and in the background sweep.

use crate::errors::db_error;
use crate::journal::record_events;
use crate::rows::*;
use chrono::{DateTime, Utc};
use inventory_core::events::{event_kind, NewEvent};
use inventory_core::reservations::{Reservation, ReservationStatus};
use inventory_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::PgConnection;
use uuid::Uuid;

pub(crate) const RESERVATION_SELECT: &str =
    "SELECT r.id, r.item_id, l.code AS location, r.quantity, r.status, r.expires_at, r.reference, \
     r.note, r.created_by, r.created_at, r.ended_at FROM reservations r \
     JOIN locations l ON l.id = r.location_id";

pub(crate) fn reservation_from_row(r: &PgRow) -> Result<Reservation> {
    let status: String = get(r, "status")?;
    Ok(Reservation {
        id: get(r, "id")?,
        item_id: get(r, "item_id")?,
        location: get(r, "location")?,
        quantity: get(r, "quantity")?,
        status: ReservationStatus::parse(&status).map_err(Error::internal)?,
        expires_at: get(r, "expires_at")?,
        reference: get(r, "reference")?,
        note: get(r, "note")?,
        created_by: get(r, "created_by")?,
        created_at: get(r, "created_at")?,
        ended_at: get(r, "ended_at")?,
    })
}

pub(crate) async fn load_reservation<'e, E>(conn: E, id: Uuid) -> Result<Reservation>
where
    E: sqlx::PgExecutor<'e>,
{
    let row = sqlx::query(&format!("{RESERVATION_SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(db_error)?
        .ok_or(Error::NotFound("reservation"))?;
    reservation_from_row(&row)
}

/// Gives back what reservations held: each `quantities[i]` off the
/// balance of `(items[i], locations[i])` and off the item's `reserved`.
pub(crate) async fn unreserve(
    conn: &mut PgConnection,
    items: &[Uuid],
    locations: &[Uuid],
    quantities: &[i64],
) -> Result<()> {
    sqlx::query(
        "WITH d AS (SELECT item_id, location_id, sum(q) AS q \
           FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS t (item_id, location_id, q) \
          GROUP BY item_id, location_id), \
         s AS (UPDATE stock s SET reserved = s.reserved - d.q FROM d \
          WHERE s.item_id = d.item_id AND s.location_id = d.location_id) \
         UPDATE items i SET reserved = i.reserved - t.q \
           FROM (SELECT item_id, sum(q) AS q FROM d GROUP BY item_id) t WHERE i.id = t.item_id",
    )
    .bind(items)
    .bind(locations)
    .bind(quantities)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Ends the active reservations of `items` (all items when `None`) whose
/// expiry has passed at `now`, at most `limit`, oldest expiry first: each
/// gives its stock back and records `reservation.expired`. Every write
/// that reads an item's availability calls this first, so an expired
/// reservation never holds stock, swept or not. One statement when none
/// is due (the common case).
pub(crate) async fn expire_due(
    conn: &mut PgConnection,
    items: Option<&[Uuid]>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Reservation>> {
    // Two statements, so that each has a plan of its own: a write's (an
    // item's lapsed reservations, by `reservations_item_due_idx`) and the
    // sweeper's (the oldest lapsed ones, by `reservations_due_idx`).
    const RETURNED: &str = "SELECT due.id, due.item_id, due.location_id, l.code AS location, due.quantity, \
         due.status, due.expires_at, due.reference, due.note, due.created_by, due.created_at, \
         due.ended_at FROM due JOIN locations l ON l.id = due.location_id ORDER BY due.expires_at, due.id";
    let rows = match items {
        Some(items) => sqlx::query(&format!(
            "WITH due AS (UPDATE reservations SET status = 'expired', ended_at = expires_at \
              WHERE id IN (SELECT id FROM reservations WHERE item_id = ANY ($2) AND status = 'active' \
                             AND expires_at <= $1 ORDER BY expires_at LIMIT $3) \
              RETURNING *) {RETURNED}"
        ))
        .bind(now)
        .bind(items)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await,
        None => sqlx::query(&format!(
            "WITH due AS (UPDATE reservations SET status = 'expired', ended_at = expires_at \
              WHERE id IN (SELECT id FROM reservations WHERE status = 'active' AND expires_at <= $1 \
                           ORDER BY expires_at LIMIT $2) \
              RETURNING *) {RETURNED}"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await,
    }
    .map_err(db_error)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let (mut item_ids, mut location_ids, mut quantities) = (Vec::new(), Vec::new(), Vec::new());
    let mut ended = Vec::with_capacity(rows.len());
    for row in &rows {
        location_ids.push(get::<Uuid>(row, "location_id")?);
        let reservation = reservation_from_row(row)?;
        item_ids.push(reservation.item_id);
        quantities.push(reservation.quantity);
        ended.push(reservation);
    }
    unreserve(conn, &item_ids, &location_ids, &quantities).await?;
    let events: Vec<NewEvent> = ended
        .iter()
        .map(|r| NewEvent::reservation(event_kind::RESERVATION_EXPIRED, r))
        .collect();
    record_events(conn, &events).await?;
    Ok(ended)
}

/// Called by every ledger write before its guard.
pub(crate) async fn expire_before_guard(conn: &mut PgConnection, items: &[Uuid]) -> Result<()> {
    expire_due(conn, Some(items), inventory_core::now(), i64::MAX).await?;
    Ok(())
}
