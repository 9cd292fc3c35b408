//! Cloaking probes: a few pages of each crawl fetched again as the visitors a hacked site
//! treats differently.
//!
//! The commonest hack of Chinese sites (黑帽SEO, 蜘蛛劫持, 快照劫持) shows its gambling pages
//! or link blocks only to search spiders, or sends only visitors arriving from a search results
//! page to another site, while the owner (and a crawler presenting a browser) sees a clean
//! page. So the start page and a sample of the crawl's pages are fetched again:
//!
//! - as each search spider that matters in China (Baiduspider, Sogou, 360Spider, Bytespider)
//!   plus Googlebot and Bingbot, with their exact User-Agent strings;
//! - as a browser (desktop and mobile) arriving from a results page of baidu.com, so.com,
//!   sogou.com and sm.cn.
//!
//! The spider strings are the spiders' own and the visitors' are plain browsers': a cloaker
//! that finds `sitepatrol` in the User-Agent shows it the clean page, which is the point of
//! cloaking. (Cloakers that also check the spider's reverse DNS stay unseen; no probe can pass
//! that check.)
//!
//! Each variant is scanned like any page and compared with a fetch as a normal visitor made
//! at the same time (not the crawl's, which may be minutes old on a site that changes). What
//! counts as cloaking is what a site has no innocent reason to do: send the probe to another
//! site, show it prohibited content the visitor does not get, or show it links to several
//! other sites the visitor does not see. Other differences (another title, other text, another
//! status) are recorded as evidence but never flag alone: sites legitimately serve spiders a
//! prerendered page, and pages with rotating content differ between any two fetches.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;
use sitepatrol_core::domain::registrable_domain;
use sitepatrol_core::extract::{Document, ZoneKind};
use sitepatrol_core::finding::{Finding, Severity, Signal};
use sitepatrol_core::scan::ScanReport;
use url::Url;

use super::print;
use crate::fetch::{Identity, Response};

/// Which probes run, on how many pages, and how much a probe's view must differ.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    /// Pages probed per crawl besides the start page (0: the start page only).
    pub sample_pages: usize,
    pub spiders: Vec<Spider>,
    pub search_engines: Vec<SearchEngine>,
    /// Whether search visitors are also probed as phones (the WAP hijacks of the letter's §3).
    pub mobile_visitors: bool,
    /// Registrable domains a probe's page must link, and the visitor's not, before the links
    /// alone count as cloaking: one new ad or widget domain between two fetches is noise.
    pub min_new_domains: usize,
}

impl Default for ProbeConfig {
    fn default() -> ProbeConfig {
        ProbeConfig {
            sample_pages: 4,
            spiders: Spider::ALL.to_vec(),
            search_engines: SearchEngine::ALL.to_vec(),
            mobile_visitors: true,
            min_new_domains: 5,
        }
    }
}

impl ProbeConfig {
    /// Every probe this configuration runs on one page.
    pub fn probes(&self) -> Vec<Probe> {
        let spiders = self.spiders.iter().map(|s| Probe::Spider(*s));
        let devices: &[bool] = if self.mobile_visitors {
            &[false, true]
        } else {
            &[false]
        };
        let visitors = self.search_engines.iter().flat_map(|engine| {
            devices.iter().map(|mobile| Probe::SearchVisitor {
                engine: *engine,
                mobile: *mobile,
            })
        });
        spiders.chain(visitors).collect()
    }
}

/// A search engine's crawler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Spider {
    Baiduspider,
    Sogou,
    #[serde(rename = "360spider")]
    So360,
    Bytespider,
    Googlebot,
    Bingbot,
}

impl Spider {
    pub const ALL: [Spider; 6] = [
        Spider::Baiduspider,
        Spider::Sogou,
        Spider::So360,
        Spider::Bytespider,
        Spider::Googlebot,
        Spider::Bingbot,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Spider::Baiduspider => "baiduspider",
            Spider::Sogou => "sogou",
            Spider::So360 => "360spider",
            Spider::Bytespider => "bytespider",
            Spider::Googlebot => "googlebot",
            Spider::Bingbot => "bingbot",
        }
    }

    /// The spider's own User-Agent string, as its operator documents it.
    pub fn user_agent(self) -> &'static str {
        match self {
            Spider::Baiduspider => {
                "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"
            }
            Spider::Sogou => {
                "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)"
            }
            Spider::So360 => {
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/50.0.2661.102 Safari/537.36; 360Spider"
            }
            Spider::Bytespider => {
                "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)"
            }
            Spider::Googlebot => {
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
            }
            Spider::Bingbot => {
                "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
            }
        }
    }
}

