//! The filing checks of one site: what its pages showed against what the registry records.
//!
//! A crawl feeds every page's [`PageFiling`] into a [`SiteFiling`]; after the crawl,
//! [`check_site`] compares it with the registry's record (when there is a registry) and with
//! where the domain resolves, and yields one [`SiteRecord`] and the findings. Checks that need a
//! registry are skipped without one, and the site record says so.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use serde::Serialize;

use super::numbers::NumberKind;
use super::page::{LinkCheck, PageFiling};
use super::registry::FilingRecord;
use super::services::{ServiceCatalog, ServiceSignal};
use crate::finding::{Finding, Severity};

/// How many page URLs a site record keeps per number; the count says how many there were.
const MAX_URLS_PER_NUMBER: usize = 10;

/// The filing status of a site, as dashboards count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilingStatus {
    /// Filed; the home page shows the registry's number.
    Ok,
    /// Served from the provider's network with no filing.
    Unfiled,
    /// The site shows a number that is not the registry's.
    Mismatch,
    /// Filed, but the home page shows no ICP number.
    NotDisplayed,
    /// The registry restricts the domain's access.
    Restricted,
    /// No registry, or it could not be asked.
    Unknown,
    /// The domain resolves outside the provider's networks: not the provider's to check.
    NotHosted,
}

impl FilingStatus {
    pub const ALL: [FilingStatus; 7] = [
        FilingStatus::Ok,
        FilingStatus::Unfiled,
        FilingStatus::Mismatch,
        FilingStatus::NotDisplayed,
        FilingStatus::Restricted,
        FilingStatus::Unknown,
        FilingStatus::NotHosted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FilingStatus::Ok => "ok",
            FilingStatus::Unfiled => "unfiled",
            FilingStatus::Mismatch => "mismatch",
            FilingStatus::NotDisplayed => "not_displayed",
            FilingStatus::Restricted => "restricted",
            FilingStatus::Unknown => "unknown",
            FilingStatus::NotHosted => "not_hosted",
        }
    }
}

/// A number as the whole site showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteNumber {
    pub kind: NumberKind,
    pub number: String,
    /// Without the site suffix: what identifies the filing holder.
    pub base: String,
    /// As the first page that showed it had it.
    pub displayed: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_check: Option<LinkCheck>,
    pub on_home_page: bool,
    /// Pages that showed it (the first few).
    pub urls: Vec<String>,
    pub pages: usize,
}

/// A regulated service the site showed, with the first page that showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetectedService {
    pub service: String,
    pub url: String,
    pub evidence: String,
    pub pages: usize,
}

/// What a crawl of one site showed, gathered page by page.
#[derive(Debug, Clone)]
pub struct SiteFiling {
    pub host: String,
    pub home_url: String,
    pub pages: usize,
    home_seen: bool,
    numbers: BTreeMap<(NumberKind, String), SiteNumber>,
    services: BTreeMap<String, DetectedService>,
    commerce: Option<DetectedService>,
}

impl SiteFiling {
    pub fn new(host: impl Into<String>, home_url: impl Into<String>) -> SiteFiling {
        SiteFiling {
            host: host.into(),
            home_url: home_url.into(),
            pages: 0,
            home_seen: false,
            numbers: BTreeMap::new(),
            services: BTreeMap::new(),
            commerce: None,
        }
    }

    /// Add one page. `is_home` marks the site's start page (the first one that answered, after
    /// its redirects).
    pub fn add_page(&mut self, url: &str, is_home: bool, filing: &PageFiling) {
        self.pages += 1;
        let first_home = is_home && !self.home_seen;
        self.home_seen |= is_home;
        for shown in &filing.numbers {
            let number = &shown.number;
            let entry = self
                .numbers
                .entry((number.kind, number.number.clone()))
                .or_insert_with(|| SiteNumber {
                    kind: number.kind,
                    number: number.number.clone(),
                    base: number.base.clone(),
                    displayed: number.displayed.clone(),
                    problems: number.problems.clone(),
                    link: shown.link.clone(),
                    link_check: shown.link_check,
                    on_home_page: false,
                    urls: Vec::new(),
                    pages: 0,
                });
            entry.pages += 1;
            entry.on_home_page |= first_home;
            if first_home {
                // The home page's link is the one that counts.
                entry.link = shown.link.clone();
                entry.link_check = shown.link_check;
            }
            if entry.urls.len() < MAX_URLS_PER_NUMBER && !entry.urls.iter().any(|u| u == url) {
                entry.urls.push(url.to_string());
            }
        }
        let note = |into: &mut DetectedService| into.pages += 1;
        for signal in &filing.services {
            match self.services.get_mut(&signal.service) {
                Some(existing) => note(existing),
                None => {
                    self.services
                        .insert(signal.service.clone(), detected(signal, url));
                }
            }
        }
        if let Some(signal) = &filing.commerce {
            match &mut self.commerce {
                Some(existing) => note(existing),
                None => self.commerce = Some(detected(signal, url)),
            }
        }
    }

