//! The HTTP listener: accepting connections (at most `max_connections` at
//! once), serving each with hyper's HTTP/1 connection under a header read
//! timeout and an idle keep-alive timeout, and stopping without dropping a
//! request that a client has already sent. See [`serve`].
//!
//! # Timeouts, and what hyper 1.12 does on its own
//!
//! hyper's `header_read_timeout` (with a timer; without one it panics) is
//! armed each time its HTTP/1 connection starts to read a request head
//! (`proto/h1/conn.rs`, `poll_read_head`), and disarmed when the head is
//! complete. A connection that has answered a request goes idle and starts
//! reading the next head at once (`State::idle` asks for a read when the
//! timeout is set), so **hyper's header read timeout also counts the wait for
//! the next request on a kept-alive connection**: on its own, a 10 s header
//! read timeout closes every keep-alive connection after 10 s of quiet.
//! That is shorter than the idle timeout of the proxies that pool
//! connections to us (nginx's upstream `keepalive_timeout` and AWS ALB: 60 s),
//! so they would write requests into connections we are closing.
//!
//! So each connection gets its own [`HeadTimer`] around hyper-util's
//! `TokioTimer`. For the connection's first request it is exactly
//! `TokioTimer`: hyper's own timeout, counted from the connection's start
//! (a client that connects and sends nothing is closed after it too). For a
//! later request, the timer hyper arms when the connection goes idle first
//! waits for the idle timeout; if the first byte of the next request arrives
//! before that, it is re-armed for the header read timeout from that byte. A
//! timer that fires closes the connection through hyper's own path (an error
//! for which `hyper::Error::is_timeout` is true, no response written).
//! Neither timeout runs while a request is in progress (reading its body,
//! handling it, writing the response, or streaming events).

use crate::http::extract::PeerAddr;
use axum::Router;
use hyper::rt::{Sleep, Timer};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// A client that has not sent a complete request head this long after
/// connecting (or after the first byte of a later request) is closed.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A kept-alive connection with no request for this long is closed. Longer
/// than the idle timeout of the proxies and load balancers that pool
/// connections to a backend (nginx's upstream `keepalive_timeout`, AWS ALB:
/// 60 s), so that they, not the server, close an idle connection: a server
/// that closes first races the proxy's next request on that connection, which
/// the proxy cannot safely retry if it is a POST. Behind one that keeps idle
/// connections longer (Google Cloud load balancers: 600 s), raise it above
/// that one's.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);

/// Open files kept back from the file limit for everything but client
/// connections: the SQLite files and read connections, Redis, log output,
/// the secret files being watched, a connection held while waiting for a
/// slot (see [`DrainingListener`]). Connection pools that can be large are
/// reserved on top (`Settings::validate`).
pub const RESERVED_FILES: u64 = 128;

/// The `/metrics` listener (`METRICS_PORT`) serves at most this many
/// connections, apart from the main listener's: one per Prometheus server
/// and a few people. A main port full of slow clients cannot keep the
/// scrape that would show it from being answered.
pub const METRICS_MAX_CONNECTIONS: usize = 16;

/// How long graceful shutdown waits for accepted connections to send their
/// first bytes; one that sends nothing for this long is closed.
const FIRST_READ_WAIT: Duration = Duration::from_secs(2);

/// At most one "connection limit reached" log line per listener this often.
const LIMIT_LOG_EVERY: Duration = Duration::from_secs(60);

/// How connections are served: the timeouts and the connection cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerOptions {
    /// See [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// Client connections served at once; more wait in the kernel's listen
    /// backlog until one closes.
    pub max_connections: usize,
    /// How the UI's pages on this listener set cookies (whether clients
    /// reach it over TLS).
    pub web: crate::web::cookies::WebOptions,
}

impl Default for ListenerOptions {
    /// The defaults of `INVENTORY_HEADER_READ_TIMEOUT`,
    /// `INVENTORY_IDLE_TIMEOUT` and `INVENTORY_MAX_CONNECTIONS=auto` (for
    /// SQLite and /metrics on the main port).
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: max_connections_for(open_file_limit(), RESERVED_FILES),
            web: crate::web::cookies::WebOptions::default(),
        }
    }
}

/// The process's soft limit on open files (`RLIMIT_NOFILE`, `ulimit -n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileLimit {
    Limited(u64),
    Unlimited,
    /// Not readable (no `/proc`: not Linux, or not mounted).
    Unknown,
}

/// Reads the soft open-file limit from `/proc/self/limits` (no `unsafe`
/// `getrlimit`, and no dependency for one number).
pub fn open_file_limit() -> FileLimit {
    std::fs::read_to_string("/proc/self/limits")
        .map(|text| parse_open_file_limit(&text))
        .unwrap_or(FileLimit::Unknown)
}

