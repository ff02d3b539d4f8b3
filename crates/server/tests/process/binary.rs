//! The real `inventory` binary: configuration errors, help, migrations,
//! secrets, logs, graceful shutdown and durability across `kill -9`.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_inventory");
const PASSWORD: &str = "process-test-password";

fn command(db: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("BIND_ADDR", "127.0.0.1")
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("LOG_FORMAT", "json")
        .env("INVENTORY_SHUTDOWN_TIMEOUT", "10")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// A running server, its address, and every stderr line it printed.
struct Server {
    child: Child,
    base: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn start(mut cmd: Command) -> Server {
        let mut child = cmd.spawn().expect("start inventory");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let base = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no 'listening' line; stderr so far: {seen:#?}"));
            seen.push(line.clone());
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["message"] == "listening" {
                    break format!("http://{}", v["addr"].as_str().unwrap());
                }
            }
        };
        Server {
            child,
            base,
            lines,
            seen,
        }
    }

    /// All stderr lines so far (after the process ended, all of them).
    fn drain(&mut self) -> &[String] {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
        &self.seen
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not exit");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn login(client: &reqwest::Client, base: &str, password: &str) -> String {
    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn run_to_end(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.stdout(Stdio::piped()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_exits_2_with_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let secret_file = dir.path().join("pw");
    std::fs::write(&secret_file, "from-a-file-123\n").unwrap();
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("PORT", vec![("PORT", "eighty".into())]),
        ("BIND_ADDR", vec![("BIND_ADDR", "localhost:9".into())]),
        (
            "INVENTORY_SQLITE_SYNC",
            vec![("INVENTORY_SQLITE_SYNC", "off".into())],
        ),
        ("LOG_FORMAT", vec![("LOG_FORMAT", "xml".into())]),
        (
            "INVENTORY_SHUTDOWN_TIMEOUT",
            vec![("INVENTORY_SHUTDOWN_TIMEOUT", "-1".into())],
        ),
        (
            "INVENTORY_HEADER_READ_TIMEOUT",
            vec![("INVENTORY_HEADER_READ_TIMEOUT", "0".into())],
        ),
        (
            "INVENTORY_IDLE_TIMEOUT",
            vec![("INVENTORY_IDLE_TIMEOUT", "forever".into())],
        ),
        (
            "INVENTORY_MAX_CONNECTIONS",
            vec![("INVENTORY_MAX_CONNECTIONS", "lots".into())],
        ),
        (
            "DATABASE_URL",
            vec![("DATABASE_URL", "mysql://root:hunter2@db/x".into())],
        ),
        (
            "INVENTORY_ADMIN_PASSWORD",
            vec![("INVENTORY_ADMIN_PASSWORD", "short".into())],
        ),
        (
            "INVENTORY_ADMIN_PASSWORD",
            vec![
                ("INVENTORY_ADMIN_PASSWORD", "long-enough-1".into()),
                (
                    "INVENTORY_ADMIN_PASSWORD_FILE",
                    secret_file.display().to_string(),
                ),
            ],
        ),
        (
            "INVENTORY_ADMIN_PASSWORD_FILE",
            vec![("INVENTORY_ADMIN_PASSWORD_FILE", "/nonexistent/pw".into())],
        ),
    ];
    for (variable, env) in cases {
        let mut cmd = command(&db);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let (code, _, stderr) = run_to_end(&mut cmd);
        assert_eq!(code, 2, "{variable}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(variable), "{variable} named in: {stderr}");
        assert!(!stderr.contains("hunter2"), "no secret in: {stderr}");
    }
    let (code, _, stderr) = run_to_end(command(&db).arg("--no-such-flag"));
    assert_eq!(code, 2);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!db.exists(), "a refused start touches no database");
}

#[test]
fn help_documents_everything_and_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(&dir.path().join("x.db"));
    cmd.env("INVENTORY_ADMIN_PASSWORD", "sup3r-secret-value")
        .arg("--help");
    let (code, stdout, _) = run_to_end(&mut cmd);
    assert_eq!(code, 0);
    for needle in [
        "serve",
        "migrate",
        "PORT",
        "BIND_ADDR",
        "DATABASE_URL",
        "DATABASE_URL_FILE",
        "LOG_FORMAT",
        "RUST_LOG",
        "INVENTORY_ADMIN_PASSWORD",
        "INVENTORY_ADMIN_PASSWORD_FILE",
        "INVENTORY_SHUTDOWN_TIMEOUT",
        "INVENTORY_SQLITE_SYNC",
        "INVENTORY_HEADER_READ_TIMEOUT",
        "INVENTORY_IDLE_TIMEOUT",
        "INVENTORY_MAX_CONNECTIONS",
        // What the default cap means.
        "open-file limit",
        "--port",
        "--database-url",
    ] {
        assert!(stdout.contains(needle), "--help lacks {needle}:\n{stdout}");
    }
    assert!(!stdout.contains("sup3r-secret-value"));
    let (code, stdout, _) = run_to_end(command(&dir.path().join("x.db")).args(["serve", "--help"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("INVENTORY_SQLITE_SYNC"));
}

#[test]
fn migrate_applies_the_schema_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sub/dir/inventory.db");
    let (code, _, stderr) = run_to_end(
        command(&db)
            .env("INVENTORY_ADMIN_PASSWORD", PASSWORD)
            .arg("migrate"),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(db.exists(), "the database and its folder were created");
    assert!(stderr.contains("migrations applied"));
    // Running it again is a no-op that still succeeds.
    let (code, _, _) = run_to_end(command(&db).arg("migrate"));
    assert_eq!(code, 0);
}

#[tokio::test]
async fn generated_admin_password_is_printed_once_and_logs_hold_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    let mut server = Server::start(command(&db));
    let password = server
        .seen
        .iter()
        .find_map(|l| l.split("generated password: ").nth(1))
        .expect("the generated password is printed")
        .trim()
        .to_owned();
    assert!(password.len() >= 20, "a strong password");
    let client = reqwest::Client::new();
    let token = login(&client, &server.base, &password).await;
    let res = client
        .get(format!("{}/api/v1/me", server.base))
        .bearer_auth(&token)
        .header("X-Request-Id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");
    server.signal("-TERM");
    assert!(server.wait().success());
    let lines = server.drain().to_vec();
    let logs: Vec<&String> = lines.iter().filter(|l| l.starts_with('{')).collect();
    for line in &logs {
        assert!(!line.contains(&password), "password in a log line: {line}");
        assert!(!line.contains(&token), "token in a log line: {line}");
    }
    let request_line: Value = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["request_id"] == "trace-me-42")
        .expect("a log line for the request");
    assert_eq!(request_line["method"], "GET");
    assert_eq!(request_line["route"], "/api/v1/me");
    assert_eq!(request_line["status"], 200);
    assert!(request_line["latency_ms"].as_f64().is_some());

    // A second start finds the admin and prints no password.
    let mut again = Server::start(command(&db));
    again.signal("-TERM");
    assert!(again.wait().success());
    assert!(!again
        .drain()
        .iter()
        .any(|l| l.contains("generated password")));
}

#[tokio::test]
async fn admin_password_file_is_read_without_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("admin-password");
    std::fs::write(&file, "password-from-file\n").unwrap();
    let mut cmd = command(&dir.path().join("inventory.db"));
    cmd.env("INVENTORY_ADMIN_PASSWORD_FILE", &file);
    let server = Server::start(cmd);
    login(&reqwest::Client::new(), &server.base, "password-from-file").await;
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(&dir.path().join("inventory.db"));
    cmd.env("INVENTORY_ADMIN_PASSWORD", PASSWORD);
    let mut server = Server::start(cmd);
    let client = reqwest::Client::new();
    let token = login(&client, &server.base, PASSWORD).await;
    let item: Value = client
        .post(format!("{}/api/v1/items", server.base))
        .bearer_auth(&token)
        .json(&json!({"sku": "TERM-1", "name": "In flight"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // On one connection: a first request proves it was accepted; the second
    // asks for 100-continue, whose arrival proves its handler is running.
    let body = json!({"item_id": item["id"], "kind": "receive", "quantity": 4}).to_string();
    let addr = server.base.trim_start_matches("http://").to_owned();
    let stream = std::net::TcpStream::connect(&addr).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    write!(writer, "GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    reader.read_exact(&mut vec![0; length]).unwrap();
    write!(
        writer,
        "POST /api/v1/movements HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 100"), "{line}");
    line.clear();
    reader.read_line(&mut line).unwrap();

    server.signal("-TERM");
    // Shutdown has begun once the listener refuses new connections.
    let mut refused = false;
    for _ in 0..200 {
        if std::net::TcpStream::connect(&addr).is_err() {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(refused, "the listener closed after SIGTERM");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "it waits for the request in flight"
    );
    writer.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    reader.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(server.wait().success(), "exit status 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_movements_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    let start = || {
        let mut cmd = command(&db);
        cmd.env("INVENTORY_ADMIN_PASSWORD", PASSWORD);
        Server::start(cmd)
    };
    let mut server = start();
    let client = reqwest::Client::new();
    let token = login(&client, &server.base, PASSWORD).await;
    let item: Value = client
        .post(format!("{}/api/v1/items", server.base))
        .bearer_auth(&token)
        .json(&json!({"sku": "DUR-1", "name": "Durable"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item_id = item["id"].as_str().unwrap().to_owned();

    let mut acknowledged = 0i64;
    for _round in 0..10 {
        let posts = (0..20).map(|_| {
            client
                .post(format!("{}/api/v1/movements", server.base))
                .bearer_auth(&token)
                .json(&json!({"item_id": item_id, "kind": "receive", "quantity": 1}))
                .send()
        });
        for res in futures_util::future::join_all(posts).await {
            if res.unwrap().status() == StatusCode::CREATED {
                acknowledged += 1;
            }
        }
    }
    assert_eq!(acknowledged, 200);
    server.signal("-KILL");
    server.wait();

    let server = start();
    let token = login(&client, &server.base, PASSWORD).await;
    let after: Value = client
        .get(format!("{}/api/v1/items/{item_id}", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after["on_hand"], acknowledged);
    let ledger: Value = client
        .get(format!(
            "{}/api/v1/movements?item_id={item_id}&limit=500",
            server.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ledger["movements"].as_array().unwrap().len() as i64,
        acknowledged
    );
}

/// Spans received by a minimal OTLP/HTTP (JSON) receiver: (trace id, span
/// id, parent span id, name) of every span in every export request.
type Spans = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String, String)>>>;

async fn otlp_receiver() -> (String, Spans) {
    use axum::routing::post;
    let spans: Spans = Default::default();
    let sink = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                let field = |span: &Value, name: &str| span[name].as_str().unwrap_or("").to_owned();
                let mut sink = sink.lock().unwrap();
                for rs in body["resourceSpans"].as_array().into_iter().flatten() {
                    for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                        for span in ss["spans"].as_array().into_iter().flatten() {
                            sink.push((
                                field(span, "traceId"),
                                field(span, "spanId"),
                                field(span, "parentSpanId"),
                                field(span, "name"),
                            ));
                        }
                    }
                }
                axum::Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), spans)
}

// Multi-threaded: the receiver must answer while this test blocks waiting
// for the server to exit (that is when the last spans are flushed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_continue_the_callers_trace_and_nest_use_cases() {
    let dir = tempfile::tempdir().unwrap();
    let (endpoint, spans) = otlp_receiver().await;
    let mut cmd = command(&dir.path().join("inv.db"));
    cmd.env("INVENTORY_ADMIN_PASSWORD", PASSWORD)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
    let mut server = Server::start(cmd);
    let client = reqwest::Client::new();
    let token = login(&client, &server.base, PASSWORD).await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let res = client
        .get(format!("{}/api/v1/items?limit=5", server.base))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The trace is passed on to the caller with this request's span.
    let passed_on = res.headers()["traceparent"].to_str().unwrap().to_owned();
    assert!(
        passed_on.starts_with(&format!("00-{trace_id}-")),
        "{passed_on}"
    );
    assert!(!passed_on.contains(caller_span), "{passed_on}");

    // SIGTERM flushes the spans still buffered before the process exits.
    server.signal("-TERM");
    assert!(server.wait().success());
    let spans = spans.lock().unwrap().clone();
    let request = spans
        .iter()
        .find(|(t, _, _, name)| t == trace_id && name == "GET /api/v1/items")
        .unwrap_or_else(|| panic!("no request span in the caller's trace: {spans:#?}"));
    assert_eq!(
        request.2, caller_span,
        "the request span's parent is the caller's span"
    );
    assert!(
        passed_on.contains(&request.1),
        "traceparent names the request span"
    );
    let children: Vec<&str> = spans
        .iter()
        .filter(|(t, _, parent, _)| t == trace_id && *parent == request.1)
        .map(|(_, _, _, name)| name.as_str())
        .collect();
    assert!(
        children.contains(&"list_items"),
        "use-case spans under the request: {children:?}"
    );

    // The request's log line carries the trace id.
    let logged = server.drain().iter().any(|line| {
        serde_json::from_str::<Value>(line).is_ok_and(|v| {
            v["message"] == "request" && v["route"] == "/api/v1/items" && v["trace_id"] == trace_id
        })
    });
    assert!(logged, "no request log line with trace_id {trace_id}");
}

#[tokio::test]
async fn metrics_port_serves_metrics_apart_from_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(&dir.path().join("inv.db"));
    cmd.env("INVENTORY_ADMIN_PASSWORD", PASSWORD)
        .env("METRICS_PORT", "0");
    let server = Server::start(cmd);
    let metrics_addr = server
        .seen
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message"] == "listening")
        .and_then(|v| v["metrics_addr"].as_str().map(str::to_owned))
        .expect("the listening line names metrics_addr");
    let client = reqwest::Client::new();
    let public = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let private = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(private.status(), StatusCode::OK);
    assert!(private
        .text()
        .await
        .unwrap()
        .contains("inventory_build_info"));
    let health = client
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn healthcheck_subcommand_reports_the_local_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(&dir.path().join("inv.db"));
    cmd.env("INVENTORY_ADMIN_PASSWORD", PASSWORD);
    let server = Server::start(cmd);
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let (code, _, stderr) = run_to_end(Command::new(BIN).args(["healthcheck"]).env("PORT", &port));
    assert_eq!(code, 0, "{stderr}");
    drop(server);
    // Nothing listens there any more.
    let (code, _, stderr) = run_to_end(Command::new(BIN).args(["healthcheck"]).env("PORT", &port));
    assert_eq!(code, 1);
    assert!(stderr.contains("unhealthy"), "{stderr}");
}

/// `inventory check`: 0 on a database whose figures are the ledger's; 1,
/// naming the item and the rule, once a balance was changed behind the
/// ledger's back (here by hand, in PostgreSQL).
#[tokio::test]
async fn check_exits_1_naming_each_balance_that_is_not_the_ledgers() {
    let Some(inventory_server::config::DatabaseConfig::Postgres { url, .. }) =
        crate::common::fresh_pg_database().await
    else {
        return;
    };
    let url = url.expose().to_owned();
    let pg_command = || {
        let mut cmd = command(Path::new("unused"));
        cmd.env("DATABASE_URL", &url);
        cmd
    };
    let mut start = pg_command();
    start.env("INVENTORY_ADMIN_PASSWORD", PASSWORD);
    let server = Server::start(start);
    let client = reqwest::Client::new();
    let token = login(&client, &server.base, PASSWORD).await;
    let post = |path: &str, body: Value| {
        client
            .post(format!("{}{path}", server.base))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    assert_eq!(
        post("/api/v1/items", json!({"sku": "CHK-1", "name": "Checked"}))
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    for body in [
        json!({"sku": "CHK-1", "kind": "receive", "quantity": 10}),
        json!({"sku": "CHK-1", "kind": "issue", "quantity": 3}),
        json!({"sku": "CHK-1", "kind": "adjust", "quantity": -1, "reason": "broken"}),
    ] {
        assert_eq!(
            post("/api/v1/movements", body).await.unwrap().status(),
            StatusCode::CREATED
        );
    }
    let (code, stdout, stderr) = run_to_end(pg_command().arg("check"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("ok   stock-equals-ledger"), "{stdout}");

    use sqlx::Connection;
    let mut pg = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE stock SET on_hand = on_hand + 2")
        .execute(&mut pg)
        .await
        .unwrap();
    let (code, stdout, stderr) = run_to_end(pg_command().arg("check"));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("stock-equals-ledger: item CHK-1")
            && stdout.contains("on_hand is 8, must be 6"),
        "{stdout}"
    );
    assert!(
        stdout.contains("item-equals-locations: item CHK-1"),
        "{stdout}"
    );
    assert!(stderr.contains("invariant violation"), "{stderr}");
    drop(server);
}

/// Stderr lines that are not JSON log lines: what a person reads.
fn plain_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| !l.starts_with('{')).collect()
}

#[test]
fn a_weak_first_admin_password_stops_start_up_with_one_line_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    for (password, why) in [
        ("password-1234", "too easy to guess"),
        ("Sh0rt&sweet", "too short"),
    ] {
        let db = dir.path().join(format!("{why}.db"));
        let (code, _, stderr) = run_to_end(command(&db).env("INVENTORY_ADMIN_PASSWORD", password));
        assert_eq!(code, 2, "{stderr}");
        let plain = plain_lines(&stderr);
        assert_eq!(plain.len(), 1, "one line: {stderr}");
        assert!(
            plain[0].starts_with("error: INVENTORY_ADMIN_PASSWORD: ") && plain[0].contains(why),
            "{stderr}"
        );
        assert!(!stderr.contains(password), "no secret in: {stderr}");
    }
}

async fn sign_in(base: &str, username: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn user_commands_reset_a_password_and_create_an_admin_only_when_none_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    let user = |args: &[&str]| run_to_end(command(&db).arg("user").args(args));

    // No user yet, so no enabled admin: create-admin works, once.
    let (code, stdout, stderr) = user(&["create-admin", "boss"]);
    assert_eq!(code, 0, "{stderr}");
    let first = stdout.trim().to_owned();
    assert!(first.len() >= 20 && !first.contains(' '), "{stdout}");
    let (code, stdout, stderr) = user(&["create-admin", "boss2"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    let plain = plain_lines(&stderr);
    assert_eq!(plain.len(), 1, "{stderr}");
    assert!(plain[0].contains("enabled administrator"), "{stderr}");

    let (code, _, stderr) = user(&["reset-password", "nobody"]);
    assert_eq!(code, 2, "{stderr}");
    let plain = plain_lines(&stderr);
    assert_eq!(plain, ["error: no user is named 'nobody'"], "{stderr}");
    let (code, stdout, stderr) = user(&["reset-password", "boss"]);
    assert_eq!(code, 0, "{stderr}");
    let second = stdout.trim().to_owned();
    assert_ne!(first, second);

    // Users exist: a set INVENTORY_ADMIN_PASSWORD is ignored, saying so once.
    let mut cmd = command(&db);
    cmd.env("INVENTORY_ADMIN_PASSWORD", PASSWORD);
    let server = Server::start(cmd);
    let warnings: Vec<Value> = server
        .seen
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["level"] == "WARN")
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let message = warnings[0]["message"].as_str().unwrap();
    assert!(
        message.contains("INVENTORY_ADMIN_PASSWORD")
            && message.contains("ignored")
            && message.contains("inventory user reset-password NAME"),
        "{message}"
    );
    assert_eq!(
        sign_in(&server.base, "admin", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The reset's password works, the first one no more; it must be changed.
    assert_eq!(
        sign_in(&server.base, "boss", &first).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = sign_in(&server.base, "boss", &second).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["must_change_password"], true);
    assert_eq!(body["user"]["role"], "admin");
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/items", server.base))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/password-change-required");
}

// ------------------------------------------------------------------ TLS

/// A private CA and a server certificate for 127.0.0.1 and localhost, made
/// by openssl in `dir` (ca.crt, server.crt, server.key).
fn make_certificates(openssl: &Path, dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new(openssl)
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=inventory test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
}

/// A PostgreSQL cluster that accepts TLS connections only
/// (`pg-test-cluster.sh start --tls`), removed on drop.
struct TlsPostgres {
    dir: String,
    url: String,
}

impl TlsPostgres {
    fn script() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-test-cluster.sh")
    }

    fn start(certs: &Path) -> TlsPostgres {
        let out = Command::new(Self::script())
            .arg("start")
            .arg("--tls")
            .arg(certs)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap()
                .to_owned()
        };
        TlsPostgres {
            dir: value("PG_TEST_DIR"),
            url: value("TEST_DATABASE_URL"),
        }
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .args(["stop", &self.dir])
            .status();
    }
}

/// A redis-server that accepts TLS connections only, killed on drop.
struct TlsRedis {
    port: u16,
    child: Child,
}

impl TlsRedis {
    fn start(redis_server: &Path, certs: &Path) -> TlsRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let file = |name: &str| certs.join(name).display().to_string();
        let child = Command::new(redis_server)
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--tls-cert-file",
                &file("server.crt"),
                "--tls-key-file",
                &file("server.key"),
            ])
            .args([
                "--tls-ca-cert-file",
                &file("ca.crt"),
                "--tls-auth-clients",
                "no",
            ])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        // Owned at once, so that a panic below still stops it.
        let redis = TlsRedis { port, child };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not start");
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls /ready until the cache check is `want` (bounded), returning the body.
async fn ready_with_cache(base: &str, want: &str) -> Value {
    let client = reqwest::Client::new();
    let mut last = Value::Null;
    for _ in 0..100 {
        if let Ok(res) = client.get(format!("{base}/ready")).send().await {
            last = res.json().await.unwrap_or(Value::Null);
            if last["checks"]["cache"] == want {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/ready never reported the cache {want}: {last}");
}

/// Managed PostgreSQL and Redis often require TLS: the binary reaches both
/// over TLS when told to trust their CA (`sslmode=verify-full&sslrootcert=`
/// for PostgreSQL, `rediss://` and `SSL_CERT_FILE` for Redis, which also
/// honour the platform's roots), and when it is not, it says which
/// certificate it refused. Both servers here refuse plain connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_redis_over_tls_with_a_private_ca() {
    let apt = |name: &str, package: &str| {
        crate::common::tool(
            name,
            &format!(
                "install it with `apt-get install {package}` (or run scripts/test.sh as root)"
            ),
        )
    };
    let (Some(openssl), Some(redis_server), Some(_)) = (
        apt("openssl", "openssl"),
        apt("redis-server", "redis-server"),
        apt("psql", "postgresql-client"),
    ) else {
        return;
    };
    let certs = tempfile::tempdir().unwrap();
    make_certificates(&openssl, certs.path());
    let ca = certs.path().join("ca.crt").display().to_string();
    let postgres = TlsPostgres::start(certs.path());
    let redis = TlsRedis::start(&redis_server, certs.path());
    let db = certs.path().join("unused.db");
    let verified = format!("{}?sslmode=verify-full&sslrootcert={ca}", postgres.url);

    // Trusted: both connect, and the server works.
    let mut cmd = command(&db);
    cmd.env("DATABASE_URL", &verified)
        .env("REDIS_URL", format!("rediss://127.0.0.1:{}", redis.port))
        .env("SSL_CERT_FILE", &ca)
        .env("INVENTORY_ADMIN_PASSWORD", PASSWORD);
    let server = Server::start(cmd);
    let ready = ready_with_cache(&server.base, "ok").await;
    assert_eq!(ready["checks"]["database"], "ok", "{ready}");
    let client = reqwest::Client::new();
    let token = login(&client, &server.base, PASSWORD).await;
    let created = client
        .post(format!("{}/api/v1/items", server.base))
        .bearer_auth(&token)
        .json(&json!({"sku": "TLS-1", "name": "Over TLS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    drop(server);

    // Redis's CA not trusted: the cache is degraded, and the log says why.
    let mut cmd = command(&db);
    cmd.env("DATABASE_URL", &verified)
        .env("REDIS_URL", format!("rediss://127.0.0.1:{}", redis.port));
    let mut server = Server::start(cmd);
    ready_with_cache(&server.base, "degraded").await;
    // The warning comes from the background reconnect loop: wait for it
    // (bounded), as for any line.
    let mut lines = String::new();
    for _ in 0..100 {
        lines = server.drain().join("\n");
        if lines.contains("UnknownIssuer") {
            break;
        }
    }
    assert!(
        lines.contains("UnknownIssuer"),
        "the refused certificate is named: {lines}"
    );
    drop(server);

    // PostgreSQL's CA not trusted, or no TLS at all: start-up stops, saying why.
    for (url, cause) in [
        (
            format!("{}?sslmode=verify-full", postgres.url),
            "UnknownIssuer",
        ),
        (format!("{}?sslmode=disable", postgres.url), "no encryption"),
    ] {
        let mut cmd = command(&db);
        cmd.env("DATABASE_URL", &url);
        let (code, _, stderr) = run_to_end(&mut cmd);
        assert_ne!(code, 0, "{url}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: DATABASE_URL: ") && last.contains(cause),
            "{url}: one line naming the cause: {stderr}"
        );
    }
}
