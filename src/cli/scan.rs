//! `sitepatrol scan TARGET...`: files, web-root directories and standard input.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use sitepatrol_core::error::Error;
use sitepatrol_core::extract::ContentKind;
use sitepatrol_core::rules::{self, Level};
use sitepatrol_core::scan::{self, ScanOptions, ScanReport, Scanner};

use super::output::Output;
use super::{FailOn, Format, RulesArg, exit};

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
    /// Files scanned in parallel. Default: the number of CPUs.
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Files, directories (walked for the files whose extension names a kind: HTML, text and
    /// Markdown, JavaScript, server templates such as php, asp, jsp and ftl, Vue and Svelte
    /// components, JSX and TSX), `-`, or http(s) URLs of sites to crawl.
    #[arg(required = true, value_name = "TARGET")]
    targets: Vec<String>,
    #[command(flatten)]
    crawl: super::crawl::CrawlArgs,
}

/// One unit of work.
enum Item {
    File(PathBuf),
    Stdin,
    /// A target that could not be listed.
    Failed(String, String),
}

/// Files scanned per batch: results are printed in input order batch by batch, so memory
/// stays bounded on a large web root.
const BATCH: usize = 256;

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
    let items = list_items(&paths);
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let mut output = Output::new(format);
    let mut worst = None;
    for batch in items.chunks(BATCH) {
        let results = scan_batch(&scanner, batch, jobs);
        for result in results {
            if emit(&mut output, result, &mut worst).is_err() {
                // stdout closed (e.g. piped into `head`): stop quietly.
                return exit::ERROR;
            }
        }
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

fn list_items(targets: &[String]) -> Vec<Item> {
    let mut items = Vec::new();
    for target in targets {
        if target == "-" {
            items.push(Item::Stdin);
            continue;
        }
        let path = Path::new(target);
        match std::fs::metadata(path) {
            Err(e) => items.push(Item::Failed(target.clone(), e.to_string())),
            Ok(meta) if meta.is_dir() => {
                for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
                    match entry {
                        Ok(entry) => {
                            let is_web_file =
                                entry.path().is_file() && scan::is_page_file(entry.path());
                            if is_web_file {
                                items.push(Item::File(entry.into_path()));
                            }
                        }
                        Err(e) => items.push(Item::Failed(
                            e.path().unwrap_or(path).display().to_string(),
                            e.to_string(),
                        )),
                    }
                }
            }
            Ok(_) => items.push(Item::File(path.to_path_buf())),
        }
    }
    items
}

type ItemResult = Result<ScanReport, (String, String)>;

fn scan_batch(scanner: &Scanner, batch: &[Item], jobs: usize) -> Vec<ItemResult> {
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<ItemResult>> = (0..batch.len()).map(|_| None).collect();
    let chunks = std::sync::Mutex::new(&mut slots);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(batch.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = batch.get(i) else { break };
                    let result = scan_item(scanner, item);
                    if let Ok(mut slots) = chunks.lock() {
                        slots[i] = Some(result);
                    }
                }
            });
        }
    });
    slots.into_iter().flatten().collect()
}

fn scan_item(scanner: &Scanner, item: &Item) -> ItemResult {
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
        Item::File(path) => scanner
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
