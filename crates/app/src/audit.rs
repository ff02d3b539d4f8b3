//! The audit trail's use cases: the list (admins), failed sign-ins, and the
//! retention prune. Entries of changes are written by the stores, in each
//! change's transaction, as the caller [`App::run`] makes current.

use crate::application::App;
use crate::principal::{Principal, UseCase};
use crate::spreadsheets::CsvStream;
use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use inventory_core::audit::{AuditEntry, AuditQuery};
use inventory_core::csvfile;
use inventory_core::paging::{Page, MAX_LIMIT};
use inventory_core::{Error, Result};

impl App {
    /// Audit entries, newest first, filtered (admins).
    pub async fn list_audit(
        &self,
        caller: &Principal,
        query: AuditQuery,
    ) -> Result<Page<AuditEntry>> {
        self.run(caller, UseCase::ListAudit, self.store.list_audit(&query))
            .await
    }

    /// Every entry the filters select (all pages), newest first, as CSV.
    pub async fn export_audit(&self, caller: &Principal, query: AuditQuery) -> Result<CsvStream> {
        self.run(caller, UseCase::ListAudit, async {
            let store = self.store.clone();
            let first = AuditQuery {
                limit: MAX_LIMIT,
                before_id: None,
                ..query
            };
            let header = stream::once(async { Ok(csvfile::audit_header()) });
            // State: the query of the next page; None once the last was sent.
            let pages = stream::try_unfold(Some(first), move |next| {
                let store = store.clone();
                async move {
                    let Some(query) = next else { return Ok(None) };
                    let page = store.list_audit(&query).await?;
                    let mut chunk = Vec::new();
                    csvfile::write_audit(&mut chunk, &page.rows);
                    let next = match page.next_cursor {
                        Some(cursor) => Some(AuditQuery {
                            before_id: Some(
                                cursor
                                    .parse()
                                    .map_err(|_| Error::internal("bad audit cursor"))?,
                            ),
                            ..query
                        }),
                        None => None,
                    };
                    Ok(Some((chunk, next)))
                }
            });
            Ok(header.chain(pages).boxed())
        })
        .await
    }

    /// Deletes the entries older than the retention period; how many.
    pub async fn prune_audit(&self) -> Result<u64> {
        let before = Utc::now() - chrono::Duration::days(i64::from(self.audit_retention_days));
        self.store.prune_audit(before).await
    }
}
