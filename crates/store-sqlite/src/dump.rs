//! Export (one read transaction on a read connection: a WAL snapshot, while
//! the writer goes on) and import (one job on the writer: all or nothing).

use crate::audit::{audit_row, record_audit, AUDIT_COLUMNS};
use crate::errors::db_error;
use crate::rows::{get, micros, opt_uuid, time, uuid};
use inventory_core::audit::{action, NewAuditEntry};
use inventory_core::dump::*;
use inventory_core::fold;
use inventory_core::{Error, Result};
use rusqlite::{params, Connection, ErrorCode, Row};
use std::io::Write;

/// Runs `query` and hands each decoded row to the writer.
fn each(
    conn: &Connection,
    sql: &str,
    writer: &mut DumpWriter<Box<dyn Write + Send>>,
    decode: impl Fn(&Row<'_>) -> Result<Record>,
) -> Result<()> {
    let mut stmt = conn.prepare(sql).map_err(db_error)?;
    let mut rows = stmt.query([]).map_err(db_error)?;
    while let Some(row) = rows.next().map_err(db_error)? {
        writer.row(&decode(row)?)?;
    }
    Ok(())
}

pub(crate) fn export(
    conn: &Connection,
    out: Box<dyn Write + Send>,
    options: ExportOptions,
) -> Result<ExportCounts> {
    // A deferred transaction: the first read fixes the snapshot that every
    // following read sees, whatever the writer commits meanwhile.
    conn.execute_batch("BEGIN").map_err(db_error)?;
    let result = export_in(conn, out, options);
    let _ = conn.execute_batch("COMMIT");
    result
}

fn export_in(
    conn: &Connection,
    out: Box<dyn Write + Send>,
    options: ExportOptions,
) -> Result<ExportCounts> {
    let schema: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(db_error)?;
    let mut w = DumpWriter::start(out, "sqlite", schema, options)?;
    each(
        conn,
        "SELECT id, username, password_hash, role, created_at, display_name, email, disabled, \
         must_change_password, updated_at FROM users ORDER BY id",
        &mut w,
        |r| {
            Ok(Record::User(UserRow {
                id: uuid(r, "id")?,
                username: get(r, "username")?,
                password_hash: get(r, "password_hash")?,
                role: get(r, "role")?,
                created_at: time(r, "created_at")?,
                display_name: get(r, "display_name")?,
                email: get(r, "email")?,
                disabled: get(r, "disabled")?,
                must_change_password: get(r, "must_change_password")?,
                updated_at: Some(time(r, "updated_at")?),
            }))
        },
    )?;
    each(
        conn,
        "SELECT id, code, name, is_default, created_at, updated_at FROM locations ORDER BY id",
        &mut w,
        |r| {
            Ok(Record::Location(LocationRow {
                id: uuid(r, "id")?,
                code: get(r, "code")?,
                name: get(r, "name")?,
                default: get(r, "is_default")?,
                created_at: time(r, "created_at")?,
                updated_at: time(r, "updated_at")?,
            }))
        },
    )?;
    each(
        conn,
        "SELECT id, sku, name, description, category, barcode, unit, reorder_point, unit_cost, attributes, \
         archived, on_hand, reserved, incoming, version, created_at, updated_at FROM items ORDER BY id",
        &mut w,
        |r| {
            Ok(Record::Item(ItemRow {
                id: uuid(r, "id")?,
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
                created_at: time(r, "created_at")?,
                updated_at: time(r, "updated_at")?,
            }))
        },
    )?;
    each(
        conn,
        "SELECT item_id, location_id, on_hand, reserved FROM stock ORDER BY item_id, location_id",
        &mut w,
        |r| {
            Ok(Record::Stock(StockRow {
                item_id: uuid(r, "item_id")?,
                location_id: uuid(r, "location_id")?,
                on_hand: get(r, "on_hand")?,
                reserved: get(r, "reserved")?,
            }))
        },
    )?;
    each(
        conn,
        "SELECT id, item_id, location_id, quantity, status, expires_at, reference, note, order_line_id, \
         created_by, created_at, ended_at FROM reservations ORDER BY id",
        &mut w,
        |r| {
            let optional_time = |col: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>> {
                match get::<Option<i64>>(r, col)? {
                    Some(_) => time(r, col).map(Some),
                    None => Ok(None),
                }
            };
            Ok(Record::Reservation(ReservationRow {
                id: uuid(r, "id")?,
                item_id: uuid(r, "item_id")?,
                location_id: uuid(r, "location_id")?,
                quantity: get(r, "quantity")?,
                status: get(r, "status")?,
                expires_at: optional_time("expires_at")?,
                reference: get(r, "reference")?,
                note: get(r, "note")?,
                order_line_id: opt_uuid(r, "order_line_id")?,
                created_by: get(r, "created_by")?,
                created_at: time(r, "created_at")?,
                ended_at: optional_time("ended_at")?,
            }))
        },
    )?;
    each(
        conn,
        "SELECT seq, id, item_id, kind, quantity, location_id, from_location_id, to_location_id, \
         reason, reference, reverses, created_by, created_at FROM movements ORDER BY seq",
        &mut w,
        |r| {
            Ok(Record::Movement(MovementRow {
                seq: get(r, "seq")?,
                id: uuid(r, "id")?,
                item_id: uuid(r, "item_id")?,
                kind: get(r, "kind")?,
                quantity: get(r, "quantity")?,
                location_id: opt_uuid(r, "location_id")?,
                from_location_id: opt_uuid(r, "from_location_id")?,
                to_location_id: opt_uuid(r, "to_location_id")?,
                reason: get(r, "reason")?,
                reference: get(r, "reference")?,
                reverses: opt_uuid(r, "reverses")?,
                created_by: get(r, "created_by")?,
                created_at: time(r, "created_at")?,
            }))
        },
    )?;
    each(
        conn,
        "SELECT id, name, kind, code, email, phone, address, notes, archived, version, created_at, \
         updated_at FROM parties ORDER BY id",
        &mut w,
        |r| {
            Ok(Record::Party(PartyRow {
                id: uuid(r, "id")?,
                name: get(r, "name")?,
                kind: get(r, "kind")?,
                code: get(r, "code")?,
                email: get(r, "email")?,
                phone: get(r, "phone")?,
                address: get(r, "address")?,
                notes: get(r, "notes")?,
                archived: get(r, "archived")?,
                version: get(r, "version")?,
                created_at: time(r, "created_at")?,
                updated_at: time(r, "updated_at")?,
            }))
        },
    )?;
    each(
        conn,
        "SELECT id, seq, number, supplier_id, status, reference, expected_at, receive_to_id, version, \
         created_by, created_at, updated_at FROM purchase_orders ORDER BY seq",
        &mut w,
        |r| {
            let expected: Option<i64> = get(r, "expected_at")?;
            Ok(Record::PurchaseOrder(PurchaseOrderRow {
                id: uuid(r, "id")?,
                seq: get(r, "seq")?,
                number: get(r, "number")?,
                supplier_id: uuid(r, "supplier_id")?,
                status: get(r, "status")?,
                reference: get(r, "reference")?,
                expected_at: expected
                    .map(|us| {
                        chrono::DateTime::from_timestamp_micros(us)
                            .ok_or_else(|| Error::internal("bad timestamp in expected_at"))
                    })
                    .transpose()?,
                receive_to_id: uuid(r, "receive_to_id")?,
                version: get(r, "version")?,
                created_by: get(r, "created_by")?,
                created_at: time(r, "created_at")?,
                updated_at: time(r, "updated_at")?,
            }))
        },
    )?;
    each(
        conn,
        "SELECT pl.id, pl.order_id, pl.position, pl.item_id, pl.quantity, pl.received, pl.unit_cost \
         FROM purchase_order_lines pl JOIN purchase_orders o ON o.id = pl.order_id \
         ORDER BY o.seq, pl.position",
        &mut w,
        |r| {
            Ok(Record::PurchaseOrderLine(PurchaseOrderLineRow {
                id: uuid(r, "id")?,
                order_id: uuid(r, "order_id")?,
                position: get(r, "position")?,
                item_id: uuid(r, "item_id")?,
                quantity: get(r, "quantity")?,
                received: get(r, "received")?,
                unit_cost: get(r, "unit_cost")?,
            }))
        },
    )?;
    each(
        conn,
        "SELECT movement_id, line_id FROM purchase_receipts ORDER BY movement_id",
        &mut w,
        |r| {
            Ok(Record::PurchaseReceipt(PurchaseReceiptRow {
                movement_id: uuid(r, "movement_id")?,
                line_id: uuid(r, "line_id")?,
            }))
        },
    )?;
    each(
        conn,
        "SELECT id, seq, number, customer_id, reference, ship_from_id, status, hold_expires_at, \
         created_by, created_at, updated_at FROM sales_orders ORDER BY seq",
        &mut w,
        |r| {
            Ok(Record::SalesOrder(SalesOrderRow {
                id: uuid(r, "id")?,
                seq: get(r, "seq")?,
                number: get(r, "number")?,
                customer_id: opt_uuid(r, "customer_id")?,
                reference: get(r, "reference")?,
                ship_from_id: uuid(r, "ship_from_id")?,
                status: get(r, "status")?,
                hold_expires_at: match get::<Option<i64>>(r, "hold_expires_at")? {
                    Some(_) => Some(time(r, "hold_expires_at")?),
                    None => None,
                },
                created_by: get(r, "created_by")?,
                created_at: time(r, "created_at")?,
                updated_at: time(r, "updated_at")?,
            }))
        },
    )?;
    each(
        conn,
        "SELECT l.id, l.order_id, l.line_no, l.item_id, l.quantity, l.shipped, l.unit_price \
         FROM sales_order_lines l JOIN sales_orders o ON o.id = l.order_id ORDER BY o.seq, l.line_no",
        &mut w,
        |r| {
            Ok(Record::SalesOrderLine(SalesOrderLineRow {
                id: uuid(r, "id")?,
                order_id: uuid(r, "order_id")?,
                line_no: get(r, "line_no")?,
                item_id: uuid(r, "item_id")?,
                quantity: get(r, "quantity")?,
                shipped: get(r, "shipped")?,
                unit_price: get(r, "unit_price")?,
            }))
        },
    )?;
    each(
        conn,
        "SELECT movement_id, line_id FROM sales_shipments ORDER BY movement_id",
        &mut w,
        |r| {
            Ok(Record::SalesShipment(SalesShipmentRow {
                movement_id: uuid(r, "movement_id")?,
                line_id: uuid(r, "line_id")?,
            }))
        },
    )?;
    each(
        conn,
        "SELECT id, kind, entity_id, data, created_at FROM events ORDER BY id",
        &mut w,
        |r| {
            Ok(Record::Event(EventRow {
                id: get(r, "id")?,
                kind: get(r, "kind")?,
                entity_id: uuid(r, "entity_id")?,
                data: get(r, "data")?,
                created_at: time(r, "created_at")?,
            }))
        },
    )?;
    each(
        conn,
        &format!("SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY id"),
        &mut w,
        |r| Ok(Record::Audit(audit_row(r)?)),
    )?;
    w.finish()
}

/// Whether the database holds nothing but the one location it was born with.
pub(crate) fn ensure_empty(conn: &Connection) -> Result<()> {
    let (users, items, movements, events, locations, audit): (i64, i64, i64, i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM items), \
             (SELECT COUNT(*) FROM movements), (SELECT COUNT(*) FROM events), \
             (SELECT COUNT(*) FROM locations), (SELECT COUNT(*) FROM audit_log)",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
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

/// A row the database refuses is the file's fault: report its line.
fn at_line(line: u64) -> impl Fn(rusqlite::Error) -> Error {
    move |e| match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => Error::invalid(
            format!("line {line}"),
            format!("the database refuses the row: {e}"),
        ),
        _ => db_error(e),
    }
}

pub(crate) fn import(conn: &Connection, rows: DumpRows) -> Result<ExportCounts> {
    ensure_empty(conn)?;
    // The file's locations replace the one this database was born with.
    conn.execute("DELETE FROM locations", [])
        .map_err(db_error)?;
    let mut counts = ExportCounts::default();
    for row in rows {
        let (line, record) = row?;
        let err = at_line(line);
        match record {
            Record::User(u) => {
                conn.prepare_cached(
                    "INSERT INTO users (id, username, password_hash, role, created_at, display_name, \
                     email, disabled, must_change_password, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        u.id.to_string(),
                        u.username,
                        u.password_hash,
                        u.role,
                        micros(u.created_at),
                        u.display_name,
                        u.email,
                        u.disabled,
                        u.must_change_password,
                        micros(u.updated_at.unwrap_or(u.created_at))
                    ])
                })
                .map_err(&err)?;
                counts.users += 1;
            }
            Record::Location(l) => {
                conn.prepare_cached(
                    "INSERT INTO locations (id, code, name, is_default, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        l.id.to_string(),
                        l.code,
                        l.name,
                        l.default,
                        micros(l.created_at),
                        micros(l.updated_at)
                    ])
                })
                .map_err(&err)?;
                counts.locations += 1;
            }
            Record::Item(i) => {
                conn.prepare_cached(
                    "INSERT INTO items (id, sku, name, description, category, unit, reorder_point, unit_cost, \
                     attributes, archived, on_hand, reserved, version, created_at, updated_at, sku_folded, name_folded, \
                     category_folded, barcode, incoming) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        i.id.to_string(),
                        i.sku,
                        i.name,
                        i.description,
                        i.category,
                        i.unit,
                        i.reorder_point,
                        i.unit_cost,
                        i.attributes,
                        i.archived,
                        i.on_hand,
                        i.reserved,
                        i.version,
                        micros(i.created_at),
                        micros(i.updated_at),
                        fold(&i.sku),
                        fold(&i.name),
                        i.category.as_deref().map(fold),
                        i.barcode,
                        i.incoming,
                    ])
                })
                .map_err(&err)?;
                counts.items += 1;
            }
            Record::Stock(s) => {
                conn.prepare_cached(
                    "INSERT INTO stock (item_id, location_id, on_hand, reserved) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        s.item_id.to_string(),
                        s.location_id.to_string(),
                        s.on_hand,
                        s.reserved
                    ])
                })
                .map_err(&err)?;
                counts.stock += 1;
            }
            Record::Reservation(r) => {
                conn.prepare_cached(
                    "INSERT INTO reservations (id, item_id, location_id, quantity, status, expires_at, reference, \
                     note, order_line_id, created_by, created_at, ended_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        r.id.to_string(),
                        r.item_id.to_string(),
                        r.location_id.to_string(),
                        r.quantity,
                        r.status,
                        r.expires_at.map(micros),
                        r.reference,
                        r.note,
                        r.order_line_id.map(|u| u.to_string()),
                        r.created_by,
                        micros(r.created_at),
                        r.ended_at.map(micros),
                    ])
                })
                .map_err(&err)?;
                counts.reservations += 1;
            }
            Record::Movement(m) => {
                // An explicit seq also moves sqlite_sequence on, so the next
                // movement continues after the imported ones.
                conn.prepare_cached(
                    "INSERT INTO movements (seq, id, item_id, kind, quantity, location_id, from_location_id, \
                     to_location_id, reason, reference, created_by, created_at, reverses) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        m.seq,
                        m.id.to_string(),
                        m.item_id.to_string(),
                        m.kind,
                        m.quantity,
                        m.location_id.map(|u| u.to_string()),
                        m.from_location_id.map(|u| u.to_string()),
                        m.to_location_id.map(|u| u.to_string()),
                        m.reason,
                        m.reference,
                        m.created_by,
                        micros(m.created_at),
                        m.reverses.map(|u| u.to_string()),
                    ])
                })
                .map_err(&err)?;
                counts.movements += 1;
            }
            Record::Party(p) => {
                conn.prepare_cached(
                    "INSERT INTO parties (id, name, name_folded, kind, code, email, phone, address, notes, \
                     archived, version, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        p.id.to_string(),
                        p.name,
                        fold(&p.name),
                        p.kind,
                        p.code,
                        p.email,
                        p.phone,
                        p.address,
                        p.notes,
                        p.archived,
                        p.version,
                        micros(p.created_at),
                        micros(p.updated_at),
                    ])
                })
                .map_err(&err)?;
                counts.parties += 1;
            }
            Record::PurchaseOrder(o) => {
                conn.prepare_cached(
                    "INSERT INTO purchase_orders (id, seq, number, supplier_id, status, reference, \
                     reference_folded, expected_at, receive_to_id, version, created_by, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        o.id.to_string(),
                        o.seq,
                        o.number,
                        o.supplier_id.to_string(),
                        o.status,
                        o.reference,
                        o.reference.as_deref().map(fold),
                        o.expected_at.map(micros),
                        o.receive_to_id.to_string(),
                        o.version,
                        o.created_by,
                        micros(o.created_at),
                        micros(o.updated_at),
                    ])
                })
                .map_err(&err)?;
                counts.purchase_orders += 1;
            }
            Record::PurchaseOrderLine(l) => {
                conn.prepare_cached(
                    "INSERT INTO purchase_order_lines (id, order_id, position, item_id, quantity, received, unit_cost) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        l.id.to_string(),
                        l.order_id.to_string(),
                        l.position,
                        l.item_id.to_string(),
                        l.quantity,
                        l.received,
                        l.unit_cost,
                    ])
                })
                .map_err(&err)?;
                counts.purchase_order_lines += 1;
            }
            Record::PurchaseReceipt(r) => {
                conn.prepare_cached(
                    "INSERT INTO purchase_receipts (movement_id, line_id) VALUES (?1, ?2)",
                )
                .and_then(|mut s| {
                    s.execute(params![r.movement_id.to_string(), r.line_id.to_string()])
                })
                .map_err(&err)?;
                counts.purchase_receipts += 1;
            }
            Record::SalesOrder(o) => {
                conn.prepare_cached(
                    "INSERT INTO sales_orders (id, seq, number, customer_id, reference, ship_from_id, status, \
                     hold_expires_at, created_by, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        o.id.to_string(),
                        o.seq,
                        o.number,
                        o.customer_id.map(|u| u.to_string()),
                        o.reference,
                        o.ship_from_id.to_string(),
                        o.status,
                        o.hold_expires_at.map(micros),
                        o.created_by,
                        micros(o.created_at),
                        micros(o.updated_at),
                    ])
                })
                .map_err(&err)?;
                counts.sales_orders += 1;
            }
            Record::SalesOrderLine(l) => {
                conn.prepare_cached(
                    "INSERT INTO sales_order_lines (id, order_id, line_no, item_id, quantity, shipped, unit_price) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        l.id.to_string(),
                        l.order_id.to_string(),
                        l.line_no,
                        l.item_id.to_string(),
                        l.quantity,
                        l.shipped,
                        l.unit_price,
                    ])
                })
                .map_err(&err)?;
                counts.sales_order_lines += 1;
            }
            Record::SalesShipment(r) => {
                conn.prepare_cached(
                    "INSERT INTO sales_shipments (movement_id, line_id) VALUES (?1, ?2)",
                )
                .and_then(|mut st| {
                    st.execute(params![r.movement_id.to_string(), r.line_id.to_string()])
                })
                .map_err(&err)?;
                counts.sales_shipments += 1;
            }
            Record::Event(e) => {
                conn.prepare_cached(
                    "INSERT INTO events (id, kind, entity_id, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        e.id,
                        e.kind,
                        e.entity_id.to_string(),
                        e.data,
                        micros(e.created_at)
                    ])
                })
                .map_err(&err)?;
                counts.events += 1;
            }
            Record::Audit(a) => {
                conn.prepare_cached(
                    "INSERT INTO audit_log (id, at, actor_id, actor_username, via, token_id, action, \
                     target_type, target_id, changes, request_id, client_addr) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        a.id,
                        micros(a.at),
                        a.actor_id.map(|id| id.to_string()),
                        a.actor_username,
                        a.via,
                        a.token_id.map(|id| id.to_string()),
                        a.action,
                        a.target_type,
                        a.target_id,
                        a.changes,
                        a.request_id,
                        a.client_addr
                    ])
                })
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
    conn.execute(
        "UPDATE locations SET is_default = 1 WHERE NOT EXISTS (SELECT 1 FROM locations WHERE is_default = 1) \
         AND id = (SELECT id FROM locations ORDER BY code = 'MAIN' DESC, code LIMIT 1)",
        [],
    )
    .map_err(db_error)?;
    record_audit(
        conn,
        &NewAuditEntry::new(
            action::DATABASE_IMPORTED,
            "database",
            "import",
            serde_json::json!({"before": null, "after": {"counts": counts}}),
        ),
    )?;
    Ok(counts)
}

