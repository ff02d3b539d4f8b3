//! The [`Store`] contract suite. Every backend runs the same tests through
//! [`contract_tests!`]:
//!
//! ```text
//! async fn fresh_store() -> Arc<dyn Store> { /* empty, migrated, MAIN only */ }
//! inventory_store_tests::contract_tests!(fresh_store());
//! ```
//!
//! The factory may also yield `(Arc<dyn Store>, guard)`; the guard (a
//! `TempDir`, a database to drop) is dropped once the test is over.
//!
//! Each public `async fn` here takes a fresh, empty, migrated store that holds
//! the MAIN location and no users, and panics when the store breaks the
//! contract. The macro turns every one into its own `#[tokio::test]`.

use chrono::{DateTime, Duration, Utc};
use inventory_core::dump::{self, ExportCounts};
use inventory_core::error::ConflictKind;
use inventory_core::model::*;
use inventory_core::money::format_unit_cost;
use inventory_core::paging::{ItemCursor, ItemQuery, ItemSort, MovementQuery, Page, SeqOrder};
use inventory_core::store::{Created, Idempotency, Render, StoredResponse};
use inventory_core::{Error, Result};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use uuid::Uuid;

// ================================================================ the macro

/// Expands to one `#[tokio::test]` per contract function. The argument is
/// an async expression (evaluated afresh for every test) that yields an
/// `Arc<dyn Store>` over an empty, migrated database holding only MAIN, or
/// such a store paired with a guard to drop after the test (see [`Fixture`]).
/// The calling crate needs `tokio` as a (dev-)dependency.
#[macro_export]
macro_rules! contract_tests {
    ($factory:expr) => {
        $crate::contract_tests!(@each $factory;
            ping_answers,
            item_round_trip,
            duplicate_sku_conflicts,
            unknown_item_is_not_found,
            update_item_merge_patch_bumps_version,
            update_item_stale_version_changes_nothing,
            archive_refuses_item_with_stock,
            archived_item_is_hidden_and_takes_no_movements,
            main_location_exists,
            main_location_code_patch_is_normalised,
            location_create_duplicate_update,
            location_list_paging,
            movement_arithmetic_per_location,
            movement_batch_results_are_cumulative,
            issue_beyond_available_writes_nothing,
            batch_is_all_or_none,
            unknown_location_or_item_is_rejected,
            seq_is_strictly_increasing,
            concurrent_issues_never_oversell,
            concurrent_transfers_conserve_stock,
            item_stock_as_of,
            list_items_filters,
            list_items_q_ignores_case_beyond_ascii,
            list_items_low_stock,
            list_items_sorts_and_paging,
            list_items_paging_under_concurrent_inserts,
            list_movements_filters,
            list_movements_order_and_paging,
            idempotent_movements,
            idempotent_movements_concurrent_same_key,
            idempotent_create_item,
            idempotent_create_location_and_user,
            users_create_find_duplicate,
            sessions_lifecycle,
            purge_expired_removes_old_keys_and_sessions,
            events_follow_every_committed_change,
            default_location_moves_and_takes_unnamed_movements,
            skus_are_unique_without_regard_to_case,
            restore_brings_an_archived_item_back,
            item_filters_ignore_case_and_follow_locations,
            a_movement_is_read_by_id,
            a_reversal_applies_the_opposite_once,
            movements_follow_the_guard_model,
        );
        $crate::contract_tests!(@pair $factory;
            export_import_round_trip,
            failed_import_writes_nothing,
        );
    };
    (@pair $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                // Two fresh stores: the source and the target of a move.
                let (source, _source_guard) = $crate::Fixture::into_parts($factory.await);
                let (target, _target_guard) = $crate::Fixture::into_parts($factory.await);
                $crate::$name(source, target).await;
            }
        )*
    };
    (@each $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                // The guard outlives the store, which the test consumes.
                let (store, _guard) = $crate::Fixture::into_parts($factory.await);
                $crate::$name(store).await;
            }
        )*
    };
}

pub use inventory_core::Store;

// ================================================================ areas

mod admin;
mod catalogue;
mod events;
mod identity;
mod ledger;
mod moving;

pub use admin::*;
pub use catalogue::*;
pub use events::*;
pub use identity::*;
pub use ledger::*;
pub use moving::*;

// ================================================================ fixtures

/// What a [`contract_tests!`] factory may yield: the store alone, or the
/// store with a guard that must outlive it (a `TempDir` holding a SQLite
/// file, a handle that drops a throwaway PostgreSQL database, ...). The
/// guard is dropped after the test, once the test has let go of the store.
pub trait Fixture {
    type Guard;
    fn into_parts(self) -> (Arc<dyn Store>, Self::Guard);
}

