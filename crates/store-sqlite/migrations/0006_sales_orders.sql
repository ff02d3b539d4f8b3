-- 0006: sales orders and their lines. An order's stock is held by
-- reservations that name its lines (reservations.order_line_id); what a
-- line shipped is `shipped`, and each shipment is an `issue` whose
-- reference is the order's number. Constraint names match every backend.

CREATE TABLE sales_orders (
    id              TEXT    NOT NULL PRIMARY KEY,
    -- The order's place in creation order: number = 'SO-' || seq (6 digits).
    seq             INTEGER NOT NULL CONSTRAINT sales_orders_seq_key UNIQUE,
    number          TEXT    NOT NULL CONSTRAINT sales_orders_number_key UNIQUE,
    customer_id     TEXT,
    reference       TEXT,
    ship_from_id    TEXT    NOT NULL REFERENCES locations (id),
    status          TEXT    NOT NULL CONSTRAINT sales_orders_status_check
                    CHECK (status IN ('draft', 'confirmed', 'partially_shipped', 'shipped', 'cancelled')),
    hold_expires_at INTEGER,
    created_by      TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX sales_orders_status_idx ON sales_orders (status, id);
CREATE INDEX sales_orders_customer_idx ON sales_orders (customer_id, id);

CREATE TABLE sales_order_lines (
    id         TEXT    NOT NULL PRIMARY KEY,
    order_id   TEXT    NOT NULL REFERENCES sales_orders (id),
    line_no    INTEGER NOT NULL,
    item_id    TEXT    NOT NULL REFERENCES items (id),
    quantity   INTEGER NOT NULL CONSTRAINT sales_order_lines_quantity_check CHECK (quantity > 0),
    shipped    INTEGER NOT NULL DEFAULT 0 CONSTRAINT sales_order_lines_shipped_check CHECK (shipped >= 0 AND shipped <= quantity),
    unit_price INTEGER NOT NULL CONSTRAINT sales_order_lines_unit_price_check CHECK (unit_price >= 0)
);
CREATE INDEX sales_order_lines_order_idx ON sales_order_lines (order_id, line_no);
CREATE INDEX sales_order_lines_item_idx ON sales_order_lines (item_id);

-- Each shipment's issue movement, with the line it shipped: the invariants
-- check sums them per line against `shipped`.
CREATE TABLE sales_shipments (
    movement_id TEXT NOT NULL CONSTRAINT sales_shipments_pkey PRIMARY KEY REFERENCES movements (id),
    line_id     TEXT NOT NULL REFERENCES sales_order_lines (id)
);
CREATE INDEX sales_shipments_line_idx ON sales_shipments (line_id);
