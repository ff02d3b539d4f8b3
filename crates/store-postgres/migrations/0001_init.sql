-- 0001: users, sessions, locations, items, per-location stock, the ledger,
-- idempotency keys. PostgreSQL twin of store-sqlite's 0001: same tables,
-- columns and constraint names. Timestamps are TIMESTAMPTZ (microseconds);
-- unit_cost is integer ten-thousandths. Keys that lists page over use the
-- "C" collation so that their order is byte order, as in Rust and SQLite.

CREATE TABLE users (
    id            UUID        NOT NULL PRIMARY KEY,
    username      TEXT        COLLATE "C" NOT NULL CONSTRAINT users_username_key UNIQUE,
    password_hash TEXT        NOT NULL,
    role          TEXT        NOT NULL CONSTRAINT users_role_check CHECK (role IN ('viewer', 'clerk', 'manager', 'admin')),
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT        NOT NULL PRIMARY KEY,
    user_id    UUID        NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE locations (
    id         UUID        NOT NULL PRIMARY KEY,
    code       TEXT        COLLATE "C" NOT NULL CONSTRAINT locations_code_key UNIQUE,
    name       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE items (
    id            UUID        NOT NULL PRIMARY KEY,
    sku           TEXT        COLLATE "C" NOT NULL CONSTRAINT items_sku_key UNIQUE,
    name          TEXT        NOT NULL,
    description   TEXT,
    category      TEXT        COLLATE "C",
    unit          TEXT        NOT NULL,
    reorder_point BIGINT      NOT NULL CONSTRAINT items_reorder_point_check CHECK (reorder_point >= 0),
    unit_cost     BIGINT      NOT NULL CONSTRAINT items_unit_cost_check CHECK (unit_cost >= 0),
    -- TEXT, not jsonb: the JSON must read back byte for byte (key order, number text).
    attributes    TEXT        NOT NULL DEFAULT '{}',
    archived      BOOLEAN     NOT NULL DEFAULT FALSE,
    on_hand       BIGINT      NOT NULL DEFAULT 0 CONSTRAINT items_on_hand_check CHECK (on_hand >= 0),
    reserved      BIGINT      NOT NULL DEFAULT 0 CONSTRAINT items_reserved_check CHECK (reserved >= 0 AND reserved <= on_hand),
    version       BIGINT      NOT NULL DEFAULT 1,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    -- Unicode lower-case copies for case-insensitive search, written by the
    -- store with Rust's to_lowercase() so that every backend folds alike.
    sku_folded    TEXT        COLLATE "C" NOT NULL,
    name_folded   TEXT        COLLATE "C" NOT NULL
);
CREATE INDEX items_category_sku_idx ON items (category, sku);

-- Balance per item and location; the items row carries the totals.
CREATE TABLE stock (
    item_id     UUID   NOT NULL REFERENCES items (id),
    location_id UUID   NOT NULL REFERENCES locations (id),
    on_hand     BIGINT NOT NULL DEFAULT 0 CONSTRAINT stock_on_hand_check CHECK (on_hand >= 0),
    reserved    BIGINT NOT NULL DEFAULT 0 CONSTRAINT stock_reserved_check CHECK (reserved >= 0 AND reserved <= on_hand),
    PRIMARY KEY (item_id, location_id)
);

-- The ledger's sequence. A PostgreSQL sequence hands out values before
-- commit, so concurrent writers could commit out of order; this single row,
-- updated inside the writing transaction, is locked until that transaction
-- ends, so seq follows commit order across any number of replicas.
CREATE TABLE ledger_counter (
    id    BOOLEAN NOT NULL DEFAULT TRUE PRIMARY KEY CONSTRAINT ledger_counter_single_row CHECK (id),
    value BIGINT  NOT NULL
);
INSERT INTO ledger_counter (id, value) VALUES (TRUE, 0);

-- The ledger: append-only; seq follows commit order (see ledger_counter).
CREATE TABLE movements (
    seq              BIGINT      NOT NULL PRIMARY KEY,
    id               UUID        NOT NULL CONSTRAINT movements_id_key UNIQUE,
    item_id          UUID        NOT NULL REFERENCES items (id),
    kind             TEXT        NOT NULL CONSTRAINT movements_kind_check CHECK (kind IN ('receive', 'issue', 'transfer', 'adjust')),
    quantity         BIGINT      NOT NULL CONSTRAINT movements_quantity_check CHECK (quantity <> 0),
    location_id      UUID        REFERENCES locations (id),
    from_location_id UUID        REFERENCES locations (id),
    to_location_id   UUID        REFERENCES locations (id),
    reason           TEXT,
    reference        TEXT,
    created_by       TEXT        NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX movements_item_id_seq_idx ON movements (item_id, seq);
CREATE INDEX movements_created_at_idx ON movements (created_at);

CREATE FUNCTION movements_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'movements are append-only';
END;
$$;
CREATE TRIGGER movements_no_update BEFORE UPDATE ON movements
    FOR EACH ROW EXECUTE FUNCTION movements_append_only();
CREATE TRIGGER movements_no_delete BEFORE DELETE ON movements
    FOR EACH ROW EXECUTE FUNCTION movements_append_only();
CREATE TRIGGER movements_no_truncate BEFORE TRUNCATE ON movements
    FOR EACH STATEMENT EXECUTE FUNCTION movements_append_only();

CREATE TABLE idempotency_keys (
    user_id      UUID        NOT NULL,
    idem_key     TEXT        NOT NULL,
    request_hash TEXT        NOT NULL,
    status       INTEGER     NOT NULL,
    body         TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- The change feed: one row per committed change, written in the change's own
-- transaction. Its id comes from a single-row counter for the same reason as
-- the ledger's seq: it must follow commit order across replicas, so that a
-- reader resuming after id N never misses a change committed later with a
-- smaller id.
CREATE TABLE event_counter (
    id    BOOLEAN NOT NULL DEFAULT TRUE PRIMARY KEY CONSTRAINT event_counter_single_row CHECK (id),
    value BIGINT  NOT NULL
);
INSERT INTO event_counter (id, value) VALUES (TRUE, 0);

CREATE TABLE events (
    id         BIGINT      NOT NULL PRIMARY KEY,
    kind       TEXT        NOT NULL,
    entity_id  UUID        NOT NULL,
    data       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
