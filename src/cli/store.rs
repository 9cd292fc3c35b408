//! `sitepatrol store check`: the store verified offline, read-only. The checks are the
//! library's (`sitepatrol_store::check`); this module finds the database, prints the report
//! and chooses the exit code. `sitepatrol store copy` and `sitepatrol migrate` run the
//! library's operations (`sitepatrol_store::ops`) and print what they did.

use std::io::Write;
use std::path::PathBuf;

use sitepatrol::config::Config;
use sitepatrol_store::ops::{self, CopyOptions, CopyProgress, Location};
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
    /// Copy a whole store into another, empty one: SQLite to PostgreSQL (moving to several
    /// daemons), PostgreSQL to SQLite, or SQLite to SQLite. Every table and row, bodies and
    /// screenshots byte for byte, ids kept. Stop the daemons that write to the source first.
    /// Exit 0 when every table was copied and counted, 2 otherwise.
    Copy(CopyArgs),
}

#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// The store to copy: sqlite:PATH (or a bare path) or postgres://user@host/db.
    #[arg(long, value_name = "STORE")]
    from: String,
    /// The store to fill, created or migrated first: sqlite:PATH or postgres://….
    #[arg(long, value_name = "STORE")]
    to: String,
    /// Delete the target's rows first instead of refusing a target that has any.
    #[arg(long)]
    force: bool,
    /// Rows per target transaction.
    #[arg(long, value_name = "N", default_value_t = 500)]
    batch_rows: usize,
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The daemon's configuration file: its store (`[store] url`, `url_file`, `url_env` or
    /// `path`) is migrated. Without --config or --store: the embedded default's,
    /// data/sitepatrol.db.
    #[arg(long, value_name = "FILE", conflicts_with = "store")]
    config: Option<PathBuf>,
    /// The store: sqlite:PATH (or a bare path) or postgres://user@host/db.
    #[arg(long, value_name = "STORE")]
    store: Option<String>,
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
        StoreCommand::Copy(args) => copy(args),
    }
}

/// `sitepatrol migrate`: the schema brought up to date on its own, before the daemons of a
/// new version start (they would migrate it too; this makes the step visible and its own).
pub fn migrate(args: MigrateArgs) -> i32 {
    let at = match args.store {
        Some(s) => match Location::parse(&s) {
            Ok(at) => at,
            Err(e) => {
                eprintln!("error: --store: {e}");
                return exit::ERROR;
            }
        },
        None => {
            let loaded = match &args.config {
                Some(file) => Config::load(file),
                None => Config::embedded_default(),
            };
            match loaded {
                Ok(loaded) => match &loaded.store_url {
                    Some(url) => Location::Postgres(url.expose().to_string()),
                    None => Location::Sqlite(loaded.store.path.clone()),
                },
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::ERROR;
                }
            }
        }
    };
    match ops::migrate(&at) {
        Ok(report) => {
            let from = match report.from {
                Some(v) => v.to_string(),
                None => "none (a new store)".into(),
            };
            if report.applied.is_empty() {
                println!(
                    "store {}: schema version {}, up to date",
                    clean(&report.store),
                    report.to
                );
            } else {
                println!(
                    "store {}: schema version {from} -> {}",
                    clean(&report.store),
                    report.to
                );
                for (version, name) in &report.applied {
                    println!("  applied {version:04} {name}");
                }
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::ERROR
        }
    }
}

fn copy(args: CopyArgs) -> i32 {
    let parse = |flag: &str, s: &str| {
        Location::parse(s).map_err(|e| {
            eprintln!("error: {flag}: {e}");
        })
    };
    let (Ok(from), Ok(to)) = (parse("--from", &args.from), parse("--to", &args.to)) else {
        return exit::ERROR;
    };
    let options = CopyOptions {
        force: args.force,
        batch_rows: args.batch_rows,
    };
    eprintln!("copying {} -> {}", clean(&from.shown()), clean(&to.shown()));
    // Progress on stderr, a line per table and one every 10% of a large one.
    let mut step = 0u64;
    let mut progress = |p: &CopyProgress| match p {
        CopyProgress::Emptied { table, rows } => {
            eprintln!("  emptied {table} in the target ({rows} rows, --force)");
        }
        CopyProgress::Table { table, rows } => {
            step = (rows / 10).max(1);
            eprintln!("  {table}: {rows} rows");
        }
        CopyProgress::Batch { table, done, rows } => {
            if done < rows && done / step != (done - 1) / step {
                eprintln!("  {table}: {done}/{rows}");
            }
        }
    };
    match ops::copy(&from, &to, &options, &mut progress) {
        Ok(report) => {
            let rows: u64 = report.tables.iter().map(|(_, n)| n).sum();
            println!(
                "copied {} tables, {rows} rows, schema version {}: {} -> {}",
                report.tables.len(),
                report.schema_version,
                clean(&report.from),
                clean(&report.to)
            );
            for (table, n) in &report.tables {
                println!("  {table:<18} {n}");
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::ERROR
        }
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