impl Fixture for Arc<dyn Store> {
    type Guard = ();
    fn into_parts(self) -> (Arc<dyn Store>, ()) {
        (self, ())
    }
}

impl<G> Fixture for (Arc<dyn Store>, G) {
    type Guard = G;
    fn into_parts(self) -> (Arc<dyn Store>, G) {
        self
    }
}

// ================================================================ helpers

pub(crate) type S = Arc<dyn Store>;

pub(crate) fn created<T: Debug>(result: Result<Created<T>>, what: &str) -> T {
    match result {
        Ok(Created::New(v)) => v,
        other => panic!("{what}: expected Created::New, got {other:?}"),
    }
}

pub(crate) fn item_spec(sku: &str, name: &str, category: Option<&str>, reorder_point: i64) -> Item {
    CreateItem {
        sku: sku.to_owned(),
        name: name.to_owned(),
        description: None,
        category: category.map(str::to_owned),
        unit: None,
        reorder_point: Some(reorder_point),
        unit_cost: None,
        attributes: None,
    }
    .validate(inventory_core::now())
    .expect("valid item")
}

pub(crate) async fn new_item(store: &S, sku: &str) -> Item {
    created(
        store
            .create_item(item_spec(sku, &format!("Item {sku}"), None, 0), None)
            .await,
        "create_item",
    )
}

pub(crate) async fn add_item(store: &S, spec: Item) -> Item {
    created(store.create_item(spec, None).await, "create_item")
}

pub(crate) async fn new_location(store: &S, code: &str) -> Location {
    let spec = CreateLocation {
        code: code.to_owned(),
        name: format!("Location {code}"),
        default: None,
    }
    .validate(inventory_core::now())
    .expect("valid location");
    created(store.create_location(spec, None).await, "create_location")
}

pub(crate) async fn new_actor(store: &S, username: &str) -> Actor {
    let user = created(
        store
            .create_user(user_spec(username, Role::Clerk), TEST_HASH, None)
            .await,
        "create_user",
    );
    Actor {
        user_id: user.id,
        username: user.username,
        role: user.role,
    }
}

/// A password hash for users the suite creates (never verified).
pub(crate) const TEST_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

pub(crate) fn user_spec(username: &str, role: Role) -> User {
    CreateUser {
        username: username.to_owned(),
        password: "not used".to_owned(),
        role,
    }
    .into_user(inventory_core::now())
    .0
}

pub(crate) fn movement(
    item_id: Uuid,
    kind: MovementKind,
    quantity: i64,
    location: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    reason: Option<&str>,
) -> NewMovement {
    CreateMovement {
        item_id: Some(item_id),
        sku: None,
        kind,
        quantity,
        location: location.map(str::to_owned),
        from_location: from.map(str::to_owned),
        to_location: to.map(str::to_owned),
        reason: reason.map(str::to_owned),
        reference: None,
    }
    .validate()
    .expect("valid movement")
    .for_item(item_id)
}

pub(crate) fn receive(item_id: Uuid, quantity: i64, location: &str) -> NewMovement {
    movement(
        item_id,
        MovementKind::Receive,
        quantity,
        Some(location),
        None,
        None,
        None,
    )
}

pub(crate) fn issue(item_id: Uuid, quantity: i64, location: &str) -> NewMovement {
    movement(
        item_id,
        MovementKind::Issue,
        quantity,
        Some(location),
        None,
        None,
        None,
    )
}

pub(crate) fn transfer(item_id: Uuid, quantity: i64, from: &str, to: &str) -> NewMovement {
    movement(
        item_id,
        MovementKind::Transfer,
        quantity,
        None,
        Some(from),
        Some(to),
        None,
    )
}

pub(crate) fn adjust(item_id: Uuid, quantity: i64, location: &str) -> NewMovement {
    movement(
        item_id,
        MovementKind::Adjust,
        quantity,
        Some(location),
        None,
        None,
        Some("stock count"),
    )
}

/// Applies a batch without idempotency; a replay here is a contract breach.
pub(crate) async fn apply(
    store: &S,
    actor: &Actor,
    batch: Vec<NewMovement>,
) -> Result<Vec<MovementResult>> {
    match store.apply_movements(batch, actor, None).await {
        Ok(Created::New(v)) => Ok(v),
        Ok(Created::Replay(r)) => panic!("a batch without idempotency was replayed: {r:?}"),
        Err(e) => Err(e),
    }
}

