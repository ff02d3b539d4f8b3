//! The Store contract suite against SQLite: every test gets a fresh
//! database file in its own temporary directory, removed after the test.

use inventory_core::Store;
use inventory_store_sqlite::{SqliteOptions, SqliteStore};
use std::sync::Arc;
use tempfile::TempDir;

async fn fresh_store() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let store = SqliteStore::open(&dir.path().join("inventory.db"), &SqliteOptions::default())
        .await
        .expect("open a fresh SQLite store");
    (Arc::new(store), dir)
}

inventory_store_tests::contract_tests!(fresh_store());

#[tokio::test]
async fn a_balance_changed_behind_the_ledger_is_reported() {
    let (store, dir) = fresh_store().await;
    let path = dir.path().join("inventory.db");
    inventory_store_tests::a_balance_changed_behind_the_ledger_is_reported(store, || async move {
        let conn = rusqlite::Connection::open(&path).expect("open the database file");
        conn.execute("UPDATE stock SET on_hand = on_hand + 2", [])
            .expect("change a balance by hand");
    })
    .await;
}

#[tokio::test]
async fn purchase_figures_changed_behind_the_orders_are_reported() {
    let (store, dir) = fresh_store().await;
    let path = dir.path().join("inventory.db");
    inventory_store_tests::purchase_figures_changed_behind_the_orders_are_reported(
        store,
        || async move {
            let conn = rusqlite::Connection::open(&path).expect("open the database file");
            conn.execute_batch(
                "UPDATE items SET incoming = incoming + 2; \
                 UPDATE purchase_order_lines SET received = received + 1",
            )
            .expect("change the figures by hand");
        },
    )
    .await;
}

#[tokio::test]
async fn sales_figures_changed_behind_the_orders_are_reported() {
    let (store, dir) = fresh_store().await;
    let path = dir.path().join("inventory.db");
    inventory_store_tests::sales_figures_changed_behind_the_orders_are_reported(
        store,
        || async move {
            let conn = rusqlite::Connection::open(&path).expect("open the database file");
            conn.execute_batch(
                "UPDATE sales_order_lines SET shipped = shipped + 1; \
                 UPDATE stock SET reserved = reserved + 1",
            )
            .expect("change the figures by hand");
        },
    )
    .await;
}

/// Committed pages reach the database file without the writer's own
/// checkpoint (which waits for a WAL of thousands of pages): the
/// checkpointer thread copies them within moments of the commit.
#[tokio::test]
async fn committed_pages_reach_the_database_file_in_the_background() {
    let (store, dir) = fresh_store().await;
    let db = dir.path().join("inventory.db");
    let file_size = || std::fs::metadata(&db).expect("database file").len();
    let before = file_size();
    for n in 0..400 {
        let item = inventory_core::catalogue::CreateItem {
            sku: format!("CKPT-{n:04}"),
            name: format!("Checkpointed item number {n} with a longer name to fill pages"),
            description: Some("x".repeat(200)),
            category: None,
            barcode: None,
            unit: None,
            reorder_point: None,
            unit_cost: None,
            attributes: None,
        }
        .validate(inventory_core::now())
        .expect("a valid item");
        store.create_item(item, None).await.expect("create an item");
    }
    // 400 items of ~300 bytes are well over 100 KB of pages: far below the
    // writer's own threshold, so only the checkpointer can move them.
    assert!(
        wait_for(|| file_size() >= before + 100 * 1024),
        "the database file stayed at {} bytes (was {before}) with the rows only in the WAL",
        file_size()
    );
}

/// Polls `check` for up to 20 seconds: the effect waited for happens on
/// another thread, at a time the test cannot know.
fn wait_for(check: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    check()
}

#[tokio::test]
async fn audit_entries_cannot_be_edited() {
    let (store, dir) = fresh_store().await;
    let item: inventory_core::catalogue::CreateItem =
        serde_json::from_value(serde_json::json!({"sku": "AUDIT-AO-1", "name": "Append-only"}))
            .unwrap();
    let item = item.validate(inventory_core::now()).unwrap();
    store.create_item(item, None).await.unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("inventory.db")).unwrap();
    let e = conn
        .execute("UPDATE audit_log SET action = 'nothing happened'", [])
        .expect_err("an edited audit entry");
    assert!(e.to_string().contains("append-only"), "{e}");
    let action: String = conn
        .query_row(
            "SELECT action FROM audit_log ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(action, "item.created");
}