impl std::str::FromStr for Spider {
    type Err = String;

    fn from_str(s: &str) -> Result<Spider, String> {
        Spider::ALL
            .into_iter()
            .find(|spider| spider.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = Spider::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown spider `{s}` (known: {})", names.join(", "))
            })
    }
}

/// A search engine whose results pages send visitors on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchEngine {
    Baidu,
    So,
    Sogou,
    Sm,
}

impl SearchEngine {
    pub const ALL: [SearchEngine; 4] = [
        SearchEngine::Baidu,
        SearchEngine::So,
        SearchEngine::Sogou,
        SearchEngine::Sm,
    ];

    pub fn domain(self) -> &'static str {
        match self {
            SearchEngine::Baidu => "baidu.com",
            SearchEngine::So => "so.com",
            SearchEngine::Sogou => "sogou.com",
            SearchEngine::Sm => "sm.cn",
        }
    }

    /// A results page searching for `host`, as the Referer of a visitor who clicked through.
    /// Hijack scripts test only that the Referer names the engine; a real-looking query keeps
    /// stricter ones fooled too.
    pub fn results_page(self, host: &str, mobile: bool) -> String {
        let query: String = url::form_urlencoded::byte_serialize(host.as_bytes()).collect();
        match (self, mobile) {
            (SearchEngine::Baidu, false) => format!("https://www.baidu.com/s?wd={query}"),
            (SearchEngine::Baidu, true) => format!("https://m.baidu.com/s?word={query}"),
            (SearchEngine::So, false) => format!("https://www.so.com/s?q={query}"),
            (SearchEngine::So, true) => format!("https://m.so.com/s?q={query}"),
            (SearchEngine::Sogou, false) => format!("https://www.sogou.com/web?query={query}"),
            (SearchEngine::Sogou, true) => {
                format!("https://wap.sogou.com/web/searchList.jsp?keyword={query}")
            }
            (SearchEngine::Sm, _) => format!("https://m.sm.cn/s?q={query}"),
        }
    }
}

impl std::str::FromStr for SearchEngine {
    type Err = String;

    fn from_str(s: &str) -> Result<SearchEngine, String> {
        let s = s.trim().to_ascii_lowercase();
        SearchEngine::ALL
            .into_iter()
            .find(|engine| engine.domain() == s || engine.domain().split('.').next() == Some(&s))
            .ok_or_else(|| {
                let names: Vec<&str> = SearchEngine::ALL.iter().map(|e| e.domain()).collect();
                format!("unknown search engine `{s}` (known: {})", names.join(", "))
            })
    }
}

/// Plain browsers, for visitors from a results page: no `sitepatrol` token (see the module
/// documentation).
const VISITOR_DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const VISITOR_MOBILE: &str = "Mozilla/5.0 (Linux; Android 13; V2227A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";

/// One way of asking for a page that a cloaking site may answer differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    Spider(Spider),
    SearchVisitor { engine: SearchEngine, mobile: bool },
}

impl Probe {
    /// What findings seen only by this probe carry in `seen_by`: `baiduspider`,
    /// `search:baidu.com`, `search:baidu.com:mobile`.
    pub fn label(self) -> String {
        match self {
            Probe::Spider(spider) => spider.as_str().to_string(),
            Probe::SearchVisitor { engine, mobile } => {
                let device = if mobile { ":mobile" } else { "" };
                format!("search:{}{device}", engine.domain())
            }
        }
    }

    pub fn identity(self, page: &Url) -> Identity {
        match self {
            Probe::Spider(spider) => Identity {
                user_agent: spider.user_agent().to_string(),
                referer: None,
            },
            Probe::SearchVisitor { engine, mobile } => Identity {
                user_agent: if mobile {
                    VISITOR_MOBILE
                } else {
                    VISITOR_DESKTOP
                }
                .to_string(),
                referer: Some(engine.results_page(page.host_str().unwrap_or_default(), mobile)),
            },
        }
    }

