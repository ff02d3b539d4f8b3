//! CSV files of items and of the ledger: what the export writes, and what
//! an import of items reads, checks and plans. Pure: the application layer
//! reads the store and applies the plan (`CatalogueStore::import_items`).
//!
//! Rows are numbered as a spreadsheet shows them: the header is row 1, the
//! first item row 2 (a quoted cell spanning lines is still one row).
//!
//! Spreadsheet formula injection: an exported text cell that begins with
//! `=`, `+`, `-`, `@`, a tab or a carriage return (after any apostrophes)
//! gets one more `'` in front, so a spreadsheet shows it as text instead of
//! running it; an import takes one such `'` off again, so an export imports
//! unchanged. Numbers (quantities, costs) are never prefixed.

use crate::catalogue::{CreateItem, Item, ItemPatch, ItemWrite};
use crate::error::{Error, FieldError};
use crate::ledger::Movement;
use crate::money::format_unit_cost;
use crate::validation::fold;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;
use utoipa::ToSchema;

/// The columns an import reads, in the order an export writes them.
pub const ITEM_COLUMNS: [&str; 8] = [
    "sku",
    "name",
    "description",
    "category",
    "barcode",
    "unit",
    "reorder_point",
    "unit_cost",
];
/// Positions in [`ITEM_COLUMNS`], so that a row's cells are read by name.
mod column {
    pub const SKU: usize = 0;
    pub const NAME: usize = 1;
    pub const DESCRIPTION: usize = 2;
    pub const CATEGORY: usize = 3;
    pub const BARCODE: usize = 4;
    pub const UNIT: usize = 5;
    pub const REORDER_POINT: usize = 6;
    pub const UNIT_COST: usize = 7;
}
/// Columns an import requires.
pub const REQUIRED_COLUMNS: [&str; 2] = ["sku", "name"];
/// Columns an export adds after [`ITEM_COLUMNS`]; an import ignores them
/// (stock changes only through movements).
pub const READ_ONLY_COLUMNS: [&str; 2] = ["on_hand", "available"];
/// The ledger export's columns.
pub const MOVEMENT_COLUMNS: [&str; 15] = [
    "seq",
    "id",
    "created_at",
    "kind",
    "sku",
    "item_id",
    "quantity",
    "location",
    "from_location",
    "to_location",
    "reason",
    "reference",
    "reverses",
    "reversed_by",
    "created_by",
];
/// The most item rows one import takes.
pub const MAX_IMPORT_ROWS: usize = 100_000;
/// The largest file one import takes (32 MiB).
pub const MAX_IMPORT_BYTES: usize = 32 * 1024 * 1024;

// ---------------------------------------------------------------- writing

fn starts_like_formula(cell: &str) -> bool {
    matches!(
        cell.trim_start_matches('\'').chars().next(),
        Some('=' | '+' | '-' | '@' | '\t' | '\r')
    )
}

/// An exported text cell, defused for spreadsheets (see the module docs).
pub fn guard(cell: &str) -> Cow<'_, str> {
    if starts_like_formula(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// An imported text cell with the export's guard taken off.
pub fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if starts_like_formula(rest) => rest,
        _ => cell,
    }
}

fn write_record<'a>(out: &mut Vec<u8>, cells: impl IntoIterator<Item = Cow<'a, str>>) {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    let cells: Vec<Cow<'a, str>> = cells.into_iter().collect();
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(cells.iter().map(|c| c.as_bytes()));
    let _ = writer.flush();
}

fn text(value: &str) -> Cow<'_, str> {
    guard(value)
}

fn opt(value: &Option<String>) -> Cow<'_, str> {
    value.as_deref().map(guard).unwrap_or(Cow::Borrowed(""))
}

