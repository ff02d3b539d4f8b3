//! `inventory backup | restore | export | import` with the real binary:
//! SQLite → PostgreSQL → SQLite round trip compared row by row, corrupt and
//! truncated files refused with their line number and nothing written, and
//! online backups taken while a writer posts movements.

use crate::common;

use crate::common::{fresh_pg_database, spawn_app_with, TestApp, ADMIN_PASSWORD};
use inventory_core::model::MAIN_LOCATION;
use inventory_server::config::DatabaseConfig;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_inventory");

fn sqlite(path: &Path) -> DatabaseConfig {
    DatabaseConfig::Sqlite {
        path: path.to_owned(),
        sync_full: true,
    }
}

fn url_of(db: &DatabaseConfig) -> String {
    match db {
        DatabaseConfig::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
        DatabaseConfig::Postgres { url, .. } => url.expose().to_owned(),
    }
}

/// Runs `inventory ARGS` on `db` (off the async runtime) and returns its output.
async fn cli(db: &DatabaseConfig, args: &[&str]) -> Output {
    let url = url_of(db);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", url)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("run inventory")
    })
    .await
    .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a command that must succeed.
async fn ok(db: &DatabaseConfig, args: &[&str]) {
    let out = cli(db, args).await;
    assert!(
        out.status.success(),
        "inventory {args:?} failed ({:?}): {}",
        out.status.code(),
        stderr(&out)
    );
}

/// Exports `db` to `file` and returns the file's text.
async fn export(db: &DatabaseConfig, file: &Path) -> String {
    ok(db, &["export", "--output", file.to_str().unwrap()]).await;
    std::fs::read_to_string(file).unwrap()
}

/// The header of an export, and its rows (every line after the header).
fn split(text: &str) -> (Value, &str) {
    let (header, rows) = text.split_once('\n').expect("a header line");
    (serde_json::from_str(header).unwrap(), rows)
}

