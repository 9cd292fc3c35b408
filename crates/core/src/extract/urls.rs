//! URL resolution and the display form used in zones.
//!
//! URLs are resolved with the `url` crate and then shown the way a browser's address bar
//! shows them, so that words in URLs stay matchable: percent-escaped UTF-8 that decodes to
//! printable non-ASCII text is decoded (`/%E8%B5%8C` → `/赌`), and punycode host labels are
//! shown in Unicode (`xn--...` → `赌场.com`). ASCII escapes (`%20`, `%2F`) are kept.
//! `Url::parse` of the display form gives back the same URL.

use url::Url;

/// Strip what browsers strip from a URL attribute: leading/trailing C0 controls and spaces,
/// and every tab and newline inside (`java\nscript:` is `javascript:`). Remaining spaces are
/// escaped as `%20` so that a URL is always one whitespace-free token.
pub(crate) fn clean(raw: &str) -> String {
    // Fast path: printable ASCII only, nothing to strip or escape.
    if raw.bytes().all(|b| b > b' ' && b < 0x7f) {
        return raw.to_owned();
    }
    let trimmed = raw.trim_matches(|c: char| c <= ' ');
    let mut out = String::with_capacity(trimmed.len());
    for c in trimmed.chars() {
        match c {
            '\t' | '\n' | '\r' => {}
            c if c.is_whitespace() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The scheme of an absolute URL reference, lower-cased.
fn scheme(s: &str) -> Option<String> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    Some(scheme.to_ascii_lowercase())
}

/// Resolve a URL attribute against the base. Non-web schemes (`javascript:`, `mailto:`,
/// `data:`, `tel:`, ...) and references that cannot be resolved are kept as written (after
/// [`clean`]). An empty reference resolves to the base itself, or stays empty.
pub(crate) fn resolve(raw: &str, base: Option<&Url>) -> String {
    let cleaned = clean(raw);
    if let Some(s) = scheme(&cleaned)
        && !matches!(s.as_str(), "http" | "https" | "ftp" | "ws" | "wss" | "file")
    {
        return cleaned;
    }
    let parsed = match base {
        Some(base) => base.join(&cleaned),
        None => Url::parse(&cleaned),
    };
    match parsed {
        Ok(url) => display(&url),
        Err(_) => cleaned,
    }
}

/// Parse an absolute URL (or resolve against `base`) to a `Url`, for the document base.
pub(crate) fn parse_with_base(raw: &str, base: Option<&Url>) -> Option<Url> {
    let cleaned = clean(raw);
    match base {
        Some(base) => base.join(&cleaned).ok(),
        None => Url::parse(&cleaned).ok(),
    }
}

/// The display form of a URL (see the module docs).
pub(crate) fn display(url: &Url) -> String {
    let s = url.as_str();
    let host = match url.host_str() {
        Some(h) if h.split('.').any(|l| l.starts_with("xn--")) => Some(h),
        _ => None,
    };
    match host.and_then(unicode_host) {
        Some(uhost) => {
            let start = &url[..url::Position::BeforeHost];
            let end = &url[url::Position::AfterHost..];
            percent_decode_display(&format!("{start}{uhost}{end}"))
        }
        None => percent_decode_display(s),
    }
}

/// A character that is safe to show decoded in a one-line URL.
fn printable(c: char) -> bool {
    !c.is_ascii()
        && !c.is_whitespace()
        && !c.is_control()
        && !matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{fff0}'..='\u{ffff}')
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decode runs of `%XX` escapes of non-ASCII bytes when they form printable UTF-8.
fn percent_decode_display(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut lit_start = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        // Collect a run of %XX escapes of bytes >= 0x80.
        let run_start = i;
        let mut bytes = Vec::new();
        while i + 2 < b.len() && b[i] == b'%' {
            match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) if h >= 8 => {
                    bytes.push(h * 16 + l);
                    i += 3;
                }
                _ => break,
            }
        }
        if bytes.is_empty() {
            i = run_start + 1;
            continue;
        }
        out.push_str(&s[lit_start..run_start]);
        // Decode the longest valid prefixes; keep invalid or unprintable parts escaped.
        let mut pos = 0;
        while pos < bytes.len() {
            let (valid, rest_err) = match std::str::from_utf8(&bytes[pos..]) {
                Ok(v) => (v, None),
                Err(e) => (
                    std::str::from_utf8(&bytes[pos..pos + e.valid_up_to()]).unwrap_or(""),
                    Some(e.error_len().unwrap_or(bytes.len() - pos - e.valid_up_to())),
                ),
            };
            for c in valid.chars() {
                if printable(c) {
                    out.push(c);
                } else {
                    let mut buf = [0u8; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("%{byte:02X}"));
                    }
                }
            }
            pos += valid.len();
            if let Some(bad) = rest_err {
                for byte in &bytes[pos..pos + bad] {
                    out.push_str(&format!("%{byte:02X}"));
                }
                pos += bad;
            }
        }
        lit_start = i;
    }
    out.push_str(&s[lit_start..]);
    out
}

