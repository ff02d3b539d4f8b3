//! Daily series over the ledger (`HistoryStore`). Each function runs on a
//! read connection; the caller wraps the ones that read twice in one read
//! transaction so that both reads see one snapshot.
//!
//! A day is `created_at / 86400000000` (`inventory_core::history::DAY_MICROS`):
//! timestamps are integer microseconds since the epoch, never negative.
//! Every query over movements starts at a `created_at` bound, so it walks
//! `movements_created_at_idx` (or, for one item, `movements_item_id_seq_idx`).
//!
//! Stock value is exact. SQLite's integers are 64-bit: a product past
//! `i64` becomes a REAL (inexact) and a SUM past it fails. So the value is
//! summed in SQL first (it fits unless one item holds more than about 922
//! trillion currency units of stock), and when an answer is not an integer
//! (or the statement fails) the same figures are summed again in Rust with
//! `i128`, row by row.

use crate::errors::db_error;
use crate::rows::micros;
use chrono::NaiveDate;
use inventory_core::history::{
    day_from_number, end_of_day, per_day, DayFigure, Days, ValueHistory,
};
use inventory_core::{Error, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, Params};
use uuid::Uuid;

fn day(n: i64) -> Result<NaiveDate> {
    day_from_number(n).ok_or_else(|| Error::internal(format!("day {n} is out of range")))
}

/// Runs a statement and maps every row.
fn rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    map: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

fn add(total: i128, more: i128) -> Result<i128> {
    total
        .checked_add(more)
        .ok_or_else(|| Error::internal("the stock value exceeds i128"))
}

pub(crate) fn movements_per_day(conn: &Connection, days: Days) -> Result<Vec<DayFigure<i64>>> {
    let counts = rows(
        conn,
        "SELECT created_at / 86400000000 AS day, COUNT(*) FROM movements \
         WHERE created_at >= ?1 AND created_at < ?2 GROUP BY day",
        params![micros(days.start()), micros(days.end())],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
    )
    .map_err(db_error)?;
    let sparse = counts
        .into_iter()
        .map(|(n, count)| Ok((day(n)?, count)))
        .collect::<Result<Vec<_>>>()?;
    Ok(per_day(days, sparse))
}

pub(crate) fn stock_value(conn: &Connection) -> Result<i128> {
    let fast = conn
        .prepare_cached(
            "SELECT SUM(on_hand * unit_cost) FROM items WHERE archived = 0 AND on_hand > 0",
        )
        .and_then(|mut s| s.query_row([], |r| r.get::<_, SqlValue>(0)));
    match fast {
        Ok(SqlValue::Null) => return Ok(0),
        Ok(SqlValue::Integer(v)) => return Ok(i128::from(v)),
        _ => {}
    }
    let products = rows(
        conn,
        "SELECT on_hand, unit_cost FROM items WHERE archived = 0 AND on_hand > 0",
        [],
        |r| Ok(i128::from(r.get::<_, i64>(0)?) * i128::from(r.get::<_, i64>(1)?)),
    )
    .map_err(db_error)?;
    products.into_iter().try_fold(0, add)
}

/// Per day from `since` on: Σ signed quantity × the item's current unit
/// cost (transfers change no total).
fn value_changes(conn: &Connection, since: i64) -> Result<Vec<(NaiveDate, i128)>> {
    let fast = rows(
        conn,
        "SELECT m.created_at / 86400000000 AS day, \
                SUM((CASE m.kind WHEN 'issue' THEN -m.quantity ELSE m.quantity END) * i.unit_cost) \
         FROM movements m JOIN items i ON i.id = m.item_id \
         WHERE m.created_at >= ?1 AND m.kind <> 'transfer' GROUP BY day",
        params![since],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, SqlValue>(1)?)),
    );
    if let Ok(fast) = fast {
        let exact: Option<Vec<(i64, i128)>> = fast
            .into_iter()
            .map(|(n, v)| match v {
                SqlValue::Integer(v) => Some((n, i128::from(v))),
                _ => None,
            })
            .collect();
        if let Some(exact) = exact {
            return exact.into_iter().map(|(n, v)| Ok((day(n)?, v))).collect();
        }
    }
    // Per day and item: the quantities sum in i64 (as on_hand does), the
    // products in i128.
    let per_item = rows(
        conn,
        "SELECT m.created_at / 86400000000 AS day, \
                SUM(CASE m.kind WHEN 'issue' THEN -m.quantity ELSE m.quantity END), i.unit_cost \
         FROM movements m JOIN items i ON i.id = m.item_id \
         WHERE m.created_at >= ?1 AND m.kind <> 'transfer' GROUP BY day, m.item_id",
        params![since],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                i128::from(r.get::<_, i64>(1)?) * i128::from(r.get::<_, i64>(2)?),
            ))
        },
    )
    .map_err(db_error)?;
    per_item
        .into_iter()
        .map(|(n, v)| Ok((day(n)?, v)))
        .collect()
}

/// Call inside one read transaction.
pub(crate) fn stock_value_per_day(conn: &Connection, days: Days) -> Result<ValueHistory> {
    let now = stock_value(conn)?;
    let changes = value_changes(conn, micros(days.first_end()))?;
    Ok(ValueHistory {
        now,
        days: end_of_day(days, now, changes),
    })
}

/// Call inside one read transaction.
pub(crate) fn item_stock_per_day(
    conn: &Connection,
    item_id: Uuid,
    days: Days,
) -> Result<Vec<DayFigure<i64>>> {
    let id = item_id.to_string();
    let on_hand: i64 = conn
        .prepare_cached("SELECT on_hand FROM items WHERE id = ?1")
        .and_then(|mut s| s.query_row(params![id], |r| r.get(0)).optional())
        .map_err(db_error)?
        .ok_or(Error::NotFound("item"))?;
    let changes = rows(
        conn,
        "SELECT created_at / 86400000000 AS day, \
                SUM(CASE kind WHEN 'issue' THEN -quantity ELSE quantity END) \
         FROM movements WHERE item_id = ?1 AND created_at >= ?2 AND kind <> 'transfer' GROUP BY day",
        params![id, micros(days.first_end())],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
    )
    .map_err(db_error)?
    .into_iter()
    .map(|(n, q)| Ok((day(n)?, i128::from(q))))
    .collect::<Result<Vec<_>>>()?;
    end_of_day(days, i128::from(on_hand), changes)
        .into_iter()
        .map(|f| {
            Ok(DayFigure {
                day: f.day,
                value: i64::try_from(f.value).map_err(Error::internal)?,
            })
        })
        .collect()
}
