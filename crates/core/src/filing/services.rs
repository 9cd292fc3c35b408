//! Regulated services (§4) and commercial operation, detected from what a page shows.
//!
//! The signals live in data (`rulesets/filing/services.toml`), not here: an operator can add a
//! term or a service without a build. A service is detected on a page when one `strong` term
//! occurs in one of its zones, or at least `min_weak` distinct `weak` terms do, or the page URL
//! matches one of its `url` patterns. Terms are compared on sitepatrol's normalized text, so
//! width, case and Traditional characters make no difference.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::RegexSet;
use serde::{Deserialize, Serialize};

use super::numbers::NumberKind;
use crate::extract::{Document, ZoneKind};
use crate::finding::Severity;
use crate::normalize::{Derived, normalize};

const BUNDLED_NAME: &str = "<bundled>/rulesets/filing/services.toml";
const BUNDLED: &str = include_str!("../../../../rulesets/filing/services.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicesFile {
    #[serde(default)]
    service: Vec<toml::Spanned<ServiceSpec>>,
    commerce: toml::Spanned<SignalSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceSpec {
    id: String,
    name: String,
    clause: String,
    severity: String,
    registry_service: String,
    #[serde(default)]
    permits: Vec<String>,
    #[serde(flatten)]
    signal: SignalSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalSpec {
    #[serde(default)]
    strong: Vec<String>,
    #[serde(default)]
    weak: Vec<String>,
    #[serde(default = "default_min_weak")]
    min_weak: usize,
    #[serde(default)]
    url: Vec<String>,
    zones: Vec<String>,
}

fn default_min_weak() -> usize {
    3
}

/// A regulated service: what approves it and what shows the approval.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub clause: String,
    pub severity: Severity,
    /// The value of the registry's `services` column that approves this service.
    pub registry_service: String,
    /// Displayed or registered permits that show prior approval; empty when the filing's
    /// approved services are all that is needed.
    pub permits: Vec<NumberKind>,
}

struct Signal {
    zones: u16,
    min_weak: usize,
    urls: Option<RegexSet>,
}

/// Why a page counts as offering a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceSignal {
    /// The service id, or `commerce`.
    pub service: String,
    /// Strong terms seen, as the normalized term.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub strong: Vec<String>,
    /// Weak terms seen (only reported when they decided).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weak: Vec<String>,
    /// The URL pattern the page URL matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_pattern: Option<String>,
}

impl ServiceSignal {
    /// The evidence in one line, for a finding's `matched`.
    pub fn evidence(&self) -> String {
        if let Some(term) = self.strong.first() {
            return term.clone();
        }
        if let Some(pattern) = &self.url_pattern {
            return format!("URL ~ {pattern}");
        }
        self.weak.join(" ")
    }
}

/// The compiled service catalogue.
pub struct ServiceCatalog {
    services: Vec<Service>,
    /// One per service, then commerce last.
    signals: Vec<Signal>,
    url_sources: Vec<Vec<String>>,
    terms: AhoCorasick,
    /// Per pattern: (signal index, strong?, the normalized term).
    patterns: Vec<(usize, bool, String)>,
    zones: u16,
}

impl std::fmt::Debug for ServiceCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCatalog")
            .field("services", &self.services.len())
            .field("terms", &self.patterns.len())
            .finish()
    }
}

/// A service's own fields: its severity and the permits that approve it.
fn read_service(spec: &ServiceSpec, fail: &mut impl FnMut(String)) -> Service {
    let severity = spec.severity.parse::<Severity>().unwrap_or_else(|e| {
        fail(e);
        Severity::Medium
    });
    let mut permits = Vec::new();
    for permit in &spec.permits {
        match NumberKind::parse(permit) {
            Some(kind) if kind.is_permit() || kind == NumberKind::IcpLicence => permits.push(kind),
            _ => fail(format!("unknown permit kind `{permit}`")),
        }
    }
    Service {
        id: spec.id.clone(),
        name: spec.name.clone(),
        clause: spec.clause.clone(),
        severity,
        registry_service: spec.registry_service.clone(),
        permits,
    }
}

/// Where a signal looks, how many weak terms it needs, and its URL patterns.
fn read_signal(signal: &SignalSpec, fail: &mut impl FnMut(String)) -> Signal {
    let mut zones = 0u16;
    for zone in &signal.zones {
        match ZoneKind::parse(zone) {
            Some(kind) => zones |= kind.bit(),
            None => fail(format!("unknown zone `{zone}`")),
        }
    }
    if signal.min_weak == 0 {
        fail("min_weak must be at least 1".into());
    }
    if signal.strong.is_empty() && signal.weak.is_empty() && signal.url.is_empty() {
        fail("no strong, weak or url signals".into());
    }
    let urls = if signal.url.is_empty() {
        None
    } else {
        match RegexSet::new(&signal.url) {
            Ok(set) => Some(set),
            Err(e) => {
                fail(format!("bad url pattern: {e}"));
                None
            }
        }
    };
    Signal {
        zones,
        min_weak: signal.min_weak,
        urls,
    }
}

