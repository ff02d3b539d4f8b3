//! The monitoring kit in deploy/monitoring/ is checked by the real tools:
//! promtool (configuration, rules, the rules' unit tests), amtool
//! (configuration, routes), and a real Prometheus that scrapes the real
//! server with the shipped configuration and rules and is asked for every
//! expression the dashboards, rules and runbooks use. Each checker is first
//! shown to fail on a broken fixture in tests/fixtures/monitoring/.

use crate::common;
use inventory_ops_tests::tools;

use tools::apt_tool;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Every alert's `runbook_url` is this prefix plus the runbook's path in the repository.
const RUNBOOK_BASE: &str = "https://github.com/inventory-manager/inventory/blob/main/";
/// Where each severity must be routed by alertmanager.yml.
const SEVERITY_RECEIVERS: [(&str, &str); 3] = [
    ("page", "oncall-pager"),
    ("ticket", "ops-tickets"),
    ("warning", "ops-chat"),
];
/// Series Prometheus makes itself rather than scraping them.
const PROMETHEUS_SERIES: [&str; 8] = [
    "up",
    "ALERTS",
    "ALERTS_FOR_STATE",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "scrape_timeout_seconds",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn monitoring_dir() -> PathBuf {
    repo_root().join("deploy/monitoring")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/monitoring")
        .join(name)
}

/// Runs `program` with `args` in `dir`: whether it succeeded, and its stdout and stderr.
fn run<S: AsRef<std::ffi::OsStr>>(program: &Path, args: &[S], dir: &Path) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files in `dir` whose names end with `suffix`, sorted.
fn files_in(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// One recording or alerting rule of the shipped rule files.
#[derive(Debug, Clone)]
struct Rule {
    name: String,
    alert: bool,
    expr: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

fn shipped_rules() -> Vec<Rule> {
    let mut rules = Vec::new();
    for file in files_in(&monitoring_dir().join("rules"), ".yml") {
        let doc = yaml(&file);
        for group in doc["groups"].as_array().expect("groups") {
            for rule in group["rules"].as_array().expect("rules") {
                let (name, alert) = match (rule["alert"].as_str(), rule["record"].as_str()) {
                    (Some(name), None) => (name, true),
                    (None, Some(name)) => (name, false),
                    _ => panic!("{}: a rule without alert or record", file.display()),
                };
                rules.push(Rule {
                    name: name.to_owned(),
                    alert,
                    expr: rule["expr"].as_str().expect("expr").to_owned(),
                    labels: string_map(&rule["labels"]),
                    annotations: string_map(&rule["annotations"]),
                });
            }
        }
    }
    assert!(!rules.is_empty(), "no rules under deploy/monitoring/rules/");
    rules
}

fn shipped_alerts() -> Vec<Rule> {
    shipped_rules().into_iter().filter(|r| r.alert).collect()
}

/// Where the end-to-end test sends `inventory-kubernetes`'s pods and the
/// compose job's target, in place of service discovery.
struct Discovery<'a> {
    compose_target: Option<&'a str>,
    pods_file: &'a Path,
}

/// The shipped prometheus.yml with its rule files named by absolute path and
/// Kubernetes pod discovery replaced by file discovery from `pods_file`
/// (target groups with the same `__meta_kubernetes_*` labels, so the shipped
/// relabelling runs unchanged); with `compose_target`, the compose job's DNS
/// discovery is replaced by that static target too.
fn localised_config(discovery: &Discovery) -> Value {
    let mut config = yaml(&monitoring_dir().join("prometheus.yml"));
    let rule_files: Vec<Value> = config["rule_files"]
        .as_array()
        .expect("rule_files")
        .iter()
        .map(|f| json!(monitoring_dir().join(f.as_str().unwrap()).to_string_lossy()))
        .collect();
    config["rule_files"] = json!(rule_files);
    let mut seen = BTreeSet::new();
    for job in config["scrape_configs"]
        .as_array_mut()
        .expect("scrape_configs")
    {
        let job = job.as_object_mut().unwrap();
        let name = job["job_name"].as_str().unwrap().to_owned();
        match name.as_str() {
            "inventory" => {
                assert!(job.contains_key("dns_sd_configs"), "compose job: {job:?}");
                if let Some(target) = discovery.compose_target {
                    job.remove("dns_sd_configs");
                    job.insert("static_configs".into(), json!([{"targets": [target]}]));
                }
            }
            "inventory-kubernetes" => {
                assert!(
                    job.remove("kubernetes_sd_configs").is_some(),
                    "kubernetes job: {job:?}"
                );
                job.insert(
                    "file_sd_configs".into(),
                    json!([{"files": [discovery.pods_file.to_string_lossy()], "refresh_interval": "1s"}]),
                );
            }
            other => panic!("prometheus.yml: unexpected job {other}"),
        }
        seen.insert(name);
    }
    assert_eq!(seen.len(), 2, "the compose and the Kubernetes jobs");
    config
}

/// Target groups as Kubernetes pod discovery would give them: one pod of the
/// app on its `metrics` port, and three the relabelling must drop (the API
/// port of the same pod among them).
fn fake_pods(address: &str) -> Value {
    let pod = |address: &str, app: &str, port: &str, phase: &str, name: &str| {
        json!({
            "targets": [address],
            "labels": {
                "__meta_kubernetes_namespace": "inventory",
                "__meta_kubernetes_pod_name": name,
                "__meta_kubernetes_pod_node_name": "node-1",
                "__meta_kubernetes_pod_label_app": app,
                "__meta_kubernetes_pod_container_port_name": port,
                "__meta_kubernetes_pod_phase": phase,
            }
        })
    };
    json!([
        pod(
            address,
            "inventory",
            "metrics",
            "Running",
            "inventory-7c9d-x2x4q"
        ),
        pod(
            "127.0.0.1:1",
            "postgres",
            "metrics",
            "Running",
            "postgres-0"
        ),
        pod(
            "127.0.0.1:2",
            "inventory",
            "http",
            "Running",
            "inventory-7c9d-x2x4q"
        ),
        pod(
            "127.0.0.1:3",
            "inventory",
            "metrics",
            "Pending",
            "inventory-7c9d-pend1"
        ),
    ])
}

#[test]
fn prometheus_config_and_rules_pass_promtool() {
    let Some(promtool) = apt_tool("promtool", "prometheus") else {
        return;
    };
    let here = monitoring_dir();
    let (ok, report) = run(
        &promtool,
        &[
            "check",
            "config",
            fixture("bad-prometheus.yml").to_str().unwrap(),
        ],
        &here,
    );
    assert!(!ok, "promtool must reject the broken config: {report}");
    let (ok, report) = run(
        &promtool,
        &["check", "rules", fixture("bad-rules.yml").to_str().unwrap()],
        &here,
    );
    assert!(
        !ok && report.contains("could not parse expression"),
        "promtool must reject the broken rules: {report}"
    );

    // prometheus.yml loads every rule file there is, and each passes alone.
    let config = yaml(&here.join("prometheus.yml"));
    let listed: BTreeSet<PathBuf> = config["rule_files"]
        .as_array()
        .expect("rule_files")
        .iter()
        .map(|f| here.join(f.as_str().unwrap()).canonicalize().unwrap())
        .collect();
    let present: BTreeSet<PathBuf> = files_in(&here.join("rules"), ".yml")
        .into_iter()
        .map(|f| f.canonicalize().unwrap())
        .collect();
    assert_eq!(listed, present, "rule_files must list every rules/*.yml");
    for file in &present {
        let (ok, report) = run(
            &promtool,
            &["check", "rules", file.to_str().unwrap()],
            &here,
        );
        assert!(
            ok && report.contains("SUCCESS"),
            "{}:\n{report}",
            file.display()
        );
    }

    // The shipped config, its rule files resolved relative to it.
    let (ok, report) = run(&promtool, &["check", "config", "prometheus.yml"], &here);
    if !ok && report.contains("field kubernetes_sd_configs not found") {
        // Debian builds Prometheus without Kubernetes discovery. Check all
        // the rest: the same file with the pods' discovery swapped for file
        // discovery, the relabelling unchanged (the end-to-end test below
        // runs that relabelling on Kubernetes-shaped targets).
        eprintln!(
            "NOTE: this promtool has no Kubernetes discovery; checking prometheus.yml with \
             kubernetes_sd_configs replaced by file_sd_configs"
        );
        let dir = tempfile::tempdir().unwrap();
        let pods = dir.path().join("pods.json");
        std::fs::write(&pods, fake_pods("127.0.0.1:3000").to_string()).unwrap();
        let derived = localised_config(&Discovery {
            compose_target: None,
            pods_file: &pods,
        });
        let path = dir.path().join("prometheus.yml");
        std::fs::write(&path, serde_norway::to_string(&derived).unwrap()).unwrap();
        let (ok, report) = run(
            &promtool,
            &["check", "config", path.to_str().unwrap()],
            &here,
        );
        assert!(
            ok && report.contains("SUCCESS"),
            "prometheus.yml:\n{report}"
        );
    } else {
        assert!(
            ok && report.contains("SUCCESS"),
            "prometheus.yml:\n{report}"
        );
    }
}

/// Alerts that no unit test shows firing, or staying quiet.
fn coverage_gaps(alerts: &[String], test_files: &[Value]) -> Vec<String> {
    let (mut firing, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    for doc in test_files {
        for test in doc["tests"].as_array().into_iter().flatten() {
            for case in test["alert_rule_test"].as_array().into_iter().flatten() {
                let name = case["alertname"].as_str().unwrap_or_default().to_owned();
                match case["exp_alerts"].as_array() {
                    Some(expected) if !expected.is_empty() => firing.insert(name),
                    _ => quiet.insert(name),
                };
            }
        }
    }
    let mut gaps = Vec::new();
    for alert in alerts {
        if !firing.contains(alert) {
            gaps.push(format!("{alert}: no test where it fires"));
        }
        if !quiet.contains(alert) {
            gaps.push(format!("{alert}: no test where it stays quiet"));
        }
    }
    gaps
}

#[test]
fn rule_unit_tests_pass_and_cover_every_alert_firing_and_quiet() {
    let Some(promtool) = apt_tool("promtool", "prometheus") else {
        return;
    };
    // A wrong expectation fails: the seed's alert does fire on the healthy
    // busy traffic (45 req/s, 0.12% errors) that the shipped rules must not
    // page on (tests/slo.test.yml).
    let (ok, report) = run(
        &promtool,
        &["test", "rules", "seed-expectation.test.yml"],
        &fixture(""),
    );
    assert!(
        !ok && report.contains("SeedHighErrorRate"),
        "promtool must fail the wrong expectation: {report}"
    );

    let here = monitoring_dir();
    let tests = files_in(&here.join("tests"), ".yml");
    assert!(
        tests.len() >= 2,
        "unit tests under deploy/monitoring/tests/: {tests:?}"
    );
    let names: Vec<&str> = tests
        .iter()
        .map(|p| p.strip_prefix(&here).unwrap().to_str().unwrap())
        .collect();
    let mut args = vec!["test", "rules"];
    args.extend(&names);
    let (ok, report) = run(&promtool, &args, &here);
    assert!(ok, "promtool test rules:\n{report}");

    let docs: Vec<Value> = tests.iter().map(|p| yaml(p)).collect();
    let alerts: Vec<String> = shipped_alerts().into_iter().map(|a| a.name).collect();
    assert!(alerts.len() >= 13, "{alerts:?}");
    let gaps = coverage_gaps(&alerts, &docs);
    assert!(gaps.is_empty(), "untested alerts:\n{}", gaps.join("\n"));
    // The coverage check sees an alert that no test names.
    let mut more = alerts.clone();
    more.push("InventoryUntested".into());
    assert_eq!(
        coverage_gaps(&more, &docs),
        [
            "InventoryUntested: no test where it fires",
            "InventoryUntested: no test where it stays quiet"
        ]
    );
}

/// The commands of a runbook: the lines of its fenced code blocks, with
/// continuation lines joined and comments left out.
fn runbook_commands(text: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let (mut inside, mut current) = (false, String::new());
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
            continue;
        }
        let line = line.trim();
        if !inside || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            continue;
        }
        current.push_str(line);
        commands.push(std::mem::take(&mut current));
    }
    assert!(!inside, "an unclosed code block");
    commands
}

