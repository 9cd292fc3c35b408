//! Structural checks: facts about a page's structure (hidden iframes, hidden link farms,
//! password forms) rather than words in it. A rule uses one as `check = {...}` (its findings
//! are the check's evidence) or as `requires = {...}` (its text hits count only on pages where
//! the check finds something). `rulesets/README.md` documents the kinds and their options.

use std::collections::HashSet;
use std::ops::Range;

use serde::Serialize;

use super::domains::{AllowList, host_range, is_within, lookup_host};
use crate::domain::registrable_domain;
use crate::extract::{Document, ZoneKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Hidden or zero-size iframes to another site.
    HiddenIframe,
    /// Many links in hidden content to other sites (暗链).
    HiddenLinks,
    /// A form with a password field (optionally: posting to another site).
    PasswordForm,
}

impl CheckKind {
    pub const ALL: [CheckKind; 3] = [
        CheckKind::HiddenIframe,
        CheckKind::HiddenLinks,
        CheckKind::PasswordForm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::HiddenIframe => "hidden_iframe",
            CheckKind::HiddenLinks => "hidden_links",
            CheckKind::PasswordForm => "password_form",
        }
    }

    pub fn parse(name: &str) -> Option<CheckKind> {
        CheckKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The zone its evidence quotes.
    pub fn zone(self) -> ZoneKind {
        match self {
            CheckKind::HiddenIframe => ZoneKind::Iframe,
            CheckKind::HiddenLinks => ZoneKind::Link,
            CheckKind::PasswordForm => ZoneKind::Form,
        }
    }

    /// Options that apply to this kind besides `kind`, `allow_domains` and `allow_list`.
    pub fn options(self) -> &'static [&'static str] {
        match self {
            CheckKind::HiddenIframe => &["foreign_only", "zero_size_only"],
            CheckKind::HiddenLinks => &["foreign_only", "min_links", "min_hosts"],
            CheckKind::PasswordForm => &["foreign_only"],
        }
    }
}

/// A validated check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub kind: CheckKind,
    /// Count only targets on another site (see [`Site`]). Default: true for `hidden_iframe`
    /// and `hidden_links`, false for `password_form`.
    pub foreign_only: bool,
    /// `hidden_iframe`: count only iframes of at most 1px (`width`/`height`), not iframes in
    /// hidden blocks: portals hide whole tabs of ordinary widget iframes, while injected
    /// iframes are made tiny themselves.
    pub zero_size_only: bool,
    /// `hidden_links`: the fewest counted links that make a farm.
    pub min_links: u32,
    /// `hidden_links`: the fewest distinct sites among them.
    pub min_hosts: u32,
    /// Domains (and their subdomains) never counted: widgets and trackers that hide iframes on
    /// purpose.
    pub allow_domains: Vec<String>,
    /// The allowlist files (`allow_list`) whose hosts are never counted, as the rule names them.
    pub allow_lists: Vec<String>,
    #[serde(skip)]
    pub(crate) allow_list: Option<std::sync::Arc<AllowList>>,
}

/// Default `min_links` of `hidden_links`: a hidden menu or a couple of share buttons is not a
/// farm; the farms seen on hijacked sites carry dozens.
pub const DEFAULT_MIN_LINKS: u32 = 5;

impl Check {
    pub fn new(kind: CheckKind) -> Check {
        Check {
            kind,
            foreign_only: kind != CheckKind::PasswordForm,
            zero_size_only: false,
            min_links: DEFAULT_MIN_LINKS,
            min_hosts: 1,
            allow_domains: Vec::new(),
            allow_lists: Vec::new(),
            allow_list: None,
        }
    }
}

/// One piece of evidence: a range of a zone's original text, and how many items it stands
/// for (a farm's links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evidence {
    pub zone: ZoneKind,
    pub range: Range<usize>,
    pub count: usize,
}