/// Every signal's terms, normalized, for one automaton.
#[derive(Default)]
struct Terms {
    normalized: Vec<String>,
    /// Per term: (signal index, strong?, the normalized term).
    patterns: Vec<(usize, bool, String)>,
}

impl Terms {
    fn add(&mut self, index: usize, signal: &SignalSpec, fail: &mut impl FnMut(String)) {
        for (strong, list) in [(true, &signal.strong), (false, &signal.weak)] {
            for term in list {
                let normalized = normalize(term).text.trim().to_string();
                if normalized.is_empty() {
                    fail(format!("the term `{term}` is empty after normalization"));
                    continue;
                }
                self.normalized.push(normalized.clone());
                self.patterns.push((index, strong, normalized));
            }
        }
    }

    fn automaton(&self) -> Result<AhoCorasick, aho_corasick::BuildError> {
        AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&self.normalized)
    }
}

impl ServiceCatalog {
    /// The catalogue shipped in the binary.
    pub fn bundled() -> Result<ServiceCatalog, Vec<String>> {
        ServiceCatalog::parse(BUNDLED_NAME, BUNDLED)
    }

    pub fn from_path(path: &Path) -> Result<ServiceCatalog, Vec<String>> {
        let text = crate::bounded::read_text(path, crate::bounded::CONFIG_BYTES)
            .map_err(|e| vec![format!("{}: {e}", path.display())])?;
        ServiceCatalog::parse(&path.display().to_string(), &text)
    }

