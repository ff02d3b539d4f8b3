//! `inventory backup | restore | export | import`: the command-line side of
//! backups and of moving between backends (docs/OPERATIONS-BACKUP.md).
//!
//! Each opens the database named by `DATABASE_URL` itself; a server may
//! keep running on it for `backup` and `export` (on SQLite, WAL lets another
//! process read). A bad input file, an output that exists, or a target that
//! is not empty is a [`CliError::Input`] (exit status 2, one line); anything
//! else (the database, the disk) is [`CliError::Infra`] (exit status 1).

use crate::config::{Config, DatabaseConfig};
use crate::startup::open_store;
use inventory_core::dump::{self, ExportCounts, ExportOptions};
use inventory_core::invariants::InvariantReport;
use inventory_core::store::AdminStore;
use inventory_core::{Error, Store};
use inventory_store_sqlite::{SqliteOptions, SqliteStore};
use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a command failed, and so its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// The input, the output path or the target database is not acceptable.
    Input(String),
    /// The database or the file system failed.
    Infra(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(_) => 2,
            CliError::Infra(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Input(m) | CliError::Infra(m) => f.write_str(m),
        }
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        match e {
            Error::Validation(errors) => CliError::Input(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Error::Conflict { detail, .. } => CliError::Input(detail),
            Error::Unavailable(m) => CliError::Infra(format!("the database is unavailable: {m}")),
            other => CliError::Infra(other.to_string()),
        }
    }
}

fn one_line(s: String) -> String {
    s.lines().collect::<Vec<_>>().join(" ")
}

/// The newest schema any backend of this build knows.
fn max_schema() -> i64 {
    inventory_store_sqlite::LATEST_VERSION.max(inventory_store_postgres::LATEST_VERSION)
}

/// Opens a database that must already exist (SQLite: the file is there),
/// so that a mistyped path is an error rather than a new empty database.
async fn open_existing(config: &Config) -> Result<Arc<dyn Store>, CliError> {
    if let DatabaseConfig::Sqlite { path, .. } = &config.database {
        if !path.is_file() {
            return Err(CliError::Input(format!(
                "DATABASE_URL: there is no database at {}",
                path.display()
            )));
        }
    }
    open_store(config).await.map_err(CliError::from)
}

/// `FILE.partial` next to `FILE`: written first, renamed when complete, so
/// that a failed run never leaves a file that looks finished.
fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn refuse_existing(output: &Path) -> Result<(), CliError> {
    if output.exists() {
        return Err(CliError::Input(format!(
            "{} already exists; choose a new file name",
            output.display()
        )));
    }
    Ok(())
}

/// Makes the finished partial file durable and moves it to `output`.
fn publish(partial: &Path, output: &Path) -> Result<(), CliError> {
    let infra =
        |e: std::io::Error| CliError::Infra(format!("cannot finish {}: {e}", output.display()));
    File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(infra)?;
    std::fs::rename(partial, output).map_err(infra)?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Creates `path` afresh, readable and writable by its owner only: backups
/// and exports hold password hashes.
fn create_private(path: &Path) -> Result<File, CliError> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    open.open(path)
        .map_err(|e| CliError::Infra(format!("cannot create {}: {e}", path.display())))
}

