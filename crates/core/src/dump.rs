//! The portable export format, `inventory-export` version 3: JSON Lines.
//! Version 2 added the reservations, version 3 the audit trail; files of
//! versions 1 and 2 still import.
//!
//! ```text
//! {"type":"header","format":"inventory-export","version":3,"schema":5,"backend":"sqlite","exported_at":"..."}
//! {"type":"user",...}      every user, password hash included, by id
//! {"type":"location",...}  every location, by id
//! {"type":"item",...}      every item, archived ones included, by id
//! {"type":"stock",...}     every per-location balance, by item and location
//! {"type":"reservation",...} every reservation, ended ones included, by id
//! {"type":"movement",...}  the whole ledger, by seq
//! {"type":"party",...}                every party, by id
//! {"type":"purchase_order",...}       every purchase order, by seq
//! {"type":"purchase_order_line",...}  every line, by order and position
//! {"type":"purchase_receipt",...}     each receipt movement and its line, by movement
//! {"type":"event",...}     the whole change feed, by id
//! {"type":"audit",...}     the audit trail, by id
//! {"type":"end","counts":{...}}
//! ```
//!
//! Version 2 added parties, purchase orders, their lines and receipts, and
//! items' `incoming`; a version 1 file (which has none of them) still
//! validates and imports, its items' `incoming` 0.
//!
//! Timestamps are RFC 3339 UTC with exactly six fractional digits; item
//! `attributes` and event `data` are the stored JSON text, byte for byte.
//! Sessions and idempotency keys are not exported. The end line carries the
//! row counts, so a truncated file is always detected.
//!
//! [`validate`] reads a whole file and reports the first problem with its
//! line number; [`rows`] then streams the rows to [`crate::Store::import`].

use crate::access::Role;
use crate::audit::{AuditActor, AuditEntry, Via};
use crate::error::{Error, Result};
use crate::ledger::MovementKind;
use crate::parties::PartyKind;
use crate::purchasing::PoStatus;
use crate::reservations::ReservationStatus;
use crate::sales::SalesOrderStatus;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{BufRead, Write};
use uuid::Uuid;

/// The `format` of the header line.
pub const FORMAT: &str = "inventory-export";
/// The format version this build writes (it reads this one and every
/// earlier one, from [`OLDEST_VERSION`]).
pub const VERSION: u32 = 3;
/// The oldest format version this build still reads.
pub const OLDEST_VERSION: u32 = 1;

/// Rows of each kind in an export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportCounts {
    pub users: u64,
    pub locations: u64,
    pub items: u64,
    pub stock: u64,
    /// Absent in files of version 1.
    #[serde(default)]
    pub reservations: u64,
    pub movements: u64,
    pub events: u64,
    /// Absent in version 1 files, as are the three below.
    #[serde(default)]
    pub parties: u64,
    #[serde(default)]
    pub purchase_orders: u64,
    #[serde(default)]
    pub purchase_order_lines: u64,
    #[serde(default)]
    pub purchase_receipts: u64,
    /// Absent in files written before sales orders, as are the two below.
    #[serde(default)]
    pub sales_orders: u64,
    #[serde(default)]
    pub sales_order_lines: u64,
    #[serde(default)]
    pub sales_shipments: u64,
    /// Absent in files of versions 1 and 2.
    #[serde(default)]
    pub audit: u64,
}

impl fmt::Display for ExportCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} users, {} locations, {} items, {} stock balances, {} reservations, {} movements, \
             {} events, {} parties, {} purchase orders ({} lines, {} receipts), {} sales orders \
             ({} lines, {} shipments), {} audit entries",
            self.users,
            self.locations,
            self.items,
            self.stock,
            self.reservations,
            self.movements,
            self.events,
            self.parties,
            self.purchase_orders,
            self.purchase_order_lines,
            self.purchase_receipts,
            self.sales_orders,
            self.sales_order_lines,
            self.sales_shipments,
            self.audit
        )
    }
}

/// Optional timestamps, as [`micros`] writes them.
mod opt_micros {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        t: &Option<DateTime<Utc>>,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        match t {
            Some(t) => micros::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "micros")] DateTime<Utc>);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(t)| t))
    }
}

