//! Redirect targets: `<meta http-equiv="refresh">` content and JS `location` assignments.

use std::sync::LazyLock;

use regex::Regex;

/// Parse a meta refresh `content` value: `5`, `0;url=http://x`, `0; URL='x'`, `0,url = x`,
/// `3;http://x`. Returns the delay (seconds, fractional part dropped) and the target, or
/// `None` when there is no target (a plain reload).
pub(crate) fn parse_meta_refresh(content: &str) -> Option<(Option<u32>, String)> {
    let s = content.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let digits_end = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let delay = s[..digits_end]
        .split('.')
        .next()
        .and_then(|d| d.parse::<u64>().ok())
        .map(|d| u32::try_from(d).unwrap_or(u32::MAX));
    let mut rest = s[digits_end..].trim_start_matches(|c: char| c.is_ascii_whitespace());
    if let Some(r) = rest.strip_prefix([';', ',']) {
        rest = r.trim_start_matches(|c: char| c.is_ascii_whitespace());
    }
    if rest.len() >= 3 && rest.is_char_boundary(3) && rest[..3].eq_ignore_ascii_case("url") {
        let after = rest[3..].trim_start_matches(|c: char| c.is_ascii_whitespace());
        if let Some(after) = after.strip_prefix('=') {
            rest = after.trim_start_matches(|c: char| c.is_ascii_whitespace());
        }
    }
    let target = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let inner = &rest[1..];
            inner.find(q).map_or(inner, |end| &inner[..end])
        }
        _ => rest,
    };
    let target = target.trim();
    if target.is_empty() {
        None
    } else {
        Some((delay, target.to_owned()))
    }
}

static JS_LOCATION: LazyLock<Regex> = LazyLock::new(|| {
    // A string literal in any of the three quotes, with backslash escapes.
    let lit = r#"(?:"((?:[^"\\\r\n]|\\.)*)"|'((?:[^'\\\r\n]|\\.)*)'|`((?:[^`\\]|\\.)*)`)"#;
    Regex::new(&format!(
        r#"\blocation(?:\s*\.\s*href|\s*\[\s*["']href["']\s*\])?\s*=\s*{lit}|\blocation\s*\.\s*(?:replace|assign)\s*\(\s*{lit}"#
    ))
    .expect("valid regex")
});

/// Undo JS string escapes (`\/`, `\x41`, `\u0041`, `\u{41}`, `\'`, ...).
fn unescape_js(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('x') => {
                let h: String = chars.by_ref().take(2).collect();
                match u32::from_str_radix(&h, 16).ok().and_then(char::from_u32) {
                    Some(c) if h.len() == 2 => out.push(c),
                    _ => out.push_str(&h),
                }
            }
            Some('u') => {
                let hex: String = if chars.peek() == Some(&'{') {
                    chars.next();
                    chars.by_ref().take_while(|&c| c != '}').take(8).collect()
                } else {
                    chars.by_ref().take(4).collect()
                };
                if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    out.push(c);
                }
            }
            Some('n' | 'r' | 't') => {}
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The string-literal targets of `location` assignments and `location.replace/assign` calls.
pub(crate) fn js_location_targets(js: &str) -> Vec<String> {
    if !js.contains("location") {
        return Vec::new();
    }
    JS_LOCATION
        .captures_iter(js)
        .filter_map(|caps| {
            let m = (1..caps.len()).find_map(|i| caps.get(i))?;
            let target = unescape_js(m.as_str());
            let target = target.trim();
            (!target.is_empty()).then(|| target.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_refresh_variants() {
        let t = |s| parse_meta_refresh(s);
        assert_eq!(
            t("0;url=http://a.cn"),
            Some((Some(0), "http://a.cn".into()))
        );
        assert_eq!(
            t("0; URL=http://a.cn"),
            Some((Some(0), "http://a.cn".into()))
        );
        assert_eq!(t(" 5 ; url = 'b.html' "), Some((Some(5), "b.html".into())));
        assert_eq!(t("3,Url=\"c.html\"x"), Some((Some(3), "c.html".into())));
        assert_eq!(t("1;http://d.cn/"), Some((Some(1), "http://d.cn/".into())));
        assert_eq!(t("0.5;url=e"), Some((Some(0), "e".into())));
        assert_eq!(t("url=f"), Some((None, "f".into())));
        assert_eq!(t("10"), None);
        assert_eq!(t("0;url="), None);
        assert_eq!(t(""), None);
        assert_eq!(t("0;u"), Some((Some(0), "u".into())));
        assert_eq!(t("0;ur\u{e9}"), Some((Some(0), "ur\u{e9}".into())));
    }

    #[test]
    fn js_locations() {
        let js = r##"
            location.href = "http://a.cn/1";
            window.location='http://a.cn/2';
            top.location.href = "http://a.cn/3"; self.location="/4";
            document.location . href = `http://a.cn/5`;
            location.replace("http://a.cn/6"); window.location.assign( 'http://a.cn/7' );
            window.location["href"] = "http://a.cn/8";
            if (location.href == "http://no.cn/") {}
            mylocation = "http://no.cn/2"; location.hash = "#no";
            location.href = url; location.href="http:\/\/a.cn\/9\x2f";
        "##;
        let got = js_location_targets(js);
        let want: Vec<String> = [
            "http://a.cn/1",
            "http://a.cn/2",
            "http://a.cn/3",
            "/4",
            "http://a.cn/5",
            "http://a.cn/6",
            "http://a.cn/7",
            "http://a.cn/8",
            "http://a.cn/9/",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn unescape() {
        assert_eq!(unescape_js(r"a\u8d4c\u{535a}\'\\\x"), "a赌博'\\");
        assert_eq!(unescape_js(r"\x4"), "4");
    }
}
