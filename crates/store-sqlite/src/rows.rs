//! Row decoding. UUIDs are stored as text, timestamps as microseconds.

use crate::errors::db_error;
use chrono::{DateTime, Utc};
use inventory_core::model::*;
use inventory_core::{Error, Result};
use rusqlite::types::{FromSql, Value as SqlValue};
use rusqlite::{params_from_iter, Connection, Row};
use uuid::Uuid;

pub(crate) const ITEM_COLUMNS: &str =
    "id, sku, name, description, category, barcode, unit, reorder_point, unit_cost, \
     attributes, archived, on_hand, reserved, incoming, version, created_at, updated_at";

pub(crate) const LOCATION_COLUMNS: &str = "id, code, name, is_default, created_at, updated_at";

/// Movements with their item's SKU, their location codes and the reversal
/// that points back at them, if any.
pub(crate) const MOVEMENT_SELECT: &str =
    "SELECT m.seq, m.id, m.item_id, i.sku, m.kind, m.quantity, \
     l.code AS location, lf.code AS from_location, lt.code AS to_location, m.reason, m.reference, \
     m.reverses, r.id AS reversed_by, m.created_by, m.created_at FROM movements m \
     JOIN items i ON i.id = m.item_id \
     LEFT JOIN locations l ON l.id = m.location_id \
     LEFT JOIN locations lf ON lf.id = m.from_location_id \
     LEFT JOIN locations lt ON lt.id = m.to_location_id \
     LEFT JOIN movements r ON r.reverses = m.id";

/// A `LIKE` pattern matching `s` anywhere, its wildcards escaped (`ESCAPE '\\'`).
pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Runs a query built from constant fragments with bound values.
pub(crate) fn query_all<T>(
    conn: &Connection,
    sql: &str,
    values: Vec<SqlValue>,
    map: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_error)?;
    let mut rows = stmt.query(params_from_iter(values)).map_err(db_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db_error)? {
        out.push(map(row)?);
    }
    Ok(out)
}

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn get<T: FromSql>(r: &Row<'_>, col: &str) -> Result<T> {
    r.get(col).map_err(Error::internal)
}

pub(crate) fn time(r: &Row<'_>, col: &str) -> Result<DateTime<Utc>> {
    let us: i64 = get(r, col)?;
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| Error::internal(format!("bad timestamp in {col}")))
}

/// A nullable timestamp column.
pub(crate) fn opt_time(r: &Row<'_>, col: &str) -> Result<Option<DateTime<Utc>>> {
    match get::<Option<i64>>(r, col)? {
        Some(_) => time(r, col).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn uuid(r: &Row<'_>, col: &str) -> Result<Uuid> {
    let s: String = get(r, col)?;
    Uuid::parse_str(&s).map_err(Error::internal)
}

pub(crate) fn opt_uuid(r: &Row<'_>, col: &str) -> Result<Option<Uuid>> {
    let s: Option<String> = get(r, col)?;
    s.map(|s| Uuid::parse_str(&s).map_err(Error::internal))
        .transpose()
}

pub(crate) const USER_COLUMNS: &str = "id, username, role, display_name, email, disabled, \
     must_change_password, created_at, updated_at";

pub(crate) fn user_from_row(r: &Row<'_>) -> Result<User> {
    let role: String = get(r, "role")?;
    Ok(User {
        id: uuid(r, "id")?,
        username: get(r, "username")?,
        role: Role::parse(&role).ok_or_else(|| Error::internal(format!("unknown role {role}")))?,
        display_name: get(r, "display_name")?,
        email: get(r, "email")?,
        disabled: get(r, "disabled")?,
        must_change_password: get(r, "must_change_password")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

pub(crate) fn location_from_row(r: &Row<'_>) -> Result<Location> {
    Ok(Location {
        id: uuid(r, "id")?,
        code: get(r, "code")?,
        name: get(r, "name")?,
        is_default: get(r, "is_default")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

pub(crate) fn item_from_row(r: &Row<'_>) -> Result<Item> {
    let attributes: String = get(r, "attributes")?;
    let on_hand: i64 = get(r, "on_hand")?;
    let reserved: i64 = get(r, "reserved")?;
    Ok(Item {
        id: uuid(r, "id")?,
        sku: get(r, "sku")?,
        name: get(r, "name")?,
        description: get(r, "description")?,
        category: get(r, "category")?,
        barcode: get(r, "barcode")?,
        unit: get(r, "unit")?,
        reorder_point: get(r, "reorder_point")?,
        unit_cost: get(r, "unit_cost")?,
        attributes: serde_json::from_str(&attributes).map_err(Error::internal)?,
        archived: get(r, "archived")?,
        on_hand,
        reserved,
        available: on_hand - reserved,
        incoming: get(r, "incoming")?,
        version: get(r, "version")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

pub(crate) fn movement_from_row(r: &Row<'_>) -> Result<Movement> {
    let kind: String = get(r, "kind")?;
    Ok(Movement {
        id: uuid(r, "id")?,
        seq: get(r, "seq")?,
        item_id: uuid(r, "item_id")?,
        sku: get(r, "sku")?,
        kind: MovementKind::parse(&kind)
            .ok_or_else(|| Error::internal(format!("unknown kind {kind}")))?,
        quantity: get(r, "quantity")?,
        location: get(r, "location")?,
        from_location: get(r, "from_location")?,
        to_location: get(r, "to_location")?,
        reason: get(r, "reason")?,
        reference: get(r, "reference")?,
        reverses: opt_uuid(r, "reverses")?,
        reversed_by: opt_uuid(r, "reversed_by")?,
        created_by: get(r, "created_by")?,
        created_at: time(r, "created_at")?,
    })
}

pub(crate) fn event_from_row(r: &Row<'_>) -> Result<Event> {
    let data: String = get(r, "data")?;
    Ok(Event {
        id: get(r, "id")?,
        kind: get(r, "kind")?,
        entity_id: uuid(r, "entity_id")?,
        data: serde_json::from_str(&data).map_err(Error::internal)?,
        created_at: time(r, "created_at")?,
    })
}
