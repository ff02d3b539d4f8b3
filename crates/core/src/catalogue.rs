//! The catalogue: locations and items, their validation and the rules of
//! creating, editing, archiving and restoring them. Stores persist what
//! these functions decide and keep the atomic guards in SQL.

use crate::error::{ConflictKind, Error, FieldError, Result};
use crate::patch::{double_option, merge_patch};
use crate::validation::{blank_is_none, check_text, finish, MAX_QUANTITY};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// The code of the location a new installation starts with (its default
/// location until another one is made the default; it may be renamed).
pub const MAIN_LOCATION: &str = "MAIN";

// ---------------------------------------------------------------- locations

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Location {
    pub id: Uuid,
    /// Upper-case code, unique; movements refer to locations by code.
    pub code: String,
    pub name: String,
    /// Movements that name no location use this one. Exactly one location
    /// is the default.
    #[serde(rename = "default")]
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/locations` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLocation {
    pub code: String,
    pub name: String,
    /// Make it the default location (the one movements use when they name none).
    #[serde(default)]
    pub default: Option<bool>,
}

/// `PATCH /api/v1/locations/{id_or_code}` body: a merge patch.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationPatch {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub code: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// `true` makes this the default location (the previous default stops
    /// being it). To move the default, make another location the default.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<bool>)]
    pub default: Option<Option<bool>>,
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

impl CreateLocation {
    /// The location to insert, created now.
    pub fn validate(self, now: DateTime<Utc>) -> Result<Location> {
        let mut errors = Vec::new();
        let code = normalize_code("code", &self.code).unwrap_or_else(|e| {
            errors.push(e);
            String::new()
        });
        check_text(&mut errors, "name", &self.name, 1, 200);
        finish(errors)?;
        Ok(Location {
            id: Uuid::now_v7(),
            code,
            name: self.name,
            is_default: self.default.unwrap_or(false),
            created_at: now,
            updated_at: now,
        })
    }
}

impl LocationPatch {
    /// Applies the patch to `loc`, validating as it goes. After it,
    /// `loc.is_default` says whether the location must be the default: a
    /// store that sees it turn true takes the flag from the previous default
    /// in the same transaction.
    pub fn apply(&self, loc: &mut Location, now: DateTime<Utc>) -> Result<()> {
        let mut errors = Vec::new();
        let mut next = loc.clone();
        match &self.code {
            Some(Some(code)) => match normalize_code("code", code) {
                Ok(c) => next.code = c,
                Err(e) => errors.push(e),
            },
            Some(None) => errors.push(FieldError::new("code", "cannot be null")),
            None => {}
        }
        match &self.name {
            Some(Some(name)) => {
                check_text(&mut errors, "name", name, 1, 200);
                next.name = name.clone();
            }
            Some(None) => errors.push(FieldError::new("name", "cannot be null")),
            None => {}
        }
        match self.default {
            Some(Some(true)) => next.is_default = true,
            Some(Some(false)) if loc.is_default => errors.push(FieldError::new(
                "default",
                "one location is always the default: to move it, make another location the \
                 default with {\"default\": true}",
            )),
            Some(Some(false)) | None => {}
            Some(None) => errors.push(FieldError::new("default", "cannot be null")),
        }
        finish(errors)?;
        next.updated_at = now;
        *loc = next;
        Ok(())
    }
}

// ---------------------------------------------------------------- items

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Item {
    pub id: Uuid,
    /// Unique without regard to case; the spelling given is kept.
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    /// Optional scannable code (EAN, UPC, GTIN or any code): unique when
    /// set, matched exactly.
    pub barcode: Option<String>,
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
    /// Still expected on submitted purchase orders (ordered less received,
    /// never below 0, per line).
    pub incoming: i64,
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

    /// A write that names a version (`If-Match`) applies only at that version.
    pub fn check_version(&self, if_version: Option<i64>) -> Result<()> {
        match if_version {
            Some(v) if v != self.version => Err(Error::PreconditionFailed),
            _ => Ok(()),
        }
    }

    /// Why an item that still holds stock cannot be archived.
    pub fn has_stock_error(&self) -> Error {
        Error::conflict(
            ConflictKind::ItemHasStock,
            format!(
                "item '{}' still holds {} on hand ({} reserved); issue or adjust it to zero first",
                self.sku, self.on_hand, self.reserved
            ),
        )
    }

    /// The refusal of a movement on an archived item.
    pub fn archived_error(sku: &str) -> Error {
        Error::conflict(
            ConflictKind::ItemArchived,
            format!(
                "item '{sku}' is archived and takes no movements; restore it first \
                 (POST /api/v1/items/{{id}}/restore)"
            ),
        )
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
    /// EAN, UPC, GTIN or any code printed on the goods; unique when set.
    #[serde(default)]
    pub barcode: Option<String>,
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

/// The editable fields of an item, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemFields {
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub barcode: Option<String>,
    pub unit: String,
    pub reorder_point: i64,
    pub unit_cost: i64,
    pub attributes: Map<String, Value>,
}

const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;

fn check_item_fields(errors: &mut Vec<FieldError>, item: &ItemFields) {
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
    if let Some(b) = &item.barcode {
        if let Err(e) = check_barcode(b) {
            errors.push(e);
        }
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

/// A barcode is 1-64 printable characters without spaces: scanners send
/// EAN/UPC/GTIN digits, but shops also print their own codes.
pub fn check_barcode(code: &str) -> Result<(), FieldError> {
    let len = code.chars().count();
    if !(1..=64).contains(&len) {
        Err(FieldError::new("barcode", "must be 1-64 characters"))
    } else if code.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Err(FieldError::new(
            "barcode",
            "must not contain spaces or control characters",
        ))
    } else {
        Ok(())
    }
}

impl CreateItem {
    /// The item to insert: new id, version 1, no stock, created now.
    pub fn validate(self, now: DateTime<Utc>) -> Result<Item> {
        let mut errors = Vec::new();
        let unit_cost = match self.unit_cost.as_deref() {
            None => 0,
            Some(s) => crate::money::parse_unit_cost(s).unwrap_or_else(|m| {
                errors.push(FieldError::new("unit_cost", m));
                0
            }),
        };
        let fields = ItemFields {
            sku: self.sku,
            name: self.name,
            description: self.description,
            category: self.category,
            barcode: blank_is_none(self.barcode),
            unit: self.unit.unwrap_or_else(|| "pcs".to_owned()),
            reorder_point: self.reorder_point.unwrap_or(0),
            unit_cost,
            attributes: self.attributes.unwrap_or_default(),
        };
        check_item_fields(&mut errors, &fields);
        finish(errors)?;
        Ok(Item {
            id: Uuid::now_v7(),
            sku: fields.sku,
            name: fields.name,
            description: fields.description,
            category: fields.category,
            barcode: fields.barcode,
            unit: fields.unit,
            reorder_point: fields.reorder_point,
            unit_cost: fields.unit_cost,
            attributes: fields.attributes,
            archived: false,
            on_hand: 0,
            reserved: 0,
            available: 0,
            incoming: 0,
            version: 1,
            created_at: now,
            updated_at: now,
        })
    }
}

/// `PATCH /api/v1/items/{id}` body: a JSON merge patch (RFC 7396) of the
/// editable fields. Changing `sku` keeps the item's id, so its history follows.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub sku: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    /// `null` or `""` removes the barcode.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub barcode: Option<Option<String>>,
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
    /// Applies the patch to an item's editable fields, validating the
    /// result; on success the item is at its next version, updated `now`.
    pub fn apply(&self, item: &mut Item, now: DateTime<Utc>) -> Result<()> {
        let mut errors = Vec::new();
        let mut fields = ItemFields {
            sku: item.sku.clone(),
            name: item.name.clone(),
            description: item.description.clone(),
            category: item.category.clone(),
            barcode: item.barcode.clone(),
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
        if let Some(v) = &self.sku {
            required("sku", v.is_some());
            fields.sku = v.clone().unwrap_or_default();
        }
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
        if let Some(v) = &self.barcode {
            fields.barcode = blank_is_none(v.clone());
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
        item.sku = fields.sku;
        item.name = fields.name;
        item.description = fields.description;
        item.category = fields.category;
        item.barcode = fields.barcode;
        item.unit = fields.unit;
        item.reorder_point = fields.reorder_point;
        item.unit_cost = fields.unit_cost;
        item.attributes = fields.attributes;
        item.version += 1;
        item.updated_at = now;
        Ok(())
    }
}

/// One write of an all-or-nothing item import (`CatalogueStore::import_items`):
/// a new item (built by `CreateItem::validate`), or a merge patch applied to
/// an existing item at the version the import was checked against (a change
/// made meanwhile fails the whole import with 412, never lost).
#[derive(Debug, Clone)]
pub enum ItemWrite {
    Create(Item),
    Update {
        id: Uuid,
        patch: ItemPatch,
        version: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        crate::validation::now()
    }

    fn item() -> Item {
        CreateItem {
            sku: "BOLT-M8".into(),
            name: "Bolt".into(),
            description: None,
            category: None,
            barcode: Some(" 4006381333931 ".into()),
            unit: None,
            reorder_point: None,
            unit_cost: Some("0.12".into()),
            attributes: None,
        }
        .validate(now())
        .unwrap()
    }

    #[test]
    fn a_new_item_starts_at_version_one_with_no_stock() {
        let item = item();
        assert_eq!((item.version, item.on_hand, item.available), (1, 0, 0));
        assert_eq!(item.unit, "pcs");
        assert_eq!(item.unit_cost, 1200);
        assert!(!item.archived);
    }

    #[test]
    fn a_patch_may_change_the_sku_and_moves_the_version() {
        let mut item = item();
        let patch: ItemPatch = serde_json::from_str(r#"{"sku":"BOLT-M8X20"}"#).unwrap();
        patch.apply(&mut item, now()).unwrap();
        assert_eq!((item.sku.as_str(), item.version), ("BOLT-M8X20", 2));
        let patch: ItemPatch = serde_json::from_str(r#"{"sku":null}"#).unwrap();
        let err = patch.apply(&mut item, now()).unwrap_err();
        assert!(matches!(err, Error::Validation(ref f) if f[0].field == "sku"));
        assert_eq!(item.version, 2, "a refused patch changes nothing");
    }

    #[test]
    fn a_barcode_is_trimmed_checked_and_removed_by_null_or_blank() {
        let mut item = item();
        assert_eq!(item.barcode.as_deref(), Some("4006381333931"));
        let bad: ItemPatch = serde_json::from_str(r#"{"barcode":"40 06"}"#).unwrap();
        let err = bad.apply(&mut item, now()).unwrap_err();
        assert!(matches!(err, Error::Validation(ref f) if f[0].field == "barcode"));
        let blank: ItemPatch = serde_json::from_str(r#"{"barcode":"  "}"#).unwrap();
        blank.apply(&mut item, now()).unwrap();
        assert_eq!(item.barcode, None);
        let set: ItemPatch = serde_json::from_str(r#"{"barcode":"ABC-1"}"#).unwrap();
        set.apply(&mut item, now()).unwrap();
        assert_eq!(item.barcode.as_deref(), Some("ABC-1"));
        let null: ItemPatch = serde_json::from_str(r#"{"barcode":null}"#).unwrap();
        null.apply(&mut item, now()).unwrap();
        assert_eq!(item.barcode, None);
    }

    #[test]
    fn a_stale_version_is_a_failed_precondition() {
        let item = item();
        assert!(item.check_version(None).is_ok());
        assert!(item.check_version(Some(1)).is_ok());
        assert!(matches!(
            item.check_version(Some(2)),
            Err(Error::PreconditionFailed)
        ));
    }

    #[test]
    fn the_default_location_moves_only_by_making_another_the_default() {
        let mut loc = CreateLocation {
            code: " floor ".into(),
            name: "Shop floor".into(),
            default: None,
        }
        .validate(now())
        .unwrap();
        assert_eq!((loc.code.as_str(), loc.is_default), ("FLOOR", false));
        let make_default: LocationPatch = serde_json::from_str(r#"{"default":true}"#).unwrap();
        make_default.apply(&mut loc, now()).unwrap();
        assert!(loc.is_default);
        let unset: LocationPatch = serde_json::from_str(r#"{"default":false}"#).unwrap();
        let err = unset.apply(&mut loc, now()).unwrap_err();
        assert!(matches!(err, Error::Validation(ref f) if f[0].field == "default"));
    }
}
