//! The listener under slow and idle clients: the header read timeout, the
//! idle keep-alive timeout and the connection cap (crates/server/src/listener.rs).
//!
//! Nothing here measures time: each test waits for what a client can see
//! (the server closing a socket, an answer, a metric moving), and fails if
//! it has not happened within [`BOUND`], far above any timeout used.

use crate::common::spawn_app_with_listener;
use inventory_server::{telemetry, ListenerOptions};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long anything may take before the test fails.
const BOUND: Duration = Duration::from_secs(30);

/// The tests take turns: the connection metrics are process-wide, and each
/// test reads how they moved for its own server.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The start of a request head, never finished.
const PARTIAL_HEAD: &[u8] = b"GET /health HTTP/1.1\r\nHost: slow.example\r\n";

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n";

fn options(header_read_timeout: u64, idle_timeout: u64, max_connections: usize) -> ListenerOptions {
    ListenerOptions {
        header_read_timeout: Duration::from_secs(header_read_timeout),
        idle_timeout: Duration::from_secs(idle_timeout),
        max_connections,
        ..ListenerOptions::default()
    }
}

/// Waits until the server closes `stream` (a read returns end of file or a
/// reset); fails after [`BOUND`].
async fn closed_by_server(stream: &mut TcpStream, what: &str) {
    let deadline = tokio::time::Instant::now() + BOUND;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!("{what}: the server has not closed it within {BOUND:?}"),
            Ok(Ok(0) | Err(_)) => return,
            // hyper writes nothing on a timeout; tolerate it if it ever does.
            Ok(Ok(_)) => {}
        }
    }
}