    /// The visitor a probe's view is compared with: a phone for phones.
    pub fn baseline(self) -> Baseline {
        match self {
            Probe::SearchVisitor { mobile: true, .. } | Probe::Spider(Spider::Bytespider) => {
                Baseline::Mobile
            }
            _ => Baseline::Desktop,
        }
    }
}

/// The ordinary visitor of a comparison, with no Referer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Baseline {
    Desktop,
    Mobile,
}

impl Baseline {
    pub fn identity(self) -> Identity {
        Identity {
            user_agent: match self {
                Baseline::Desktop => VISITOR_DESKTOP,
                Baseline::Mobile => VISITOR_MOBILE,
            }
            .to_string(),
            referer: None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Baseline::Desktop => "visitor",
            Baseline::Mobile => "visitor:mobile",
        }
    }
}

/// The pages of a crawl worth probing: the start page and the shallowest HTML pages, which
/// are the ones search engines know and send visitors to.
#[derive(Debug, Default)]
pub struct Sample {
    limit: usize,
    seen: usize,
    /// (depth, arrival, URL), the best `limit` kept.
    pages: BTreeSet<(u32, usize, String)>,
}

impl Sample {
    pub fn new(limit: usize) -> Sample {
        Sample {
            limit,
            ..Sample::default()
        }
    }

    /// Consider a page of the crawl from `start`.
    pub fn offer_page(&mut self, page: &super::PageReport, start: &str) {
        let on_site = match (
            sitepatrol_core::domain::host_of(&page.final_url),
            sitepatrol_core::domain::host_of(start),
        ) {
            (Some(a), Some(b)) => sitepatrol_core::domain::same_site(&a, &b),
            _ => false,
        };
        self.offer(
            &page.final_url,
            page.depth,
            page.status,
            page.scanned && page.is_html(),
            on_site,
        );
    }

    /// Consider a crawled page: an HTML page that answered 2xx on the site itself, below the
    /// start page (which is always probed and takes no place in the sample).
    pub fn offer(&mut self, url: &str, depth: u32, status: u16, html: bool, on_site: bool) {
        if self.limit == 0 || depth == 0 || !html || !on_site || !(200..300).contains(&status) {
            return;
        }
        self.seen += 1;
        self.pages.insert((depth, self.seen, url.to_string()));
        if self.pages.len() > self.limit {
            self.pages.pop_last();
        }
    }

    /// The sampled pages, start page first, without repeats.
    pub fn pages(&self, start: &Url) -> Vec<Url> {
        let mut out = vec![start.clone()];
        for (_, _, url) in &self.pages {
            if let Ok(url) = Url::parse(url)
                && !out.contains(&url)
            {
                out.push(url);
            }
        }
        out
    }
}

/// What one fetch of a page showed, reduced to what a comparison needs.
#[derive(Debug, Clone)]
pub struct View {
    pub status: u16,
    pub final_url: String,
    pub title: String,
    print: Option<u64>,
    /// Other sites the page sends its visitor to: where its redirects ended, and its meta
    /// refresh and script `location` targets.
    sent_to: BTreeSet<String>,
    /// Other sites it links or frames.
    linked: BTreeSet<String>,
    pub findings: Vec<Finding>,
    /// The page as decoded for reading (evidence), cut to a bound.
    pub text: String,
    pub sha256: String,
}

/// Evidence text kept of one view at most, in bytes.
const VIEW_TEXT_MAX: usize = 64 << 10;

impl View {
    /// The view of `response` as scanned in `report`, for a site whose registrable domain is
    /// `site`.
    pub fn new(site: &str, response: &Response, report: ScanReport) -> View {
        let final_url = response.url.to_string();
        let mut sent_to = BTreeSet::new();
        if let Some(domain) = other_site(site, &final_url) {
            sent_to.insert(domain);
        }
        let mut linked = BTreeSet::new();
        let (title, print) = match &report.document {
            Some(document) => {
                sent_to.extend(redirect_sites(site, document, &response.url));
                linked.extend(linked_sites(site, document, &response.url));
                let title = document
                    .zone(ZoneKind::Title)
                    .map(|z| z.text.trim().to_string())
                    .unwrap_or_default();
                let print = document
                    .zone(ZoneKind::Text)
                    .and_then(|zone| print::print(&zone.text));
                (title, print)
            }
            None => (String::new(), None),
        };
        let mut text = report.decoded.map(|d| d.text).unwrap_or_default();
        truncate_at_char(&mut text, VIEW_TEXT_MAX);
        View {
            status: response.status,
            final_url,
            title,
            print,
            sent_to,
            linked,
            findings: report.findings,
            text,
            sha256: super::sha256_hex(&response.body),
        }
    }
}

