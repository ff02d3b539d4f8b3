//! Purchase orders: what we buy from a supplier, and its receipt into
//! stock. The rules here are pure (which transition each status allows,
//! totals in exact decimals, merging line edits, planning a receipt); the
//! stores persist what they decide, with the guards in SQL, in one
//! transaction per action.
//!
//! Status: `draft` → `submitted` → `partially_received` → `received`;
//! `cancel` ends a draft or a submitted order as `cancelled`, and one that
//! received something as `closed`. While `submitted` or
//! `partially_received`, each line's outstanding quantity (ordered less
//! received, never below 0) counts in its item's `incoming`.

use crate::catalogue::normalize_code;
use crate::error::{Error, FieldError, Result};
use crate::ledger::{MovementKind, MovementResult, NewMovement};
use crate::money::{format_amount, format_unit_cost, parse_unit_cost};
use crate::patch::double_option;
use crate::validation::{check_text, finish, MAX_QUANTITY};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most lines an order may have.
pub const MAX_LINES: usize = 1000;
/// What [`Error::InvalidTransition`] calls a purchase order.
pub const ENTITY: &str = "purchase order";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoStatus {
    Draft,
    Submitted,
    PartiallyReceived,
    Received,
    Cancelled,
    Closed,
}

/// What is asked of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoAction {
    Edit,
    Submit,
    Receive,
    Cancel,
}

impl PoAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edit => "edit",
            Self::Submit => "submit",
            Self::Receive => "receive",
            Self::Cancel => "cancel",
        }
    }
}

impl PoStatus {
    pub const ALL: [PoStatus; 6] = [
        Self::Draft,
        Self::Submitted,
        Self::PartiallyReceived,
        Self::Received,
        Self::Cancelled,
        Self::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::PartiallyReceived => "partially_received",
            Self::Received => "received",
            Self::Cancelled => "cancelled",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Open: not yet finished (a party with open orders stays active).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::Draft | Self::Submitted | Self::PartiallyReceived
        )
    }

    /// Whether its outstanding quantities count as `incoming`.
    pub fn counts_incoming(self) -> bool {
        matches!(self, Self::Submitted | Self::PartiallyReceived)
    }

    /// The table of transitions: `Ok` when `action` is allowed from here,
    /// else `invalid-transition` naming this status.
    pub fn allows(self, action: PoAction) -> Result<()> {
        let ok = match action {
            PoAction::Edit | PoAction::Submit => self == Self::Draft,
            PoAction::Receive => self.counts_incoming(),
            PoAction::Cancel => self.is_open(),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::invalid_transition(
                ENTITY,
                self.as_str(),
                action.as_str(),
            ))
        }
    }
}

/// SQL text of the open statuses, for stores' `IN (...)` guards.
pub const OPEN_STATUSES_SQL: &str = "('draft', 'submitted', 'partially_received')";
/// SQL text of the statuses whose lines count as incoming.
pub const INCOMING_STATUSES_SQL: &str = "('submitted', 'partially_received')";

fn serialize_cost<S: serde::Serializer>(minor: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_unit_cost(*minor))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PoLine {
    pub line_id: Uuid,
    pub item_id: Uuid,
    /// The item's SKU now.
    pub sku: String,
    pub quantity: i64,
    pub received: i64,
    /// Exact decimal string, at most 4 places.
    #[schema(value_type = String, example = "12.50")]
    #[serde(serialize_with = "serialize_cost")]
    pub unit_cost: i64,
    /// `quantity × unit_cost`, exact.
    #[schema(example = "125.00")]
    pub line_total: String,
}

impl PoLine {
    pub fn new(
        line_id: Uuid,
        item_id: Uuid,
        sku: String,
        quantity: i64,
        received: i64,
        unit_cost: i64,
    ) -> Self {
        Self {
            line_id,
            item_id,
            sku,
            quantity,
            received,
            unit_cost,
            line_total: format_amount(i128::from(quantity) * i128::from(unit_cost)),
        }
    }

