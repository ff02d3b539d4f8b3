//! Configuration: command-line flags, each backed by an environment
//! variable, validated into one typed [`Config`]. A bad value is reported in
//! one line naming the variable, and the process exits with status 2.

use crate::http::listener::{self, FileLimit, ListenerOptions};
use crate::web::cookies::WebOptions;
use clap::{Args, Parser, Subcommand};
use inventory_core::identity::AccessPolicy;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/inventory.db";

#[derive(Debug, Parser)]
#[command(
    name = "inventory",
    // `inventory --version`: the release and the commit it was built from
    // (build.rs; the same pair as the inventory_build_info metric).
    version = concat!(env!("CARGO_PKG_VERSION"), " (revision ", env!("INVENTORY_REVISION"), ")"),
    about = "Inventory Manager: items, locations and an append-only stock ledger over HTTP",
    long_about = None,
    after_help = "Every setting is a flag and an environment variable (shown in brackets). \
Secrets also accept NAME_FILE: the value is read from that file, a trailing newline ignored; \
setting both is an error. Secret values are never shown."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Start the HTTP server (the default when no subcommand is given)
    Serve,
    /// Apply pending database migrations and exit
    Migrate,
    /// Take a consistent online backup while the server keeps writing (SQLite: a copy of the database file; PostgreSQL: an export from one snapshot). The file holds password hashes and is created readable by its owner only (mode 0600)
    Backup {
        /// File to write; it must not exist yet
        #[arg(long)]
        output: PathBuf,
    },
    /// Restore a backup into an empty or absent database (stop the server first)
    Restore {
        /// A file written by `inventory backup` (or by `inventory export`)
        #[arg(long)]
        input: PathBuf,
    },
    /// Write every user, location, item, stock balance, movement and event as a portable, versioned JSON Lines file, from one snapshot. Users come with their password hashes: the file is created readable by its owner only (mode 0600); leave them out with --without-users
    Export {
        /// File to write (it must not exist yet); standard output when absent
        #[arg(long)]
        output: Option<PathBuf>,
        /// Leave users (and their password hashes) out; an import of the file starts without users, and the first start creates the admin from INVENTORY_ADMIN_PASSWORD
        #[arg(long)]
        without_users: bool,
    },
    /// Load an export into an empty database of either backend, all or nothing
    Import {
        /// A file written by `inventory export`
        #[arg(long)]
        input: PathBuf,
    },
    /// Check that the stock figures are the ledger's (balances, item totals, available never negative, reservations); print every violation; exit 1 on any, 0 when all hold
    Check,
    /// Ask the server on 127.0.0.1:PORT for /health; exit 0 if it answers 200, 1 otherwise (for container health checks: the image has no curl)
    Healthcheck,
    /// Ways back in when locked out, run on the server's database (DATABASE_URL); each prints a one-time password on standard output, which must be changed at the first sign-in
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
}

/// `inventory user ...`: recovery on the server's database.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum UserCommand {
    /// Give NAME a one-time password (printed once) and end NAME's sessions; exit 2 if there is no such user
    ResetPassword {
        /// The username
        name: String,
    },
    /// Create the administrator NAME with a one-time password (printed once), only when no enabled administrator is left; exit 2 otherwise
    CreateAdmin {
        /// The new administrator's username
        name: String,
    },
}

