use crate::common::*;
use reqwest::StatusCode;

#[tokio::test]
async fn health_ready_and_login() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["status"],
        "healthy"
    );
    let me = app.get_json("/api/v1/me").await;
    assert_eq!(me["username"], "admin");
    assert_eq!(me["role"], "admin");
    app.shutdown().await;
}