    /// What is still expected: ordered less received, never below 0.
    pub fn outstanding(&self) -> i64 {
        (self.quantity - self.received).max(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PurchaseOrder {
    pub id: Uuid,
    /// `PO-000001`: sequential, unique, allocated when the order is created.
    pub number: String,
    pub supplier_id: Uuid,
    pub status: PoStatus,
    pub reference: Option<String>,
    pub expected_at: Option<DateTime<Utc>>,
    /// The location code receipts go to unless a receipt line names another.
    pub receive_to: String,
    pub lines: Vec<PoLine>,
    /// The sum of the line totals, exact.
    #[schema(example = "125.00")]
    pub total: String,
    pub version: i64,
    /// Username of the user who created it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The order number for a sequence value.
pub fn number(seq: i64) -> String {
    format!("PO-{seq:06}")
}

impl PurchaseOrder {
    /// Fills `total` from the lines (stores build orders through this).
    pub fn with_lines(mut self, lines: Vec<PoLine>) -> Self {
        let total: i128 = lines
            .iter()
            .map(|l| i128::from(l.quantity) * i128::from(l.unit_cost))
            .sum();
        self.total = format_amount(total);
        self.lines = lines;
        self
    }

    /// What cancelling leaves: `closed` when something was received,
    /// else `cancelled`.
    pub fn cancelled_status(&self) -> PoStatus {
        if self.lines.iter().any(|l| l.received > 0) {
            PoStatus::Closed
        } else {
            PoStatus::Cancelled
        }
    }

    /// Each line's change of its item's `incoming` when the order leaves
    /// the incoming statuses (cancel): minus what is outstanding.
    pub fn release_incoming(&self) -> Vec<(Uuid, i64)> {
        if !self.status.counts_incoming() {
            return Vec::new();
        }
        self.lines
            .iter()
            .filter(|l| l.outstanding() > 0)
            .map(|l| (l.item_id, -l.outstanding()))
            .collect()
    }

    /// Submitting: each line's quantity becomes incoming. An order with no
    /// line cannot be submitted.
    pub fn plan_submit(&self) -> Result<Vec<(Uuid, i64)>> {
        self.status.allows(PoAction::Submit)?;
        if self.lines.is_empty() {
            return Err(Error::invalid(
                "lines",
                "a purchase order needs at least one line to be submitted",
            ));
        }
        Ok(self
            .lines
            .iter()
            .map(|l| (l.item_id, l.outstanding()))
            .collect())
    }

    /// Plans a receipt: one `receive` movement per receipt line (at the
    /// line's location or `receive_to`, the order number as reference, the
    /// unit cost in the reason), refused as `over-receipt` beyond what a
    /// line still expects unless `allow_over_receipt`. Nothing is written
    /// here; the store applies the plan and keeps the guard in SQL.
    pub fn plan_receipt(&self, receipt: &ReceivePurchaseOrder) -> Result<ReceiptPlan> {
        self.status.allows(PoAction::Receive)?;
        let allow_over = receipt.allow_over_receipt.unwrap_or(false);
        if receipt.lines.is_empty() || receipt.lines.len() > MAX_LINES {
            return Err(Error::invalid("lines", "must hold 1 to 1000 lines"));
        }
        let mut errors = Vec::new();
        let mut lines = self.lines.clone();
        let mut steps = Vec::new();
        for (i, r) in receipt.lines.iter().enumerate() {
            let location = match r.location.as_deref().map(|c| normalize_code("location", c)) {
                Some(Ok(code)) => code,
                Some(Err(mut e)) => {
                    e.field = format!("lines[{i}].location");
                    errors.push(e);
                    continue;
                }
                None => self.receive_to.clone(),
            };
            if !(1..=MAX_QUANTITY).contains(&r.quantity) {
                errors.push(FieldError::new(
                    format!("lines[{i}].quantity"),
                    "must be an integer from 1 to 1000000000",
                ));
                continue;
            }
            let Some(line) = lines.iter_mut().find(|l| l.line_id == r.line_id) else {
                errors.push(FieldError::new(
                    format!("lines[{i}].line_id"),
                    "is not a line of this purchase order",
                ));
                continue;
            };
            let outstanding = line.outstanding();
            if r.quantity > outstanding && !allow_over {
                return Err(Error::OverReceipt {
                    line_id: line.line_id,
                    sku: line.sku.clone(),
                    outstanding,
                    requested: r.quantity,
                });
            }
            line.received += r.quantity;
            let incoming_delta = line.outstanding() - outstanding;
            steps.push(ReceiptStep {
                line_id: line.line_id,
                item_id: line.item_id,
                quantity: r.quantity,
                incoming_delta,
                movement: NewMovement {
                    item_id: line.item_id,
                    kind: MovementKind::Receive,
                    quantity: r.quantity,
                    location: Some(location),
                    from_location: None,
                    to_location: None,
                    reason: Some(format!(
                        "purchase order {}, unit cost {}",
                        self.number,
                        format_unit_cost(line.unit_cost)
                    )),
                    reference: Some(self.number.clone()),
                    reverses: None,
                },
            });
        }
        finish(errors)?;
        let status = if lines.iter().all(|l| l.received >= l.quantity) {
            PoStatus::Received
        } else {
            PoStatus::PartiallyReceived
        };
        Ok(ReceiptPlan {
            steps,
            status,
            allow_over_receipt: allow_over,
        })
    }
}

/// One line of a planned receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptStep {
    pub line_id: Uuid,
    pub item_id: Uuid,
    pub quantity: i64,
    /// The change of the item's `incoming` (0 or negative).
    pub incoming_delta: i64,
    pub movement: NewMovement,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptPlan {
    pub steps: Vec<ReceiptStep>,
    /// The order's status after the receipt.
    pub status: PoStatus,
    /// Whether the store's guard may let a line pass its quantity.
    pub allow_over_receipt: bool,
}

/// `POST /api/v1/purchase-orders/{id}/receive` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivePurchaseOrder {
    pub lines: Vec<ReceiptLine>,
    /// Receive more than a line still expects (default false: 409 `over-receipt`).
    #[serde(default)]
    pub allow_over_receipt: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptLine {
    pub line_id: Uuid,
    pub quantity: i64,
    /// Location code; default the order's `receive_to`.
    #[serde(default)]
    pub location: Option<String>,
}

/// `201` body of a receipt: the order after it and the movements it posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReceiptResult {
    pub order: PurchaseOrder,
    pub movements: Vec<MovementResult>,
}

/// `POST /api/v1/purchase-orders` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePurchaseOrder {
    pub supplier_id: Uuid,
    #[serde(default)]
    pub reference: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub expected_at: Option<DateTime<Utc>>,
    /// Location code; default the default location.
    #[serde(default)]
    pub receive_to: Option<String>,
    #[serde(default)]
    pub lines: Vec<CreatePoLine>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePoLine {
    pub item_id: Uuid,
    pub quantity: i64,
    /// Exact decimal string; default the item's `unit_cost`.
    #[serde(default)]
    pub unit_cost: Option<String>,
}

/// A line as a draft holds it before the store resolves it: `unit_cost`
/// `None` takes the item's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftLine {
    pub line_id: Uuid,
    pub item_id: Uuid,
    pub quantity: i64,
    pub unit_cost: Option<i64>,
}

/// A validated new order; the store checks the supplier, the location and
/// the items, and allocates the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPurchaseOrder {
    pub id: Uuid,
    pub supplier_id: Uuid,
    pub reference: Option<String>,
    pub expected_at: Option<DateTime<Utc>>,
    /// Normalised code; `None` is the default location.
    pub receive_to: Option<String>,
    pub lines: Vec<DraftLine>,
    pub created_at: DateTime<Utc>,
}

fn check_quantity(errors: &mut Vec<FieldError>, field: String, quantity: i64) {
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        errors.push(FieldError::new(
            field,
            "must be an integer from 1 to 1000000000",
        ));
    }
}

