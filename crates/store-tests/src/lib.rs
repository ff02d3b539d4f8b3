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

type S = Arc<dyn Store>;

fn created<T: Debug>(result: Result<Created<T>>, what: &str) -> T {
    match result {
        Ok(Created::New(v)) => v,
        other => panic!("{what}: expected Created::New, got {other:?}"),
    }
}

fn item_spec(sku: &str, name: &str, category: Option<&str>, reorder_point: i64) -> NewItem {
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
    .validate()
    .expect("valid item")
}

async fn new_item(store: &S, sku: &str) -> Item {
    created(
        store
            .create_item(item_spec(sku, &format!("Item {sku}"), None, 0), None)
            .await,
        "create_item",
    )
}

async fn add_item(store: &S, spec: NewItem) -> Item {
    created(store.create_item(spec, None).await, "create_item")
}

async fn new_location(store: &S, code: &str) -> Location {
    let spec = CreateLocation {
        code: code.to_owned(),
        name: format!("Location {code}"),
    }
    .validate()
    .expect("valid location");
    created(store.create_location(spec, None).await, "create_location")
}

async fn new_actor(store: &S, username: &str) -> Actor {
    let user = created(
        store
            .create_user(
                username,
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
                Role::Clerk,
                None,
            )
            .await,
        "create_user",
    );
    Actor {
        user_id: user.id,
        username: user.username,
        role: user.role,
    }
}

