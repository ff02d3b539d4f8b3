//! Writes. Each function runs on the writer thread inside the savepoint of
//! its job; returning an error rolls the job back.

use crate::rows::*;
use crate::{db_error, is_unique_violation};
use chrono::{DateTime, Utc};
use inventory_core::error::ConflictKind;
use inventory_core::model::*;
use inventory_core::store::{Created, Idempotency, StoredResponse};
use inventory_core::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

pub(crate) fn find_idempotent(
    conn: &Connection,
    user_id: Uuid,
    key: &str,
) -> Result<Option<StoredResponse>> {
    conn.prepare_cached("SELECT request_hash, status, body FROM idempotency_keys WHERE user_id = ?1 AND idem_key = ?2")
        .and_then(|mut stmt| {
            stmt.query_row(params![user_id.to_string(), key], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
            })
            .optional()
        })
        .map_err(db_error)?
        .map(|(request_hash, status, body)| {
            Ok(StoredResponse {
                request_hash,
                status: u16::try_from(status).map_err(Error::internal)?,
                body,
            })
        })
        .transpose()
}

/// The response already recorded under this key, if any. A different
/// request under the same key is refused.
fn replay<T>(conn: &Connection, idem: &Option<Idempotency<T>>) -> Result<Option<StoredResponse>> {
    let Some(idem) = idem else { return Ok(None) };
    match find_idempotent(conn, idem.user_id, &idem.key)? {
        Some(stored) if stored.request_hash != idem.request_hash => Err(Error::IdempotencyMismatch),
        other => Ok(other),
    }
}

/// Records the response of a create under its key, in the create's transaction.
fn remember<T>(conn: &Connection, idem: &Option<Idempotency<T>>, value: &T) -> Result<()> {
    let Some(idem) = idem else { return Ok(()) };
    conn.prepare_cached(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status, body, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            idem.user_id.to_string(),
            idem.key,
            idem.request_hash,
            i64::from(idem.status),
            (idem.render)(value),
            micros(Utc::now()),
        ])
    })
    .map_err(db_error)?;
    Ok(())
}

/// Records a committed change in the change feed, in the change's transaction.
fn record_event<T: serde::Serialize>(
    conn: &Connection,
    kind: &str,
    entity_id: Uuid,
    data: &T,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (kind, entity_id, data, created_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            kind,
            entity_id.to_string(),
            serde_json::to_string(data).unwrap_or_else(|_| "null".into()),
            micros(Utc::now()),
        ])
    })
    .map_err(db_error)?;
    Ok(())
}

/// Drops sub-microsecond precision so that a value reads back as written.
fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros(t)).unwrap_or(t)
}

pub(crate) fn ensure_main_location(conn: &Connection) -> Result<()> {
    let now = micros(Utc::now());
    conn.execute(
        "INSERT INTO locations (id, code, name, created_at, updated_at) VALUES (?1, ?2, 'Main location', ?3, ?3) \
         ON CONFLICT (code) DO NOTHING",
        params![Uuid::now_v7().to_string(), MAIN_LOCATION, now],
    )
    .map_err(db_error)?;
    Ok(())
}

pub(crate) fn create_user(
    conn: &Connection,
    username: String,
    password_hash: String,
    role: Role,
    idem: Option<Idempotency<User>>,
) -> Result<Created<User>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    let now = truncate(Utc::now());
    let user = User {
        id: Uuid::now_v7(),
        username,
        role,
        created_at: now,
    };
    conn.execute(
        "INSERT INTO users (id, username, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![user.id.to_string(), user.username, password_hash, role.as_str(), micros(now)],
    )
    .map_err(|e| match is_unique_violation(&e) {
        true => Error::conflict(
            ConflictKind::DuplicateUsername,
            format!("user '{}' already exists", user.username),
        ),
        false => db_error(e),
    })?;
    remember(conn, &idem, &user)?;
    Ok(Created::New(user))
}

