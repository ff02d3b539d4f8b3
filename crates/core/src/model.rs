//! Domain types and request validation.

use crate::error::{Error, FieldError, Result};
use crate::patch::{double_option, merge_patch};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// The location every installation starts with and movements default to.
pub const MAIN_LOCATION: &str = "MAIN";
/// The largest quantity one movement may carry, so totals never overflow.
pub const MAX_QUANTITY: i64 = 1_000_000_000;
/// The most movements one batch may carry.
pub const MAX_BATCH: usize = 1000;

// ---------------------------------------------------------------- users

/// Roles are ordered: each one may do everything the ones before it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Clerk,
    Manager,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Clerk => "clerk",
            Self::Manager => "manager",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "clerk" => Some(Self::Clerk),
            "manager" => Some(Self::Manager),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// A user as stored, with the argon2id PHC string of the password.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    pub role: Role,
}

pub fn validate_username(username: &str) -> Result<(), FieldError> {
    let ok = (1..=64).contains(&username.chars().count())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "username",
            "must be 1-64 characters of letters, digits, '.', '_', '-' or '@'",
        ))
    }
}

impl CreateUser {
    pub fn validate(&self) -> Result<()> {
        let mut errors = Vec::new();
        if let Err(e) = validate_username(&self.username) {
            errors.push(e);
        }
        let len = self.password.chars().count();
        if !(8..=1024).contains(&len) {
            errors.push(FieldError::new("password", "must be 8-1024 characters"));
        }
        finish(errors)
    }
}

// ---------------------------------------------------------------- locations

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Location {
    pub id: Uuid,
    /// Upper-case code, unique; movements refer to locations by code.
    pub code: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLocation {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationPatch {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub code: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
}

/// Normalises a location code (trimmed, upper-case) or says what is wrong.
pub fn normalize_code(field: &str, code: &str) -> Result<String, FieldError> {
    let code = code.trim().to_ascii_uppercase();
    let ok = (1..=32).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(code)
    } else {
        Err(FieldError::new(
            field,
            "must be 1-32 characters of letters, digits, '-', '_' or '.'",
        ))
    }
}

fn check_text(errors: &mut Vec<FieldError>, field: &str, value: &str, min: usize, max: usize) {
    let len = value.chars().count();
    if len < min || len > max {
        let msg = if min > 0 {
            format!("must be {min}-{max} characters")
        } else {
            format!("must be at most {max} characters")
        };
        errors.push(FieldError::new(field, msg));
    } else if min > 0 && value.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be blank"));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
}

fn finish(errors: Vec<FieldError>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

impl CreateLocation {
    pub fn validate(mut self) -> Result<Self> {
        let mut errors = Vec::new();
        match normalize_code("code", &self.code) {
            Ok(c) => self.code = c,
            Err(e) => errors.push(e),
        }
        check_text(&mut errors, "name", &self.name, 1, 200);
        finish(errors).map(|_| self)
    }
}

impl LocationPatch {
    /// Applies the patch to `loc`, validating as it goes.
    pub fn apply(&self, loc: &mut Location) -> Result<()> {
        let mut errors = Vec::new();
        match &self.code {
            Some(Some(code)) => match normalize_code("code", code) {
                Ok(c) => loc.code = c,
                Err(e) => errors.push(e),
            },
            Some(None) => errors.push(FieldError::new("code", "cannot be null")),
            None => {}
        }
        match &self.name {
            Some(Some(name)) => {
                check_text(&mut errors, "name", name, 1, 200);
                loc.name = name.clone();
            }
            Some(None) => errors.push(FieldError::new("name", "cannot be null")),
            None => {}
        }
        finish(errors)
    }
}

// ---------------------------------------------------------------- items

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Item {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub unit: String,
    pub reorder_point: i64,
    /// Exact decimal string, at most 4 places.
    #[schema(value_type = String, example = "12.50")]
    #[serde(serialize_with = "serialize_cost")]
    pub unit_cost: i64,
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    pub archived: bool,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn serialize_cost<S: serde::Serializer>(minor: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::money::format_unit_cost(*minor))
}

impl Item {
    /// The strong entity tag of the item's editable state.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}

/// `POST /api/v1/items` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateItem {
    pub sku: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub reorder_point: Option<i64>,
    /// Decimal string such as "12.50".
    #[serde(default)]
    pub unit_cost: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
}

/// A validated item to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub unit: String,
    pub reorder_point: i64,
    pub unit_cost: i64,
    pub attributes: Map<String, Value>,
}

const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;

fn check_item_fields(errors: &mut Vec<FieldError>, item: &NewItem) {
    let sku_len = item.sku.chars().count();
    if !(1..=64).contains(&sku_len) {
        errors.push(FieldError::new("sku", "must be 1-64 characters"));
    } else if item
        .sku
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        errors.push(FieldError::new(
            "sku",
            "must not contain spaces or control characters",
        ));
    }
    check_text(errors, "name", &item.name, 1, 200);
    if let Some(d) = &item.description {
        check_text(errors, "description", d, 0, 4000);
    }
    if let Some(c) = &item.category {
        check_text(errors, "category", c, 1, 100);
    }
    check_text(errors, "unit", &item.unit, 1, 20);
    if item.reorder_point < 0 || item.reorder_point > MAX_QUANTITY {
        errors.push(FieldError::new(
            "reorder_point",
            "must be an integer from 0 to 1000000000",
        ));
    }
    if serde_json::to_string(&item.attributes).map_or(0, |s| s.len()) > MAX_ATTRIBUTES_BYTES {
        errors.push(FieldError::new(
            "attributes",
            "must be at most 16 KiB of JSON",
        ));
    }
}

