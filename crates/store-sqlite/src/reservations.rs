//! Reservations on SQLite. Writes run on the writer thread inside their
//! job's savepoint; the single writer and the guarded `reserved` updates
//! (backed by the balances' CHECK reserved <= on_hand) keep them exact.

use crate::errors::db_error;
use crate::expiry::{
    expire_due, expire_item, load_reservation, reservation_from_row, unreserve, RESERVATION_SELECT,
};
use crate::journal::{record_event, remember, replay};
use crate::rows::*;
use crate::writes::{open_item, resolve_location};
use chrono::{DateTime, Utc};
use inventory_core::events::{event_kind, NewEvent};
use inventory_core::ledger::{Actor, Refusal};
use inventory_core::paging::Page;
use inventory_core::reservations::{
    NewReservation, Reservation, ReservationPatch, ReservationQuery, ReservationStatus,
};
use inventory_core::store::{Created, Idempotency};
use inventory_core::{Error, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use std::time::Duration;
use uuid::Uuid;

/// The sweeper's lease name (see `leases`).
const SWEEPER_LEASE: &str = "reservation-sweeper";

pub(crate) fn create_reservation(
    conn: &Connection,
    new: NewReservation,
    actor: &Actor,
    idem: Option<Idempotency<Reservation>>,
) -> Result<Created<Reservation>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    let reservation = hold(conn, &new, actor)?;
    remember(conn, &idem, &reservation)?;
    Ok(Created::New(reservation))
}

/// Reserves `new` behind the guard and records it (no idempotency: the
/// caller's transaction may hold several).
pub(crate) fn hold(conn: &Connection, new: &NewReservation, actor: &Actor) -> Result<Reservation> {
    let item_id = new.item_id.to_string();
    open_item(conn, &item_id)?;
    let (location_id, code) =
        resolve_location(conn, new.location.as_deref())?.ok_or_else(|| Refusal::NoLocation {
            field: "location".into(),
            code: new.location.clone().unwrap_or_default(),
        })?;
    // The guard: only available stock is reserved.
    let held = conn
        .prepare_cached(
            "UPDATE stock SET reserved = reserved + ?1 WHERE item_id = ?2 AND location_id = ?3 \
             AND on_hand - reserved >= ?1",
        )
        .and_then(|mut stmt| stmt.execute(params![new.quantity, item_id, location_id]))
        .map_err(db_error)?;
    if held != 1 {
        let available: Option<i64> = conn
            .prepare_cached(
                "SELECT on_hand - reserved FROM stock WHERE item_id = ?1 AND location_id = ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![item_id, location_id], |r| r.get(0))
                    .optional()
            })
            .map_err(db_error)?;
        return Err(Refusal::Insufficient {
            location: code,
            available: available.unwrap_or(0),
            requested: new.quantity,
        }
        .into());
    }
    conn.prepare_cached("UPDATE items SET reserved = reserved + ?1 WHERE id = ?2")
        .and_then(|mut stmt| stmt.execute(params![new.quantity, item_id]))
        .map_err(db_error)?;
    let reservation = Reservation {
        id: new.id,
        item_id: new.item_id,
        location: code,
        quantity: new.quantity,
        status: ReservationStatus::Active,
        expires_at: new.expires_at,
        reference: new.reference.clone(),
        note: new.note.clone(),
        created_by: actor.username.clone(),
        created_at: new.created_at,
        ended_at: None,
    };
    conn.prepare_cached(
        "INSERT INTO reservations (id, item_id, location_id, quantity, status, expires_at, reference, note, \
         order_line_id, created_by, created_at) VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            reservation.id.to_string(),
            item_id,
            location_id,
            reservation.quantity,
            reservation.expires_at.map(micros),
            reservation.reference,
            reservation.note,
            new.order_line_id.map(|id| id.to_string()),
            reservation.created_by,
            micros(reservation.created_at),
        ])
    })
    .map_err(db_error)?;
    record_event(
        conn,
        NewEvent::reservation(event_kind::RESERVATION_CREATED, &reservation),
    )?;
    Ok(reservation)
}

