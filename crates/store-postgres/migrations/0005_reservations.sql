-- 0005: reservations (stock held against `available` at one location) and
-- the leases that let one replica at a time run a background job. The
-- balances' `reserved` columns (since 0001) hold the sum of the active
-- reservations; their CHECK keeps reserved <= on_hand. Constraint and index
-- names match every backend.

CREATE TABLE reservations (
    id            UUID        NOT NULL PRIMARY KEY,
    item_id       UUID        NOT NULL REFERENCES items (id),
    location_id   UUID        NOT NULL REFERENCES locations (id),
    quantity      BIGINT      NOT NULL CONSTRAINT reservations_quantity_check CHECK (quantity > 0),
    status        TEXT        NOT NULL CONSTRAINT reservations_status_check CHECK (status IN ('active', 'released', 'consumed', 'expired')),
    expires_at    TIMESTAMPTZ,
    reference     TEXT        COLLATE "C",
    note          TEXT,
    -- The sales-order line it holds stock for, if any.
    order_line_id UUID,
    created_by    TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    ended_at      TIMESTAMPTZ,
    CONSTRAINT reservations_ended_check CHECK ((status = 'active') = (ended_at IS NULL))
);
-- What holds an item's stock (the guard's expiry step, the invariants).
CREATE INDEX reservations_active_idx ON reservations (item_id, location_id) WHERE status = 'active';
-- What the sweeper ends next.
CREATE INDEX reservations_due_idx ON reservations (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;
-- What a write ends before its guard: the item's lapsed ones only, however
-- many active reservations a hot item holds.
CREATE INDEX reservations_item_due_idx ON reservations (item_id, expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;
CREATE INDEX reservations_item_idx ON reservations (item_id, id);
CREATE INDEX reservations_reference_idx ON reservations (reference, id);
CREATE INDEX reservations_order_line_idx ON reservations (order_line_id) WHERE order_line_id IS NOT NULL;

-- A background job's lease: held by one process until `until`.
CREATE TABLE leases (
    name   TEXT        NOT NULL PRIMARY KEY,
    holder UUID        NOT NULL,
    until  TIMESTAMPTZ NOT NULL
);
