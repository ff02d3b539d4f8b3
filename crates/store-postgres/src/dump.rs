//! Export (one `REPEATABLE READ READ ONLY` transaction on a pooled
//! connection: one snapshot, rows streamed while replicas keep writing) and
//! import (one job on the writer, with the tables locked: all or nothing).

use crate::audit::{audit_row, record_audit};
use crate::errors::db_error;
use crate::rows::get;
use futures_util::TryStreamExt;
use inventory_core::audit::{action, NewAuditEntry};
use inventory_core::dump::*;
use inventory_core::fold;
use inventory_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool};
use std::io::Write;

type Writer = DumpWriter<Box<dyn Write + Send>>;

/// Streams the rows of `sql` through `decode` into the writer.
async fn each(
    conn: &mut PgConnection,
    sql: &'static str,
    writer: &mut Writer,
    decode: fn(&PgRow) -> Result<Record>,
) -> Result<()> {
    let mut rows = sqlx::query(sql).fetch(&mut *conn);
    while let Some(row) = rows.try_next().await.map_err(db_error)? {
        writer.row(&decode(&row)?)?;
    }
    Ok(())
}

pub(crate) async fn export(
    pool: &PgPool,
    out: Box<dyn Write + Send>,
    options: ExportOptions,
) -> Result<ExportCounts> {
    // Dropped without a commit, the transaction rolls back: it only read.
    let mut tx = pool.begin().await.map_err(db_error)?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    // Streaming a big table to a slow sink is not a runaway statement.
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let schema: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
    let mut w = DumpWriter::start(out, "postgres", schema, options)?;
    let conn: &mut PgConnection = &mut tx;
    each(
        conn,
        "SELECT id, username, password_hash, role, created_at, display_name, email, disabled, \
         must_change_password, updated_at FROM users ORDER BY id",
        &mut w,
        |r| {
            Ok(Record::User(UserRow {
                id: get(r, "id")?,
                username: get(r, "username")?,
                password_hash: get(r, "password_hash")?,
                role: get(r, "role")?,
                created_at: get(r, "created_at")?,
                display_name: get(r, "display_name")?,
                email: get(r, "email")?,
                disabled: get(r, "disabled")?,
                must_change_password: get(r, "must_change_password")?,
                updated_at: Some(get(r, "updated_at")?),
            }))
        },
    )
    .await?;
    each(
        conn,
        "SELECT id, code, name, is_default, created_at, updated_at FROM locations ORDER BY id",
        &mut w,
        |r| {
            Ok(Record::Location(LocationRow {
                id: get(r, "id")?,
                code: get(r, "code")?,
                name: get(r, "name")?,
                default: get(r, "is_default")?,
                created_at: get(r, "created_at")?,
                updated_at: get(r, "updated_at")?,
            }))
        },
    )
    .await?;
    each(
        conn,
        "SELECT id, sku, name, description, category, barcode, unit, reorder_point, unit_cost, attributes, \
         archived, on_hand, reserved, incoming, version, created_at, updated_at FROM items ORDER BY id",
        &mut w,
        |r| {
            Ok(Record::Item(ItemRow {
                id: get(r, "id")?,
                sku: get(r, "sku")?,
                name: get(r, "name")?,
                description: get(r, "description")?,
                category: get(r, "category")?,
                barcode: get(r, "barcode")?,
                unit: get(r, "unit")?,
                reorder_point: get(r, "reorder_point")?,
                unit_cost: get(r, "unit_cost")?,
                attributes: get(r, "attributes")?,
                archived: get(r, "archived")?,
                on_hand: get(r, "on_hand")?,
                reserved: get(r, "reserved")?,
                incoming: get(r, "incoming")?,
                version: get(r, "version")?,
                created_at: get(r, "created_at")?,
                updated_at: get(r, "updated_at")?,
            }))
        },
    )
    .await?;
    each(
        conn,
        "SELECT item_id, location_id, on_hand, reserved FROM stock ORDER BY item_id, location_id",
        &mut w,
        |r| {
            Ok(Record::Stock(StockRow {
                item_id: get(r, "item_id")?,
                location_id: get(r, "location_id")?,
                on_hand: get(r, "on_hand")?,
                reserved: get(r, "reserved")?,
            }))
        },
    )
    .await?;
    each(
        conn,
        "SELECT id, item_id, location_id, quantity, status, expires_at, reference, note, order_line_id, \
         created_by, created_at, ended_at FROM reservations ORDER BY id",
        &mut w,
        |r| {
            Ok(Record::Reservation(ReservationRow {
                id: get(r, "id")?,
                item_id: get(r, "item_id")?,
                location_id: get(r, "location_id")?,
                quantity: get(r, "quantity")?,
                status: get(r, "status")?,
                expires_at: get(r, "expires_at")?,
                reference: get(r, "reference")?,
                note: get(r, "note")?,
                order_line_id: get(r, "order_line_id")?,
                created_by: get(r, "created_by")?,
                created_at: get(r, "created_at")?,
                ended_at: get(r, "ended_at")?,
            }))
        },
    )
    .await?;
    each(
        conn,
        "SELECT seq, id, item_id, kind, quantity, location_id, from_location_id, to_location_id, \
         reason, reference, reverses, created_by, created_at FROM movements ORDER BY seq",
        &mut w,
        |r| {
            Ok(Record::Movement(MovementRow {
                seq: get(r, "seq")?,
                id: get(r, "id")?,
                item_id: get(r, "item_id")?,
                kind: get(r, "kind")?,
                quantity: get(r, "quantity")?,
                location_id: get(r, "location_id")?,
                from_location_id: get(r, "from_location_id")?,
                to_location_id: get(r, "to_location_id")?,
                reason: get(r, "reason")?,
                reference: get(r, "reference")?,
                reverses: get(r, "reverses")?,
                created_by: get(r, "created_by")?,
                created_at: get(r, "created_at")?,
            }))
        },
    )
    .await?;
    each(
        conn,
        "SELECT id, name, kind, code, email, phone, address, notes, archived, version, created_at, \
         updated_at FROM parties ORDER BY id",
        &mut w,
        |r| {
            Ok(Record::Party(PartyRow {
                id: get(r, "id")?,
                name: get(r, "name")?,
                kind: get(r, "kind")?,
                code: get(r, "code")?,
                email: get(r, "email")?,
                phone: get(r, "phone")?,
                address: get(r, "address")?,
                notes: get(r, "notes")?,
                archived: get(r, "archived")?,
                version: get(r, "version")?,
                created_at: get(r, "created_at")?,
                updated_at: get(r, "updated_at")?,
            }))
        },
    )
    .await?;
    each(
        conn,
        "SELECT id, seq, number, supplier_id, status, reference, expected_at, receive_to_id, version, \
         created_by, created_at, updated_at FROM purchase_orders ORDER BY seq",
        &mut w,
        |r| {
            Ok(Record::PurchaseOrder(PurchaseOrderRow {
                id: get(r, "id")?,
                seq: get(r, "seq")?,
                number: get(r, "number")?,
                supplier_id: get(r, "supplier_id")?,
                status: get(r, "status")?,
                reference: get(r, "reference")?,
                expected_at: get(r, "expected_at")?,
                receive_to_id: get(r, "receive_to_id")?,
                version: get(r, "version")?,
                created_by: get(r, "created_by")?,
                created_at: get(r, "created_at")?,
                updated_at: get(r, "updated_at")?,
            }))
        },
    )
    .await?;
    each(
        conn,
        "SELECT pl.id, pl.order_id, pl.position::BIGINT AS position, pl.item_id, pl.quantity, \
         pl.received, pl.unit_cost FROM purchase_order_lines pl \
         JOIN purchase_orders o ON o.id = pl.order_id ORDER BY o.seq, pl.position",
        &mut w,
        |r| {
            Ok(Record::PurchaseOrderLine(PurchaseOrderLineRow {
                id: get(r, "id")?,
                order_id: get(r, "order_id")?,
                position: get(r, "position")?,
                item_id: get(r, "item_id")?,
                quantity: get(r, "quantity")?,
                received: get(r, "received")?,
                unit_cost: get(r, "unit_cost")?,
            }))
        },
    )
    .await?;
    each(
        conn,
        "SELECT movement_id, line_id FROM purchase_receipts ORDER BY movement_id",
        &mut w,
        |r| {
            Ok(Record::PurchaseReceipt(PurchaseReceiptRow {
                movement_id: get(r, "movement_id")?,
                line_id: get(r, "line_id")?,
            }))
        },
    )
    .await?;
    each(
        conn,
        "SELECT id, seq, number, customer_id, reference, ship_from_id, status, hold_expires_at, \
         created_by, created_at, updated_at FROM sales_orders ORDER BY seq",
        &mut w,
        |r| {
            Ok(Record::SalesOrder(SalesOrderRow {
                id: get(r, "id")?,
                seq: get(r, "seq")?,
                number: get(r, "number")?,
                customer_id: get(r, "customer_id")?,
                reference: get(r, "reference")?,
                ship_from_id: get(r, "ship_from_id")?,
                status: get(r, "status")?,
                hold_expires_at: get(r, "hold_expires_at")?,
                created_by: get(r, "created_by")?,
                created_at: get(r, "created_at")?,
                updated_at: get(r, "updated_at")?,
            }))
        },
    )
    .await?;
    each(
        conn,
        "SELECT l.id, l.order_id, l.line_no::BIGINT AS line_no, l.item_id, l.quantity, l.shipped, \
         l.unit_price FROM sales_order_lines l JOIN sales_orders o ON o.id = l.order_id \
         ORDER BY o.seq, l.line_no",
        &mut w,
        |r| {
            Ok(Record::SalesOrderLine(SalesOrderLineRow {
                id: get(r, "id")?,
                order_id: get(r, "order_id")?,
                line_no: get(r, "line_no")?,
                item_id: get(r, "item_id")?,
                quantity: get(r, "quantity")?,
                shipped: get(r, "shipped")?,
                unit_price: get(r, "unit_price")?,
            }))
        },
    )
    .await?;
    each(
        conn,
        "SELECT movement_id, line_id FROM sales_shipments ORDER BY movement_id",
        &mut w,
        |r| {
            Ok(Record::SalesShipment(SalesShipmentRow {
                movement_id: get(r, "movement_id")?,
                line_id: get(r, "line_id")?,
            }))
        },
    )
    .await?;
    each(
        conn,
        "SELECT id, kind, entity_id, data, created_at FROM events ORDER BY id",
        &mut w,
        |r| {
            Ok(Record::Event(EventRow {
                id: get(r, "id")?,
                kind: get(r, "kind")?,
                entity_id: get(r, "entity_id")?,
                data: get(r, "data")?,
                created_at: get(r, "created_at")?,
            }))
        },
    )
    .await?;
    each(
        conn,
        "SELECT id, at, actor_id, actor_username, via, token_id, action, target_type, target_id, \
         changes, request_id, client_addr FROM audit_log ORDER BY id",
        &mut w,
        |r| Ok(Record::Audit(audit_row(r)?)),
    )
    .await?;
    let counts = w.finish()?;
    tx.commit().await.map_err(db_error)?;
    Ok(counts)
}