fn duplicate_code(code: &str) -> Error {
    Error::conflict(
        ConflictKind::DuplicateLocationCode,
        format!("location code '{code}' is taken"),
    )
}

pub(crate) fn create_location(
    conn: &Connection,
    new: CreateLocation,
    idem: Option<Idempotency<Location>>,
) -> Result<Created<Location>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    let now = truncate(Utc::now());
    let loc = Location {
        id: Uuid::now_v7(),
        code: new.code,
        name: new.name,
        created_at: now,
        updated_at: now,
    };
    conn.execute(
        "INSERT INTO locations (id, code, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![loc.id.to_string(), loc.code, loc.name, micros(now)],
    )
    .map_err(|e| match is_unique_violation(&e) {
        true => duplicate_code(&loc.code),
        false => db_error(e),
    })?;
    remember(conn, &idem, &loc)?;
    Ok(Created::New(loc))
}

pub(crate) fn update_location(
    conn: &Connection,
    id: Uuid,
    patch: LocationPatch,
) -> Result<Location> {
    let mut loc = conn
        .query_row(
            "SELECT id, code, name, created_at, updated_at FROM locations WHERE id = ?1",
            params![id.to_string()],
            |r| Ok(location_from_row(r)),
        )
        .optional()
        .map_err(db_error)?
        .ok_or(Error::NotFound("location"))??;
    let was_main = loc.code == MAIN_LOCATION;
    patch.apply(&mut loc)?;
    if was_main && loc.code != MAIN_LOCATION {
        return Err(Error::invalid("code", "the MAIN location keeps its code"));
    }
    loc.updated_at = truncate(Utc::now());
    conn.execute(
        "UPDATE locations SET code = ?1, name = ?2, updated_at = ?3 WHERE id = ?4",
        params![loc.code, loc.name, micros(loc.updated_at), id.to_string()],
    )
    .map_err(|e| match is_unique_violation(&e) {
        true => duplicate_code(&loc.code),
        false => db_error(e),
    })?;
    Ok(loc)
}

pub(crate) fn create_item(
    conn: &Connection,
    new: NewItem,
    idem: Option<Idempotency<Item>>,
) -> Result<Created<Item>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    let now = truncate(Utc::now());
    let item = Item {
        id: Uuid::now_v7(),
        sku: new.sku,
        name: new.name,
        description: new.description,
        category: new.category,
        unit: new.unit,
        reorder_point: new.reorder_point,
        unit_cost: new.unit_cost,
        attributes: new.attributes,
        archived: false,
        on_hand: 0,
        reserved: 0,
        available: 0,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    conn.prepare_cached(
        "INSERT INTO items (id, sku, name, description, category, unit, reorder_point, unit_cost, attributes, \
         created_at, updated_at, sku_folded, name_folded) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            item.id.to_string(),
            item.sku,
            item.name,
            item.description,
            item.category,
            item.unit,
            item.reorder_point,
            item.unit_cost,
            serde_json::to_string(&item.attributes).unwrap_or_else(|_| "{}".into()),
            micros(now),
            item.sku.to_lowercase(),
            item.name.to_lowercase(),
        ])
    })
    .map_err(|e| match is_unique_violation(&e) {
        true => Error::conflict(
            ConflictKind::DuplicateSku,
            format!("an item with sku '{}' exists", item.sku),
        ),
        false => db_error(e),
    })?;
    record_event(conn, event_kind::ITEM_CREATED, item.id, &item)?;
    remember(conn, &idem, &item)?;
    Ok(Created::New(item))
}

