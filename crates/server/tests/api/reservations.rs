//! Reservations over HTTP: the guard, the refusals, idempotency, exact
//! expiry and the background sweep.

use crate::common::*;
use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn figures(app: &TestApp, item: &str) -> (i64, i64, i64) {
    let v = app.get_json(&format!("/api/v1/items/{item}")).await;
    (
        v["on_hand"].as_i64().unwrap(),
        v["reserved"].as_i64().unwrap(),
        v["available"].as_i64().unwrap(),
    )
}

/// Waits (polling the clock) until `instant` has passed.
async fn until_past(instant: chrono::DateTime<Utc>) {
    while Utc::now() <= instant {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reservation_holds_stock_until_released() {
    let app = spawn_app().await;
    let clerk = app.token_for("clerk").await;
    let item = id(&app.create_item("RES-API-1").await);
    app.receive(&item, 10).await;

    let res = app
        .send(
            Method::POST,
            &clerk,
            "/api/v1/reservations",
            Some(json!({"item_id": item, "quantity": 4, "reference": "cart-7", "note": "for Ana"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let held: Value = res.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/reservations/{}", id(&held)));
    for field in [
        "id",
        "item_id",
        "location",
        "quantity",
        "status",
        "expires_at",
        "reference",
        "note",
        "created_by",
        "created_at",
        "ended_at",
    ] {
        assert!(held.get(field).is_some(), "no `{field}` in {held}");
    }
    assert_eq!(
        (
            &held["location"],
            &held["status"],
            &held["quantity"],
            &held["expires_at"]
        ),
        (&json!("MAIN"), &json!("active"), &json!(4), &Value::Null)
    );
    assert_eq!(app.get_json(&location).await, held);
    assert_eq!(figures(&app, &item).await, (10, 4, 6));
    let stock = app.get_json(&format!("/api/v1/items/{item}/stock")).await;
    assert_eq!(
        (&stock["reserved"], &stock["available"]),
        (&json!(4), &json!(6))
    );

    // Only available stock can be issued or reserved.
    let (status, body) = app
        .movement(json!({"item_id": item, "kind": "issue", "quantity": 7}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        (&body["available"], &body["requested"]),
        (&json!(6), &json!(7))
    );
    let res = app
        .send(
            Method::POST,
            &clerk,
            "/api/v1/reservations",
            Some(json!({"item_id": item, "quantity": 7})),
        )
        .await;
    let p = problem(res, StatusCode::CONFLICT).await;
    assert!(
        p["type"].as_str().unwrap().ends_with("/insufficient-stock"),
        "{p}"
    );
    assert_eq!((&p["available"], &p["requested"]), (&json!(6), &json!(7)));
    assert_eq!(
        figures(&app, &item).await,
        (10, 4, 6),
        "a refusal writes nothing"
    );

    // Bad requests name their fields.
    let res = app
        .send(
            Method::POST,
            &clerk,
            "/api/v1/reservations",
            Some(json!({"item_id": item, "quantity": 0, "expires_at": "2001-01-01T00:00:00Z"})),
        )
        .await;
    let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["quantity", "expires_at"]);
    let res = app
        .send(
            Method::POST,
            &clerk,
            "/api/v1/reservations",
            Some(json!({"item_id": item, "quantity": 1, "location": "NOWHERE"})),
        )
        .await;
    problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    let listed = app
        .get_json(&format!(
            "/api/v1/reservations?item_id={item}&status=active"
        ))
        .await;
    assert_eq!(listed["reservations"].as_array().unwrap().len(), 1);
    assert_eq!(listed["next_cursor"], Value::Null);
    problem(
        app.get("/api/v1/reservations?status=lost").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        app.get("/api/v1/reservations?location=NOWHERE").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let res = app
        .send(
            Method::PATCH,
            &clerk,
            &location,
            Some(json!({"quantity": 3})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(figures(&app, &item).await, (10, 3, 7));
    let res = app
        .send(
            Method::PATCH,
            &clerk,
            &location,
            Some(json!({"quantity": 5})),
        )
        .await;
    problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    let viewer = app.token_for("viewer").await;
    let res = app.send(Method::DELETE, &viewer, &location, None).await;
    let p = problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(p["permission"], "reservations:write");
    assert_eq!(
        app.send(Method::GET, &viewer, &location, None)
            .await
            .status(),
        StatusCode::OK
    );

    let res = app.send(Method::DELETE, &clerk, &location, None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(figures(&app, &item).await, (10, 0, 10));
    let res = app.send(Method::DELETE, &clerk, &location, None).await;
    let p = problem(res, StatusCode::CONFLICT).await;
    assert!(
        p["type"].as_str().unwrap().ends_with("/invalid-transition"),
        "{p}"
    );
    assert_eq!(p["current_status"], "released");
    let released = app.get_json(&location).await;
    assert_eq!(released["status"], "released");
    assert!(released["ended_at"].is_string());
    problem(
        app.get(&format!("/api/v1/reservations/{}", uuid::Uuid::now_v7()))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let report = app.get_json("/api/v1/admin/invariants").await;
    assert_eq!(report["ok"], true, "{report}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeated_reservation_with_its_key_is_applied_once() {
    let app = spawn_app().await;
    let item = id(&app.create_item("RES-API-2").await);
    app.receive(&item, 5).await;
    let send = |quantity: i64| {
        app.client
            .post(app.url("/api/v1/reservations"))
            .bearer_auth(&app.admin_token)
            .header("Idempotency-Key", "hold-1")
            .json(&json!({"item_id": item, "quantity": quantity}))
            .send()
    };
    let first = send(2).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send(2).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(figures(&app, &item).await, (5, 2, 3));
    problem(send(3).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_hold_blocks_nobody_and_the_sweeper_ends_it() {
    let app = spawn_app().await;
    let item = id(&app.create_item("RES-API-3").await);
    let idle = id(&app.create_item("RES-API-4").await);
    app.receive(&item, 5).await;
    app.receive(&idle, 5).await;
    let expires_at = Utc::now() + Duration::milliseconds(1500);
    let hold = |item: &str| {
        app.post(
            "/api/v1/reservations",
            json!({"item_id": item, "quantity": 5, "expires_at": expires_at.to_rfc3339()}),
        )
    };
    let on_item: Value = hold(&item).await.json().await.unwrap();
    let on_idle: Value = hold(&idle).await.json().await.unwrap();
    let (status, _) = app
        .movement(json!({"item_id": item, "kind": "issue", "quantity": 1}))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the hold holds until it expires"
    );
    until_past(expires_at).await;

    // From the instant it expires, the hold counts for nothing.
    let (status, body) = app
        .movement(json!({"item_id": item, "kind": "issue", "quantity": 5}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let seen = app
        .get_json(&format!("/api/v1/reservations/{}", id(&on_item)))
        .await;
    assert_eq!(seen["status"], "expired");
    assert_eq!(seen["ended_at"], seen["expires_at"]);
    let idle_hold = app
        .get_json(&format!("/api/v1/reservations/{}", id(&on_idle)))
        .await;
    assert_eq!(
        idle_hold["status"], "expired",
        "a reader sees it expired before any sweep"
    );

    // The sweeper ends the untouched one within seconds: the item's figures
    // follow (its cache entry is dropped), and the feed carries the event.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while figures(&app, &idle).await != (5, 0, 5) {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper did not run"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut feed = SseStream::open(&app, Some(0), "").await;
    // 2 items, 2 receipts, 2 holds, the issue and the two holds' ends.
    let events = feed.next(9).await;
    let expired: Vec<&Value> = events
        .iter()
        .filter(|e| e.kind == "reservation.expired")
        .map(|e| &e.data["entity_id"])
        .collect();
    assert_eq!(
        expired.len(),
        2,
        "{:?}",
        events.iter().map(|e| &e.kind).collect::<Vec<_>>()
    );
    assert!(expired.contains(&&on_idle["id"]) && expired.contains(&&on_item["id"]));
    let report = app.get_json("/api/v1/admin/invariants").await;
    assert_eq!(report["ok"], true, "{report}");
    app.shutdown().await;
}
