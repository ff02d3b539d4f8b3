//! Parties and purchase orders over HTTP: every status the routes answer,
//! idempotent transitions, over-receipt, invalid transitions naming the
//! status, `incoming` following submit, receive and cancel, and who may do
//! what. Follows `TEST_BACKEND`.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn call(
    app: &TestApp,
    method: Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let res = app.send(method, token, path, body).await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, value) = call(app, Method::POST, &app.admin_token, path, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "POST {path}: {value}");
    value
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn incoming(app: &TestApp, item: &str) -> i64 {
    let one = app.get_json(&format!("/api/v1/items/{item}")).await["incoming"]
        .as_i64()
        .unwrap();
    let stock = app.get_json(&format!("/api/v1/items/{item}/stock")).await["incoming"]
        .as_i64()
        .unwrap();
    let listed = app.get_json("/api/v1/items?limit=500").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == item)
        .unwrap()["incoming"]
        .as_i64()
        .unwrap();
    assert_eq!(
        (one, stock),
        (listed, listed),
        "the item, its stock and the list agree"
    );
    one
}

#[tokio::test]
async fn parties_are_created_edited_listed_and_archived() {
    let app = spawn_app().await;
    let manager = app.token_for("manager").await;
    let clerk = app.token_for("clerk").await;
    let viewer = app.token_for("viewer").await;

    let res = app
        .send(
            Method::POST,
            &manager,
            "/api/v1/parties",
            Some(json!({"name": "Acme", "kind": "supplier", "code": "acme", "email": "buy@acme.example"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(res.headers()["etag"], "\"1\"");
    let acme: Value = res.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/parties/{}", id(&acme)));
    assert_eq!(
        (acme["code"].as_str(), acme["archived"].as_bool()),
        (Some("ACME"), Some(false))
    );

    let dup = app
        .post(
            "/api/v1/parties",
            json!({"name": "Other", "kind": "customer", "code": "ACME"}),
        )
        .await;
    assert_eq!(
        problem(dup, StatusCode::CONFLICT).await["type"],
        "/problems/duplicate-party-code"
    );
    let bad = app
        .post("/api/v1/parties", json!({"name": "X", "kind": "vendor"}))
        .await;
    problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let blank = app
        .post("/api/v1/parties", json!({"name": " ", "kind": "customer"}))
        .await;
    assert_eq!(
        problem(blank, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["field"],
        "name"
    );
    for token in [&clerk, &viewer] {
        let res = app
            .send(
                Method::POST,
                token,
                "/api/v1/parties",
                Some(json!({"name": "N", "kind": "both"})),
            )
            .await;
        assert_eq!(
            problem(res, StatusCode::FORBIDDEN).await["permission"],
            "parties:write"
        );
    }

    let path = format!("/api/v1/parties/{}", id(&acme));
    let (status, read) = call(&app, Method::GET, &viewer, &path, None).await;
    assert_eq!((status, &read), (StatusCode::OK, &acme));
    let missing = app
        .get(&format!("/api/v1/parties/{}", uuid::Uuid::now_v7()))
        .await;
    problem(missing, StatusCode::NOT_FOUND).await;
    problem(
        app.get("/api/v1/parties/not-a-uuid").await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let stale = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&manager)
        .header("if-match", "\"7\"")
        .json(&json!({"phone": "1"}))
        .send()
        .await
        .unwrap();
    problem(stale, StatusCode::PRECONDITION_FAILED).await;
    let (status, edited) = call(
        &app,
        Method::PATCH,
        &manager,
        &path,
        Some(json!({"phone": "+1 555", "kind": "both"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(
        (edited["version"].as_i64(), edited["kind"].as_str()),
        (Some(2), Some("both"))
    );
    let (status, _) = call(
        &app,
        Method::PATCH,
        &clerk,
        &path,
        Some(json!({"phone": "2"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    for i in 0..3 {
        created(
            &app,
            "/api/v1/parties",
            json!({"name": format!("Customer {i}"), "kind": "customer"}),
        )
        .await;
    }
    let customers = app.get_json("/api/v1/parties?kind=customer&limit=2").await;
    assert_eq!(customers["parties"].as_array().unwrap().len(), 2);
    let cursor = customers["next_cursor"].as_str().unwrap();
    let rest = app
        .get_json(&format!(
            "/api/v1/parties?kind=customer&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest["parties"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let found = app.get_json("/api/v1/parties?q=acm").await;
    assert_eq!(found["parties"][0]["id"], acme["id"]);
    problem(
        app.get("/api/v1/parties?kind=vendor").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        app.get("/api/v1/parties?colour=red").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let (status, archived) = call(
        &app,
        Method::PATCH,
        &manager,
        &path,
        Some(json!({"archived": true})),
    )
    .await;
    assert_eq!(
        (status, archived["archived"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let listed = app.get_json("/api/v1/parties?archived=true").await;
    assert_eq!(listed["parties"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get_json("/api/v1/parties?q=acme").await["parties"],
        json!([])
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_purchase_order_goes_from_draft_to_received() {
    let app = spawn_app().await;
    let manager = app.token_for("manager").await;
    let clerk = app.token_for("clerk").await;
    let viewer = app.token_for("viewer").await;
    let supplier = created(
        &app,
        "/api/v1/parties",
        json!({"name": "Acme", "kind": "supplier"}),
    )
    .await;
    let customer = created(
        &app,
        "/api/v1/parties",
        json!({"name": "Bob", "kind": "customer"}),
    )
    .await;
    let a = id(&app
        .create_item_with(json!({"sku": "PA", "name": "A", "unit_cost": "1.25"}))
        .await);
    let b = id(&app.create_item("PB").await);

    // A customer supplies nothing; a viewer creates nothing.
    let res = app
        .post(
            "/api/v1/purchase-orders",
            json!({"supplier_id": id(&customer), "lines": []}),
        )
        .await;
    assert_eq!(
        problem(res, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["field"],
        "supplier_id"
    );
    let body = json!({"supplier_id": id(&supplier), "reference": "Quote 9", "expected_at": "2030-01-02T03:04:05Z",
        "lines": [{"item_id": a, "quantity": 10}, {"item_id": b, "quantity": 4, "unit_cost": "0.10"}]});
    let (status, _) = call(
        &app,
        Method::POST,
        &viewer,
        "/api/v1/purchase-orders",
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let res = app
        .post("/api/v1/purchase-orders", json!({"supplier_id": id(&supplier), "lines": [{"item_id": a, "quantity": 0, "unit_cost": "1.234567"}]}))
        .await;
    assert_eq!(
        problem(res, StatusCode::UNPROCESSABLE_ENTITY).await["errors"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let res = app
        .post(
            "/api/v1/purchase-orders",
            json!({"supplier_id": id(&supplier), "receive_to": "NOWHERE"}),
        )
        .await;
    assert_eq!(
        problem(res, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["field"],
        "receive_to"
    );

    let (status, order) = call(
        &app,
        Method::POST,
        &clerk,
        "/api/v1/purchase-orders",
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["number"], "PO-000001");
    assert_eq!(order["status"], "draft");
    assert_eq!(order["receive_to"], "MAIN");
    assert_eq!(
        order["lines"][0]["unit_cost"], "1.25",
        "the item's cost by default"
    );
    assert_eq!(order["lines"][0]["line_total"], "12.50");
    assert_eq!(order["lines"][1]["line_total"], "0.40");
    assert_eq!(order["total"], "12.90");
    assert_eq!(order["expected_at"], "2030-01-02T03:04:05Z");
    let path = format!("/api/v1/purchase-orders/{}", id(&order));
    let line_a = order["lines"][0]["line_id"].as_str().unwrap().to_owned();
    let line_b = order["lines"][1]["line_id"].as_str().unwrap().to_owned();

    // A draft is edited: lines merged by line_id, removed with "remove".
    let (status, edited) = call(
        &app,
        Method::PATCH,
        &clerk,
        &path,
        Some(json!({"lines": [
        {"line_id": line_b, "quantity": 6}, {"item_id": b, "quantity": 1, "unit_cost": "5"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["lines"].as_array().unwrap().len(), 3);
    let extra = edited["lines"][2]["line_id"].as_str().unwrap().to_owned();
    let (status, edited) = call(
        &app,
        Method::PATCH,
        &clerk,
        &path,
        Some(json!({"lines": [{"line_id": extra, "remove": true}]})),
    )
    .await;
    assert_eq!(
        (status, edited["total"].as_str()),
        (StatusCode::OK, Some("13.10"))
    );
    assert_eq!(incoming(&app, &a).await, 0, "a draft is not incoming");

    // Submitting needs a manager; it makes the lines incoming.
    let submit = format!("{path}/submit");
    let (status, refused) = call(&app, Method::POST, &clerk, &submit, None).await;
    assert_eq!(
        (status, refused["permission"].as_str()),
        (StatusCode::FORBIDDEN, Some("purchase-orders:submit"))
    );
    let (status, submitted) = call(&app, Method::POST, &manager, &submit, None).await;
    assert_eq!(
        (status, submitted["status"].as_str()),
        (StatusCode::CREATED, Some("submitted"))
    );
    assert_eq!(
        (incoming(&app, &a).await, incoming(&app, &b).await),
        (10, 6)
    );
    let again = app.send(Method::POST, &manager, &submit, None).await;
    let p = problem(again, StatusCode::CONFLICT).await;
    assert_eq!(p["type"], "/problems/invalid-transition");
    assert_eq!(
        (p["current_status"].as_str(), p["action"].as_str()),
        (Some("submitted"), Some("submit"))
    );
    assert!(p["detail"].as_str().unwrap().contains("submitted"), "{p}");
    let p = problem(
        app.send(
            Method::PATCH,
            &clerk,
            &path,
            Some(json!({"reference": "x"})),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(p["current_status"], "submitted");

    // Receipts: a viewer may not; a clerk may, once per Idempotency-Key.
    let receive = format!("{path}/receive");
    let part = json!({"lines": [{"line_id": line_a, "quantity": 4}]});
    let (status, _) = call(&app, Method::POST, &viewer, &receive, Some(part.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let post_keyed = |key: &'static str, body: Value| {
        let (app, clerk, receive) = (&app, &clerk, &receive);
        async move {
            app.client
                .post(app.url(receive))
                .bearer_auth(clerk)
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = post_keyed("receipt-1", part.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_body = first.text().await.unwrap();
    let receipt: Value = serde_json::from_str(&first_body).unwrap();
    assert_eq!(receipt["order"]["status"], "partially_received");
    assert_eq!(
        receipt["movements"][0]["movement"]["reference"],
        "PO-000001"
    );
    assert_eq!(receipt["movements"][0]["movement"]["kind"], "receive");
    let replay = post_keyed("receipt-1", part.clone()).await;
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(
        replay.text().await.unwrap(),
        first_body,
        "the same answer, byte for byte"
    );
    assert_eq!(app.on_hand_and_ledger(&a).await, (4, 4), "applied once");
    let reused = post_keyed(
        "receipt-1",
        json!({"lines": [{"line_id": line_a, "quantity": 5}]}),
    )
    .await;
    problem(reused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(incoming(&app, &a).await, 6);

    // More than outstanding: 409 naming the line, unless allowed.
    let over = app
        .send(
            Method::POST,
            &clerk,
            &receive,
            Some(json!({"lines": [{"line_id": line_a, "quantity": 7}]})),
        )
        .await;
    let p = problem(over, StatusCode::CONFLICT).await;
    assert_eq!(p["type"], "/problems/over-receipt");
    assert_eq!(
        (
            p["line_id"].as_str(),
            p["outstanding"].as_i64(),
            p["requested"].as_i64()
        ),
        (Some(line_a.as_str()), Some(6), Some(7))
    );
    assert_eq!(app.on_hand_and_ledger(&a).await, (4, 4), "nothing written");
    let unknown = app
        .send(
            Method::POST,
            &clerk,
            &receive,
            Some(json!({"lines": [{"line_id": uuid::Uuid::now_v7(), "quantity": 1}]})),
        )
        .await;
    assert_eq!(
        problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["field"],
        "lines[0].line_id"
    );
    let (status, done) = call(
        &app,
        Method::POST,
        &clerk,
        &receive,
        Some(json!({"allow_over_receipt": true,
        "lines": [{"line_id": line_a, "quantity": 7}, {"line_id": line_b, "quantity": 6}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["order"]["status"], "received");
    assert_eq!(done["order"]["lines"][0]["received"], 11);
    assert_eq!((incoming(&app, &a).await, incoming(&app, &b).await), (0, 0));
    assert_eq!(app.on_hand_and_ledger(&a).await, (11, 11));
    let p = problem(
        app.send(Method::POST, &manager, &format!("{path}/cancel"), None)
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(p["current_status"], "received");

    // Cancel: a clerk may not; a manager closes what is outstanding.
    let second = created(
        &app,
        "/api/v1/purchase-orders",
        json!({"supplier_id": id(&supplier), "reference": "Second",
        "lines": [{"item_id": b, "quantity": 3}]}),
    )
    .await;
    assert_eq!(second["number"], "PO-000002");
    let second_path = format!("/api/v1/purchase-orders/{}", id(&second));
    call(
        &app,
        Method::POST,
        &manager,
        &format!("{second_path}/submit"),
        None,
    )
    .await;
    assert_eq!(incoming(&app, &b).await, 3);
    let (status, _) = call(
        &app,
        Method::POST,
        &clerk,
        &format!("{second_path}/cancel"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let archive = app
        .send(
            Method::PATCH,
            &manager,
            &format!("/api/v1/parties/{}", id(&supplier)),
            Some(json!({"archived": true})),
        )
        .await;
    assert_eq!(
        problem(archive, StatusCode::CONFLICT).await["type"],
        "/problems/party-has-open-orders"
    );
    let (status, cancelled) = call(
        &app,
        Method::POST,
        &manager,
        &format!("{second_path}/cancel"),
        None,
    )
    .await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (StatusCode::CREATED, Some("cancelled"))
    );
    assert_eq!(incoming(&app, &b).await, 0);

    // Lists and reads, for viewers too.
    let (status, list) = call(
        &app,
        Method::GET,
        &viewer,
        "/api/v1/purchase-orders?limit=1",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["purchase_orders"][0]["number"], "PO-000002");
    let cursor = list["next_cursor"].as_str().unwrap();
    let next = app
        .get_json(&format!("/api/v1/purchase-orders?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(next["purchase_orders"][0]["number"], "PO-000001");
    assert!(next["next_cursor"].is_null());
    let received = app
        .get_json("/api/v1/purchase-orders?status=received")
        .await;
    assert_eq!(received["purchase_orders"].as_array().unwrap().len(), 1);
    let by_q = app.get_json("/api/v1/purchase-orders?q=second").await;
    assert_eq!(by_q["purchase_orders"][0]["id"], second["id"]);
    let theirs = app
        .get_json(&format!(
            "/api/v1/purchase-orders?supplier_id={}",
            id(&customer)
        ))
        .await;
    assert_eq!(theirs["purchase_orders"], json!([]));
    problem(
        app.get("/api/v1/purchase-orders?status=lost").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let (status, read) = call(&app, Method::GET, &viewer, &path, None).await;
    assert_eq!(
        (status, read["status"].as_str()),
        (StatusCode::OK, Some("received"))
    );
    problem(
        app.get(&format!("/api/v1/purchase-orders/{}", uuid::Uuid::now_v7()))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.send(
            Method::POST,
            &manager,
            &format!("/api/v1/purchase-orders/{}/submit", uuid::Uuid::now_v7()),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // The change feed carried every step; the invariants hold.
    let events = app.app.store().events_after(0, 1000).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    for kind in [
        "party.created",
        "purchase_order.created",
        "purchase_order.updated",
        "purchase_order.submitted",
        "purchase_order.received",
        "purchase_order.cancelled",
        "movement.created",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let report = app.get_json("/api/v1/admin/invariants").await;
    assert_eq!(report["ok"], true, "{report}");
    app.shutdown().await;
}
