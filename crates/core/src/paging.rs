//! List queries and opaque keyset cursors.
//!
//! A cursor carries the sort it was made for and the last row's key, so a
//! page continues strictly after that row: rows inserted meanwhile never
//! shift the page boundary, and no row that existed is repeated or skipped.

use crate::error::{Error, Result};
use crate::ledger::MovementKind;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// A page of results and the cursor of the next page, if any.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from the rows of a query that asked for `limit + 1`: an extra
    /// row means there is a next page, which starts after `key` of the last
    /// row kept.
    pub fn keyset(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Self {
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(key)
        } else {
            None
        };
        Self { rows, next_cursor }
    }
}

pub fn check_limit(limit: Option<u32>) -> Result<u32> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
        Some(_) => Err(Error::invalid("limit", "must be from 1 to 500")),
    }
}

/// Orders an item list may take. All sort on immutable keys so that keyset
/// paging is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemSort {
    #[serde(rename = "sku")]
    SkuAsc,
    #[serde(rename = "-sku")]
    SkuDesc,
    #[serde(rename = "created_at")]
    CreatedAsc,
    #[serde(rename = "-created_at")]
    CreatedDesc,
}

impl ItemSort {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "sku" => Ok(Self::SkuAsc),
            "-sku" => Ok(Self::SkuDesc),
            "created_at" => Ok(Self::CreatedAsc),
            "-created_at" => Ok(Self::CreatedDesc),
            _ => Err(Error::invalid(
                "sort",
                "must be one of sku, -sku, created_at, -created_at",
            )),
        }
    }

    pub fn descending(self) -> bool {
        matches!(self, Self::SkuDesc | Self::CreatedDesc)
    }
}

/// Where the previous item page ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemCursor {
    pub sort: ItemSort,
    /// The last row's sku (for sku sorts) or id (for created_at sorts).
    pub key: String,
}

#[derive(Debug, Clone)]
pub struct ItemQuery {
    /// Case-insensitive substring of the sku or the name, or an exact barcode.
    pub q: Option<String>,
    /// Category, without regard to case.
    pub category: Option<String>,
    /// Exact SKU, without regard to case.
    pub sku: Option<String>,
    /// Exact barcode.
    pub barcode: Option<String>,
    /// Location code: only items with stock on hand there.
    pub location: Option<String>,
    pub low_stock: bool,
    pub include_archived: bool,
    pub sort: ItemSort,
    pub limit: u32,
    pub after: Option<ItemCursor>,
}

impl Default for ItemQuery {
    fn default() -> Self {
        Self {
            q: None,
            category: None,
            sku: None,
            barcode: None,
            location: None,
            low_stock: false,
            include_archived: false,
            sort: ItemSort::SkuAsc,
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeqOrder {
    #[serde(rename = "asc")]
    Asc,
    #[serde(rename = "desc")]
    Desc,
}

#[derive(Debug, Clone)]
pub struct MovementQuery {
    pub item_id: Option<Uuid>,
    /// Matches `location`, `from_location` or `to_location`.
    pub location: Option<String>,
    pub kind: Option<MovementKind>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub order: SeqOrder,
    pub limit: u32,
    /// Continue after this `seq`.
    pub after_seq: Option<i64>,
}

impl Default for MovementQuery {
    fn default() -> Self {
        Self {
            item_id: None,
            location: None,
            kind: None,
            since: None,
            until: None,
            order: SeqOrder::Asc,
            limit: DEFAULT_LIMIT,
            after_seq: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqCursor {
    pub order: SeqOrder,
    pub seq: i64,
}

/// Encodes any cursor as opaque URL-safe text.
pub fn encode_cursor<T: Serialize>(cursor: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

/// Decodes a cursor made by [`encode_cursor`]; anything else is a 422.
///
/// A forged cursor can carry any text, but no key we hand out holds a control
/// character (stored text is validated), and PostgreSQL refuses NUL outright:
/// such a cursor is as foreign as garbage.
pub fn decode_cursor<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T> {
    URL_SAFE_NO_PAD
        .decode(text.as_bytes())
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .filter(|value| !has_control_characters(value))
        .and_then(|value| serde_json::from_value(value).ok())
        .ok_or_else(|| Error::invalid("cursor", "is not a cursor this list returned"))
}

fn has_control_characters(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.chars().any(char::is_control),
        Value::Array(values) => values.iter().any(has_control_characters),
        Value::Object(fields) => fields
            .iter()
            .any(|(k, v)| k.chars().any(char::is_control) || has_control_characters(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cursor_round_trips() {
        let c = ItemCursor {
            sort: ItemSort::SkuDesc,
            key: "A-1".into(),
        };
        assert_eq!(decode_cursor::<ItemCursor>(&encode_cursor(&c)).unwrap(), c);
    }

    #[test]
    fn forged_cursors_with_control_characters_are_rejected() {
        let forged = ItemCursor {
            sort: ItemSort::SkuAsc,
            key: "\u{0}".into(),
        };
        let err = decode_cursor::<ItemCursor>(&encode_cursor(&forged)).unwrap_err();
        assert!(
            matches!(&err, Error::Validation(fields) if fields[0].field == "cursor"),
            "{err:?}"
        );
    }

    proptest! {
        #[test]
        fn garbage_cursors_are_rejected_not_panics(s in ".{0,80}") {
            let _ = decode_cursor::<ItemCursor>(&s);
            let _ = decode_cursor::<SeqCursor>(&s);
        }
    }
}
