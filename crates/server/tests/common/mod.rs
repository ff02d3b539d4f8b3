//! Test harness: a real server on a free loopback port with a fresh SQLite
//! database in a temp dir, driven over HTTP with reqwest.

#![allow(dead_code)]

pub mod storm;

use inventory_app::App;
use inventory_server::config::{Config, DatabaseConfig, LogFormat, Secret};
use inventory_server::{build_app, serve_with_options, telemetry, ListenerOptions};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

pub struct TestApp {
    pub base: String,
    pub addr: SocketAddr,
    pub client: Client,
    pub admin_token: String,
    pub app: App,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The backend under test: SQLite in `dir`, or with `TEST_BACKEND=postgres`
/// a fresh database in the cluster at `TEST_DATABASE_URL` (scripts/test.sh
/// starts one).
pub async fn test_database(dir: &std::path::Path) -> DatabaseConfig {
    if std::env::var("TEST_BACKEND").as_deref() != Ok("postgres") {
        return DatabaseConfig::Sqlite {
            path: dir.join("inventory.db"),
            sync_full: true,
        };
    }
    fresh_pg_database()
        .await
        .expect("TEST_BACKEND=postgres needs TEST_DATABASE_URL: run scripts/test.sh")
}

/// A fresh database in the cluster at `TEST_DATABASE_URL` (scripts/test.sh
/// starts one). Without it: a failure under CI=true, a loud skip otherwise.
pub async fn fresh_pg_database() -> Option<DatabaseConfig> {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        let msg = "TEST_DATABASE_URL is not set: run scripts/test.sh, or start a cluster with \
                   scripts/pg-test-cluster.sh (needs apt-get install postgresql)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
        return None;
    };
    use sqlx::Connection;
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to the test cluster");
    sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE template0"))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("a URL with a database name");
    Some(DatabaseConfig::Postgres {
        url: Secret::new(format!("{base}/{name}")),
        pool_size: 5,
        statement_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(5),
    })
}

pub fn test_config(database: DatabaseConfig) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database,
        log_format: LogFormat::Text,
        log_filter: "warn".into(),
        admin_password: Some(Secret::new(ADMIN_PASSWORD)),
        shutdown_timeout: Duration::from_secs(5),
        redis_url: None,
        cache_ttl: Duration::from_secs(300),
        cache_max_bytes: 64 << 20,
        metrics_listen: None,
        otlp_endpoint: None,
        database_url_file: None,
        redis_url_file: None,
        listener: ListenerOptions::default(),
        policy: Default::default(),
        audit_retention_days: 365,
    }
}

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = test_database(dir.path()).await;
    spawn_app_with(dir, database).await
}

/// Starts the server on `database`; `dir` lives as long as the app.
pub async fn spawn_app_with(dir: tempfile::TempDir, database: DatabaseConfig) -> TestApp {
    spawn_configured(dir, test_config(database), None).await
}

/// Starts the server with these timeouts and connection cap. The app's
/// client opens a connection per request: a pooled one would hold one of
/// the few connection slots, and be closed under it by a short idle
/// timeout. The login's pooled connection is closed (its client dropped).
pub async fn spawn_app_with_listener(listener: ListenerOptions) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(test_database(dir.path()).await);
    config.listener = listener;
    let mut app = spawn_configured(dir, config, None).await;
    app.client = Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    app
}

/// Starts the server with `change` applied to the test configuration.
pub async fn spawn_app_configured(change: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(test_database(dir.path()).await);
    change(&mut config);
    spawn_configured(dir, config, None).await
}

