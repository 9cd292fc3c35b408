//! One document through every stage: decode → extract → normalize/match → findings.
//!
//! [`Scanner`] is what `sitepatrol scan` runs per file, and what the crawler will run per
//! fetched page. It never fails on content: hostile bytes produce best-effort text, and what
//! could not be done is reported as a warning beside the findings.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::decode::{self, DecodeOptions, Decoded};
use crate::error::Error;
use crate::extract::{self, ContentKind, Document};
use crate::finding::{Finding, crawl_finding};
use crate::normalize::NormalizedZones;
use crate::rules::{Budget, Evidence, Ruleset};

/// Limits for one scan.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    /// Bytes read from one file; the rest is not scanned and a warning says so.
    pub max_file_size: u64,
    /// Time one document may take from decoding to the last rule; matching stops where it
    /// runs out (see [`Budget`]) and a `crawl.scan_budget` info finding says so. `None`
    /// never stops.
    pub scan_budget: Option<Duration>,
}

/// A page is scanned in milliseconds (the bundled rules on pages-zh: about 2 ms); a 10 MiB
/// page in under a second. Ten seconds is a page that something in it or in the rules makes
/// pathological.
pub const DEFAULT_SCAN_BUDGET: Duration = Duration::from_secs(10);

impl Default for ScanOptions {
    fn default() -> ScanOptions {
        ScanOptions {
            max_file_size: 32 << 20,
            scan_budget: Some(DEFAULT_SCAN_BUDGET),
        }
    }
}

/// What one document looked like to the scanner, and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub target: String,
    pub bytes: usize,
    /// `None` when the bytes were skipped (binary).
    pub decoded: Option<Decoded>,
    pub document: Option<Document>,
    /// Flags: one per category whose score passed its threshold.
    pub findings: Vec<Finding>,
    /// Every rule's evidence before scoring (what `rules eval`, `fit` and `lint` measure);
    /// the rule indexes are into this scanner's ruleset.
    #[serde(skip)]
    pub evidence: Vec<Evidence>,
    pub warnings: Vec<String>,
    /// Whether the scan budget ran out before the rules were done: what was found stands,
    /// but the absence of the rest is not shown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub budget_ran_out: bool,
}

impl ScanReport {
    /// The report on bytes that were not read as text (an image, a download): nothing found.
    pub fn skipped(target: &str, bytes: usize) -> ScanReport {
        ScanReport {
            target: target.to_string(),
            bytes,
            decoded: None,
            document: None,
            findings: Vec::new(),
            evidence: Vec::new(),
            warnings: Vec::new(),
            budget_ran_out: false,
        }
    }
}

/// Scans documents with one compiled ruleset; cheap to clone and share across threads.
#[derive(Clone)]
pub struct Scanner {
    ruleset: Arc<Ruleset>,
    options: ScanOptions,
}

impl Scanner {
    pub fn new(ruleset: Arc<Ruleset>, options: ScanOptions) -> Scanner {
        Scanner { ruleset, options }
    }

    pub fn ruleset(&self) -> &Ruleset {
        &self.ruleset
    }

    pub fn options(&self) -> &ScanOptions {
        &self.options
    }

    /// Scan bytes already in memory.
    pub fn scan_bytes(
        &self,
        bytes: &[u8],
        kind: Option<ContentKind>,
        target: &str,
        page_url: Option<&url::Url>,
        content_type: Option<&str>,
    ) -> ScanReport {
        self.scan_bytes_normalized(bytes, kind, target, page_url, content_type)
            .0
    }

    /// [`Scanner::scan_bytes`], and the document's zones as the rules normalized them, for a
    /// caller that reads them too (a crawl's filing detection).
    pub fn scan_bytes_normalized(
        &self,
        bytes: &[u8],
        kind: Option<ContentKind>,
        target: &str,
        page_url: Option<&url::Url>,
        content_type: Option<&str>,
    ) -> (ScanReport, NormalizedZones) {
        let budget = Budget::new(self.options.scan_budget);
        let mut warnings = Vec::new();
        let (decoded, document) = prepare(bytes, kind, page_url, content_type, &mut warnings);
        let (evidence, normalized) = match &document {
            Some(document) => self
                .ruleset
                .document_evidence_normalized(document, target, &budget),
            None => Default::default(),
        };
        let mut findings = self.ruleset.score(&evidence, target);
        let budget_ran_out = budget.ran_out();
        if budget_ran_out {
            let limit = self.options.scan_budget.unwrap_or_default();
            warnings.push(budget_warning(limit));
            findings.push(budget_finding(target, limit));
        }
        let report = ScanReport {
            target: target.to_string(),
            bytes: bytes.len(),
            decoded,
            document,
            findings,
            evidence,
            warnings,
            budget_ran_out,
        };
        (report, normalized)
    }

