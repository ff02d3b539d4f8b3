//! Writes. Each function runs on the writer connection inside the savepoint
//! of its job; returning an error rolls the job back.

use crate::errors::{db_error, unique_or};
use crate::rows::*;
use chrono::Utc;
use futures_util::future::BoxFuture;
use inventory_core::error::ConflictKind;
use inventory_core::model::*;
use inventory_core::store::{Created, Idempotency, StoredResponse};
use inventory_core::{Error, Result};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

pub(crate) async fn find_idempotent<'e, E>(
    conn: E,
    user_id: Uuid,
    key: &str,
) -> Result<Option<StoredResponse>>
where
    E: sqlx::PgExecutor<'e>,
{
    let row = sqlx::query(
        "SELECT request_hash, status, body FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(conn)
    .await
    .map_err(db_error)?;
    row.map(|r| {
        let status: i32 = get(&r, "status")?;
        Ok(StoredResponse {
            request_hash: get(&r, "request_hash")?,
            status: u16::try_from(status).map_err(Error::internal)?,
            body: get(&r, "body")?,
        })
    })
    .transpose()
}

/// The response already recorded under this key, if any. A different
/// request under the same key is refused.
async fn replay<T>(
    conn: &mut PgConnection,
    idem: &Option<Idempotency<T>>,
) -> Result<Option<StoredResponse>> {
    let Some(idem) = idem else { return Ok(None) };
    match find_idempotent(&mut *conn, idem.user_id, &idem.key).await? {
        Some(stored) if stored.request_hash != idem.request_hash => Err(Error::IdempotencyMismatch),
        other => Ok(other),
    }
}

/// Records the response of a create under its key, in the create's transaction.
async fn remember<T>(
    conn: &mut PgConnection,
    idem: &Option<Idempotency<T>>,
    value: &T,
) -> Result<()> {
    let Some(idem) = idem else { return Ok(()) };
    sqlx::query(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(idem.user_id)
    .bind(&idem.key)
    .bind(&idem.request_hash)
    .bind(i32::from(idem.status))
    .bind((idem.render)(value))
    .bind(truncate(Utc::now()))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Records a committed change in the change feed, in the change's transaction.
async fn record_event<T: serde::Serialize>(
    conn: &mut PgConnection,
    kind: &str,
    entity_id: Uuid,
    data: &T,
) -> Result<()> {
    record_events(conn, kind, std::slice::from_ref(data), |_| entity_id).await
}

/// Records several changes of one kind with one statement; their ids are
/// consecutive, in the order given.
async fn record_events<T: serde::Serialize>(
    conn: &mut PgConnection,
    kind: &str,
    changes: &[T],
    entity_id: impl Fn(&T) -> Uuid,
) -> Result<()> {
    let ids: Vec<Uuid> = changes.iter().map(&entity_id).collect();
    let data: Vec<String> = changes
        .iter()
        .map(|c| serde_json::to_string(c).unwrap_or_else(|_| "null".into()))
        .collect();
    sqlx::query(
        "WITH c AS (UPDATE event_counter SET value = value + $1 RETURNING value) \
         INSERT INTO events (id, kind, entity_id, data, created_at) \
         SELECT c.value - $1 + e.n, $2, e.entity_id, e.data, $5 \
         FROM c, unnest($3::uuid[], $4::text[]) WITH ORDINALITY AS e(entity_id, data, n)",
    )
    .bind(changes.len() as i64)
    .bind(kind)
    .bind(&ids)
    .bind(&data)
    .bind(truncate(Utc::now()))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(crate) fn ensure_main_location(conn: &mut PgConnection) -> BoxFuture<'_, Result<()>> {
    Box::pin(ensure_main(conn))
}

async fn ensure_main(conn: &mut PgConnection) -> Result<()> {
    sqlx::query(
        "INSERT INTO locations (id, code, name, created_at, updated_at) VALUES ($1, $2, 'Main location', $3, $3) \
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(MAIN_LOCATION)
    .bind(truncate(Utc::now()))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn create_user(
    conn: &mut PgConnection,
    username: String,
    password_hash: String,
    role: Role,
    idem: Option<Idempotency<User>>,
) -> Result<Created<User>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    let now = truncate(Utc::now());
    let user = User {
        id: Uuid::now_v7(),
        username,
        role,
        created_at: now,
    };
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user.id)
    .bind(&user.username)
    .bind(&password_hash)
    .bind(role.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        unique_or(e, ConflictKind::DuplicateUsername, || {
            format!("user '{}' already exists", user.username)
        })
    })?;
    remember(conn, &idem, &user).await?;
    Ok(Created::New(user))
}

fn duplicate_code(code: &str) -> String {
    format!("location code '{code}' is taken")
}

pub(crate) async fn create_location(
    conn: &mut PgConnection,
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
        "INSERT INTO locations (id, code, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(loc.id)
    .bind(&loc.code)
    .bind(&loc.name)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(|e| unique_or(e, ConflictKind::DuplicateLocationCode, || duplicate_code(&loc.code)))?;
    remember(conn, &idem, &loc).await?;
    Ok(Created::New(loc))
}

pub(crate) async fn update_location(
    conn: &mut PgConnection,
    id: Uuid,
    patch: LocationPatch,
) -> Result<Location> {
    // FOR UPDATE: another replica's writer cannot change it under us.
    let row = sqlx::query(&format!(
        "SELECT {LOCATION_COLUMNS} FROM locations WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
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
    sqlx::query("UPDATE locations SET code = $1, name = $2, updated_at = $3 WHERE id = $4")
        .bind(&loc.code)
        .bind(&loc.name)
        .bind(loc.updated_at)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            unique_or(e, ConflictKind::DuplicateLocationCode, || {
                duplicate_code(&loc.code)
            })
        })?;
    Ok(loc)
}

fn attributes_text(item: &Item) -> String {
    serde_json::to_string(&item.attributes).unwrap_or_else(|_| "{}".into())
}

pub(crate) async fn create_item(
    conn: &mut PgConnection,
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
         created_at, updated_at, sku_folded, name_folded) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12)",
    )
    .bind(item.id)
    .bind(&item.sku)
    .bind(&item.name)
    .bind(&item.description)
    .bind(&item.category)
    .bind(&item.unit)
    .bind(item.reorder_point)
    .bind(item.unit_cost)
    .bind(attributes_text(&item))
    .bind(now)
    .bind(item.sku.to_lowercase())
    .bind(item.name.to_lowercase())
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        unique_or(e, ConflictKind::DuplicateSku, || {
            format!("an item with sku '{}' exists", item.sku)
        })
    })?;
    record_event(conn, event_kind::ITEM_CREATED, item.id, &item).await?;
    remember(conn, &idem, &item).await?;
    Ok(Created::New(item))
}

