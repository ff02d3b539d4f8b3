//! Redis as the cache replicas share: hits are counted by layer, an
//! acknowledged write is never followed by an old value on any replica (also
//! under concurrent readers racing to fill the cache), and Redis being down
//! never fails a request.

use crate::common::*;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn metric(text: &str, name: &str, layer: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l.contains(&format!("layer=\"{layer}\"")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn metrics_text(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_hit_the_cache_and_are_counted_by_layer() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let database = test_database(dir.path()).await;
    let app = spawn_app_with_redis(database, &redis.url()).await;
    let item = app.create_item("CACHE-1").await;
    let path = format!("/api/v1/items/{}", item["id"].as_str().unwrap());
    let before = metrics_text(&app).await;
    for _ in 0..5 {
        assert_eq!(app.get_json(&path).await["sku"], "CACHE-1");
    }
    let after = metrics_text(&app).await;
    let hits = |t: &str| {
        metric(t, "inventory_cache_hits_total", "local")
            + metric(t, "inventory_cache_hits_total", "redis")
    };
    assert!(
        hits(&after) - hits(&before) >= 3.0,
        "repeated reads hit a cache layer"
    );
    assert!(after.contains("inventory_cache_misses_total"));
    let ready: Value = app
        .client
        .get(app.url("/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["cache"], "ok");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_replica_serves_an_old_value_after_a_write_is_acknowledged() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let Some(database) = fresh_pg_database().await else {
        return;
    };
    let a = spawn_app_with_redis(database.clone(), &redis.url()).await;
    let b = spawn_app_with_redis(database, &redis.url()).await;
    let item = a.create_item("COHERENT-1").await;
    let path = format!("/api/v1/items/{}", item["id"].as_str().unwrap());

    // Readers on both replicas keep missing and filling the cache while B writes.
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..6)
        .map(|i| {
            let (client, url, token) = if i % 2 == 0 {
                (a.client.clone(), a.url(&path), a.admin_token.clone())
            } else {
                (b.client.clone(), b.url(&path), b.admin_token.clone())
            };
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut reads = 0u32;
                while !stop.load(Ordering::Relaxed) && reads < 20_000 {
                    let res = client.get(&url).bearer_auth(&token).send().await.unwrap();
                    assert_eq!(res.status(), StatusCode::OK);
                    reads += 1;
                }
                reads
            })
        })
        .collect();

    for round in 1..=40 {
        let name = format!("round {round}");
        let res = b
            .send(
                Method::PATCH,
                &b.admin_token,
                &path,
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        // Acknowledged: from now on every replica serves it (or something newer).
        for app in [&a, &b, &a] {
            let seen = app.get_json(&path).await;
            assert_eq!(
                seen["name"],
                name.as_str(),
                "a stale read after round {round}"
            );
            assert_eq!(seen["version"], round + 1);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let reads: u32 = join_all(readers)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .sum();
    assert!(reads > 0);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_never_fails_a_request_and_the_cache_comes_back() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let database = test_database(dir.path()).await;
    let app = spawn_app_with_redis(database, &redis.url()).await;
    let item = app.create_item("DOWN-1").await;
    let id = item["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/items/{id}");
    app.get_json(&path).await;

    redis.halt();
    let errors_before = metrics_text(&app).await;
    // Reads and writes go on, and what is read is what was written.
    app.receive(&id, 2).await;
    let res = app
        .send(
            Method::PATCH,
            &app.admin_token,
            &path,
            Some(json!({"name": "while down"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let seen = app.get_json(&path).await;
    assert_eq!(
        (seen["name"].as_str(), seen["on_hand"].as_i64()),
        (Some("while down"), Some(2))
    );
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::OK,
        "a down cache does not make the replica unready"
    );
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["cache"], "degraded");
    let errors_after = metrics_text(&app).await;
    let cache_errors = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("inventory_errors_total{type=\"cache\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(cache_errors(&errors_after) > cache_errors(&errors_before));

    // Back by itself: readiness reports it, and reads hit the cache again.
    redis.resume();
    let mut back = false;
    for _ in 0..100 {
        let body: Value = app
            .client
            .get(app.url("/ready"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["checks"]["cache"] == "ok" {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the cache came back");
    let hits = |t: &str| {
        metric(t, "inventory_cache_hits_total", "local")
            + metric(t, "inventory_cache_hits_total", "redis")
    };
    // Invalidations that failed while it was down land first (in the
    // background); until then the item is read from the database.
    let before = hits(&metrics_text(&app).await);
    let mut hit_again = false;
    for _ in 0..100 {
        assert_eq!(app.get_json(&path).await["name"], "while down");
        if hits(&metrics_text(&app).await) > before {
            hit_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(hit_again, "reads hit the cache again");
    app.shutdown().await;
}

/// With Redis, replicas keep copies of sessions (no database round trip per
/// request) and a logout on any replica ends the token on all of them at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_cached_and_a_logout_anywhere_ends_them_everywhere() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let Some(database) = fresh_pg_database().await else {
        return;
    };
    let inventory_server::config::DatabaseConfig::Postgres { url, .. } = &database else {
        unreachable!("fresh_pg_database gives PostgreSQL");
    };
    let url = url.expose().to_owned();
    let a = spawn_app_with_redis(database.clone(), &redis.url()).await;
    let b = spawn_app_with_redis(database, &redis.url()).await;
    let token = a.token_for("clerk").await;
    let item = a.create_item("SESSION-1").await;
    let item_path = format!("/api/v1/items/{}", item["id"].as_str().unwrap());
    // The plain check and the item read's (session and item in one round
    // trip to Redis) must agree at every step.
    let me = |app: &TestApp| {
        let (client, token) = (app.client.clone(), token.clone());
        let (me_url, item_url) = (app.url("/api/v1/me"), app.url(&item_path));
        async move {
            let me = client
                .get(me_url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status();
            let read = client
                .get(item_url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(me, read, "GET /me and GET /items/{{id}} disagree");
            me
        }
    };
    assert_eq!(me(&a).await, StatusCode::OK);
    assert_eq!(me(&b).await, StatusCode::OK);

    // Remove the session behind the service's back: the copies still answer,
    // which shows requests are not checking the database.
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let deleted = sqlx::query(
        "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE role = 'clerk')",
    )
    .execute(&mut conn)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(deleted, 1);
    assert_eq!(me(&a).await, StatusCode::OK);
    assert_eq!(me(&b).await, StatusCode::OK);

    // A logout through B (the token is still accepted there) ends it on A too.
    let res = b
        .send(Method::POST, &token, "/api/v1/auth/logout", None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&a).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&b).await, StatusCode::UNAUTHORIZED);
    a.shutdown().await;
    b.shutdown().await;
}
