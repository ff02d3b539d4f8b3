//! The order storm: many clients race confirms, shipments, cancels, cart
//! renewals, plain issues and reservations that expire mid-race, on a few
//! hot items, through one base URL (one server, or nginx in front of three
//! replicas). Afterwards every figure must be explained by the requests
//! that were acknowledged, each applied exactly once: nothing oversold,
//! nothing available below zero, reserved equal to the active
//! reservations, and the invariants check clean.

use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const HOT_ITEMS: usize = 3;
const RECEIVED_EACH: i64 = 40;
/// Requests in flight at once.
const CLIENTS: usize = 48;

/// Talks to the API as one signed-in user (an admin: every use case).
#[derive(Clone)]
pub struct Api {
    pub client: Client,
    pub base: String,
    pub token: String,
}

/// What the storm saw acknowledged, per item: units shipped and issued.
#[derive(Default)]
struct Acked {
    taken: HashMap<String, i64>,
    outcomes: HashMap<String, usize>,
    failures: Vec<String>,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        let res = req.send().await.expect("a response");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body), None)
            .await
    }

    /// The invariants report from one server directly (`addr`), past any
    /// balancer in front of it.
    pub async fn invariants_at(&self, addr: &str) -> Value {
        let res = self
            .client
            .get(format!("http://{addr}/api/v1/admin/invariants"))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("a response");
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.expect("JSON")
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }
}

fn note(acked: &Mutex<Acked>, what: &str, status: StatusCode, body: &Value) {
    let mut acked = acked.lock().unwrap();
    *acked
        .outcomes
        .entry(format!("{what} {}", status.as_u16()))
        .or_default() += 1;
    // 409s are the refusals the race is about; anything else unexpected fails.
    if !(status.is_success() || status == StatusCode::CONFLICT) {
        acked.failures.push(format!("{what}: {status} {body}"));
    }
}

fn take(acked: &Mutex<Acked>, item: &str, units: i64) {
    *acked
        .lock()
        .unwrap()
        .taken
        .entry(item.to_owned())
        .or_default() += units;
}

