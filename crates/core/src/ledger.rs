//! The ledger: stock movements, their validation, the stock arithmetic and
//! the specification of the guard every store enforces in SQL, the
//! refusals a store reports, and reversals.
//!
//! The guard: an outflow (issue, the source of a transfer, a negative
//! adjustment) lowers a balance only if at least that much is *available*
//! there (`on_hand - reserved`); an inflow always lands. A movement that
//! names no location uses the default location, resolved by the store in
//! the movement's own transaction.

use crate::access::Role;
use crate::catalogue::{normalize_code, Item};
use crate::error::{ConflictKind, Error, FieldError, Result};
use crate::validation::{article, check_text, finish};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::validation::MAX_QUANTITY;
/// The most movements one batch may carry.
pub const MAX_BATCH: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MovementKind {
    Receive,
    Issue,
    Transfer,
    Adjust,
}

impl MovementKind {
    pub const ALL: [MovementKind; 4] = [Self::Receive, Self::Issue, Self::Transfer, Self::Adjust];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receive => "receive",
            Self::Issue => "issue",
            Self::Transfer => "transfer",
            Self::Adjust => "adjust",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What a movement of this kind does to the item's total on hand: the
    /// ledger's sum over these equals `on_hand` (stores compute the same
    /// in SQL for audits).
    pub fn net_effect(self, quantity: i64) -> i64 {
        match self {
            Self::Issue => -quantity,
            Self::Transfer => 0,
            Self::Receive | Self::Adjust => quantity,
        }
    }
}

/// How a request names an item: by id or by SKU (case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemRef {
    Id(Uuid),
    Sku(String),
}

/// `POST /api/v1/movements` body (and each entry of a batch). Names the item
/// by `item_id` or by `sku`: exactly one of them.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMovement {
    #[serde(default)]
    pub item_id: Option<Uuid>,
    /// The item's SKU (case-insensitive), instead of `item_id`; a value no
    /// SKU matches is tried as the item's barcode (what a scanner reads).
    #[serde(default)]
    pub sku: Option<String>,
    pub kind: MovementKind,
    /// Positive for receive, issue and transfer; a non-zero signed delta for adjust.
    pub quantity: i64,
    /// For receive, issue and adjust; defaults to the default location.
    #[serde(default)]
    pub location: Option<String>,
    /// For transfer; defaults to the default location.
    #[serde(default)]
    pub from_location: Option<String>,
    /// For transfer; required.
    #[serde(default)]
    pub to_location: Option<String>,
    /// Required for adjust.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
}

/// A validated movement whose item is not resolved yet (it may be named by
/// SKU): [`ValidMovement::for_item`] makes it a [`NewMovement`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidMovement {
    pub item: ItemRef,
    movement: NewMovement,
}

impl ValidMovement {
    pub fn for_item(mut self, item_id: Uuid) -> NewMovement {
        self.movement.item_id = item_id;
        self.movement
    }
}

/// A validated movement for a known item. A location of `None` means the
/// default location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMovement {
    pub item_id: Uuid,
    pub kind: MovementKind,
    pub quantity: i64,
    pub location: Option<String>,
    pub from_location: Option<String>,
    pub to_location: Option<String>,
    pub reason: Option<String>,
    pub reference: Option<String>,
    /// The movement this one reverses (at most one reversal per movement).
    pub reverses: Option<Uuid>,
}

/// One change to one balance: the location's code (`None`: the default
/// location), the request field that named it, and the signed quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delta<'a> {
    pub code: Option<&'a str>,
    pub field: &'static str,
    pub quantity: i64,
}

impl NewMovement {
    /// The change to on-hand stock per location, outflows first so that a
    /// guard checks them before any inflow is credited; this is also the
    /// order in which a result lists the balances.
    pub fn deltas(&self) -> Vec<Delta<'_>> {
        fn at<'a>(code: &'a Option<String>, field: &'static str, quantity: i64) -> Delta<'a> {
            Delta {
                code: code.as_deref(),
                field,
                quantity,
            }
        }
        match self.kind {
            MovementKind::Receive | MovementKind::Adjust => {
                vec![at(&self.location, "location", self.quantity)]
            }
            MovementKind::Issue => vec![at(&self.location, "location", -self.quantity)],
            MovementKind::Transfer => vec![
                at(&self.from_location, "from_location", -self.quantity),
                at(&self.to_location, "to_location", self.quantity),
            ],
        }
    }

    /// The quantity an outflow of this movement asks for (0 for inflows).
    pub fn requested(&self) -> i64 {
        self.deltas()
            .iter()
            .filter(|d| d.quantity < 0)
            .map(|d| -d.quantity)
            .sum()
    }
}

