//! Row decoding. UUIDs are stored as text, timestamps as microseconds.

use chrono::{DateTime, Utc};
use inventory_core::model::*;
use inventory_core::{Error, Result};
use rusqlite::types::FromSql;
use rusqlite::Row;
use uuid::Uuid;

pub(crate) const ITEM_COLUMNS: &str =
    "id, sku, name, description, category, unit, reorder_point, unit_cost, \
     attributes, archived, on_hand, reserved, version, created_at, updated_at";

pub(crate) const MOVEMENT_SELECT: &str = "SELECT m.seq, m.id, m.item_id, m.kind, m.quantity, \
     l.code AS location, lf.code AS from_location, lt.code AS to_location, m.reason, m.reference, \
     m.created_by, m.created_at FROM movements m \
     LEFT JOIN locations l ON l.id = m.location_id \
     LEFT JOIN locations lf ON lf.id = m.from_location_id \
     LEFT JOIN locations lt ON lt.id = m.to_location_id";

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

pub(crate) fn uuid(r: &Row<'_>, col: &str) -> Result<Uuid> {
    let s: String = get(r, col)?;
    Uuid::parse_str(&s).map_err(Error::internal)
}

pub(crate) fn user_from_row(r: &Row<'_>) -> Result<User> {
    let role: String = get(r, "role")?;
    Ok(User {
        id: uuid(r, "id")?,
        username: get(r, "username")?,
        role: Role::parse(&role).ok_or_else(|| Error::internal(format!("unknown role {role}")))?,
        created_at: time(r, "created_at")?,
    })
}

pub(crate) fn location_from_row(r: &Row<'_>) -> Result<Location> {
    Ok(Location {
        id: uuid(r, "id")?,
        code: get(r, "code")?,
        name: get(r, "name")?,
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
        unit: get(r, "unit")?,
        reorder_point: get(r, "reorder_point")?,
        unit_cost: get(r, "unit_cost")?,
        attributes: serde_json::from_str(&attributes).map_err(Error::internal)?,
        archived: get(r, "archived")?,
        on_hand,
        reserved,
        available: on_hand - reserved,
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
        kind: MovementKind::parse(&kind)
            .ok_or_else(|| Error::internal(format!("unknown kind {kind}")))?,
        quantity: get(r, "quantity")?,
        location: get(r, "location")?,
        from_location: get(r, "from_location")?,
        to_location: get(r, "to_location")?,
        reason: get(r, "reason")?,
        reference: get(r, "reference")?,
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
