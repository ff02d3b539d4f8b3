//! The OpenAPI document against the real server, checked by schemathesis:
//! it generates requests from `/api/openapi.json` (examples, boundary
//! values, then random ones, valid and not) and fails on a 5xx, a status the
//! operation does not document, a content type it does not document, or a
//! body that does not match the documented schema. The checker is first
//! shown to fail on a deliberately wrong document (a fixture).
//!
//! Left out of the run: `POST /api/v1/auth/logout`, which would end the
//! token every other request uses, and `GET /api/v1/events`, a Server-Sent
//! Events stream that never ends by itself (`events.rs` tests it).

use crate::common::tool;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_inventory");
const PASSWORD: &str = "schemathesis-admin-password";
/// The version `scripts/test.sh` installs.
const VERSION: &str = "4.32.5";
/// schemathesis's own budget for the run (`--max-time`), in seconds: the
/// fuzzing phase repeats until it is spent.
const BUDGET_SECS: u64 = 60;
/// The checks: the four of the contract (no 5xx; only documented statuses,
/// content types and bodies), plus the documented headers (`ETag`,
/// `Location`, `WWW-Authenticate`, `Retry-After`) and 405 with `Allow` for a
/// method a path does not take (a method no operation has cannot be
/// documented in OpenAPI, so this is where the 405 is checked).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,response_headers_conformance,unsupported_method";
/// Past this the run is killed and the test fails.
const HARD_LIMIT: Duration = Duration::from_secs(180);

fn schemathesis() -> Option<PathBuf> {
    tool(
        "schemathesis",
        &format!(
            "run scripts/test.sh as root, or: python3 -m venv /opt/schemathesis && \
             /opt/schemathesis/bin/pip install 'schemathesis=={VERSION}' && \
             ln -sf /opt/schemathesis/bin/schemathesis /opt/pinned-tools/bin/ \
             (with /opt/pinned-tools/bin first on PATH)"
        ),
    )
}

