//! Test harness of the operations-kit tests: the real `inventory` binary
//! (see `inventory_ops_tests::inventory_bin`) serving on a free loopback
//! port with a fresh SQLite database in a temp dir, driven over HTTP with
//! reqwest (the same helpers as the server's tests/common/mod.rs, which
//! starts the server in the test process instead), and a real redis-server.
#![allow(dead_code)]

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

pub struct TestApp {
    pub base: String,
    pub addr: SocketAddr,
    pub client: Client,
    pub admin_token: String,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// The server's stderr, read to its end so that it never blocks on a full pipe.
    _lines: mpsc::Receiver<String>,
}

/// Starts `inventory serve` on a fresh SQLite database and logs in as
/// admin; `None` (after saying so) when the binary is not built.
pub async fn spawn_app() -> Option<TestApp> {
    let bin = inventory_ops_tests::inventory_bin()?;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(&bin)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("BIND_ADDR", "127.0.0.1")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("inventory.db").display()),
        )
        .env("INVENTORY_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("INVENTORY_SHUTDOWN_TIMEOUT", "5")
        .env("LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
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
    let addr: SocketAddr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no 'listening' line; stderr so far: {seen:#?}"));
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if v["message"] == "listening" {
                break v["addr"].as_str().unwrap().parse().unwrap();
            }
        }
        seen.push(line);
    };
    let client = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut app = TestApp {
        base: format!("http://{addr}"),
        addr,
        client,
        admin_token: String::new(),
        dir,
        child: Some(child),
        _lines: lines,
    };
    app.admin_token = app.login("admin", ADMIN_PASSWORD).await;
    Some(app)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let res = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "login of {username}");
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn send(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, &self.admin_token, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send(Method::POST, &self.admin_token, path, Some(body))
            .await
    }

    /// GET as admin, asserting 200, returning the JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.unwrap()
    }

    /// Creates an item with `sku` as admin and returns its JSON.
    pub async fn create_item(&self, sku: &str) -> Value {
        self.create_item_with(json!({"sku": sku, "name": format!("Item {sku}")}))
            .await
    }

    pub async fn create_item_with(&self, body: Value) -> Value {
        let res = self.post("/api/v1/items", body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    pub async fn create_location(&self, code: &str) -> Value {
        let res = self
            .post(
                "/api/v1/locations",
                json!({"code": code, "name": format!("Location {code}")}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    /// Posts a movement as admin; returns status and body.
    pub async fn movement(&self, body: Value) -> (StatusCode, Value) {
        let res = self.post("/api/v1/movements", body).await;
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn receive(&self, item_id: &str, quantity: i64) -> Value {
        let (status, body) = self
            .movement(json!({"item_id": item_id, "kind": "receive", "quantity": quantity}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Stops the server with SIGTERM (readiness turns 503, in-flight
    /// requests finish) and waits for it to exit 0.
    pub async fn shutdown(mut self) {
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
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A real redis-server on a free loopback port, killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    /// Starts one; without redis-server: a failure under CI=true, a loud skip otherwise.
    pub fn start() -> Option<RedisServer> {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join("redis-server").is_file()))
            .unwrap_or(false);
        if !found {
            let msg = "redis-server not found: install it with `apt-get install redis-server` (or run scripts/test.sh as root)";
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{msg}");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = RedisServer { port, child: None };
        server.resume();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// (Re)starts the server on its port and waits until it answers.
    pub fn resume(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not start");
    }

    /// Stops it (the data goes with it, as after a crash without persistence).
    pub fn halt(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.halt();
    }
}
