//! Which pages a crawl asks for with `If-None-Match` / `If-Modified-Since`.
//!
//! A 304 stands for the content the store already judged, so the daemon asks only where that
//! stand-in is as good as the body (correctness over savings):
//!
//! - **one agent.** The store keeps one set of validators per URL, from whichever agent's
//!   fetch it kept. With two agents the first pass must read every page whole anyway (an
//!   unchanged sighting must never hide a finding, see `Collected::merge`), and a 304 to the
//!   phone for the desktop's validators says nothing of what the phone is served;
//! - **not the start page.** The filing checks judge the home page's numbers and links, which
//!   only a body shows; the start page is always read whole;
//! - **judged with the rules in use.** A page last matched with other rules needs its body to
//!   be matched again;
//! - **links known.** Without the page's stored links a 304 would end the crawl there;
//! - **a whole read before.** The stored content came from a 2xx (or a 304 standing for one).
//!
//! A page that answers 304 carries its flags over (the store's `Unchanged`), proves nothing
//! absent, and shows no filing numbers: a crawl with 304s judges the site's filing as a
//! partial read (`#filing` records what it finds and resolves nothing).

use std::collections::HashMap;
use std::sync::Arc;

use url::Url;

use sitepatrol_core::domain::{host_of, same_site};
use sitepatrol_core::extract::ContentKind;
use sitepatrol_crawl::crawl::PageReport;
use sitepatrol_crawl::crawl::conditional::{Recall, Remembered};
use sitepatrol_crawl::crawl::probe::Sample;
use sitepatrol_crawl::fetch::Validators;
use sitepatrol_store::PageState;

/// Links kept per page for a later 304. A page with more is fetched whole next time: offering
/// only some of its links would silently shrink the crawl.
pub const MAX_STORED_LINKS: usize = 2_000;

/// The links of a page as the store keeps them: `None` (not known) past [`MAX_STORED_LINKS`].
pub fn links_to_store(links: Vec<String>) -> Option<Vec<String>> {
    (links.len() <= MAX_STORED_LINKS).then_some(links)
}

/// Offer a 304 page to the cloaking probes' sample. A 304 carries no Content-Type to tell an
/// HTML page by, and recrawls of unchanged sites are mostly 304s: without this the probes
/// would see the start page and nothing else. Its name tells instead (scripts and text files
/// are remembered too); the probes fetch it whole anyway.
pub fn offer_to_sample(sample: &mut Sample, report: &PageReport, start: &str) {
    let url = &report.final_url;
    let ext = Url::parse(url)
        .ok()
        .and_then(|u| {
            let last = u.path_segments()?.next_back()?.to_string();
            last.rsplit_once('.').map(|(_, ext)| ext.to_string())
        })
        .unwrap_or_default();
    let html = !matches!(
        ContentKind::from_extension(&ext),
        Some(ContentKind::Js | ContentKind::Plain)
    );
    let on_site = match (host_of(url), host_of(start)) {
        (Some(a), Some(b)) => same_site(&a, &b),
        _ => false,
    };
    sample.offer(url, report.depth, 200, html, on_site);
}

/// The recall of a crawl (see the module docs), or `None` when it sends no conditional
/// requests at all.
pub fn recall(
    states: &Arc<HashMap<String, PageState>>,
    rules_version: &str,
    start: &Url,
    agents: usize,
) -> Option<Recall> {
    if agents != 1 || states.is_empty() {
        return None;
    }
    let states = states.clone();
    let version = rules_version.to_string();
    let start = start.to_string();
    Some(Arc::new(move |url: &str| {
        if url == start {
            return None;
        }
        remembered(states.get(url)?, &version)
    }))
}

/// What a 304 of the page would stand for, when it may stand for it.
fn remembered(state: &PageState, rules_version: &str) -> Option<Remembered> {
    let whole = state
        .http_status
        .is_some_and(|s| (200..300).contains(&s) || s == 304);
    if !whole || state.rules_version.as_deref() != Some(rules_version) {
        return None;
    }
    let validators = Validators {
        etag: state.etag.clone(),
        last_modified: state.last_modified.clone(),
    };
    if validators.is_empty() {
        return None;
    }
    Some(Remembered {
        validators,
        content_sha256: state.content_sha256.clone()?,
        links: state.links.clone()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> PageState {
        PageState {
            content_sha256: Some("h".into()),
            etag: Some("\"e\"".into()),
            last_modified: None,
            rules_version: Some("r1".into()),
            http_status: Some(200),
            fetched_at: 1,
            links: Some(vec!["http://a.test/b".into()]),
        }
    }

    fn ask(states: Vec<(&str, PageState)>, agents: usize, url: &str) -> Option<Remembered> {
        let states: HashMap<String, PageState> = states
            .into_iter()
            .map(|(u, s)| (u.to_string(), s))
            .collect();
        let start = Url::parse("http://a.test/").unwrap();
        recall(&Arc::new(states), "r1", &start, agents).and_then(|r| r(url))
    }

    #[test]
    fn a_page_judged_with_these_rules_is_asked_for_conditionally() {
        let known = ask(vec![("http://a.test/x", state())], 1, "http://a.test/x").unwrap();
        assert_eq!(known.validators.etag.as_deref(), Some("\"e\""));
        assert_eq!(known.content_sha256, "h");
        assert_eq!(known.links, ["http://a.test/b"]);
    }

    #[test]
    fn pages_a_304_cannot_stand_for_are_fetched_whole() {
        let url = "http://a.test/x";
        // Two agents, the start page, an unknown page.
        assert!(ask(vec![(url, state())], 2, url).is_none());
        assert!(ask(vec![("http://a.test/", state())], 1, "http://a.test/").is_none());
        assert!(ask(vec![(url, state())], 1, "http://a.test/y").is_none());
        for change in [
            (|s: &mut PageState| s.rules_version = Some("r0".into())) as fn(&mut PageState),
            |s| s.rules_version = None,
            |s| s.links = None,
            |s| s.content_sha256 = None,
            |s| s.etag = None,
            |s| s.http_status = Some(500),
        ] {
            let mut s = state();
            change(&mut s);
            assert!(ask(vec![(url, s.clone())], 1, url).is_none(), "{s:?}");
        }
        let mut s = state();
        (s.etag, s.last_modified) = (None, Some("Sun, 06 Nov 1994 08:49:37 GMT".into()));
        assert!(ask(vec![(url, s)], 1, url).is_some());
    }

    #[test]
    fn too_many_links_are_not_kept() {
        assert!(links_to_store(vec![String::new(); MAX_STORED_LINKS]).is_some());
        assert!(links_to_store(vec![String::new(); MAX_STORED_LINKS + 1]).is_none());
    }
}