/// The real binary on a fresh SQLite file, with every log line it writes
/// kept (read all along, so that a busy run never blocks on a full pipe).
struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PORT", "0")
            .env("BIND_ADDR", "127.0.0.1")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("inventory.db").display()),
            )
            .env("INVENTORY_ADMIN_PASSWORD", PASSWORD)
            .env("LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start inventory");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let kept = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v["message"] == "listening" {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
                        }
                    }
                }
                kept.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "the server printed no 'listening' line: {:#?}",
                    log.lock().unwrap()
                )
            });
        Server {
            child,
            base: format!("http://{addr}"),
            log,
            _dir: dir,
        }
    }

    async fn admin_token(&self) -> String {
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Whether the server still runs, or how it ended, and its last log lines.
    fn state(&mut self) -> String {
        let status = match self.child.try_wait() {
            Ok(None) => "still running".to_owned(),
            Ok(Some(status)) => format!("exited: {status}"),
            Err(e) => format!("unknown: {e}"),
        };
        let log = self.log.lock().unwrap();
        let tail = log[log.len().saturating_sub(30)..].join("\n");
        let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis-server.log");
        let _ = std::fs::write(&kept, log.join("\n"));
        format!(
            "the server is {status}; its whole log is in {}; its last lines:\n{tail}",
            kept.display()
        )
    }

    /// The server's log lines for 5xx answers and errors.
    fn errors(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|line| match serde_json::from_str::<Value>(line) {
                Ok(v) => v["status"].as_u64().is_some_and(|s| s >= 500) || v["level"] == "ERROR",
                // Not a log record: a panic message, or worse.
                Err(_) => true,
            })
            .cloned()
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Run {
    success: bool,
    report: String,
    took: Duration,
}

/// One schemathesis run: `location` is the document (a URL, or a file with
/// `base` as the API's URL), `token` the bearer token for every request,
/// `budget` seconds its `--max-time`.
fn run_schemathesis(
    tool: &Path,
    location: &str,
    base: Option<&str>,
    token: &str,
    budget: u64,
) -> Run {
    let out_dir = tempfile::tempdir().unwrap();
    let stdout = std::fs::File::create(out_dir.path().join("stdout")).unwrap();
    let stderr = std::fs::File::create(out_dir.path().join("stderr")).unwrap();
    let mut cmd = Command::new(tool);
    cmd.arg("run").arg(location);
    if let Some(base) = base {
        cmd.args(["--url", base]);
    }
    let budget = budget.to_string();
    cmd.args([
        "--header",
        &format!("Authorization: Bearer {token}"),
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "50",
        "--max-time",
        &budget,
        "--request-timeout",
        "10",
        // Logging out would end the token of every request after it; the
        // change feed is a stream that never ends.
        "--exclude-operation-id",
        "logout",
        "--exclude-operation-id",
        "stream_events",
        "--generation-database",
        "none",
        "--no-color",
    ])
    // Its reports and caches go to the temporary directory, not the tree.
    .current_dir(out_dir.path())
    .stdin(Stdio::null())
    .stdout(stdout)
    .stderr(stderr);
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start schemathesis");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > HARD_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let took = started.elapsed();
    let report = format!(
        "{}{}",
        std::fs::read_to_string(out_dir.path().join("stdout")).unwrap_or_default(),
        std::fs::read_to_string(out_dir.path().join("stderr")).unwrap_or_default()
    );
    let Some(status) = status else {
        panic!("schemathesis still ran after {HARD_LIMIT:?} and was killed; its output:\n{report}");
    };
    Run {
        success: status.success(),
        report,
        took,
    }
}

fn check_version(tool: &Path) {
    let out = Command::new(tool).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.trim().ends_with(VERSION),
        "{} is {version:?}, not the pinned {VERSION} (scripts/test.sh installs it)",
        tool.display()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_conforms_to_its_openapi_document() {
    let Some(tool) = schemathesis() else {
        return;
    };
    check_version(&tool);
    let server = Server::start();
    let token = server.admin_token().await;
    let location = format!("{}/api/openapi.json", server.base);
    let run = tokio::task::spawn_blocking(move || {
        run_schemathesis(&tool, &location, None, &token, BUDGET_SECS)
    })
    .await
    .unwrap();
    println!("{}", run.report);
    println!("schemathesis took {:.1} s", run.took.as_secs_f64());
    let errors = server.errors();
    let mut server = server;
    assert!(
        run.success,
        "schemathesis found failures (its report is above); server errors: {errors:#?}; {}",
        server.state()
    );
    // Every selected operation was tested (the document has them all but
    // the two left out).
    let count = |label: &str| {
        run.report
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .and_then(|rest| rest.split('/').next())
            .and_then(|n| n.trim().parse::<u32>().ok())
    };
    let (selected, tested) = (count("Selected:"), count("Tested:"));
    assert!(
        selected.is_some_and(|n| n >= 18) && tested == selected,
        "schemathesis selected {selected:?} operations and tested {tested:?}:\n{}",
        run.report
    );
    assert!(errors.is_empty(), "the server logged errors: {errors:#?}");
}

/// The same invocation against a deliberately wrong document: reading an
/// item, an authenticated operation, documents only 200, so the 404 for a
/// generated id and the 401 without a token are undocumented statuses;
/// listing items documents its 422 as `application/json` while the server
/// sends problem+json.
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_fails_on_a_wrong_document() {
    let Some(tool) = schemathesis() else {
        return;
    };
    let server = Server::start();
    let token = server.admin_token().await;
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/openapi/wrong.json")
        .display()
        .to_string();
    let base = server.base.clone();
    let run = tokio::task::spawn_blocking(move || {
        // The findings come within seconds on a quiet machine (the coverage
        // phase); the budget leaves room for a busy one, where 20 s once
        // ended the run before the 401 check (still shorter than the real
        // run's).
        run_schemathesis(&tool, &fixture, Some(&base), &token, 45)
    })
    .await
    .unwrap();
    println!("{}", run.report);
    assert!(!run.success, "schemathesis passed a wrong document");
    for finding in [
        // 404 for a generated id, and 401 when schemathesis leaves the
        // token out on purpose: neither is documented in the fixture.
        "Undocumented status code",
        "Received: 404",
        "Received: 401",
        "Undocumented Content-Type",
    ] {
        assert!(
            run.report.contains(finding),
            "the report does not say '{finding}':\n{}",
            run.report
        );
    }
}