fn time(at: DateTime<Utc>) -> Cow<'static, str> {
    Cow::Owned(at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// The items export's header row.
pub fn item_header() -> Vec<u8> {
    let mut out = Vec::new();
    write_record(
        &mut out,
        ITEM_COLUMNS
            .iter()
            .chain(READ_ONLY_COLUMNS.iter())
            .map(|c| Cow::Borrowed(*c)),
    );
    out
}

/// Items as export rows, appended to `out`.
pub fn write_items(out: &mut Vec<u8>, items: &[Item]) {
    for item in items {
        write_record(
            out,
            [
                text(&item.sku),
                text(&item.name),
                opt(&item.description),
                opt(&item.category),
                opt(&item.barcode),
                text(&item.unit),
                Cow::Owned(item.reorder_point.to_string()),
                Cow::Owned(format_unit_cost(item.unit_cost)),
                Cow::Owned(item.on_hand.to_string()),
                Cow::Owned(item.available.to_string()),
            ],
        );
    }
}

/// The columns of the audit trail's CSV export.
pub const AUDIT_COLUMNS: [&str; 12] = [
    "id",
    "at",
    "actor_id",
    "actor_username",
    "via",
    "token_id",
    "action",
    "target_type",
    "target_id",
    "changes",
    "request_id",
    "client_addr",
];

/// The audit export's header row.
pub fn audit_header() -> Vec<u8> {
    let mut out = Vec::new();
    write_record(&mut out, AUDIT_COLUMNS.iter().map(|c| Cow::Borrowed(*c)));
    out
}

/// Audit entries as export rows (`changes` as JSON text), appended to `out`.
pub fn write_audit(out: &mut Vec<u8>, entries: &[crate::audit::AuditEntry]) {
    let id = |v: Option<uuid::Uuid>| Cow::Owned(v.map(|v| v.to_string()).unwrap_or_default());
    for e in entries {
        write_record(
            out,
            [
                Cow::Owned(e.id.to_string()),
                time(e.at),
                id(e.actor.user_id),
                opt(&e.actor.username),
                Cow::Borrowed(e.actor.via.as_str()),
                id(e.actor.token_id),
                text(&e.action),
                text(&e.target_type),
                text(&e.target_id),
                text(&e.changes.to_string()).into_owned().into(),
                opt(&e.request_id),
                opt(&e.client_addr),
            ],
        );
    }
}

/// The ledger export's header row.
pub fn movement_header() -> Vec<u8> {
    let mut out = Vec::new();
    write_record(&mut out, MOVEMENT_COLUMNS.iter().map(|c| Cow::Borrowed(*c)));
    out
}

/// Movements as export rows, appended to `out`.
pub fn write_movements(out: &mut Vec<u8>, movements: &[Movement]) {
    let id = |v: Option<uuid::Uuid>| Cow::Owned(v.map(|v| v.to_string()).unwrap_or_default());
    for m in movements {
        write_record(
            out,
            [
                Cow::Owned(m.seq.to_string()),
                Cow::Owned(m.id.to_string()),
                time(m.created_at),
                Cow::Borrowed(m.kind.as_str()),
                text(&m.sku),
                Cow::Owned(m.item_id.to_string()),
                Cow::Owned(m.quantity.to_string()),
                opt(&m.location),
                opt(&m.from_location),
                opt(&m.to_location),
                opt(&m.reason),
                opt(&m.reference),
                id(m.reverses),
                id(m.reversed_by),
                text(&m.created_by),
            ],
        );
    }
}

// ---------------------------------------------------------------- reading

/// What is wrong with one cell (or, with the header's row 1, one column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CellError {
    /// The row as a spreadsheet numbers it: the header is row 1.
    pub row: u64,
    /// The column, by its header name.
    pub column: String,
    pub message: String,
}

impl CellError {
    fn new(row: u64, column: &str, message: impl Into<String>) -> Self {
        Self {
            row,
            column: column.to_owned(),
            message: message.into(),
        }
    }

    /// As a field error of a validation problem: `row 7.barcode`.
    pub fn field_error(&self) -> FieldError {
        FieldError::new(format!("row {}.{}", self.row, self.column), &self.message)
    }
}

