//! PostgreSQL-specific guarantees beyond the shared contract: migrations
//! under an advisory lock, the schema-version guard, the append-only
//! ledger, several stores ("replicas") on one database, and a writer that
//! survives losing its connection. Needs `TEST_DATABASE_URL` like contract.rs.

use inventory_core::error::ConflictKind;
use inventory_core::model::*;
use inventory_core::paging::MovementQuery;
use inventory_core::store::{Created, Idempotency};
use inventory_core::{Error, Store};
use inventory_store_postgres::{PgStore, PostgresOptions, LATEST_VERSION};
use sqlx::{Connection, Executor, PgConnection};
use std::collections::HashSet;
use std::sync::Arc;

const MISSING: &str = "TEST_DATABASE_URL is not set: run scripts/test.sh, or start a cluster \
     with scripts/pg-test-cluster.sh (needs apt-get install postgresql)";

struct TempDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&url).await.ok()?;
                let _ = admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

async fn fresh_database() -> TempDatabase {
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
    let (base, _) = admin_url.rsplit_once('/').expect("a URL with a database");
    TempDatabase {
        url: format!("{base}/{name}"),
        admin_url,
        name,
    }
}

async fn sql(url: &str, statement: &str) -> Result<u64, sqlx::Error> {
    let mut conn = PgConnection::connect(url).await?;
    let done = conn.execute(statement).await?.rows_affected();
    let _ = conn.close().await;
    Ok(done)
}

async fn open(url: &str) -> Arc<dyn Store> {
    Arc::new(
        PgStore::open(url, &PostgresOptions::default())
            .await
            .expect("open the store"),
    )
}

fn spec(sku: &str) -> Item {
    CreateItem {
        sku: sku.into(),
        name: format!("Item {sku}"),
        description: None,
        category: None,
        barcode: None,
        unit: None,
        reorder_point: None,
        unit_cost: None,
        attributes: None,
    }
    .validate(inventory_core::now())
    .unwrap()
}

fn receive(item_id: uuid::Uuid, quantity: i64) -> NewMovement {
    CreateMovement {
        item_id: Some(item_id),
        sku: None,
        kind: MovementKind::Receive,
        quantity,
        location: None,
        from_location: None,
        to_location: None,
        reason: None,
        reference: None,
    }
    .validate()
    .unwrap()
    .for_item(item_id)
}

async fn actor(store: &Arc<dyn Store>, name: &str) -> Actor {
    let user = CreateUser {
        username: name.into(),
        password: String::new(),
        role: Role::Clerk,
        display_name: None,
        email: None,
    }
    .into_user(inventory_core::now())
    .0;
    match store.create_user(user, "h", None).await {
        Ok(Created::New(u)) => Actor {
            user_id: u.id,
            username: u.username,
            role: u.role,
        },
        other => panic!("create_user: {other:?}"),
    }
}

