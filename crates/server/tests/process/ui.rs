//! The web UI in real headless Chromium against the real binary, on SQLite
//! and on PostgreSQL: `e2e/ui.mjs` (playwright-core driving Debian's
//! chromium, axe-core auditing every page at desktop and phone width) runs
//! its flows twice, with JavaScript on and off, and writes screenshots to
//! `target/ui-screenshots/`.

use crate::common::{fresh_pg_database, tool};
use inventory_server::config::DatabaseConfig;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_inventory");
const PASSWORD: &str = "ui-admin-password-1";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// node, chromium, and e2e/node_modules (`npm ci` in e2e/); when one is
/// missing, a failure under CI=true and a loud skip otherwise.
fn prerequisites() -> Option<(PathBuf, PathBuf)> {
    let node = tool(
        "node",
        "install it with `apt-get install nodejs` (or run scripts/test.sh as root)",
    )?;
    let chromium = tool(
        "chromium",
        "install it with `apt-get install chromium` (or run scripts/test.sh as root)",
    )?;
    if !repo().join("e2e/node_modules/playwright-core").is_dir() {
        let msg = "e2e/node_modules is missing: run `npm ci` in e2e/ (scripts/test.sh does)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return None;
    }
    Some((node, chromium))
}

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(database_url: Option<String>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("inventory.db").display()));
    let mut child = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("BIND_ADDR", "127.0.0.1")
        .env("DATABASE_URL", url)
        .env("INVENTORY_ADMIN_PASSWORD", PASSWORD)
        .env("LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start inventory");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if v["message"] == "listening" {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
                    }
                }
                if v["level"] == "ERROR" {
                    eprintln!("server: {line}");
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server printed no 'listening' line");
    Server {
        child,
        base: format!("http://{addr}"),
        _dir: dir,
    }
}

/// Runs the flows with JavaScript on and off against `server`.
fn run_flows(server: &Server, node: &Path, chromium: &Path, backend: &str) {
    let shots = repo().join("target/ui-screenshots").join(backend);
    for javascript in ["on", "off"] {
        let output = Command::new(node)
            .arg("ui.mjs")
            .current_dir(repo().join("e2e"))
            .env("BASE_URL", &server.base)
            .env("ADMIN_PASSWORD", PASSWORD)
            .env("JAVASCRIPT", javascript)
            .env("SCREENSHOT_DIR", &shots)
            .env("CHROMIUM", chromium)
            .output()
            .expect("run node");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success(),
            "UI flows on {backend}, JavaScript {javascript}:\n{text}"
        );
        assert!(text.contains("every UI check passed"), "{text}");
    }
}

#[test]
fn the_ui_flows_work_in_chromium_on_sqlite() {
    let Some((node, chromium)) = prerequisites() else {
        return;
    };
    let server = start(None);
    run_flows(&server, &node, &chromium, "sqlite");
}

#[tokio::test]
async fn the_ui_flows_work_in_chromium_on_postgres() {
    let Some((node, chromium)) = prerequisites() else {
        return;
    };
    let Some(DatabaseConfig::Postgres { url, .. }) = fresh_pg_database().await else {
        return;
    };
    let server = start(Some(url.expose().to_owned()));
    tokio::task::spawn_blocking(move || run_flows(&server, &node, &chromium, "postgres"))
        .await
        .unwrap();
}

/// The flows can fail: a server whose pages lack what they check (here:
/// no UI at all, only a port that answers 404) is refused.
#[test]
fn the_flows_fail_against_a_server_without_the_ui() {
    let Some((node, chromium)) = prerequisites() else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found",
            );
        }
    });
    let output = Command::new(node)
        .arg("ui.mjs")
        .current_dir(repo().join("e2e"))
        .env("BASE_URL", &base)
        .env("ADMIN_PASSWORD", PASSWORD)
        .env("JAVASCRIPT", "off")
        .env(
            "SCREENSHOT_DIR",
            std::env::temp_dir().join("ui-fixture-shots"),
        )
        .env("CHROMIUM", chromium)
        .output()
        .expect("run node");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the flows passed against no UI");
    assert!(text.contains("sign-in page"), "{text}");
}

/// The accessibility audit can fail: axe-core refuses a fixture page with
/// faint text, an unlabelled field, a nameless button and no `lang`.
#[test]
fn the_accessibility_audit_fails_on_an_inaccessible_fixture() {
    let Some((node, chromium)) = prerequisites() else {
        return;
    };
    let fixture = repo().join("e2e/fixtures/inaccessible.html");
    let output = Command::new(node)
        .arg("ui.mjs")
        .current_dir(repo().join("e2e"))
        .env("AUDIT_FIXTURE", fixture.canonicalize().unwrap())
        .env("CHROMIUM", chromium)
        .output()
        .expect("run node");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "axe-core passed the fixture");
    for rule in ["color-contrast", "label", "button-name", "html-has-lang"] {
        assert!(text.contains(rule), "{rule} not reported: {text}");
    }
}
