-- 0002: SKUs unique without regard to case; categories matched without
-- regard to case; a default location (MAIN until another is chosen);
-- reversals of movements. PostgreSQL twin of store-sqlite's 0002: same
-- columns, constraint and index names.
--
-- Folded copies are written by the store with Rust's to_lowercase();
-- existing rows are folded here with lower(). A database holding two SKUs
-- that differ only in case cannot take this migration: rename one of them
-- with a build before this one first.

ALTER TABLE items ADD COLUMN category_folded TEXT COLLATE "C";
UPDATE items SET category_folded = lower(category);
DROP INDEX items_category_sku_idx;
CREATE INDEX items_category_folded_sku_idx ON items (category_folded, sku);
CREATE UNIQUE INDEX items_sku_folded_key ON items (sku_folded);

ALTER TABLE locations ADD COLUMN is_default BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE locations SET is_default = TRUE WHERE code = 'MAIN';
CREATE UNIQUE INDEX locations_one_default ON locations (is_default) WHERE is_default;

-- A movement is reversed at most once: the unique key is the guard.
ALTER TABLE movements ADD COLUMN reverses UUID REFERENCES movements (id);
CREATE UNIQUE INDEX movements_reverses_key ON movements (reverses);

-- Items with stock at a location (the item list's location filter).
CREATE INDEX stock_location_item_idx ON stock (location_id, item_id);

-- inventory_apply_movements (see 0001) with the default location, the
-- check that a transfer's two ends differ once the default is resolved,
-- the resolved codes returned (o_codes), `reverses` written, and each
-- movement's ledger locations taken from its deltas' fields (so the
-- location/from/to code arguments are gone).
DROP FUNCTION inventory_apply_movements(UUID[], UUID[], TEXT[], BIGINT[], TEXT[], TEXT[], TEXT[],
    TEXT[], TEXT[], INT[], TEXT[], TEXT[], BIGINT[], TEXT[], TIMESTAMPTZ, BOOLEAN);

CREATE FUNCTION inventory_apply_movements(
    p_ids UUID[], p_item_ids UUID[], p_kinds TEXT[], p_quantities BIGINT[],
    p_reasons TEXT[], p_references TEXT[],
    p_delta_of INT[], p_delta_codes TEXT[], p_delta_fields TEXT[], p_deltas BIGINT[],
    p_created_by TEXT[], p_created_at TIMESTAMPTZ, p_independent BOOLEAN, p_reverses UUID[])
RETURNS TABLE (
    o_index INT, o_seq BIGINT, o_sku TEXT, o_on_hand BIGINT, o_reserved BIGINT,
    o_location_on_hand BIGINT[], o_location_reserved BIGINT[], o_codes TEXT[],
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
    -- The locations the call names; each delta's code with the default
    -- location's for the deltas that name none.
    loc_codes TEXT[]; loc_ids UUID[];
    v_default_code TEXT;
    v_codes TEXT[];
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

    -- The default location, read under the same snapshot as the rest:
    -- a movement that names no location goes where the default was when
    -- it was applied.
    SELECT l.code INTO v_default_code FROM locations l WHERE l.is_default;
    SELECT coalesce(array_agg(coalesce(t.c, v_default_code) ORDER BY t.n), '{}')
      INTO v_codes
      FROM unnest(p_delta_codes) WITH ORDINALITY AS t (c, n);

    SELECT coalesce(array_agg(l.code), '{}'), coalesce(array_agg(l.id), '{}')
      INTO loc_codes, loc_ids
      FROM locations l WHERE l.code = ANY (v_codes);

    FOR j IN 1 .. n_deltas LOOP
        q := array_position(loc_codes, v_codes[j]);
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
        o_location_on_hand := NULL; o_location_reserved := NULL; o_codes := NULL;
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
                q := array_position(loc_codes, v_codes[j]);
                IF q IS NULL THEN
                    o_refusal := 'no_location'; o_field := p_delta_fields[j];
                    o_code := coalesce(v_codes[j], '');
                    EXIT;
                END IF;
                v_loc := loc_ids[q];
                d_locs := array_append(d_locs, v_loc);
                CASE p_delta_fields[j]
                    WHEN 'location' THEN v_location := v_loc;
                    WHEN 'from_location' THEN v_from := v_loc;
                    ELSE v_to := v_loc;
                END CASE;
            END LOOP;
            -- A transfer from the default location to itself (the source not given).
            IF o_refusal IS NULL AND v_from IS NOT NULL AND v_from = v_to THEN
                o_refusal := 'same_location'; o_field := 'to_location';
                o_code := v_codes[first_delta];
            END IF;
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
                        o_refusal := 'insufficient'; o_code := v_codes[j];
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
            o_codes := v_codes[first_delta:last_delta];
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
                           to_location_id, reason, reference, created_by, created_at, reverses)
    SELECT v_first_seq + m.n, p_ids[m.i], p_item_ids[m.i], p_kinds[m.i], p_quantities[m.i],
           m.location_id, m.from_id, m.to_id, p_reasons[m.i], p_references[m.i],
           p_created_by[m.i], p_created_at, p_reverses[m.i]
      FROM unnest(m_index, m_location, m_from, m_to) WITH ORDINALITY
           AS m (i, location_id, from_id, to_id, n);
    UPDATE ledger_counter SET value = v_seq;
END;
$$;