fn check_cost(errors: &mut Vec<FieldError>, field: String, cost: Option<&str>) -> Option<i64> {
    cost.and_then(|c| match parse_unit_cost(c) {
        Ok(minor) => Some(minor),
        Err(m) => {
            errors.push(FieldError::new(field, m));
            None
        }
    })
}

fn check_reference(errors: &mut Vec<FieldError>, reference: &Option<String>) {
    if let Some(r) = reference {
        check_text(errors, "reference", r, 1, 200);
    }
}

fn normalize_location(errors: &mut Vec<FieldError>, code: Option<&str>) -> Option<String> {
    code.filter(|c| !c.trim().is_empty())
        .and_then(|c| match normalize_code("receive_to", c) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.push(e);
                None
            }
        })
}

impl CreatePurchaseOrder {
    pub fn validate(self, now: DateTime<Utc>) -> Result<NewPurchaseOrder> {
        let mut errors = Vec::new();
        let reference = self.reference.filter(|r| !r.trim().is_empty());
        check_reference(&mut errors, &reference);
        let receive_to = normalize_location(&mut errors, self.receive_to.as_deref());
        if self.lines.len() > MAX_LINES {
            errors.push(FieldError::new("lines", "must hold at most 1000 lines"));
        }
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, l) in self.lines.into_iter().enumerate() {
            check_quantity(&mut errors, format!("lines[{i}].quantity"), l.quantity);
            let unit_cost = check_cost(
                &mut errors,
                format!("lines[{i}].unit_cost"),
                l.unit_cost.as_deref(),
            );
            lines.push(DraftLine {
                line_id: Uuid::now_v7(),
                item_id: l.item_id,
                quantity: l.quantity,
                unit_cost,
            });
        }
        finish(errors)?;
        Ok(NewPurchaseOrder {
            id: Uuid::now_v7(),
            supplier_id: self.supplier_id,
            reference,
            expected_at: self.expected_at,
            receive_to,
            lines,
            created_at: now,
        })
    }
}

