//! Rotating the PostgreSQL password under load: `DATABASE_URL_FILE` is
//! re-read when it changes, new connections use the new password, the open
//! ones carry on, and no request fails. Drives the real binary against the
//! test cluster, where members of `password_required` must log in with a
//! password (scripts/pg-test-cluster.sh).

use crate::common;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const ADMIN_PASSWORD: &str = "rotation-admin-password";

fn write_atomically(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotated_database_password_takes_effect_without_a_restart_or_a_failed_request() {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        let msg = "TEST_DATABASE_URL is not set: run scripts/test.sh";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return;
    };
    let Some(bin) = inventory_ops_tests::inventory_bin() else {
        return;
    };
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    let (role, database) = (format!("rot_{suffix}"), format!("rot_{suffix}"));
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    for sql in [
        "DO $$ BEGIN CREATE ROLE password_required NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$".to_owned(),
        format!("CREATE ROLE {role} LOGIN PASSWORD 'first-password' IN ROLE password_required"),
        format!("CREATE DATABASE {database} OWNER {role} TEMPLATE template0"),
    ] {
        sqlx::query(&sql).execute(&mut admin).await.unwrap();
    }
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let host = base.rsplit_once('@').unwrap().1;
    let url_with = |password: &str| format!("postgres://{role}:{password}@{host}/{database}");

    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("database-url");
    write_atomically(&secret, &format!("{}\n", url_with("first-password")));
    let mut child = Command::new(&bin)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("BIND_ADDR", "127.0.0.1")
        .env("DATABASE_URL_FILE", &secret)
        .env("DATABASE_POOL_SIZE", "4")
        .env("INVENTORY_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stderr = child.stderr.take().unwrap();
    let _child = Kill(child);
    let (tx, lines) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    let wait_for = |message: &str| loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no '{message}' log line"));
        if line["message"] == message {
            break line;
        }
    };
    let listening = wait_for("listening");
    let base_url = format!("http://{}", listening["addr"].as_str().unwrap());

    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{base_url}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let item: Value = client
        .post(format!("{base_url}/api/v1/items"))
        .bearer_auth(&token)
        .json(&json!({"sku": "ROT-1", "name": "Rotated", "unit": "pcs"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item_id = item["id"].as_str().unwrap().to_owned();

    // Steady load: reads and durable writes from four clients.
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (client, base_url, token, item_id) = (
                client.clone(),
                base_url.clone(),
                token.clone(),
                item_id.clone(),
            );
            let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
            tokio::spawn(async move {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) && n < 100_000 {
                    n += 1;
                    let res = if (n + w) % 2 == 0 {
                        client
                            .get(format!("{base_url}/api/v1/items/{item_id}/stock"))
                            .bearer_auth(&token)
                            .send()
                            .await
                    } else {
                        client
                            .post(format!("{base_url}/api/v1/movements"))
                            .bearer_auth(&token)
                            .json(&json!({"item_id": item_id, "kind": "receive", "quantity": 1}))
                            .send()
                            .await
                    };
                    match res {
                        Ok(r) if r.status().is_success() => {}
                        Ok(r) => {
                            eprintln!(
                                "failed: {} {}",
                                r.status(),
                                r.text().await.unwrap_or_default()
                            );
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            eprintln!("failed: {e}");
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let until = |count: usize| {
        let done = done.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while done.load(Ordering::Relaxed) < count {
                assert!(Instant::now() < deadline, "the load stalled");
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    until(200).await;

    // Rotate: the database first, then the secret file (as
    // scripts/rotate-secrets.sh does), under the load.
    let rotate = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/rotate-secrets.sh"
    ))
    .args(["--env", "dev", "--local", "--database-url-file"])
    .arg(&secret)
    .args(["--new-password", "second-password"])
    .output();
    match rotate {
        Ok(out) if out.status.success() => {}
        other => {
            // The script is the way operators rotate; it must work here.
            panic!("rotate-secrets.sh failed: {other:?}");
        }
    }
    let changed = wait_for("secret changed: new connections use it");
    assert_eq!(changed["file"], "DATABASE_URL_FILE");
    let after = done.load(Ordering::Relaxed);
    until(after + 200).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the rotation"
    );

    // The old password no longer opens a connection; the service's new ones
    // use the new password: end its sessions and it must reconnect.
    assert!(sqlx::PgConnection::connect(&url_with("first-password"))
        .await
        .is_err());
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
        .bind(&role)
        .execute(&mut admin)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let res = client
            .post(format!("{base_url}/api/v1/movements"))
            .bearer_auth(&token)
            .json(&json!({"item_id": item_id, "kind": "receive", "quantity": 1}))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::CREATED {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no reconnect with the new password: {}",
            res.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reconnected: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE usename = $1")
            .bind(&role)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert!(reconnected >= 1);
}

/// The Redis password rotated: `REDIS_URL_FILE` is re-read, and once Redis
/// drops the old connections the service is back on the cache with the new
/// password (without the reload it would stay degraded, its reconnects
/// refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_redis_password_takes_effect_without_a_restart() {
    let Some(redis) = common::RedisServer::start() else {
        return;
    };
    let Some(bin) = inventory_ops_tests::inventory_bin() else {
        return;
    };
    let url_with = |password: &str| format!("redis://:{password}@127.0.0.1:{}/", redis.port);
    let command = |url: &str, args: &[&str]| {
        let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query::<redis::Value>(&mut conn).unwrap();
    };
    command(
        &redis.url(),
        &["CONFIG", "SET", "requirepass", "first-redis-password"],
    );

    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("redis-url");
    write_atomically(&secret, &format!("{}\n", url_with("first-redis-password")));
    let mut child = Command::new(&bin)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("BIND_ADDR", "127.0.0.1")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("inv.db").display()),
        )
        .env("REDIS_URL_FILE", &secret)
        .env("INVENTORY_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _child = Kill(child);
    let (tx, lines) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    let wait_for = |message: &str| loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no '{message}' log line"));
        if line["message"] == message {
            break line;
        }
    };
    let listening = wait_for("listening");
    let base_url = format!("http://{}", listening["addr"].as_str().unwrap());
    let client = reqwest::Client::new();
    let cache_state = || {
        let (client, url) = (client.clone(), format!("{base_url}/ready"));
        async move {
            let ready: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            ready["checks"]["cache"].as_str().unwrap_or("").to_owned()
        }
    };
    let until_cache = |want: &'static str| async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if cache_state().await == want {
                return;
            }
            assert!(Instant::now() < deadline, "the cache never became {want}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    until_cache("ok").await;

    // Rotate: Redis first (open connections stay authenticated), then the file.
    command(
        &url_with("first-redis-password"),
        &["CONFIG", "SET", "requirepass", "second-redis-password"],
    );
    write_atomically(&secret, &format!("{}\n", url_with("second-redis-password")));
    let changed = wait_for("secret changed: new connections use it");
    assert_eq!(changed["file"], "REDIS_URL_FILE");

    // Every client connection dropped: only the new password gets back in.
    command(
        &url_with("second-redis-password"),
        &["CLIENT", "KILL", "TYPE", "normal"],
    );
    until_cache("ok").await;
    assert!(redis::Client::open(url_with("first-redis-password"))
        .unwrap()
        .get_connection()
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_err());
}
