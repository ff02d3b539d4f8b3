//! Logs (tracing, JSON by default), Prometheus metrics, and the middleware
//! that gives every request an id, a log line and its metrics.

use crate::config::LogFormat;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("INVENTORY_REVISION");

/// Latency buckets resolving 1 ms to 5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Installs the global log subscriber (once; later calls are no-ops).
pub fn init_tracing(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The process-wide Prometheus recorder.
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("inventory_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .expect("static buckets are valid")
            .install_recorder()
            .expect("the metrics recorder is installed once");
        describe();
        metrics::gauge!("inventory_build_info", "version" => VERSION, "revision" => REVISION)
            .set(1.0);
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "inventory_requests_total",
        "HTTP requests by method, route template and status."
    );
    describe_histogram!(
        "inventory_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method and route template."
    );
    describe_counter!(
        "inventory_errors_total",
        "Problem responses by problem type."
    );
    describe_counter!(
        "inventory_items_total",
        "Items in the catalogue, archived ones included (items are never deleted)."
    );
    describe_gauge!("inventory_items_active", "Items that are not archived.");
    describe_gauge!(
        "inventory_active_connections",
        "HTTP client connections open."
    );
    describe_gauge!(
        "inventory_low_stock_items",
        "Active items whose on-hand quantity is at or below their reorder point."
    );
    describe_gauge!(
        "inventory_db_pool_connections",
        "Database connections by state: active (in use), idle, max (the limit; the writer's connection included)."
    );
    describe_counter!(
        "inventory_stock_movements_total",
        "Stock movements committed, by kind."
    );
    describe_gauge!(
        "inventory_build_info",
        "Build version and git revision; always 1."
    );
}

/// The route template of the matched route, carried out to [`observe`].
#[derive(Clone)]
pub struct RouteTemplate(pub String);

/// Inner layer (route_layer): records which route template matched.
pub async fn mark_route(path: MatchedPath, req: Request, next: Next) -> Response {
    let template = path.as_str().to_owned();
    let mut response = next.run(req).await;
    response.extensions_mut().insert(RouteTemplate(template));
    response
}

fn request_id(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string())
}

/// Outer layer: request id, one log line and the request metrics.
pub async fn observe(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = request_id(&req);
    let method = req.method().as_str().to_owned();
    let span = tracing::info_span!("request", request_id = %id, method = %method);
    let mut response = next.run(req).instrument(span).await;
    let elapsed = start.elapsed();
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16();
    metrics::counter!(
        "inventory_requests_total",
        "method" => method.clone(),
        "endpoint" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(
        "inventory_request_duration_seconds",
        "method" => method.clone(),
        "endpoint" => route.clone()
    )
    .record(elapsed.as_secs_f64());
    tracing::info!(
        request_id = %id,
        method = %method,
        route = %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// The standard `process_*` metrics (as the Prometheus client libraries
/// name them), read from /proc at scrape time. Empty off Linux.
pub fn process_metrics() -> String {
    let mut out = String::new();
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return out;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    // Linux reports times in USER_HZ, 100 on every architecture Rust targets.
    const TICKS: f64 = 100.0;
    let mut metric = |name: &str, kind: &str, help: &str, value: Option<f64>| {
        if let Some(value) = value {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
    };
    let cpu = field(14).zip(field(15)).map(|(u, s)| (u + s) / TICKS);
    metric(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        cpu,
    );
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    });
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        boot.zip(field(22)).map(|(b, t)| b + t / TICKS),
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        status.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map(|v| v * 1024.0)
        })
    };
    metric(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        kib("VmRSS:"),
    );
    metric(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        kib("VmSize:"),
    );
    let open_fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as f64);
    metric(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        open_fds.ok(),
    );
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<f64>().ok())
        });
    metric(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        max_fds,
    );
    out
}
