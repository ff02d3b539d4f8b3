//! Liveness, readiness and metrics.

use crate::state::AppState;
use crate::telemetry;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use serde_json::json;
use std::sync::atomic::Ordering;
use utoipa::ToSchema;

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, description = "Alive", example = json!({"status": "healthy"}))))]
pub async fn health() -> impl IntoResponse {
    Json(json!({"status": "healthy"}))
}

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

fn readiness(
    status: StatusCode,
    report: &'static str,
    database: &'static str,
    cache: &'static str,
) -> (StatusCode, Json<Readiness>) {
    (
        status,
        Json(Readiness {
            status: report,
            checks: ReadinessChecks { database, cache },
        }),
    )
}

/// Readiness: the database answers and the server is not shutting down.
#[utoipa::path(get, path = "/ready", tag = "system",
    responses((status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: shutting down, or the database does not answer", body = Readiness)))]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    // The cache is optional: without it requests go to the database, so a
    // down Redis is reported as degraded but never makes the replica unready.
    let cache = match &state.redis {
        None => "off",
        Some(redis) if redis.ping().await => "ok",
        Some(_) => "degraded",
    };
    if state.is_shutting_down() {
        return readiness(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "unknown",
            cache,
        );
    }
    match state.store.ping().await {
        Ok(()) => readiness(StatusCode::OK, "ready", "ok", cache),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            readiness(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "unavailable",
                cache,
            )
        }
    }
}

/// Prometheus text exposition. Gauges are read from memory, except the
/// low-stock count, which is recounted at most every ten seconds.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Items are never deleted, so the catalogue size only grows: a counter.
    metrics::counter!("inventory_items_total")
        .absolute(state.items_total.load(Ordering::Relaxed).max(0) as u64);
    metrics::gauge!("inventory_items_active")
        .set(state.items_active.load(Ordering::Relaxed) as f64);
    let pool = state.store.pool_stats();
    for (label, value) in [
        ("active", pool.active),
        ("idle", pool.idle),
        ("max", pool.max),
    ] {
        metrics::gauge!("inventory_db_pool_connections", "state" => label).set(f64::from(value));
    }
    if let Some(n) = state.low_stock_items().await {
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
