//! Finding charset declarations: the HTTP `Content-Type` header, `<meta>` in the document
//! head, and the XML declaration.
//!
//! The `<meta>` scan follows the WHATWG "prescan a byte stream to determine its encoding"
//! algorithm (comments are skipped, attributes are tokenized the way a browser would, the
//! `http-equiv`/`content` pair needs both halves), because a page that renders correctly in a
//! browser should decode the same way here. Two deliberate differences:
//!
//! * the window is [`PRESCAN_LIMIT`] = 4096 bytes instead of 1024. Chinese CMS templates often
//!   put long comment banners, scripts or `<title>`/keywords before the charset `<meta>`; in
//!   the pages-zh corpus 5 of the 56 `<meta>` declarations end after byte 1024 (the latest at
//!   byte 1974). Browsers catch late declarations by reloading; we get one pass, so we look
//!   further. The cost is a `memchr` scan of 4 KiB.
//! * labels that are not on the WHATWG list are kept (reported as declarations with no
//!   encoding) instead of being silently skipped, so the report shows what the page claimed.

use super::{DecidedBy, Declaration, encoding_name};
use encoding_rs::{Encoding, REPLACEMENT, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED};

/// How many bytes of the document are searched for `<meta>` and the XML declaration. See the
/// module documentation for why this is larger than the 1024 bytes of the HTML spec.
pub const PRESCAN_LIMIT: usize = 4096;

/// A `<meta>` tag that starts inside the window may end after it; attributes are read up to
/// this many bytes past the window so that such a tag is not cut in half.
const TAG_OVERHANG: usize = 1024;

/// At most this many unknown `<meta>` labels are recorded before a known one; a hostile page
/// could otherwise fill the report with thousands of bogus declarations.
const MAX_UNKNOWN_META: usize = 4;

fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

fn starts_with_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from >= hay.len() {
        return None;
    }
    memchr::memmem::find(&hay[from..], needle).map(|i| i + from)
}

/// The value of the `charset` parameter of an HTTP `Content-Type` header value
/// (`text/html; charset="gb2312"` → `gb2312`), as written.
pub fn charset_from_content_type(value: &str) -> Option<&str> {
    let label = extract_charset(value.as_bytes())?;
    // `extract_charset` only splits at ASCII bytes, so the slice is on char boundaries.
    std::str::from_utf8(label).ok()
}

/// WHATWG "extract a character encoding from a meta element", which is also a fair parser for
/// the `charset` parameter of a `Content-Type` header value.
pub(crate) fn extract_charset(s: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    loop {
        // Case-insensitive search for "charset".
        let rel = s
            .get(pos..)?
            .windows(7)
            .position(|w| w.eq_ignore_ascii_case(b"charset"))?;
        pos += rel + 7;
        while pos < s.len() && is_space(s[pos]) {
            pos += 1;
        }
        if s.get(pos) == Some(&b'=') {
            pos += 1;
            break;
        }
    }
    while pos < s.len() && is_space(s[pos]) {
        pos += 1;
    }
    match s.get(pos)? {
        &q @ (b'"' | b'\'') => {
            let start = pos + 1;
            let len = s.get(start..)?.iter().position(|&b| b == q)?;
            Some(&s[start..start + len])
        }
        _ => {
            let len = s[pos..]
                .iter()
                .position(|&b| is_space(b) || b == b';')
                .unwrap_or(s.len() - pos);
            Some(&s[pos..pos + len])
        }
    }
}

/// One attribute as the prescan tokenizer sees it: raw name and raw value slices.
struct Attr<'a> {
    name: &'a [u8],
    value: &'a [u8],
}

