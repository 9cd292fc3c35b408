//! What one page shows about its filings: the numbers, where they link, and the regulated
//! services and commercial functions the page offers.

use std::borrow::Cow;

use serde::Serialize;
use url::Url;

use super::numbers::{
    DisplayedNumber, NumberKind, detect_in_normalized, detect_in_zone, number_words_in,
};
use super::services::{ServiceCatalog, ServiceSignal};
use crate::extract::{Document, Link, ZoneKind};
use crate::normalize::{Derived, NormalizedZones, normalize, shared_or_normalized};

/// Zones searched for numbers, in order of preference when one number shows up in several:
/// footers are visible text first; a number shown only as an image's `alt` is still shown; and
/// some sites render their footer from script (`document.write`, JSON), so inline script text
/// comes last. Hidden text is never searched: a number nobody can see is not displayed.
const NUMBER_ZONES: [ZoneKind; 5] = [
    ZoneKind::Text,
    ZoneKind::Attr,
    ZoneKind::Title,
    ZoneKind::Meta,
    ZoneKind::Script,
];

/// Where a displayed number links to, judged against the registry it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkCheck {
    /// Not a link at all.
    NotLinked,
    /// Links to the registry's current site (beian.miit.gov.cn, beian.mps.gov.cn) and, for
    /// public-security numbers, with the number as its record code.
    Official,
    /// Links to the registry's retired address (www.miibeian.gov.cn).
    OutdatedHost,
    /// Links somewhere that is not the registry.
    Elsewhere,
    /// Links to the public-security registry with another record code, or with none.
    CodeMismatch,
}

/// A number as one page showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageNumber {
    #[serde(flatten)]
    pub number: DisplayedNumber,
    /// The link target, when the number is a link's text (or its image's alt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Only for ICP and public-security numbers; permits have no registry to link to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_check: Option<LinkCheck>,
}

/// Everything filing-related one page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PageFiling {
    pub numbers: Vec<PageNumber>,
    pub services: Vec<ServiceSignal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commerce: Option<ServiceSignal>,
}

/// Detects numbers and services on pages; cheap to share.
#[derive(Debug)]
pub struct Detector {
    catalog: ServiceCatalog,
}

impl Detector {
    pub fn new(catalog: ServiceCatalog) -> Detector {
        Detector { catalog }
    }

    pub fn catalog(&self) -> &ServiceCatalog {
        &self.catalog
    }

    pub fn detect(&self, document: &Document, page_url: &str) -> PageFiling {
        self.detect_normalized(document, None, page_url)
    }