impl CreateItem {
    pub fn validate(self) -> Result<NewItem> {
        let mut errors = Vec::new();
        let unit_cost = match self.unit_cost.as_deref() {
            None => 0,
            Some(s) => crate::money::parse_unit_cost(s).unwrap_or_else(|m| {
                errors.push(FieldError::new("unit_cost", m));
                0
            }),
        };
        let item = NewItem {
            sku: self.sku,
            name: self.name,
            description: self.description,
            category: self.category,
            unit: self.unit.unwrap_or_else(|| "pcs".to_owned()),
            reorder_point: self.reorder_point.unwrap_or(0),
            unit_cost,
            attributes: self.attributes.unwrap_or_default(),
        };
        check_item_fields(&mut errors, &item);
        finish(errors).map(|_| item)
    }
}

/// `PATCH /api/v1/items/{id}` body: a JSON merge patch (RFC 7396) of the
/// editable fields. `sku` is the item's identity and cannot change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub unit: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub reorder_point: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub unit_cost: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Option<Value>>,
}

impl ItemPatch {
    /// Applies the patch to an item's editable fields, validating the result.
    pub fn apply(&self, item: &mut Item) -> Result<()> {
        let mut errors = Vec::new();
        let mut fields = NewItem {
            sku: item.sku.clone(),
            name: item.name.clone(),
            description: item.description.clone(),
            category: item.category.clone(),
            unit: item.unit.clone(),
            reorder_point: item.reorder_point,
            unit_cost: item.unit_cost,
            attributes: item.attributes.clone(),
        };
        let mut required = |field: &str, present: bool| {
            if !present {
                errors.push(FieldError::new(field, "cannot be null"));
            }
        };
        if let Some(v) = &self.name {
            required("name", v.is_some());
            fields.name = v.clone().unwrap_or_default();
        }
        if let Some(v) = &self.unit {
            required("unit", v.is_some());
            fields.unit = v.clone().unwrap_or_default();
        }
        if let Some(v) = &self.reorder_point {
            required("reorder_point", v.is_some());
            fields.reorder_point = v.unwrap_or_default();
        }
        if let Some(v) = &self.description {
            fields.description = v.clone();
        }
        if let Some(v) = &self.category {
            fields.category = v.clone();
        }
        match &self.unit_cost {
            Some(Some(s)) => match crate::money::parse_unit_cost(s) {
                Ok(m) => fields.unit_cost = m,
                Err(m) => errors.push(FieldError::new("unit_cost", m)),
            },
            Some(None) => errors.push(FieldError::new("unit_cost", "cannot be null")),
            None => {}
        }
        match &self.attributes {
            Some(Some(patch @ Value::Object(_))) => {
                let mut current = Value::Object(std::mem::take(&mut fields.attributes));
                merge_patch(&mut current, patch);
                if let Value::Object(map) = current {
                    fields.attributes = map;
                }
            }
            Some(None) => fields.attributes = Map::new(),
            Some(Some(_)) => errors.push(FieldError::new("attributes", "must be an object")),
            None => {}
        }
        check_item_fields(&mut errors, &fields);
        finish(errors)?;
        item.name = fields.name;
        item.description = fields.description;
        item.category = fields.category;
        item.unit = fields.unit;
        item.reorder_point = fields.reorder_point;
        item.unit_cost = fields.unit_cost;
        item.attributes = fields.attributes;
        Ok(())
    }
}

