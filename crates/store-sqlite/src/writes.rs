//! Writes. Each function runs on the writer thread inside the savepoint of
//! its job; returning an error rolls the job back. The rules (building
//! entities, patches, refusals) are `inventory_core`'s; here they are
//! persisted with their guards, events and idempotency records.

use crate::audit::record_audit;
use crate::errors::{db_error, is_unique_violation};
pub(crate) use crate::journal::{find_idempotent, record_event, remember, replay};
use crate::rows::*;
use inventory_core::audit::{action, NewAuditEntry};
use inventory_core::catalogue::{
    Item, ItemPatch, ItemWrite, Location, LocationPatch, MAIN_LOCATION,
};
use inventory_core::events::{event_kind, NewEvent};
use inventory_core::identity::User;
use inventory_core::ledger::{
    Actor, Applied, Balance, Movement, MovementResult, NewMovement, Refusal,
};
use inventory_core::stocktake::{Books, CountResult, MovedItem, StockCount};
use inventory_core::store::{Created, Idempotency};
use inventory_core::{fold, Error, Result};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

/// A new database gets the location MAIN, as its default. Only a database
/// without any location: MAIN may have been renamed since.
pub(crate) fn ensure_main_location(conn: &Connection) -> Result<()> {
    let now = micros(inventory_core::now());
    conn.execute(
        "INSERT INTO locations (id, code, name, is_default, created_at, updated_at) \
         SELECT ?1, ?2, 'Main location', 1, ?3, ?3 WHERE NOT EXISTS (SELECT 1 FROM locations)",
        params![Uuid::now_v7().to_string(), MAIN_LOCATION, now],
    )
    .map_err(db_error)?;
    Ok(())
}

pub(crate) fn create_user(
    conn: &Connection,
    user: User,
    password_hash: String,
    idem: Option<Idempotency<User>>,
) -> Result<Created<User>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    conn.execute(
        "INSERT INTO users (id, username, password_hash, role, created_at, display_name, email, \
         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            user.id.to_string(),
            user.username,
            password_hash,
            user.role.as_str(),
            micros(user.created_at),
            user.display_name,
            user.email,
            micros(user.updated_at)
        ],
    )
    .map_err(|e| match is_unique_violation(&e) {
        true => Error::duplicate_username(&user.username),
        false => db_error(e),
    })?;
    remember(conn, &idem, &user)?;
    record_audit(
        conn,
        &NewAuditEntry::change(action::USER_CREATED, "user", user.id, None, Some(&user)),
    )?;
    Ok(Created::New(user))
}

/// The one default location changes hands: the others lose the flag.
fn take_default(conn: &Connection, id: Uuid) -> Result<()> {
    conn.execute(
        "UPDATE locations SET is_default = 0 WHERE is_default = 1 AND id <> ?1",
        params![id.to_string()],
    )
    .map_err(db_error)?;
    Ok(())
}

pub(crate) fn create_location(
    conn: &Connection,
    loc: Location,
    idem: Option<Idempotency<Location>>,
) -> Result<Created<Location>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    if loc.is_default {
        take_default(conn, loc.id)?;
    }
    conn.execute(
        "INSERT INTO locations (id, code, name, is_default, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            loc.id.to_string(),
            loc.code,
            loc.name,
            loc.is_default,
            micros(loc.created_at),
            micros(loc.updated_at)
        ],
    )
    .map_err(|e| match is_unique_violation(&e) {
        true => Error::duplicate_location_code(&loc.code),
        false => db_error(e),
    })?;
    remember(conn, &idem, &loc)?;
    record_audit(
        conn,
        &NewAuditEntry::change(
            action::LOCATION_CREATED,
            "location",
            loc.id,
            None,
            Some(&loc),
        ),
    )?;
    Ok(Created::New(loc))
}

pub(crate) fn load_location(conn: &Connection, id: Uuid) -> Result<Location> {
    conn.prepare_cached(&format!(
        "SELECT {LOCATION_COLUMNS} FROM locations WHERE id = ?1"
    ))
    .and_then(|mut stmt| {
        stmt.query_row(params![id.to_string()], |r| Ok(location_from_row(r)))
            .optional()
    })
    .map_err(db_error)?
    .ok_or(Error::NotFound("location"))?
}