/// The reservation's item and location ids.
fn place_of(conn: &Connection, id: Uuid) -> Result<(String, String)> {
    conn.prepare_cached("SELECT item_id, location_id FROM reservations WHERE id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row(params![id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db_error)?
        .ok_or(Error::NotFound("reservation"))
}

pub(crate) fn update_reservation(
    conn: &Connection,
    id: Uuid,
    patch: ReservationPatch,
) -> Result<Reservation> {
    let (item_id, location_id) = place_of(conn, id)?;
    expire_item(conn, &item_id)?;
    let mut reservation = load_reservation(conn, id)?;
    let freed = reservation.apply(&patch, inventory_core::now())?;
    conn.execute(
        "UPDATE reservations SET quantity = ?1, expires_at = ?2 WHERE id = ?3 AND status = 'active'",
        params![
            reservation.quantity,
            reservation.expires_at.map(micros),
            id.to_string()
        ],
    )
    .map_err(db_error)?;
    if freed > 0 {
        unreserve(conn, &item_id, &location_id, freed)?;
    }
    record_event(
        conn,
        NewEvent::reservation(event_kind::RESERVATION_UPDATED, &reservation),
    )?;
    Ok(reservation)
}

/// Ends an active reservation as `status` (released or consumed).
pub(crate) fn end_reservation(
    conn: &Connection,
    id: Uuid,
    status: ReservationStatus,
    action: &'static str,
) -> Result<Reservation> {
    let (item_id, location_id) = place_of(conn, id)?;
    expire_item(conn, &item_id)?;
    let reservation = load_reservation(conn, id)?;
    let now = inventory_core::now();
    if reservation.status != ReservationStatus::Active {
        return Err(reservation.ended_error(action, now));
    }
    conn.prepare_cached(
        "UPDATE reservations SET status = ?1, ended_at = ?2 WHERE id = ?3 AND status = 'active'",
    )
    .and_then(|mut stmt| stmt.execute(params![status.as_str(), micros(now), id.to_string()]))
    .map_err(db_error)?;
    unreserve(conn, &item_id, &location_id, reservation.quantity)?;
    let ended = Reservation {
        status,
        ended_at: Some(now),
        ..reservation
    };
    let kind = match status {
        ReservationStatus::Consumed => event_kind::RESERVATION_CONSUMED,
        _ => event_kind::RESERVATION_RELEASED,
    };
    record_event(conn, NewEvent::reservation(kind, &ended))?;
    Ok(ended)
}

/// Takes or renews the sweeper lease for `holder`; false when another
/// holder's lease has not lapsed.
fn take_lease(conn: &Connection, holder: Uuid, lease: Duration) -> Result<bool> {
    let now = inventory_core::now();
    let until = now + chrono::Duration::from_std(lease).map_err(Error::internal)?;
    let taken: Option<String> = conn
        .prepare_cached(
            "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE leases.holder = excluded.holder OR leases.until < ?4 RETURNING holder",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    SWEEPER_LEASE,
                    holder.to_string(),
                    micros(until),
                    micros(now)
                ],
                |r| r.get(0),
            )
            .optional()
        })
        .map_err(db_error)?;
    Ok(taken.is_some())
}

pub(crate) fn sweep(
    conn: &Connection,
    holder: Uuid,
    lease: Duration,
    limit: u32,
) -> Result<Option<Vec<Reservation>>> {
    if !take_lease(conn, holder, lease)? {
        return Ok(None);
    }
    expire_due(conn, None, inventory_core::now(), limit).map(Some)
}

