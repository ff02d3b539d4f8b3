//! Two server processes' worth of state on one PostgreSQL database, as
//! replicas behind a load balancer would be: each sees the other's
//! acknowledged writes at once, logout anywhere ends the token everywhere,
//! and concurrent issues through both never oversell.

use crate::common::*;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_agree_on_every_acknowledged_write() {
    let Some(database) = fresh_pg_database().await else {
        return;
    };
    let a = spawn_app_with(tempfile::tempdir().unwrap(), database.clone()).await;
    let b = spawn_app_with(tempfile::tempdir().unwrap(), database).await;

    // Read-your-writes across replicas, including after a read filled caches.
    let item = a.create_item("REP-1").await;
    let id = item["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/items/{id}");
    assert_eq!(b.get_json(&path).await["name"], "Item REP-1");
    assert_eq!(a.get_json(&path).await["name"], "Item REP-1");
    let res = b
        .send(
            Method::PATCH,
            &b.admin_token,
            &path,
            Some(json!({"name": "Renamed on B"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(a.get_json(&path).await["name"], "Renamed on B");
    a.receive(&id, 20).await;
    assert_eq!(b.get_json(&path).await["on_hand"], 20);

    // A token issued by A, ended through B, stops working on A at once.
    let token = a.token_for("clerk").await;
    assert_eq!(
        a.send(Method::GET, &token, "/api/v1/me", None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        b.send(Method::POST, &token, "/api/v1/auth/logout", None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        a.send(Method::GET, &token, "/api/v1/me", None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // 50 concurrent issues of 1, spread over both replicas, against 20.
    let issues = (0..50).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.post(
            "/api/v1/movements",
            json!({"item_id": id, "kind": "issue", "quantity": 1}),
        )
    });
    let statuses: Vec<StatusCode> = join_all(issues).await.iter().map(|r| r.status()).collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, refused), (20, 30));
    assert_eq!(a.on_hand_and_ledger(&id).await, (0, 0));
    assert_eq!(b.get_json(&path).await["on_hand"], 0);

    // seq is strictly increasing in commit order across both writers.
    let ledger = b
        .get_json(&format!("/api/v1/movements?item_id={id}&limit=500"))
        .await;
    let seqs: Vec<i64> = ledger["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 21);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));

    // The change feed: the same history from either replica; resuming on
    // the other one continues exactly; a change on A reaches B's stream.
    let mut on_b = SseStream::open(&b, None, "?after=0").await;
    let history = on_b.next(23).await;
    assert!(history.windows(2).all(|w| w[0].id < w[1].id));
    let mut on_a = SseStream::open(&a, Some(history[9].id), "").await;
    assert_eq!(on_a.next(13).await, history[10..].to_vec());
    a.receive(&id, 1).await;
    let fresh = on_b.next(1).await;
    assert_eq!(fresh[0].kind, "movement.created");
    assert_eq!(on_a.next(1).await, fresh);
    drop((on_a, on_b));
    a.shutdown().await;
    b.shutdown().await;
}
