//! Parties and purchase orders: reads, and the writes that run on the
//! writer thread inside the savepoint of their job (the single writer makes
//! each read-then-write atomic; the guards in SQL back it up).

use crate::errors::{db_error, is_unique_violation};
use crate::rows::{escape_like, get, micros, query_all, time, uuid};
use crate::writes::{apply_one, record_event, remember, replay, resolve_location};
use inventory_core::events::{event_kind, NewEvent};
use inventory_core::ledger::Actor;
use inventory_core::paging::Page;
use inventory_core::parties::{Party, PartyKind, PartyPatch, PartyQuery};
use inventory_core::purchasing::{
    number, DraftLine, NewPurchaseOrder, PoAction, PoLine, PoQuery, PoStatus, PurchaseOrder,
    PurchaseOrderPatch, ReceiptResult, ReceivePurchaseOrder, OPEN_STATUSES_SQL,
};
use inventory_core::sales::OPEN_SALES_STATUSES_SQL;
use inventory_core::store::{Created, Idempotency};
use inventory_core::{fold, Error, FieldError, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

// ---------------------------------------------------------------- parties

const PARTY_COLUMNS: &str = "id, name, kind, code, email, phone, address, notes, archived, \
                             version, created_at, updated_at";

fn party_from_row(r: &Row<'_>) -> Result<Party> {
    let kind: String = get(r, "kind")?;
    Ok(Party {
        id: uuid(r, "id")?,
        name: get(r, "name")?,
        kind: PartyKind::parse(&kind)
            .ok_or_else(|| Error::internal(format!("unknown party kind {kind}")))?,
        code: get(r, "code")?,
        email: get(r, "email")?,
        phone: get(r, "phone")?,
        address: get(r, "address")?,
        notes: get(r, "notes")?,
        archived: get(r, "archived")?,
        version: get(r, "version")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

fn party_unique_error(e: rusqlite::Error, party: &Party) -> Error {
    if is_unique_violation(&e) {
        Error::duplicate_party_code(party.code.as_deref().unwrap_or_default())
    } else {
        db_error(e)
    }
}

pub(crate) fn load_party(conn: &Connection, id: Uuid) -> Result<Party> {
    conn.prepare_cached(&format!(
        "SELECT {PARTY_COLUMNS} FROM parties WHERE id = ?1"
    ))
    .and_then(|mut stmt| {
        stmt.query_row(params![id.to_string()], |r| Ok(party_from_row(r)))
            .optional()
    })
    .map_err(db_error)?
    .ok_or(Error::NotFound("party"))?
}

pub(crate) fn create_party(
    conn: &Connection,
    party: Party,
    idem: Option<Idempotency<Party>>,
) -> Result<Created<Party>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    conn.execute(
        "INSERT INTO parties (id, name, name_folded, kind, code, email, phone, address, notes, \
         archived, version, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            party.id.to_string(),
            party.name,
            fold(&party.name),
            party.kind.as_str(),
            party.code,
            party.email,
            party.phone,
            party.address,
            party.notes,
            party.archived,
            party.version,
            micros(party.created_at),
            micros(party.updated_at),
        ],
    )
    .map_err(|e| party_unique_error(e, &party))?;
    record_event(conn, NewEvent::party(event_kind::PARTY_CREATED, &party))?;
    remember(conn, &idem, &party)?;
    Ok(Created::New(party))
}

pub(crate) fn update_party(
    conn: &Connection,
    id: Uuid,
    patch: PartyPatch,
    if_version: Option<i64>,
) -> Result<Party> {
    let mut party = load_party(conn, id)?;
    party.check_version(if_version)?;
    let (was_archived, version) = (party.archived, party.version);
    patch.apply(&mut party, inventory_core::now())?;
    if party.archived && !was_archived {
        let open: i64 = conn
            .query_row(
                &format!(
                    "SELECT COUNT(*) FROM purchase_orders WHERE supplier_id = ?1 \
                     AND status IN {OPEN_STATUSES_SQL}"
                ),
                params![id.to_string()],
                |r| r.get(0),
            )
            .map_err(db_error)?;
        let open_sales: i64 = conn
            .query_row(
                &format!(
                    "SELECT COUNT(*) FROM sales_orders WHERE customer_id = ?1 \
                     AND status IN {OPEN_SALES_STATUSES_SQL}"
                ),
                params![id.to_string()],
                |r| r.get(0),
            )
            .map_err(db_error)?;
        let open = open + open_sales;
        if open > 0 {
            return Err(party.has_open_orders_error(open));
        }
    }
    let changed = conn
        .execute(
            "UPDATE parties SET name = ?1, name_folded = ?2, kind = ?3, code = ?4, email = ?5, \
             phone = ?6, address = ?7, notes = ?8, archived = ?9, version = ?10, updated_at = ?11 \
             WHERE id = ?12 AND version = ?13",
            params![
                party.name,
                fold(&party.name),
                party.kind.as_str(),
                party.code,
                party.email,
                party.phone,
                party.address,
                party.notes,
                party.archived,
                party.version,
                micros(party.updated_at),
                id.to_string(),
                version,
            ],
        )
        .map_err(|e| party_unique_error(e, &party))?;
    if changed != 1 {
        return Err(Error::PreconditionFailed);
    }
    record_event(conn, NewEvent::party(event_kind::PARTY_UPDATED, &party))?;
    Ok(party)
}

pub(crate) fn list_parties(conn: &Connection, query: &PartyQuery) -> Result<Page<Party>> {
    let mut sql = format!("SELECT {PARTY_COLUMNS} FROM parties WHERE 1 = 1");
    let mut values: Vec<SqlValue> = Vec::new();
    let mut bind = |sql: &mut String, fragment: &str, value: SqlValue| {
        values.push(value);
        sql.push_str(&fragment.replace('?', &format!("?{}", values.len())));
    };
    bind(
        &mut sql,
        " AND archived = ?",
        SqlValue::Integer(i64::from(query.archived.unwrap_or(false))),
    );
    if let Some(kind) = query.kind {
        bind(
            &mut sql,
            " AND kind = ?",
            SqlValue::Text(kind.as_str().to_owned()),
        );
    }
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        bind(
            &mut sql,
            " AND (name_folded LIKE ? ESCAPE '\\'",
            SqlValue::Text(escape_like(&fold(q))),
        );
        bind(
            &mut sql,
            " OR lower(code) LIKE ? ESCAPE '\\')",
            SqlValue::Text(escape_like(&q.to_ascii_lowercase())),
        );
    }
    if let Some(after) = query.after {
        bind(&mut sql, " AND id > ?", SqlValue::Text(after.to_string()));
    }
    bind(
        &mut sql,
        " ORDER BY id LIMIT ?",
        SqlValue::Integer(i64::from(query.limit) + 1),
    );
    let mut rows = query_all(conn, &sql, values, party_from_row)?;
    let next = page_end(&mut rows, query.limit, |p| p.id.to_string());
    Ok(Page {
        rows,
        next_cursor: next,
    })
}

fn page_end<T>(rows: &mut Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Option<String> {
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(key)
    } else {
        None
    }
}

// ---------------------------------------------------------------- purchase orders

const ORDER_SELECT: &str = "SELECT o.id, o.seq, o.number, o.supplier_id, o.status, o.reference, \
     o.expected_at, l.code AS receive_to, o.version, o.created_by, o.created_at, o.updated_at \
     FROM purchase_orders o JOIN locations l ON l.id = o.receive_to_id";

const LINE_SELECT: &str =
    "SELECT pl.id, pl.order_id, pl.item_id, i.sku, pl.quantity, pl.received, \
     pl.unit_cost FROM purchase_order_lines pl JOIN items i ON i.id = pl.item_id";

fn order_from_row(r: &Row<'_>) -> Result<(i64, PurchaseOrder)> {
    let status: String = get(r, "status")?;
    let expected: Option<i64> = get(r, "expected_at")?;
    Ok((
        get(r, "seq")?,
        PurchaseOrder {
            id: uuid(r, "id")?,
            number: get(r, "number")?,
            supplier_id: uuid(r, "supplier_id")?,
            status: PoStatus::parse(&status)
                .ok_or_else(|| Error::internal(format!("unknown status {status}")))?,
            reference: get(r, "reference")?,
            expected_at: expected
                .map(|us| {
                    chrono::DateTime::from_timestamp_micros(us)
                        .ok_or_else(|| Error::internal("bad timestamp in expected_at"))
                })
                .transpose()?,
            receive_to: get(r, "receive_to")?,
            lines: Vec::new(),
            total: String::new(),
            version: get(r, "version")?,
            created_by: get(r, "created_by")?,
            created_at: time(r, "created_at")?,
            updated_at: time(r, "updated_at")?,
        },
    ))
}

fn line_from_row(r: &Row<'_>) -> Result<(Uuid, PoLine)> {
    Ok((
        uuid(r, "order_id")?,
        PoLine::new(
            uuid(r, "id")?,
            uuid(r, "item_id")?,
            get(r, "sku")?,
            get(r, "quantity")?,
            get(r, "received")?,
            get(r, "unit_cost")?,
        ),
    ))
}

/// The orders with their lines (one query for all the lines).
fn with_lines(conn: &Connection, orders: Vec<PurchaseOrder>) -> Result<Vec<PurchaseOrder>> {
    if orders.is_empty() {
        return Ok(orders);
    }
    let ids = serde_json::to_string(&orders.iter().map(|o| o.id.to_string()).collect::<Vec<_>>())
        .map_err(Error::internal)?;
    let lines = query_all(
        conn,
        &format!(
            "{LINE_SELECT} WHERE pl.order_id IN (SELECT value FROM json_each(?1)) \
             ORDER BY pl.order_id, pl.position"
        ),
        vec![SqlValue::Text(ids)],
        line_from_row,
    )?;
    Ok(orders
        .into_iter()
        .map(|o| {
            let mine = lines
                .iter()
                .filter(|(order, _)| *order == o.id)
                .map(|(_, l)| l.clone())
                .collect();
            o.with_lines(mine)
        })
        .collect())
}

pub(crate) fn load_order(conn: &Connection, id: Uuid) -> Result<PurchaseOrder> {
    let order = conn
        .prepare_cached(&format!("{ORDER_SELECT} WHERE o.id = ?1"))
        .and_then(|mut stmt| {
            stmt.query_row(params![id.to_string()], |r| Ok(order_from_row(r)))
                .optional()
        })
        .map_err(db_error)?
        .ok_or(Error::NotFound("purchase order"))??
        .1;
    Ok(with_lines(conn, vec![order])?.remove(0))
}

pub(crate) fn list_orders(conn: &Connection, query: &PoQuery) -> Result<Page<PurchaseOrder>> {
    let mut sql = format!("{ORDER_SELECT} WHERE 1 = 1");
    let mut values: Vec<SqlValue> = Vec::new();
    let mut bind = |sql: &mut String, fragment: &str, value: SqlValue| {
        values.push(value);
        sql.push_str(&fragment.replace('?', &format!("?{}", values.len())));
    };
    if let Some(status) = query.status {
        bind(
            &mut sql,
            " AND o.status = ?",
            SqlValue::Text(status.as_str().to_owned()),
        );
    }
    if let Some(supplier) = query.supplier_id {
        bind(
            &mut sql,
            " AND o.supplier_id = ?",
            SqlValue::Text(supplier.to_string()),
        );
    }
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        bind(
            &mut sql,
            " AND (lower(o.number) LIKE ? ESCAPE '\\'",
            SqlValue::Text(escape_like(&q.to_ascii_lowercase())),
        );
        bind(
            &mut sql,
            " OR o.reference_folded LIKE ? ESCAPE '\\')",
            SqlValue::Text(escape_like(&fold(q))),
        );
    }
    if let Some(after) = query.after_seq {
        bind(&mut sql, " AND o.seq < ?", SqlValue::Integer(after));
    }
    bind(
        &mut sql,
        " ORDER BY o.seq DESC LIMIT ?",
        SqlValue::Integer(i64::from(query.limit) + 1),
    );
    let mut rows = query_all(conn, &sql, values, order_from_row)?;
    let next = page_end(&mut rows, query.limit, |(seq, _)| seq.to_string());
    let orders = with_lines(conn, rows.into_iter().map(|(_, o)| o).collect())?;
    Ok(Page {
        rows: orders,
        next_cursor: next,
    })
}