/// `xn--` labels decoded to Unicode; `None` if any label is not valid punycode.
fn unicode_host(host: &str) -> Option<String> {
    let mut labels = Vec::new();
    for label in host.split('.') {
        match label.strip_prefix("xn--") {
            Some(puny) => {
                let decoded = punycode_decode(puny)?;
                if !decoded
                    .chars()
                    .all(|c| printable(c) || c.is_ascii_graphic())
                {
                    return None;
                }
                labels.push(decoded);
            }
            None => labels.push(label.to_owned()),
        }
    }
    Some(labels.join("."))
}

/// RFC 3492 punycode decoding.
fn punycode_decode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    fn adapt(mut delta: u32, num_points: u32, first: bool) -> u32 {
        delta /= if first { DAMP } else { 2 };
        delta += delta / num_points;
        let mut k = 0;
        while delta > ((BASE - TMIN) * TMAX) / 2 {
            delta /= BASE - TMIN;
            k += BASE;
        }
        k + (((BASE - TMIN + 1) * delta) / (delta + SKEW))
    }
    if !input.is_ascii() || input.len() > 255 {
        return None;
    }
    let (basic, encoded) = match input.rfind('-') {
        Some(pos) => (&input[..pos], &input[pos + 1..]),
        None => ("", input),
    };
    let mut output: Vec<char> = basic.chars().collect();
    let mut n: u32 = 128;
    let mut i: u32 = 0;
    let mut bias: u32 = 72;
    let mut it = encoded.bytes().peekable();
    while it.peek().is_some() {
        let old_i = i;
        let mut w: u32 = 1;
        let mut k = BASE;
        loop {
            let byte = it.next()?;
            let digit = match byte {
                b'a'..=b'z' => byte - b'a',
                b'A'..=b'Z' => byte - b'A',
                b'0'..=b'9' => byte - b'0' + 26,
                _ => return None,
            } as u32;
            i = i.checked_add(digit.checked_mul(w)?)?;
            let t = if k <= bias {
                TMIN
            } else if k >= bias + TMAX {
                TMAX
            } else {
                k - bias
            };
            if digit < t {
                break;
            }
            w = w.checked_mul(BASE - t)?;
            k += BASE;
        }
        let len = output.len() as u32 + 1;
        bias = adapt(i - old_i, len, old_i == 0);
        n = n.checked_add(i / len)?;
        i %= len;
        output.insert(i as usize, char::from_u32(n)?);
        i += 1;
    }
    Some(output.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn resolves_relative_against_base() {
        let b = base("http://example.com/a/b.html");
        assert_eq!(resolve("c.html", Some(&b)), "http://example.com/a/c.html");
        assert_eq!(resolve("/x?q=1", Some(&b)), "http://example.com/x?q=1");
        assert_eq!(resolve("//cdn.net/j.js", Some(&b)), "http://cdn.net/j.js");
        assert_eq!(resolve("", Some(&b)), "http://example.com/a/b.html");
        assert_eq!(resolve("HTTP://Other.COM", Some(&b)), "http://other.com/");
    }

    #[test]
    fn keeps_what_cannot_be_resolved() {
        assert_eq!(resolve(" c.html ", None), "c.html");
        assert_eq!(resolve("javascript:void(0)", None), "javascript:void(0)");
        let b = base("http://example.com/");
        assert_eq!(
            resolve("java\nscript:alert(1)", Some(&b)),
            "javascript:alert(1)"
        );
        assert_eq!(resolve("mailto:a@b.cn", Some(&b)), "mailto:a@b.cn");
        assert_eq!(resolve("http://[::1", Some(&b)), "http://[::1");
        assert_eq!(resolve("a b.html", None), "a%20b.html");
        assert_eq!(resolve("", None), "");
    }

    #[test]
    fn display_form_decodes_non_ascii() {
        let b = base("http://example.com/");
        assert_eq!(
            resolve("/赌博.html", Some(&b)),
            "http://example.com/赌博.html"
        );
        assert_eq!(
            resolve("/a%20b/%E8%B5%8C?x=%2F", Some(&b)),
            "http://example.com/a%20b/赌?x=%2F"
        );
        // Invalid UTF-8 and unprintable characters stay escaped.
        assert_eq!(resolve("/%E8%B5", Some(&b)), "http://example.com/%E8%B5");
        assert_eq!(
            resolve("/%E2%80%AEx", Some(&b)),
            "http://example.com/%E2%80%AEx"
        );
        assert_eq!(resolve("/%C2%A0", Some(&b)), "http://example.com/%C2%A0");
        assert_eq!(resolve("http://赌场.com/", None), "http://赌场.com/");
        assert_eq!(
            resolve("http://xn--xn--bad.com/", None),
            "http://xn--xn--bad.com/"
        );
    }

    #[test]
    fn punycode() {
        let u = Url::parse("http://赌场网.com/").unwrap();
        let label = u.host_str().unwrap().split('.').next().unwrap();
        assert!(label.starts_with("xn--"), "{label}");
        assert_eq!(punycode_decode(&label[4..]).as_deref(), Some("赌场网"));
        assert_eq!(punycode_decode("bcher-kva").as_deref(), Some("bücher"));
        assert_eq!(punycode_decode("!!"), None);
        assert_eq!(punycode_decode("99999999999999"), None);
    }
}