fn movement(
    item_id: Uuid,
    kind: MovementKind,
    quantity: i64,
    location: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    reason: Option<&str>,
) -> NewMovement {
    CreateMovement {
        item_id,
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
}

fn receive(item_id: Uuid, quantity: i64, location: &str) -> NewMovement {
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

fn issue(item_id: Uuid, quantity: i64, location: &str) -> NewMovement {
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

fn transfer(item_id: Uuid, quantity: i64, from: &str, to: &str) -> NewMovement {
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

fn adjust(item_id: Uuid, quantity: i64, location: &str) -> NewMovement {
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
async fn apply(store: &S, actor: &Actor, batch: Vec<NewMovement>) -> Result<Vec<MovementResult>> {
    match store.apply_movements(batch, actor, None).await {
        Ok(Created::New(v)) => Ok(v),
        Ok(Created::Replay(r)) => panic!("a batch without idempotency was replayed: {r:?}"),
        Err(e) => Err(e),
    }
}

async fn apply_ok(store: &S, actor: &Actor, batch: Vec<NewMovement>) -> Vec<MovementResult> {
    apply(store, actor, batch).await.expect("apply_movements")
}

/// Splits an `AtIndex` error into its index and cause.
fn at_index(e: Error) -> (usize, Error) {
    match e {
        Error::AtIndex { index, source } => (index, *source),
        other => panic!("expected Error::AtIndex, got {other:?}"),
    }
}

fn location_balance(locations: &[LocationBalance], code: &str) -> i64 {
    locations
        .iter()
        .filter(|l| l.location == code)
        .map(|l| l.on_hand)
        .sum()
}

/// Balances that must agree: item totals, per-location stock, the ledger.
async fn assert_consistent(store: &S, item_id: Uuid) -> i64 {
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

async fn movements_of(store: &S, item_id: Uuid) -> Vec<Movement> {
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

fn skus(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.sku.clone()).collect()
}

async fn list_skus(store: &S, query: ItemQuery) -> Vec<String> {
    let page = store.list_items(&query).await.expect("list_items");
    let mut out = skus(&page.rows);
    out.sort();
    out
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Pages through items with `query` (its `after` is overwritten).
async fn page_all_items(store: &S, mut query: ItemQuery) -> Vec<Page<Item>> {
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

fn item_key(sort: ItemSort, item: &Item) -> String {
    match sort {
        ItemSort::SkuAsc | ItemSort::SkuDesc => item.sku.clone(),
        ItemSort::CreatedAsc | ItemSort::CreatedDesc => item.id.to_string(),
    }
}

async fn pause() {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

/// An instant strictly between what was written before and what comes after.
async fn instant_between() -> DateTime<Utc> {
    pause().await;
    let t = Utc::now();
    pause().await;
    t
}

fn render_item() -> Render<Item> {
    Arc::new(|v: &Item| serde_json::to_string(v).expect("render item"))
}

fn render_results() -> Render<Vec<MovementResult>> {
    Arc::new(|v: &Vec<MovementResult>| serde_json::to_string(v).expect("render movements"))
}

fn idem<T>(user_id: Uuid, key: &str, hash: &str, render: Render<T>) -> Idempotency<T> {
    Idempotency {
        user_id,
        key: key.to_owned(),
        request_hash: hash.to_owned(),
        status: 201,
        render,
    }
}

fn assert_conflict<T: Debug>(result: Result<T>, kind: ConflictKind) {
    match result {
        Err(Error::Conflict { kind: k, .. }) if k == kind => {}
        other => panic!("expected Conflict {kind:?}, got {other:?}"),
    }
}

fn assert_not_found<T: Debug>(result: Result<T>) {
    match result {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

// ================================================================ basics

pub async fn ping_answers(store: S) {
    store.ping().await.expect("ping");
    assert!(!store.backend().is_empty());
    assert_eq!(
        store.count_users().await.unwrap(),
        0,
        "a fresh store has no users"
    );
    assert_eq!(
        store.count_items().await.unwrap(),
        0,
        "a fresh store has no items"
    );
}

// ================================================================ items

pub async fn item_round_trip(store: S) {
    let mut attributes = Map::new();
    attributes.insert("color".into(), json!("blue"));
    attributes.insert("dims".into(), json!({"w": 10, "h": 2.5, "unit": "cm"}));
    attributes.insert("tags".into(), json!(["a", "b", "ü"]));
    attributes.insert("fragile".into(), json!(true));
    attributes.insert("note".into(), Value::Null);
    let spec = CreateItem {
        sku: "RT-1".into(),
        name: "Round trip ✓".into(),
        description: Some("Two\nlines".into()),
        category: Some("tools".into()),
        unit: Some("box".into()),
        reorder_point: Some(7),
        unit_cost: Some("1234567.8901".into()),
        attributes: Some(attributes.clone()),
    }
    .validate()
    .unwrap();
    assert_eq!(spec.unit_cost, 12_345_678_901);
    let before = Utc::now() - Duration::seconds(1);
    let item = add_item(&store, spec.clone()).await;
    let after = Utc::now() + Duration::seconds(1);

    assert_eq!(item.sku, "RT-1");
    assert_eq!(item.name, "Round trip ✓");
    assert_eq!(item.description.as_deref(), Some("Two\nlines"));
    assert_eq!(item.category.as_deref(), Some("tools"));
    assert_eq!(item.unit, "box");
    assert_eq!(item.reorder_point, 7);
    assert_eq!(item.unit_cost, 12_345_678_901);
    assert_eq!(item.attributes, attributes);
    assert!(!item.archived);
    assert_eq!((item.on_hand, item.reserved, item.available), (0, 0, 0));
    assert_eq!(item.version, 1);
    assert_eq!(item.created_at, item.updated_at);
    assert!(
        item.created_at > before && item.created_at < after,
        "created_at is now"
    );

    let got = store.get_item(item.id).await.unwrap();
    assert_eq!(
        got, item,
        "get_item returns exactly what create_item returned"
    );
    assert_eq!(format_unit_cost(got.unit_cost), "1234567.8901");

    // Defaults and the smallest cost survive too.
    let plain = CreateItem {
        sku: "RT-2".into(),
        name: "Plain".into(),
        description: None,
        category: None,
        unit: None,
        reorder_point: None,
        unit_cost: Some("0.0001".into()),
        attributes: None,
    }
    .validate()
    .unwrap();
    let plain = add_item(&store, plain).await;
    let got = store.get_item(plain.id).await.unwrap();
    assert_eq!(got, plain);
    assert_eq!(got.unit, "pcs");
    assert_eq!(got.unit_cost, 1);
    assert_eq!(got.description, None);
    assert_eq!(got.category, None);
    assert!(got.attributes.is_empty());
    assert_ne!(got.id, item.id);
    assert_eq!(store.count_items().await.unwrap(), 2);
}

pub async fn duplicate_sku_conflicts(store: S) {
    let first = new_item(&store, "DUP-1").await;
    let again = store
        .create_item(item_spec("DUP-1", "Another name", Some("x"), 3), None)
        .await;
    assert_conflict(again, ConflictKind::DuplicateSku);
    assert_eq!(store.count_items().await.unwrap(), 1);
    assert_eq!(
        store.get_item(first.id).await.unwrap(),
        first,
        "the first item is untouched"
    );
    // The sku stays taken after archiving: it is the item's identity.
    store.archive_item(first.id, None).await.unwrap();
    let again = store
        .create_item(item_spec("DUP-1", "Third", None, 0), None)
        .await;
    assert_conflict(again, ConflictKind::DuplicateSku);
}

pub async fn unknown_item_is_not_found(store: S) {
    let ghost = Uuid::now_v7();
    assert_not_found(store.get_item(ghost).await);
    assert_not_found(
        store
            .update_item(ghost, patch(json!({"name": "x"})), None)
            .await,
    );
    assert_not_found(store.archive_item(ghost, None).await);
    assert_not_found(store.item_stock(ghost, None).await);
    assert_not_found(store.get_location(ghost).await);
}

fn patch(v: Value) -> ItemPatch {
    serde_json::from_value(v).expect("valid item patch")
}

pub async fn update_item_merge_patch_bumps_version(store: S) {
    let spec = CreateItem {
        sku: "UP-1".into(),
        name: "Original".into(),
        description: Some("to be cleared".into()),
        category: Some("cat".into()),
        unit: Some("kg".into()),
        reorder_point: Some(4),
        unit_cost: Some("9.99".into()),
        attributes: Some(
            json!({"color": "blue", "size": "L", "nested": {"a": 1, "b": 2}})
                .as_object()
                .unwrap()
                .clone(),
        ),
    }
    .validate()
    .unwrap();
    let item = add_item(&store, spec).await;

    let updated = store
        .update_item(
            item.id,
            patch(json!({
                "name": "Renamed",
                "description": null,
                "unit_cost": "2.5",
                "attributes": {"color": "red", "size": null, "nested": {"b": null, "c": 3}}
            })),
            None,
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2, "an update bumps the version");
    assert_eq!(updated.name, "Renamed");
    assert_eq!(updated.description, None, "null clears a field");
    assert_eq!(
        updated.category.as_deref(),
        Some("cat"),
        "absent fields stay"
    );
    assert_eq!(updated.unit, "kg");
    assert_eq!(updated.reorder_point, 4);
    assert_eq!(updated.unit_cost, 25_000);
    assert_eq!(
        Value::Object(updated.attributes.clone()),
        json!({"color": "red", "nested": {"a": 1, "c": 3}}),
        "attributes merge as RFC 7396 says"
    );
    assert_eq!(updated.sku, item.sku);
    assert_eq!(updated.created_at, item.created_at);
    assert!(updated.updated_at >= item.updated_at);
    assert_eq!(
        store.get_item(item.id).await.unwrap(),
        updated,
        "the update was stored"
    );

    // With the current version the update goes through.
    let again = store
        .update_item(item.id, patch(json!({"reorder_point": 12})), Some(2))
        .await
        .unwrap();
    assert_eq!(again.version, 3);
    assert_eq!(again.reorder_point, 12);
    assert_eq!(again.name, "Renamed");
    assert_eq!(store.get_item(item.id).await.unwrap(), again);
}

pub async fn update_item_stale_version_changes_nothing(store: S) {
    let item = new_item(&store, "STALE-1").await;
    let v2 = store
        .update_item(item.id, patch(json!({"name": "Second"})), Some(1))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let stale = store
        .update_item(
            item.id,
            patch(json!({"name": "Lost update", "reorder_point": 99})),
            Some(1),
        )
        .await;
    assert!(
        matches!(stale, Err(Error::PreconditionFailed)),
        "a stale if_version must fail, got {stale:?}"
    );
    assert_eq!(
        store.get_item(item.id).await.unwrap(),
        v2,
        "nothing changed"
    );

    let stale_archive = store.archive_item(item.id, Some(1)).await;
    assert!(
        matches!(stale_archive, Err(Error::PreconditionFailed)),
        "archive with a stale if_version must fail, got {stale_archive:?}"
    );
    assert!(!store.get_item(item.id).await.unwrap().archived);

    // An invalid patch changes nothing either.
    let invalid = store
        .update_item(item.id, patch(json!({"name": null})), None)
        .await;
    assert!(
        matches!(invalid, Err(Error::Validation(_))),
        "got {invalid:?}"
    );
    assert_eq!(store.get_item(item.id).await.unwrap(), v2);
}

// ================================================================ archive

pub async fn archive_refuses_item_with_stock(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "ARC-1").await;
    apply_ok(&store, &actor, vec![receive(item.id, 5, MAIN_LOCATION)]).await;
    let before = store.get_item(item.id).await.unwrap();
    assert_conflict(
        store.archive_item(item.id, None).await,
        ConflictKind::ItemHasStock,
    );
    let after = store.get_item(item.id).await.unwrap();
    assert!(!after.archived);
    assert_eq!(after, before, "a refused archive changes nothing");

    apply_ok(&store, &actor, vec![issue(item.id, 5, MAIN_LOCATION)]).await;
    let current = store.get_item(item.id).await.unwrap();
    assert!(
        store
            .archive_item(item.id, Some(current.version))
            .await
            .unwrap(),
        "archive_item reports that this call archived the item"
    );
    assert!(store.get_item(item.id).await.unwrap().archived);
    assert!(
        !store.archive_item(item.id, None).await.unwrap(),
        "archiving an archived item again reports false"
    );
    assert!(store.get_item(item.id).await.unwrap().archived);
    assert_eq!(assert_consistent(&store, item.id).await, 0);
}

pub async fn archived_item_is_hidden_and_takes_no_movements(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let gone = new_item(&store, "HIDE-1").await;
    let kept = new_item(&store, "HIDE-2").await;
    apply_ok(
        &store,
        &actor,
        vec![
            receive(gone.id, 3, MAIN_LOCATION),
            issue(gone.id, 3, MAIN_LOCATION),
        ],
    )
    .await;
    assert_eq!(store.count_items().await.unwrap(), 2);

    assert!(store.archive_item(gone.id, None).await.unwrap());
    let archived = store.get_item(gone.id).await.unwrap();
    assert!(archived.archived, "get_item still returns an archived item");
    assert_eq!(
        store.count_items().await.unwrap(),
        1,
        "count_items excludes archived items"
    );
    assert_eq!(
        store.count_all_items().await.unwrap(),
        2,
        "count_all_items includes archived items"
    );

    let listed = store.list_items(&ItemQuery::default()).await.unwrap();
    assert_eq!(skus(&listed.rows), vec!["HIDE-2".to_owned()]);
    let all = store
        .list_items(&ItemQuery {
            include_archived: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(skus(&all.rows), strings(&["HIDE-1", "HIDE-2"]));
    assert!(all.rows[0].archived && !all.rows[1].archived);
    let by_sku = store
        .list_items(&ItemQuery {
            sku: Some("HIDE-1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        by_sku.rows.is_empty(),
        "an sku filter does not reveal archived items"
    );

    let ledger_before = movements_of(&store, gone.id).await.len();
    let err = apply(&store, &actor, vec![receive(gone.id, 1, MAIN_LOCATION)])
        .await
        .expect_err("an archived item takes no movement");
    let (index, cause) = at_index(err);
    assert_eq!(index, 0);
    assert!(
        matches!(
            cause,
            Error::Conflict {
                kind: ConflictKind::ItemArchived,
                ..
            }
        ),
        "got {cause:?}"
    );
    // Nor as the second entry of a batch whose first is fine.
    let err = apply(
        &store,
        &actor,
        vec![
            receive(kept.id, 1, MAIN_LOCATION),
            receive(gone.id, 1, MAIN_LOCATION),
        ],
    )
    .await
    .expect_err("an archived item takes no movement");
    let (index, cause) = at_index(err);
    assert_eq!(index, 1);
    assert!(
        matches!(
            cause,
            Error::Conflict {
                kind: ConflictKind::ItemArchived,
                ..
            }
        ),
        "got {cause:?}"
    );
    assert_eq!(movements_of(&store, gone.id).await.len(), ledger_before);
    assert_eq!(assert_consistent(&store, gone.id).await, 0);
    assert_eq!(
        assert_consistent(&store, kept.id).await,
        0,
        "the batch was rolled back"
    );
}

// ================================================================ locations

pub async fn main_location_exists(store: S) {
    let page = store.list_locations(None, 100).await.unwrap();
    assert_eq!(
        page.rows.len(),
        1,
        "a fresh store holds exactly MAIN: {:?}",
        page.rows
    );
    let main = &page.rows[0];
    assert_eq!(main.code, MAIN_LOCATION);
    assert!(page.next_cursor.is_none());
    assert_eq!(&store.get_location(main.id).await.unwrap(), main);
    // MAIN keeps its code, but may be renamed.
    let err = store
        .update_location(
            main.id,
            LocationPatch {
                code: Some(Some("OTHER".into())),
                name: None,
            },
        )
        .await;
    assert!(matches!(err, Err(Error::Validation(_))), "got {err:?}");
    assert_eq!(&store.get_location(main.id).await.unwrap(), main);
    let renamed = store
        .update_location(
            main.id,
            LocationPatch {
                code: None,
                name: Some(Some("Head office".into())),
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.code, MAIN_LOCATION);
    assert_eq!(renamed.name, "Head office");
}

pub async fn main_location_code_patch_is_normalised(store: S) {
    let main = store.list_locations(None, 10).await.unwrap().rows.remove(0);
    assert_eq!(main.code, MAIN_LOCATION);
    // "main" normalises to MAIN, so the patch keeps MAIN's code and is allowed.
    let patched = store
        .update_location(
            main.id,
            LocationPatch {
                code: Some(Some(" main ".into())),
                name: Some(Some("Main store".into())),
            },
        )
        .await
        .expect("a patch whose code normalises to MAIN keeps MAIN's code");
    assert_eq!(patched.code, MAIN_LOCATION);
    assert_eq!(patched.name, "Main store");
    assert_eq!(store.get_location(main.id).await.unwrap(), patched);
}

pub async fn location_create_duplicate_update(store: S) {
    let spec = CreateLocation {
        code: " wh-2 ".into(),
        name: "Warehouse 2".into(),
    }
    .validate()
    .unwrap();
    let loc = created(store.create_location(spec, None).await, "create_location");
    assert_eq!(loc.code, "WH-2");
    assert_eq!(loc.name, "Warehouse 2");
    assert_eq!(loc.created_at, loc.updated_at);
    assert_eq!(store.get_location(loc.id).await.unwrap(), loc);

    let dup = CreateLocation {
        code: "wh-2".into(),
        name: "Again".into(),
    }
    .validate()
    .unwrap();
    assert_conflict(
        store.create_location(dup, None).await,
        ConflictKind::DuplicateLocationCode,
    );
    assert_eq!(store.list_locations(None, 100).await.unwrap().rows.len(), 2);

    let renamed = store
        .update_location(
            loc.id,
            LocationPatch {
                code: None,
                name: Some(Some("Second warehouse".into())),
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Second warehouse");
    assert_eq!(renamed.code, "WH-2");
    assert_eq!(renamed.created_at, loc.created_at);
    assert!(renamed.updated_at >= loc.updated_at);
    assert_eq!(store.get_location(loc.id).await.unwrap(), renamed);

    let recoded = store
        .update_location(
            loc.id,
            LocationPatch {
                code: Some(Some("wh-3".into())),
                name: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(recoded.code, "WH-3");
    assert_eq!(recoded.name, "Second warehouse");
    assert_eq!(store.get_location(loc.id).await.unwrap(), recoded);

    let other = new_location(&store, "X1").await;
    let clash = store
        .update_location(
            other.id,
            LocationPatch {
                code: Some(Some("WH-3".into())),
                name: None,
            },
        )
        .await;
    assert_conflict(clash, ConflictKind::DuplicateLocationCode);
    assert_eq!(store.get_location(other.id).await.unwrap(), other);

    assert_not_found(
        store
            .update_location(Uuid::now_v7(), LocationPatch::default())
            .await,
    );
}

pub async fn location_list_paging(store: S) {
    for code in ["L05", "L02", "L07", "L01", "L06", "L03", "L04"] {
        new_location(&store, code).await;
    }
    let expected = strings(&["L01", "L02", "L03", "L04", "L05", "L06", "L07", "MAIN"]);
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store.list_locations(after.as_deref(), 3).await.unwrap();
        pages += 1;
        assert!(page.rows.len() <= 3);
        seen.extend(page.rows.iter().map(|l| l.code.clone()));
        match page.next_cursor {
            Some(c) => {
                assert_eq!(
                    Some(&c),
                    page.rows.last().map(|l| &l.code),
                    "cursor is the last code"
                );
                after = Some(c);
            }
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);
    let page = store.list_locations(Some("L03"), 2).await.unwrap();
    assert_eq!(
        page.rows
            .iter()
            .map(|l| l.code.as_str())
            .collect::<Vec<_>>(),
        ["L04", "L05"]
    );
    let page = store.list_locations(None, 8).await.unwrap();
    assert_eq!(page.rows.len(), 8);
    assert!(page.next_cursor.is_none(), "no cursor when nothing follows");
}

// ================================================================ movements

pub async fn movement_arithmetic_per_location(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "WH").await;
    let item = new_item(&store, "MOV-1").await;
    let id = item.id;

    let check = |r: &MovementResult, on_hand: i64, touched: &[(&str, i64)]| {
        assert_eq!(r.balances.item_id, id);
        assert_eq!(r.balances.sku, "MOV-1");
        assert_eq!(
            r.balances.on_hand, on_hand,
            "total after {:?}",
            r.movement.kind
        );
        assert_eq!(r.balances.reserved, 0);
        assert_eq!(r.balances.available, on_hand);
        let mut got: Vec<(String, i64)> = r
            .balances
            .locations
            .iter()
            .map(|l| (l.location.clone(), l.on_hand))
            .collect();
        got.sort();
        let mut want: Vec<(String, i64)> =
            touched.iter().map(|(c, q)| ((*c).to_owned(), *q)).collect();
        want.sort();
        assert_eq!(got, want, "balances of the touched locations");
        assert_eq!(r.movement.item_id, id);
        assert_eq!(r.movement.created_by, "clerk");
    };

    let mut returned = Vec::new();
    let r = apply_ok(&store, &actor, vec![receive(id, 100, MAIN_LOCATION)]).await;
    assert_eq!(r.len(), 1);
    check(&r[0], 100, &[("MAIN", 100)]);
    returned.push(r[0].movement.clone());
    assert_eq!(r[0].movement.kind, MovementKind::Receive);
    assert_eq!(r[0].movement.quantity, 100);
    assert_eq!(r[0].movement.location.as_deref(), Some("MAIN"));
    assert_eq!(assert_consistent(&store, id).await, 100);

    let r = apply_ok(&store, &actor, vec![receive(id, 30, "wh")]).await;
    check(&r[0], 130, &[("WH", 30)]);
    returned.push(r[0].movement.clone());
    assert_eq!(r[0].movement.location.as_deref(), Some("WH"));
    assert_eq!(assert_consistent(&store, id).await, 130);

    let r = apply_ok(&store, &actor, vec![issue(id, 20, MAIN_LOCATION)]).await;
    check(&r[0], 110, &[("MAIN", 80)]);
    returned.push(r[0].movement.clone());
    assert_eq!(r[0].movement.kind, MovementKind::Issue);
    assert_eq!(
        r[0].movement.quantity, 20,
        "issue quantities are stored positive"
    );
    assert_eq!(assert_consistent(&store, id).await, 110);

    let r = apply_ok(&store, &actor, vec![transfer(id, 25, MAIN_LOCATION, "WH")]).await;
    check(&r[0], 110, &[("MAIN", 55), ("WH", 55)]);
    returned.push(r[0].movement.clone());
    let m = &r[0].movement;
    assert_eq!(m.kind, MovementKind::Transfer);
    assert_eq!(m.location, None);
    assert_eq!(m.from_location.as_deref(), Some("MAIN"));
    assert_eq!(m.to_location.as_deref(), Some("WH"));
    assert_eq!(assert_consistent(&store, id).await, 110);

    let r = apply_ok(&store, &actor, vec![adjust(id, -5, "WH")]).await;
    check(&r[0], 105, &[("WH", 50)]);
    returned.push(r[0].movement.clone());
    assert_eq!(r[0].movement.quantity, -5, "adjustments keep their sign");
    assert_eq!(r[0].movement.reason.as_deref(), Some("stock count"));
    assert_eq!(assert_consistent(&store, id).await, 105);

    let mut with_ref = adjust(id, 3, MAIN_LOCATION);
    with_ref.reference = Some("PO-42".into());
    let r = apply_ok(&store, &actor, vec![with_ref]).await;
    check(&r[0], 108, &[("MAIN", 58)]);
    returned.push(r[0].movement.clone());
    assert_eq!(r[0].movement.reference.as_deref(), Some("PO-42"));
    assert_eq!(assert_consistent(&store, id).await, 108);

    let report = store.item_stock(id, None).await.unwrap();
    assert_eq!(report.item_id, id);
    assert_eq!(report.sku, "MOV-1");
    assert_eq!(report.as_of, None);
    assert_eq!(location_balance(&report.locations, "MAIN"), 58);
    assert_eq!(location_balance(&report.locations, "WH"), 50);
    assert_eq!(
        (report.on_hand, report.reserved, report.available),
        (108, 0, 108)
    );
    let item = store.get_item(id).await.unwrap();
    assert_eq!((item.on_hand, item.available), (108, 108));
    assert_eq!(
        item.version, 1,
        "stock changes do not touch the editable version"
    );

    // The ledger lists exactly what was returned, in order.
    assert_eq!(movements_of(&store, id).await, returned);
}

pub async fn movement_batch_results_are_cumulative(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "WH").await;
    let item = new_item(&store, "BATCH-1").await;
    let id = item.id;
    let results = apply_ok(
        &store,
        &actor,
        vec![
            receive(id, 100, MAIN_LOCATION),
            receive(id, 30, "WH"),
            issue(id, 20, MAIN_LOCATION),
            transfer(id, 25, MAIN_LOCATION, "WH"),
            adjust(id, -5, "WH"),
            adjust(id, 3, MAIN_LOCATION),
        ],
    )
    .await;
    assert_eq!(results.len(), 6, "one result per entry, in order");
    let totals: Vec<i64> = results.iter().map(|r| r.balances.on_hand).collect();
    assert_eq!(totals, [100, 130, 110, 110, 105, 108]);
    let kinds: Vec<MovementKind> = results.iter().map(|r| r.movement.kind).collect();
    assert_eq!(
        kinds,
        [
            MovementKind::Receive,
            MovementKind::Receive,
            MovementKind::Issue,
            MovementKind::Transfer,
            MovementKind::Adjust,
            MovementKind::Adjust
        ]
    );
    assert_eq!(location_balance(&results[3].balances.locations, "MAIN"), 55);
    assert_eq!(location_balance(&results[3].balances.locations, "WH"), 55);
    for pair in results.windows(2) {
        assert!(
            pair[0].movement.seq < pair[1].movement.seq,
            "seq follows batch order"
        );
    }
    assert_eq!(assert_consistent(&store, id).await, 108);
    let listed = movements_of(&store, id).await;
    let returned: Vec<Movement> = results.iter().map(|r| r.movement.clone()).collect();
    assert_eq!(
        listed, returned,
        "list_movements returns the movements as recorded"
    );
}

pub async fn issue_beyond_available_writes_nothing(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "WH").await;
    let item = new_item(&store, "SHORT-1").await;
    let id = item.id;
    apply_ok(&store, &actor, vec![receive(id, 10, MAIN_LOCATION)]).await;

    let expect_short = |e: Error, location: &str, available: i64, requested: i64| {
        let (index, cause) = at_index(e);
        assert_eq!(index, 0);
        match cause {
            Error::InsufficientStock {
                location: l,
                available: a,
                requested: r,
            } => {
                assert_eq!(l, location);
                assert_eq!(a, available, "available");
                assert_eq!(r, requested, "requested");
            }
            other => panic!("expected InsufficientStock, got {other:?}"),
        }
    };
    let e = apply(&store, &actor, vec![issue(id, 11, MAIN_LOCATION)])
        .await
        .unwrap_err();
    expect_short(e, "MAIN", 10, 11);
    let e = apply(&store, &actor, vec![issue(id, 1, "WH")])
        .await
        .unwrap_err();
    expect_short(e, "WH", 0, 1);
    let e = apply(&store, &actor, vec![transfer(id, 11, MAIN_LOCATION, "WH")])
        .await
        .unwrap_err();
    expect_short(e, "MAIN", 10, 11);
    let e = apply(&store, &actor, vec![adjust(id, -11, MAIN_LOCATION)])
        .await
        .unwrap_err();
    expect_short(e, "MAIN", 10, 11);

    assert_eq!(
        store.ledger_sum(id).await.unwrap(),
        10,
        "nothing was written"
    );
    assert_eq!(assert_consistent(&store, id).await, 10);
    let report = store.item_stock(id, None).await.unwrap();
    assert_eq!(location_balance(&report.locations, "MAIN"), 10);
    assert_eq!(location_balance(&report.locations, "WH"), 0);
    assert_eq!(movements_of(&store, id).await.len(), 1);

    // Exactly what is available may go.
    let r = apply_ok(&store, &actor, vec![issue(id, 10, MAIN_LOCATION)]).await;
    assert_eq!(r[0].balances.on_hand, 0);
    assert_eq!(assert_consistent(&store, id).await, 0);
}

pub async fn batch_is_all_or_none(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "WH").await;
    let item = new_item(&store, "ATOM-1").await;
    let other = new_item(&store, "ATOM-2").await;
    let id = item.id;

    let e = apply(
        &store,
        &actor,
        vec![
            receive(id, 10, MAIN_LOCATION),
            transfer(id, 4, MAIN_LOCATION, "WH"),
            issue(id, 5, "WH"),
        ],
    )
    .await
    .unwrap_err();
    let (index, cause) = at_index(e);
    assert_eq!(index, 2, "the error names the failing entry");
    match cause {
        Error::InsufficientStock {
            location,
            available,
            requested,
        } => {
            assert_eq!(location, "WH");
            assert_eq!(requested, 5);
            assert!(available < 5, "available {available}");
        }
        other => panic!("expected InsufficientStock, got {other:?}"),
    }
    assert_eq!(
        store.ledger_sum(id).await.unwrap(),
        0,
        "no trace of entries 0 and 1"
    );
    assert_eq!(assert_consistent(&store, id).await, 0);
    let report = store.item_stock(id, None).await.unwrap();
    assert_eq!(location_balance(&report.locations, "MAIN"), 0);
    assert_eq!(location_balance(&report.locations, "WH"), 0);
    assert!(movements_of(&store, id).await.is_empty());

    // A failure over several items rolls them all back.
    let e = apply(
        &store,
        &actor,
        vec![
            receive(other.id, 7, MAIN_LOCATION),
            receive(id, 3, MAIN_LOCATION),
            issue(other.id, 8, MAIN_LOCATION),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(at_index(e).0, 2);
    assert_eq!(assert_consistent(&store, other.id).await, 0);
    assert_eq!(assert_consistent(&store, id).await, 0);
    assert!(movements_of(&store, other.id).await.is_empty());

    // A batch that fails validation in the store mid-way also leaves nothing.
    let e = apply(
        &store,
        &actor,
        vec![receive(id, 10, MAIN_LOCATION), receive(id, 5, "NOWHERE")],
    )
    .await
    .unwrap_err();
    let (index, cause) = at_index(e);
    assert_eq!(index, 1);
    assert!(matches!(cause, Error::Validation(_)), "got {cause:?}");
    assert_eq!(assert_consistent(&store, id).await, 0);

    // And the same batch, fixed, goes through whole.
    let ok = apply_ok(
        &store,
        &actor,
        vec![
            receive(id, 10, MAIN_LOCATION),
            transfer(id, 4, MAIN_LOCATION, "WH"),
            issue(id, 4, "WH"),
        ],
    )
    .await;
    assert_eq!(ok.len(), 3);
    assert_eq!(assert_consistent(&store, id).await, 6);
    assert_eq!(movements_of(&store, id).await.len(), 3);
}

pub async fn unknown_location_or_item_is_rejected(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "UNK-1").await;
    let id = item.id;
    let validation_field = |e: Error| -> String {
        let (index, cause) = at_index(e);
        assert_eq!(index, 0);
        match cause {
            Error::Validation(fields) => {
                assert!(!fields.is_empty());
                fields[0].field.clone()
            }
            other => panic!("expected Validation, got {other:?}"),
        }
    };
    let e = apply(&store, &actor, vec![receive(id, 1, "NOWHERE")])
        .await
        .unwrap_err();
    assert!(validation_field(e).ends_with("location"));
    apply_ok(&store, &actor, vec![receive(id, 5, MAIN_LOCATION)]).await;
    let e = apply(
        &store,
        &actor,
        vec![transfer(id, 1, MAIN_LOCATION, "NOWHERE")],
    )
    .await
    .unwrap_err();
    assert!(validation_field(e).ends_with("to_location"));
    let e = apply(
        &store,
        &actor,
        vec![transfer(id, 1, "NOWHERE", MAIN_LOCATION)],
    )
    .await
    .unwrap_err();
    assert!(validation_field(e).ends_with("from_location"));
    assert_eq!(assert_consistent(&store, id).await, 5);
    assert_eq!(movements_of(&store, id).await.len(), 1);

    // A movement for an item that does not exist is refused, naming entry 0.
    let e = apply(
        &store,
        &actor,
        vec![receive(Uuid::now_v7(), 1, MAIN_LOCATION)],
    )
    .await
    .unwrap_err();
    let (index, cause) = at_index(e);
    assert_eq!(index, 0);
    assert!(
        matches!(cause, Error::Validation(_) | Error::NotFound(_)),
        "got {cause:?}"
    );
}

pub async fn seq_is_strictly_increasing(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let a = new_item(&store, "SEQ-A").await;
    let b = new_item(&store, "SEQ-B").await;
    let mut seqs = Vec::new();
    for i in 0..4 {
        let item = if i % 2 == 0 { a.id } else { b.id };
        let r = apply_ok(&store, &actor, vec![receive(item, 1, MAIN_LOCATION)]).await;
        seqs.push(r[0].movement.seq);
    }
    let r = apply_ok(
        &store,
        &actor,
        vec![
            receive(a.id, 1, MAIN_LOCATION),
            receive(b.id, 1, MAIN_LOCATION),
            issue(a.id, 1, MAIN_LOCATION),
        ],
    )
    .await;
    seqs.extend(r.iter().map(|r| r.movement.seq));
    for pair in seqs.windows(2) {
        assert!(pair[0] < pair[1], "seq must increase: {seqs:?}");
    }

    // Concurrent writers: every seq is distinct and the ledger reads in order.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..24 {
        let (store, actor) = (store.clone(), actor.clone());
        let item = if i % 2 == 0 { a.id } else { b.id };
        tasks.spawn(async move {
            apply_ok(&store, &actor, vec![receive(item, 1, MAIN_LOCATION)]).await[0]
                .movement
                .seq
        });
    }
    let mut concurrent = HashSet::new();
    while let Some(seq) = tasks.join_next().await {
        assert!(concurrent.insert(seq.unwrap()), "duplicate seq");
    }
    assert!(concurrent.iter().all(|s| s > seqs.last().unwrap()));
    let listed = store
        .list_movements(&MovementQuery {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .rows;
    assert_eq!(listed.len(), 31);
    for pair in listed.windows(2) {
        assert!(pair[0].seq < pair[1].seq, "ascending list is in seq order");
    }
    // a: 2 single receipts + 1 - 1 in the batch + 12 concurrent; b: 2 + 1 + 12.
    assert_eq!(assert_consistent(&store, a.id).await, 14);
    assert_eq!(assert_consistent(&store, b.id).await, 15);
}

// ================================================================ concurrency

pub async fn concurrent_issues_never_oversell(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "RACE-1").await;
    apply_ok(&store, &actor, vec![receive(item.id, 20, MAIN_LOCATION)]).await;

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (store, actor) = (store.clone(), actor.clone());
        let id = item.id;
        tasks.spawn(async move { apply(&store, &actor, vec![issue(id, 1, MAIN_LOCATION)]).await });
    }
    let (mut ok, mut short) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(r) => {
                ok += 1;
                assert!(r[0].balances.on_hand >= 0);
                assert!(r[0].balances.locations.iter().all(|l| l.on_hand >= 0));
            }
            Err(e) => {
                let (index, cause) = at_index(e);
                assert_eq!(index, 0);
                match cause {
                    Error::InsufficientStock {
                        available,
                        requested,
                        ..
                    } => {
                        assert_eq!(requested, 1);
                        assert_eq!(available, 0, "only an empty shelf refuses one unit");
                        short += 1;
                    }
                    other => panic!("expected InsufficientStock, got {other:?}"),
                }
            }
        }
    }
    assert_eq!((ok, short), (20, 30));
    let after = store.get_item(item.id).await.unwrap();
    assert_eq!(after.on_hand, 0);
    assert_eq!(store.ledger_sum(item.id).await.unwrap(), 0);
    assert_eq!(assert_consistent(&store, item.id).await, 0);
    assert_eq!(movements_of(&store, item.id).await.len(), 21);
}

pub async fn concurrent_transfers_conserve_stock(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "WH").await;
    let item = new_item(&store, "SWAP-1").await;
    let id = item.id;
    apply_ok(
        &store,
        &actor,
        vec![receive(id, 60, MAIN_LOCATION), receive(id, 60, "WH")],
    )
    .await;

    let done = Arc::new(AtomicBool::new(false));
    let observer = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let mut looks = 0u32;
            while !done.load(Ordering::Relaxed) || looks == 0 {
                let report = store.item_stock(id, None).await.expect("item_stock");
                assert_eq!(report.on_hand, 120, "the total never changes: {report:?}");
                let sum: i64 = report.locations.iter().map(|l| l.on_hand).sum();
                assert_eq!(sum, 120, "a consistent snapshot adds up: {report:?}");
                assert!(
                    report.locations.iter().all(|l| l.on_hand >= 0),
                    "{report:?}"
                );
                looks += 1;
                tokio::task::yield_now().await;
            }
            looks
        })
    };

    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..32i64 {
        let (store, actor) = (store.clone(), actor.clone());
        tasks.spawn(async move {
            let mut net_to_wh = 0i64;
            let mut refused = 0u32;
            for j in 0..10i64 {
                let qty = 1 + (t * 7 + j * 13) % 30;
                let to_wh = (t + j) % 2 == 0;
                let m = if to_wh {
                    transfer(id, qty, MAIN_LOCATION, "WH")
                } else {
                    transfer(id, qty, "WH", MAIN_LOCATION)
                };
                match apply(&store, &actor, vec![m]).await {
                    Ok(r) => {
                        assert_eq!(r[0].balances.on_hand, 120);
                        assert!(r[0].balances.locations.iter().all(|l| l.on_hand >= 0));
                        net_to_wh += if to_wh { qty } else { -qty };
                    }
                    Err(e) => {
                        let (index, cause) = at_index(e);
                        assert_eq!(index, 0);
                        match cause {
                            Error::InsufficientStock {
                                available,
                                requested,
                                ..
                            } => {
                                assert_eq!(requested, qty);
                                assert!(available < qty);
                            }
                            other => panic!("expected InsufficientStock, got {other:?}"),
                        }
                        refused += 1;
                    }
                }
            }
            (net_to_wh, refused)
        });
    }
    let mut net = 0;
    while let Some(r) = tasks.join_next().await {
        net += r.expect("transfer task").0;
    }
    done.store(true, Ordering::Relaxed);
    assert!(observer.await.expect("observer") > 0);

    let report = store.item_stock(id, None).await.unwrap();
    assert_eq!(report.on_hand, 120);
    assert_eq!(
        location_balance(&report.locations, "WH"),
        60 + net,
        "no lost update at WH"
    );
    assert_eq!(
        location_balance(&report.locations, MAIN_LOCATION),
        60 - net,
        "no lost update at MAIN"
    );
    assert_eq!(assert_consistent(&store, id).await, 120);
}

// ================================================================ item_stock

pub async fn item_stock_as_of(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "WH").await;
    let item = new_item(&store, "ASOF-1").await;
    let id = item.id;

    let t0 = instant_between().await;
    apply_ok(&store, &actor, vec![receive(id, 10, MAIN_LOCATION)]).await;
    let t1 = instant_between().await;
    apply_ok(&store, &actor, vec![transfer(id, 4, MAIN_LOCATION, "WH")]).await;
    let t2 = instant_between().await;
    apply_ok(
        &store,
        &actor,
        vec![issue(id, 3, "WH"), adjust(id, 2, MAIN_LOCATION)],
    )
    .await;
    let t3 = instant_between().await;
    apply_ok(&store, &actor, vec![adjust(id, -1, "WH")]).await;

    let at = |report: &StockReport| {
        (
            location_balance(&report.locations, MAIN_LOCATION),
            location_balance(&report.locations, "WH"),
            report.on_hand,
        )
    };
    let r0 = store.item_stock(id, Some(t0)).await.unwrap();
    assert_eq!(at(&r0), (0, 0, 0), "before any movement");
    let r1 = store.item_stock(id, Some(t1)).await.unwrap();
    assert_eq!(at(&r1), (10, 0, 10), "after the receipt");
    let r2 = store.item_stock(id, Some(t2)).await.unwrap();
    assert_eq!(at(&r2), (6, 4, 10), "after the transfer");
    let r3 = store.item_stock(id, Some(t3)).await.unwrap();
    assert_eq!(at(&r3), (8, 1, 9), "after the issue and the adjustment");
    assert_eq!(
        r3.as_of.map(|t| t.timestamp_micros()),
        Some(t3.timestamp_micros())
    );
    assert_eq!(r3.sku, "ASOF-1");
    assert_eq!(r3.available, r3.on_hand - r3.reserved);

    // as_of is inclusive: at a movement's own instant, it has happened.
    let last = movements_of(&store, id).await.pop().unwrap();
    let at_last = store.item_stock(id, Some(last.created_at)).await.unwrap();
    assert_eq!(
        at(&at_last),
        (8, 0, 8),
        "as_of at a movement's created_at includes it"
    );

    let now = store.item_stock(id, None).await.unwrap();
    assert_eq!(at(&now), (8, 0, 8));
    assert_eq!(now.as_of, None);
    let later = store
        .item_stock(id, Some(Utc::now() + Duration::hours(1)))
        .await
        .unwrap();
    assert_eq!(
        at(&later),
        (8, 0, 8),
        "as_of in the future equals the current balances"
    );
    assert_eq!(assert_consistent(&store, id).await, 8);
}

// ================================================================ list_items

async fn seed_catalogue(store: &S) -> BTreeMap<&'static str, Item> {
    let specs = [
        ("WIDGET-001", "Blue thing", Some("tools"), 0),
        ("WIDGET-002", "Red Widget", Some("tools"), 5),
        ("SPROCKET-1", "widget holder", Some("parts"), 3),
        ("GADGET-001", "Gizmo DELUXE", Some("toys"), 10),
        ("BOLT-10", "Hex bolt", None, 0),
    ];
    let mut out = BTreeMap::new();
    for (sku, name, category, rp) in specs {
        out.insert(
            sku,
            add_item(store, item_spec(sku, name, category, rp)).await,
        );
    }
    out
}

pub async fn list_items_filters(store: S) {
    seed_catalogue(&store).await;
    let q = |text: &str| ItemQuery {
        q: Some(text.to_owned()),
        ..Default::default()
    };
    assert_eq!(
        list_skus(&store, q("widget")).await,
        strings(&["SPROCKET-1", "WIDGET-001", "WIDGET-002"]),
        "q matches sku or name, case-insensitively"
    );
    assert_eq!(
        list_skus(&store, q("WIDGET")).await,
        strings(&["SPROCKET-1", "WIDGET-001", "WIDGET-002"])
    );
    assert_eq!(
        list_skus(&store, q("deluxe")).await,
        strings(&["GADGET-001"])
    );
    assert_eq!(list_skus(&store, q("gad")).await, strings(&["GADGET-001"]));
    assert_eq!(
        list_skus(&store, q("t-00")).await,
        strings(&["GADGET-001", "WIDGET-001", "WIDGET-002"])
    );
    assert_eq!(
        list_skus(&store, q("_")).await,
        Vec::<String>::new(),
        "'_' is no wildcard"
    );
    assert_eq!(
        list_skus(&store, q("%")).await,
        Vec::<String>::new(),
        "'%' is no wildcard"
    );
    assert_eq!(
        list_skus(&store, q("nothing-like-this")).await,
        Vec::<String>::new()
    );

    let category = |c: &str| ItemQuery {
        category: Some(c.to_owned()),
        ..Default::default()
    };
    assert_eq!(
        list_skus(&store, category("tools")).await,
        strings(&["WIDGET-001", "WIDGET-002"])
    );
    assert_eq!(
        list_skus(&store, category("toys")).await,
        strings(&["GADGET-001"])
    );
    assert_eq!(
        list_skus(&store, category("none")).await,
        Vec::<String>::new()
    );

    let sku = |s: &str| ItemQuery {
        sku: Some(s.to_owned()),
        ..Default::default()
    };
    assert_eq!(
        list_skus(&store, sku("BOLT-10")).await,
        strings(&["BOLT-10"])
    );
    assert_eq!(
        list_skus(&store, sku("BOLT")).await,
        Vec::<String>::new(),
        "sku is an exact match"
    );

    let both = ItemQuery {
        q: Some("widget".into()),
        category: Some("tools".into()),
        ..Default::default()
    };
    assert_eq!(
        list_skus(&store, both).await,
        strings(&["WIDGET-001", "WIDGET-002"])
    );

    // Archived items drop out of filtered lists unless asked for.
    let all = store.list_items(&ItemQuery::default()).await.unwrap();
    let sprocket = all.rows.iter().find(|i| i.sku == "SPROCKET-1").unwrap();
    store.archive_item(sprocket.id, None).await.unwrap();
    assert_eq!(
        list_skus(&store, q("widget")).await,
        strings(&["WIDGET-001", "WIDGET-002"])
    );
    let with_archived = ItemQuery {
        include_archived: true,
        ..q("widget")
    };
    assert_eq!(
        list_skus(&store, with_archived).await,
        strings(&["SPROCKET-1", "WIDGET-001", "WIDGET-002"])
    );
}

pub async fn list_items_q_ignores_case_beyond_ascii(store: S) {
    add_item(&store, item_spec("OIL-1", "Ölfilter", None, 0)).await;
    add_item(&store, item_spec("ECL-1", "éclair box", None, 0)).await;
    add_item(&store, item_spec("ASCII-1", "Plain", None, 0)).await;
    let q = |text: &str| ItemQuery {
        q: Some(text.to_owned()),
        ..Default::default()
    };
    assert_eq!(list_skus(&store, q("Ölfilter")).await, strings(&["OIL-1"]));
    assert_eq!(
        list_skus(&store, q("ölfilter")).await,
        strings(&["OIL-1"]),
        "q is case-insensitive for non-ASCII letters too (ö matches Ö)"
    );
    assert_eq!(
        list_skus(&store, q("ÉCLAIR")).await,
        strings(&["ECL-1"]),
        "q is case-insensitive for non-ASCII letters too (É matches é)"
    );
}

pub async fn list_items_low_stock(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let items = seed_catalogue(&store).await;
    let low = || ItemQuery {
        low_stock: true,
        ..Default::default()
    };
    // WIDGET-002: 0 <= 5 (low); SPROCKET-1 gets 3 <= 3 (low);
    // GADGET-001 gets 20 > 10 (fine); reorder point 0 is never low.
    apply_ok(
        &store,
        &actor,
        vec![
            receive(items["SPROCKET-1"].id, 3, MAIN_LOCATION),
            receive(items["GADGET-001"].id, 20, MAIN_LOCATION),
        ],
    )
    .await;
    assert_eq!(
        list_skus(&store, low()).await,
        strings(&["SPROCKET-1", "WIDGET-002"])
    );
    assert_eq!(store.count_low_stock().await.unwrap(), 2);

    apply_ok(
        &store,
        &actor,
        vec![issue(items["GADGET-001"].id, 10, MAIN_LOCATION)],
    )
    .await;
    assert_eq!(
        list_skus(&store, low()).await,
        strings(&["GADGET-001", "SPROCKET-1", "WIDGET-002"]),
        "available == reorder_point counts as low"
    );
    assert_eq!(store.count_low_stock().await.unwrap(), 3);

    store
        .update_item(
            items["WIDGET-002"].id,
            patch(json!({"reorder_point": 0})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        list_skus(&store, low()).await,
        strings(&["GADGET-001", "SPROCKET-1"])
    );
    assert_eq!(store.count_low_stock().await.unwrap(), 2);

    let extra = add_item(&store, item_spec("LOWARCH-1", "Soon gone", None, 5)).await;
    assert_eq!(store.count_low_stock().await.unwrap(), 3);
    store.archive_item(extra.id, None).await.unwrap();
    assert_eq!(
        store.count_low_stock().await.unwrap(),
        2,
        "archived items are not low on stock"
    );
    assert_eq!(
        list_skus(&store, low()).await,
        strings(&["GADGET-001", "SPROCKET-1"])
    );

    let low_tools = ItemQuery {
        category: Some("toys".into()),
        ..low()
    };
    assert_eq!(list_skus(&store, low_tools).await, strings(&["GADGET-001"]));
}

pub async fn list_items_sorts_and_paging(store: S) {
    let order = [
        "S-05", "S-02", "S-09", "S-01", "S-07", "S-03", "S-08", "S-04", "S-06",
    ];
    let mut created = Vec::new();
    for sku in order {
        created.push(new_item(&store, sku).await);
    }
    let mut by_sku: Vec<String> = order.iter().map(|s| (*s).to_owned()).collect();
    by_sku.sort();
    let by_created: Vec<String> = order.iter().map(|s| (*s).to_owned()).collect();
    let cases = [
        (ItemSort::SkuAsc, by_sku.clone()),
        (
            ItemSort::SkuDesc,
            by_sku.iter().rev().cloned().collect::<Vec<_>>(),
        ),
        (ItemSort::CreatedAsc, by_created.clone()),
        (
            ItemSort::CreatedDesc,
            by_created.iter().rev().cloned().collect::<Vec<_>>(),
        ),
    ];
    for (sort, expected) in cases {
        let whole = store
            .list_items(&ItemQuery {
                sort,
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(skus(&whole.rows), expected, "{sort:?} order");
        assert!(whole.next_cursor.is_none());

        let exact = store
            .list_items(&ItemQuery {
                sort,
                limit: 9,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(exact.rows.len(), 9);
        assert!(
            exact.next_cursor.is_none(),
            "{sort:?}: no cursor when nothing follows"
        );

        let pages = page_all_items(
            &store,
            ItemQuery {
                sort,
                limit: 4,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(
            pages.iter().map(|p| p.rows.len()).collect::<Vec<_>>(),
            [4, 4, 1],
            "{sort:?} page sizes"
        );
        for page in &pages {
            if let Some(cursor) = &page.next_cursor {
                let last = page.rows.last().unwrap();
                assert_eq!(
                    cursor,
                    &item_key(sort, last),
                    "{sort:?}: cursor is the last row's key"
                );
            }
        }
        let paged: Vec<String> = pages.iter().flat_map(|p| skus(&p.rows)).collect();
        assert_eq!(
            paged, expected,
            "{sort:?} pages concatenate to the whole list"
        );
    }

    // created_at order agrees with the creation timestamps.
    let asc = store
        .list_items(&ItemQuery {
            sort: ItemSort::CreatedAsc,
            ..Default::default()
        })
        .await
        .unwrap();
    for pair in asc.rows.windows(2) {
        assert!(pair[0].created_at <= pair[1].created_at);
    }
    // Paging composes with filters.
    let filtered = page_all_items(
        &store,
        ItemQuery {
            q: Some("s-0".into()),
            sort: ItemSort::SkuDesc,
            limit: 2,
            ..Default::default()
        },
    )
    .await;
    let paged: Vec<String> = filtered.iter().flat_map(|p| skus(&p.rows)).collect();
    assert_eq!(paged, by_sku.iter().rev().cloned().collect::<Vec<_>>());
}

pub async fn list_items_paging_under_concurrent_inserts(store: S) {
    let mut initial = HashSet::new();
    for i in 0..60 {
        initial.insert(new_item(&store, &format!("P-{:03}", i * 2)).await.id);
    }
    for (round, sort) in [
        ItemSort::SkuAsc,
        ItemSort::SkuDesc,
        ItemSort::CreatedAsc,
        ItemSort::CreatedDesc,
    ]
    .into_iter()
    .enumerate()
    {
        let before: HashSet<Uuid> = page_all_items(
            &store,
            ItemQuery {
                sort,
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .iter()
        .flat_map(|p| p.rows.iter().map(|i| i.id))
        .collect();
        assert!(before.is_superset(&initial));

        let inserter = {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..40 {
                    // Keys land between and around the existing ones.
                    let sku = format!("P-{:03}-{round}", (i * 37) % 120);
                    new_item(&store, &sku).await;
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut query = ItemQuery {
            sort,
            limit: 7,
            ..Default::default()
        };
        let mut seen = HashSet::new();
        let mut last_key: Option<String> = None;
        loop {
            let page = store.list_items(&query).await.unwrap();
            for item in &page.rows {
                assert!(seen.insert(item.id), "{sort:?}: {} was repeated", item.sku);
                let key = item_key(sort, item);
                if let Some(prev) = &last_key {
                    let ordered = if sort.descending() {
                        &key < prev
                    } else {
                        &key > prev
                    };
                    assert!(ordered, "{sort:?}: {key} after {prev}");
                }
                last_key = Some(key);
            }
            match page.next_cursor {
                Some(key) => query.after = Some(ItemCursor { sort, key }),
                None => break,
            }
            // Also insert right beside the page boundary, deterministically.
            if let Some(last) = page.rows.last() {
                new_item(&store, &format!("{}-B{round}", last.sku)).await;
            }
            pause().await;
        }
        inserter.await.unwrap();
        let missing: Vec<&Uuid> = before.difference(&seen).collect();
        assert!(
            missing.is_empty(),
            "{sort:?}: {} items that existed were skipped",
            missing.len()
        );
    }
}

// ================================================================ list_movements

pub async fn list_movements_filters(store: S) {
    let actor = new_actor(&store, "clerk").await;
    new_location(&store, "WH").await;
    let one = new_item(&store, "LM-1").await;
    let two = new_item(&store, "LM-2").await;

    let t0 = instant_between().await;
    apply_ok(&store, &actor, vec![receive(one.id, 10, MAIN_LOCATION)]).await;
    apply_ok(
        &store,
        &actor,
        vec![transfer(one.id, 3, MAIN_LOCATION, "WH")],
    )
    .await;
    apply_ok(&store, &actor, vec![receive(two.id, 5, "WH")]).await;
    let mid = instant_between().await;
    apply_ok(&store, &actor, vec![issue(one.id, 2, MAIN_LOCATION)]).await;
    apply_ok(&store, &actor, vec![adjust(two.id, 1, "WH")]).await;
    let end = instant_between().await;

    let list = |q: MovementQuery| {
        let store = store.clone();
        async move {
            store
                .list_movements(&q)
                .await
                .unwrap()
                .rows
                .into_iter()
                .map(|m| (m.item_id, m.kind, m.quantity))
                .collect::<Vec<_>>()
        }
    };
    use MovementKind::*;
    let all = list(MovementQuery::default()).await;
    assert_eq!(
        all,
        [
            (one.id, Receive, 10),
            (one.id, Transfer, 3),
            (two.id, Receive, 5),
            (one.id, Issue, 2),
            (two.id, Adjust, 1)
        ]
    );
    let by_item = list(MovementQuery {
        item_id: Some(one.id),
        ..Default::default()
    })
    .await;
    assert_eq!(
        by_item,
        [
            (one.id, Receive, 10),
            (one.id, Transfer, 3),
            (one.id, Issue, 2)
        ]
    );
    let at_wh = list(MovementQuery {
        location: Some("WH".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(
        at_wh,
        [
            (one.id, Transfer, 3),
            (two.id, Receive, 5),
            (two.id, Adjust, 1)
        ],
        "location matches location, from_location or to_location"
    );
    let at_main = list(MovementQuery {
        location: Some(MAIN_LOCATION.into()),
        ..Default::default()
    })
    .await;
    assert_eq!(
        at_main,
        [
            (one.id, Receive, 10),
            (one.id, Transfer, 3),
            (one.id, Issue, 2)
        ]
    );
    let receipts = list(MovementQuery {
        kind: Some(Receive),
        ..Default::default()
    })
    .await;
    assert_eq!(receipts, [(one.id, Receive, 10), (two.id, Receive, 5)]);
    let since = list(MovementQuery {
        since: Some(mid),
        ..Default::default()
    })
    .await;
    assert_eq!(since, [(one.id, Issue, 2), (two.id, Adjust, 1)]);
    let until = list(MovementQuery {
        until: Some(mid),
        ..Default::default()
    })
    .await;
    assert_eq!(
        until,
        [
            (one.id, Receive, 10),
            (one.id, Transfer, 3),
            (two.id, Receive, 5)
        ]
    );
    let window = list(MovementQuery {
        since: Some(t0),
        until: Some(end),
        item_id: Some(two.id),
        ..Default::default()
    })
    .await;
    assert_eq!(window, [(two.id, Receive, 5), (two.id, Adjust, 1)]);
    let none = list(MovementQuery {
        since: Some(end),
        ..Default::default()
    })
    .await;
    assert!(none.is_empty());
    let combined = list(MovementQuery {
        item_id: Some(one.id),
        location: Some("WH".into()),
        kind: Some(Transfer),
        ..Default::default()
    })
    .await;
    assert_eq!(combined, [(one.id, Transfer, 3)]);
    let nowhere = list(MovementQuery {
        location: Some("NOWHERE".into()),
        ..Default::default()
    })
    .await;
    assert!(nowhere.is_empty());

    // since is inclusive and until exclusive, to the microsecond.
    let issued = store
        .list_movements(&MovementQuery {
            kind: Some(Issue),
            ..Default::default()
        })
        .await
        .unwrap()
        .rows
        .remove(0);
    let from_issue = list(MovementQuery {
        since: Some(issued.created_at),
        ..Default::default()
    })
    .await;
    assert_eq!(
        from_issue,
        [(one.id, Issue, 2), (two.id, Adjust, 1)],
        "since is inclusive"
    );
    let before_issue = list(MovementQuery {
        since: Some(mid),
        until: Some(issued.created_at),
        ..Default::default()
    })
    .await;
    assert!(
        before_issue.is_empty(),
        "until is exclusive: {before_issue:?}"
    );
}

pub async fn list_movements_order_and_paging(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "LMP-1").await;
    let mut batch = Vec::new();
    for q in 1..=11 {
        batch.push(receive(item.id, q, MAIN_LOCATION));
    }
    let results = apply_ok(&store, &actor, batch).await;
    let asc: Vec<i64> = results.iter().map(|r| r.movement.seq).collect();
    let desc: Vec<i64> = asc.iter().rev().copied().collect();

    for (order, expected) in [(SeqOrder::Asc, asc.clone()), (SeqOrder::Desc, desc.clone())] {
        let whole = store
            .list_movements(&MovementQuery {
                order,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            whole.rows.iter().map(|m| m.seq).collect::<Vec<_>>(),
            expected,
            "{order:?}"
        );
        assert!(whole.next_cursor.is_none());

        let mut seen = Vec::new();
        let mut after = None;
        let mut sizes = Vec::new();
        loop {
            let page = store
                .list_movements(&MovementQuery {
                    order,
                    limit: 4,
                    after_seq: after,
                    ..Default::default()
                })
                .await
                .unwrap();
            sizes.push(page.rows.len());
            seen.extend(page.rows.iter().map(|m| m.seq));
            match page.next_cursor {
                Some(c) => {
                    let seq: i64 = c.parse().expect("a movement cursor is the last seq");
                    assert_eq!(Some(seq), page.rows.last().map(|m| m.seq));
                    after = Some(seq);
                }
                None => break,
            }
            assert!(sizes.len() < 20);
        }
        assert_eq!(sizes, [4, 4, 3], "{order:?} page sizes");
        assert_eq!(
            seen, expected,
            "{order:?} pages concatenate to the whole ledger"
        );
    }

    let after_middle = store
        .list_movements(&MovementQuery {
            after_seq: Some(asc[5]),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        after_middle.rows.iter().map(|m| m.seq).collect::<Vec<_>>(),
        &asc[6..8]
    );
    let before_middle = store
        .list_movements(&MovementQuery {
            after_seq: Some(asc[5]),
            order: SeqOrder::Desc,
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        before_middle.rows.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [asc[4], asc[3]]
    );
}

// ================================================================ idempotency

pub async fn idempotent_movements(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "IDEM-1").await;
    let id = item.id;

    let first = created(
        store
            .apply_movements(
                vec![receive(id, 10, MAIN_LOCATION)],
                &actor,
                Some(idem(actor.user_id, "k1", "h1", render_results())),
            )
            .await,
        "first apply",
    );
    let stored = store
        .find_idempotent(actor.user_id, "k1")
        .await
        .unwrap()
        .expect("the response was recorded");
    assert_eq!(
        stored,
        StoredResponse {
            request_hash: "h1".into(),
            status: 201,
            body: serde_json::to_string(&first).unwrap(),
        }
    );

    match store
        .apply_movements(
            vec![receive(id, 10, MAIN_LOCATION)],
            &actor,
            Some(idem(actor.user_id, "k1", "h1", render_results())),
        )
        .await
    {
        Ok(Created::Replay(replayed)) => assert_eq!(replayed, stored),
        other => panic!("expected a replay, got {other:?}"),
    }
    assert_eq!(
        assert_consistent(&store, id).await,
        10,
        "a replay applies nothing"
    );
    assert_eq!(movements_of(&store, id).await.len(), 1);

    let mismatch = store
        .apply_movements(
            vec![receive(id, 99, MAIN_LOCATION)],
            &actor,
            Some(idem(actor.user_id, "k1", "h2", render_results())),
        )
        .await;
    assert!(
        matches!(mismatch, Err(Error::IdempotencyMismatch)),
        "got {mismatch:?}"
    );
    assert_eq!(assert_consistent(&store, id).await, 10);
    assert_eq!(
        store.find_idempotent(actor.user_id, "k1").await.unwrap(),
        Some(stored.clone())
    );

    // Keys belong to a user: another user's "k1" is a new request.
    let other = new_actor(&store, "other").await;
    created(
        store
            .apply_movements(
                vec![receive(id, 1, MAIN_LOCATION)],
                &other,
                Some(idem(other.user_id, "k1", "h9", render_results())),
            )
            .await,
        "another user's key",
    );
    assert_eq!(assert_consistent(&store, id).await, 11);

    // A failed request records nothing, so its key stays usable.
    let failed = store
        .apply_movements(
            vec![issue(id, 1000, MAIN_LOCATION)],
            &actor,
            Some(idem(actor.user_id, "k2", "h3", render_results())),
        )
        .await;
    assert!(
        matches!(failed, Err(Error::AtIndex { .. })),
        "got {failed:?}"
    );
    assert_eq!(
        store.find_idempotent(actor.user_id, "k2").await.unwrap(),
        None
    );
    let retried = created(
        store
            .apply_movements(
                vec![issue(id, 1, MAIN_LOCATION)],
                &actor,
                Some(idem(actor.user_id, "k2", "h3", render_results())),
            )
            .await,
        "retry after failure",
    );
    assert_eq!(retried[0].balances.on_hand, 10);
    assert_eq!(
        store
            .find_idempotent(actor.user_id, "never-used")
            .await
            .unwrap(),
        None
    );
    assert_eq!(assert_consistent(&store, id).await, 10);
}

pub async fn idempotent_movements_concurrent_same_key(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = new_item(&store, "IDEM-RACE").await;
    let id = item.id;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (store, actor) = (store.clone(), actor.clone());
        tasks.spawn(async move {
            store
                .apply_movements(
                    vec![receive(id, 5, MAIN_LOCATION)],
                    &actor,
                    Some(idem(actor.user_id, "same", "hash", render_results())),
                )
                .await
        });
    }
    let (mut new, mut replays, mut in_flight) = (Vec::new(), Vec::new(), 0);
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            Ok(Created::New(v)) => new.push(v),
            Ok(Created::Replay(s)) => replays.push(s),
            Err(Error::Conflict {
                kind: ConflictKind::IdempotencyInFlight,
                ..
            }) => in_flight += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!(new.len(), 1, "exactly one request applies the change");
    assert_eq!(new.len() + replays.len() + in_flight, 16);
    let body = serde_json::to_string(&new[0]).unwrap();
    for r in &replays {
        assert_eq!(r.body, body, "replays return the winner's response");
        assert_eq!(r.status, 201);
    }
    assert_eq!(assert_consistent(&store, id).await, 5);
    assert_eq!(movements_of(&store, id).await.len(), 1);
}

pub async fn idempotent_create_item(store: S) {
    let user = new_actor(&store, "clerk").await.user_id;
    let spec = item_spec("IDEM-ITEM", "Once only", Some("x"), 2);
    let item = created(
        store
            .create_item(
                spec.clone(),
                Some(idem(user, "create-1", "hash-a", render_item())),
            )
            .await,
        "first create",
    );
    let stored = store
        .find_idempotent(user, "create-1")
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(stored.request_hash, "hash-a");
    assert_eq!(stored.status, 201);
    assert_eq!(stored.body, serde_json::to_string(&item).unwrap());

    match store
        .create_item(
            spec.clone(),
            Some(idem(user, "create-1", "hash-a", render_item())),
        )
        .await
    {
        Ok(Created::Replay(r)) => assert_eq!(r, stored),
        other => panic!("expected a replay, got {other:?}"),
    }
    assert_eq!(
        store.count_items().await.unwrap(),
        1,
        "a replay creates nothing"
    );

    let other_spec = item_spec("IDEM-OTHER", "Different", None, 0);
    let mismatch = store
        .create_item(
            other_spec.clone(),
            Some(idem(user, "create-1", "hash-b", render_item())),
        )
        .await;
    assert!(
        matches!(mismatch, Err(Error::IdempotencyMismatch)),
        "got {mismatch:?}"
    );
    assert_eq!(store.count_items().await.unwrap(), 1);

    // A create refused as a duplicate leaves its key unrecorded.
    let dup = store
        .create_item(spec, Some(idem(user, "create-2", "hash-c", render_item())))
        .await;
    assert_conflict(dup, ConflictKind::DuplicateSku);
    assert_eq!(store.find_idempotent(user, "create-2").await.unwrap(), None);
    created(
        store
            .create_item(
                other_spec,
                Some(idem(user, "create-2", "hash-d", render_item())),
            )
            .await,
        "the key is free after a failure",
    );
    assert_eq!(store.count_items().await.unwrap(), 2);
}

pub async fn idempotent_create_location_and_user(store: S) {
    let user = new_actor(&store, "admin").await.user_id;
    let render_loc: Render<Location> = Arc::new(|l: &Location| format!("loc:{}", l.code));
    let spec = CreateLocation {
        code: "IDL".into(),
        name: "Idempotent".into(),
    }
    .validate()
    .unwrap();
    created(
        store
            .create_location(
                spec.clone(),
                Some(idem(user, "loc", "h", render_loc.clone())),
            )
            .await,
        "create_location",
    );
    match store
        .create_location(spec, Some(idem(user, "loc", "h", render_loc)))
        .await
    {
        Ok(Created::Replay(r)) => assert_eq!(r.body, "loc:IDL", "the body is what render produced"),
        other => panic!("expected a replay, got {other:?}"),
    }
    assert_eq!(store.list_locations(None, 10).await.unwrap().rows.len(), 2);

    let render_user: Render<User> = Arc::new(|u: &User| format!("user:{}", u.username));
    created(
        store
            .create_user(
                "dave",
                "hash",
                Role::Viewer,
                Some(idem(user, "usr", "h", render_user.clone())),
            )
            .await,
        "create_user",
    );
    match store
        .create_user(
            "dave",
            "hash",
            Role::Viewer,
            Some(idem(user, "usr", "h", render_user.clone())),
        )
        .await
    {
        Ok(Created::Replay(r)) => assert_eq!(r.body, "user:dave"),
        other => panic!("expected a replay, got {other:?}"),
    }
    let mismatch = store
        .create_user(
            "erin",
            "hash",
            Role::Viewer,
            Some(idem(user, "usr", "other", render_user)),
        )
        .await;
    assert!(
        matches!(mismatch, Err(Error::IdempotencyMismatch)),
        "got {mismatch:?}"
    );
    assert_eq!(store.count_users().await.unwrap(), 2);
    assert!(store.find_user("erin").await.unwrap().is_none());
}

// ================================================================ users and sessions

pub async fn users_create_find_duplicate(store: S) {
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
    let alice = created(
        store.create_user("alice", hash, Role::Manager, None).await,
        "create_user",
    );
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.role, Role::Manager);
    assert_eq!(store.count_users().await.unwrap(), 1);

    let found = store
        .find_user("alice")
        .await
        .unwrap()
        .expect("alice exists");
    assert_eq!(found.user, alice);
    assert_eq!(found.password_hash, hash);
    assert!(store.find_user("bob").await.unwrap().is_none());

    assert_conflict(
        store.create_user("alice", "other", Role::Admin, None).await,
        ConflictKind::DuplicateUsername,
    );
    assert_eq!(store.count_users().await.unwrap(), 1);
    let still = store.find_user("alice").await.unwrap().unwrap();
    assert_eq!(
        still.user.role,
        Role::Manager,
        "the duplicate changed nothing"
    );
    assert_eq!(still.password_hash, hash);

    for (name, role) in [("v", Role::Viewer), ("c", Role::Clerk), ("a", Role::Admin)] {
        let u = created(
            store.create_user(name, "h", role, None).await,
            "create_user",
        );
        assert_ne!(u.id, alice.id);
        assert_eq!(
            store.find_user(name).await.unwrap().unwrap().user.role,
            role
        );
    }
    assert_eq!(store.count_users().await.unwrap(), 4);
}

pub async fn sessions_lifecycle(store: S) {
    let alice = created(
        store.create_user("alice", "h", Role::Clerk, None).await,
        "create_user",
    );
    let expires = Utc::now() + Duration::hours(1);
    store
        .create_session("tok-a", alice.id, expires)
        .await
        .unwrap();
    let (user, at) = store
        .find_session("tok-a")
        .await
        .unwrap()
        .expect("live session");
    assert_eq!(user, alice);
    assert_eq!(at.timestamp_micros(), expires.timestamp_micros());
    assert!(store.find_session("tok-unknown").await.unwrap().is_none());

    store
        .create_session("tok-b", alice.id, expires)
        .await
        .unwrap();
    store.delete_session("tok-a").await.unwrap();
    assert!(
        store.find_session("tok-a").await.unwrap().is_none(),
        "deleted"
    );
    assert!(
        store.find_session("tok-b").await.unwrap().is_some(),
        "only that session went"
    );
    store.delete_session("tok-a").await.unwrap();

    store
        .create_session("tok-old", alice.id, Utc::now() - Duration::seconds(1))
        .await
        .unwrap();
    assert!(
        store.find_session("tok-old").await.unwrap().is_none(),
        "expired sessions are not found"
    );
}

pub async fn purge_expired_removes_old_keys_and_sessions(store: S) {
    let actor = new_actor(&store, "clerk").await;
    let item = created(
        store
            .create_item(
                item_spec("PURGE-1", "Purge", None, 0),
                Some(idem(actor.user_id, "old-key", "h", render_item())),
            )
            .await,
        "create_item",
    );
    store
        .create_session("live", actor.user_id, Utc::now() + Duration::hours(1))
        .await
        .unwrap();
    store
        .create_session("dead", actor.user_id, Utc::now() - Duration::seconds(5))
        .await
        .unwrap();

    // Keys newer than the cut stay; expired sessions go.
    let removed = store
        .purge_expired(Utc::now() - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(removed, 1, "only the expired session");
    assert!(store
        .find_idempotent(actor.user_id, "old-key")
        .await
        .unwrap()
        .is_some());
    assert!(store.find_session("live").await.unwrap().is_some());

    pause().await;
    let removed = store
        .purge_expired(Utc::now() + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(removed, 1, "the old key");
    assert!(store
        .find_idempotent(actor.user_id, "old-key")
        .await
        .unwrap()
        .is_none());
    assert!(
        store.find_session("live").await.unwrap().is_some(),
        "live sessions stay"
    );
    assert_eq!(
        store.get_item(item.id).await.unwrap(),
        item,
        "purging keeps the data"
    );

    // With its key forgotten, the same key is a new request again.
    created(
        store
            .create_item(
                item_spec("PURGE-2", "Purge again", None, 0),
                Some(idem(actor.user_id, "old-key", "h", render_item())),
            )
            .await,
        "create after purge",
    );
    assert_eq!(store.count_items().await.unwrap(), 2);
}

// ================================================================ the change feed

pub async fn events_follow_every_committed_change(store: S) {
    let actor = new_actor(&store, "feeder").await;
    assert!(store.events_after(0, 100).await.unwrap().is_empty());
    assert_eq!(store.last_event_id().await.unwrap(), 0);
    let item = new_item(&store, "EV-1").await;
    store
        .update_item(item.id, patch(json!({"name": "Renamed"})), None)
        .await
        .unwrap();
    let moved = apply_ok(&store, &actor, vec![receive(item.id, 3, MAIN_LOCATION)]).await;
    // A refused write records nothing.
    assert!(
        apply(&store, &actor, vec![issue(item.id, 99, MAIN_LOCATION)])
            .await
            .is_err()
    );
    apply_ok(&store, &actor, vec![issue(item.id, 3, MAIN_LOCATION)]).await;
    assert!(store.archive_item(item.id, None).await.unwrap());

    let events = store.events_after(0, 100).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            event_kind::ITEM_CREATED,
            event_kind::ITEM_UPDATED,
            event_kind::MOVEMENT_CREATED,
            event_kind::MOVEMENT_CREATED,
            event_kind::ITEM_ARCHIVED
        ]
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id), "ids increase");
    assert_eq!(store.last_event_id().await.unwrap(), events[4].id);
    assert_eq!(events[0].entity_id, item.id);
    assert_eq!(events[1].data["name"], "Renamed");
    assert_eq!(events[2].entity_id, moved[0].movement.id);
    assert_eq!(events[2].data["balances"]["on_hand"], 3);
    assert_eq!(events[4].data["archived"], true);

    // Resuming after any id gives exactly the rest, in order.
    for (i, e) in events.iter().enumerate() {
        let rest = store.events_after(e.id, 100).await.unwrap();
        assert_eq!(rest, events[i + 1..].to_vec());
    }
    assert_eq!(
        store.events_after(0, 2).await.unwrap(),
        events[..2].to_vec()
    );
}

// ================================================================ export and import

/// An in-memory `Write` sink that the test keeps a handle on.
#[derive(Clone, Default)]
struct SharedBuf(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn export_text(store: &S) -> (ExportCounts, String) {
    let buf = SharedBuf::default();
    let counts = store.export(Box::new(buf.clone())).await.expect("export");
    let bytes = buf.0.lock().unwrap().clone();
    (counts, String::from_utf8(bytes).expect("UTF-8"))
}

/// Everything after the header line (which names the backend and the time).
fn rows_of(text: &str) -> &str {
    text.split_once('\n').expect("a header line").1
}

/// Users, locations, items (one archived, one edited), stock in several
/// locations through every kind of movement, and their events.
async fn populate(store: &S) {
    let actor = new_actor(store, "clerk-export").await;
    new_actor(store, "second-user").await;
    new_location(store, "SHELF-A").await;
    new_location(store, "SHELF-B").await;
    let mut spec = item_spec("EXP-1", "Grüne Schraube", Some("bolts"), 5);
    spec.unit_cost = 12_3456;
    spec.description = Some("line one\nline \"two\"".into());
    spec.attributes = serde_json::from_str(r#"{"z":1.50,"a":[1e3,-0.0],"ü":{"nested":null}}"#)
        .expect("attributes");
    let a = add_item(store, spec).await;
    let b = new_item(store, "EXP-2").await;
    let gone = new_item(store, "EXP-3").await;
    assert!(store.archive_item(gone.id, None).await.expect("archive"));
    store
        .update_item(
            b.id,
            patch(json!({"name": "Renamed", "category": "misc"})),
            None,
        )
        .await
        .expect("update");
    apply(
        store,
        &actor,
        vec![
            receive(a.id, 40, MAIN_LOCATION),
            transfer(a.id, 15, MAIN_LOCATION, "SHELF-A"),
            transfer(a.id, 5, "SHELF-A", "SHELF-B"),
            issue(a.id, 3, "SHELF-B"),
            adjust(a.id, -2, MAIN_LOCATION),
            receive(b.id, 7, "SHELF-B"),
        ],
    )
    .await
    .expect("movements");
    apply(store, &actor, vec![issue(b.id, 7, "SHELF-B")])
        .await
        .expect("issue all");
}

/// An export imported into an empty store of the same backend exports again
/// to the same rows, byte for byte; counters continue after the imported
/// ones; passwords, balances and the ledger come along.
pub async fn export_import_round_trip(source: S, target: S) {
    populate(&source).await;
    let (counts, text) = export_text(&source).await;
    assert_eq!(
        (
            counts.users,
            counts.locations,
            counts.items,
            counts.movements
        ),
        (2, 3, 3, 7)
    );
    assert_eq!(counts.events as i64, source.last_event_id().await.unwrap());
    let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["format"], "inventory-export");
    assert_eq!(header["version"], 1);
    assert_eq!(header["backend"], source.backend());
    let summary = dump::validate(text.as_bytes(), i64::MAX).expect("a valid export");
    assert_eq!(summary.counts, counts);

    let imported = target
        .import(dump::rows(std::io::Cursor::new(text.clone().into_bytes())))
        .await
        .expect("import");
    assert_eq!(imported, counts);
    let (again, text2) = export_text(&target).await;
    assert_eq!(again, counts);
    assert_eq!(
        rows_of(&text2),
        rows_of(&text),
        "the rows round-trip exactly"
    );

    // The same users, with their password hashes.
    let user = target
        .find_user("clerk-export")
        .await
        .unwrap()
        .expect("user");
    let original = source.find_user("clerk-export").await.unwrap().unwrap();
    assert_eq!(user.password_hash, original.password_hash);
    assert_eq!(user.user, original.user);
    // The same items, balances and ledger.
    let items = ItemQuery {
        include_archived: true,
        ..ItemQuery::default()
    };
    let before = source.list_items(&items).await.unwrap().rows;
    let after = target.list_items(&items).await.unwrap().rows;
    assert_eq!(before.len(), 3);
    assert_eq!(
        before
            .iter()
            .map(|i| serde_json::to_string(i).unwrap())
            .collect::<Vec<_>>(),
        after
            .iter()
            .map(|i| serde_json::to_string(i).unwrap())
            .collect::<Vec<_>>()
    );
    for item in &after {
        assert_eq!(target.ledger_sum(item.id).await.unwrap(), item.on_hand);
        let s = source.item_stock(item.id, None).await.unwrap();
        let t = target.item_stock(item.id, None).await.unwrap();
        assert_eq!(s.locations, t.locations);
    }
    // Search still folds case (the folded columns are rebuilt).
    let found = target
        .list_items(&ItemQuery {
            q: Some("GRÜNE".into()),
            ..ItemQuery::default()
        })
        .await
        .unwrap()
        .rows;
    assert_eq!(found.len(), 1);

    // Counters continue after the imported seq and event ids.
    let last_seq = source
        .list_movements(&MovementQuery {
            order: SeqOrder::Desc,
            limit: 1,
            ..MovementQuery::default()
        })
        .await
        .unwrap()
        .rows[0]
        .seq;
    let last_event = target.last_event_id().await.unwrap();
    assert_eq!(last_event, source.last_event_id().await.unwrap());
    let actor = Actor {
        user_id: user.user.id,
        username: user.user.username.clone(),
        role: user.user.role,
    };
    let a = after.iter().find(|i| i.sku == "EXP-1").unwrap();
    let result = apply(&target, &actor, vec![receive(a.id, 1, "SHELF-A")])
        .await
        .expect("a movement after import");
    assert_eq!(result[0].movement.seq, last_seq + 1);
    let events = target.events_after(last_event, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, last_event + 1);
    new_item(&target, "EXP-4").await;
    assert_eq!(target.last_event_id().await.unwrap(), last_event + 2);
}

/// A file cut short, a row the database refuses, or a target that is not
/// empty: the import fails and writes nothing.
pub async fn failed_import_writes_nothing(source: S, target: S) {
    populate(&source).await;
    let (_, text) = export_text(&source).await;
    let main_before = target.list_locations(None, 10).await.unwrap().rows;
    assert_eq!(main_before.len(), 1);
    let assert_untouched = |what: &'static str| {
        let target = target.clone();
        let main_before = main_before.clone();
        async move {
            assert_eq!(target.count_users().await.unwrap(), 0, "{what}: users");
            assert_eq!(target.count_all_items().await.unwrap(), 0, "{what}: items");
            assert_eq!(target.last_event_id().await.unwrap(), 0, "{what}: events");
            let moves = target
                .list_movements(&MovementQuery::default())
                .await
                .unwrap();
            assert!(moves.rows.is_empty(), "{what}: movements");
            assert_eq!(
                target.list_locations(None, 10).await.unwrap().rows,
                main_before,
                "{what}: locations"
            );
        }
    };

    // Cut in the middle of a line: validation names the line...
    let lines: Vec<&str> = text.lines().collect();
    let cut_line = lines.len() / 2 + 1;
    let cut_at = lines[..cut_line - 1]
        .iter()
        .map(|l| l.len() + 1)
        .sum::<usize>()
        + 10;
    let truncated = text.as_bytes()[..cut_at].to_vec();
    let err = dump::validate(&truncated[..], i64::MAX).unwrap_err();
    assert_eq!(err.line, cut_line as u64, "{err}");
    // ...and an import that is fed the rows anyway stops there, all undone.
    let result = target
        .import(dump::rows(std::io::Cursor::new(truncated)))
        .await;
    match result {
        Err(Error::Validation(errors)) => {
            assert_eq!(errors[0].field, format!("line {cut_line}"))
        }
        other => panic!("a truncated import must fail, got {other:?}"),
    }
    assert_untouched("truncated").await;

    // A row the database refuses (a duplicate sku on the last item line).
    let last_item = lines
        .iter()
        .rposition(|l| l.contains(r#""type":"item""#))
        .unwrap();
    let first_item = lines
        .iter()
        .position(|l| l.contains(r#""type":"item""#))
        .unwrap();
    let first_sku: Value = serde_json::from_str(lines[first_item]).unwrap();
    let mut row: Value = serde_json::from_str(lines[last_item]).unwrap();
    row["sku"] = first_sku["sku"].clone();
    let mut changed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    changed[last_item] = row.to_string();
    let changed = changed.join("\n") + "\n";
    match target
        .import(dump::rows(std::io::Cursor::new(changed.into_bytes())))
        .await
    {
        Err(Error::Validation(errors)) => {
            assert_eq!(errors[0].field, format!("line {}", last_item + 1))
        }
        other => panic!("a duplicate sku must fail the import, got {other:?}"),
    }
    assert_untouched("refused row").await;

    // A database that is not empty is refused.
    let refused = source
        .import(dump::rows(std::io::Cursor::new(text.clone().into_bytes())))
        .await;
    assert!(
        matches!(&refused, Err(Error::Validation(e)) if e[0].field == "database"),
        "{refused:?}"
    );

    // And the good file still imports afterwards.
    target
        .import(dump::rows(std::io::Cursor::new(text.into_bytes())))
        .await
        .expect("import after failures");
    assert_eq!(target.count_users().await.unwrap(), 2);
}
