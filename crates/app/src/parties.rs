//! Parties: the suppliers and customers orders name.

use crate::after_commit::Change;
use crate::application::App;
use crate::idempotency::{json, IdempotencyKey, Outcome};
use crate::items::IfMatch;
use crate::principal::{Principal, UseCase};
use inventory_core::paging::Page;
use inventory_core::parties::{CreateParty, Party, PartyPatch, PartyQuery};
use inventory_core::{Error, Result};
use uuid::Uuid;

impl App {
    pub async fn create_party(
        &self,
        caller: &Principal,
        input: CreateParty,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<Party>> {
        self.run(caller, UseCase::CreateParty, async {
            let party = input.validate(inventory_core::now())?;
            let outcome = self
                .idempotent(caller, key, 201, json(), |idem| {
                    self.store.create_party(party, idem)
                })
                .await?;
            if let Outcome::New(_) = &outcome {
                self.after_commit(Change::PartyChanged).await;
            }
            Ok(outcome)
        })
        .await
    }

    pub async fn get_party(&self, caller: &Principal, id: Uuid) -> Result<Party> {
        self.run(caller, UseCase::GetParty, self.store.get_party(id))
            .await
    }

    pub async fn list_parties(&self, caller: &Principal, query: PartyQuery) -> Result<Page<Party>> {
        self.run(caller, UseCase::ListParties, async {
            self.store.list_parties(&query).await
        })
        .await
    }

    /// Edits a party; `{"archived": true}` archives it (refused while it
    /// has open orders), `false` restores it. Honours `If-Match`.
    pub async fn update_party(
        &self,
        caller: &Principal,
        id: Uuid,
        patch: PartyPatch,
        if_match: IfMatch,
    ) -> Result<Party> {
        self.run(caller, UseCase::UpdateParty, async {
            let if_version = match if_match {
                IfMatch::Any => None,
                IfMatch::Versions(versions) => {
                    let current = self.store.get_party(id).await?;
                    if !versions.contains(&current.version) {
                        return Err(Error::PreconditionFailed);
                    }
                    Some(current.version)
                }
            };
            let party = self.store.update_party(id, patch, if_version).await?;
            self.after_commit(Change::PartyChanged).await;
            Ok(party)
        })
        .await
    }
}