/// `PATCH /api/v1/purchase-orders/{id}` body, for a draft: a merge patch of
/// the header; `lines` are merged by `line_id` (an entry without one adds a
/// line, `"remove": true` removes the named line, lines not mentioned stay).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseOrderPatch {
    #[serde(default)]
    pub supplier_id: Option<Uuid>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub reference: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expected_at: Option<Option<DateTime<Utc>>>,
    #[serde(default)]
    pub receive_to: Option<String>,
    #[serde(default)]
    pub lines: Option<Vec<PoLinePatch>>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoLinePatch {
    /// The line to change or remove; without it, a new line.
    #[serde(default)]
    pub line_id: Option<Uuid>,
    #[serde(default)]
    pub item_id: Option<Uuid>,
    #[serde(default)]
    pub quantity: Option<i64>,
    #[serde(default)]
    pub unit_cost: Option<String>,
    /// Removes the line named by `line_id`.
    #[serde(default)]
    pub remove: Option<bool>,
}

/// A draft after a patch: the header and the lines, for the store to check
/// (supplier, location, items) and write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchedDraft {
    pub supplier_id: Uuid,
    pub reference: Option<String>,
    pub expected_at: Option<DateTime<Utc>>,
    /// `Some`: a new receive_to code to resolve; `None`: unchanged.
    pub receive_to: Option<String>,
    pub lines: Vec<DraftLine>,
}