/// A shop's worth of history: locations, items (one archived, one edited,
/// exact costs and odd attribute JSON), transfers between locations, an
/// issue and an adjustment, a manager who posts some of it, and their events.
async fn populate(app: &TestApp) {
    app.create_location("SHELF-A").await;
    app.create_location("SHELF-B").await;
    let bolt = app
        .create_item_with(json!({
            "sku": "BOLT-1", "name": "Grüne Schraube", "description": "line one\nline \"two\"",
            "category": "bolts", "unit": "box", "reorder_point": 5, "unit_cost": "12.3456",
            "attributes": {"z": 1.50, "a": [1e3, -0.0, 12345678901234567890u64], "ü": {"n": null}}
        }))
        .await;
    let nut = app.create_item("NUT-1").await;
    let gone = app.create_item("OLD-1").await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let res = app
        .send(
            Method::DELETE,
            &app.admin_token,
            &format!("/api/v1/items/{}", id(&gone)),
            None,
        )
        .await;
    assert!(res.status().is_success(), "archive: {}", res.status());
    let res = app
        .send(
            Method::PATCH,
            &app.admin_token,
            &format!("/api/v1/items/{}", id(&nut)),
            Some(json!({"name": "Hex nut", "category": "nuts"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let manager = app.token_for("manager").await;
    app.receive(&id(&bolt), 40).await;
    for body in [
        json!({"item_id": id(&bolt), "kind": "transfer", "quantity": 15, "to_location": "SHELF-A"}),
        json!({"item_id": id(&bolt), "kind": "transfer", "quantity": 5, "from_location": "SHELF-A", "to_location": "SHELF-B", "reference": "PO-7"}),
        json!({"item_id": id(&bolt), "kind": "issue", "quantity": 3, "location": "SHELF-B"}),
        json!({"item_id": id(&bolt), "kind": "adjust", "quantity": -2, "reason": "stock count"}),
        json!({"item_id": id(&nut), "kind": "receive", "quantity": 9, "location": "SHELF-B"}),
    ] {
        let res = app
            .send(Method::POST, &manager, "/api/v1/movements", Some(body))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
}

/// Every item's balances in `db` equal its ledger, and the count of movements.
async fn check_balances(db: &DatabaseConfig) -> usize {
    let store = inventory_server::open_store(&common::test_config(db.clone()))
        .await
        .expect("open the restored database");
    let items = store
        .list_items(&inventory_core::paging::ItemQuery {
            include_archived: true,
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .rows;
    assert!(!items.is_empty());
    for item in &items {
        let ledger = store.ledger_sum(item.id).await.unwrap();
        let stock = store.item_stock(item.id, None).await.unwrap();
        assert_eq!(item.on_hand, ledger, "{}: on_hand vs ledger", item.sku);
        assert_eq!(stock.on_hand, ledger, "{}: stock rows vs ledger", item.sku);
    }
    store
        .list_movements(&inventory_core::paging::MovementQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .rows
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_to_postgres_to_sqlite_round_trips_every_row() {
    let Some(pg) = fresh_pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().to_owned();
    let first = sqlite(&files.join("first.db"));
    let app = spawn_app_with(tempfile::tempdir().unwrap(), first.clone()).await;
    populate(&app).await;
    app.shutdown().await;

    let e1 = export(&first, &files.join("1.jsonl")).await;
    ok(
        &pg,
        &["import", "--input", files.join("1.jsonl").to_str().unwrap()],
    )
    .await;
    let e2 = export(&pg, &files.join("2.jsonl")).await;
    let last = sqlite(&files.join("last.db"));
    ok(
        &last,
        &["import", "--input", files.join("2.jsonl").to_str().unwrap()],
    )
    .await;
    let e3 = export(&last, &files.join("3.jsonl")).await;

    let (h1, rows1) = split(&e1);
    let (h2, rows2) = split(&e2);
    let (h3, rows3) = split(&e3);
    assert_eq!(
        (
            h1["backend"].as_str(),
            h2["backend"].as_str(),
            h3["backend"].as_str()
        ),
        (Some("sqlite"), Some("postgres"), Some("sqlite"))
    );
    let audit = |rows: &str| rows.matches(r#""type":"audit""#).count();
    assert_eq!(
        rows1.lines().count(),
        2 + 3 + 3 + 4 + 6 + rows1.matches(r#""type":"event""#).count() + audit(rows1) + 1
    );
    assert!(audit(rows1) > 0, "the trail of the changes is exported");
    // Each import adds one audit entry of its own (database.imported) after
    // the file's; every other row is the same, byte for byte.
    assert_eq!(
        (audit(rows2), audit(rows3)),
        (audit(rows1) + 1, audit(rows1) + 2)
    );
    let without_import_entries = |rows: &str| {
        rows.lines()
            .filter(|l| !l.contains(r#""action":"database.imported""#))
            .filter(|l| !l.starts_with(r#"{"type":"end""#))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let moved = without_import_entries(rows1);
    assert_eq!(
        moved,
        without_import_entries(rows2),
        "SQLite → PostgreSQL changes no row"
    );
    assert_eq!(
        moved,
        without_import_entries(rows3),
        "PostgreSQL → SQLite changes no row"
    );

    // The moved shop works: passwords, balances, and counters that continue.
    let app = spawn_app_with(tempfile::tempdir().unwrap(), last.clone()).await;
    let token = app.login("admin", ADMIN_PASSWORD).await;
    let items = app.get_json("/api/v1/items?sort=sku").await;
    let bolt = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku"] == "BOLT-1")
        .unwrap()
        .clone();
    assert_eq!(bolt["on_hand"], 35);
    assert_eq!(bolt["unit_cost"], "12.3456");
    let res = app
        .send(
            Method::POST,
            &token,
            "/api/v1/movements",
            Some(json!({"item_id": bolt["id"], "kind": "receive", "quantity": 1})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let movement: Value = res.json().await.unwrap();
    let max_seq = rows1
        .lines()
        .filter(|l| l.contains(r#""type":"movement""#))
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .max()
        .unwrap();
    assert_eq!(movement["movement"]["seq"].as_i64(), Some(max_seq + 1));
    app.shutdown().await;
}

/// The export of a database that holds nothing but MAIN.
fn is_empty_export(text: &str) -> bool {
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines.len() == 3 && lines[1]["type"] == "location" && lines[1]["code"] == MAIN_LOCATION
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corrupt_or_truncated_import_fails_with_its_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().to_owned();
    let source = sqlite(&files.join("source.db"));
    let app = spawn_app_with(tempfile::tempdir().unwrap(), source.clone()).await;
    populate(&app).await;
    app.shutdown().await;
    let text = export(&source, &files.join("good.jsonl")).await;
    let lines: Vec<&str> = text.lines().collect();

    // Cut in the middle of a line.
    let cut_line = lines.len() / 2 + 1;
    let cut_at = lines[..cut_line - 1]
        .iter()
        .map(|l| l.len() + 1)
        .sum::<usize>()
        + 7;
    let truncated = files.join("truncated.jsonl");
    std::fs::write(&truncated, &text.as_bytes()[..cut_at]).unwrap();
    // Cut at a line boundary: only the missing end line tells.
    let short = files.join("short.jsonl");
    std::fs::write(&short, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    // A corrupt line: a quantity that is not a number.
    let movement_line = lines
        .iter()
        .position(|l| l.contains(r#""type":"movement""#))
        .unwrap();
    let corrupt = files.join("corrupt.jsonl");
    let mut bad: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    bad[movement_line] = bad[movement_line].replacen(r#""quantity":"#, r#""quantity":"x"#, 1);
    std::fs::write(&corrupt, bad.join("\n") + "\n").unwrap();
    // A stock row that no longer matches the ledger.
    let stock_line = lines
        .iter()
        .position(|l| l.contains(r#""type":"stock""#))
        .unwrap();
    let unbalanced = files.join("unbalanced.jsonl");
    let mut bad: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut row: Value = serde_json::from_str(&bad[stock_line]).unwrap();
    row["on_hand"] = json!(row["on_hand"].as_i64().unwrap() + 1);
    bad[stock_line] = row.to_string();
    std::fs::write(&unbalanced, bad.join("\n") + "\n").unwrap();

    let cases: Vec<(&Path, usize)> = vec![
        (&truncated, cut_line),
        (&short, lines.len()),
        (&corrupt, movement_line + 1),
    ];
    let mut targets = vec![sqlite(&files.join("target.db"))];
    targets.extend(fresh_pg_database().await);
    for target in &targets {
        ok(target, &["migrate"]).await;
        for (file, line) in &cases {
            let out = cli(target, &["import", "--input", file.to_str().unwrap()]).await;
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{}: {err}", file.display());
            assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
            assert!(
                err.contains(&format!("line {line}:")),
                "{} names line {line}: {err}",
                file.display()
            );
        }
        let out = cli(target, &["import", "--input", unbalanced.to_str().unwrap()]).await;
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("line "), "{}", stderr(&out));
        let out = cli(target, &["import", "--input", "/nonexistent/file.jsonl"]).await;
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

        let after = export(
            target,
            &files.join(format!("after-{}.jsonl", uuid::Uuid::now_v7())),
        )
        .await;
        assert!(is_empty_export(&after), "the target is untouched: {after}");

        // The good file imports; a second import finds the database in use.
        let good = files.join("good.jsonl");
        ok(target, &["import", "--input", good.to_str().unwrap()]).await;
        let out = cli(target, &["import", "--input", good.to_str().unwrap()]).await;
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    }
}

/// Posts movements (receive, then transfers) until told to stop.
fn spawn_writer(
    app: &TestApp,
    item_id: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    let (client, base, token) = (
        app.client.clone(),
        app.base.clone(),
        app.admin_token.clone(),
    );
    tokio::spawn(async move {
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let body = if n % 2 == 0 {
                json!({"item_id": item_id, "kind": "receive", "quantity": 3})
            } else {
                json!({"item_id": item_id, "kind": "transfer", "quantity": 1, "to_location": "SHELF-A"})
            };
            let res = client
                .post(format!("{base}/api/v1/movements"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
            n += 1;
        }
        n
    })
}

/// Takes a backup of `db` while `app` (serving `db`) posts movements.
async fn backup_while_writing(app: &TestApp, db: &DatabaseConfig, output: &Path) -> u64 {
    app.create_location("SHELF-A").await;
    let item = app.create_item("HOT-1").await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(app, item["id"].as_str().unwrap().to_owned(), stop.clone());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    ok(db, &["backup", "--output", output.to_str().unwrap()]).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let posted = writer.await.unwrap();
    assert!(posted > 0);
    posted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_backup_while_writing_restores_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let files: PathBuf = dir.path().to_owned();
    let live = sqlite(&files.join("live.db"));
    let app = spawn_app_with(tempfile::tempdir().unwrap(), live.clone()).await;
    let backup = files.join("backup.db");
    let posted = backup_while_writing(&app, &live, &backup).await;

    // The backup holds password hashes: only its owner may read it.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "backup mode {mode:o}");
    // So does an export, unless users are left out.
    let exported = files.join("export.jsonl");
    ok(&live, &["export", "--output", exported.to_str().unwrap()]).await;
    let mode = std::fs::metadata(&exported).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "export mode {mode:o}");
    assert!(std::fs::read_to_string(&exported)
        .unwrap()
        .contains("\"type\":\"user\""));
    let without = files.join("without-users.jsonl");
    ok(
        &live,
        &[
            "export",
            "--without-users",
            "--output",
            without.to_str().unwrap(),
        ],
    )
    .await;
    let text = std::fs::read_to_string(&without).unwrap();
    assert!(!text.contains("\"type\":\"user\"") && !text.contains("argon2"));
    assert!(text.contains("\"type\":\"movement\""));

    // An existing output is refused; so is a restore over a database in use.
    let out = cli(&live, &["backup", "--output", backup.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = cli(&live, &["restore", "--input", backup.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    app.shutdown().await;

    let restored = sqlite(&files.join("restored").join("inventory.db"));
    ok(&restored, &["restore", "--input", backup.to_str().unwrap()]).await;
    let movements = check_balances(&restored).await;
    assert!(
        movements > 0 && movements as u64 <= posted,
        "{movements} of {posted}"
    );
    // A restored database serves, with the users of the backup.
    let app = spawn_app_with(tempfile::tempdir().unwrap(), restored).await;
    app.login("admin", ADMIN_PASSWORD).await;
    app.shutdown().await;

    // Not a backup at all: a clean refusal.
    let junk = files.join("junk.db");
    std::fs::write(&junk, b"SQLite format 3\0 but not really").unwrap();
    let out = cli(
        &sqlite(&files.join("other.db")),
        &["restore", "--input", junk.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!files.join("other.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_backup_while_writing_restores_consistently() {
    let (Some(live), Some(target)) = (fresh_pg_database().await, fresh_pg_database().await) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(tempfile::tempdir().unwrap(), live.clone()).await;
    let backup = dir.path().join("backup.jsonl");
    let posted = backup_while_writing(&app, &live, &backup).await;
    app.shutdown().await;

    let (header, _) = split(&std::fs::read_to_string(&backup).unwrap());
    assert_eq!(header["backend"], "postgres");
    ok(&target, &["restore", "--input", backup.to_str().unwrap()]).await;
    let movements = check_balances(&target).await;
    assert!(
        movements > 0 && movements as u64 <= posted,
        "{movements} of {posted}"
    );
    let out = cli(&target, &["restore", "--input", backup.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
