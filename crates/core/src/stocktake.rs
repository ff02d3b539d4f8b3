//! Stock counts (stocktakes): what was counted at one location, compared
//! with the books at a known ledger position, posted as one batch of
//! `adjust` movements. A count is refused when any counted item moved at
//! that location after the position: its books changed under the count, so
//! the difference would be stale.

use crate::catalogue::normalize_code;
pub use crate::error::MovedItem;
use crate::error::{Error, FieldError, Result};
use crate::ledger::{ItemRef, MovementKind, MovementResult, NewMovement, MAX_QUANTITY};
use crate::validation::{check_text, finish};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// The reason every adjustment of a count carries.
pub const COUNT_REASON: &str = "stock count";

/// Lines in one count, at most (a count sheet per location and shelf).
pub const MAX_COUNT_LINES: usize = 1000;

/// `POST /api/v1/stock-counts` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStockCount {
    /// Location code; the default location when absent.
    #[serde(default)]
    pub location: Option<String>,
    /// The ledger position the count was taken at: the `seq` of the newest
    /// movement when the count sheet was opened (0 for an empty ledger).
    pub as_of_seq: i64,
    /// Optional reference (a count sheet number) on every adjustment.
    #[serde(default)]
    pub reference: Option<String>,
    pub lines: Vec<CountLine>,
}

/// One counted item: named by `item_id` or by `sku` (or barcode).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountLine {
    #[serde(default)]
    pub item_id: Option<Uuid>,
    #[serde(default)]
    pub sku: Option<String>,
    /// The quantity found, 0 or more.
    pub counted: i64,
}

/// A count whose lines name their items, not yet resolved to ids.
#[derive(Debug, Clone)]
pub struct ValidCount {
    pub location: Option<String>,
    pub as_of_seq: i64,
    pub reference: Option<String>,
    pub lines: Vec<(ItemRef, i64)>,
}

/// A count ready for a store: items resolved. The store resolves the
/// location (`None`: the default one) and sets its code before planning.
#[derive(Debug, Clone)]
pub struct StockCount {
    pub location: Option<String>,
    pub as_of_seq: i64,
    pub reference: Option<String>,
    /// Item and counted quantity, each item once.
    pub lines: Vec<(Uuid, i64)>,
}

impl CreateStockCount {
    pub fn validate(self) -> Result<ValidCount> {
        let mut errors = Vec::new();
        let location = match self.location.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(code) => match normalize_code("location", code) {
                Ok(code) => Some(code),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
        };
        if self.as_of_seq < 0 {
            errors.push(FieldError::new(
                "as_of_seq",
                "must be 0 or the seq of a movement (the newest one when the count began)",
            ));
        }
        if let Some(r) = &self.reference {
            check_text(&mut errors, "reference", r, 0, 200);
        }
        if self.lines.is_empty() {
            errors.push(FieldError::new("lines", "count at least one item"));
        } else if self.lines.len() > MAX_COUNT_LINES {
            errors.push(FieldError::new(
                "lines",
                format!("at most {MAX_COUNT_LINES} lines per count; split the count by shelf"),
            ));
        }
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, line) in self.lines.into_iter().enumerate() {
            let item = match (line.item_id, line.sku.as_deref().map(str::trim)) {
                (Some(id), None) => Some(ItemRef::Id(id)),
                (None, Some(sku)) if !sku.is_empty() => Some(ItemRef::Sku(sku.to_owned())),
                (Some(_), Some(_)) => {
                    errors.push(FieldError::new(
                        format!("lines[{i}].sku"),
                        "name the item by item_id or by sku, not both",
                    ));
                    None
                }
                _ => {
                    errors.push(FieldError::new(
                        format!("lines[{i}].item_id"),
                        "is required (or name the item by its sku instead)",
                    ));
                    None
                }
            };
            if !(0..=MAX_QUANTITY).contains(&line.counted) {
                errors.push(FieldError::new(
                    format!("lines[{i}].counted"),
                    "must be a whole number from 0 to 1000000000",
                ));
            }
            if let Some(item) = item {
                lines.push((item, line.counted));
            }
        }
        finish(errors)?;
        Ok(ValidCount {
            location,
            as_of_seq: self.as_of_seq,
            reference: self.reference.filter(|r| !r.trim().is_empty()),
            lines,
        })
    }
}

