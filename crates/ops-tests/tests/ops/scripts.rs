//! The ops scripts in scripts/ run for real: the smoke test and the monitor
//! against a live `inventory`, backups to and restores from a local S3 server
//! (moto, with request signatures checked) compared row for row, the
//! password rotation against a real PostgreSQL that checks passwords, and
//! deploy/rollback through a stand-in `kubectl` (tests/fixtures/ops/kubectl)
//! that logs every call, with `kubectl kustomize` rendering for real.
//!
//! `restore_drill_sqlite` and `restore_drill_postgres` are the restore drill
//! of docs/runbooks/disaster-recovery.md.
//!
//! A missing tool fails the test under CI=true and skips it loudly otherwise.

use inventory_ops_tests::tools;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, LazyLock};
use std::time::{Duration, Instant};
use tools::{missing, tool};

/// The `inventory` binary the scripts and the tests run
/// (`inventory_ops_tests::inventory_bin_path`); a test that runs it checks
/// first that it is there (`have_bin`).
static BIN: LazyLock<PathBuf> = LazyLock::new(inventory_ops_tests::inventory_bin_path);
const PASSWORD: &str = "ops-scripts-admin-password";

const MOTO: &str = "install it in a virtualenv of its own: `python3 -m venv /opt/moto && \
     /opt/moto/bin/pip install 'moto[server]==5.2.5' && ln -sf /opt/moto/bin/moto_server /usr/local/bin/moto_server`";
const KUBECTL: &str = "install kubectl (v1.27 or later: kustomize v5), e.g. the `kubectl` package \
     of Kubernetes' apt repository";

const SCRIPTS: [&str; 7] = [
    "deploy.sh",
    "rollback.sh",
    "smoke-test.sh",
    "backup-db.sh",
    "restore-db.sh",
    "rotate-secrets.sh",
    "monitor.sh",
];

// ---------------------------------------------------------------------------
// Helpers

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// moto_server: $MOTO_SERVER, else /opt/moto/bin/moto_server, else PATH.
fn moto_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return Some(PathBuf::from(path));
    }
    let venv = PathBuf::from("/opt/moto/bin/moto_server");
    if venv.is_file() {
        return Some(venv);
    }
    tool("moto_server", MOTO)
}

