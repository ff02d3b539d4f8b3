//! Sales orders on SQLite. Each write runs in its job's savepoint on the
//! single writer: the order, its reservations (held and ended with the
//! reservation guards), its shipments' movements (the ledger guard) and
//! every event commit together or not at all.

use crate::errors::db_error;
use crate::expiry::expire_item;
use crate::journal::{record_event, remember, replay};
use crate::purchasing::load_party;
use crate::reservations::{consume, end_reservation, hold, line_holds, set_expiry};
use crate::rows::*;
use crate::writes::{apply_one, open_item, resolve_location};
use chrono::{DateTime, Utc};
use inventory_core::events::{event_kind, NewEvent};
use inventory_core::ledger::Actor;
use inventory_core::paging::Page;
use inventory_core::reservations::{NewReservation, ReservationStatus};
use inventory_core::sales::{
    order_number, shipment_movement, NewSalesLine, NewSalesOrder, SalesAction, SalesLine,
    SalesOrder, SalesOrderPatch, SalesOrderQuery, SalesOrderStatus, ShipRequest,
};
use inventory_core::store::{Created, OrderIdem};
use inventory_core::{Error, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use uuid::Uuid;

const ORDER_SELECT: &str =
    "SELECT o.id, o.number, o.customer_id, o.reference, l.code AS ship_from, \
     o.status, o.hold_expires_at, o.created_by, o.created_at, o.updated_at FROM sales_orders o \
     JOIN locations l ON l.id = o.ship_from_id";

fn header_from_row(r: &Row<'_>) -> Result<SalesOrder> {
    let status: String = get(r, "status")?;
    Ok(SalesOrder {
        id: uuid(r, "id")?,
        number: get(r, "number")?,
        customer_id: opt_uuid(r, "customer_id")?,
        reference: get(r, "reference")?,
        ship_from: get(r, "ship_from")?,
        status: SalesOrderStatus::parse(&status).map_err(Error::internal)?,
        hold_expires_at: opt_time(r, "hold_expires_at")?,
        lines: Vec::new(),
        total: String::new(),
        created_by: get(r, "created_by")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

/// The order's lines, each with what its reservations hold at `now`.
fn load_lines(conn: &Connection, order: &mut SalesOrder, now: DateTime<Utc>) -> Result<()> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT sl.id, sl.item_id, i.sku, sl.quantity, sl.shipped, sl.unit_price, \
             (SELECT COALESCE(SUM(r.quantity), 0) FROM reservations r WHERE r.order_line_id = sl.id \
               AND r.status = 'active' AND (r.expires_at IS NULL OR r.expires_at > ?2)) AS reserved \
             FROM sales_order_lines sl JOIN items i ON i.id = sl.item_id \
             WHERE sl.order_id = ?1 ORDER BY sl.line_no",
        )
        .map_err(db_error)?;
    let mut rows = stmt
        .query(params![order.id.to_string(), micros(now)])
        .map_err(db_error)?;
    order.lines.clear();
    while let Some(r) = rows.next().map_err(db_error)? {
        order.lines.push(SalesLine {
            line_id: uuid(r, "id")?,
            item_id: uuid(r, "item_id")?,
            sku: get(r, "sku")?,
            quantity: get(r, "quantity")?,
            shipped: get(r, "shipped")?,
            reserved: get(r, "reserved")?,
            unit_price: get(r, "unit_price")?,
            line_total: String::new(),
        });
    }
    order.total_lines();
    Ok(())
}

pub(crate) fn load_order(conn: &Connection, id: Uuid) -> Result<SalesOrder> {
    let mut order = conn
        .prepare_cached(&format!("{ORDER_SELECT} WHERE o.id = ?1"))
        .and_then(|mut stmt| {
            stmt.query_row(params![id.to_string()], |r| Ok(header_from_row(r)))
                .optional()
        })
        .map_err(db_error)?
        .ok_or(Error::NotFound("sales order"))??;
    load_lines(conn, &mut order, inventory_core::now())?;
    Ok(order)
}

/// The customer, checked: a party that buys and is not archived.
fn check_customer(conn: &Connection, id: Uuid) -> Result<()> {
    match load_party(conn, id) {
        Ok(party) => party.check_customer("customer_id"),
        Err(Error::NotFound(_)) => Err(Error::invalid("customer_id", "no party has this id")),
        Err(e) => Err(e),
    }
}

/// Reserves `quantity` of a line at the order's location, until `until`
/// (none: firmly).
fn hold_line(
    conn: &Connection,
    order: &SalesOrder,
    line: &SalesLine,
    quantity: i64,
    until: Option<DateTime<Utc>>,
    actor: &Actor,
) -> Result<()> {
    let new = NewReservation {
        id: Uuid::now_v7(),
        item_id: line.item_id,
        location: Some(order.ship_from.clone()),
        quantity,
        expires_at: until,
        reference: Some(order.number.clone()),
        note: None,
        created_at: inventory_core::now(),
        order_line_id: Some(line.line_id),
    };
    hold(conn, &new, actor).map_err(|e| order.line_error(line.line_id, e))?;
    Ok(())
}

/// Makes every line of `order` held until `until` (none: firmly): its
/// active reservations take the new expiry (never released in between),
/// and what they lack is reserved behind the guard. All or none: the
/// caller's job rolls back on the first short line.
fn hold_all(
    conn: &Connection,
    order: &SalesOrder,
    until: Option<DateTime<Utc>>,
    actor: &Actor,
) -> Result<()> {
    for line in &order.lines {
        expire_item(conn, &line.item_id.to_string())?;
        let mut held = 0;
        for (id, quantity) in line_holds(conn, line.line_id)? {
            set_expiry(conn, id, until)?;
            held += quantity;
        }
        let missing = line.outstanding() - held;
        if missing > 0 {
            hold_line(conn, order, line, missing, until, actor)?;
        }
    }
    Ok(())
}

/// Releases what a line's reservations still hold.
fn release_line(conn: &Connection, line: &SalesLine) -> Result<()> {
    expire_item(conn, &line.item_id.to_string())?;
    for (id, _) in line_holds(conn, line.line_id)? {
        end_reservation(conn, id, ReservationStatus::Released, "release")?;
    }
    Ok(())
}

fn insert_line(
    conn: &Connection,
    order_id: Uuid,
    line_no: usize,
    line: &NewSalesLine,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sales_order_lines (id, order_id, line_no, item_id, quantity, unit_price) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            line.line_id.to_string(),
            order_id.to_string(),
            line_no as i64,
            line.item_id.to_string(),
            line.quantity,
            line.unit_price,
        ])
    })
    .map_err(db_error)?;
    Ok(())
}