/// Whether `command` is one the project ships or documents: the `inventory`
/// binary's subcommands, curl against its endpoints, kubectl in namespace
/// `inventory`, promtool and amtool. No pipes into tools the project does not ship.
fn check_command(command: &str) -> Result<(), String> {
    if command.contains(" | ") || command.contains("&&") || command.contains(';') {
        return Err("one command per line, no pipes".into());
    }
    let words: Vec<&str> = command.split_whitespace().collect();
    let ok = match words[0] {
        "inventory" => matches!(
            words.get(1).copied(),
            Some("serve" | "migrate" | "backup" | "restore" | "export" | "import" | "--help")
        ),
        "curl" => ["/health", "/ready", "/metrics", "/api/v1/"]
            .iter()
            .any(|p| command.contains(p)),
        "kubectl" => command.contains("-n inventory "),
        "promtool" | "amtool" => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err("not a command the project ships (inventory serve|migrate|backup|restore|export|import, curl on /health /ready /metrics /api/v1/, kubectl -n inventory, promtool, amtool)".into())
    }
}

/// PromQL in runbooks: `promtool query instant URL 'EXPR'`.
fn runbook_queries() -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for file in files_in(&repo_root().join("docs/runbooks/alerts"), ".md") {
        let text = std::fs::read_to_string(&file).unwrap();
        for command in runbook_commands(&text) {
            if command.starts_with("promtool query instant ") {
                let (start, end) = (command.find('\'').unwrap(), command.rfind('\'').unwrap());
                assert!(start < end, "{command}");
                queries.push((
                    format!("runbook {}", file.file_name().unwrap().to_string_lossy()),
                    command[start + 1..end].to_owned(),
                ));
            }
        }
    }
    queries
}