    /// [`Detector::detect`], reading the zones the rules normalized (`normalized`, from
    /// [`crate::scan::Scanner::scan_bytes_normalized`]) instead of normalizing them again.
    pub fn detect_normalized(
        &self,
        document: &Document,
        normalized: Option<&NormalizedZones>,
        page_url: &str,
    ) -> PageFiling {
        let mut numbers: Vec<PageNumber> = Vec::new();
        let mut add = |found: DisplayedNumber, link: Option<&str>| {
            let link_check = link_check(found.kind, &found, link);
            match numbers
                .iter_mut()
                .find(|n| n.number.kind == found.kind && n.number.number == found.number)
            {
                Some(existing) => {
                    // The same number as text and as a link's text: the link is what counts.
                    if link.is_some() && better(link_check, existing.link_check) {
                        existing.link = link.map(str::to_string);
                        existing.link_check = link_check;
                    }
                }
                None => numbers.push(PageNumber {
                    number: found,
                    link: link.map(str::to_string),
                    link_check,
                }),
            }
        };
        // Each zone is normalized once, for the rules, the number patterns and the service
        // terms alike.
        let normalized: Vec<(ZoneKind, &str, Cow<'_, Derived>)> = document
            .zones
            .iter()
            .enumerate()
            .filter(|(_, z)| NUMBER_ZONES.contains(&z.kind) || self.catalog.reads(z.kind))
            .map(|(index, z)| {
                let shared = normalized.and_then(|n| n.zone(index));
                (
                    z.kind,
                    z.text.as_str(),
                    shared_or_normalized(shared, &z.text),
                )
            })
            .collect();
        for kind in NUMBER_ZONES {
            if let Some((_, original, zone)) = normalized.iter().find(|(k, _, _)| *k == kind) {
                for found in detect_in_normalized(kind, original, zone) {
                    add(found, None);
                }
            }
            if kind == ZoneKind::Attr {
                for link in links_with_number_words(document) {
                    for found in detect_in_zone(ZoneKind::Link, &link.text) {
                        add(found, Some(&link.url));
                    }
                }
            }
        }
        let mut services = self.catalog.detect_normalized(
            normalized
                .iter()
                .map(|(kind, _, zone)| (*kind, zone.text.as_str())),
            page_url,
        );
        let commerce = services
            .iter()
            .position(|s| s.service == "commerce")
            .map(|i| services.remove(i));
        PageFiling {
            numbers,
            services,
            commerce,
        }
    }
}

/// The visible links whose text may hold a number, in page order, found in one pass over all
/// of their texts: a page has a hundred links and hardly ever a number among them, and
/// normalizing each text on its own took most of a crawl's filing time. The texts are joined
/// by line breaks, which the filing view drops, so a word in one text is still a word in the
/// whole; a word that runs across a break makes both links candidates, which costs a look and
/// loses nothing.
fn links_with_number_words(document: &Document) -> Vec<&Link> {
    let visible: Vec<&Link> = document.links.iter().filter(|l| !l.hidden).collect();
    let mut joined = String::new();
    let mut starts = Vec::with_capacity(visible.len());
    for link in &visible {
        starts.push(joined.len());
        joined.push_str(&link.text);
        joined.push('\n');
    }
    let normalized = normalize(&joined);
    let mut wanted = vec![false; visible.len()];
    // The link whose text (or trailing break) holds a byte of the joined text; `starts[0]` is
    // 0, so there is one for every offset.
    let link_at = |offset: usize| starts.partition_point(|&s| s <= offset) - 1;
    for word in number_words_in(&normalized.text) {
        let range = normalized.source_range(word, &joined);
        let last = range.end.saturating_sub(1).max(range.start);
        wanted[link_at(range.start)..=link_at(last)].fill(true);
    }
    visible
        .into_iter()
        .zip(wanted)
        .filter_map(|(link, wanted)| wanted.then_some(link))
        .collect()
}

fn rank(check: Option<LinkCheck>) -> u8 {
    match check {
        Some(LinkCheck::Official) => 4,
        Some(LinkCheck::CodeMismatch) => 3,
        Some(LinkCheck::OutdatedHost) => 2,
        Some(LinkCheck::Elsewhere) => 1,
        Some(LinkCheck::NotLinked) | None => 0,
    }
}

fn better(new: Option<LinkCheck>, old: Option<LinkCheck>) -> bool {
    rank(new) > rank(old)
}

/// The ICP registry's public site, and the address it had before 2019.
pub const MIIT_HOST: &str = "beian.miit.gov.cn";
const MIIT_OLD_HOSTS: [&str; 4] = [
    "www.miibeian.gov.cn",
    "miibeian.gov.cn",
    "www.miitbeian.gov.cn",
    "miitbeian.gov.cn",
];
/// The public-security registry: the current portal takes `code=`, the older one
/// (www.beian.gov.cn) `recordcode=`.
const MPS_HOSTS: [&str; 3] = ["beian.mps.gov.cn", "www.beian.gov.cn", "beian.gov.cn"];

fn link_check(kind: NumberKind, number: &DisplayedNumber, link: Option<&str>) -> Option<LinkCheck> {
    let is_icp = matches!(
        kind,
        NumberKind::IcpFiling | NumberKind::IcpLicence | NumberKind::TelecomLicence
    );
    if !is_icp && kind != NumberKind::PsbFiling {
        return None;
    }
    let Some(link) = link else {
        return Some(LinkCheck::NotLinked);
    };
    let Ok(url) = Url::parse(link) else {
        return Some(LinkCheck::Elsewhere);
    };
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if is_icp {
        return Some(if host == MIIT_HOST {
            LinkCheck::Official
        } else if MIIT_OLD_HOSTS.contains(&host.as_str()) {
            LinkCheck::OutdatedHost
        } else {
            LinkCheck::Elsewhere
        });
    }
    if !MPS_HOSTS.contains(&host.as_str()) {
        return Some(LinkCheck::Elsewhere);
    }
    let digits: String = number.number.chars().filter(char::is_ascii_digit).collect();
    // The current portal is a single-page app: its query sits in the fragment
    // (`https://beian.mps.gov.cn/#/query/webSearch?code=...`).
    let fragment_query = url
        .fragment()
        .and_then(|f| f.split_once('?'))
        .map(|(_, q)| q)
        .unwrap_or("");
    let code = url
        .query_pairs()
        .chain(url::form_urlencoded::parse(fragment_query.as_bytes()))
        .find(|(k, _)| k.eq_ignore_ascii_case("recordcode") || k.eq_ignore_ascii_case("code"))
        .map(|(_, v)| v.chars().filter(char::is_ascii_digit).collect::<String>());
    Some(match code {
        Some(code) if code == digits => LinkCheck::Official,
        _ => LinkCheck::CodeMismatch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{ContentKind, extract};

    fn page(html: &str) -> PageFiling {
        let detector = Detector::new(ServiceCatalog::bundled().unwrap());
        let url = Url::parse("http://www.example.test/").unwrap();
        let document = extract(ContentKind::Html, html, Some(&url));
        detector.detect(&document, url.as_str())
    }

    fn checks(filing: &PageFiling) -> Vec<(String, Option<LinkCheck>)> {
        filing
            .numbers
            .iter()
            .map(|n| (n.number.number.clone(), n.link_check))
            .collect()
    }

    /// Every link whose own text holds a number word is among the candidates read in one
    /// pass over all link texts, wherever the words fall and however the texts normalize.
    #[test]
    fn link_candidates_miss_no_link_with_a_number_word() {
        use proptest::prelude::*;
        let piece = prop::sample::select(vec![
            "icp",
            "i",
            "cp",
            "ＩＣＰ",
            "京",
            "备",
            "12345678",
            "号",
            "b2-",
            "b",
            "2",
            "—",
            "ー",
            "公网",
            "安备",
            "許可證",
            "经营性",
            " ",
            "\u{3000}",
            "\u{200b}",
            "友情链接",
            "首页",
            "e\u{301}",
            "ﬁ",
            "x",
        ]);
        let text = prop::collection::vec(piece, 0..5).prop_map(|p| p.concat());
        proptest!(ProptestConfig::with_cases(1000), |(texts in prop::collection::vec(text, 0..8))| {
            let html: String = texts
                .iter()
                .map(|t| format!("<a href=\"/x\">{t}</a>"))
                .collect();
            let url = Url::parse("http://www.example.test/").unwrap();
            let document = extract(ContentKind::Html, &html, Some(&url));
            let candidates = links_with_number_words(&document);
            for link in document.links.iter().filter(|l| !l.hidden) {
                if crate::filing::numbers::may_hold_numbers(&normalize(&link.text).text) {
                    prop_assert!(
                        candidates.iter().any(|c| std::ptr::eq(*c, link)),
                        "{:?} missing from {:?}", link.text, candidates
                    );
                }
            }
        });
    }

    #[test]
    fn a_linked_footer() {
        let filing = page(
            r#"<footer><a href="https://beian.miit.gov.cn/">京ICP备05004340号-1</a>
            <a href="https://beian.mps.gov.cn/#/query/webSearch?code=11000002000001">京公网安备11000002000001号</a></footer>"#,
        );
        assert_eq!(
            checks(&filing),
            [
                ("京ICP备05004340号-1".to_string(), Some(LinkCheck::Official)),
                (
                    "京公网安备11000002000001号".to_string(),
                    Some(LinkCheck::Official)
                ),
            ]
        );
        assert_eq!(filing.numbers[0].number.zone, ZoneKind::Text);
    }

    #[test]
    fn wrong_and_missing_links() {
        let filing = page(
            r#"<p>京ICP备05004340号</p>
            <a href="http://www.miibeian.gov.cn/">京ICP证030173号</a>
            <a href="http://www.beian.gov.cn/portal/registerSystemInfo?recordcode=11000002000002">京公网安备11000002000001号</a>
            <a href="http://www.example.test/about">粤B2-20090191</a>"#,
        );
        assert_eq!(
            checks(&filing),
            [
                ("京ICP备05004340号".to_string(), Some(LinkCheck::NotLinked)),
                ("京ICP证030173号".to_string(), Some(LinkCheck::OutdatedHost)),
                (
                    "京公网安备11000002000001号".to_string(),
                    Some(LinkCheck::CodeMismatch)
                ),
                ("粤B2-20090191".to_string(), Some(LinkCheck::Elsewhere)),
            ]
        );
    }

    #[test]
    fn a_number_shown_only_as_an_image_alt() {
        let filing = page(
            r#"<a href="https://beian.miit.gov.cn/"><img src="icp.png" alt="京ICP备05004340号"></a>"#,
        );
        assert_eq!(
            checks(&filing),
            [("京ICP备05004340号".to_string(), Some(LinkCheck::Official))]
        );
        assert_eq!(filing.numbers[0].number.zone, ZoneKind::Attr);
    }

    #[test]
    fn a_footer_written_by_script_is_displayed_text() {
        // What the script writes is on the page, as a browser shows it: the number counts as
        // displayed, after the page's own text.
        let filing = page(
            r#"<script>document.write('<p>京ICP备05004340号-1</p>');</script><p>京公网安备11000002000001号</p>"#,
        );
        let found: Vec<(&str, ZoneKind)> = filing
            .numbers
            .iter()
            .map(|n| (n.number.number.as_str(), n.number.zone))
            .collect();
        assert_eq!(
            found,
            [
                ("京公网安备11000002000001号", ZoneKind::Text),
                ("京ICP备05004340号-1", ZoneKind::Text)
            ]
        );
    }

    #[test]
    fn hidden_and_commented_numbers_are_not_displayed() {
        let filing = page(
            r#"<div style="display:none">京ICP备05004340号</div><!-- 京ICP备11111112号 -->
            <div hidden><a href="https://beian.miit.gov.cn/">京ICP备05004341号</a></div>"#,
        );
        assert!(filing.numbers.is_empty(), "{:#?}", filing.numbers);
    }

    #[test]
    fn permits_have_no_link_check_and_services_are_separated_from_commerce() {
        let filing = page(
            "<p>互联网药品信息服务资格证书：(京)-经营性-2014-0008</p><p>网上药店 处方药 加入购物车 立即购买</p>",
        );
        assert_eq!(
            checks(&filing),
            [("(京)-经营性-2014-0008".to_string(), None)]
        );
        assert_eq!(
            filing
                .services
                .iter()
                .map(|s| s.service.as_str())
                .collect::<Vec<_>>(),
            ["drugs"]
        );
        assert_eq!(
            filing.commerce.as_ref().map(|c| c.service.as_str()),
            Some("commerce")
        );
    }
}