/// What a store reads inside the count's transaction, before it decides.
#[derive(Debug, Clone, Default)]
pub struct Books {
    /// The newest movement's seq (0 for an empty ledger).
    pub head: i64,
    /// Counted items that moved at the location after `as_of_seq`.
    pub moved: Vec<MovedItem>,
    /// Each counted item that exists: its SKU and on-hand at the location.
    pub items: HashMap<Uuid, (String, i64)>,
}

impl StockCount {
    /// The adjustments to post, or why the count is refused: an item named
    /// twice, an unknown item, a position beyond the ledger, or items that
    /// moved after it.
    pub fn plan(&self, books: &Books) -> Result<Vec<NewMovement>> {
        self.check_unique()?;
        for (i, (item, _)) in self.lines.iter().enumerate() {
            if !books.items.contains_key(item) {
                return Err(Error::invalid(
                    format!("lines[{i}].item_id"),
                    "no item has this id",
                ));
            }
        }
        if let Some(e) = self.beyond_ledger(books.head) {
            return Err(e);
        }
        if !books.moved.is_empty() {
            return Err(Error::CountOutdated {
                location: self.location.clone().unwrap_or_default(),
                as_of_seq: self.as_of_seq,
                moved: books.moved.clone(),
            });
        }
        let on_hand: HashMap<Uuid, i64> =
            books.items.iter().map(|(id, (_, q))| (*id, *q)).collect();
        Ok(self.adjustments(&on_hand))
    }

    /// The result of a posted count: every line against its books.
    pub fn result(&self, books: &Books, adjustments: Vec<MovementResult>) -> CountResult {
        let lines = self
            .lines
            .iter()
            .map(|(item, counted)| {
                let (sku, expected) = books.items.get(item).cloned().unwrap_or_default();
                CountedLine {
                    item_id: *item,
                    sku,
                    counted: *counted,
                    expected,
                    difference: counted - expected,
                }
            })
            .collect();
        CountResult {
            location: self.location.clone().unwrap_or_default(),
            as_of_seq: self.as_of_seq,
            lines,
            adjustments,
        }
    }

    /// Refuses a count that names one item twice (the two lines would
    /// contradict each other).
    pub fn check_unique(&self) -> Result<()> {
        let mut seen: HashMap<Uuid, usize> = HashMap::new();
        for (i, (item, _)) in self.lines.iter().enumerate() {
            if let Some(first) = seen.insert(*item, i) {
                return Err(Error::invalid(
                    format!("lines[{i}]"),
                    format!("counts the same item as line {first}; give each item one line"),
                ));
            }
        }
        Ok(())
    }

    /// The adjustments that bring the books to the count: one per line
    /// whose count differs from `books` (on hand at the location; absent
    /// means none), in the order of the lines.
    pub fn adjustments(&self, books: &HashMap<Uuid, i64>) -> Vec<NewMovement> {
        self.lines
            .iter()
            .filter_map(|(item, counted)| {
                let difference = counted - books.get(item).copied().unwrap_or(0);
                (difference != 0).then(|| NewMovement {
                    item_id: *item,
                    kind: MovementKind::Adjust,
                    quantity: difference,
                    location: self.location.clone(),
                    from_location: None,
                    to_location: None,
                    reason: Some(COUNT_REASON.to_owned()),
                    reference: self.reference.clone(),
                    reverses: None,
                })
            })
            .collect()
    }

    /// The refusal of a count taken before the ledger's newest position.
    pub fn beyond_ledger(&self, head: i64) -> Option<Error> {
        (self.as_of_seq > head).then(|| {
            Error::invalid(
                "as_of_seq",
                format!(
                    "is beyond the newest movement ({head}); send the seq of the newest movement \
                     when the count began"
                ),
            )
        })
    }
}

