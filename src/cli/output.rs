//! Scan output: a human table, one JSON document, or JSON lines. Warnings and errors also go
//! to stderr in every format, so a piped run still shows them.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;
use sitepatrol_core::finding::{Finding, Severity, Signal};

/// Signals a table shows under each flag; JSON output has them all.
const TABLE_SIGNALS: usize = 5;

use super::Format;

#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    #[serde(rename = "type")]
    pub record_type: &'static str,
    pub target: String,
    pub message: String,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    #[serde(rename = "type")]
    pub record_type: &'static str,
    pub files: usize,
    /// Pages fetched by crawls.
    pub pages: usize,
    pub bytes: u64,
    pub findings: usize,
    pub by_severity: BTreeMap<Severity, usize>,
    pub by_category: BTreeMap<String, usize>,
    pub warnings: usize,
    pub errors: usize,
    /// Pages of crawled sites that could not be fetched.
    pub fetch_errors: usize,
    pub duration_s: f64,
}

#[derive(Debug, Clone, Serialize)]
struct FetchErrorRecord<'a> {
    #[serde(rename = "type")]
    record_type: &'static str,
    target: &'a str,
    class: &'a str,
    message: &'a str,
}

#[derive(Debug, Clone, Serialize)]
struct CrawlRecord<'a> {
    #[serde(rename = "type")]
    record_type: &'static str,
    target: &'a str,
    agent: sitepatrol_crawl::fetch::Agent,
    stats: &'a sitepatrol_crawl::crawl::CrawlStats,
}

pub struct Output {
    format: Format,
    out: io::BufWriter<io::Stdout>,
    /// For `Format::Json`, everything is held until the end.
    findings: Vec<Finding>,
    notices: Vec<Notice>,
    sites: Vec<serde_json::Value>,
    pub summary: Summary,
}

impl Output {
    pub fn new(format: Format) -> Output {
        Output {
            format,
            out: io::BufWriter::new(io::stdout()),
            findings: Vec::new(),
            notices: Vec::new(),
            sites: Vec::new(),
            summary: Summary {
                record_type: "summary",
                ..Summary::default()
            },
        }
    }

