//! Reservations: hold available stock for someone, change or release the
//! hold, read them, and the background sweep that ends lapsed holds.

use crate::after_commit::Change;
use crate::application::App;
use crate::idempotency::{json, IdempotencyKey, Outcome};
use crate::principal::{Principal, UseCase};
use inventory_core::paging::Page;
use inventory_core::reservations::{
    CreateReservation, Reservation, ReservationPatch, ReservationQuery,
};
use inventory_core::Result;
use std::time::Duration;
use uuid::Uuid;

/// How long a sweeper keeps its lease without renewing it: another replica
/// takes over this long after the holder stops.
pub const SWEEPER_LEASE: Duration = Duration::from_secs(10);

/// The most reservations one sweep ends (one transaction); the next sweep
/// takes the rest.
const SWEEP_BATCH: u32 = 1000;

impl App {
    /// Holds available stock. Not enough: `insufficient-stock`, nothing written.
    pub async fn create_reservation(
        &self,
        caller: &Principal,
        input: CreateReservation,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<Reservation>> {
        self.run(caller, UseCase::CreateReservation, async {
            let new = input.validate(inventory_core::now())?;
            let actor = caller.actor();
            let outcome = self
                .idempotent(caller, key, 201, json(), |idem| {
                    self.store.create_reservation(new, &actor, idem)
                })
                .await?;
            if let Outcome::New(r) = &outcome {
                self.after_commit(Change::Reservations(&[r.item_id])).await;
            }
            Ok(outcome)
        })
        .await
    }

    pub async fn get_reservation(&self, caller: &Principal, id: Uuid) -> Result<Reservation> {
        self.run(caller, UseCase::GetReservation, async {
            let found = self.store.get_reservation(id).await?;
            Ok(found.seen_at(inventory_core::now()))
        })
        .await
    }

    /// Pages through reservations; a `location` filter must name a location
    /// that exists.
    pub async fn list_reservations(
        &self,
        caller: &Principal,
        query: ReservationQuery,
    ) -> Result<Page<Reservation>> {
        self.run(caller, UseCase::ListReservations, async {
            if let Some(code) = &query.location {
                self.known_location(code, "location").await?;
            }
            let now = inventory_core::now();
            let page = self.store.list_reservations(&query, now).await?;
            Ok(Page {
                rows: page.rows.into_iter().map(|r| r.seen_at(now)).collect(),
                next_cursor: page.next_cursor,
            })
        })
        .await
    }

    /// Extends an active reservation's expiry or lowers its quantity.
    pub async fn update_reservation(
        &self,
        caller: &Principal,
        id: Uuid,
        patch: ReservationPatch,
    ) -> Result<Reservation> {
        self.run(caller, UseCase::UpdateReservation, async {
            let changed = self.store.update_reservation(id, patch).await?;
            self.after_commit(Change::Reservations(&[changed.item_id]))
                .await;
            Ok(changed)
        })
        .await
    }

    /// Gives an active reservation's stock back.
    pub async fn release_reservation(&self, caller: &Principal, id: Uuid) -> Result<Reservation> {
        self.run(caller, UseCase::ReleaseReservation, async {
            let released = self.store.release_reservation(id).await?;
            self.after_commit(Change::Reservations(&[released.item_id]))
                .await;
            Ok(released)
        })
        .await
    }

    /// Ends the reservations whose expiry has passed, if this process
    /// (`holder`) holds the sweeper lease; the number ended, or `None` when
    /// another replica sweeps. A background job, not a use case.
    pub async fn sweep_reservations(&self, holder: Uuid) -> Result<Option<usize>> {
        let Some(ended) = self
            .store
            .sweep_expired_reservations(holder, SWEEPER_LEASE, SWEEP_BATCH)
            .await?
        else {
            return Ok(None);
        };
        if !ended.is_empty() {
            let items: Vec<Uuid> = ended.iter().map(|r| r.item_id).collect();
            self.after_commit(Change::Reservations(&items)).await;
            metrics::counter!("inventory_reservations_expired_total").increment(ended.len() as u64);
        }
        Ok(Some(ended.len()))
    }
}
