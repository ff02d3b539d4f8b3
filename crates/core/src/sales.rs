//! Sales orders: a draft (a cart, which may hold its lines' stock for a
//! while), confirmed (every outstanding unit reserved, firmly), shipped in
//! one or more parts (each an `issue` with the order's number as its
//! reference, consuming the reservations), or cancelled (what is still
//! reserved is released; what shipped stays shipped).
//!
//! The rules live here: which action each status allows, what a request
//! may ask, what a shipment takes from each line. Stores persist them with
//! the reservation and ledger guards.

use crate::error::{Error, FieldError, Result};
use crate::money::{format_amount, format_unit_cost, parse_unit_cost};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use utoipa::ToSchema;
use uuid::Uuid;

/// The most lines one order holds.
pub const MAX_LINES: usize = 500;
/// The longest a cart hold may last.
pub const MAX_HOLD_MINUTES: i64 = 7 * 24 * 60;
const MAX_TEXT: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SalesOrderStatus {
    Draft,
    Confirmed,
    PartiallyShipped,
    Shipped,
    Cancelled,
}

impl SalesOrderStatus {
    pub const ALL: [Self; 5] = [
        Self::Draft,
        Self::Confirmed,
        Self::PartiallyShipped,
        Self::Shipped,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Confirmed => "confirmed",
            Self::PartiallyShipped => "partially_shipped",
            Self::Shipped => "shipped",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "status",
                    format!(
                        "unknown status '{s}': one of draft, confirmed, partially_shipped, shipped, cancelled"
                    ),
                )
            })
    }
}

/// The statuses of an order that still has work to do, as SQL text (a
/// party with such orders cannot be archived).
pub const OPEN_SALES_STATUSES_SQL: &str = "('draft', 'confirmed', 'partially_shipped')";

/// What can be done to an order, for the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SalesAction {
    Edit,
    Hold,
    Confirm,
    Ship,
    Cancel,
}

impl SalesAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Edit => "change the lines of",
            Self::Hold => "hold the stock of",
            Self::Confirm => "confirm",
            Self::Ship => "ship",
            Self::Cancel => "cancel",
        }
    }

    /// The table: the statuses each action is allowed from.
    fn allowed_from(self, status: SalesOrderStatus) -> bool {
        use SalesOrderStatus::*;
        match self {
            Self::Edit | Self::Hold | Self::Confirm => status == Draft,
            Self::Ship => matches!(status, Confirmed | PartiallyShipped),
            Self::Cancel => matches!(status, Draft | Confirmed | PartiallyShipped),
        }
    }
}

/// A line of a sales order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SalesLine {
    pub line_id: Uuid,
    pub item_id: Uuid,
    pub sku: String,
    pub quantity: i64,
    pub shipped: i64,
    /// What its active reservations hold now.
    pub reserved: i64,
    /// Exact decimal string.
    #[schema(value_type = String, example = "4.50")]
    #[serde(serialize_with = "as_price")]
    pub unit_price: i64,
    /// quantity × unit_price, exact.
    #[schema(value_type = String, example = "9.00")]
    pub line_total: String,
}

fn as_price<S: serde::Serializer>(minor: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format_unit_cost(*minor))
}

impl SalesLine {
    pub fn outstanding(&self) -> i64 {
        self.quantity - self.shipped
    }

    fn amount(&self) -> i128 {
        i128::from(self.quantity) * i128::from(self.unit_price)
    }
}