/// Loads an item; with `lock`, holds its row until the transaction ends.
pub(crate) async fn load_item<'e, E>(conn: E, id: Uuid, lock: bool) -> Result<Item>
where
    E: sqlx::PgExecutor<'e>,
{
    let sql = if lock {
        format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = $1 FOR UPDATE")
    } else {
        format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = $1")
    };
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(db_error)?
        .ok_or(Error::NotFound("item"))?;
    item_from_row(&row)
}

pub(crate) async fn update_item(
    conn: &mut PgConnection,
    id: Uuid,
    patch: ItemPatch,
    if_version: Option<i64>,
) -> Result<Item> {
    let mut item = load_item(&mut *conn, id, false).await?;
    if if_version.is_some_and(|v| v != item.version) {
        return Err(Error::PreconditionFailed);
    }
    patch.apply(&mut item)?;
    item.updated_at = truncate(Utc::now());
    // The version guard makes the update safe across replicas: a concurrent
    // change bumps the version and this statement then changes nothing.
    let row = sqlx::query(
        "UPDATE items SET name = $1, name_folded = $2, description = $3, category = $4, unit = $5, \
         reorder_point = $6, unit_cost = $7, attributes = $8, updated_at = $9, version = version + 1 \
         WHERE id = $10 AND version = $11 RETURNING on_hand, reserved, archived",
    )
    .bind(&item.name)
    .bind(item.name.to_lowercase())
    .bind(&item.description)
    .bind(&item.category)
    .bind(&item.unit)
    .bind(item.reorder_point)
    .bind(item.unit_cost)
    .bind(attributes_text(&item))
    .bind(item.updated_at)
    .bind(id)
    .bind(item.version)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?
    .ok_or(Error::PreconditionFailed)?;
    // Stock may have moved meanwhile (stock changes keep the version).
    item.on_hand = row.try_get("on_hand").map_err(Error::internal)?;
    item.reserved = row.try_get("reserved").map_err(Error::internal)?;
    item.archived = row.try_get("archived").map_err(Error::internal)?;
    item.available = item.on_hand - item.reserved;
    item.version += 1;
    record_event(conn, event_kind::ITEM_UPDATED, item.id, &item).await?;
    Ok(item)
}

