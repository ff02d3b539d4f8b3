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
-- order.
--
-- Set-based: whatever the number of movements, a call runs the same eight
-- statements. It locks every item of the call and every balance it names
-- (in key order), applies the movements one after the other to those
-- values in memory (each guard sees the movements before it), then writes
-- the totals, the balances, the ledger rows and the counter once each.
-- Per-movement statements cost PostgreSQL an executor start, constraint
-- expressions and trigger set-up each; at a few thousand movements a
-- second that was most of its time.
--
-- A refusal (unknown item or location, archived item, not enough stock) is
-- returned as a row with `o_refusal` set rather than raised, and the refused
-- movement changes nothing (its balance changes are undone in memory). With
-- p_independent the movements are separate requests (the writer batches
-- single movements of a group into one call): a refused one is skipped and
-- the rest go on. Otherwise they are one request's, and processing stops at
-- the refusal, writing nothing; the caller rolls back to its savepoint.
-- Deltas are flattened: delta j belongs to movement p_delta_of[j], outflows
-- first, in the order the response lists the locations; every movement has
-- at least one.
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
    n_movements CONSTANT INT := coalesce(array_length(p_ids, 1), 0);
    n_deltas CONSTANT INT := coalesce(array_length(p_delta_of, 1), 0);
    first_delta INT := 1;
    last_delta INT;
    -- The call's items, locked: totals as the movements so far leave them.
    it_ids UUID[]; it_skus TEXT[]; it_archived BOOLEAN[];
    it_on BIGINT[]; it_res BIGINT[]; it_dirty BOOLEAN[];
    -- The locations the call names.
    loc_codes TEXT[]; loc_ids UUID[];
    -- Balances named by the call, keyed by item id || location id: those
    -- that exist (locked) and those the movements so far created.
    st_keys TEXT[]; st_items UUID[]; st_locs UUID[];
    st_on BIGINT[]; st_res BIGINT[]; st_dirty BOOLEAN[];
    pair_items UUID[] := '{}';
    pair_locs UUID[] := '{}';
    -- This movement's locations and the balances it changed (to undo).
    d_locs UUID[];
    undo_at INT[];
    undo_on BIGINT[];
    -- Ledger rows to insert: movement index and resolved locations.
    m_index INT[] := '{}';
    m_location UUID[] := '{}';
    m_from UUID[] := '{}';
    m_to UUID[] := '{}';
    k INT;
    q INT;
    s INT;
    v_key TEXT;
    v_loc UUID;
    v_location UUID;
    v_from UUID;
    v_to UUID;
    v_net BIGINT;
    v_seq BIGINT;
    v_first_seq BIGINT;