/// The soft limit in the text of `/proc/<pid>/limits`:
/// `Max open files            1024                 1048576              files`.
pub fn parse_open_file_limit(limits: &str) -> FileLimit {
    let soft = limits.lines().find_map(|line| {
        line.strip_prefix("Max open files")?
            .split_whitespace()
            .next()
    });
    match soft {
        Some("unlimited") => FileLimit::Unlimited,
        Some(value) => value.parse().map_or(FileLimit::Unknown, FileLimit::Limited),
        None => FileLimit::Unknown,
    }
}

/// The open-file limit assumed when it cannot be read: the usual default.
const ASSUMED_FILE_LIMIT: u64 = 1024;

/// Linux's default ceiling on a process's open files (`fs.nr_open`), used
/// for an unlimited soft limit.
const UNLIMITED_FILE_LIMIT: u64 = 1 << 20;

/// The connection cap that `INVENTORY_MAX_CONNECTIONS=auto` means: the file
/// limit minus `reserved` files for everything else; never more than half
/// the limit when the limit is tiny, and at least 1.
pub fn max_connections_for(limit: FileLimit, reserved: u64) -> usize {
    let limit = match limit {
        FileLimit::Limited(n) => n,
        FileLimit::Unlimited => UNLIMITED_FILE_LIMIT,
        FileLimit::Unknown => ASSUMED_FILE_LIMIT,
    };
    let cap = limit.saturating_sub(reserved).max(limit / 2).max(1);
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// Serves `main` on `listener` (and `metrics`, the `/metrics` router, on
/// its own listener when given) until `shutdown` resolves; then `stopping`
/// runs (readiness turns 503), in-flight requests get `grace` to finish,
/// and the function returns.
///
/// Stopping is ordered so that a load balancer in front never sees a request
/// dropped after it was sent (which it could not safely retry, as the request
/// may be a POST):
/// 1. the connections the kernel has already completed are accepted (a
///    non-blocking drain of the backlog, whatever the connection cap) and
///    only then is the listener closed, so later connects are refused, which
///    a balancer retries on another replica; closing first would reset the
///    queued ones, whose requests are already sent;
/// 2. graceful shutdown (idle keep-alive connections closed, keep-alive off
///    for the rest) begins once every accepted connection has delivered its
///    first bytes (or after [`FIRST_READ_WAIT`]): told to shut down, hyper's
///    HTTP/1 connection closes at once one that has read nothing yet
///    (`Dispatcher::disable_keep_alive`), resetting a request already sent.
///
/// The metrics listener has the same timeouts and a cap of its own,
/// [`METRICS_MAX_CONNECTIONS`]; it keeps answering until the main one has
/// finished, so the last scrapes see the shutdown.
pub async fn serve_routers(
    main: Router,
    listener: TcpListener,
    metrics: Option<(TcpListener, Router)>,
    options: ListenerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stopping: impl FnOnce() + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let metrics_server = metrics.map(|(l, service)| {
        let options = ListenerOptions {
            max_connections: METRICS_MAX_CONNECTIONS,
            ..options
        };
        // Never told to stop: aborted once the main listener has finished.
        let never = watch::channel(false).1;
        tokio::spawn(serve_connections(l, service, options, Role::Metrics, never))
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        stopping();
        tracing::info!("shutting down: readiness is now 503, finishing in-flight requests");
        let _ = stop_tx.send(true);
    });
    let server = serve_connections(listener, main, options, Role::Main, stop_rx.clone());
    let mut deadline = stop_rx;
    let result = tokio::select! {
        result = server => result,
        _ = async move {
            let _ = deadline.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("shutdown timeout reached; abandoning unfinished requests");
            Ok(())
        }
    };
    if let Some(task) = metrics_server {
        task.abort();
    }
    result
}

/// Which listener: the main one is the one the connection metrics describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Main,
    Metrics,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Main => "main",
            Role::Metrics => "metrics",
        }
    }

    fn observed(self) -> bool {
        self == Role::Main
    }
}