/// One item row as read: each of [`ITEM_COLUMNS`] is `None` when the file
/// has no such column, else the cell's text (guard taken off).
#[derive(Debug, Clone)]
pub struct ItemRow {
    pub row: u64,
    pub cells: [Option<String>; 8],
    /// The row could not be read whole (encoding, number of cells).
    pub errors: Vec<CellError>,
}

impl ItemRow {
    fn cell(&self, column: usize) -> Option<&str> {
        self.cells[column].as_deref()
    }

    pub fn sku(&self) -> &str {
        self.cell(column::SKU).unwrap_or_default()
    }

    /// The barcode cell, when the file has that column.
    pub fn barcode(&self) -> Option<&str> {
        self.cell(column::BARCODE)
    }
}

/// A file as read: its rows, or what makes the whole file unusable.
#[derive(Debug, Clone, Default)]
pub struct ItemFile {
    pub rows: Vec<ItemRow>,
    /// Errors of the file as a whole (the header; too many rows).
    pub errors: Vec<CellError>,
}

const NOT_UTF8: &str = "is not valid UTF-8 text: save the file as CSV UTF-8";

/// Reads an items CSV: a header row naming the columns (any order; `sku`
/// and `name` required, `on_hand` and `available` ignored), then one row per
/// item. Never fails: what is wrong is in the file's or the rows' errors.
pub fn read_items(bytes: &[u8]) -> ItemFile {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut file = ItemFile::default();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(Ok(header)) => header,
        Some(Err(e)) => {
            file.errors.push(CellError::new(1, "", e.to_string()));
            return file;
        }
        None => {
            file.errors.push(CellError::new(
                1,
                "",
                format!(
                    "the file is empty: the first row must name the columns ({})",
                    ITEM_COLUMNS.join(",")
                ),
            ));
            return file;
        }
    };
    // Where each of the file's columns goes: an index into ITEM_COLUMNS, or
    // None for a read-only column.
    let mut columns: Vec<Option<usize>> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (i, raw) in header.iter().enumerate() {
        let Ok(name) = std::str::from_utf8(raw) else {
            file.errors.push(CellError::new(
                1,
                &format!("column {}", i + 1),
                format!("the column name {NOT_UTF8}"),
            ));
            columns.push(None);
            names.push(format!("column {}", i + 1));
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if names.contains(&name) {
            file.errors
                .push(CellError::new(1, &name, "this column is named twice"));
        } else if let Some(at) = ITEM_COLUMNS.iter().position(|c| *c == name) {
            columns.push(Some(at));
            names.push(name);
            continue;
        } else if !READ_ONLY_COLUMNS.contains(&name.as_str()) {
            file.errors.push(CellError::new(
                1,
                &name,
                format!(
                    "unknown column '{name}'; the columns are {} ({} are ignored)",
                    ITEM_COLUMNS.join(", "),
                    READ_ONLY_COLUMNS.join(" and ")
                ),
            ));
        }
        columns.push(None);
        names.push(name);
    }
    for required in REQUIRED_COLUMNS {
        if !names.iter().any(|n| n == required) {
            file.errors.push(CellError::new(
                1,
                required,
                format!("the column '{required}' is missing; the header row must name it"),
            ));
        }
    }
    if !file.errors.is_empty() {
        return file;
    }
    for (index, record) in records.enumerate() {
        let row = index as u64 + 2;
        if index >= MAX_IMPORT_ROWS {
            file.errors.push(CellError::new(
                row,
                "",
                format!(
                    "the file has more than {MAX_IMPORT_ROWS} item rows; split it into files of \
                     at most {MAX_IMPORT_ROWS}"
                ),
            ));
            file.rows.clear();
            return file;
        }
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                file.errors.push(CellError::new(row, "", e.to_string()));
                return file;
            }
        };
        let mut item = ItemRow {
            row,
            cells: Default::default(),
            errors: Vec::new(),
        };
        for (at, column) in columns.iter().enumerate() {
            let Some(column) = *column else { continue };
            let name = ITEM_COLUMNS[column];
            match record.get(at).map(std::str::from_utf8) {
                Some(Ok(cell)) => item.cells[column] = Some(unguard(cell).to_owned()),
                Some(Err(_)) => {
                    item.errors
                        .push(CellError::new(row, name, format!("the cell {NOT_UTF8}")));
                    item.cells[column] = Some(String::new());
                }
                None => {
                    item.errors.push(CellError::new(
                        row,
                        name,
                        format!(
                            "the row has {} cells but the header names {} columns: '{name}' is missing",
                            record.len(),
                            columns.len()
                        ),
                    ));
                    item.cells[column] = Some(String::new());
                }
            }
        }
        if record.len() > columns.len() {
            item.errors.push(CellError::new(
                row,
                &format!("column {}", columns.len() + 1),
                format!(
                    "the row has {} cells but the header names only {} columns",
                    record.len(),
                    columns.len()
                ),
            ));
        }
        file.rows.push(item);
    }
    if file.rows.is_empty() {
        file.errors.push(CellError::new(
            2,
            "",
            "the file has a header but no item rows",
        ));
    }
    file
}