/// One line of a posted count: the books it was compared with and the
/// difference that was posted (0: none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CountedLine {
    pub item_id: Uuid,
    pub sku: String,
    pub counted: i64,
    /// On hand at the location by the books, at `as_of_seq`.
    pub expected: i64,
    pub difference: i64,
}

/// `201` body of `POST /api/v1/stock-counts`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CountResult {
    pub location: String,
    pub as_of_seq: i64,
    pub lines: Vec<CountedLine>,
    /// The `adjust` movements posted, one per line with a difference.
    pub adjustments: Vec<MovementResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(lines: serde_json::Value) -> Result<ValidCount> {
        let body: CreateStockCount =
            serde_json::from_value(serde_json::json!({"as_of_seq": 5, "lines": lines})).unwrap();
        body.validate()
    }

    #[test]
    fn each_line_names_its_item_once_and_counts_zero_or_more() {
        let ok = count(serde_json::json!([{"sku": " a ", "counted": 0}])).unwrap();
        assert_eq!(ok.lines, vec![(ItemRef::Sku("a".into()), 0)]);
        assert_eq!(ok.location, None);
        let err = count(serde_json::json!([{"sku": "a", "counted": -1}, {"counted": 2}]));
        let Err(Error::Validation(fields)) = err else {
            panic!("expected field errors")
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["lines[0].counted", "lines[1].item_id"]);
        assert!(count(serde_json::json!([])).is_err());
    }

    #[test]
    fn only_differences_become_adjustments_with_the_count_reason() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let count = StockCount {
            location: Some("MAIN".into()),
            as_of_seq: 9,
            reference: Some("SHEET-1".into()),
            lines: vec![(a, 10), (b, 3), (c, 0)],
        };
        let books = HashMap::from([(a, 10), (b, 5)]);
        let posted = count.adjustments(&books);
        let deltas: Vec<(Uuid, i64)> = posted.iter().map(|m| (m.item_id, m.quantity)).collect();
        assert_eq!(deltas, [(b, -2)], "a matches; c has no books and counts 0");
        assert_eq!(posted[0].reason.as_deref(), Some(COUNT_REASON));
        assert_eq!(posted[0].kind, MovementKind::Adjust);
        assert_eq!(posted[0].reference.as_deref(), Some("SHEET-1"));
        let more = StockCount {
            lines: vec![(c, 4)],
            ..count.clone()
        };
        assert_eq!(more.adjustments(&books)[0].quantity, 4);
    }

    #[test]
    fn a_count_after_which_an_item_moved_is_refused_naming_it() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let count = StockCount {
            location: Some("MAIN".into()),
            as_of_seq: 4,
            reference: None,
            lines: vec![(a, 1), (b, 2)],
        };
        let mut books = Books {
            head: 6,
            moved: vec![MovedItem {
                item_id: b,
                sku: "B".into(),
            }],
            items: HashMap::from([(a, ("A".into(), 1)), (b, ("B".into(), 0))]),
        };
        let refused = count.plan(&books).unwrap_err();
        assert!(matches!(&refused, Error::CountOutdated { moved, .. } if moved[0].sku == "B"));
        assert!(refused.to_string().contains(": B;"), "{refused}");
        books.moved.clear();
        let posted = count.plan(&books).unwrap();
        assert_eq!(posted.len(), 1, "a matches the books");
        let result = count.result(&books, Vec::new());
        assert_eq!(result.lines[1].difference, 2);
        assert_eq!(result.lines[0].expected, 1);
        books.items.remove(&a);
        assert!(
            matches!(count.plan(&books), Err(Error::Validation(f)) if f[0].field == "lines[0].item_id")
        );
    }

    #[test]
    fn an_item_counted_twice_or_a_position_beyond_the_ledger_is_refused() {
        let a = Uuid::now_v7();
        let count = StockCount {
            location: Some("MAIN".into()),
            as_of_seq: 9,
            reference: None,
            lines: vec![(a, 1), (a, 2)],
        };
        assert!(
            matches!(count.check_unique(), Err(Error::Validation(f)) if f[0].field == "lines[1]")
        );
        assert!(count.beyond_ledger(9).is_none());
        assert!(count.beyond_ledger(8).is_some());
    }
}