fn location_code(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<String>,
) -> Option<String> {
    match normalize_code(field, &value?) {
        Ok(code) => Some(code),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

impl CreateMovement {
    pub fn validate(self) -> Result<ValidMovement> {
        let mut errors = Vec::new();
        let item = match (self.item_id, self.sku) {
            (Some(id), None) => ItemRef::Id(id),
            (None, Some(sku)) if !sku.trim().is_empty() => ItemRef::Sku(sku.trim().to_owned()),
            (None, Some(_)) => {
                errors.push(FieldError::new("sku", "must not be blank"));
                ItemRef::Id(Uuid::nil())
            }
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    "sku",
                    "name the item by item_id or by sku, not both",
                ));
                ItemRef::Id(Uuid::nil())
            }
            (None, None) => {
                errors.push(FieldError::new(
                    "item_id",
                    "is required (or name the item by its sku instead)",
                ));
                ItemRef::Id(Uuid::nil())
            }
        };
        let kind = self.kind;
        let forbid = |errors: &mut Vec<FieldError>, field: &str, v: &Option<String>| {
            if v.is_some() {
                errors.push(FieldError::new(
                    field,
                    format!(
                        "is not used by {} {} movement",
                        article(kind.as_str()),
                        kind.as_str()
                    ),
                ));
            }
        };
        let (mut location, mut from_location, mut to_location) = (None, None, None);
        match kind {
            MovementKind::Transfer => {
                forbid(&mut errors, "location", &self.location);
                from_location = location_code(&mut errors, "from_location", self.from_location);
                match location_code(&mut errors, "to_location", self.to_location.clone()) {
                    Some(to) => to_location = Some(to),
                    None if self.to_location.is_none() => {
                        errors.push(FieldError::new("to_location", "is required for a transfer"))
                    }
                    None => {}
                }
                if to_location.is_some() && from_location == to_location {
                    errors.push(FieldError::new(
                        "to_location",
                        "must differ from from_location",
                    ));
                }
            }
            _ => {
                forbid(&mut errors, "from_location", &self.from_location);
                forbid(&mut errors, "to_location", &self.to_location);
                location = location_code(&mut errors, "location", self.location);
            }
        }
        if kind == MovementKind::Adjust {
            if self.quantity == 0 || self.quantity.unsigned_abs() > MAX_QUANTITY.unsigned_abs() {
                errors.push(FieldError::new(
                    "quantity",
                    "must be a non-zero integer from -1000000000 to 1000000000",
                ));
            }
            if self.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                errors.push(FieldError::new("reason", "is required for an adjustment"));
            }
        } else if self.quantity <= 0 || self.quantity > MAX_QUANTITY {
            errors.push(FieldError::new(
                "quantity",
                "must be a positive integer up to 1000000000",
            ));
        }
        if let Some(r) = &self.reason {
            check_text(&mut errors, "reason", r, 0, 500);
        }
        if let Some(r) = &self.reference {
            check_text(&mut errors, "reference", r, 0, 200);
        }
        finish(errors)?;
        let item_id = match &item {
            ItemRef::Id(id) => *id,
            ItemRef::Sku(_) => Uuid::nil(),
        };
        Ok(ValidMovement {
            item,
            movement: NewMovement {
                item_id,
                kind,
                quantity: self.quantity,
                location,
                from_location,
                to_location,
                reason: self.reason,
                reference: self.reference,
                reverses: None,
            },
        })
    }
}

/// Why a store refused a movement. Both stores report refusals this way, so
/// that the messages are written once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoItem,
    Archived {
        sku: String,
    },
    NoLocation {
        field: String,
        code: String,
    },
    /// A transfer whose source and destination resolved to one location
    /// (one of them was the default location).
    SameLocation {
        code: String,
    },
    Insufficient {
        location: String,
        available: i64,
        requested: i64,
    },
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NoItem => Error::invalid("item_id", "no item has this id"),
            Refusal::Archived { sku } => Item::archived_error(&sku),
            Refusal::NoLocation { field, code } => Error::UnknownLocation {
                field,
                code,
                known: Vec::new(),
            },
            Refusal::SameLocation { code } => Error::invalid(
                "to_location",
                format!(
                    "must differ from from_location ({code}, the default location, when not given)"
                ),
            ),
            Refusal::Insufficient {
                location,
                available,
                requested,
            } => Error::InsufficientStock {
                location,
                available,
                requested,
                elsewhere: Vec::new(),
            },
        }
    }
}

