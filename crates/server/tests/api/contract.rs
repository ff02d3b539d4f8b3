//! The HTTP contract of `/api/v1`, driven over real HTTP against a fresh
//! server per test: authentication and roles, items, lists, locations,
//! stock, error envelopes, request ids, OpenAPI, metrics, and hostile input.

use crate::common::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, ETAG, IF_MATCH, LOCATION};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use std::cell::Cell;
use std::fmt::Write as _;

// ------------------------------------------------------------------ helpers

fn content_type(res: &Response) -> String {
    res.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn header(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Percent-encodes every byte outside the URL "unreserved" set.
fn pct(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The `field` of every entry of a validation problem's `errors`.
fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts a 422 validation problem whose `errors` name `field`.
async fn assert_invalid(res: Response, field: &str, context: &str) -> Value {
    let status = res.status();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{context}");
    let body = problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        error_fields(&body).iter().any(|f| f == field),
        "{context}: errors should name {field}: {body}"
    );
    body
}

/// Sends a raw request (any body bytes, any content type) with a token.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Response {
    let mut req = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.admin_token)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    req.send().await.unwrap()
}

async fn patch(app: &TestApp, path: &str, if_match: Option<&str>, body: Value) -> Response {
    let mut req = app
        .client
        .patch(app.url(path))
        .bearer_auth(&app.admin_token)
        .json(&body);
    if let Some(tag) = if_match {
        req = req.header(IF_MATCH, tag);
    }
    req.send().await.unwrap()
}

fn is_uuid_v7(id: &str) -> bool {
    id.len() == 36
        && id.as_bytes()[14] == b'7'
        && uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 7)
}

fn assert_rfc3339_utc(value: &Value, what: &str) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"));
    assert!(text.ends_with('Z'), "{what} should end in Z: {text}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        "{what} is not RFC 3339: {text}"
    );
}

fn skus(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items array: {list}"))
        .iter()
        .map(|i| i["sku"].as_str().unwrap().to_owned())
        .collect()
}

/// Follows `next_cursor` from `first` (a path with a query), collecting skus
/// and page sizes.
async fn walk(app: &TestApp, first: &str) -> (Vec<String>, Vec<usize>) {
    let mut all = Vec::new();
    let mut sizes = Vec::new();
    let mut path = first.to_owned();
    for _ in 0..100 {
        let page = app.get_json(&path).await;
        let page_skus = skus(&page);
        sizes.push(page_skus.len());
        all.extend(page_skus);
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("{first}&cursor={}", pct(cursor.as_bytes())),
            None => {
                assert!(page["next_cursor"].is_null(), "next_cursor: {page}");
                return (all, sizes);
            }
        }
    }
    panic!("paging did not end");
}

fn location_balance<'a>(report: &'a Value, code: &str) -> Option<&'a Value> {
    report["locations"]
        .as_array()
        .unwrap_or_else(|| panic!("no locations: {report}"))
        .iter()
        .find(|l| l["location"] == code)
}

fn contains_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    let hyphenated = b.windows(36).any(|w| {
        w.iter().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
    });
    let simple = b.windows(32).any(|w| w.iter().all(u8::is_ascii_hexdigit));
    hyphenated || simple
}

// ------------------------------------------------------------------ auth