impl View {
    /// The view of a fetch that failed at `failed_at`: when that is another site, the page
    /// sent its visitor there (a redirect to a dead or refused domain); otherwise nothing
    /// was seen.
    pub fn sent_away(site: &str, failed_at: &str) -> Option<View> {
        let elsewhere = other_site(site, failed_at)?;
        Some(View {
            status: 0,
            final_url: failed_at.to_string(),
            title: String::new(),
            print: None,
            sent_to: BTreeSet::from([elsewhere]),
            linked: BTreeSet::new(),
            findings: Vec::new(),
            text: format!("(sent to {failed_at}, which did not answer)"),
            sha256: String::new(),
        })
    }
}

fn truncate_at_char(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}

/// The registrable domain of `url` when it is not `site`'s.
fn other_site(site: &str, url: &str) -> Option<String> {
    let host = Url::parse(url).ok()?.host_str()?.to_string();
    let domain = registrable_domain(&host)?;
    (domain != site).then_some(domain)
}

fn redirect_sites<'a>(
    site: &'a str,
    document: &'a Document,
    base: &'a Url,
) -> impl Iterator<Item = String> + 'a {
    document
        .redirects
        .iter()
        .filter_map(move |r| base.join(r.target.trim()).ok())
        .filter_map(move |u| other_site(site, u.as_str()))
}

fn linked_sites<'a>(
    site: &'a str,
    document: &'a Document,
    base: &'a Url,
) -> impl Iterator<Item = String> + 'a {
    document
        .links
        .iter()
        .map(|l| l.url.as_str())
        .chain(document.iframes.iter().map(|f| f.src.as_str()))
        .filter_map(move |t| base.join(t.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .filter_map(move |u| other_site(site, u.as_str()))
}

/// How a probe's view differs from the visitor's, strongest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The probe is sent to other sites the visitor is not sent to.
    SentElsewhere(Vec<String>),
    /// The probe's page has prohibited content, in these categories, that the visitor's has
    /// not.
    Prohibited(Vec<String>),
    /// The probe's page links these sites, and the visitor's does not.
    NewSites(Vec<String>),
    /// Weak: another title.
    Title,
    /// Weak: other text (their prints are far apart).
    Text,
    /// Weak: another status code.
    Status,
}

/// Prints further apart than this are of pages that say different things.
const OTHER_TEXT_BITS: u32 = 12;

impl Difference {
    /// Whether this difference alone shows cloaking (see the module documentation).
    pub fn is_cloaking(&self) -> bool {
        matches!(
            self,
            Difference::SentElsewhere(_) | Difference::Prohibited(_) | Difference::NewSites(_)
        )
    }

    fn describe(&self, probe: &str, visitor: &View, seen: &View) -> String {
        match self {
            Difference::SentElsewhere(sites) => format!(
                "{probe} is sent to {} (ends at {}); a visitor is not (ends at {})",
                sites.join(", "),
                seen.final_url,
                visitor.final_url
            ),
            Difference::Prohibited(categories) => format!(
                "{probe} is shown {} content that a visitor is not shown",
                categories.join(", ")
            ),
            Difference::NewSites(sites) => format!(
                "{probe} is shown links to {} site(s) that a visitor is not: {}",
                sites.len(),
                sites
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Difference::Title => format!(
                "{probe} gets the title {:?}; a visitor gets {:?}",
                seen.title, visitor.title
            ),
            Difference::Text => format!("{probe} gets other text than a visitor"),
            Difference::Status => format!(
                "{probe} gets HTTP {}; a visitor gets HTTP {}",
                seen.status, visitor.status
            ),
        }
    }

    fn key(&self) -> &'static str {
        match self {
            Difference::SentElsewhere(_) => "redirect",
            Difference::Prohibited(_) => "content",
            Difference::NewSites(_) => "links",
            Difference::Title => "title",
            Difference::Text => "text",
            Difference::Status => "status",
        }
    }
}

