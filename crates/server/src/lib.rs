//! The `inventory` server: configuration, HTTP routes, authentication,
//! telemetry and the process lifecycle (start-up, graceful shutdown).

pub mod auth;
pub mod backup;
mod body;
pub mod cache;
pub mod config;
pub mod error;
pub mod extract;
pub mod routes;
pub mod shared;
pub mod state;
pub mod telemetry;
pub mod traced_store;

use config::{Config, DatabaseConfig};
use inventory_core::model::Role;
use inventory_core::Store;
use inventory_store_postgres::{PgStore, PostgresOptions};
use inventory_store_sqlite::{SqliteOptions, SqliteStore};
use state::AppState;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Opens the configured backend, applying migrations.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, inventory_core::Error> {
    match &config.database {
        DatabaseConfig::Sqlite { path, sync_full } => {
            let opts = SqliteOptions {
                sync_full: *sync_full,
                ..SqliteOptions::default()
            };
            Ok(Arc::new(SqliteStore::open(path, &opts).await?))
        }
        DatabaseConfig::Postgres {
            url,
            pool_size,
            statement_timeout,
            connect_timeout,
        } => {
            let opts = PostgresOptions {
                pool_size: *pool_size,
                statement_timeout: *statement_timeout,
                connect_timeout: *connect_timeout,
            };
            Ok(Arc::new(PgStore::open(url.expose(), &opts).await?))
        }
    }
}

/// Creates the `admin` user when there are no users yet. With no password
/// configured, a random one is generated and printed once to stderr.
pub async fn bootstrap_admin(
    store: &dyn Store,
    config: &Config,
) -> Result<(), inventory_core::Error> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let (password, generated) = match &config.admin_password {
        Some(p) => (p.expose().to_owned(), false),
        None => (auth::random_secret(18), true),
    };
    let to_hash = password.clone();
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&to_hash))
        .await
        .map_err(inventory_core::Error::internal)?
        .map_err(inventory_core::Error::internal)?;
    match store.create_user("admin", &hash, Role::Admin, None).await {
        Ok(_) => {}
        // Another process created it first.
        Err(inventory_core::Error::Conflict { .. }) => return Ok(()),
        Err(e) => return Err(e),
    }
    if generated {
        // Deliberately not a log line: shown once, to whoever started the server.
        eprintln!(
            "inventory: created user 'admin' with generated password: {password}\n\
             inventory: this is shown once; set INVENTORY_ADMIN_PASSWORD(_FILE) to choose it"
        );
    }
    tracing::info!("created the admin user");
    Ok(())
}

/// Everything `serve` needs, built from the configuration.
pub async fn build_state(config: &Config) -> Result<AppState, inventory_core::Error> {
    let mut store = open_store(config).await?;
    if telemetry::traces_enabled() {
        store = traced_store::TracedStore::wrap(store);
    }
    bootstrap_admin(store.as_ref(), config).await?;
    let redis = match &config.redis_url {
        Some(url) => Some(shared::Redis::connect(url.expose(), config.cache_ttl)?),
        None => None,
    };
    let state = AppState::new(store, redis, config.cache_ttl).await?;
    if let Some(redis) = &state.redis {
        let wake = state.clone();
        redis.spawn_event_listener(move || wake.wake_event_streams());
    }
    spawn_housekeeping(state.clone());
    spawn_secret_watch(state.clone(), config);
    Ok(state)
}

/// How often secret files are looked at.
const SECRET_POLL: Duration = Duration::from_secs(1);

