//! Liveness, readiness and metrics.

use crate::telemetry;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use inventory_app::App;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// The readiness report.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `unavailable` (the database does not answer) or
    /// `shutting_down`.
    pub status: &'static str,
    pub checks: ReadinessChecks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessChecks {
    /// `ok`, `unavailable` or `unknown` (not checked while shutting down).
    pub database: &'static str,
    /// `off` (no Redis configured), `ok` or `degraded` (Redis does not
    /// answer; requests go to the database).
    pub cache: &'static str,
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, description = "Alive", example = json!({"status": "healthy"}))))]
pub async fn health() -> impl IntoResponse {
    Json(json!({"status": "healthy"}))
}

/// Readiness: the database answers and the server is not shutting down.
#[utoipa::path(get, path = "/ready", tag = "system",
    responses((status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: shutting down, or the database does not answer", body = Readiness)))]
pub async fn ready(State(app): State<App>) -> impl IntoResponse {
    let r = app.readiness().await;
    let status = match (r.shutting_down, r.ready) {
        (true, _) => "shutting_down",
        (false, true) => "ready",
        (false, false) => "unavailable",
    };
    let code = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(Readiness {
            status,
            checks: ReadinessChecks {
                database: r.database.as_str(),
                cache: r.cache.as_str(),
            },
        }),
    )
}

/// Prometheus text exposition. Gauges are read from memory, except the
/// low-stock count, which is recounted at most every ten seconds.
pub async fn metrics(State(app): State<App>) -> impl IntoResponse {
    let gauges = app.gauges().await;
    // Items are never deleted, so the catalogue size only grows: a counter.
    metrics::counter!("inventory_items_total").absolute(gauges.items_total.max(0) as u64);
    metrics::gauge!("inventory_items_active").set(gauges.items_active as f64);
    for (label, value) in [
        ("active", gauges.pool.active),
        ("idle", gauges.pool.idle),
        ("max", gauges.pool.max),
    ] {
        metrics::gauge!("inventory_db_pool_connections", "state" => label).set(f64::from(value));
    }
    if let Some(n) = gauges.low_stock {
        metrics::gauge!("inventory_low_stock_items").set(n as f64);
    }
    let mut body = telemetry::metrics().render();
    body.push_str(&telemetry::process_metrics());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
