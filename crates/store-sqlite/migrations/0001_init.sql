-- 0001: users, sessions, locations, items, per-location stock, the ledger,
-- idempotency keys. Timestamps are integer microseconds since the epoch (UTC);
-- unit_cost is integer ten-thousandths. Constraint names match every backend.

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL CONSTRAINT users_username_key UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CONSTRAINT users_role_check CHECK (role IN ('viewer', 'clerk', 'manager', 'admin')),
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE locations (
    id         TEXT    NOT NULL PRIMARY KEY,
    code       TEXT    NOT NULL CONSTRAINT locations_code_key UNIQUE,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE items (
    id            TEXT    NOT NULL PRIMARY KEY,
    sku           TEXT    NOT NULL CONSTRAINT items_sku_key UNIQUE,
    name          TEXT    NOT NULL,
    description   TEXT,
    category      TEXT,
    unit          TEXT    NOT NULL,
    reorder_point INTEGER NOT NULL CONSTRAINT items_reorder_point_check CHECK (reorder_point >= 0),
    unit_cost     INTEGER NOT NULL CONSTRAINT items_unit_cost_check CHECK (unit_cost >= 0),
    attributes    TEXT    NOT NULL DEFAULT '{}',
    archived      INTEGER NOT NULL DEFAULT 0,
    on_hand       INTEGER NOT NULL DEFAULT 0 CONSTRAINT items_on_hand_check CHECK (on_hand >= 0),
    reserved      INTEGER NOT NULL DEFAULT 0 CONSTRAINT items_reserved_check CHECK (reserved >= 0 AND reserved <= on_hand),
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    -- Unicode lower-case copies for case-insensitive search (SQLite's own
    -- case folding covers ASCII only); written by the store.
    sku_folded    TEXT    NOT NULL,
    name_folded   TEXT    NOT NULL
);
CREATE INDEX items_category_sku_idx ON items (category, sku);

-- Balance per item and location; the items row carries the totals.
CREATE TABLE stock (
    item_id     TEXT    NOT NULL REFERENCES items (id),
    location_id TEXT    NOT NULL REFERENCES locations (id),
    on_hand     INTEGER NOT NULL DEFAULT 0 CONSTRAINT stock_on_hand_check CHECK (on_hand >= 0),
    reserved    INTEGER NOT NULL DEFAULT 0 CONSTRAINT stock_reserved_check CHECK (reserved >= 0 AND reserved <= on_hand),
    PRIMARY KEY (item_id, location_id)
) WITHOUT ROWID;

-- The ledger: append-only; seq follows commit order (one writer commits).
CREATE TABLE movements (
    seq              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    id               TEXT    NOT NULL CONSTRAINT movements_id_key UNIQUE,
    item_id          TEXT    NOT NULL REFERENCES items (id),
    kind             TEXT    NOT NULL CONSTRAINT movements_kind_check CHECK (kind IN ('receive', 'issue', 'transfer', 'adjust')),
    quantity         INTEGER NOT NULL CONSTRAINT movements_quantity_check CHECK (quantity <> 0),
    location_id      TEXT    REFERENCES locations (id),
    from_location_id TEXT    REFERENCES locations (id),
    to_location_id   TEXT    REFERENCES locations (id),
    reason           TEXT,
    reference        TEXT,
    created_by       TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX movements_item_id_seq_idx ON movements (item_id, seq);
CREATE INDEX movements_created_at_idx ON movements (created_at);

CREATE TRIGGER movements_no_update BEFORE UPDATE ON movements
BEGIN
    SELECT RAISE(ABORT, 'movements are append-only');
END;
CREATE TRIGGER movements_no_delete BEFORE DELETE ON movements
BEGIN
    SELECT RAISE(ABORT, 'movements are append-only');
END;

CREATE TABLE idempotency_keys (
    user_id      TEXT    NOT NULL,
    idem_key     TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- The change feed: one row per committed change, in the change's own
-- transaction; id follows commit order (one writer commits).
CREATE TABLE events (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    entity_id  TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