pub(crate) fn list_reservations(
    conn: &Connection,
    query: &ReservationQuery,
    now: DateTime<Utc>,
) -> Result<Page<Reservation>> {
    let mut sql = format!("{RESERVATION_SELECT} WHERE 1 = 1");
    let mut values: Vec<SqlValue> = Vec::new();
    let mut bind = |sql: &mut String, fragment: &str, value: SqlValue| {
        values.push(value);
        sql.push_str(&fragment.replace('?', &format!("?{}", values.len())));
    };
    if let Some(item) = query.item_id {
        bind(&mut sql, " AND r.item_id = ?", item.to_string().into());
    }
    if let Some(code) = &query.location {
        bind(&mut sql, " AND l.code = ?", code.clone().into());
    }
    if let Some(reference) = &query.reference {
        bind(&mut sql, " AND r.reference = ?", reference.clone().into());
    }
    match query.status {
        Some(ReservationStatus::Active) => bind(
            &mut sql,
            " AND r.status = 'active' AND (r.expires_at IS NULL OR r.expires_at > ?)",
            micros(now).into(),
        ),
        Some(ReservationStatus::Expired) => bind(
            &mut sql,
            " AND (r.status = 'expired' OR (r.status = 'active' AND r.expires_at <= ?))",
            micros(now).into(),
        ),
        Some(status) => bind(
            &mut sql,
            " AND r.status = ?",
            status.as_str().to_owned().into(),
        ),
        None => {}
    }
    if let Some(after) = query.after {
        bind(&mut sql, " AND r.id > ?", after.to_string().into());
    }
    bind(
        &mut sql,
        " ORDER BY r.id LIMIT ?",
        i64::from(query.limit + 1).into(),
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(db_error)?;
    let mut rows = stmt.query(params_from_iter(values)).map_err(db_error)?;
    let mut found = Vec::new();
    while let Some(r) = rows.next().map_err(db_error)? {
        found.push(reservation_from_row(r)?);
    }
    Ok(Page::keyset(found, query.limit, |r| r.id.to_string()))
}

/// The active reservations that hold stock for an order line, oldest
/// first: (id, quantity). Call after the line's item's lapsed ones ended.
pub(crate) fn line_holds(conn: &Connection, line_id: Uuid) -> Result<Vec<(Uuid, i64)>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, quantity FROM reservations WHERE order_line_id = ?1 AND status = 'active' ORDER BY id",
        )
        .map_err(db_error)?;
    let rows = stmt
        .query_map(params![line_id.to_string()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .map_err(db_error)?;
    let mut holds = Vec::new();
    for row in rows {
        let (id, quantity) = row.map_err(db_error)?;
        holds.push((Uuid::parse_str(&id).map_err(Error::internal)?, quantity));
    }
    Ok(holds)
}

/// Sets an active reservation's expiry (`None`: firm), with its event.
pub(crate) fn set_expiry(
    conn: &Connection,
    id: Uuid,
    expires_at: Option<DateTime<Utc>>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE reservations SET expires_at = ?1 WHERE id = ?2 AND status = 'active'",
    )
    .and_then(|mut stmt| stmt.execute(params![expires_at.map(micros), id.to_string()]))
    .map_err(db_error)?;
    let reservation = load_reservation(conn, id)?;
    record_event(
        conn,
        NewEvent::reservation(event_kind::RESERVATION_UPDATED, &reservation),
    )
}

/// Uses `take` units of an active reservation for a shipment: all of it
/// ends it as `consumed`, less lowers it. The units are given back to
/// `available`, for the shipment's issue to take in the same transaction.
pub(crate) fn consume(conn: &Connection, id: Uuid, quantity: i64, take: i64) -> Result<()> {
    if take >= quantity {
        end_reservation(conn, id, ReservationStatus::Consumed, "consume")?;
        return Ok(());
    }
    let (item_id, location_id) = place_of(conn, id)?;
    conn.prepare_cached(
        "UPDATE reservations SET quantity = quantity - ?1 WHERE id = ?2 AND status = 'active'",
    )
    .and_then(|mut stmt| stmt.execute(params![take, id.to_string()]))
    .map_err(db_error)?;
    unreserve(conn, &item_id, &location_id, take)?;
    let reservation = load_reservation(conn, id)?;
    record_event(
        conn,
        NewEvent::reservation(event_kind::RESERVATION_UPDATED, &reservation),
    )
}