/// Tools every script here needs.
fn base_tools() -> bool {
    tool("curl", "install it with `apt-get install curl`").is_some()
        && tool("jq", "install it with `apt-get install jq`").is_some()
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn run(cmd: &mut Command) -> Out {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A script of scripts/, with none of the settings it reads inherited from
/// the environment running the tests.
fn script(name: &str) -> Command {
    let mut cmd = Command::new(repo_root().join("scripts").join(name));
    for var in [
        "INVENTORY_URL",
        "INVENTORY_BIN",
        "DATABASE_URL",
        "DATABASE_URL_FILE",
        "REDIS_URL",
        "REDIS_URL_FILE",
        "INVENTORY_ADMIN_PASSWORD",
        "INVENTORY_ADMIN_PASSWORD_FILE",
        "SMOKE_USERNAME",
        "SMOKE_PASSWORD",
        "SMOKE_PASSWORD_FILE",
        "S3_ENDPOINT",
        "S3_BUCKET",
        "S3_PREFIX",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_ACCESS_KEY_ID_FILE",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SECRET_ACCESS_KEY_FILE",
        "AWS_SESSION_TOKEN",
        "AWS_SESSION_TOKEN_FILE",
        "FAKE_KUBECTL_FAIL",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("INVENTORY_BIN", &*BIN).env("LOG_FORMAT", "text");
    cmd
}

/// Whether the `inventory` binary is there; if not, says so (a failure
/// under CI=true, a loud skip otherwise).
fn have_bin() -> bool {
    inventory_ops_tests::inventory_bin().is_some()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `inventory export` of a database, without its header line (which names
/// the backend and the time of the export).
/// The rows of an export of the database, without what a restore adds of
/// its own: an import records one audit entry, `database.imported`, which
/// the end line's counts include; both are left out, so that a restored
/// copy compares equal to its source row for row.
fn export_rows(database_url: &str) -> String {
    let out = run(Command::new(&*BIN)
        .args(["export"])
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("LOG_FORMAT", "text"));
    assert_eq!(out.code, 0, "export of {database_url}: {out}");
    let mut lines = out.stdout.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["format"], "inventory-export");
    lines
        .filter(|l| !l.contains(r#""action":"database.imported""#))
        .filter(|l| !l.starts_with(r#"{"type":"end""#))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn count_rows(rows: &str, kind: &str) -> usize {
    rows.lines()
        .filter(|l| l.starts_with(&format!("{{\"type\":\"{kind}\"")))
        .count()
}

// ---------------------------------------------------------------------------
// A real `inventory serve` process

struct Server {
    child: Option<Child>,
    base: String,
    _lines: mpsc::Receiver<String>,
}

impl Server {
    fn start(database_url: &str) -> Server {
        Self::start_with(&[("DATABASE_URL", database_url)])
    }

    fn start_with(env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(&*BIN);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PORT", "0")
            .env("BIND_ADDR", "127.0.0.1")
            .env("LOG_FORMAT", "json")
            .env("INVENTORY_ADMIN_PASSWORD", PASSWORD)
            .env("INVENTORY_SHUTDOWN_TIMEOUT", "5")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
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
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["message"] == "listening" {
                    break format!("http://{}", v["addr"].as_str().unwrap());
                }
            }
            seen.push(line);
        };
        Server {
            child: Some(child),
            base,
            _lines: lines,
        }
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "inventory exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "inventory did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn login(client: &reqwest::Client, base: &str) -> String {
    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Items PREFIX-0..n, each received and partly issued, plus one refused
/// issue: rows of every kind in the export.
async fn seed(base: &str, prefix: &str, n: usize) {
    let client = reqwest::Client::new();
    let token = login(&client, base).await;
    for i in 0..n {
        let res = client
            .post(format!("{base}/api/v1/items"))
            .bearer_auth(&token)
            .json(
                &json!({"sku": format!("{prefix}-{i}"), "name": format!("Item {i} of {prefix}"),
                "unit_cost": "1.25", "reorder_point": 5, "attributes": {"z": 1.50, "a": [1, 2]}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let id = res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for (kind, quantity, want) in [
            ("receive", 10 + i as i64, StatusCode::CREATED),
            ("issue", 3, StatusCode::CREATED),
            ("issue", 1000, StatusCode::CONFLICT),
        ] {
            let res = client
                .post(format!("{base}/api/v1/movements"))
                .bearer_auth(&token)
                .json(&json!({"item_id": id, "kind": kind, "quantity": quantity}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), want, "{kind} {quantity}");
        }
    }
}

// ---------------------------------------------------------------------------
// The stand-in kubectl

struct FakeKubectl {
    dir: tempfile::TempDir,
    path: String,
    real: PathBuf,
}

impl FakeKubectl {
    fn new() -> Option<FakeKubectl> {
        let real = tool("kubectl", KUBECTL)?;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        let shim = dir.path().join("bin/kubectl");
        std::fs::copy(fixture("ops/kubectl"), &shim).unwrap();
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}:{}",
            dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Some(FakeKubectl { dir, path, real })
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// The script with the stand-in first on PATH; the log starts empty.
    fn script(&self, name: &str) -> Command {
        let _ = std::fs::remove_file(self.log());
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            if entry.file_name().to_string_lossy().starts_with("applied-") {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
        let mut cmd = script(name);
        cmd.env("PATH", &self.path)
            .env("FAKE_KUBECTL_LOG", self.log())
            .env("FAKE_KUBECTL_DIR", self.dir.path())
            .env("REAL_KUBECTL", &self.real);
        cmd
    }

    /// Every kubectl call so far, one line of arguments each.
    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn applied(&self, n: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("applied-{n}.yaml")))
            .unwrap_or_else(|e| panic!("applied-{n}.yaml: {e}"))
    }
}

/// Asserts that each pattern matches a call, in this order, and returns
/// the calls for further checks.
fn assert_calls_in_order(calls: &[String], patterns: &[&str]) {
    let mut at = 0;
    for pattern in patterns {
        match calls[at..].iter().position(|c| c.contains(pattern)) {
            Some(i) => at += i + 1,
            None => {
                panic!("no kubectl call matching {pattern:?} after call {at}; calls: {calls:#?}")
            }
        }
    }
}

fn kinds(yaml: &str) -> Vec<String> {
    yaml.lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .map(str::to_owned)
        .collect()
}

const DIGEST_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn prod_image() -> String {
    format!("registry.example.com/inventory/inventory@sha256:{DIGEST_A}")
}

// ---------------------------------------------------------------------------
// Every script: the conventions

#[test]
fn every_script_has_help_and_refuses_unknown_options() {
    for name in SCRIPTS {
        let path = repo_root().join("scripts").join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("#!/usr/bin/env bash\n"), "{name}: shebang");
        assert!(
            text.contains("\nset -euo pipefail\n"),
            "{name}: strict mode"
        );

        let help = run(script(name).arg("--help"));
        assert_eq!(help.code, 0, "{name} --help: {help}");
        assert!(
            help.stdout.starts_with(&format!("Usage: scripts/{name}")),
            "{name} --help prints its usage on stdout: {help}"
        );
        assert!(help.stderr.is_empty(), "{name} --help: {help}");
        assert!(help.stdout.contains("Exit status"), "{name}: {help}");
        if name != "monitor.sh" {
            assert!(
                help.stdout.contains("--dry-run"),
                "{name} changes things, so it has --dry-run: {help}"
            );
        }
        if !["smoke-test.sh", "monitor.sh"].contains(&name) {
            assert!(
                help.stdout.contains("--env"),
                "{name} is environment-aware: {help}"
            );
        }

        let bad = run(script(name).arg("--no-such-option"));
        assert_eq!(bad.code, 2, "{name} --no-such-option: {bad}");
        assert_eq!(bad.stderr.lines().count(), 1, "{name}: one line: {bad}");
        assert!(bad.stderr.contains("--no-such-option"), "{name}: {bad}");
        assert!(bad.stdout.is_empty(), "{name}: {bad}");
    }
}

#[test]
fn ops_scripts_pass_shellcheck() {
    let Some(shellcheck) = tool("shellcheck", "install it with `apt-get install shellcheck`")
    else {
        return;
    };
    let bad = run(Command::new(&shellcheck).arg(fixture("bad-script.sh")));
    assert_ne!(bad.code, 0, "shellcheck must reject the broken fixture");

    let root = repo_root();
    let mut files: Vec<PathBuf> = SCRIPTS
        .iter()
        .map(|s| root.join("scripts").join(s))
        .collect();
    files.push(root.join("scripts/lib/common.sh"));
    files.push(fixture("ops/kubectl"));
    let out = run(Command::new(&shellcheck)
        .args(["--shell=bash", "-x"])
        .current_dir(&root)
        .args(&files));
    assert_eq!(out.code, 0, "shellcheck:\n{out}");
}

// ---------------------------------------------------------------------------
// smoke-test.sh and monitor.sh against a live server

#[tokio::test]
async fn smoke_test_passes_on_a_live_server_and_fails_otherwise() {
    if !have_bin() {
        return;
    }
    if !base_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("smoke.db").display());
    let server = Server::start(&db);

    let out = run(script("smoke-test.sh")
        .args(["--url", &server.base, "--env", "dev"])
        .env("INVENTORY_ADMIN_PASSWORD", PASSWORD));
    assert_eq!(out.code, 0, "{out}");
    for check in [
        "ok    GET /health",
        "ok    GET /ready",
        "ok    POST /api/v1/auth/login",
        "ok    POST /api/v1/items (SMOKE-",
        "ok    POST /api/v1/movements (receive 5)",
        "ok    POST /api/v1/movements (issue 2)",
        "ok    GET /api/v1/items/{id} (on_hand 3)",
        "ok    GET /metrics (inventory_build_info{",
        "ok    clean-up",
        "ok    POST /api/v1/auth/logout",
    ] {
        assert!(out.stdout.contains(check), "{check:?} in {out}");
    }
    assert!(out
        .stdout
        .ends_with(&format!("smoke test of dev {} passed\n", server.base)));
    assert!(!out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD));

    // The password from a file, read-only: nothing written.
    let pw = dir.path().join("smoke-password");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let out = run(script("smoke-test.sh")
        .args(["--url", &server.base, "--read-only"])
        .env("SMOKE_PASSWORD_FILE", &pw));
    assert_eq!(out.code, 0, "{out}");
    assert!(!out.stdout.contains("POST /api/v1/items"), "{out}");

    // A dry run makes no request at all: a URL where nothing listens passes.
    let out = run(script("smoke-test.sh").args([
        "--url",
        &format!("http://127.0.0.1:{}", free_port()),
        "--dry-run",
    ]));
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("+ POST"), "{out}");

    // A wrong password fails at the login, naming it.
    let out = run(script("smoke-test.sh")
        .args(["--url", &server.base])
        .env("SMOKE_PASSWORD", "not-the-password"));
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("FAILED at 'POST /api/v1/auth/login': HTTP 401"),
        "{out}"
    );
    assert!(!out.stdout.contains("POST /api/v1/items"), "{out}");

    // No password at all: a usage error before any request.
    let out = run(script("smoke-test.sh").args(["--url", &server.base]));
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("SMOKE_PASSWORD"), "{out}");

    let base = server.base.clone();
    server.stop();
    // What the passing run left: one archived smoke item with nothing on
    // hand, its ledger summing to zero.
    let rows = export_rows(&db);
    let smoke: Vec<Value> = rows
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "item")
        .collect();
    assert_eq!(smoke.len(), 1, "{rows}");
    assert!(smoke[0]["sku"].as_str().unwrap().starts_with("SMOKE-"));
    assert_eq!(smoke[0]["archived"], true);
    assert_eq!(smoke[0]["on_hand"], 0);
    assert_eq!(count_rows(&rows, "movement"), 3, "{rows}");

    // The server is down: the first check fails.
    let out = run(script("smoke-test.sh")
        .args(["--url", &base])
        .env("INVENTORY_ADMIN_PASSWORD", PASSWORD));
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("FAILED at 'GET /health': no answer"),
        "{out}"
    );
}

#[tokio::test]
async fn monitor_reports_a_live_server_and_a_dead_one() {
    if !have_bin() {
        return;
    }
    if !base_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("monitor.db").display());
    let server = Server::start(&db);
    seed(&server.base, "MON", 2).await;

    let out = run(script("monitor.sh").args(["--url", &server.base]));
    assert_eq!(out.code, 0, "{out}");
    for line in [
        "health       200 {\"status\":\"healthy\"}",
        "ready        200 {",
        "build        version=\"",
        "items        total 2, active 2, low stock ",
        "errors       insufficient-stock 2",
        "movements    ",
        "status       HEALTHY",
    ] {
        assert!(out.stdout.contains(line), "{line:?} in {out}");
    }

    let out = run(script("monitor.sh").args([
        "--url",
        &server.base,
        "--watch",
        "--count",
        "2",
        "--interval",
        "1",
    ]));
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout.matches("== inventory").count(), 2, "{out}");
    assert!(out.stdout.contains("/s since the last round"), "{out}");

    let base = server.base.clone();
    server.stop();
    let out = run(script("monitor.sh").args(["--url", &base]));
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("health       DOWN"), "{out}");
    assert!(out.stdout.contains("status       UNHEALTHY"), "{out}");
}