/// What a page is, for "another site": its registrable domain when the page URL is known, and
/// the registrable domains its visible links go to.
///
/// A target counts as foreign when it is not on the page's own site *and* no visible link of
/// the page goes to its site. The second half keeps file scans (no page URL) usable: a hidden
/// dropdown menu links where the visible menu does, and a login form that posts to the site's
/// own absolute URL posts where the site's visible links go; a farm's or a phishing kit's
/// targets are linked from nowhere visible.
pub(crate) struct Site<'a> {
    own: Option<String>,
    links: &'a [crate::extract::Link],
    /// Computed on first use: most pages have no hidden iframe, hidden link or password form.
    visible: std::cell::OnceCell<HashSet<String>>,
}

impl<'a> Site<'a> {
    pub fn of(document: &'a Document, page_url: Option<&str>) -> Site<'a> {
        let own = page_url
            .and_then(crate::domain::host_of)
            .and_then(|h| registrable_domain(&h));
        Site {
            own,
            links: &document.links,
            visible: std::cell::OnceCell::new(),
        }
    }

    /// The registrable domain of `url` when it is on another site, `None` when it is ours or
    /// has no host (relative, `javascript:`).
    fn foreign(&self, url: &str) -> Option<String> {
        let site = site_of(url)?;
        if self.own.as_deref() == Some(site.as_str()) {
            return None;
        }
        let visible = self.visible.get_or_init(|| {
            self.links
                .iter()
                .filter(|l| !l.hidden)
                .filter_map(|l| site_of(&l.url))
                .collect()
        });
        (!visible.contains(&site)).then_some(site)
    }
}

fn site_of(url: &str) -> Option<String> {
    let range = host_range(url)?;
    let host = lookup_host(&url[range])?;
    registrable_domain(&host).or_else(|| Some(host.into_owned()))
}

fn allowed(check: &Check, url: &str) -> bool {
    if check.allow_domains.is_empty() && check.allow_list.is_none() {
        return false;
    }
    let Some(host) = host_range(url).and_then(|r| lookup_host(&url[r]).map(|h| h.into_owned()))
    else {
        return false;
    };
    check.allow_domains.iter().any(|d| is_within(&host, d))
        || check.allow_list.as_ref().is_some_and(|a| a.covers(&host))
}

/// Ranges of the lines of a multi-line zone whose first word is each URL, matched in order
/// (zones list their items in document order, leaving out items without a URL).
fn locate<'u>(zone: &str, urls: impl Iterator<Item = &'u str>) -> Vec<Option<Range<usize>>> {
    let starts: Vec<usize> = line_starts(zone).collect();
    let mut next = 0;
    let mut out = Vec::new();
    for url in urls {
        if url.is_empty() {
            out.push(None);
            continue;
        }
        // Items and lines are in the same order; a miss does not move the cursor, so one
        // surprise does not shift every later item.
        let found = starts[next..].iter().position(|&start| {
            let line = &zone[start..];
            line.starts_with(url)
                && matches!(line.as_bytes().get(url.len()), None | Some(b' ' | b'\n'))
        });
        match found {
            Some(i) => {
                let start = starts[next + i];
                next += i + 1;
                out.push(Some(start..start + url.len()));
            }
            None => out.push(None),
        }
    }
    out
}

fn line_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(0).chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
}

