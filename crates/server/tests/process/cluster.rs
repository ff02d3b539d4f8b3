//! A deployment in miniature, every part real: one PostgreSQL database, three
//! `inventory` processes, and Debian's nginx balancing across them (round
//! robin). Through the balancer it shows: no oversell with concurrent issues
//! spread over the replicas; read-your-writes; the change feed resumed on
//! another replica with nothing lost or repeated; and a rolling restart of
//! all three (SIGTERM, one at a time, back on the same port) under a steady
//! load with zero failed requests, nothing lost and nothing applied twice;
//! and an order storm (confirms, shipments, cancels, cart renewals, issues
//! and lapsing holds on a few hot items) spread over the replicas, after
//! which every figure is explained by the acknowledged requests.
//!
//! Needs `TEST_DATABASE_URL` (scripts/test.sh starts a cluster) and nginx
//! (`apt-get install nginx`). Without them it skips loudly; under CI=true it
//! fails and says what to install.

use crate::common::{fresh_pg_database, RedisServer};
use futures_util::future::join_all;
use inventory_server::config::DatabaseConfig;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_inventory");
const PASSWORD: &str = "cluster-test-admin-password";
const REPLICAS: usize = 3;

fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Polls `check` every 20 ms until it holds; panics with `what` after `limit`.
async fn until<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Waits (bounded) for `child` to exit.
async fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------
// Shared services the replicas connect to.

/// The shared services every replica talks to, as the environment each
/// replica gets, plus the processes to stop afterwards. PostgreSQL is a fresh
/// database in the test cluster; Redis a real `redis-server` on a free port
/// (the replicas share it as their cache and change-feed wake-up channel).
struct Backing {
    env: Vec<(&'static str, String)>,
    guards: Vec<Guard>,
    redis: Option<RedisServer>,
}

impl Backing {
    async fn start(_dir: &Path) -> Option<Backing> {
        let mut backing = Backing {
            env: Vec::new(),
            guards: Vec::new(),
            redis: None,
        };
        let (var, url, guard) = postgres().await?;
        backing.env.push((var, url));
        backing.guards.extend(guard);
        let redis = RedisServer::start()?;
        backing.env.push(("REDIS_URL", redis.url()));
        backing.redis = Some(redis);
        Some(backing)
    }

