//! The Store contract suite against PostgreSQL: every test gets a fresh
//! database in the cluster named by `TEST_DATABASE_URL` (see
//! `scripts/pg-test-cluster.sh`), dropped after the test.

use inventory_core::Store;
use inventory_store_postgres::{PgStore, PostgresOptions};
use sqlx::{Connection, Executor, PgConnection};
use std::sync::Arc;

const MISSING: &str = "TEST_DATABASE_URL is not set: run scripts/test.sh, or start a cluster \
     with scripts/pg-test-cluster.sh (needs apt-get install postgresql)";

/// Drops the test database once the test is over (best effort).
struct TempDatabase {
    admin_url: String,
    name: String,
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // The test's runtime is shutting down around us: use a thread of our own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&url).await.ok()?;
                // The name is ours (t_ and a UUID), never input.
                let _ = admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

/// The URL of database `name` on the same server as `url`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_end..].find('/') {
        Some(i) => &base[..authority_end + i],
        None => base,
    };
    format!("{server}/{name}{query}")
}

async fn fresh_store() -> (Arc<dyn Store>, TempDatabase) {
    // scripts/test.sh always provides a cluster; without one, say what to do.
    let admin_url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| panic!("{MISSING}"));
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    admin
        .execute(format!("CREATE DATABASE {name} TEMPLATE template0").as_str())
        .await
        .expect("create a test database");
    let _ = admin.close().await;
    let guard = TempDatabase {
        admin_url: admin_url.clone(),
        name: name.clone(),
    };
    let store = PgStore::open(
        &with_database(&admin_url, &name),
        &PostgresOptions::default(),
    )
    .await
    .expect("open a fresh PostgreSQL store");
    (Arc::new(store), guard)
}

inventory_store_tests::contract_tests!(fresh_store());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purchase_figures_changed_behind_the_orders_are_reported() {
    let (store, guard) = fresh_store().await;
    let url = with_database(&guard.admin_url, &guard.name);
    inventory_store_tests::purchase_figures_changed_behind_the_orders_are_reported(
        store,
        || async move {
            let mut conn = PgConnection::connect(&url).await.expect("connect");
            conn.execute(
                "UPDATE items SET incoming = incoming + 2; \
                 UPDATE purchase_order_lines SET received = received + 1",
            )
            .await
            .expect("change the figures by hand");
            let _ = conn.close().await;
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sales_figures_changed_behind_the_orders_are_reported() {
    let (store, guard) = fresh_store().await;
    let url = with_database(&guard.admin_url, &guard.name);
    inventory_store_tests::sales_figures_changed_behind_the_orders_are_reported(
        store,
        || async move {
            let mut conn = PgConnection::connect(&url).await.expect("connect");
            conn.execute(
                "UPDATE sales_order_lines SET shipped = shipped + 1; \
                 UPDATE stock SET reserved = reserved + 1",
            )
            .await
            .expect("change the figures by hand");
            let _ = conn.close().await;
        },
    )
    .await;
}