/// A row the database refuses (SQLSTATE class 23, integrity constraint
/// violation) is the file's fault: report its line.
fn at_line(line: u64) -> impl Fn(sqlx::Error) -> Error {
    move |e| {
        let refused = e
            .as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|c| c.starts_with("23"));
        if refused {
            Error::invalid(
                format!("line {line}"),
                format!("the database refuses the row: {e}"),
            )
        } else {
            db_error(e)
        }
    }
}

/// Whether the database holds nothing but the one location it was born with.
async fn ensure_empty(conn: &mut PgConnection) -> Result<()> {
    let (users, items, movements, events, locations, audit): (i64, i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM items), \
             (SELECT COUNT(*) FROM movements), (SELECT COUNT(*) FROM events), \
             (SELECT COUNT(*) FROM locations), (SELECT COUNT(*) FROM audit_log)",
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    let others = (locations - 1).max(0);
    if users + items + movements + events + others + audit > 0 {
        return Err(Error::invalid(
            "database",
            format!(
                "the target database is not empty ({users} users, {items} items, {movements} movements, \
                 {events} events, {others} locations besides the first, {audit} audit entries); \
                 import and restore need a new, empty database"
            ),
        ));
    }
    Ok(())
}

pub(crate) async fn import(conn: &mut PgConnection, rows: DumpRows) -> Result<ExportCounts> {
    // Other replicas may read meanwhile, but not write: the emptiness check
    // and the import are one step.
    sqlx::query(
        "LOCK TABLE users, locations, items, stock, reservations, movements, events, ledger_counter, \
         event_counter, parties, purchase_orders, purchase_order_lines, purchase_receipts, \
         sales_orders, sales_order_lines, sales_shipments, audit_log IN EXCLUSIVE MODE",
    )
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    ensure_empty(conn).await?;
    // The file's locations replace the one this database was born with.
    sqlx::query("DELETE FROM locations")
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let mut counts = ExportCounts::default();
    for row in rows {
        let (line, record) = row?;
        let err = at_line(line);
        match record {
            Record::User(u) => {
                sqlx::query(
                    "INSERT INTO users (id, username, password_hash, role, created_at, display_name, \
                     email, disabled, must_change_password, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(u.id)
                .bind(u.username)
                .bind(u.password_hash)
                .bind(u.role)
                .bind(u.created_at)
                .bind(u.display_name)
                .bind(u.email)
                .bind(u.disabled)
                .bind(u.must_change_password)
                .bind(u.updated_at.unwrap_or(u.created_at))
                .execute(&mut *conn)
                .await
                .map_err(&err)?;
                counts.users += 1;
            }
            Record::Location(l) => {
                sqlx::query(
                    "INSERT INTO locations (id, code, name, is_default, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(l.id)
                .bind(l.code)
                .bind(l.name)
                .bind(l.default)
                .bind(l.created_at)
                .bind(l.updated_at)
                .execute(&mut *conn)
                .await
                .map_err(&err)?;
                counts.locations += 1;
            }
            Record::Item(i) => {
                sqlx::query(
                    "INSERT INTO items (id, sku, name, description, category, unit, reorder_point, unit_cost, \
                     attributes, archived, on_hand, reserved, version, created_at, updated_at, sku_folded, name_folded, \
                     category_folded, barcode, incoming) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
                )
                .bind(i.id)
                .bind(&i.sku)
                .bind(&i.name)
                .bind(i.description)
                .bind(&i.category)
                .bind(i.unit)
                .bind(i.reorder_point)
                .bind(i.unit_cost)
                .bind(i.attributes)
                .bind(i.archived)
                .bind(i.on_hand)
                .bind(i.reserved)
                .bind(i.version)
                .bind(i.created_at)
                .bind(i.updated_at)
                .bind(fold(&i.sku))
                .bind(fold(&i.name))
                .bind(i.category.as_deref().map(fold))
                .bind(&i.barcode)
                .bind(i.incoming)
                .execute(&mut *conn)
                .await
                .map_err(&err)?;
                counts.items += 1;
            }
            Record::Stock(s) => {
                sqlx::query(
                    "INSERT INTO stock (item_id, location_id, on_hand, reserved) VALUES ($1, $2, $3, $4)",
                )
                .bind(s.item_id)
                .bind(s.location_id)
                .bind(s.on_hand)
                .bind(s.reserved)
                .execute(&mut *conn)
                .await
                .map_err(&err)?;
                counts.stock += 1;
            }
            Record::Reservation(r) => {
                sqlx::query(
                    "INSERT INTO reservations (id, item_id, location_id, quantity, status, expires_at, reference, \
                     note, order_line_id, created_by, created_at, ended_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(r.id)
                .bind(r.item_id)
                .bind(r.location_id)
                .bind(r.quantity)
                .bind(&r.status)
                .bind(r.expires_at)
                .bind(&r.reference)
                .bind(&r.note)
                .bind(r.order_line_id)
                .bind(&r.created_by)
                .bind(r.created_at)
                .bind(r.ended_at)
                .execute(&mut *conn)
                .await
                .map_err(&err)?;
                counts.reservations += 1;
            }
            Record::Movement(m) => {
                sqlx::query(
                    "INSERT INTO movements (seq, id, item_id, kind, quantity, location_id, from_location_id, \
                     to_location_id, reason, reference, created_by, created_at, reverses) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(m.seq)
                .bind(m.id)
                .bind(m.item_id)
                .bind(m.kind)
                .bind(m.quantity)
                .bind(m.location_id)
                .bind(m.from_location_id)
                .bind(m.to_location_id)
                .bind(m.reason)
                .bind(m.reference)
                .bind(m.created_by)
                .bind(m.created_at)
                .bind(m.reverses)
                .execute(&mut *conn)
                .await
                .map_err(&err)?;
                counts.movements += 1;
            }
            Record::Party(p) => {
                sqlx::query(
                    "INSERT INTO parties (id, name, name_folded, kind, code, email, phone, address, notes, \
                     archived, version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(p.id)
                .bind(&p.name)
                .bind(fold(&p.name))
                .bind(p.kind)
                .bind(p.code)
                .bind(p.email)
                .bind(p.phone)
                .bind(p.address)
                .bind(p.notes)
                .bind(p.archived)
                .bind(p.version)
                .bind(p.created_at)
                .bind(p.updated_at)
                .execute(&mut *conn)
                .await
                .map_err(&err)?;
                counts.parties += 1;
            }
            Record::PurchaseOrder(o) => {
                sqlx::query(
                    "INSERT INTO purchase_orders (id, seq, number, supplier_id, status, reference, \
                     reference_folded, expected_at, receive_to_id, version, created_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(o.id)
                .bind(o.seq)
                .bind(o.number)
                .bind(o.supplier_id)
                .bind(o.status)
                .bind(&o.reference)
                .bind(o.reference.as_deref().map(fold))
                .bind(o.expected_at)
                .bind(o.receive_to_id)
                .bind(o.version)
                .bind(o.created_by)
                .bind(o.created_at)
                .bind(o.updated_at)
                .execute(&mut *conn)
                .await
                .map_err(&err)?;
                counts.purchase_orders += 1;
            }
            Record::PurchaseOrderLine(l) => {
                sqlx::query(
                    "INSERT INTO purchase_order_lines (id, order_id, position, item_id, quantity, received, unit_cost) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(l.id)
                .bind(l.order_id)
                .bind(i32::try_from(l.position).map_err(|_| {
                    Error::invalid(format!("line {line}"), "position is out of range")
                })?)
                .bind(l.item_id)
                .bind(l.quantity)
                .bind(l.received)
                .bind(l.unit_cost)
                .execute(&mut *conn)
                .await
                .map_err(&err)?;
                counts.purchase_order_lines += 1;
            }
            Record::PurchaseReceipt(r) => {
                sqlx::query("INSERT INTO purchase_receipts (movement_id, line_id) VALUES ($1, $2)")
                    .bind(r.movement_id)
                    .bind(r.line_id)
                    .execute(&mut *conn)
                    .await
                    .map_err(&err)?;
                counts.purchase_receipts += 1;
            }
            Record::SalesOrder(o) => {
                sqlx::query(
                    "INSERT INTO sales_orders (id, seq, number, customer_id, reference, ship_from_id, status, \
                     hold_expires_at, created_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(o.id)
                .bind(o.seq)
                .bind(&o.number)
                .bind(o.customer_id)
                .bind(&o.reference)
                .bind(o.ship_from_id)
                .bind(&o.status)
                .bind(o.hold_expires_at)
                .bind(&o.created_by)
                .bind(o.created_at)
                .bind(o.updated_at)
                .execute(&mut *conn)
                .await
                .map_err(&err)?;
                counts.sales_orders += 1;
            }
            Record::SalesOrderLine(l) => {
                sqlx::query(
                    "INSERT INTO sales_order_lines (id, order_id, line_no, item_id, quantity, shipped, unit_price) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(l.id)
                .bind(l.order_id)
                .bind(i32::try_from(l.line_no).map_err(Error::internal)?)
                .bind(l.item_id)
                .bind(l.quantity)
                .bind(l.shipped)
                .bind(l.unit_price)
                .execute(&mut *conn)
                .await
                .map_err(&err)?;
                counts.sales_order_lines += 1;
            }
            Record::SalesShipment(r) => {
                sqlx::query("INSERT INTO sales_shipments (movement_id, line_id) VALUES ($1, $2)")
                    .bind(r.movement_id)
                    .bind(r.line_id)
                    .execute(&mut *conn)
                    .await
                    .map_err(&err)?;
                counts.sales_shipments += 1;
            }
            Record::Event(e) => {
                sqlx::query(
                    "INSERT INTO events (id, kind, entity_id, data, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(e.id)
                .bind(e.kind)
                .bind(e.entity_id)
                .bind(e.data)
                .bind(e.created_at)
                .execute(&mut *conn)
                .await
                .map_err(&err)?;
                counts.events += 1;
            }
            Record::Audit(a) => {
                sqlx::query(
                    "INSERT INTO audit_log (id, at, actor_id, actor_username, via, token_id, action, \
                     target_type, target_id, changes, request_id, client_addr) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(a.id)
                .bind(a.at)
                .bind(a.actor_id)
                .bind(a.actor_username)
                .bind(a.via)
                .bind(a.token_id)
                .bind(a.action)
                .bind(a.target_type)
                .bind(a.target_id)
                .bind(a.changes)
                .bind(a.request_id)
                .bind(a.client_addr)
                .execute(&mut *conn)
                .await
                .map_err(&err)?;
                counts.audit += 1;
            }
            Record::Header(_) | Record::End(_) => {
                return Err(Error::invalid(
                    format!("line {line}"),
                    "a header or end line among the rows",
                ))
            }
        }
    }
    // An export of schema 1 names no default: MAIN was it (or, renamed
    // away, the first location by code).
    sqlx::query(
        "UPDATE locations SET is_default = TRUE WHERE NOT EXISTS (SELECT 1 FROM locations WHERE is_default) \
         AND id = (SELECT id FROM locations ORDER BY code = 'MAIN' DESC, code LIMIT 1)",
    )
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    // The next movement and event continue after the imported ones.
    sqlx::query(
        "UPDATE ledger_counter SET value = GREATEST(value, (SELECT COALESCE(MAX(seq), 0) FROM movements))",
    )
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    sqlx::query(
        "UPDATE event_counter SET value = GREATEST(value, (SELECT COALESCE(MAX(id), 0) FROM events))",
    )
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    // And the next audit entry after the imported ones.
    sqlx::query(
        "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), COALESCE(MAX(id), 0) + 1, false) \
         FROM audit_log",
    )
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    let entry = NewAuditEntry::new(
        action::DATABASE_IMPORTED,
        "database",
        "import",
        serde_json::json!({"before": null, "after": {"counts": counts}}),
    );
    record_audit(conn, entry).await?;
    Ok(counts)
}