    fn database_url(&self) -> &str {
        &self
            .env
            .iter()
            .find(|(k, _)| *k == "DATABASE_URL")
            .expect("a database")
            .1
    }
}

/// A fresh database in the cluster at `TEST_DATABASE_URL` (the cluster
/// outlives the test, so no process to guard).
async fn postgres() -> Option<(&'static str, String, Option<Guard>)> {
    match fresh_pg_database().await? {
        DatabaseConfig::Postgres { url, .. } => {
            Some(("DATABASE_URL", url.expose().to_owned(), None))
        }
        other => panic!("expected a PostgreSQL database, got {other:?}"),
    }
}

/// A started helper process (nginx; Redis later): asked to stop with
/// SIGTERM on drop, killed if it does not, so nothing outlives the test even
/// when it panics.
struct Guard {
    name: &'static str,
    child: Child,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal(self.child.id(), "-TERM");
            for _ in 0..250 {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!("{} ignored SIGTERM; killing it", self.name);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// The `inventory` replicas.

/// One `inventory` process, its address and the tail of its stderr.
struct Replica {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Replica {
    /// Starts the real binary on `port` (0: any) and waits for `listening`.
    fn start(env: &[(&'static str, String)], port: u16) -> Replica {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("DATABASE_POOL_SIZE", "4")
            .env("INVENTORY_ADMIN_PASSWORD", PASSWORD)
            .env("INVENTORY_SHUTDOWN_TIMEOUT", "10")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start inventory");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel::<SocketAddr>();
        let tail = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.is_some() {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        if v["message"] == "listening" {
                            if let Some(addr) = v["addr"].as_str().and_then(|a| a.parse().ok()) {
                                let _ = tx.take().unwrap().send(addr);
                            }
                        }
                    }
                }
                let mut tail = tail.lock().unwrap();
                if tail.len() == 200 {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "no 'listening' line from inventory on port {port}; stderr:\n{}",
                    Vec::from(log.lock().unwrap().clone()).join("\n")
                );
            }
        };
        if port != 0 {
            assert_eq!(addr.port(), port, "restarted on its old port");
        }
        Replica { child, addr, log }
    }

    fn tail(&self) -> String {
        Vec::from(self.log.lock().unwrap().clone()).join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// nginx.

/// nginx on PATH, or in /usr/sbin (which is not on a normal user's PATH).
fn nginx_binary() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The balancer's configuration. Choices that matter for "zero failed
/// requests, nothing applied twice":
/// - `proxy_next_upstream error timeout http_502 http_503` without
///   `non_idempotent`: nginx passes a POST to the next replica only if it
///   was never sent (a refused connection, as from a replica that is
///   restarting); once a POST has been sent it is never repeated, because it
///   may have been applied.
/// - No upstream `keepalive`: every proxied request opens a fresh connection,
///   so there is no race with a replica closing an idle kept-alive connection
///   at shutdown while nginx writes a POST onto it (which nginx could not
///   safely retry).
/// - `max_fails=0`: a restarting replica is skipped per request on its
///   refused connect (microseconds on loopback) instead of being benched for
///   `fail_timeout`, which in a quick rolling restart could bench every
///   replica at once ("no live upstreams", 502).
/// - The change feed is streamed (`proxy_buffering off`) with a long read
///   timeout.
fn nginx_config(
    dir: &Path,
    listen: u16,
    upstreams: &[SocketAddr],
    as_root: bool,
    down: Option<usize>,
) -> String {
    let d = dir.display();
    let servers: String = upstreams
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let down = if down == Some(i) { " down" } else { "" };
            format!("        server {a} max_fails=0{down};\n")
        })
        .collect();
    let user = if as_root { "user root;\n" } else { "" };
    format!(
        r#"{user}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    log_format upstream '$request_method $request_uri $status upstream=$upstream_addr upstream_status=$upstream_status time=$request_time';
    access_log {d}/access.log upstream;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

    upstream inventory {{
{servers}    }}

    server {{
        listen 127.0.0.1:{listen};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        add_header X-Upstream $upstream_addr always;
        proxy_connect_timeout 2s;
        proxy_send_timeout 15s;
        proxy_read_timeout 15s;
        proxy_next_upstream error timeout http_502 http_503;
        proxy_next_upstream_tries 3;
        proxy_next_upstream_timeout 10s;

        location / {{
            proxy_pass http://inventory;
        }}
        location /api/v1/events {{
            proxy_pass http://inventory;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
    }}
}}
"#
    )
}

struct Nginx {
    guard: Guard,
    base: String,
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

impl Nginx {
    /// Starts nginx in the foreground in front of `upstreams`; `None` (a loud
    /// skip) when nginx is missing outside CI.
    async fn start(dir: &Path, upstreams: &[SocketAddr]) -> Option<Nginx> {
        let Some(bin) = nginx_binary() else {
            let msg = "nginx is not installed: apt-get install nginx \
                       (scripts/test.sh installs it when run as root)";
            if in_ci() {
                panic!("{msg}");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        let dir = dir.join("nginx");
        std::fs::create_dir_all(&dir).unwrap();
        let as_root = running_as_root();
        // The port is free when picked; another process may take it before
        // nginx binds, so a start that fails is tried again on a new port.
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let conf = dir.join("nginx.conf");
            std::fs::write(&conf, nginx_config(&dir, port, upstreams, as_root, None)).unwrap();
            let child = Command::new(&bin)
                .arg("-p")
                .arg(&dir)
                .arg("-e")
                .arg(dir.join("error.log"))
                .arg("-c")
                .arg(&conf)
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
            let mut nginx = Nginx {
                guard: Guard {
                    name: "nginx",
                    child,
                },
                base: format!("http://127.0.0.1:{port}"),
                dir: dir.clone(),
                port,
                as_root,
            };
            let client = Client::new();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(status) = nginx.guard.child.try_wait().unwrap() {
                    let mut stderr = String::new();
                    if let Some(mut e) = nginx.guard.child.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
                    }
                    last_error = format!("nginx exited with {status}: {stderr}{}", nginx.errors());
                    break;
                }
                if let Ok(res) = client.get(format!("{}/health", nginx.base)).send().await {
                    if res.status() == StatusCode::OK {
                        return Some(nginx);
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "nginx did not answer /health within 10 s:\n{}",
                    nginx.errors()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// Takes upstream `down` out of rotation (or, with `None`, puts all
    /// back), the way a rolling restart drains a replica before stopping it:
    /// rewrites the config, reloads, and waits until the old workers no
    /// longer take connections.
    async fn set_down(&self, upstreams: &[SocketAddr], down: Option<usize>) {
        let conf = self.dir.join("nginx.conf");
        std::fs::write(
            &conf,
            nginx_config(&self.dir, self.port, upstreams, self.as_root, down),
        )
        .unwrap();
        let master = self.guard.child.id();
        let children = || {
            std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let old_workers = children();
        assert!(!old_workers.is_empty(), "nginx has workers");
        signal(master, "-HUP");
        // Applied once new workers run and every old one has stopped taking
        // connections ("shutting down"); old ones may linger on open event
        // streams, which the drained replica ends gracefully itself.
        until(
            Duration::from_secs(20),
            "nginx to apply the new upstreams",
            || {
                let now = children();
                let fresh = now.iter().any(|pid| !old_workers.contains(pid));
                let old_stopped = old_workers.iter().all(|pid| {
                    !now.contains(pid)
                        || std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                            .map(|c| c.contains("shutting down"))
                            .unwrap_or(true)
                });
                async move { fresh && old_stopped }
            },
        )
        .await;
    }

    /// Access log lines of requests answered 5xx (or 499: client gone).
    fn failed_requests(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" 50") || l.contains(" 49"))
            .map(str::to_owned)
            .collect()
    }
}

// ---------------------------------------------------------------------------
// The whole thing.

/// Fields drop in order: nginx first, then the replicas, then the shared
/// services, then the temp dir.
struct Cluster {
    nginx: Nginx,
    replicas: Vec<Replica>,
    backing: Backing,
    _dir: tempfile::TempDir,
    /// The stderr tails of replicas that were stopped and replaced.
    retired: Vec<String>,
    client: Client,
    token: String,
}

impl Cluster {
    async fn start() -> Option<Cluster> {
        let dir = tempfile::tempdir().unwrap();
        let backing = Backing::start(dir.path()).await?;
        // The first replica migrates the fresh database and creates `admin`;
        // the others start against the schema it made.
        let mut replicas = vec![Replica::start(&backing.env, 0)];
        let env = backing.env.clone();
        let rest = tokio::task::spawn_blocking(move || {
            (1..REPLICAS)
                .map(|_| {
                    let env = env.clone();
                    std::thread::spawn(move || Replica::start(&env, 0))
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|t| t.join().expect("replica started"))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        replicas.extend(rest);
        let upstreams: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
        let nginx = Nginx::start(dir.path(), &upstreams).await?;
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut cluster = Cluster {
            nginx,
            replicas,
            backing,
            _dir: dir,
            retired: Vec::new(),
            client,
            token: String::new(),
        };
        let res = cluster
            .client
            .post(cluster.url("/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "login through nginx");
        cluster.token = res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        Some(cluster)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.nginx.base)
    }

    async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn create_item(&self, sku: &str) -> (Value, String) {
        let res = self
            .post(
                "/api/v1/items",
                json!({"sku": sku, "name": format!("Item {sku}")}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "create {sku}");
        let upstream = upstream(&res);
        (res.json().await.unwrap(), upstream)
    }

    async fn movement(&self, item_id: &str, kind: &str, quantity: i64) -> (StatusCode, String) {
        let res = self
            .post(
                "/api/v1/movements",
                json!({"item_id": item_id, "kind": kind, "quantity": quantity}),
            )
            .await;
        (res.status(), upstream(&res))
    }

    async fn on_hand(&self, item_id: &str) -> i64 {
        let res = self.get(&format!("/api/v1/items/{item_id}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["on_hand"]
            .as_i64()
            .unwrap()
    }

    /// Ledger rows of `kind` for the item, counted in PostgreSQL itself.
    async fn ledger_rows(&self, item_id: &str, kind: &str) -> i64 {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(self.backing.database_url())
            .await
            .unwrap();
        let (n,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM movements WHERE item_id = $1::uuid AND kind = $2")
                .bind(item_id)
                .bind(kind)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        n
    }

    fn diagnostics(&self) -> String {
        let mut out = format!("nginx error.log:\n{}\n", self.nginx.errors());
        for tail in &self.retired {
            out.push_str(tail);
            out.push('\n');
        }
        for (i, r) in self.replicas.iter().enumerate() {
            out.push_str(&format!(
                "replica {i} ({}) stderr tail:\n{}\n",
                r.addr,
                r.tail()
            ));
        }
        out
    }
}

/// Which replica nginx passed the request to (`X-Upstream`; after a retry
/// it lists every replica tried).
fn upstream(res: &Response) -> String {
    res.headers()
        .get("x-upstream")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The change feed through the balancer.
struct Feed {
    response: Response,
    buffer: String,
    upstream: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Event {
    id: i64,
    kind: String,
    data: Value,
}

impl Feed {
    async fn open(cluster: &Cluster, last_event_id: Option<i64>) -> Feed {
        let mut req = cluster
            .client
            .get(cluster.url("/api/v1/events"))
            .bearer_auth(&cluster.token)
            // The client's overall timeout would cut a long stream.
            .timeout(Duration::from_secs(600));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let upstream = upstream(&response);
        Feed {
            response,
            buffer: String::new(),
            upstream,
        }
    }

    /// The next `n` events; fails after 20 s.
    async fn next(&mut self, n: usize) -> Vec<Event> {
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while out.len() < n {
            // Only as many as asked for: the rest stays buffered.
            while out.len() < n {
                let Some(end) = self.buffer.find("\n\n") else {
                    break;
                };
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}:")))
                        .map(|v| v.trim_start().to_owned())
                };
                if let (Some(id), Some(kind), Some(data)) =
                    (field("id"), field("event"), field("data"))
                {
                    out.push(Event {
                        id: id.parse().unwrap(),
                        kind,
                        data: serde_json::from_str(&data).unwrap(),
                    });
                }
            }
            if out.len() >= n {
                break;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("events did not arrive within 20 s")
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
        out
    }
}

// ---------------------------------------------------------------------------
// The load that runs through the rolling restart.

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    receives_created: AtomicU64,
    failures: Mutex<Vec<String>>,
}

/// What every load client shares.
#[derive(Clone)]
struct Load {
    client: Client,
    base: String,
    token: String,
    item_id: String,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
    cap: u64,
}

/// One client looping GET item / POST receive 1 through nginx until `stop`,
/// the time limit or the request cap; every response is tallied.
async fn load_client(load: Load) {
    let Load {
        client,
        base,
        token,
        item_id,
        tally,
        stop,
        deadline,
        cap,
    } = load;
    let item_url = format!("{base}/api/v1/items/{item_id}");
    let movements_url = format!("{base}/api/v1/movements");
    let body = json!({"item_id": item_id, "kind": "receive", "quantity": 1});
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        if tally.requests.fetch_add(2, Ordering::Relaxed) >= cap {
            break;
        }
        match client.get(&item_url).bearer_auth(&token).send().await {
            Ok(res) if res.status() == StatusCode::OK => {}
            Ok(res) => {
                let line = format!("GET item: {} via {}", res.status(), upstream(&res));
                let text = res.text().await.unwrap_or_default();
                tally
                    .failures
                    .lock()
                    .unwrap()
                    .push(format!("{line}: {text}"));
            }
            Err(e) => tally
                .failures
                .lock()
                .unwrap()
                .push(format!("GET item: transport error: {e}")),
        }
        match client
            .post(&movements_url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
        {
            Ok(res) if res.status() == StatusCode::CREATED => {
                tally.receives_created.fetch_add(1, Ordering::Relaxed);
            }
            Ok(res) => {
                let line = format!("POST receive: {} via {}", res.status(), upstream(&res));
                let text = res.text().await.unwrap_or_default();
                tally
                    .failures
                    .lock()
                    .unwrap()
                    .push(format!("{line}: {text}"));
            }
            Err(e) => tally
                .failures
                .lock()
                .unwrap()
                .push(format!("POST receive: transport error: {e}")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_behind_nginx() {
    let Some(mut cluster) = Cluster::start().await else {
        return;
    };
    let replica_addrs: Vec<String> = cluster
        .replicas
        .iter()
        .map(|r| r.addr.to_string())
        .collect();

    // 1. No oversell: 90 concurrent issues of 1 against 30, spread by nginx
    //    over the three replicas.
    let (item, _) = cluster.create_item("CLU-OVERSELL").await;
    let id = item["id"].as_str().unwrap().to_owned();
    assert_eq!(
        cluster.movement(&id, "receive", 30).await.0,
        StatusCode::CREATED
    );
    let issues = (0..90).map(|_| cluster.movement(&id, "issue", 1));
    let results = join_all(issues).await;
    let mut by_status: HashMap<StatusCode, usize> = HashMap::new();
    let mut by_replica: HashMap<String, usize> = HashMap::new();
    for (status, upstream) in &results {
        *by_status.entry(*status).or_default() += 1;
        *by_replica.entry(upstream.clone()).or_default() += 1;
    }
    assert_eq!(
        (
            by_status.get(&StatusCode::CREATED),
            by_status.get(&StatusCode::CONFLICT)
        ),
        (Some(&30), Some(&60)),
        "statuses: {by_status:?}"
    );
    for addr in &replica_addrs {
        assert!(
            by_replica.get(addr).is_some_and(|n| *n > 0),
            "every replica took some issues: {by_replica:?}"
        );
    }
    assert_eq!(cluster.on_hand(&id).await, 0);
    assert_eq!(cluster.ledger_rows(&id, "issue").await, 30);

    // 2. Read-your-writes through the balancer: each write is seen by the
    //    very next read, which round robin sends to another replica.
    let mut across = 0;
    for i in 0..30 {
        let sku = format!("CLU-RYW-{i}");
        let (item, written_on) = cluster.create_item(&sku).await;
        let id = item["id"].as_str().unwrap();
        let res = cluster.get(&format!("/api/v1/items/{id}")).await;
        assert_eq!(res.status(), StatusCode::OK, "{sku} readable at once");
        let read_on = upstream(&res);
        assert_eq!(res.json::<Value>().await.unwrap()["sku"], sku.as_str());
        across += usize::from(read_on != written_on);

        let (status, written_on) = cluster.movement(id, "receive", i + 1).await;
        assert_eq!(status, StatusCode::CREATED);
        let res = cluster.get(&format!("/api/v1/items/{id}")).await;
        let read_on = upstream(&res);
        assert_eq!(res.json::<Value>().await.unwrap()["on_hand"], i + 1);
        across += usize::from(read_on != written_on);
    }
    assert!(
        across >= 30,
        "reads landed on other replicas than writes: {across} of 60"
    );

    // 3. The change feed, resumed on another replica: read 5 of 12 events,
    //    drop the connection, reconnect with Last-Event-ID until nginx picks
    //    a different replica, and get exactly the other 7, then new ones.
    let mut truth = Feed::open(&cluster, None).await;
    let mut first = Feed::open(&cluster, None).await;
    let (item, _) = cluster.create_item("CLU-FEED").await;
    let id = item["id"].as_str().unwrap().to_owned();
    for q in 1..=11 {
        assert_eq!(
            cluster.movement(&id, "receive", q).await.0,
            StatusCode::CREATED
        );
    }
    let all = truth.next(12).await;
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "in commit order");
    assert_eq!(all[0].kind, "item.created");
    assert!(all[1..].iter().all(|e| e.kind == "movement.created"));
    assert_eq!(all[0].data["entity_id"], id.as_str());
    for (q, e) in (1..).zip(&all[1..]) {
        let movement = &e.data["data"]["movement"];
        assert_eq!(
            (&movement["item_id"], &movement["quantity"]),
            (&json!(id), &json!(q))
        );
    }
    let seen = first.next(5).await;
    assert_eq!(seen, all[..5]);
    let first_upstream = first.upstream.clone();
    drop(first);
    let mut resumed = None;
    for _ in 0..6 {
        let feed = Feed::open(&cluster, Some(seen[4].id)).await;
        if feed.upstream != first_upstream {
            resumed = Some(feed);
            break;
        }
    }
    let mut resumed = resumed.expect("nginx sent a reconnect to another replica");
    assert_eq!(resumed.next(7).await, all[5..], "exactly the rest");
    assert_eq!(
        cluster.movement(&id, "issue", 1).await.0,
        StatusCode::CREATED
    );
    let next = resumed.next(1).await;
    assert_eq!(next, truth.next(1).await, "no gap, no repeat");
    assert!(next[0].id > all[11].id);
    drop((truth, resumed));

    // 4. Rolling restart under a steady load: each replica in turn gets
    //    SIGTERM, exits 0, starts again on the same port and is ready before
    //    the next one goes. Every request through nginx must succeed.
    let (item, _) = cluster.create_item("CLU-ROLL").await;
    let id = item["id"].as_str().unwrap().to_owned();
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let load_deadline = Instant::now() + Duration::from_secs(40);
    let cap = 60_000;
    // One connection per request: an nginx reload closes the keep-alive
    // connections of its old workers, and a request racing that close would
    // be a client-side artifact of the reload, not of the replicas.
    let load_client_http = Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let shared = Load {
        client: load_client_http,
        base: cluster.nginx.base.clone(),
        token: cluster.token.clone(),
        item_id: id.clone(),
        tally: tally.clone(),
        stop: stop.clone(),
        deadline: load_deadline,
        cap,
    };
    let load: Vec<_> = (0..8)
        .map(|_| tokio::spawn(load_client(shared.clone())))
        .collect();
    let progress = |after: u64| {
        let tally = tally.clone();
        async move { tally.requests.load(Ordering::Relaxed) > after + 200 }
    };
    until(Duration::from_secs(10), "the load to get going", || {
        progress(0)
    })
    .await;
    let env = cluster.backing.env.clone();
    let mut during_restarts = Vec::new();
    let upstreams: Vec<SocketAddr> = cluster.replicas.iter().map(|r| r.addr).collect();
    for i in 0..REPLICAS {
        let before = tally.requests.load(Ordering::Relaxed);
        let port = cluster.replicas[i].addr.port();
        // Drained from the balancer first (as Kubernetes does with readiness
        // and a preStop delay), so no new connection reaches it; then SIGTERM.
        cluster.nginx.set_down(&upstreams, Some(i)).await;
        signal(cluster.replicas[i].child.id(), "-TERM");
        let status = wait_exit(&mut cluster.replicas[i].child, Duration::from_secs(20)).await;
        assert!(
            status.is_some_and(|s| s.success()),
            "replica {i} exited with {status:?} after SIGTERM\n{}",
            cluster.diagnostics()
        );
        let restarted = tokio::task::spawn_blocking({
            let env = env.clone();
            move || Replica::start(&env, port)
        })
        .await
        .unwrap();
        let stopped = std::mem::replace(&mut cluster.replicas[i], restarted);
        cluster.retired.push(format!(
            "replica {i} before its restart ({}):\n{}",
            stopped.addr,
            stopped.tail()
        ));
        let ready = format!("http://127.0.0.1:{port}/ready");
        let client = cluster.client.clone();
        until(
            Duration::from_secs(20),
            "the restarted replica to be ready",
            || {
                let (client, ready) = (client.clone(), ready.clone());
                async move {
                    matches!(client.get(&ready).send().await, Ok(r) if r.status() == StatusCode::OK)
                }
            },
        )
        .await;
        cluster.nginx.set_down(&upstreams, None).await;
        // The load kept flowing through this restart, and reaches the
        // restarted replica before the next one goes.
        let now = tally.requests.load(Ordering::Relaxed);
        during_restarts.push(now - before);
        until(Duration::from_secs(10), "the load to go on", || {
            progress(now)
        })
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    tokio::time::timeout(Duration::from_secs(30), join_all(load))
        .await
        .expect("the load stopped");
    let failures = tally.failures.lock().unwrap().clone();
    let requests = tally.requests.load(Ordering::Relaxed);
    let created = tally.receives_created.load(Ordering::Relaxed) as i64;
    eprintln!(
        "rolling restart: about {requests} requests under load ({during_restarts:?} while each \
         replica went down and came back), {created} receives created, {} failed",
        failures.len()
    );
    let errors = cluster.nginx.errors();
    eprintln!(
        "nginx passed requests on to another replica after {} refused connects and {} \
         connections reset before any response",
        errors.matches("(111: Connection refused)").count(),
        errors.matches("(104: Connection reset by peer)").count(),
    );
    let ledger = cluster.ledger_rows(&id, "receive").await;
    let on_hand = cluster.on_hand(&id).await;
    assert!(
        failures.is_empty(),
        "{} failed requests during the rolling restart, e.g. {:#?}\n\
         ledger rows {ledger}, 201s {created}, on_hand {on_hand}\n\
         nginx access log, failed requests:\n{}\n{}",
        failures.len(),
        &failures[..failures.len().min(10)],
        cluster.nginx.failed_requests().join("\n"),
        cluster.diagnostics()
    );
    assert!(created > 0);
    assert_eq!(
        ledger, created,
        "each acknowledged receive in the ledger exactly once"
    );
    assert_eq!(
        on_hand, created,
        "on_hand is the sum of the acknowledged receives"
    );
    // Every replica (all three restarted) agrees, asked directly.
    for r in &cluster.replicas {
        let res = cluster
            .client
            .get(format!("http://{}/api/v1/items/{id}", r.addr))
            .bearer_auth(&cluster.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["on_hand"], created);
    }
}

/// The order storm (see `common::storm`) through nginx over three replicas
/// on one PostgreSQL database: confirms, shipments, cancels, cart renewals,
/// plain issues and lapsing holds race on a few hot items, spread over the
/// replicas; every figure afterwards is explained by the acknowledged
/// requests, and the invariants check is clean. Then the last units of an
/// item go to exactly two buyers the moment a third one's hold lapses.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_storm_over_three_replicas() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let api = crate::common::storm::Api {
        client: cluster.client.clone(),
        base: cluster.nginx.base.clone(),
        token: cluster.token.clone(),
    };
    crate::common::storm::order_storm(&api).await;
    crate::common::storm::last_units_as_a_hold_lapses(&api).await;
    // A replica asked directly, past the balancer, agrees.
    let report = api
        .invariants_at(&cluster.replicas[0].addr.to_string())
        .await;
    assert_eq!(report["ok"], true, "{report}");
}
