//! The one after-commit hook. Every successful write passes through
//! [`App::after_commit`] after its transaction committed and before it is
//! acknowledged: cached items and sessions are invalidated (here and, with
//! Redis, on every replica), change-feed streams are woken (here and on the
//! other replicas), and the in-memory gauges and counters move. A new
//! writer (an import, a background job, a page of the web UI) calls its use
//! case, and so cannot forget any of it.

use crate::application::App;
use inventory_core::catalogue::Item;
use inventory_core::ledger::MovementResult;
use std::sync::atomic::Ordering;
use uuid::Uuid;

/// What a committed write changed.
pub enum Change<'a> {
    ItemCreated(&'a Item),
    ItemUpdated(Uuid),
    /// `now`: false when the item already was archived (nothing changed).
    ItemArchived {
        id: Uuid,
        now: bool,
    },
    ItemRestored {
        id: Uuid,
        now: bool,
    },
    Movements(&'a [MovementResult]),
    /// Reservations of these items were made, changed or ended: their
    /// `reserved` changed.
    Reservations(&'a [Uuid]),
    /// An import committed: `created` new items, and these updated.
    ItemsImported {
        created: usize,
        updated: &'a [Uuid],
    },
    /// A location was created or changed (no cache holds locations).
    LocationChanged,
    /// A party was created or changed (its event was written).
    PartyChanged,
    /// A purchase order was created or changed; the items whose
    /// `incoming` it moved are cached no more.
    PurchaseOrder(&'a [Uuid]),
    UserCreated,
    /// A user's role changed: every cached session holds the old one.
    UserChanged,
    /// A session was deleted (sign-out): no replica may accept its token.
    SessionEnded(&'a str),
}

impl App {
    pub(crate) async fn after_commit(&self, change: Change<'_>) {
        let redis = self.redis.as_ref();
        let mut event_written = true;
        if matches!(
            change,
            Change::ItemUpdated(_)
                | Change::ItemArchived { .. }
                | Change::ItemRestored { .. }
                | Change::ItemsImported { .. }
        ) {
            self.catalogue_generation.fetch_add(1, Ordering::Relaxed);
        }
        match change {
            Change::ItemCreated(_) => {
                self.items_total.fetch_add(1, Ordering::Relaxed);
                self.items_active.fetch_add(1, Ordering::Relaxed);
            }
            Change::ItemUpdated(id) => self.items.invalidate(redis, id).await,
            Change::ItemArchived { id, now } => {
                self.items.invalidate(redis, id).await;
                if now {
                    self.items_active.fetch_sub(1, Ordering::Relaxed);
                }
                event_written = now;
            }
            Change::ItemRestored { id, now } => {
                self.items.invalidate(redis, id).await;
                if now {
                    self.items_active.fetch_add(1, Ordering::Relaxed);
                }
                event_written = now;
            }
            Change::ItemsImported { created, updated } => {
                let created = i64::try_from(created).unwrap_or(i64::MAX);
                self.items_total.fetch_add(created, Ordering::Relaxed);
                self.items_active.fetch_add(created, Ordering::Relaxed);
                for &id in updated {
                    self.items.invalidate(redis, id).await;
                }
                // An import of unchanged rows writes no event.
                event_written = created > 0 || !updated.is_empty();
            }
            Change::Movements(results) => {
                let mut items: Vec<Uuid> = results.iter().map(|r| r.movement.item_id).collect();
                items.sort_unstable();
                items.dedup();
                for id in items {
                    self.items.invalidate(redis, id).await;
                }
                for r in results {
                    metrics::counter!("inventory_stock_movements_total", "kind" => r.movement.kind.as_str())
                        .increment(1);
                }
            }
            Change::Reservations(items) => {
                let mut items = items.to_vec();
                items.sort_unstable();
                items.dedup();
                for id in items {
                    self.items.invalidate(redis, id).await;
                }
            }
            Change::PartyChanged => {}
            Change::PurchaseOrder(items) => {
                for &id in items {
                    self.items.invalidate(redis, id).await;
                }
            }
            Change::LocationChanged | Change::UserCreated => event_written = false,
            Change::UserChanged => {
                self.sessions.invalidate_all();
                if let (Some(redis), true) = (redis, self.store.shared_by_replicas()) {
                    redis.sessions_changed().await;
                }
                event_written = false;
            }
            Change::SessionEnded(token_hash) => {
                self.sessions.invalidate(&token_hash.to_owned());
                if let (Some(redis), true) = (redis, self.store.shared_by_replicas()) {
                    redis.sessions_changed().await;
                }
                event_written = false;
            }
        }
        if event_written {
            self.wake_event_streams();
            if let Some(redis) = redis {
                redis.events_committed();
            }
        }
    }
}