pub(crate) async fn archive_item(
    conn: &mut PgConnection,
    id: Uuid,
    if_version: Option<i64>,
) -> Result<bool> {
    let item = load_item(&mut *conn, id, true).await?;
    if if_version.is_some_and(|v| v != item.version) {
        return Err(Error::PreconditionFailed);
    }
    if item.archived {
        return Ok(false);
    }
    let changed = sqlx::query(
        "UPDATE items SET archived = TRUE, version = version + 1, updated_at = $1 \
         WHERE id = $2 AND on_hand = 0 AND reserved = 0",
    )
    .bind(truncate(Utc::now()))
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?
    .rows_affected();
    if changed != 1 {
        return Err(Error::conflict(
            ConflictKind::ItemHasStock,
            format!(
                "item '{}' still holds {} on hand; issue or adjust it to zero first",
                item.sku, item.on_hand
            ),
        ));
    }
    let archived = load_item(&mut *conn, id, false).await?;
    record_event(conn, event_kind::ITEM_ARCHIVED, id, &archived).await?;
    Ok(true)
}

/// Why `inventory_apply_movements` refused a movement, as an error.
fn refusal(row: &sqlx::postgres::PgRow, requested: i64) -> Result<Error> {
    let refusal: String = get(row, "o_refusal")?;
    let field: Option<String> = get(row, "o_field")?;
    let code: Option<String> = get(row, "o_code")?;
    let sku: Option<String> = get(row, "o_sku")?;
    let code = code.unwrap_or_default();
    Ok(match refusal.as_str() {
        "no_item" => Error::invalid("item_id", "no item has this id"),
        "archived" => Error::conflict(
            ConflictKind::ItemArchived,
            format!(
                "item '{}' is archived and takes no movements",
                sku.unwrap_or_default()
            ),
        ),
        "no_location" => Error::invalid(
            field.unwrap_or_else(|| "location".into()),
            format!("unknown location '{code}'"),
        ),
        "insufficient" => Error::InsufficientStock {
            location: code,
            available: get::<Option<i64>>(row, "o_available")?.unwrap_or(0),
            requested,
        },
        other => Error::internal(format!("unknown refusal '{other}'")),
    })
}