    fn numbers_of(&self, kinds: &[NumberKind]) -> Vec<SiteNumber> {
        self.numbers
            .values()
            .filter(|n| kinds.contains(&n.kind))
            .cloned()
            .collect()
    }
}

fn detected(signal: &ServiceSignal, url: &str) -> DetectedService {
    DetectedService {
        service: signal.service.clone(),
        url: url.to_string(),
        evidence: signal.evidence(),
        pages: 1,
    }
}

/// Where the domain resolves, against the provider's `hosted_networks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hosting {
    /// No `hosted_networks` configured: every domain counts as hosted.
    Assumed,
    /// Resolves (at least partly) into the hosted networks.
    Hosted(Vec<IpAddr>),
    /// Resolves only outside them.
    NotHosted(Vec<IpAddr>),
    /// Could not be resolved; the reason.
    Unresolved(String),
}

impl Hosting {
    /// Classify `addresses` against `networks` (empty: every domain counts as hosted).
    pub fn classify(networks: &[IpNet], addresses: Vec<IpAddr>) -> Hosting {
        if networks.is_empty() {
            return Hosting::Assumed;
        }
        if addresses
            .iter()
            .any(|a| networks.iter().any(|n| n.contains(&canonical_ip(*a))))
        {
            Hosting::Hosted(addresses)
        } else {
            Hosting::NotHosted(addresses)
        }
    }
}

/// IPv4-mapped IPv6 addresses compare as the IPv4 address they carry.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// What the registry said about the site's domain.
#[derive(Debug, Clone)]
pub enum RegistryAnswer {
    /// No registry is configured.
    None,
    /// The registry could not be asked; the error.
    Failed(String),
    /// The registry has no record: the domain is unfiled.
    NoRecord { source: String },
    Record {
        source: String,
        record: Box<FilingRecord>,
    },
}

/// The registry's side, as the site record shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrySummary {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<FilingRecord>,
}

/// One site's filing record: the `type: "site"` JSON record of `sitepatrol scan`.
#[derive(Debug, Clone, Serialize)]
pub struct SiteRecord {
    #[serde(rename = "type")]
    pub record_type: &'static str,
    pub host: String,
    pub home_url: String,
    pub pages: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    pub hosted: bool,
    pub icp_numbers: Vec<SiteNumber>,
    pub licences: Vec<SiteNumber>,
    pub psb_numbers: Vec<SiteNumber>,
    pub permits: Vec<SiteNumber>,
    pub services_detected: Vec<DetectedService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commerce: Option<DetectedService>,
    pub filing_status: FilingStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistrySummary>,
    /// Checks skipped and why; anything a reviewer should know about how the status was reached.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl SiteRecord {
    pub const RECORD_TYPE: &'static str = "site";
}

/// Everything the checks need besides the site's pages.
pub struct CheckContext<'a> {
    pub registry: RegistryAnswer,
    pub hosting: Hosting,
    pub catalog: &'a ServiceCatalog,
    /// Today, as days since the Unix epoch, for the 30 days the public-security filing may take.
    pub today: i64,
}

struct Rule {
    id: &'static str,
    category: &'static str,
    clause: &'static str,
    severity: Severity,
    description: &'static str,
}

