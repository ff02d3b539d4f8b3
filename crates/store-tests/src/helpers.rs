//! What every contract test shares: the fixture trait, the helpers that
//! build and apply domain values, and the imports the area modules use.

pub(crate) use chrono::{DateTime, Duration, Utc};
pub(crate) use inventory_core::dump::{self, ExportCounts, ExportOptions};
pub(crate) use inventory_core::error::ConflictKind;
pub(crate) use inventory_core::model::*;
pub(crate) use inventory_core::money::format_unit_cost;
pub(crate) use inventory_core::paging::{
    ItemCursor, ItemQuery, ItemSort, MovementQuery, Page, SeqOrder,
};
pub(crate) use inventory_core::store::{Created, EndSessions, Idempotency, Render, StoredResponse};
pub(crate) use inventory_core::{Error, Result, Store};
pub(crate) use serde_json::{json, Map, Value};
pub(crate) use std::collections::{BTreeMap, HashSet};
pub(crate) use std::fmt::Debug;
pub(crate) use std::sync::atomic::{AtomicBool, Ordering};
pub(crate) use std::sync::Arc;
pub(crate) use uuid::Uuid;

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
        barcode: None,
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
        display_name: None,
        email: None,
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

pub(crate) fn patch(v: Value) -> ItemPatch {
    serde_json::from_value(v).expect("valid item patch")
}
