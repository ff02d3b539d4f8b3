//! The `inventory` server: configuration, HTTP routes, authentication,
//! telemetry and the process lifecycle (start-up here; serving connections
//! and graceful shutdown in `listener.rs`).

pub mod auth;
pub mod backup;
mod body;
pub mod cache;
pub mod config;
pub mod error;
pub mod extract;
mod listener;
pub mod routes;
pub mod shared;
pub mod state;
pub mod telemetry;
pub mod traced_store;

pub use listener::{
    serve, serve_with_metrics, serve_with_options, shutdown_signal, ListenerOptions,
};

use config::{Config, DatabaseConfig};
use inventory_core::model::Role;
use inventory_core::Store;
use inventory_store_postgres::{PgStore, PostgresOptions};
use inventory_store_sqlite::{SqliteOptions, SqliteStore};
use state::AppState;
use std::sync::Arc;
use std::time::Duration;

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
