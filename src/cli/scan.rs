//! `sitepatrol scan TARGET...`: files, web-root directories and standard input.

mod pool;
mod walk;

use std::io::{IsTerminal, Read};
use std::sync::Arc;
use std::time::Instant;

use sitepatrol_core::error::Error;
use sitepatrol_core::extract::ContentKind;
use sitepatrol_core::rules::{self, Level};
use sitepatrol_core::scan::{self, ScanOptions, ScanReport, Scanner};

use super::output::Output;
use super::{FailOn, Format, RulesArg, exit};
use walk::Item;

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    #[command(flatten)]
    rules: RulesArg,
    /// Output format. Default: table on a terminal, jsonl otherwise.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Exit 1 when there is a finding at or above this severity.
    #[arg(long, value_enum, default_value = "low")]
    fail_on: FailOn,
    /// Bytes read from one file at most; the rest is not scanned, with a warning.
    #[arg(long, value_name = "BYTES", default_value_t = ScanOptions::default().max_file_size)]
    max_file_size: u64,
    /// Seconds one document's scan may take; where it runs out, matching stops and a
    /// `crawl.scan_budget` info finding says so. 0: no limit.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    scan_budget: f64,
    /// Files scanned in parallel. Default: the number of CPUs. Results print in the same
    /// order whatever the number.
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Follow symbolic links to directories in a web root (e.g. an `uploads` directory kept
    /// elsewhere). Off by default: they may lead out of the web root; loops are reported.
    /// Symbolic links to files are always read.
    #[arg(long, short = 'L')]
    follow_symlinks: bool,
    /// Files, directories, `-` (standard input), or http(s) URLs of sites to crawl.
    ///
    /// A directory is walked whole, in name order, for the files whose extension names a kind
    /// (HTML, text and Markdown, JavaScript, server templates and scripts such as php, asp,
    /// aspx, jsp, tpl, inc and ftl, Vue and Svelte components, JSX and TSX) and the files whose
    /// first bytes read as markup or a template, whatever their name (backups, pages without
    /// an extension). Nothing is skipped that a hacked web root could hide in: hidden files and
    /// dot-directories are read, and .gitignore, .ignore and git excludes are not obeyed,
    /// since whoever controls the site writes them. Devices, FIFOs and sockets are passed
    /// over.
    #[arg(required = true, value_name = "TARGET")]
    targets: Vec<String>,
    #[command(flatten)]
    crawl: super::crawl::CrawlArgs,
}

/// Results handed out ahead of the one being printed at most: the reorder buffer holds no
/// more, so memory stays bounded on a web root of any size, while a slow file (up to the scan
/// budget) still leaves the other workers this much to do.
const WINDOW: usize = 1024;

pub fn run(args: ScanArgs) -> i32 {
    let started = Instant::now();
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Jsonl
    });
    let ruleset = match rules::load(&args.rules.sources()) {
        Ok((ruleset, _warnings)) => ruleset,
        Err(diagnostics) => {
            let error = Error::Rules(
                diagnostics
                    .into_iter()
                    .filter(|d| d.level == Level::Error)
                    .collect(),
            );
            super::report_error(&error);
            return exit::ERROR;
        }
    };
    let scanner = Scanner::new(
        Arc::new(ruleset),
        ScanOptions {
            max_file_size: args.max_file_size,
            scan_budget: (args.scan_budget > 0.0)
                .then(|| std::time::Duration::from_secs_f64(args.scan_budget.min(1e9))),
        },
    );
    let (urls, paths): (Vec<String>, Vec<String>) = args
        .targets
        .iter()
        .cloned()
        .partition(|t| super::crawl::is_url(t));
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let mut output = Output::new(format);
    let mut worst = None;
    let printed = pool::ordered_map(
        walk::items(&paths, args.follow_symlinks),
        jobs,
        WINDOW,
        |item| scan_item(&scanner, &item),
        |result| match result {
            Some(result) => emit(&mut output, result, &mut worst),
            None => Ok(()),
        },
    );
    if printed.is_err() {
        // stdout closed (e.g. piped into `head`): stop quietly.
        return exit::ERROR;
    }
    if !urls.is_empty() {
        let crawled_worst = super::crawl::run(&args.crawl, &urls, &scanner, &mut output);
        worst = worst.max(crawled_worst);
    }
    output.summary.duration_s = started.elapsed().as_secs_f64();
    let errors = output.summary.errors;
    if output.finish().is_err() {
        return exit::ERROR;
    }
    if errors > 0 {
        exit::ERROR
    } else if worst.is_some_and(|w| args.fail_on.threshold().is_some_and(|t| w >= t)) {
        exit::FINDINGS
    } else {
        exit::OK
    }
}

type ItemResult = Result<ScanReport, (String, String)>;

/// The item's report, or `None` for a file found in a directory that is not a page.
fn scan_item(scanner: &Scanner, item: &Item) -> Option<ItemResult> {
    if let Item::Walked(path) = item {
        // Sniffing reads the file's head, so it is done here, on the workers.
        if !scan::is_page_file(path) {
            return None;
        }
    }
    Some(scan_report(scanner, item))
}

fn scan_report(scanner: &Scanner, item: &Item) -> ItemResult {
    let mut report = match item {
        Item::Failed(target, message) => return Err((target.clone(), message.clone())),
        Item::Stdin => {
            let cap = scanner.options().max_file_size;
            let mut bytes = Vec::new();
            if let Err(e) = std::io::stdin().lock().take(cap).read_to_end(&mut bytes) {
                return Err(("-".into(), e.to_string()));
            }
            let kind = None::<ContentKind>;
            scanner.scan_bytes(&bytes, kind, "-", None, None)
        }
        Item::File(path) | Item::Walked(path) => scanner
            .scan_file(path)
            .map_err(|e| (path.display().to_string(), e.to_string()))?,
    };
    // The extracted document is only needed for matching; drop it before results queue up.
    report.document = None;
    Ok(report)
}

fn emit(
    output: &mut Output,
    result: ItemResult,
    worst: &mut Option<sitepatrol_core::finding::Severity>,
) -> std::io::Result<()> {
    match result {
        Err((target, message)) => output.error(&target, &message),
        Ok(report) => {
            output.summary.files += 1;
            output.summary.bytes += report.bytes as u64;
            for warning in &report.warnings {
                output.warning(&report.target, warning)?;
            }
            for finding in report.findings {
                *worst = (*worst).max(Some(finding.severity));
                output.finding(finding)?;
            }
            Ok(())
        }
    }
}
