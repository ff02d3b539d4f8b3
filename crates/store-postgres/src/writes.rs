//! Writes. Each function runs on the writer connection inside the savepoint
//! of its job; returning an error rolls the job back.

use crate::audit::{record_audit, record_audits};
use crate::errors::{db_error, unique_or, unique_violation};
pub(crate) use crate::journal::{
    find_idempotent, insert_events, record_event, record_events, remember, replay,
};
use crate::rows::*;
use futures_util::future::BoxFuture;
use inventory_core::audit::{action, AuditContext, NewAuditEntry};
use inventory_core::catalogue::{
    Item, ItemPatch, ItemWrite, Location, LocationPatch, MAIN_LOCATION,
};
use inventory_core::error::ConflictKind;
use inventory_core::events::{event_kind, NewEvent};
use inventory_core::identity::User;
use inventory_core::ledger::{
    Actor, Applied, Balance, Movement, MovementResult, NewMovement, Refusal,
};
use inventory_core::stocktake::{Books, CountResult, MovedItem, StockCount};
use inventory_core::store::{Created, Idempotency};
use inventory_core::{fold, Error, Result};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

pub(crate) fn ensure_main_location(conn: &mut PgConnection) -> BoxFuture<'_, Result<()>> {
    Box::pin(ensure_main(conn))
}

/// A new database gets the location MAIN, as its default. Only a database
/// without any location: MAIN may have been renamed since.
async fn ensure_main(conn: &mut PgConnection) -> Result<()> {
    sqlx::query(
        "INSERT INTO locations (id, code, name, is_default, created_at, updated_at) \
         SELECT $1, $2, 'Main location', TRUE, $3, $3 WHERE NOT EXISTS (SELECT 1 FROM locations)",
    )
    .bind(Uuid::now_v7())
    .bind(MAIN_LOCATION)
    .bind(inventory_core::now())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn create_user(
    conn: &mut PgConnection,
    user: User,
    password_hash: String,
    idem: Option<Idempotency<User>>,
) -> Result<Created<User>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, role, created_at, display_name, email, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(user.id)
    .bind(&user.username)
    .bind(&password_hash)
    .bind(user.role.as_str())
    .bind(user.created_at)
    .bind(&user.display_name)
    .bind(&user.email)
    .bind(user.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        unique_or(e, ConflictKind::DuplicateUsername, || {
            Error::duplicate_username(&user.username)
        })
    })?;
    remember(conn, &idem, &user).await?;
    let entry = NewAuditEntry::change(action::USER_CREATED, "user", user.id, None, Some(&user));
    record_audit(conn, entry).await?;
    Ok(Created::New(user))
}

/// The one default location changes hands: the others lose the flag.
async fn take_default(conn: &mut PgConnection, id: Uuid) -> Result<()> {
    sqlx::query("UPDATE locations SET is_default = FALSE WHERE is_default AND id <> $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn create_location(
    conn: &mut PgConnection,
    loc: Location,
    idem: Option<Idempotency<Location>>,
) -> Result<Created<Location>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    if loc.is_default {
        take_default(conn, loc.id).await?;
    }
    sqlx::query(
        "INSERT INTO locations (id, code, name, is_default, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(loc.id)
    .bind(&loc.code)
    .bind(&loc.name)
    .bind(loc.is_default)
    .bind(loc.created_at)
    .bind(loc.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        unique_or(e, ConflictKind::DuplicateLocationCode, || {
            Error::duplicate_location_code(&loc.code)
        })
    })?;
    remember(conn, &idem, &loc).await?;
    let entry = NewAuditEntry::change(
        action::LOCATION_CREATED,
        "location",
        loc.id,
        None,
        Some(&loc),
    );
    record_audit(conn, entry).await?;
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
    let before = location_from_row(&row)?;
    let mut loc = before.clone();
    patch.apply(&mut loc, inventory_core::now())?;
    if loc.is_default {
        take_default(conn, id).await?;
    }
    sqlx::query(
        "UPDATE locations SET code = $1, name = $2, is_default = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(&loc.code)
    .bind(&loc.name)
    .bind(loc.is_default)
    .bind(loc.updated_at)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        unique_or(e, ConflictKind::DuplicateLocationCode, || {
            Error::duplicate_location_code(&loc.code)
        })
    })?;
    let entry = NewAuditEntry::change(
        action::LOCATION_UPDATED,
        "location",
        id,
        Some(&before),
        Some(&loc),
    );
    record_audit(conn, entry).await?;
    Ok(loc)
}

