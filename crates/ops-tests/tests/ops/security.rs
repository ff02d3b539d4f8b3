//! scripts/security-checks.sh, one check at a time: each is first pointed
//! at a fixture with a known flaw (`SECURITY_TARGET`, the fixtures in
//! tests/fixtures/security/) and must fail naming the flaw, then run on the
//! real tree and must pass. The advisories check uses the fixture advisory
//! database, so it is shown to fail without a network.
//!
//! The script exits 3 when a tool is missing (its message says how to
//! install it): a failure under `CI=true`, a loud skip otherwise.

use inventory_ops_tests::tools;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn fixture(check: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/security")
        .join(check)
}

/// Runs `scripts/security-checks.sh check`, on `target` when given (else
/// on the tree): its exit code and its output (stdout then stderr).
fn run(check: &str, target: Option<&Path>) -> (i32, String) {
    let mut cmd = Command::new(repo_root().join("scripts/security-checks.sh"));
    cmd.arg(check)
        .env_remove("SECURITY_TARGET")
        .env_remove("SECURITY_ADVISORY_DB");
    if let Some(target) = target {
        cmd.env("SECURITY_TARGET", target);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The check fails on its fixture, naming each flaw in `expected`, then
/// passes on the tree. `None` when its tool is missing (reported by
/// [`tools::missing`]).
fn fails_on_fixture_then_passes(check: &str, expected: &[&str]) -> Option<String> {
    let (code, text) = run(check, Some(&fixture(check)));
    if code == 3 {
        tools::missing(&format!("scripts/security-checks.sh {check}:\n{text}"));
        return None;
    }
    assert_eq!(
        code, 1,
        "{check} must fail on tests/fixtures/security/{check}:\n{text}"
    );
    for flaw in expected {
        assert!(
            text.contains(flaw),
            "{check} on its fixture does not name {flaw:?}:\n{text}"
        );
    }
    let (code, tree) = run(check, None);
    assert_eq!(code, 0, "{check} fails on the tree:\n{tree}");
    Some(tree)
}

#[test]
fn deny_refuses_a_banned_crate_a_copyleft_licence_and_an_advisory() {
    let Some(tree) = fails_on_fixture_then_passes(
        "deny",
        &[
            // bans: the stand-in named like the banned OpenSSL binding
            "crate 'openssl-sys = 0.9.0' is explicitly banned",
            // licences
            "GPL-3.0-only",
            "license is not explicitly allowed",
            // advisories, from the fixture database
            "RUSTSEC-2099-0001",
            "advisories FAILED, bans FAILED, licenses FAILED",
        ],
    ) else {
        return;
    };
    assert!(tree.contains("bans ok, licenses ok, sources ok"), "{tree}");
}

#[test]
fn hadolint_refuses_a_bad_dockerfile() {
    fails_on_fixture_then_passes("hadolint", &["DL3007", "DL3008", "DL3003"]);
}

#[test]
fn shellcheck_refuses_a_bad_script() {
    let Some(tree) = fails_on_fixture_then_passes("shellcheck", &["SC2086", "SC2164", "SC2045"])
    else {
        return;
    };
    // The tree's scripts are all found (scripts/, scripts/lib/, bench/, .ci/run).
    assert!(tree.contains("script(s) clean"), "{tree}");
}

#[test]
fn yamllint_refuses_bad_yaml() {
    fails_on_fixture_then_passes(
        "yamllint",
        &["(key-duplicates)", "(truthy)", "(indentation)"],
    );
}

#[test]
fn secret_scan_refuses_a_committed_password() {
    fails_on_fixture_then_passes(
        "secrets",
        &[
            "app.env:4: Basic Auth Credentials",
            "app.env:5: Secret Keyword",
        ],
    );
}

#[test]
fn semgrep_rules_each_fire_on_their_fixture() {
    if fails_on_fixture_then_passes(
        "semgrep",
        &[
            "inventory-sql-built-with-format",
            "inventory-unwrap-on-request-data",
            "inventory-unwrap-on-request-data-shadowed",
            "inventory-secret-in-log",
            "inventory-unsafe-outside-allowed-place",
            "inventory-unsafe-outside-allowed-place-main",
        ],
    )
    .is_none()
    {
        return;
    }
    // Each rule by its exact id (some ids are prefixes of others), on the
    // file that breaks it, and never on the safe forms.
    let (_, text) = run("semgrep", Some(&fixture("semgrep")));
    for rule in [
        "inventory-unwrap-on-request-data",
        "inventory-unsafe-outside-allowed-place",
    ] {
        assert!(
            text.lines()
                .any(|l| l.trim_end().ends_with(&format!(".{rule}"))),
            "semgrep does not report {rule}:\n{text}"
        );
    }
    for file in [
        "crates/store-postgres/src/bad_sql.rs",
        "crates/store-sqlite/src/bad_sql.rs",
        "crates/server/src/api/v1/bad_handler.rs",
        "crates/server/src/web/pages/bad_page.rs",
        "crates/app/src/bad_logging.rs",
        "crates/core/src/bad_unsafe.rs",
        "crates/server/src/main.rs",
    ] {
        assert!(
            text.contains(file),
            "semgrep does not report {file}:\n{text}"
        );
    }
    assert!(
        !text.contains("ok.rs"),
        "semgrep reports a safe form:\n{text}"
    );
}

#[test]
fn sbom_is_cyclonedx_with_the_binarys_dependencies() {
    if fails_on_fixture_then_passes(
        "sbom",
        &["bomFormat is not CycloneDX", "no component for axum"],
    )
    .is_none()
    {
        return;
    }
    let path = repo_root().join("target/sbom/inventory.cdx.json");
    let bom: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["metadata"]["component"]["name"], "inventory-server");
    let components = bom["components"].as_array().unwrap();
    // Runtime dependencies, from the lock file's versions.
    let lock = std::fs::read_to_string(repo_root().join("Cargo.lock")).unwrap();
    for name in ["tokio", "axum", "sqlx", "rusqlite", "argon2"] {
        let component = components
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not in the SBOM"));
        let version = component["version"].as_str().unwrap();
        assert!(
            lock.contains(&format!("name = \"{name}\"\nversion = \"{version}\"")),
            "{name} {version} is not the version Cargo.lock has"
        );
    }
    // Test-only crates are not part of the binary.
    assert!(
        !components.iter().any(|c| c["name"] == "proptest"),
        "the SBOM lists a dev-dependency"
    );
}

#[test]
fn usage_errors_exit_2() {
    let (code, text) = run("no-such-check", None);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("unknown check 'no-such-check'"), "{text}");
    let missing = Path::new("/nonexistent/security-target");
    let (code, text) = run("semgrep", Some(missing));
    assert_eq!(code, 2, "{text}");
}