BEGIN
    SELECT c.value INTO v_seq FROM ledger_counter c;
    v_first_seq := v_seq;

    -- Items locked before anything is checked: an archive from another
    -- replica waits for this transaction, and cannot slip in after the check.
    SELECT coalesce(array_agg(t.id), '{}'), coalesce(array_agg(t.sku), '{}'),
           coalesce(array_agg(t.archived), '{}'), coalesce(array_agg(t.on_hand), '{}'),
           coalesce(array_agg(t.reserved), '{}'), coalesce(array_agg(FALSE), '{}')
      INTO it_ids, it_skus, it_archived, it_on, it_res, it_dirty
      FROM (SELECT it.id, it.sku, it.archived, it.on_hand, it.reserved
              FROM items it WHERE it.id = ANY (p_item_ids)
             ORDER BY it.id FOR UPDATE) t;

    SELECT coalesce(array_agg(l.code), '{}'), coalesce(array_agg(l.id), '{}')
      INTO loc_codes, loc_ids
      FROM locations l WHERE l.code = ANY (p_delta_codes);

    FOR j IN 1 .. n_deltas LOOP
        q := array_position(loc_codes, p_delta_codes[j]);
        IF q IS NOT NULL THEN
            pair_items := array_append(pair_items, p_item_ids[p_delta_of[j]]);
            pair_locs := array_append(pair_locs, loc_ids[q]);
        END IF;
    END LOOP;
    SELECT coalesce(array_agg(t.item_id::text || t.location_id::text), '{}'),
           coalesce(array_agg(t.item_id), '{}'), coalesce(array_agg(t.location_id), '{}'),
           coalesce(array_agg(t.on_hand), '{}'), coalesce(array_agg(t.reserved), '{}'),
           coalesce(array_agg(FALSE), '{}')
      INTO st_keys, st_items, st_locs, st_on, st_res, st_dirty
      FROM (SELECT s.item_id, s.location_id, s.on_hand, s.reserved
              FROM stock s
              JOIN (SELECT DISTINCT p.i, p.l FROM unnest(pair_items, pair_locs) AS p (i, l)) named
                ON s.item_id = named.i AND s.location_id = named.l
             ORDER BY s.item_id, s.location_id FOR UPDATE OF s) t;

    FOR i IN 1 .. n_movements LOOP
        o_index := i;
        o_seq := NULL; o_sku := NULL; o_on_hand := NULL; o_reserved := NULL;
        o_location_on_hand := NULL; o_location_reserved := NULL;
        o_refusal := NULL; o_field := NULL; o_code := NULL; o_available := NULL;
        last_delta := first_delta;
        WHILE last_delta < n_deltas AND p_delta_of[last_delta + 1] = i LOOP
            last_delta := last_delta + 1;
        END LOOP;

        k := array_position(it_ids, p_item_ids[i]);
        IF k IS NULL THEN
            o_refusal := 'no_item'; o_field := 'item_id';
        ELSE
            o_sku := it_skus[k];
            IF it_archived[k] THEN
                o_refusal := 'archived';
            END IF;
        END IF;

        d_locs := '{}';
        v_location := NULL; v_from := NULL; v_to := NULL;
        IF o_refusal IS NULL THEN
            FOR j IN first_delta .. last_delta LOOP
                q := array_position(loc_codes, p_delta_codes[j]);
                IF q IS NULL THEN
                    o_refusal := 'no_location'; o_field := p_delta_fields[j]; o_code := p_delta_codes[j];
                    EXIT;
                END IF;
                v_loc := loc_ids[q];
                d_locs := array_append(d_locs, v_loc);
                IF p_delta_codes[j] = p_locations[i] THEN v_location := v_loc; END IF;
                IF p_delta_codes[j] = p_froms[i] THEN v_from := v_loc; END IF;
                IF p_delta_codes[j] = p_tos[i] THEN v_to := v_loc; END IF;
            END LOOP;
        END IF;

        undo_at := '{}'; undo_on := '{}';
        IF o_refusal IS NULL THEN
            o_location_on_hand := '{}'; o_location_reserved := '{}'; v_net := 0;
            FOR j IN first_delta .. last_delta LOOP
                v_loc := d_locs[j - first_delta + 1];
                v_key := p_item_ids[i]::text || v_loc::text;
                s := array_position(st_keys, v_key);
                IF p_deltas[j] < 0 THEN
                    -- The guard: the balance only falls if enough is available.
                    IF s IS NULL OR st_on[s] - st_res[s] < -p_deltas[j] THEN
                        o_refusal := 'insufficient'; o_code := p_delta_codes[j];
                        o_available := CASE WHEN s IS NULL THEN 0 ELSE st_on[s] - st_res[s] END;
                        EXIT;
                    END IF;
                ELSIF s IS NULL THEN
                    st_keys := array_append(st_keys, v_key);
                    st_items := array_append(st_items, p_item_ids[i]);
                    st_locs := array_append(st_locs, v_loc);
                    st_on := array_append(st_on, 0::BIGINT);
                    st_res := array_append(st_res, 0::BIGINT);
                    st_dirty := array_append(st_dirty, FALSE);
                    s := array_length(st_keys, 1);
                END IF;
                undo_at := array_append(undo_at, s);
                undo_on := array_append(undo_on, st_on[s]);
                st_on[s] := st_on[s] + p_deltas[j];
                o_location_on_hand := array_append(o_location_on_hand, st_on[s]);
                o_location_reserved := array_append(o_location_reserved, st_res[s]);
                v_net := v_net + p_deltas[j];
            END LOOP;
        END IF;

        IF o_refusal IS NOT NULL THEN
            FOR x IN REVERSE coalesce(array_length(undo_at, 1), 0) .. 1 LOOP
                st_on[undo_at[x]] := undo_on[x];
            END LOOP;
            o_location_on_hand := NULL; o_location_reserved := NULL;
            RETURN NEXT;
            IF NOT p_independent THEN
                -- One request's movements: nothing is written, and the
                -- caller rolls back to its savepoint.
                RETURN;
            END IF;
        ELSE
            FOREACH s IN ARRAY undo_at LOOP
                st_dirty[s] := TRUE;
            END LOOP;
            it_on[k] := it_on[k] + v_net;
            it_dirty[k] := TRUE;
            o_on_hand := it_on[k];
            o_reserved := it_res[k];
            v_seq := v_seq + 1;
            o_seq := v_seq;
            m_index := array_append(m_index, i);
            m_location := array_append(m_location, v_location);
            m_from := array_append(m_from, v_from);
            m_to := array_append(m_to, v_to);
            RETURN NEXT;
        END IF;
        first_delta := last_delta + 1;
    END LOOP;

    IF v_seq = v_first_seq THEN
        RETURN; -- every movement was refused: nothing to write
    END IF;
    -- The rows are locked: the values computed above are the new ones.
    UPDATE items it SET on_hand = d.on_hand
      FROM unnest(it_ids, it_on, it_dirty) AS d (id, on_hand, dirty)
     WHERE d.dirty AND it.id = d.id;
    INSERT INTO stock AS s (item_id, location_id, on_hand)
    SELECT d.item_id, d.location_id, d.on_hand
      FROM unnest(st_items, st_locs, st_on, st_dirty) AS d (item_id, location_id, on_hand, dirty)
     WHERE d.dirty
    ON CONFLICT (item_id, location_id) DO UPDATE SET on_hand = excluded.on_hand;
    INSERT INTO movements (seq, id, item_id, kind, quantity, location_id, from_location_id,
                           to_location_id, reason, reference, created_by, created_at)
    SELECT v_first_seq + m.n, p_ids[m.i], p_item_ids[m.i], p_kinds[m.i], p_quantities[m.i],
           m.location_id, m.from_id, m.to_id, p_reasons[m.i], p_references[m.i],
           p_created_by[m.i], p_created_at
      FROM unnest(m_index, m_location, m_from, m_to) WITH ORDINALITY
           AS m (i, location_id, from_id, to_id, n);
    UPDATE ledger_counter SET value = v_seq;
END;
$$;
