//! Start-up: opening the configured store (applying migrations), the first
//! administrator, the application with its caches, and the background tasks
//! of a serving process (secret files watched, housekeeping).

use crate::config::{self, Config, DatabaseConfig};
use crate::telemetry;
use inventory_app::redis::Redis;
use inventory_app::users::Bootstrap;
use inventory_app::{App, AppOptions};
use inventory_core::Store;
use inventory_store_postgres::{PgStore, PostgresOptions};
use inventory_store_sqlite::{SqliteOptions, SqliteStore};
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
    let password = config.admin_password.as_ref().map(|p| p.expose());
    match inventory_app::users::bootstrap_admin(store, password).await? {
        Bootstrap::UsersExist if password.is_some() => tracing::warn!(
            "INVENTORY_ADMIN_PASSWORD is set but ignored: users exist already, and it only sets \
             the first admin's password in an empty database; to reset a password, run \
             'inventory user reset-password NAME'"
        ),
        Bootstrap::UsersExist => {}
        Bootstrap::Created => tracing::info!("created the admin user"),
        Bootstrap::Generated(password) => {
            // Deliberately not a log line: shown once, to whoever started the server.
            eprintln!(
                "inventory: created user 'admin' with generated password: {password}\n\
                 inventory: this is shown once; set INVENTORY_ADMIN_PASSWORD(_FILE) to choose it"
            );
            tracing::info!("created the admin user");
        }
    }
    Ok(())
}

/// Everything `serve` needs, built from the configuration.
pub async fn build_app(config: &Config) -> Result<App, inventory_core::Error> {
    let store = open_store(config).await?;
    bootstrap_admin(store.as_ref(), config).await?;
    let redis = match &config.redis_url {
        Some(url) => Some(Redis::connect(url.expose(), config.cache_ttl)?),
        None => None,
    };
    let options = AppOptions {
        cache_ttl: config.cache_ttl,
        cache_max_bytes: config.cache_max_bytes,
        trace_use_cases: telemetry::traces_enabled(),
        policy: config.policy,
        audit_retention_days: config.audit_retention_days,
    };
    let app = App::new(store, redis, options).await?;
    telemetry::spawn_metrics_upkeep();
    spawn_housekeeping(app.clone());
    spawn_reservation_sweeper(app.clone());
    spawn_secret_watch(app.clone(), config);
    Ok(app)
}

/// How often secret files are looked at.
const SECRET_POLL: Duration = Duration::from_secs(1);

/// Re-reads `DATABASE_URL_FILE` and `REDIS_URL_FILE` every second. A
/// changed value (Kubernetes updates a mounted Secret in place) is used for
/// every new connection from then on, without a restart; the connections
/// already open stay, so no request fails while a password is rotated (see
/// docs/runbooks/secret-rotation.md).
fn spawn_secret_watch(app: App, config: &Config) {
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
                    0 => app.set_database_url(value.expose()),
                    _ => app.set_redis_url(value.expose()),
                }
                .map_err(|e| e.to_string());
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

/// Ends lapsed reservations every second, on the one replica that holds the
/// sweeper lease (another takes over within `SWEEPER_LEASE` when it stops).
/// Availability never waits for it: each write ends the due reservations of
/// its items itself. The sweep makes `status`, `reserved` on reads and the
/// `reservation.expired` events follow within a second.
fn spawn_reservation_sweeper(app: App) {
    let holder = uuid::Uuid::now_v7();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match app.sweep_reservations(holder).await {
                Ok(Some(n)) if n > 0 => tracing::info!(ended = n, "expired reservations"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the reservation sweep failed"),
            }
        }
    });
}

/// Forgets idempotency keys after 25 hours (kept at least 24 h, as promised)
/// and expired sessions, and deletes audit entries past their retention
/// (`AUDIT_RETENTION_DAYS`), once an hour.
fn spawn_housekeeping(app: App) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match app.purge_expired().await {
                Ok(n) => tracing::debug!(rows = n, "purged expired keys and sessions"),
                Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
            }
            match app.prune_audit().await {
                Ok(n) if n > 0 => {
                    tracing::info!(entries = n, "pruned audit entries past retention")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning the audit trail failed"),
            }
        }
    });
}