#[test]
fn monitor_reads_the_cluster_through_kubectl() {
    let Some(kube) = FakeKubectl::new() else {
        return;
    };
    let out = run(kube.script("monitor.sh").args(["--k8s", "--env", "prod"]));
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("context inventory-prod"), "{out}");
    assert!(out.stdout.contains("successfully rolled out"), "{out}");
    assert_calls_in_order(
        &kube.calls(),
        &[
            "--context inventory-prod --namespace inventory get deployment inventory",
            "get pods -l app.kubernetes.io/name=inventory",
            "rollout status deployment/inventory --watch=false",
            "get hpa inventory",
        ],
    );

    let out = run(kube
        .script("monitor.sh")
        .args(["--k8s", "--env", "dev"])
        .env("FAKE_KUBECTL_FAIL", "rollout status"));
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("status       UNHEALTHY"), "{out}");
    assert!(
        kube.calls().iter().all(|c| !c.contains("--context")),
        "dev uses the current context: {:?}",
        kube.calls()
    );
}

// ---------------------------------------------------------------------------
// deploy.sh and rollback.sh

#[test]
fn deploy_dry_run_renders_for_real_and_changes_nothing() {
    let Some(kube) = FakeKubectl::new() else {
        return;
    };
    let render = tempfile::tempdir().unwrap();

    // dev: the dev overlay, the current context, the overlay's image.
    let out = run(kube.script("deploy.sh").args([
        "--env",
        "dev",
        "--skip-smoke-test",
        "--dry-run",
        "--render-to",
        render.path().to_str().unwrap(),
    ]));
    assert_eq!(out.code, 0, "{out}");
    let calls = kube.calls();
    assert!(
        calls.iter().all(|c| c.starts_with("kustomize ")),
        "a dry run only renders: {calls:#?}"
    );
    assert!(calls[0].ends_with("deploy/k8s/overlays/dev"), "{calls:?}");
    let commands: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("+ kubectl"))
        .collect();
    let expected = [
        "apply -f",
        "delete job inventory-migrate",
        "apply -f",
        "wait --for=condition=complete job/inventory-migrate",
        "apply -f",
        "rollout status deployment/inventory",
    ];
    assert_eq!(commands.len(), expected.len(), "{out}");
    for (command, want) in commands.iter().zip(expected) {
        assert!(
            command.contains(want),
            "{command:?} should be {want:?}: {out}"
        );
        assert!(
            command.starts_with("+ kubectl --namespace inventory "),
            "{command}"
        );
    }
    let read = |name: &str| std::fs::read_to_string(render.path().join(name)).unwrap();
    assert_eq!(kinds(&read("app.yaml")), ["Deployment"]);
    assert_eq!(kinds(&read("job.yaml")), ["Job"]);
    let rest = kinds(&read("rest.yaml"));
    assert!(rest.contains(&"StatefulSet".to_owned()) && rest.contains(&"Namespace".to_owned()));
    assert!(!rest.contains(&"Deployment".to_owned()) && !rest.contains(&"Job".to_owned()));
    assert!(read("app.yaml").contains("image: localhost/inventory:dev"));

    // prod: the prod overlay, its context, the image on the Deployment and
    // the Job, and the smoke test named (not run).
    let out = run(kube.script("deploy.sh").args([
        "--env",
        "prod",
        "--image",
        &prod_image(),
        "--url",
        "https://inventory.example.com",
        "--dry-run",
        "--render-to",
        render.path().to_str().unwrap(),
    ]));
    assert_eq!(out.code, 0, "{out}");
    assert!(kube.calls().iter().all(|c| c.starts_with("kustomize ")));
    assert!(kube.calls()[0].ends_with("deploy/k8s/overlays/prod"));
    assert!(out
        .stdout
        .contains("+ kubectl --context inventory-prod --namespace inventory apply -f"));
    assert!(out
        .stdout
        .contains("smoke-test.sh --url https://inventory.example.com --env prod"));
    for file in ["app.yaml", "job.yaml"] {
        let text = read(file);
        assert!(
            text.contains(&format!("image: {}", prod_image())),
            "{file}: {text}"
        );
        assert!(!text.contains("sha256:0000"), "{file}: placeholder left");
    }
    assert!(read("app.yaml").contains("kubernetes.io/change-cause: deploy.sh env=prod"));

    // staging: the production manifests (the prod overlay's NetworkPolicy
    // blocks) in its own cluster.
    let out = run(kube.script("deploy.sh").args([
        "--env",
        "staging",
        "--image",
        "registry.example.com/inventory/inventory:1.4.0",
        "--skip-smoke-test",
        "--dry-run",
        "--render-to",
        render.path().to_str().unwrap(),
    ]));
    assert_eq!(out.code, 0, "{out}");
    assert!(kube.calls()[0].ends_with("deploy/k8s/overlays/prod"));
    assert!(out.stdout.contains("--context inventory-staging"), "{out}");
    assert!(read("rest.yaml").contains("192.0.2.10/32"));

    // Refusals: usage errors, before anything is rendered or run.
    let image = prod_image();
    for (args, message) in [
        (
            vec!["--env", "prod", "--image", &image, "--skip-smoke-test"],
            "refusing to change prod without --yes",
        ),
        (
            vec![
                "--env",
                "prod",
                "--image",
                "registry.example.com/inventory/inventory:1.4.0",
                "--yes",
                "--skip-smoke-test",
            ],
            "pinned by digest",
        ),
        (
            vec!["--env", "staging", "--skip-smoke-test", "--dry-run"],
            "--image is required for staging",
        ),
        (vec!["--env", "dev", "--dry-run"], "--skip-smoke-test"),
        (
            vec!["--env", "qa", "--dry-run"],
            "'qa' is not one of dev, staging, prod",
        ),
    ] {
        let out = run(kube.script("deploy.sh").args(&args));
        assert_eq!(out.code, 2, "{args:?}: {out}");
        assert!(
            out.stderr.contains(message),
            "{args:?}: {message:?} in {out}"
        );
        assert!(kube.calls().is_empty(), "{args:?}: {:?}", kube.calls());
    }
}