#[test]
fn every_alert_is_annotated_and_has_a_runbook_of_shipped_commands() {
    let alerts = shipped_alerts();
    let mut names = BTreeSet::new();
    for alert in &alerts {
        let name = &alert.name;
        assert!(names.insert(name.clone()), "{name} is defined twice");
        assert!(
            name.starts_with("Inventory") && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "{name}: alert names are InventoryCamelCase"
        );
        for key in ["summary", "description", "runbook_url"] {
            assert!(
                alert
                    .annotations
                    .get(key)
                    .is_some_and(|v| !v.trim().is_empty()),
                "{name} has no {key}"
            );
        }
        let severity = alert.labels.get("severity").map(String::as_str);
        assert!(
            SEVERITY_RECEIVERS.iter().any(|(s, _)| Some(*s) == severity),
            "{name}: severity {severity:?} is not one alertmanager.yml routes"
        );
        let url = &alert.annotations["runbook_url"];
        let expected = format!("{RUNBOOK_BASE}docs/runbooks/alerts/{name}.md");
        assert_eq!(url, &expected, "{name}: runbook_url");
        let path = repo_root().join(url.strip_prefix(RUNBOOK_BASE).unwrap());
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{name}: runbook {}: {e}", path.display()));
        assert!(text.starts_with(&format!("# {name}\n")), "{name}: title");
        for section in ["## What it means", "## First checks", "## Mitigations"] {
            assert!(text.contains(section), "{name}: runbook lacks {section}");
        }
        let commands = runbook_commands(&text);
        assert!(!commands.is_empty(), "{name}: runbook has no command");
        for command in commands {
            if let Err(why) = check_command(&command) {
                panic!("{name}: runbook command `{command}`: {why}");
            }
        }
    }
    // No runbook for an alert that does not exist.
    for file in files_in(&repo_root().join("docs/runbooks/alerts"), ".md") {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(names.contains(&stem), "runbook {stem}.md names no alert");
    }
    // The command check refuses what the project does not ship.
    assert!(check_command("inventory migrate").is_ok());
    assert!(check_command("kubectl -n inventory get pods -l app=inventory").is_ok());
    assert!(check_command("inventory vacuum").is_err());
    assert!(check_command("kubectl get pods").is_err());
    assert!(check_command("curl -s localhost:3000/metrics | grep inventory_").is_err());
    assert!(check_command("systemctl restart inventory").is_err());
}