/// Raw settings as given; [`Settings::validate`] turns them into a [`Config`].
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// TCP port to listen on (0 picks a free one)
    #[arg(long, env = "PORT", default_value = "3000", global = true)]
    pub port: String,
    /// Address to bind
    #[arg(long, env = "BIND_ADDR", default_value = "0.0.0.0", global = true)]
    pub bind_addr: String,
    /// Database URL: sqlite://PATH (relative to the working directory, or sqlite:///ABSOLUTE), or postgres://USER:PASSWORD@HOST:PORT/DB [default: sqlite://data/inventory.db]
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,
    /// File holding the database URL (instead of DATABASE_URL)
    #[arg(long, env = "DATABASE_URL_FILE", global = true)]
    pub database_url_file: Option<PathBuf>,
    /// PostgreSQL: connections in the pool
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value = "10", global = true)]
    pub database_pool_size: String,
    /// PostgreSQL: seconds a statement may run before it is cancelled
    #[arg(
        long,
        env = "DATABASE_STATEMENT_TIMEOUT",
        default_value = "30",
        global = true
    )]
    pub database_statement_timeout: String,
    /// PostgreSQL: seconds to wait for a connection
    #[arg(
        long,
        env = "DATABASE_CONNECT_TIMEOUT",
        default_value = "5",
        global = true
    )]
    pub database_connect_timeout: String,
    /// Redis URL for the cache and change notifications shared by replicas (optional)
    #[arg(long, env = "REDIS_URL", hide_env_values = true, global = true)]
    pub redis_url: Option<String>,
    /// File holding the Redis URL (instead of REDIS_URL)
    #[arg(long, env = "REDIS_URL_FILE", global = true)]
    pub redis_url_file: Option<PathBuf>,
    /// Seconds an item stays in the cache
    #[arg(long, env = "CACHE_TTL", default_value = "300", global = true)]
    pub cache_ttl: String,
    /// Most memory this process's cached items may take: bytes, or with KiB, MiB or GiB (0 keeps no copies)
    #[arg(long, env = "CACHE_MAX_BYTES", default_value = "64MiB", global = true)]
    pub cache_max_bytes: String,
    /// Log format: json or text
    #[arg(long, env = "LOG_FORMAT", default_value = "json", global = true)]
    pub log_format: String,
    /// Log filter, e.g. info or inventory_server=debug,info
    #[arg(
        long = "rust-log",
        env = "RUST_LOG",
        default_value = "info",
        global = true
    )]
    pub rust_log: String,
    /// Password of the `admin` user created at first start (generated and printed once if unset)
    #[arg(
        long,
        env = "INVENTORY_ADMIN_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub admin_password: Option<String>,
    /// File holding the admin password (instead of INVENTORY_ADMIN_PASSWORD)
    #[arg(long, env = "INVENTORY_ADMIN_PASSWORD_FILE", global = true)]
    pub admin_password_file: Option<PathBuf>,
    /// Seconds that in-flight requests get to finish after SIGTERM/SIGINT
    #[arg(
        long,
        env = "INVENTORY_SHUTDOWN_TIMEOUT",
        default_value = "25",
        global = true
    )]
    pub shutdown_timeout: String,
    /// SQLite durability: full (fsync every commit; survives an OS crash) or normal (faster; an OS crash may lose the last commits)
    #[arg(
        long,
        env = "INVENTORY_SQLITE_SYNC",
        default_value = "full",
        global = true
    )]
    pub sqlite_sync: String,
    /// Serve /metrics on this port too (and only there: the main port then answers 404 for it); unset, /metrics is on the main port
    #[arg(long, env = "METRICS_PORT", global = true)]
    pub metrics_port: Option<String>,
    /// OTLP/HTTP endpoint (plain http) to export traces to, e.g. http://otel-collector:4318 (spans go to /v1/traces under it); unset, tracing is off
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// Seconds a client has to send a complete request head, counted from connecting (or from the first byte of a later request on a kept-alive connection); a slower one is closed
    #[arg(
        long,
        env = "INVENTORY_HEADER_READ_TIMEOUT",
        default_value = "10",
        global = true
    )]
    pub header_read_timeout: String,
    /// Seconds a kept-alive connection may wait for its next request before it is closed; keep it above the idle timeout of any proxy in front that reuses connections (nginx, AWS ALB: 60), so that the proxy closes them first
    #[arg(
        long,
        env = "INVENTORY_IDLE_TIMEOUT",
        default_value = "75",
        global = true
    )]
    pub idle_timeout: String,
    /// Client connections served at once; more wait in the kernel's backlog until one closes. auto: the soft open-file limit (ulimit -n) minus 128 kept for files, Redis and logs, minus DATABASE_POOL_SIZE + 1 with PostgreSQL and 16 with METRICS_PORT (896 under a limit of 1024)
    #[arg(
        long,
        env = "INVENTORY_MAX_CONNECTIONS",
        default_value = "auto",
        global = true
    )]
    pub max_connections: String,
    /// Whether the UI's session cookie is marked Secure (sent over HTTPS only): true, false, or unset to follow X-Forwarded-Proto when INVENTORY_TRUST_PROXY=true (else not Secure). Set true when users reach the server over HTTPS
    #[arg(long, env = "INVENTORY_COOKIE_SECURE", global = true)]
    pub cookie_secure: Option<String>,
    /// Whether a proxy in front is trusted to say how clients connected (X-Forwarded-Proto): true or false
    #[arg(
        long,
        env = "INVENTORY_TRUST_PROXY",
        default_value = "false",
        global = true
    )]
    pub trust_proxy: String,
    /// Whether clerks may also adjust stock and post stock counts (by default only managers and admins may): true or false
    #[arg(
        long,
        env = "INVENTORY_CLERKS_MAY_ADJUST",
        default_value = "false",
        global = true
    )]
    pub clerks_may_adjust: String,
    /// Days audit entries are kept; older ones are deleted in the background, once an hour (1 to 36500)
    #[arg(
        long,
        env = "AUDIT_RETENTION_DAYS",
        default_value = "365",
        global = true
    )]
    pub audit_retention_days: String,
}