/// Accepts and serves connections until `stop`, then stops as [`serve`]
/// describes and returns once every connection has finished.
async fn serve_connections(
    listener: TcpListener,
    app: Router,
    options: ListenerOptions,
    role: Role,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    if role.observed() {
        metrics::gauge!("inventory_max_connections").set(options.max_connections as f64);
        // Present from the start, so that rates and alerts see a zero.
        metrics::counter!("inventory_connection_limit_waits_total").increment(0);
        for reason in ["header", "idle"] {
            metrics::counter!("inventory_connection_timeouts_total", "reason" => reason)
                .increment(0);
        }
    }
    let mut listener = DrainingListener::new(listener, stop, options.max_connections, role);
    let graceful = GracefulShutdown::new();
    while let Some(io) = listener.next().await {
        let activity = io.activity.clone();
        let mut builder = http1::Builder::new();
        builder
            .timer(HeadTimer {
                tokio: TokioTimer::new(),
                activity: activity.clone(),
                idle_timeout: options.idle_timeout,
            })
            .header_read_timeout(options.header_read_timeout);
        // Every request of the connection carries its peer's address.
        let peer = io.io.peer_addr().ok().map(PeerAddr);
        let service = tower::util::MapRequest::new(
            app.clone(),
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                if let Some(peer) = peer {
                    request.extensions_mut().insert(peer);
                }
                request
            },
        );
        let connection =
            builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                connection_failed(&e, &activity, role);
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}

fn connection_failed(error: &hyper::Error, activity: &ConnActivity, role: Role) {
    if error.is_timeout() {
        let reason = if activity.idle_timed_out.load(Ordering::Relaxed) {
            "idle"
        } else {
            "header"
        };
        if role.observed() {
            metrics::counter!("inventory_connection_timeouts_total", "reason" => reason)
                .increment(1);
        }
        tracing::debug!(listener = role.name(), reason, "connection closed: timeout");
    } else {
        tracing::debug!(listener = role.name(), error = %error, "connection ended with an error");
    }
}

/// The TCP listener, with the connection cap, as `serve` stops it: see
/// [`serve`].
///
/// At the cap, the listener accepts one more connection, finds no slot,
/// counts it (`inventory_connection_limit_waits_total`, a log line at most
/// every [`LIMIT_LOG_EVERY`]) and holds it, unread, until a connection
/// closes; the ones after it stay in the kernel's backlog (128 with
/// `TcpListener::bind`; past that the kernel drops SYNs and clients retry
/// them). Connections
/// already accepted are served meanwhile as usual, and the timeouts free the
/// slots that slow clients hold.
struct DrainingListener {
    listener: Option<TcpListener>,
    /// Connections taken from the backlog at shutdown, not yet handed over.
    /// They are served whatever the cap (the backlog bounds them).
    queued: VecDeque<TcpStream>,
    stop: watch::Receiver<bool>,
    /// One permit per connection that may be served at once.
    slots: Arc<Semaphore>,
    max_connections: usize,
    role: Role,
    /// Accepted connections that have not delivered their first bytes yet.
    unread: Arc<watch::Sender<usize>>,
    last_limit_log: Option<Instant>,
    waited_since_log: u64,
}

impl DrainingListener {
    fn new(
        listener: TcpListener,
        stop: watch::Receiver<bool>,
        max_connections: usize,
        role: Role,
    ) -> Self {
        Self {
            listener: Some(listener),
            queued: VecDeque::new(),
            stop,
            slots: Arc::new(Semaphore::new(max_connections)),
            max_connections,
            role,
            unread: Arc::new(watch::channel(0).0),
            last_limit_log: None,
            waited_since_log: 0,
        }
    }