fn attributes_text(item: &Item) -> String {
    serde_json::to_string(&item.attributes).unwrap_or_else(|_| "{}".into())
}

pub(crate) async fn create_item(
    conn: &mut PgConnection,
    item: Item,
    idem: Option<Idempotency<Item>>,
) -> Result<Created<Item>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    sqlx::query(
        "INSERT INTO items (id, sku, name, description, category, unit, reorder_point, unit_cost, attributes, \
         created_at, updated_at, sku_folded, name_folded, category_folded, barcode) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
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
    .bind(item.created_at)
    .bind(item.updated_at)
    .bind(fold(&item.sku))
    .bind(fold(&item.name))
    .bind(item.category.as_deref().map(fold))
    .bind(&item.barcode)
    .execute(&mut *conn)
    .await
    .map_err(|e| item_unique_error(e, &item))?;
    record_event(conn, NewEvent::item(event_kind::ITEM_CREATED, &item)).await?;
    remember(conn, &idem, &item).await?;
    Ok(Created::New(item))
}

/// A unique violation on an item names the value that is taken.
fn item_unique_error(e: sqlx::Error, item: &Item) -> Error {
    match unique_violation(&e) {
        Some(ConflictKind::DuplicateSku) => Error::duplicate_sku(&item.sku),
        Some(ConflictKind::DuplicateBarcode) => {
            Error::duplicate_barcode(item.barcode.as_deref().unwrap_or_default())
        }
        _ => db_error(e),
    }
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
    item.check_version(if_version)?;
    let version = item.version;
    patch.apply(&mut item, inventory_core::now())?;
    // The version guard makes the update safe across replicas: a concurrent
    // change bumps the version and this statement then changes nothing.
    let row = sqlx::query(
        "UPDATE items SET sku = $1, sku_folded = $2, name = $3, name_folded = $4, description = $5, \
         category = $6, category_folded = $7, unit = $8, reorder_point = $9, unit_cost = $10, \
         attributes = $11, updated_at = $12, version = $13, barcode = $16 \
         WHERE id = $14 AND version = $15 RETURNING on_hand, reserved, archived",
    )
    .bind(&item.sku)
    .bind(fold(&item.sku))
    .bind(&item.name)
    .bind(fold(&item.name))
    .bind(&item.description)
    .bind(&item.category)
    .bind(item.category.as_deref().map(fold))
    .bind(&item.unit)
    .bind(item.reorder_point)
    .bind(item.unit_cost)
    .bind(attributes_text(&item))
    .bind(item.updated_at)
    .bind(item.version)
    .bind(id)
    .bind(version)
    .bind(&item.barcode)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| item_unique_error(e, &item))?
    .ok_or(Error::PreconditionFailed)?;
    // Stock may have moved meanwhile (stock changes keep the version).
    item.on_hand = row.try_get("on_hand").map_err(Error::internal)?;
    item.reserved = row.try_get("reserved").map_err(Error::internal)?;
    item.archived = row.try_get("archived").map_err(Error::internal)?;
    item.available = item.on_hand - item.reserved;
    record_event(conn, NewEvent::item(event_kind::ITEM_UPDATED, &item)).await?;
    Ok(item)
}

/// An import: every write as `create_item` / `update_item` would do it, in
/// this one job (one savepoint), so that a failing write rolls back them all.
pub(crate) async fn import_items(
    conn: &mut PgConnection,
    writes: Vec<ItemWrite>,
) -> Result<Vec<Item>> {
    let mut written = Vec::with_capacity(writes.len());
    for (index, write) in writes.into_iter().enumerate() {
        let item = match write {
            ItemWrite::Create(item) => match create_item(conn, item, None).await {
                Ok(Created::New(item)) => item,
                Ok(Created::Replay(_)) => return Err(Error::internal("a replay without a key")),
                Err(e) => return Err(e.at_index(index)),
            },
            ItemWrite::Update { id, patch, version } => update_item(conn, id, patch, Some(version))
                .await
                .map_err(|e| e.at_index(index))?,
        };
        written.push(item);
    }
    Ok(written)
}

pub(crate) async fn archive_item(
    conn: &mut PgConnection,
    id: Uuid,
    if_version: Option<i64>,
) -> Result<bool> {
    let item = load_item(&mut *conn, id, true).await?;
    item.check_version(if_version)?;
    if item.archived {
        return Ok(false);
    }
    // The guard: only an item that holds nothing is archived.
    let changed = sqlx::query(
        "UPDATE items SET archived = TRUE, version = version + 1, updated_at = $1 \
         WHERE id = $2 AND on_hand = 0 AND reserved = 0",
    )
    .bind(inventory_core::now())
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?
    .rows_affected();
    if changed != 1 {
        return Err(item.has_stock_error());
    }
    let archived = load_item(&mut *conn, id, false).await?;
    record_event(conn, NewEvent::item(event_kind::ITEM_ARCHIVED, &archived)).await?;
    Ok(true)
}