#[tokio::test]
async fn login_returns_a_bearer_token_and_the_user() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().expect("access_token");
    assert!(!token.is_empty());
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().expect("expires_in") > 0);
    let user = &body["user"];
    assert!(uuid::Uuid::parse_str(user["id"].as_str().expect("user.id")).is_ok());
    assert_eq!(user["username"], "admin");
    assert_eq!(user["role"], "admin");

    let res = app.send(Method::GET, token, "/api/v1/me", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["id"], user["id"]);
    app.shutdown().await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_indistinguishable() {
    let app = spawn_app().await;
    let mut bodies = Vec::new();
    for (username, password) in [
        ("admin", "not-the-password"),
        ("nobody-such-user", "not-the-password"),
    ] {
        let res = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{username}");
        assert_eq!(content_type(&res), "application/problem+json");
        bodies.push(res.bytes().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1], "the two 401 bodies must be identical");
    let parsed: Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(parsed["status"], 401);
    app.shutdown().await;
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let app = spawn_app().await;
    let token = app.login("admin", ADMIN_PASSWORD).await;
    let res = app.send(Method::GET, &token, "/api/v1/me", None).await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = app
        .send(Method::POST, &token, "/api/v1/auth/logout", None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let res = app.send(Method::GET, &token, "/api/v1/me", None).await;
    problem(res, StatusCode::UNAUTHORIZED).await;
    // Another session of the same user is untouched.
    let res = app.get("/api/v1/me").await;
    assert_eq!(res.status(), StatusCode::OK);
    app.shutdown().await;
}

/// Writes `bytes` and reads one HTTP/1.1 response (head and a
/// Content-Length body); `None` if the server closed the connection first.
async fn exchange(stream: &mut tokio::net::TcpStream, bytes: &[u8]) -> Option<String> {
    use tokio::io::AsyncWriteExt;
    if stream.write_all(bytes).await.is_err() {
        return None;
    }
    read_response(stream).await
}

async fn read_response(stream: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return Some(head.to_owned());
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A request answered before its body has arrived (here 401: no token)
/// must leave the connection usable: a client pools it, and its next request
/// would otherwise go into a closing socket and get no answer at all.
#[tokio::test]
async fn early_answers_leave_the_connection_reusable() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app().await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let body =
        br#"{"item_id": "00000000-0000-0000-0000-000000000000", "kind": "receive", "quantity": 1}"#;
    let head = format!(
        "POST /api/v1/movements HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    // A server that answers now, with the body half sent, is the bug; give it
    // the chance (a slow machine can only make this test pass wrongly, never
    // fail wrongly).
    let early = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        read_response(&mut stream),
    )
    .await;
    let first = match early {
        Ok(answer) => {
            stream.write_all(&body[10..]).await.unwrap();
            answer
        }
        Err(_) => exchange(&mut stream, &body[10..]).await,
    };
    let first = first.expect("an answer to the first request");
    assert!(first.starts_with("HTTP/1.1 401"), "{first}");
    assert!(
        !first.to_ascii_lowercase().contains("connection: close"),
        "{first}"
    );
    let again = format!(
        "GET /api/v1/me HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\r\n",
        app.admin_token
    );
    let second = exchange(&mut stream, again.as_bytes()).await;
    let second = second.expect("the connection was closed after an early answer");
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
}

#[tokio::test]
async fn api_routes_require_a_token() {
    let app = spawn_app().await;
    let item = app.create_item("AUTH-1").await;
    let id = item["id"].as_str().unwrap();
    let movement = json!({"item_id": id, "kind": "receive", "quantity": 5});
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/items".into(), None),
        (
            Method::POST,
            "/api/v1/movements".into(),
            Some(movement.clone()),
        ),
        (Method::GET, "/api/v1/me".into(), None),
        (Method::GET, "/api/v1/locations".into(), None),
        (
            Method::POST,
            "/api/v1/items".into(),
            Some(json!({"sku": "NOAUTH", "name": "x"})),
        ),
        (Method::GET, format!("/api/v1/items/{id}"), None),
        (Method::GET, format!("/api/v1/items/{id}/stock"), None),
        (Method::GET, "/api/v1/movements".into(), None),
        (
            Method::POST,
            "/api/v1/movements/batch".into(),
            Some(json!({"movements": [movement]})),
        ),
        (Method::POST, "/api/v1/auth/logout".into(), None),
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(
                json!({"username": "eve", "password": "user-password-for-tests", "role": "admin"}),
            ),
        ),
    ];
    for (method, path, body) in cases {
        let mut req = app.client.request(method.clone(), app.url(&path));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        problem(res, StatusCode::UNAUTHORIZED).await;
    }
    // None of those writes happened.
    assert_eq!(app.on_hand_and_ledger(id).await, (0, 0));
    let list = app.get_json("/api/v1/items?sku=NOAUTH").await;
    assert!(skus(&list).is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn malformed_authorization_headers_get_401() {
    let app = spawn_app().await;
    let token = app.admin_token.clone();
    let values: Vec<HeaderValue> = vec![
        HeaderValue::from_static("Basic YWRtaW46YWRtaW4="),
        HeaderValue::from_static("Bearer"),
        HeaderValue::from_static("Bearer "),
        HeaderValue::from_static("Bearer not-a-real-token"),
        HeaderValue::from_static("Token abc"),
        HeaderValue::from_str(&token).unwrap(),
        HeaderValue::from_str(&format!("Bearer{token}")).unwrap(),
        HeaderValue::from_str(&format!("Bearer {token}x")).unwrap(),
        HeaderValue::from_str(&format!("Basic {token}")).unwrap(),
        HeaderValue::from_bytes(b"Bearer \xff\xfe\x80").unwrap(),
    ];
    for value in values {
        let res = app
            .client
            .get(app.url("/api/v1/me"))
            .header(AUTHORIZATION, value.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{value:?}");
        problem(res, StatusCode::UNAUTHORIZED).await;
    }
    // The well-formed header with the same token works.
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    app.shutdown().await;
}

#[tokio::test]
async fn roles_limit_what_each_user_may_do() {
    let app = spawn_app().await;
    let item = app.create_item("ROLE-1").await;
    let id = item["id"].as_str().unwrap().to_owned();
    let receive = json!({"item_id": id, "kind": "receive", "quantity": 2});

    // viewer: read only
    let viewer = app.token_for("viewer").await;
    let res = app.send(Method::GET, &viewer, "/api/v1/items", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .send(
            Method::POST,
            &viewer,
            "/api/v1/items",
            Some(json!({"sku": "BY-VIEWER", "name": "x"})),
        )
        .await;
    problem(res, StatusCode::FORBIDDEN).await;
    let res = app
        .send(
            Method::POST,
            &viewer,
            "/api/v1/movements",
            Some(receive.clone()),
        )
        .await;
    problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(app.on_hand_and_ledger(&id).await, (0, 0));

    // clerk: movements, not items
    let clerk = app.token_for("clerk").await;
    let res = app
        .send(
            Method::POST,
            &clerk,
            "/api/v1/movements",
            Some(receive.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["balances"]["on_hand"], 2);
    assert!(body["movement"]["created_by"]
        .as_str()
        .unwrap()
        .starts_with("clerk-"));
    let res = app
        .send(
            Method::POST,
            &clerk,
            "/api/v1/items",
            Some(json!({"sku": "BY-CLERK", "name": "x"})),
        )
        .await;
    problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(app.on_hand_and_ledger(&id).await, (2, 2));

    // manager: items and locations, not users
    let manager = app.token_for("manager").await;
    let res = app
        .send(
            Method::POST,
            &manager,
            "/api/v1/items",
            Some(json!({"sku": "BY-MANAGER", "name": "x"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .send(
            Method::POST,
            &manager,
            "/api/v1/locations",
            Some(json!({"code": "MGR-1", "name": "Manager's"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .send(
            Method::POST,
            &manager,
            "/api/v1/users",
            Some(json!({"username": "by-manager", "password": "user-password-for-tests", "role": "viewer"})),
        )
        .await;
    problem(res, StatusCode::FORBIDDEN).await;
    let list = app.get_json("/api/v1/items?include_archived=true").await;
    assert_eq!(skus(&list), vec!["BY-MANAGER", "ROLE-1"]);

    // admin: users
    let res = app
        .post(
            "/api/v1/users",
            json!({"username": "carol", "password": "user-password-for-tests", "role": "clerk"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let user: Value = res.json().await.unwrap();
    assert!(uuid::Uuid::parse_str(user["id"].as_str().expect("id")).is_ok());
    assert_eq!(user["username"], "carol");
    assert_eq!(user["role"], "clerk");
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());
    let carol = app.login("carol", "user-password-for-tests").await;
    let res = app.send(Method::GET, &carol, "/api/v1/me", None).await;
    assert_eq!(res.json::<Value>().await.unwrap()["role"], "clerk");

    let res = app
        .post(
            "/api/v1/users",
            json!({"username": "carol", "password": "another-password", "role": "viewer"}),
        )
        .await;
    problem(res, StatusCode::CONFLICT).await;
    // The duplicate did not replace carol's password.
    let _ = app.login("carol", "user-password-for-tests").await;

    let res = app
        .post(
            "/api/v1/users",
            json!({"username": "dave", "password": "user-password-for-tests", "role": "superuser"}),
        )
        .await;
    problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    app.shutdown().await;
}

// ------------------------------------------------------------------ items

#[tokio::test]
async fn create_item_returns_the_full_item() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/api/v1/items",
            json!({
                "sku": "WID-1",
                "name": "Widget",
                "description": "A fine widget",
                "category": "tools",
                "reorder_point": 3,
                "unit_cost": "12.5",
                "attributes": {"color": "red", "size": 4}
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = header(&res, LOCATION.as_str()).expect("Location header");
    let etag = header(&res, ETAG.as_str()).expect("ETag header");
    let item: Value = res.json().await.unwrap();
    let id = item["id"].as_str().unwrap();
    assert!(is_uuid_v7(id), "id should be a UUID v7: {id}");
    assert_eq!(location, format!("/api/v1/items/{id}"));
    assert_eq!(etag, "\"1\"");
    assert_eq!(item["sku"], "WID-1");
    assert_eq!(item["name"], "Widget");
    assert_eq!(item["description"], "A fine widget");
    assert_eq!(item["category"], "tools");
    assert_eq!(item["unit"], "pcs");
    assert_eq!(item["reorder_point"], 3);
    assert_eq!(item["unit_cost"], "12.50");
    assert_eq!(item["attributes"], json!({"color": "red", "size": 4}));
    assert_eq!(item["archived"], false);
    assert_eq!(item["on_hand"], 0);
    assert_eq!(item["reserved"], 0);
    assert_eq!(item["available"], 0);
    assert_eq!(item["version"], 1);
    assert_rfc3339_utc(&item["created_at"], "created_at");
    assert_rfc3339_utc(&item["updated_at"], "updated_at");

    // The Location header leads to the same item.
    let fetched = app.get_json(&location).await;
    assert_eq!(fetched, item);

    // Defaults for a minimal item.
    let min = app.create_item("MIN-1").await;
    assert_eq!(min["unit"], "pcs");
    assert_eq!(min["reorder_point"], 0);
    assert!(min["description"].is_null());
    assert!(min["category"].is_null());
    assert_eq!(min["attributes"], json!({}));
    assert!(min["unit_cost"].is_string(), "unit_cost is a string: {min}");
    assert_ne!(min["id"], item["id"]);
    assert!(is_uuid_v7(min["id"].as_str().unwrap()));
    app.shutdown().await;
}

#[tokio::test]
async fn unit_cost_is_an_exact_decimal_string() {
    let app = spawn_app().await;
    for (i, (input, output)) in [
        ("12.5", "12.50"),
        ("0.0001", "0.0001"),
        ("123.4567", "123.4567"),
        ("7", "7.00"),
    ]
    .into_iter()
    .enumerate()
    {
        let item = app
            .create_item_with(json!({"sku": format!("COST-{i}"), "name": "c", "unit_cost": input}))
            .await;
        assert_eq!(item["unit_cost"], output, "{input}");
        let again = app
            .get_json(&format!("/api/v1/items/{}", item["id"].as_str().unwrap()))
            .await;
        assert_eq!(again["unit_cost"], output, "{input} after a read");
    }
    for (i, bad) in [
        json!("1.00001"),
        json!("-1"),
        json!("-0.01"),
        json!(12.5),
        json!(12),
        json!("abc"),
        json!("1e5"),
    ]
    .into_iter()
    .enumerate()
    {
        let res = app
            .post(
                "/api/v1/items",
                json!({"sku": format!("BADCOST-{i}"), "name": "c", "unit_cost": bad}),
            )
            .await;
        assert_invalid(res, "unit_cost", &format!("unit_cost {bad}")).await;
    }
    let list = app.get_json("/api/v1/items?q=BADCOST").await;
    assert!(skus(&list).is_empty(), "no invalid item was stored");
    app.shutdown().await;
}

#[tokio::test]
async fn duplicate_sku_and_unknown_fields_are_refused() {
    let app = spawn_app().await;
    let first = app.create_item("DUP-1").await;
    let res = app
        .post("/api/v1/items", json!({"sku": "DUP-1", "name": "Second"}))
        .await;
    let body = problem(res, StatusCode::CONFLICT).await;
    assert!(
        body["type"].as_str().unwrap().ends_with("duplicate-sku"),
        "{body}"
    );
    let list = app.get_json("/api/v1/items?sku=DUP-1").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["name"], first["name"]);

    let res = app
        .post(
            "/api/v1/items",
            json!({"sku": "UNK-1", "name": "x", "colour_scheme": "blue"}),
        )
        .await;
    let body = problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let errors = body["errors"].as_array().expect("errors[]");
    assert!(
        errors.iter().any(|e| {
            e["field"] == "colour_scheme"
                || e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("colour_scheme"))
        }),
        "errors should name the unknown field: {body}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn item_fields_are_validated() {
    let app = spawn_app().await;
    let cases = [
        (json!({"sku": "", "name": "x"}), "sku"),
        (json!({"sku": "A".repeat(65), "name": "x"}), "sku"),
        (json!({"sku": "HAS SPACE", "name": "x"}), "sku"),
        (json!({"sku": "V-NAME", "name": "n".repeat(201)}), "name"),
        (json!({"sku": "V-NAME2", "name": ""}), "name"),
        (
            json!({"sku": "V-RP", "name": "x", "reorder_point": -1}),
            "reorder_point",
        ),
        (
            json!({"sku": "V-ATTR", "name": "x", "attributes": "x"}),
            "attributes",
        ),
        (
            json!({"sku": "V-ATTR2", "name": "x", "attributes": [1, 2]}),
            "attributes",
        ),
        (
            json!({"sku": "V-ATTR3", "name": "x", "attributes": 5}),
            "attributes",
        ),
    ];
    for (body, field) in cases {
        let res = app.post("/api/v1/items", body.clone()).await;
        assert_invalid(res, field, &body.to_string()).await;
    }
    // A missing field is named too (by field or in the message).
    let res = app.post("/api/v1/items", json!({"name": "x"})).await;
    let body = problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        body["errors"]
            .as_array()
            .is_some_and(|errors| errors
                .iter()
                .any(|e| e["field"] == "sku"
                    || e["message"].as_str().is_some_and(|m| m.contains("sku")))),
        "{body}"
    );
    let list = app.get_json("/api/v1/items?include_archived=true").await;
    assert!(skus(&list).is_empty(), "nothing invalid was stored: {list}");

    // The boundaries themselves are accepted.
    let item = app
        .create_item_with(json!({"sku": "B".repeat(64), "name": "n".repeat(200)}))
        .await;
    assert_eq!(item["sku"].as_str().unwrap().len(), 64);
    app.shutdown().await;
}

#[tokio::test]
async fn attribute_numbers_round_trip_exactly() {
    // Each literal is the shortest text of an IEEE double, so a server that
    // keeps the number returns the same text.
    let app = spawn_app().await;
    let numbers = [
        "0.1",
        "123.456",
        "5e-324",
        "-1.269115693737954e-281",
        "-2.832057977915465e-41",
        "1.6237064602850044e-198",
    ];
    let mut changed = Vec::new();
    for (i, n) in numbers.iter().enumerate() {
        let body = format!(r#"{{"sku": "F-{i}", "name": "f", "attributes": {{"x": {n}}}}}"#);
        let res = raw(
            &app,
            Method::POST,
            "/api/v1/items",
            Some("application/json"),
            body.into_bytes(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{n}");
        let created = res.text().await.unwrap();
        let id = serde_json::from_str::<Value>(&created).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let fetched = app
            .get(&format!("/api/v1/items/{id}"))
            .await
            .text()
            .await
            .unwrap();
        let expected = format!("\"x\":{n}}}");
        for (when, text) in [("create", &created), ("read", &fetched)] {
            if !text.contains(&expected) {
                let at = text
                    .find("\"x\":")
                    .map_or("", |p| &text[p..(p + 32).min(text.len())]);
                changed.push(format!("{n} came back from the {when} as {at}"));
            }
        }
    }
    assert!(
        changed.is_empty(),
        "attribute numbers changed:\n{}",
        changed.join("\n")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_items_are_404() {
    let app = spawn_app().await;
    let unknown = uuid::Uuid::now_v7();
    for path in [
        format!("/api/v1/items/{unknown}"),
        "/api/v1/items/not-a-uuid".to_owned(),
        format!("/api/v1/items/{unknown}/stock"),
    ] {
        let res = app.get(&path).await;
        problem(res, StatusCode::NOT_FOUND).await;
    }
    let res = patch(
        &app,
        &format!("/api/v1/items/{unknown}"),
        None,
        json!({"name": "x"}),
    )
    .await;
    problem(res, StatusCode::NOT_FOUND).await;
    let res = app
        .send(
            Method::DELETE,
            &app.admin_token,
            &format!("/api/v1/items/{unknown}"),
            None,
        )
        .await;
    problem(res, StatusCode::NOT_FOUND).await;
    app.shutdown().await;
}

#[tokio::test]
async fn patch_is_a_conditional_merge_patch() {
    let app = spawn_app().await;
    let item = app
        .create_item_with(json!({
            "sku": "PAT-1", "name": "Original", "description": "to be cleared",
            "attributes": {"a": 1, "b": 2}
        }))
        .await;
    let path = format!("/api/v1/items/{}", item["id"].as_str().unwrap());

    let res = app.get(&path).await;
    assert_eq!(header(&res, "etag").as_deref(), Some("\"1\""));

    // With the current ETag.
    let res = patch(&app, &path, Some("\"1\""), json!({"name": "Renamed"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "etag").as_deref(), Some("\"2\""));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["version"], 2);
    assert_eq!(body["name"], "Renamed");
    assert_eq!(
        body["description"], "to be cleared",
        "untouched fields stay"
    );

    // With a stale ETag: nothing changes.
    let res = patch(&app, &path, Some("\"1\""), json!({"name": "Stale write"})).await;
    problem(res, StatusCode::PRECONDITION_FAILED).await;
    let now = app.get_json(&path).await;
    assert_eq!(now["name"], "Renamed");
    assert_eq!(now["version"], 2);

    // Without If-Match.
    let res = patch(&app, &path, None, json!({"category": "misc"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["category"], "misc");
    assert_eq!(body["version"], 3);

    // The sku may change (the id, and so the history, stays); it cannot
    // be cleared, and a clerk cannot change it.
    let res = patch(&app, &path, None, json!({"sku": "PAT-1B"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["sku"].as_str(), body["id"].as_str()),
        (Some("PAT-1B"), item["id"].as_str())
    );
    let res = patch(&app, &path, None, json!({"sku": null})).await;
    assert_invalid(res, "sku", "a null sku").await;
    let clerk = app.token_for("clerk").await;
    let res = app
        .send(Method::PATCH, &clerk, &path, Some(json!({"sku": "PAT-9"})))
        .await;
    problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(app.get_json(&path).await["sku"], "PAT-1B");

    // null clears.
    let res = patch(&app, &path, None, json!({"description": null})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert!(body["description"].is_null(), "{body}");
    assert!(app.get_json(&path).await["description"].is_null());

    // Attributes merge.
    let res = patch(
        &app,
        &path,
        None,
        json!({"attributes": {"b": null, "c": 3}}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["attributes"], json!({"a": 1, "c": 3}));
    let now = app.get_json(&path).await;
    assert_eq!(now["attributes"], json!({"a": 1, "c": 3}));
    assert_eq!(now["name"], "Renamed");
    assert_eq!(now["category"], "misc");

    // An invalid patch changes nothing.
    let version = now["version"].clone();
    let res = patch(&app, &path, None, json!({"name": "", "category": "never"})).await;
    assert_invalid(res, "name", "empty name").await;
    let after = app.get_json(&path).await;
    assert_eq!(after["version"], version);
    assert_eq!(after["category"], "misc");
    app.shutdown().await;
}

#[tokio::test]
async fn delete_archives_and_archived_items_take_no_stock() {
    let app = spawn_app().await;
    let item = app.create_item("DEL-1").await;
    let id = item["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/items/{id}");
    let res = app
        .send(Method::DELETE, &app.admin_token, &path, None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_json(&path).await["archived"], true);

    let (status, body) = app
        .movement(json!({"item_id": id, "kind": "receive", "quantity": 1}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["type"].as_str().unwrap().ends_with("item-archived"),
        "{body}"
    );
    assert_eq!(app.on_hand_and_ledger(&id).await, (0, 0));

    let stocked = app.create_item("DEL-2").await;
    let stocked_id = stocked["id"].as_str().unwrap();
    app.receive(stocked_id, 3).await;
    let res = app
        .send(
            Method::DELETE,
            &app.admin_token,
            &format!("/api/v1/items/{stocked_id}"),
            None,
        )
        .await;
    let body = problem(res, StatusCode::CONFLICT).await;
    assert!(
        body["type"].as_str().unwrap().ends_with("item-has-stock"),
        "{body}"
    );
    let now = app.get_json(&format!("/api/v1/items/{stocked_id}")).await;
    assert_eq!(now["archived"], false);
    assert_eq!(now["on_hand"], 3);

    let listed = app.get_json("/api/v1/items").await;
    assert_eq!(skus(&listed), vec!["DEL-2"]);
    let listed = app.get_json("/api/v1/items?include_archived=true").await;
    assert_eq!(skus(&listed), vec!["DEL-1", "DEL-2"]);
    let archived = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku"] == "DEL-1")
        .unwrap();
    assert_eq!(archived["archived"], true);
    app.shutdown().await;
}

// ------------------------------------------------------------------ lists

#[tokio::test]
async fn list_filters_by_q_category_and_sku() {
    let app = spawn_app().await;
    for (sku, name, category) in [
        ("ABC-RED", "Red thing", "colours"),
        ("XYZ-1", "Green Apple", "fruit"),
        ("QQQ-9", "apple pie", "food"),
        ("ZZZ-0", "Banana", "fruit"),
    ] {
        app.create_item_with(json!({"sku": sku, "name": name, "category": category}))
            .await;
    }
    let list = app.get_json("/api/v1/items").await;
    assert!(list["items"].is_array());
    assert!(
        list.get("next_cursor").is_some(),
        "next_cursor is present: {list}"
    );
    assert!(list["next_cursor"].is_null());
    assert_eq!(skus(&list).len(), 4);

    let cases = [
        ("q=apple", vec!["QQQ-9", "XYZ-1"]),
        ("q=APPLE", vec!["QQQ-9", "XYZ-1"]),
        ("q=PpL", vec!["QQQ-9", "XYZ-1"]),
        ("q=abc", vec!["ABC-RED"]),
        ("q=c-r", vec!["ABC-RED"]),
        ("q=nothing-like-it", vec![]),
        ("q=%25", vec![]),
        ("q=_", vec![]),
        ("category=fruit", vec!["XYZ-1", "ZZZ-0"]),
        ("category=food", vec!["QQQ-9"]),
        ("category=fruit&q=banana", vec!["ZZZ-0"]),
        ("sku=XYZ-1", vec!["XYZ-1"]),
        ("sku=XYZ", vec![]),
        ("sku=XYZ-", vec![]),
    ];
    for (query, expected) in cases {
        let list = app.get_json(&format!("/api/v1/items?{query}")).await;
        assert_eq!(skus(&list), expected, "{query}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn low_stock_lists_items_at_or_below_their_reorder_point() {
    let app = spawn_app().await;
    let mk = |sku: &'static str, rp: i64| json!({"sku": sku, "name": sku, "reorder_point": rp});
    let low = app.create_item_with(mk("LOW-3", 5)).await;
    let plenty = app.create_item_with(mk("PLENTY-10", 5)).await;
    let edge = app.create_item_with(mk("EDGE-5", 5)).await;
    app.create_item_with(mk("NORP-0", 0)).await;
    app.create_item_with(mk("EMPTY-0", 2)).await;
    app.receive(low["id"].as_str().unwrap(), 3).await;
    app.receive(plenty["id"].as_str().unwrap(), 10).await;
    app.receive(edge["id"].as_str().unwrap(), 5).await;

    let list = app.get_json("/api/v1/items?low_stock=true").await;
    assert_eq!(skus(&list), vec!["EDGE-5", "EMPTY-0", "LOW-3"]);
    for item in list["items"].as_array().unwrap() {
        let rp = item["reorder_point"].as_i64().unwrap();
        let available = item["available"].as_i64().unwrap();
        assert!(rp > 0 && available <= rp, "{item}");
    }
    let all = app.get_json("/api/v1/items?low_stock=false").await;
    assert_eq!(skus(&all).len(), 5);

    // Issuing stock moves an item into the list.
    let (status, _) = app
        .movement(json!({"item_id": plenty["id"], "kind": "issue", "quantity": 6}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let list = app.get_json("/api/v1/items?low_stock=true").await;
    assert_eq!(skus(&list), vec!["EDGE-5", "EMPTY-0", "LOW-3", "PLENTY-10"]);
    app.shutdown().await;
}

#[tokio::test]
async fn list_limit_defaults_to_50() {
    let app = spawn_app().await;
    for i in 0..51 {
        app.create_item(&format!("LIM-{i:03}")).await;
    }
    let page = app.get_json("/api/v1/items").await;
    let first = skus(&page);
    assert_eq!(first.len(), 50);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let page = app
        .get_json(&format!("/api/v1/items?cursor={}", pct(cursor.as_bytes())))
        .await;
    assert_eq!(skus(&page), vec!["LIM-050"]);
    assert!(page["next_cursor"].is_null());

    let page = app.get_json("/api/v1/items?limit=500").await;
    assert_eq!(skus(&page).len(), 51);
    assert!(page["next_cursor"].is_null());
    app.shutdown().await;
}

#[tokio::test]
async fn paging_visits_each_item_once_in_order() {
    let app = spawn_app().await;
    for sku in ["P-3", "P-1", "P-5", "P-2", "P-4"] {
        app.create_item(sku).await;
    }
    let (seen, sizes) = walk(&app, "/api/v1/items?limit=2").await;
    assert_eq!(seen, vec!["P-1", "P-2", "P-3", "P-4", "P-5"]);
    assert_eq!(sizes, vec![2, 2, 1]);

    let (seen, sizes) = walk(&app, "/api/v1/items?limit=2&sort=-sku").await;
    assert_eq!(seen, vec!["P-5", "P-4", "P-3", "P-2", "P-1"]);
    assert_eq!(sizes, vec![2, 2, 1]);

    let (seen, _) = walk(&app, "/api/v1/items?limit=2&sort=created_at").await;
    assert_eq!(seen, vec!["P-3", "P-1", "P-5", "P-2", "P-4"]);
    let (seen, _) = walk(&app, "/api/v1/items?limit=3&sort=-created_at").await;
    assert_eq!(seen, vec!["P-4", "P-2", "P-5", "P-1", "P-3"]);

    // A cursor is tied to its sort order.
    let page = app.get_json("/api/v1/items?limit=2").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let res = app
        .get(&format!("/api/v1/items?limit=2&sort=-sku&cursor={cursor}"))
        .await;
    assert_invalid(res, "cursor", "cursor of another sort").await;
    app.shutdown().await;
}

#[tokio::test]
async fn bad_list_parameters_are_422() {
    let app = spawn_app().await;
    app.create_item("BAD-Q").await;
    let garbage = URL_SAFE_NO_PAD.encode(b"{\"not\":\"a cursor\"}");
    let cases = [
        ("limit=501", "limit"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("sort=bogus", "sort"),
        ("cursor=%%%garbage!!", "cursor"),
        ("cursor=bm90LWpzb24", "cursor"),
        ("low_stock=maybe", "low_stock"),
        ("include_archived=yes-please", "include_archived"),
    ];
    for (query, field) in cases {
        let res = app.get(&format!("/api/v1/items?{query}")).await;
        assert_invalid(res, field, query).await;
    }
    let res = app.get(&format!("/api/v1/items?cursor={garbage}")).await;
    assert_invalid(res, "cursor", "json that is not a cursor").await;
    app.shutdown().await;
}

// ------------------------------------------------------------------ locations

#[tokio::test]
async fn locations_can_be_created_read_and_renamed() {
    let app = spawn_app().await;
    let list = app.get_json("/api/v1/locations").await;
    let codes: Vec<&str> = list["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"MAIN"), "{list}");

    let res = app
        .post(
            "/api/v1/locations",
            json!({"code": "wh-2", "name": "Warehouse 2"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let loc: Value = res.json().await.unwrap();
    assert_eq!(loc["code"], "WH-2");
    assert_eq!(loc["name"], "Warehouse 2");
    let id = loc["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());

    for code in ["WH-2", "wh-2", " Wh-2 "] {
        let res = app
            .post("/api/v1/locations", json!({"code": code, "name": "Again"}))
            .await;
        let body = problem(res, StatusCode::CONFLICT).await;
        assert!(
            body["type"].as_str().unwrap().contains("duplicate"),
            "{code}: {body}"
        );
    }

    let path = format!("/api/v1/locations/{id}");
    let got = app.get_json(&path).await;
    assert_eq!(got["code"], "WH-2");
    assert_eq!(got["name"], "Warehouse 2");

    let res = app
        .send(
            Method::PATCH,
            &app.admin_token,
            &path,
            Some(json!({"name": "Warehouse Two"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let renamed: Value = res.json().await.unwrap();
    assert_eq!(renamed["name"], "Warehouse Two");
    assert_eq!(renamed["code"], "WH-2");
    assert_eq!(app.get_json(&path).await["name"], "Warehouse Two");

    let unknown = uuid::Uuid::now_v7();
    let res = app.get(&format!("/api/v1/locations/{unknown}")).await;
    problem(res, StatusCode::NOT_FOUND).await;
    let res = app.get("/api/v1/locations/not-a-uuid").await;
    problem(res, StatusCode::NOT_FOUND).await;
    let res = app
        .send(
            Method::PATCH,
            &app.admin_token,
            &format!("/api/v1/locations/{unknown}"),
            Some(json!({"name": "x"})),
        )
        .await;
    problem(res, StatusCode::NOT_FOUND).await;

    for code in ["WH 3", "has spaces here", "", "ÜBER", "a/b"] {
        let res = app
            .post("/api/v1/locations", json!({"code": code, "name": "Bad"}))
            .await;
        assert_invalid(res, "code", code).await;
    }
    let list = app.get_json("/api/v1/locations").await;
    assert_eq!(list["locations"].as_array().unwrap().len(), 2, "{list}");
    app.shutdown().await;
}

// ------------------------------------------------------------------ stock

#[tokio::test]
async fn stock_per_location_now_and_as_of() {
    let app = spawn_app().await;
    app.create_location("WH-2").await;
    let item = app.create_item("STK-1").await;
    let id = item["id"].as_str().unwrap().to_owned();

    let first = app.receive(&id, 10).await;
    let t1 = first["movement"]["created_at"].as_str().unwrap().to_owned();
    let second = app.receive(&id, 5).await;
    let t2 = second["movement"]["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, third) = app
        .movement(json!({
            "item_id": id, "kind": "transfer", "quantity": 4,
            "from_location": "MAIN", "to_location": "wh-2"
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{third}");
    let t3 = third["movement"]["created_at"].as_str().unwrap().to_owned();
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
    assert!(
        parse(&t1) < parse(&t2) && parse(&t2) < parse(&t3),
        "{t1} {t2} {t3}"
    );

    let now = app.get_json(&format!("/api/v1/items/{id}/stock")).await;
    assert_eq!(now["item_id"], id.as_str());
    assert_eq!(now["sku"], "STK-1");
    let main = location_balance(&now, "MAIN").expect("MAIN");
    assert_eq!(
        (&main["on_hand"], &main["reserved"], &main["available"]),
        (&json!(11), &json!(0), &json!(11))
    );
    let wh = location_balance(&now, "WH-2").expect("WH-2");
    assert_eq!(
        (&wh["on_hand"], &wh["reserved"], &wh["available"]),
        (&json!(4), &json!(0), &json!(4))
    );
    assert_eq!(now["on_hand"], 15);
    assert_eq!(now["reserved"], 0);
    assert_eq!(now["available"], 15);
    assert_eq!(app.on_hand_and_ledger(&id).await, (15, 15));

    // As of the first movement's instant: that movement only.
    let at1 = app
        .get_json(&format!(
            "/api/v1/items/{id}/stock?as_of={}",
            pct(t1.as_bytes())
        ))
        .await;
    assert!(!at1["as_of"].is_null());
    assert_eq!(at1["on_hand"], 10);
    assert_eq!(at1["available"], 10);
    assert_eq!(location_balance(&at1, "MAIN").expect("MAIN")["on_hand"], 10);
    assert!(
        location_balance(&at1, "WH-2").is_none_or(|l| l["on_hand"] == 0),
        "{at1}"
    );

    // As of the second: both receipts, not yet the transfer.
    let at2 = app
        .get_json(&format!(
            "/api/v1/items/{id}/stock?as_of={}",
            pct(t2.as_bytes())
        ))
        .await;
    assert_eq!(at2["on_hand"], 15);
    assert_eq!(location_balance(&at2, "MAIN").expect("MAIN")["on_hand"], 15);
    assert!(
        location_balance(&at2, "WH-2").is_none_or(|l| l["on_hand"] == 0),
        "{at2}"
    );

    // As of the transfer: the same as now.
    let at3 = app
        .get_json(&format!(
            "/api/v1/items/{id}/stock?as_of={}",
            pct(t3.as_bytes())
        ))
        .await;
    assert_eq!(location_balance(&at3, "MAIN").expect("MAIN")["on_hand"], 11);
    assert_eq!(location_balance(&at3, "WH-2").expect("WH-2")["on_hand"], 4);

    // Before anything happened.
    let at0 = app
        .get_json(&format!(
            "/api/v1/items/{id}/stock?as_of=2000-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(at0["on_hand"], 0);

    for bad in ["garbage", "2024-13-45T00:00:00Z", "yesterday", "1700000000"] {
        let res = app
            .get(&format!(
                "/api/v1/items/{id}/stock?as_of={}",
                pct(bad.as_bytes())
            ))
            .await;
        assert_invalid(res, "as_of", bad).await;
    }
    app.shutdown().await;
}

// ------------------------------------------------------------------ errors

#[tokio::test]
async fn framework_errors_are_problems_never_5xx() {
    let app = spawn_app().await;

    let res = raw(
        &app,
        Method::POST,
        "/api/v1/items",
        Some("application/json"),
        b"{\"sku\": \"X\", \"name\": ".to_vec(),
    )
    .await;
    problem(res, StatusCode::BAD_REQUEST).await;

    let res = raw(
        &app,
        Method::POST,
        "/api/v1/items",
        Some("text/plain"),
        br#"{"sku": "TXT", "name": "x"}"#.to_vec(),
    )
    .await;
    problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    let res = raw(
        &app,
        Method::POST,
        "/api/v1/items",
        None,
        br#"{"sku": "NOCT", "name": "x"}"#.to_vec(),
    )
    .await;
    problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    let big = serde_json::to_vec(&json!({
        "sku": "BIG-1",
        "name": "x",
        "description": "d".repeat(1_150_000),
    }))
    .unwrap();
    assert!(big.len() > 1024 * 1024);
    let res = raw(
        &app,
        Method::POST,
        "/api/v1/items",
        Some("application/json"),
        big,
    )
    .await;
    problem(res, StatusCode::PAYLOAD_TOO_LARGE).await;

    for path in ["/api/v1/no-such-route", "/no/such/thing", "/api/v2/items"] {
        let res = app.get(path).await;
        problem(res, StatusCode::NOT_FOUND).await;
    }

    let res = app
        .send(
            Method::PUT,
            &app.admin_token,
            "/api/v1/items",
            Some(json!({"sku": "PUT-1", "name": "x"})),
        )
        .await;
    problem(res, StatusCode::METHOD_NOT_ALLOWED).await;
    let res = app
        .send(Method::DELETE, &app.admin_token, "/api/v1/locations", None)
        .await;
    problem(res, StatusCode::METHOD_NOT_ALLOWED).await;

    // None of those created anything.
    let list = app.get_json("/api/v1/items?include_archived=true").await;
    assert!(skus(&list).is_empty(), "{list}");
    app.shutdown().await;
}

/// Every query parameter is an optional string checked by its handler; one
/// given twice cannot be read at all, and is refused like any other unusable
/// value (422, naming the query), as the OpenAPI document says.
#[tokio::test]
async fn a_query_parameter_given_twice_is_a_422() {
    let app = spawn_app().await;
    for (path, name) in [
        ("/api/v1/items?limit=1&limit=2", "limit"),
        ("/api/v1/movements?order=asc&order=desc", "order"),
        ("/api/v1/locations?cursor=a&cursor=b", "cursor"),
        ("/api/v1/events?after=1&after=2", "after"),
    ] {
        let res = app.get(path).await;
        let body = assert_invalid(res, name, path).await;
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("{name}: is given more than once")),
            "{path}: {body}"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_made_up() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "test-request-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&res, "x-request-id").as_deref(),
        Some("test-request-42")
    );

    // Also on an error response.
    let res = app
        .client
        .get(app.url("/api/v1/items"))
        .header("x-request-id", "err-req-7")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&res, "x-request-id").as_deref(), Some("err-req-7"));

    let a = app.client.get(app.url("/health")).send().await.unwrap();
    let b = app.client.get(app.url("/health")).send().await.unwrap();
    let a = header(&a, "x-request-id").expect("a request id");
    let b = header(&b, "x-request-id").expect("a request id");
    assert!(!a.is_empty() && !b.is_empty());
    assert_ne!(a, b, "each request gets its own id");
    app.shutdown().await;
}

// ------------------------------------------------------------------ openapi

#[tokio::test]
async fn openapi_document_and_docs_page() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1"),
        "openapi: {}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/api/v1/items",
        "/api/v1/movements",
        "/api/v1/movements/batch",
        "/api/v1/items/{id}/stock",
        "/api/v1/auth/login",
    ] {
        assert!(paths.contains_key(path), "OpenAPI lacks {path}");
    }

    let res = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        content_type(&res).starts_with("text/html"),
        "{}",
        content_type(&res)
    );
    let html = res.text().await.unwrap().to_ascii_lowercase();
    assert!(
        html.contains("<html") || html.contains("<!doctype html"),
        "{html}"
    );
    for cdn in ["cdn", "unpkg", "jsdelivr"] {
        assert!(!html.contains(cdn), "/docs/ refers to {cdn}");
    }
    assert!(!html.contains("src=\"http://") && !html.contains("src=\"https://"));
    app.shutdown().await;
}

// ------------------------------------------------------------------ metrics

#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Sample {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn matches(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.name == name && labels.iter().all(|(k, v)| self.label(k) == Some(*v))
    }
}

fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (head, value) = line.rsplit_once(' ').expect("a sample line");
        let value: f64 = value.parse().unwrap_or(f64::NAN);
        let (name, labels) = match head.split_once('{') {
            None => (head.to_owned(), Vec::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("closing brace");
                let mut labels = Vec::new();
                let mut chars = body.chars().peekable();
                loop {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    if key.is_empty() {
                        break;
                    }
                    assert_eq!(chars.next(), Some('"'), "label {key} in {line}");
                    let mut value = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => value.extend(chars.next()),
                            '"' => break,
                            c => value.push(c),
                        }
                    }
                    labels.push((key.trim_start_matches(',').to_owned(), value));
                    if chars.peek() == Some(&',') {
                        chars.next();
                    }
                }
                (name.to_owned(), labels)
            }
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

async fn scrape(app: &TestApp) -> (String, Vec<Sample>) {
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        content_type(&res).starts_with("text/plain"),
        "{}",
        content_type(&res)
    );
    let text = res.text().await.unwrap();
    let samples = parse_metrics(&text);
    (text, samples)
}

fn value_of(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.matches(name, labels))
        .map(|s| s.value)
        .sum()
}

#[tokio::test]
async fn metrics_use_route_templates_and_count_traffic() {
    let app = spawn_app().await;
    let item = app.create_item("MET-1").await;
    let id = item["id"].as_str().unwrap().to_owned();
    app.get_json(&format!("/api/v1/items/{id}")).await;
    app.receive(&id, 2).await;
    let missing = uuid::Uuid::now_v7();
    let res = app.get(&format!("/api/v1/items/{missing}")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.get(&format!("/api/v1/unrouted-{missing}")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let (text, samples) = scrape(&app).await;
    let get_item = [
        ("method", "GET"),
        ("endpoint", "/api/v1/items/{id}"),
        ("status", "200"),
    ];
    let before = value_of(&samples, "inventory_requests_total", &get_item);
    assert!(before >= 1.0, "{text}");
    assert!(
        samples.iter().any(|s| s.matches(
            "inventory_requests_total",
            &[("endpoint", "/api/v1/items/{id}"), ("status", "404")]
        )),
        "the 404 on a template route is counted under the template"
    );
    assert!(samples.iter().any(|s| s.matches(
        "inventory_request_duration_seconds_bucket",
        &[("endpoint", "/api/v1/items/{id}")]
    ) && s.label("le").is_some()));
    assert!(samples.iter().any(|s| s.name == "inventory_errors_total"));
    assert!(value_of(&samples, "inventory_errors_total", &[("type", "not-found")]) >= 1.0);
    assert!(samples.iter().any(|s| s.name == "inventory_items_total"));
    assert!(samples
        .iter()
        .any(|s| s.name == "inventory_active_connections"));
    let received = value_of(
        &samples,
        "inventory_stock_movements_total",
        &[("kind", "receive")],
    );
    assert!(received >= 1.0, "{text}");
    let build = samples
        .iter()
        .find(|s| s.name == "inventory_build_info")
        .expect("inventory_build_info");
    assert_eq!(build.label("version"), Some(env!("CARGO_PKG_VERSION")));
    assert!(build.label("revision").is_some_and(|r| !r.is_empty()));
    assert_eq!(build.value, 1.0);

    // Bounded labels: no raw id in any endpoint, anywhere.
    for s in &samples {
        if let Some(endpoint) = s.label("endpoint") {
            assert!(
                !contains_uuid(endpoint),
                "raw id in endpoint label: {endpoint}"
            );
            assert!(
                endpoint == "unmatched" || endpoint.starts_with('/'),
                "endpoint label: {endpoint}"
            );
        }
    }
    assert!(!text.contains(&id), "the item id leaked into metrics");
    assert!(
        !text.contains(&missing.to_string()),
        "an unrouted path leaked into metrics"
    );

    // Counters only go up.
    app.get_json(&format!("/api/v1/items/{id}")).await;
    app.receive(&id, 1).await;
    let (_, after) = scrape(&app).await;
    assert!(value_of(&after, "inventory_requests_total", &get_item) >= before + 1.0);
    assert!(
        value_of(
            &after,
            "inventory_stock_movements_total",
            &[("kind", "receive")]
        ) >= received + 1.0
    );
    app.shutdown().await;
}

#[tokio::test]
async fn metrics_report_low_stock_pool_and_process() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (sku, reorder_point) in [("LOW-1", 5), ("LOW-2", 5), ("LOW-3", 0)] {
        let item = app
            .create_item_with(
                json!({"sku": sku, "name": sku, "unit": "pcs", "reorder_point": reorder_point}),
            )
            .await;
        ids.push(item["id"].as_str().unwrap().to_owned());
    }
    app.receive(&ids[0], 10).await;
    app.receive(&ids[1], 5).await;
    // LOW-2 sits at its reorder point; LOW-3 has none, so it never counts.
    let (text, samples) = scrape(&app).await;
    assert_eq!(
        value_of(&samples, "inventory_low_stock_items", &[]),
        1.0,
        "{text}"
    );

    let pool = |state| {
        value_of(
            &samples,
            "inventory_db_pool_connections",
            &[("state", state)],
        )
    };
    assert!(pool("max") >= 2.0, "{text}");
    // Pools may open connections lazily: open ones are active or idle.
    assert!(pool("active") + pool("idle") <= pool("max"), "{text}");
    assert!(pool("idle") >= 1.0, "{text}");
    // This scrape's own connection is open.
    assert!(
        value_of(&samples, "inventory_active_connections", &[]) >= 1.0,
        "{text}"
    );

    assert!(
        value_of(&samples, "process_resident_memory_bytes", &[]) > 1e6,
        "{text}"
    );
    assert!(value_of(&samples, "process_open_fds", &[]) >= 3.0, "{text}");
    assert!(
        value_of(&samples, "process_max_fds", &[]) >= value_of(&samples, "process_open_fds", &[])
    );
    assert!(
        value_of(&samples, "process_cpu_seconds_total", &[]) > 0.0,
        "{text}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = value_of(&samples, "process_start_time_seconds", &[]);
    assert!(
        started <= now + 1.0 && started > now - 86_400.0,
        "{started} vs {now}"
    );
    app.shutdown().await;
}

// ------------------------------------------------------------------ hostile input

const MAX_QUANTITY: i64 = 1_000_000_000;

fn hostile_string() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        4 => any::<char>(),
        2 => (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
        1 => prop::sample::select(vec![
            '\u{7f}', '\u{85}', '\u{202e}', '\u{feff}', '\u{1F600}', '"', '\\', '%', '_', '\'', ' ',
        ]),
        2 => prop::char::range('a', 'z'),
    ];
    prop_oneof![
        6 => prop::collection::vec(ch, 0..40).prop_map(String::from_iter),
        1 => Just(String::new()),
        1 => (1usize..300).prop_map(|n| "x".repeat(n)),
        1 => Just("'; DROP TABLE items; --".to_owned()),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            0i64,
            -1,
            1,
            i64::MIN,
            i64::MAX,
            MAX_QUANTITY,
            MAX_QUANTITY + 1
        ])
        .prop_map(Value::from),
        hostile_string().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((hostile_string(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// An object with some of `fields`, each with a hostile value (or one from
/// `special` for that field), plus maybe one unknown key.
fn shaped(
    fields: &'static [&'static str],
    special: impl Fn(&'static str) -> Option<BoxedStrategy<Value>>,
) -> BoxedStrategy<Value> {
    let per_field: Vec<BoxedStrategy<Option<(String, Value)>>> = fields
        .iter()
        .map(|&f| {
            let value = match special(f) {
                Some(s) => s,
                None => json_value().boxed(),
            };
            prop::option::weighted(0.7, value.prop_map(move |v| (f.to_owned(), v))).boxed()
        })
        .collect();
    (
        per_field,
        prop::option::weighted(0.15, (hostile_string(), json_value())),
    )
        .prop_map(|(pairs, extra)| {
            let mut map = serde_json::Map::new();
            for (k, v) in pairs.into_iter().flatten() {
                map.insert(k, v);
            }
            if let Some((k, v)) = extra {
                map.insert(k, v);
            }
            Value::Object(map)
        })
        .boxed()
}

fn plausible_text() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => hostile_string().prop_map(Value::String),
        2 => "[A-Za-z0-9-]{1,12}".prop_map(Value::String),
        1 => json_value(),
    ]
    .boxed()
}

fn item_body() -> BoxedStrategy<Value> {
    shaped(
        &[
            "sku",
            "name",
            "description",
            "category",
            "unit",
            "reorder_point",
            "unit_cost",
            "attributes",
        ],
        |f| match f {
            "sku" | "name" | "description" | "category" | "unit" => Some(plausible_text()),
            "unit_cost" => Some(
                prop_oneof![
                    "-?[0-9]{0,30}(\\.[0-9]{0,8})?".prop_map(Value::String),
                    json_value(),
                ]
                .boxed(),
            ),
            "attributes" => Some(
                prop_oneof![
                    prop::collection::vec((hostile_string(), json_value()), 0..5)
                        .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                    json_value(),
                ]
                .boxed(),
            ),
            _ => None,
        },
    )
}

/// Item bodies that often pass validation, carrying unusual but legal text
/// (unicode, tabs, newlines, quotes) that must round-trip unchanged.
fn unusual_item_body() -> BoxedStrategy<Value> {
    let text = prop::collection::vec(
        prop_oneof![
            4 => any::<char>().prop_filter("not a control character", |c| !c.is_control()),
            1 => prop::sample::select(vec![
                '\t', '\n', '"', '\\', '%', '_', '\u{202e}', '\u{1F600}', 'ß',
            ]),
        ],
        1..30,
    )
    .prop_map(String::from_iter)
    .prop_filter("not blank", |s| !s.trim().is_empty());
    (
        "[A-Za-z0-9._/-]{1,20}",
        text.clone(),
        prop::option::of(text),
        prop::option::of("[0-9]{1,9}(\\.[0-9]{1,4})?"),
        prop::option::of(0i64..=MAX_QUANTITY),
        prop::collection::vec((hostile_string(), json_value()), 0..4),
    )
        .prop_map(
            |(sku, name, description, unit_cost, reorder_point, attributes)| {
                let mut body = json!({"sku": sku, "name": name});
                if let Some(d) = description {
                    body["description"] = json!(d);
                }
                if let Some(c) = unit_cost {
                    body["unit_cost"] = json!(c);
                }
                if let Some(r) = reorder_point {
                    body["reorder_point"] = json!(r);
                }
                body["attributes"] = Value::Object(attributes.into_iter().collect());
                body
            },
        )
        .boxed()
}

/// A quantity that no movement kind accepts.
fn bad_quantity() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(json!(0)),
        (MAX_QUANTITY + 1..=i64::MAX).prop_map(Value::from),
        (i64::MIN..-MAX_QUANTITY).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(json!(1.5)),
        Just(json!(3.0)),
        hostile_string().prop_map(Value::String),
        Just(json!("5")),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        Just(json!([5])),
        Just(json!({"value": 5})),
    ]
    .boxed()
}

/// A movement that can never be valid: either its quantity is bad or
/// missing, or it is well-formed but the stock or the locations refuse it
/// (the guard item holds 5 at MAIN and 2 at WH-2).
fn bad_movement(item_id: String) -> BoxedStrategy<Value> {
    prop_oneof![
        3 => malformed_movement(item_id.clone()),
        2 => refused_movement(item_id),
    ]
    .boxed()
}

/// What a well-formed movement that the server must refuse looks like.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// Issue more than the location holds.
    Issue,
    /// Transfer more than the source holds (from MAIN, or from WH-2).
    Transfer(bool),
    /// Adjust down by more than the location holds.
    Adjust,
    /// Receive at a location that does not exist.
    UnknownLocation,
    /// Transfer to a location that does not exist.
    TransferNowhere,
    /// Receive for an item that does not exist.
    UnknownItem(u128),
}

fn refusal(item_id: &str, refusal: Refusal, q: i64, at: Option<&str>) -> Value {
    let mut m = json!({"item_id": item_id, "quantity": q});
    let fields = match refusal {
        Refusal::Issue => json!({"kind": "issue", "location": at}),
        Refusal::Transfer(from_main) => {
            let (from, to) = if from_main {
                ("MAIN", "WH-2")
            } else {
                ("WH-2", "MAIN")
            };
            json!({"kind": "transfer", "from_location": from, "to_location": to})
        }
        Refusal::Adjust => {
            json!({"kind": "adjust", "quantity": -q, "location": at, "reason": "count"})
        }
        Refusal::UnknownLocation => json!({"kind": "receive", "location": "NOWHERE"}),
        Refusal::TransferNowhere => json!({"kind": "transfer", "to_location": "WH-3"}),
        Refusal::UnknownItem(u) => {
            json!({"kind": "receive", "item_id": uuid::Uuid::from_u128(u).to_string()})
        }
    };
    if let (Value::Object(m), Value::Object(fields)) = (&mut m, fields) {
        m.extend(fields);
    }
    m
}

fn refused_movement(item_id: String) -> BoxedStrategy<Value> {
    let kinds = prop_oneof![
        Just(Refusal::Issue),
        any::<bool>().prop_map(Refusal::Transfer),
        Just(Refusal::Adjust),
        Just(Refusal::UnknownLocation),
        Just(Refusal::TransferNowhere),
        any::<u128>().prop_map(Refusal::UnknownItem),
    ];
    // 8 or more: more than any location of the guard item holds.
    let at = prop::sample::select(vec![None, Some("MAIN"), Some("main"), Some("WH-2")]);
    (kinds, 8i64..=MAX_QUANTITY, at)
        .prop_map(move |(kind, q, at)| refusal(&item_id, kind, q, at))
        .boxed()
}

fn malformed_movement(item_id: String) -> BoxedStrategy<Value> {
    shaped(
        &[
            "item_id",
            "kind",
            "quantity",
            "location",
            "from_location",
            "to_location",
            "reason",
            "reference",
        ],
        move |f| match f {
            "item_id" => Some(
                prop_oneof![
                    3 => Just(Value::String(item_id.clone())),
                    1 => Just(Value::String(uuid::Uuid::now_v7().to_string())),
                    1 => json_value(),
                ]
                .boxed(),
            ),
            "kind" => Some(
                prop_oneof![
                    3 => prop::sample::select(vec!["receive", "issue", "transfer", "adjust"])
                        .prop_map(Value::from),
                    1 => json_value(),
                ]
                .boxed(),
            ),
            "quantity" => Some(bad_quantity()),
            "location" | "from_location" | "to_location" => Some(
                prop_oneof![
                    2 => prop::sample::select(vec!["MAIN", "main", "WH-2", "NOWHERE"])
                        .prop_map(Value::from),
                    2 => plausible_text(),
                ]
                .boxed(),
            ),
            "reason" | "reference" => Some(plausible_text()),
            _ => None,
        },
    )
}

#[derive(Debug, Clone)]
struct Hostile {
    content_type: Option<&'static str>,
    if_match: Option<String>,
    body: Vec<u8>,
}

fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// Raw JSON texts that `serde_json::Value` cannot express: huge numbers,
/// deep nesting, invalid escapes, trailing garbage.
fn raw_texts(template: &'static str) -> BoxedStrategy<Vec<u8>> {
    let number = prop_oneof![
        "[1-9][0-9]{10,300}",
        "-[1-9][0-9]{10,300}",
        prop::sample::select(vec![
            "1e999", "-1e999", "1e3", "1.5", "0.0", "-0", "1E2", "NaN", "Infinity", "0x10", "00",
            "+1", ".5", "1.",
        ])
        .prop_map(str::to_owned),
    ];
    prop_oneof![
        number.prop_map(move |n| template.replace("NUM", &n).into_bytes()),
        (1usize..400).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d)).into_bytes()),
        (1usize..400).prop_map(move |d| {
            template
                .replace("NUM", &format!("{}1{}", "[".repeat(d), "]".repeat(d)))
                .into_bytes()
        }),
        Just(br#"{"sku": "\ud800", "name": "\uDFFF"}"#.to_vec()),
        Just(br#"{"sku": "A"} trailing"#.to_vec()),
        Just(b"\xef\xbb\xbf{}".to_vec()),
        Just(b"".to_vec()),
        Just(b"null".to_vec()),
    ]
    .boxed()
}

fn hostile(shaped: BoxedStrategy<Value>, template: &'static str) -> impl Strategy<Value = Hostile> {
    let content_type = prop_oneof![
        10 => Just(Some("application/json")),
        1 => Just(Some("application/json; charset=utf-8")),
        1 => Just(Some("application/merge-patch+json")),
        1 => Just(Some("text/plain")),
        1 => Just(Some("application/x-www-form-urlencoded")),
        1 => Just(None),
    ];
    let if_match = prop::option::weighted(
        0.3,
        prop_oneof![
            prop::sample::select(vec![
                "\"1\"",
                "*",
                "W/\"1\"",
                "\"2\", \"1\"",
                "\"\"",
                "1",
                "\"99999999999999999999\""
            ])
            .prop_map(str::to_owned),
            "[ -~]{0,20}",
        ],
    );
    let body = prop_oneof![
        5 => shaped.prop_map(|v| to_bytes(&v)),
        2 => json_value().prop_map(|v| to_bytes(&v)),
        1 => prop::collection::vec(any::<u8>(), 0..300),
        2 => raw_texts(template),
    ];
    (content_type, if_match, body).prop_map(|(content_type, if_match, body)| Hostile {
        content_type,
        if_match,
        body,
    })
}

struct Checked {
    status: StatusCode,
    body: Vec<u8>,
}

/// Sends one hostile request and checks the universal promises: never a
/// 5xx, and every 4xx a problem document whose status matches.
async fn send_hostile(
    app: &TestApp,
    method: Method,
    path: &str,
    h: &Hostile,
) -> Result<Checked, TestCaseError> {
    let mut req = app
        .client
        .request(method.clone(), app.url(path))
        .bearer_auth(&app.admin_token)
        .body(h.body.clone());
    if let Some(ct) = h.content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    if let Some(tag) = &h.if_match {
        req = req.header(IF_MATCH, tag.as_str());
    }
    let res = req.send().await.unwrap();
    check_response(res, &format!("{method} {path}")).await
}

async fn check_response(res: Response, what: &str) -> Result<Checked, TestCaseError> {
    let status = res.status();
    let ct = content_type(&res);
    let body = res.bytes().await.unwrap();
    prop_assert!(
        !status.is_server_error(),
        "{what} gave {status}: {}",
        String::from_utf8_lossy(&body)
    );
    if status.is_client_error() {
        prop_assert_eq!(&ct, "application/problem+json", "{} gave {}", what, status);
        let problem: Value = serde_json::from_slice(&body)
            .map_err(|e| TestCaseError::fail(format!("{what}: problem is not JSON: {e}")))?;
        prop_assert_eq!(problem["status"].as_u64(), Some(u64::from(status.as_u16())));
        prop_assert!(problem["type"].is_string() && problem["title"].is_string());
    }
    Ok(Checked {
        status,
        body: body.to_vec(),
    })
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    })
}

fn run<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    if let Err(e) = runner(cases).run(&strategy, test) {
        panic!("{name}: {e}");
    }
}

#[test]
fn hostile_bodies_never_cause_5xx_and_lose_no_stock() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(spawn_app());
    let (guard_id, before_item, before_stock, before_moves) = rt.block_on(async {
        app.create_location("WH-2").await;
        let item = app.create_item("GUARD-1").await;
        let id = item["id"].as_str().unwrap().to_owned();
        app.receive(&id, 7).await;
        let (status, _) = app
            .movement(
                json!({"item_id": id, "kind": "transfer", "quantity": 2, "to_location": "WH-2"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let item = app.get_json(&format!("/api/v1/items/{id}")).await;
        let stock = app.get_json(&format!("/api/v1/items/{id}/stock")).await;
        let moves = app
            .get_json(&format!("/api/v1/movements?item_id={id}&limit=500"))
            .await;
        (id, item, stock, moves)
    });
    let created = Cell::new(0u32);

    run(
        "POST /api/v1/items",
        96,
        hostile(
            prop_oneof![
                2 => item_body(),
                1 => unusual_item_body(),
            ]
            .boxed(),
            r#"{"sku": "N-1", "name": "n", "reorder_point": NUM}"#,
        ),
        |h| {
            let c = rt.block_on(send_hostile(&app, Method::POST, "/api/v1/items", &h))?;
            if c.status.is_success() {
                prop_assert_eq!(c.status, StatusCode::CREATED);
                created.set(created.get() + 1);
                // What was accepted is stored exactly as sent.
                let item: Value = serde_json::from_slice(&c.body).unwrap();
                let sent: Value = serde_json::from_slice(&h.body).unwrap();
                for key in ["sku", "name", "description", "attributes"] {
                    if let Some(v) = sent.get(key) {
                        prop_assert_eq!(&item[key], v, "{} of {}", key, sent);
                    }
                }
                let path = format!("/api/v1/items/{}", item["id"].as_str().unwrap());
                let fetched = rt.block_on(app.get_json(&path));
                prop_assert_eq!(fetched, item);
            }
            Ok(())
        },
    );

    let movement_template = Box::leak(
        format!(r#"{{"item_id": "{guard_id}", "kind": "receive", "quantity": NUM}}"#)
            .into_boxed_str(),
    );
    run(
        "POST /api/v1/movements",
        96,
        hostile(bad_movement(guard_id.clone()), movement_template),
        |h| {
            let c = rt.block_on(send_hostile(&app, Method::POST, "/api/v1/movements", &h))?;
            prop_assert!(
                !c.status.is_success(),
                "an invalid movement was accepted: {h:?}"
            );
            Ok(())
        },
    );

    let valid = json!({"item_id": guard_id, "kind": "receive", "quantity": 1});
    let batch_shapes = prop_oneof![
        3 => (
            prop::collection::vec(Just(valid.clone()), 0..3),
            bad_movement(guard_id.clone()),
            prop::collection::vec(Just(valid.clone()), 0..3),
        )
            .prop_map(|(before, bad, after)| {
                let mut all = before;
                all.push(bad);
                all.extend(after);
                json!({"movements": all})
            }),
        1 => Just(json!({"movements": vec![valid.clone(); 1001]})),
        1 => Just(json!({"movements": []})),
        1 => json_value().prop_map(|v| json!({"movements": v})),
        1 => shaped(&["movements"], |_| None),
    ];
    let batch_template = Box::leak(
        format!(
            concat!(
                r#"{{"movements": [{{"item_id": "{id}", "kind": "receive", "quantity": 1}}, "#,
                r#"{{"item_id": "{id}", "kind": "receive", "quantity": NUM}}]}}"#
            ),
            id = guard_id
        )
        .into_boxed_str(),
    );
    run(
        "POST /api/v1/movements/batch",
        96,
        hostile(batch_shapes.boxed(), batch_template),
        |h| {
            let c = rt.block_on(send_hostile(
                &app,
                Method::POST,
                "/api/v1/movements/batch",
                &h,
            ))?;
            prop_assert!(
                !c.status.is_success(),
                "an invalid batch was accepted: {h:?}"
            );
            Ok(())
        },
    );

    let patch_path = format!("/api/v1/items/{guard_id}");
    run(
        "PATCH /api/v1/items/{id}",
        96,
        hostile(
            prop_oneof![
                3 => item_body(),
                1 => json_value(),
            ]
            .boxed(),
            r#"{"reorder_point": NUM}"#,
        ),
        |h| {
            let c = rt.block_on(send_hostile(&app, Method::PATCH, &patch_path, &h))?;
            if c.status.is_success() {
                prop_assert_eq!(c.status, StatusCode::OK);
            }
            Ok(())
        },
    );

    // Bad input lost nothing and invented nothing.
    rt.block_on(async {
        let item = app.get_json(&format!("/api/v1/items/{guard_id}")).await;
        // (The sku is editable now, like the name: a valid hostile patch may
        // change it; the stock and the archive flag no patch can touch.)
        for key in ["id", "on_hand", "reserved", "available", "archived"] {
            assert_eq!(item[key], before_item[key], "{key} changed");
        }
        assert_eq!(item["on_hand"], 7);
        // Stock reports and movements name the item's sku as it is now.
        fn without_sku(mut v: Value) -> Value {
            match &mut v {
                Value::Object(map) => {
                    map.remove("sku");
                    for value in map.values_mut() {
                        *value = without_sku(value.take());
                    }
                }
                Value::Array(rows) => {
                    for row in rows.iter_mut() {
                        *row = without_sku(row.take());
                    }
                }
                _ => {}
            }
            v
        }
        let stock = app
            .get_json(&format!("/api/v1/items/{guard_id}/stock"))
            .await;
        assert_eq!(without_sku(stock), without_sku(before_stock.clone()));
        let moves = app
            .get_json(&format!("/api/v1/movements?item_id={guard_id}&limit=500"))
            .await;
        assert_eq!(without_sku(moves), without_sku(before_moves.clone()));
        assert_eq!(app.on_hand_and_ledger(&guard_id).await, (7, 7));
        // Every item that was accepted is listed, and nothing else appeared.
        let list = app
            .get_json("/api/v1/items?include_archived=true&limit=500")
            .await;
        assert_eq!(
            list["items"].as_array().unwrap().len() as u32,
            created.get() + 1
        );
    });
    rt.block_on(app.shutdown());
}

fn query_value() -> impl Strategy<Value = String> {
    let cursor_json = prop_oneof![
        (
            prop::sample::select(vec!["sku", "-sku", "created_at", "-created_at", "bogus"]),
            hostile_string()
        )
            .prop_map(|(sort, key)| json!({"sort": sort, "key": key})),
        (
            prop::sample::select(vec!["asc", "desc", "up"]),
            any::<i64>()
        )
            .prop_map(|(order, seq)| json!({"order": order, "seq": seq})),
        json_value(),
    ];
    prop_oneof![
        3 => hostile_string().prop_map(|s| pct(s.as_bytes())),
        2 => prop::collection::vec(any::<u8>(), 0..24).prop_map(|b| pct(&b)),
        2 => prop::sample::select(vec![
            "", "-1", "0", "1", "500", "501", "99999999999999999999", "true", "false", "maybe",
            "-sku", "sku", "desc", "asc", "receive", "transfer", "MAIN", "2024-13-45T99:99:99Z",
            "2024-01-01T00:00:00Z", "%", "%zz", "%FF%FE", "%00", "eyJ4Ijo", "a%20b",
        ])
        .prop_map(str::to_owned),
        2 => "[ -~]{0,30}".prop_map(|s| s.replace('#', "%23")),
        2 => cursor_json.prop_map(|v| URL_SAFE_NO_PAD.encode(to_bytes(&v))),
    ]
}

const ITEM_QUERY_KEYS: &[&str] = &[
    "q",
    "category",
    "low_stock",
    "include_archived",
    "sku",
    "sort",
    "limit",
    "cursor",
];
const MOVEMENT_QUERY_KEYS: &[&str] = &[
    "item_id", "location", "kind", "since", "until", "order", "limit", "cursor",
];

fn query_string(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    let key = prop_oneof![
        5 => prop::sample::select(keys.to_vec()).prop_map(str::to_owned),
        1 => hostile_string().prop_map(|s| pct(s.as_bytes())),
    ];
    prop::collection::vec((key, query_value()), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

#[test]
fn hostile_query_strings_never_cause_5xx() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(spawn_app());
    let guard_id = rt.block_on(async {
        for sku in ["Q-1", "Q-2", "Q-3"] {
            app.create_item_with(
                json!({"sku": sku, "name": sku, "reorder_point": 2, "category": "c"}),
            )
            .await;
        }
        let item = app.create_item("Q-GUARD").await;
        let id = item["id"].as_str().unwrap().to_owned();
        app.receive(&id, 4).await;
        id
    });

    for (path, keys, list_key) in [
        ("/api/v1/items", ITEM_QUERY_KEYS, "items"),
        ("/api/v1/movements", MOVEMENT_QUERY_KEYS, "movements"),
    ] {
        run(&format!("GET {path}"), 128, query_string(keys), |query| {
            let url = format!("{}{path}?{query}", app.base);
            let status = rt.block_on(async {
                let res = app
                    .client
                    .get(&url)
                    .bearer_auth(&app.admin_token)
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                if status.is_success() {
                    let body: Value = res.json().await.unwrap();
                    prop_assert!(body[list_key].is_array(), "{url}: {body}");
                    prop_assert!(body.get("next_cursor").is_some());
                    Ok(status)
                } else {
                    check_response(res, &url).await.map(|c| c.status)
                }
            })?;
            prop_assert!(
                status == StatusCode::OK || status.is_client_error(),
                "{url}: {status}"
            );
            Ok(())
        });
    }

    rt.block_on(async {
        assert_eq!(app.on_hand_and_ledger(&guard_id).await, (4, 4));
        let list = app.get_json("/api/v1/items").await;
        assert_eq!(skus(&list), vec!["Q-1", "Q-2", "Q-3", "Q-GUARD"]);
    });
    rt.block_on(app.shutdown());
}
