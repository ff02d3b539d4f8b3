// Measured (docs/PERFORMANCE-POSTGRES.md): glibc's malloc took 10-15% of the
// server's CPU on the read and write paths; musl's (the container image) is
// slower still.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's option number for the purge delay (`mi_option_e` in
/// mimalloc.h, v3, the version Cargo.lock pins; the crate does not name it).
const MI_OPTION_PURGE_DELAY: i32 = 15;

/// Freed memory goes back to the system at once (mimalloc's default waits
/// for later allocator activity, which an idle server has none of), and the
/// build leaves out transparent huge pages (feature `no_thp`): with
/// mimalloc's defaults an idle server held 40 MB (the password hash's 19 MB
/// among it) where glibc's held 13 MB. The workspace's only `unsafe` (the
/// lint is `deny` for this function's sake).
#[allow(unsafe_code)]
fn tune_allocator() {
    // SAFETY: a plain setter of a process-wide integer, called before any
    // other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

use clap::Parser;
use inventory_app::users::{Recovery, ADMIN_PASSWORD_VARIABLE};
use inventory_server::backup::{self, CliError};
use inventory_server::config::{Cli, Command, Config, UserCommand};
use inventory_server::{build_app, open_store, serve_with_options, shutdown_signal, telemetry};
use std::process::ExitCode;

/// Exit status for bad configuration or usage.
const USAGE: u8 = 2;

/// Runs `work` as the command line's: the audit entries it writes say so.
async fn on_the_command_line<T>(work: impl std::future::Future<Output = T>) -> T {
    use inventory_core::audit::{AuditActor, AuditContext, Via};
    AuditContext::current_as(AuditActor::nobody(Via::Cli))
        .scope(work)
        .await
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.to_string();
            eprintln!(
                "{}",
                text.lines().next().unwrap_or("error: invalid arguments")
            );
            return ExitCode::from(USAGE);
        }
    };
    let config = match cli.settings.validate() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    if command == Command::Healthcheck {
        return healthcheck(config.listen.port());
    }
    // Inside the runtime: the batch exporter may need it.
    let tracing = runtime.block_on(async {
        telemetry::init_tracing(
            config.log_format,
            &config.log_filter,
            config.otlp_endpoint.as_deref(),
        )
    });
    let status = runtime.block_on(async move {
        match command {
            Command::Migrate => match open_store(&config).await {
                Ok(_) => {
                    tracing::info!("migrations applied");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: DATABASE_URL: {}", database_error(&e));
                    ExitCode::FAILURE
                }
            },
            Command::Backup { output } => finish(backup::backup(&config, &output).await),
            Command::Restore { input } => {
                finish(on_the_command_line(backup::restore(&config, &input)).await)
            }
            Command::Export {
                output,
                without_users,
            } => {
                let options = inventory_core::dump::ExportOptions { without_users };
                finish(
                    backup::export(&config, output.as_deref(), options)
                        .await
                        .map(|_| ()),
                )
            }
            Command::Import { input } => {
                let import = backup::import(&config, &input);
                finish(on_the_command_line(import).await.map(|_| ()))
            }
            Command::Check => match backup::check(&config).await {
                Ok(report) if report.ok => ExitCode::SUCCESS,
                Ok(report) => {
                    eprintln!(
                        "error: {} invariant violation(s): the stock figures disagree with the ledger",
                        report.violations.len()
                    );
                    ExitCode::FAILURE
                }
                Err(e) => finish(Err(e)),
            },
            Command::Serve => {
                // Before anything can announce readiness: a SIGTERM from then
                // on is a graceful shutdown, never the default kill.
                let stop = shutdown_signal();
                telemetry::metrics();
                let app = match build_app(&config).await {
                    Ok(s) => s,
                    // A weak first admin password: bad configuration.
                    Err(inventory_core::Error::Validation(errors))
                        if errors.iter().any(|e| e.field == ADMIN_PASSWORD_VARIABLE) =>
                    {
                        let e = &errors[0];
                        eprintln!("error: {}: {}", e.field, e.message);
                        return ExitCode::from(USAGE);
                    }
                    Err(e) => {
                        eprintln!("error: DATABASE_URL: {}", database_error(&e));
                        return ExitCode::FAILURE;
                    }
                };
                let listener = match tokio::net::TcpListener::bind(config.listen).await {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("error: PORT: cannot listen on {}: {e}", config.listen);
                        return ExitCode::FAILURE;
                    }
                };
                let metrics_listener = match config.metrics_listen {
                    Some(addr) => match tokio::net::TcpListener::bind(addr).await {
                        Ok(l) => Some(l),
                        Err(e) => {
                            eprintln!("error: METRICS_PORT: cannot listen on {addr}: {e}");
                            return ExitCode::FAILURE;
                        }
                    },
                    None => None,
                };
                let addr = listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                let metrics_addr = metrics_listener
                    .as_ref()
                    .and_then(|l| l.local_addr().ok())
                    .map(|a| a.to_string());
                let limits = &config.listener;
                tracing::info!(
                    %addr,
                    metrics_addr,
                    backend = app.backend(),
                    version = telemetry::VERSION,
                    max_connections = limits.max_connections,
                    header_read_timeout_s = limits.header_read_timeout.as_secs(),
                    idle_timeout_s = limits.idle_timeout.as_secs(),
                    "listening"
                );
                match serve_with_options(
                    app,
                    listener,
                    metrics_listener,
                    config.listener,
                    stop,
                    config.shutdown_timeout,
                )
                .await
                {
                    Ok(()) => {
                        tracing::info!("stopped");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "server error");
                        ExitCode::FAILURE
                    }
                }
            }
            Command::User { action } => on_the_command_line(user_command(&config, &action)).await,
            Command::Healthcheck => unreachable!("answered before the runtime starts"),
        }
    });
    tracing.shutdown();
    status
}

