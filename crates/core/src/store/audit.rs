//! The audit trail's own operations. Entries that go with a change are
//! written by the change itself, in its transaction (see `crate::audit`).

use crate::audit::{AuditEntry, AuditQuery, NewAuditEntry};
use crate::error::Result;
use crate::paging::Page;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Records an entry that goes with no other change (a failed sign-in).
    async fn record_audit(&self, entry: NewAuditEntry) -> Result<()>;
    /// Entries newest first, filtered, after the query's cursor.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Page<AuditEntry>>;
    /// Deletes the entries recorded before `before` (the retention period);
    /// returns how many. Nothing else deletes or edits an entry.
    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64>;
}