/// The supplier, checked: a party that supplies and is not archived.
fn check_supplier(conn: &Connection, id: Uuid) -> Result<()> {
    match load_party(conn, id) {
        Ok(party) => party.check_supplier("supplier_id"),
        Err(Error::NotFound(_)) => Err(Error::invalid("supplier_id", "no party has this id")),
        Err(e) => Err(e),
    }
}

/// The location's id, by code or the default's; an unknown code is a 422.
fn receive_to_id(conn: &Connection, code: Option<&str>) -> Result<String> {
    resolve_location(conn, code)?
        .map(|(id, _)| id)
        .ok_or_else(|| Error::UnknownLocation {
            field: "receive_to".into(),
            code: code.unwrap_or_default().to_owned(),
            known: Vec::new(),
        })
}

/// Writes the draft's lines (replacing any), each item checked: it exists
/// and is not archived; a line without a cost takes the item's.
fn write_lines(conn: &Connection, order_id: Uuid, lines: &[DraftLine]) -> Result<()> {
    conn.execute(
        "DELETE FROM purchase_order_lines WHERE order_id = ?1",
        params![order_id.to_string()],
    )
    .map_err(db_error)?;
    let mut errors = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let item: Option<(bool, i64)> = conn
            .prepare_cached("SELECT archived, unit_cost FROM items WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row(params![line.item_id.to_string()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .map_err(db_error)?;
        let unit_cost = match item {
            None => {
                errors.push(FieldError::new(
                    format!("lines[{i}].item_id"),
                    "no item has this id",
                ));
                continue;
            }
            Some((true, _)) => {
                errors.push(FieldError::new(
                    format!("lines[{i}].item_id"),
                    "the item is archived",
                ));
                continue;
            }
            Some((false, cost)) => line.unit_cost.unwrap_or(cost),
        };
        conn.prepare_cached(
            "INSERT INTO purchase_order_lines (id, order_id, position, item_id, quantity, received, unit_cost) \
             VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
        )
        .and_then(|mut s| {
            s.execute(params![
                line.line_id.to_string(),
                order_id.to_string(),
                i as i64,
                line.item_id.to_string(),
                line.quantity,
                unit_cost,
            ])
        })
        .map_err(db_error)?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

pub(crate) fn create_order(
    conn: &Connection,
    order: NewPurchaseOrder,
    actor: Actor,
    idem: Option<Idempotency<PurchaseOrder>>,
) -> Result<Created<PurchaseOrder>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    check_supplier(conn, order.supplier_id)?;
    let location = receive_to_id(conn, order.receive_to.as_deref())?;
    let seq: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM purchase_orders",
            [],
            |r| r.get(0),
        )
        .map_err(db_error)?;
    conn.execute(
        "INSERT INTO purchase_orders (id, seq, number, supplier_id, status, reference, reference_folded, \
         expected_at, receive_to_id, version, created_by, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 'draft', ?5, ?6, ?7, ?8, 1, ?9, ?10, ?10)",
        params![
            order.id.to_string(),
            seq,
            number(seq),
            order.supplier_id.to_string(),
            order.reference,
            order.reference.as_deref().map(fold),
            order.expected_at.map(micros),
            location,
            actor.username,
            micros(order.created_at),
        ],
    )
    .map_err(db_error)?;
    write_lines(conn, order.id, &order.lines)?;
    let created = load_order(conn, order.id)?;
    record_event(
        conn,
        NewEvent::purchase_order(event_kind::PURCHASE_ORDER_CREATED, &created),
    )?;
    remember(conn, &idem, &created)?;
    Ok(Created::New(created))
}