pub(crate) async fn restore_item(
    conn: &mut PgConnection,
    id: Uuid,
    if_version: Option<i64>,
) -> Result<(Item, bool)> {
    let item = load_item(&mut *conn, id, true).await?;
    item.check_version(if_version)?;
    if !item.archived {
        return Ok((item, false));
    }
    sqlx::query(
        "UPDATE items SET archived = FALSE, version = version + 1, updated_at = $1 WHERE id = $2",
    )
    .bind(inventory_core::now())
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    let restored = load_item(&mut *conn, id, false).await?;
    record_event(conn, NewEvent::item(event_kind::ITEM_RESTORED, &restored)).await?;
    Ok((restored, true))
}

/// Why `inventory_apply_movements` refused a movement.
fn refusal(row: &sqlx::postgres::PgRow, requested: i64) -> Result<Refusal> {
    let refusal: String = get(row, "o_refusal")?;
    let field: Option<String> = get(row, "o_field")?;
    let code: Option<String> = get(row, "o_code")?;
    let sku: Option<String> = get(row, "o_sku")?;
    let code = code.unwrap_or_default();
    Ok(match refusal.as_str() {
        "no_item" => Refusal::NoItem,
        "archived" => Refusal::Archived {
            sku: sku.unwrap_or_default(),
        },
        "no_location" => Refusal::NoLocation {
            field: field.unwrap_or_else(|| "location".into()),
            code,
        },
        "same_location" => Refusal::SameLocation { code },
        "insufficient" => Refusal::Insufficient {
            location: code,
            available: get::<Option<i64>>(row, "o_available")?.unwrap_or(0),
            requested,
        },
        other => return Err(Error::internal(format!("unknown refusal '{other}'"))),
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
    let now = inventory_core::now();
    let ids: Vec<Uuid> = movements.iter().map(|_| Uuid::now_v7()).collect();
    let (mut delta_of, mut codes, mut fields, mut deltas) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, (m, _)) in movements.iter().enumerate() {
        for delta in m.deltas() {
            delta_of.push(i as i32 + 1);
            codes.push(delta.code.map(str::to_owned));
            fields.push(delta.field);
            deltas.push(delta.quantity);
        }
    }
    let column = |f: fn(&NewMovement) -> Option<String>| {
        movements.iter().map(|(m, _)| f(m)).collect::<Vec<_>>()
    };
    // A reservation past its expiry holds nothing from that instant on.
    let mut items: Vec<Uuid> = movements.iter().map(|(m, _)| m.item_id).collect();
    items.sort_unstable();
    items.dedup();
    crate::expiry::expire_before_guard(conn, &items).await?;
    let rows = sqlx::query(
        "SELECT * FROM inventory_apply_movements($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&ids)
    .bind(movements.iter().map(|(m, _)| m.item_id).collect::<Vec<_>>())
    .bind(movements.iter().map(|(m, _)| m.kind.as_str()).collect::<Vec<_>>())
    .bind(movements.iter().map(|(m, _)| m.quantity).collect::<Vec<_>>())
    .bind(column(|m| m.reason.clone()))
    .bind(column(|m| m.reference.clone()))
    .bind(&delta_of)
    .bind(&codes)
    .bind(&fields)
    .bind(&deltas)
    .bind(movements.iter().map(|(_, by)| by.as_str()).collect::<Vec<_>>())
    .bind(now)
    .bind(independent)
    .bind(movements.iter().map(|(m, _)| m.reverses).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| match unique_violation(&e) {
        // Only reversals can trip this key, and they never go independent.
        Some(ConflictKind::AlreadyReversed) => movements
            .first()
            .and_then(|(m, _)| m.reverses)
            .map(|original| Movement::already_reversed(original, None).at_index(0))
            .unwrap_or_else(|| db_error(e)),
        _ => db_error(e),
    })?;

    let mut results = Vec::with_capacity(movements.len());
    for ((row, (m, created_by)), id) in rows.iter().zip(movements).zip(ids) {
        let index: i32 = get(row, "o_index")?;
        if index as usize != results.len() + 1 {
            return Err(Error::internal(
                "inventory_apply_movements answered out of order",
            ));
        }
        if get::<Option<String>>(row, "o_refusal")?.is_some() {
            results.push(Err(refusal(row, m.requested())?.into()));
            continue;
        }
        let location_on_hand: Vec<i64> = get(row, "o_location_on_hand")?;
        let location_reserved: Vec<i64> = get(row, "o_location_reserved")?;
        let location_codes: Vec<String> = get(row, "o_codes")?;
        let locations = location_codes
            .into_iter()
            .zip(location_on_hand.into_iter().zip(location_reserved))
            .map(|(code, (on_hand, reserved))| (code, Balance { on_hand, reserved }))
            .collect();
        let applied = Applied {
            id,
            seq: get(row, "o_seq")?,
            sku: get(row, "o_sku")?,
            totals: Balance {
                on_hand: get(row, "o_on_hand")?,
                reserved: get(row, "o_reserved")?,
            },
            locations,
            created_by,
            created_at: now,
        };
        results.push(Ok(MovementResult::recorded(m, applied)));
    }
    Ok(results)
}

/// Records the change-feed events of applied movements, with one insert.
pub(crate) async fn record_movement_events(
    conn: &mut PgConnection,
    results: &[&MovementResult],
) -> Result<()> {
    let events: Vec<NewEvent> = results.iter().map(|r| NewEvent::movement(r)).collect();
    record_events(conn, &events).await
}

/// [`record_movement_events`] for movements of several senders, each audit
/// entry in its sender's context (`contexts`, one per result).
pub(crate) async fn record_movement_events_of(
    conn: &mut PgConnection,
    results: &[&MovementResult],
    contexts: Vec<AuditContext>,
) -> Result<()> {
    let events: Vec<NewEvent> = results.iter().map(|r| NewEvent::movement(r)).collect();
    // A movement creates its entity: there is no previous event to compare.
    let entries: Vec<NewAuditEntry> = events
        .iter()
        .zip(contexts)
        .map(|(event, context)| context.sync_scope(|| NewAuditEntry::for_event(event, None)))
        .collect();
    insert_events(conn, &events).await?;
    record_audits(conn, &entries).await
}

/// A stock count. The counted items' rows are locked first: every movement
/// updates its item's row, so none can commit for them until this
/// transaction ends, on any replica, and the books read here stay true.
pub(crate) async fn post_stock_count(
    conn: &mut PgConnection,
    mut count: StockCount,
    actor: Actor,
) -> Result<CountResult> {
    let (location_id, code): (Uuid, String) = sqlx::query_as(
        "SELECT id, code FROM locations WHERE code = $1 OR ($1 IS NULL AND is_default)",
    )
    .bind(&count.location)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?
    .ok_or_else(|| Error::UnknownLocation {
        field: "location".into(),
        code: count.location.clone().unwrap_or_default(),
        known: Vec::new(),
    })?;
    count.location = Some(code);
    let ids: Vec<Uuid> = count.lines.iter().map(|(id, _)| *id).collect();
    sqlx::query("SELECT id FROM items WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(&ids)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let mut books = Books {
        head: sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM movements")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?,
        ..Books::default()
    };
    let moved = sqlx::query(
        "SELECT DISTINCT i.id, i.sku FROM movements m JOIN items i ON i.id = m.item_id \
         WHERE m.item_id = ANY($1) AND m.seq > $2 \
         AND $3 IN (m.location_id, m.from_location_id, m.to_location_id) ORDER BY i.sku",
    )
    .bind(&ids)
    .bind(count.as_of_seq)
    .bind(location_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    for r in &moved {
        books.moved.push(MovedItem {
            item_id: get(r, "id")?,
            sku: get(r, "sku")?,
        });
    }
    let held = sqlx::query(
        "SELECT i.id, i.sku, COALESCE(s.on_hand, 0) AS on_hand FROM items i \
         LEFT JOIN stock s ON s.item_id = i.id AND s.location_id = $2 WHERE i.id = ANY($1)",
    )
    .bind(&ids)
    .bind(location_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    for r in &held {
        books
            .items
            .insert(get(r, "id")?, (get(r, "sku")?, get(r, "on_hand")?));
    }
    let batch: Vec<(NewMovement, String)> = count
        .plan(&books)?
        .into_iter()
        .map(|m| (m, actor.username.clone()))
        .collect();
    let mut results = Vec::with_capacity(batch.len());
    if !batch.is_empty() {
        for (index, result) in apply_batch(conn, batch, false)
            .await?
            .into_iter()
            .enumerate()
        {
            results.push(result.map_err(|e| e.at_index(index))?);
        }
        record_movement_events(conn, &results.iter().collect::<Vec<_>>()).await?;
    }
    Ok(count.result(&books, results))
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