#[test]
fn alertmanager_config_passes_amtool_and_routes_every_severity() {
    let Some(amtool) = apt_tool("amtool", "prometheus-alertmanager") else {
        return;
    };
    let here = monitoring_dir();
    let (ok, report) = run(
        &amtool,
        &[
            "check-config",
            fixture("bad-alertmanager.yml").to_str().unwrap(),
        ],
        &here,
    );
    assert!(
        !ok && report.contains("undefined receiver"),
        "amtool must reject the broken config: {report}"
    );
    let (ok, report) = run(&amtool, &["check-config", "alertmanager.yml"], &here);
    assert!(
        ok && report.contains("SUCCESS"),
        "alertmanager.yml:\n{report}"
    );

    // The receiver amtool prints (on stdout; its warnings go to stderr).
    let route = |labels: &[&str]| {
        let out = Command::new(&amtool)
            .args(["config", "routes", "test", "--config.file=alertmanager.yml"])
            .args(labels)
            .current_dir(&here)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            out.status.success(),
            "amtool config routes test {labels:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    for (severity, receiver) in SEVERITY_RECEIVERS {
        assert_eq!(
            route(&[&format!("severity={severity}")]),
            receiver,
            "{severity}"
        );
    }
    assert_eq!(route(&["team=purchasing", "severity=ticket"]), "purchasing");
    assert_eq!(
        route(&["severity=unknown"]),
        "ops-chat",
        "the default receiver"
    );

    // Every alert, with its own labels, reaches the receiver of its severity
    // (business alerts: purchasing).
    for alert in shipped_alerts() {
        let mut labels = vec![
            format!("alertname={}", alert.name),
            "job=inventory".to_owned(),
        ];
        labels.extend(alert.labels.iter().map(|(k, v)| format!("{k}={v}")));
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let expected = if alert.labels.get("team").map(String::as_str) == Some("purchasing") {
            "purchasing"
        } else {
            let severity = alert.labels["severity"].as_str();
            SEVERITY_RECEIVERS
                .iter()
                .find(|(s, _)| *s == severity)
                .unwrap()
                .1
        };
        assert_eq!(route(&labels), expected, "{}", alert.name);
    }

    // The inhibition rules name alerts that exist: InventoryDown silences
    // its symptoms, and a renamed alert would silently escape it.
    let config = yaml(&here.join("alertmanager.yml"));
    let alerts: BTreeSet<String> = shipped_alerts().into_iter().map(|a| a.name).collect();
    let mut named = BTreeSet::new();
    for rule in config["inhibit_rules"].as_array().expect("inhibit_rules") {
        for key in ["source_matchers", "target_matchers"] {
            for matcher in rule[key].as_array().into_iter().flatten() {
                let matcher = matcher.as_str().unwrap();
                let values = matcher
                    .strip_prefix("alertname=~")
                    .or_else(|| matcher.strip_prefix("alertname="));
                if let Some(values) = values {
                    for name in values.trim_matches('"').split('|') {
                        assert!(
                            alerts.contains(name),
                            "inhibit_rules name {name}, no such alert"
                        );
                        named.insert(name.to_owned());
                    }
                }
            }
        }
    }
    assert!(named.contains("InventoryDown") && named.contains("InventoryHighErrorRatio"));
}