    /// The next connection to serve, or `None` once the listener is closed,
    /// everything it accepted has been handed over, and those connections
    /// have been read (or [`FIRST_READ_WAIT`] has passed): graceful shutdown
    /// may begin.
    async fn next(&mut self) -> Option<TrackedIo> {
        loop {
            if let Some(io) = self.queued.pop_front() {
                return Some(self.track(io, None));
            }
            let Some(listener) = self.listener.as_ref() else {
                let mut unread = self.unread.subscribe();
                let first_reads = unread.wait_for(|n| *n == 0);
                let _ = tokio::time::timeout(FIRST_READ_WAIT, first_reads).await;
                return None;
            };
            let accepted = tokio::select! {
                biased;
                () = stopped(&mut self.stop) => None,
                io = accept(listener) => Some(io),
            };
            let Some(io) = accepted else {
                self.drain_and_close();
                continue;
            };
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                return Some(self.track(io, Some(slot)));
            }
            self.limit_reached();
            let slot = tokio::select! {
                biased;
                () = stopped(&mut self.stop) => None,
                slot = self.slots.clone().acquire_owned() => Some(slot),
            };
            match slot {
                // The semaphore is never closed.
                Some(slot) => return Some(self.track(io, slot.ok())),
                None => {
                    self.queued.push_back(io);
                    self.drain_and_close();
                }
            }
        }
    }

    fn limit_reached(&mut self) {
        if self.role.observed() {
            metrics::counter!("inventory_connection_limit_waits_total").increment(1);
        }
        self.waited_since_log += 1;
        let now = Instant::now();
        if self
            .last_limit_log
            .is_none_or(|last| now.duration_since(last) >= LIMIT_LOG_EVERY)
        {
            tracing::warn!(
                listener = self.role.name(),
                max_connections = self.max_connections,
                waited = self.waited_since_log,
                "connection limit reached: new connections wait in the backlog until one closes \
                 (waited: connections that found no free slot since the last such line)"
            );
            self.last_limit_log = Some(now);
            self.waited_since_log = 0;
        }
    }

    fn track(&self, io: TcpStream, slot: Option<OwnedSemaphorePermit>) -> TrackedIo {
        self.unread.send_modify(|n| *n += 1);
        let observed = self.role.observed();
        if observed {
            metrics::gauge!("inventory_active_connections").increment(1.0);
        }
        TrackedIo {
            io,
            unread: Some(self.unread.clone()),
            activity: Arc::new(ConnActivity::default()),
            observed,
            _slot: slot,
        }
    }

    /// Accepts every connection the kernel has completed, then closes.
    fn drain_and_close(&mut self) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        // `into_std` leaves the socket non-blocking: accept until WouldBlock.
        let Ok(listener) = listener.into_std() else {
            return;
        };
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    let stream = stream
                        .set_nonblocking(true)
                        .and_then(|()| TcpStream::from_std(stream));
                    if let Ok(stream) = stream {
                        self.queued.push_back(stream);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed while draining the listener");
                    break;
                }
            }
        }
        // Closed right after the last look, before anything slower (a log
        // line): a connection the kernel completes in between is reset.
        drop(listener);
        tracing::info!(
            listener = self.role.name(),
            drained = self.queued.len(),
            "listener closed"
        );
    }
}

