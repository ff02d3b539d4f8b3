//! Sales orders on PostgreSQL. Each write runs in its job's savepoint on
//! the writer (every replica's write groups are serialized by the counter
//! locks): the order, its reservations (the reservation guards), its
//! shipments' movements (`inventory_apply_movements`) and every event
//! commit together or not at all.

use crate::errors::db_error;
use crate::expiry::expire_before_guard;
use crate::journal::{record_events, remember, replay};
use crate::purchasing::load_party;
use crate::reservations::{consume, end_reservation, hold, line_holds, set_expiry};
use crate::rows::*;
use crate::writes::{apply_batch, record_movement_events};
use chrono::{DateTime, Utc};
use inventory_core::events::{event_kind, NewEvent};
use inventory_core::ledger::{Actor, Refusal};
use inventory_core::paging::Page;
use inventory_core::reservations::{NewReservation, ReservationStatus};
use inventory_core::sales::{
    order_number, shipment_movement, NewSalesLine, NewSalesOrder, SalesAction, SalesLine,
    SalesOrder, SalesOrderPatch, SalesOrderQuery, SalesOrderStatus, ShipRequest,
};
use inventory_core::store::{Created, OrderIdem};
use inventory_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

const ORDER_SELECT: &str =
    "SELECT o.id, o.number, o.customer_id, o.reference, l.code AS ship_from, \
     o.status, o.hold_expires_at, o.created_by, o.created_at, o.updated_at FROM sales_orders o \
     JOIN locations l ON l.id = o.ship_from_id";

const LINES_SELECT: &str = "SELECT sl.order_id, sl.id, sl.item_id, i.sku, sl.quantity, sl.shipped, \
     sl.unit_price, (SELECT COALESCE(SUM(r.quantity), 0) FROM reservations r WHERE r.order_line_id = sl.id \
       AND r.status = 'active' AND (r.expires_at IS NULL OR r.expires_at > $2))::BIGINT AS reserved \
     FROM sales_order_lines sl JOIN items i ON i.id = sl.item_id \
     WHERE sl.order_id = ANY ($1) ORDER BY sl.order_id, sl.line_no";

