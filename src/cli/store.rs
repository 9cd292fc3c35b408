//! `sitepatrol store check`: the store verified offline, read-only. The checks are the
//! library's (`sitepatrol_store::check`); this module finds the database, prints the report
//! and chooses the exit code.

use std::io::Write;
use std::path::PathBuf;

use sitepatrol::config::Config;
use sitepatrol_store::{CheckReport, check_sqlite_file};

use super::exit;
use super::flags::clean;

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Verify the store offline without changing it: SQLite's integrity and foreign key
    /// checks, every flag has its events and every event its flag, unique fingerprints, no
    /// half-applied review action, stored bodies match their hashes. Exit 0 when every check
    /// passes, 1 when any fails, 2 when the store cannot be opened.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The daemon's configuration file: its `[store] path` is checked (a relative path from
    /// the current directory, as the daemon takes it). Without --config or --store: the
    /// embedded default's, data/sitepatrol.db.
    #[arg(long, value_name = "FILE", conflicts_with = "store")]
    config: Option<PathBuf>,
    /// The store's database file.
    #[arg(long, value_name = "PATH")]
    store: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: CheckFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CheckFormat {
    /// The report for people: one line per check, one per problem.
    Text,
    /// One JSON document: every check with its problems (`kind`, `flag_id`, `event_id`,
    /// `body_sha256`, `fingerprint`, `detail`).
    Json,
}

pub fn run(command: StoreCommand) -> i32 {
    match command {
        StoreCommand::Check(args) => check(args),
    }
}

fn check(args: CheckArgs) -> i32 {
    // The path, and where it came from when it was not given.
    let (path, from) = match (args.store, &args.config) {
        (Some(path), _) => (path, None),
        (None, config) => {
            let loaded = match config {
                Some(file) => Config::load(file),
                None => Config::embedded_default(),
            };
            match loaded {
                // The checks are SQLite's (integrity_check, foreign_key_check, the rows read
                // past the indexes): checking the unused `path` of a PostgreSQL config would
                // report on a database the daemon does not use.
                Ok(loaded) if loaded.store_url.is_some() => {
                    eprintln!(
                        "error: {} uses the PostgreSQL store ([store] url); `store check` verifies a SQLite store (--store PATH names one)",
                        loaded.source
                    );
                    return exit::ERROR;
                }
                Ok(loaded) => (loaded.store.path, Some(loaded.source)),
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::ERROR;
                }
            }
        }
    };
    let report = match check_sqlite_file(&path) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(from) = from {
                eprintln!(
                    "  (the [store] path of {from}; --store PATH or --config FILE names another)"
                );
            }
            return exit::ERROR;
        }
    };
    let mut out = std::io::stdout().lock();
    let written = match args.format {
        CheckFormat::Text => write_text(&mut out, &report),
        CheckFormat::Json => serde_json::to_string_pretty(&report)
            .map_err(std::io::Error::other)
            .and_then(|doc| writeln!(out, "{doc}")),
    };
    // A closed stdout (`| head`) loses the rest of the report, not the verdict.
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write the report: {e}");
        return exit::ERROR;
    }
    if report.ok { exit::OK } else { exit::FINDINGS }
}

fn write_text(out: &mut impl Write, report: &CheckReport) -> std::io::Result<()> {
    writeln!(
        out,
        "store {} (schema {}), opened read-only",
        clean(&report.path.display().to_string()),
        report.schema_version
    )?;
    for check in &report.checks {
        let status = if check.passed { "ok" } else { "FAIL" };
        let mut summary = Vec::new();
        if !check.passed {
            summary.push(format!("{} problem(s)", check.problems_total));
        }
        summary.extend(check.notes.iter().cloned());
        writeln!(
            out,
            "{status:<4}  {:<17}  {}",
            check.name.as_str(),
            clean(&summary.join("; "))
        )?;
        for p in &check.problems {
            writeln!(out, "      {}: {}", p.kind.as_str(), clean(&p.detail))?;
        }
        let unlisted = check.problems_total - check.problems.len() as u64;
        if unlisted > 0 {
            writeln!(out, "      and {unlisted} more not listed")?;
        }
    }
    let failed = report.checks.iter().filter(|c| !c.passed).count();
    if report.ok {
        writeln!(out, "ok: all {} checks passed", report.checks.len())
    } else {
        writeln!(
            out,
            "FAIL: {} problem(s) in {failed} of {} checks",
            report.problems_total,
            report.checks.len()
        )
    }
}
