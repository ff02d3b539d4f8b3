//! Authorization is data: the router is walked against the application's
//! permission table. Every route the OpenAPI document lists is in
//! `api::v1::ROUTES` (and the other way round), every route is served, and
//! each one refuses the role just below the least role its use case needs
//! (403 naming the permission) while that role itself gets through.

use crate::common::*;
use inventory_app::{Access, UseCase};
use inventory_core::identity::{Role, Scope};
use inventory_server::api::v1::ROUTES;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The ids the walk's paths and bodies name.
struct Ids {
    party: String,
    line: String,
}

/// The walk's viewer password (changed once by `POST /api/v1/me/password`).
const VIEWER_PASSWORD: &str = "walk-viewer-passphrase-1";

/// A body that passes a route's parsing, so that only access decides.
fn body_for(use_case: UseCase, item_id: &str, ids: &Ids, n: usize) -> Option<Value> {
    Some(match use_case {
        UseCase::CreateParty => json!({"name": format!("Walk {n}"), "kind": "supplier"}),
        UseCase::UpdateParty => json!({"notes": "walked"}),
        UseCase::CreatePurchaseOrder => {
            json!({"supplier_id": ids.party, "lines": [{"item_id": item_id, "quantity": 1}]})
        }
        UseCase::UpdatePurchaseOrder => json!({"reference": "walked"}),
        UseCase::ReceivePurchaseOrder => {
            json!({"lines": [{"line_id": ids.line, "quantity": 1}]})
        }
        UseCase::Login => json!({"username": "admin", "password": ADMIN_PASSWORD}),
        UseCase::CreateUser => {
            json!({"username": format!("walk-{n}"), "password": "user-password-for-tests", "role": "viewer"})
        }
        UseCase::CreateItem => json!({"sku": format!("WALK-{n}"), "name": "Walk"}),
        UseCase::UpdateItem => json!({"name": "Walked"}),
        UseCase::CreateLocation => json!({"code": format!("WALK-{n}"), "name": "Walk"}),
        UseCase::UpdateLocation => json!({"name": "Main location"}),
        UseCase::RecordMovement => json!({"item_id": item_id, "kind": "receive", "quantity": 1}),
        UseCase::RecordMovements => {
            json!({"movements": [{"item_id": item_id, "kind": "receive", "quantity": 1}]})
        }
        UseCase::ReverseMovement => json!({"reason": "walk"}),
        UseCase::PostStockCount => {
            json!({"as_of_seq": 0, "lines": [{"item_id": item_id, "counted": 1}]})
        }
        UseCase::CreateReservation => json!({"item_id": item_id, "quantity": 1}),
        UseCase::UpdateReservation => json!({"quantity": 1}),
        UseCase::CreateSalesOrder => {
            json!({"lines": [{"item_id": item_id, "quantity": 1, "unit_price": "1"}]})
        }
        UseCase::UpdateSalesOrder => json!({"reference": "walked"}),
        UseCase::HoldSalesOrder => json!({"minutes": 5}),
        UseCase::UpdateUser => json!({"display_name": "Walked"}),
        UseCase::CreateApiToken => json!({"name": format!("walk {n}"), "scopes": ["read"]}),
        UseCase::ChangeOwnPassword => {
            json!({"current_password": VIEWER_PASSWORD, "new_password": "walk-viewer-passphrase-2"})
        }
        _ => return None,
    })
}

fn role_below(role: Role) -> Option<Role> {
    Role::ALL.into_iter().rev().find(|r| *r < role)
}

