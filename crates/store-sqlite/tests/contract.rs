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