    /// Read (up to the size cap) and scan a file. The content kind comes from the extension,
    /// or is sniffed when the extension says nothing.
    pub fn scan_file(&self, path: &Path) -> Result<ScanReport, Error> {
        let (bytes, truncated_from) = read_capped(path, self.options.max_file_size)?;
        let kind = kind_for_path(path);
        let mut report = self.scan_bytes(&bytes, kind, &path.display().to_string(), None, None);
        if let Some(size) = truncated_from {
            report
                .warnings
                .insert(0, truncation_warning(size, self.options.max_file_size));
        }
        Ok(report)
    }
}

fn budget_warning(limit: Duration) -> String {
    format!(
        "scan_budget: matching stopped after {} ms (the page's scan budget); what was found \
         stands, the rest of the rules did not run",
        limit.as_millis()
    )
}

/// The info finding a page gets when its scan budget ran out, so a reviewer sees that the
/// page was read only in part and why its other flags stay as they were.
fn budget_finding(target: &str, limit: Duration) -> Finding {
    crawl_finding(
        "crawl.scan_budget",
        "页面扫描超时：规则未能在限时内全部执行 (the page's scan budget ran out)",
        target,
        format!(
            "matching this page took longer than its scan budget of {} ms; the rules that \
             had not run by then did not run (a pathological page or regex)",
            limit.as_millis()
        ),
    )
}

/// Decode and extract without matching: what `sitepatrol extract` shows.
pub fn prepare(
    bytes: &[u8],
    kind: Option<ContentKind>,
    page_url: Option<&url::Url>,
    content_type: Option<&str>,
    warnings: &mut Vec<String>,
) -> (Option<Decoded>, Option<Document>) {
    // Only bytes nobody said were text, and that do not start like markup, may be skipped as
    // binary: a NUL in a page served as text/html must not hide the page (browsers render
    // it anyway).
    if kind.is_none() && looks_binary(bytes) && !sniffs_as_markup(bytes) {
        warnings
            .push("skipped: binary content (NUL bytes and no UTF-16/32 byte-order mark)".into());
        return (None, None);
    }
    let tld = page_url
        .and_then(|u| u.host_str())
        .and_then(|h| h.rsplit('.').next());
    let mut decoded = decode::decode(bytes, &DecodeOptions { content_type, tld });
    let nuls = replace_nuls(&mut decoded.text);
    if nuls > 0 {
        warnings.push(format!(
            "nul_bytes: {nuls} NUL character(s) in text content replaced with U+FFFD"
        ));
    }
    if decoded.malformed > 0 {
        warnings.push(format!(
            "{} malformed byte sequence(s) for {} replaced with U+FFFD",
            decoded.malformed,
            decode::encoding_name(decoded.encoding)
        ));
    }
    let kind = kind.unwrap_or_else(|| sniff_kind(&decoded.text));
    let document = extract::extract(kind, &decoded.text, page_url);
    (Some(decoded), Some(document))
}

pub fn truncation_warning(size: u64, cap: u64) -> String {
    format!(
        "file is {}, over the size cap of {}: only the first {} were scanned",
        human_bytes(size),
        human_bytes(cap),
        human_bytes(cap)
    )
}

fn human_bytes(n: u64) -> String {
    const MIB: f64 = (1 << 20) as f64;
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / MIB)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

/// Read at most `cap` bytes; also returns the full size when the file was larger.
pub fn read_capped(path: &Path, cap: u64) -> Result<(Vec<u8>, Option<u64>), Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let mut bytes = Vec::with_capacity(size.min(cap) as usize);
    file.take(cap).read_to_end(&mut bytes).map_err(io)?;
    Ok((bytes, (size > cap).then_some(size)))
}

/// The content kind a path's extension implies, if any.
pub fn kind_for_path(path: &Path) -> Option<ContentKind> {
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(ContentKind::from_extension)
}