/// Moves an order to `status` (the version guard backs up the single
/// writer) and bumps its version.
fn set_status(conn: &Connection, order: &PurchaseOrder, status: PoStatus) -> Result<()> {
    let changed = conn
        .execute(
            "UPDATE purchase_orders SET status = ?1, version = version + 1, updated_at = ?2 \
             WHERE id = ?3 AND version = ?4",
            params![
                status.as_str(),
                micros(inventory_core::now()),
                order.id.to_string(),
                order.version
            ],
        )
        .map_err(db_error)?;
    if changed != 1 {
        return Err(Error::internal("a purchase order changed under its writer"));
    }
    Ok(())
}

/// Adds `delta` to an item's `incoming` (its CHECK refuses a negative).
fn move_incoming(conn: &Connection, item_id: Uuid, delta: i64) -> Result<()> {
    if delta == 0 {
        return Ok(());
    }
    conn.prepare_cached("UPDATE items SET incoming = incoming + ?1 WHERE id = ?2")
        .and_then(|mut s| s.execute(params![delta, item_id.to_string()]))
        .map_err(db_error)?;
    Ok(())
}

pub(crate) fn update_order(
    conn: &Connection,
    id: Uuid,
    patch: PurchaseOrderPatch,
) -> Result<PurchaseOrder> {
    let order = load_order(conn, id)?;
    let draft = patch.apply(&order)?;
    if draft.supplier_id != order.supplier_id {
        check_supplier(conn, draft.supplier_id)?;
    }
    let location = match draft.receive_to.as_deref() {
        Some(code) => Some(receive_to_id(conn, Some(code))?),
        None => None,
    };
    let changed = conn
        .execute(
            "UPDATE purchase_orders SET supplier_id = ?1, reference = ?2, reference_folded = ?3, \
             expected_at = ?4, receive_to_id = COALESCE(?5, receive_to_id), version = version + 1, \
             updated_at = ?6 WHERE id = ?7 AND version = ?8 AND status = 'draft'",
            params![
                draft.supplier_id.to_string(),
                draft.reference,
                draft.reference.as_deref().map(fold),
                draft.expected_at.map(micros),
                location,
                micros(inventory_core::now()),
                id.to_string(),
                order.version,
            ],
        )
        .map_err(db_error)?;
    if changed != 1 {
        return Err(Error::internal("a purchase order changed under its writer"));
    }
    write_lines(conn, id, &draft.lines)?;
    let updated = load_order(conn, id)?;
    record_event(
        conn,
        NewEvent::purchase_order(event_kind::PURCHASE_ORDER_UPDATED, &updated),
    )?;
    Ok(updated)
}