pub(crate) fn update_location(
    conn: &Connection,
    id: Uuid,
    patch: LocationPatch,
) -> Result<Location> {
    let before = load_location(conn, id)?;
    let mut loc = before.clone();
    patch.apply(&mut loc, inventory_core::now())?;
    if loc.is_default {
        take_default(conn, id)?;
    }
    conn.execute(
        "UPDATE locations SET code = ?1, name = ?2, is_default = ?3, updated_at = ?4 WHERE id = ?5",
        params![
            loc.code,
            loc.name,
            loc.is_default,
            micros(loc.updated_at),
            id.to_string()
        ],
    )
    .map_err(|e| match is_unique_violation(&e) {
        true => Error::duplicate_location_code(&loc.code),
        false => db_error(e),
    })?;
    record_audit(
        conn,
        &NewAuditEntry::change(
            action::LOCATION_UPDATED,
            "location",
            id,
            Some(&before),
            Some(&loc),
        ),
    )?;
    Ok(loc)
}

fn attributes_text(item: &Item) -> String {
    serde_json::to_string(&item.attributes).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn create_item(
    conn: &Connection,
    item: Item,
    idem: Option<Idempotency<Item>>,
) -> Result<Created<Item>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    conn.prepare_cached(
        "INSERT INTO items (id, sku, name, description, category, unit, reorder_point, unit_cost, attributes, \
         created_at, updated_at, sku_folded, name_folded, category_folded, barcode) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
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
            attributes_text(&item),
            micros(item.created_at),
            micros(item.updated_at),
            fold(&item.sku),
            fold(&item.name),
            item.category.as_deref().map(fold),
            item.barcode,
        ])
    })
    .map_err(|e| item_unique_error(e, &item))?;
    record_event(conn, NewEvent::item(event_kind::ITEM_CREATED, &item))?;
    remember(conn, &idem, &item)?;
    Ok(Created::New(item))
}

/// A unique violation on an item names the value that is taken (SQLite
/// names the column in its message: `UNIQUE constraint failed: items.barcode`).
fn item_unique_error(e: rusqlite::Error, item: &Item) -> Error {
    if !is_unique_violation(&e) {
        return db_error(e);
    }
    match (&item.barcode, e.to_string().contains("items.barcode")) {
        (Some(barcode), true) => Error::duplicate_barcode(barcode),
        _ => Error::duplicate_sku(&item.sku),
    }
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
    item.check_version(if_version)?;
    let version = item.version;
    patch.apply(&mut item, inventory_core::now())?;
    // The version guard makes the update safe even without the single writer.
    let changed = conn
        .execute(
            "UPDATE items SET sku = ?1, sku_folded = ?2, name = ?3, name_folded = ?4, description = ?5, \
             category = ?6, category_folded = ?7, unit = ?8, reorder_point = ?9, unit_cost = ?10, \
             attributes = ?11, updated_at = ?12, version = ?13, barcode = ?16 WHERE id = ?14 AND version = ?15",
            params![
                item.sku,
                fold(&item.sku),
                item.name,
                fold(&item.name),
                item.description,
                item.category,
                item.category.as_deref().map(fold),
                item.unit,
                item.reorder_point,
                item.unit_cost,
                attributes_text(&item),
                micros(item.updated_at),
                item.version,
                id.to_string(),
                version,
                item.barcode,
            ],
        )
        .map_err(|e| item_unique_error(e, &item))?;
    if changed != 1 {
        return Err(Error::PreconditionFailed);
    }
    record_event(conn, NewEvent::item(event_kind::ITEM_UPDATED, &item))?;
    Ok(item)
}

/// An import: every write as `create_item` / `update_item` would do it, in
/// this one job (one savepoint), so that a failing write rolls back them all.
pub(crate) fn import_items(conn: &Connection, writes: Vec<ItemWrite>) -> Result<Vec<Item>> {
    let mut written = Vec::with_capacity(writes.len());
    for (index, write) in writes.into_iter().enumerate() {
        let item = match write {
            ItemWrite::Create(item) => match create_item(conn, item, None) {
                Ok(Created::New(item)) => item,
                Ok(Created::Replay(_)) => return Err(Error::internal("a replay without a key")),
                Err(e) => return Err(e.at_index(index)),
            },
            ItemWrite::Update { id, patch, version } => {
                update_item(conn, id, patch, Some(version)).map_err(|e| e.at_index(index))?
            }
        };
        written.push(item);
    }
    Ok(written)
}