/// Categories of findings that are content a site must not show (not the crawl's notes).
fn prohibited_categories(findings: &[Finding]) -> BTreeSet<&str> {
    findings
        .iter()
        .filter(|f| f.severity >= Severity::Medium && &*f.category != "crawl")
        .map(|f| &*f.category)
        .collect()
}

/// Every way `seen` (a probe's view) differs from `visitor`'s.
pub fn compare(visitor: &View, seen: &View, min_new_domains: usize) -> Vec<Difference> {
    let mut out = Vec::new();
    let elsewhere: Vec<String> = seen.sent_to.difference(&visitor.sent_to).cloned().collect();
    if !elsewhere.is_empty() {
        out.push(Difference::SentElsewhere(elsewhere));
    }
    let theirs = prohibited_categories(&visitor.findings);
    let prohibited: Vec<String> = prohibited_categories(&seen.findings)
        .difference(&theirs)
        .map(|c| c.to_string())
        .collect();
    if !prohibited.is_empty() {
        out.push(Difference::Prohibited(prohibited));
    }
    let new_sites: Vec<String> = seen.linked.difference(&visitor.linked).cloned().collect();
    if new_sites.len() >= min_new_domains.max(1) {
        out.push(Difference::NewSites(new_sites));
    }
    if seen.title != visitor.title {
        out.push(Difference::Title);
    }
    let far = match (seen.print, visitor.print) {
        (Some(a), Some(b)) => (a ^ b).count_ones() > OTHER_TEXT_BITS,
        (a, b) => a.is_some() != b.is_some(),
    };
    if far {
        out.push(Difference::Text);
    }
    if seen.status != visitor.status {
        out.push(Difference::Status);
    }
    out
}

/// The rule of the finding that a site cloaks.
pub const CLOAKING: &str = "malware.cloaking";

/// One probe's view and how it differed.
#[derive(Debug, Clone)]
pub struct ProbeView {
    pub probe: Probe,
    pub view: View,
    pub differences: Vec<Difference>,
}

/// What probing one page found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub url: String,
    /// Probes fetched and compared.
    pub probes: usize,
    /// Probes (or the visitor's fetch) that failed.
    pub failed: usize,
    /// Probes whose view differed in a way that counts as cloaking.
    pub cloaked: Vec<String>,
    /// The `malware.cloaking` finding, then what only the probes were shown (each marked with
    /// the probes that saw it).
    pub findings: Vec<Finding>,
    /// Both versions of the page, the visitor's and each cloaked probe's, as text for the
    /// reviewer: present when there is a finding.
    #[serde(skip)]
    pub evidence: Option<Vec<u8>>,
}

impl ProbeReport {
    /// Whether every probe and the visitor's fetch were compared, so that no finding means
    /// there was nothing to find.
    pub fn complete(&self) -> bool {
        self.failed == 0
    }
}

/// The report on `url` from the visitors' views (desktop and mobile, when fetched) and the
/// probes' views.
pub fn judge(
    url: &Url,
    visitors: &[(Baseline, View)],
    views: Vec<(Probe, View)>,
    failed: usize,
    min_new_domains: usize,
) -> ProbeReport {
    let mut compared: Vec<ProbeView> = Vec::new();
    for (probe, view) in views {
        let Some(visitor) = visitor_of(visitors, probe) else {
            continue;
        };
        let differences = compare(visitor, &view, min_new_domains);
        compared.push(ProbeView {
            probe,
            view,
            differences,
        });
    }
    let cloaked: Vec<&ProbeView> = compared
        .iter()
        .filter(|p| p.differences.iter().any(Difference::is_cloaking))
        .collect();
    let mut findings = Vec::new();
    let mut evidence = None;
    if !cloaked.is_empty() {
        findings.push(cloaking_finding(url, visitors, &cloaked));
        findings.extend(probe_only_findings(url, visitors, &cloaked));
        evidence = Some(evidence_text(url, visitors, &cloaked).into_bytes());
    }
    ProbeReport {
        url: url.to_string(),
        probes: compared.len(),
        failed,
        cloaked: cloaked.iter().map(|p| p.probe.label()).collect(),
        findings,
        evidence,
    }
}