/// A sales order as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SalesOrder {
    pub id: Uuid,
    /// `SO-000001`: unique, in creation order.
    pub number: String,
    pub customer_id: Option<Uuid>,
    pub reference: Option<String>,
    /// The location code it ships from.
    pub ship_from: String,
    pub status: SalesOrderStatus,
    /// Until when a draft's lines hold their stock, if it holds any.
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub lines: Vec<SalesLine>,
    /// The sum of the line totals, exact.
    #[schema(value_type = String, example = "9.00")]
    pub total: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SalesOrder {
    /// Refuses `action` unless the status allows it.
    pub fn allow(&self, action: SalesAction) -> Result<()> {
        if action.allowed_from(self.status) {
            return Ok(());
        }
        Err(Error::InvalidTransition {
            entity: "sales order",
            status: self.status.as_str().to_owned(),
            action: action.as_str(),
        })
    }

    /// Tags a refusal of one of its lines (a short line on confirm, a
    /// refused shipment) with the line: index, id and SKU.
    pub fn line_error(&self, line_id: Uuid, e: Error) -> Error {
        let index = self
            .lines
            .iter()
            .position(|l| l.line_id == line_id)
            .unwrap_or(0);
        let sku = self
            .lines
            .get(index)
            .map(|l| l.sku.clone())
            .unwrap_or_default();
        at_line(e, index, line_id, sku)
    }

    /// Recomputes the totals after the lines changed.
    pub fn total_lines(&mut self) {
        for line in &mut self.lines {
            line.line_total = format_amount(line.amount());
        }
        self.total = format_amount(self.lines.iter().map(SalesLine::amount).sum());
    }

    /// The status after a shipment: shipped when nothing is outstanding.
    pub fn after_shipping(&self) -> SalesOrderStatus {
        if self.lines.iter().all(|l| l.outstanding() == 0) {
            SalesOrderStatus::Shipped
        } else {
            SalesOrderStatus::PartiallyShipped
        }
    }

    /// What a shipment takes from each line: the lines asked for, or
    /// everything outstanding when `request` names none. More than a
    /// line's outstanding quantity is a 422 naming the line.
    pub fn shipment(&self, request: &ShipRequest) -> Result<Vec<(Uuid, i64)>> {
        let asked = request.lines.as_deref().unwrap_or_default();
        if asked.is_empty() {
            let all: Vec<(Uuid, i64)> = self
                .lines
                .iter()
                .filter(|l| l.outstanding() > 0)
                .map(|l| (l.line_id, l.outstanding()))
                .collect();
            return Ok(all);
        }
        let mut errors = Vec::new();
        let mut seen = HashSet::new();
        let mut plan = Vec::new();
        for (i, part) in asked.iter().enumerate() {
            let field = |f: &str| format!("lines[{i}].{f}");
            let Some(line) = part
                .line_id
                .and_then(|id| self.lines.iter().find(|l| l.line_id == id))
            else {
                errors.push(FieldError::new(
                    field("line_id"),
                    "is not a line of this order",
                ));
                continue;
            };
            if !seen.insert(line.line_id) {
                errors.push(FieldError::new(field("line_id"), "appears twice"));
                continue;
            }
            match part.quantity {
                Some(q) if q <= 0 => errors.push(FieldError::new(
                    field("quantity"),
                    "must be a positive whole number",
                )),
                Some(q) if q > line.outstanding() => errors.push(FieldError::new(
                    field("quantity"),
                    format!(
                        "is more than the {} of {} still to ship (ordered {}, shipped {})",
                        line.outstanding(),
                        line.sku,
                        line.quantity,
                        line.shipped
                    ),
                )),
                Some(q) => plan.push((line.line_id, q)),
                None => errors.push(FieldError::new(field("quantity"), "is required")),
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(plan)
    }
}

/// One line of a create request.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSalesLine {
    pub item_id: Option<Uuid>,
    pub quantity: Option<i64>,
    /// Exact decimal string, at most 4 places.
    pub unit_price: Option<String>,
}

/// `POST /api/v1/sales-orders` body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSalesOrder {
    pub customer_id: Option<Uuid>,
    pub reference: Option<String>,
    /// A location code; the default location when absent.
    pub ship_from: Option<String>,
    pub lines: Option<Vec<CreateSalesLine>>,
    /// Hold every line's stock for this many minutes (a cart).
    pub hold_minutes: Option<i64>,
}

/// A checked new line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSalesLine {
    pub line_id: Uuid,
    pub item_id: Uuid,
    pub quantity: i64,
    pub unit_price: i64,
}

impl NewSalesLine {
    /// Tags a refusal of this new line (no such item, an archived one),
    /// the `index`th of the request.
    pub fn refusal(&self, index: usize, e: Error) -> Error {
        at_line(e, index, self.line_id, String::new())
    }
}

fn at_line(e: Error, index: usize, line_id: Uuid, sku: String) -> Error {
    match e {
        e @ (Error::Unavailable(_) | Error::Internal(_)) => e,
        source => Error::AtLine {
            index,
            line_id,
            sku,
            source: Box::new(source),
        },
    }
}

/// A checked create request, for a store to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSalesOrder {
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    pub reference: Option<String>,
    pub ship_from: Option<String>,
    pub lines: Vec<NewSalesLine>,
    pub hold_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