#[tokio::test]
async fn deploy_migrates_then_rolls_out_then_smoke_tests() {
    if !have_bin() {
        return;
    }
    if !base_tools() {
        return;
    }
    let Some(kube) = FakeKubectl::new() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&format!("sqlite://{}", dir.path().join("d.db").display()));
    let deploy = |fail: Option<&str>, password: &str| {
        let mut cmd = kube.script("deploy.sh");
        cmd.args([
            "--env",
            "prod",
            "--yes",
            "--image",
            &prod_image(),
            "--url",
            &server.base,
        ])
        .env("INVENTORY_ADMIN_PASSWORD", password);
        if let Some(fail) = fail {
            cmd.env("FAKE_KUBECTL_FAIL", fail);
        }
        run(&mut cmd)
    };

    let out = deploy(None, PASSWORD);
    assert_eq!(out.code, 0, "{out}");
    let calls = kube.calls();
    assert_calls_in_order(
        &calls,
        &[
            "kustomize ",
            "apply -f ",
            "delete job inventory-migrate --ignore-not-found",
            "apply -f ",
            "wait --for=condition=complete job/inventory-migrate",
            "apply -f ",
            "rollout status deployment/inventory",
        ],
    );
    assert!(calls
        .iter()
        .filter(|c| !c.starts_with("kustomize"))
        .all(|c| c.starts_with("--context inventory-prod --namespace inventory ")));
    // First the configuration, then the Job alone, then the Deployment alone,
    // both running the released image.
    let first = kinds(&kube.applied(1));
    assert!(first.contains(&"Namespace".to_owned()) && first.contains(&"ConfigMap".to_owned()));
    assert!(!first.contains(&"Deployment".to_owned()) && !first.contains(&"Job".to_owned()));
    assert_eq!(kinds(&kube.applied(2)), ["Job"]);
    assert_eq!(kinds(&kube.applied(3)), ["Deployment"]);
    for n in [2, 3] {
        assert!(kube
            .applied(n)
            .contains(&format!("image: {}", prod_image())));
    }
    assert!(
        out.stdout
            .contains(&format!("smoke test of prod {} passed", server.base)),
        "{out}"
    );

    // The migration fails: its logs are shown and the Deployment is left alone.
    let out = deploy(Some("wait --for=condition=complete"), PASSWORD);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("the Deployment was NOT changed"),
        "{out}"
    );
    assert!(
        out.stderr.contains("migrations applied"),
        "the Job's logs: {out}"
    );
    let calls = kube.calls();
    assert!(calls
        .iter()
        .any(|c| c.contains("logs job/inventory-migrate")));
    assert!(
        !calls.iter().any(|c| c.contains("rollout status")),
        "{calls:#?}"
    );
    assert_eq!(
        calls.iter().filter(|c| c.contains(" apply -f ")).count(),
        2,
        "configuration and Job only: {calls:#?}"
    );
    assert!(!out.stdout.contains("GET /health"), "no smoke test: {out}");

    // The rollout does not complete: no smoke test, the rollback is named.
    let out = deploy(Some("rollout status"), PASSWORD);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("undo with: scripts/rollback.sh --env prod"),
        "{out}"
    );
    assert!(!out.stdout.contains("GET /health"), "no smoke test: {out}");

    // The smoke test fails after the rollout.
    let out = deploy(None, "a-wrong-password");
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("FAILED at 'POST /api/v1/auth/login'"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("the smoke test failed after the rollout; undo with: scripts/rollback.sh"),
        "{out}"
    );
    server.stop();
}

#[tokio::test]
async fn rollback_undoes_waits_and_smoke_tests() {
    if !have_bin() {
        return;
    }
    if !base_tools() {
        return;
    }
    let Some(kube) = FakeKubectl::new() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&format!("sqlite://{}", dir.path().join("r.db").display()));

    let out = run(kube
        .script("rollback.sh")
        .args([
            "--env",
            "staging",
            "--to-revision",
            "1",
            "--url",
            &server.base,
        ])
        .env("INVENTORY_ADMIN_PASSWORD", PASSWORD));
    assert_eq!(out.code, 0, "{out}");
    assert_calls_in_order(
        &kube.calls(),
        &[
            "--context inventory-staging --namespace inventory rollout history deployment/inventory",
            "--context inventory-staging --namespace inventory rollout undo deployment/inventory --to-revision=1",
            "--context inventory-staging --namespace inventory rollout status deployment/inventory",
        ],
    );
    assert!(out.stdout.contains("smoke test of staging"), "{out}");

    // A dry run reads the history and changes nothing.
    let out =
        run(kube
            .script("rollback.sh")
            .args(["--env", "prod", "--url", &server.base, "--dry-run"]));
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(kube.calls().len(), 1, "{:?}", kube.calls());
    assert!(kube.calls()[0].contains("rollout history"));
    assert!(out
        .stdout
        .contains("+ kubectl --context inventory-prod --namespace inventory rollout undo deployment/inventory\n"));

    // --list only reads.
    let out = run(kube.script("rollback.sh").args(["--env", "dev", "--list"]));
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("CHANGE-CAUSE"), "{out}");
    assert_eq!(
        kube.calls(),
        ["--namespace inventory rollout history deployment/inventory"]
    );

    // prod needs --yes; a failed rollout status is reported.
    let out = run(kube
        .script("rollback.sh")
        .args(["--env", "prod", "--skip-smoke-test"]));
    assert_eq!(out.code, 2, "{out}");
    assert!(kube.calls().is_empty());
    let out = run(kube
        .script("rollback.sh")
        .args(["--env", "prod", "--yes", "--skip-smoke-test"])
        .env("FAKE_KUBECTL_FAIL", "rollout status"));
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("newer than this binary supports"),
        "{out}"
    );
    server.stop();
}

