//! Displayed filing numbers on real pages: `../shared/data/pages-zh` (69 Chinese news and
//! portal pages). The expectations are in `tests/data/filing/pages-zh-numbers.tsv`: for each
//! page that shows numbers, the numbers, as read by a person from the rendered page. Every
//! page not listed must show none, so an invented number fails the test as surely as a
//! missed one.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sitepatrol_core::decode::{DecodeOptions, decode};
use sitepatrol_core::extract::{ContentKind, extract};
use sitepatrol_core::filing::Detector;
use sitepatrol_core::filing::numbers::NumberKind;
use sitepatrol_core::filing::services::ServiceCatalog;

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/pages-zh/original");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "notice: {} is absent; the pages-zh filing test is skipped",
            dir.display()
        );
        None
    }
}

/// The corpus's pages, in name order.
fn pages(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    entries
}

#[test]
fn every_displayed_number_on_pages_zh_is_found_and_none_is_invented() {
    let Some(dir) = corpus() else { return };
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in include_str!("../data/filing/pages-zh-numbers.tsv").lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let page = fields.next().unwrap().to_string();
        let numbers = fields.next().unwrap_or("");
        expected.insert(
            page,
            numbers
                .split(' ')
                .filter(|n| !n.is_empty())
                .map(String::from)
                .collect(),
        );
    }
    let detector = Detector::new(ServiceCatalog::bundled().unwrap());
    let entries = pages(&dir);
    assert_eq!(entries.len(), 69, "the corpus changed");
    let mut problems = Vec::new();
    let mut icp_pages = 0;
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy()[..8].to_string();
        let bytes = std::fs::read(&path).unwrap();
        let decoded = decode(
            &bytes,
            &DecodeOptions {
                content_type: None,
                tld: None,
            },
        );
        let document = extract(ContentKind::Html, &decoded.text, None);
        let filing = detector.detect(&document, "http://pages-zh.test/");
        let found: Vec<String> = filing
            .numbers
            .iter()
            .map(|n| n.number.number.clone())
            .collect();
        let want = expected.get(&name).cloned().unwrap_or_default();
        // The 16 pages of the issue: an ICP filing or licence in its current form (the sohu
        // pages' pre-2006 form is counted apart).
        if filing.numbers.iter().any(|n| {
            matches!(
                n.number.kind,
                NumberKind::IcpFiling | NumberKind::IcpLicence
            ) && !n.number.problems.iter().any(|p| p.contains("old form"))
        }) {
            icp_pages += 1;
        }
        if found != want {
            problems.push(format!("{name}\tfound {found:?}\texpected {want:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} page(s) differ:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(icp_pages, 16, "pages showing an ICP filing number");
}

/// A crawl hands filing detection the zones the rules normalized; what it finds must be what
/// it finds normalizing them itself, on every page, numbers and services alike.
#[test]
fn filing_on_the_rules_normalized_zones_is_filing_on_its_own() {
    use std::sync::Arc;

    use sitepatrol_core::rules::{self, RuleSource};
    use sitepatrol_core::scan::{ScanOptions, Scanner};

    let Some(dir) = corpus() else { return };
    let (ruleset, diagnostics) = rules::check(&[RuleSource::Bundled]);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let scanner = Scanner::new(Arc::new(ruleset.unwrap()), ScanOptions::default());
    let detector = Detector::new(ServiceCatalog::bundled().unwrap());
    let url = url::Url::parse("http://pages-zh.test/").unwrap();
    let entries = pages(&dir);
    let (mut shared_zones, mut with_numbers, mut with_services) = (0, 0, 0);
    for path in entries {
        let bytes = std::fs::read(&path).unwrap();
        let (report, normalized) =
            scanner.scan_bytes_normalized(&bytes, None, url.as_str(), Some(&url), None);
        let document = report.document.expect("a page");
        shared_zones += (0..document.zones.len())
            .filter(|&i| normalized.zone(i).is_some())
            .count();
        let own = detector.detect(&document, url.as_str());
        let shared = detector.detect_normalized(&document, Some(&normalized), url.as_str());
        assert_eq!(
            serde_json::to_string(&shared).unwrap(),
            serde_json::to_string(&own).unwrap(),
            "{}",
            path.display()
        );
        with_numbers += usize::from(!own.numbers.is_empty());
        with_services += usize::from(!own.services.is_empty());
    }
    // The comparison means something only if zones were shared and something was found.
    assert!(shared_zones > 69, "zones shared: {shared_zones}");
    assert!(
        with_numbers >= 16 && with_services > 0,
        "{with_numbers} {with_services}"
    );
}