/// A ledger entry. Append-only: never updated or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Movement {
    pub id: Uuid,
    /// Strictly increasing in commit order.
    pub seq: i64,
    pub item_id: Uuid,
    /// The item's SKU now (a SKU may change; the ledger keeps the item id).
    pub sku: String,
    pub kind: MovementKind,
    pub quantity: i64,
    pub location: Option<String>,
    pub from_location: Option<String>,
    pub to_location: Option<String>,
    pub reason: Option<String>,
    pub reference: Option<String>,
    /// The movement this one reverses.
    pub reverses: Option<Uuid>,
    /// The movement that reversed this one.
    pub reversed_by: Option<Uuid>,
    /// Username of the user who recorded it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/movements/{id}/reverse` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseMovement {
    /// Why the movement is reversed (1-500 characters).
    pub reason: String,
}

impl Movement {
    /// The movement that undoes this one: the opposite change at the same
    /// locations, pointing back at it. A movement is reversed at most once
    /// (stores hold a unique key on `reverses`), and a reversal is not
    /// reversed itself: the original is recorded again instead.
    pub fn reversal(&self, request: ReverseMovement) -> Result<NewMovement> {
        if self.reverses.is_some() {
            return Err(Error::conflict(
                ConflictKind::NotReversible,
                format!(
                    "movement {} is itself a reversal; record the movement again instead",
                    self.id
                ),
            ));
        }
        if let Some(by) = self.reversed_by {
            return Err(Self::already_reversed(self.id, Some(by)));
        }
        let mut errors = Vec::new();
        check_text(&mut errors, "reason", &request.reason, 1, 500);
        finish(errors)?;
        let (kind, quantity, location, from, to) = match self.kind {
            MovementKind::Receive => (
                MovementKind::Issue,
                self.quantity,
                &self.location,
                &None,
                &None,
            ),
            MovementKind::Issue => (
                MovementKind::Receive,
                self.quantity,
                &self.location,
                &None,
                &None,
            ),
            MovementKind::Adjust => (
                MovementKind::Adjust,
                -self.quantity,
                &self.location,
                &None,
                &None,
            ),
            MovementKind::Transfer => (
                MovementKind::Transfer,
                self.quantity,
                &None,
                &self.to_location,
                &self.from_location,
            ),
        };
        Ok(NewMovement {
            item_id: self.item_id,
            kind,
            quantity,
            location: location.clone(),
            from_location: from.clone(),
            to_location: to.clone(),
            reason: Some(request.reason),
            reference: self.reference.clone(),
            reverses: Some(self.id),
        })
    }

    /// The refusal of a second reversal.
    pub fn already_reversed(id: Uuid, by: Option<Uuid>) -> Error {
        let by = by.map(|b| format!(" by movement {b}")).unwrap_or_default();
        Error::conflict(
            ConflictKind::AlreadyReversed,
            format!("movement {id} was already reversed{by}; a movement is reversed once"),
        )
    }
}

/// On-hand, reserved and available stock of one item at one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LocationBalance {
    pub location: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
}

impl LocationBalance {
    pub fn new(location: impl Into<String>, on_hand: i64, reserved: i64) -> Self {
        Self {
            location: location.into(),
            on_hand,
            reserved,
            available: on_hand - reserved,
        }
    }
}

/// A balance as the guard sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balance {
    pub on_hand: i64,
    pub reserved: i64,
}

impl Balance {
    pub fn available(self) -> i64 {
        self.on_hand - self.reserved
    }

    /// The guard's specification: the balance after `delta`, or what was
    /// available when an outflow asks for more than that.
    pub fn after(self, delta: i64) -> std::result::Result<Balance, i64> {
        if delta < 0 && self.available() < -delta {
            return Err(self.available());
        }
        Ok(Balance {
            on_hand: self.on_hand + delta,
            reserved: self.reserved,
        })
    }
}

/// The item's balances after a movement was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ItemBalances {
    pub item_id: Uuid,
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    /// The locations the movement touched.
    pub locations: Vec<LocationBalance>,
}

