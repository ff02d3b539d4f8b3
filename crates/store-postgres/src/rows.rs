//! Row decoding. UUIDs are `UUID`, timestamps `TIMESTAMPTZ` (microseconds),
//! attributes JSON text kept byte for byte.

use chrono::{DateTime, Utc};
use inventory_core::model::*;
use inventory_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, Row, Type};

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

/// Drops sub-microsecond precision so that a value reads back as written.
pub(crate) fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

pub(crate) fn get<'r, T>(r: &'r PgRow, col: &str) -> Result<T>
where
    T: Decode<'r, Postgres> + Type<Postgres>,
{
    r.try_get(col)
        .map_err(|e| Error::internal(format!("cannot decode column {col}: {e}")))
}

pub(crate) const USER_COLUMNS: &str = "id, username, role, display_name, email, disabled, \
     must_change_password, created_at, updated_at";

pub(crate) fn user_from_row(r: &PgRow) -> Result<User> {
    let role: String = get(r, "role")?;
    Ok(User {
        id: get(r, "id")?,
        username: get(r, "username")?,
        role: Role::parse(&role).ok_or_else(|| Error::internal(format!("unknown role {role}")))?,
        display_name: get(r, "display_name")?,
        email: get(r, "email")?,
        disabled: get(r, "disabled")?,
        must_change_password: get(r, "must_change_password")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

pub(crate) fn location_from_row(r: &PgRow) -> Result<Location> {
    Ok(Location {
        id: get(r, "id")?,
        code: get(r, "code")?,
        name: get(r, "name")?,
        is_default: get(r, "is_default")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

pub(crate) fn item_from_row(r: &PgRow) -> Result<Item> {
    let attributes: String = get(r, "attributes")?;
    let on_hand: i64 = get(r, "on_hand")?;
    let reserved: i64 = get(r, "reserved")?;
    Ok(Item {
        id: get(r, "id")?,
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
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

pub(crate) fn movement_from_row(r: &PgRow) -> Result<Movement> {
    let kind: String = get(r, "kind")?;
    Ok(Movement {
        id: get(r, "id")?,
        seq: get(r, "seq")?,
        item_id: get(r, "item_id")?,
        sku: get(r, "sku")?,
        kind: MovementKind::parse(&kind)
            .ok_or_else(|| Error::internal(format!("unknown kind {kind}")))?,
        quantity: get(r, "quantity")?,
        location: get(r, "location")?,
        from_location: get(r, "from_location")?,
        to_location: get(r, "to_location")?,
        reason: get(r, "reason")?,
        reference: get(r, "reference")?,
        reverses: get(r, "reverses")?,
        reversed_by: get(r, "reversed_by")?,
        created_by: get(r, "created_by")?,
        created_at: get(r, "created_at")?,
    })
}

pub(crate) fn balance_from_row(r: &PgRow) -> Result<LocationBalance> {
    let code: String = get(r, "code")?;
    Ok(LocationBalance::new(
        code,
        get(r, "on_hand")?,
        get(r, "reserved")?,
    ))
}

pub(crate) fn event_from_row(r: &PgRow) -> Result<Event> {
    let data: String = get(r, "data")?;
    Ok(Event {
        id: get(r, "id")?,
        kind: get(r, "kind")?,
        entity_id: get(r, "entity_id")?,
        data: serde_json::from_str(&data).map_err(Error::internal)?,
        created_at: get(r, "created_at")?,
    })
}