const UNFILED: Rule = Rule {
    id: "filing.unfiled_domain",
    category: "filing",
    clause: "§4",
    severity: Severity::Critical,
    description: "域名未备案却在本网络提供服务，应立即关闭该域名的网站服务 (unfiled domain served from the provider's network)",
};
const NOT_DISPLAYED: Rule = Rule {
    id: "filing.number_not_displayed",
    category: "filing",
    clause: "§5",
    severity: Severity::Medium,
    description: "网站首页未展示ICP备案号 (the home page shows no ICP number)",
};
const MISMATCH: Rule = Rule {
    id: "filing.number_mismatch",
    category: "filing",
    clause: "§5",
    severity: Severity::High,
    description: "网站展示的备案号与备案系统登记的不一致（冒用或虚假备案号） (the displayed ICP number is not this domain's)",
};
const MALFORMED: Rule = Rule {
    id: "filing.number_malformed",
    category: "filing",
    clause: "§5",
    severity: Severity::Medium,
    description: "网站展示的备案或许可证编号格式不正确 (a displayed filing or permit number is malformed)",
};
const NOT_LINKED: Rule = Rule {
    id: "filing.not_linked",
    category: "filing",
    clause: "§5",
    severity: Severity::Low,
    description: "备案号未链接至备案管理系统（beian.miit.gov.cn / beian.mps.gov.cn） (the number does not link to its registry)",
};
const RESTRICTED: Rule = Rule {
    id: "filing.access_restricted",
    category: "filing",
    clause: "§5",
    severity: Severity::High,
    description: "备案系统已将该域名标记为限制接入 (the registry restricts this domain's access)",
};
const LICENCE_REQUIRED: Rule = Rule {
    id: "filing.licence_required",
    category: "filing",
    clause: "§4",
    severity: Severity::Medium,
    description: "网站有经营性服务特征（购物车、在线支付、会员、付费广告），但备案无ICP经营许可证 (commercial service without an ICP licence)",
};
const PSB_NOT_DISPLAYED: Rule = Rule {
    id: "filing.psb_not_displayed",
    category: "filing",
    clause: "§6",
    severity: Severity::Low,
    description: "网站首页未展示公安联网备案号 (the home page shows no public-security filing number)",
};
const PSB_MISMATCH: Rule = Rule {
    id: "filing.psb_mismatch",
    category: "filing",
    clause: "§6",
    severity: Severity::Medium,
    description: "网站展示的公安联网备案号与登记的不一致 (the displayed public-security number is not the registered one)",
};
const FORUM: Rule = Rule {
    id: "service.forum_without_filing",
    category: "service",
    clause: "§4",
    severity: Severity::High,
    description: "网站开办论坛、留言板、评论或聊天室等电子公告服务，但未办理专项备案 (bulletin board without its special filing)",
};
const PERMIT_MISSING: Rule = Rule {
    id: "service.permit_missing",
    category: "service",
    clause: "§4",
    severity: Severity::Medium,
    description: "网站提供须经主管部门审核同意的服务，但未展示也未登记相应许可 (regulated service with no permit shown or registered)",
};
const BEYOND_SCOPE: Rule = Rule {
    id: "service.beyond_scope",
    category: "service",
    clause: "§5",
    severity: Severity::Medium,
    description: "网站提供的服务超出备案范围 (a service beyond the filing's approved scope)",
};

/// Every rule the filing checks can emit, for documentation and `rules list`.
pub fn rule_ids() -> [&'static str; 12] {
    [
        UNFILED.id,
        NOT_DISPLAYED.id,
        MISMATCH.id,
        MALFORMED.id,
        NOT_LINKED.id,
        RESTRICTED.id,
        LICENCE_REQUIRED.id,
        PSB_NOT_DISPLAYED.id,
        PSB_MISMATCH.id,
        FORUM.id,
        PERMIT_MISSING.id,
        BEYOND_SCOPE.id,
    ]
}

fn finding(
    rule: &Rule,
    severity: Option<Severity>,
    target: &str,
    matched: &str,
    why: String,
) -> Finding {
    Finding {
        record_type: Finding::RECORD_TYPE,
        rule: rule.id.into(),
        category: rule.category.into(),
        clause: rule.clause.into(),
        severity: severity.unwrap_or(rule.severity),
        description: rule.description.into(),
        target: Arc::from(target),
        zone: None,
        matched: matched.to_string(),
        normalized: matched.to_string(),
        snippet: why,
        offset: 0,
        count: 1,
        score: None,
        signals: Vec::new(),
        signals_omitted: 0,
    }
}

const ICP_KINDS: [NumberKind; 1] = [NumberKind::IcpFiling];
const LICENCE_KINDS: [NumberKind; 2] = [NumberKind::IcpLicence, NumberKind::TelecomLicence];
const PSB_KINDS: [NumberKind; 1] = [NumberKind::PsbFiling];

/// Run every check that applies to one site.
pub fn check_site(site: &SiteFiling, cx: &CheckContext<'_>) -> (SiteRecord, Vec<Finding>) {
    let mut check = SiteCheck::new(site);
    let (hosted, addresses) = check.hosting(&cx.hosting);
    let mut record = check.record(hosted, &addresses);
    if !hosted {
        check.notes.push(format!(
            "resolves to {} outside the hosted networks: not checked",
            record.addresses.join(", ")
        ));
        return check.finish(record, FilingStatus::NotHosted);
    }

    // Checks of what the site shows, with or without a registry.
    check.malformed_numbers();
    check.display();

    let (source, filing) = match &cx.registry {
        RegistryAnswer::None => {
            check.notes.push("no filing registry: the unfiled, mismatch, restriction, licence, public-security and service checks were skipped".into());
            check.display_only();
            return check.finish(record, FilingStatus::Unknown);
        }
        RegistryAnswer::Failed(error) => {
            check.notes.push(format!(
                "the filing registry failed, its checks were skipped: {error}"
            ));
            check.display_only();
            return check.finish(record, FilingStatus::Unknown);
        }
        RegistryAnswer::NoRecord { source } => {
            record.registry = Some(RegistrySummary {
                source: source.clone(),
                record: None,
            });
            check.unfiled();
            return check.finish(record, FilingStatus::Unfiled);
        }
        RegistryAnswer::Record { source, record } => (source.clone(), (**record).clone()),
    };

    let mut status = check.restricted(&filing);
    if check.seen_pages() {
        status = check.icp_against(&filing, status);
        check.psb_against(&filing, cx.today);
        check.licence_against(&filing);
        check.services_against(&filing, cx.catalog);
    }
    record.registry = Some(RegistrySummary {
        source,
        record: Some(filing),
    });
    check.finish(record, status)
}

