//! Writes. Each function runs on the writer connection inside the savepoint
//! of its job; returning an error rolls the job back.

use crate::rows::*;
use crate::{db_error, is_unique_violation};
use chrono::{DateTime, Utc};
use inventory_core::error::ConflictKind;
use inventory_core::model::*;
use inventory_core::store::{Created, Idempotency, StoredResponse};
use inventory_core::{Error, Result};
use sqlx::sqlite::SqliteConnection;
use sqlx::{Executor, Row, Sqlite};
use uuid::Uuid;

pub(crate) async fn find_idempotent_in<'e, E: Executor<'e, Database = Sqlite>>(
    db: E,
    user_id: Uuid,
    key: &str,
) -> Result<Option<StoredResponse>> {
    let row = sqlx::query("SELECT request_hash, status, body FROM idempotency_keys WHERE user_id = ? AND idem_key = ?")
        .bind(user_id.to_string())
        .bind(key)
        .fetch_optional(db)
        .await
        .map_err(db_error)?;
    row.map(|r| {
        let status: i64 = r.try_get("status").map_err(Error::internal)?;
        Ok(StoredResponse {
            request_hash: r.try_get("request_hash").map_err(Error::internal)?,
            status: u16::try_from(status).map_err(Error::internal)?,
            body: r.try_get("body").map_err(Error::internal)?,
        })
    })
    .transpose()
}

/// The response already recorded under this key, if any. A different
/// request under the same key is refused.
async fn replay<T>(
    conn: &mut SqliteConnection,
    idem: &Option<Idempotency<T>>,
) -> Result<Option<StoredResponse>> {
    let Some(idem) = idem else { return Ok(None) };
    match find_idempotent_in(&mut *conn, idem.user_id, &idem.key).await? {
        Some(stored) if stored.request_hash != idem.request_hash => Err(Error::IdempotencyMismatch),
        other => Ok(other),
    }
}