#[tokio::test]
async fn every_route_is_checked_against_the_permission_table() {
    let app = spawn_app().await;
    let item = app.create_item("WALK-ITEM").await;
    let item_id = item["id"].as_str().unwrap().to_owned();
    let received = app.receive(&item_id, 100).await;
    let movement_id = received["movement"]["id"].as_str().unwrap().to_owned();
    let reservation = app
        .post(
            "/api/v1/reservations",
            json!({"item_id": item_id, "quantity": 1}),
        )
        .await;
    assert_eq!(reservation.status(), StatusCode::CREATED);
    let reservation: Value = reservation.json().await.unwrap();
    let reservation_id = reservation["id"].as_str().unwrap().to_owned();
    let sale = app
        .post(
            "/api/v1/sales-orders",
            json!({"lines": [{"item_id": item_id, "quantity": 1, "unit_price": "1"}]}),
        )
        .await;
    assert_eq!(sale.status(), StatusCode::CREATED);
    let sale_id = sale.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let party = app
        .post(
            "/api/v1/parties",
            json!({"name": "Walk supplier", "kind": "supplier"}),
        )
        .await;
    assert_eq!(party.status(), StatusCode::CREATED);
    let party_id = party.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let order = app
        .post(
            "/api/v1/purchase-orders",
            json!({"supplier_id": party_id, "lines": [{"item_id": item_id, "quantity": 5}]}),
        )
        .await;
    assert_eq!(order.status(), StatusCode::CREATED);
    let order: Value = order.json().await.unwrap();
    let order_id = order["id"].as_str().unwrap().to_owned();
    let ids = Ids {
        party: party_id.clone(),
        line: order["lines"][0]["line_id"].as_str().unwrap().to_owned(),
    };

    // The document and the table name the same routes.
    let doc = app.get_json("/api/openapi.json").await;
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            if path.starts_with("/api/") {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, listed, "OpenAPI paths vs api::v1::ROUTES");
    // Every use case is reachable through some route (of the API, or for
    // the few the UI alone shows, of the UI).
    for use_case in UseCase::ALL {
        assert!(
            ROUTES.iter().any(|(_, _, u)| u == use_case)
                || inventory_server::web::UI_ONLY_USE_CASES.contains(use_case),
            "{use_case:?} has no route"
        );
    }

    // Users: a target for the admin's routes (with a session to end), and
    // a viewer with a second session of their own to end.
    let mut user_ids = Vec::new();
    for (name, role) in [("walk-target", "clerk"), ("walk-viewer", "viewer")] {
        let res = app
            .post(
                "/api/v1/users",
                json!({"username": name, "password": VIEWER_PASSWORD, "role": role}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        user_ids.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let target_id = user_ids[0].clone();
    let target_token = app.login("walk-target", VIEWER_PASSWORD).await;
    let session_id = |token: String| {
        let app = &app;
        async move {
            let res = app
                .send(Method::GET, &token, "/api/v1/me/sessions", None)
                .await;
            let sessions: Value = res.json().await.unwrap();
            sessions["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["current"] == true)
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let target_session = session_id(target_token).await;
    let viewer_token = app.login("walk-viewer", VIEWER_PASSWORD).await;
    let viewer_other_session = session_id(app.login("walk-viewer", VIEWER_PASSWORD).await).await;

    let mut tokens = Vec::new();
    for role in Role::ALL {
        let token = match role {
            Role::Admin => app.admin_token.clone(),
            Role::Viewer => viewer_token.clone(),
            _ => app.token_for(role.as_str()).await,
        };
        tokens.push((role, token));
    }
    let token = |role: Role| tokens.iter().find(|(r, _)| *r == role).unwrap().1.clone();

    // API tokens of the admin, one scope each.
    let mut scoped = Vec::new();
    for scope in Scope::ALL {
        let made = app
            .post(
                "/api/v1/me/tokens",
                json!({"name": format!("walk {}", scope.as_str()), "scopes": [scope.as_str()]}),
            )
            .await;
        assert_eq!(made.status(), StatusCode::CREATED);
        let made: Value = made.json().await.unwrap();
        scoped.push((scope, made["secret"].as_str().unwrap().to_owned()));
    }
    // The revoke route's least role is a viewer: the token is theirs.
    let to_revoke = app
        .send(
            Method::POST,
            &viewer_token,
            "/api/v1/me/tokens",
            Some(json!({"name": "walk revoke", "scopes": ["read"]})),
        )
        .await;
    let to_revoke = to_revoke.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for (n, (method, template, use_case)) in ROUTES.iter().enumerate() {
        let id = if template.starts_with("/api/v1/movements") {
            &movement_id
        } else if template.starts_with("/api/v1/reservations") {
            &reservation_id
        } else if template.starts_with("/api/v1/sales-orders") {
            &sale_id
        } else if template.starts_with("/api/v1/parties") {
            &party_id
        } else if template.starts_with("/api/v1/purchase-orders") {
            &order_id
        } else if template.starts_with("/api/v1/users") {
            &target_id
        } else if template.starts_with("/api/v1/me/sessions") {
            &viewer_other_session
        } else if template.starts_with("/api/v1/me/tokens") {
            &to_revoke
        } else {
            &item_id
        };
        let path = template
            .replace("{id_or_code}", "MAIN")
            .replace("{session_id}", &target_session)
            .replace("{id}", id);
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let call = |token: String, n: usize| {
            let (app, method, path, item_id, ids) =
                (&app, method.clone(), path.clone(), &item_id, &ids);
            async move {
                let mut req = app.client.request(method, app.url(&path));
                if !token.is_empty() {
                    req = req.bearer_auth(token);
                }
                if let Some(body) = body_for(*use_case, item_id, ids, n) {
                    req = req.json(&body);
                }
                req.send().await.unwrap()
            }
        };
        let access = use_case.access();
        match access.min_role() {
            None => {
                // Public: answered without credentials.
                let res = call(String::new(), n).await;
                assert_eq!(res.status(), StatusCode::OK, "{method} {path}");
            }
            Some(min) => {
                // Served, and refused without credentials.
                let res = call(String::new(), n).await;
                assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
                if let Some(below) = role_below(min) {
                    let res = call(token(below), n).await;
                    let p = problem(res, StatusCode::FORBIDDEN).await;
                    let Access::Needs(permission) = access else {
                        panic!("{use_case:?}: a role below {min:?} refused without a permission")
                    };
                    assert_eq!(p["permission"], permission.as_str(), "{method} {path}");
                    assert_eq!(p["required_role"], min.as_str(), "{method} {path}");
                }
                // The least role gets through (logout with a token of its own).
                let allowed = match use_case {
                    UseCase::Logout => app.token_for(min.as_str()).await,
                    _ => token(min),
                };
                let res = call(allowed, n + 1000).await;
                let status = res.status();
                assert!(
                    !matches!(
                        status,
                        StatusCode::UNAUTHORIZED
                            | StatusCode::FORBIDDEN
                            | StatusCode::NOT_FOUND
                            | StatusCode::METHOD_NOT_ALLOWED
                    ),
                    "{method} {path} as {min:?}: {status} {}",
                    res.text().await.unwrap_or_default()
                );
            }
        }
        // The admin's API tokens: each scope gets through exactly where it
        // covers the route's permission; none does what needs a session.
        for (scope, secret) in &scoped {
            let expected = match access {
                Access::Public => continue,
                Access::SignedIn => None,
                Access::Session => Some(("/problems/session-required", None)),
                Access::Needs(permission) if scope.covers(permission) => None,
                Access::Needs(permission) => {
                    Some(("/problems/scope-missing", Some(permission.scope().as_str())))
                }
            };
            let res = call(secret.clone(), n + 2000).await;
            match expected {
                Some((kind, missing)) => {
                    let p = problem(res, StatusCode::FORBIDDEN).await;
                    assert_eq!(p["type"], kind, "{method} {path} with {scope:?}");
                    if let Some(missing) = missing {
                        assert_eq!(p["scope"], missing, "{method} {path} with {scope:?}");
                    }
                }
                None => {
                    let status = res.status();
                    assert!(
                        !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
                        "{method} {path} with {scope:?}: {status} {}",
                        res.text().await.unwrap_or_default()
                    );
                }
            }
        }
    }
    app.shutdown().await;
}

/// Adjustments (an `adjust` movement, alone or in a batch, the reversal of
/// one, a posted count) need a manager; a clerk still receives and issues.
/// `INVENTORY_CLERKS_MAY_ADJUST=true` lets clerks do both again.
#[tokio::test]
async fn adjusting_needs_a_manager_unless_clerks_may_adjust() {
    for clerks_may_adjust in [false, true] {
        let app = spawn_app_configured(|c| c.policy.clerks_may_adjust = clerks_may_adjust).await;
        let item = app.create_item("ADJ-1").await;
        let item_id = item["id"].as_str().unwrap().to_owned();
        app.receive(&item_id, 10).await;
        let (status, adjusted) = app
            .movement(
                json!({"item_id": item_id, "kind": "adjust", "quantity": -1, "reason": "broken"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let adjustment_id = adjusted["movement"]["id"].as_str().unwrap().to_owned();
        let clerk = app.token_for("clerk").await;
        let attempts = [
            (
                "/api/v1/movements".to_owned(),
                json!({"item_id": item_id, "kind": "adjust", "quantity": -1, "reason": "broken"}),
            ),
            (
                "/api/v1/movements/batch".to_owned(),
                json!({"movements": [
                    {"item_id": item_id, "kind": "issue", "quantity": 1},
                    {"item_id": item_id, "kind": "adjust", "quantity": 2, "reason": "found"}
                ]}),
            ),
            (
                format!("/api/v1/movements/{adjustment_id}/reverse"),
                json!({"reason": "miscounted"}),
            ),
            ("/api/v1/stock-counts".to_owned(), Value::Null),
        ];
        for (path, mut body) in attempts {
            if body.is_null() {
                // A count sheet read now: the ledger's head is its position.
                let newest = app.get_json("/api/v1/movements?order=desc&limit=1").await;
                let head = newest["movements"][0]["seq"].as_i64().unwrap();
                body = json!({"as_of_seq": head, "lines": [{"item_id": item_id, "counted": 9}]});
            }
            let res = app.send(Method::POST, &clerk, &path, Some(body)).await;
            let status = res.status();
            let problem: Value = res.json().await.unwrap();
            if clerks_may_adjust {
                assert!(status.is_success(), "{path}: {status} {problem}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {problem}");
                assert_eq!(problem["permission"], "stock:adjust", "{path}");
            }
        }
        // Plain movements stay a clerk's work either way.
        let issued = app
            .send(
                Method::POST,
                &clerk,
                "/api/v1/movements",
                Some(json!({"item_id": item_id, "kind": "issue", "quantity": 1})),
            )
            .await;
        assert_eq!(issued.status(), StatusCode::CREATED);
        if !clerks_may_adjust {
            // 10 received, 1 adjusted away by the admin, 1 issued by the
            // clerk: the refused requests wrote nothing.
            let item = app.get_json(&format!("/api/v1/items/{item_id}")).await;
            assert_eq!(item["on_hand"], 8);
        }
    }
}

/// The same walk for the UI: every form the router serves is in
/// `web::UI_FORMS`, and each refuses the role just below its use case's
/// least role (403, whatever the form holds) and lets that role through.
#[tokio::test]
async fn every_ui_form_is_checked_against_the_permission_table() {
    // Every POST route in the UI's router is in the table, and no other.
    let source = include_str!("../../src/web/mod.rs");
    let routed: BTreeSet<&str> = source
        .split(".route(")
        .skip(1)
        .filter_map(|chunk| {
            let path = chunk.trim_start().strip_prefix('"')?.split('"').next()?;
            let call = chunk.split(".route(").next().unwrap_or(chunk);
            (call.contains("post(") || call.contains(".post(")).then_some(path)
        })
        .collect();
    let listed: BTreeSet<&str> = inventory_server::web::UI_FORMS
        .iter()
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(routed, listed, "UI POST routes vs web::UI_FORMS");

    let app = spawn_app().await;
    let item = app.create_item("UIWALK-1").await;
    let item_id = item["id"].as_str().unwrap().to_owned();
    let received = app.receive(&item_id, 100).await;
    let movement_id = received["movement"]["id"].as_str().unwrap().to_owned();
    let created = |res: Response| async move {
        assert!(res.status().is_success(), "set-up: {}", res.status());
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let reservation_id = created(
        app.post(
            "/api/v1/reservations",
            json!({"item_id": item_id, "quantity": 1}),
        )
        .await,
    )
    .await;
    let sale_id = created(
        app.post(
            "/api/v1/sales-orders",
            json!({"lines": [{"item_id": item_id, "quantity": 1, "unit_price": "1"}]}),
        )
        .await,
    )
    .await;
    let party_id = created(
        app.post(
            "/api/v1/parties",
            json!({"name": "UI walk", "kind": "supplier"}),
        )
        .await,
    )
    .await;
    let order_id = created(
        app.post(
            "/api/v1/purchase-orders",
            json!({"supplier_id": party_id, "lines": [{"item_id": item_id, "quantity": 5}]}),
        )
        .await,
    )
    .await;
    let target_id = created(
        app.post(
            "/api/v1/users",
            json!({"username": "ui-walk-target", "password": VIEWER_PASSWORD, "role": "clerk"}),
        )
        .await,
    )
    .await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let token = match role {
            Role::Admin => app.admin_token.clone(),
            _ => app.token_for(role.as_str()).await,
        };
        tokens.push((role, token));
    }
    let token = |role: Role| tokens.iter().find(|(r, _)| *r == role).unwrap().1.clone();

    for (template, use_case) in inventory_server::web::UI_FORMS {
        let access = use_case.access();
        let Some(min) = access.min_role() else {
            continue; // signing in
        };
        let id = if template.starts_with("/items") {
            &item_id
        } else if template.starts_with("/reservations") {
            &reservation_id
        } else if template.starts_with("/movements") {
            &movement_id
        } else if template.starts_with("/sales-orders") {
            &sale_id
        } else if template.starts_with("/parties") {
            &party_id
        } else if template.starts_with("/purchase-orders") {
            &order_id
        } else if template.starts_with("/users") {
            &target_id
        } else {
            // The account's own session and token ids: an unknown one is
            // a 404 for its owner, which says the form was let through.
            &item_id
        };
        let path = template
            .replace("{code}", "MAIN")
            .replace("{action}", "disable")
            .replace("{id}", id);
        if let Some(below) = role_below(min) {
            let res = post_form(&app, &token(below), &path, &[]).await;
            assert_eq!(
                res.status(),
                StatusCode::FORBIDDEN,
                "POST {path} as {below:?} (needs {min:?})"
            );
        }
        if matches!(use_case, UseCase::Logout) {
            continue; // signing out is its own test
        }
        let res = post_form(&app, &token(min), &path, &[]).await;
        let status = res.status();
        let to_login = res
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| l.starts_with("/login"));
        assert!(
            !matches!(
                status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::METHOD_NOT_ALLOWED
            ) && !to_login,
            "POST {path} as {min:?}: {status}"
        );
    }
    app.shutdown().await;
}