// ---------------------------------------------------------------- planning

/// What an import does with a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    /// No item has its SKU (in any case): it is created.
    New,
    /// The item with its SKU is updated.
    Changed,
    /// The item with its SKU already has these values: nothing is written.
    Unchanged,
    /// The row has errors: the file cannot be imported.
    Invalid,
}

/// One row of an import report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportRow {
    /// The row as a spreadsheet numbers it (the header is row 1).
    pub row: u64,
    pub sku: String,
    pub status: RowStatus,
    /// Every error of the row, by column.
    pub errors: Vec<CellError>,
}

/// What an import would do (`dry_run`) or did: nothing is written unless
/// every row is valid, and then every row is written in one transaction.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportReport {
    /// True when only checked (`?dry_run=true`).
    pub dry_run: bool,
    /// True when the rows were written (all of them, in one transaction).
    pub written: bool,
    /// Item rows in the file.
    pub total: usize,
    pub new: usize,
    pub changed: usize,
    pub unchanged: usize,
    /// Rows with errors.
    pub invalid: usize,
    /// Errors of the file as a whole (header, size), by row and column.
    pub errors: Vec<CellError>,
    /// Every row, in file order.
    pub rows: Vec<ImportRow>,
}

impl ImportReport {
    /// Whether the file can be imported as it is.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty() && self.invalid == 0
    }

    /// Every error, the file's first, as field errors (`row 7.barcode`).
    pub fn field_errors(&self) -> Vec<FieldError> {
        self.errors
            .iter()
            .chain(self.rows.iter().flat_map(|r| r.errors.iter()))
            .map(CellError::field_error)
            .collect()
    }

    /// Marks row `index` (of `rows`) as refused by the store with `error`.
    pub fn refuse_row(&mut self, index: usize, error: &Error) {
        let Some(row) = self.rows.get_mut(index) else {
            return;
        };
        let errors = match error.field_errors() {
            Some(fields) => fields
                .into_iter()
                .map(|f| CellError::new(row.row, &f.field, f.message))
                .collect(),
            None => vec![CellError::new(
                row.row,
                conflict_column(error),
                error.to_string(),
            )],
        };
        row.errors.extend(errors);
        self.recount_as_invalid(index);
    }

    fn recount_as_invalid(&mut self, index: usize) {
        let status = self.rows[index].status;
        match status {
            RowStatus::New => self.new -= 1,
            RowStatus::Changed => self.changed -= 1,
            RowStatus::Unchanged => self.unchanged -= 1,
            RowStatus::Invalid => return,
        }
        self.rows[index].status = RowStatus::Invalid;
        self.invalid += 1;
    }
}

fn conflict_column(error: &Error) -> &'static str {
    match error {
        Error::Conflict {
            kind: crate::error::ConflictKind::DuplicateBarcode,
            ..
        } => "barcode",
        Error::PreconditionFailed => "",
        _ => "sku",
    }
}