/// Whether a directory scan reads this file: a known page, template or script extension, or
/// any other file whose start reads as markup or server code and is not binary (a backup
/// `index.php.bak`, a page without an extension, a template under a name the server maps
/// itself). Hacked web roots hide their injections in exactly such files.
pub fn is_page_file(path: &Path) -> bool {
    if kind_for_path(path).is_some() {
        return true;
    }
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    if std::io::Read::take(file, SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .is_err()
    {
        return false;
    }
    sniffs_as_markup(&head) && !looks_binary(&head)
}

/// How much of a file with an unknown extension is read to tell whether it is a page.
const SNIFF_BYTES: usize = 8 * 1024;

/// A template if it starts with a PHP, ASP or JSP block (`<?php`, `<?=`, `<%`), HTML if it
/// starts like markup, else plain text.
pub fn sniff_kind(text: &str) -> ContentKind {
    let head: String = text
        .trim_start_matches('\u{FEFF}')
        .trim_start()
        .chars()
        .take(512)
        .collect::<String>()
        .to_ascii_lowercase();
    if head.starts_with("<?php") || head.starts_with("<?=") || head.starts_with("<%") {
        ContentKind::Template
    } else if head.starts_with('<') || head.contains("<html") || head.contains("<body") {
        ContentKind::Html
    } else {
        ContentKind::Plain
    }
}

/// Replace every U+0000 with U+FFFD (what a browser shows), returning how many there were.
fn replace_nuls(text: &mut String) -> usize {
    let count = memchr::memchr_iter(0, text.as_bytes()).count();
    if count > 0 {
        *text = text.replace('\0', "\u{FFFD}");
    }
    count
}

/// Bytes whose start reads as markup (`<html`, `<!doctype`, `<?php`, ...) once NULs and
/// anything undecodable are set aside: a page, whatever else it carries.
fn sniffs_as_markup(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    let text: String = String::from_utf8_lossy(head)
        .chars()
        .filter(|c| *c != '\0')
        .collect();
    sniff_kind(&text) != ContentKind::Plain
}

/// NUL bytes in the first 8 KiB without a UTF-16/UTF-32 byte-order mark: an image, archive or
/// executable that happens to sit in a web root.
pub fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(8192)];
    let has_wide_bom = head.starts_with(&[0xFF, 0xFE])
        || head.starts_with(&[0xFE, 0xFF])
        || head.starts_with(&[0, 0, 0xFE, 0xFF]);
    !has_wide_bom && memchr::memchr(0, head).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_detection() {
        assert!(looks_binary(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"));
        assert!(!looks_binary("<html>赌博</html>".as_bytes()));
        assert!(!looks_binary(&[0xFF, 0xFE, b'a', 0]));
        assert!(!looks_binary(b""));
        assert!(sniffs_as_markup(b"\n<html><!-- \0 --><body>x"));
        assert!(!sniffs_as_markup(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"));
    }

    #[test]
    fn a_nul_never_hides_a_page_declared_or_sniffed_as_text() {
        let page = "<html><body><!-- \0 -->澳门赌场\0真人百家乐</body></html>".as_bytes();
        for kind in [Some(ContentKind::Html), None] {
            let mut warnings = Vec::new();
            let (decoded, document) = prepare(page, kind, None, None, &mut warnings);
            let decoded = decoded.expect("decoded");
            assert!(!decoded.text.contains('\0'), "{:?}", decoded.text);
            assert!(decoded.text.contains("澳门赌场\u{FFFD}真人百家乐"));
            assert!(document.is_some());
            assert!(
                warnings.iter().any(|w| w.starts_with("nul_bytes: 2 ")),
                "{warnings:?}"
            );
        }
        // Plain text declared as such is read too; undeclared non-markup binary is not.
        let mut warnings = Vec::new();
        let (_, document) = prepare(b"a\0b", Some(ContentKind::Plain), None, None, &mut warnings);
        assert!(document.is_some());
        let (_, document) = prepare(b"a\0b", None, None, None, &mut warnings);
        assert!(document.is_none());
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff_kind("  <!DOCTYPE html><p>x"), ContentKind::Html);
        assert_eq!(sniff_kind("\u{FEFF}<html>"), ContentKind::Html);
        assert_eq!(sniff_kind("just words"), ContentKind::Plain);
        assert_eq!(sniff_kind("<?php\necho 1;"), ContentKind::Template);
        assert_eq!(
            sniff_kind("\u{FEFF}\n  <?PHP echo 1;"),
            ContentKind::Template
        );
        assert_eq!(sniff_kind("<?= $x ?>"), ContentKind::Template);
        assert_eq!(
            sniff_kind("\r\n<%@ page language=\"java\" %>"),
            ContentKind::Template
        );
        assert_eq!(sniff_kind("<% Response.Write 1 %>"), ContentKind::Template);
        assert_eq!(
            sniff_kind("<?xml version=\"1.0\"?><html>"),
            ContentKind::Html
        );
    }

    #[test]
    fn reads_at_most_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.txt");
        std::fs::write(&path, vec![b'a'; 5000]).unwrap();
        let (bytes, truncated) = read_capped(&path, 1000).unwrap();
        assert_eq!(bytes.len(), 1000);
        assert_eq!(truncated, Some(5000));
        let (bytes, truncated) = read_capped(&path, 10_000).unwrap();
        assert_eq!((bytes.len(), truncated), (5000, None));
    }

    #[test]
    fn missing_file_is_an_error_naming_the_path() {
        let err = read_capped(Path::new("/nonexistent/x.html"), 10).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.html"), "{err}");
    }
}
