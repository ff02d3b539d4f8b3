//! Stock locations, and the helpful side of refusals that name locations.

use crate::after_commit::Change;
use crate::application::App;
use crate::idempotency::{json, IdempotencyKey, Outcome};
use crate::principal::{Principal, UseCase};
use inventory_core::catalogue::{normalize_code, CreateLocation, Location, LocationPatch};
use inventory_core::paging::Page;
use inventory_core::{Error, Result};
use uuid::Uuid;

/// How many location codes an "unknown location" message lists at most.
const KNOWN_CODES_SHOWN: u32 = 25;

impl App {
    pub async fn create_location(
        &self,
        caller: &Principal,
        input: CreateLocation,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<Location>> {
        self.run(caller, UseCase::CreateLocation, async {
            let location = input.validate(inventory_core::now())?;
            let outcome = self
                .idempotent(caller, key, 201, json(), |idem| {
                    self.store.create_location(location, idem)
                })
                .await?;
            if let Outcome::New(_) = &outcome {
                self.after_commit(Change::LocationChanged).await;
            }
            Ok(outcome)
        })
        .await
    }

    /// A location by its id or by its code (any case).
    pub async fn get_location(&self, caller: &Principal, id_or_code: &str) -> Result<Location> {
        self.run(
            caller,
            UseCase::GetLocation,
            self.location_by_id_or_code(id_or_code),
        )
        .await
    }

    pub async fn list_locations(
        &self,
        caller: &Principal,
        after_code: Option<String>,
        limit: u32,
    ) -> Result<Page<Location>> {
        self.run(
            caller,
            UseCase::ListLocations,
            self.store.list_locations(after_code.as_deref(), limit),
        )
        .await
    }

    /// Renames a location, changes its code, or makes it the default.
    pub async fn update_location(
        &self,
        caller: &Principal,
        id_or_code: &str,
        patch: LocationPatch,
    ) -> Result<Location> {
        self.run(caller, UseCase::UpdateLocation, async {
            let id = self.location_by_id_or_code(id_or_code).await?.id;
            let location = self.store.update_location(id, patch).await?;
            self.after_commit(Change::LocationChanged).await;
            Ok(location)
        })
        .await
    }

    async fn location_by_id_or_code(&self, id_or_code: &str) -> Result<Location> {
        if let Ok(id) = Uuid::parse_str(id_or_code) {
            return self.store.get_location(id).await;
        }
        let code = normalize_code("code", id_or_code).map_err(|_| Error::NotFound("location"))?;
        self.store
            .find_location(&code)
            .await?
            .ok_or(Error::NotFound("location"))
    }

    /// The location with this code, or an "unknown location" error on
    /// `field` that lists the codes there are.
    pub(crate) async fn known_location(&self, code: &str, field: &str) -> Result<Location> {
        let normalized = normalize_code(field, code).map_err(|e| Error::Validation(vec![e]))?;
        match self.store.find_location(&normalized).await? {
            Some(location) => Ok(location),
            None => Err(self
                .explain(Error::UnknownLocation {
                    field: field.to_owned(),
                    code: normalized,
                    known: Vec::new(),
                })
                .await),
        }
    }

    /// Makes a refusal say what to do: an unknown location lists the
    /// locations there are; insufficient stock lists where the item is
    /// available instead. Read after the refusal, outside its transaction:
    /// the figures are a hint, the refusal itself was exact.
    pub(crate) async fn explain(&self, error: Error) -> Error {
        match error {
            Error::AtIndex { index, source } => Error::AtIndex {
                index,
                source: Box::new(Box::pin(self.explain(*source)).await),
            },
            Error::UnknownLocation { field, code, .. } => {
                let known = match self.store.list_locations(None, KNOWN_CODES_SHOWN).await {
                    Ok(page) => page.rows.into_iter().map(|l| l.code).collect(),
                    Err(_) => Vec::new(),
                };
                Error::UnknownLocation { field, code, known }
            }
            other => other,
        }
    }
}