// ---------------------------------------------------------------------------
// backup-db.sh and restore-db.sh against a local S3 (moto)

/// A moto S3 server that checks request signatures: an IAM user with an
/// access key is made first (INITIAL_NO_AUTH_ACTION_COUNT lets those three
/// calls through unsigned-for-real), then every request must be signed with
/// that key.
struct Moto {
    child: Child,
    endpoint: String,
    key_id: String,
    secret: String,
    dir: tempfile::TempDir,
}

impl Moto {
    fn start() -> Option<Moto> {
        let bin = moto_server()?;
        tool("curl", "install it with `apt-get install curl`")?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("moto.log")).unwrap();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            key_id: String::new(),
            secret: String::new(),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited with {status}: {}", moto.log());
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen: {}",
                moto.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let iam = |params: &[&str]| {
            let mut cmd = Command::new("curl");
            cmd.args([
                "-sS",
                "--aws-sigv4",
                "aws:amz:us-east-1:iam",
                "--user",
                "bootstrap:bootstrap",
            ])
            .args(["--data-urlencode", "Version=2010-05-08"]);
            for p in params {
                cmd.args(["--data-urlencode", p]);
            }
            let out = run(cmd.arg(format!("{}/", moto.endpoint)));
            assert_eq!(out.code, 0, "{out}");
            out.stdout
        };
        iam(&["Action=CreateUser", "UserName=backup"]);
        iam(&[
            "Action=PutUserPolicy",
            "UserName=backup",
            "PolicyName=s3",
            r#"PolicyDocument={"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
        ]);
        let xml = iam(&["Action=CreateAccessKey", "UserName=backup"]);
        let field = |name: &str| {
            let start = xml
                .find(&format!("<{name}>"))
                .unwrap_or_else(|| panic!("{xml}"))
                + name.len()
                + 2;
            let end = xml[start..].find('<').unwrap() + start;
            xml[start..end].to_owned()
        };
        moto.key_id = field("AccessKeyId");
        moto.secret = field("SecretAccessKey");
        std::fs::write(moto.dir.path().join("key-id"), format!("{}\n", moto.key_id)).unwrap();
        std::fs::write(moto.dir.path().join("secret"), format!("{}\n", moto.secret)).unwrap();
        Some(moto)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }

    /// A request signed with the key; returns the HTTP status and the body.
    fn s3(&self, method: &str, path: &str, upload: Option<&Path>) -> (String, String) {
        let body = self.dir.path().join("body");
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user"])
            .arg(format!("{}:{}", self.key_id, self.secret))
            .args(["-X", method, "-o"])
            .arg(&body)
            .args(["-w", "%{http_code}"]);
        match upload {
            Some(file) => {
                let sha = run(Command::new("sha256sum").arg(file)).stdout[..64].to_owned();
                cmd.args(["-H", &format!("x-amz-content-sha256: {sha}"), "-T"])
                    .arg(file);
            }
            None => {
                cmd.args(["-H", "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]);
            }
        }
        let out = run(cmd.arg(format!("{}/{path}", self.endpoint)));
        assert_eq!(out.code, 0, "{out}");
        (
            out.stdout,
            std::fs::read_to_string(&body).unwrap_or_default(),
        )
    }

    /// Downloads an object into a file (it may be binary).
    fn download(&self, path: &str, dest: &Path) {
        let (status, _) = self.s3("GET", path, None);
        assert_eq!(status, "200", "GET {path}");
        std::fs::copy(self.dir.path().join("body"), dest).unwrap();
    }

    fn keys(&self, bucket: &str) -> Vec<String> {
        let (status, xml) = self.s3("GET", &format!("{bucket}?list-type=2"), None);
        assert_eq!(status, "200", "{xml}");
        xml.split("<Key>")
            .skip(1)
            .map(|s| s.split('<').next().unwrap().to_owned())
            .collect()
    }

    /// backup-db.sh / restore-db.sh with this server and its key (from files).
    fn script(&self, name: &str, bucket: &str) -> Command {
        let mut cmd = script(name);
        cmd.env("S3_ENDPOINT", &self.endpoint)
            .env("S3_BUCKET", bucket)
            .env("AWS_ACCESS_KEY_ID_FILE", self.dir.path().join("key-id"))
            .env("AWS_SECRET_ACCESS_KEY_FILE", self.dir.path().join("secret"));
        cmd
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs restore-db.sh, timing it; prints the time (it is not asserted).
fn timed_restore(moto: &Moto, bucket: &str, target: &str, args: &[&str], label: &str) -> Out {
    let started = Instant::now();
    let out = run(moto
        .script("restore-db.sh", bucket)
        .args(args)
        .env("DATABASE_URL", target));
    println!(
        "restore drill ({label}): restore-db.sh {} took {:.3} s",
        args.join(" "),
        started.elapsed().as_secs_f64()
    );
    out
}

/// The disaster-recovery drill on SQLite (docs/runbooks/disaster-recovery.md):
/// back up to S3, restore into a fresh database, compare every row; pick
/// the newest complete backup; refuse a tampered one without touching the
/// target.
#[tokio::test]
async fn restore_drill_sqlite() {
    if !have_bin() {
        return;
    }
    let Some(moto) = Moto::start() else {
        return;
    };
    if !base_tools() {
        return;
    }
    let bucket = "inventory-backups";
    let (status, body) = moto.s3("PUT", bucket, None);
    assert_eq!(status, "200", "{body}");

    let dir = tempfile::tempdir().unwrap();
    let db = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let source = db("source.db");
    let server = Server::start(&source);
    seed(&server.base, "DRILL", 3).await;
    server.stop();
    let first_rows = export_rows(&source);
    assert_eq!(count_rows(&first_rows, "item"), 3);
    assert_eq!(count_rows(&first_rows, "movement"), 6);

    // A dry run uploads nothing.
    let out = run(moto
        .script("backup-db.sh", bucket)
        .args(["--env", "prod", "--dry-run"])
        .env("DATABASE_URL", &source));
    assert_eq!(out.code, 0, "{out}");
    assert!(moto.keys(bucket).is_empty());

    let backup = || {
        let out = run(moto
            .script("backup-db.sh", bucket)
            .args(["--env", "prod"])
            .env("DATABASE_URL", &source));
        assert_eq!(out.code, 0, "{out}");
        let uri = out.stdout.trim().to_owned();
        let key = uri
            .strip_prefix(&format!("s3://{bucket}/"))
            .unwrap_or_else(|| panic!("{out}"))
            .to_owned();
        assert!(
            key.starts_with("inventory/prod/") && key.ends_with(".db"),
            "{key}"
        );
        key
    };
    let first = backup();
    assert_eq!(
        moto.keys(bucket),
        [first.clone(), format!("{first}.sha256")]
    );
    let (_, checksum) = moto.s3("GET", &format!("{bucket}/{first}.sha256"), None);
    let name = first.rsplit('/').next().unwrap();
    assert!(
        checksum.ends_with(&format!("  {name}\n")),
        "sha256sum format: {checksum}"
    );

    // The drill: restore the latest backup into a fresh database; identical rows.
    let restored = db("restored.db");
    let out = timed_restore(
        &moto,
        bucket,
        &restored,
        &["--env", "staging", "--from-env", "prod", "--latest"],
        "SQLite",
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .contains(&format!("latest backup of prod: s3://{bucket}/{first}")),
        "{out}"
    );
    assert_eq!(export_rows(&restored), first_rows);

    // More data, a second backup, and a newer object that has no .sha256 (a
    // backup cut short): --latest takes the second backup.
    let server = Server::start(&source);
    seed(&server.base, "LATER", 1).await;
    server.stop();
    let second_rows = export_rows(&source);
    assert_ne!(second_rows, first_rows);
    let second = backup();
    assert!(second > first, "{second} sorts after {first}");
    let partial = dir.path().join("partial");
    std::fs::write(&partial, "cut short").unwrap();
    let cut_short = "inventory/prod/29991231T235959.999Z.db";
    let (status, body) = moto.s3("PUT", &format!("{bucket}/{cut_short}"), Some(&partial));
    assert_eq!(status, "200", "{body}");

    let out = run(moto
        .script("restore-db.sh", bucket)
        .args(["--env", "prod", "--list"]));
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, format!("{first}\n{second}\n"), "{out}");

    let restored = db("restored-latest.db");
    let out = timed_restore(
        &moto,
        bucket,
        &restored,
        &["--env", "staging", "--from-env", "prod", "--latest"],
        "SQLite, latest of two",
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .contains(&format!("skipping s3://{bucket}/{cut_short}")),
        "{out}"
    );
    assert_eq!(export_rows(&restored), second_rows);

    // A named backup, given as the URI backup-db.sh printed.
    let restored = db("restored-first.db");
    let uri = format!("s3://{bucket}/{first}");
    let out = timed_restore(
        &moto,
        bucket,
        &restored,
        &["--env", "dev", "--from-env", "prod", "--key", &uri],
        "SQLite, by key",
    );
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(export_rows(&restored), first_rows);

    // A non-empty target is refused by `inventory restore` (exit 2).
    let out = run(moto
        .script("restore-db.sh", bucket)
        .args(["--env", "dev", "--from-env", "prod", "--key", &second])
        .env("DATABASE_URL", &restored));
    assert_eq!(out.code, 2, "{out}");
    assert_eq!(
        export_rows(&restored),
        first_rows,
        "the target is untouched"
    );

    // Tampered with: the second backup's object replaced by the first's bytes
    // (a valid database, only the checksum can tell). Refused with exit 3,
    // and an empty target that would have been accepted stays as it was.
    let first_file = dir.path().join("first.db");
    moto.download(&format!("{bucket}/{first}"), &first_file);
    let (status, body) = moto.s3("PUT", &format!("{bucket}/{second}"), Some(&first_file));
    assert_eq!(status, "200", "{body}");
    let target_path = dir.path().join("empty.db");
    let target = db("empty.db");
    let out = run(Command::new(&*BIN)
        .arg("migrate")
        .env("DATABASE_URL", &target)
        .env("LOG_FORMAT", "text"));
    assert_eq!(out.code, 0, "{out}");
    let before = std::fs::read(&target_path).unwrap();
    let out = run(moto
        .script("restore-db.sh", bucket)
        .args(["--env", "dev", "--from-env", "prod", "--key", &second])
        .env("DATABASE_URL", &target));
    assert_eq!(out.code, 3, "{out}");
    assert!(
        out.stderr
            .contains(&format!("sha256 mismatch for s3://{bucket}/{second}")),
        "{out}"
    );
    assert!(out.stderr.contains("nothing was restored"), "{out}");
    assert_eq!(
        std::fs::read(&target_path).unwrap(),
        before,
        "the target is untouched"
    );
    // --dry-run verifies too.
    let out = run(moto.script("restore-db.sh", bucket).args([
        "--env",
        "prod",
        "--key",
        &second,
        "--dry-run",
    ]));
    assert_eq!(out.code, 3, "{out}");

    // The server checks signatures: a wrong secret is refused.
    let out = run(moto
        .script("restore-db.sh", bucket)
        .args(["--env", "prod", "--list"])
        .env_remove("AWS_SECRET_ACCESS_KEY_FILE")
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret"));
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("HTTP 403, SignatureDoesNotMatch"),
        "{out}"
    );

    // Prod needs --yes to restore.
    let out = run(moto
        .script("restore-db.sh", bucket)
        .args(["--env", "prod", "--latest"])
        .env("DATABASE_URL", db("never.db")));
    assert_eq!(out.code, 2, "{out}");
    assert!(!dir.path().join("never.db").exists());
}

/// The same drill on PostgreSQL (prod's backend): the backup is an export
/// (.jsonl), restored into a fresh database and compared row for row.
#[tokio::test]
async fn restore_drill_postgres() {
    if !have_bin() {
        return;
    }
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        missing(
            "TEST_DATABASE_URL is not set: run scripts/test.sh, or start a cluster with \
                 scripts/pg-test-cluster.sh (needs apt-get install postgresql)",
        );
        return;
    };
    let Some(psql) = tool(
        "psql",
        "install it with `apt-get install postgresql-client`",
    ) else {
        return;
    };
    let Some(moto) = Moto::start() else {
        return;
    };
    if !base_tools() {
        return;
    }
    let (base_url, _) = admin_url.rsplit_once('/').unwrap();
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    let mut urls = Vec::new();
    for name in ["drill_src", "drill_dst"] {
        let name = format!("{name}_{suffix}");
        let out = run(Command::new(&psql).arg(&admin_url).args([
            "-X",
            "-q",
            "-c",
            &format!("CREATE DATABASE {name} TEMPLATE template0"),
        ]));
        assert_eq!(out.code, 0, "{out}");
        urls.push(format!("{base_url}/{name}"));
    }
    let bucket = "inventory-backups-pg";
    let (status, body) = moto.s3("PUT", bucket, None);
    assert_eq!(status, "200", "{body}");

    let server = Server::start(&urls[0]);
    seed(&server.base, "PGDRILL", 3).await;
    server.stop();
    let rows = export_rows(&urls[0]);
    assert_eq!(count_rows(&rows, "item"), 3);

    let url_file = moto.dir.path().join("database-url");
    std::fs::write(&url_file, format!("{}\n", urls[0])).unwrap();
    let out = run(moto
        .script("backup-db.sh", bucket)
        .args(["--env", "prod", "--prefix", "pg"])
        .env("DATABASE_URL_FILE", &url_file));
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.trim().ends_with(".jsonl"), "{out}");

    let out = {
        let mut cmd = moto.script("restore-db.sh", bucket);
        cmd.args([
            "--env",
            "staging",
            "--from-env",
            "prod",
            "--prefix",
            "pg",
            "--latest",
        ]);
        let started = Instant::now();
        let out = run(cmd.env("DATABASE_URL", &urls[1]));
        println!(
            "restore drill (PostgreSQL): restore-db.sh --latest took {:.3} s",
            started.elapsed().as_secs_f64()
        );
        out
    };
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(export_rows(&urls[1]), rows);
}

