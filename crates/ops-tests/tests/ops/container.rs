//! The shipped container image, built and run for real with podman: the
//! Dockerfile's `runtime` stage fed with a statically linked `inventory`
//! built on this host (base images cannot be pulled here), run read-only as
//! its non-root user with a loopback port; health, readiness, a login and a
//! movement; the image's HEALTHCHECK; SIGTERM ends it cleanly; the data in
//! the `/data` volume survives into a new container. Then the rendered dev
//! Kubernetes Deployment runs under `podman kube play` with that image and
//! its readiness endpoint answers.
//!
//! The static binary comes from scripts/test.sh (`INVENTORY_STATIC_BIN`):
//! `RUSTFLAGS="-C target-feature=+crt-static" cargo build --target
//! x86_64-unknown-linux-gnu -p inventory-server --bin inventory`.

use inventory_ops_tests::tools;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tools::{missing, on_path};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// What these tests need, or `None` after saying what is missing.
fn prerequisites() -> Option<PathBuf> {
    if on_path("podman").is_none() {
        missing(
            "podman not found: apt-get install podman buildah (or run scripts/test.sh as root)",
        );
        return None;
    }
    let Some(bin) = std::env::var_os("INVENTORY_STATIC_BIN").map(PathBuf::from) else {
        missing(
            "INVENTORY_STATIC_BIN is not set: run scripts/test.sh, which builds the static binary",
        );
        return None;
    };
    assert!(
        bin.is_file(),
        "INVENTORY_STATIC_BIN={} is not a file",
        bin.display()
    );
    configure_podman();
    Some(bin)
}

/// podman on these machines needs runc and explicit ulimits; written when
/// missing (as root), never overwritten.
fn configure_podman() {
    let conf = Path::new("/etc/containers/containers.conf");
    if conf.exists() {
        let text = std::fs::read_to_string(conf).unwrap_or_default();
        assert!(
            text.contains("runc"),
            "{} exists without `runtime = \"runc\"`: add it under [engine]",
            conf.display()
        );
        return;
    }
    std::fs::create_dir_all(conf.parent().unwrap()).expect("create /etc/containers (run as root)");
    std::fs::write(
        conf,
        "[engine]\nruntime = \"runc\"\n\n[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n",
    )
    .expect("write /etc/containers/containers.conf (run as root)");
}

fn podman(args: &[&str]) -> (bool, String) {
    let out = Command::new("podman")
        .args(args)
        .output()
        .expect("run podman");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn podman_ok(args: &[&str]) -> String {
    let (ok, text) = podman(args);
    assert!(ok, "podman {args:?} failed:\n{text}");
    text
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Builds the Dockerfile's runtime stage with the static binary as the
/// `builder` context, tagged `tag`.
fn build_image(bin: &Path, tag: &str) {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(bin, ctx.path().join("inventory")).unwrap();
    std::fs::create_dir_all(ctx.path().join("etc/ssl/certs")).unwrap();
    std::fs::create_dir_all(ctx.path().join("data")).unwrap();
    let certs = Path::new("/etc/ssl/certs/ca-certificates.crt");
    let bundle = ctx.path().join("etc/ssl/certs/ca-certificates.crt");
    if certs.is_file() {
        std::fs::copy(certs, &bundle).unwrap();
    } else {
        std::fs::write(&bundle, "").unwrap();
    }
    let builder = format!("builder={}", ctx.path().display());
    let root = repo_root();
    podman_ok(&[
        "build",
        "--format",
        "docker",
        "--build-context",
        &builder,
        "--target",
        "runtime",
        "--build-arg",
        "REVISION=test",
        "-t",
        tag,
        "-f",
        root.join("Dockerfile").to_str().unwrap(),
        root.to_str().unwrap(),
    ]);
}

struct Cleanup(Vec<Vec<String>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for args in self.0.iter().rev() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let _ = podman(&args);
        }
    }
}