impl PurchaseOrderPatch {
    /// Applies the patch to a draft (any other status is an
    /// `invalid-transition`).
    pub fn apply(&self, order: &PurchaseOrder) -> Result<PatchedDraft> {
        order.status.allows(PoAction::Edit)?;
        let mut errors = Vec::new();
        let reference = match &self.reference {
            Some(r) => r.clone().filter(|r| !r.trim().is_empty()),
            None => order.reference.clone(),
        };
        check_reference(&mut errors, &reference);
        let expected_at = match self.expected_at {
            Some(e) => e,
            None => order.expected_at,
        };
        let receive_to = match self.receive_to.as_deref() {
            Some(code) => normalize_code("receive_to", code)
                .map_err(|e| errors.push(e))
                .ok(),
            None => None,
        };
        let mut lines: Vec<DraftLine> = order
            .lines
            .iter()
            .map(|l| DraftLine {
                line_id: l.line_id,
                item_id: l.item_id,
                quantity: l.quantity,
                unit_cost: Some(l.unit_cost),
            })
            .collect();
        for (i, p) in self.lines.iter().flatten().enumerate() {
            let field = |name: &str| format!("lines[{i}].{name}");
            let cost = check_cost(&mut errors, field("unit_cost"), p.unit_cost.as_deref());
            if let Some(q) = p.quantity {
                check_quantity(&mut errors, field("quantity"), q);
            }
            match p.line_id {
                Some(id) => {
                    let Some(at) = lines.iter().position(|l| l.line_id == id) else {
                        errors.push(FieldError::new(
                            field("line_id"),
                            "is not a line of this purchase order",
                        ));
                        continue;
                    };
                    if p.remove == Some(true) {
                        lines.remove(at);
                        continue;
                    }
                    let line = &mut lines[at];
                    if let Some(item) = p.item_id {
                        line.item_id = item;
                    }
                    if let Some(q) = p.quantity {
                        line.quantity = q;
                    }
                    if cost.is_some() {
                        line.unit_cost = cost;
                    }
                }
                None => {
                    if p.remove == Some(true) {
                        errors.push(FieldError::new(
                            field("line_id"),
                            "is required to remove a line",
                        ));
                        continue;
                    }
                    let (Some(item_id), Some(quantity)) = (p.item_id, p.quantity) else {
                        errors.push(FieldError::new(
                            field("item_id"),
                            "a new line needs item_id and quantity",
                        ));
                        continue;
                    };
                    lines.push(DraftLine {
                        line_id: Uuid::now_v7(),
                        item_id,
                        quantity,
                        unit_cost: cost,
                    });
                }
            }
        }
        if lines.len() > MAX_LINES {
            errors.push(FieldError::new("lines", "must hold at most 1000 lines"));
        }
        finish(errors)?;
        Ok(PatchedDraft {
            supplier_id: self.supplier_id.unwrap_or(order.supplier_id),
            reference,
            expected_at,
            receive_to,
            lines,
        })
    }
}