/// Records the order's new status, hold and time, and its event. The
/// caller has read the lines as they now are (`load_lines`).
fn save(conn: &Connection, order: &mut SalesOrder, kind: &'static str) -> Result<SalesOrder> {
    order.updated_at = inventory_core::now();
    conn.prepare_cached(
        "UPDATE sales_orders SET status = ?1, hold_expires_at = ?2, customer_id = ?3, reference = ?4, \
         updated_at = ?5 WHERE id = ?6",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            order.status.as_str(),
            order.hold_expires_at.map(micros),
            order.customer_id.map(|id| id.to_string()),
            order.reference,
            micros(order.updated_at),
            order.id.to_string()
        ])
    })
    .map_err(db_error)?;
    record_event(conn, NewEvent::sales_order(kind, order))?;
    Ok(order.clone())
}

pub(crate) fn create(
    conn: &Connection,
    new: NewSalesOrder,
    actor: &Actor,
    idem: OrderIdem,
) -> Result<Created<SalesOrder>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    let (ship_from_id, _) = resolve_location(conn, new.ship_from.as_deref())?.ok_or_else(|| {
        Error::UnknownLocation {
            field: "ship_from".into(),
            code: new.ship_from.clone().unwrap_or_default(),
            known: Vec::new(),
        }
    })?;
    if let Some(customer) = new.customer_id {
        check_customer(conn, customer)?;
    }
    for (index, line) in new.lines.iter().enumerate() {
        open_item(conn, &line.item_id.to_string()).map_err(|e| line.refusal(index, e))?;
    }
    let seq: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM sales_orders")
        .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
        .map_err(db_error)?;
    conn.prepare_cached(
        "INSERT INTO sales_orders (id, seq, number, customer_id, reference, ship_from_id, status, \
         hold_expires_at, created_by, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'draft', ?7, ?8, ?9, ?9)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            new.id.to_string(),
            seq,
            order_number(seq),
            new.customer_id.map(|id| id.to_string()),
            new.reference,
            ship_from_id,
            new.hold_until.map(micros),
            actor.username,
            micros(new.created_at),
        ])
    })
    .map_err(db_error)?;
    for (line_no, line) in new.lines.iter().enumerate() {
        insert_line(conn, new.id, line_no, line)?;
    }
    let mut order = load_order(conn, new.id)?;
    if new.hold_until.is_some() {
        hold_all(conn, &order, new.hold_until, actor)?;
        load_lines(conn, &mut order, inventory_core::now())?;
    }
    record_event(
        conn,
        NewEvent::sales_order(event_kind::SALES_ORDER_CREATED, &order),
    )?;
    remember(conn, &idem, &order)?;
    Ok(Created::New(order))
}

