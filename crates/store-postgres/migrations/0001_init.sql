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

-- Stock movements in one round trip: the checks, the guarded balance
-- updates, the item totals and the ledger rows. The writer has already
-- locked ledger_counter (at the start of its group), so seq follows commit
-- order; the counter is read once and written once per call (updating its
-- one row per movement would leave a growing chain of row versions for each
-- later update in the same transaction to walk). A refusal (unknown item or location, archived item, not enough
-- stock) is returned as a row with `o_refusal` set rather than raised, and
-- comes before the refused movement writes anything. With p_independent the
-- movements are separate requests (the writer batches single movements of a
-- group into one call): a refused one is skipped and the rest go on.
-- Otherwise they are one request's, and processing stops at the refusal; the
-- caller rolls back to its savepoint when earlier ones were applied.
-- Deltas are flattened: delta j belongs to movement p_delta_of[j], outflows
-- first, in the order the response lists the locations.
CREATE FUNCTION inventory_apply_movements(
    p_ids UUID[], p_item_ids UUID[], p_kinds TEXT[], p_quantities BIGINT[],
    p_locations TEXT[], p_froms TEXT[], p_tos TEXT[], p_reasons TEXT[], p_references TEXT[],
    p_delta_of INT[], p_delta_codes TEXT[], p_delta_fields TEXT[], p_deltas BIGINT[],
    p_created_by TEXT[], p_created_at TIMESTAMPTZ, p_independent BOOLEAN)
RETURNS TABLE (
    o_index INT, o_seq BIGINT, o_sku TEXT, o_on_hand BIGINT, o_reserved BIGINT,
    o_location_on_hand BIGINT[], o_location_reserved BIGINT[],
    o_refusal TEXT, o_field TEXT, o_code TEXT, o_available BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    n_deltas CONSTANT INT := coalesce(array_length(p_delta_of, 1), 0);
    first_delta INT := 1;
    last_delta INT;
    v_archived BOOLEAN;
    v_loc_ids UUID[];
    v_loc UUID;
    v_location UUID;
    v_from UUID;
    v_to UUID;
    v_net BIGINT;
    v_on BIGINT;
    v_res BIGINT;
    v_seq BIGINT;
    v_first_seq BIGINT;
BEGIN
    SELECT c.value INTO v_seq FROM ledger_counter c;
    v_first_seq := v_seq;
    FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
        o_index := i;
        o_seq := NULL; o_on_hand := NULL; o_reserved := NULL;
        o_location_on_hand := NULL; o_location_reserved := NULL;
        o_refusal := NULL; o_field := NULL; o_code := NULL; o_available := NULL;
        last_delta := first_delta;
        WHILE last_delta < n_deltas AND p_delta_of[last_delta + 1] = i LOOP
            last_delta := last_delta + 1;
        END LOOP;

        -- Locked first: an archive from another replica waits for this
        -- transaction, and cannot slip in after the check.
        SELECT it.sku, it.archived INTO o_sku, v_archived
          FROM items it WHERE it.id = p_item_ids[i] FOR UPDATE;
        IF NOT FOUND THEN
            o_sku := NULL; o_refusal := 'no_item'; o_field := 'item_id';
        ELSIF v_archived THEN
            o_refusal := 'archived';
        END IF;

        v_loc_ids := '{}';
        v_location := NULL; v_from := NULL; v_to := NULL;
        IF o_refusal IS NULL THEN
            FOR j IN first_delta .. last_delta LOOP
                SELECT l.id INTO v_loc FROM locations l WHERE l.code = p_delta_codes[j];
                IF NOT FOUND THEN
                    o_refusal := 'no_location'; o_field := p_delta_fields[j]; o_code := p_delta_codes[j];
                    EXIT;
                END IF;
                v_loc_ids := v_loc_ids || v_loc;
                IF p_delta_codes[j] = p_locations[i] THEN v_location := v_loc; END IF;
                IF p_delta_codes[j] = p_froms[i] THEN v_from := v_loc; END IF;
                IF p_delta_codes[j] = p_tos[i] THEN v_to := v_loc; END IF;
            END LOOP;
        END IF;

        IF o_refusal IS NULL THEN
            o_location_on_hand := '{}'; o_location_reserved := '{}'; v_net := 0;
            FOR j IN first_delta .. last_delta LOOP
                v_loc := v_loc_ids[j - first_delta + 1];
                IF p_deltas[j] < 0 THEN
                    -- The guard: the balance only falls if enough is available.
                    -- Outflows come first, so a refusal here has written nothing.
                    UPDATE stock s SET on_hand = s.on_hand + p_deltas[j]
                     WHERE s.item_id = p_item_ids[i] AND s.location_id = v_loc
                       AND s.on_hand - s.reserved >= -p_deltas[j]
                    RETURNING s.on_hand, s.reserved INTO v_on, v_res;
                    IF NOT FOUND THEN
                        SELECT s.on_hand - s.reserved INTO o_available
                          FROM stock s WHERE s.item_id = p_item_ids[i] AND s.location_id = v_loc;
                        o_refusal := 'insufficient'; o_code := p_delta_codes[j];
                        o_available := coalesce(o_available, 0);
                        EXIT;
                    END IF;
                ELSE
                    INSERT INTO stock AS s (item_id, location_id, on_hand)
                    VALUES (p_item_ids[i], v_loc, p_deltas[j])
                    ON CONFLICT (item_id, location_id) DO UPDATE SET on_hand = s.on_hand + excluded.on_hand
                    RETURNING s.on_hand, s.reserved INTO v_on, v_res;
                END IF;
                o_location_on_hand := o_location_on_hand || v_on;
                o_location_reserved := o_location_reserved || v_res;
                v_net := v_net + p_deltas[j];
            END LOOP;
        END IF;

        IF o_refusal IS NOT NULL THEN
            o_location_on_hand := NULL; o_location_reserved := NULL;
            RETURN NEXT;
            IF NOT p_independent THEN
                -- The caller rolls back to its savepoint: no counter update.
                RETURN;
            END IF;
        ELSE
            UPDATE items it SET on_hand = it.on_hand + v_net WHERE it.id = p_item_ids[i]
            RETURNING it.on_hand, it.reserved INTO o_on_hand, o_reserved;
            v_seq := v_seq + 1;
            o_seq := v_seq;
            INSERT INTO movements (seq, id, item_id, kind, quantity, location_id, from_location_id,
                                   to_location_id, reason, reference, created_by, created_at)
            VALUES (o_seq, p_ids[i], p_item_ids[i], p_kinds[i], p_quantities[i], v_location, v_from,
                    v_to, p_reasons[i], p_references[i], p_created_by[i], p_created_at);
            RETURN NEXT;
        END IF;
        first_delta := last_delta + 1;
    END LOOP;
    IF v_seq <> v_first_seq THEN
        UPDATE ledger_counter SET value = v_seq;
    END IF;
END;
$$;
