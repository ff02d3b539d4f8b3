//! What a newcomer running a small shop through the API tripped over, each
//! fixed through the application layer: parameters that were silently
//! ignored, items named only by UUID, mistakes that could not be undone,
//! SKUs and archives that were one-way, the `MAIN` trap, and messages that
//! did not say what to do.

use crate::common::*;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

fn fields(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_owned(),
                e["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A 422 naming `field`, whose message for it contains `says`.
async fn invalid(res: Response, field: &str, says: &str) -> Value {
    let body = problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let found = fields(&body);
    assert!(
        found.iter().any(|(f, m)| f == field && m.contains(says)),
        "expected {field}: ...{says}... in {body}"
    );
    body
}

async fn patch(app: &TestApp, path: &str, body: Value) -> Response {
    app.send(Method::PATCH, &app.admin_token, path, Some(body))
        .await
}

#[tokio::test]
async fn unknown_query_parameters_are_refused_with_the_accepted_ones() {
    let app = spawn_app().await;
    let item = app.create_item("GLUE-PVA").await;
    let other = app.create_item("TAPE-5M").await;
    app.receive(item["id"].as_str().unwrap(), 5).await;
    app.receive(other["id"].as_str().unwrap(), 5).await;

    for path in [
        "/api/v1/items?page=2",
        "/api/v1/items?as_of=2026-01-01T00:00:00Z",
    ] {
        let name = path.split(['?', '=']).nth(1).unwrap();
        let body = invalid(app.get(path).await, name, "it takes q, category, location").await;
        assert!(
            body["detail"].as_str().unwrap().contains("cursor"),
            "{body}"
        );
    }
    invalid(
        app.get("/api/v1/locations?code=MAIN").await,
        "code",
        "limit, cursor",
    )
    .await;
    invalid(
        app.get("/api/v1/me?verbose=1").await,
        "verbose",
        "takes none",
    )
    .await;
    invalid(
        app.get("/api/v1/items?limit=5&limit=6").await,
        "limit",
        "more than once",
    )
    .await;

    // The filters users reached for exist and filter.
    let only = app.get_json("/api/v1/movements?sku=glue-pva").await;
    let movements = only["movements"].as_array().unwrap();
    assert_eq!(movements.len(), 1, "{only}");
    assert_eq!(movements[0]["sku"], "GLUE-PVA");
    assert_eq!(movements[0]["item_id"], item["id"]);
    let none = app.get_json("/api/v1/movements?sku=NO-SUCH").await;
    assert_eq!(none["movements"], json!([]));

    let floor = app.create_location("FLOOR").await;
    let (status, body) = app
        .movement(
            json!({"sku": "TAPE-5M", "kind": "transfer", "quantity": 2, "to_location": "floor"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let at_floor = app.get_json("/api/v1/items?location=floor").await;
    let skus: Vec<&str> = at_floor["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["TAPE-5M"]);
    invalid(
        app.get("/api/v1/items?location=FLOR").await,
        "location",
        "FLOOR, MAIN",
    )
    .await;
    assert_eq!(floor["code"], "FLOOR");
    app.shutdown().await;
}

#[tokio::test]
async fn items_are_named_by_sku_and_locations_by_code() {
    let app = spawn_app().await;
    let item = app.create_item("TAPE-5M").await;
    let id = item["id"].as_str().unwrap();
    let (status, body) = app
        .movement(json!({"sku": "tape-5m", "kind": "receive", "quantity": 12}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["movement"]["item_id"], item["id"]);
    assert_eq!(body["movement"]["sku"], "TAPE-5M");
    assert_eq!(body["balances"]["on_hand"], 12);

    // Exactly one of item_id and sku.
    let res = app
        .post(
            "/api/v1/movements",
            json!({"sku": "TAPE-5M", "item_id": id, "kind": "receive", "quantity": 1}),
        )
        .await;
    invalid(res, "sku", "not both").await;
    let res = app
        .post(
            "/api/v1/movements",
            json!({"kind": "receive", "quantity": 1}),
        )
        .await;
    invalid(res, "item_id", "is required").await;
    let res = app
        .post(
            "/api/v1/movements",
            json!({"sku": "TAPE-6M", "kind": "receive", "quantity": 1}),
        )
        .await;
    invalid(res, "sku", "no item has sku (or barcode) 'TAPE-6M'").await;
    // In a batch, the failing entry is named.
    let res = app
        .post(
            "/api/v1/movements/batch",
            json!({"movements": [
                {"sku": "TAPE-5M", "kind": "issue", "quantity": 1},
                {"sku": "NOPE", "kind": "issue", "quantity": 1}
            ]}),
        )
        .await;
    let body = invalid(res, "movements[1].sku", "no item has sku").await;
    assert_eq!(body["index"], 1);
    assert_eq!(
        app.on_hand_and_ledger(id).await,
        (12, 12),
        "nothing written"
    );

    let main = app.get_json("/api/v1/locations/main").await;
    assert_eq!(main["code"], "MAIN");
    assert_eq!(main["default"], true);
    let by_id = app
        .get_json(&format!(
            "/api/v1/locations/{}",
            main["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_id, main);
    problem(
        app.get("/api/v1/locations/NOWHERE").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_barcode_names_an_item_in_lists_and_movements() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/api/v1/items",
            json!({"sku": "GLUE-1", "name": "Glue", "barcode": "5012345678900"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let glue: Value = res.json().await.unwrap();
    assert_eq!(glue["barcode"], "5012345678900");
    let res = app
        .post(
            "/api/v1/items",
            json!({"sku": "GLUE-2", "name": "Other glue", "barcode": "5012345678900"}),
        )
        .await;
    let p = problem(res, StatusCode::CONFLICT).await;
    assert!(
        p["type"].as_str().unwrap().ends_with("duplicate-barcode"),
        "{p}"
    );
    assert!(
        p["detail"].as_str().unwrap().contains("5012345678900"),
        "{p}"
    );

    let list = app.get_json("/api/v1/items?barcode=5012345678900").await;
    assert_eq!(list["items"][0]["sku"], "GLUE-1");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let list = app.get_json("/api/v1/items?q=5012345678900").await;
    assert_eq!(list["items"][0]["sku"], "GLUE-1");
    // What a scanner reads can stand in for the SKU of a movement.
    let (status, body) = app
        .movement(json!({"sku": "5012345678900", "kind": "receive", "quantity": 3}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["movement"]["sku"], "GLUE-1");
    let path = format!("/api/v1/items/{}", glue["id"].as_str().unwrap());
    let res = patch(&app, &path, json!({"barcode": "50 12"})).await;
    invalid(res, "barcode", "spaces").await;
    let res = patch(&app, &path, json!({"barcode": null})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.get_json(&path).await["barcode"], Value::Null);
    app.shutdown().await;
}

#[tokio::test]
async fn a_movement_is_read_and_reversed_once() {
    let app = spawn_app().await;
    let item = app.create_item("GLUE-PVA").await;
    let id = item["id"].as_str().unwrap();
    let received = app.receive(id, 12).await;
    let movement_id = received["movement"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/movements/{movement_id}");
    let read = app.get_json(&path).await;
    assert_eq!(read, received["movement"]);
    assert!(read["reversed_by"].is_null());

    let reverse = format!("{path}/reverse");
    let res = app.post(&reverse, json!({})).await;
    invalid(res, "reason", "is required").await;
    let res = app
        .post(&reverse, json!({"reason": "typed 12, was 2"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let undo: Value = res.json().await.unwrap();
    assert_eq!(undo["movement"]["kind"], "issue");
    assert_eq!(undo["movement"]["quantity"], 12);
    assert_eq!(undo["movement"]["location"], "MAIN");
    assert_eq!(undo["movement"]["reverses"], json!(movement_id));
    assert_eq!(undo["balances"]["on_hand"], 0);
    assert_eq!(
        app.get_json(&path).await["reversed_by"],
        undo["movement"]["id"]
    );
    assert_eq!(app.on_hand_and_ledger(id).await, (0, 0));

    // Once: the second reversal is a conflict and writes nothing.
    let res = app.post(&reverse, json!({"reason": "again"})).await;
    let p = problem(res, StatusCode::CONFLICT).await;
    assert!(
        p["type"].as_str().unwrap().ends_with("already-reversed"),
        "{p}"
    );
    // A reversal is not reversed itself.
    let undo_path = format!(
        "/api/v1/movements/{}/reverse",
        undo["movement"]["id"].as_str().unwrap()
    );
    let p = problem(
        app.post(&undo_path, json!({"reason": "x"})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        p["type"].as_str().unwrap().ends_with("not-reversible"),
        "{p}"
    );

    // Refused like any movement when the stock has gone.
    let again = app.receive(id, 5).await;
    let (status, _) = app
        .movement(json!({"item_id": id, "kind": "issue", "quantity": 5}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let res = app
        .post(
            &format!(
                "/api/v1/movements/{}/reverse",
                again["movement"]["id"].as_str().unwrap()
            ),
            json!({"reason": "wrong delivery"}),
        )
        .await;
    let p = problem(res, StatusCode::CONFLICT).await;
    assert!(
        p["type"].as_str().unwrap().ends_with("insufficient-stock"),
        "{p}"
    );
    assert_eq!(app.on_hand_and_ledger(id).await, (0, 0));
    problem(
        app.get(&format!("/api/v1/movements/{}", uuid::Uuid::now_v7()))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // A viewer may read the ledger but not reverse it.
    let viewer = app.token_for("viewer").await;
    let res = app
        .send(
            Method::POST,
            &viewer,
            &reverse,
            Some(json!({"reason": "x"})),
        )
        .await;
    problem(res, StatusCode::FORBIDDEN).await;
    app.shutdown().await;
}

#[tokio::test]
async fn skus_ignore_case_can_change_and_archives_can_be_restored() {
    let app = spawn_app().await;
    let bolt = app.create_item("BOLT-M8").await;
    let path = format!("/api/v1/items/{}", bolt["id"].as_str().unwrap());
    let res = app
        .post("/api/v1/items", json!({"sku": "bolt-m8", "name": "Bolt"}))
        .await;
    let p = problem(res, StatusCode::CONFLICT).await;
    assert!(
        p["type"].as_str().unwrap().ends_with("duplicate-sku"),
        "{p}"
    );

    let res = patch(&app, &path, json!({"sku": "BOLT-M8X20"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.get_json(&path).await["sku"], "BOLT-M8X20");

    // Archive, then restore; while archived the SKU may be renamed away.
    let res = app
        .send(Method::DELETE, &app.admin_token, &path, None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_json(&path).await["archived"], true);
    let restore = format!("{path}/restore");
    let res = app
        .send(Method::POST, &app.admin_token, &restore, None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let restored: Value = res.json().await.unwrap();
    assert_eq!(restored["archived"], false);
    assert_eq!(app.get_json(&path).await["archived"], false);
    app.receive(bolt["id"].as_str().unwrap(), 1).await;
    let clerk = app.token_for("clerk").await;
    let res = app.send(Method::POST, &clerk, &restore, None).await;
    problem(res, StatusCode::FORBIDDEN).await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_default_location_is_chosen_and_main_is_only_a_name() {
    let app = spawn_app().await;
    let item = app.create_item("GLUE-PVA").await;
    let id = item["id"].as_str().unwrap();
    app.create_location("FLOOR").await;
    let res = patch(&app, "/api/v1/locations/FLOOR", json!({"default": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let floor: Value = res.json().await.unwrap();
    assert_eq!(floor["default"], true);
    assert_eq!(
        app.get_json("/api/v1/locations/MAIN").await["default"],
        false
    );

    // A movement without a location goes to the default.
    let received = app.receive(id, 12).await;
    assert_eq!(received["movement"]["location"], "FLOOR");
    // MAIN may be renamed; its stock and history stay with it.
    let res = patch(&app, "/api/v1/locations/MAIN", json!({"code": "BACKROOM"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.get_json("/api/v1/locations/backroom").await["name"],
        "Main location"
    );
    // The default stays until another one takes it.
    let res = patch(&app, "/api/v1/locations/FLOOR", json!({"default": false})).await;
    invalid(res, "default", "make another location the default").await;

    // Not enough where it was asked for: the refusal says where it is.
    let (status, body) = app
        .movement(json!({"item_id": id, "kind": "issue", "quantity": 3, "location": "BACKROOM"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["available"], 0);
    assert_eq!(
        body["elsewhere"],
        json!([{"location": "FLOOR", "available": 12}])
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("available elsewhere: 12 at FLOOR"),
        "{body}"
    );
    assert_eq!(app.on_hand_and_ledger(id).await, (12, 12));
    app.shutdown().await;
}

#[tokio::test]
async fn messages_say_what_to_do() {
    let app = spawn_app().await;
    let item = app
        .create_item_with(json!({"sku": "SAW-1", "name": "Saw", "category": "Tools"}))
        .await;
    let id = item["id"].as_str().unwrap();

    // 401 says how to get a token.
    let res = app
        .client
        .get(app.url("/api/v1/items"))
        .send()
        .await
        .unwrap();
    let p = problem(res, StatusCode::UNAUTHORIZED).await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("POST /api/v1/auth/login"),
        "{p}"
    );
    // 403 names the permission and the role that has it.
    let viewer = app.token_for("viewer").await;
    let res = app
        .send(
            Method::POST,
            &viewer,
            "/api/v1/movements",
            Some(json!({"item_id": id, "kind": "receive", "quantity": 1})),
        )
        .await;
    let p = problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(p["permission"], "stock:move");
    assert_eq!(p["required_role"], "clerk");
    assert!(p["detail"].as_str().unwrap().contains("as a viewer"), "{p}");
    // An unknown location lists the codes there are.
    let (status, body) = app
        .movement(json!({"item_id": id, "kind": "receive", "quantity": 1, "location": "FLOR"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&body),
        [(
            "location".to_owned(),
            "unknown location 'FLOR'; the locations are MAIN".to_owned()
        )]
    );
    // A batch sent as a bare array says to wrap it.
    let res = app
        .post(
            "/api/v1/movements/batch",
            json!([{"item_id": id, "kind": "receive", "quantity": 1}]),
        )
        .await;
    invalid(res, "body", "{\"movements\": [...]}").await;
    // "an issue", not "a issue".
    let (_, body) = app
        .movement(json!({"item_id": id, "kind": "issue", "quantity": 1, "to_location": "MAIN"}))
        .await;
    assert!(fields(&body).contains(&(
        "to_location".to_owned(),
        "is not used by an issue movement".to_owned()
    )));
    // A missing required field is named.
    let res = app.post("/api/v1/items", json!({"sku": "NO-NAME"})).await;
    invalid(res, "name", "is required").await;
    // The category filter ignores case.
    let listed = app.get_json("/api/v1/items?category=tools").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(app.on_hand_and_ledger(id).await, (0, 0));
    app.shutdown().await;
}
