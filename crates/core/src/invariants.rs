//! The rules the stock figures obey after every commit, checked on demand
//! (`GET /api/v1/admin/invariants`, `inventory check`): anyone can verify
//! that the balances are the ledger's, not only trust the guards.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Each rule: its name (a violation's `rule`) and what it says.
pub const RULES: &[(&str, &str)] = &[
    (
        STOCK_EQUALS_LEDGER,
        "on_hand per item and location equals the sum of the item's ledger there",
    ),
    (
        ITEM_EQUALS_LOCATIONS,
        "an item's on_hand and reserved equal the sums over its locations",
    ),
    (
        AVAILABLE_NOT_NEGATIVE,
        "available (on_hand - reserved) is never negative, per location and per item",
    ),
    (
        RESERVED_EQUALS_RESERVATIONS,
        "reserved equals the sum of the active reservations at that item and location (one past \
         its expiry stops counting at once: every write ends it before its guard)",
    ),
    (
        INCOMING_EQUALS_OUTSTANDING,
        "an item's incoming equals the outstanding quantities (ordered less received, never \
         below 0) of its lines on submitted and partially received purchase orders",
    ),
    (
        RECEIVED_EQUALS_RECEIPTS,
        "received per purchase-order line equals the sum of the receive movements posted \
         against that line",
    ),
    (
        SHIPPED_NOT_ABOVE_ORDERED,
        "shipped per sales-order line is never more than ordered",
    ),
    (
        SHIPPED_EQUALS_SHIPMENTS,
        "shipped per sales-order line equals the sum of the issue movements posted against \
         that line",
    ),
];

pub const STOCK_EQUALS_LEDGER: &str = "stock-equals-ledger";
pub const ITEM_EQUALS_LOCATIONS: &str = "item-equals-locations";
pub const AVAILABLE_NOT_NEGATIVE: &str = "available-not-negative";
pub const RESERVED_EQUALS_RESERVATIONS: &str = "reserved-equals-reservations";
pub const INCOMING_EQUALS_OUTSTANDING: &str = "incoming-equals-outstanding";
pub const RECEIVED_EQUALS_RECEIPTS: &str = "received-equals-receipts";
pub const SHIPPED_NOT_ABOVE_ORDERED: &str = "shipped-not-above-ordered";
pub const SHIPPED_EQUALS_SHIPMENTS: &str = "shipped-equals-shipments";

/// Violations reported per rule at most (a broken database may have
/// millions; the first ones say enough).
pub const MAX_PER_RULE: u32 = 100;

/// One offending row: which rule, which item (and location), what the rule
/// expected and what the database holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Violation {
    pub rule: String,
    pub item_id: Uuid,
    pub sku: String,
    /// The location's code, for a per-location rule; the order's number,
    /// for a purchase-order line.
    pub location: Option<String>,
    /// What the figure must be (the ledger's sum, the locations' sum, 0).
    pub expected: i64,
    /// What the database holds.
    pub actual: i64,
    /// Which figure, e.g. `on_hand` or `reserved` (`received of line <id>`
    /// for a purchase-order line).
    pub figure: String,
}

impl Violation {
    pub fn new(
        rule: &str,
        figure: &str,
        item_id: Uuid,
        sku: String,
        location: Option<String>,
        expected: i64,
        actual: i64,
    ) -> Self {
        Self {
            rule: rule.to_owned(),
            item_id,
            sku,
            location,
            expected,
            actual,
            figure: figure.to_owned(),
        }
    }

    /// One line for a terminal.
    pub fn line(&self) -> String {
        let place = self
            .location
            .as_deref()
            .map(|l| format!(" at {l}"))
            .unwrap_or_default();
        format!(
            "{}: item {} ({}){place}: {} is {}, must be {}",
            self.rule, self.sku, self.item_id, self.figure, self.actual, self.expected
        )
    }
}

/// A rule as a report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rule {
    pub rule: String,
    pub says: String,
    pub violations: usize,
}

/// `GET /api/v1/admin/invariants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InvariantReport {
    /// True when no rule is broken.
    pub ok: bool,
    pub checked_at: DateTime<Utc>,
    pub rules: Vec<Rule>,
    /// The offending rows, at most [`MAX_PER_RULE`] per rule.
    pub violations: Vec<Violation>,
}

impl InvariantReport {
    pub fn new(checked_at: DateTime<Utc>, violations: Vec<Violation>) -> Self {
        let rules = RULES
            .iter()
            .map(|(rule, says)| Rule {
                rule: (*rule).to_owned(),
                says: (*says).to_owned(),
                violations: violations.iter().filter(|v| v.rule == *rule).count(),
            })
            .collect();
        Self {
            ok: violations.is_empty(),
            checked_at,
            rules,
            violations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_counts_violations_per_rule_and_is_ok_only_without_any() {
        let clean = InvariantReport::new(crate::now(), Vec::new());
        assert!(clean.ok);
        assert_eq!(clean.rules.len(), RULES.len());
        let v = Violation::new(
            STOCK_EQUALS_LEDGER,
            "on_hand",
            Uuid::nil(),
            "A".into(),
            Some("MAIN".into()),
            5,
            6,
        );
        assert_eq!(
            v.line(),
            "stock-equals-ledger: item A (00000000-0000-0000-0000-000000000000) at MAIN: on_hand is 6, must be 5"
        );
        let broken = InvariantReport::new(crate::now(), vec![v]);
        assert!(!broken.ok);
        assert_eq!(broken.rules[0].violations, 1);
        assert_eq!(broken.rules[1].violations, 0);
    }
}
