//! Labelled corpora for `rules eval` and `rules fit`: which pages there are, what each is
//! labelled, which source it came from, and what every rule found on it.
//!
//! Positives are `DIR/<category>/<page>`: the folder names the category the page must be
//! flagged in. An optional `DIR/<category>/labels.toml` adds, per page, the page URL and the
//! rule ids that must fire (`[[page]] file = "x.html", url = "...", rules = ["..."]`).
//! Negatives are directories of ordinary pages; every regular file in them is a page, whatever
//! its extension (templates are read as templates, other files are sniffed).
//!
//! Pages of one source (a repository, a site) resemble each other, so cross-validation must
//! never put siblings on both sides of a fold. A `MANIFEST.tsv` in a corpus directory or
//! above it (with `path` and `source` columns, `source` as `OWNER/REPO @ COMMIT :: PATH`)
//! names each page's source; a page it does not list is a source of its own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use sitepatrol_core::rules::{Ruleset, categories};
use sitepatrol_core::scan::{self, ScanOptions, Scanner};

/// One page of a corpus, before scanning.
#[derive(Debug, Clone)]
pub struct Page {
    pub path: PathBuf,
    /// The corpus directory it was found under, as given.
    pub corpus: String,
    /// For positives: the category folder.
    pub label: Option<String>,
    /// The source group for cross-validation.
    pub group: String,
    pub url: Option<url::Url>,
    pub expected_rules: Vec<String>,
}

/// What the rules found on one page: for each rule with evidence, its occurrences, and the
/// first piece of evidence (to show a person why).
#[derive(Debug, Clone)]
pub struct Scanned {
    pub page: Page,
    /// `(rule index, occurrences)`, by rule index.
    pub hits: Vec<(usize, usize)>,
    /// `(rule index, matched, snippet)` of the rule's first evidence, by rule index.
    pub examples: Vec<(usize, String, String)>,
    /// The scanner skipped the file (binary).
    pub skipped: bool,
}

impl Scanned {
    pub fn display(&self) -> String {
        self.page.path.display().to_string()
    }

