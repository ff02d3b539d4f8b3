//! Proving the stock figures: every invariant checked against the database.

use crate::application::App;
use crate::principal::{Principal, UseCase};
use inventory_core::invariants::InvariantReport;
use inventory_core::Result;

impl App {
    /// Reads every balance and the whole ledger (seconds at millions of
    /// rows), so it is an administrator's tool, not a page.
    pub async fn check_invariants(&self, caller: &Principal) -> Result<InvariantReport> {
        self.run(caller, UseCase::CheckInvariants, async {
            let checked_at = inventory_core::now();
            let violations = self.store.check_invariants().await?;
            Ok(InvariantReport::new(checked_at, violations))
        })
        .await
    }
}