// ---------------------------------------------------------------------------
// rotate-secrets.sh against a PostgreSQL that checks passwords

fn cluster_script() -> PathBuf {
    repo_root().join("scripts/pg-test-cluster.sh")
}

/// A private cluster whose TCP connections need a password (SCRAM), except
/// for the superuser `postgres`; stopped on drop.
struct PasswordCluster {
    dir: String,
    admin_url: String,
    port: String,
}

impl PasswordCluster {
    fn start(psql: &Path) -> Option<PasswordCluster> {
        let have_postgres =
            std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|mut d| d.next().is_some());
        if !have_postgres {
            missing("PostgreSQL not found: install it with `apt-get install postgresql` (or run scripts/test.sh as root)");
            return None;
        }
        let out = run(Command::new(cluster_script()).arg("start"));
        assert_eq!(out.code, 0, "{out}");
        let value = |name: &str| {
            out.stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap()
                .to_owned()
        };
        let admin_url = value("TEST_DATABASE_URL");
        let port = admin_url
            .rsplit(':')
            .next()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let cluster = PasswordCluster {
            dir: value("PG_TEST_DIR"),
            admin_url,
            port,
        };
        let hba = cluster.sql(psql, "SHOW hba_file");
        std::fs::write(
            hba.trim(),
            "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
        assert_eq!(cluster.sql(psql, "SELECT pg_reload_conf()").trim(), "t");
        Some(cluster)
    }