/// Exports `store` to the file `output` (through a partial file).
async fn export_to_file(
    store: &dyn Store,
    output: &Path,
    options: ExportOptions,
) -> Result<ExportCounts, CliError> {
    refuse_existing(output)?;
    let partial = partial_path(output);
    let _ = std::fs::remove_file(&partial);
    let file = create_private(&partial)?;
    let result = store
        .export(
            Box::new(BufWriter::with_capacity(256 * 1024, file)),
            options,
        )
        .await
        .map_err(CliError::from)
        .and_then(|counts| publish(&partial, output).map(|()| counts));
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// `inventory export [--output FILE] [--without-users]`: to standard
/// output without a file.
pub async fn export(
    config: &Config,
    output: Option<&Path>,
    options: ExportOptions,
) -> Result<ExportCounts, CliError> {
    let store = open_existing(config).await?;
    let counts = match output {
        Some(path) => export_to_file(store.as_ref(), path, options).await?,
        None => {
            let out = BufWriter::with_capacity(256 * 1024, std::io::stdout());
            store.export(Box::new(out), options).await?
        }
    };
    tracing::info!(%counts, "export complete");
    Ok(counts)
}

/// `inventory check`: the invariants, checked on the database directly (the
/// server may keep running: it reads one snapshot). Prints each violation
/// and a summary; the report says whether any rule is broken.
pub async fn check(config: &Config) -> Result<InvariantReport, CliError> {
    let store = open_existing(config).await?;
    let checked_at = inventory_core::now();
    let report = InvariantReport::new(checked_at, store.check_invariants().await?);
    for v in &report.violations {
        println!("{}", v.line());
    }
    for rule in &report.rules {
        println!(
            "{} {}: {}",
            if rule.violations == 0 { "ok  " } else { "FAIL" },
            rule.rule,
            rule.says
        );
    }
    Ok(report)
}

/// `inventory import --input FILE`: the whole file is checked before the
/// database is touched, then loaded in one transaction.
pub async fn import(config: &Config, input: &Path) -> Result<ExportCounts, CliError> {
    let open = || {
        File::open(input)
            .map(|f| BufReader::with_capacity(256 * 1024, f))
            .map_err(|e| CliError::Input(format!("cannot read {}: {e}", input.display())))
    };
    let summary = dump::validate(open()?, max_schema())
        .map_err(|e| CliError::Input(one_line(format!("{}: {e}", input.display()))))?;
    let store = open_store(config).await?;
    let counts = store
        .import(dump::rows(open()?))
        .await
        .map_err(|e| match CliError::from(e) {
            CliError::Input(m) if m.starts_with("line ") => {
                CliError::Input(one_line(format!("{}: {m}", input.display())))
            }
            CliError::Input(m) => CliError::Input(one_line(m)),
            infra => infra,
        })?;
    tracing::info!(
        %counts,
        from_backend = %summary.header.backend,
        exported_at = %summary.header.exported_at,
        "import complete"
    );
    Ok(counts)
}

/// `inventory backup --output FILE`. SQLite: `VACUUM INTO` on a read
/// connection, a consistent copy of the file while writes go on.
/// PostgreSQL: an export taken in one REPEATABLE READ transaction.
pub async fn backup(config: &Config, output: &Path) -> Result<(), CliError> {
    refuse_existing(output)?;
    match &config.database {
        DatabaseConfig::Sqlite { path, sync_full } => {
            if !path.is_file() {
                return Err(CliError::Input(format!(
                    "DATABASE_URL: there is no database at {}",
                    path.display()
                )));
            }
            let opts = SqliteOptions {
                sync_full: *sync_full,
                read_connections: 1,
            };
            let store = SqliteStore::open(path, &opts).await?;
            let partial = partial_path(output);
            let _ = std::fs::remove_file(&partial);
            // VACUUM INTO fills an empty file and keeps its mode.
            drop(create_private(&partial)?);
            let result = store
                .backup_into(&partial)
                .await
                .map_err(CliError::from)
                .and_then(|()| publish(&partial, output));
            if result.is_err() {
                let _ = std::fs::remove_file(&partial);
            }
            result?;
            tracing::info!(output = %output.display(), "backup complete (SQLite database file)");
        }
        DatabaseConfig::Postgres { .. } => {
            let store = open_existing(config).await?;
            let counts = export_to_file(store.as_ref(), output, ExportOptions::default()).await?;
            tracing::info!(%counts, output = %output.display(), "backup complete (export format)");
        }
    }
    Ok(())
}

/// `inventory restore --input FILE` into an empty or absent database. A
/// SQLite backup file is copied into place (SQLite only); an export-format
/// file (any PostgreSQL backup, or an export) is imported.
pub async fn restore(config: &Config, input: &Path) -> Result<(), CliError> {
    let is_sqlite = inventory_store_sqlite::is_sqlite_file(input)
        .map_err(|e| CliError::Input(format!("cannot read {}: {e}", input.display())))?;
    if !is_sqlite {
        let counts = import(config, input).await?;
        tracing::info!(%counts, "restore complete");
        return Ok(());
    }
    let DatabaseConfig::Sqlite { path, sync_full } = &config.database else {
        return Err(CliError::Input(format!(
            "{} is a SQLite database file; restore it with a sqlite:// DATABASE_URL, then move \
             to PostgreSQL with `inventory export` and `inventory import`",
            input.display()
        )));
    };
    let (backup, target) = (input.to_owned(), path.clone());
    tokio::task::spawn_blocking(move || inventory_store_sqlite::restore_file(&backup, &target))
        .await
        .map_err(|e| CliError::Infra(e.to_string()))?
        .map_err(|e| match CliError::from(e) {
            CliError::Input(m) => CliError::Input(one_line(m)),
            infra => infra,
        })?;
    // Open it once: migrations the backup predates are applied, and a file
    // that does not open is reported now rather than at the next start.
    let opts = SqliteOptions {
        sync_full: *sync_full,
        read_connections: 1,
    };
    let store = SqliteStore::open(path, &opts).await?;
    store.ping().await?;
    tracing::info!(database = %path.display(), "restore complete");
    Ok(())
}