/// Run a check on a document; empty when it finds nothing.
pub(crate) fn run(check: &Check, document: &Document, site: &Site<'_>) -> Vec<Evidence> {
    let zone_text = || {
        document
            .zone(check.kind.zone())
            .map_or("", |z| z.text.as_str())
    };
    let counts = |url: &str| -> bool {
        !allowed(check, url) && (!check.foreign_only || site.foreign(url).is_some())
    };
    match check.kind {
        CheckKind::HiddenIframe => {
            let wanted: Vec<bool> = document
                .iframes
                .iter()
                .map(|f| {
                    (f.zero_size || (f.hidden && !check.zero_size_only))
                        && site_of(&f.src).is_some()
                        && counts(&f.src)
                })
                .collect();
            if !wanted.contains(&true) {
                return Vec::new();
            }
            let located = locate(zone_text(), document.iframes.iter().map(|f| f.src.as_str()));
            located
                .into_iter()
                .zip(wanted)
                .filter_map(|(range, wanted)| range.filter(|_| wanted))
                .map(|range| Evidence {
                    zone: ZoneKind::Iframe,
                    range,
                    count: 1,
                })
                .collect()
        }
        CheckKind::HiddenLinks => {
            let mut first = None;
            let mut links = 0usize;
            let mut hosts = HashSet::new();
            for (i, link) in document.links.iter().enumerate() {
                if !link.hidden || allowed(check, &link.url) {
                    continue;
                }
                let site = if check.foreign_only {
                    site.foreign(&link.url)
                } else {
                    site_of(&link.url)
                };
                let Some(site) = site else { continue };
                links += 1;
                hosts.insert(site);
                first.get_or_insert(i);
            }
            let Some(first) = first else {
                return Vec::new();
            };
            if links < check.min_links as usize || hosts.len() < check.min_hosts as usize {
                return Vec::new();
            }
            let located = locate(
                zone_text(),
                document.links[..=first].iter().map(|l| l.url.as_str()),
            );
            match located.last().cloned().flatten() {
                Some(range) => vec![Evidence {
                    zone: ZoneKind::Link,
                    range,
                    count: links,
                }],
                None => Vec::new(),
            }
        }
        CheckKind::PasswordForm => {
            let wanted: Vec<bool> = document
                .forms
                .iter()
                .map(|f| f.has_password && counts(&f.action))
                .collect();
            if !wanted.contains(&true) {
                return Vec::new();
            }
            let located = locate(
                zone_text(),
                document.forms.iter().map(|f| f.action.as_str()),
            );
            located
                .into_iter()
                .zip(wanted)
                .filter(|(_, wanted)| *wanted)
                .map(|(range, _)| Evidence {
                    zone: ZoneKind::Form,
                    // A form without an action line (no action and no page URL) still holds
                    // for `requires`; as a finding it quotes nothing.
                    range: range.unwrap_or(usize::MAX..usize::MAX),
                    count: 1,
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::extract_html;

    fn evidence(check: &Check, html: &str, url: Option<&str>) -> Vec<(String, usize)> {
        let page = url.map(|u| url::Url::parse(u).unwrap());
        let doc = extract_html(html, page.as_ref());
        let site = Site::of(&doc, url);
        run(check, &doc, &site)
            .into_iter()
            .filter(|e| e.range.start != usize::MAX)
            .map(|e| {
                let zone = &doc.zone(e.zone).unwrap().text;
                (zone[e.range].to_string(), e.count)
            })
            .collect()
    }

    #[test]
    fn hidden_iframes_to_other_sites() {
        let check = Check::new(CheckKind::HiddenIframe);
        let html = r#"<iframe src="https://video.example.cn/v"></iframe>
            <iframe src="http://evil.test/x" width="0" height="0"></iframe>
            <div style="display:none"><iframe src="/own/page"></iframe></div>
            <iframe src="https://www.site.cn/counter" width=1 height=1></iframe>"#;
        assert_eq!(
            evidence(&check, html, Some("https://site.cn/")),
            vec![("http://evil.test/x".to_string(), 1)]
        );
        // Without a page URL every absolute URL is another site's.
        assert_eq!(evidence(&check, html, None).len(), 2);
        let hidden_block =
            r#"<div style="display:none"><iframe src="http://evil.test/"></iframe></div>"#;
        assert_eq!(evidence(&check, hidden_block, None).len(), 1);
        let mut tiny_only = check.clone();
        tiny_only.zero_size_only = true;
        assert!(evidence(&tiny_only, hidden_block, None).is_empty());
        assert_eq!(
            evidence(&tiny_only, html, Some("https://site.cn/")).len(),
            1
        );
        let mut allow = check.clone();
        allow.allow_domains = vec!["evil.test".into()];
        assert!(evidence(&allow, html, Some("https://site.cn/")).is_empty());
    }

    fn allow_list(lines: &[&str]) -> Option<std::sync::Arc<AllowList>> {
        let mut allow = AllowList::default();
        for line in lines {
            match super::super::domains::parse_line(line) {
                super::super::domains::Line::Entry(e) => allow.add(e).unwrap(),
                other => panic!("{line}: {other:?}"),
            }
        }
        Some(std::sync::Arc::new(allow))
    }

    #[test]
    fn hidden_iframes_of_listed_ad_and_analytics_hosts_do_not_count() {
        let mut check = Check::new(CheckKind::HiddenIframe);
        check.allow_list = allow_list(&["rfihub.com", "g.163.com", "full:cdn.test"]);
        let html = r#"<iframe src="http://20519889p.rfihub.com/ca.html?rb=5021" style="display:none" width="0" height="0"></iframe>
            <iframe src="https://g.163.com/r?site=netease" width="0" height="0"></iframe>
            <iframe src="https://cdn.test/x" width="0" height="0"></iframe>
            <iframe src="https://evil.cdn.test/x" width="0" height="0"></iframe>
            <iframe src="https://news.163.com/x" width="0" height="0"></iframe>"#;
        assert_eq!(
            evidence(&check, html, Some("https://www.site.cn/")),
            vec![
                ("https://evil.cdn.test/x".to_string(), 1),
                ("https://news.163.com/x".to_string(), 1)
            ]
        );
    }

    #[test]
    fn hidden_link_farms_need_enough_links_to_unlinked_sites() {
        let mut check = Check::new(CheckKind::HiddenLinks);
        check.min_links = 3;
        let farm: String = (0..4)
            .map(|i| format!(r#"<a href="http://farm{i}.test/">彩票{i}</a>"#))
            .collect();
        let html = format!(
            r#"<a href="http://menu.test/">菜单</a><div style="display:none">{farm}
            <a href="http://menu.test/a">隐藏菜单</a></div>"#
        );
        assert_eq!(
            evidence(&check, &html, None),
            vec![("http://farm0.test/".to_string(), 4)]
        );
        check.min_links = 5;
        assert!(evidence(&check, &html, None).is_empty());
        check.min_links = 3;
        check.min_hosts = 5;
        assert!(evidence(&check, &html, None).is_empty());
    }

    #[test]
    fn password_forms_posting_elsewhere() {
        let any = Check::new(CheckKind::PasswordForm);
        let mut foreign = any.clone();
        foreign.foreign_only = true;
        let html = r#"<a href="https://www.bank.test/">首页</a>
            <form action="https://collect.evil.test/p.php"><input type=password></form>
            <form action="https://login.bank.test/"><input type=password></form>
            <form action="/search"><input name=q></form>"#;
        assert_eq!(
            evidence(&foreign, html, None),
            vec![("https://collect.evil.test/p.php".to_string(), 1)]
        );
        assert_eq!(evidence(&any, html, None).len(), 2);
        assert!(evidence(&any, "<form><input name=q></form>", None).is_empty());
    }

    #[test]
    fn locate_matches_in_order_and_skips_missing() {
        let zone = "http://a.test/ one\nhttp://b.test/\nhttp://a.test/ two";
        let urls = [
            "http://a.test/",
            "",
            "http://b.test/",
            "http://a.test/",
            "http://c.test/",
        ];
        let found = locate(zone, urls.into_iter());
        let texts: Vec<Option<usize>> = found.iter().map(|r| r.as_ref().map(|r| r.start)).collect();
        assert_eq!(texts, vec![Some(0), None, Some(19), Some(34), None]);
    }
}
