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
