//! The invariant checks of `inventory_core::invariants`, each one query,
//! all in one repeatable-read transaction (one snapshot of the database).

use crate::errors::db_error;
use crate::rows::get;
use inventory_core::invariants::{
    Violation, AVAILABLE_NOT_NEGATIVE, INCOMING_EQUALS_OUTSTANDING, ITEM_EQUALS_LOCATIONS,
    MAX_PER_RULE, RECEIVED_EQUALS_RECEIPTS, RESERVED_EQUALS_RESERVATIONS, SHIPPED_EQUALS_SHIPMENTS,
    SHIPPED_NOT_ABOVE_ORDERED, STOCK_EQUALS_LEDGER,
};
use inventory_core::Result;
use sqlx::PgConnection;

/// Every (item, location) the stock table or the ledger names, with the
/// balance held and the ledger's sum; the caller keeps those that differ.
const STOCK_AGAINST_LEDGER: &str = "WITH ledger AS ( \
       SELECT item_id, location_id AS loc, CASE kind WHEN 'issue' THEN -quantity ELSE quantity END AS q \
         FROM movements WHERE kind <> 'transfer' \
       UNION ALL SELECT item_id, from_location_id, -quantity FROM movements WHERE kind = 'transfer' \
       UNION ALL SELECT item_id, to_location_id, quantity FROM movements WHERE kind = 'transfer'), \
     sums AS (SELECT item_id, loc, SUM(q)::BIGINT AS q FROM ledger GROUP BY item_id, loc) \
     SELECT COALESCE(s.item_id, l.item_id) AS item_id, i.sku, c.code, \
            COALESCE(l.q, 0) AS expected, COALESCE(s.on_hand, 0) AS actual \
       FROM stock s FULL JOIN sums l ON l.item_id = s.item_id AND l.loc = s.location_id \
       JOIN items i ON i.id = COALESCE(s.item_id, l.item_id) \
       LEFT JOIN locations c ON c.id = COALESCE(s.location_id, l.loc) \
     WHERE COALESCE(l.q, 0) <> COALESCE(s.on_hand, 0) ORDER BY i.sku, c.code LIMIT $1";