/// WHATWG "get an attribute". Returns `None` at `>` or at the end of `s`; `pos` is left after
/// the attribute.
fn get_attribute<'a>(s: &'a [u8], pos: &mut usize) -> Option<Attr<'a>> {
    while *pos < s.len() && (is_space(s[*pos]) || s[*pos] == b'/') {
        *pos += 1;
    }
    if *pos >= s.len() || s[*pos] == b'>' {
        return None;
    }
    let name_start = *pos;
    // Name: up to `=` (not as first byte), whitespace, `/` or `>`.
    loop {
        let b = *s.get(*pos)?;
        if b == b'=' && *pos > name_start {
            break;
        }
        if is_space(b) || b == b'/' || b == b'>' {
            break;
        }
        *pos += 1;
    }
    let name = &s[name_start..*pos];
    while *pos < s.len() && is_space(s[*pos]) {
        *pos += 1;
    }
    if s.get(*pos) != Some(&b'=') {
        return Some(Attr { name, value: &[] });
    }
    *pos += 1;
    while *pos < s.len() && is_space(s[*pos]) {
        *pos += 1;
    }
    match *s.get(*pos)? {
        q @ (b'"' | b'\'') => {
            let start = *pos + 1;
            let len = s.get(start..)?.iter().position(|&b| b == q)?;
            *pos = start + len + 1;
            Some(Attr {
                name,
                value: &s[start..start + len],
            })
        }
        b'>' => Some(Attr { name, value: &[] }),
        _ => {
            let start = *pos;
            while *pos < s.len() && !is_space(s[*pos]) && s[*pos] != b'>' {
                *pos += 1;
            }
            Some(Attr {
                name,
                value: &s[start..*pos],
            })
        }
    }
}

/// The charset label of one `<meta>` tag whose attributes start at `pos`, per the WHATWG
/// rules: `charset=` wins on its own; `content=` counts only with
/// `http-equiv="content-type"`; duplicate attributes are ignored.
fn meta_label<'a>(s: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let mut seen: [&[u8]; 16] = [&[]; 16];
    let mut n_seen = 0usize;
    let mut got_pragma = false;
    let mut need_pragma: Option<bool> = None;
    let mut charset: Option<&[u8]> = None;
    while let Some(attr) = get_attribute(s, pos) {
        if seen[..n_seen]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(attr.name))
        {
            continue;
        }
        if n_seen < seen.len() {
            seen[n_seen] = attr.name;
            n_seen += 1;
        }
        if attr.name.eq_ignore_ascii_case(b"http-equiv") {
            if attr.value.eq_ignore_ascii_case(b"content-type") {
                got_pragma = true;
            }
        } else if attr.name.eq_ignore_ascii_case(b"content") {
            if charset.is_none()
                && let Some(c) = extract_charset(attr.value)
            {
                charset = Some(c);
                need_pragma = Some(true);
            }
        } else if attr.name.eq_ignore_ascii_case(b"charset") {
            charset = Some(attr.value);
            need_pragma = Some(false);
        }
    }
    match need_pragma {
        None => None,
        Some(true) if !got_pragma => None,
        _ => charset.filter(|c| !trim_label(c).is_empty()),
    }
}

/// Every `<meta>` charset label in the first [`PRESCAN_LIMIT`] bytes, in document order, up
/// to and including the first one that names a known encoding.
pub(crate) fn meta_labels(bytes: &[u8]) -> Vec<&[u8]> {
    let limit = bytes.len().min(PRESCAN_LIMIT);
    let s = &bytes[..bytes.len().min(PRESCAN_LIMIT + TAG_OVERHANG)];
    let mut out = Vec::new();
    let mut unknown = 0usize;
    let mut pos = 0usize;
    while pos < limit {
        let Some(rel) = memchr::memchr(b'<', &s[pos..limit]) else {
            break;
        };
        pos += rel;
        let rest = &s[pos..];
        if rest.starts_with(b"<!--") {
            // The `-->` may share its dashes with the `<!--` (`<!-->` is a whole comment).
            match find(s, b"-->", pos + 2) {
                Some(end) => pos = end + 3,
                None => break,
            }
        } else if starts_with_ignore_case(rest, b"<meta")
            && rest.get(5).is_some_and(|&b| is_space(b) || b == b'/')
        {
            pos += 6;
            if let Some(label) = meta_label(s, &mut pos) {
                let known = resolve_label(label).is_some();
                if known || unknown < MAX_UNKNOWN_META {
                    out.push(label);
                }
                if known {
                    break;
                }
                unknown += 1;
            }
        } else if rest.len() >= 2
            && (rest[1].is_ascii_alphabetic()
                || (rest[1] == b'/' && rest.get(2).is_some_and(|b| b.is_ascii_alphabetic())))
        {
            // Some other tag: skip its name and attributes so that `<` or `<meta` inside an
            // attribute value is not mistaken for a tag.
            while pos < s.len() && !is_space(s[pos]) && s[pos] != b'>' {
                pos += 1;
            }
            while get_attribute(s, &mut pos).is_some() {}
            pos += 1;
        } else if rest.starts_with(b"<!") || rest.starts_with(b"</") || rest.starts_with(b"<?") {
            match memchr::memchr(b'>', &s[pos..]) {
                Some(i) => pos += i + 1,
                None => break,
            }
        } else {
            pos += 1;
        }
    }
    out
}