/// Timestamps as `2024-05-01T12:00:00.123456Z`: microseconds, always six digits.
mod micros {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        t: &DateTime<Utc>,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        let t = DateTime::parse_from_rfc3339(&s)
            .map_err(|e| serde::de::Error::custom(format!("bad timestamp '{s}': {e}")))?
            .with_timezone(&Utc);
        if t.timestamp_subsec_nanos() % 1000 != 0 {
            return Err(serde::de::Error::custom(format!(
                "timestamp '{s}' is finer than a microsecond"
            )));
        }
        Ok(t)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: String,
    pub version: u32,
    /// The schema (migration) version of the database it came from.
    pub schema: i64,
    pub backend: String,
    #[serde(with = "micros")]
    pub exported_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRow {
    pub id: Uuid,
    pub username: String,
    /// The argon2 PHC string, so that passwords keep working.
    pub password_hash: String,
    pub role: String,
    #[serde(with = "micros")]
    pub created_at: DateTime<Utc>,
    /// The profile and state a user has since schema 7 (absent in older
    /// exports, which import as an enabled user without a profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub must_change_password: bool,
    /// Absent in older exports: the creation time is used.
    #[serde(default, with = "opt_micros", skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationRow {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    /// The default location (absent in exports of schema 1, where MAIN was).
    #[serde(default)]
    pub default: bool,
    #[serde(with = "micros")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "micros")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemRow {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    /// Absent in exports of schema 2 and earlier.
    #[serde(default)]
    pub barcode: Option<String>,
    pub unit: String,
    pub reorder_point: i64,
    /// Ten-thousandths of the currency unit.
    pub unit_cost: i64,
    /// The stored JSON text, byte for byte.
    pub attributes: String,
    pub archived: bool,
    pub on_hand: i64,
    pub reserved: i64,
    /// Outstanding on submitted purchase orders (absent in version 1 files: 0).
    #[serde(default)]
    pub incoming: i64,
    pub version: i64,
    #[serde(with = "micros")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "micros")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyRow {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub code: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub notes: Option<String>,
    pub archived: bool,
    pub version: i64,
    #[serde(with = "micros")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "micros")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseOrderRow {
    pub id: Uuid,
    pub seq: i64,
    pub number: String,
    pub supplier_id: Uuid,
    pub status: String,
    pub reference: Option<String>,
    #[serde(with = "opt_micros")]
    pub expected_at: Option<DateTime<Utc>>,
    pub receive_to_id: Uuid,
    pub version: i64,
    pub created_by: String,
    #[serde(with = "micros")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "micros")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseOrderLineRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub position: i64,
    pub item_id: Uuid,
    pub quantity: i64,
    pub received: i64,
    /// Ten-thousandths of the currency unit.
    pub unit_cost: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseReceiptRow {
    pub movement_id: Uuid,
    pub line_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesOrderRow {
    pub id: Uuid,
    pub seq: i64,
    pub number: String,
    pub customer_id: Option<Uuid>,
    pub reference: Option<String>,
    pub ship_from_id: Uuid,
    pub status: String,
    #[serde(with = "opt_micros")]
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub created_by: String,
    #[serde(with = "micros")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "micros")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesOrderLineRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub line_no: i64,
    pub item_id: Uuid,
    pub quantity: i64,
    pub shipped: i64,
    /// Ten-thousandths of the currency unit.
    pub unit_price: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesShipmentRow {
    pub movement_id: Uuid,
    pub line_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockRow {
    pub item_id: Uuid,
    pub location_id: Uuid,
    pub on_hand: i64,
    pub reserved: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationRow {
    pub id: Uuid,
    pub item_id: Uuid,
    pub location_id: Uuid,
    pub quantity: i64,
    /// active, released, consumed or expired.
    pub status: String,
    #[serde(with = "opt_micros")]
    pub expires_at: Option<DateTime<Utc>>,
    pub reference: Option<String>,
    pub note: Option<String>,
    pub order_line_id: Option<Uuid>,
    pub created_by: String,
    #[serde(with = "micros")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "opt_micros")]
    pub ended_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MovementRow {
    pub seq: i64,
    pub id: Uuid,
    pub item_id: Uuid,
    pub kind: String,
    pub quantity: i64,
    pub location_id: Option<Uuid>,
    pub from_location_id: Option<Uuid>,
    pub to_location_id: Option<Uuid>,
    pub reason: Option<String>,
    pub reference: Option<String>,
    /// The movement this one reverses (absent in exports of schema 1).
    #[serde(default)]
    pub reverses: Option<Uuid>,
    pub created_by: String,
    #[serde(with = "micros")]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRow {
    pub id: i64,
    pub kind: String,
    pub entity_id: Uuid,
    /// The stored JSON text, byte for byte.
    pub data: String,
    #[serde(with = "micros")]
    pub created_at: DateTime<Utc>,
}

/// An audit entry (`crate::audit::AuditEntry`), `changes` as its stored
/// JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRow {
    pub id: i64,
    #[serde(with = "micros")]
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_username: Option<String>,
    /// `session`, `token`, `cli` or `system`.
    pub via: String,
    pub token_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub changes: String,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = Error;

    /// An entry as stored (a row of either backend, or of an export).
    fn try_from(row: AuditRow) -> std::result::Result<Self, Self::Error> {
        let via = Via::parse(&row.via)
            .ok_or_else(|| Error::internal(format!("bad via '{}'", row.via)))?;
        Ok(Self {
            id: row.id,
            at: row.at,
            actor: AuditActor {
                user_id: row.actor_id,
                username: row.actor_username,
                via,
                token_id: row.token_id,
            },
            action: row.action,
            target_type: row.target_type,
            target_id: row.target_id,
            changes: serde_json::from_str(&row.changes).map_err(Error::internal)?,
            request_id: row.request_id,
            client_addr: row.client_addr,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct End {
    pub counts: ExportCounts,
}

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Record {
    Header(Header),
    User(UserRow),
    Location(LocationRow),
    Item(ItemRow),
    Stock(StockRow),
    Reservation(ReservationRow),
    Movement(MovementRow),
    Party(PartyRow),
    #[serde(rename = "purchase_order")]
    PurchaseOrder(PurchaseOrderRow),
    #[serde(rename = "purchase_order_line")]
    PurchaseOrderLine(PurchaseOrderLineRow),
    #[serde(rename = "purchase_receipt")]
    PurchaseReceipt(PurchaseReceiptRow),
    #[serde(rename = "sales_order")]
    SalesOrder(SalesOrderRow),
    #[serde(rename = "sales_order_line")]
    SalesOrderLine(SalesOrderLineRow),
    #[serde(rename = "sales_shipment")]
    SalesShipment(SalesShipmentRow),
    Event(EventRow),
    Audit(AuditRow),
    End(End),
}

impl Record {
    /// The position of this kind of row in the file; rows never go back.
    fn rank(&self) -> u8 {
        match self {
            Record::Header(_) => 0,
            Record::User(_) => 1,
            Record::Location(_) => 2,
            Record::Item(_) => 3,
            Record::Stock(_) => 4,
            Record::Reservation(_) => 5,
            Record::Movement(_) => 6,
            Record::Party(_) => 7,
            Record::PurchaseOrder(_) => 8,
            Record::PurchaseOrderLine(_) => 9,
            Record::PurchaseReceipt(_) => 10,
            Record::SalesOrder(_) => 11,
            Record::SalesOrderLine(_) => 12,
            Record::SalesShipment(_) => 13,
            Record::Event(_) => 14,
            Record::Audit(_) => 15,
            Record::End(_) => 16,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Record::Header(_) => "header",
            Record::User(_) => "user",
            Record::Location(_) => "location",
            Record::Item(_) => "item",
            Record::Stock(_) => "stock",
            Record::Reservation(_) => "reservation",
            Record::Movement(_) => "movement",
            Record::Party(_) => "party",
            Record::PurchaseOrder(_) => "purchase_order",
            Record::PurchaseOrderLine(_) => "purchase_order_line",
            Record::PurchaseReceipt(_) => "purchase_receipt",
            Record::SalesOrder(_) => "sales_order",
            Record::SalesOrderLine(_) => "sales_order_line",
            Record::SalesShipment(_) => "sales_shipment",
            Record::Event(_) => "event",
            Record::Audit(_) => "audit",
            Record::End(_) => "end",
        }
    }
}

/// Rows (neither header nor end) with their line numbers, as
/// [`crate::Store::import`] takes them.
pub type DumpRows = Box<dyn Iterator<Item = Result<(u64, Record)>> + Send>;

/// What an export leaves out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// No user rows (and so no password hashes): for handing data to
    /// someone who must not get them. An import of such a file starts
    /// without users: the first start then creates the admin from
    /// `INVENTORY_ADMIN_PASSWORD`.
    pub without_users: bool,
}

/// Writes an export: the header at once, then rows, then the end line.
pub struct DumpWriter<W: Write> {
    out: W,
    counts: ExportCounts,
    options: ExportOptions,
}

fn write_error(e: impl fmt::Display) -> Error {
    Error::Internal(format!("cannot write the export: {e}"))
}

impl<W: Write> DumpWriter<W> {
    pub fn start(mut out: W, backend: &str, schema: i64, options: ExportOptions) -> Result<Self> {
        let header = Record::Header(Header {
            format: FORMAT.to_owned(),
            version: VERSION,
            schema,
            backend: backend.to_owned(),
            exported_at: DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
                .unwrap_or_default(),
        });
        write_line(&mut out, &header)?;
        Ok(Self {
            out,
            counts: ExportCounts::default(),
            options,
        })
    }

    pub fn row(&mut self, record: &Record) -> Result<()> {
        let c = &mut self.counts;
        match record {
            Record::User(_) if self.options.without_users => return Ok(()),
            Record::User(_) => c.users += 1,
            Record::Location(_) => c.locations += 1,
            Record::Item(_) => c.items += 1,
            Record::Stock(_) => c.stock += 1,
            Record::Reservation(_) => c.reservations += 1,
            Record::Movement(_) => c.movements += 1,
            Record::Party(_) => c.parties += 1,
            Record::PurchaseOrder(_) => c.purchase_orders += 1,
            Record::PurchaseOrderLine(_) => c.purchase_order_lines += 1,
            Record::PurchaseReceipt(_) => c.purchase_receipts += 1,
            Record::SalesOrder(_) => c.sales_orders += 1,
            Record::SalesOrderLine(_) => c.sales_order_lines += 1,
            Record::SalesShipment(_) => c.sales_shipments += 1,
            Record::Event(_) => c.events += 1,
            Record::Audit(_) => c.audit += 1,
            Record::Header(_) | Record::End(_) => {
                return Err(Error::internal("header and end are written by the writer"))
            }
        }
        write_line(&mut self.out, record)
    }

    /// Writes the end line and flushes.
    pub fn finish(mut self) -> Result<ExportCounts> {
        write_line(
            &mut self.out,
            &Record::End(End {
                counts: self.counts,
            }),
        )?;
        self.out.flush().map_err(write_error)?;
        Ok(self.counts)
    }
}

fn write_line<W: Write>(out: &mut W, record: &Record) -> Result<()> {
    serde_json::to_writer(&mut *out, record).map_err(write_error)?;
    out.write_all(b"\n").map_err(write_error)
}

/// A problem with an export file, at a line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpError {
    pub line: u64,
    pub message: String,
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for DumpError {}

impl From<DumpError> for Error {
    fn from(e: DumpError) -> Self {
        Error::invalid(format!("line {}", e.line), e.message)
    }
}

fn at(line: u64, message: impl Into<String>) -> DumpError {
    DumpError {
        line,
        message: message.into(),
    }
}

/// Reads the lines of a file one by one: `(line number, text)`, the text
/// without its newline. A line that does not end in a newline (the file
/// was cut) is an error.
struct Lines<R> {
    reader: R,
    line: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            line: 0,
            buf: Vec::new(),
        }
    }

    fn next_line(&mut self) -> Option<std::result::Result<(u64, String), DumpError>> {
        self.buf.clear();
        self.line += 1;
        let line = self.line;
        match self.reader.read_until(b'\n', &mut self.buf) {
            Ok(0) => None,
            Ok(_) => {
                if self.buf.last() != Some(&b'\n') {
                    return Some(Err(at(
                        line,
                        "the line does not end (the file is truncated)",
                    )));
                }
                self.buf.pop();
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
                Some(
                    String::from_utf8(std::mem::take(&mut self.buf))
                        .map(|s| (line, s))
                        .map_err(|_| at(line, "not valid UTF-8")),
                )
            }
            Err(e) => Some(Err(at(line, format!("cannot read: {e}")))),
        }
    }
}

fn parse(line: u64, text: &str) -> std::result::Result<Record, DumpError> {
    if text.trim().is_empty() {
        return Err(at(line, "empty line"));
    }
    serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        // serde_json says "at line 1 column N" of the line; keep the column.
        let msg = match msg.rsplit_once(" at line 1 column ") {
            Some((m, col)) => format!("{m} (column {col})"),
            None => msg,
        };
        at(line, msg)
    })
}

/// What a valid file holds, from [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub header: Header,
    pub counts: ExportCounts,
}

/// Reads a whole export and checks it: a supported header on line 1, every
/// line a known row with its fields, rows in order (users, locations, items,
/// stock, movements by seq, parties, purchase orders by seq, their lines,
/// receipts, events by id), references to rows above, each item's stock and
/// ledger adding up to its `on_hand` and its submitted purchase-order lines'
/// outstanding quantities to its `incoming`, and an end line whose
/// counts match, with nothing after it. `max_schema` is the newest schema
/// this build knows. The first problem is reported with its line number.
pub fn validate<R: BufRead>(reader: R, max_schema: i64) -> std::result::Result<Summary, DumpError> {
    let mut lines = Lines::new(reader);
    let header = match lines.next_line() {
        None => return Err(at(1, "the file is empty")),
        Some(line) => {
            let (n, text) = line?;
            read_header(n, &text, max_schema)?
        }
    };
    let mut counts = ExportCounts::default();
    let mut rank = 0u8;
    let mut users = HashSet::new();
    let mut locations = HashSet::new();
    let mut defaults = 0;
    let mut movements = HashSet::new();
    let mut reversed = HashSet::new();
    // item id → (line, on_hand, stock sum, ledger sum)
    let mut items: HashMap<Uuid, (u64, i64, i64, i64)> = HashMap::new();
    // item id → (line, incoming); and what the orders' lines leave outstanding
    let mut incoming: HashMap<Uuid, (u64, i64)> = HashMap::new();
    let mut outstanding: HashMap<Uuid, i64> = HashMap::new();
    let mut parties = HashSet::new();
    // order id → whether its lines count as incoming
    let mut orders: HashMap<Uuid, bool> = HashMap::new();
    let mut order_numbers = HashSet::new();
    let mut order_lines = HashSet::new();
    let mut receipts = HashSet::new();
    let mut last_order = 0i64;
    let (mut last_seq, mut last_event, mut last_audit) = (0i64, 0i64, 0i64);
    // (item, location) → (line, reserved in its stock row, active reservations)
    let mut held: HashMap<(Uuid, Uuid), (u64, i64, i64)> = HashMap::new();
    let mut reservations = HashSet::new();
    let (mut sales, mut sales_lines, mut shipments) =
        (HashSet::new(), HashSet::new(), HashSet::new());
    let mut last_sale = 0i64;
    loop {
        let Some(line) = lines.next_line() else {
            return Err(at(
                lines.line,
                "the file ends without its end line (it is truncated)",
            ));
        };
        let (n, text) = line?;
        let record = parse(n, &text)?;
        if record.rank() < rank {
            return Err(at(
                n,
                format!("a {} row after the {} rows", record.kind(), rank_name(rank)),
            ));
        }
        rank = record.rank();
        match record {
            Record::Header(_) => return Err(at(n, "a second header")),
            Record::User(u) => {
                if Role::parse(&u.role).is_none() {
                    return Err(at(n, format!("unknown role '{}'", u.role)));
                }
                if !users.insert(u.id) {
                    return Err(at(n, format!("user {} appears twice", u.id)));
                }
                counts.users += 1;
            }
            Record::Location(l) => {
                if !locations.insert(l.id) {
                    return Err(at(n, format!("location {} appears twice", l.id)));
                }
                if l.default {
                    defaults += 1;
                    if defaults > 1 {
                        return Err(at(n, "a second default location"));
                    }
                }
                counts.locations += 1;
            }
            Record::Item(i) => {
                if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&i.attributes)
                    .is_err()
                {
                    return Err(at(n, "attributes is not the text of a JSON object"));
                }
                if items.insert(i.id, (n, i.on_hand, 0, 0)).is_some() {
                    return Err(at(n, format!("item {} appears twice", i.id)));
                }
                incoming.insert(i.id, (n, i.incoming));
                counts.items += 1;
            }
            Record::Stock(s) => {
                if !locations.contains(&s.location_id) {
                    return Err(at(n, format!("unknown location {}", s.location_id)));
                }
                let Some(item) = items.get_mut(&s.item_id) else {
                    return Err(at(n, format!("unknown item {}", s.item_id)));
                };
                item.2 += s.on_hand;
                held.entry((s.item_id, s.location_id))
                    .or_insert((n, 0, 0))
                    .1 += s.reserved;
                counts.stock += 1;
            }
            Record::Reservation(r) => {
                let status = ReservationStatus::parse(&r.status)
                    .map_err(|_| at(n, format!("unknown reservation status '{}'", r.status)))?;
                if !reservations.insert(r.id) {
                    return Err(at(n, format!("reservation {} appears twice", r.id)));
                }
                if r.quantity <= 0 {
                    return Err(at(n, "a reservation's quantity must be positive"));
                }
                if (status == ReservationStatus::Active) != r.ended_at.is_none() {
                    return Err(at(n, "only an active reservation has no ended_at"));
                }
                let Some(balance) = held.get_mut(&(r.item_id, r.location_id)) else {
                    return Err(at(
                        n,
                        format!(
                            "no stock row for item {} at location {}",
                            r.item_id, r.location_id
                        ),
                    ));
                };
                if status == ReservationStatus::Active {
                    balance.2 += r.quantity;
                }
                counts.reservations += 1;
            }
            Record::Movement(m) => {
                let Some(kind) = MovementKind::parse(&m.kind) else {
                    return Err(at(n, format!("unknown movement kind '{}'", m.kind)));
                };
                if m.seq <= last_seq {
                    return Err(at(n, format!("seq {} does not follow {last_seq}", m.seq)));
                }
                last_seq = m.seq;
                if let Some(original) = m.reverses {
                    if !movements.contains(&original) {
                        return Err(at(n, format!("reverses unknown movement {original}")));
                    }
                    if !reversed.insert(original) {
                        return Err(at(n, format!("movement {original} is reversed twice")));
                    }
                }
                movements.insert(m.id);
                for loc in [m.location_id, m.from_location_id, m.to_location_id]
                    .into_iter()
                    .flatten()
                {
                    if !locations.contains(&loc) {
                        return Err(at(n, format!("unknown location {loc}")));
                    }
                }
                let Some(item) = items.get_mut(&m.item_id) else {
                    return Err(at(n, format!("unknown item {}", m.item_id)));
                };
                item.3 += match kind {
                    MovementKind::Issue => -m.quantity,
                    MovementKind::Transfer => 0,
                    MovementKind::Receive | MovementKind::Adjust => m.quantity,
                };
                counts.movements += 1;
            }
            Record::Party(p) => {
                if PartyKind::parse(&p.kind).is_none() {
                    return Err(at(n, format!("unknown party kind '{}'", p.kind)));
                }
                if !parties.insert(p.id) {
                    return Err(at(n, format!("party {} appears twice", p.id)));
                }
                counts.parties += 1;
            }
            Record::PurchaseOrder(o) => {
                let Some(status) = PoStatus::parse(&o.status) else {
                    return Err(at(
                        n,
                        format!("unknown purchase-order status '{}'", o.status),
                    ));
                };
                if o.seq <= last_order {
                    return Err(at(n, format!("seq {} does not follow {last_order}", o.seq)));
                }
                last_order = o.seq;
                if !parties.contains(&o.supplier_id) {
                    return Err(at(n, format!("unknown party {}", o.supplier_id)));
                }
                if !locations.contains(&o.receive_to_id) {
                    return Err(at(n, format!("unknown location {}", o.receive_to_id)));
                }
                if !order_numbers.insert(o.number.clone()) {
                    return Err(at(n, format!("order number {} appears twice", o.number)));
                }
                if orders.insert(o.id, status.counts_incoming()).is_some() {
                    return Err(at(n, format!("purchase order {} appears twice", o.id)));
                }
                counts.purchase_orders += 1;
            }
            Record::PurchaseOrderLine(l) => {
                let Some(counts_incoming) = orders.get(&l.order_id) else {
                    return Err(at(n, format!("unknown purchase order {}", l.order_id)));
                };
                if !items.contains_key(&l.item_id) {
                    return Err(at(n, format!("unknown item {}", l.item_id)));
                }
                if !order_lines.insert(l.id) {
                    return Err(at(n, format!("line {} appears twice", l.id)));
                }
                if *counts_incoming {
                    *outstanding.entry(l.item_id).or_default() += (l.quantity - l.received).max(0);
                }
                counts.purchase_order_lines += 1;
            }
            Record::PurchaseReceipt(r) => {
                if !order_lines.contains(&r.line_id) {
                    return Err(at(n, format!("unknown purchase-order line {}", r.line_id)));
                }
                if !movements.contains(&r.movement_id) {
                    return Err(at(n, format!("unknown movement {}", r.movement_id)));
                }
                if !receipts.insert(r.movement_id) {
                    return Err(at(
                        n,
                        format!("movement {} is a receipt twice", r.movement_id),
                    ));
                }
                counts.purchase_receipts += 1;
            }
            Record::SalesOrder(o) => {
                if SalesOrderStatus::parse(&o.status).is_err() {
                    return Err(at(n, format!("unknown sales-order status '{}'", o.status)));
                }
                if o.seq <= last_sale {
                    return Err(at(n, format!("seq {} does not follow {last_sale}", o.seq)));
                }
                last_sale = o.seq;
                if let Some(customer) = o.customer_id.filter(|c| !parties.contains(c)) {
                    return Err(at(n, format!("unknown party {customer}")));
                }
                if !locations.contains(&o.ship_from_id) {
                    return Err(at(n, format!("unknown location {}", o.ship_from_id)));
                }
                if !order_numbers.insert(o.number.clone()) {
                    return Err(at(n, format!("order number {} appears twice", o.number)));
                }
                if !sales.insert(o.id) {
                    return Err(at(n, format!("sales order {} appears twice", o.id)));
                }
                counts.sales_orders += 1;
            }
            Record::SalesOrderLine(l) => {
                if !sales.contains(&l.order_id) {
                    return Err(at(n, format!("unknown sales order {}", l.order_id)));
                }
                if !items.contains_key(&l.item_id) {
                    return Err(at(n, format!("unknown item {}", l.item_id)));
                }
                if l.quantity <= 0 || !(0..=l.quantity).contains(&l.shipped) {
                    return Err(at(n, "a line ships from 0 up to its positive quantity"));
                }
                if !sales_lines.insert(l.id) {
                    return Err(at(n, format!("line {} appears twice", l.id)));
                }
                counts.sales_order_lines += 1;
            }
            Record::SalesShipment(r) => {
                if !sales_lines.contains(&r.line_id) {
                    return Err(at(n, format!("unknown sales-order line {}", r.line_id)));
                }
                if !movements.contains(&r.movement_id) {
                    return Err(at(n, format!("unknown movement {}", r.movement_id)));
                }
                if !shipments.insert(r.movement_id) {
                    return Err(at(
                        n,
                        format!("movement {} is a shipment twice", r.movement_id),
                    ));
                }
                counts.sales_shipments += 1;
            }
            Record::Event(e) => {
                if e.id <= last_event {
                    return Err(at(
                        n,
                        format!("event id {} does not follow {last_event}", e.id),
                    ));
                }
                last_event = e.id;
                if serde_json::from_str::<serde_json::Value>(&e.data).is_err() {
                    return Err(at(n, "data is not JSON text"));
                }
                counts.events += 1;
            }
            Record::Audit(a) => {
                if a.id <= last_audit {
                    return Err(at(
                        n,
                        format!("audit id {} does not follow {last_audit}", a.id),
                    ));
                }
                last_audit = a.id;
                if Via::parse(&a.via).is_none() {
                    return Err(at(n, format!("unknown via '{}'", a.via)));
                }
                if serde_json::from_str::<serde_json::Value>(&a.changes).is_err() {
                    return Err(at(n, "changes is not JSON text"));
                }
                counts.audit += 1;
            }
            Record::End(end) => {
                if end.counts != counts {
                    return Err(at(
                        n,
                        format!(
                            "the end line counts {} but the file holds {}",
                            end.counts, counts
                        ),
                    ));
                }
                if let Some(extra) = lines.next_line() {
                    let n = extra.map(|(n, _)| n).unwrap_or_else(|e| e.line);
                    return Err(at(n, "text after the end line"));
                }
                break;
            }
        }
    }
    // Reserved must be what the active reservations hold.
    let mut unheld: Vec<_> = held
        .values()
        .filter(|(_, stock, active)| stock != active)
        .collect();
    unheld.sort();
    if let Some((n, stock, active)) = unheld.first() {
        return Err(at(
            *n,
            format!("the stock row reserves {stock} but its active reservations hold {active}"),
        ));
    }
    // Balances must equal the ledger, as in the database the file came from.
    let mut wrong: Vec<_> = items
        .values()
        .filter(|(_, on_hand, stock, ledger)| stock != on_hand || ledger != on_hand)
        .collect();
    wrong.sort();
    if let Some((n, on_hand, stock, ledger)) = wrong.first() {
        return Err(at(
            *n,
            format!(
                "the item's on_hand is {on_hand} but its stock rows add up to {stock} and its ledger to {ledger}"
            ),
        ));
    }
    // Incoming must equal what submitted orders leave outstanding.
    let mut wrong: Vec<_> = incoming
        .iter()
        .map(|(id, (n, held))| (*n, *held, outstanding.get(id).copied().unwrap_or(0)))
        .filter(|(_, held, expected)| held != expected)
        .collect();
    wrong.sort();
    if let Some((n, held, expected)) = wrong.first() {
        return Err(at(
            *n,
            format!(
                "the item's incoming is {held} but its submitted purchase-order lines leave {expected} outstanding"
            ),
        ));
    }
    Ok(Summary { header, counts })
}

fn rank_name(rank: u8) -> &'static str {
    [
        "header",
        "user",
        "location",
        "item",
        "stock",
        "reservation",
        "movement",
        "party",
        "purchase_order",
        "purchase_order_line",
        "purchase_receipt",
        "sales_order",
        "sales_order_line",
        "sales_shipment",
        "event",
        "audit",
        "end",
    ]
    .get(usize::from(rank))
    .copied()
    .unwrap_or("end")
}

fn read_header(n: u64, text: &str, max_schema: i64) -> std::result::Result<Header, DumpError> {
    // Look at format and version first, so that a newer file says so.
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| at(n, "not an inventory export (the first line is not JSON)"))?;
    if value.get("type").and_then(|v| v.as_str()) != Some("header")
        || value.get("format").and_then(|v| v.as_str()) != Some(FORMAT)
    {
        return Err(at(
            n,
            format!("not an inventory export (no {FORMAT} header)"),
        ));
    }
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(v) if (u64::from(OLDEST_VERSION)..=u64::from(VERSION)).contains(&v) => {}
        Some(v) => {
            return Err(at(
                n,
                format!(
                    "export format version {v} is not supported (this build reads versions \
                     {OLDEST_VERSION} to {VERSION})"
                ),
            ))
        }
        None => return Err(at(n, "the header has no version")),
    }
    let Record::Header(header) = parse(n, text)? else {
        return Err(at(n, "not a header"));
    };
    if header.schema > max_schema {
        return Err(at(
            n,
            format!(
                "the export comes from schema version {}, newer than this build knows ({max_schema})",
                header.schema
            ),
        ));
    }
    Ok(header)
}

