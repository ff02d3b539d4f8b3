//! API tokens: made, listed and revoked by their owner, with a sign-in
//! session (a token never makes tokens). A token is stored as a session of
//! kind `token`, by the SHA-256 of its secret only, so it is found, cached,
//! and dropped from every replica's cache on revocation exactly as sessions
//! are; its scopes narrow what its owner's role grants at every request.

use crate::after_commit::Change;
use crate::application::App;
use crate::passwords;
use crate::principal::{Principal, UseCase};
use inventory_core::identity::{ApiToken, ApiTokenSecret, CreateApiToken, API_TOKEN_PREFIX};
use inventory_core::Result;
use uuid::Uuid;

impl App {
    /// Makes an API token for the caller, limited to the scopes asked
    /// (each of use to the caller's role).
    pub async fn create_api_token(
        &self,
        caller: &Principal,
        input: CreateApiToken,
    ) -> Result<ApiTokenSecret> {
        self.run(caller, UseCase::CreateApiToken, async {
            let valid = input.validate(caller.user.role, self.policy, inventory_core::now())?;
            let secret = format!("{API_TOKEN_PREFIX}{}", passwords::random_secret(32));
            let token = self
                .store
                .create_api_token(&passwords::token_hash(&secret), caller.user.id, &valid)
                .await?;
            Ok(ApiTokenSecret { token, secret })
        })
        .await
    }

    /// The caller's unexpired API tokens, newest first (never their secrets).
    pub async fn list_api_tokens(&self, caller: &Principal) -> Result<Vec<ApiToken>> {
        self.run(caller, UseCase::ListApiTokens, async {
            self.store.list_api_tokens(caller.user.id).await
        })
        .await
    }

    /// Revokes one of the caller's tokens (`not-found` for anyone else's):
    /// it stops working at once, on every replica.
    pub async fn revoke_api_token(&self, caller: &Principal, id: Uuid) -> Result<()> {
        self.run(caller, UseCase::RevokeApiToken, async {
            let token_hash = self.store.revoke_api_token(caller.user.id, id).await?;
            self.after_commit(Change::SessionEnded(&token_hash)).await;
            Ok(())
        })
        .await
    }
}
