//! Hosts and registrable domains.
//!
//! Several checks ask "is this the same site?": a crawl's scope, a form that posts its password
//! elsewhere, an iframe to a foreign host, a filing that covers `www.example.cn` and
//! `example.cn` alike. The answer is the registrable domain (eTLD+1) from the Public Suffix
//! List, compiled in by the `psl` crate, so `a.example.com.cn` and `b.example.com.cn` are one
//! site while `a.github.io` and `b.github.io` are two.

use std::net::IpAddr;

/// The host of a URL as written on a page (absolute, or scheme-relative `//host/...`):
/// lower case, IDNA (punycode) form, no trailing dot. `None` for relative URLs, non-web schemes
/// and unparsable input.
pub fn host_of(url: &str) -> Option<String> {
    let trimmed = url.trim();
    let parsed = if let Some(rest) = trimmed.strip_prefix("//") {
        url::Url::parse(&format!("http://{rest}")).ok()?
    } else {
        url::Url::parse(trimmed).ok()?
    };
    if !matches!(parsed.scheme(), "http" | "https" | "ws" | "wss" | "ftp") {
        return None;
    }
    let host = parsed
        .host_str()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// Whether `host` is an IP address literal (IPv6 in brackets or not).
pub fn is_ip(host: &str) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok()
}

/// The registrable domain (eTLD+1) of a host: `www.example.com.cn` → `example.com.cn`. An IP
/// address is its own site. `None` for a bare public suffix (`com.cn`) or an empty host.
pub fn registrable_domain(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    if is_ip(&host) {
        return Some(host);
    }
    psl::domain_str(&host).map(str::to_string)
}

/// Whether two hosts belong to the same registrable domain.
pub fn same_site(a: &str, b: &str) -> bool {
    match (registrable_domain(a), registrable_domain(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.eq_ignore_ascii_case(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_urls() {
        assert_eq!(
            host_of("https://WWW.Example.COM./a?b").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(
            host_of("//cdn.example.cn/x.js").as_deref(),
            Some("cdn.example.cn")
        );
        assert_eq!(
            host_of("http://赌场.com/").as_deref(),
            Some("xn--mes317j.com")
        );
        assert_eq!(
            host_of("http://127.0.0.1:8080/").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(host_of("/relative/path"), None);
        assert_eq!(host_of("javascript:void(0)"), None);
        assert_eq!(host_of("mailto:a@b.cn"), None);
        assert_eq!(host_of(""), None);
    }

    #[test]
    fn registrable_domains_follow_the_public_suffix_list() {
        assert_eq!(
            registrable_domain("www.example.com.cn").as_deref(),
            Some("example.com.cn")
        );
        assert_eq!(
            registrable_domain("a.b.example.cn").as_deref(),
            Some("example.cn")
        );
        assert_eq!(
            registrable_domain("user.github.io").as_deref(),
            Some("user.github.io")
        );
        assert_eq!(
            registrable_domain("Example.COM.").as_deref(),
            Some("example.com")
        );
        assert_eq!(registrable_domain("10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(registrable_domain("com.cn"), None);
        assert_eq!(registrable_domain(""), None);
    }

    #[test]
    fn same_site_compares_registrable_domains() {
        assert!(same_site("www.example.cn", "pay.example.cn"));
        assert!(!same_site("a.github.io", "b.github.io"));
        assert!(!same_site("example.cn", "example.com"));
        assert!(same_site("10.0.0.1", "10.0.0.1"));
    }
}