/// The provisioned datasource's uid.
fn datasource_uid() -> String {
    let dir = monitoring_dir().join("grafana/provisioning/datasources");
    let files = files_in(&dir, ".yml");
    assert_eq!(files.len(), 1, "one datasource file: {files:?}");
    let doc = yaml(&files[0]);
    let sources = doc["datasources"].as_array().expect("datasources");
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0]["type"], "prometheus");
    sources[0]["uid"].as_str().expect("uid").to_owned()
}

/// (where, expr) for every query of every panel of every dashboard.
fn dashboard_queries() -> Vec<(String, String)> {
    fn walk(panels: &[Value], board: &str, uid: &str, out: &mut Vec<(String, String)>) {
        for panel in panels {
            let title = panel["title"].as_str().unwrap_or_default();
            if panel["type"] == "row" {
                walk(
                    panel["panels"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default(),
                    board,
                    uid,
                    out,
                );
                continue;
            }
            let at = format!("{board} / {title}");
            assert_eq!(panel["datasource"]["uid"], uid, "{at}: datasource");
            let targets = panel["targets"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            assert!(!targets.is_empty(), "{at}: no query");
            for target in targets {
                assert_eq!(target["datasource"]["uid"], uid, "{at}: target datasource");
                let expr = target["expr"].as_str().unwrap_or_default();
                assert!(!expr.trim().is_empty(), "{at}: empty expr");
                // Dashboards use no template variables, so that each expr is
                // the very query Prometheus answers in the end-to-end test.
                assert!(!expr.contains('$'), "{at}: template variable in `{expr}`");
                out.push((at.clone(), expr.to_owned()));
            }
        }
    }
    let uid = datasource_uid();
    let mut out = Vec::new();
    for file in files_in(&monitoring_dir().join("grafana/dashboards"), ".json") {
        let text = std::fs::read_to_string(&file).unwrap();
        let board: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let title = board["title"].as_str().expect("title");
        let panels = board["panels"].as_array().expect("panels");
        walk(panels, title, &uid, &mut out);
    }
    out
}

#[test]
fn dashboards_are_provisioned_json_on_the_provisioned_datasource() {
    let dir = monitoring_dir().join("grafana/dashboards");
    let mut uids = BTreeSet::new();
    let mut titles = Vec::new();
    for file in files_in(&dir, ".json") {
        let board: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert!(
            uids.insert(board["uid"].as_str().expect("uid").to_owned()),
            "uid twice"
        );
        titles.push(board["title"].as_str().unwrap().to_owned());
        assert!(
            board["schemaVersion"].as_u64().is_some(),
            "{}",
            file.display()
        );
    }
    for wanted in [
        "Application overview",
        "Infrastructure health",
        "Business",
        "SLOs and alerts",
    ] {
        assert!(
            titles.iter().any(|t| t.ends_with(wanted)),
            "no {wanted} dashboard: {titles:?}"
        );
    }
    let queries = dashboard_queries();
    assert!(queries.len() >= 30, "{}", queries.len());
    // The provider serves the folder the dashboards are documented to be mounted at.
    let providers = yaml(&monitoring_dir().join("grafana/provisioning/dashboards/inventory.yml"));
    let provider = &providers["providers"][0];
    assert_eq!(provider["type"], "file");
    assert_eq!(
        provider["options"]["path"],
        "/var/lib/grafana/dashboards/inventory"
    );
}

/// Metric names an expression reads: identifiers that are not functions,
/// keywords, label names (inside braces and by/without/on/ignoring/group_*
/// lists), durations or numbers. String literals are skipped whole.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 9] = [
        "and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "start",
    ];
    const LISTS: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_to = |i: usize, close: char| {
        let mut j = i + 1;
        while j < chars.len() && chars[j] != close {
            if chars[j] == '\\' {
                j += 1;
            }
            j += 1;
        }
        j + 1
    };
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_to(i, c),
            '{' => i = skip_to(i, '}'),
            '[' => i = skip_to(i, ']'),
            c if c.is_ascii_digit() || c == '.' => {
                while i < chars.len() && (ident(chars[i]) || chars[i] == '.') {
                    i += 1;
                }
            }
            c if ident(c) => {
                let start = i;
                while i < chars.len() && ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                // A function call, or an aggregation with its clause first
                // (`sum by (job) (...)`).
                let rest: String = chars[next..].iter().collect();
                let call = rest.starts_with('(')
                    || ["by", "without"].iter().any(|k| {
                        rest.strip_prefix(k)
                            .is_some_and(|after| after.trim_start().starts_with('('))
                    });
                if LISTS.contains(&word.as_str()) {
                    if call {
                        i = skip_to(next, ')');
                    }
                } else if !call && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[test]
fn metric_names_finds_the_series_an_expression_reads() {
    let names = |e: &str| metric_names(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"sum by (job, le) (rate(a_bucket{le="0.25", endpoint!~"/x|y"}[5m])) / on (job) group_left (layer) job:b:rate5m offset 1d > 0.9 * 512"#
        ),
        ["a_bucket", "job:b:rate5m"]
    );
    assert_eq!(
        names(
            r#"histogram_quantile(0.95, sum(rate(x[1h:5m])) without (instance)) or absent(up{job="i"}) unless vector(1) and bool nan"#
        ),
        ["up", "x"]
    );
    assert_eq!(
        names(r#"label_replace(m, "dst", "$1 by (x)", "src", "(.*)")"#),
        ["m"]
    );
    assert_eq!(
        names("time() - process_start_time_seconds"),
        ["process_start_time_seconds"]
    );
}

/// A Prometheus started for one test, killed on drop (a failed assertion too).
struct Prometheus {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Prometheus {
    fn start(binary: &Path, config: &Path, dir: &Path) -> Prometheus {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("prometheus.log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Panics with Prometheus's log if it has exited.
    fn alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            panic!("prometheus exited ({status}):\n{log}");
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` until it gives a value; fails after 30 s with its last answer.
async fn eventually<T>(
    what: &str,
    prometheus: &mut Prometheus,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        prometheus.alive();
        match probe().await {
            Ok(value) => return value,
            Err(last) if Instant::now() > deadline => {
                let log = std::fs::read_to_string(&prometheus.log).unwrap_or_default();
                panic!("{what} did not happen within 30 s; last: {last}\nprometheus log:\n{log}");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// GETs a Prometheus API path; the `data` of a success, else the error.
async fn api(client: &reqwest::Client, url: &str, query: &[(&str, &str)]) -> Result<Value, String> {
    let res = client
        .get(url)
        .query(query)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body: Value = res.json().await.map_err(|e| e.to_string())?;
    if body["status"] == "success" {
        Ok(body["data"].clone())
    } else {
        Err(format!("{}: {}", body["errorType"], body["error"]))
    }
}

/// The series of an instant query's answer (a scalar counts as one).
fn results(data: &Value) -> Vec<Value> {
    match data["result"].as_array() {
        Some(series) if data["resultType"] != "scalar" => series.clone(),
        _ => vec![data["result"].clone()],
    }
}

/// Requests of every kind the dashboards show: creates, each movement kind,
/// cache misses and hits, a 404, a 409, a list. Returns the movements made.
async fn drive_traffic(app: &common::TestApp, tag: &str) -> u64 {
    let item = app
        .create_item_with(
            json!({"sku": format!("MON-{tag}"), "name": "Monitored", "reorder_point": 50}),
        )
        .await;
    let id = item["id"].as_str().unwrap().to_owned();
    let shelf = format!("SHELF-{tag}");
    app.create_location(&shelf).await;
    app.receive(&id, 40).await;
    for body in [
        json!({"item_id": id, "kind": "transfer", "quantity": 15, "to_location": shelf}),
        json!({"item_id": id, "kind": "issue", "quantity": 3, "location": shelf}),
        json!({"item_id": id, "kind": "adjust", "quantity": -2, "reason": "stock count"}),
    ] {
        let (status, body) = app.movement(body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _) = app
        .movement(json!({"item_id": id, "kind": "issue", "quantity": 1000}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "insufficient stock");
    for _ in 0..3 {
        app.get_json(&format!("/api/v1/items/{id}")).await;
    }
    let missing = app
        .get(&format!("/api/v1/items/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    app.get_json("/api/v1/items?low_stock=true").await;
    for path in ["/health", "/ready"] {
        assert!(app
            .client
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .status()
            .is_success());
    }
    4
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_server_and_answers_every_dashboard_and_rule_query() {
    let Some(binary) = apt_tool("prometheus", "prometheus") else {
        return;
    };
    let Some(app) = common::spawn_app().await else {
        return;
    };
    let mut movements = drive_traffic(&app, "A").await;

    // The shipped configuration and rules, scraping this server every second:
    // as the compose job (static target) and as a Kubernetes pod (file
    // discovery with the pod labels the Kubernetes API would give).
    let dir = tempfile::tempdir().unwrap();
    let target = app.addr.to_string();
    let pods = dir.path().join("pods.json");
    std::fs::write(&pods, fake_pods(&target).to_string()).unwrap();
    let mut config = localised_config(&Discovery {
        compose_target: Some(&target),
        pods_file: &pods,
    });
    config.as_object_mut().unwrap().remove("alerting");
    for key in ["scrape_interval", "evaluation_interval", "scrape_timeout"] {
        config["global"][key] = json!("1s");
    }
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, serde_norway::to_string(&config).unwrap()).unwrap();
    let mut prometheus = Prometheus::start(&binary, &config_path, dir.path());
    let base = prometheus.base.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    eventually("Prometheus ready", &mut prometheus, async || {
        let res = client
            .get(format!("{base}/-/ready"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        (res.status() == StatusCode::OK)
            .then_some(())
            .ok_or(format!("{}", res.status()))
    })
    .await;

    // Both jobs' targets are up; the relabelling kept the one pod of the
    // app on its http port, named it job="inventory", and dropped the rest.
    let targets = eventually("both targets up", &mut prometheus, async || {
        let data = api(&client, &format!("{base}/api/v1/targets"), &[]).await?;
        let active = data["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let up = active.iter().filter(|t| t["health"] == "up").count();
        (active.len() == 2 && up == 2)
            .then_some(data.clone())
            .ok_or(format!("{active:?}"))
    })
    .await;
    for t in targets["activeTargets"].as_array().unwrap() {
        assert_eq!(t["labels"]["job"], "inventory", "{t}");
        assert_eq!(t["labels"]["instance"], target.as_str(), "{t}");
        if t["scrapePool"] == "inventory-kubernetes" {
            assert_eq!(t["labels"]["pod"], "inventory-7c9d-x2x4q", "{t}");
            assert_eq!(t["labels"]["namespace"], "inventory", "{t}");
            assert_eq!(t["labels"]["app"], "inventory", "{t}");
        }
    }
    let dropped = targets["droppedTargets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["discoveredLabels"]["job"] == "inventory-kubernetes")
        .count();
    assert_eq!(
        dropped, 3,
        "the other app, the other port and the pending pod: {targets}"
    );

    // More traffic between scrapes, then wait for a scrape that saw it and
    // for the rules to have been evaluated on two scrapes or more.
    movements += drive_traffic(&app, "B").await;
    let seen = format!(
        "sum(inventory_stock_movements_total{{job=\"inventory\", pod=\"\"}}) >= {movements}"
    );
    eventually("a scrape after the traffic", &mut prometheus, async || {
        let data = api(
            &client,
            &format!("{base}/api/v1/query"),
            &[("query", &seen)],
        )
        .await?;
        (!results(&data).is_empty())
            .then_some(())
            .ok_or(format!("{data}"))
    })
    .await;
    eventually("recording rules evaluated", &mut prometheus, async || {
        let data = api(
            &client,
            &format!("{base}/api/v1/query"),
            &[(
                "query",
                "job:inventory_sli_requests:rate5m{job=\"inventory\"} > 0",
            )],
        )
        .await?;
        (!results(&data).is_empty())
            .then_some(())
            .ok_or(format!("{data}"))
    })
    .await;

    // Prometheus loaded exactly the shipped rules, and none fails to evaluate.
    let rules = shipped_rules();
    let loaded = api(&client, &format!("{base}/api/v1/rules"), &[])
        .await
        .unwrap();
    let mut loaded_names = BTreeSet::new();
    let mut broken = Vec::new();
    for group in loaded["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            loaded_names.insert(rule["name"].as_str().unwrap().to_owned());
            if rule["health"] == "err" {
                broken.push(format!("{}: {}", rule["name"], rule["lastError"]));
            }
        }
    }
    let shipped_names: BTreeSet<String> = rules.iter().map(|r| r.name.clone()).collect();
    assert_eq!(loaded_names, shipped_names, "rules Prometheus loaded");
    assert!(
        broken.is_empty(),
        "rules failing to evaluate:\n{}",
        broken.join("\n")
    );

    // What the service exports, read from its /metrics.
    let exposition = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported: BTreeSet<String> = exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect();
    let recorded: BTreeSet<String> = rules
        .iter()
        .filter(|r| !r.alert)
        .map(|r| r.name.clone())
        .collect();

    let mut queries = dashboard_queries();
    let rule_queries: Vec<(String, String)> = rules
        .iter()
        .map(|r| (format!("rule {}", r.name), r.expr.clone()))
        .collect();
    queries.extend(rule_queries.iter().cloned());
    queries.extend(runbook_queries());

    let mut failures = Vec::new();
    let mut unknown: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut empty = Vec::new();
    for (at, expr) in &queries {
        match api(&client, &format!("{base}/api/v1/query"), &[("query", expr)]).await {
            Ok(data) => {
                if results(&data).is_empty() {
                    empty.push(at.clone());
                }
            }
            Err(e) => failures.push(format!("{at}: {e}\n    {expr}")),
        }
        for name in metric_names(expr) {
            let known = exported.contains(&name)
                || recorded.contains(&name)
                || PROMETHEUS_SERIES.contains(&name.as_str());
            if !known {
                unknown.entry(name).or_default().insert(at.clone());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "queries Prometheus refused:\n{}",
        failures.join("\n")
    );
    assert!(
        unknown.is_empty(),
        "metrics that the service does not export (nor a recording rule, nor Prometheus):\n{}",
        unknown
            .iter()
            .map(|(name, at)| format!(
                "{name}  (in {})",
                at.iter().cloned().collect::<Vec<_>>().join("; ")
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The recording rules over the service's own series read series that
    // exist, with the label values the service really uses (le="0.25", the
    // route templates...): each has an answer. (Rules over other recorded
    // series may wait for a slower group's first evaluation.)
    let empty_rules: Vec<&String> = rules
        .iter()
        .filter(|r| !r.alert && metric_names(&r.expr).is_subset(&exported))
        .map(|r| &r.name)
        .filter(|name| empty.contains(&format!("rule {name}")))
        .collect();
    assert!(
        empty_rules.is_empty(),
        "recording rules with no data: {empty_rules:?}"
    );
    if !empty.is_empty() {
        eprintln!("queries with no data yet (fine: e.g. no alert firing, no 5xx): {empty:#?}");
    }

    drop(prometheus);
    app.shutdown().await;
}
