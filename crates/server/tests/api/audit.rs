//! The audit trail over HTTP (issue 13): who changed what, by session or
//! which API token, with the request id and client address; failed
//! sign-ins; filters, pages and the CSV export; admins only.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    let page = app.get_json(&format!("/api/v1/audit?{query}")).await;
    page["entries"].as_array().expect("entries").clone()
}

fn actions(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_change_by_an_api_token_is_audited_with_the_token_request_and_client() {
    let app = spawn_app().await;
    let made = app
        .post(
            "/api/v1/me/tokens",
            json!({"name": "audit walk", "scopes": ["catalog:write", "read"]}),
        )
        .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.unwrap();
    let (token, token_id) = (made["secret"].as_str().unwrap(), made["id"].clone());

    let created = app
        .client
        .post(app.url("/api/v1/items"))
        .bearer_auth(token)
        .header("x-request-id", "audit-request-1")
        .json(&json!({"sku": "AUD-API-1", "name": "Bolt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let item: Value = created.json().await.unwrap();
    let item_id = item["id"].as_str().unwrap();
    let renamed = app
        .send(
            Method::PATCH,
            token,
            &format!("/api/v1/items/{item_id}"),
            Some(json!({"name": "Hex bolt"})),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);

    let of_item = audit(&app, &format!("target_type=item&target_id={item_id}")).await;
    assert_eq!(actions(&of_item), ["item.updated", "item.created"]);
    let (updated, created) = (&of_item[0], &of_item[1]);
    for entry in [updated, created] {
        assert_eq!(entry["actor"]["username"], "admin");
        assert_eq!(entry["actor"]["via"], "token");
        assert_eq!(entry["actor"]["token_id"], token_id);
        assert_eq!(entry["client_addr"], "127.0.0.1");
    }
    assert_eq!(created["request_id"], "audit-request-1");
    assert_eq!(created["changes"]["after"]["sku"], "AUD-API-1");
    assert_eq!(updated["changes"]["before"]["name"], "Bolt");
    assert_eq!(updated["changes"]["after"]["name"], "Hex bolt");
    assert_ne!(updated["request_id"], created["request_id"]);

    // The token's own creation, by the admin's session.
    let tokens = audit(&app, "action=token.created").await;
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["actor"]["via"], "session");
    assert_eq!(tokens[0]["target_id"], token_id);
    let text = serde_json::to_string(&tokens).unwrap();
    assert!(!text.contains(token), "the secret never reaches the trail");
}

#[tokio::test]
async fn sign_ins_and_failed_sign_ins_are_audited_without_the_password() {
    let app = spawn_app().await;
    let wrong = "wrong-password-never-logged";
    for username in ["admin", "nobody-by-this-name"] {
        let res = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": wrong}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let failed = audit(&app, "action=user.sign_in_failed").await;
    assert_eq!(failed.len(), 2, "{failed:#?}");
    let admin_id = app.get_json("/api/v1/me").await["id"].clone();
    // Newest first: the unknown name, then the admin (by id).
    assert_eq!(failed[0]["target_id"], "nobody-by-this-name");
    assert_eq!(failed[1]["target_id"], admin_id);
    for entry in &failed {
        assert_eq!(entry["actor"]["user_id"], Value::Null);
        assert_eq!(entry["client_addr"], "127.0.0.1");
    }
    let signed_in = audit(&app, "action=user.signed_in").await;
    assert!(!signed_in.is_empty());
    assert_eq!(signed_in[0]["actor"]["user_id"], admin_id);
    let everything = app
        .get("/api/v1/audit?limit=500")
        .await
        .text()
        .await
        .unwrap();
    assert!(!everything.contains(wrong), "a password in the trail");
    assert!(
        !everything.contains(ADMIN_PASSWORD),
        "a password in the trail"
    );
}

#[tokio::test]
async fn the_trail_pages_filters_exports_and_is_for_admins_only() {
    let app = spawn_app().await;
    for n in 0..3 {
        app.create_item(&format!("AUD-PAGE-{n}")).await;
    }
    let first = app
        .get_json("/api/v1/audit?action=item.created&limit=2")
        .await;
    assert_eq!(first["entries"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .get_json(&format!(
            "/api/v1/audit?action=item.created&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(second["entries"].as_array().unwrap().len(), 1);
    assert_eq!(second["next_cursor"], Value::Null);

    let csv = app
        .get("/api/v1/audit/export.csv?action=item.created")
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("id,at,actor_id,actor_username,via"),
        "{text}"
    );
    assert_eq!(lines.len(), 4, "a header and three entries: {text}");
    assert!(lines[1..].iter().all(|l| l.contains("item.created")));

    // Nothing in the future; a bad instant or an unknown parameter is the
    // caller's mistake.
    assert!(audit(&app, "since=2999-01-01T00:00:00Z").await.is_empty());
    problem(
        app.get("/api/v1/audit?since=yesterday").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let inverted = "/api/v1/audit?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z";
    problem(app.get(inverted).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(app
        .get("/api/v1/audit?who=admin")
        .await
        .status()
        .is_client_error());

    let manager = app.token_for("manager").await;
    let refused = app.send(Method::GET, &manager, "/api/v1/audit", None).await;
    problem(refused, StatusCode::FORBIDDEN).await;
    let refused = app
        .send(Method::GET, &manager, "/api/v1/audit/export.csv", None)
        .await;
    problem(refused, StatusCode::FORBIDDEN).await;
}

/// GETs a UI page as the session `token` (its cookie).
async fn page(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header("cookie", format!("inventory_session={token}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_audit_page_filters_pages_and_exports_for_admins_only() {
    let app = spawn_app().await;
    let item = app.create_item("AUD-UI-1").await;
    let item_id = item["id"].as_str().unwrap();
    let renamed = app
        .send(
            Method::PATCH,
            &app.admin_token,
            &format!("/api/v1/items/{item_id}"),
            Some(json!({"name": "Renamed in the audit test"})),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);

    let admin = &app.admin_token;
    let all = page(&app, admin, "/audit").await;
    assert_eq!(all.status(), StatusCode::OK);
    let html = all.text().await.unwrap();
    assert!(
        html.contains(r#"href="/audit" aria-current="page""#),
        "the nav marks the page"
    );
    assert!(html.contains("item.updated") && html.contains("Renamed in the audit test"));

    let filtered = page(&app, admin, "/audit?action=item.created&target_type=item").await;
    let html = filtered.text().await.unwrap();
    assert!(html.contains("item.created"));
    assert!(!html.contains("<code>item.updated</code>"), "filtered out");
    assert!(
        html.contains(r#"href="/audit/export.csv?action=item.created&#38;target_type=item""#),
        "{html}"
    );

    let csv = page(&app, admin, "/audit/export.csv?action=item.updated").await;
    assert_eq!(csv.status(), StatusCode::OK);
    let text = csv.text().await.unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");

    let today = chrono::Utc::now().date_naive();
    let future = format!("/audit?since={}", today.succ_opt().unwrap());
    let html = page(&app, admin, &future).await.text().await.unwrap();
    assert!(html.contains("No entries match."));
    let bad = page(&app, admin, "/audit?since=31/01/2026").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.text().await.unwrap().contains("2026-01-31"),
        "the message says how"
    );

    let manager = app.token_for("manager").await;
    let refused = page(&app, &manager, "/audit").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let html = page(&app, &manager, "/").await.text().await.unwrap();
    assert!(
        !html.contains(r#"href="/audit""#),
        "no link a manager cannot follow"
    );
}
