//! Users and access (issue 13, part 1): the users API, disabling, the last
//! enabled admin, the password policy, resets and changes, and sessions.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "user-password-for-tests";

/// Creates a user as admin and returns its JSON.
async fn add_user(app: &TestApp, body: Value) -> Value {
    let res = app.post("/api/v1/users", body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

/// Creates `username` with `role` and the test password.
async fn add(app: &TestApp, username: &str, role: &str) -> Value {
    add_user(
        app,
        json!({"username": username, "password": PASSWORD, "role": role}),
    )
    .await
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

async fn patch(app: &TestApp, token: &str, user_id: &str, body: Value) -> reqwest::Response {
    app.send(
        Method::PATCH,
        token,
        &format!("/api/v1/users/{user_id}"),
        Some(body),
    )
    .await
}

fn names(list: &Value) -> Vec<String> {
    list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

async fn sign_in(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn users_are_listed_filtered_read_and_patched_without_secrets() {
    let app = spawn_app().await;
    let dana = add_user(
        &app,
        json!({"username": "dana", "password": PASSWORD, "role": "clerk",
               "display_name": "Dana Scully", "email": "dana@example.test"}),
    )
    .await;
    assert_eq!(dana["display_name"], "Dana Scully");
    assert_eq!(dana["disabled"], false);
    assert_eq!(dana["must_change_password"], false);
    add(&app, "fox", "viewer").await;

    let all = app.get_json("/api/v1/users").await;
    assert_eq!(names(&all), ["admin", "dana", "fox"]);
    for user in all["users"].as_array().unwrap() {
        assert!(user.get("password_hash").is_none() && user.get("password").is_none());
    }
    assert_eq!(
        names(&app.get_json("/api/v1/users?q=scully").await),
        ["dana"]
    );
    assert_eq!(
        names(&app.get_json("/api/v1/users?q=EXAMPLE").await),
        ["dana"]
    );
    assert_eq!(
        names(&app.get_json("/api/v1/users?role=viewer").await),
        ["fox"]
    );
    // Keyset paging by username.
    let first = app.get_json("/api/v1/users?limit=2").await;
    assert_eq!(names(&first), ["admin", "dana"]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .get_json(&format!("/api/v1/users?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(names(&second), ["fox"]);
    assert!(second["next_cursor"].is_null());
    for bad in ["role=owner", "disabled=maybe", "limit=0", "cursor=nonsense"] {
        let res = app.get(&format!("/api/v1/users?{bad}")).await;
        problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }

    let res = app.get(&format!("/api/v1/users/{}", id(&dana))).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let got: Value = res.json().await.unwrap();
    assert_eq!(got, dana);
    let res = app
        .get(&format!("/api/v1/users/{}", uuid::Uuid::now_v7()))
        .await;
    problem(res, StatusCode::NOT_FOUND).await;

    let res = app
        .client
        .patch(app.url(&format!("/api/v1/users/{}", id(&dana))))
        .bearer_auth(&app.admin_token)
        .header("if-match", &etag)
        .json(&json!({"role": "manager", "display_name": null, "email": "d@example.test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_ne!(res.headers()["etag"].to_str().unwrap(), etag);
    let changed: Value = res.json().await.unwrap();
    // The same ETag again is stale now: 412, nothing changed.
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/users/{}", id(&dana))))
        .bearer_auth(&app.admin_token)
        .header("if-match", &etag)
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(changed["role"], "manager");
    assert!(changed["display_name"].is_null());
    assert_eq!(changed["email"], "d@example.test");
    assert!(changed.get("password_hash").is_none());
    let res = patch(&app, &app.admin_token, &id(&dana), json!({"email": "nope"})).await;
    let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["field"], "email");
    for body in [
        json!({"password": "x"}),
        json!({"role": null}),
        json!({"disabled": null}),
    ] {
        let res = patch(&app, &app.admin_token, &id(&dana), body).await;
        problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }

    // Not for managers.
    let manager = app.login("dana", PASSWORD).await;
    let res = app.send(Method::GET, &manager, "/api/v1/users", None).await;
    let p = problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(p["permission"], "users:manage");
    app.shutdown().await;
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_refuses_sign_in_like_a_wrong_password() {
    let app = spawn_app().await;
    let eve = add(&app, "eve", "clerk").await;
    let tokens = [
        app.login("eve", PASSWORD).await,
        app.login("eve", PASSWORD).await,
    ];
    for token in &tokens {
        let res = app.send(Method::GET, token, "/api/v1/items", None).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = patch(&app, &app.admin_token, &id(&eve), json!({"disabled": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["disabled"], true);
    for token in &tokens {
        let res = app.send(Method::GET, token, "/api/v1/me", None).await;
        problem(res, StatusCode::UNAUTHORIZED).await;
    }
    let disabled = sign_in(&app, "eve", PASSWORD).await;
    assert_eq!(disabled.status(), StatusCode::UNAUTHORIZED);
    let disabled = disabled.bytes().await.unwrap();
    let wrong = sign_in(&app, "eve", "not-the-password")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(disabled, wrong, "the same refusal as a wrong password");
    let listed = app.get_json("/api/v1/users?disabled=true").await;
    assert_eq!(names(&listed), ["eve"]);
    assert_eq!(
        names(&app.get_json("/api/v1/users?disabled=false").await),
        ["admin"]
    );

    let res = patch(
        &app,
        &app.admin_token,
        &id(&eve),
        json!({"disabled": false}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.login("eve", PASSWORD).await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_last_enabled_admin_can_be_neither_disabled_nor_demoted() {
    let app = spawn_app().await;
    let me = app.get_json("/api/v1/me").await;
    for body in [json!({"disabled": true}), json!({"role": "manager"})] {
        let res = patch(&app, &app.admin_token, &id(&me), body.clone()).await;
        let p = problem(res, StatusCode::CONFLICT).await;
        assert_eq!(p["type"], "/problems/last-admin", "{body}");
        assert!(p["detail"]
            .as_str()
            .unwrap()
            .contains("last enabled administrator"));
    }
    // A second admin, disabled, does not count; enabled, it does.
    let zoe = add(&app, "zoe", "admin").await;
    let res = patch(&app, &app.admin_token, &id(&zoe), json!({"disabled": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = patch(&app, &app.admin_token, &id(&me), json!({"role": "viewer"})).await;
    problem(res, StatusCode::CONFLICT).await;
    let res = patch(
        &app,
        &app.admin_token,
        &id(&zoe),
        json!({"disabled": false}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = patch(&app, &app.admin_token, &id(&me), json!({"role": "viewer"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The role change reaches the cached session at once.
    let res = app.get("/api/v1/users").await;
    problem(res, StatusCode::FORBIDDEN).await;
    app.shutdown().await;
}

#[tokio::test]
async fn weak_passwords_are_refused_saying_why() {
    let app = spawn_app().await;
    for (password, why) in [
        ("Sh0rt&sweet", "too short"),
        ("password-1234", "too easy to guess"),
        ("qwertyuiopasdf", "too easy to guess"),
    ] {
        let res = app
            .post(
                "/api/v1/users",
                json!({"username": "weak", "password": password, "role": "viewer"}),
            )
            .await;
        let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(p["errors"][0]["field"], "password", "{p}");
        let message = p["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(why), "{password}: {message}");
    }
    // The username itself does not make a password.
    let res = app
        .post(
            "/api/v1/users",
            json!({"username": "marguerite", "password": "marguerite12", "role": "viewer"}),
        )
        .await;
    problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    app.shutdown().await;
}

#[tokio::test]
async fn an_admin_reset_gives_a_one_time_password_that_must_be_changed_first() {
    let app = spawn_app().await;
    let gus = add(&app, "gus", "clerk").await;
    let old_token = app.login("gus", PASSWORD).await;
    let res = app
        .post(&format!("/api/v1/users/{}/password", id(&gus)), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let reset: Value = res.json().await.unwrap();
    let one_time = reset["one_time_password"].as_str().unwrap().to_owned();
    assert!(one_time.len() >= 20);
    assert_eq!(reset["user"]["must_change_password"], true);
    assert!(reset["user"].get("password_hash").is_none());
    let res = app.send(Method::GET, &old_token, "/api/v1/me", None).await;
    problem(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        sign_in(&app, "gus", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let token = app.login("gus", &one_time).await;
    let other = app.login("gus", &one_time).await;
    // Only acting on themselves until the password is changed.
    let res = app.send(Method::GET, &token, "/api/v1/items", None).await;
    let p = problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(p["type"], "/problems/password-change-required");
    assert!(p["detail"]
        .as_str()
        .unwrap()
        .contains("POST /api/v1/me/password"));
    let res = app.send(Method::GET, &token, "/api/v1/me", None).await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["must_change_password"],
        true
    );
    let res = app
        .send(Method::GET, &token, "/api/v1/me/sessions", None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let res = app
        .send(
            Method::POST,
            &token,
            "/api/v1/me/password",
            Some(change("not-it", "a brand new passphrase")),
        )
        .await;
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["type"], "/problems/wrong-password");
    let res = app
        .send(
            Method::POST,
            &token,
            "/api/v1/me/password",
            Some(change(&one_time, "password-1234")),
        )
        .await;
    let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["field"], "new_password");
    let res = app
        .send(
            Method::POST,
            &token,
            "/api/v1/me/password",
            Some(change(&one_time, "a brand new passphrase")),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["must_change_password"],
        false
    );
    // This session goes on and may do everything again; the other ended.
    let res = app.send(Method::GET, &token, "/api/v1/items", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.send(Method::GET, &other, "/api/v1/me", None).await;
    problem(res, StatusCode::UNAUTHORIZED).await;
    app.login("gus", "a brand new passphrase").await;
    assert_eq!(
        sign_in(&app, "gus", &one_time).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .post(
            &format!("/api/v1/users/{}/password", uuid::Uuid::now_v7()),
            json!({}),
        )
        .await;
    problem(res, StatusCode::NOT_FOUND).await;
    app.shutdown().await;
}

#[tokio::test]
async fn sessions_are_listed_marked_and_ended_by_their_owner_or_an_admin() {
    let app = spawn_app().await;
    let hal = add(&app, "hal", "viewer").await;
    let mut tokens = Vec::new();
    for agent in ["phone/1", "laptop/2"] {
        let res = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("user-agent", agent)
            .json(&json!({"username": "hal", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        tokens.push(body["access_token"].as_str().unwrap().to_owned());
    }
    let list = app
        .send(Method::GET, &tokens[0], "/api/v1/me/sessions", None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let (laptop, phone) = (&sessions[0], &sessions[1]);
    assert_eq!(laptop["user_agent"], "laptop/2");
    assert_eq!(
        (phone["user_agent"].clone(), phone["current"].clone()),
        (json!("phone/1"), json!(true))
    );
    assert_eq!(laptop["current"], false);
    assert_eq!(phone["client_addr"], "127.0.0.1");
    for field in ["created_at", "expires_at", "last_used_at"] {
        assert!(phone.get(field).is_some(), "{field}");
    }
    // Used: recorded (in the background, at most once a minute).
    let mut used = Value::Null;
    for _ in 0..50 {
        let list: Value = app
            .send(Method::GET, &tokens[0], "/api/v1/me/sessions", None)
            .await
            .json()
            .await
            .unwrap();
        used = list["sessions"][1]["last_used_at"].clone();
        if used.is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(used.is_string(), "last_used_at recorded");

    // Someone else's session is not found; one's own ends at once.
    let laptop_id = laptop["id"].as_str().unwrap();
    let stranger = app.token_for("viewer").await;
    let res = app
        .send(
            Method::DELETE,
            &stranger,
            &format!("/api/v1/me/sessions/{laptop_id}"),
            None,
        )
        .await;
    problem(res, StatusCode::NOT_FOUND).await;
    let res = app
        .send(
            Method::DELETE,
            &tokens[0],
            &format!("/api/v1/me/sessions/{laptop_id}"),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.send(Method::GET, &tokens[1], "/api/v1/me", None).await;
    problem(res, StatusCode::UNAUTHORIZED).await;

    // An admin lists and ends another user's sessions.
    let list = app
        .get_json(&format!("/api/v1/users/{}/sessions", id(&hal)))
        .await;
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["current"], false);
    let phone_id = sessions[0]["id"].as_str().unwrap();
    let res = app
        .send(
            Method::DELETE,
            &app.admin_token,
            &format!("/api/v1/users/{}/sessions/{phone_id}", id(&hal)),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.send(Method::GET, &tokens[0], "/api/v1/me", None).await;
    problem(res, StatusCode::UNAUTHORIZED).await;
    let res = app
        .send(
            Method::DELETE,
            &app.admin_token,
            &format!("/api/v1/users/{}/sessions/{phone_id}", id(&hal)),
            None,
        )
        .await;
    problem(res, StatusCode::NOT_FOUND).await;
    app.shutdown().await;
}

/// Replicas sharing PostgreSQL and Redis: disabling a user, ending one of
/// their sessions and resetting their password each end the sessions that
/// the other replica holds in its cache, at once.
#[tokio::test]
async fn disabling_ending_and_resetting_reach_every_replica() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let Some(database) = fresh_pg_database().await else {
        return;
    };
    let a = spawn_app_with_redis(database.clone(), &redis.url()).await;
    let b = spawn_app_with_redis(database.clone(), &redis.url()).await;
    let ivy = add(&a, "ivy", "clerk").await;
    let me = |app: &TestApp, token: &str| {
        let (client, url, token) = (app.client.clone(), app.url("/api/v1/me"), token.to_owned());
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Both replicas cache the session, then the change is made on A.
    let token = a.login("ivy", PASSWORD).await;
    assert_eq!(me(&a, &token).await, StatusCode::OK);
    assert_eq!(me(&b, &token).await, StatusCode::OK);
    let res = patch(&a, &a.admin_token, &id(&ivy), json!({"disabled": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(me(&b, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&a, &token).await, StatusCode::UNAUTHORIZED);
    let res = patch(&a, &a.admin_token, &id(&ivy), json!({"disabled": false})).await;
    assert_eq!(res.status(), StatusCode::OK);

    // One session ended by an admin on B.
    let token = a.login("ivy", PASSWORD).await;
    assert_eq!(me(&a, &token).await, StatusCode::OK);
    assert_eq!(me(&b, &token).await, StatusCode::OK);
    let list = b
        .get_json(&format!("/api/v1/users/{}/sessions", id(&ivy)))
        .await;
    let session = list["sessions"][0]["id"].as_str().unwrap().to_owned();
    let res = b
        .send(
            Method::DELETE,
            &b.admin_token,
            &format!("/api/v1/users/{}/sessions/{session}", id(&ivy)),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&a, &token).await, StatusCode::UNAUTHORIZED);

    // A reset on B.
    let token = a.login("ivy", PASSWORD).await;
    assert_eq!(me(&a, &token).await, StatusCode::OK);
    let res = b
        .post(&format!("/api/v1/users/{}/password", id(&ivy)), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(me(&a, &token).await, StatusCode::UNAUTHORIZED);

    // The command line's reset (what `inventory user reset-password` runs):
    // on the database, then the sessions generation in Redis.
    let one_time = b
        .post(&format!("/api/v1/users/{}/password", id(&ivy)), json!({}))
        .await
        .json::<Value>()
        .await
        .unwrap()["one_time_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = a.login("ivy", &one_time).await;
    assert_eq!(me(&a, &token).await, StatusCode::OK);
    assert_eq!(me(&b, &token).await, StatusCode::OK);
    let store = inventory_server::open_store(&test_config(database))
        .await
        .unwrap();
    let done = inventory_app::users::reset_password(store.as_ref(), "ivy")
        .await
        .unwrap();
    assert!(matches!(
        done,
        inventory_app::users::Recovery::OneTimePassword(_)
    ));
    // Deleted behind the replicas' backs: their cached copies still answer...
    assert_eq!(me(&a, &token).await, StatusCode::OK);
    // ...until the generation moves.
    inventory_app::redis::sessions_changed_at(&redis.url())
        .await
        .unwrap();
    assert_eq!(me(&a, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&b, &token).await, StatusCode::UNAUTHORIZED);
    a.shutdown().await;
    b.shutdown().await;
}

/// The web UI's sign-in records the client as the API's does, and refuses
/// a disabled user as it refuses a wrong password (no session cookie).
#[tokio::test]
async fn the_web_sign_in_records_the_client_and_refuses_a_disabled_user() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form_sign_in = |username: &'static str, password: &'static str| {
        let request = client
            .post(app.url("/login"))
            .header("cookie", "inventory_login=form-token")
            .header("user-agent", "browser/9")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "username={username}&password={}&csrf=form-token",
                password.replace(' ', "+")
            ));
        async move {
            let res = request.send().await.unwrap();
            let status = res.status();
            let token = res
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| v.strip_prefix("inventory_session="))
                .map(|v| v.split(';').next().unwrap_or_default().to_owned())
                .filter(|v| !v.is_empty());
            (status, token)
        }
    };
    let (status, token) = form_sign_in("admin", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let token = token.expect("a session cookie");
    let list = app
        .send(Method::GET, &token, "/api/v1/me/sessions", None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let current = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .expect("the current session")
        .clone();
    assert_eq!(current["user_agent"], "browser/9");
    assert_eq!(current["client_addr"], "127.0.0.1");

    let kim = add(&app, "kim", "clerk").await;
    let res = patch(&app, &app.admin_token, &id(&kim), json!({"disabled": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, token) = form_sign_in("kim", PASSWORD).await;
    assert_ne!(status, StatusCode::SEE_OTHER);
    assert!(token.is_none(), "no session for a disabled user");
    app.shutdown().await;
}

/// The status, the `Retry-After` header (seconds) and the problem type.
async fn throttled(res: reqwest::Response) -> (StatusCode, Option<u64>, String) {
    let status = res.status();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body: Value = res.json().await.unwrap();
    (
        status,
        retry,
        body["type"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn five_failed_sign_ins_close_a_username_known_or_not_and_a_reset_reopens_it() {
    let app = spawn_app().await;
    let erin = add(&app, "erin", "clerk").await;
    for username in ["erin", "nobody-by-this-name"] {
        for attempt in 1..=5 {
            let res = sign_in(&app, username, "wrong-password-guess").await;
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{username} #{attempt}"
            );
        }
        // The sixth is refused before the password is looked at: even the
        // right one; and whether the user exists does not change the answer.
        let (status, retry, kind) = throttled(sign_in(&app, username, PASSWORD).await).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{username}");
        assert_eq!(kind, "/problems/too-many-attempts");
        let retry = retry.expect("a Retry-After header");
        assert!((1..=900).contains(&retry), "Retry-After {retry}");
    }
    // Another username from the same address still gets in.
    add(&app, "frank", "viewer").await;
    assert_eq!(
        sign_in(&app, "frank", PASSWORD).await.status(),
        StatusCode::OK
    );
    // An admin's reset gives erin a way back in at once.
    let res = app
        .post(&format!("/api/v1/users/{}/password", id(&erin)), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let one_time: Value = res.json().await.unwrap();
    let one_time = one_time["one_time_password"].as_str().unwrap();
    assert_eq!(
        sign_in(&app, "erin", one_time).await.status(),
        StatusCode::OK
    );
    // The UI's sign-in form answers the same, as a page that says what to do.
    let page = app
        .client
        .post(app.url("/login"))
        .header("cookie", "inventory_login=form-token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=nobody-by-this-name&password=x&csrf=form-token")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(page.headers().contains_key("retry-after"));
    let html = page.text().await.unwrap();
    assert!(html.contains("Too many failed sign-ins"), "{html}");
}

#[tokio::test]
async fn twenty_failures_from_one_address_close_it_for_every_username() {
    let app = spawn_app().await;
    add(&app, "gina", "viewer").await;
    for n in 0..20 {
        let res = sign_in(&app, &format!("spray-{n}"), "wrong-password-guess").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let (status, retry, kind) = throttled(sign_in(&app, "gina", PASSWORD).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(kind, "/problems/too-many-attempts");
    assert!(retry.is_some());
}

/// With Redis, the failures counted by one replica close the username on
/// the other.
#[tokio::test]
async fn failed_sign_ins_are_counted_across_replicas_through_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = spawn_app_with_redis(test_database(dir_a.path()).await, &redis.url()).await;
    let b = spawn_app_with_redis(test_database(dir_b.path()).await, &redis.url()).await;
    let name = format!("shared-{}", uuid::Uuid::now_v7().simple());
    for _ in 0..3 {
        assert_eq!(
            sign_in(&a, &name, "wrong-1").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for _ in 0..2 {
        assert_eq!(
            sign_in(&b, &name, "wrong-2").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for app in [&a, &b] {
        let (status, _, kind) = throttled(sign_in(app, &name, "wrong-3").await).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(kind, "/problems/too-many-attempts");
    }
}

async fn make_token(app: &TestApp, session: &str, body: Value) -> reqwest::Response {
    app.send(Method::POST, session, "/api/v1/me/tokens", Some(body))
        .await
}

#[tokio::test]
async fn api_tokens_are_scoped_shown_once_narrowed_by_the_role_and_revoked_at_once() {
    let app = spawn_app().await;
    let hana = add(&app, "hana", "manager").await;
    let session = app.login("hana", PASSWORD).await;

    // Made with a session; the secret is shown once, prefixed for scanners.
    let res = make_token(
        &app,
        &session,
        json!({"name": "catalogue sync", "scopes": ["read", "catalog:write"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let made: Value = res.json().await.unwrap();
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("inv_pat_"), "{secret}");
    assert_eq!(made["scopes"], json!(["read", "catalog:write"]));
    let listed = app
        .send(Method::GET, &session, "/api/v1/me/tokens", None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["tokens"][0]["name"], "catalogue sync");
    assert!(
        !listed.to_string().contains(&secret),
        "the list holds no secret"
    );
    // Not among the sign-in sessions.
    let sessions = app
        .send(Method::GET, &session, "/api/v1/me/sessions", None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);

    // Used like a session's token, within its scopes.
    let res = app
        .send(
            Method::POST,
            &secret,
            "/api/v1/items",
            Some(json!({"sku": "TOK-1", "name": "Made by a token"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let item: Value = res.json().await.unwrap();
    let res = app
        .send(
            Method::POST,
            &secret,
            "/api/v1/reservations",
            Some(json!({"item_id": item["id"], "quantity": 1})),
        )
        .await;
    let p = problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(p["type"], "/problems/scope-missing");
    assert_eq!(p["scope"], "stock:write");
    // A token never makes tokens or changes the password.
    let res = make_token(&app, &secret, json!({"name": "x", "scopes": ["read"]})).await;
    let p = problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(p["type"], "/problems/session-required");

    // Demoting the owner narrows the token at once: a clerk edits no items.
    let res = app
        .send(
            Method::PATCH,
            &app.admin_token,
            &format!("/api/v1/users/{}", id(&hana)),
            Some(json!({"role": "clerk"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .send(
            Method::POST,
            &secret,
            "/api/v1/items",
            Some(json!({"sku": "TOK-2", "name": "Refused"})),
        )
        .await;
    let p = problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(p["type"], "/problems/forbidden");
    assert_eq!(
        app.send(Method::GET, &secret, "/api/v1/items", None)
            .await
            .status(),
        StatusCode::OK
    );

    // Revoked: 401 at once.
    let token_id = made["id"].as_str().unwrap();
    let res = app
        .send(
            Method::DELETE,
            &session,
            &format!("/api/v1/me/tokens/{token_id}"),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.send(Method::GET, &secret, "/api/v1/items", None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .send(
            Method::DELETE,
            &session,
            &format!("/api/v1/me/tokens/{token_id}"),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_token_request_names_what_is_wrong_and_disabling_the_owner_ends_their_tokens() {
    let app = spawn_app().await;
    let ida = add(&app, "ida", "viewer").await;
    let session = app.login("ida", PASSWORD).await;
    for (body, field) in [
        (json!({"name": "x", "scopes": ["write"]}), "scopes[0]"),
        (
            json!({"name": "x", "scopes": ["orders:write"]}),
            "scopes[0]",
        ),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "", "scopes": ["read"]}), "name"),
        (
            json!({"name": "x", "scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "scopes": ["read"], "expires_at": "2999-01-01T00:00:00Z"}),
            "expires_at",
        ),
    ] {
        let res = make_token(&app, &session, body.clone()).await;
        let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(p["errors"][0]["field"], field, "{body}");
    }
    let res = make_token(
        &app,
        &session,
        json!({"name": "reader", "scopes": ["read"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let secret = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.send(Method::GET, &secret, "/api/v1/me", None)
            .await
            .status(),
        StatusCode::OK
    );
    // The owner's own password change keeps their tokens.
    let res = app
        .send(
            Method::POST,
            &session,
            "/api/v1/me/password",
            Some(
                json!({"current_password": PASSWORD, "new_password": "copper kettle morning rain"}),
            ),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.send(Method::GET, &secret, "/api/v1/me", None)
            .await
            .status(),
        StatusCode::OK
    );
    // Disabled: every token ends with the sessions.
    let res = app
        .send(
            Method::PATCH,
            &app.admin_token,
            &format!("/api/v1/users/{}", id(&ida)),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.send(Method::GET, &secret, "/api/v1/me", None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

/// The secret in the page's `readonly` field `id`.
fn shown_secret(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\""))
        .expect("the secret's field");
    let value = &html[start..];
    let value = &value[value.find("value=\"").unwrap() + 7..];
    value[..value.find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn the_account_page_makes_a_token_shown_once_and_revokes_it() {
    let app = spawn_app().await;
    add(&app, "lou", "clerk").await;
    let session = app.login("lou", PASSWORD).await;
    let page = post_form(
        &app,
        &session,
        "/account/tokens",
        &[
            ("name", "scanner"),
            ("scope_read", "read"),
            ("scope_stock_write", "stock:write"),
            ("days", "30"),
        ],
    )
    .await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let secret = shown_secret(&html, "new-secret");
    assert!(secret.starts_with("inv_pat_"), "{secret}");
    assert!(html.contains("shown only this once"));
    assert_eq!(
        app.send(Method::GET, &secret, "/api/v1/items", None)
            .await
            .status(),
        StatusCode::OK
    );
    // The page lists it afterwards without the secret.
    let html = app
        .client
        .get(app.url("/account"))
        .header("cookie", format!("inventory_session={session}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("scanner") && html.contains("read, stock:write"),
        "{html}"
    );
    assert!(!html.contains(&secret));
    // No scope chosen: the form says so and keeps the name.
    let refused = post_form(
        &app,
        &session,
        "/account/tokens",
        &[("name", "nothing"), ("days", "30")],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("name at least one of read"), "{html}");
    assert!(html.contains("value=\"nothing\""));
    // Revoked from the page.
    let tokens = app
        .send(Method::GET, &session, "/api/v1/me/tokens", None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let token_id = tokens["tokens"][0]["id"].as_str().unwrap().to_owned();
    let res = post_form(
        &app,
        &session,
        &format!("/account/tokens/{token_id}/revoke"),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.send(Method::GET, &secret, "/api/v1/items", None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // The password form: a wrong current password is said so, nothing changes.
    let res = post_form(
        &app,
        &session,
        "/account/password",
        &[
            ("current_password", "not-my-password"),
            ("new_password", "velvet harbor thunder pine"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = post_form(
        &app,
        &session,
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("new_password", "velvet harbor thunder pine"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        sign_in(&app, "lou", "velvet harbor thunder pine")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_users_page_disables_enables_and_resets_a_user() {
    let app = spawn_app().await;
    let mia = add(&app, "mia", "viewer").await;
    let mia_session = app.login("mia", PASSWORD).await;
    let admin = app.admin_token.clone();
    let res = post_form(&app, &admin, &format!("/users/{}/disable", id(&mia)), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.send(Method::GET, &mia_session, "/api/v1/me", None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&app, "mia", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = post_form(&app, &admin, &format!("/users/{}/enable", id(&mia)), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        sign_in(&app, "mia", PASSWORD).await.status(),
        StatusCode::OK
    );
    let page = post_form(
        &app,
        &admin,
        &format!("/users/{}/reset-password", id(&mia)),
        &[],
    )
    .await;
    assert_eq!(page.status(), StatusCode::OK);
    let one_time = shown_secret(&page.text().await.unwrap(), "one-time");
    let res = sign_in(&app, "mia", &one_time).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["must_change_password"], true);
    // The last admin cannot disable themself from the page either.
    let me = app.get_json("/api/v1/me").await;
    let res = post_form(
        &app,
        &admin,
        &format!("/users/{}/disable", me["id"].as_str().unwrap()),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Only admins reach these forms: a manager's post is refused, mia stays enabled.
    add(&app, "ned", "manager").await;
    let ned = app.login("ned", PASSWORD).await;
    let res = post_form(&app, &ned, &format!("/users/{}/disable", id(&mia)), &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        sign_in(&app, "mia", &one_time).await.status(),
        StatusCode::OK
    );
}