pub(crate) fn archive_item(conn: &Connection, id: Uuid, if_version: Option<i64>) -> Result<bool> {
    let item = load_item(conn, id)?;
    item.check_version(if_version)?;
    if item.archived {
        return Ok(false);
    }
    // The guard: only an item that holds nothing is archived.
    let changed = conn
        .execute(
            "UPDATE items SET archived = 1, version = version + 1, updated_at = ?1 \
             WHERE id = ?2 AND on_hand = 0 AND reserved = 0",
            params![micros(inventory_core::now()), id.to_string()],
        )
        .map_err(db_error)?;
    if changed != 1 {
        return Err(item.has_stock_error());
    }
    let archived = load_item(conn, id)?;
    record_event(conn, NewEvent::item(event_kind::ITEM_ARCHIVED, &archived))?;
    Ok(true)
}

pub(crate) fn restore_item(
    conn: &Connection,
    id: Uuid,
    if_version: Option<i64>,
) -> Result<(Item, bool)> {
    let item = load_item(conn, id)?;
    item.check_version(if_version)?;
    if !item.archived {
        return Ok((item, false));
    }
    conn.execute(
        "UPDATE items SET archived = 0, version = version + 1, updated_at = ?1 WHERE id = ?2",
        params![micros(inventory_core::now()), id.to_string()],
    )
    .map_err(db_error)?;
    let restored = load_item(conn, id)?;
    record_event(conn, NewEvent::item(event_kind::ITEM_RESTORED, &restored))?;
    Ok((restored, true))
}

/// A location's id and code, by code, or the default location's.
pub(crate) fn resolve_location(
    conn: &Connection,
    code: Option<&str>,
) -> Result<Option<(String, String)>> {
    let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
    match code {
        Some(code) => conn
            .prepare_cached("SELECT id, code FROM locations WHERE code = ?1")
            .and_then(|mut stmt| stmt.query_row(params![code], row).optional()),
        None => conn
            .prepare_cached("SELECT id, code FROM locations WHERE is_default = 1")
            .and_then(|mut stmt| stmt.query_row([], row).optional()),
    }
    .map_err(db_error)
}

/// The SKU of an item that may take stock changes: it exists and is not
/// archived. Its reservations past their expiry are ended first, so that
/// from that instant on they hold nothing.
pub(crate) fn open_item(conn: &Connection, item_id: &str) -> Result<String> {
    let (sku, archived): (String, bool) = conn
        .prepare_cached("SELECT sku, archived FROM items WHERE id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row(params![item_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db_error)?
        .ok_or(Refusal::NoItem)?;
    if archived {
        return Err(Refusal::Archived { sku }.into());
    }
    crate::expiry::expire_before_guard(conn, item_id)?;
    Ok(sku)
}

pub(crate) fn apply_one(
    conn: &Connection,
    m: NewMovement,
    actor: &Actor,
) -> Result<MovementResult> {
    let item_id = m.item_id.to_string();
    let sku = open_item(conn, &item_id)?;

    // Each balance statement returns the row it left, so the response needs
    // no second read.
    let mut resolved: Vec<(String, String)> = Vec::new();
    for delta in m.deltas() {
        let location = resolve_location(conn, delta.code)?.ok_or_else(|| Refusal::NoLocation {
            field: delta.field.to_owned(),
            code: delta.code.unwrap_or_default().to_owned(),
        })?;
        resolved.push(location);
    }
    if let [(from, code), (to, _)] = resolved.as_slice() {
        if from == to {
            return Err(Refusal::SameLocation { code: code.clone() }.into());
        }
    }
    let (mut locations, mut net) = (Vec::new(), 0i64);
    for (delta, (loc, code)) in m.deltas().into_iter().zip(&resolved) {
        let quantity = delta.quantity;
        let (on_hand, reserved): (i64, i64) = if quantity < 0 {
            // The guard: the balance only falls if enough is available.
            let row = conn
                .prepare_cached(
                    "UPDATE stock SET on_hand = on_hand + ?1 WHERE item_id = ?2 AND location_id = ?3 \
                     AND on_hand - reserved >= -?1 RETURNING on_hand, reserved",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(params![quantity, item_id, loc], |r| Ok((r.get(0)?, r.get(1)?)))
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
                    return Err(Refusal::Insufficient {
                        location: code.clone(),
                        available: available.unwrap_or(0),
                        requested: -quantity,
                    }
                    .into());
                }
            }
        } else {
            conn.prepare_cached(
                "INSERT INTO stock (item_id, location_id, on_hand) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (item_id, location_id) DO UPDATE SET on_hand = on_hand + excluded.on_hand \
                 RETURNING on_hand, reserved",
            )
            .and_then(|mut stmt| stmt.query_row(params![item_id, loc, quantity], |r| Ok((r.get(0)?, r.get(1)?))))
            .map_err(db_error)?
        };
        locations.push((code.clone(), Balance { on_hand, reserved }));
        net += quantity;
    }
    let (on_hand, reserved): (i64, i64) = conn
        .prepare_cached(
            "UPDATE items SET on_hand = on_hand + ?1 WHERE id = ?2 RETURNING on_hand, reserved",
        )
        .and_then(|mut stmt| stmt.query_row(params![net, item_id], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(db_error)?;

    let now = inventory_core::now();
    let id = Uuid::now_v7();
    let location_of = |field: &str| {
        m.deltas()
            .iter()
            .zip(&resolved)
            .find(|(d, _)| d.field == field)
            .map(|(_, (loc, _))| loc.clone())
    };
    let seq: i64 = conn
        .prepare_cached(
            "INSERT INTO movements (id, item_id, kind, quantity, location_id, from_location_id, to_location_id, \
             reason, reference, created_by, created_at, reverses) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING seq",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    id.to_string(),
                    item_id,
                    m.kind.as_str(),
                    m.quantity,
                    location_of("location"),
                    location_of("from_location"),
                    location_of("to_location"),
                    m.reason,
                    m.reference,
                    actor.username,
                    micros(now),
                    m.reverses.map(|r| r.to_string()),
                ],
                |r| r.get(0),
            )
        })
        .map_err(|e| match (is_unique_violation(&e), m.reverses) {
            (true, Some(original)) => Movement::already_reversed(original, None),
            _ => db_error(e),
        })?;

    let result = MovementResult::recorded(
        m,
        Applied {
            id,
            seq,
            sku,
            totals: Balance { on_hand, reserved },
            locations,
            created_by: actor.username.clone(),
            created_at: now,
        },
    );
    record_event(conn, NewEvent::movement(&result))?;
    Ok(result)
}