/// `201` body of `POST /api/v1/movements`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MovementResult {
    pub movement: Movement,
    pub balances: ItemBalances,
}

/// What a store learned while applying a movement, from which
/// [`MovementResult::recorded`] builds the result the same way for every
/// backend.
pub struct Applied {
    pub id: Uuid,
    pub seq: i64,
    pub sku: String,
    /// Item totals after the movement.
    pub totals: Balance,
    /// Each delta's location code (the default resolved) and its balance after.
    pub locations: Vec<(String, Balance)>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl MovementResult {
    pub fn recorded(m: NewMovement, applied: Applied) -> Self {
        // The resolved codes, in delta order: the movement names them all.
        let code = |i: usize| applied.locations.get(i).map(|(c, _)| c.clone());
        let (location, from_location, to_location) = match m.kind {
            MovementKind::Transfer => (None, code(0), code(1)),
            _ => (code(0), None, None),
        };
        MovementResult {
            movement: Movement {
                id: applied.id,
                seq: applied.seq,
                item_id: m.item_id,
                sku: applied.sku.clone(),
                kind: m.kind,
                quantity: m.quantity,
                location,
                from_location,
                to_location,
                reason: m.reason,
                reference: m.reference,
                reverses: m.reverses,
                reversed_by: None,
                created_by: applied.created_by,
                created_at: applied.created_at,
            },
            balances: ItemBalances {
                item_id: m.item_id,
                sku: applied.sku,
                on_hand: applied.totals.on_hand,
                reserved: applied.totals.reserved,
                available: applied.totals.available(),
                locations: applied
                    .locations
                    .into_iter()
                    .map(|(code, b)| LocationBalance::new(code, b.on_hand, b.reserved))
                    .collect(),
            },
        }
    }
}

/// `GET /api/v1/items/{id}/stock` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StockReport {
    pub item_id: Uuid,
    pub sku: String,
    /// The instant the balances are for, when `as_of` was asked.
    pub as_of: Option<DateTime<Utc>>,
    pub locations: Vec<LocationBalance>,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    /// Still expected on submitted purchase orders, now (also with `as_of`:
    /// the ledger does not record past orders' figures).
    pub incoming: i64,
}

impl StockReport {
    pub fn new(
        item_id: Uuid,
        sku: String,
        as_of: Option<DateTime<Utc>>,
        locations: Vec<LocationBalance>,
        incoming: i64,
    ) -> Self {
        let on_hand = locations.iter().map(|l| l.on_hand).sum();
        let reserved = locations.iter().map(|l| l.reserved).sum();
        Self {
            item_id,
            sku,
            as_of,
            locations,
            on_hand,
            reserved,
            available: on_hand - reserved,
            incoming,
        }
    }
}

