//! Reservations: stock held against `available`, guarded like an outflow.

use crate::error::Result;
use crate::ledger::Actor;
use crate::paging::Page;
use crate::reservations::{NewReservation, Reservation, ReservationPatch, ReservationQuery};
use crate::store::idempotency::{Created, Idempotency};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;
use uuid::Uuid;

#[async_trait]
pub trait ReservationStore: Send + Sync + 'static {
    /// Holds stock in one transaction: the item exists and is not archived,
    /// the location exists (`None` is the default one), and the guard
    /// `on_hand - reserved >= quantity` holds after the due reservations of
    /// the item were ended (so an expired one never blocks anyone); then
    /// the balances' `reserved`, the row and its event. Not enough:
    /// `InsufficientStock`, nothing written.
    async fn create_reservation(
        &self,
        new: NewReservation,
        actor: &Actor,
        idem: Option<Idempotency<Reservation>>,
    ) -> Result<Created<Reservation>>;
    /// Applies `patch` (see `Reservation::apply`) to an active reservation,
    /// giving back what it no longer holds.
    async fn update_reservation(&self, id: Uuid, patch: ReservationPatch) -> Result<Reservation>;
    /// Ends an active reservation as `released`; an ended one (or one past
    /// its expiry) is an `InvalidTransition` naming its status.
    async fn release_reservation(&self, id: Uuid) -> Result<Reservation>;
    /// As stored; readers see it through `Reservation::seen_at`.
    async fn get_reservation(&self, id: Uuid) -> Result<Reservation>;
    /// Newest last, keyset-paged by id. A `status` of active or expired is
    /// judged at `now` (an active one past its expiry is expired).
    async fn list_reservations(
        &self,
        query: &ReservationQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<Reservation>>;
    /// Ends every active reservation whose expiry has passed as `expired`,
    /// giving their stock back, with a `reservation.expired` event each; at
    /// most `limit` per call. Only the holder of the sweeper lease sweeps:
    /// `holder` takes it when it is free or lapsed and keeps it for `lease`;
    /// `None` when another holder has it.
    async fn sweep_expired_reservations(
        &self,
        holder: Uuid,
        lease: Duration,
        limit: u32,
    ) -> Result<Option<Vec<Reservation>>>;
}
