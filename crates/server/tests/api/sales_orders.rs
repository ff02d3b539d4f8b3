//! Sales orders over HTTP: the whole flow, refusals naming the line or the
//! status, idempotent transitions, and a race of confirms and holds.

use crate::common::*;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn on_hand_reserved(app: &TestApp, item: &str) -> (i64, i64) {
    let v = app.get_json(&format!("/api/v1/items/{item}")).await;
    (
        v["on_hand"].as_i64().unwrap(),
        v["reserved"].as_i64().unwrap(),
    )
}

async fn post_as(app: &TestApp, token: &str, path: &str, body: Option<Value>) -> reqwest::Response {
    app.send(Method::POST, token, path, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_is_created_confirmed_shipped_in_two_parts() {
    let app = spawn_app().await;
    let clerk = app.token_for("clerk").await;
    let a = id(&app.create_item("SO-API-A").await);
    let b = id(&app.create_item("SO-API-B").await);
    app.receive(&a, 10).await;
    app.receive(&b, 4).await;

    let res = post_as(
        &app,
        &clerk,
        "/api/v1/sales-orders",
        Some(json!({
            "reference": "web-7",
            "lines": [
                {"item_id": a, "quantity": 3, "unit_price": "4.50"},
                {"item_id": b, "quantity": 4, "unit_price": "0.3333"}
            ]
        })),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let order: Value = res.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/sales-orders/{}", id(&order)));
    assert_eq!(
        (&order["number"], &order["status"]),
        (&json!("SO-000001"), &json!("draft"))
    );
    assert_eq!(order["lines"][1]["line_total"], "1.3332");
    assert_eq!(order["total"], "14.8332");
    assert_eq!(order["ship_from"], "MAIN");
    let lines: Vec<String> = order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line_id"].as_str().unwrap().to_owned())
        .collect();

    // A confirm with a key, repeated: applied once, answered the same.
    let confirm = |key: &'static str| {
        app.client
            .post(app.url(&format!("{location}/confirm")))
            .bearer_auth(&clerk)
            .header("Idempotency-Key", key)
            .send()
    };
    let first = confirm("confirm-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "confirmed");
    let again = confirm("confirm-1").await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(on_hand_reserved(&app, &a).await, (10, 3));
    let p = problem(confirm("confirm-2").await.unwrap(), StatusCode::CONFLICT).await;
    assert!(
        p["type"].as_str().unwrap().ends_with("/invalid-transition"),
        "{p}"
    );
    assert_eq!(p["current_status"], "confirmed");

    // Ship one unit of the first line, then the rest with no body.
    let res = post_as(
        &app,
        &clerk,
        &format!("{location}/ship"),
        Some(json!({"lines": [{"line_id": lines[0], "quantity": 4}]})),
    )
    .await;
    let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["field"], "lines[0].quantity");
    let res = post_as(
        &app,
        &clerk,
        &format!("{location}/ship"),
        Some(json!({"lines": [{"line_id": lines[0], "quantity": 1}]})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let part: Value = res.json().await.unwrap();
    assert_eq!(part["status"], "partially_shipped");
    assert_eq!(
        (&part["lines"][0]["shipped"], &part["lines"][0]["reserved"]),
        (&json!(1), &json!(2))
    );
    assert_eq!(on_hand_reserved(&app, &a).await, (9, 2));
    let res = post_as(&app, &clerk, &format!("{location}/ship"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["status"], "shipped");
    assert_eq!(on_hand_reserved(&app, &a).await, (7, 0));
    assert_eq!(on_hand_reserved(&app, &b).await, (0, 0));
    let issues = app
        .get_json(&format!("/api/v1/movements?item_id={a}&kind=issue"))
        .await;
    let references: Vec<&str> = issues["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["reference"].as_str().unwrap())
        .collect();
    assert_eq!(references, ["SO-000001", "SO-000001"]);

    // Cancel is a manager's; a shipped order cannot be cancelled.
    let p = problem(
        post_as(&app, &clerk, &format!("{location}/cancel"), None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(p["permission"], "orders:cancel");
    let manager = app.token_for("manager").await;
    let p = problem(
        post_as(&app, &manager, &format!("{location}/cancel"), None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(p["current_status"], "shipped");

    let listed = app
        .get_json("/api/v1/sales-orders?status=shipped&q=so-0000")
        .await;
    assert_eq!(listed["sales_orders"].as_array().unwrap().len(), 1);
    problem(
        app.get("/api/v1/sales-orders?status=lost").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        app.get(&format!("/api/v1/sales-orders/{}", uuid::Uuid::now_v7()))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let report = app.get_json("/api/v1/admin/invariants").await;
    assert_eq!(report["ok"], true, "{report}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_confirm_names_the_line_and_a_cart_holds_until_cancelled() {
    let app = spawn_app().await;
    let a = id(&app.create_item("SO-API-C").await);
    let b = id(&app.create_item("SO-API-D").await);
    app.receive(&a, 5).await;
    app.receive(&b, 1).await;
    let res = app.post("/api/v1/sales-orders", json!({
        "lines": [{"item_id": a, "quantity": 1, "unit_price": "1"}, {"item_id": b, "quantity": 2, "unit_price": "1"}]
    })).await;
    let order: Value = res.json().await.unwrap();
    let res = app
        .post(
            &format!("/api/v1/sales-orders/{}/confirm", id(&order)),
            json!({}),
        )
        .await;
    let p = problem(res, StatusCode::CONFLICT).await;
    assert!(
        p["type"].as_str().unwrap().ends_with("/insufficient-stock"),
        "{p}"
    );
    assert_eq!(
        (&p["index"], &p["line_id"]),
        (&json!(1), &order["lines"][1]["line_id"])
    );
    assert_eq!((&p["available"], &p["requested"]), (&json!(1), &json!(2)));
    assert!(p["detail"].as_str().unwrap().contains("SO-API-D"), "{p}");
    assert_eq!(on_hand_reserved(&app, &a).await, (5, 0), "all or none");

    // A cart: held for 15 minutes, renewed, then cancelled.
    let res = app
        .post(
            "/api/v1/sales-orders",
            json!({
                "hold_minutes": 15, "lines": [{"item_id": a, "quantity": 5, "unit_price": "2"}]
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let cart: Value = res.json().await.unwrap();
    assert!(cart["hold_expires_at"].is_string());
    assert_eq!(on_hand_reserved(&app, &a).await, (5, 5));
    let (status, _) = app
        .movement(json!({"item_id": a, "kind": "issue", "quantity": 1}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "held stock cannot be issued");
    let res = app
        .post(
            &format!("/api/v1/sales-orders/{}/hold", id(&cart)),
            json!({"minutes": 0}),
        )
        .await;
    problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let res = app
        .post(
            &format!("/api/v1/sales-orders/{}/hold", id(&cart)),
            json!({"minutes": 30}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let renewed: Value = res.json().await.unwrap();
    assert!(renewed["hold_expires_at"].as_str() > cart["hold_expires_at"].as_str());
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/sales-orders/{}", id(&cart))))
        .bearer_auth(&app.admin_token)
        .json(&json!({"lines": [{"line_id": cart["lines"][0]["line_id"], "quantity": 2}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        on_hand_reserved(&app, &a).await,
        (5, 2),
        "the hold follows the line"
    );
    let res = app
        .post(
            &format!("/api/v1/sales-orders/{}/cancel", id(&cart)),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(on_hand_reserved(&app, &a).await, (5, 0));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_confirms_sell_exactly_the_units_that_exist() {
    let app = spawn_app().await;
    let hot = id(&app.create_item("SO-API-HOT").await);
    app.receive(&hot, 12).await;
    let mut orders = Vec::new();
    for _ in 0..40 {
        let res = app
            .post(
                "/api/v1/sales-orders",
                json!({"lines": [{"item_id": hot, "quantity": 1, "unit_price": "5"}]}),
            )
            .await;
        orders.push(id(&res.json::<Value>().await.unwrap()));
    }
    let paths: Vec<String> = orders
        .iter()
        .map(|o| format!("/api/v1/sales-orders/{o}/confirm"))
        .collect();
    let confirms = paths.iter().map(|path| app.post(path, json!({})));
    let (mut ok, mut short) = (0, 0);
    for res in join_all(confirms).await {
        match res.status() {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => {
                let p = problem(res, StatusCode::CONFLICT).await;
                assert!(
                    p["type"].as_str().unwrap().ends_with("/insufficient-stock"),
                    "{p}"
                );
                short += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, short), (12, 28));
    assert_eq!(on_hand_reserved(&app, &hot).await, (12, 12));
    let report = app.get_json("/api/v1/admin/invariants").await;
    assert_eq!(report["ok"], true, "{report}");
    app.shutdown().await;
}

fn storm_api(app: &TestApp) -> storm::Api {
    storm::Api {
        client: app.client.clone(),
        base: app.url(""),
        token: app.admin_token.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_storm_leaves_every_figure_explained() {
    let app = spawn_app().await;
    storm::order_storm(&storm_api(&app)).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_last_units_go_to_exactly_two_buyers_as_a_hold_lapses() {
    let app = spawn_app().await;
    storm::last_units_as_a_hold_lapses(&storm_api(&app)).await;
    app.shutdown().await;
}