/// The `encoding` of an XML declaration (`<?xml version="1.0" encoding="gb2312"?>`) at the
/// start of the document. Leading whitespace is tolerated: feeds generated by templates often
/// start with a newline, and XML parsers in the wild accept it.
pub(crate) fn xml_encoding(bytes: &[u8]) -> Option<&[u8]> {
    let start = bytes
        .iter()
        .take(PRESCAN_LIMIT)
        .position(|&b| !is_space(b))?;
    let s = &bytes[start..bytes.len().min(start + PRESCAN_LIMIT)];
    if !s.starts_with(b"<?xml") || !s.get(5).is_some_and(|&b| is_space(b)) {
        return None;
    }
    let end = find(s, b"?>", 5)?;
    let decl = &s[..end];
    let mut pos = 5;
    loop {
        let rel = decl
            .get(pos..)?
            .windows(8)
            .position(|w| w.eq_ignore_ascii_case(b"encoding"))?;
        pos += rel + 8;
        while pos < decl.len() && is_space(decl[pos]) {
            pos += 1;
        }
        if decl.get(pos) == Some(&b'=') {
            pos += 1;
            break;
        }
    }
    while pos < decl.len() && is_space(decl[pos]) {
        pos += 1;
    }
    let q = *decl.get(pos)?;
    if q != b'"' && q != b'\'' {
        return None;
    }
    let len = decl[pos + 1..].iter().position(|&b| b == q)?;
    let label = &decl[pos + 1..pos + 1 + len];
    (!trim_label(label).is_empty()).then_some(label)
}

/// Strip what sloppy pages wrap labels in: whitespace, quotes, and a trailing `;` or `,`.
fn trim_label(label: &[u8]) -> &[u8] {
    let is_junk = |b: &u8| is_space(*b) || matches!(b, b'"' | b'\'' | b';' | b',');
    let start = label
        .iter()
        .position(|b| !is_junk(b))
        .unwrap_or(label.len());
    let end = label
        .iter()
        .rposition(|b| !is_junk(b))
        .map_or(start, |i| i + 1);
    &label[start..end]
}

/// Map a charset label to an encoding: the WHATWG label table first (it already covers case,
/// surrounding whitespace and aliases such as `gb2312`, `x-gbk`, `utf8`, `x-sjis`), then a
/// few misspellings and vendor names (`gb-2312`, `utf_8`, `cp936`, `big-5`, `MacCyrillic`...), which
/// browsers would ignore but which state the author's intent unambiguously.
///
/// GBK and GB2312 resolve to GB18030: GB18030 is a superset, and the WHATWG GBK decoder is
/// the GB18030 decoder anyway, so nothing decodes differently; reporting one name keeps the
/// report stable.
pub fn resolve_label(label: &[u8]) -> Option<&'static Encoding> {
    let label = trim_label(label);
    if label.is_empty() || label.len() > 64 {
        return None;
    }
    let encoding = Encoding::for_label(label).or_else(|| {
        let mut norm = [0u8; 64];
        let mut n = 0;
        for &b in label {
            if b.is_ascii_alphanumeric() {
                norm[n] = b.to_ascii_lowercase();
                n += 1;
            }
        }
        match &norm[..n] {
            b"gb2312" | b"gbk" | b"gb18030" | b"cp936" | b"ms936" | b"windows936" | b"euccn"
            | b"xeuccn" | b"gb231280" => Some(encoding_rs::GB18030),
            b"big5" | b"big5hkscs" | b"cp950" | b"ms950" | b"windows950" => Some(encoding_rs::BIG5),
            b"utf8" => Some(UTF_8),
            b"shiftjis" | b"sjis" | b"cp932" | b"ms932" | b"windows932" => {
                Some(encoding_rs::SHIFT_JIS)
            }
            b"eucjp" => Some(encoding_rs::EUC_JP),
            b"euckr" | b"cp949" | b"ms949" | b"uhc" => Some(encoding_rs::EUC_KR),
            b"iso88591" | b"latin1" => Some(WINDOWS_1252),
            // Apple names (IANA-registered, not WHATWG labels), common in old feeds.
            b"maccyrillic" => Some(encoding_rs::X_MAC_CYRILLIC),
            b"macroman" => Some(encoding_rs::MACINTOSH),
            _ => None,
        }
    })?;
    Some(if encoding == encoding_rs::GBK {
        encoding_rs::GB18030
    } else {
        encoding
    })
}

