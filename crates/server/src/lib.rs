//! The `inventory` server: configuration, HTTP routes, authentication,
//! telemetry and the process lifecycle (start-up, graceful shutdown).

pub mod auth;
pub mod backup;
pub mod cache;
pub mod config;
pub mod error;
pub mod extract;
pub mod routes;
pub mod shared;
pub mod state;
pub mod telemetry;

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
    let store = open_store(config).await?;
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
    Ok(state)
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
pub async fn serve(
    state: AppState,
    listener: TcpListener,
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
    let mut graceful = stop_rx.clone();
    let app = routes::router(state);
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|stop| *stop).await;
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
