use clap::Parser;
use inventory_server::backup::{self, CliError};
use inventory_server::config::{Cli, Command};
use inventory_server::{build_state, open_store, serve, shutdown_signal, telemetry};
use std::process::ExitCode;

/// Exit status for bad configuration or usage.
const USAGE: u8 = 2;

fn main() -> ExitCode {
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
    telemetry::init_tracing(config.log_format, &config.log_filter);
    let command = cli.command.unwrap_or(Command::Serve);
    runtime.block_on(async move {
        match command {
            Command::Migrate => match open_store(&config).await {
                Ok(_) => {
                    tracing::info!("migrations applied");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: DATABASE_URL: {e}");
                    ExitCode::FAILURE
                }
            },
            Command::Backup { output } => finish(backup::backup(&config, &output).await),
            Command::Restore { input } => finish(backup::restore(&config, &input).await),
            Command::Export { output } => {
                finish(backup::export(&config, output.as_deref()).await.map(|_| ()))
            }
            Command::Import { input } => {
                finish(backup::import(&config, &input).await.map(|_| ()))
            }
            Command::Serve => {
                // Before anything can announce readiness: a SIGTERM from then
                // on is a graceful shutdown, never the default kill.
                let stop = shutdown_signal();
                telemetry::metrics();
                let state = match build_state(&config).await {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("error: DATABASE_URL: {e}");
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
                let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
                tracing::info!(%addr, backend = state.store.backend(), version = telemetry::VERSION, "listening");
                match serve(state, listener, stop, config.shutdown_timeout).await {
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
        }
    })
}

/// Exit status of a backup, restore, export or import: 0, or one line on
/// stderr and 2 for a bad input file or target, 1 for a failure of the
/// database or the disk.
fn finish(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::from(e.exit_code())
        }
    }
}