pub(crate) fn submit_order(
    conn: &Connection,
    id: Uuid,
    idem: Option<Idempotency<PurchaseOrder>>,
) -> Result<Created<PurchaseOrder>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    let order = load_order(conn, id)?;
    for (item, delta) in order.plan_submit()? {
        move_incoming(conn, item, delta)?;
    }
    set_status(conn, &order, PoStatus::Submitted)?;
    let submitted = load_order(conn, id)?;
    record_event(
        conn,
        NewEvent::purchase_order(event_kind::PURCHASE_ORDER_SUBMITTED, &submitted),
    )?;
    remember(conn, &idem, &submitted)?;
    Ok(Created::New(submitted))
}

pub(crate) fn receive_order(
    conn: &Connection,
    id: Uuid,
    receipt: ReceivePurchaseOrder,
    actor: Actor,
    idem: Option<Idempotency<ReceiptResult>>,
) -> Result<Created<ReceiptResult>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    let order = load_order(conn, id)?;
    let plan = order.plan_receipt(&receipt)?;
    let mut movements = Vec::with_capacity(plan.steps.len());
    for (index, step) in plan.steps.into_iter().enumerate() {
        // The guard: a line never passes its quantity unless allowed.
        let changed = conn
            .prepare_cached(
                "UPDATE purchase_order_lines SET received = received + ?1 \
                 WHERE id = ?2 AND (?3 OR received + ?1 <= quantity)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    step.quantity,
                    step.line_id.to_string(),
                    plan.allow_over_receipt
                ])
            })
            .map_err(db_error)?;
        if changed != 1 {
            return Err(Error::internal(
                "a purchase-order line changed under its writer",
            ));
        }
        move_incoming(conn, step.item_id, step.incoming_delta)?;
        let result = apply_one(conn, step.movement, &actor).map_err(|e| e.at_index(index))?;
        conn.prepare_cached("INSERT INTO purchase_receipts (movement_id, line_id) VALUES (?1, ?2)")
            .and_then(|mut s| {
                s.execute(params![
                    result.movement.id.to_string(),
                    step.line_id.to_string()
                ])
            })
            .map_err(db_error)?;
        movements.push(result);
    }
    set_status(conn, &order, plan.status)?;
    let received = load_order(conn, id)?;
    record_event(
        conn,
        NewEvent::purchase_order(event_kind::PURCHASE_ORDER_RECEIVED, &received),
    )?;
    let result = ReceiptResult {
        order: received,
        movements,
    };
    remember(conn, &idem, &result)?;
    Ok(Created::New(result))
}

pub(crate) fn cancel_order(
    conn: &Connection,
    id: Uuid,
    idem: Option<Idempotency<PurchaseOrder>>,
) -> Result<Created<PurchaseOrder>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    let order = load_order(conn, id)?;
    order.status.allows(PoAction::Cancel)?;
    for (item, delta) in order.release_incoming() {
        move_incoming(conn, item, delta)?;
    }
    set_status(conn, &order, order.cancelled_status())?;
    let cancelled = load_order(conn, id)?;
    record_event(
        conn,
        NewEvent::purchase_order(event_kind::PURCHASE_ORDER_CANCELLED, &cancelled),
    )?;
    remember(conn, &idem, &cancelled)?;
    Ok(Created::New(cancelled))
}