async fn wait_until_answers(client: &reqwest::Client, url: &str, status: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(res) = client.get(url).send().await {
            if res.status() == status {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{url} never answered {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const PASSWORD: &str = "container-test-password";

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

fn run_container(name: &str, volume: &str, port: u16, image: &str) {
    podman_ok(&[
        "run",
        "-d",
        "--name",
        name,
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "-p",
        &format!("127.0.0.1:{port}:3000"),
        "-v",
        &format!("{volume}:/data"),
        "-e",
        &format!("INVENTORY_ADMIN_PASSWORD={PASSWORD}"),
        image,
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_read_only_as_non_root_and_keeps_its_data() {
    let Some(bin) = prerequisites() else { return };
    let id = uuid::Uuid::now_v7().simple().to_string();
    let image = format!("localhost/inventory-test:{id}");
    let volume = format!("inventory-test-{id}");
    let (first, second) = (format!("inventory-a-{id}"), format!("inventory-b-{id}"));
    let _cleanup = Cleanup(vec![
        vec!["rmi".into(), "-f".into(), image.clone()],
        vec!["volume".into(), "rm".into(), "-f".into(), volume.clone()],
        vec!["rm".into(), "-f".into(), first.clone()],
        vec!["rm".into(), "-f".into(), second.clone()],
    ]);
    build_image(&bin, &image);

    // What the image is: its user, its port, its volume, its health check.
    let config: Value = serde_json::from_str(&podman_ok(&["image", "inspect", &image]))
        .map(|v: Value| v[0].clone())
        .unwrap();
    assert_eq!(config["Config"]["User"], "10001:10001", "{config:#}");
    assert!(config["Config"]["ExposedPorts"].get("3000/tcp").is_some());
    assert!(config["Config"]["Volumes"].get("/data").is_some());
    assert_eq!(
        config["Healthcheck"]["Test"],
        json!(["CMD", "/inventory", "healthcheck"])
    );
    assert_eq!(
        config["Config"]["Labels"]["org.opencontainers.image.revision"],
        "test"
    );
    let size: u64 = podman_ok(&["image", "inspect", "--format", "{{.Size}}", &image])
        .trim()
        .parse()
        .unwrap();
    eprintln!(
        "image size: {:.1} MB (this test's binary is a debug build)",
        size as f64 / 1e6
    );

    let port = free_port();
    run_container(&first, &volume, port, &image);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_until_answers(&client, &format!("{base}/health"), StatusCode::OK).await;
    wait_until_answers(&client, &format!("{base}/ready"), StatusCode::OK).await;
    let user = podman_ok(&["top", &first, "user"]);
    assert!(user.contains("10001"), "the process runs as 10001: {user}");
    let (healthy, report) = podman(&["healthcheck", "run", &first]);
    assert!(healthy, "HEALTHCHECK failed: {report}");

    let token = login(&client, &base).await;
    let item: Value = client
        .post(format!("{base}/api/v1/items"))
        .bearer_auth(&token)
        .json(&json!({"sku": "BOX-1", "name": "Boxed", "unit": "pcs"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item_id = item["id"].as_str().expect("an item id").to_owned();
    let res = client
        .post(format!("{base}/api/v1/movements"))
        .bearer_auth(&token)
        .json(&json!({"item_id": item_id, "kind": "receive", "quantity": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    // SIGTERM (podman stop) ends it cleanly, well within the grace period.
    podman_ok(&["stop", "--time", "30", &first]);
    let exit = podman_ok(&["inspect", "--format", "{{.State.ExitCode}}", &first]);
    assert_eq!(exit.trim(), "0", "exit status after SIGTERM");

    // A new container on the same volume has the data.
    let port = free_port();
    run_container(&second, &volume, port, &image);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_answers(&client, &format!("{base}/ready"), StatusCode::OK).await;
    let token = login(&client, &base).await;
    let item: Value = client
        .get(format!("{base}/api/v1/items/{item_id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(item["on_hand"], 7, "{item}");
    podman_ok(&["stop", "--time", "30", &second]);
}

fn decode_base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64") as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The dev overlay's app Deployment, as `kubectl kustomize` renders it, run
/// by `podman kube play` with the image built here. What podman cannot take
/// from the rendering is adapted, and only that: the image is this test's,
/// the port is published on loopback (`hostPort`), the Secret is created as
/// a podman secret holding SQLite and an unreachable Redis instead of the
/// in-cluster PostgreSQL and Redis (podman 4.3 reads a secret's `data`
/// without base64-decoding it, and panics on a secret volume without an
/// explicit `optional`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_dev_deployment_runs_under_podman_kube_play() {
    let Some(bin) = prerequisites() else { return };
    if on_path("kubectl").is_none() {
        missing("kubectl not found: install kubectl (v1.27 or later, for kustomize v5)");
        return;
    }
    let id = uuid::Uuid::now_v7().simple().to_string();
    let image = format!("localhost/inventory-kube:{id}");
    build_image(&bin, &image);
    let rendered = Command::new("kubectl")
        .args(["kustomize"])
        .arg(repo_root().join("deploy/k8s/overlays/dev"))
        .output()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let text = String::from_utf8(rendered.stdout).unwrap();
    let docs: Vec<Value> = serde_norway::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect();
    let named = |kind: &str, prefix: &str| {
        docs.iter()
            .find(|d| {
                d["kind"] == kind
                    && d["metadata"]["name"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with(prefix)
            })
            .unwrap_or_else(|| panic!("no {kind} {prefix}* in the dev overlay"))
            .clone()
    };
    let config_map = named("ConfigMap", "inventory-config");
    let mut secret = named("Secret", "inventory-secrets");
    let mut deployment = named("Deployment", "inventory");
    let port = free_port();

    let secret_name = secret["metadata"]["name"].as_str().unwrap().to_owned();
    let admin = decode_base64(secret["data"]["admin-password"].as_str().unwrap());
    secret["data"] = json!({
        "database-url": "sqlite:///tmp/inventory.db",
        "redis-url": "redis://127.0.0.1:1/",
        "admin-password": admin,
    });
    let spec = &mut deployment["spec"]["template"]["spec"];
    for volume in spec["volumes"].as_array_mut().unwrap() {
        if volume.get("secret").is_some() {
            volume["secret"]["optional"] = json!(false);
        }
    }
    let container = &mut spec["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    container["image"] = json!(image);
    container["imagePullPolicy"] = json!("Never");
    container["ports"][0]["hostPort"] = json!(port);
    container["ports"][0]["hostIP"] = json!("127.0.0.1");

    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret.json");
    std::fs::write(&secret_file, secret.to_string()).unwrap();
    let play = dir.path().join("play.yaml");
    std::fs::write(&play, format!("{config_map}\n---\n{deployment}\n")).unwrap();
    let play_path = play.to_str().unwrap().to_owned();
    let _ = podman(&["secret", "rm", &secret_name]);
    let _cleanup = Cleanup(vec![
        vec!["rmi".into(), "-f".into(), image.clone()],
        vec!["secret".into(), "rm".into(), secret_name.clone()],
        vec!["kube".into(), "down".into(), play_path.clone()],
    ]);
    podman_ok(&[
        "secret",
        "create",
        &secret_name,
        secret_file.to_str().unwrap(),
    ]);
    podman_ok(&["kube", "play", "--replace", &play_path]);

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_until_answers(&client, &format!("{base}/ready"), StatusCode::OK).await;
    let ready: Value = client
        .get(format!("{base}/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["database"], "ok", "{ready}");
    assert_eq!(ready["checks"]["cache"], "degraded", "{ready}");
}