/// Resolves when `stop` turns true; never if its sender is gone without.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The next connection. Errors that concern one connection are skipped;
/// others (out of file descriptors: `EMFILE`) are logged and retried after a
/// second, as axum's `serve` does.
async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((io, _)) => return io,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                ) => {}
            Err(e) => {
                tracing::error!(error = %e, "accept failed; trying again in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// What a connection's [`HeadTimer`] learns from its socket.
#[derive(Default)]
struct ConnActivity {
    /// Request heads hyper has started to read on this connection.
    heads: AtomicU64,
    /// Set while a kept-alive connection waits for its next request.
    awaiting_first_byte: AtomicBool,
    /// When the first byte of that request arrived.
    first_byte_at: Mutex<Option<Instant>>,
    /// The idle timeout (not the header read timeout) closed the connection.
    idle_timed_out: AtomicBool,
}

impl ConnActivity {
    fn bytes_arrived(&self) {
        if self.awaiting_first_byte.load(Ordering::Relaxed)
            && self.awaiting_first_byte.swap(false, Ordering::Relaxed)
        {
            *self.first_byte_at() = Some(Instant::now());
        }
    }

    fn first_byte_at(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.first_byte_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The timer hyper uses for one connection: see the module documentation.
/// In hyper 1.12 the HTTP/1 server uses its timer for the header read
/// timeout only, arming it (`sleep_until`) once per request head.
struct HeadTimer {
    tokio: TokioTimer,
    activity: Arc<ConnActivity>,
    idle_timeout: Duration,
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.tokio.sleep(duration)
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn Sleep>> {
        if self.activity.heads.fetch_add(1, Ordering::Relaxed) == 0 {
            // The first request: hyper's own timeout, from the start.
            return self.tokio.sleep_until(deadline);
        }
        // hyper asks for `now + header_read_timeout`: the same span, but
        // from the first byte of the request, after an idle wait.
        let header_read_timeout = deadline.saturating_duration_since(self.tokio.now());
        Box::pin(NextHead::new(
            self.activity.clone(),
            header_read_timeout,
            self.idle_timeout,
        ))
    }

    fn now(&self) -> std::time::Instant {
        self.tokio.now()
    }
}

/// The header read timeout of a kept-alive connection's next request:
/// armed for the idle timeout until the request's first byte arrives, then
/// for the header read timeout from that byte.
struct NextHead {
    activity: Arc<ConnActivity>,
    header_read_timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    idle: bool,
}

impl NextHead {
    fn new(activity: Arc<ConnActivity>, header_read_timeout: Duration, idle: Duration) -> Self {
        *activity.first_byte_at() = None;
        activity.awaiting_first_byte.store(true, Ordering::Relaxed);
        Self {
            activity,
            header_read_timeout,
            sleep: Box::pin(tokio::time::sleep(idle)),
            idle: true,
        }
    }
}

impl Future for NextHead {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // hyper polls this whenever its read of the head is pending, so
        // also right after the read that brought the first byte.
        if self.idle {
            let first_byte = *self.activity.first_byte_at();
            if let Some(at) = first_byte {
                self.idle = false;
                let deadline = at + self.header_read_timeout;
                self.sleep.as_mut().reset(deadline);
            }
        }
        ready!(self.sleep.as_mut().poll(cx));
        if self.idle {
            self.activity.idle_timed_out.store(true, Ordering::Relaxed);
        }
        Poll::Ready(())
    }
}

impl Drop for NextHead {
    fn drop(&mut self) {
        // The head arrived (or the connection is gone): no longer waiting.
        self.activity
            .awaiting_first_byte
            .store(false, Ordering::Relaxed);
    }
}

impl Sleep for NextHead {}

/// An accepted connection: counted in `inventory_active_connections`
/// (main listener) and as unread until its first read completes; tells its
/// [`HeadTimer`] when bytes arrive; holds its connection slot until it
/// closes.
struct TrackedIo {
    io: TcpStream,
    unread: Option<Arc<watch::Sender<usize>>>,
    activity: Arc<ConnActivity>,
    observed: bool,
    /// Declared last: fields drop in order, so the slot is freed only after
    /// the socket is closed.
    _slot: Option<OwnedSemaphorePermit>,
}

impl TrackedIo {
    fn mark_read(&mut self) {
        if let Some(unread) = self.unread.take() {
            unread.send_modify(|n| *n -= 1);
        }
    }
}

impl Drop for TrackedIo {
    fn drop(&mut self) {
        if self.observed {
            metrics::gauge!("inventory_active_connections").decrement(1.0);
        }
        self.mark_read();
    }
}

impl tokio::io::AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if polled.is_ready() {
            self.mark_read();
            if buf.filled().len() > before {
                self.activity.bytes_arrived();
            }
        }
        polled
    }
}

impl tokio::io::AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Installs the SIGTERM/SIGINT handlers at once (so that a signal arriving
/// right after start-up is never the default "terminate"), and returns a
/// future that resolves on either.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = term => {},
                _ = int => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_open_file_limit_is_read_from_proc_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            1024                 524288               files     \n\
                    Max locked memory         8388608              8388608              bytes     \n";
        assert_eq!(parse_open_file_limit(text), FileLimit::Limited(1024));
        let unlimited = text.replace(
            "Max open files            1024 ",
            "Max open files            unlimited ",
        );
        assert_eq!(parse_open_file_limit(&unlimited), FileLimit::Unlimited);
        assert_eq!(
            parse_open_file_limit("Max cpu time unlimited unlimited seconds\n"),
            FileLimit::Unknown
        );
        assert_eq!(
            parse_open_file_limit("Max open files  lots  lots  files\n"),
            FileLimit::Unknown
        );
        // This process's own, on Linux.
        if cfg!(target_os = "linux") {
            assert!(matches!(
                open_file_limit(),
                FileLimit::Limited(_) | FileLimit::Unlimited
            ));
        }
    }

    #[test]
    fn the_connection_cap_leaves_room_below_the_file_limit() {
        // The container default: 1024 files, 128 kept back.
        assert_eq!(
            max_connections_for(FileLimit::Limited(1024), RESERVED_FILES),
            896
        );
        // Docker's usual soft limit; reserved for a PostgreSQL pool too.
        assert_eq!(
            max_connections_for(FileLimit::Limited(1_048_576), RESERVED_FILES + 11),
            1_048_437
        );
        // macOS's default of 256 still leaves half for connections.
        assert_eq!(
            max_connections_for(FileLimit::Limited(256), RESERVED_FILES),
            128
        );
        // A tiny limit: never more than half of it, never zero.
        assert_eq!(
            max_connections_for(FileLimit::Limited(150), RESERVED_FILES),
            75
        );
        assert_eq!(
            max_connections_for(FileLimit::Limited(1), RESERVED_FILES),
            1
        );
        assert_eq!(
            max_connections_for(FileLimit::Limited(0), RESERVED_FILES),
            1
        );
        // Unreadable: the common default of 1024 is assumed.
        assert_eq!(max_connections_for(FileLimit::Unknown, RESERVED_FILES), 896);
        // Unlimited: Linux's ceiling on open files per process.
        assert_eq!(
            max_connections_for(FileLimit::Unlimited, RESERVED_FILES),
            1_048_448
        );
    }
}