pub(crate) async fn apply_ok(
    store: &S,
    actor: &Actor,
    batch: Vec<NewMovement>,
) -> Vec<MovementResult> {
    apply(store, actor, batch).await.expect("apply_movements")
}

/// Splits an `AtIndex` error into its index and cause.
pub(crate) fn at_index(e: Error) -> (usize, Error) {
    match e {
        Error::AtIndex { index, source } => (index, *source),
        other => panic!("expected Error::AtIndex, got {other:?}"),
    }
}

pub(crate) fn location_balance(locations: &[LocationBalance], code: &str) -> i64 {
    locations
        .iter()
        .filter(|l| l.location == code)
        .map(|l| l.on_hand)
        .sum()
}

/// Balances that must agree: item totals, per-location stock, the ledger.
pub(crate) async fn assert_consistent(store: &S, item_id: Uuid) -> i64 {
    let item = store.get_item(item_id).await.expect("get_item");
    let report = store.item_stock(item_id, None).await.expect("item_stock");
    let ledger = store.ledger_sum(item_id).await.expect("ledger_sum");
    assert_eq!(
        ledger, item.on_hand,
        "ledger_sum must equal on_hand for {}",
        item.sku
    );
    assert_eq!(
        report.on_hand, item.on_hand,
        "stock report total vs item on_hand"
    );
    let sum: i64 = report.locations.iter().map(|l| l.on_hand).sum();
    assert_eq!(
        sum, item.on_hand,
        "per-location balances must add up to on_hand"
    );
    for l in &report.locations {
        assert!(l.on_hand >= 0, "negative stock at {}: {l:?}", l.location);
        assert_eq!(l.available, l.on_hand - l.reserved);
    }
    assert_eq!(item.available, item.on_hand - item.reserved);
    item.on_hand
}

pub(crate) async fn movements_of(store: &S, item_id: Uuid) -> Vec<Movement> {
    store
        .list_movements(&MovementQuery {
            item_id: Some(item_id),
            limit: 500,
            ..Default::default()
        })
        .await
        .expect("list_movements")
        .rows
}

pub(crate) fn skus(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.sku.clone()).collect()
}

pub(crate) async fn list_skus(store: &S, query: ItemQuery) -> Vec<String> {
    let page = store.list_items(&query).await.expect("list_items");
    let mut out = skus(&page.rows);
    out.sort();
    out
}

pub(crate) fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Pages through items with `query` (its `after` is overwritten).
pub(crate) async fn page_all_items(store: &S, mut query: ItemQuery) -> Vec<Page<Item>> {
    query.after = None;
    let mut pages = Vec::new();
    loop {
        let page = store.list_items(&query).await.expect("list_items page");
        let next = page.next_cursor.clone();
        pages.push(page);
        assert!(pages.len() < 1000, "paging does not end");
        match next {
            Some(key) => {
                query.after = Some(ItemCursor {
                    sort: query.sort,
                    key,
                })
            }
            None => return pages,
        }
    }
}

pub(crate) fn item_key(sort: ItemSort, item: &Item) -> String {
    match sort {
        ItemSort::SkuAsc | ItemSort::SkuDesc => item.sku.clone(),
        ItemSort::CreatedAsc | ItemSort::CreatedDesc => item.id.to_string(),
    }
}

pub(crate) async fn pause() {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

/// An instant strictly between what was written before and what comes after.
pub(crate) async fn instant_between() -> DateTime<Utc> {
    pause().await;
    let t = Utc::now();
    pause().await;
    t
}

pub(crate) fn render_item() -> Render<Item> {
    Arc::new(|v: &Item| serde_json::to_string(v).expect("render item"))
}

pub(crate) fn render_results() -> Render<Vec<MovementResult>> {
    Arc::new(|v: &Vec<MovementResult>| serde_json::to_string(v).expect("render movements"))
}

pub(crate) fn idem<T>(user_id: Uuid, key: &str, hash: &str, render: Render<T>) -> Idempotency<T> {
    Idempotency {
        user_id,
        key: key.to_owned(),
        request_hash: hash.to_owned(),
        status: 201,
        render,
    }
}

pub(crate) fn assert_conflict<T: Debug>(result: Result<T>, kind: ConflictKind) {
    match result {
        Err(Error::Conflict { kind: k, .. }) if k == kind => {}
        other => panic!("expected Conflict {kind:?}, got {other:?}"),
    }
}

pub(crate) fn assert_not_found<T: Debug>(result: Result<T>) {
    match result {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}