/// A true/false setting; anything else is an error naming it.
fn flag(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(bad(name, format!("must be true or false, not '{value}'"))),
    }
}

/// A string that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone)]
pub enum DatabaseConfig {
    Sqlite {
        path: PathBuf,
        sync_full: bool,
    },
    Postgres {
        url: Secret,
        pool_size: u32,
        statement_timeout: Duration,
        connect_timeout: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: DatabaseConfig,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub admin_password: Option<Secret>,
    pub shutdown_timeout: Duration,
    /// Changes to the permission table (`INVENTORY_CLERKS_MAY_ADJUST`).
    pub policy: AccessPolicy,
    pub redis_url: Option<Secret>,
    pub cache_ttl: Duration,
    /// Bound on the process's cached item copies, in bytes.
    pub cache_max_bytes: u64,
    /// A separate listener for /metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// Where spans are exported over OTLP/HTTP; `None` turns tracing off.
    pub otlp_endpoint: Option<String>,
    /// Secrets given as files, watched for changes while serving.
    pub database_url_file: Option<PathBuf>,
    pub redis_url_file: Option<PathBuf>,
    /// Timeouts and the connection cap of the HTTP listener.
    pub listener: ListenerOptions,
    /// Days audit entries are kept (`AUDIT_RETENTION_DAYS`).
    pub audit_retention_days: u32,
}

/// One line naming the variable and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn bad(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

/// Reads a secret from its variable or from the file its `_FILE` variable names.
fn secret(
    name: &'static str,
    file_name: &'static str,
    value: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<Secret>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(bad(
            name,
            format!("set either {name} or {file_name}, not both"),
        )),
        (Some(v), None) => Ok(Some(Secret::new(v))),
        (None, Some(path)) => read_secret_file(path)
            .map(Some)
            .map_err(|e| bad(file_name, format!("cannot read {}: {e}", path.display()))),
        (None, None) => Ok(None),
    }
}

/// A secret file's value, without its trailing newline.
pub fn read_secret_file(path: &Path) -> std::io::Result<Secret> {
    let text = std::fs::read_to_string(path)?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    Ok(Secret::new(text))
}

impl Settings {
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let port: u16 = self.port.trim().parse().map_err(|_| {
            bad(
                "PORT",
                format!("'{}' is not a port number (0-65535)", self.port),
            )
        })?;
        let ip: IpAddr = self.bind_addr.trim().parse().map_err(|_| {
            bad(
                "BIND_ADDR",
                format!("'{}' is not an IP address", self.bind_addr),
            )
        })?;

        let url = secret(
            "DATABASE_URL",
            "DATABASE_URL_FILE",
            self.database_url.as_deref(),
            self.database_url_file.as_deref(),
        )?
        .unwrap_or_else(|| Secret::new(DEFAULT_DATABASE_URL));
        let sync_full = match self.sqlite_sync.trim() {
            "full" => true,
            "normal" => false,
            other => {
                return Err(bad(
                    "INVENTORY_SQLITE_SYNC",
                    format!("'{other}' is not one of full, normal"),
                ))
            }
        };
        let database = match database_config(url.expose(), sync_full)? {
            DatabaseConfig::Postgres { url, .. } => DatabaseConfig::Postgres {
                url,
                pool_size: whole_number("DATABASE_POOL_SIZE", &self.database_pool_size, 1, 1000)?
                    as u32,
                statement_timeout: Duration::from_secs(whole_number(
                    "DATABASE_STATEMENT_TIMEOUT",
                    &self.database_statement_timeout,
                    1,
                    3600,
                )?),
                connect_timeout: Duration::from_secs(whole_number(
                    "DATABASE_CONNECT_TIMEOUT",
                    &self.database_connect_timeout,
                    1,
                    300,
                )?),
            },
            sqlite => sqlite,
        };

