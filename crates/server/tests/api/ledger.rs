//! The ledger under concurrency, idempotency and batches, over real HTTP.

use crate::common::*;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_issues_against_twenty_on_hand_never_oversell() {
    let app = spawn_app().await;
    let clerk = app.token_for("clerk").await;
    let item = id(&app.create_item("HOT-1").await);
    app.receive(&item, 20).await;

    let requests = (0..50).map(|_| {
        app.send(
            Method::POST,
            &clerk,
            "/api/v1/movements",
            Some(json!({"item_id": item, "kind": "issue", "quantity": 1})),
        )
    });
    let mut created = 0;
    let mut refused = 0;
    for res in join_all(requests).await {
        match res.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                let body = problem(res, StatusCode::CONFLICT).await;
                assert!(body["type"]
                    .as_str()
                    .unwrap()
                    .ends_with("insufficient-stock"));
                assert_eq!(body["requested"], 1);
                assert_eq!(body["available"], 0);
                refused += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((created, refused), (20, 30));
    assert_eq!(app.on_hand_and_ledger(&item).await, (0, 0));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_conserve_the_total() {
    let app = spawn_app().await;
    app.create_location("B").await;
    let item = id(&app.create_item("T-1").await);
    app.receive(&item, 100).await;

    let requests = (0..80).map(|i| {
        let (from, to) = if i % 2 == 0 { ("MAIN", "B") } else { ("B", "MAIN") };
        app.post(
            "/api/v1/movements",
            json!({"item_id": item, "kind": "transfer", "quantity": 7, "from_location": from, "to_location": to}),
        )
    });
    for res in join_all(requests).await {
        assert!(
            matches!(res.status(), StatusCode::CREATED | StatusCode::CONFLICT),
            "{}",
            res.status()
        );
    }
    let stock = app.get_json(&format!("/api/v1/items/{item}/stock")).await;
    assert_eq!(stock["on_hand"], 100);
    let per_location: i64 = stock["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert!(l["on_hand"].as_i64().unwrap() >= 0);
            l["on_hand"].as_i64().unwrap()
        })
        .sum();
    assert_eq!(per_location, 100);
    // The balances equal the ledger summed per location up to now.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let replayed = app
        .get_json(&format!(
            "/api/v1/items/{item}/stock?as_of={}",
            urlencode(&now)
        ))
        .await;
    assert_eq!(replayed["locations"], stock["locations"]);
    assert_eq!(app.on_hand_and_ledger(&item).await, (100, 100));
    app.shutdown().await;
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn post_with_key(
    app: &TestApp,
    token: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn idempotent_replays_apply_once() {
    let app = spawn_app().await;
    let item = id(&app.create_item("IDEM-1").await);
    let body = json!({"item_id": item, "kind": "receive", "quantity": 5});

    let first = post_with_key(&app, &app.admin_token, "/api/v1/movements", "key-1", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_body = first.text().await.unwrap();

    let again = post_with_key(&app, &app.admin_token, "/api/v1/movements", "key-1", &body).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.text().await.unwrap(),
        first_body,
        "a replay returns the original body"
    );
    assert_eq!(app.on_hand_and_ledger(&item).await, (5, 5));

    // The same key with another body is refused and changes nothing.
    let other = json!({"item_id": item, "kind": "receive", "quantity": 6});
    let res = post_with_key(&app, &app.admin_token, "/api/v1/movements", "key-1", &other).await;
    let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(p["type"]
        .as_str()
        .unwrap()
        .ends_with("idempotency-key-reused"));
    assert_eq!(app.on_hand_and_ledger(&item).await, (5, 5));

    // Keys are per user: another user's identical key is a new request.
    let clerk = app.token_for("clerk").await;
    let res = post_with_key(&app, &clerk, "/api/v1/movements", "key-1", &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.on_hand_and_ledger(&item).await, (10, 10));

    // Item creation replays too, without a second item.
    let create = json!({"sku": "IDEM-2", "name": "Twice"});
    let a = post_with_key(&app, &app.admin_token, "/api/v1/items", "create-1", &create).await;
    assert_eq!(a.status(), StatusCode::CREATED);
    let a: Value = a.json().await.unwrap();
    let b = post_with_key(&app, &app.admin_token, "/api/v1/items", "create-1", &create).await;
    assert_eq!(b.status(), StatusCode::CREATED);
    let b: Value = b.json().await.unwrap();
    assert_eq!(a, b);
    let list = app.get_json("/api/v1/items?sku=IDEM-2").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // A failed request does not burn its key: a retry may succeed later.
    let issue = json!({"item_id": item, "kind": "issue", "quantity": 50});
    let res = post_with_key(&app, &app.admin_token, "/api/v1/movements", "key-2", &issue).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    app.receive(&item, 50).await;
    let res = post_with_key(&app, &app.admin_token, "/api/v1/movements", "key-2", &issue).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    app.shutdown().await;
}

#[tokio::test]
async fn a_duplicate_while_the_first_is_in_flight_gets_409() {
    let app = spawn_app().await;
    let item = id(&app.create_item("FLIGHT-1").await);
    let body = json!({"item_id": item, "kind": "receive", "quantity": 3});
    // Hold the key as an in-flight request would, then send the duplicate.
    let caller = app.app.authenticate(&app.admin_token).await.unwrap();
    let start = app.app.hold_idempotency_key(&caller, "flight-1");

    let res = post_with_key(
        &app,
        &app.admin_token,
        "/api/v1/movements",
        "flight-1",
        &body,
    )
    .await;
    let p = problem(res, StatusCode::CONFLICT).await;
    assert!(p["type"]
        .as_str()
        .unwrap()
        .ends_with("idempotency-in-flight"));
    assert_eq!(app.on_hand_and_ledger(&item).await, (0, 0));

    // Once the first is done, the key is free again.
    drop(start);
    let res = post_with_key(
        &app,
        &app.admin_token,
        "/api/v1/movements",
        "flight-1",
        &body,
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Many identical requests at once: applied exactly once, whatever each saw.
    let burst =
        (0..10).map(|_| post_with_key(&app, &app.admin_token, "/api/v1/movements", "burst", &body));
    let mut bodies = HashSet::new();
    for res in join_all(burst).await {
        match res.status() {
            StatusCode::CREATED => {
                bodies.insert(res.text().await.unwrap());
            }
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        bodies.len(),
        1,
        "every success carries the one original body"
    );
    assert_eq!(app.on_hand_and_ledger(&item).await, (6, 6));
    app.shutdown().await;
}

#[tokio::test]
async fn batches_apply_all_or_none() {
    let app = spawn_app().await;
    let a = id(&app.create_item("BATCH-A").await);
    let b = id(&app.create_item("BATCH-B").await);
    app.receive(&b, 2).await;

    let failing = json!({"movements": [
        {"item_id": a, "kind": "receive", "quantity": 10},
        {"item_id": b, "kind": "issue", "quantity": 1},
        {"item_id": b, "kind": "issue", "quantity": 5},
    ]});
    let p = problem(
        app.post("/api/v1/movements/batch", failing).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(p["index"], 2);
    assert!(p["type"].as_str().unwrap().ends_with("insufficient-stock"));
    assert_eq!(
        p["available"], 1,
        "entry 1 had taken one of the two inside the batch"
    );
    assert_eq!(
        app.on_hand_and_ledger(&a).await,
        (0, 0),
        "entry 0 was rolled back"
    );
    assert_eq!(
        app.on_hand_and_ledger(&b).await,
        (2, 2),
        "entry 1 was rolled back"
    );

    let invalid = json!({"movements": [
        {"item_id": a, "kind": "receive", "quantity": 1},
        {"item_id": a, "kind": "receive", "quantity": 0},
    ]});
    let p = problem(
        app.post("/api/v1/movements/batch", invalid).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["index"], 1);
    assert_eq!(p["errors"][0]["field"], "movements[1].quantity");

    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({"item_id": a, "kind": "receive", "quantity": 1}))
        .collect();
    let res = app
        .post("/api/v1/movements/batch", json!({"movements": too_many}))
        .await;
    problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(app.on_hand_and_ledger(&a).await, (0, 0));

    let full: Vec<Value> = (0..1000)
        .map(|i| json!({"item_id": if i % 2 == 0 { &a } else { &b }, "kind": "receive", "quantity": 1}))
        .collect();
    let res = app
        .post("/api/v1/movements/batch", json!({"movements": full}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    let results = body["movements"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    let seqs: Vec<i64> = results
        .iter()
        .map(|r| r["movement"]["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seq increases within a batch"
    );
    assert_eq!(app.on_hand_and_ledger(&a).await, (500, 500));
    assert_eq!(app.on_hand_and_ledger(&b).await, (502, 502));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paging_while_writing_never_repeats_or_skips() {
    let app = spawn_app().await;
    let mut existing = HashSet::new();
    for i in 0..30 {
        existing.insert(id(&app.create_item(&format!("P-{i:03}")).await));
    }
    for sort in ["sku", "-sku", "created_at", "-created_at"] {
        let writer = {
            let client = app.client.clone();
            let (url, token) = (app.url("/api/v1/items"), app.admin_token.clone());
            let sort = sort.to_owned();
            tokio::spawn(async move {
                for i in 0..20 {
                    // New rows land before, between and after existing keys.
                    let sku = format!("P-{:03}-{sort}-{i}", (i * 7) % 30);
                    let res = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({"sku": sku, "name": "new"}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), StatusCode::CREATED);
                }
            })
        };
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/items?limit=4&sort={sort}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = app.get_json(&path).await;
            seen.extend(page["items"].as_array().unwrap().iter().map(id));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        writer.await.unwrap();
        let unique: HashSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: a row was repeated");
        assert!(
            existing.is_subset(&unique),
            "{sort}: a row that existed was skipped"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn movement_rules_and_ledger_listing() {
    let app = spawn_app().await;
    let item = id(&app.create_item("RULES-1").await);
    let other = id(&app.create_item("RULES-2").await);
    app.create_location("SHELF").await;

    let bad = [
        json!({"item_id": item, "kind": "receive", "quantity": 0}),
        json!({"item_id": item, "kind": "issue", "quantity": -1}),
        json!({"item_id": item, "kind": "adjust", "quantity": 3}),
        json!({"item_id": item, "kind": "adjust", "quantity": 0, "reason": "x"}),
        json!({"item_id": item, "kind": "transfer", "quantity": 1, "to_location": "MAIN"}),
        json!({"item_id": item, "kind": "transfer", "quantity": 1}),
        json!({"item_id": item, "kind": "receive", "quantity": 1, "location": "NOWHERE"}),
        json!({"item_id": uuid::Uuid::now_v7(), "kind": "receive", "quantity": 1}),
        json!({"item_id": item, "kind": "steal", "quantity": 1}),
        json!({"item_id": item, "kind": "receive", "quantity": 1.5}),
    ];
    for body in bad {
        let res = app.post("/api/v1/movements", body.clone()).await;
        problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    assert_eq!(app.on_hand_and_ledger(&item).await, (0, 0));

    app.receive(&item, 10).await;
    let (s, _) = app
        .movement(json!({"item_id": item, "kind": "adjust", "quantity": -4, "reason": "count"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, p) = app
        .movement(json!({"item_id": item, "kind": "adjust", "quantity": -7, "reason": "count"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        (p["available"].as_i64(), p["requested"].as_i64()),
        (Some(6), Some(7))
    );
    let (s, body) = app
        .movement(json!({"item_id": item, "kind": "transfer", "quantity": 2, "to_location": "shelf", "reference": "PO-9"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(body["movement"]["from_location"], "MAIN");
    assert_eq!(body["movement"]["to_location"], "SHELF");
    assert_eq!(body["balances"]["on_hand"], 6);
    app.receive(&other, 1).await;

    let all = app.get_json("/api/v1/movements?limit=500").await;
    let seqs: Vec<i64> = all["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 4);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));

    let mine = app
        .get_json(&format!("/api/v1/movements?item_id={item}"))
        .await;
    assert_eq!(mine["movements"].as_array().unwrap().len(), 3);
    let adjusts = app.get_json("/api/v1/movements?kind=adjust").await;
    assert_eq!(adjusts["movements"].as_array().unwrap().len(), 1);
    let shelf = app.get_json("/api/v1/movements?location=SHELF").await;
    assert_eq!(shelf["movements"].as_array().unwrap().len(), 1);
    let desc = app.get_json("/api/v1/movements?order=desc&limit=1").await;
    assert_eq!(desc["movements"][0]["seq"].as_i64(), seqs.last().copied());
    let next = desc["next_cursor"].as_str().unwrap();
    let page2 = app
        .get_json(&format!(
            "/api/v1/movements?order=desc&limit=1&cursor={next}"
        ))
        .await;
    assert_eq!(page2["movements"][0]["seq"].as_i64(), Some(seqs[2]));
    let res = app
        .get(&format!("/api/v1/movements?order=asc&cursor={next}"))
        .await;
    problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let res = app.get("/api/v1/movements?since=yesterday").await;
    problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    app.shutdown().await;
}

#[tokio::test]
async fn shutdown_turns_readiness_off_at_once() {
    use tower::ServiceExt;
    let app = spawn_app().await;
    let router = inventory_server::service::router(app.app.clone(), true);
    let ready = |r: axum::Router| async move {
        let req = axum::http::Request::get("/ready")
            .body(axum::body::Body::empty())
            .unwrap();
        r.oneshot(req).await.unwrap().status()
    };
    assert_eq!(ready(router.clone()).await, StatusCode::OK);
    let state = app.app.clone();
    app.shutdown().await;
    assert!(state.is_shutting_down());
    assert_eq!(ready(router).await, StatusCode::SERVICE_UNAVAILABLE);
}

/// The seq of the newest movement: where a count sheet begins.
async fn ledger_head(app: &TestApp) -> i64 {
    let newest = app.get_json("/api/v1/movements?order=desc&limit=1").await;
    newest["movements"][0]["seq"].as_i64().unwrap()
}

#[tokio::test]
async fn a_stock_count_posts_its_differences_and_refuses_a_stale_sheet() {
    let app = spawn_app().await;
    let bolt = id(&app.create_item("CNT-BOLT").await);
    let nut = id(&app.create_item("CNT-NUT").await);
    app.receive(&bolt, 10).await;
    app.receive(&nut, 4).await;
    let washer = id(&app.create_item("CNT-WASHER").await);
    app.receive(&washer, 50).await;
    let sheet = ledger_head(&app).await;
    let res = app
        .post(
            "/api/v1/stock-counts",
            json!({"as_of_seq": sheet, "reference": "COUNT-1", "lines": [
                {"sku": "cnt-bolt", "counted": 10}, {"item_id": nut, "counted": 3}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["location"], "MAIN", "no location: the default one");
    assert_eq!(body["lines"][0]["difference"], 0);
    assert_eq!(body["lines"][1]["expected"], 4);
    let adjustments = body["adjustments"].as_array().unwrap();
    assert_eq!(
        adjustments.len(),
        1,
        "one difference, one adjustment: {body}"
    );
    assert_eq!(adjustments[0]["movement"]["kind"], "adjust");
    assert_eq!(adjustments[0]["movement"]["quantity"], -1);
    assert_eq!(adjustments[0]["movement"]["reason"], "stock count");
    assert_eq!(app.on_hand_and_ledger(&nut).await, (3, 3));

    // Someone issues a bolt; a count from the old sheet names it and writes nothing.
    let (status, _) = app
        .movement(json!({"item_id": bolt, "kind": "issue", "quantity": 1}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let res = app
        .post(
            "/api/v1/stock-counts",
            json!({"location": "main", "as_of_seq": sheet, "lines": [
                {"sku": "CNT-BOLT", "counted": 10}, {"sku": "CNT-WASHER", "counted": 49}]}),
        )
        .await;
    let p = problem(res, StatusCode::CONFLICT).await;
    assert!(
        p["type"].as_str().unwrap().ends_with("count-outdated"),
        "{p}"
    );
    assert_eq!(p["moved"][0]["sku"], "CNT-BOLT");
    assert_eq!(p["moved"].as_array().unwrap().len(), 1, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("CNT-BOLT"), "{p}");
    assert_eq!(
        app.on_hand_and_ledger(&washer).await,
        (50, 50),
        "nothing written"
    );
    assert_eq!(app.on_hand_and_ledger(&bolt).await, (9, 9));

    // Client mistakes: a position beyond the ledger, an unknown SKU, a viewer.
    let res = app
        .post(
            "/api/v1/stock-counts",
            json!({"as_of_seq": ledger_head(&app).await + 5, "lines": [{"sku": "CNT-NUT", "counted": 1}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .post(
            "/api/v1/stock-counts",
            json!({"as_of_seq": 0, "lines": [{"sku": "NOPE", "counted": 1}]}),
        )
        .await;
    let p = problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["field"], "lines[0].sku", "{p}");
    let viewer = app.token_for("viewer").await;
    let res = app
        .send(
            Method::POST,
            &viewer,
            "/api/v1/stock-counts",
            Some(json!({"as_of_seq": 0, "lines": [{"sku": "CNT-NUT", "counted": 1}]})),
        )
        .await;
    problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(app.on_hand_and_ledger(&nut).await, (3, 3));
    app.shutdown().await;
}

#[tokio::test]
async fn the_invariants_report_is_clean_after_real_work_and_for_admins_only() {
    let app = spawn_app().await;
    let item = id(&app.create_item("INV-API").await);
    app.receive(&item, 9).await;
    let (status, _) = app
        .movement(json!({"item_id": item, "kind": "issue", "quantity": 4}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let report = app.get_json("/api/v1/admin/invariants").await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["violations"], json!([]));
    let rules: Vec<&str> = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "stock-equals-ledger",
            "item-equals-locations",
            "available-not-negative",
            "reserved-equals-reservations",
            "incoming-equals-outstanding",
            "received-equals-receipts",
            "shipped-not-above-ordered",
            "shipped-equals-shipments"
        ]
    );
    let manager = app.token_for("manager").await;
    let res = app
        .send(Method::GET, &manager, "/api/v1/admin/invariants", None)
        .await;
    let p = problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(p["permission"], "system:inspect");
    app.shutdown().await;
}

/// A count sheet's review finds each line's item by barcode or SKU (in one
/// read for all the lines) with its books at the sheet's location, and
/// names a line whose code no item has.
#[tokio::test]
async fn a_count_review_reads_every_lines_item_and_books_at_once() {
    let app = spawn_app().await;
    app.create_location("REVIEW-SHELF").await;
    let by_sku = app.create_item("REVIEW-1").await;
    let by_barcode = app
        .create_item_with(
            serde_json::json!({"sku": "REVIEW-2", "name": "Scanned", "barcode": "4006381333931"}),
        )
        .await;
    for (item, quantity) in [(&by_sku, 5), (&by_barcode, 7)] {
        let (status, _) = app
            .movement(serde_json::json!({"item_id": item["id"], "kind": "receive", "quantity": quantity, "location": "REVIEW-SHELF"}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let review = post_form(
        &app,
        &app.admin_token,
        "/counts/review",
        &[
            ("location", "REVIEW-SHELF"),
            ("as_of_seq", "0"),
            ("sku", "review-1"),
            ("counted", "5"),
            ("sku", "4006381333931"),
            ("counted", "6"),
            ("sku", "NO-SUCH-CODE"),
            ("counted", "1"),
        ],
    )
    .await;
    // The unknown code makes the sheet need a fix.
    assert_eq!(review.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = review.text().await.unwrap();
    assert!(
        html.contains("no item has the SKU or barcode &#39;NO-SUCH-CODE&#39;"),
        "{html}"
    );
    assert!(
        html.contains("1 line differs"),
        "the scanned line is one short: {html}"
    );
    assert!(
        html.contains("REVIEW-2") && html.contains("Scanned"),
        "found by its barcode"
    );
}