/// A checked import: the report, and the writes that carry it out (each
/// with the index of its row in `report.rows`), updates first.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    pub report: ImportReport,
    pub writes: Vec<(usize, ItemWrite)>,
}

fn filled(cell: Option<&str>) -> Option<String> {
    cell.filter(|c| !c.trim().is_empty()).map(str::to_owned)
}

fn parse_reorder_point(cell: Option<&str>) -> Result<Option<i64>, &'static str> {
    match cell.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => c
            .parse::<i64>()
            .map(Some)
            .map_err(|_| "must be a whole number from 0 to 1000000000"),
    }
}

/// The editable state compared to tell changed from unchanged.
fn same_fields(a: &Item, b: &Item) -> bool {
    (
        &a.sku,
        &a.name,
        &a.description,
        &a.category,
        &a.barcode,
        &a.unit,
        a.reorder_point,
        a.unit_cost,
    ) == (
        &b.sku,
        &b.name,
        &b.description,
        &b.category,
        &b.barcode,
        &b.unit,
        b.reorder_point,
        b.unit_cost,
    )
}

/// The rules' errors of a row, but not about a cell that could not be read
/// (its placeholder would only be reported again as empty).
fn validation_errors(row: &ItemRow, error: Error) -> Vec<CellError> {
    match error.field_errors() {
        Some(fields) => fields
            .into_iter()
            .filter(|f| !row.errors.iter().any(|e| e.column == f.field))
            .map(|f| CellError::new(row.row, &f.field, f.message))
            .collect(),
        None => vec![CellError::new(row.row, "", error.to_string())],
    }
}

/// Builds what a row asks of an item that does not exist yet.
fn create(row: &ItemRow, reorder_point: Option<i64>, now: DateTime<Utc>) -> Result<Item, Error> {
    CreateItem {
        sku: row.sku().to_owned(),
        name: row.cell(column::NAME).unwrap_or_default().to_owned(),
        description: filled(row.cell(column::DESCRIPTION)),
        category: filled(row.cell(column::CATEGORY)),
        barcode: filled(row.barcode()),
        unit: filled(row.cell(column::UNIT)),
        reorder_point,
        unit_cost: filled(row.cell(column::UNIT_COST)),
        attributes: None,
    }
    .validate(now)
}

/// The merge patch a row asks of an existing item: a column the file does
/// not have, and an empty `unit`, `reorder_point` or `unit_cost`, leave the
/// value as it is; an empty `description`, `category` or `barcode` clears it.
fn patch(row: &ItemRow, reorder_point: Option<i64>) -> ItemPatch {
    let clearable = |column: usize| row.cell(column).map(|c| filled(Some(c)));
    ItemPatch {
        sku: Some(Some(row.sku().to_owned())),
        name: row.cell(column::NAME).map(|c| Some(c.to_owned())),
        description: clearable(column::DESCRIPTION),
        category: clearable(column::CATEGORY),
        barcode: clearable(column::BARCODE),
        unit: filled(row.cell(column::UNIT)).map(Some),
        reorder_point: reorder_point.map(Some),
        unit_cost: filled(row.cell(column::UNIT_COST)).map(Some),
        attributes: None,
    }
}