/// Applies movements with one call of the `inventory_apply_movements`
/// function (see the migration): one result per movement, in order, a
/// refusal as its error. `independent`: the movements are separate requests
/// and a refusal skips only its own; otherwise they are one request's and
/// the results end at the first refusal. The outer error is a database
/// failure. Events are the caller's to record.
pub(crate) async fn apply_batch(
    conn: &mut PgConnection,
    movements: Vec<(NewMovement, String)>,
    independent: bool,
) -> Result<Vec<Result<MovementResult>>> {
    let now = truncate(Utc::now());
    let ids: Vec<Uuid> = movements.iter().map(|_| Uuid::now_v7()).collect();
    let (mut delta_of, mut codes, mut fields, mut deltas) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut requested = vec![0i64; movements.len()];
    for (i, (m, _)) in movements.iter().enumerate() {
        for (code, delta) in m.deltas() {
            let field = match (m.kind, delta < 0) {
                (MovementKind::Transfer, true) => "from_location",
                (MovementKind::Transfer, false) => "to_location",
                _ => "location",
            };
            delta_of.push(i as i32 + 1);
            codes.push(code.to_owned());
            fields.push(field);
            deltas.push(delta);
            if delta < 0 {
                requested[i] = -delta;
            }
        }
    }
    let column = |f: fn(&NewMovement) -> Option<String>| {
        movements.iter().map(|(m, _)| f(m)).collect::<Vec<_>>()
    };
    let rows = sqlx::query(
        "SELECT * FROM inventory_apply_movements($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&ids)
    .bind(movements.iter().map(|(m, _)| m.item_id).collect::<Vec<_>>())
    .bind(movements.iter().map(|(m, _)| m.kind.as_str()).collect::<Vec<_>>())
    .bind(movements.iter().map(|(m, _)| m.quantity).collect::<Vec<_>>())
    .bind(column(|m| m.location.clone()))
    .bind(column(|m| m.from_location.clone()))
    .bind(column(|m| m.to_location.clone()))
    .bind(column(|m| m.reason.clone()))
    .bind(column(|m| m.reference.clone()))
    .bind(&delta_of)
    .bind(&codes)
    .bind(&fields)
    .bind(&deltas)
    .bind(movements.iter().map(|(_, by)| by.as_str()).collect::<Vec<_>>())
    .bind(now)
    .bind(independent)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;

    let mut results = Vec::with_capacity(movements.len());
    for ((row, (m, created_by)), id) in rows.iter().zip(movements).zip(ids) {
        let index: i32 = get(row, "o_index")?;
        if index as usize != results.len() + 1 {
            return Err(Error::internal(
                "inventory_apply_movements answered out of order",
            ));
        }
        if get::<Option<String>>(row, "o_refusal")?.is_some() {
            results.push(Err(refusal(row, requested[results.len()])?));
            continue;
        }
        let on_hand: i64 = get(row, "o_on_hand")?;
        let reserved: i64 = get(row, "o_reserved")?;
        let location_on_hand: Vec<i64> = get(row, "o_location_on_hand")?;
        let location_reserved: Vec<i64> = get(row, "o_location_reserved")?;
        let locations = m
            .deltas()
            .into_iter()
            .zip(location_on_hand.into_iter().zip(location_reserved))
            .map(|((code, _), (on_hand, reserved))| LocationBalance {
                location: code.to_owned(),
                on_hand,
                reserved,
                available: on_hand - reserved,
            })
            .collect();
        results.push(Ok(MovementResult {
            movement: Movement {
                id,
                seq: get(row, "o_seq")?,
                item_id: m.item_id,
                kind: m.kind,
                quantity: m.quantity,
                location: m.location,
                from_location: m.from_location,
                to_location: m.to_location,
                reason: m.reason,
                reference: m.reference,
                created_by,
                created_at: now,
            },
            balances: ItemBalances {
                item_id: m.item_id,
                sku: get(row, "o_sku")?,
                on_hand,
                reserved,
                available: on_hand - reserved,
                locations,
            },
        }));
    }
    Ok(results)
}

/// Records the change-feed events of applied movements, with one insert.
pub(crate) async fn record_movement_events(
    conn: &mut PgConnection,
    results: &[&MovementResult],
) -> Result<()> {
    record_events(conn, event_kind::MOVEMENT_CREATED, results, |r| {
        r.movement.id
    })
    .await
}

pub(crate) async fn apply_movements(
    conn: &mut PgConnection,
    movements: Vec<NewMovement>,
    actor: Actor,
    idem: Option<Idempotency<Vec<MovementResult>>>,
) -> Result<Created<Vec<MovementResult>>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    let count = movements.len();
    let batch = movements
        .into_iter()
        .map(|m| (m, actor.username.clone()))
        .collect();
    let mut results = Vec::with_capacity(count);
    for (index, result) in apply_batch(conn, batch, false)
        .await?
        .into_iter()
        .enumerate()
    {
        results.push(result.map_err(|e| e.at_index(index))?);
    }
    if results.len() != count {
        return Err(Error::internal(
            "inventory_apply_movements returned too few rows",
        ));
    }
    record_movement_events(conn, &results.iter().collect::<Vec<_>>()).await?;
    remember(conn, &idem, &results).await?;
    Ok(Created::New(results))
}