/// Re-reads `DATABASE_URL_FILE` and `REDIS_URL_FILE` every second. A
/// changed value (Kubernetes updates a mounted Secret in place) is used for
/// every new connection from then on, without a restart; the connections
/// already open stay, so no request fails while a password is rotated (see
/// docs/runbooks/secret-rotation.md).
fn spawn_secret_watch(state: AppState, config: &Config) {
    let files = [
        (config.database_url_file.clone(), "DATABASE_URL_FILE"),
        (config.redis_url_file.clone(), "REDIS_URL_FILE"),
    ];
    if files.iter().all(|(path, _)| path.is_none()) {
        return;
    }
    let initial = |path: &Option<std::path::PathBuf>| {
        path.as_deref()
            .and_then(|p| config::read_secret_file(p).ok())
    };
    let mut last = [initial(&files[0].0), initial(&files[1].0)];
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SECRET_POLL);
        loop {
            tick.tick().await;
            for (i, (path, name)) in files.iter().enumerate() {
                let Some(path) = path else { continue };
                let value = match config::read_secret_file(path) {
                    Ok(v) => v,
                    // Mid-update (Kubernetes swaps a symlink) or gone: keep
                    // what works and look again next second.
                    Err(_) => continue,
                };
                if last[i].as_ref() == Some(&value) {
                    continue;
                }
                let applied = match i {
                    0 => state
                        .store
                        .set_database_url(value.expose())
                        .map_err(|e| e.to_string()),
                    _ => match &state.redis {
                        Some(redis) => redis
                            .set_url(value.expose())
                            .map(|()| true)
                            .map_err(|e| e.to_string()),
                        None => Ok(false),
                    },
                };
                match applied {
                    Ok(true) => {
                        tracing::info!(file = name, "secret changed: new connections use it")
                    }
                    Ok(false) => tracing::warn!(
                        file = name,
                        "secret changed, but this setting needs a restart to apply"
                    ),
                    // Never the value: it is a secret.
                    Err(e) => {
                        tracing::error!(file = name, error = %e, "secret changed but is not usable; keeping the previous one")
                    }
                }
                last[i] = Some(value);
            }
        }
    });
}

/// Forgets idempotency keys after 25 hours (kept at least 24 h, as promised)
/// and expired sessions, once an hour.
fn spawn_housekeeping(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let before = chrono::Utc::now() - chrono::Duration::hours(25);
            match state.store.purge_expired(before).await {
                Ok(n) => tracing::debug!(rows = n, "purged expired keys and sessions"),
                Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
            }
        }
    });
}

/// Serves until `shutdown` resolves; then readiness turns 503 at once,
/// in-flight requests get `grace` to finish, and the function returns.
///
/// Stopping is ordered so that a load balancer in front never sees a request
/// dropped after it was sent (which it could not safely retry, as the request
/// may be a POST):
/// 1. the connections the kernel has already completed are accepted (a
///    non-blocking drain of the backlog) and only then is the listener
///    closed, so later connects are refused, which a balancer retries on
///    another replica; closing first would reset the queued ones, whose
///    requests are already sent;
/// 2. graceful shutdown (idle keep-alive connections closed, keep-alive off
///    for the rest) begins once every accepted connection has delivered its
///    first bytes (or after [`FIRST_READ_WAIT`]): a connection still waiting
///    for them would be dropped unread (hyper-util's protocol detection is
///    cancelled by graceful shutdown), resetting a request already sent.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    serve_with_metrics(state, listener, None, shutdown, grace).await
}

/// [`serve`], with /metrics moved to its own listener when one is given
/// (`METRICS_PORT`): the main listener then answers 404 for it. The metrics
/// listener keeps answering until the main one has finished, so the last
/// scrapes see the shutdown.
pub async fn serve_with_metrics(
    state: AppState,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let metrics_on_main = metrics_listener.is_none();
    let metrics_server = metrics_listener.map(|l| {
        let app = routes::metrics_router(state.clone());
        tokio::spawn(async move { axum::serve(l, app).await })
    });
    let result = serve_main(state, listener, metrics_on_main, shutdown, grace).await;
    if let Some(task) = metrics_server {
        task.abort();
    }
    result
}

async fn serve_main(
    state: AppState,
    listener: TcpListener,
    metrics_on_main: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal_state = state.clone();
    tokio::spawn(async move {
        shutdown.await;
        signal_state.begin_shutdown();
        tracing::info!("shutting down: readiness is now 503, finishing in-flight requests");
        let _ = stop_tx.send(true);
    });
    let (drained_tx, mut drained) = tokio::sync::watch::channel(false);
    let listener = DrainingListener {
        listener: Some(listener),
        queued: std::collections::VecDeque::new(),
        stop: stop_rx.clone(),
        drained: Some(drained_tx),
        unread: Arc::new(tokio::sync::watch::channel(0).0),
    };
    let app = routes::router(state, metrics_on_main);
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = drained.wait_for(|drained| *drained).await;
    });
    let mut deadline = stop_rx;
    tokio::select! {
        result = server => result,
        _ = async move {
            let _ = deadline.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("shutdown timeout reached; abandoning unfinished requests");
            Ok(())
        }
    }
}