/// Checks every row and plans the writes. `existing` holds the items whose
/// SKU (without regard to case) or barcode the file names; rows are checked
/// by core's own item rules (`CreateItem::validate`, `ItemPatch::apply`).
pub fn plan(file: ItemFile, existing: &[Item], dry_run: bool, now: DateTime<Utc>) -> ImportPlan {
    let by_sku: HashMap<String, &Item> = existing.iter().map(|i| (fold(&i.sku), i)).collect();
    let by_barcode: HashMap<&str, &Item> = existing
        .iter()
        .filter_map(|i| i.barcode.as_deref().map(|b| (b, i)))
        .collect();
    let mut report = ImportReport {
        dry_run,
        written: false,
        total: file.rows.len(),
        new: 0,
        changed: 0,
        unchanged: 0,
        invalid: 0,
        errors: file.errors,
        rows: Vec::with_capacity(file.rows.len()),
    };
    // The first row of each SKU and barcode, to name both rows of a duplicate.
    let mut first_sku: HashMap<String, usize> = HashMap::new();
    let mut first_barcode: HashMap<String, usize> = HashMap::new();
    // Each row's item after the import, for the barcode check below.
    let mut after: Vec<Option<Item>> = Vec::with_capacity(file.rows.len());
    let mut updates = Vec::new();
    let mut creates = Vec::new();
    for (index, row) in file.rows.into_iter().enumerate() {
        let mut errors = row.errors.clone();
        let reorder_point =
            parse_reorder_point(row.cell(column::REORDER_POINT)).unwrap_or_else(|message| {
                errors.push(CellError::new(row.row, "reorder_point", message));
                None
            });
        let folded = fold(row.sku());
        let current = by_sku.get(&folded).copied();
        let (status, item) = match current {
            None => match create(&row, reorder_point, now) {
                Ok(item) => (RowStatus::New, Some(item)),
                Err(e) => {
                    errors.extend(validation_errors(&row, e));
                    (RowStatus::Invalid, None)
                }
            },
            Some(current) => {
                let patch = patch(&row, reorder_point);
                let mut next = current.clone();
                match patch.apply(&mut next, now) {
                    Ok(()) if same_fields(current, &next) => {
                        (RowStatus::Unchanged, Some(current.clone()))
                    }
                    Ok(()) => (RowStatus::Changed, Some(next)),
                    Err(e) => {
                        errors.extend(validation_errors(&row, e));
                        (RowStatus::Invalid, None)
                    }
                }
            }
        };
        if !row.sku().is_empty() {
            if let Some(&first) = first_sku.get(&folded) {
                let first_row = report.rows[first].row;
                let message = |other: u64| {
                    format!(
                        "rows {first_row} and {} have the same SKU '{}' (SKUs are unique \
                         without regard to case); row {other} is the other",
                        row.row,
                        row.sku()
                    )
                };
                errors.push(CellError::new(row.row, "sku", message(first_row)));
                report.rows[first]
                    .errors
                    .push(CellError::new(first_row, "sku", message(row.row)));
                report.recount_as_invalid(first);
            } else {
                first_sku.insert(folded, index);
            }
        }
        let barcode = item.as_ref().and_then(|i| i.barcode.clone());
        if let Some(barcode) = barcode {
            if let Some(&first) = first_barcode.get(&barcode) {
                let first_row = report.rows[first].row;
                let message = |other: u64| {
                    format!(
                        "rows {first_row} and {} have the same barcode '{barcode}' (a barcode \
                         names one item); row {other} is the other",
                        row.row
                    )
                };
                errors.push(CellError::new(row.row, "barcode", message(first_row)));
                report.rows[first].errors.push(CellError::new(
                    first_row,
                    "barcode",
                    message(row.row),
                ));
                report.recount_as_invalid(first);
            } else {
                first_barcode.insert(barcode, index);
            }
        }
        let status = if errors.is_empty() {
            status
        } else {
            RowStatus::Invalid
        };
        match status {
            RowStatus::New => report.new += 1,
            RowStatus::Changed => report.changed += 1,
            RowStatus::Unchanged => report.unchanged += 1,
            RowStatus::Invalid => report.invalid += 1,
        }
        match (status, current, &item) {
            (RowStatus::New, _, Some(item)) => {
                creates.push((index, ItemWrite::Create(item.clone())))
            }
            (RowStatus::Changed, Some(current), _) => updates.push((
                index,
                ItemWrite::Update {
                    id: current.id,
                    patch: patch(&row, reorder_point),
                    version: current.version,
                },
            )),
            _ => {}
        }
        report.rows.push(ImportRow {
            row: row.row,
            sku: row.sku().to_owned(),
            status,
            errors,
        });
        after.push(item);
    }
    // A barcode an existing item keeps after the import cannot go to
    // another item (one the file changes may give its barcode away).
    let owners_after: HashMap<uuid::Uuid, Option<&str>> = after
        .iter()
        .flatten()
        .map(|i| (i.id, i.barcode.as_deref()))
        .collect();
    for (index, item) in after.iter().enumerate() {
        let Some(item) = item else { continue };
        let Some(barcode) = item.barcode.as_deref() else {
            continue;
        };
        let Some(owner) = by_barcode.get(barcode) else {
            continue;
        };
        let keeps = owners_after
            .get(&owner.id)
            .is_none_or(|b| *b == Some(barcode));
        if owner.id != item.id && keeps {
            let row = report.rows[index].row;
            report.rows[index].errors.push(CellError::new(
                row,
                "barcode",
                format!(
                    "barcode '{barcode}' belongs to item '{}' (a barcode names one item)",
                    owner.sku
                ),
            ));
            report.recount_as_invalid(index);
        }
    }
    let valid = report.is_valid();
    let writes = if valid {
        updates.into_iter().chain(creates).collect()
    } else {
        Vec::new()
    };
    ImportPlan { report, writes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        crate::validation::now()
    }

    fn existing(sku: &str, barcode: Option<&str>) -> Item {
        CreateItem {
            sku: sku.into(),
            name: "Existing".into(),
            description: None,
            category: Some("parts".into()),
            barcode: barcode.map(Into::into),
            unit: None,
            reorder_point: Some(5),
            unit_cost: Some("1.25".into()),
            attributes: None,
        }
        .validate(now())
        .unwrap()
    }

    fn errors_of(report: &ImportReport) -> Vec<(u64, String)> {
        report
            .errors
            .iter()
            .chain(report.rows.iter().flat_map(|r| r.errors.iter()))
            .map(|e| (e.row, e.column.clone()))
            .collect()
    }

    #[test]
    fn new_changed_and_unchanged_rows_are_told_apart() {
        let csv = "sku,name,category,reorder_point,unit_cost\n\
                   NEW-1,Bolt,parts,0,0.10\n\
                   OLD-1,Existing,parts,5,1.25\n\
                   old-2,Existing,parts,5,1.25\n";
        let items = [existing("OLD-1", None), existing("OLD-2", None)];
        let plan = plan(read_items(csv.as_bytes()), &items, true, now());
        let r = &plan.report;
        assert!(r.is_valid(), "{:?}", errors_of(r));
        assert_eq!((r.total, r.new, r.changed, r.unchanged), (3, 1, 1, 1));
        let statuses: Vec<RowStatus> = r.rows.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            [RowStatus::New, RowStatus::Unchanged, RowStatus::Changed]
        );
        // Another spelling of a SKU is the same item, renamed.
        // The update comes first, then the create; the unchanged row writes nothing.
        assert_eq!(plan.writes.len(), 2);
        assert!(matches!(plan.writes[0], (2, ItemWrite::Update { .. })));
        assert!(matches!(plan.writes[1], (0, ItemWrite::Create(_))));
    }

    #[test]
    fn a_bad_encoding_names_the_row_and_the_column() {
        let mut csv = b"sku,name\nA-1,Fine\nA-2,".to_vec();
        csv.extend_from_slice(b"Caf\xE9\n");
        let plan = plan(read_items(&csv), &[], true, now());
        assert_eq!(errors_of(&plan.report), [(3, "name".to_owned())]);
        assert!(plan.report.rows[1].errors[0].message.contains("UTF-8"));
        assert!(plan.writes.is_empty());
    }

    #[test]
    fn wrong_columns_are_named() {
        let file = read_items(b"sku,nam,colour\nA-1,x,y\n");
        let columns: Vec<&str> = file.errors.iter().map(|e| e.column.as_str()).collect();
        assert_eq!(columns, ["nam", "colour", "name"]);
        assert!(file.errors.iter().all(|e| e.row == 1));
        assert!(file.errors[2].message.contains("missing"));
        let file = read_items(b"sku,name,sku\n");
        assert_eq!(file.errors[0].column, "sku");
        assert!(file.errors[0].message.contains("twice"));
        let file = read_items(b"");
        assert_eq!(file.errors[0].row, 1);
        // The export's read-only columns are ignored, not refused.
        assert!(read_items(b"sku,name,on_hand,available\nA,a,3,3\n")
            .errors
            .is_empty());
    }

    #[test]
    fn a_row_with_too_few_or_too_many_cells_is_named() {
        let plan = plan(
            read_items(b"sku,name,unit\nA-1,Bolt\nA-2,Nut,pcs,extra\n"),
            &[],
            true,
            now(),
        );
        assert_eq!(
            errors_of(&plan.report),
            [(2, "unit".to_owned()), (3, "column 4".to_owned())]
        );
    }

    #[test]
    fn a_duplicate_sku_names_both_rows() {
        let plan = plan(
            read_items(b"sku,name\nA-1,Bolt\nB-1,Nut\na-1,Bolt again\n"),
            &[],
            true,
            now(),
        );
        let r = &plan.report;
        assert_eq!(errors_of(r), [(2, "sku".to_owned()), (4, "sku".to_owned())]);
        assert!(r.rows[2].errors[0].message.contains("rows 2 and 4"));
        assert_eq!((r.new, r.invalid), (1, 2));
        assert!(plan.writes.is_empty(), "an invalid file plans no write");
    }

    #[test]
    fn a_barcode_is_unique_in_the_file_and_against_other_items() {
        let items = [
            existing("OLD-1", Some("111")),
            existing("OLD-2", Some("222")),
        ];
        // 111 stays with OLD-1; 222 is given away by OLD-2 in the same file.
        let csv = "sku,name,barcode\nN-1,a,111\nN-2,b,333\nN-3,c,333\nOLD-2,d,\nN-4,e,222\n";
        let plan = plan(read_items(csv.as_bytes()), &items, true, now());
        assert_eq!(
            errors_of(&plan.report),
            [
                (2, "barcode".to_owned()),
                (3, "barcode".to_owned()),
                (4, "barcode".to_owned())
            ]
        );
        assert!(plan.report.rows[0].errors[0].message.contains("OLD-1"));
    }

    #[test]
    fn each_row_is_checked_by_the_item_rules() {
        let csv = "sku,name,reorder_point,unit_cost\nA 1,,x,-2\n";
        let plan = plan(read_items(csv.as_bytes()), &[], true, now());
        let mut columns: Vec<String> = errors_of(&plan.report).into_iter().map(|e| e.1).collect();
        columns.sort();
        assert_eq!(columns, ["name", "reorder_point", "sku", "unit_cost"]);
    }

    #[test]
    fn an_export_reads_back_unchanged_formulas_and_all() {
        let mut tricky = existing("=HYPERLINK", Some("@1"));
        tricky.name = "-minus, \"quoted\"\nand a new line".into();
        tricky.description = Some("'=already".into());
        let plain = existing("PLAIN", None);
        let mut csv = item_header();
        write_items(&mut csv, &[tricky.clone(), plain.clone()]);
        let text = String::from_utf8(csv.clone()).unwrap();
        assert!(
            text.contains("'=HYPERLINK") && text.contains("''=already"),
            "{text}"
        );
        let plan = plan(read_items(&csv), &[tricky, plain], true, now());
        assert!(plan.report.is_valid(), "{:?}", errors_of(&plan.report));
        assert_eq!(plan.report.unchanged, 2);
        assert!(plan.writes.is_empty());
    }

    #[test]
    fn too_many_rows_are_refused_naming_the_limit() {
        let mut csv = String::from("sku,name\n");
        for i in 0..=MAX_IMPORT_ROWS {
            csv.push_str(&format!("S{i},n\n"));
        }
        let file = read_items(csv.as_bytes());
        assert!(file.rows.is_empty());
        assert!(file.errors[0].message.contains("100000"));
    }
}
