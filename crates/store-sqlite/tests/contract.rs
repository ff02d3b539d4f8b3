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
