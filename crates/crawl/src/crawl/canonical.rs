//! Canonical URLs, so that one page is fetched once however its links spell it.
//!
//! The `url` crate already lower-cases scheme and host, drops default ports and resolves dot
//! segments. On top: the fragment goes, query parameters are sorted, and session and tracking
//! parameters (which make every visit a new URL) are stripped, from the query and from
//! `;jsessionid=` path parameters.

use url::Url;

/// Parameter names that identify a visit, not a page.
const SESSION_PARAMS: &[&str] = &[
    "jsessionid",
    "phpsessid",
    "sid",
    "sessionid",
    "session_id",
    "sessid",
    "cfid",
    "cftoken",
    "aspsessionid",
    "zenid",
    "osCsid",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "fbclid",
    "spm",
    "from_share",
];

fn is_session_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SESSION_PARAMS
        .iter()
        .any(|p| lower == p.to_ascii_lowercase())
        || lower.starts_with("aspsessionid")
}

/// The canonical form of `url`: only http(s) URLs have one.
pub fn canonicalize(url: &Url) -> Option<Url> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let mut out = url.clone();
    out.set_fragment(None);
    // `/a;jsessionid=XYZ/b` → `/a/b`.
    if out.path().contains(';') {
        let cleaned: Vec<String> = out
            .path()
            .split('/')
            .map(|segment| match segment.split_once(';') {
                Some((base, params))
                    if params
                        .split(';')
                        .any(|p| is_session_param(p.split('=').next().unwrap_or(""))) =>
                {
                    base.to_string()
                }
                _ => segment.to_string(),
            })
            .collect();
        out.set_path(&cleaned.join("/"));
    }
    if let Some(query) = out.query() {
        let mut pairs: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| !is_session_param(p.split('=').next().unwrap_or("")))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        if pairs.is_empty() {
            out.set_query(None);
        } else {
            let joined = pairs.join("&");
            out.set_query(Some(&joined));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        canonicalize(&Url::parse(s).unwrap()).unwrap().to_string()
    }

    #[test]
    fn case_ports_dots_and_fragments() {
        assert_eq!(
            canon("HTTP://Example.CN:80/a/./b/../c#top"),
            "http://example.cn/a/c"
        );
        assert_eq!(canon("https://example.cn:443/"), "https://example.cn/");
        assert_eq!(
            canon("https://example.cn:8443/x"),
            "https://example.cn:8443/x"
        );
    }

    #[test]
    fn queries_are_sorted_and_session_ids_stripped() {
        assert_eq!(
            canon("http://a.cn/p?b=2&a=1"),
            canon("http://a.cn/p?a=1&b=2")
        );
        assert_eq!(
            canon("http://a.cn/p?a=1&PHPSESSID=abc&utm_source=x"),
            "http://a.cn/p?a=1"
        );
        assert_eq!(canon("http://a.cn/p?sid=1"), "http://a.cn/p");
        assert_eq!(
            canon("http://a.cn/p;jsessionid=ABC123?x=1"),
            "http://a.cn/p?x=1"
        );
        assert_eq!(canon("http://a.cn/p?a=1&a=1"), "http://a.cn/p?a=1");
    }

    #[test]
    fn only_web_urls() {
        assert!(canonicalize(&Url::parse("mailto:a@b.cn").unwrap()).is_none());
        assert!(canonicalize(&Url::parse("javascript:void(0)").unwrap()).is_none());
        assert!(canonicalize(&Url::parse("ftp://a.cn/x").unwrap()).is_none());
    }
}
