//! Items and the ledger as CSV: exports streamed with the list filters,
//! imports checked whole (every row's errors by row and column) and
//! written all or nothing, and an export that imports back unchanged.

use crate::common::*;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

async fn import(app: &TestApp, token: &str, query: &str, csv: impl Into<Vec<u8>>) -> Response {
    app.client
        .post(app.url(&format!("/api/v1/items/import{query}")))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv.into())
        .send()
        .await
        .unwrap()
}

async fn download(app: &TestApp, path: &str) -> String {
    let res = app.get(path).await;
    assert_eq!(res.status(), StatusCode::OK, "GET {path}");
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename="),
        "{disposition}"
    );
    res.text().await.unwrap()
}

fn errors(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

async fn item_count(app: &TestApp) -> usize {
    app.get_json("/api/v1/items?limit=500&include_archived=true")
        .await["items"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn an_export_imports_back_unchanged() {
    let app = spawn_app().await;
    let tricky = app
        .create_item_with(json!({
            "sku": "=CMD", "name": "-2+3, \"quoted\"\nsecond line", "description": "@me",
            "category": "parts", "barcode": "4006381333931", "unit": "box",
            "reorder_point": 4, "unit_cost": "12.3456"}))
        .await;
    app.receive(tricky["id"].as_str().unwrap(), 7).await;
    // More than one page of the store (500) to show the export pages through.
    let mut csv = String::from("sku,name,category\r\n");
    for i in 0..620 {
        csv.push_str(&format!("BULK-{i:04},Bulk {i},bulk\r\n"));
    }
    let res = import(&app, &app.admin_token, "", csv).await;
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.unwrap();
    assert_eq!(
        (report["new"].as_u64(), report["written"].as_bool()),
        (Some(620), Some(true))
    );

    let export = download(&app, "/api/v1/items/export.csv").await;
    let lines: Vec<&str> = export.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "sku,name,description,category,barcode,unit,reorder_point,unit_cost,on_hand,available"
    );
    assert!(
        export.contains("'=CMD,\"'-2+3, \"\"quoted\"\"\nsecond line\",'@me,parts,4006381333931,box,4,12.3456,7,7"),
        "quoted, and defused for spreadsheets: {}",
        &export[..400]
    );
    assert_eq!(export.matches("BULK-").count(), 620);

    let res = import(&app, &app.admin_token, "", export.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["total"], 621);
    assert_eq!(report["unchanged"], 621, "{}", report["rows"][0]);
    assert_eq!(
        (report["new"].as_u64(), report["changed"].as_u64()),
        (Some(0), Some(0))
    );
    let again = app
        .get_json(&format!("/api/v1/items/{}", tricky["id"].as_str().unwrap()))
        .await;
    assert_eq!(again["version"], 1, "an unchanged row writes nothing");

    // The list's filters select what is exported.
    let filtered = download(&app, "/api/v1/items/export.csv?category=PARTS&sort=-sku").await;
    assert_eq!(filtered.trim_end().split("\r\n").count(), 2, "{filtered}");
    let res = app.get("/api/v1/items/export.csv?limit=5").await;
    problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    app.shutdown().await;
}

#[tokio::test]
async fn an_import_with_one_bad_row_writes_nothing_and_names_every_error() {
    let app = spawn_app().await;
    app.create_item_with(json!({"sku": "OLD-1", "name": "Old", "barcode": "111"}))
        .await;
    let before = item_count(&app).await;
    let csv = "sku,name,barcode,unit_cost\n\
               NEW-1,Fine,,1.00\n\
               NEW-2,Also fine,222,2.00\n\
               new-1,Twice,,x\n\
               NEW-3,Barcode taken,111,0\n";
    // The preview: every row, every error, nothing written.
    let res = import(&app, &app.admin_token, "?dry_run=true", csv).await;
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["written"], false);
    assert_eq!(
        (report["new"].as_u64(), report["invalid"].as_u64()),
        (Some(1), Some(3))
    );
    let statuses: Vec<&str> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["invalid", "new", "invalid", "invalid"]);
    assert_eq!(item_count(&app).await, before);

    // For real: 422, every error by row and column, still nothing written.
    let res = import(&app, &app.admin_token, "", csv).await;
    let body = problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields = errors(&body);
    fields.sort();
    assert_eq!(
        fields,
        ["row 2.sku", "row 4.sku", "row 4.unit_cost", "row 5.barcode"],
        "{body}"
    );
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("3 of 4 rows") && detail.contains("nothing was written"),
        "{detail}"
    );
    assert_eq!(item_count(&app).await, before);
    assert!(app.get_json("/api/v1/items?sku=NEW-2").await["items"]
        .as_array()
        .unwrap()
        .is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn a_good_import_writes_every_row_once_with_events() {
    let app = spawn_app().await;
    let old = app
        .create_item_with(
            json!({"sku": "OLD-1", "name": "Old", "category": "a", "unit_cost": "1.00"}),
        )
        .await;
    let last_event = app.app.store().last_event_id().await.unwrap();
    let csv = "\u{feff}name,sku,category,reorder_point\n\
               Renamed,old-1,,3\n\
               Brand new,NEW-1,b,\n";
    let res = import(&app, &app.admin_token, "", csv).await;
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.unwrap();
    assert_eq!(
        (
            report["changed"].as_u64(),
            report["new"].as_u64(),
            report["written"].as_bool()
        ),
        (Some(1), Some(1), Some(true))
    );
    let old = app
        .get_json(&format!("/api/v1/items/{}", old["id"].as_str().unwrap()))
        .await;
    assert_eq!(old["sku"], "old-1");
    assert_eq!(old["name"], "Renamed");
    assert_eq!(old["category"], Value::Null, "an empty category clears it");
    assert_eq!(old["unit_cost"], "1.00", "a missing column keeps the value");
    assert_eq!(old["reorder_point"], 3);
    let new = app.get_json("/api/v1/items?sku=NEW-1").await;
    assert_eq!(new["items"][0]["category"], "b");
    let events = app.app.store().events_after(last_event, 10).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["item.updated", "item.created"]);
    app.shutdown().await;
}