    fn sql(&self, psql: &Path, sql: &str) -> String {
        let out = run(Command::new(psql)
            .arg(&self.admin_url)
            .args(["-X", "-q", "-A", "-t", "-c", sql]));
        assert_eq!(out.code, 0, "{sql}: {out}");
        out.stdout
    }
}

impl Drop for PasswordCluster {
    fn drop(&mut self) {
        let _ = Command::new(cluster_script())
            .args(["stop", &self.dir])
            .status();
    }
}

fn connects(psql: &Path, url: &str) -> bool {
    run(Command::new(psql)
        .arg(url)
        .args(["-X", "-q", "-A", "-t", "-c", "SELECT 1"]))
    .code
        == 0
}

#[tokio::test]
async fn rotate_secrets_changes_the_postgres_password_in_place() {
    if !have_bin() {
        return;
    }
    let Some(psql) = tool(
        "psql",
        "install it with `apt-get install postgresql-client`",
    ) else {
        return;
    };
    if tool("python3", "install it with `apt-get install python3`").is_none() || !base_tools() {
        return;
    }
    let Some(cluster) = PasswordCluster::start(&psql) else {
        return;
    };
    cluster.sql(
        &psql,
        "CREATE ROLE inventory_app LOGIN PASSWORD 'first-password'",
    );
    cluster.sql(&psql, "CREATE DATABASE inventory_rot OWNER inventory_app");
    let old_url = format!(
        "postgres://inventory_app:first-password@127.0.0.1:{}/inventory_rot",
        cluster.port
    );
    assert!(connects(&psql, &old_url));
    assert!(
        !connects(&psql, &old_url.replace("first-password", "wrong")),
        "passwords are checked"
    );

    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("database-url");
    std::fs::write(&url_file, format!("{old_url}\n")).unwrap();
    std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let server = Server::start_with(&[("DATABASE_URL_FILE", url_file.to_str().unwrap())]);
    let rotate = |args: &[&str]| {
        run(script("rotate-secrets.sh")
            .args([
                "--env",
                "dev",
                "--local",
                "--database-url-file",
                url_file.to_str().unwrap(),
            ])
            .args(args))
    };

    // A dry run and a wrong --role change nothing.
    let out = rotate(&["--role", "inventory_app", "--dry-run"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains("ALTER ROLE \"inventory_app\" PASSWORD 'SCRAM-SHA-256$4096:"),
        "{out}"
    );
    let out = rotate(&["--role", "someone_else"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("is for role 'inventory_app'"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&url_file).unwrap(),
        format!("{old_url}\n")
    );
    assert!(connects(&psql, &old_url));

    let out = rotate(&[
        "--role",
        "inventory_app",
        "--url",
        &server.base,
        "--timeout",
        "30",
    ]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("/ready answers 200"), "{out}");
    let new_url = std::fs::read_to_string(&url_file)
        .unwrap()
        .trim_end()
        .to_owned();
    assert_ne!(new_url, old_url);
    let (prefix, rest) = new_url.split_once('@').unwrap();
    let password = prefix.strip_prefix("postgres://inventory_app:").unwrap();
    assert_eq!(password.len(), 64);
    assert!(password.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(rest, format!("127.0.0.1:{}/inventory_rot", cluster.port));
    assert_eq!(
        std::fs::metadata(&url_file).unwrap().permissions().mode() & 0o777,
        0o640,
        "the file keeps its mode"
    );
    assert!(!connects(&psql, &old_url), "the old password is refused");
    assert!(connects(&psql, &new_url), "the new password works");
    let stored = cluster.sql(
        &psql,
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'inventory_app'",
    );
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    assert!(
        !out.stderr.contains(password) && !out.stdout.contains(password),
        "{out}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no staged file left: {leftovers:?}");
    server.stop();

    // A given password, from a file: characters that URLs reserve are
    // percent-encoded, and the result connects.
    let password_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(password_file.path(), "p@ss/w:rd#%given! 1\n").unwrap();
    let out = rotate(&[
        "--new-password-file",
        password_file.path().to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{out}");
    let given_url = std::fs::read_to_string(&url_file)
        .unwrap()
        .trim_end()
        .to_owned();
    assert_eq!(
        given_url,
        format!(
            "postgres://inventory_app:p%40ss%2Fw%3Ard%23%25given%21%201@127.0.0.1:{}/inventory_rot",
            cluster.port
        )
    );
    assert!(connects(&psql, &given_url));
    assert!(
        !connects(&psql, &new_url),
        "the previous password is refused"
    );
    let new_url = given_url;
    let out = rotate(&["--new-password", "too-short"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("12 to 1024 printable ASCII characters"),
        "{out}"
    );

    // Kubernetes mode: every key of the Secret is applied again, only
    // database-url changed.
    let Some(kube) = FakeKubectl::new() else {
        return;
    };
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    std::fs::write(
        kube.dir.path().join("secret.txt"),
        format!(
            "admin-password {}\ndatabase-url {}\nredis-url {}\n",
            b64.encode("admin-secret-1"),
            b64.encode(&new_url),
            b64.encode("redis://:r@redis:6379/")
        ),
    )
    .unwrap();
    let out = run(kube
        .script("rotate-secrets.sh")
        .args(["--env", "prod", "--dry-run"]));
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains("create secret generic inventory-secrets --from-file=admin-password="),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("| kubectl --context inventory-prod --namespace inventory apply -f -"),
        "{out}"
    );
    assert!(
        !kube.calls().iter().any(|c| c.contains("apply")),
        "{:?}",
        kube.calls()
    );
    assert!(connects(&psql, &new_url), "a dry run changes no password");

    let out = run(kube
        .script("rotate-secrets.sh")
        .args(["--env", "prod", "--yes"]));
    assert_eq!(out.code, 0, "{out}");
    let applied = kube.applied(1);
    let value = |key: &str| {
        let line = applied
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("{key} in {applied}"));
        String::from_utf8(b64.decode(line).unwrap()).unwrap()
    };
    assert_eq!(value("admin-password"), "admin-secret-1");
    assert_eq!(value("redis-url"), "redis://:r@redis:6379/");
    let newest = value("database-url");
    assert_ne!(newest, new_url);
    assert!(connects(&psql, &newest), "the applied URL works");
    assert!(!connects(&psql, &new_url), "the one before is refused");
}

// ---------------------------------------------------------------------------
// The runbooks

const RUNBOOKS: [&str; 5] = [
    "deployment.md",
    "rollback.md",
    "incident-response.md",
    "disaster-recovery.md",
    "secret-rotation.md",
];

/// The commands in the ```sh blocks of a Markdown file: continuation lines
/// joined, comments dropped, pipelines split.
fn runbook_commands(text: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_block = !in_block && trimmed == "```sh";
            continue;
        }
        if !in_block || trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(trimmed);
                commands.extend(current.split(" | ").map(|c| c.trim().to_owned()));
                current.clear();
            }
        }
    }
    assert!(current.is_empty(), "a continuation line ends a block");
    commands
}