/// Shipped units per item in an order's answer.
fn shipped(order: &Value) -> Vec<(String, i64)> {
    order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["item_id"].as_str().unwrap().to_owned(),
                l["shipped"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// One order's life in the race: confirm (replayed once under its key for
/// some), then ship everything, ship part, or cancel.
async fn order_life(api: Api, acked: Arc<Mutex<Acked>>, id: String, n: usize, held: bool) {
    if held {
        let (status, body) = api
            .post(
                &format!("/api/v1/sales-orders/{id}/hold"),
                json!({"minutes": 10}),
            )
            .await;
        note(&acked, "hold", status, &body);
    }
    let key = format!("confirm-{id}");
    let confirm = |api: Api| {
        let (path, key) = (format!("/api/v1/sales-orders/{id}/confirm"), key.clone());
        async move {
            api.send(reqwest::Method::POST, &path, None, Some(&key))
                .await
        }
    };
    let (mut status, mut body) = confirm(api.clone()).await;
    note(&acked, "confirm", status, &body);
    if n % 3 == 0 {
        // A retry under the same key: after a success it answers the same
        // and reserves nothing more; a refusal recorded nothing, so the
        // retry is a new attempt (which may now succeed).
        let (again, answer) = confirm(api.clone()).await;
        if status == StatusCode::OK && (again != status || answer != body) {
            acked.lock().unwrap().failures.push(format!(
                "confirm replay of {id}: {status} {body} then {again} {answer}"
            ));
        }
        if status != StatusCode::OK {
            note(&acked, "confirm retry", again, &answer);
            (status, body) = (again, answer);
        }
    }
    if status != StatusCode::OK {
        return;
    }
    let ship_path = format!("/api/v1/sales-orders/{id}/ship");
    // A cart's hold became firm: some are cancelled, the rest shipped.
    let action = match held {
        true if n % 8 == 7 => 0,
        true => 2,
        false => n % 4,
    };
    match action {
        0 => {
            let (status, body) = api
                .post(&format!("/api/v1/sales-orders/{id}/cancel"), json!({}))
                .await;
            note(&acked, "cancel", status, &body);
        }
        1 => {
            // One unit of the first line, then the rest.
            let line = body["lines"][0]["line_id"].clone();
            let (status, part) = api
                .post(
                    &ship_path,
                    json!({"lines": [{"line_id": line, "quantity": 1}]}),
                )
                .await;
            note(&acked, "ship part", status, &part);
            let mut last = (status == StatusCode::OK).then_some(part);
            let (status, rest) = api
                .send(
                    reqwest::Method::POST,
                    &ship_path,
                    None,
                    Some(&format!("ship-{id}")),
                )
                .await;
            note(&acked, "ship rest", status, &rest);
            if status == StatusCode::OK {
                last = Some(rest);
            }
            for (item, units) in last.as_ref().map(shipped).unwrap_or_default() {
                take(&acked, &item, units);
            }
        }
        _ => {
            let (status, done) = api
                .send(
                    reqwest::Method::POST,
                    &ship_path,
                    None,
                    Some(&format!("ship-{id}")),
                )
                .await;
            note(&acked, "ship", status, &done);
            if status == StatusCode::OK {
                for (item, units) in shipped(&done) {
                    take(&acked, &item, units);
                }
            }
        }
    }
}

/// Runs the storm and checks its figures; panics naming what is wrong.
pub async fn order_storm(api: &Api) {
    let mut items = Vec::new();
    for i in 0..HOT_ITEMS {
        let (status, item) = api
            .post(
                "/api/v1/items",
                json!({"sku": format!("STORM-{i}"), "name": "Hot"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{item}");
        let id = item["id"].as_str().unwrap().to_owned();
        let (status, body) = api
            .post(
                "/api/v1/movements",
                json!({"item_id": id, "kind": "receive", "quantity": RECEIVED_EACH}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        items.push(id);
    }

    // Drafts (some of two lines), carts that hold their stock, and holds
    // that lapse while the race runs.
    let mut orders = Vec::new();
    for n in 0..60 {
        let mut lines = vec![
            json!({"item_id": items[n % HOT_ITEMS], "quantity": 1 + (n % 2) as i64, "unit_price": "2.50"}),
        ];
        if n % 5 == 0 {
            lines.push(
                json!({"item_id": items[(n + 1) % HOT_ITEMS], "quantity": 1, "unit_price": "1"}),
            );
        }
        let held = n % 4 == 3;
        let mut body = json!({"reference": format!("storm-{n}"), "lines": lines});
        if held {
            body["hold_minutes"] = json!(5);
        }
        let (status, order) = api.post("/api/v1/sales-orders", body).await;
        match status {
            StatusCode::CREATED => orders.push((order["id"].as_str().unwrap().to_owned(), n, held)),
            // A cart that finds its stock held by earlier carts.
            StatusCode::CONFLICT if held => {}
            other => panic!("creating order {n}: {other} {order}"),
        }
    }
    let lapse = Utc::now() + chrono::Duration::milliseconds(1500);
    for n in 0..12 {
        let (status, body) = api
            .post(
                "/api/v1/reservations",
                json!({"item_id": items[n % HOT_ITEMS], "quantity": 1, "expires_at": lapse.to_rfc3339(), "reference": "lapsing"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // The race: order lives, plain issues, and more short holds, all at once.
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut work: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> = Vec::new();
    for (id, n, held) in orders {
        work.push(Box::pin(order_life(
            api.clone(),
            acked.clone(),
            id,
            n,
            held,
        )));
    }
    for n in 0..30 {
        let (api, acked, item) = (api.clone(), acked.clone(), items[n % HOT_ITEMS].clone());
        work.push(Box::pin(async move {
            let (status, body) = api
                .post(
                    "/api/v1/movements",
                    json!({"item_id": item, "kind": "issue", "quantity": 1}),
                )
                .await;
            note(&acked, "issue", status, &body);
            if status == StatusCode::CREATED {
                take(&acked, &item, 1);
            }
        }));
    }
    for n in 0..9 {
        let (api, acked, item) = (api.clone(), acked.clone(), items[n % HOT_ITEMS].clone());
        work.push(Box::pin(async move {
            let soon = Utc::now() + chrono::Duration::milliseconds(300);
            let (status, body) = api
                .post(
                    "/api/v1/reservations",
                    json!({"item_id": item, "quantity": 1, "expires_at": soon.to_rfc3339()}),
                )
                .await;
            note(&acked, "reserve", status, &body);
        }));
    }
    // Interleave the kinds of work, then run CLIENTS at a time.
    let mut mixed = Vec::new();
    let (mut left, mut right): (Vec<_>, Vec<_>) =
        work.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    while !left.is_empty() || !right.is_empty() {
        if let Some((_, w)) = left.pop() {
            mixed.push(w);
        }
        if let Some((_, w)) = right.pop() {
            mixed.push(w);
        }
    }
    tokio::time::timeout(
        Duration::from_secs(120),
        stream::iter(mixed)
            .buffer_unordered(CLIENTS)
            .collect::<Vec<()>>(),
    )
    .await
    .expect("the storm ended within 2 minutes");

    let acked = Arc::try_unwrap(acked).ok().unwrap().into_inner().unwrap();
    eprintln!("order storm outcomes: {:?}", acked.outcomes);
    assert!(
        acked.failures.is_empty(),
        "unexpected answers: {:#?}",
        acked.failures
    );
    for key in [
        "confirm 200",
        "issue 201",
        "ship 200",
        "cancel 200",
        "hold 200",
    ] {
        assert!(
            acked.outcomes.get(key).is_some_and(|n| *n > 0),
            "no '{key}' in {:?}",
            acked.outcomes
        );
    }
    // More is asked than there is, so the race must have refused some.
    let refused: usize = acked
        .outcomes
        .iter()
        .filter(|(k, _)| k.ends_with(" 409"))
        .map(|(_, n)| n)
        .sum();
    assert!(refused > 0, "nothing was refused: {:?}", acked.outcomes);

    // Every figure is what the acknowledged requests made it.
    while Utc::now() <= lapse {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut issued_total = 0;
    for id in &items {
        let item = api.get(&format!("/api/v1/items/{id}")).await;
        let taken = acked.taken.get(id).copied().unwrap_or(0);
        assert_eq!(
            item["on_hand"],
            RECEIVED_EACH - taken,
            "each acknowledged issue and shipment once: {item}"
        );
        assert!(item["available"].as_i64().unwrap() >= 0, "{item}");
        let issues = api
            .get(&format!(
                "/api/v1/movements?item_id={id}&kind=issue&limit=500"
            ))
            .await;
        let issued: i64 = issues["movements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["quantity"].as_i64().unwrap())
            .sum();
        assert_eq!(
            issued, taken,
            "the ledger's issues are the acknowledged ones"
        );
        issued_total += issued;
    }
    assert!(
        issued_total <= RECEIVED_EACH * HOT_ITEMS as i64,
        "never oversold"
    );
    let report = api.get("/api/v1/admin/invariants").await;
    assert_eq!(
        report["ok"], true,
        "the invariants after the storm: {report}"
    );
}

/// Two customers confirm the last units the moment a third customer's hold
/// on them lapses: exactly the units that exist are sold.
pub async fn last_units_as_a_hold_lapses(api: &Api) {
    let (status, item) = api
        .post(
            "/api/v1/items",
            json!({"sku": "LAST-UNITS", "name": "Last two"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = item["id"].as_str().unwrap().to_owned();
    let (status, _) = api
        .post(
            "/api/v1/movements",
            json!({"item_id": id, "kind": "receive", "quantity": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let lapse = Utc::now() + chrono::Duration::milliseconds(800);
    let (status, hold) = api
        .post("/api/v1/reservations", json!({"item_id": id, "quantity": 2, "expires_at": lapse.to_rfc3339(), "reference": "third customer"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    let mut orders = Vec::new();
    for customer in ["first", "second", "third"] {
        let (status, order) = api
            .post("/api/v1/sales-orders", json!({"reference": customer, "lines": [{"item_id": id, "quantity": 1, "unit_price": "10"}]}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        orders.push(order["id"].as_str().unwrap().to_owned());
    }
    let (status, _) = api
        .post(
            &format!("/api/v1/sales-orders/{}/confirm", orders[2]),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "held units are not for sale");
    while Utc::now() <= lapse {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let paths: Vec<String> = orders
        .iter()
        .map(|o| format!("/api/v1/sales-orders/{o}/confirm"))
        .collect();
    let confirms = paths.iter().map(|path| api.post(path, json!({})));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(confirms)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let sold = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((sold, refused), (2, 1), "{statuses:?}");
    let after = api.get(&format!("/api/v1/items/{id}")).await;
    assert_eq!(
        (&after["on_hand"], &after["reserved"]),
        (&json!(2), &json!(2))
    );
    let report = api.get("/api/v1/admin/invariants").await;
    assert_eq!(report["ok"], true, "{report}");
}
