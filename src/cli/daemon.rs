//! `sitepatrol daemon`: the long-running patrol. The library starts and runs it; this is
//! where the process's side lives: the log subscriber, the runtime, and the exit status.

use std::path::PathBuf;

use sitepatrol::config::{Config, LogFormat};
use sitepatrol::daemon::Daemon;
use tracing::error;

use super::exit;

#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The configuration file. Without it: the embedded default (SQLite under ./data/, the
    /// bundled rulesets, and the bundled demo site served on loopback).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log format (overrides logging.format).
    #[arg(long, value_enum)]
    log_format: Option<LogFormatArg>,
    /// Check the configuration and the inventory, print every error, and exit.
    #[arg(long)]
    check_config: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormatArg {
    Human,
    Json,
}

impl From<LogFormatArg> for LogFormat {
    fn from(arg: LogFormatArg) -> LogFormat {
        match arg {
            LogFormatArg::Human => LogFormat::Human,
            LogFormatArg::Json => LogFormat::Json,
        }
    }
}

/// Exit status: 0 after a clean shutdown, 1 when the running daemon stopped on an error, 2
/// when the configuration is invalid or startup fails.
pub fn run(args: DaemonArgs) -> i32 {
    if args.check_config {
        return match sitepatrol::daemon::check(args.config.as_deref()) {
            Ok(summary) => {
                println!("{summary}");
                exit::OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit::ERROR
            }
        };
    }
    let config = match &args.config {
        Some(path) => Config::load(path),
        None => Config::embedded_default(),
    };
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::ERROR;
        }
    };
    init_logging(
        args.log_format
            .map_or(config.logging.format, LogFormat::from),
        &config.logging.level,
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return exit::ERROR;
        }
    };
    match runtime.block_on(Daemon::start(config, args.config)) {
        Ok(daemon) => match runtime.block_on(daemon.run()) {
            Ok(()) => exit::OK,
            Err(e) => {
                error!(error = %e, "the daemon stopped on an error");
                exit::FINDINGS
            }
        },
        Err(e) => {
            error!("startup failed: {e}");
            exit::ERROR
        }
    }
}

fn init_logging(format: LogFormat, level: &str) {
    // RUST_LOG, when set, wins: the usual way to turn up one module while debugging.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .or_else(|| tracing_subscriber::EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