/// The encoding a label found *inside the document* stands for, per the HTML spec: the
/// prescan read it as ASCII, so a `utf-16` label cannot be true and means UTF-8, and
/// `x-user-defined` means windows-1252.
fn in_document(encoding: &'static Encoding) -> &'static Encoding {
    if encoding == UTF_16LE || encoding == UTF_16BE {
        UTF_8
    } else if encoding == X_USER_DEFINED {
        WINDOWS_1252
    } else {
        encoding
    }
}

/// A declaration plus the encoding it resolves to, for the decision code.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub declaration: Declaration,
    pub encoding: Option<&'static Encoding>,
}

fn found(source: DecidedBy, label: &[u8], encoding: Option<&'static Encoding>) -> Found {
    Found {
        declaration: Declaration {
            source,
            label: String::from_utf8_lossy(trim_label(label)).into_owned(),
            encoding: encoding.map(encoding_name),
        },
        encoding,
    }
}

/// All declarations, highest precedence first: the HTTP header, then the XML declaration,
/// then `<meta>`.
///
/// The XML declaration ranks above `<meta>` (the HTML spec, which knows only `<meta>`, would
/// put it below) because it can only be at the very start of the document, where it is the
/// document's own statement about itself. A `<meta>` in an XML feed is usually inside a CDATA
/// item body pasted from some other page. In XHTML pages both normally agree.
pub(crate) fn declarations(bytes: &[u8], content_type: Option<&str>) -> Vec<Found> {
    let mut out = Vec::new();
    if let Some(label) = content_type.and_then(|ct| extract_charset(ct.as_bytes())) {
        out.push(found(DecidedBy::HttpHeader, label, resolve_label(label)));
    }
    if let Some(label) = xml_encoding(bytes) {
        out.push(found(
            DecidedBy::XmlDeclaration,
            label,
            resolve_label(label).map(in_document),
        ));
    }
    for label in meta_labels(bytes) {
        out.push(found(
            DecidedBy::Meta,
            label,
            resolve_label(label).map(in_document),
        ));
    }
    out
}

