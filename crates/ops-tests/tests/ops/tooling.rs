//! What we ship is checked by the real tools: promtool on the live /metrics
//! output, shellcheck on every shell script. Each checker is first shown to
//! fail on a broken fixture, so a pass means something.

use crate::common;
use inventory_ops_tests::tools;

use tools::apt_tool;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn promtool_check(promtool: &Path, text: &str) -> (bool, String) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

#[tokio::test]
async fn metrics_pass_promtool_check_metrics() {
    let Some(promtool) = apt_tool("promtool", "prometheus") else {
        return;
    };
    let fixture = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad-metrics.prom"),
    )
    .unwrap();
    let (ok, report) = promtool_check(&promtool, &fixture);
    assert!(!ok, "promtool must reject the broken fixture: {report}");

    let Some(app) = common::spawn_app().await else {
        return;
    };
    let item = app.create_item("PROM-1").await;
    app.receive(item["id"].as_str().unwrap(), 3).await;
    app.get("/api/v1/items/not-a-uuid").await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "inventory_requests_total",
        "inventory_request_duration_seconds_bucket",
        "inventory_errors_total",
        "inventory_items_total",
        "inventory_active_connections",
        "inventory_stock_movements_total",
        "inventory_build_info",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}");
    }
    let (ok, report) = promtool_check(&promtool, &text);
    assert!(ok, "promtool check metrics failed:\n{report}\n{text}");
    app.shutdown().await;
}

fn shell_scripts(root: &Path) -> Vec<PathBuf> {
    let mut found = vec![root.join(".ci/run")];
    for dir in ["scripts", "bench"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "sh") {
                    found.push(path);
                }
            }
        }
    }
    found.retain(|p| p.is_file());
    found.sort();
    found
}

#[test]
fn shell_scripts_pass_shellcheck() {
    let Some(shellcheck) = apt_tool("shellcheck", "shellcheck") else {
        return;
    };
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad-script.sh");
    let status = Command::new(&shellcheck)
        .arg(&fixture)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "shellcheck must reject the broken fixture"
    );

    let scripts = shell_scripts(&repo_root());
    assert!(
        scripts.len() >= 2,
        "expected .ci/run and scripts/test.sh at least: {scripts:?}"
    );
    let out = Command::new(&shellcheck)
        .args(["--shell=bash", "-x"])
        .args(&scripts)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
