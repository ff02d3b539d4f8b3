//! The change feed over Server-Sent Events: every committed change once, in
//! order, and `Last-Event-ID` resumes exactly where a client left off.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_streams_changes_and_resumes_exactly() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/v1/events"))
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::UNAUTHORIZED).await;
    let res = app.get("/api/v1/events?after=minus-one").await;
    problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    // A stream opened now sends only what is committed after it opened.
    let mut live = SseStream::open(&app, None, "").await;
    let item = app.create_item("FEED-1").await;
    let id = item["id"].as_str().unwrap().to_owned();
    app.receive(&id, 4).await;
    let (s, _) = app
        .movement(json!({"item_id": id, "kind": "issue", "quantity": 9}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "a refused movement is no event");
    let res = app
        .send(
            Method::PATCH,
            &app.admin_token,
            &format!("/api/v1/items/{id}"),
            Some(json!({"name": "Fed"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let got = live.next(3).await;
    let kinds: Vec<&str> = got.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["item.created", "movement.created", "item.updated"]);
    assert!(got.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(got[0].data["entity_id"], id.as_str());
    assert_eq!(got[0].data["data"]["sku"], "FEED-1");
    assert_eq!(got[1].data["data"]["balances"]["on_hand"], 4);
    assert_eq!(got[2].data["data"]["name"], "Fed");

    // Resume after the first: exactly the two that followed, then new ones.
    let mut resumed = SseStream::open(&app, Some(got[0].id), "").await;
    assert_eq!(resumed.next(2).await, got[1..].to_vec());
    app.receive(&id, 1).await;
    let next = resumed.next(1).await;
    assert_eq!(next[0].kind, "movement.created");
    assert!(next[0].id > got[2].id);
    assert_eq!(live.next(1).await, next, "both streams see the same event");

    // ?after=0 replays the whole history.
    let mut history = SseStream::open(&app, None, "?after=0").await;
    let all = history.next(4).await;
    assert_eq!(all[..3].to_vec(), got);
    assert_eq!(all[3], next[0]);
    drop((live, resumed, history));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_streams() {
    let app = spawn_app().await;
    let mut stream = SseStream::open(&app, None, "?after=0").await;
    app.create_item("FEED-END").await;
    assert_eq!(stream.next(1).await[0].kind, "item.created");
    // The server stops within its grace period only if the stream ends.
    tokio::time::timeout(std::time::Duration::from_secs(4), app.shutdown())
        .await
        .expect("shutdown waited on an open event stream");
}
