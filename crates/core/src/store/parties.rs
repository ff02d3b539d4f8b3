//! Parties: suppliers and customers.

use crate::error::Result;
use crate::paging::Page;
use crate::parties::{Party, PartyPatch, PartyQuery};
use crate::store::idempotency::{Created, Idempotency};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
pub trait PartyStore: Send + Sync + 'static {
    /// Inserts `party` (built by `CreateParty::validate`) with its
    /// `party.created` event; a code taken is a `duplicate-party-code`
    /// conflict (unique key `parties_code_key`).
    async fn create_party(
        &self,
        party: Party,
        idem: Option<Idempotency<Party>>,
    ) -> Result<Created<Party>>;
    async fn get_party(&self, id: Uuid) -> Result<Party>;
    /// Parties by id (creation order) after `query.after`.
    async fn list_parties(&self, query: &PartyQuery) -> Result<Page<Party>>;
    /// Applies the merge patch (`PartyPatch::apply`) to the current row
    /// (with `if_version`, only at that version) and records
    /// `party.updated`. Archiving a party with open purchase orders is a
    /// `party-has-open-orders` conflict, decided in the same transaction.
    async fn update_party(
        &self,
        id: Uuid,
        patch: PartyPatch,
        if_version: Option<i64>,
    ) -> Result<Party>;
}