/// `inventory healthcheck`: GET /health on 127.0.0.1:PORT over plain TCP
/// (the container image has no curl); 0 when it answers 200.
fn healthcheck(port: u16) -> ExitCode {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, SocketAddr, TcpStream};
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let timeout = std::time::Duration::from_secs(3);
    let answer = TcpStream::connect_timeout(&addr, timeout).and_then(|mut stream| {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut head = [0u8; 16];
        let mut read = 0;
        while read < head.len() {
            match stream.read(&mut head[read..])? {
                0 => break,
                n => read += n,
            }
        }
        Ok(String::from_utf8_lossy(&head[..read]).into_owned())
    });
    match answer {
        Ok(head) if head.starts_with("HTTP/1.1 200") => ExitCode::SUCCESS,
        Ok(head) => {
            eprintln!(
                "unhealthy: {addr}/health answered {}",
                head.lines().next().unwrap_or("nothing")
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("unhealthy: cannot reach {addr}/health: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `inventory user reset-password|create-admin NAME`: the one-time password
/// alone on standard output; a refusal is one line on stderr and exit 2.
async fn user_command(config: &Config, action: &UserCommand) -> ExitCode {
    let store = match open_store(config).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: DATABASE_URL: {}", database_error(&e));
            return ExitCode::FAILURE;
        }
    };
    let (name, result) = match action {
        UserCommand::ResetPassword { name } => (
            name,
            inventory_app::users::reset_password(store.as_ref(), name).await,
        ),
        UserCommand::CreateAdmin { name } => (
            name,
            inventory_app::users::create_admin(store.as_ref(), name).await,
        ),
    };
    match result {
        Ok(Recovery::OneTimePassword(password)) => {
            // Replicas sharing Redis drop the sessions they cached.
            if let Some(url) = &config.redis_url {
                if let Err(e) = inventory_app::redis::sessions_changed_at(url.expose()).await {
                    eprintln!(
                        "inventory: warning: REDIS_URL: {e}; running servers may accept the \
                         ended sessions until CACHE_TTL passes"
                    );
                }
            }
            println!("{password}");
            eprintln!(
                "inventory: one-time password for '{name}' (shown once): sign in with it, then \
                 choose a password with POST /api/v1/me/password; nothing else works until then"
            );
            ExitCode::SUCCESS
        }
        Ok(Recovery::Refused(why)) => {
            eprintln!("error: {why}");
            ExitCode::from(USAGE)
        }
        Err(e) => {
            eprintln!("error: DATABASE_URL: {}", database_error(&e));
            ExitCode::FAILURE
        }
    }
}

/// Exit status of a backup, restore, export or import: 0, or one line on
/// stderr and 2 for a bad input file or target, 1 for a failure of the
/// database or the disk.
/// A database that cannot be opened, with the cause when it is one the
/// operator can act on (a refused certificate, a wrong password, a host that
/// does not answer): clients are only told "unavailable", the operator at
/// start-up needs more. (The cause never holds the URL or its password.)
fn database_error(e: &inventory_core::Error) -> String {
    match e {
        inventory_core::Error::Unavailable(cause) => format!("{e}: {cause}"),
        other => other.to_string(),
    }
}

fn finish(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    /// `MI_OPTION_PURGE_DELAY` is a bare number from mimalloc.h: an upgrade
    /// of libmimalloc-sys must re-check it (and then update this version).
    #[test]
    fn the_mimalloc_option_number_matches_the_pinned_version() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
                .expect("Cargo.lock");
        let pinned = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"libmimalloc-sys\""))
            .expect("libmimalloc-sys in Cargo.lock");
        assert!(
            pinned.contains("version = \"0.1.49\""),
            "libmimalloc-sys changed: check mi_option_purge_delay's number (now {}) in its \
             c_src/mimalloc/v3/include/mimalloc.h, then update this test",
            super::MI_OPTION_PURGE_DELAY
        );
    }
}