/// Reads one response from `stream`; returns its status (0 if the
/// connection ended first).
async fn response_status(stream: &mut TcpStream) -> u16 {
    let deadline = tokio::time::Instant::now() + BOUND;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("a response with Content-Length");
            if got.len() >= end + 4 + length {
                assert_eq!(got.len(), end + 4 + length, "one response only");
                return head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            }
        }
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("no response within the bound");
        match read {
            Ok(0) | Err(_) => return 0,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// `GET /health` on an open connection; its status.
async fn health_on(stream: &mut TcpStream) -> u16 {
    if stream.write_all(HEALTH).await.is_err() {
        return 0;
    }
    response_status(stream).await
}

/// A metric's value in this process's registry (the servers under test run
/// in it), 0 if absent. `series` is the name with its labels, as rendered.
fn metric(series: &str) -> f64 {
    telemetry::metrics()
        .render()
        .lines()
        .find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// Waits until `series` is at least `value`; fails after [`BOUND`].
async fn metric_reaches(series: &str, value: f64) {
    let deadline = tokio::time::Instant::now() + BOUND;
    while metric(series) < value {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} is {}, not {value}, after {BOUND:?}",
            metric(series)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const WAITS: &str = "inventory_connection_limit_waits_total";
const HEADER_TIMEOUTS: &str = "inventory_connection_timeouts_total{reason=\"header\"}";
const IDLE_TIMEOUTS: &str = "inventory_connection_timeouts_total{reason=\"idle\"}";

/// Twice as many slow clients as there are connection slots: each is closed
/// by the header read timeout, the ones beyond the cap once a slot frees;
/// `GET /health` is answered 200 all along, also when it must wait for a
/// slot; the waits are counted.
#[tokio::test]
async fn slow_clients_are_closed_and_health_is_answered_at_the_cap() {
    let _serial = SERIAL.lock().await;
    const CAP: usize = 4;
    let app = spawn_app_with_listener(options(1, 1, CAP)).await;
    let waits_before = metric(WAITS);
    let header_timeouts_before = metric(HEADER_TIMEOUTS);
    // One connection per request (see `spawn_app_with_listener`).
    let client = app.client.clone();

    let mut slow = Vec::new();
    for _ in 0..2 * CAP {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream.write_all(PARTIAL_HEAD).await.unwrap();
        slow.push(stream);
    }
    // Every slot is taken: a connection found none.
    metric_reaches(WAITS, waits_before + 1.0).await;

    // Health checks all along, from now until every slow client is gone;
    // the first ones wait behind the slow clients for a slot.
    let (done_tx, mut done) = tokio::sync::watch::channel(false);
    let url = app.url("/health");
    let checks = tokio::spawn(async move {
        let mut statuses = Vec::new();
        loop {
            let status = match client.get(&url).send().await {
                Ok(res) => res.status().as_u16(),
                Err(e) => panic!("GET /health failed: {e}"),
            };
            statuses.push(status);
            if *done.borrow_and_update() {
                return statuses;
            }
        }
    });

    for (i, stream) in slow.iter_mut().enumerate() {
        closed_by_server(stream, &format!("slow client {i}")).await;
    }
    done_tx.send(true).unwrap();
    let statuses = checks.await.unwrap();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "GET /health while slow clients held the slots: {statuses:?}"
    );
    // Each slow client was closed by the header read timeout.
    metric_reaches(HEADER_TIMEOUTS, header_timeouts_before + (2 * CAP) as f64).await;

    app.shutdown().await;
}

/// At shutdown, the connection held waiting for a slot and the ones still
/// in the kernel's backlog are answered, not reset: the drain takes them
/// whatever the cap.
#[tokio::test]
async fn requests_waiting_for_a_slot_are_answered_at_shutdown() {
    let _serial = SERIAL.lock().await;
    let app = spawn_app_with_listener(options(600, 600, 1)).await;
    // The only slot: a kept-alive connection, answered, so it has it.
    let mut holder = TcpStream::connect(app.addr).await.unwrap();
    assert_eq!(health_on(&mut holder).await, 200);
    let waits_before = metric(WAITS);
    // Accepted, no slot for it: held, unread, until one frees.
    let mut waiting = TcpStream::connect(app.addr).await.unwrap();
    waiting.write_all(HEALTH).await.unwrap();
    metric_reaches(WAITS, waits_before + 1.0).await;
    // Behind it, in the kernel's backlog.
    let mut queued = TcpStream::connect(app.addr).await.unwrap();
    queued.write_all(HEALTH).await.unwrap();

    let stopping = tokio::spawn(app.shutdown());
    assert_eq!(
        response_status(&mut waiting).await,
        200,
        "the connection waiting for a slot"
    );
    assert_eq!(
        response_status(&mut queued).await,
        200,
        "the connection in the backlog"
    );
    // Graceful shutdown closes the idle one, and the server stops.
    closed_by_server(&mut holder, "an idle connection at shutdown").await;
    stopping.await.unwrap();
}

/// hyper's header read timeout alone would also close a kept-alive
/// connection waiting for its next request (it is armed when the
/// connection goes idle); here that wait is the idle timeout's, and the
/// header read timeout counts from the next request's first byte.
#[tokio::test]
async fn a_kept_alive_connection_waits_for_the_idle_timeout_not_the_header_timeout() {
    let _serial = SERIAL.lock().await;
    let app = spawn_app_with_listener(options(1, 600, 64)).await;
    let header_timeouts_before = metric(HEADER_TIMEOUTS);

    let mut kept = TcpStream::connect(app.addr).await.unwrap();
    assert_eq!(health_on(&mut kept).await, 200);
    // `kept` is idle from here. Two clients that start after it, and are
    // closed by the header read timeout (from their start): one sends
    // nothing, one a partial head.
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(PARTIAL_HEAD).await.unwrap();
    closed_by_server(&mut silent, "a client that sends nothing").await;
    closed_by_server(&mut slow, "a client that sends a partial head").await;

    // `kept` has been idle longer than the header read timeout: still open.
    assert_eq!(
        health_on(&mut kept).await,
        200,
        "a kept-alive connection was closed after the header read timeout"
    );
    assert_eq!(health_on(&mut kept).await, 200);

    // A partial head on it: the header read timeout, not the idle one.
    kept.write_all(PARTIAL_HEAD).await.unwrap();
    closed_by_server(&mut kept, "a kept-alive connection with a partial head").await;
    metric_reaches(HEADER_TIMEOUTS, header_timeouts_before + 3.0).await;

    app.shutdown().await;
}

/// A kept-alive connection with no request is closed after the idle timeout
/// (the header read timeout here is 10 minutes, so it cannot be that one).
#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let _serial = SERIAL.lock().await;
    let app = spawn_app_with_listener(options(600, 1, 64)).await;
    let idle_timeouts_before = metric(IDLE_TIMEOUTS);

    let mut kept = TcpStream::connect(app.addr).await.unwrap();
    assert_eq!(health_on(&mut kept).await, 200);
    assert_eq!(health_on(&mut kept).await, 200, "kept alive");
    closed_by_server(&mut kept, "an idle kept-alive connection").await;
    metric_reaches(IDLE_TIMEOUTS, idle_timeouts_before + 1.0).await;

    // The server is fine: a new connection is served.
    let mut next = TcpStream::connect(app.addr).await.unwrap();
    assert_eq!(health_on(&mut next).await, 200);

    app.shutdown().await;
}