fn visitor_of(visitors: &[(Baseline, View)], probe: Probe) -> Option<&View> {
    visitors
        .iter()
        .find(|(b, _)| *b == probe.baseline())
        .map(|(_, v)| v)
}

/// One high finding: the site serves these probes other content or another site. Each probe's
/// differences are its signals, with the probe as the one that saw them.
fn cloaking_finding(url: &Url, visitors: &[(Baseline, View)], cloaked: &[&ProbeView]) -> Finding {
    let mut signals: Vec<Signal> = Vec::new();
    for probe in cloaked {
        let Some(visitor) = visitor_of(visitors, probe.probe) else {
            continue;
        };
        let label = probe.probe.label();
        for difference in &probe.differences {
            let what = difference.describe(&label, visitor, &probe.view);
            signals.push(Signal {
                rule: Arc::from(format!("{CLOAKING}.{}", difference.key())),
                weight: None,
                contribution: None,
                zone: None,
                matched: what.clone(),
                normalized: format!("{}:{}", difference.key(), label),
                snippet: what,
                offset: 0,
                count: 1,
                seen_by: vec![Arc::from(label.as_str())],
            });
        }
    }
    signals.sort_by_key(|s| !s.rule.ends_with(".redirect") && !s.rule.ends_with(".content"));
    let head = signals.first().cloned();
    let (matched, snippet) = head.map(|s| (s.matched, s.snippet)).unwrap_or_default();
    let labels: Vec<String> = cloaked.iter().map(|p| p.probe.label()).collect();
    Finding {
        record_type: Finding::RECORD_TYPE,
        rule: Arc::from(CLOAKING),
        category: Arc::from("cloaking"),
        clause: Arc::from("§2(10)"),
        severity: Severity::High,
        description: Arc::from(
            "网站对搜索引擎蜘蛛或从搜索结果来的访客显示不同内容或跳转到其他网站（蜘蛛劫持、快照劫持）",
        ),
        target: Arc::from(url.as_str()),
        zone: None,
        normalized: labels.join(","),
        matched,
        snippet,
        offset: 0,
        count: cloaked.len(),
        score: None,
        signals,
        signals_omitted: 0,
    }
}

/// The probes' findings in categories the visitor's page has none of, each marked with every
/// probe that saw it: prohibited content shown only to spiders is still published.
fn probe_only_findings(
    url: &Url,
    visitors: &[(Baseline, View)],
    cloaked: &[&ProbeView],
) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for probe in cloaked {
        let Some(visitor) = visitor_of(visitors, probe.probe) else {
            continue;
        };
        let theirs = prohibited_categories(&visitor.findings);
        let label: Arc<str> = Arc::from(probe.probe.label());
        for finding in &probe.view.findings {
            if finding.severity < Severity::Medium || theirs.contains(&*finding.category) {
                continue;
            }
            match out.iter_mut().find(|f| f.category == finding.category) {
                Some(kept) => kept.seen_by(&label),
                None => {
                    let mut finding = finding.clone();
                    finding.target = Arc::from(url.as_str());
                    finding.seen_by(&label);
                    out.push(finding);
                }
            }
        }
    }
    out
}

/// Both versions of the page as one text for the reviewer: the visitor's first, then each
/// cloaked probe's, each with what was asked and what came back.
fn evidence_text(url: &Url, visitors: &[(Baseline, View)], cloaked: &[&ProbeView]) -> String {
    let mut out = format!("sitepatrol cloaking evidence for {url}\n\n");
    for (baseline, view) in visitors {
        section(&mut out, baseline.label(), &baseline.identity(), view);
    }
    for probe in cloaked {
        section(
            &mut out,
            &probe.probe.label(),
            &probe.probe.identity(url),
            &probe.view,
        );
    }
    out
}

