//! The listener: serving the router with a graceful shutdown that never
//! drops a request a load balancer already sent.

use crate::http::router;
use inventory_app::App;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

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
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    serve_with_metrics(app, listener, None, shutdown, grace).await
}

/// [`serve`], with /metrics moved to its own listener when one is given
/// (`METRICS_PORT`): the main listener then answers 404 for it. The metrics
/// listener keeps answering until the main one has finished, so the last
/// scrapes see the shutdown.
pub async fn serve_with_metrics(
    app: App,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let metrics_on_main = metrics_listener.is_none();
    let metrics_server = metrics_listener.map(|l| {
        let app = crate::http::metrics_router(app.clone());
        tokio::spawn(async move { axum::serve(l, app).await })
    });
    let result = serve_main(app, listener, metrics_on_main, shutdown, grace).await;
    if let Some(task) = metrics_server {
        task.abort();
    }
    result
}

async fn serve_main(
    app: App,
    listener: TcpListener,
    metrics_on_main: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal_app = app.clone();
    tokio::spawn(async move {
        shutdown.await;
        signal_app.begin_shutdown();
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
    let service = router(app, metrics_on_main);
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
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