/// Streams the rows of a file that [`validate`] accepted, with their line
/// numbers; header and end are skipped. A line that no longer parses (the
/// file changed in between) ends the stream with an error.
pub fn rows<R: BufRead + Send + 'static>(reader: R) -> DumpRows {
    let mut lines = Lines::new(reader);
    Box::new(std::iter::from_fn(move || loop {
        let (n, text) = match lines.next_line()? {
            Ok(line) => line,
            Err(e) => return Some(Err(e.into())),
        };
        match parse(n, &text) {
            Ok(Record::Header(_)) => continue,
            Ok(Record::End(_)) => return None,
            Ok(record) => return Some(Ok((n, record))),
            Err(e) => return Some(Err(e.into())),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = DumpWriter::start(&mut out, "sqlite", 1, ExportOptions::default()).unwrap();
        let t = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let (item, loc) = (Uuid::now_v7(), Uuid::now_v7());
        w.row(&Record::Location(LocationRow {
            id: loc,
            code: "MAIN".into(),
            name: "Main".into(),
            default: true,
            created_at: t,
            updated_at: t,
        }))
        .unwrap();
        w.row(&Record::Item(ItemRow {
            id: item,
            sku: "A".into(),
            name: "A".into(),
            description: None,
            category: Some("c".into()),
            barcode: Some("4006381333931".into()),
            unit: "each".into(),
            reorder_point: 0,
            unit_cost: 12_3400,
            attributes: r#"{"b":1.50,"a":[]}"#.into(),
            archived: false,
            on_hand: 5,
            reserved: 0,
            incoming: 0,
            version: 1,
            created_at: t,
            updated_at: t,
        }))
        .unwrap();
        w.row(&Record::Stock(StockRow {
            item_id: item,
            location_id: loc,
            on_hand: 5,
            reserved: 0,
        }))
        .unwrap();
        w.row(&Record::Movement(MovementRow {
            seq: 1,
            id: Uuid::now_v7(),
            item_id: item,
            kind: "receive".into(),
            quantity: 5,
            location_id: Some(loc),
            from_location_id: None,
            to_location_id: None,
            reason: None,
            reference: None,
            reverses: None,
            created_by: "admin".into(),
            created_at: t,
        }))
        .unwrap();
        w.finish().unwrap();
        out
    }

    #[test]
    fn round_trip_and_validate() {
        let file = sample();
        let text = String::from_utf8(file.clone()).unwrap();
        assert!(text.contains(r#""attributes":"{\"b\":1.50,\"a\":[]}""#));
        assert!(text.contains("2023-11-14T22:13:20.123456Z"));
        let summary = validate(&file[..], 1).unwrap();
        assert_eq!(summary.counts.items, 1);
        let rows: Vec<_> = rows(std::io::Cursor::new(file))
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].0, 2);
    }

    /// The sample with a stock row reserving `reserved` and these reservations.
    fn with_reservations(reserved: i64, held: &[(&str, i64)]) -> String {
        let text = String::from_utf8(sample()).unwrap();
        let stock: serde_json::Value = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["type"] == "stock")
            .unwrap();
        let mut lines: Vec<String> = Vec::new();
        for line in text.lines() {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            match v["type"].as_str().unwrap() {
                "stock" => {
                    v["reserved"] = reserved.into();
                    lines.push(v.to_string());
                    for (status, quantity) in held {
                        let ended = (*status != "active").then_some("2024-01-01T00:00:00.000000Z");
                        lines.push(
                            serde_json::json!({"type": "reservation", "id": Uuid::now_v7(),
                                "item_id": stock["item_id"], "location_id": stock["location_id"],
                                "quantity": quantity, "status": status, "expires_at": null,
                                "reference": "r", "note": null, "order_line_id": null,
                                "created_by": "admin", "created_at": "2024-01-01T00:00:00.000000Z",
                                "ended_at": ended})
                            .to_string(),
                        );
                    }
                }
                "item" => {
                    v["reserved"] = reserved.into();
                    lines.push(v.to_string());
                }
                "end" => {
                    v["counts"]["reservations"] = held.len().into();
                    lines.push(v.to_string());
                }
                _ => lines.push(line.to_owned()),
            }
        }
        lines.join("\n") + "\n"
    }

    #[test]
    fn reservations_must_add_up_to_what_their_stock_row_reserves() {
        let good = with_reservations(2, &[("active", 2), ("released", 3)]);
        let summary = validate(good.as_bytes(), 1).unwrap();
        assert_eq!(summary.counts.reservations, 2);
        let short = with_reservations(3, &[("active", 2)]);
        let err = validate(short.as_bytes(), 1).unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        assert!(err.message.contains("reserves 3"), "{err}");
        let lost = with_reservations(2, &[("lost", 2)]);
        assert!(validate(lost.as_bytes(), 1)
            .unwrap_err()
            .message
            .contains("unknown reservation status"));
    }

    #[test]
    fn truncation_and_corruption_name_the_line() {
        let file = sample();
        // cut inside the last line, and just before it
        let cut = &file[..file.len() - 5];
        assert_eq!(validate(cut, 1).unwrap_err().line, 6);
        let last_nl = file[..file.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .unwrap();
        let err = validate(&file[..=last_nl], 1).unwrap_err();
        assert!(err.message.contains("truncated"), "{err}");
        let text = String::from_utf8(file).unwrap();
        let broken = text.replacen(r#""type":"item""#, r#""type":"itme""#, 1);
        let err = validate(broken.as_bytes(), 1).unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        let newer = text.replacen(r#""version":3"#, r#""version":4"#, 1);
        assert!(validate(newer.as_bytes(), 1)
            .unwrap_err()
            .message
            .contains("version 4"));
        // Files of version 1 (before reservations) and 2 (before the audit
        // trail) still read.
        for old in [1, 2] {
            let older = text.replacen(r#""version":3"#, &format!(r#""version":{old}"#), 1);
            assert!(validate(older.as_bytes(), 1).is_ok(), "version {old}");
        }
        let extra = text.replacen(r#""quantity":5"#, r#""quantity":5,"x":1"#, 1);
        assert_eq!(validate(extra.as_bytes(), 1).unwrap_err().line, 5);
        let wrong = text.replacen(r#""quantity":5"#, r#""quantity":4"#, 1);
        let err = validate(wrong.as_bytes(), 1).unwrap_err();
        assert_eq!(err.line, 3, "{err}");
    }

    #[test]
    fn audit_rows_follow_the_events_in_id_order_with_a_known_via() {
        let text = String::from_utf8(sample()).unwrap();
        let audit = |id: i64, via: &str| {
            let row = Record::Audit(AuditRow {
                id,
                at: DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap(),
                actor_id: None,
                actor_username: None,
                via: via.into(),
                token_id: None,
                action: "item.created".into(),
                target_type: "item".into(),
                target_id: "x".into(),
                changes: "{}".into(),
                request_id: None,
                client_addr: None,
            });
            serde_json::to_string(&row).unwrap()
        };
        let with = |rows: &[String]| {
            let (body, end) = text.trim_end().rsplit_once('\n').unwrap();
            let end = end.replace(r#""audit":0"#, &format!(r#""audit":{}"#, rows.len()));
            format!("{body}\n{}\n{end}\n", rows.join("\n"))
        };
        let good = with(&[audit(1, "system"), audit(2, "token")]);
        assert_eq!(validate(good.as_bytes(), 1).unwrap().counts.audit, 2);
        let err = validate(with(&[audit(2, "cli"), audit(2, "cli")]).as_bytes(), 1).unwrap_err();
        assert!(err.message.contains("does not follow"), "{err}");
        let err = validate(with(&[audit(1, "ghost")]).as_bytes(), 1).unwrap_err();
        assert!(err.message.contains("unknown via"), "{err}");
    }

    /// A version 1 file (no parties, orders or `incoming`; counts without
    /// them) still validates and streams.
    #[test]
    fn a_version_1_file_still_reads() {
        let text = String::from_utf8(sample()).unwrap();
        let old: String = text
            .replacen(r#""version":3"#, r#""version":1"#, 1)
            .replace(r#","incoming":0"#, "")
            .replace(r#","audit":0"#, "")
            .replace(
                r#","parties":0,"purchase_orders":0,"purchase_order_lines":0,"purchase_receipts":0"#,
                "",
            );
        assert!(
            !old.contains("incoming") && !old.contains("parties"),
            "{old}"
        );
        let summary = validate(old.as_bytes(), 1).unwrap();
        assert_eq!((summary.header.version, summary.counts.items), (1, 1));
        let rows: Vec<_> = rows(std::io::Cursor::new(old.into_bytes()))
            .collect::<Result<_>>()
            .unwrap();
        assert!(matches!(&rows[1].1, Record::Item(i) if i.incoming == 0));
    }

    #[test]
    fn incoming_must_match_the_orders() {
        let text = String::from_utf8(sample()).unwrap();
        let wrong = text.replacen(r#""incoming":0"#, r#""incoming":3"#, 1);
        let err = validate(wrong.as_bytes(), 1).unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(err.message.contains("incoming"), "{err}");
    }
}
