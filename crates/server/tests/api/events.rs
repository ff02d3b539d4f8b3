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

/// The UI's stream: the session cookie opens it, `?item=` keeps it to one
/// item, and it ends at the first change after the session has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_stream_follows_the_cookie_session_and_ends_with_it() {
    let app = spawn_app().await;
    let item = app.create_item("LIVE-1").await;
    let other = app.create_item("LIVE-2").await;
    let (item, other) = (
        item["id"].as_str().unwrap().to_owned(),
        other["id"].as_str().unwrap().to_owned(),
    );
    let res = app.client.get(app.url("/live")).send().await.unwrap();
    assert_eq!(
        res.url().path(),
        "/login",
        "no session: to the sign-in page"
    );

    let token = app.login("admin", ADMIN_PASSWORD).await;
    let response = app
        .client
        .get(app.url(&format!("/live?item={item}")))
        .header("cookie", format!("inventory_session={token}"))
        .send()
        .await
        .unwrap();
    let mut stream = SseStream::from_response(response);
    let mut feed = SseStream::open(&app, None, "").await;
    app.receive(&other, 1).await;
    app.receive(&item, 3).await;
    let events = stream.next(1).await;
    assert_eq!(events[0].kind, "change");
    assert_eq!(events[0].data, json!("movement.created"));
    // The API's feed saw both movements; the item's stream only its own.
    let both = feed.next(2).await;
    let own = both
        .iter()
        .find(|e| e.data["data"]["movement"]["item_id"] == json!(item))
        .expect("the item's movement is in the feed");
    assert_eq!(
        events[0].id, own.id,
        "the other item's movement was not sent"
    );

    let res = app
        .send(Method::POST, &token, "/api/v1/auth/logout", None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.receive(&item, 1).await;
    let after = stream.ended().await;
    assert!(
        after.is_empty(),
        "nothing is sent after the sign-out: {after:?}"
    );
    app.shutdown().await;
}

/// The dashboard's live region follows the feed from the position its
/// figures were read at: one more change moves it by exactly one event.
#[tokio::test]
async fn the_dashboard_follows_the_feed_from_the_position_of_its_figures() {
    let app = spawn_app().await;
    let live_after = |html: String| -> i64 {
        let (_, rest) = html
            .split_once("data-live-after=\"")
            .expect("a live region");
        rest.split('"').next().unwrap().parse().unwrap()
    };
    let dashboard = || async {
        app.client
            .get(app.url("/"))
            .header("cookie", format!("inventory_session={}", app.admin_token))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let item = app.create_item("LIVE-DASH-1").await;
    let first = live_after(dashboard().await);
    assert!(first > 0, "the item's event is behind the figures");
    assert_eq!(
        live_after(dashboard().await),
        first,
        "kept figures, same position"
    );
    app.receive(item["id"].as_str().unwrap(), 2).await;
    assert_eq!(
        live_after(dashboard().await),
        first + 1,
        "one movement, one event"
    );
}