        let log_format = match self.log_format.trim() {
            "json" => LogFormat::Json,
            "text" => LogFormat::Text,
            other => {
                return Err(bad(
                    "LOG_FORMAT",
                    format!("'{other}' is not one of json, text"),
                ))
            }
        };
        tracing_subscriber::EnvFilter::try_new(&self.rust_log)
            .map_err(|e| bad("RUST_LOG", format!("invalid filter: {e}")))?;

        let admin_password = secret(
            "INVENTORY_ADMIN_PASSWORD",
            "INVENTORY_ADMIN_PASSWORD_FILE",
            self.admin_password.as_deref(),
            self.admin_password_file.as_deref(),
        )?;
        // The policy's length, checked before any database is touched (its
        // strength is judged at the first start, which needs the database).
        if let Some(p) = &admin_password {
            let len = p.expose().chars().count();
            let min = inventory_core::identity::MIN_PASSWORD_CHARS;
            if len < min {
                return Err(bad(
                    "INVENTORY_ADMIN_PASSWORD",
                    format!("is too short: use at least {min} characters (it has {len}); a few unrelated words make a strong one"),
                ));
            }
            if len > 1024 {
                return Err(bad(
                    "INVENTORY_ADMIN_PASSWORD",
                    "must be at most 1024 characters",
                ));
            }
        }

        let shutdown_secs = whole_number(
            "INVENTORY_SHUTDOWN_TIMEOUT",
            &self.shutdown_timeout,
            0,
            3600,
        )?;

        let redis_url = secret(
            "REDIS_URL",
            "REDIS_URL_FILE",
            self.redis_url.as_deref(),
            self.redis_url_file.as_deref(),
        )?;
        if let Some(url) = &redis_url {
            if !(url.expose().starts_with("redis://") || url.expose().starts_with("rediss://")) {
                // Never echo the URL: it may hold a password.
                return Err(bad("REDIS_URL", "must start with redis:// or rediss://"));
            }
        }
        let cache_ttl = Duration::from_secs(whole_number("CACHE_TTL", &self.cache_ttl, 1, 86_400)?);
        let cache_max_bytes = byte_size("CACHE_MAX_BYTES", &self.cache_max_bytes)?;

        let metrics_listen = match self.metrics_port.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(value) => {
                let metrics_port: u16 = value.parse().map_err(|_| {
                    bad(
                        "METRICS_PORT",
                        format!("'{value}' is not a port number (0-65535)"),
                    )
                })?;
                if metrics_port == port && port != 0 {
                    return Err(bad(
                        "METRICS_PORT",
                        format!("{metrics_port} is also PORT; pick another port"),
                    ));
                }
                Some(SocketAddr::new(ip, metrics_port))
            }
        };
        let otlp_endpoint = match self.otel_exporter_otlp_endpoint.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) if url.starts_with("http://") => Some(url.trim_end_matches('/').to_owned()),
            // The binary carries no TLS stack: send to a local collector
            // (agent or sidecar), which forwards over TLS.
            Some(url) => {
                return Err(bad(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    format!("'{url}' is not an http:// URL (https is not supported: export to a local collector)"),
                ))
            }
        };

        let header_read_timeout = Duration::from_secs(whole_number(
            "INVENTORY_HEADER_READ_TIMEOUT",
            &self.header_read_timeout,
            1,
            3600,
        )?);
        let idle_timeout = Duration::from_secs(whole_number(
            "INVENTORY_IDLE_TIMEOUT",
            &self.idle_timeout,
            1,
            86_400,
        )?);
        // Files the process needs besides client connections.
        let mut reserved = listener::RESERVED_FILES;
        if let DatabaseConfig::Postgres { pool_size, .. } = &database {
            // The pool and the writer's own connection.
            reserved += u64::from(*pool_size) + 1;
        }
        if metrics_listen.is_some() {
            reserved += listener::METRICS_MAX_CONNECTIONS as u64;
        }
        let max_connections =
            max_connections(&self.max_connections, listener::open_file_limit(), reserved)?;

        Ok(Config {
            listen: SocketAddr::new(ip, port),
            listener: ListenerOptions {
                header_read_timeout,
                idle_timeout,
                max_connections,
                web: WebOptions {
                    cookie_secure: self
                        .cookie_secure
                        .as_deref()
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| flag("INVENTORY_COOKIE_SECURE", v))
                        .transpose()?,
                    trust_proxy: flag("INVENTORY_TRUST_PROXY", &self.trust_proxy)?,
                },
            },
            metrics_listen,
            otlp_endpoint,
            database_url_file: self.database_url_file.clone(),
            redis_url_file: self.redis_url_file.clone(),
            redis_url,
            cache_ttl,
            cache_max_bytes,
            database,
            log_format,
            log_filter: self.rust_log.clone(),
            admin_password,
            shutdown_timeout: Duration::from_secs(shutdown_secs),
            policy: AccessPolicy {
                clerks_may_adjust: flag("INVENTORY_CLERKS_MAY_ADJUST", &self.clerks_may_adjust)?,
            },
            audit_retention_days: whole_number(
                "AUDIT_RETENTION_DAYS",
                &self.audit_retention_days,
                1,
                36_500,
            )? as u32,
        })
    }
}

