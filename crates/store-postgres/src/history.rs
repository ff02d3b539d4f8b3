//! Daily series over the ledger (`HistoryStore`). Each read is one
//! statement, so its figures come from one snapshot (the total now and
//! the later changes agree).
//!
//! A day is `(created_at AT TIME ZONE 'UTC')::DATE`. Every query over
//! movements starts at a `created_at` bound (`movements_created_at_idx`)
//! or names one item (`movements_item_id_seq_idx`). Stock value is summed
//! in NUMERIC, which is exact at any size, and read back as text into an
//! `i128`.

use crate::errors::db_error;
use chrono::{DateTime, NaiveDate, Utc};
use inventory_core::history::{end_of_day, per_day, DayFigure, Days, ValueHistory};
use inventory_core::{Error, Result};
use sqlx::{PgPool, Row};
use uuid::Uuid;

fn total(text: &str) -> Result<i128> {
    text.parse()
        .map_err(|e| Error::internal(format!("stock value '{text}': {e}")))
}

pub(crate) async fn movements_per_day(pool: &PgPool, days: Days) -> Result<Vec<DayFigure<i64>>> {
    let rows = sqlx::query(
        "SELECT (created_at AT TIME ZONE 'UTC')::DATE AS day, COUNT(*) AS n FROM movements \
         WHERE created_at >= $1 AND created_at < $2 GROUP BY 1",
    )
    .bind(days.start())
    .bind(days.end())
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    let sparse = rows
        .iter()
        .map(|r| Ok((r.try_get("day")?, r.try_get("n")?)))
        .collect::<std::result::Result<Vec<(NaiveDate, i64)>, sqlx::Error>>()
        .map_err(db_error)?;
    Ok(per_day(days, sparse))
}

const VALUE_NOW: &str = "SELECT COALESCE(SUM(on_hand::NUMERIC * unit_cost), 0)::TEXT \
     FROM items WHERE NOT archived AND on_hand > 0";

pub(crate) async fn stock_value(pool: &PgPool) -> Result<i128> {
    let text: String = sqlx::query_scalar(VALUE_NOW)
        .fetch_one(pool)
        .await
        .map_err(db_error)?;
    total(&text)
}

/// `(None, total now)` first, then `(day, Σ signed quantity × current unit
/// cost)` per day from `since` on (transfers change no total).
pub(crate) async fn stock_value_per_day(pool: &PgPool, days: Days) -> Result<ValueHistory> {
    let since: DateTime<Utc> = days.first_end();
    let rows = sqlx::query(
        "SELECT NULL::DATE AS day, COALESCE(SUM(on_hand::NUMERIC * unit_cost), 0)::TEXT AS value \
           FROM items WHERE NOT archived AND on_hand > 0 \
         UNION ALL \
         SELECT (m.created_at AT TIME ZONE 'UTC')::DATE, \
                SUM((CASE m.kind WHEN 'issue' THEN -m.quantity ELSE m.quantity END)::NUMERIC * i.unit_cost)::TEXT \
           FROM movements m JOIN items i ON i.id = m.item_id \
          WHERE m.created_at >= $1 AND m.kind <> 'transfer' GROUP BY 1",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    let mut now = None;
    let mut changes = Vec::with_capacity(rows.len());
    for r in &rows {
        let day: Option<NaiveDate> = r.try_get("day").map_err(db_error)?;
        let value = total(&r.try_get::<String, _>("value").map_err(db_error)?)?;
        match day {
            None => now = Some(value),
            Some(day) => changes.push((day, value)),
        }
    }
    let now = now.ok_or_else(|| Error::internal("no stock value row"))?;
    Ok(ValueHistory {
        now,
        days: end_of_day(days, now, changes),
    })
}

pub(crate) async fn item_stock_per_day(
    pool: &PgPool,
    item_id: Uuid,
    days: Days,
) -> Result<Vec<DayFigure<i64>>> {
    let rows = sqlx::query(
        "SELECT NULL::DATE AS day, on_hand AS quantity FROM items WHERE id = $1 \
         UNION ALL \
         SELECT (created_at AT TIME ZONE 'UTC')::DATE, \
                SUM(CASE kind WHEN 'issue' THEN -quantity ELSE quantity END)::BIGINT \
           FROM movements WHERE item_id = $1 AND created_at >= $2 AND kind <> 'transfer' GROUP BY 1",
    )
    .bind(item_id)
    .bind(days.first_end())
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    let mut on_hand = None;
    let mut changes = Vec::with_capacity(rows.len());
    for r in &rows {
        let day: Option<NaiveDate> = r.try_get("day").map_err(db_error)?;
        let quantity: i64 = r.try_get("quantity").map_err(db_error)?;
        match day {
            None => on_hand = Some(quantity),
            Some(day) => changes.push((day, i128::from(quantity))),
        }
    }
    let on_hand = on_hand.ok_or(Error::NotFound("item"))?;
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
