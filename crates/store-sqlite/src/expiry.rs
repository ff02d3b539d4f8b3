//! Reservations past their expiry end here, before any guard reads
//! availability, and in the background sweep.

use crate::errors::db_error;
use crate::journal::record_event;
use crate::rows::*;
use chrono::{DateTime, Utc};
use inventory_core::events::{event_kind, NewEvent};
use inventory_core::reservations::{Reservation, ReservationStatus};
use inventory_core::{Error, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use std::cell::RefCell;
use uuid::Uuid;

pub(crate) const RESERVATION_SELECT: &str =
    "SELECT r.id, r.item_id, l.code AS location, r.quantity, r.status, r.expires_at, r.reference, \
     r.note, r.created_by, r.created_at, r.ended_at FROM reservations r \
     JOIN locations l ON l.id = r.location_id";

pub(crate) fn reservation_from_row(r: &Row<'_>) -> Result<Reservation> {
    let status: String = get(r, "status")?;
    Ok(Reservation {
        id: uuid(r, "id")?,
        item_id: uuid(r, "item_id")?,
        location: get(r, "location")?,
        quantity: get(r, "quantity")?,
        status: ReservationStatus::parse(&status).map_err(Error::internal)?,
        expires_at: opt_time(r, "expires_at")?,
        reference: get(r, "reference")?,
        note: get(r, "note")?,
        created_by: get(r, "created_by")?,
        created_at: time(r, "created_at")?,
        ended_at: opt_time(r, "ended_at")?,
    })
}

pub(crate) fn load_reservation(conn: &Connection, id: Uuid) -> Result<Reservation> {
    conn.prepare_cached(&format!("{RESERVATION_SELECT} WHERE r.id = ?1"))
        .and_then(|mut stmt| {
            stmt.query_row(params![id.to_string()], |r| Ok(reservation_from_row(r)))
                .optional()
        })
        .map_err(db_error)?
        .ok_or(Error::NotFound("reservation"))?
}

/// Gives back what a reservation held: `quantity` off the balance's and
/// the item's `reserved`.
pub(crate) fn unreserve(
    conn: &Connection,
    item_id: &str,
    location_id: &str,
    quantity: i64,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE stock SET reserved = reserved - ?1 WHERE item_id = ?2 AND location_id = ?3",
    )
    .and_then(|mut stmt| stmt.execute(params![quantity, item_id, location_id]))
    .map_err(db_error)?;
    conn.prepare_cached("UPDATE items SET reserved = reserved - ?1 WHERE id = ?2")
        .and_then(|mut stmt| stmt.execute(params![quantity, item_id]))
        .map_err(db_error)?;
    Ok(())
}

/// Ends the active reservations of `item_id` (all items when `None`) whose
/// expiry has passed at `now`, at most `limit`, oldest expiry first: each
/// gives its stock back and records `reservation.expired`. Every write
/// that reads an item's availability calls this first, so an expired
/// reservation never holds stock, swept or not.
pub(crate) fn expire_due(
    conn: &Connection,
    item_id: Option<&str>,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Reservation>> {
    let due: Vec<(String, String, String, i64)> = {
        let (sql, values): (&str, Vec<SqlValue>) = match item_id {
            Some(item) => (
                "UPDATE reservations SET status = 'expired', ended_at = expires_at \
                 WHERE id IN (SELECT id FROM reservations WHERE item_id = ?1 AND status = 'active' \
                 AND expires_at <= ?2 ORDER BY expires_at LIMIT ?3) \
                 RETURNING id, item_id, location_id, quantity",
                vec![
                    item.to_owned().into(),
                    micros(now).into(),
                    i64::from(limit).into(),
                ],
            ),
            None => (
                "UPDATE reservations SET status = 'expired', ended_at = expires_at \
                 WHERE id IN (SELECT id FROM reservations WHERE status = 'active' \
                 AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2) \
                 RETURNING id, item_id, location_id, quantity",
                vec![micros(now).into(), i64::from(limit).into()],
            ),
        };
        let mut stmt = conn.prepare_cached(sql).map_err(db_error)?;
        let rows = stmt
            .query_map(params_from_iter(values), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(db_error)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db_error)?
    };
    let mut ended = Vec::with_capacity(due.len());
    for (id, item, location, quantity) in due {
        unreserve(conn, &item, &location, quantity)?;
        let reservation = load_reservation(conn, Uuid::parse_str(&id).map_err(Error::internal)?)?;
        record_event(
            conn,
            NewEvent::reservation(event_kind::RESERVATION_EXPIRED, &reservation),
        )?;
        ended.push(reservation);
    }
    Ok(ended)
}

/// The writer job running on this thread, if any: the one instant at which
/// it reads expiries, and the items whose lapsed reservations it has ended.
struct JobClock {
    at: DateTime<Utc>,
    items_done: Vec<String>,
}

thread_local! {
    static JOB_CLOCK: RefCell<Option<JobClock>> = const { RefCell::new(None) };
}

/// Runs one writer job as of a single instant: every guard in it sees the
/// reservations lapsed by the job's start ended, and each item's are ended
/// once per job rather than before every statement that reads it (a ship
/// of three lines read them nine times). A hold lapsing while the job runs
/// (a millisecond) counts until the job ends: a guard can only be stricter
/// for it, never let stock be oversold.
pub(crate) fn as_one_instant<T>(job: impl FnOnce() -> T) -> T {
    JOB_CLOCK.with(|clock| {
        *clock.borrow_mut() = Some(JobClock {
            at: inventory_core::now(),
            items_done: Vec::new(),
        })
    });
    let result = job();
    JOB_CLOCK.with(|clock| *clock.borrow_mut() = None);
    result
}

/// Every due reservation of one item (an item has few), unless this job
/// already ended them.
pub(crate) fn expire_item(conn: &Connection, item_id: &str) -> Result<()> {
    let now = JOB_CLOCK.with(|clock| match &mut *clock.borrow_mut() {
        Some(job) if job.items_done.iter().any(|done| done == item_id) => None,
        Some(job) => {
            job.items_done.push(item_id.to_owned());
            Some(job.at)
        }
        None => Some(inventory_core::now()),
    });
    let Some(now) = now else { return Ok(()) };
    if !any_due(conn, item_id, now)? {
        return Ok(());
    }
    expire_due(conn, Some(item_id), now, u32::MAX)?;
    Ok(())
}

/// Whether one of the item's active reservations has lapsed at `now`: a
/// read of the partial index `reservations_item_due_idx`, much cheaper than
/// the UPDATE that ends them when (as almost always) there is none.
fn any_due(conn: &Connection, item_id: &str, now: DateTime<Utc>) -> Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM reservations WHERE item_id = ?1 AND status = 'active' \
         AND expires_at IS NOT NULL AND expires_at <= ?2)",
    )
    .and_then(|mut stmt| stmt.query_row(params![item_id, micros(now)], |r| r.get(0)))
    .map_err(db_error)
}

/// Called by every ledger write before its guard.
pub(crate) fn expire_before_guard(conn: &Connection, item_id: &str) -> Result<()> {
    expire_item(conn, item_id)
}