fn text(field: &str, value: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if value.as_ref().is_some_and(|v| v.chars().count() > MAX_TEXT) {
        errors.push(FieldError::new(
            field,
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    value
}

/// A hold of `minutes` from `now`, checked.
pub fn hold_until(
    minutes: Option<i64>,
    field: &str,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    match minutes {
        None => None,
        Some(m) if (1..=MAX_HOLD_MINUTES).contains(&m) => Some(now + Duration::minutes(m)),
        Some(_) => {
            errors.push(FieldError::new(
                field,
                format!("must be 1 to {MAX_HOLD_MINUTES} minutes"),
            ));
            None
        }
    }
}

fn check_line(
    i: usize,
    line: &CreateSalesLine,
    errors: &mut Vec<FieldError>,
) -> Option<NewSalesLine> {
    let field = |f: &str| format!("lines[{i}].{f}");
    let before = errors.len();
    if line.item_id.is_none() {
        errors.push(FieldError::new(field("item_id"), "is required"));
    }
    match line.quantity {
        None => errors.push(FieldError::new(field("quantity"), "is required")),
        Some(q) if q <= 0 => errors.push(FieldError::new(
            field("quantity"),
            "must be a positive whole number",
        )),
        _ => {}
    }
    let unit_price = match line.unit_price.as_deref() {
        None => {
            errors.push(FieldError::new(
                field("unit_price"),
                "is required (a decimal string such as \"4.50\")",
            ));
            0
        }
        Some(s) => parse_unit_cost(s).unwrap_or_else(|m| {
            errors.push(FieldError::new(field("unit_price"), m));
            0
        }),
    };
    (errors.len() == before).then(|| NewSalesLine {
        line_id: Uuid::now_v7(),
        item_id: line.item_id.unwrap_or_default(),
        quantity: line.quantity.unwrap_or_default(),
        unit_price,
    })
}

impl CreateSalesOrder {
    pub fn validate(self, now: DateTime<Utc>) -> Result<NewSalesOrder> {
        let mut errors = Vec::new();
        let reference = text("reference", self.reference, &mut errors);
        let ship_from = self
            .ship_from
            .map(|c| c.trim().to_uppercase())
            .filter(|c| !c.is_empty());
        let hold_until = hold_until(self.hold_minutes, "hold_minutes", now, &mut errors);
        let asked = self.lines.unwrap_or_default();
        if asked.is_empty() || asked.len() > MAX_LINES {
            errors.push(FieldError::new(
                "lines",
                format!("must hold 1 to {MAX_LINES} lines"),
            ));
        }
        let lines: Vec<NewSalesLine> = asked
            .iter()
            .enumerate()
            .filter_map(|(i, l)| check_line(i, l, &mut errors))
            .collect();
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(NewSalesOrder {
            id: Uuid::now_v7(),
            customer_id: self.customer_id,
            reference,
            ship_from,
            lines,
            hold_until,
            created_at: now,
        })
    }
}

/// One line of a PATCH: `line_id` names a line to change (or, with
/// `"remove": true`, to remove); without it, a new line.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesLinePatch {
    pub line_id: Option<Uuid>,
    pub item_id: Option<Uuid>,
    pub quantity: Option<i64>,
    pub unit_price: Option<String>,
    #[serde(default)]
    pub remove: bool,
}

/// `PATCH /api/v1/sales-orders/{id}` body (drafts only).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesOrderPatch {
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub customer_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    #[schema(value_type = Option<String>)]
    pub reference: Option<Option<String>>,
    pub lines: Option<Vec<SalesLinePatch>>,
}

/// What a PATCH does to the lines, decided against the order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineChanges {
    /// Lines whose quantity or price changed: (line, new quantity, new price).
    pub changed: Vec<(Uuid, i64, i64)>,
    pub removed: Vec<Uuid>,
    pub added: Vec<NewSalesLine>,
}