/// A stock count. The writer thread is the only writer, so the books read
/// here cannot change before the adjustments are applied.
pub(crate) fn post_stock_count(
    conn: &Connection,
    mut count: StockCount,
    actor: Actor,
) -> Result<CountResult> {
    let (location_id, code) =
        resolve_location(conn, count.location.as_deref())?.ok_or_else(|| {
            Error::UnknownLocation {
                field: "location".into(),
                code: count.location.clone().unwrap_or_default(),
                known: Vec::new(),
            }
        })?;
    count.location = Some(code);
    let ids = serde_json::to_string(
        &count
            .lines
            .iter()
            .map(|(id, _)| id.to_string())
            .collect::<Vec<_>>(),
    )
    .map_err(Error::internal)?;
    let mut books = Books {
        head: conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM movements", [], |r| {
                r.get(0)
            })
            .map_err(db_error)?,
        ..Books::default()
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT DISTINCT i.id, i.sku FROM movements m JOIN items i ON i.id = m.item_id \
             WHERE m.item_id IN (SELECT value FROM json_each(?1)) AND m.seq > ?2 \
             AND ?3 IN (m.location_id, m.from_location_id, m.to_location_id) ORDER BY i.sku",
        )
        .map_err(db_error)?;
    let mut rows = stmt
        .query(params![ids, count.as_of_seq, location_id])
        .map_err(db_error)?;
    while let Some(r) = rows.next().map_err(db_error)? {
        books.moved.push(MovedItem {
            item_id: uuid(r, "id")?,
            sku: get(r, "sku")?,
        });
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT i.id, i.sku, COALESCE(s.on_hand, 0) AS on_hand FROM items i \
             LEFT JOIN stock s ON s.item_id = i.id AND s.location_id = ?2 \
             WHERE i.id IN (SELECT value FROM json_each(?1))",
        )
        .map_err(db_error)?;
    let mut rows = stmt.query(params![ids, location_id]).map_err(db_error)?;
    while let Some(r) = rows.next().map_err(db_error)? {
        books
            .items
            .insert(uuid(r, "id")?, (get(r, "sku")?, get(r, "on_hand")?));
    }
    let mut results = Vec::new();
    for (index, m) in count.plan(&books)?.into_iter().enumerate() {
        results.push(apply_one(conn, m, &actor).map_err(|e| e.at_index(index))?);
    }
    Ok(count.result(&books, results))
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