    pub fn example(&self, rule: usize) -> Option<(&str, &str)> {
        self.examples
            .iter()
            .find(|(r, _, _)| *r == rule)
            .map(|(_, m, s)| (m.as_str(), s.as_str()))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Labels {
    #[serde(default)]
    page: Vec<PageLabel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageLabel {
    file: String,
    url: Option<String>,
    #[serde(default)]
    rules: Vec<String>,
}

/// Every page of the given corpora; every problem is reported, each naming its file.
pub fn load(positives: &[PathBuf], negatives: &[PathBuf]) -> Result<Vec<Page>, Vec<String>> {
    let mut pages = Vec::new();
    let mut errors = Vec::new();
    for dir in positives {
        match positive_pages(dir) {
            Ok(p) => pages.extend(p),
            Err(e) => errors.extend(e),
        }
    }
    for dir in negatives {
        match negative_pages(dir) {
            Ok(p) => pages.extend(p),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(pages)
    } else {
        Err(errors)
    }
}

/// Scan every page with `ruleset`, on every core. A file that cannot be read is an error
/// naming it; the others are still scanned.
pub fn scan_all(ruleset: std::sync::Arc<Ruleset>, pages: Vec<Page>) -> (Vec<Scanned>, Vec<String>) {
    let scanner = Scanner::new(ruleset, ScanOptions::default());
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut results: Vec<(usize, Result<Scanned, UnreadablePage>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(page) = pages.get(i) else { break };
                        out.push((i, scan_page(&scanner, page)));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    let mut scanned = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for (_, r) in results {
        match r {
            Ok(s) => scanned.push(s),
            Err(e) => errors.push(e.to_string()),
        }
    }
    (scanned, errors)
}

/// A corpus page that cannot be read to scan it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
struct UnreadablePage {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

fn scan_page(scanner: &Scanner, page: &Page) -> Result<Scanned, UnreadablePage> {
    let bytes = std::fs::read(&page.path).map_err(|source| UnreadablePage {
        path: page.path.clone(),
        source,
    })?;
    let target = page
        .url
        .as_ref()
        .map_or_else(|| page.path.display().to_string(), |u| u.to_string());
    let report = scanner.scan_bytes(
        &bytes,
        scan::kind_for_path(&page.path),
        &target,
        page.url.as_ref(),
        None,
    );
    let mut hits: Vec<(usize, usize)> = Vec::new();
    let mut examples = Vec::new();
    for e in &report.evidence {
        let rule = e.rule as usize;
        match hits.iter_mut().find(|(r, _)| *r == rule) {
            Some((_, n)) => *n += e.count,
            None => {
                hits.push((rule, e.count));
                examples.push((rule, e.matched.clone(), e.snippet.clone()));
            }
        }
    }
    hits.sort_unstable();
    examples.sort_by_key(|(r, _, _)| *r);
    Ok(Scanned {
        page: page.clone(),
        hits,
        examples,
        skipped: report.document.is_none(),
    })
}

/// Files that describe a corpus rather than being pages of it.
fn is_corpus_metadata(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with('.')
        || name == "labels.toml"
        || name.eq_ignore_ascii_case("README.md")
        || name.eq_ignore_ascii_case("README.txt")
        || name.eq_ignore_ascii_case("MANIFEST.tsv")
        || name.starts_with("LICENSE")
        || name.starts_with("SOURCE")
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        if entry.file_type().is_file() && !is_corpus_metadata(entry.path()) {
            out.push(entry.into_path());
        }
    }
    Ok(out)
}

fn negative_pages(dir: &Path) -> Result<Vec<Page>, String> {
    if !dir.is_dir() {
        return Err(format!("{}: not a directory", dir.display()));
    }
    let groups = SourceGroups::find(dir);
    Ok(files_under(dir)?
        .into_iter()
        .map(|path| Page {
            group: groups.group_of(&path),
            corpus: dir.display().to_string(),
            path,
            label: None,
            url: None,
            expected_rules: Vec::new(),
        })
        .collect())
}

/// Pages under `DIR/<category>/`, with their labels.
fn positive_pages(dir: &Path) -> Result<Vec<Page>, Vec<String>> {
    let mut errors = Vec::new();
    let mut pages = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return Err(vec![format!("{}: {e}", dir.display())]),
    };
    let groups = SourceGroups::find(dir);
    let mut folders: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    for folder in folders {
        let category = folder
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        if categories::find(&category).is_none() {
            errors.push(format!(
                "{}: the folder name is not a category id",
                folder.display()
            ));
            continue;
        }
        let labels = match read_labels(&folder) {
            Ok(labels) => labels,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut labelled: HashMap<&str, &PageLabel> =
            labels.page.iter().map(|l| (l.file.as_str(), l)).collect();
        let files = match files_under(&folder) {
            Ok(files) => files,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for path in files {
            let relative = path
                .strip_prefix(&folder)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let label = labelled.remove(relative.as_str());
            let url = match label.and_then(|l| l.url.as_deref()) {
                Some(u) => match url::Url::parse(u) {
                    Ok(u) => Some(u),
                    Err(e) => {
                        errors.push(format!(
                            "{}/labels.toml: page {relative}: url {u:?}: {e}",
                            folder.display()
                        ));
                        None
                    }
                },
                None => None,
            };
            pages.push(Page {
                group: groups.group_of(&path),
                corpus: dir.display().to_string(),
                path,
                label: Some(category.clone()),
                url,
                expected_rules: label.map(|l| l.rules.clone()).unwrap_or_default(),
            });
        }
        let mut unknown: Vec<&str> = labelled.into_keys().collect();
        unknown.sort();
        for file in unknown {
            errors.push(format!(
                "{}/labels.toml: labels a page that does not exist: {file}",
                folder.display()
            ));
        }
    }
    if errors.is_empty() {
        Ok(pages)
    } else {
        Err(errors)
    }
}

fn read_labels(folder: &Path) -> Result<Labels, String> {
    let path = folder.join("labels.toml");
    if !path.exists() {
        return Ok(Labels { page: Vec::new() });
    }
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.to_string().trim()))
}

/// Page → source, from the nearest `MANIFEST.tsv` at or above a corpus directory.
struct SourceGroups {
    /// Canonical page path → source.
    sources: HashMap<PathBuf, String>,
}

impl SourceGroups {
    fn find(dir: &Path) -> SourceGroups {
        let mut sources = HashMap::new();
        let start = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        if let Some(manifest) = start
            .ancestors()
            .take(3)
            .map(|d| d.join("MANIFEST.tsv"))
            .find(|m| m.is_file())
            && let Ok(text) = std::fs::read_to_string(&manifest)
        {
            let root = manifest.parent().unwrap_or(Path::new("."));
            sources = parse_manifest(&text, root);
        }
        SourceGroups { sources }
    }

    fn group_of(&self, path: &Path) -> String {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.sources
            .get(&canonical)
            .cloned()
            .unwrap_or_else(|| format!("file:{}", path.display()))
    }
}

/// `path` and `source` columns of a manifest; the source's repository (before ` @ `) is the
/// group, so every page of one repository falls in one fold.
fn parse_manifest(text: &str, root: &Path) -> HashMap<PathBuf, String> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return HashMap::new();
    };
    let columns: Vec<&str> = header.split('\t').collect();
    let (Some(path_col), Some(source_col)) = (
        columns.iter().position(|c| *c == "path"),
        columns.iter().position(|c| *c == "source"),
    ) else {
        return HashMap::new();
    };
    let mut out = HashMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        let (Some(path), Some(source)) = (fields.get(path_col), fields.get(source_col)) else {
            continue;
        };
        let repo = source.split(" @ ").next().unwrap_or(source).trim();
        let full = root.join(path);
        let key = full.canonicalize().unwrap_or(full);
        out.insert(key, format!("source:{repo}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_groups_pages_by_repository() {
        let dir = tempfile::tempdir().unwrap();
        let pos = dir.path().join("positive/gambling");
        std::fs::create_dir_all(&pos).unwrap();
        std::fs::write(pos.join("a.html"), "x").unwrap();
        std::fs::write(pos.join("b.html"), "x").unwrap();
        std::fs::write(pos.join("c.html"), "x").unwrap();
        std::fs::write(
            dir.path().join("MANIFEST.tsv"),
            "path\tlabel\tsource\n\
             positive/gambling/a.html\tgambling\tme/repo @ 1234567 :: x.html\n\
             positive/gambling/b.html\tgambling\tme/repo @ 1234567 :: y.html\n",
        )
        .unwrap();
        let pages = load(&[dir.path().join("positive")], &[]).unwrap();
        let group = |name: &str| {
            pages
                .iter()
                .find(|p| p.path.ends_with(name))
                .unwrap()
                .group
                .clone()
        };
        assert_eq!(group("a.html"), "source:me/repo");
        assert_eq!(group("a.html"), group("b.html"));
        assert_ne!(group("c.html"), group("a.html"));
    }

    #[test]
    fn a_folder_that_is_no_category_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("nonsense")).unwrap();
        let errors = load(&[dir.path().to_path_buf()], &[]).unwrap_err();
        assert!(errors[0].contains("nonsense"), "{errors:?}");
    }
}