fn section(out: &mut String, label: &str, identity: &Identity, view: &View) {
    use std::fmt::Write;
    let _ = writeln!(out, "===== {label} =====");
    let _ = writeln!(out, "User-Agent: {}", identity.user_agent);
    if let Some(referer) = &identity.referer {
        let _ = writeln!(out, "Referer: {referer}");
    }
    let _ = writeln!(
        out,
        "HTTP {} at {}\nSHA-256 of the body: {}\n",
        view.status, view.final_url, view.sha256
    );
    out.push_str(&view.text);
    out.push_str("\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(final_url: &str, sent_to: &[&str], linked: &[&str], title: &str) -> View {
        View {
            status: 200,
            final_url: final_url.into(),
            title: title.into(),
            print: None,
            sent_to: sent_to.iter().map(|s| s.to_string()).collect(),
            linked: linked.iter().map(|s| s.to_string()).collect(),
            findings: Vec::new(),
            text: String::new(),
            sha256: String::new(),
        }
    }

    #[test]
    fn redirect_elsewhere_is_cloaking_and_a_title_alone_is_not() {
        let visitor = view("https://a.cn/", &[], &["x.com"], "首页");
        let spider = view("https://bet.com/", &["bet.com"], &["x.com"], "首页");
        let found = compare(&visitor, &spider, 5);
        assert_eq!(
            found,
            vec![Difference::SentElsewhere(vec!["bet.com".into()])]
        );
        let retitled = view("https://a.cn/", &[], &["x.com"], "Home");
        let found = compare(&visitor, &retitled, 5);
        assert_eq!(found, vec![Difference::Title]);
        assert!(!found.iter().any(Difference::is_cloaking));
    }

    #[test]
    fn new_linked_sites_count_only_past_the_threshold() {
        let visitor = view("https://a.cn/", &[], &["x.com"], "t");
        let four = view(
            "https://a.cn/",
            &[],
            &["x.com", "b1.cc", "b2.cc", "b3.cc", "b4.cc"],
            "t",
        );
        assert!(compare(&visitor, &four, 5).is_empty());
        let five = view(
            "https://a.cn/",
            &[],
            &["x.com", "b1.cc", "b2.cc", "b3.cc", "b4.cc", "b5.cc"],
            "t",
        );
        assert!(matches!(
            compare(&visitor, &five, 5).as_slice(),
            [Difference::NewSites(sites)] if sites.len() == 5
        ));
    }

    #[test]
    fn probes_cover_spiders_and_both_devices_of_each_engine() {
        let probes = ProbeConfig::default().probes();
        assert_eq!(probes.len(), 6 + 4 * 2);
        let labels: Vec<String> = probes.iter().map(|p| p.label()).collect();
        assert!(labels.contains(&"baiduspider".to_string()));
        assert!(labels.contains(&"search:baidu.com:mobile".to_string()));
        let visitor = Probe::SearchVisitor {
            engine: SearchEngine::Baidu,
            mobile: false,
        }
        .identity(&Url::parse("https://www.a.cn/x").unwrap());
        assert_eq!(
            visitor.referer.as_deref(),
            Some("https://www.baidu.com/s?wd=www.a.cn")
        );
        assert!(!visitor.user_agent.contains("sitepatrol"));
    }

    #[test]
    fn sample_keeps_the_shallowest_html_pages_and_the_start_first() {
        let start = Url::parse("https://a.cn/").unwrap();
        let mut sample = Sample::new(2);
        sample.offer("https://a.cn/deep", 3, 200, true, true);
        sample.offer("https://a.cn/img.png", 1, 200, false, true);
        sample.offer("https://a.cn/gone", 1, 404, true, true);
        sample.offer("https://a.cn/a", 1, 200, true, true);
        sample.offer("https://a.cn/b", 2, 200, true, true);
        sample.offer("https://a.cn/", 0, 200, true, true);
        let pages: Vec<String> = sample.pages(&start).iter().map(|u| u.to_string()).collect();
        assert_eq!(pages, ["https://a.cn/", "https://a.cn/a", "https://a.cn/b"]);
    }

    #[test]
    fn spiders_and_engines_parse_by_name() {
        assert_eq!("Baiduspider".parse::<Spider>(), Ok(Spider::Baiduspider));
        assert_eq!("360spider".parse::<Spider>(), Ok(Spider::So360));
        assert_eq!("baidu".parse::<SearchEngine>(), Ok(SearchEngine::Baidu));
        assert_eq!("sm.cn".parse::<SearchEngine>(), Ok(SearchEngine::Sm));
        assert!(
            "yahoo"
                .parse::<SearchEngine>()
                .unwrap_err()
                .contains("so.com")
        );
    }
}