async fn spawn_configured(
    dir: tempfile::TempDir,
    mut config: Config,
    redis_url: Option<&str>,
) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        // Never shut down: the test process ends with it installed.
        std::mem::forget(telemetry::init_tracing(LogFormat::Text, "info", None));
    }
    telemetry::metrics();
    config.redis_url = redis_url.map(Secret::new);
    let app = build_app(&config).await.expect("the application");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_with_options(
        app.clone(),
        listener,
        None,
        config.listener,
        async move {
            let _ = stopped.await;
        },
        config.shutdown_timeout,
    ));
    let client = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut app = TestApp {
        base: format!("http://{addr}"),
        addr,
        client,
        admin_token: String::new(),
        app,
        dir,
        stop: Some(stop),
        server: Some(server),
    };
    app.admin_token = app.login("admin", ADMIN_PASSWORD).await;
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let res = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "login of {username}");
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a user with `role` and returns a token for it.
    pub async fn token_for(&self, role: &str) -> String {
        let username = format!("{role}-{}", uuid::Uuid::now_v7().simple());
        let res = self
            .send(
                Method::POST,
                &self.admin_token,
                "/api/v1/users",
                Some(json!({"username": username, "password": "user-password-for-tests", "role": role})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        self.login(&username, "user-password-for-tests").await
    }

    pub async fn send(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, &self.admin_token, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send(Method::POST, &self.admin_token, path, Some(body))
            .await
    }

    /// GET as admin, asserting 200, returning the JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.unwrap()
    }

    /// Creates an item with `sku` as admin and returns its JSON.
    pub async fn create_item(&self, sku: &str) -> Value {
        self.create_item_with(json!({"sku": sku, "name": format!("Item {sku}")}))
            .await
    }

    pub async fn create_item_with(&self, body: Value) -> Value {
        let res = self.post("/api/v1/items", body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    pub async fn create_location(&self, code: &str) -> Value {
        let res = self
            .post(
                "/api/v1/locations",
                json!({"code": code, "name": format!("Location {code}")}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    /// Posts a movement as admin; returns status and body.
    pub async fn movement(&self, body: Value) -> (StatusCode, Value) {
        let res = self.post("/api/v1/movements", body).await;
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn receive(&self, item_id: &str, quantity: i64) -> Value {
        let (status, body) = self
            .movement(json!({"item_id": item_id, "kind": "receive", "quantity": quantity}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// The item's total on hand and the sum of its ledger, which must agree.
    pub async fn on_hand_and_ledger(&self, item_id: &str) -> (i64, i64) {
        let item = self.get_json(&format!("/api/v1/items/{item_id}")).await;
        let ledger = self
            .app
            .store()
            .ledger_sum(item_id.parse().unwrap())
            .await
            .unwrap();
        (item["on_hand"].as_i64().unwrap(), ledger)
    }

    /// Stops the server: readiness turns 503, in-flight requests finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

/// Asserts a problem+json response and returns its body.
pub async fn problem(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status);
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(ct, "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"].as_u64(), Some(u64::from(status.as_u16())));
    assert!(body["type"].is_string() && body["title"].is_string() && body["detail"].is_string());
    body
}

/// One Server-Sent Event as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub id: i64,
    pub kind: String,
    pub data: Value,
}

/// An open `GET /api/v1/events` stream.
pub struct SseStream {
    response: Response,
    buffer: String,
    /// Events parsed but not yet handed out.
    ready: std::collections::VecDeque<Sse>,
}

impl SseStream {
    pub async fn open(app: &TestApp, last_event_id: Option<i64>, query: &str) -> SseStream {
        let mut req = app
            .client
            .get(app.url(&format!("/api/v1/events{query}")))
            .bearer_auth(&app.admin_token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        SseStream::from_response(req.send().await.unwrap())
    }

    /// A stream from any `text/event-stream` response (the UI's `/live`).
    pub fn from_response(response: Response) -> SseStream {
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        SseStream {
            response,
            buffer: String::new(),
            ready: Default::default(),
        }
    }

    /// Waits (30 s at most) for the server to end the stream; events still
    /// arriving before the end are returned.
    pub async fn ended(mut self) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("the stream did not end within 30 s")
                .unwrap();
            match chunk {
                Some(bytes) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                None => {
                    return self
                        .buffer
                        .lines()
                        .filter_map(|l| l.strip_prefix("data:"))
                        .map(|d| d.trim().to_owned())
                        .collect()
                }
            }
        }
    }

    /// Exactly the next `n` events (keep-alive comments skipped); fails after 30 s.
    pub async fn next(&mut self, n: usize) -> Vec<Sse> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if self.ready.len() >= n {
                return self.ready.drain(..n).collect();
            }
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}:")))
                        .map(|v| v.trim_start().to_owned())
                };
                if let (Some(id), Some(kind), Some(data)) =
                    (field("id"), field("event"), field("data"))
                {
                    self.ready.push_back(Sse {
                        id: id.parse().unwrap(),
                        kind,
                        data: serde_json::from_str(&data).unwrap(),
                    });
                }
            }
            if self.ready.len() >= n {
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("events did not arrive within 30 s")
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// `name` on PATH; when missing, a failure under CI=true (saying how to
/// `install` it) and a loud skip otherwise: nothing is skipped silently.
pub fn tool(name: &str, install: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let msg = format!("{name} not found: {install}");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// A real redis-server on a free loopback port, killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    /// Starts one; without redis-server: a failure under CI=true, a loud skip otherwise.
    pub fn start() -> Option<RedisServer> {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join("redis-server").is_file()))
            .unwrap_or(false);
        if !found {
            let msg = "redis-server not found: install it with `apt-get install redis-server` (or run scripts/test.sh as root)";
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{msg}");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = RedisServer { port, child: None };
        server.resume();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// (Re)starts the server on its port and waits until it answers.
    pub fn resume(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not start");
    }

    /// Stops it (the data goes with it, as after a crash without persistence).
    pub fn halt(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Starts the server on `database` with Redis at `redis_url`.
pub async fn spawn_app_with_redis(database: DatabaseConfig, redis_url: &str) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    spawn_configured(dir, test_config(database), Some(redis_url)).await
}

/// Posts a UI form as the session `token` with its CSRF token and `fields`.
/// (The import form is a file upload: multipart, the CSRF token inside.)
pub async fn post_form(
    app: &TestApp,
    token: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = inventory_server::web::session::csrf_token(token);
    let request = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url(path))
        .header("cookie", format!("inventory_session={token}"));
    let request = if path == "/items/import" {
        let boundary = "walkboundary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"w.csv\"\r\n\
             Content-Type: text/csv\r\n\r\nsku,name\nUIWALK-IMPORT,Walked\n\r\n--{boundary}--\r\n"
        );
        request
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
    } else {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        request.form(&form)
    };
    request.send().await.unwrap()
}