/// (rule, figure, query): each query answers item_id, sku, code, expected,
/// actual for the rows that break the rule, at most $1 of them.
const CHECKS: &[(&str, &str, &str)] = &[
    (STOCK_EQUALS_LEDGER, "on_hand", STOCK_AGAINST_LEDGER),
    (
        ITEM_EQUALS_LOCATIONS,
        "on_hand",
        "SELECT i.id AS item_id, i.sku, NULL::TEXT AS code, COALESCE(SUM(s.on_hand), 0)::BIGINT AS expected, \
         i.on_hand AS actual FROM items i LEFT JOIN stock s ON s.item_id = i.id \
         GROUP BY i.id HAVING i.on_hand <> COALESCE(SUM(s.on_hand), 0) ORDER BY i.sku LIMIT $1",
    ),
    (
        ITEM_EQUALS_LOCATIONS,
        "reserved",
        "SELECT i.id AS item_id, i.sku, NULL::TEXT AS code, COALESCE(SUM(s.reserved), 0)::BIGINT AS expected, \
         i.reserved AS actual FROM items i LEFT JOIN stock s ON s.item_id = i.id \
         GROUP BY i.id HAVING i.reserved <> COALESCE(SUM(s.reserved), 0) ORDER BY i.sku LIMIT $1",
    ),
    (
        AVAILABLE_NOT_NEGATIVE,
        "available",
        "SELECT s.item_id, i.sku, c.code, 0::BIGINT AS expected, s.on_hand - s.reserved AS actual \
         FROM stock s JOIN items i ON i.id = s.item_id JOIN locations c ON c.id = s.location_id \
         WHERE s.on_hand - s.reserved < 0 ORDER BY i.sku, c.code LIMIT $1",
    ),
    (
        AVAILABLE_NOT_NEGATIVE,
        "available",
        "SELECT i.id AS item_id, i.sku, NULL::TEXT AS code, 0::BIGINT AS expected, \
         i.on_hand - i.reserved AS actual FROM items i WHERE i.on_hand - i.reserved < 0 \
         ORDER BY i.sku LIMIT $1",
    ),
    (
        RESERVED_EQUALS_RESERVATIONS,
        "reserved",
        "SELECT s.item_id, i.sku, c.code, COALESCE(r.held, 0)::BIGINT AS expected, s.reserved AS actual \
         FROM stock s JOIN items i ON i.id = s.item_id JOIN locations c ON c.id = s.location_id \
         LEFT JOIN (SELECT item_id, location_id, SUM(quantity) AS held FROM reservations \
                    WHERE status = 'active' GROUP BY item_id, location_id) r \
           ON r.item_id = s.item_id AND r.location_id = s.location_id \
         WHERE s.reserved <> COALESCE(r.held, 0) ORDER BY i.sku, c.code LIMIT $1",
    ),
    (
        INCOMING_EQUALS_OUTSTANDING,
        "incoming",
        "SELECT i.id AS item_id, i.sku, NULL::TEXT AS code, COALESCE(o.q, 0)::BIGINT AS expected, \
         i.incoming AS actual FROM items i LEFT JOIN ( \
           SELECT pl.item_id, SUM(GREATEST(pl.quantity - pl.received, 0)) AS q \
           FROM purchase_order_lines pl JOIN purchase_orders po ON po.id = pl.order_id \
           WHERE po.status IN ('submitted', 'partially_received') GROUP BY pl.item_id \
         ) o ON o.item_id = i.id WHERE i.incoming <> COALESCE(o.q, 0) ORDER BY i.sku LIMIT $1",
    ),
    (
        RECEIVED_EQUALS_RECEIPTS,
        "received",
        "SELECT pl.item_id, i.sku, po.number || ' line ' || pl.id::TEXT AS code, \
         COALESCE(r.q, 0)::BIGINT AS expected, pl.received AS actual \
         FROM purchase_order_lines pl JOIN purchase_orders po ON po.id = pl.order_id \
         JOIN items i ON i.id = pl.item_id LEFT JOIN ( \
           SELECT pr.line_id, SUM(m.quantity) AS q FROM purchase_receipts pr \
           JOIN movements m ON m.id = pr.movement_id GROUP BY pr.line_id \
         ) r ON r.line_id = pl.id WHERE pl.received <> COALESCE(r.q, 0) \
         ORDER BY po.seq, pl.position LIMIT $1",
    ),
    (
        SHIPPED_NOT_ABOVE_ORDERED,
        "shipped",
        "SELECT sl.item_id, i.sku, so.number || ' line ' || sl.id::TEXT AS code, \
         sl.quantity AS expected, sl.shipped AS actual \
         FROM sales_order_lines sl JOIN sales_orders so ON so.id = sl.order_id \
         JOIN items i ON i.id = sl.item_id WHERE sl.shipped > sl.quantity \
         ORDER BY so.seq, sl.line_no LIMIT $1",
    ),
    (
        SHIPPED_EQUALS_SHIPMENTS,
        "shipped",
        "SELECT sl.item_id, i.sku, so.number || ' line ' || sl.id::TEXT AS code, \
         COALESCE(sh.q, 0)::BIGINT AS expected, sl.shipped AS actual \
         FROM sales_order_lines sl JOIN sales_orders so ON so.id = sl.order_id \
         JOIN items i ON i.id = sl.item_id LEFT JOIN ( \
           SELECT ss.line_id, SUM(m.quantity) AS q FROM sales_shipments ss \
           JOIN movements m ON m.id = ss.movement_id GROUP BY ss.line_id \
         ) sh ON sh.line_id = sl.id WHERE sl.shipped <> COALESCE(sh.q, 0) \
         ORDER BY so.seq, sl.line_no LIMIT $1",
    ),
];

/// Call inside one repeatable-read transaction.
pub(crate) async fn check(conn: &mut PgConnection) -> Result<Vec<Violation>> {
    let mut found = Vec::new();
    for (rule, figure, sql) in CHECKS {
        let rows = sqlx::query(sql)
            .bind(i64::from(MAX_PER_RULE))
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        for r in &rows {
            found.push(Violation::new(
                rule,
                figure,
                get(r, "item_id")?,
                get(r, "sku")?,
                get(r, "code")?,
                get(r, "expected")?,
                get(r, "actual")?,
            ));
        }
    }
    Ok(found)
}