// ---------------------------------------------------------------- movements

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
}

/// `POST /api/v1/movements` body (and each entry of a batch).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMovement {
    pub item_id: Uuid,
    pub kind: MovementKind,
    /// Positive for receive, issue and transfer; a non-zero signed delta for adjust.
    pub quantity: i64,
    /// For receive, issue and adjust; defaults to MAIN.
    #[serde(default)]
    pub location: Option<String>,
    /// For transfer; defaults to MAIN.
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

/// A validated movement. `deltas` lists the stock change per location code.
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
}

impl NewMovement {
    /// The change to on-hand stock per location code, outflows first so a
    /// guard checks them before any inflow is credited.
    pub fn deltas(&self) -> Vec<(&str, i64)> {
        match self.kind {
            MovementKind::Receive => vec![(
                self.location.as_deref().unwrap_or(MAIN_LOCATION),
                self.quantity,
            )],
            MovementKind::Issue => vec![(
                self.location.as_deref().unwrap_or(MAIN_LOCATION),
                -self.quantity,
            )],
            MovementKind::Adjust => vec![(
                self.location.as_deref().unwrap_or(MAIN_LOCATION),
                self.quantity,
            )],
            MovementKind::Transfer => vec![
                (
                    self.from_location.as_deref().unwrap_or(MAIN_LOCATION),
                    -self.quantity,
                ),
                (
                    self.to_location.as_deref().unwrap_or(MAIN_LOCATION),
                    self.quantity,
                ),
            ],
        }
    }
}

impl CreateMovement {
    pub fn validate(self) -> Result<NewMovement> {
        let mut errors = Vec::new();
        let code =
            |errors: &mut Vec<FieldError>, field: &str, v: Option<String>| -> Option<String> {
                let v = v?;
                match normalize_code(field, &v) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        errors.push(e);
                        None
                    }
                }
            };
        let forbid = |errors: &mut Vec<FieldError>, field: &str, v: &Option<String>, kind: &str| {
            if v.is_some() {
                errors.push(FieldError::new(
                    field,
                    format!("is not used by a {kind} movement"),
                ));
            }
        };
        let kind = self.kind;
        let (mut location, mut from_location, mut to_location) = (None, None, None);
        match kind {
            MovementKind::Transfer => {
                forbid(&mut errors, "location", &self.location, kind.as_str());
                from_location = Some(
                    code(&mut errors, "from_location", self.from_location)
                        .unwrap_or_else(|| MAIN_LOCATION.to_owned()),
                );
                match code(&mut errors, "to_location", self.to_location.clone()) {
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
                forbid(
                    &mut errors,
                    "from_location",
                    &self.from_location,
                    kind.as_str(),
                );
                forbid(&mut errors, "to_location", &self.to_location, kind.as_str());
                location = Some(
                    code(&mut errors, "location", self.location)
                        .unwrap_or_else(|| MAIN_LOCATION.to_owned()),
                );
            }
        }
        if kind == MovementKind::Adjust {
            if self.quantity == 0 || self.quantity.abs() > MAX_QUANTITY {
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
        Ok(NewMovement {
            item_id: self.item_id,
            kind,
            quantity: self.quantity,
            location,
            from_location,
            to_location,
            reason: self.reason,
            reference: self.reference,
        })
    }
}

/// A ledger entry. Append-only: never updated or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Movement {
    pub id: Uuid,
    /// Strictly increasing in commit order.
    pub seq: i64,
    pub item_id: Uuid,
    pub kind: MovementKind,
    pub quantity: i64,
    pub location: Option<String>,
    pub from_location: Option<String>,
    pub to_location: Option<String>,
    pub reason: Option<String>,
    pub reference: Option<String>,
    /// Username of the user who recorded it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// On-hand, reserved and available stock of one item at one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LocationBalance {
    pub location: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
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
}

/// Who is acting, for the ledger's `created_by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
}

/// A committed change, as the change feed (`GET /api/v1/events`) sends it.
/// Ids increase strictly in commit order.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Event {
    pub id: i64,
    /// `item.created`, `item.updated`, `item.archived` or `movement.created`.
    pub kind: String,
    pub entity_id: Uuid,
    /// The item, or the movement with the balances after it.
    #[schema(value_type = Object)]
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

/// Kinds of [`Event`].
pub mod event_kind {
    pub const ITEM_CREATED: &str = "item.created";
    pub const ITEM_UPDATED: &str = "item.updated";
    pub const ITEM_ARCHIVED: &str = "item.archived";
    pub const MOVEMENT_CREATED: &str = "movement.created";
}
