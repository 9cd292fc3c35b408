//! Command-line interface. Each subcommand is a thin layer over the library; this module owns
//! argument parsing, output formats and exit codes.

mod config;
mod crawl;
mod daemon;
mod extract;
mod flags;
mod output;
mod rules;
mod scan;
mod store;
mod token;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use sitepatrol_core::finding::Severity;
use sitepatrol_core::rules::RuleSource;

/// Exit codes, the same for every subcommand.
pub mod exit {
    /// Nothing at or above `--fail-on` (scan), every rule is valid (rules check), or every
    /// store check passed (store check).
    pub const OK: i32 = 0;
    /// Findings at or above `--fail-on` (scan), or problems in the store (store check).
    pub const FINDINGS: i32 = 1;
    /// Something could not be done: bad arguments, unreadable targets, invalid rules.
    pub const ERROR: i32 = 2;
}

#[derive(Debug, Parser)]
#[command(
    name = "sitepatrol",
    version,
    about = "Content compliance scanner for hosted sites: prohibited content, link farms, miners, phishing",
    after_help = "Exit status: 0 nothing found at or above --fail-on, 1 findings, 2 error (store check: 0 every check passed, 1 problems found, 2 the store cannot be opened)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan files, directories (walked as a web root) or standard input.
    Scan(Box<scan::ScanArgs>),
    /// Show what the scanner sees in a file: encoding, zones and links, as JSON.
    Extract(extract::ExtractArgs),
    /// Patrol the inventory's sites on schedule, keep flags in the store, serve /metrics.
    Daemon(daemon::DaemonArgs),
    /// Validate and try out rulesets.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Review flags through a running daemon's API (token from $SITEPATROL_TOKEN).
    Flags(flags::FlagsArgs),
    /// API tokens for reviewers and operators.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// The daemon's store, offline: `store check` verifies it without changing it, `store
    /// copy` moves it to another database (SQLite to PostgreSQL).
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Bring the store's schema up to date on its own (the configured store, or --store) and
    /// print the versions before and after. Exit 0 when the store is up to date.
    Migrate(store::MigrateArgs),
    /// Configuration files: `config init` writes a starting one.
    #[command(subcommand)]
    Config(config::ConfigCommand),
}

/// `--rules PATH`, repeatable; none means the bundled rulesets.
#[derive(Debug, Clone, clap::Args)]
pub struct RulesArg {
    /// Ruleset file or directory (repeatable). Default: the bundled rulesets.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
}

impl RulesArg {
    pub fn sources(&self) -> Vec<RuleSource> {
        if self.rules.is_empty() {
            vec![RuleSource::Bundled]
        } else {
            self.rules.iter().cloned().map(RuleSource::Path).collect()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people (the default on a terminal).
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per line (the default when piped).
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Info,
    Low,
    Medium,
    High,
    Critical,
    /// Never exit 1 for findings.
    Never,
}

impl FailOn {
    pub fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Info => Some(Severity::Info),
            FailOn::Low => Some(Severity::Low),
            FailOn::Medium => Some(Severity::Medium),
            FailOn::High => Some(Severity::High),
            FailOn::Critical => Some(Severity::Critical),
            FailOn::Never => None,
        }
    }
}

/// One-shot commands end quietly when their reader goes away (`sitepatrol extract F | head`),
/// as other Unix tools do, instead of panicking in `println!`. Rust ignores SIGPIPE by default,
/// and that stays so for the daemon (a peer hanging up must not end it) and for `scan`, which
/// treats a closed output as an error of its own.
fn die_quietly_of_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called before any thread is started; SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::ERROR
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    if !matches!(cli.command, Command::Scan(_) | Command::Daemon(_)) {
        die_quietly_of_sigpipe();
    }
    match cli.command {
        Command::Scan(args) => scan::run(*args),
        Command::Extract(args) => extract::run(args),
        Command::Rules(command) => rules::run(command),
        Command::Daemon(args) => daemon::run(args),
        Command::Token(command) => token::run(command),
        Command::Flags(args) => flags::run(args),
        Command::Store(command) => store::run(command),
        Command::Migrate(args) => store::migrate(args),
        Command::Config(command) => config::run(command),
    }
}

/// Print a library error with its details, the way every subcommand reports failure.
pub fn report_error(error: &sitepatrol_core::error::Error) {
    eprintln!("error: {error}");
    if let Some(details) = error.details() {
        for line in details.lines() {
            eprintln!("  {line}");
        }
    }
}