fn header_from_row(r: &PgRow) -> Result<SalesOrder> {
    let status: String = get(r, "status")?;
    Ok(SalesOrder {
        id: get(r, "id")?,
        number: get(r, "number")?,
        customer_id: get(r, "customer_id")?,
        reference: get(r, "reference")?,
        ship_from: get(r, "ship_from")?,
        status: SalesOrderStatus::parse(&status).map_err(Error::internal)?,
        hold_expires_at: get(r, "hold_expires_at")?,
        lines: Vec::new(),
        total: String::new(),
        created_by: get(r, "created_by")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

/// The orders' lines, each with what its reservations hold now.
async fn load_lines<'e, E>(conn: E, orders: &mut [SalesOrder]) -> Result<()>
where
    E: sqlx::PgExecutor<'e>,
{
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    let rows = sqlx::query(LINES_SELECT)
        .bind(&ids)
        .bind(inventory_core::now())
        .fetch_all(conn)
        .await
        .map_err(db_error)?;
    for order in orders.iter_mut() {
        order.lines.clear();
    }
    for r in &rows {
        let order_id: Uuid = get(r, "order_id")?;
        let Some(order) = orders.iter_mut().find(|o| o.id == order_id) else {
            continue;
        };
        order.lines.push(SalesLine {
            line_id: get(r, "id")?,
            item_id: get(r, "item_id")?,
            sku: get(r, "sku")?,
            quantity: get(r, "quantity")?,
            shipped: get(r, "shipped")?,
            reserved: get(r, "reserved")?,
            unit_price: get(r, "unit_price")?,
            line_total: String::new(),
        });
    }
    for order in orders.iter_mut() {
        order.total_lines();
    }
    Ok(())
}

pub(crate) async fn load_order(conn: &mut PgConnection, id: Uuid) -> Result<SalesOrder> {
    let row = sqlx::query(&format!("{ORDER_SELECT} WHERE o.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .ok_or(Error::NotFound("sales order"))?;
    let mut orders = [header_from_row(&row)?];
    load_lines(&mut *conn, &mut orders).await?;
    let [order] = orders;
    Ok(order)
}

pub(crate) async fn read_order(pool: &PgPool, id: Uuid) -> Result<SalesOrder> {
    let mut conn = pool.acquire().await.map_err(db_error)?;
    load_order(&mut conn, id).await
}

/// The customer, checked: a party that buys and is not archived.
async fn check_customer(conn: &mut PgConnection, id: Uuid) -> Result<()> {
    match load_party(&mut *conn, id).await {
        Ok(party) => party.check_customer("customer_id"),
        Err(Error::NotFound(_)) => Err(Error::invalid("customer_id", "no party has this id")),
        Err(e) => Err(e),
    }
}

/// The item exists and is not archived.
async fn open_item(conn: &mut PgConnection, item_id: Uuid) -> Result<()> {
    let row = sqlx::query("SELECT sku, archived FROM items WHERE id = $1")
        .bind(item_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .ok_or(Refusal::NoItem)?;
    if get::<bool>(&row, "archived")? {
        return Err(Refusal::Archived {
            sku: get(&row, "sku")?,
        }
        .into());
    }
    Ok(())
}

/// Reserves `quantity` of a line at the order's location, until `until`
/// (none: firmly).
async fn hold_line(
    conn: &mut PgConnection,
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
    hold(conn, &new, actor)
        .await
        .map_err(|e| order.line_error(line.line_id, e))?;
    Ok(())
}

/// Makes every line of `order` held until `until` (none: firmly): its
/// active reservations take the new expiry (never released in between),
/// and what they lack is reserved behind the guard. All or none: the
/// caller's job rolls back on the first short line.
async fn hold_all(
    conn: &mut PgConnection,
    order: &SalesOrder,
    until: Option<DateTime<Utc>>,
    actor: &Actor,
) -> Result<()> {
    for line in &order.lines {
        expire_before_guard(conn, &[line.item_id]).await?;
        let mut held = 0;
        for (id, quantity) in line_holds(conn, line.line_id).await? {
            set_expiry(conn, id, until).await?;
            held += quantity;
        }
        let missing = line.outstanding() - held;
        if missing > 0 {
            hold_line(conn, order, line, missing, until, actor).await?;
        }
    }
    Ok(())
}

/// Releases what a line's reservations still hold.
async fn release_line(conn: &mut PgConnection, line: &SalesLine) -> Result<()> {
    expire_before_guard(conn, &[line.item_id]).await?;
    for (id, _) in line_holds(conn, line.line_id).await? {
        end_reservation(conn, id, ReservationStatus::Released, "release").await?;
    }
    Ok(())
}

async fn insert_line(
    conn: &mut PgConnection,
    order_id: Uuid,
    line_no: i32,
    line: &NewSalesLine,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sales_order_lines (id, order_id, line_no, item_id, quantity, unit_price) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(line.line_id)
    .bind(order_id)
    .bind(line_no)
    .bind(line.item_id)
    .bind(line.quantity)
    .bind(line.unit_price)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Records the order's new status, hold and time, and its event.
async fn save(
    conn: &mut PgConnection,
    order: &mut SalesOrder,
    kind: &'static str,
) -> Result<SalesOrder> {
    order.updated_at = truncate(inventory_core::now());
    sqlx::query(
        "UPDATE sales_orders SET status = $1, hold_expires_at = $2, customer_id = $3, reference = $4, \
         updated_at = $5 WHERE id = $6",
    )
    .bind(order.status.as_str())
    .bind(order.hold_expires_at.map(truncate))
    .bind(order.customer_id)
    .bind(&order.reference)
    .bind(order.updated_at)
    .bind(order.id)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    let saved = load_order(conn, order.id).await?;
    record_events(conn, &[NewEvent::sales_order(kind, &saved)]).await?;
    Ok(saved)
}

pub(crate) async fn create(
    conn: &mut PgConnection,
    new: NewSalesOrder,
    actor: Actor,
    idem: OrderIdem,
) -> Result<Created<SalesOrder>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    let ship_from: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM locations WHERE CASE WHEN $1::text IS NULL THEN is_default ELSE code = $1 END",
    )
    .bind(new.ship_from.as_deref())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    let ship_from = ship_from.ok_or_else(|| Error::UnknownLocation {
        field: "ship_from".into(),
        code: new.ship_from.clone().unwrap_or_default(),
        known: Vec::new(),
    })?;
    if let Some(customer) = new.customer_id {
        check_customer(conn, customer).await?;
    }
    for (index, line) in new.lines.iter().enumerate() {
        open_item(conn, line.item_id)
            .await
            .map_err(|e| line.refusal(index, e))?;
    }
    let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM sales_orders")
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    sqlx::query(
        "INSERT INTO sales_orders (id, seq, number, customer_id, reference, ship_from_id, status, \
         hold_expires_at, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $8, $9, $9)",
    )
    .bind(new.id)
    .bind(seq)
    .bind(order_number(seq))
    .bind(new.customer_id)
    .bind(&new.reference)
    .bind(ship_from)
    .bind(new.hold_until.map(truncate))
    .bind(&actor.username)
    .bind(truncate(new.created_at))
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    for (line_no, line) in new.lines.iter().enumerate() {
        insert_line(conn, new.id, line_no as i32, line).await?;
    }
    if new.hold_until.is_some() {
        let order = load_order(conn, new.id).await?;
        hold_all(conn, &order, new.hold_until, &actor).await?;
    }
    let order = load_order(conn, new.id).await?;
    record_events(
        conn,
        &[NewEvent::sales_order(
            event_kind::SALES_ORDER_CREATED,
            &order,
        )],
    )
    .await?;
    remember(conn, &idem, &order).await?;
    Ok(Created::New(order))
}

pub(crate) async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    patch: SalesOrderPatch,
    actor: Actor,
) -> Result<SalesOrder> {
    let mut order = load_order(conn, id).await?;
    let customer = order.customer_id;
    let changes = patch.apply(&mut order)?;
    if let Some(new) = order.customer_id.filter(|c| Some(*c) != customer) {
        check_customer(conn, new).await?;
    }
    let held = order
        .hold_expires_at
        .filter(|until| *until > inventory_core::now());
    for line_id in &changes.removed {
        if let Some(line) = order.lines.iter().find(|l| l.line_id == *line_id) {
            release_line(conn, line).await?;
        }
        sqlx::query("DELETE FROM sales_order_lines WHERE id = $1 AND shipped = 0")
            .bind(line_id)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    for (line_id, quantity, price) in &changes.changed {
        if let Some(line) = order.lines.iter().find(|l| l.line_id == *line_id) {
            release_line(conn, line).await?;
        }
        sqlx::query("UPDATE sales_order_lines SET quantity = $1, unit_price = $2 WHERE id = $3")
            .bind(quantity)
            .bind(price)
            .bind(line_id)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    let next_no: i32 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(line_no), -1) + 1 FROM sales_order_lines WHERE order_id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    for (n, line) in changes.added.iter().enumerate() {
        let index = order.lines.len() + n;
        open_item(conn, line.item_id)
            .await
            .map_err(|e| line.refusal(index, e))?;
        insert_line(conn, id, next_no + n as i32, line).await?;
    }
    if held.is_some() {
        // The holds follow the lines: what changed is held again, until
        // the same instant, all or none.
        let current = load_order(conn, id).await?;
        hold_all(conn, &current, held, &actor).await?;
    }
    save(conn, &mut order, event_kind::SALES_ORDER_UPDATED).await
}

pub(crate) async fn hold_order(
    conn: &mut PgConnection,
    id: Uuid,
    until: DateTime<Utc>,
    actor: Actor,
    idem: OrderIdem,
) -> Result<Created<SalesOrder>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    let mut order = load_order(conn, id).await?;
    order.allow(SalesAction::Hold)?;
    hold_all(conn, &order, Some(until), &actor).await?;
    order.hold_expires_at = Some(until);
    let saved = save(conn, &mut order, event_kind::SALES_ORDER_HELD).await?;
    remember(conn, &idem, &saved).await?;
    Ok(Created::New(saved))
}

pub(crate) async fn confirm(
    conn: &mut PgConnection,
    id: Uuid,
    actor: Actor,
    idem: OrderIdem,
) -> Result<Created<SalesOrder>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    let mut order = load_order(conn, id).await?;
    order.allow(SalesAction::Confirm)?;
    hold_all(conn, &order, None, &actor).await?;
    order.status = SalesOrderStatus::Confirmed;
    order.hold_expires_at = None;
    let saved = save(conn, &mut order, event_kind::SALES_ORDER_CONFIRMED).await?;
    remember(conn, &idem, &saved).await?;
    Ok(Created::New(saved))
}

pub(crate) async fn ship(
    conn: &mut PgConnection,
    id: Uuid,
    request: ShipRequest,
    actor: Actor,
    idem: OrderIdem,
) -> Result<Created<SalesOrder>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    let mut order = load_order(conn, id).await?;
    order.allow(SalesAction::Ship)?;
    for (line_id, quantity) in order.shipment(&request)? {
        let line = order
            .lines
            .iter()
            .find(|l| l.line_id == line_id)
            .ok_or_else(|| Error::internal("a planned line is missing"))?
            .clone();
        // The line's reservations give the units back, and the issue
        // takes them, in this one transaction.
        expire_before_guard(conn, &[line.item_id]).await?;
        let mut left = quantity;
        for (reservation, held) in line_holds(conn, line_id).await? {
            if left == 0 {
                break;
            }
            let take = left.min(held);
            consume(conn, reservation, held, take).await?;
            left -= take;
        }
        let movement = shipment_movement(line.item_id, quantity, &order.ship_from, &order.number);
        let mut results =
            apply_batch(conn, vec![(movement, actor.username.clone())], false).await?;
        let applied = results
            .pop()
            .ok_or_else(|| Error::internal("no result for the shipment"))?
            .map_err(|e| order.line_error(line_id, e))?;
        record_movement_events(conn, &[&applied]).await?;
        sqlx::query("INSERT INTO sales_shipments (movement_id, line_id) VALUES ($1, $2)")
            .bind(applied.movement.id)
            .bind(line_id)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        sqlx::query("UPDATE sales_order_lines SET shipped = shipped + $1 WHERE id = $2")
            .bind(quantity)
            .bind(line_id)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    let mut current = load_order(conn, id).await?;
    current.status = current.after_shipping();
    let saved = save(conn, &mut current, event_kind::SALES_ORDER_SHIPPED).await?;
    order = saved;
    remember(conn, &idem, &order).await?;
    Ok(Created::New(order))
}

pub(crate) async fn cancel(
    conn: &mut PgConnection,
    id: Uuid,
    idem: OrderIdem,
) -> Result<Created<SalesOrder>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    let mut order = load_order(conn, id).await?;
    order.allow(SalesAction::Cancel)?;
    for line in order.lines.clone() {
        release_line(conn, &line).await?;
    }
    order.status = SalesOrderStatus::Cancelled;
    order.hold_expires_at = None;
    let saved = save(conn, &mut order, event_kind::SALES_ORDER_CANCELLED).await?;
    remember(conn, &idem, &saved).await?;
    Ok(Created::New(saved))
}

pub(crate) async fn list(pool: &PgPool, query: &SalesOrderQuery) -> Result<Page<SalesOrder>> {
    let mut sql: QueryBuilder<'_, Postgres> =
        QueryBuilder::new(format!("{ORDER_SELECT} WHERE TRUE"));
    if let Some(status) = query.status {
        sql.push(" AND o.status = ").push_bind(status.as_str());
    }
    if let Some(customer) = query.customer_id {
        sql.push(" AND o.customer_id = ").push_bind(customer);
    }
    if let Some(q) = &query.q {
        let pattern = format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        sql.push(" AND (o.number ILIKE ")
            .push_bind(pattern.clone())
            .push(" OR o.reference ILIKE ")
            .push_bind(pattern)
            .push(")");
    }
    if let Some(after) = query.after {
        sql.push(" AND o.id > ").push_bind(after);
    }
    sql.push(" ORDER BY o.id LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    let mut conn = pool.acquire().await.map_err(db_error)?;
    let rows = sql.build().fetch_all(&mut *conn).await.map_err(db_error)?;
    let mut orders = rows
        .iter()
        .map(header_from_row)
        .collect::<Result<Vec<_>>>()?;
    load_lines(&mut *conn, &mut orders).await?;
    Ok(Page::keyset(orders, query.limit, |o| o.id.to_string()))
}