/// How long graceful shutdown waits for accepted connections to send their
/// first bytes; one that sends nothing for this long is closed.
const FIRST_READ_WAIT: Duration = Duration::from_secs(2);

/// The TCP listener as `serve` stops it: see [`serve`].
struct DrainingListener {
    listener: Option<TcpListener>,
    /// Connections taken from the backlog at shutdown, not yet handed over.
    queued: std::collections::VecDeque<(tokio::net::TcpStream, std::net::SocketAddr)>,
    stop: tokio::sync::watch::Receiver<bool>,
    /// Set once the listener is closed and its connections have been read.
    drained: Option<tokio::sync::watch::Sender<bool>>,
    /// Accepted connections that have not delivered their first bytes yet.
    unread: Arc<tokio::sync::watch::Sender<usize>>,
}

impl DrainingListener {
    fn track(
        &self,
        (io, addr): (tokio::net::TcpStream, std::net::SocketAddr),
    ) -> (FirstRead, std::net::SocketAddr) {
        self.unread.send_modify(|n| *n += 1);
        let unread = Some(self.unread.clone());
        metrics::gauge!("inventory_active_connections").increment(1.0);
        (FirstRead { io, unread }, addr)
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
                Ok((stream, addr)) => {
                    let stream = stream
                        .set_nonblocking(true)
                        .and_then(|()| tokio::net::TcpStream::from_std(stream));
                    if let Ok(stream) = stream {
                        self.queued.push_back((stream, addr));
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
        tracing::info!(drained = self.queued.len(), "listener closed");
    }
}

impl axum::serve::Listener for DrainingListener {
    type Io = FirstRead;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (FirstRead, std::net::SocketAddr) {
        loop {
            if let Some(conn) = self.queued.pop_front() {
                return self.track(conn);
            }
            let (Some(listener), stop) = (self.listener.as_mut(), &mut self.stop) else {
                // Closed and all handed over: graceful shutdown may begin
                // once they have been read.
                if let Some(drained) = self.drained.take() {
                    let mut unread = self.unread.subscribe();
                    tokio::spawn(async move {
                        let first_reads = unread.wait_for(|n| *n == 0);
                        let _ = tokio::time::timeout(FIRST_READ_WAIT, first_reads).await;
                        let _ = drained.send(true);
                    });
                }
                return std::future::pending().await;
            };
            let accepted = tokio::select! {
                biased;
                _ = async {
                    if stop.wait_for(|stop| *stop).await.is_err() {
                        // The sender is gone without asking to stop.
                        std::future::pending::<()>().await;
                    }
                } => None,
                conn = axum::serve::Listener::accept(listener) => Some(conn),
            };
            match accepted {
                Some(conn) => return self.track(conn),
                None => self.drain_and_close(),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match &self.listener {
            Some(listener) => listener.local_addr(),
            None => Err(std::io::Error::other("the listener is closed")),
        }
    }
}

/// An accepted connection that counts itself read once its first read
/// completes (or it is dropped).
struct FirstRead {
    io: tokio::net::TcpStream,
    unread: Option<Arc<tokio::sync::watch::Sender<usize>>>,
}

impl FirstRead {
    fn mark_read(&mut self) {
        if let Some(unread) = self.unread.take() {
            unread.send_modify(|n| *n -= 1);
        }
    }
}

impl Drop for FirstRead {
    fn drop(&mut self) {
        metrics::gauge!("inventory_active_connections").decrement(1.0);
        self.mark_read();
    }
}

impl tokio::io::AsyncRead for FirstRead {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.io).poll_read(cx, buf);
        if polled.is_ready() {
            self.mark_read();
        }
        polled
    }
}

impl tokio::io::AsyncWrite for FirstRead {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
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