impl SalesOrderPatch {
    /// Applies the header fields to `order` and decides the line changes.
    pub fn apply(&self, order: &mut SalesOrder) -> Result<LineChanges> {
        order.allow(SalesAction::Edit)?;
        let mut errors = Vec::new();
        if let Some(reference) = &self.reference {
            order.reference = text("reference", reference.clone(), &mut errors);
        }
        if let Some(customer) = self.customer_id {
            order.customer_id = customer;
        }
        let mut changes = LineChanges::default();
        let mut seen = HashSet::new();
        for (i, patch) in self.lines.iter().flatten().enumerate() {
            let field = |f: &str| format!("lines[{i}].{f}");
            let Some(id) = patch.line_id else {
                let new = CreateSalesLine {
                    item_id: patch.item_id,
                    quantity: patch.quantity,
                    unit_price: patch.unit_price.clone(),
                };
                if let Some(line) = check_line(i, &new, &mut errors) {
                    changes.added.push(line);
                }
                continue;
            };
            let Some(line) = order.lines.iter().find(|l| l.line_id == id) else {
                errors.push(FieldError::new(
                    field("line_id"),
                    "is not a line of this order",
                ));
                continue;
            };
            if !seen.insert(id) {
                errors.push(FieldError::new(field("line_id"), "appears twice"));
                continue;
            }
            if patch.item_id.is_some_and(|item| item != line.item_id) {
                errors.push(FieldError::new(
                    field("item_id"),
                    "a line keeps its item: remove it and add a new line",
                ));
                continue;
            }
            if patch.remove {
                changes.removed.push(id);
                continue;
            }
            let quantity = match patch.quantity {
                Some(q) if q <= 0 => {
                    errors.push(FieldError::new(
                        field("quantity"),
                        "must be a positive whole number (\"remove\": true removes the line)",
                    ));
                    continue;
                }
                Some(q) => q,
                None => line.quantity,
            };
            let price = match patch.unit_price.as_deref().map(parse_unit_cost) {
                Some(Err(m)) => {
                    errors.push(FieldError::new(field("unit_price"), m));
                    continue;
                }
                Some(Ok(p)) => p,
                None => line.unit_price,
            };
            if (quantity, price) != (line.quantity, line.unit_price) {
                changes.changed.push((id, quantity, price));
            }
        }
        let remaining = order.lines.len() - changes.removed.len() + changes.added.len();
        if remaining == 0 || remaining > MAX_LINES {
            errors.push(FieldError::new(
                "lines",
                format!("an order holds 1 to {MAX_LINES} lines"),
            ));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(changes)
    }
}

/// `POST /api/v1/sales-orders/{id}/hold` body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    pub minutes: Option<i64>,
}

impl HoldRequest {
    pub fn until(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
        let mut errors = Vec::new();
        if self.minutes.is_none() {
            errors.push(FieldError::new("minutes", "is required"));
        }
        let until = hold_until(self.minutes, "minutes", now, &mut errors);
        match until {
            Some(until) if errors.is_empty() => Ok(until),
            _ => Err(Error::Validation(errors)),
        }
    }
}

/// One line of a shipment.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipLine {
    pub line_id: Option<Uuid>,
    pub quantity: Option<i64>,
}

/// `POST /api/v1/sales-orders/{id}/ship` body; no lines: everything outstanding.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipRequest {
    pub lines: Option<Vec<ShipLine>>,
}

/// `GET /api/v1/sales-orders` filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesOrderQuery {
    pub status: Option<SalesOrderStatus>,
    pub customer_id: Option<Uuid>,
    /// Matches the number or the reference (any case, part of it).
    pub q: Option<String>,
    pub limit: u32,
    /// Continue after this id (ids follow creation order).
    pub after: Option<Uuid>,
}

impl Default for SalesOrderQuery {
    fn default() -> Self {
        Self {
            status: None,
            customer_id: None,
            q: None,
            limit: crate::paging::DEFAULT_LIMIT,
            after: None,
        }
    }
}

/// The `issue` that ships `quantity` of a line from `location`, carrying
/// the order's number as its reference.
pub fn shipment_movement(
    item_id: Uuid,
    quantity: i64,
    location: &str,
    number: &str,
) -> crate::ledger::NewMovement {
    crate::ledger::NewMovement {
        item_id,
        kind: crate::ledger::MovementKind::Issue,
        quantity,
        location: Some(location.to_owned()),
        from_location: None,
        to_location: None,
        reason: None,
        reference: Some(number.to_owned()),
        reverses: None,
    }
}