    pub fn finding(&mut self, finding: Finding) -> io::Result<()> {
        self.summary.findings += 1;
        *self
            .summary
            .by_severity
            .entry(finding.severity)
            .or_default() += 1;
        *self
            .summary
            .by_category
            .entry(finding.category.to_string())
            .or_default() += 1;
        match self.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut self.out, &finding)?;
                self.out.write_all(b"\n")
            }
            Format::Json => {
                self.findings.push(finding);
                Ok(())
            }
            Format::Table => self.finding_table(&finding),
        }
    }

    /// A flag as a heading (severity, category, score, target) and its strongest signals,
    /// one per line, so the evidence a reviewer needs fits a terminal.
    fn finding_table(&mut self, finding: &Finding) -> io::Result<()> {
        let score = finding
            .score
            .map_or(String::new(), |s| format!("  score {s:.2}"));
        writeln!(
            self.out,
            "{:<8} {} ({}){score}  {}",
            finding.severity.as_str().to_uppercase(),
            finding.category,
            finding.clause,
            finding.target,
        )?;
        let own = [finding.own_signal()];
        let signals: &[Signal] = if finding.signals.is_empty() {
            &own
        } else {
            &finding.signals
        };
        for signal in signals.iter().take(TABLE_SIGNALS) {
            let times = if signal.count > 1 {
                format!(" ×{}", signal.count)
            } else {
                String::new()
            };
            let weight = signal
                .contribution
                .map_or(String::new(), |c| format!(" {c:+.2}"));
            writeln!(
                self.out,
                "         {}{weight} [{} @{}] {:?}{times}  in: {}",
                signal.rule,
                signal.zone.map_or("page", |z| z.as_str()),
                signal.offset,
                signal.matched,
                one_line(&signal.snippet)
            )?;
        }
        let more = signals.len().saturating_sub(TABLE_SIGNALS) + finding.signals_omitted;
        if more > 0 {
            writeln!(self.out, "         … and {more} more signal(s)")?;
        }
        Ok(())
    }

    pub fn warning(&mut self, target: &str, message: &str) -> io::Result<()> {
        self.summary.warnings += 1;
        eprintln!("warning: {target}: {message}");
        self.notice("warning", target, message)
    }

    pub fn error(&mut self, target: &str, message: &str) -> io::Result<()> {
        self.summary.errors += 1;
        eprintln!("error: {target}: {message}");
        self.notice("error", target, message)
    }

    /// A page of a crawl that could not be fetched. `fatal` when it was the start page, so the
    /// site went unseen.
    pub fn fetch_error(
        &mut self,
        url: &str,
        class: &str,
        message: &str,
        fatal: bool,
    ) -> io::Result<()> {
        if fatal {
            self.summary.errors += 1;
        } else {
            self.summary.fetch_errors += 1;
        }
        eprintln!("fetch error [{class}]: {url}: {message}");
        let record = FetchErrorRecord {
            record_type: "fetch_error",
            target: url,
            class,
            message,
        };
        match self.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut self.out, &record)?;
                self.out.write_all(b"\n")
            }
            Format::Json => {
                self.notices.push(Notice {
                    record_type: "fetch_error",
                    target: url.to_string(),
                    message: format!("[{class}] {message}"),
                });
                Ok(())
            }
            Format::Table => Ok(()),
        }
    }

    /// One site's filing record, after its crawl.
    pub fn site(&mut self, record: &sitepatrol_core::filing::SiteRecord) -> io::Result<()> {
        match self.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut self.out, record)?;
                self.out.write_all(b"\n")
            }
            Format::Json => {
                self.sites.push(serde_json::to_value(record)?);
                Ok(())
            }
            Format::Table => {
                let shown: Vec<&str> = record
                    .icp_numbers
                    .iter()
                    .chain(&record.psb_numbers)
                    .map(|n| n.number.as_str())
                    .collect();
                writeln!(
                    self.out,
                    "site {}: filing {}{}",
                    record.host,
                    record.filing_status.as_str(),
                    if shown.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", shown.join(", "))
                    }
                )
            }
        }
    }

    /// One site's crawl is over.
    pub fn crawl_done(
        &mut self,
        target: &str,
        agent: sitepatrol_crawl::fetch::Agent,
        stats: &sitepatrol_crawl::crawl::CrawlStats,
    ) -> io::Result<()> {
        match self.format {
            Format::Jsonl => {
                let record = CrawlRecord {
                    record_type: "crawl",
                    target,
                    agent,
                    stats,
                };
                serde_json::to_writer(&mut self.out, &record)?;
                self.out.write_all(b"\n")
            }
            Format::Json => Ok(()),
            Format::Table => {
                let errors: u64 = stats.errors.values().sum();
                writeln!(
                    self.out,
                    "crawled {target} ({agent:?}): {} page(s) fetched, {} scanned, {} bytes, {} error(s) in {:.1}s",
                    stats.pages_fetched, stats.pages_scanned, stats.bytes, errors, stats.duration_s
                )
            }
        }
    }

    fn notice(&mut self, kind: &'static str, target: &str, message: &str) -> io::Result<()> {
        let notice = Notice {
            record_type: kind,
            target: target.to_string(),
            message: message.to_string(),
        };
        match self.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut self.out, &notice)?;
                self.out.write_all(b"\n")
            }
            Format::Json => {
                self.notices.push(notice);
                Ok(())
            }
            Format::Table => Ok(()),
        }
    }

    pub fn finish(mut self) -> io::Result<()> {
        match self.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut self.out, &self.summary)?;
                self.out.write_all(b"\n")?;
            }
            Format::Json => {
                let value = serde_json::json!({
                    "findings": self.findings,
                    "notices": self.notices,
                    "sites": self.sites,
                    "summary": self.summary,
                });
                serde_json::to_writer_pretty(&mut self.out, &value)?;
                self.out.write_all(b"\n")?;
            }
            Format::Table => {
                let s = &self.summary;
                let severities: Vec<String> = s
                    .by_severity
                    .iter()
                    .rev()
                    .map(|(sev, n)| format!("{n} {sev}"))
                    .collect();
                let breakdown = if severities.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", severities.join(", "))
                };
                let pages = if s.pages > 0 {
                    format!(" and {} page(s)", s.pages)
                } else {
                    String::new()
                };
                writeln!(
                    self.out,
                    "scanned {} file(s){pages}, {} bytes in {:.2}s: {} finding(s){breakdown}, {} warning(s), {} error(s)",
                    s.files, s.bytes, s.duration_s, s.findings, s.warnings, s.errors
                )?;
            }
        }
        self.out.flush()
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
