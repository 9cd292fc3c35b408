//! `sitepatrol daemon`: the long-running patrol.

use std::path::PathBuf;

use sitepatrol::config::LogFormat;

use super::exit;

#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The configuration file. Without it: the embedded default (SQLite under ./data/, the
    /// bundled rulesets, and the bundled demo site served on loopback).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log format (overrides logging.format).
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Check the configuration and the inventory, print every error, and exit.
    #[arg(long)]
    check_config: bool,
}

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
    sitepatrol::daemon::run(sitepatrol::daemon::Options {
        config_path: args.config,
        log_format: args.log_format,
    })
}