pub(crate) fn load_item(conn: &Connection, id: Uuid) -> Result<Item> {
    conn.prepare_cached(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = ?1"))
        .and_then(|mut stmt| {
            stmt.query_row(params![id.to_string()], |r| Ok(item_from_row(r)))
                .optional()
        })
        .map_err(db_error)?
        .ok_or(Error::NotFound("item"))?
}

pub(crate) fn update_item(
    conn: &Connection,
    id: Uuid,
    patch: ItemPatch,
    if_version: Option<i64>,
) -> Result<Item> {
    let mut item = load_item(conn, id)?;
    if if_version.is_some_and(|v| v != item.version) {
        return Err(Error::PreconditionFailed);
    }
    patch.apply(&mut item)?;
    item.updated_at = truncate(Utc::now());
    // The version guard makes the update safe even without the single writer.
    let changed = conn
        .execute(
            "UPDATE items SET name = ?1, name_folded = ?2, description = ?3, category = ?4, unit = ?5, \
             reorder_point = ?6, unit_cost = ?7, attributes = ?8, updated_at = ?9, version = version + 1 \
             WHERE id = ?10 AND version = ?11",
            params![
                item.name,
                item.name.to_lowercase(),
                item.description,
                item.category,
                item.unit,
                item.reorder_point,
                item.unit_cost,
                serde_json::to_string(&item.attributes).unwrap_or_else(|_| "{}".into()),
                micros(item.updated_at),
                id.to_string(),
                item.version,
            ],
        )
        .map_err(db_error)?;
    if changed != 1 {
        return Err(Error::PreconditionFailed);
    }
    item.version += 1;
    record_event(conn, event_kind::ITEM_UPDATED, item.id, &item)?;
    Ok(item)
}

pub(crate) fn archive_item(conn: &Connection, id: Uuid, if_version: Option<i64>) -> Result<bool> {
    let item = load_item(conn, id)?;
    if if_version.is_some_and(|v| v != item.version) {
        return Err(Error::PreconditionFailed);
    }
    if item.archived {
        return Ok(false);
    }
    let changed = conn
        .execute(
            "UPDATE items SET archived = 1, version = version + 1, updated_at = ?1 \
             WHERE id = ?2 AND on_hand = 0 AND reserved = 0",
            params![micros(Utc::now()), id.to_string()],
        )
        .map_err(db_error)?;
    if changed != 1 {
        return Err(Error::conflict(
            ConflictKind::ItemHasStock,
            format!(
                "item '{}' still holds {} on hand; issue or adjust it to zero first",
                item.sku, item.on_hand
            ),
        ));
    }
    let archived = load_item(conn, id)?;
    record_event(conn, event_kind::ITEM_ARCHIVED, id, &archived)?;
    Ok(true)
}

fn location_id(conn: &Connection, field: &str, code: &str) -> Result<String> {
    conn.prepare_cached("SELECT id FROM locations WHERE code = ?1")
        .and_then(|mut stmt| stmt.query_row(params![code], |r| r.get(0)).optional())
        .map_err(db_error)?
        .ok_or_else(|| Error::invalid(field, format!("unknown location '{code}'")))
}

fn apply_one(conn: &Connection, m: NewMovement, actor: &Actor) -> Result<MovementResult> {
    let item_id = m.item_id.to_string();
    let (sku, archived): (String, bool) = conn
        .prepare_cached("SELECT sku, archived FROM items WHERE id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row(params![item_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db_error)?
        .ok_or_else(|| Error::invalid("item_id", "no item has this id"))?;
    if archived {
        return Err(Error::conflict(
            ConflictKind::ItemArchived,
            format!("item '{sku}' is archived and takes no movements"),
        ));
    }

    // Each balance statement returns the row it left, so the response needs
    // no second read.
    let (mut location_ids, mut locations, mut net) = (Vec::new(), Vec::new(), 0i64);
    for (code, delta) in m.deltas() {
        let field = match (m.kind, delta < 0) {
            (MovementKind::Transfer, true) => "from_location",
            (MovementKind::Transfer, false) => "to_location",
            _ => "location",
        };
        let loc = location_id(conn, field, code)?;
        let (on_hand, reserved): (i64, i64) = if delta < 0 {
            // The guard: the balance only falls if enough is available.
            let row = conn
                .prepare_cached(
                    "UPDATE stock SET on_hand = on_hand + ?1 WHERE item_id = ?2 AND location_id = ?3 \
                     AND on_hand - reserved >= -?1 RETURNING on_hand, reserved",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(params![delta, item_id, loc], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(db_error)?;
            match row {
                Some(balance) => balance,
                None => {
                    let available: Option<i64> = conn
                        .prepare_cached("SELECT on_hand - reserved FROM stock WHERE item_id = ?1 AND location_id = ?2")
                        .and_then(|mut stmt| stmt.query_row(params![item_id, loc], |r| r.get(0)).optional())
                        .map_err(db_error)?;
                    return Err(Error::InsufficientStock {
                        location: code.to_owned(),
                        available: available.unwrap_or(0),
                        requested: -delta,
                    });
                }
            }
        } else {
            conn.prepare_cached(
                "INSERT INTO stock (item_id, location_id, on_hand) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (item_id, location_id) DO UPDATE SET on_hand = on_hand + excluded.on_hand \
                 RETURNING on_hand, reserved",
            )
            .and_then(|mut stmt| stmt.query_row(params![item_id, loc, delta], |r| Ok((r.get(0)?, r.get(1)?))))
            .map_err(db_error)?
        };
        locations.push(LocationBalance {
            location: code.to_owned(),
            on_hand,
            reserved,
            available: on_hand - reserved,
        });
        net += delta;
        location_ids.push((code.to_owned(), loc));
    }
    let (on_hand, reserved): (i64, i64) = conn
        .prepare_cached(
            "UPDATE items SET on_hand = on_hand + ?1 WHERE id = ?2 RETURNING on_hand, reserved",
        )
        .and_then(|mut stmt| stmt.query_row(params![net, item_id], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(db_error)?;

    let now = truncate(Utc::now());
    let id = Uuid::now_v7();
    let loc_of = |field: &Option<String>| {
        field.as_ref().and_then(|code| {
            location_ids
                .iter()
                .find(|(c, _)| c == code)
                .map(|(_, id)| id.clone())
        })
    };
    let seq: i64 = conn
        .prepare_cached(
            "INSERT INTO movements (id, item_id, kind, quantity, location_id, from_location_id, to_location_id, \
             reason, reference, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             RETURNING seq",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    id.to_string(),
                    item_id,
                    m.kind.as_str(),
                    m.quantity,
                    loc_of(&m.location),
                    loc_of(&m.from_location),
                    loc_of(&m.to_location),
                    m.reason,
                    m.reference,
                    actor.username,
                    micros(now),
                ],
                |r| r.get(0),
            )
        })
        .map_err(db_error)?;

    let result = MovementResult {
        movement: Movement {
            id,
            seq,
            item_id: m.item_id,
            kind: m.kind,
            quantity: m.quantity,
            location: m.location,
            from_location: m.from_location,
            to_location: m.to_location,
            reason: m.reason,
            reference: m.reference,
            created_by: actor.username.clone(),
            created_at: now,
        },
        balances: ItemBalances {
            item_id: m.item_id,
            sku,
            on_hand,
            reserved,
            available: on_hand - reserved,
            locations,
        },
    };
    record_event(
        conn,
        event_kind::MOVEMENT_CREATED,
        result.movement.id,
        &result,
    )?;
    Ok(result)
}

pub(crate) fn apply_movements(
    conn: &Connection,
    movements: Vec<NewMovement>,
    actor: Actor,
    idem: Option<Idempotency<Vec<MovementResult>>>,
) -> Result<Created<Vec<MovementResult>>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    let mut results = Vec::with_capacity(movements.len());
    for (index, m) in movements.into_iter().enumerate() {
        results.push(apply_one(conn, m, &actor).map_err(|e| e.at_index(index))?);
    }
    remember(conn, &idem, &results)?;
    Ok(Created::New(results))
}
