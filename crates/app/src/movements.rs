//! The ledger: record movements one at a time or in all-or-none batches,
//! read and page through them, and reverse a mistake.

use crate::after_commit::Change;
use crate::application::App;
use crate::idempotency::{IdempotencyKey, Outcome};
use crate::principal::{Principal, UseCase};
use inventory_core::error::Availability;
use inventory_core::identity::Permission;
use inventory_core::ledger::{
    CreateMovement, ItemRef, Movement, MovementKind, MovementResult, NewMovement, ReverseMovement,
    MAX_BATCH,
};
use inventory_core::paging::{ItemQuery, MovementQuery, Page};
use inventory_core::store::{Created, Render};
use inventory_core::{Error, FieldError, Result};
use serde::Serialize;
use std::sync::Arc;
use uuid::Uuid;

/// A movement list query; `sku` names the item instead of its id.
#[derive(Debug, Clone, Default)]
pub struct MovementFilter {
    pub query: MovementQuery,
    pub sku: Option<String>,
}

#[derive(Serialize)]
struct BatchBody<'a> {
    movements: &'a Vec<MovementResult>,
}

impl App {
    /// Records one movement.
    pub async fn record_movement(
        &self,
        caller: &Principal,
        input: CreateMovement,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<MovementResult>> {
        self.run(caller, UseCase::RecordMovement, async {
            require_adjust_if(caller, input.kind)?;
            let valid = input.validate()?;
            let item_id = self.resolve_item(&valid.item, "sku").await?;
            self.apply_single(caller, valid.for_item(item_id), key)
                .await
        })
        .await
    }

    /// Records up to [`MAX_BATCH`] movements in one transaction: all or
    /// none. A failure names the index of the first failing entry.
    pub async fn record_movements(
        &self,
        caller: &Principal,
        inputs: Vec<CreateMovement>,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<Vec<MovementResult>>> {
        self.run(caller, UseCase::RecordMovements, async {
            if inputs.is_empty() || inputs.len() > MAX_BATCH {
                return Err(Error::Validation(vec![FieldError::new(
                    "movements",
                    "must hold 1 to 1000 movements",
                )]));
            }
            for input in &inputs {
                require_adjust_if(caller, input.kind)?;
            }
            let valid = inputs
                .into_iter()
                .enumerate()
                .map(|(i, m)| m.validate().map_err(|e| e.at_index(i)))
                .collect::<Result<Vec<_>>>()?;
            let mut movements = Vec::with_capacity(valid.len());
            for (i, v) in valid.into_iter().enumerate() {
                let item_id = self
                    .resolve_item(&v.item, "sku")
                    .await
                    .map_err(|e| e.at_index(i))?;
                movements.push(v.for_item(item_id));
            }
            let render: Render<Vec<MovementResult>> = Arc::new(|v: &Vec<MovementResult>| {
                serde_json::to_string(&BatchBody { movements: v }).unwrap_or_default()
            });
            self.apply(caller, movements, key, render).await
        })
        .await
    }

    /// Reverses a movement: appends the opposite movement at the same
    /// locations, pointing back at it, once. Refused like any movement when
    /// the stock is no longer there.
    pub async fn reverse_movement(
        &self,
        caller: &Principal,
        id: Uuid,
        request: ReverseMovement,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<MovementResult>> {
        self.run(caller, UseCase::ReverseMovement, async {
            let original = self.store.get_movement(id).await?;
            // Undoing a correction is a correction too.
            require_adjust_if(caller, original.kind)?;
            let reversal = original.reversal(request)?;
            self.apply_single(caller, reversal, key).await
        })
        .await
    }

    pub async fn get_movement(&self, caller: &Principal, id: Uuid) -> Result<Movement> {
        self.run(caller, UseCase::GetMovement, self.store.get_movement(id))
            .await
    }

    /// Pages through the ledger. A `location` filter must name a location
    /// that exists; a `sku` no item has matches nothing.
    pub async fn list_movements(
        &self,
        caller: &Principal,
        filter: MovementFilter,
    ) -> Result<Page<Movement>> {
        self.run(caller, UseCase::ListMovements, async {
            let MovementFilter { mut query, sku } = filter;
            if let Some(code) = &query.location {
                self.known_location(code, "location").await?;
            }
            if let Some(sku) = sku {
                match self.store.find_item_by_sku(&sku).await? {
                    Some(item) if query.item_id.is_none_or(|id| id == item.id) => {
                        query.item_id = Some(item.id)
                    }
                    _ => {
                        return Ok(Page {
                            rows: Vec::new(),
                            next_cursor: None,
                        })
                    }
                }
            }
            self.store.list_movements(&query).await
        })
        .await
    }

    /// The item a request names.
    pub(crate) async fn resolve_item(&self, item: &ItemRef, field: &str) -> Result<Uuid> {
        match item {
            ItemRef::Id(id) => Ok(*id),
            // A scanner sends what is printed on the goods: a SKU that is
            // not one may be the item's barcode.
            ItemRef::Sku(sku) => match self.store.find_item_by_sku(sku).await? {
                Some(item) => Ok(item.id),
                None => {
                    let by_barcode = self
                        .store
                        .list_items(&ItemQuery {
                            barcode: Some(sku.trim().to_owned()),
                            include_archived: true,
                            limit: 1,
                            ..ItemQuery::default()
                        })
                        .await?;
                    match by_barcode.rows.first() {
                        Some(item) => Ok(item.id),
                        None => Err(Error::invalid(
                            field,
                            format!("no item has sku (or barcode) '{sku}'"),
                        )),
                    }
                }
            },
        }
    }

    /// Applies one movement, stored as a batch of one: its recorded response
    /// is the one result, and a refusal names no index.
    async fn apply_single(
        &self,
        caller: &Principal,
        movement: NewMovement,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<MovementResult>> {
        let render: Render<Vec<MovementResult>> = Arc::new(|v: &Vec<MovementResult>| {
            serde_json::to_string(&v.first()).unwrap_or_default()
        });
        let outcome = self
            .apply(caller, vec![movement], key, render)
            .await
            .map_err(|e| match e {
                Error::AtIndex { source, .. } => *source,
                other => other,
            })?;
        Ok(outcome.map(|mut results| results.remove(0)))
    }

    /// Applies movements under the caller's key; refusals are explained
    /// (where else the item is available, which locations exist).
    async fn apply(
        &self,
        caller: &Principal,
        movements: Vec<NewMovement>,
        key: Option<IdempotencyKey>,
        render: Render<Vec<MovementResult>>,
    ) -> Result<Outcome<Vec<MovementResult>>> {
        let actor = caller.actor();
        let items: Vec<Uuid> = movements.iter().map(|m| m.item_id).collect();
        let applied = self
            .idempotent(caller, key, 201, render, |idem| async {
                let created: Result<Created<Vec<MovementResult>>> =
                    self.store.apply_movements(movements, &actor, idem).await;
                created
            })
            .await;
        match applied {
            Ok(outcome) => {
                if let Outcome::New(results) = &outcome {
                    self.after_commit(Change::Movements(results)).await;
                }
                Ok(outcome)
            }
            Err(e) => Err(self.explain_refusal(e, &items).await),
        }
    }

    /// [`Self::explain`], and for insufficient stock the other locations
    /// where the item is available.
    async fn explain_refusal(&self, error: Error, items: &[Uuid]) -> Error {
        let (index, error) = match error {
            Error::AtIndex { index, source } => (Some(index), *source),
            other => (None, other),
        };
        let item = items.get(index.unwrap_or(0)).copied();
        let explained = match (error, item) {
            (
                Error::InsufficientStock {
                    location,
                    available,
                    requested,
                    ..
                },
                Some(item),
            ) => {
                let elsewhere = match self.store.item_stock(item, None).await {
                    Ok(report) => report
                        .locations
                        .into_iter()
                        .filter(|b| b.location != location && b.available > 0)
                        .map(|b| Availability {
                            location: b.location,
                            available: b.available,
                        })
                        .collect(),
                    Err(_) => Vec::new(),
                };
                Error::InsufficientStock {
                    location,
                    available,
                    requested,
                    elsewhere,
                }
            }
            (other, _) => self.explain(other).await,
        };
        match index {
            Some(index) => Error::AtIndex {
                index,
                source: Box::new(explained),
            },
            None => explained,
        }
    }
}

/// Adjustments need more than the other movements (managers by default):
/// 403 naming `stock:adjust` when `kind` is one and the caller lacks it.
fn require_adjust_if(caller: &Principal, kind: MovementKind) -> Result<()> {
    if kind == MovementKind::Adjust {
        caller.require_permission(Permission::StockAdjust)?;
    }
    Ok(())
}
