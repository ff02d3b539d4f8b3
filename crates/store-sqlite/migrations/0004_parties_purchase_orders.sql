-- 0004: parties (suppliers and customers), purchase orders and their lines,
-- the link from each receipt movement to its line, and items' incoming.
-- Timestamps are integer microseconds since the epoch (UTC); money is
-- integer ten-thousandths. Constraint and index names match every backend.

CREATE TABLE parties (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    -- Written by the store with inventory_core::fold, for the q search.
    name_folded TEXT    NOT NULL,
    kind        TEXT    NOT NULL CONSTRAINT parties_kind_check CHECK (kind IN ('supplier', 'customer', 'both')),
    code        TEXT,
    email       TEXT,
    phone       TEXT,
    address     TEXT,
    notes       TEXT,
    archived    INTEGER NOT NULL DEFAULT 0,
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX parties_code_key ON parties (code) WHERE code IS NOT NULL;

-- Outstanding quantities on submitted purchase orders, kept in the same
-- transactions as the orders (submit, receive, cancel).
ALTER TABLE items ADD COLUMN incoming INTEGER NOT NULL DEFAULT 0 CONSTRAINT items_incoming_check CHECK (incoming >= 0);

CREATE TABLE purchase_orders (
    id              TEXT    NOT NULL PRIMARY KEY,
    -- The number's value: PO-000001 is seq 1. Allocated in the writing
    -- transaction (MAX + 1 under the single writer); the keys are the guard.
    seq             INTEGER NOT NULL CONSTRAINT purchase_orders_seq_key UNIQUE,
    number          TEXT    NOT NULL CONSTRAINT purchase_orders_number_key UNIQUE,
    supplier_id     TEXT    NOT NULL REFERENCES parties (id),
    status          TEXT    NOT NULL CONSTRAINT purchase_orders_status_check
                    CHECK (status IN ('draft', 'submitted', 'partially_received', 'received', 'cancelled', 'closed')),
    reference       TEXT,
    reference_folded TEXT,
    expected_at     INTEGER,
    receive_to_id   TEXT    NOT NULL REFERENCES locations (id),
    version         INTEGER NOT NULL DEFAULT 1,
    created_by      TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX purchase_orders_supplier_status_idx ON purchase_orders (supplier_id, status);
CREATE INDEX purchase_orders_status_seq_idx ON purchase_orders (status, seq);

CREATE TABLE purchase_order_lines (
    id        TEXT    NOT NULL PRIMARY KEY,
    order_id  TEXT    NOT NULL REFERENCES purchase_orders (id),
    position  INTEGER NOT NULL,
    item_id   TEXT    NOT NULL REFERENCES items (id),
    quantity  INTEGER NOT NULL CONSTRAINT purchase_order_lines_quantity_check CHECK (quantity > 0),
    received  INTEGER NOT NULL DEFAULT 0 CONSTRAINT purchase_order_lines_received_check CHECK (received >= 0),
    unit_cost INTEGER NOT NULL CONSTRAINT purchase_order_lines_unit_cost_check CHECK (unit_cost >= 0)
);
CREATE INDEX purchase_order_lines_order_idx ON purchase_order_lines (order_id, position);
CREATE INDEX purchase_order_lines_item_idx ON purchase_order_lines (item_id);

-- Each receipt movement and the line it received against (the movements
-- table keeps its shape; its reference carries the order number for people).
CREATE TABLE purchase_receipts (
    movement_id TEXT NOT NULL CONSTRAINT purchase_receipts_pkey PRIMARY KEY REFERENCES movements (id),
    line_id     TEXT NOT NULL REFERENCES purchase_order_lines (id)
);
CREATE INDEX purchase_receipts_line_idx ON purchase_receipts (line_id);