/// The first bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Whether `path` starts like a SQLite database file.
pub fn is_sqlite_file(path: &std::path::Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(path)?;
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..])? {
            0 => break,
            n => read += n,
        }
    }
    Ok(read == head.len() && &head == SQLITE_MAGIC)
}

/// A `file:` URI that opens `path` read-only, as a file nobody changes
/// (no locks, no WAL index), for backup files.
fn immutable_uri(path: &std::path::Path) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    uri
}

fn bad_input(message: String) -> Error {
    Error::invalid("input", message)
}

/// Puts the backup file `backup` (made by [`crate::SqliteStore::backup_into`])
/// in place as the database at `target`, which must be absent, an empty
/// file, or an inventory database holding nothing but MAIN. The backup is
/// checked first (`PRAGMA quick_check`, a schema this build knows) and
/// copied with `VACUUM INTO` next to the target, then renamed over it, so
/// the target is either untouched or the whole backup. No process may have
/// the target open meanwhile.
pub fn restore_file(backup: &std::path::Path, target: &std::path::Path) -> Result<()> {
    use rusqlite::OpenFlags;
    let shown = backup.display();
    let source = Connection::open_with_flags(
        immutable_uri(backup),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| bad_input(format!("cannot open {shown} as a SQLite database: {e}")))?;
    let check: String = source
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| bad_input(format!("{shown} is not a sound SQLite database: {e}")))?;
    if check != "ok" {
        return Err(bad_input(format!(
            "{shown} fails its integrity check: {check}"
        )));
    }
    let schema: i64 = source
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(|_| bad_input(format!("{shown} is not an inventory database")))?;
    if schema > crate::migrate::LATEST_VERSION {
        return Err(bad_input(format!(
            "{shown} has schema version {schema}, newer than this build knows ({})",
            crate::migrate::LATEST_VERSION
        )));
    }

    let occupied = std::fs::metadata(target)
        .map(|m| m.len() > 0)
        .unwrap_or(false);
    if occupied {
        let existing = Connection::open_with_flags(target, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(db_error)?;
        let has_schema: bool = existing
            .query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'users'",
                [],
                |r| r.get(0),
            )
            .map_err(db_error)?;
        if !has_schema {
            return Err(Error::invalid(
                "database",
                format!(
                    "{} exists and is not an inventory database; refusing to replace it",
                    target.display()
                ),
            ));
        }
        ensure_empty(&existing)?;
    }

    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Internal(format!("cannot create {}: {e}", dir.display())))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "inventory.db".into());
    let staging = dir.join(format!(".{name}.restoring"));
    let _ = std::fs::remove_file(&staging);
    let copied = source
        .execute("VACUUM INTO ?1", params![staging.to_string_lossy()])
        .map_err(db_error)
        .and_then(|_| {
            std::fs::File::open(&staging)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::Internal(format!("cannot sync {}: {e}", staging.display())))
        });
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&staging);
        return Err(e);
    }
    // The empty database's own WAL must not be replayed over the backup.
    for suffix in ["-wal", "-shm"] {
        let mut side = target.as_os_str().to_owned();
        side.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(side));
    }
    std::fs::rename(&staging, target).map_err(|e| {
        let _ = std::fs::remove_file(&staging);
        Error::Internal(format!("cannot move the restored database into place: {e}"))
    })?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