pub(crate) fn update(
    conn: &Connection,
    id: Uuid,
    patch: SalesOrderPatch,
    actor: &Actor,
) -> Result<SalesOrder> {
    let mut order = load_order(conn, id)?;
    let customer = order.customer_id;
    let changes = patch.apply(&mut order)?;
    if let Some(new) = order.customer_id.filter(|c| Some(*c) != customer) {
        check_customer(conn, new)?;
    }
    let held = order
        .hold_expires_at
        .filter(|until| *until > inventory_core::now());
    for line_id in &changes.removed {
        if let Some(line) = order.lines.iter().find(|l| l.line_id == *line_id) {
            release_line(conn, line)?;
        }
        conn.execute(
            "DELETE FROM sales_order_lines WHERE id = ?1 AND shipped = 0",
            params![line_id.to_string()],
        )
        .map_err(db_error)?;
    }
    for (line_id, quantity, price) in &changes.changed {
        if let Some(line) = order.lines.iter().find(|l| l.line_id == *line_id) {
            release_line(conn, line)?;
        }
        conn.execute(
            "UPDATE sales_order_lines SET quantity = ?1, unit_price = ?2 WHERE id = ?3",
            params![quantity, price, line_id.to_string()],
        )
        .map_err(db_error)?;
    }
    let next_no: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(line_no), -1) + 1 FROM sales_order_lines WHERE order_id = ?1",
            params![id.to_string()],
            |r| r.get(0),
        )
        .map_err(db_error)?;
    for (n, line) in changes.added.iter().enumerate() {
        let index = order.lines.len() + n;
        open_item(conn, &line.item_id.to_string()).map_err(|e| line.refusal(index, e))?;
        insert_line(conn, id, next_no as usize + n, line)?;
    }
    if held.is_some() {
        // The holds follow the lines: what changed is held again, until
        // the same instant, all or none.
        let current = load_order(conn, id)?;
        hold_all(conn, &current, held, actor)?;
    }
    load_lines(conn, &mut order, inventory_core::now())?;
    save(conn, &mut order, event_kind::SALES_ORDER_UPDATED)
}

pub(crate) fn hold_order(
    conn: &Connection,
    id: Uuid,
    until: DateTime<Utc>,
    actor: &Actor,
    idem: OrderIdem,
) -> Result<Created<SalesOrder>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    let mut order = load_order(conn, id)?;
    order.allow(SalesAction::Hold)?;
    hold_all(conn, &order, Some(until), actor)?;
    load_lines(conn, &mut order, inventory_core::now())?;
    order.hold_expires_at = Some(until);
    let saved = save(conn, &mut order, event_kind::SALES_ORDER_HELD)?;
    remember(conn, &idem, &saved)?;
    Ok(Created::New(saved))
}

pub(crate) fn confirm(
    conn: &Connection,
    id: Uuid,
    actor: &Actor,
    idem: OrderIdem,
) -> Result<Created<SalesOrder>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    let mut order = load_order(conn, id)?;
    order.allow(SalesAction::Confirm)?;
    hold_all(conn, &order, None, actor)?;
    load_lines(conn, &mut order, inventory_core::now())?;
    order.status = SalesOrderStatus::Confirmed;
    order.hold_expires_at = None;
    let saved = save(conn, &mut order, event_kind::SALES_ORDER_CONFIRMED)?;
    remember(conn, &idem, &saved)?;
    Ok(Created::New(saved))
}