#[tokio::test]
async fn a_bad_file_is_refused_naming_the_row_and_the_column() {
    let app = spawn_app().await;
    // Bad encoding (Latin-1 é) in row 3's name.
    let mut csv = b"sku,name\nA-1,Fine\nA-2,Caf".to_vec();
    csv.extend_from_slice(b"\xE9\n");
    let body = problem(
        import(&app, &app.admin_token, "", csv).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(errors(&body), ["row 3.name"]);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("UTF-8"),
        "{body}"
    );
    // Wrong columns: named, from the header (row 1).
    let body = problem(
        import(&app, &app.admin_token, "", "sku,title\nA-1,x\n").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(errors(&body), ["row 1.title", "row 1.name"]);
    // Not CSV, or not UTF-8: 415 saying what to send.
    let res = app
        .client
        .post(app.url("/api/v1/items/import"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "text/csv; charset=windows-1252")
        .body("sku,name\n")
        .send()
        .await
        .unwrap();
    let body = problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert!(
        body["detail"].as_str().unwrap().contains("text/csv"),
        "{body}"
    );
    let res = app
        .send(
            Method::POST,
            &app.admin_token,
            "/api/v1/items/import",
            Some(json!({})),
        )
        .await;
    problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    // Over the size limit: 413 naming it.
    let big = vec![b'a'; 33 * 1024 * 1024];
    let body = problem(
        import(&app, &app.admin_token, "", big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("32 MiB"),
        "{body}"
    );
    assert_eq!(item_count(&app).await, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn importing_needs_items_write_and_exporting_a_viewer() {
    let app = spawn_app().await;
    let clerk = app.token_for("clerk").await;
    let viewer = app.token_for("viewer").await;
    let body = problem(
        import(&app, &clerk, "?dry_run=true", "sku,name\nA-1,a\n").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(body["permission"], "items:write");
    let manager = app.token_for("manager").await;
    assert_eq!(
        import(&app, &manager, "", "sku,name\nA-1,a\n")
            .await
            .status(),
        StatusCode::OK
    );
    for path in ["/api/v1/items/export.csv", "/api/v1/movements/export.csv"] {
        let res = app.send(Method::GET, &viewer, path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_ledger_exports_with_its_filters() {
    let app = spawn_app().await;
    let a = app.create_item("LED-A").await;
    let b = app.create_item("LED-B").await;
    app.receive(a["id"].as_str().unwrap(), 5).await;
    app.receive(b["id"].as_str().unwrap(), 2).await;
    let (status, _) = app
        .movement(json!({"sku": "LED-A", "kind": "adjust", "quantity": -1, "reason": "=broken"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let all = download(&app, "/api/v1/movements/export.csv").await;
    let lines: Vec<&str> = all.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 4, "{all}");
    assert!(lines[0].starts_with("seq,id,created_at,kind,sku,item_id,quantity,"));
    assert!(
        lines[3].contains(",adjust,LED-A,") && lines[3].contains(",-1,"),
        "{}",
        lines[3]
    );
    assert!(
        lines[3].contains(",'=broken,"),
        "a formula is defused, a number is not: {}",
        lines[3]
    );
    let only_a = download(&app, "/api/v1/movements/export.csv?sku=led-a&order=desc").await;
    let lines: Vec<&str> = only_a.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 3, "{only_a}");
    assert!(lines[1].contains(",adjust,"), "newest first: {}", lines[1]);
    let none = download(&app, "/api/v1/movements/export.csv?sku=NO-SUCH").await;
    assert_eq!(none.trim_end().split("\r\n").count(), 1, "the header alone");
    let res = app.get("/api/v1/movements/export.csv?kind=steal").await;
    problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    app.shutdown().await;
}