/// A whole number within `min..=max`, or an error naming the variable.
fn whole_number(
    variable: &'static str,
    value: &str,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    value
        .trim()
        .parse()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| {
            bad(
                variable,
                format!("'{value}' is not a whole number from {min} to {max}"),
            )
        })
}

/// `INVENTORY_MAX_CONNECTIONS`: `auto` (the file limit minus `reserved`) or
/// a number the file limit allows.
fn max_connections(value: &str, limit: FileLimit, reserved: u64) -> Result<usize, ConfigError> {
    const VARIABLE: &str = "INVENTORY_MAX_CONNECTIONS";
    let most = listener::max_connections_for(limit, reserved);
    match value.trim() {
        "auto" => Ok(most),
        number => {
            let n: usize = number
                .parse()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| {
                    bad(
                        VARIABLE,
                        format!("'{value}' is not auto or a whole number from 1 to 1000000"),
                    )
                })?;
            match limit {
                FileLimit::Limited(files) if n > most => Err(bad(
                    VARIABLE,
                    format!(
                        "{n} is more than the open-file limit allows: {files} files, {reserved} \
                         of them kept for the database, Redis and logs, leave {most}; raise the \
                         limit (ulimit -n) or lower this"
                    ),
                )),
                _ => Ok(n),
            }
        }
    }
}

/// A size in bytes: a whole number, optionally with KiB, MiB or GiB; at most 64 GiB.
fn byte_size(variable: &'static str, value: &str) -> Result<u64, ConfigError> {
    let text = value.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => (&text[..at], text[at..].trim()),
        None => (text, ""),
    };
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        _ => 0,
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|_| scale > 0)
        .and_then(|n| n.checked_mul(scale))
        .filter(|bytes| *bytes <= 64 << 30)
        .ok_or_else(|| {
            bad(
                variable,
                format!("'{value}' is not a size such as 67108864, 512KiB, 64MiB or 1GiB (at most 64GiB)"),
            )
        })
}