async fn item(store: &Arc<dyn Store>, sku: &str) -> Item {
    match store.create_item(spec(sku), None).await {
        Ok(Created::New(i)) => i,
        other => panic!("create_item: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_opening_together_migrate_once() {
    let db = fresh_database().await;
    let mut opens = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let url = db.url.clone();
        opens.spawn(async move { PgStore::open(&url, &PostgresOptions::default()).await });
    }
    let mut stores = Vec::new();
    while let Some(r) = opens.join_next().await {
        stores.push(r.unwrap().expect("every replica opens"));
    }
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    // Each migration applied exactly once, in order.
    assert_eq!(versions, (1..=LATEST_VERSION).collect::<Vec<_>>());
    let mains: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM locations WHERE code = 'MAIN'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mains, 1);
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let db = fresh_database().await;
    drop(open(&db.url).await);
    sql(
        &db.url,
        &format!(
            "INSERT INTO schema_migrations (version, name) VALUES ({}, 'future')",
            LATEST_VERSION + 1
        ),
    )
    .await
    .unwrap();
    match PgStore::open(&db.url, &PostgresOptions::default()).await {
        Err(Error::Internal(m)) => assert!(m.contains("newer"), "{m}"),
        Err(e) => panic!("expected Internal, got {e:?}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let opts = PostgresOptions {
        connect_timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    // Port 1 on loopback: nothing listens there.
    match PgStore::open("postgres://postgres@127.0.0.1:1/postgres", &opts).await {
        Err(Error::Unavailable(_)) => {}
        Err(e) => panic!("expected Unavailable, got {e:?}"),
        Ok(_) => panic!("nothing listens on port 1"),
    }
}

#[tokio::test]
async fn the_ledger_is_append_only() {
    let db = fresh_database().await;
    let store = open(&db.url).await;
    let clerk = actor(&store, "clerk").await;
    let it = item(&store, "AO-1").await;
    store
        .apply_movements(vec![receive(it.id, 5)], &clerk, None)
        .await
        .unwrap();
    for statement in [
        "UPDATE movements SET quantity = 500",
        "DELETE FROM movements",
        "TRUNCATE movements CASCADE",
    ] {
        let e = sql(&db.url, statement).await.expect_err(statement);
        assert!(e.to_string().contains("append-only"), "{statement}: {e}");
    }
    assert_eq!(store.ledger_sum(it.id).await.unwrap(), 5);
}

#[tokio::test]
async fn audit_entries_cannot_be_edited() {
    let db = fresh_database().await;
    let store = open(&db.url).await;
    item(&store, "AUDIT-AO-1").await;
    let e = sql(&db.url, "UPDATE audit_log SET action = 'nothing happened'")
        .await
        .expect_err("an edited audit entry");
    assert!(e.to_string().contains("append-only"), "{e}");
    let query = inventory_core::audit::AuditQuery {
        limit: 10,
        ..Default::default()
    };
    let entries = store.list_audit(&query).await.unwrap().rows;
    assert_eq!(entries[0].action, "item.created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_one_ledger() {
    let db = fresh_database().await;
    let a = open(&db.url).await;
    let b = open(&db.url).await;
    let clerk = actor(&a, "clerk").await;
    let it = item(&b, "REP-1").await;
    a.apply_movements(vec![receive(it.id, 40)], &clerk, None)
        .await
        .unwrap();

    // Oversell across replicas: 40 units, 100 requests of 1.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let clerk = clerk.clone();
        tasks.spawn(async move {
            let issue = CreateMovement {
                item_id: Some(it.id),
                sku: None,
                kind: MovementKind::Issue,
                quantity: 1,
                location: None,
                from_location: None,
                to_location: None,
                reason: None,
                reference: None,
            }
            .validate()
            .unwrap()
            .for_item(it.id);
            store.apply_movements(vec![issue], &clerk, None).await
        });
    }
    let (mut ok, mut short) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::AtIndex { source, .. })
                if matches!(*source, Error::InsufficientStock { .. }) =>
            {
                short += 1
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((ok, short), (40, 60));
    assert_eq!(a.get_item(it.id).await.unwrap().on_hand, 0);
    assert_eq!(b.ledger_sum(it.id).await.unwrap(), 0);

    // One idempotency key raced on two replicas: applied exactly once.
    let render: inventory_core::store::Render<Vec<MovementResult>> =
        Arc::new(|v: &Vec<MovementResult>| format!("{}", v.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (clerk, render) = (clerk.clone(), render.clone());
        tasks.spawn(async move {
            let idem = Idempotency {
                user_id: clerk.user_id,
                key: "same".into(),
                request_hash: "h".into(),
                status: 201,
                render,
            };
            store
                .apply_movements(vec![receive(it.id, 3)], &clerk, Some(idem))
                .await
        });
    }
    let mut new = 0;
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(Created::New(_)) => new += 1,
            Ok(Created::Replay(_)) => {}
            Err(Error::Conflict {
                kind: ConflictKind::IdempotencyInFlight,
                ..
            }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(new, 1);
    assert_eq!(a.ledger_sum(it.id).await.unwrap(), 3);

    // Seqs from both replicas are distinct and the ledger lists in order.
    let rows = a
        .list_movements(&MovementQuery {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .rows;
    assert_eq!(rows.len(), 42);
    let seqs: HashSet<i64> = rows.iter().map(|m| m.seq).collect();
    assert_eq!(seqs.len(), rows.len());
    assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_reconnects_after_losing_its_connection() {
    let db = fresh_database().await;
    let store = open(&db.url).await;
    item(&store, "RC-1").await;
    let kill = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name
    );
    for round in 0..3 {
        sql(&db.admin_url, &kill).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // Writes: a failure may only be "unavailable", and the writer recovers.
        let mut created = false;
        for attempt in 0..5 {
            match store
                .create_item(spec(&format!("RC-{round}-{attempt}")), None)
                .await
            {
                Ok(Created::New(_)) => {
                    created = true;
                    break;
                }
                Err(Error::Unavailable(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(created, "the writer did not recover");
        // Reads recover too.
        let mut read = false;
        for _ in 0..12 {
            match store.count_all_items().await {
                Ok(_) => {
                    read = true;
                    break;
                }
                Err(Error::Unavailable(_)) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert!(read, "reads did not recover");
    }
    assert_eq!(store.count_all_items().await.unwrap(), 4);
    store.ping().await.unwrap();
}

/// Users and sessions of a schema-6 database migrate cleanly to 7: each
/// session gets a distinct id and keeps working, each user `updated_at` =
/// `created_at`, enabled, with no password change pending.
#[tokio::test]
async fn users_and_sessions_migrate_to_7() {
    let db = fresh_database().await;
    let before_7 = [
        include_str!("../migrations/0001_init.sql"),
        include_str!("../migrations/0002_defaults_reversals_folding.sql"),
        include_str!("../migrations/0003_barcodes.sql"),
        include_str!("../migrations/0004_parties_purchase_orders.sql"),
        include_str!("../migrations/0005_reservations.sql"),
        include_str!("../migrations/0006_sales_orders.sql"),
    ];
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    conn.execute(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await
    .unwrap();
    for (i, migration) in before_7.iter().enumerate() {
        conn.execute(*migration).await.unwrap();
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, 'before')")
            .bind(i as i64 + 1)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.execute(
        "INSERT INTO users (id, username, password_hash, role, created_at) \
         VALUES ('00000000-0000-7000-8000-000000000001', 'ann', 'h', 'admin', '2026-01-01T00:00:00Z'); \
         INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES \
         ('t1', '00000000-0000-7000-8000-000000000001', now(), now() + interval '1 hour'), \
         ('t2', '00000000-0000-7000-8000-000000000001', now(), now() + interval '1 hour')",
    )
    .await
    .unwrap();
    let _ = conn.close().await;

    let store = open(&db.url).await;
    let ann = store.find_user("ann").await.unwrap().unwrap().user;
    assert_eq!(ann.updated_at, ann.created_at);
    assert!(!ann.disabled && !ann.must_change_password);
    let t1 = store
        .find_session("t1")
        .await
        .unwrap()
        .expect("still valid");
    let t2 = store
        .find_session("t2")
        .await
        .unwrap()
        .expect("still valid");
    assert_ne!(t1.id, t2.id);
    assert_eq!(t1.user.id, ann.id);
    let listed = store.list_sessions(ann.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .all(|s| s.client_addr.is_none() && s.last_used_at.is_none()));
}