#[test]
fn runbook_commands_are_shipped_and_their_options_exist() {
    let root = repo_root();
    let inventory_commands = [
        "serve",
        "migrate",
        "backup",
        "restore",
        "export",
        "import",
        "healthcheck",
    ];
    let mut seen_scripts = std::collections::BTreeSet::new();
    for name in RUNBOOKS {
        let text = std::fs::read_to_string(root.join("docs/runbooks").join(name)).unwrap();
        let commands = runbook_commands(&text);
        assert!(!commands.is_empty(), "{name} has commands");
        for command in commands {
            // Leading VAR=value assignments are the environment.
            let words: Vec<&str> = command
                .split_whitespace()
                .skip_while(|w| {
                    w.split_once('=').is_some_and(|(k, _)| {
                        !k.is_empty()
                            && k.bytes()
                                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                    })
                })
                .collect();
            let program = words.first().copied().unwrap_or_default();
            match program {
                "kubectl" | "promtool" | "amtool" | "cargo" => {}
                "inventory" => assert!(
                    inventory_commands.contains(&words[1]),
                    "{name}: `{command}`: no such inventory subcommand"
                ),
                script if script.starts_with("scripts/") => {
                    let path = root.join(script);
                    assert!(
                        path.is_file(),
                        "{name}: `{command}`: {script} does not exist"
                    );
                    let help = run(Command::new(&path).arg("--help"));
                    assert_eq!(help.code, 0, "{script} --help: {help}");
                    for option in words.iter().filter(|w| w.starts_with("--")) {
                        let option = option.split('=').next().unwrap();
                        let documented = help.stdout.match_indices(option).any(|(i, _)| {
                            !help.stdout[i + option.len()..]
                                .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
                        });
                        assert!(documented, "{name}: `{command}`: {script} has no {option}");
                    }
                    seen_scripts.insert(script.to_owned());
                }
                other => panic!("{name}: `{command}`: {other} is not a command the project ships"),
            }
        }
    }
    for script in [
        "deploy.sh",
        "rollback.sh",
        "smoke-test.sh",
        "backup-db.sh",
        "restore-db.sh",
        "rotate-secrets.sh",
        "monitor.sh",
    ] {
        assert!(
            seen_scripts.contains(&format!("scripts/{script}")),
            "no runbook uses {script}"
        );
    }

    // The disaster-recovery runbook states its targets and names the drill
    // that this file performs.
    let dr = std::fs::read_to_string(root.join("docs/runbooks/disaster-recovery.md")).unwrap();
    assert!(dr.contains("**RPO**") && dr.contains("**RTO**"));
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ops/scripts.rs"))
            .unwrap();
    for drill in ["restore_drill_sqlite", "restore_drill_postgres"] {
        assert!(dr.contains(drill), "disaster-recovery.md names {drill}");
        assert!(
            source.contains(&format!("async fn {drill}()")),
            "{drill} exists"
        );
    }
}