    /// Parse and validate; every problem is reported, each as `file:line: message`.
    pub fn parse(name: &str, text: &str) -> Result<ServiceCatalog, Vec<String>> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let file: ServicesFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(s.start)).unwrap_or(1);
            vec![format!("{name}:{line}: {}", e.message())]
        })?;
        let mut errors = Vec::new();
        let mut services = Vec::new();
        let mut signals = Vec::new();
        let mut url_sources = Vec::new();
        let mut terms = Terms::default();
        let mut ids = HashSet::new();
        // Each service's signal, then commerce's, which has no service.
        let specs = file
            .service
            .iter()
            .map(|s| (s.span(), Some(s.get_ref()), &s.get_ref().signal))
            .chain([(file.commerce.span(), None, file.commerce.get_ref())]);
        for (index, (span, service, signal)) in specs.enumerate() {
            let line = line_of(span.start);
            let label = service.map(|s| s.id.as_str()).unwrap_or("commerce");
            let mut fail =
                |message: String| errors.push(format!("{name}:{line}: {label}: {message}"));
            if let Some(spec) = service {
                if !ids.insert(spec.id.clone()) {
                    fail("the service id is used twice".into());
                }
                services.push(read_service(spec, &mut fail));
            }
            signals.push(read_signal(signal, &mut fail));
            terms.add(index, signal, &mut fail);
            url_sources.push(signal.url.clone());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let zones = signals.iter().fold(0, |acc, s| acc | s.zones);
        Ok(ServiceCatalog {
            services,
            signals,
            url_sources,
            terms: terms
                .automaton()
                .map_err(|e| vec![format!("{name}: cannot compile the terms: {e}")])?,
            patterns: terms.patterns,
            zones,
        })
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }

    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    /// The services a page shows, and (last, as `commerce`) signs of commercial operation.
    pub fn detect(&self, document: &Document, page_url: &str) -> Vec<ServiceSignal> {
        let normalized: Vec<(ZoneKind, Derived)> = document
            .zones
            .iter()
            .filter(|z| self.reads(z.kind))
            .map(|z| (z.kind, normalize(&z.text)))
            .collect();
        self.detect_normalized(
            normalized.iter().map(|(k, d)| (*k, d.text.as_str())),
            page_url,
        )
    }

    /// Whether any signal reads zones of this kind.
    pub fn reads(&self, kind: ZoneKind) -> bool {
        self.zones & kind.bit() != 0
    }

    /// [`detect`](Self::detect) over zones already normalized (`(kind, normalized text)`).
    pub fn detect_normalized<'z>(
        &self,
        zones: impl IntoIterator<Item = (ZoneKind, &'z str)>,
        page_url: &str,
    ) -> Vec<ServiceSignal> {
        let mut strong: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
        let mut weak: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
        for (kind, text) in zones {
            if !self.reads(kind) {
                continue;
            }
            for hit in self.terms.find_overlapping_iter(text) {
                let (signal, is_strong, term) = &self.patterns[hit.pattern().as_usize()];
                if self.signals[*signal].zones & kind.bit() == 0 {
                    continue;
                }
                let into = if *is_strong { &mut strong } else { &mut weak };
                into.entry(*signal).or_default().insert(term.as_str());
            }
        }
        let mut found = Vec::new();
        for (index, signal) in self.signals.iter().enumerate() {
            let id = self
                .services
                .get(index)
                .map(|s| s.id.clone())
                .unwrap_or_else(|| "commerce".to_string());
            let strong_terms: Vec<String> = strong
                .get(&index)
                .map(|t| t.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default();
            let weak_terms: Vec<String> = weak
                .get(&index)
                .map(|t| t.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default();
            let url_pattern = signal.urls.as_ref().and_then(|set| {
                set.matches(page_url)
                    .iter()
                    .next()
                    .map(|i| self.url_sources[index][i].clone())
            });
            let by_weak = weak_terms.len() >= signal.min_weak;
            if strong_terms.is_empty() && url_pattern.is_none() && !by_weak {
                continue;
            }
            found.push(ServiceSignal {
                service: id,
                weak: if strong_terms.is_empty() && by_weak {
                    weak_terms
                } else {
                    Vec::new()
                },
                strong: strong_terms,
                url_pattern,
            });
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{ContentKind, extract};

    fn detect(html: &str, url: &str) -> Vec<String> {
        let catalog = ServiceCatalog::bundled().expect("the bundled catalogue is valid");
        let document = extract(ContentKind::Html, html, url::Url::parse(url).ok().as_ref());
        catalog
            .detect(&document, url)
            .into_iter()
            .map(|s| s.service)
            .collect()
    }

    #[test]
    fn the_bundled_catalogue_loads() {
        let catalog = ServiceCatalog::bundled().unwrap();
        let ids: Vec<&str> = catalog.services().iter().map(|s| s.id.as_str()).collect();
        for id in [
            "forum",
            "news",
            "publishing",
            "education",
            "medical",
            "drugs",
            "medical_devices",
            "culture",
            "audio_video",
            "religion",
        ] {
            assert!(ids.contains(&id), "{id} missing from {ids:?}");
        }
        assert!(
            catalog
                .service("drugs")
                .unwrap()
                .permits
                .contains(&NumberKind::DrugInfoPermit)
        );
    }

    #[test]
    fn forums_by_software_by_words_and_by_url() {
        assert_eq!(
            detect("<p>Powered by Discuz! X3.4</p>", "http://a.test/"),
            ["forum"]
        );
        assert_eq!(
            detect("<p>楼主 回帖 版主 帖子 沙发</p>", "http://a.test/"),
            ["forum"]
        );
        assert_eq!(
            detect("<p>hello</p>", "http://a.test/forum.php?mod=viewthread"),
            ["forum"]
        );
        // Three weak words are not enough.
        assert!(detect("<p>楼主 回帖 版主</p>", "http://a.test/").is_empty());
    }

    #[test]
    fn terms_match_in_any_width_or_script() {
        assert_eq!(
            detect("<p>網上藥店 處方藥</p>", "http://a.test/"),
            ["drugs"]
        );
        assert_eq!(
            detect("<p>POWERED BY ＤＩＳＣＵＺ</p>", "http://a.test/"),
            ["forum"]
        );
    }

    #[test]
    fn commerce_is_reported_last() {
        let found = detect(
            "<button>加入购物车</button><p>在线问诊</p>",
            "http://a.test/",
        );
        assert_eq!(found, ["medical", "commerce"]);
    }

    #[test]
    fn zones_limit_where_terms_count() {
        // News is read from text, title and meta; a script's strings are not a news service.
        assert!(
            detect(
                "<script>var s = '本报讯 责任编辑';</script>",
                "http://a.test/"
            )
            .is_empty()
        );
        assert_eq!(
            detect("<p>本报讯 责任编辑：王五</p>", "http://a.test/"),
            ["news"]
        );
        // Hidden text is never a service.
        assert!(
            detect(
                r#"<div style="display:none">网上药店 处方药</div>"#,
                "http://a.test/"
            )
            .is_empty()
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = r#"
[[service]]
id = "x"
name = "x"
clause = "§4"
severity = "severe"
registry_service = "x"
permits = ["no_such_permit"]
strong = ["a"]
zones = ["text", "nowhere"]
url = ['(']

[commerce]
strong = ["b"]
zones = ["text"]
min_weak = 0
"#;
        let errors = ServiceCatalog::parse("test.toml", text).unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(
            errors.iter().all(|e| e.starts_with("test.toml:")),
            "{errors:#?}"
        );
        assert!(errors.iter().any(|e| e.contains("severe")));
        assert!(errors.iter().any(|e| e.contains("no_such_permit")));
        assert!(errors.iter().any(|e| e.contains("nowhere")));
        assert!(errors.iter().any(|e| e.contains("bad url pattern")));
        assert!(errors.iter().any(|e| e.contains("commerce: min_weak")));
        let unknown = ServiceCatalog::parse(
            "t.toml",
            "[commerce]\nzones=[\"text\"]\nstrong=[\"a\"]\nextra=1\n",
        )
        .unwrap_err();
        assert!(
            unknown[0].contains("t.toml:") && unknown[0].contains("extra"),
            "{unknown:?}"
        );
    }
}
