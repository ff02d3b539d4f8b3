-- 0002: SKUs unique without regard to case; categories matched without
-- regard to case; a default location (MAIN until another is chosen);
-- reversals of movements. Constraint and index names match every backend.
--
-- Folded copies are written by the store with Rust's to_lowercase();
-- existing rows are folded here with lower(), which covers ASCII (a
-- category with other capitals is matched exactly until it is next saved).
-- A database holding two SKUs that differ only in case cannot take this
-- migration: rename one of them with a build before this one first.

ALTER TABLE items ADD COLUMN category_folded TEXT;
UPDATE items SET category_folded = lower(category);
DROP INDEX items_category_sku_idx;
CREATE INDEX items_category_folded_sku_idx ON items (category_folded, sku);
CREATE UNIQUE INDEX items_sku_folded_key ON items (sku_folded);

ALTER TABLE locations ADD COLUMN is_default INTEGER NOT NULL DEFAULT 0;
UPDATE locations SET is_default = 1 WHERE code = 'MAIN';
CREATE UNIQUE INDEX locations_one_default ON locations (is_default) WHERE is_default = 1;

-- A movement is reversed at most once: the unique key is the guard.
ALTER TABLE movements ADD COLUMN reverses TEXT REFERENCES movements (id);
CREATE UNIQUE INDEX movements_reverses_key ON movements (reverses) WHERE reverses IS NOT NULL;

-- Items with stock at a location (the item list's location filter).
CREATE INDEX stock_location_item_idx ON stock (location_id, item_id);