fn database_config(url: &str, sync_full: bool) -> Result<DatabaseConfig, ConfigError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
    match scheme {
        "sqlite" => {
            let path = inventory_store_sqlite::path_from_url(url).ok_or_else(|| {
                bad(
                    "DATABASE_URL",
                    "a sqlite URL needs a file path, e.g. sqlite://data/inventory.db",
                )
            })?;
            Ok(DatabaseConfig::Sqlite { path, sync_full })
        }
        // Pool size and timeouts are filled in from their own settings.
        "postgres" | "postgresql" => Ok(DatabaseConfig::Postgres {
            url: Secret::new(url),
            pool_size: 0,
            statement_timeout: Duration::ZERO,
            connect_timeout: Duration::ZERO,
        }),
        // Never echo the URL: it may hold a password.
        _ => Err(bad(
            "DATABASE_URL",
            "unsupported scheme (expected sqlite:// or postgres://)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Settings {
        let mut argv = vec!["inventory"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("parse").settings
    }

    #[test]
    fn defaults_are_valid() {
        let c = Settings {
            database_url: None,
            database_url_file: None,
            admin_password: None,
            admin_password_file: None,
            ..settings(&[])
        }
        .validate()
        .unwrap();
        assert_eq!(c.listen.port(), 3000);
        assert_eq!(c.shutdown_timeout, Duration::from_secs(25));
        assert!(matches!(
            c.database,
            DatabaseConfig::Sqlite {
                sync_full: true,
                ..
            }
        ));
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = settings(&["--port", "70000"]).validate().unwrap_err();
        assert_eq!(err.variable, "PORT");
        let err = settings(&["--sqlite-sync", "off", "--database-url", "sqlite://x.db"])
            .validate()
            .unwrap_err();
        assert_eq!(err.variable, "INVENTORY_SQLITE_SYNC");
        let c = settings(&[
            "--database-url",
            "postgres://u:hunter2@db:5432/inv",
            "--database-pool-size",
            "7",
        ])
        .validate()
        .unwrap();
        assert!(matches!(
            c.database,
            DatabaseConfig::Postgres { pool_size: 7, .. }
        ));
        assert!(!format!("{c:?}").contains("hunter2"), "the URL is a secret");
        let err = settings(&[
            "--database-url",
            "postgres://x/y",
            "--database-pool-size",
            "0",
        ])
        .validate()
        .unwrap_err();
        assert_eq!(err.variable, "DATABASE_POOL_SIZE");
        let err = settings(&["--database-url", "mysql://u:hunter2@h/db"])
            .validate()
            .unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
        assert!(
            !err.to_string().contains("hunter2"),
            "a URL may hold a password"
        );
    }

    #[test]
    fn listener_settings_default_and_validate() {
        let c = settings(&["--database-url", "sqlite://x.db"])
            .validate()
            .unwrap();
        assert_eq!(c.listener.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.listener.idle_timeout, Duration::from_secs(75));
        let limit = listener::open_file_limit();
        assert_eq!(
            c.listener.max_connections,
            listener::max_connections_for(limit, 128)
        );
        // A PostgreSQL pool and the metrics listener are kept back too.
        let c = settings(&[
            "--database-url",
            "postgres://u:p@db/inv",
            "--database-pool-size",
            "20",
            "--metrics-port",
            "9090",
        ])
        .validate()
        .unwrap();
        assert_eq!(
            c.listener.max_connections,
            listener::max_connections_for(limit, 128 + 21 + 16)
        );

        let c = settings(&[
            "--database-url",
            "sqlite://x.db",
            "--header-read-timeout",
            "3",
            "--idle-timeout",
            "90",
            "--max-connections",
            "50",
        ])
        .validate()
        .unwrap();
        assert_eq!(
            c.listener,
            ListenerOptions {
                header_read_timeout: Duration::from_secs(3),
                idle_timeout: Duration::from_secs(90),
                max_connections: 50,
                web: WebOptions::default(),
            }
        );

        for (flag, value, variable) in [
            (
                "--header-read-timeout",
                "0",
                "INVENTORY_HEADER_READ_TIMEOUT",
            ),
            (
                "--header-read-timeout",
                "ten",
                "INVENTORY_HEADER_READ_TIMEOUT",
            ),
            ("--idle-timeout", "0", "INVENTORY_IDLE_TIMEOUT"),
            ("--idle-timeout", "1.5", "INVENTORY_IDLE_TIMEOUT"),
            ("--max-connections", "0", "INVENTORY_MAX_CONNECTIONS"),
            ("--max-connections", "lots", "INVENTORY_MAX_CONNECTIONS"),
        ] {
            let err = settings(&["--database-url", "sqlite://x.db", flag, value])
                .validate()
                .unwrap_err();
            assert_eq!(err.variable, variable, "{flag} {value}");
        }
    }

    #[test]
    fn max_connections_must_fit_the_file_limit() {
        let limit = FileLimit::Limited(1024);
        assert_eq!(max_connections("auto", limit, 128), Ok(896));
        assert_eq!(max_connections(" 896 ", limit, 128), Ok(896));
        let err = max_connections("897", limit, 128).unwrap_err();
        assert_eq!(err.variable, "INVENTORY_MAX_CONNECTIONS");
        assert!(err.message.contains("ulimit -n"), "{err}");
        // An unknown limit cannot refuse an explicit number.
        assert_eq!(max_connections("5000", FileLimit::Unknown, 128), Ok(5000));
        assert_eq!(max_connections("5000", FileLimit::Unlimited, 128), Ok(5000));
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(byte_size("X", "1024"), Ok(1024));
        assert_eq!(byte_size("X", "64MiB"), Ok(64 << 20));
        assert_eq!(byte_size("X", " 2 GiB "), Ok(2 << 30));
        assert_eq!(byte_size("X", "0"), Ok(0));
        for bad_value in ["", "64MB", "-1", "1.5GiB", "65GiB", "MiB"] {
            let err = byte_size("CACHE_MAX_BYTES", bad_value).unwrap_err();
            assert_eq!(err.variable, "CACHE_MAX_BYTES", "{bad_value}");
        }
        let c = settings(&["--cache-max-bytes", "8MiB"]).validate().unwrap();
        assert_eq!(c.cache_max_bytes, 8 << 20);
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2")),
            "Secret([redacted])"
        );
    }
}