/// The order number for the `n`th order.
pub fn order_number(n: i64) -> String {
    format!("SO-{n:06}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status: SalesOrderStatus, lines: &[(i64, i64)]) -> SalesOrder {
        let mut o = SalesOrder {
            id: Uuid::now_v7(),
            number: order_number(1),
            customer_id: None,
            reference: None,
            ship_from: "MAIN".into(),
            status,
            hold_expires_at: None,
            lines: lines
                .iter()
                .map(|&(quantity, shipped)| SalesLine {
                    line_id: Uuid::now_v7(),
                    item_id: Uuid::now_v7(),
                    sku: "A".into(),
                    quantity,
                    shipped,
                    reserved: quantity - shipped,
                    unit_price: 4_5000,
                    line_total: String::new(),
                })
                .collect(),
            total: String::new(),
            created_by: "u".into(),
            created_at: crate::now(),
            updated_at: crate::now(),
        };
        o.total_lines();
        o
    }

    #[test]
    fn every_action_is_allowed_only_from_its_statuses() {
        use SalesOrderStatus::*;
        let allowed = |action, status| order(status, &[(1, 0)]).allow(action).is_ok();
        for status in SalesOrderStatus::ALL {
            assert_eq!(allowed(SalesAction::Confirm, status), status == Draft);
            assert_eq!(
                allowed(SalesAction::Ship, status),
                matches!(status, Confirmed | PartiallyShipped)
            );
            assert_eq!(
                allowed(SalesAction::Cancel, status),
                !matches!(status, Shipped | Cancelled)
            );
        }
        let Err(Error::InvalidTransition { status, .. }) =
            order(Cancelled, &[(1, 0)]).allow(SalesAction::Ship)
        else {
            panic!("allowed")
        };
        assert_eq!(status, "cancelled");
    }

    #[test]
    fn totals_are_exact() {
        let o = order(SalesOrderStatus::Draft, &[(3, 0), (1, 0)]);
        assert_eq!(o.lines[0].line_total, "13.50");
        assert_eq!(o.total, "18.00");
    }

    #[test]
    fn a_shipment_takes_what_is_asked_or_everything_outstanding() {
        let o = order(SalesOrderStatus::Confirmed, &[(5, 2), (4, 4), (2, 0)]);
        let all = o.shipment(&ShipRequest::default()).unwrap();
        assert_eq!(all, [(o.lines[0].line_id, 3), (o.lines[2].line_id, 2)]);
        let too_much = ShipRequest {
            lines: Some(vec![ShipLine {
                line_id: Some(o.lines[0].line_id),
                quantity: Some(4),
            }]),
        };
        let Err(Error::Validation(errors)) = o.shipment(&too_much) else {
            panic!("accepted")
        };
        assert_eq!(errors[0].field, "lines[0].quantity");
        assert!(
            errors[0].message.contains("3 of A still to ship"),
            "{}",
            errors[0].message
        );
        let mut done = o.clone();
        for l in &mut done.lines {
            l.shipped = l.quantity;
        }
        assert_eq!(done.after_shipping(), SalesOrderStatus::Shipped);
        assert_eq!(o.after_shipping(), SalesOrderStatus::PartiallyShipped);
    }

    #[test]
    fn a_patch_merges_lines_by_id() {
        let mut o = order(SalesOrderStatus::Draft, &[(5, 0), (2, 0)]);
        let (first, second) = (o.lines[0].line_id, o.lines[1].line_id);
        let patch: SalesOrderPatch = serde_json::from_value(serde_json::json!({
            "reference": "web-9",
            "lines": [
                {"line_id": first, "quantity": 6},
                {"line_id": second, "remove": true},
                {"item_id": Uuid::now_v7(), "quantity": 1, "unit_price": "2"}
            ]
        }))
        .unwrap();
        let changes = patch.apply(&mut o).unwrap();
        assert_eq!(changes.changed, [(first, 6, 4_5000)]);
        assert_eq!(changes.removed, [second]);
        assert_eq!(changes.added.len(), 1);
        assert_eq!(o.reference.as_deref(), Some("web-9"));
        let confirmed = order(SalesOrderStatus::Confirmed, &[(1, 0)]);
        assert!(matches!(
            patch.apply(&mut confirmed.clone()),
            Err(Error::InvalidTransition { .. })
        ));
    }

    #[test]
    fn a_create_names_each_bad_line_field() {
        let bad = CreateSalesOrder {
            lines: Some(vec![CreateSalesLine {
                item_id: None,
                quantity: Some(0),
                unit_price: Some("1.23456".into()),
            }]),
            hold_minutes: Some(0),
            ..CreateSalesOrder::default()
        };
        let Err(Error::Validation(errors)) = bad.validate(crate::now()) else {
            panic!("accepted")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "hold_minutes",
                "lines[0].item_id",
                "lines[0].quantity",
                "lines[0].unit_price"
            ]
        );
    }
}