/// A purchase-order list: newest first (by number), after the last row's
/// sequence value.
#[derive(Debug, Clone, Default)]
pub struct PoQuery {
    pub status: Option<PoStatus>,
    pub supplier_id: Option<Uuid>,
    /// Case-insensitive substring of the number or the reference.
    pub q: Option<String>,
    pub limit: u32,
    /// Continue after (below) this sequence value.
    pub after_seq: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status: PoStatus, lines: &[(i64, i64)]) -> PurchaseOrder {
        let now = crate::now();
        PurchaseOrder {
            id: Uuid::now_v7(),
            number: number(7),
            supplier_id: Uuid::now_v7(),
            status,
            reference: None,
            expected_at: None,
            receive_to: "MAIN".into(),
            lines: Vec::new(),
            total: String::new(),
            version: 1,
            created_by: "u".into(),
            created_at: now,
            updated_at: now,
        }
        .with_lines(
            lines
                .iter()
                .map(|&(q, r)| {
                    PoLine::new(Uuid::now_v7(), Uuid::now_v7(), "A".into(), q, r, 12_500)
                })
                .collect(),
        )
    }

    #[test]
    fn numbers_and_totals_are_exact() {
        assert_eq!(number(1), "PO-000001");
        assert_eq!(number(1_234_567), "PO-1234567");
        let o = order(PoStatus::Draft, &[(3, 0), (1, 0)]);
        assert_eq!(o.lines[0].line_total, "3.75");
        assert_eq!(o.total, "5.00");
    }

    #[test]
    fn each_status_allows_only_its_transitions() {
        use PoAction::*;
        let table = [
            (PoStatus::Draft, [true, true, false, true]),
            (PoStatus::Submitted, [false, false, true, true]),
            (PoStatus::PartiallyReceived, [false, false, true, true]),
            (PoStatus::Received, [false, false, false, false]),
            (PoStatus::Cancelled, [false, false, false, false]),
            (PoStatus::Closed, [false, false, false, false]),
        ];
        for (status, allowed) in table {
            for (action, ok) in [Edit, Submit, Receive, Cancel].into_iter().zip(allowed) {
                let result = status.allows(action);
                assert_eq!(result.is_ok(), ok, "{status:?} {action:?}");
                if let Err(Error::InvalidTransition { status: s, .. }) = result {
                    assert_eq!(s, status.as_str());
                }
            }
        }
        let e = PoStatus::Received.allows(Submit).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot submit this purchase order: it is received"
        );
    }

    fn receipt(o: &PurchaseOrder, lines: &[(usize, i64)], allow: bool) -> ReceivePurchaseOrder {
        ReceivePurchaseOrder {
            lines: lines
                .iter()
                .map(|&(i, quantity)| ReceiptLine {
                    line_id: o.lines[i].line_id,
                    quantity,
                    location: None,
                })
                .collect(),
            allow_over_receipt: Some(allow),
        }
    }

    #[test]
    fn a_receipt_is_planned_and_over_receipt_refused_unless_allowed() {
        let o = order(PoStatus::Submitted, &[(5, 0), (2, 0)]);
        let plan = o.plan_receipt(&receipt(&o, &[(0, 3)], false)).unwrap();
        assert_eq!(plan.status, PoStatus::PartiallyReceived);
        assert_eq!(plan.steps[0].incoming_delta, -3);
        assert_eq!(
            plan.steps[0].movement.reference.as_deref(),
            Some("PO-000007")
        );
        assert_eq!(plan.steps[0].movement.location.as_deref(), Some("MAIN"));
        let all = o
            .plan_receipt(&receipt(&o, &[(0, 5), (1, 2)], false))
            .unwrap();
        assert_eq!(all.status, PoStatus::Received);
        // The same line twice counts together.
        let over = o.plan_receipt(&receipt(&o, &[(0, 3), (0, 3)], false));
        assert!(matches!(
            over,
            Err(Error::OverReceipt {
                outstanding: 2,
                requested: 3,
                ..
            })
        ));
        let allowed = o.plan_receipt(&receipt(&o, &[(0, 7)], true)).unwrap();
        assert_eq!(allowed.steps[0].incoming_delta, -5);
        let draft = order(PoStatus::Draft, &[(5, 0)]);
        assert!(matches!(
            draft.plan_receipt(&receipt(&draft, &[(0, 1)], false)),
            Err(Error::InvalidTransition { .. })
        ));
    }

    #[test]
    fn cancelling_releases_what_is_outstanding() {
        let o = order(PoStatus::PartiallyReceived, &[(5, 2), (2, 3)]);
        assert_eq!(o.cancelled_status(), PoStatus::Closed);
        assert_eq!(o.release_incoming(), vec![(o.lines[0].item_id, -3)]);
        let d = order(PoStatus::Draft, &[(5, 0)]);
        assert_eq!(d.cancelled_status(), PoStatus::Cancelled);
        assert!(d.release_incoming().is_empty());
    }

    #[test]
    fn a_patch_merges_lines_by_id() {
        let o = order(PoStatus::Draft, &[(5, 0), (2, 0)]);
        let patch: PurchaseOrderPatch = serde_json::from_value(serde_json::json!({
            "reference": "R-1",
            "lines": [
                {"line_id": o.lines[0].line_id, "quantity": 9},
                {"line_id": o.lines[1].line_id, "remove": true},
                {"item_id": Uuid::nil(), "quantity": 1, "unit_cost": "2.5"}
            ]
        }))
        .unwrap();
        let d = patch.apply(&o).unwrap();
        assert_eq!(d.reference.as_deref(), Some("R-1"));
        assert_eq!(d.lines.len(), 2);
        assert_eq!(d.lines[0].quantity, 9);
        assert_eq!(d.lines[1].unit_cost, Some(25_000));
        let bad: PurchaseOrderPatch = serde_json::from_value(serde_json::json!({
            "lines": [{"line_id": Uuid::nil(), "quantity": 0}]
        }))
        .unwrap();
        assert!(matches!(bad.apply(&o), Err(Error::Validation(f)) if f.len() == 2));
        let submitted = order(PoStatus::Submitted, &[(1, 0)]);
        assert!(matches!(
            PurchaseOrderPatch::default().apply(&submitted),
            Err(Error::InvalidTransition { .. })
        ));
    }
}