/// Records the response of a create under its key, in the create's transaction.
async fn remember<T>(
    conn: &mut SqliteConnection,
    idem: &Option<Idempotency<T>>,
    value: &T,
) -> Result<()> {
    let Some(idem) = idem else { return Ok(()) };
    sqlx::query(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(idem.user_id.to_string())
    .bind(&idem.key)
    .bind(&idem.request_hash)
    .bind(i64::from(idem.status))
    .bind((idem.render)(value))
    .bind(micros(Utc::now()))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn ensure_main_location(conn: &mut SqliteConnection) -> Result<()> {
    let now = micros(Utc::now());
    sqlx::query(
        "INSERT INTO locations (id, code, name, created_at, updated_at) VALUES (?, ?, 'Main location', ?, ?) \
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(MAIN_LOCATION)
    .bind(now)
    .bind(now)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn create_user(
    conn: &mut SqliteConnection,
    username: String,
    password_hash: String,
    role: Role,
    idem: Option<Idempotency<User>>,
) -> Result<Created<User>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    let now = Utc::now();
    let user = User {
        id: Uuid::now_v7(),
        username,
        role,
        created_at: DateTime::from_timestamp_micros(micros(now)).unwrap_or(now),
    };
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(user.id.to_string())
    .bind(&user.username)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(micros(now))
    .execute(&mut *conn)
    .await
    .map_err(|e| match is_unique_violation(&e) {
        true => Error::conflict(
            ConflictKind::DuplicateUsername,
            format!("user '{}' already exists", user.username),
        ),
        false => db_error(e),
    })?;
    remember(conn, &idem, &user).await?;
    Ok(Created::New(user))
}

fn duplicate_code(code: &str) -> Error {
    Error::conflict(
        ConflictKind::DuplicateLocationCode,
        format!("location code '{code}' is taken"),
    )
}

pub(crate) async fn create_location(
    conn: &mut SqliteConnection,
    new: CreateLocation,
    idem: Option<Idempotency<Location>>,
) -> Result<Created<Location>> {
    if let Some(stored) = replay(conn, &idem).await? {
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
    sqlx::query(
        "INSERT INTO locations (id, code, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(loc.id.to_string())
    .bind(&loc.code)
    .bind(&loc.name)
    .bind(micros(now))
    .bind(micros(now))
    .execute(&mut *conn)
    .await
    .map_err(|e| match is_unique_violation(&e) {
        true => duplicate_code(&loc.code),
        false => db_error(e),
    })?;
    remember(conn, &idem, &loc).await?;
    Ok(Created::New(loc))
}

pub(crate) async fn update_location(
    conn: &mut SqliteConnection,
    id: Uuid,
    patch: LocationPatch,
) -> Result<Location> {
    let row =
        sqlx::query("SELECT id, code, name, created_at, updated_at FROM locations WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?
            .ok_or(Error::NotFound("location"))?;
    let mut loc = location_from_row(&row)?;
    let was_main = loc.code == MAIN_LOCATION;
    patch.apply(&mut loc)?;
    if was_main && loc.code != MAIN_LOCATION {
        return Err(Error::invalid("code", "the MAIN location keeps its code"));
    }
    loc.updated_at = truncate(Utc::now());
    sqlx::query("UPDATE locations SET code = ?, name = ?, updated_at = ? WHERE id = ?")
        .bind(&loc.code)
        .bind(&loc.name)
        .bind(micros(loc.updated_at))
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(|e| match is_unique_violation(&e) {
            true => duplicate_code(&loc.code),
            false => db_error(e),
        })?;
    Ok(loc)
}

/// Drops sub-microsecond precision so that a value reads back as written.
fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros(t)).unwrap_or(t)
}

pub(crate) async fn create_item(
    conn: &mut SqliteConnection,
    new: NewItem,
    idem: Option<Idempotency<Item>>,
) -> Result<Created<Item>> {
    if let Some(stored) = replay(conn, &idem).await? {
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
    sqlx::query(
        "INSERT INTO items (id, sku, name, description, category, unit, reorder_point, unit_cost, attributes, \
         created_at, updated_at, sku_folded, name_folded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(item.id.to_string())
    .bind(&item.sku)
    .bind(&item.name)
    .bind(&item.description)
    .bind(&item.category)
    .bind(&item.unit)
    .bind(item.reorder_point)
    .bind(item.unit_cost)
    .bind(serde_json::to_string(&item.attributes).map_err(Error::internal)?)
    .bind(micros(now))
    .bind(micros(now))
    .bind(item.sku.to_lowercase())
    .bind(item.name.to_lowercase())
    .execute(&mut *conn)
    .await
    .map_err(|e| match is_unique_violation(&e) {
        true => Error::conflict(ConflictKind::DuplicateSku, format!("an item with sku '{}' exists", item.sku)),
        false => db_error(e),
    })?;
    remember(conn, &idem, &item).await?;
    Ok(Created::New(item))
}

async fn load_item(conn: &mut SqliteConnection, id: Uuid) -> Result<Item> {
    let row = sqlx::query(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = ?"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .ok_or(Error::NotFound("item"))?;
    item_from_row(&row)
}

pub(crate) async fn update_item(
    conn: &mut SqliteConnection,
    id: Uuid,
    patch: ItemPatch,
    if_version: Option<i64>,
) -> Result<Item> {
    let mut item = load_item(conn, id).await?;
    if if_version.is_some_and(|v| v != item.version) {
        return Err(Error::PreconditionFailed);
    }
    patch.apply(&mut item)?;
    item.updated_at = truncate(Utc::now());
    // The version guard makes the update safe even without the single writer.
    let done = sqlx::query(
        "UPDATE items SET name = ?, name_folded = ?, description = ?, category = ?, unit = ?, reorder_point = ?, \
         unit_cost = ?, attributes = ?, updated_at = ?, version = version + 1 WHERE id = ? AND version = ?",
    )
    .bind(&item.name)
    .bind(item.name.to_lowercase())
    .bind(&item.description)
    .bind(&item.category)
    .bind(&item.unit)
    .bind(item.reorder_point)
    .bind(item.unit_cost)
    .bind(serde_json::to_string(&item.attributes).map_err(Error::internal)?)
    .bind(micros(item.updated_at))
    .bind(id.to_string())
    .bind(item.version)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    if done.rows_affected() != 1 {
        return Err(Error::PreconditionFailed);
    }
    item.version += 1;
    Ok(item)
}

pub(crate) async fn archive_item(
    conn: &mut SqliteConnection,
    id: Uuid,
    if_version: Option<i64>,
) -> Result<bool> {
    let item = load_item(conn, id).await?;
    if if_version.is_some_and(|v| v != item.version) {
        return Err(Error::PreconditionFailed);
    }
    if item.archived {
        return Ok(false);
    }
    let done = sqlx::query(
        "UPDATE items SET archived = 1, version = version + 1, updated_at = ? WHERE id = ? AND on_hand = 0 AND reserved = 0",
    )
    .bind(micros(Utc::now()))
    .bind(id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    if done.rows_affected() != 1 {
        return Err(Error::conflict(
            ConflictKind::ItemHasStock,
            format!(
                "item '{}' still holds {} on hand; issue or adjust it to zero first",
                item.sku, item.on_hand
            ),
        ));
    }
    Ok(true)
}

async fn location_id(conn: &mut SqliteConnection, field: &str, code: &str) -> Result<String> {
    sqlx::query_scalar("SELECT id FROM locations WHERE code = ?")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::invalid(field, format!("unknown location '{code}'")))
}

async fn apply_one(
    conn: &mut SqliteConnection,
    m: NewMovement,
    actor: &Actor,
) -> Result<MovementResult> {
    let item_id = m.item_id.to_string();
    let row = sqlx::query("SELECT sku, archived FROM items WHERE id = ?")
        .bind(&item_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::invalid("item_id", "no item has this id"))?;
    let sku: String = row.try_get("sku").map_err(Error::internal)?;
    if row
        .try_get::<bool, _>("archived")
        .map_err(Error::internal)?
    {
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
        let loc = location_id(conn, field, code).await?;
        let balance = if delta < 0 {
            // The guard: the balance only falls if enough is available.
            let row = sqlx::query(
                "UPDATE stock SET on_hand = on_hand + ?1 WHERE item_id = ?2 AND location_id = ?3 \
                 AND on_hand - reserved >= -?1 RETURNING on_hand, reserved",
            )
            .bind(delta)
            .bind(&item_id)
            .bind(&loc)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
            match row {
                Some(row) => row,
                None => {
                    let available: Option<i64> = sqlx::query_scalar(
                        "SELECT on_hand - reserved FROM stock WHERE item_id = ? AND location_id = ?",
                    )
                    .bind(&item_id)
                    .bind(&loc)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_error)?;
                    return Err(Error::InsufficientStock {
                        location: code.to_owned(),
                        available: available.unwrap_or(0),
                        requested: -delta,
                    });
                }
            }
        } else {
            sqlx::query(
                "INSERT INTO stock (item_id, location_id, on_hand) VALUES (?, ?, ?) \
                 ON CONFLICT (item_id, location_id) DO UPDATE SET on_hand = on_hand + excluded.on_hand \
                 RETURNING on_hand, reserved",
            )
            .bind(&item_id)
            .bind(&loc)
            .bind(delta)
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?
        };
        let (on_hand, reserved): (i64, i64) = (
            balance.try_get("on_hand").map_err(Error::internal)?,
            balance.try_get("reserved").map_err(Error::internal)?,
        );
        locations.push(LocationBalance {
            location: code.to_owned(),
            on_hand,
            reserved,
            available: on_hand - reserved,
        });
        net += delta;
        location_ids.push((code.to_owned(), loc));
    }
    let totals = sqlx::query(
        "UPDATE items SET on_hand = on_hand + ? WHERE id = ? RETURNING on_hand, reserved",
    )
    .bind(net)
    .bind(&item_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    let on_hand: i64 = totals.try_get("on_hand").map_err(Error::internal)?;
    let reserved: i64 = totals.try_get("reserved").map_err(Error::internal)?;

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
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO movements (id, item_id, kind, quantity, location_id, from_location_id, to_location_id, \
         reason, reference, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
    )
    .bind(id.to_string())
    .bind(&item_id)
    .bind(m.kind.as_str())
    .bind(m.quantity)
    .bind(loc_of(&m.location))
    .bind(loc_of(&m.from_location))
    .bind(loc_of(&m.to_location))
    .bind(&m.reason)
    .bind(&m.reference)
    .bind(&actor.username)
    .bind(micros(now))
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;

    Ok(MovementResult {
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
    })
}

pub(crate) async fn apply_movements(
    conn: &mut SqliteConnection,
    movements: Vec<NewMovement>,
    actor: Actor,
    idem: Option<Idempotency<Vec<MovementResult>>>,
) -> Result<Created<Vec<MovementResult>>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    let mut results = Vec::with_capacity(movements.len());
    for (index, m) in movements.into_iter().enumerate() {
        results.push(
            apply_one(conn, m, &actor)
                .await
                .map_err(|e| e.at_index(index))?,
        );
    }
    remember(conn, &idem, &results).await?;
    Ok(Created::New(results))
}
