//! Logs (tracing, JSON by default), Prometheus metrics, and the middleware
//! that gives every request an id, a log line and its metrics.

use crate::config::LogFormat;
use crate::http::extract::Client;
use axum::extract::FromRequestParts;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use inventory_core::audit::AuditContext;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("INVENTORY_REVISION");

/// Latency buckets resolving 1 ms to 5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Keeps the trace exporter alive; [`Tracing::shutdown`] flushes the spans
/// still buffered (call it before the process exits).
#[must_use]
pub struct Tracing {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Tracing {
    /// Whether spans are exported (`OTEL_EXPORTER_OTLP_ENDPOINT` set).
    pub fn enabled(&self) -> bool {
        self.provider.is_some()
    }

    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown() {
                eprintln!("warning: flushing traces failed: {e}");
            }
        }
    }
}

static TRACES_ON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether request spans are exported (see [`init_tracing`]).
pub fn traces_enabled() -> bool {
    TRACES_ON.load(std::sync::atomic::Ordering::Relaxed)
}

/// Installs the global log subscriber (once; later calls are no-ops) and,
/// with an OTLP endpoint, the OpenTelemetry layer that exports this
/// crates' `request` and use-case spans over OTLP/HTTP (JSON), whatever the
/// log filter says.
pub fn init_tracing(format: LogFormat, filter: &str, otlp_endpoint: Option<&str>) -> Tracing {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs: BoxedLayer = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
    }
    .with_filter(filter)
    .boxed();

    let mut layers = vec![logs];
    let provider = match otlp_endpoint.map(otlp_layer) {
        Some(Ok((provider, layer))) => {
            layers.push(layer);
            Some(provider)
        }
        Some(Err(e)) => {
            eprintln!("warning: OTEL_EXPORTER_OTLP_ENDPOINT: traces are off: {e}");
            None
        }
        None => None,
    };
    let installed = tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_ok();
    if installed && provider.is_some() {
        TRACES_ON.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    Tracing { provider }
}

type BoxedLayer = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;

fn otlp_layer(
    endpoint: &str,
) -> Result<(opentelemetry_sdk::trace::SdkTracerProvider, BoxedLayer), String> {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    use tracing_subscriber::Layer;

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpJson)
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .with_timeout(Duration::from_secs(5))
        .with_headers(Default::default())
        .build()
        .map_err(|e| e.to_string())?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("inventory")
        .with_attribute(opentelemetry::KeyValue::new("service.version", VERSION))
        .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let tracer = provider.tracer("inventory");
    // Only our spans, at info: the request and its use cases.
    let targets = tracing_subscriber::filter::Targets::new()
        .with_target("inventory_server", tracing::Level::INFO)
        .with_target("inventory_app", tracing::Level::INFO);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(targets)
        .boxed();
    Ok((provider, layer))
}

/// Reads W3C trace context from request headers.
struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The trace id of a valid W3C `traceparent` header (version 00).
fn traceparent_trace_id(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get("traceparent")?.to_str().ok()?;
    let mut parts = value.split('-');
    let (version, trace_id, span_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = version == "00"
        && parts.next().is_none()
        && hex(trace_id, 32)
        && hex(span_id, 16)
        && hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0')
        && span_id.bytes().any(|b| b != b'0');
    valid.then(|| trace_id.to_owned())
}

/// The process-wide Prometheus recorder.
/// Keeps the recorder's memory bounded between scrapes: histogram samples
/// are held raw until they are folded into their buckets, which only a
/// scrape (`render`) or this upkeep does. A server nobody scrapes (a small
/// shop without Prometheus) would otherwise grow by every request's
/// latency sample, forever.
pub fn spawn_metrics_upkeep() {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            metrics().run_upkeep();
        }
    });
}

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
        "inventory_max_connections",
        "Client connections served at once (INVENTORY_MAX_CONNECTIONS); more wait in the listen backlog."
    );
    describe_counter!(
        "inventory_connection_limit_waits_total",
        "Connections accepted while every connection slot was taken, which waited for one to free."
    );
    describe_counter!(
        "inventory_connection_timeouts_total",
        "Connections closed by a timeout: header (no complete request head in time) or idle (kept alive with no request)."
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
    describe_counter!(
        "inventory_reservations_expired_total",
        "Reservations the background sweeper ended because their expiry passed."
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

/// The request's id (the caller's `X-Request-Id`, or a new one), for
/// handlers that show it (the UI's error pages).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn request_id(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string())
}

/// Outer layer: request id, trace context, one log line and the request
/// metrics.
pub async fn observe(mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().as_str().to_owned();
    let span = tracing::info_span!(
        "request",
        otel.kind = "server",
        http.request.method = %method,
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        request_id = %id,
    );
    // With traces exported, the request span continues the caller's trace
    // and its own context goes back in `traceparent`; without, the
    // caller's trace id is still logged so the line can be found.
    let mut traceparent = None;
    let trace_id = if traces_enabled() {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(req.headers()))
        });
        let _ = span.set_parent(parent);
        let context = span.context();
        let otel = context.span();
        let sc = otel.span_context();
        traceparent = Some(format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        ));
        Some(sc.trace_id().to_string())
    } else {
        traceparent_trace_id(req.headers())
    };
    let mut response = next.run(req).instrument(span.clone()).await;
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
    if traces_enabled() {
        // The route is known only now; `otel.name` cannot be recorded late.
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        span.context()
            .span()
            .update_name(format!("{method} {route}"));
    }
    span.record("http.route", route.as_str());
    span.record("http.response.status_code", status);
    tracing::info!(
        request_id = %id,
        trace_id = trace_id.as_deref(),
        method = %method,
        route = %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    if let Some(value) = traceparent.and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert("traceparent", value);
    }
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

/// Makes the request's id and client address current for the audit
/// entries its use cases write (the application adds who is acting).
pub async fn audit_context(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    let (mut parts, body) = req.into_parts();
    let client_addr = match Client::from_request_parts(&mut parts, &()).await {
        Ok(Client(client)) => client.addr,
        Err(_) => None,
    };
    let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone());
    let context = AuditContext {
        actor: None,
        request_id,
        client_addr,
    };
    context
        .scope(next.run(Request::from_parts(parts, body)))
        .await
}