/// One site's checks under way: the numbers it shows, and what the checks found and noted.
struct SiteCheck<'a> {
    site: &'a SiteFiling,
    icp: Vec<SiteNumber>,
    licences: Vec<SiteNumber>,
    psb: Vec<SiteNumber>,
    findings: Vec<Finding>,
    notes: Vec<String>,
}

impl<'a> SiteCheck<'a> {
    fn new(site: &'a SiteFiling) -> SiteCheck<'a> {
        SiteCheck {
            site,
            icp: site.numbers_of(&ICP_KINDS),
            licences: site.numbers_of(&LICENCE_KINDS),
            psb: site.numbers_of(&PSB_KINDS),
            findings: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn home(&self) -> &'a str {
        self.site.home_url.as_str()
    }

    fn seen_pages(&self) -> bool {
        self.site.pages > 0
    }

    /// Whether the site counts as hosted, and the addresses it resolved to.
    fn hosting(&mut self, hosting: &Hosting) -> (bool, Vec<IpAddr>) {
        match hosting {
            Hosting::Assumed => (true, Vec::new()),
            Hosting::Hosted(a) => (true, a.clone()),
            Hosting::NotHosted(a) => (false, a.clone()),
            Hosting::Unresolved(why) => {
                self.notes.push(format!(
                    "the domain does not resolve ({why}); it counts as hosted"
                ));
                (true, Vec::new())
            }
        }
    }

    /// The site record before the registry is asked: what the site shows.
    fn record(&self, hosted: bool, addresses: &[IpAddr]) -> SiteRecord {
        let site = self.site;
        SiteRecord {
            record_type: SiteRecord::RECORD_TYPE,
            host: site.host.clone(),
            home_url: site.home_url.clone(),
            pages: site.pages,
            addresses: addresses.iter().map(IpAddr::to_string).collect(),
            hosted,
            icp_numbers: self.icp.clone(),
            licences: self.licences.clone(),
            psb_numbers: self.psb.clone(),
            permits: site
                .numbers
                .values()
                .filter(|n| n.kind.is_permit())
                .cloned()
                .collect(),
            services_detected: site.services.values().cloned().collect(),
            commerce: site.commerce.clone(),
            filing_status: FilingStatus::Unknown,
            registry: None,
            notes: Vec::new(),
        }
    }

    fn finish(self, mut record: SiteRecord, status: FilingStatus) -> (SiteRecord, Vec<Finding>) {
        record.filing_status = status;
        record.notes = self.notes;
        (record, self.findings)
    }

    fn malformed_numbers(&mut self) {
        let home = self.home();
        for number in self
            .site
            .numbers
            .values()
            .filter(|n| !n.problems.is_empty())
        {
            let url = number.urls.first().map(String::as_str).unwrap_or(home);
            self.findings.push(finding(
                &MALFORMED,
                None,
                url,
                &number.displayed,
                format!("{}: {}", number.displayed, number.problems.join("; ")),
            ));
        }
    }

    /// The numbers on the home page must link to their registry.
    fn display(&mut self) {
        if !self.seen_pages() {
            self.notes
                .push("the crawl returned no pages: what the site displays was not checked".into());
        } else if !self.site.home_seen {
            self.notes
                .push("the home page was not fetched: display checks skipped".into());
        } else {
            let home = self.home();
            let shown = self
                .icp
                .iter()
                .chain(&self.licences)
                .chain(&self.psb)
                .filter(|n| n.on_home_page);
            for number in shown {
                if let Some(check) = number.link_check
                    && check != LinkCheck::Official
                {
                    let why = link_problem(number, check);
                    let found = finding(&NOT_LINKED, None, home, &number.displayed, why);
                    self.findings.push(found);
                }
            }
        }
    }

    fn display_only(&mut self) {
        let home_icp = on_home_page(&self.icp);
        let home_psb = on_home_page(&self.psb);
        display_only_checks(self.site, &home_icp, &home_psb, &mut self.findings);
    }

    /// The registry has no record of the site.
    fn unfiled(&mut self) {
        let site = self.site;
        let shown = self.icp.first().map(|n| n.displayed.as_str()).unwrap_or("");
        let why = if shown.is_empty() {
            format!("{} 在备案系统中没有备案记录 (no filing record)", site.host)
        } else {
            format!(
                "{} 在备案系统中没有备案记录，但页面展示了 {shown} (no record, yet the site shows a number)",
                site.host
            )
        };
        let found = finding(&UNFILED, None, self.home(), &site.host, why);
        self.findings.push(found);
    }

    fn restricted(&mut self, filing: &FilingRecord) -> FilingStatus {
        if !filing.restricted {
            return FilingStatus::Ok;
        }
        let host = &self.site.host;
        self.findings.push(finding(
            &RESTRICTED,
            None,
            self.home(),
            host,
            format!(
                "{} 的备案 {} 被标记为限制接入 (restricted)",
                host, filing.icp_number
            ),
        ));
        FilingStatus::Restricted
    }

    /// The ICP number shown against the registry's; `status` unless it was still ok.
    fn icp_against(&mut self, filing: &FilingRecord, status: FilingStatus) -> FilingStatus {
        let home = self.home();
        let registered_base = base_of(&filing.icp_number, NumberKind::IcpFiling);
        let matches_registry = |n: &SiteNumber| registered_base.as_deref() == Some(n.base.as_str());
        let icp = &self.icp;
        let (worse, found) = if !icp.is_empty() && !icp.iter().any(matches_registry) {
            let shown = &icp[0];
            (
                FilingStatus::Mismatch,
                finding(
                    &MISMATCH,
                    None,
                    shown.urls.first().map(String::as_str).unwrap_or(home),
                    &shown.displayed,
                    format!(
                        "展示 {}，备案系统登记的是 {} (shown {}, registered {})",
                        shown.number, filing.icp_number, shown.number, filing.icp_number
                    ),
                ),
            )
        } else if self.site.home_seen && !icp.iter().any(|n| n.on_home_page) {
            (
                FilingStatus::NotDisplayed,
                finding(
                    &NOT_DISPLAYED,
                    None,
                    home,
                    &filing.icp_number,
                    format!(
                        "首页未展示备案号 {} (the home page does not show it)",
                        filing.icp_number
                    ),
                ),
            )
        } else {
            return status;
        };
        self.findings.push(found);
        if status == FilingStatus::Ok {
            worse
        } else {
            status
        }
    }

    /// Public-security filing: due within 30 days of going online.
    fn psb_against(&mut self, filing: &FilingRecord, today: i64) {
        let home = self.home();
        let home_psb = self.psb.iter().any(|n| n.on_home_page);
        let psb = &self.psb;
        match &filing.psb_number {
            Some(registered) => {
                let registered_base = base_of(registered, NumberKind::PsbFiling);
                if !psb.is_empty()
                    && !psb
                        .iter()
                        .any(|n| Some(&n.base) == registered_base.as_ref())
                {
                    self.findings.push(finding(
                        &PSB_MISMATCH,
                        None,
                        psb[0].urls.first().map(String::as_str).unwrap_or(home),
                        &psb[0].displayed,
                        format!(
                            "展示 {}，登记的是 {registered} (shown {}, registered {registered})",
                            psb[0].number, psb[0].number
                        ),
                    ));
                } else if self.site.home_seen && !home_psb {
                    self.findings.push(finding(
                        &PSB_NOT_DISPLAYED,
                        None,
                        home,
                        registered,
                        format!("首页未展示公安联网备案号 {registered} (registered but not shown)"),
                    ));
                }
            }
            None if self.site.home_seen && !home_psb => {
                let age = filing
                    .approved_at
                    .as_deref()
                    .and_then(crate::clock::days_from_date)
                    .map(|approved| today - approved);
                match age {
                    Some(days) if days < 30 => self.notes.push(format!(
                        "no public-security filing yet; the ICP filing is {days} days old and the 30 days of §6 have not passed"
                    )),
                    _ => self.findings.push(finding(
                        &PSB_NOT_DISPLAYED,
                        None,
                        home,
                        &self.site.host,
                        "首页未展示公安联网备案号，备案系统也无登记 (none shown, none registered)".to_string(),
                    )),
                }
            }
            None => {}
        }
    }

    /// A site with commercial signs needs a licence on record.
    fn licence_against(&mut self, filing: &FilingRecord) {
        let Some(commerce) = &self.site.commerce else {
            return;
        };
        if filing.licence_number.is_some() {
            return;
        }
        let shown = self
            .licences
            .first()
            .map(|l| format!("；页面展示了 {}，但备案系统未登记", l.displayed))
            .unwrap_or_default();
        self.findings.push(finding(
            &LICENCE_REQUIRED,
            None,
            &commerce.url,
            &commerce.evidence,
            format!(
                "经营性服务特征：{}{shown} (commercial signs: {})",
                commerce.evidence, commerce.evidence
            ),
        ));
    }

    /// Each service the site offers must be in the filing's scope, with its permit.
    fn services_against(&mut self, filing: &FilingRecord, catalog: &ServiceCatalog) {
        let registered_permits = filing.permit_kinds();
        let shown_permits: Vec<NumberKind> = self
            .site
            .numbers
            .values()
            .filter(|n| n.problems.is_empty())
            .map(|n| n.kind)
            .collect();
        for detected in self.site.services.values() {
            let Some(service) = catalog.service(&detected.service) else {
                continue;
            };
            let approved = filing.has_service(&service.registry_service);
            if service.id == "forum" {
                if !approved {
                    self.findings.push(finding(
                        &FORUM,
                        Some(service.severity),
                        &detected.url,
                        &detected.evidence,
                        format!(
                            "{}：{}，备案未含电子公告服务专项 (no special filing)",
                            service.name, detected.evidence
                        ),
                    ));
                }
                continue;
            }
            if !approved {
                self.findings.push(finding(
                    &BEYOND_SCOPE,
                    Some(service.severity),
                    &detected.url,
                    &detected.evidence,
                    format!(
                        "{}：{}，不在备案的服务范围 [{}] 内 (not in the approved services)",
                        service.name,
                        detected.evidence,
                        filing.services.join(", ")
                    ),
                ));
            }
            let holds_permit = service.permits.is_empty()
                || service
                    .permits
                    .iter()
                    .any(|p| registered_permits.contains(p) || shown_permits.contains(p));
            if !holds_permit {
                let wanted: Vec<&str> = service.permits.iter().map(|p| p.as_str()).collect();
                self.findings.push(finding(
                    &PERMIT_MISSING,
                    Some(service.severity),
                    &detected.url,
                    &detected.evidence,
                    format!(
                        "{}：{}，未展示也未登记许可 ({}) (no permit shown or registered)",
                        service.name,
                        detected.evidence,
                        wanted.join(" / ")
                    ),
                ));
            }
        }
    }
}

fn on_home_page(numbers: &[SiteNumber]) -> Vec<&SiteNumber> {
    numbers.iter().filter(|n| n.on_home_page).collect()
}

/// Why a number on the home page fails its link check.
fn link_problem(number: &SiteNumber, check: LinkCheck) -> String {
    match (check, &number.link) {
        (LinkCheck::NotLinked, _) => {
            format!("{} 未加链接 (not a link)", number.displayed)
        }
        (LinkCheck::OutdatedHost, Some(link)) => format!(
            "{} 链接到已停用的地址 {link} (the retired registry address)",
            number.displayed
        ),
        (LinkCheck::CodeMismatch, Some(link)) => format!(
            "{} 链接的备案编号与展示的不一致: {link} (the link's record code is not this number)",
            number.displayed
        ),
        (_, Some(link)) => format!(
            "{} 链接到 {link}，不是备案管理系统 (not the registry)",
            number.displayed
        ),
        (_, None) => number.displayed.clone(),
    }
}

/// The base (holder part, without the site suffix) of a registry's number of `kind`, read with
/// the same detectors as displayed numbers so both sides compare in one canonical form.
fn base_of(registered: &str, kind: NumberKind) -> Option<String> {
    super::numbers::detect_in_zone(crate::extract::ZoneKind::Text, registered)
        .into_iter()
        .find(|n| n.kind == kind)
        .map(|n| n.base)
}

/// Without a registry, what the site shows can still be checked against what every filed
/// site must show.
fn display_only_checks(
    site: &SiteFiling,
    home_icp: &[&SiteNumber],
    home_psb: &[&SiteNumber],
    findings: &mut Vec<Finding>,
) {
    if site.pages == 0 || !site.home_seen {
        return;
    }
    let home = site.home_url.as_str();
    if home_icp.is_empty() {
        findings.push(finding(
            &NOT_DISPLAYED,
            None,
            home,
            &site.host,
            "首页未展示ICP备案号 (the home page shows no ICP number)".to_string(),
        ));
    }
    if home_psb.is_empty() {
        findings.push(finding(
            &PSB_NOT_DISPLAYED,
            None,
            home,
            &site.host,
            "首页未展示公安联网备案号 (the home page shows no public-security number)".to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{ContentKind, extract};
    use crate::filing::page::Detector;

    const HOME: &str = "http://www.shop.test/";
    const ICP: &str = "京ICP备05004340号-1";
    const PSB: &str = "京公网安备11000002000001号";

    fn footer() -> String {
        format!(
            r#"<a href="https://beian.miit.gov.cn/">{ICP}</a>
            <a href="https://beian.mps.gov.cn/#/query/webSearch?code=11000002000001">{PSB}</a>"#
        )
    }

    fn record() -> FilingRecord {
        FilingRecord {
            domain: "shop.test".into(),
            icp_number: ICP.into(),
            owner: "示例".into(),
            owner_nature: "企业".into(),
            site_name: "示例".into(),
            approved_at: Some("2015-01-01".into()),
            licence_number: None,
            psb_number: Some(PSB.into()),
            restricted: false,
            services: Vec::new(),
            permits: Vec::new(),
        }
    }

    fn answer(record: FilingRecord) -> RegistryAnswer {
        RegistryAnswer::Record {
            source: "test".into(),
            record: Box::new(record),
        }
    }

    fn check_with(
        home_html: &str,
        registry: RegistryAnswer,
        hosting: Hosting,
    ) -> (SiteRecord, Vec<String>) {
        let catalog = ServiceCatalog::bundled().unwrap();
        let detector = Detector::new(ServiceCatalog::bundled().unwrap());
        let url = url::Url::parse(HOME).unwrap();
        let document = extract(ContentKind::Html, home_html, Some(&url));
        let mut site = SiteFiling::new("www.shop.test", HOME);
        site.add_page(HOME, true, &detector.detect(&document, HOME));
        let cx = CheckContext {
            registry,
            hosting,
            catalog: &catalog,
            today: crate::clock::days_from_date("2026-11-27").unwrap(),
        };
        let (record, findings) = check_site(&site, &cx);
        let mut rules: Vec<String> = findings.iter().map(|f| f.rule.to_string()).collect();
        rules.sort();
        (record, rules)
    }

    fn check(home_html: &str, record: FilingRecord) -> (SiteRecord, Vec<String>) {
        check_with(home_html, answer(record), Hosting::Assumed)
    }

    #[test]
    fn a_correct_site_is_ok_and_clean() {
        let (site, rules) = check(&footer(), record());
        assert_eq!(
            (site.filing_status, rules),
            (FilingStatus::Ok, Vec::<String>::new())
        );
    }

    #[test]
    fn unfiled_domains() {
        let (site, rules) = check_with(
            "<p>建设中</p>",
            RegistryAnswer::NoRecord { source: "t".into() },
            Hosting::Assumed,
        );
        assert_eq!(site.filing_status, FilingStatus::Unfiled);
        assert_eq!(rules, ["filing.unfiled_domain"]);
    }

    #[test]
    fn domains_outside_the_hosted_networks_are_not_checked() {
        let networks: Vec<IpNet> = vec!["203.0.113.0/24".parse().unwrap()];
        let outside = Hosting::classify(&networks, vec!["198.51.100.7".parse().unwrap()]);
        assert!(matches!(outside, Hosting::NotHosted(_)));
        let (site, rules) = check_with(
            "<p>建设中</p>",
            RegistryAnswer::NoRecord { source: "t".into() },
            outside,
        );
        assert_eq!(
            (site.filing_status, rules),
            (FilingStatus::NotHosted, Vec::<String>::new())
        );
        // IPv4-mapped IPv6 addresses are inside their IPv4 network.
        let mapped = Hosting::classify(&networks, vec!["::ffff:203.0.113.9".parse().unwrap()]);
        assert!(matches!(mapped, Hosting::Hosted(_)));
        assert_eq!(Hosting::classify(&[], vec![]), Hosting::Assumed);
    }

    #[test]
    fn numbers_not_displayed_and_mismatched() {
        let psb_only = format!(
            r#"<a href="https://beian.mps.gov.cn/#/query/webSearch?code=11000002000001">{PSB}</a>"#
        );
        let (site, rules) = check(&psb_only, record());
        assert_eq!(
            (site.filing_status, rules),
            (
                FilingStatus::NotDisplayed,
                vec!["filing.number_not_displayed".to_string()]
            )
        );
        let borrowed = footer().replace("05004340号-1", "16057936号-4");
        let (site, rules) = check(&borrowed, record());
        assert_eq!(
            (site.filing_status, rules),
            (
                FilingStatus::Mismatch,
                vec!["filing.number_mismatch".to_string()]
            )
        );
        // Another site suffix of the same filing is the same holder: no mismatch.
        let (_, rules) = check(&footer().replace("号-1", "号-2"), record());
        assert!(rules.is_empty(), "{rules:?}");
    }

    #[test]
    fn malformed_and_unlinked_numbers() {
        let (_, rules) = check(&footer().replace("05004340号-1", "0500434号"), record());
        assert_eq!(rules, ["filing.number_malformed", "filing.number_mismatch"]);
        let unlinked = format!(
            r#"<p>{ICP}</p><a href="http://www.beian.gov.cn/portal/registerSystemInfo?recordcode=11000002000009">{PSB}</a>"#
        );
        let (site, rules) = check(&unlinked, record());
        assert_eq!(rules, ["filing.not_linked", "filing.not_linked"]);
        assert_eq!(site.filing_status, FilingStatus::Ok);
    }

    #[test]
    fn restricted_access() {
        let (site, rules) = check(
            &footer(),
            FilingRecord {
                restricted: true,
                ..record()
            },
        );
        assert_eq!(
            (site.filing_status, rules),
            (
                FilingStatus::Restricted,
                vec!["filing.access_restricted".to_string()]
            )
        );
    }

    #[test]
    fn commerce_needs_a_licence() {
        let shop = format!(
            "<button>加入购物车</button><button>立即购买</button>{}",
            footer()
        );
        let (_, rules) = check(&shop, record());
        assert_eq!(rules, ["filing.licence_required"]);
        let licensed = FilingRecord {
            licence_number: Some("京ICP证030173号".into()),
            ..record()
        };
        assert!(check(&shop, licensed).1.is_empty());
    }

    #[test]
    fn public_security_filings() {
        let icp_only = format!(r#"<a href="https://beian.miit.gov.cn/">{ICP}</a>"#);
        assert_eq!(check(&icp_only, record()).1, ["filing.psb_not_displayed"]);
        let other = footer().replace("11000002000001", "11000002000002");
        assert_eq!(check(&other, record()).1, ["filing.psb_mismatch"]);
        // Nothing registered, filed long ago: due.
        let unregistered = FilingRecord {
            psb_number: None,
            ..record()
        };
        assert_eq!(
            check(&icp_only, unregistered.clone()).1,
            ["filing.psb_not_displayed"]
        );
        // Filed ten days ago: the 30 days of §6 have not passed.
        let fresh = FilingRecord {
            approved_at: Some("2026-11-17".into()),
            ..unregistered
        };
        let (site, rules) = check(&icp_only, fresh);
        assert!(rules.is_empty(), "{rules:?}");
        assert!(
            site.notes.iter().any(|n| n.contains("10 days old")),
            "{:?}",
            site.notes
        );
    }

    #[test]
    fn forums_need_their_special_filing() {
        let forum = format!("<p>Powered by Discuz! X3.4 发表新帖</p>{}", footer());
        assert_eq!(check(&forum, record()).1, ["service.forum_without_filing"]);
        let approved = FilingRecord {
            services: vec!["forum".into()],
            ..record()
        };
        assert!(check(&forum, approved).1.is_empty());
    }

    #[test]
    fn regulated_services_need_scope_and_permit() {
        let pharmacy = format!("<p>网上药店 处方药 国药准字H20003263</p>{}", footer());
        assert_eq!(
            check(&pharmacy, record()).1,
            ["service.beyond_scope", "service.permit_missing"]
        );
        let in_scope = FilingRecord {
            services: vec!["drugs".into()],
            ..record()
        };
        assert_eq!(
            check(&pharmacy, in_scope.clone()).1,
            ["service.permit_missing"]
        );
        let registered = FilingRecord {
            permits: vec!["(京)-经营性-2014-0008".into()],
            ..in_scope.clone()
        };
        assert!(check(&pharmacy, registered).1.is_empty());
        let displayed =
            format!("{pharmacy}<p>互联网药品信息服务资格证书：(京)-经营性-2014-0008</p>");
        assert!(check(&displayed, in_scope).1.is_empty());
    }

    #[test]
    fn without_a_registry_only_the_display_is_checked() {
        let (site, rules) = check_with(
            "<p>Powered by Discuz!</p>",
            RegistryAnswer::None,
            Hosting::Assumed,
        );
        assert_eq!(site.filing_status, FilingStatus::Unknown);
        assert_eq!(
            rules,
            ["filing.number_not_displayed", "filing.psb_not_displayed"]
        );
        assert!(site.notes[0].contains("no filing registry"));
        let (site, rules) = check_with(
            &footer(),
            RegistryAnswer::Failed("down".into()),
            Hosting::Assumed,
        );
        assert!(rules.is_empty(), "{rules:?}");
        assert!(site.notes[0].contains("down"));
    }

    #[test]
    fn a_domain_that_serves_no_page_is_still_checked_for_its_filing() {
        let catalog = ServiceCatalog::bundled().unwrap();
        let site = SiteFiling::new("api.shop.test", "https://api.shop.test/");
        let networks: Vec<IpNet> = vec!["203.0.113.0/24".parse().unwrap()];
        let hosted = || Hosting::classify(&networks, vec!["203.0.113.5".parse().unwrap()]);
        let cx = CheckContext {
            registry: RegistryAnswer::NoRecord { source: "t".into() },
            hosting: hosted(),
            catalog: &catalog,
            today: 0,
        };
        let (site_record, findings) = check_site(&site, &cx);
        assert_eq!(site_record.filing_status, FilingStatus::Unfiled);
        assert_eq!(findings.len(), 1);
        assert_eq!(&*findings[0].rule, "filing.unfiled_domain");
        assert_eq!(findings[0].severity, Severity::Critical);
        let cx = CheckContext {
            registry: answer(record()),
            hosting: hosted(),
            catalog: &catalog,
            today: 0,
        };
        let (record, findings) = check_site(&site, &cx);
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(record.filing_status, FilingStatus::Ok);
        assert!(
            record.notes.iter().any(|n| n.contains("no pages")),
            "{:?}",
            record.notes
        );
    }
}
