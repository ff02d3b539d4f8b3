-- 0003: items gain an optional barcode (EAN, UPC, GTIN or any code),
-- unique when set and matched exactly. The index name matches every backend.

ALTER TABLE items ADD COLUMN barcode TEXT COLLATE "C";
CREATE UNIQUE INDEX items_barcode_key ON items (barcode) WHERE barcode IS NOT NULL;