/// Whether an encoding can be used to decode at all. The WHATWG "replacement" encoding
/// (labels `iso-2022-kr`, `hz-gb-2312`, `iso-2022-cn`...) turns the whole document into one
/// U+FFFD, which protects browsers from script injection but would blind a scanner.
pub(crate) fn usable(encoding: &'static Encoding) -> bool {
    encoding != REPLACEMENT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(s: &str) -> Vec<String> {
        meta_labels(s.as_bytes())
            .into_iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }

    #[test]
    fn meta_charset_forms() {
        assert_eq!(meta("<meta charset=gbk>"), ["gbk"]);
        assert_eq!(meta("<META CHARSET=\"GB2312\" />"), ["GB2312"]);
        assert_eq!(
            meta("<meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\">"),
            ["gb2312"]
        );
        // Attribute order does not matter.
        assert_eq!(
            meta("<meta content='text/html; charset=big5' http-equiv='content-type'>"),
            ["big5"]
        );
        // content= without the http-equiv pragma is not a declaration.
        assert!(meta("<meta content=\"text/html; charset=gbk\">").is_empty());
        assert!(meta("<meta name=description content=\"charset=gbk\">").is_empty());
    }

    #[test]
    fn meta_in_comment_or_attribute_is_ignored() {
        assert!(meta("<!-- <meta charset=gbk> --><p>").is_empty());
        assert_eq!(meta("<!--> <meta charset=big5>"), ["big5"]);
        assert!(meta("<a title='<meta charset=gbk>'>").is_empty());
    }

    #[test]
    fn meta_after_1024_bytes_is_found_but_not_after_window() {
        let late = format!("{}<meta charset=gbk>", " ".repeat(3000));
        assert_eq!(meta(&late), ["gbk"]);
        let too_late = format!("{}<meta charset=gbk>", " ".repeat(PRESCAN_LIMIT));
        assert!(meta(&too_late).is_empty());
    }

    #[test]
    fn unknown_labels_are_kept_until_a_known_one() {
        assert_eq!(
            meta("<meta charset=klingon><meta charset=utf-8><meta charset=gbk>"),
            ["klingon", "utf-8"]
        );
    }

    #[test]
    fn extract_charset_variants() {
        assert_eq!(
            extract_charset(b"text/html; charset=\"gb2312\""),
            Some(&b"gb2312"[..])
        );
        assert_eq!(
            extract_charset(b"text/html;charset = utf-8 ;x"),
            Some(&b"utf-8"[..])
        );
        assert_eq!(
            extract_charset(b"text/html; CHARSET='big5'"),
            Some(&b"big5"[..])
        );
        assert_eq!(extract_charset(b"text/html; charset=\"gbk"), None);
        assert_eq!(extract_charset(b"text/html"), None);
        assert_eq!(
            charset_from_content_type("text/html; charset=GBK"),
            Some("GBK")
        );
    }

    #[test]
    fn xml_declaration() {
        assert_eq!(
            xml_encoding(b"<?xml version=\"1.0\" encoding=\"GB2312\"?><rss/>"),
            Some(&b"GB2312"[..])
        );
        assert_eq!(
            xml_encoding(b"\r\n<?xml version='1.0' encoding = 'big5' ?>"),
            Some(&b"big5"[..])
        );
        assert_eq!(xml_encoding(b"<?xml version=\"1.0\"?>"), None);
        assert_eq!(xml_encoding(b"<p><?xml encoding=\"gbk\"?>"), None);
        assert_eq!(xml_encoding(b"<?xml encoding=\"gbk\""), None);
    }

    #[test]
    fn labels_resolve() {
        assert_eq!(resolve_label(b" \"GB2312\" "), Some(encoding_rs::GB18030));
        assert_eq!(resolve_label(b"gbk;"), Some(encoding_rs::GB18030));
        assert_eq!(resolve_label(b"GB_2312"), Some(encoding_rs::GB18030));
        assert_eq!(resolve_label(b"UTF8"), Some(UTF_8));
        assert_eq!(resolve_label(b"utf_8"), Some(UTF_8));
        assert_eq!(resolve_label(b"big-5"), Some(encoding_rs::BIG5));
        assert_eq!(resolve_label(b"iso-8859-1"), Some(WINDOWS_1252));
        assert_eq!(resolve_label(b"iso-2022-kr"), Some(REPLACEMENT));
        assert_eq!(
            resolve_label(b"MacCyrillic"),
            Some(encoding_rs::X_MAC_CYRILLIC)
        );
        assert_eq!(resolve_label(b"klingon"), None);
        assert_eq!(resolve_label(b""), None);
        assert_eq!(in_document(UTF_16LE), UTF_8);
    }

    #[test]
    fn truncated_and_hostile_markup_does_not_panic() {
        for s in [
            "<",
            "<m",
            "<meta",
            "<meta ",
            "<meta charset",
            "<meta charset=",
            "<meta charset='",
            "<meta content=\"",
            "<!--",
            "<!",
            "</",
            "<?",
            "<a b='",
            "<a b=",
            "<meta =x",
            "<?xml ",
            "<?xml encoding=",
            "<?xml encoding='x?>",
        ] {
            let _ = meta_labels(s.as_bytes());
            let _ = xml_encoding(s.as_bytes());
        }
        let many = "<meta charset=bogus>".repeat(1000);
        assert_eq!(meta_labels(many.as_bytes()).len(), MAX_UNKNOWN_META);
    }
}