/// Who is acting, for the ledger's `created_by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn movement(json: serde_json::Value) -> Result<ValidMovement> {
        serde_json::from_value::<CreateMovement>(json)
            .unwrap()
            .validate()
    }

    #[test]
    fn an_item_is_named_by_id_or_by_sku_but_not_both() {
        let by_sku =
            movement(serde_json::json!({"sku": " tape-5m ", "kind": "receive", "quantity": 1}))
                .unwrap();
        assert_eq!(by_sku.item, ItemRef::Sku("tape-5m".into()));
        let both = movement(
            serde_json::json!({"sku": "A", "item_id": Uuid::nil(), "kind": "receive", "quantity": 1}),
        );
        assert!(matches!(both, Err(Error::Validation(f)) if f[0].field == "sku"));
        let neither = movement(serde_json::json!({"kind": "receive", "quantity": 1}));
        assert!(matches!(neither, Err(Error::Validation(f)) if f[0].field == "item_id"));
    }

    #[test]
    fn an_adjustment_of_the_smallest_integer_is_refused_not_overflowed() {
        // i64::MIN has no positive counterpart: its absolute value overflows
        // (a panic in debug builds; in release a wrapped negative that would
        // pass the range check and drive stock below zero).
        for quantity in [i64::MIN, i64::MIN + 1, i64::MAX, -(MAX_QUANTITY + 1)] {
            let err = movement(serde_json::json!(
                {"sku": "A", "kind": "adjust", "quantity": quantity, "reason": "count"}
            ))
            .unwrap_err();
            assert!(
                matches!(&err, Error::Validation(f) if f[0].field == "quantity"),
                "{quantity}: {err:?}"
            );
        }
        assert!(movement(serde_json::json!(
            {"sku": "A", "kind": "adjust", "quantity": -MAX_QUANTITY, "reason": "count"}
        ))
        .is_ok());
    }

    #[test]
    fn messages_use_the_right_article() {
        let err = movement(
            serde_json::json!({"sku": "A", "kind": "issue", "quantity": 1, "to_location": "X"}),
        )
        .unwrap_err();
        let Error::Validation(fields) = err else {
            panic!()
        };
        assert_eq!(fields[0].message, "is not used by an issue movement");
    }

    #[test]
    fn a_location_not_given_is_the_default_one() {
        let m = movement(serde_json::json!({"sku": "A", "kind": "transfer", "quantity": 2, "to_location": "floor"}))
            .unwrap()
            .for_item(Uuid::now_v7());
        let deltas = m.deltas();
        assert_eq!(
            deltas[0],
            Delta {
                code: None,
                field: "from_location",
                quantity: -2
            }
        );
        assert_eq!(
            deltas[1],
            Delta {
                code: Some("FLOOR"),
                field: "to_location",
                quantity: 2
            }
        );
        assert_eq!(m.requested(), 2);
    }

    fn recorded(kind: MovementKind, quantity: i64) -> Movement {
        Movement {
            id: Uuid::now_v7(),
            seq: 1,
            item_id: Uuid::now_v7(),
            sku: "A".into(),
            kind,
            quantity,
            location: (kind != MovementKind::Transfer).then(|| "MAIN".into()),
            from_location: (kind == MovementKind::Transfer).then(|| "MAIN".into()),
            to_location: (kind == MovementKind::Transfer).then(|| "FLOOR".into()),
            reason: None,
            reference: Some("PO-1".into()),
            reverses: None,
            reversed_by: None,
            created_by: "admin".into(),
            created_at: crate::validation::now(),
        }
    }

    #[test]
    fn a_reversal_undoes_the_movement_and_points_back_at_it() {
        let why = || ReverseMovement {
            reason: "typo".into(),
        };
        for kind in MovementKind::ALL {
            let original = recorded(kind, if kind == MovementKind::Adjust { -3 } else { 3 });
            let reversal = original.reversal(why()).unwrap();
            assert_eq!(reversal.reverses, Some(original.id));
            assert_eq!(
                reversal.kind.net_effect(reversal.quantity),
                -original.kind.net_effect(original.quantity),
                "{kind:?}"
            );
            if kind == MovementKind::Transfer {
                assert_eq!(reversal.from_location, original.to_location);
                assert_eq!(reversal.to_location, original.from_location);
            } else {
                assert_eq!(reversal.location, original.location);
            }
        }
        let mut done = recorded(MovementKind::Receive, 1);
        done.reversed_by = Some(Uuid::now_v7());
        assert!(matches!(
            done.reversal(why()),
            Err(Error::Conflict {
                kind: ConflictKind::AlreadyReversed,
                ..
            })
        ));
        let mut reversal = recorded(MovementKind::Issue, 1);
        reversal.reverses = Some(Uuid::now_v7());
        assert!(matches!(
            reversal.reversal(why()),
            Err(Error::Conflict {
                kind: ConflictKind::NotReversible,
                ..
            })
        ));
        let blank =
            recorded(MovementKind::Issue, 1).reversal(ReverseMovement { reason: " ".into() });
        assert!(matches!(blank, Err(Error::Validation(f)) if f[0].field == "reason"));
    }

    proptest! {
        /// The guard never lets available stock go below zero, and a balance
        /// always equals the sum of the deltas it accepted.
        #[test]
        fn the_guard_keeps_available_stock_non_negative(
            reserved in 0i64..50,
            deltas in proptest::collection::vec(-100i64..100, 0..60),
        ) {
            let mut balance = Balance { on_hand: reserved, reserved };
            let mut accepted = reserved;
            for delta in deltas {
                match balance.after(delta) {
                    Ok(next) => {
                        prop_assert!(next.available() >= 0);
                        accepted += delta;
                        balance = next;
                    }
                    Err(available) => {
                        prop_assert!(delta < 0 && available < -delta);
                        prop_assert_eq!(available, balance.available());
                    }
                }
                prop_assert_eq!(balance.on_hand, accepted);
            }
        }
    }
}
