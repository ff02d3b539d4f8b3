//! Parties and purchase orders: reads, and the writes that run on the
//! writer connection inside the savepoint of their job. Every write group
//! holds the counters' row locks (see `begin` in lib.rs), so writers on all
//! replicas are serialised and a read-then-write here is atomic; the
//! guards in SQL (version, status, received ≤ quantity) back it up.

use crate::errors::{db_error, unique_violation};
use crate::rows::{escape_like, get};
use crate::writes::{apply_batch, record_event, record_movement_events, remember, replay};
use inventory_core::error::ConflictKind;
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
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

// ---------------------------------------------------------------- parties

const PARTY_COLUMNS: &str = "id, name, kind, code, email, phone, address, notes, archived, \
                             version, created_at, updated_at";

fn party_from_row(r: &PgRow) -> Result<Party> {
    let kind: String = get(r, "kind")?;
    Ok(Party {
        id: get(r, "id")?,
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
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

fn party_unique_error(e: sqlx::Error, party: &Party) -> Error {
    match unique_violation(&e) {
        Some(ConflictKind::DuplicatePartyCode) => {
            Error::duplicate_party_code(party.code.as_deref().unwrap_or_default())
        }
        _ => db_error(e),
    }
}

pub(crate) async fn load_party<'e, E>(conn: E, id: Uuid) -> Result<Party>
where
    E: sqlx::PgExecutor<'e>,
{
    let row = sqlx::query(&format!(
        "SELECT {PARTY_COLUMNS} FROM parties WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(db_error)?
    .ok_or(Error::NotFound("party"))?;
    party_from_row(&row)
}

pub(crate) async fn create_party(
    conn: &mut PgConnection,
    party: Party,
    idem: Option<Idempotency<Party>>,
) -> Result<Created<Party>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    sqlx::query(
        "INSERT INTO parties (id, name, name_folded, kind, code, email, phone, address, notes, \
         archived, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(party.id)
    .bind(&party.name)
    .bind(fold(&party.name))
    .bind(party.kind.as_str())
    .bind(&party.code)
    .bind(&party.email)
    .bind(&party.phone)
    .bind(&party.address)
    .bind(&party.notes)
    .bind(party.archived)
    .bind(party.version)
    .bind(party.created_at)
    .bind(party.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| party_unique_error(e, &party))?;
    record_event(conn, NewEvent::party(event_kind::PARTY_CREATED, &party)).await?;
    remember(conn, &idem, &party).await?;
    Ok(Created::New(party))
}

pub(crate) async fn update_party(
    conn: &mut PgConnection,
    id: Uuid,
    patch: PartyPatch,
    if_version: Option<i64>,
) -> Result<Party> {
    let mut party = load_party(&mut *conn, id).await?;
    party.check_version(if_version)?;
    let (was_archived, version) = (party.archived, party.version);
    patch.apply(&mut party, inventory_core::now())?;
    if party.archived && !was_archived {
        let open: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM purchase_orders WHERE supplier_id = $1 \
             AND status IN {OPEN_STATUSES_SQL}"
        ))
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
        let open_sales: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM sales_orders WHERE customer_id = $1 \
             AND status IN {OPEN_SALES_STATUSES_SQL}"
        ))
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
        let open = open + open_sales;
        if open > 0 {
            return Err(party.has_open_orders_error(open));
        }
    }
    let changed = sqlx::query(
        "UPDATE parties SET name = $1, name_folded = $2, kind = $3, code = $4, email = $5, \
         phone = $6, address = $7, notes = $8, archived = $9, version = $10, updated_at = $11 \
         WHERE id = $12 AND version = $13",
    )
    .bind(&party.name)
    .bind(fold(&party.name))
    .bind(party.kind.as_str())
    .bind(&party.code)
    .bind(&party.email)
    .bind(&party.phone)
    .bind(&party.address)
    .bind(&party.notes)
    .bind(party.archived)
    .bind(party.version)
    .bind(party.updated_at)
    .bind(id)
    .bind(version)
    .execute(&mut *conn)
    .await
    .map_err(|e| party_unique_error(e, &party))?
    .rows_affected();
    if changed != 1 {
        return Err(Error::PreconditionFailed);
    }
    record_event(conn, NewEvent::party(event_kind::PARTY_UPDATED, &party)).await?;
    Ok(party)
}

fn page_end<T>(rows: &mut Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Option<String> {
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(key)
    } else {
        None
    }
}

pub(crate) async fn list_parties<'e, E>(conn: E, query: &PartyQuery) -> Result<Page<Party>>
where
    E: sqlx::PgExecutor<'e>,
{
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(format!(
        "SELECT {PARTY_COLUMNS} FROM parties WHERE archived = "
    ));
    qb.push_bind(query.archived.unwrap_or(false));
    if let Some(kind) = query.kind {
        qb.push(" AND kind = ").push_bind(kind.as_str());
    }
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        qb.push(" AND (name_folded LIKE ")
            .push_bind(escape_like(&fold(q)))
            .push(" OR lower(code) LIKE ")
            .push_bind(escape_like(&q.to_ascii_lowercase()))
            .push(")");
    }
    if let Some(after) = query.after {
        qb.push(" AND id > ").push_bind(after);
    }
    qb.push(" ORDER BY id LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    let rows = qb.build().fetch_all(conn).await.map_err(db_error)?;
    let mut parties = rows
        .iter()
        .map(party_from_row)
        .collect::<Result<Vec<_>>>()?;
    let next = page_end(&mut parties, query.limit, |p| p.id.to_string());
    Ok(Page {
        rows: parties,
        next_cursor: next,
    })
}

// ---------------------------------------------------------------- purchase orders

const ORDER_SELECT: &str = "SELECT o.id, o.seq, o.number, o.supplier_id, o.status, o.reference, \
     o.expected_at, l.code AS receive_to, o.version, o.created_by, o.created_at, o.updated_at \
     FROM purchase_orders o JOIN locations l ON l.id = o.receive_to_id";

const LINE_SELECT: &str =
    "SELECT pl.id, pl.order_id, pl.item_id, i.sku, pl.quantity, pl.received, \
     pl.unit_cost FROM purchase_order_lines pl JOIN items i ON i.id = pl.item_id";

fn order_from_row(r: &PgRow) -> Result<(i64, PurchaseOrder)> {
    let status: String = get(r, "status")?;
    Ok((
        get(r, "seq")?,
        PurchaseOrder {
            id: get(r, "id")?,
            number: get(r, "number")?,
            supplier_id: get(r, "supplier_id")?,
            status: PoStatus::parse(&status)
                .ok_or_else(|| Error::internal(format!("unknown status {status}")))?,
            reference: get(r, "reference")?,
            expected_at: get(r, "expected_at")?,
            receive_to: get(r, "receive_to")?,
            lines: Vec::new(),
            total: String::new(),
            version: get(r, "version")?,
            created_by: get(r, "created_by")?,
            created_at: get(r, "created_at")?,
            updated_at: get(r, "updated_at")?,
        },
    ))
}

fn line_from_row(r: &PgRow) -> Result<(Uuid, PoLine)> {
    Ok((
        get(r, "order_id")?,
        PoLine::new(
            get(r, "id")?,
            get(r, "item_id")?,
            get(r, "sku")?,
            get(r, "quantity")?,
            get(r, "received")?,
            get(r, "unit_cost")?,
        ),
    ))
}

async fn with_lines(
    conn: &mut PgConnection,
    orders: Vec<PurchaseOrder>,
) -> Result<Vec<PurchaseOrder>> {
    if orders.is_empty() {
        return Ok(orders);
    }
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    let rows = sqlx::query(&format!(
        "{LINE_SELECT} WHERE pl.order_id = ANY($1) ORDER BY pl.order_id, pl.position"
    ))
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let lines = rows.iter().map(line_from_row).collect::<Result<Vec<_>>>()?;
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

pub(crate) async fn load_order(conn: &mut PgConnection, id: Uuid) -> Result<PurchaseOrder> {
    let row = sqlx::query(&format!("{ORDER_SELECT} WHERE o.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .ok_or(Error::NotFound("purchase order"))?;
    let order = order_from_row(&row)?.1;
    Ok(with_lines(conn, vec![order]).await?.remove(0))
}

pub(crate) async fn list_orders(
    conn: &mut PgConnection,
    query: &PoQuery,
) -> Result<Page<PurchaseOrder>> {
    let mut qb: QueryBuilder<'_, Postgres> =
        QueryBuilder::new(format!("{ORDER_SELECT} WHERE TRUE"));
    if let Some(status) = query.status {
        qb.push(" AND o.status = ").push_bind(status.as_str());
    }
    if let Some(supplier) = query.supplier_id {
        qb.push(" AND o.supplier_id = ").push_bind(supplier);
    }
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        qb.push(" AND (lower(o.number) LIKE ")
            .push_bind(escape_like(&q.to_ascii_lowercase()))
            .push(" OR o.reference_folded LIKE ")
            .push_bind(escape_like(&fold(q)))
            .push(")");
    }
    if let Some(after) = query.after_seq {
        qb.push(" AND o.seq < ").push_bind(after);
    }
    qb.push(" ORDER BY o.seq DESC LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    let rows = qb.build().fetch_all(&mut *conn).await.map_err(db_error)?;
    let mut orders = rows
        .iter()
        .map(order_from_row)
        .collect::<Result<Vec<_>>>()?;
    let next = page_end(&mut orders, query.limit, |(seq, _)| seq.to_string());
    let orders = with_lines(conn, orders.into_iter().map(|(_, o)| o).collect()).await?;
    Ok(Page {
        rows: orders,
        next_cursor: next,
    })
}

async fn check_supplier(conn: &mut PgConnection, id: Uuid) -> Result<()> {
    match load_party(&mut *conn, id).await {
        Ok(party) => party.check_supplier("supplier_id"),
        Err(Error::NotFound(_)) => Err(Error::invalid("supplier_id", "no party has this id")),
        Err(e) => Err(e),
    }
}

async fn receive_to_id(conn: &mut PgConnection, code: Option<&str>) -> Result<Uuid> {
    sqlx::query_scalar("SELECT id FROM locations WHERE code = $1 OR ($1 IS NULL AND is_default)")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::UnknownLocation {
            field: "receive_to".into(),
            code: code.unwrap_or_default().to_owned(),
            known: Vec::new(),
        })
}

async fn write_lines(conn: &mut PgConnection, order_id: Uuid, lines: &[DraftLine]) -> Result<()> {
    sqlx::query("DELETE FROM purchase_order_lines WHERE order_id = $1")
        .bind(order_id)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let mut errors = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let item: Option<(bool, i64)> =
            sqlx::query_as("SELECT archived, unit_cost FROM items WHERE id = $1")
                .bind(line.item_id)
                .fetch_optional(&mut *conn)
                .await
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
        sqlx::query(
            "INSERT INTO purchase_order_lines (id, order_id, position, item_id, quantity, received, unit_cost) \
             VALUES ($1, $2, $3, $4, $5, 0, $6)",
        )
        .bind(line.line_id)
        .bind(order_id)
        .bind(i as i32)
        .bind(line.item_id)
        .bind(line.quantity)
        .bind(unit_cost)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

pub(crate) async fn create_order(
    conn: &mut PgConnection,
    order: NewPurchaseOrder,
    actor: Actor,
    idem: Option<Idempotency<PurchaseOrder>>,
) -> Result<Created<PurchaseOrder>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    check_supplier(conn, order.supplier_id).await?;
    let location = receive_to_id(conn, order.receive_to.as_deref()).await?;
    // MAX + 1 is safe: the group holds the counters' locks (one writer at a
    // time across replicas); the unique keys would refuse a duplicate.
    let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM purchase_orders")
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    sqlx::query(
        "INSERT INTO purchase_orders (id, seq, number, supplier_id, status, reference, reference_folded, \
         expected_at, receive_to_id, version, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, 1, $9, $10, $10)",
    )
    .bind(order.id)
    .bind(seq)
    .bind(number(seq))
    .bind(order.supplier_id)
    .bind(&order.reference)
    .bind(order.reference.as_deref().map(fold))
    .bind(order.expected_at)
    .bind(location)
    .bind(&actor.username)
    .bind(order.created_at)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    write_lines(conn, order.id, &order.lines).await?;
    let created = load_order(conn, order.id).await?;
    record_event(
        conn,
        NewEvent::purchase_order(event_kind::PURCHASE_ORDER_CREATED, &created),
    )
    .await?;
    remember(conn, &idem, &created).await?;
    Ok(Created::New(created))
}

async fn set_status(
    conn: &mut PgConnection,
    order: &PurchaseOrder,
    status: PoStatus,
) -> Result<()> {
    let changed = sqlx::query(
        "UPDATE purchase_orders SET status = $1, version = version + 1, updated_at = $2 \
         WHERE id = $3 AND version = $4",
    )
    .bind(status.as_str())
    .bind(inventory_core::now())
    .bind(order.id)
    .bind(order.version)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?
    .rows_affected();
    if changed != 1 {
        return Err(Error::internal("a purchase order changed under its writer"));
    }
    Ok(())
}

async fn move_incoming(conn: &mut PgConnection, item_id: Uuid, delta: i64) -> Result<()> {
    if delta == 0 {
        return Ok(());
    }
    sqlx::query("UPDATE items SET incoming = incoming + $1 WHERE id = $2")
        .bind(delta)
        .bind(item_id)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn update_order(
    conn: &mut PgConnection,
    id: Uuid,
    patch: PurchaseOrderPatch,
) -> Result<PurchaseOrder> {
    let order = load_order(conn, id).await?;
    let draft = patch.apply(&order)?;
    if draft.supplier_id != order.supplier_id {
        check_supplier(conn, draft.supplier_id).await?;
    }
    let location = match draft.receive_to.as_deref() {
        Some(code) => Some(receive_to_id(conn, Some(code)).await?),
        None => None,
    };
    let changed = sqlx::query(
        "UPDATE purchase_orders SET supplier_id = $1, reference = $2, reference_folded = $3, \
         expected_at = $4, receive_to_id = COALESCE($5, receive_to_id), version = version + 1, \
         updated_at = $6 WHERE id = $7 AND version = $8 AND status = 'draft'",
    )
    .bind(draft.supplier_id)
    .bind(&draft.reference)
    .bind(draft.reference.as_deref().map(fold))
    .bind(draft.expected_at)
    .bind(location)
    .bind(inventory_core::now())
    .bind(id)
    .bind(order.version)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?
    .rows_affected();
    if changed != 1 {
        return Err(Error::internal("a purchase order changed under its writer"));
    }
    write_lines(conn, id, &draft.lines).await?;
    let updated = load_order(conn, id).await?;
    record_event(
        conn,
        NewEvent::purchase_order(event_kind::PURCHASE_ORDER_UPDATED, &updated),
    )
    .await?;
    Ok(updated)
}

pub(crate) async fn submit_order(
    conn: &mut PgConnection,
    id: Uuid,
    idem: Option<Idempotency<PurchaseOrder>>,
) -> Result<Created<PurchaseOrder>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    let order = load_order(conn, id).await?;
    for (item, delta) in order.plan_submit()? {
        move_incoming(conn, item, delta).await?;
    }
    set_status(conn, &order, PoStatus::Submitted).await?;
    let submitted = load_order(conn, id).await?;
    record_event(
        conn,
        NewEvent::purchase_order(event_kind::PURCHASE_ORDER_SUBMITTED, &submitted),
    )
    .await?;
    remember(conn, &idem, &submitted).await?;
    Ok(Created::New(submitted))
}

pub(crate) async fn receive_order(
    conn: &mut PgConnection,
    id: Uuid,
    receipt: ReceivePurchaseOrder,
    actor: Actor,
    idem: Option<Idempotency<ReceiptResult>>,
) -> Result<Created<ReceiptResult>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    let order = load_order(conn, id).await?;
    let plan = order.plan_receipt(&receipt)?;
    for step in &plan.steps {
        // The guard: a line never passes its quantity unless allowed.
        let changed = sqlx::query(
            "UPDATE purchase_order_lines SET received = received + $1 \
             WHERE id = $2 AND ($3 OR received + $1 <= quantity)",
        )
        .bind(step.quantity)
        .bind(step.line_id)
        .bind(plan.allow_over_receipt)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?
        .rows_affected();
        if changed != 1 {
            return Err(Error::internal(
                "a purchase-order line changed under its writer",
            ));
        }
        move_incoming(conn, step.item_id, step.incoming_delta).await?;
    }
    // The movements exactly as `apply_movements` applies them.
    let batch = plan
        .steps
        .iter()
        .map(|s| (s.movement.clone(), actor.username.clone()))
        .collect();
    let mut movements = Vec::with_capacity(plan.steps.len());
    for (index, result) in apply_batch(conn, batch, false)
        .await?
        .into_iter()
        .enumerate()
    {
        movements.push(result.map_err(|e| e.at_index(index))?);
    }
    if movements.len() != plan.steps.len() {
        return Err(Error::internal(
            "inventory_apply_movements returned too few rows",
        ));
    }
    record_movement_events(conn, &movements.iter().collect::<Vec<_>>()).await?;
    let movement_ids: Vec<Uuid> = movements.iter().map(|m| m.movement.id).collect();
    let line_ids: Vec<Uuid> = plan.steps.iter().map(|s| s.line_id).collect();
    sqlx::query(
        "INSERT INTO purchase_receipts (movement_id, line_id) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[])",
    )
    .bind(&movement_ids)
    .bind(&line_ids)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    set_status(conn, &order, plan.status).await?;
    let received = load_order(conn, id).await?;
    record_event(
        conn,
        NewEvent::purchase_order(event_kind::PURCHASE_ORDER_RECEIVED, &received),
    )
    .await?;
    let result = ReceiptResult {
        order: received,
        movements,
    };
    remember(conn, &idem, &result).await?;
    Ok(Created::New(result))
}

pub(crate) async fn cancel_order(
    conn: &mut PgConnection,
    id: Uuid,
    idem: Option<Idempotency<PurchaseOrder>>,
) -> Result<Created<PurchaseOrder>> {
    if let Some(stored) = replay(conn, &idem).await? {
        return Ok(Created::Replay(stored));
    }
    let order = load_order(conn, id).await?;
    order.status.allows(PoAction::Cancel)?;
    for (item, delta) in order.release_incoming() {
        move_incoming(conn, item, delta).await?;
    }
    set_status(conn, &order, order.cancelled_status()).await?;
    let cancelled = load_order(conn, id).await?;
    record_event(
        conn,
        NewEvent::purchase_order(event_kind::PURCHASE_ORDER_CANCELLED, &cancelled),
    )
    .await?;
    remember(conn, &idem, &cancelled).await?;
    Ok(Created::New(cancelled))
}