pub(crate) fn ship(
    conn: &Connection,
    id: Uuid,
    request: ShipRequest,
    actor: &Actor,
    idem: OrderIdem,
) -> Result<Created<SalesOrder>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    let mut order = load_order(conn, id)?;
    order.allow(SalesAction::Ship)?;
    for (line_id, quantity) in order.shipment(&request)? {
        let line = order
            .lines
            .iter()
            .find(|l| l.line_id == line_id)
            .ok_or_else(|| Error::internal("a planned line is missing"))?;
        // The line's reservations give the units back, and the issue
        // takes them, in this one transaction.
        expire_item(conn, &line.item_id.to_string())?;
        let mut left = quantity;
        for (reservation, held) in line_holds(conn, line_id)? {
            if left == 0 {
                break;
            }
            let take = left.min(held);
            consume(conn, reservation, held, take)?;
            left -= take;
        }
        let movement = shipment_movement(line.item_id, quantity, &order.ship_from, &order.number);
        let shipped = apply_one(conn, movement, actor).map_err(|e| order.line_error(line_id, e))?;
        conn.prepare_cached("INSERT INTO sales_shipments (movement_id, line_id) VALUES (?1, ?2)")
            .and_then(|mut stmt| {
                stmt.execute(params![
                    shipped.movement.id.to_string(),
                    line_id.to_string()
                ])
            })
            .map_err(db_error)?;
        conn.prepare_cached("UPDATE sales_order_lines SET shipped = shipped + ?1 WHERE id = ?2")
            .and_then(|mut stmt| stmt.execute(params![quantity, line_id.to_string()]))
            .map_err(db_error)?;
    }
    load_lines(conn, &mut order, inventory_core::now())?;
    order.status = order.after_shipping();
    let saved = save(conn, &mut order, event_kind::SALES_ORDER_SHIPPED)?;
    remember(conn, &idem, &saved)?;
    Ok(Created::New(saved))
}

pub(crate) fn cancel(conn: &Connection, id: Uuid, idem: OrderIdem) -> Result<Created<SalesOrder>> {
    if let Some(stored) = replay(conn, &idem)? {
        return Ok(Created::Replay(stored));
    }
    let mut order = load_order(conn, id)?;
    order.allow(SalesAction::Cancel)?;
    for line in &order.lines {
        release_line(conn, line)?;
    }
    load_lines(conn, &mut order, inventory_core::now())?;
    order.status = SalesOrderStatus::Cancelled;
    order.hold_expires_at = None;
    let saved = save(conn, &mut order, event_kind::SALES_ORDER_CANCELLED)?;
    remember(conn, &idem, &saved)?;
    Ok(Created::New(saved))
}

pub(crate) fn list(conn: &Connection, query: &SalesOrderQuery) -> Result<Page<SalesOrder>> {
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
            status.as_str().to_owned().into(),
        );
    }
    if let Some(customer) = query.customer_id {
        bind(
            &mut sql,
            " AND o.customer_id = ?",
            customer.to_string().into(),
        );
    }
    if let Some(q) = &query.q {
        let pattern = format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        // Both placeholders become the same numbered one.
        bind(
            &mut sql,
            " AND (o.number LIKE ? ESCAPE '\\' OR o.reference LIKE ? ESCAPE '\\')",
            pattern.into(),
        );
    }
    if let Some(after) = query.after {
        bind(&mut sql, " AND o.id > ?", after.to_string().into());
    }
    bind(
        &mut sql,
        " ORDER BY o.id LIMIT ?",
        i64::from(query.limit + 1).into(),
    );
    let mut orders = Vec::new();
    {
        let mut stmt = conn.prepare_cached(&sql).map_err(db_error)?;
        let mut rows = stmt.query(params_from_iter(values)).map_err(db_error)?;
        while let Some(r) = rows.next().map_err(db_error)? {
            orders.push(header_from_row(r)?);
        }
    }
    let now = inventory_core::now();
    for order in &mut orders {
        load_lines(conn, order, now)?;
    }
    Ok(Page::keyset(orders, query.limit, |o| o.id.to_string()))
}
