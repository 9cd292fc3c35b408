//! What inline scripts write into the page, and what their escaped strings say.
//!
//! Hacked pages keep their gambling words out of the raw HTML: `document.write("\u6fb3...")`,
//! `el.innerHTML = String.fromCharCode(28595, ...)`. A browser shows the words; the scanner
//! must see them too. Two outputs:
//! - **written**: the HTML a write sink (`document.write`, `innerHTML`, `outerHTML`,
//!   `insertAdjacentHTML`) is given, decoded. The page shows it: the extractor reads it as a
//!   fragment, and its visible and hidden text join the page's.
//! - **decoded**: every other string a script spells in escapes or builds from character codes
//!   (`\uXXXX`, `\xXX`, `String.fromCharCode`, `unescape("%u...")`), decoded. It joins the
//!   script zone, where the raw escapes were unreadable to the rules.
//!
//! A small lexer, not a JavaScript parser: it reads string literals and the calls above, and
//! is bounded in the script bytes it reads.

use super::redirect::unescape_js;

/// Script bytes read per page: beyond it, a script's strings are not decoded.
const MAX_SCRIPT_BYTES: usize = 512 * 1024;

/// Decoded text kept per page, each output, in bytes.
const MAX_OUT_BYTES: usize = 256 * 1024;

/// The write sinks: the two that start with `d` first, then the three that start with `.`.
const SINKS: [&str; 5] = [
    "document.write(",
    "document.writeln(",
    ".innerHTML",
    ".outerHTML",
    ".insertAdjacentHTML(",
];

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ScriptStrings {
    pub written: String,
    pub decoded: String,
}

/// The written and decoded strings of a page's inline scripts.
pub(crate) fn script_strings<'a>(scripts: impl Iterator<Item = &'a str>) -> ScriptStrings {
    let mut out = ScriptStrings::default();
    let mut budget = MAX_SCRIPT_BYTES;
    for script in scripts {
        if budget == 0 {
            break;
        }
        let script = cut(script, budget);
        budget -= script.len();
        if !might_hide_text(script) {
            continue;
        }
        read_script(script, &mut out);
    }
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Most scripts have neither escapes nor sinks: they are skipped after one scan.
fn might_hide_text(script: &str) -> bool {
    script.contains('\\')
        || script.contains("fromCharCode")
        || script.contains("unescape")
        || script.contains("decodeURI")
        || SINKS.iter().any(|s| script.contains(s))
}

fn read_script(script: &str, out: &mut ScriptStrings) {
    // Only a quote or the first byte of a sink or call can start anything. Each byte's next
    // position is searched with memchr and only again once passed, so the script is read at
    // memchr's pace and never twice.
    const STARTS: [u8; 7] = [b'"', b'\'', b'`', b'.', b'd', b'f', b'u'];
    let bytes = script.as_bytes();
    let find = |byte: u8, from: usize| {
        memchr::memchr(byte, &bytes[from.min(bytes.len())..]).map_or(usize::MAX, |n| from + n)
    };
    let mut next = STARTS.map(|b| find(b, 0));
    let mut i = 0;
    loop {
        for (slot, byte) in next.iter_mut().zip(STARTS) {
            if *slot < i {
                *slot = find(byte, i);
            }
        }
        let at = next.iter().copied().min().unwrap_or(usize::MAX);
        if at >= bytes.len() {
            break;
        }
        i = read_at(script, at, out);
    }
}

/// Whatever starts at `i` (a literal, a sink, a decoding call), read; the index to go on from.
fn read_at(script: &str, i: usize, out: &mut ScriptStrings) -> usize {
    let bytes = script.as_bytes();
    let rest = &bytes[i..];
    let sinks: &[&str] = match bytes[i] {
        b'.' => &SINKS[2..],
        b'd' => &SINKS[..2],
        _ => &[],
    };
    if let Some(sink) = sinks.iter().find(|s| rest.starts_with(s.as_bytes())) {
        let start = i + sink.len();
        let end = expression_end(bytes, start, sink.ends_with('('));
        push(&mut out.written, &strings_of(&script[start..end]));
        return end.max(start);
    }
    match bytes[i] {
        b'"' | b'\'' | b'`' => {
            let end = literal_end(bytes, i);
            let raw = literal_text(script, i, end);
            if raw.contains("\\u") || raw.contains("\\x") {
                push(&mut out.decoded, &unescape_js(raw));
            }
            end
        }
        b'f' if rest.starts_with(b"fromCharCode(") => {
            let start = i + "fromCharCode(".len();
            let end = expression_end(bytes, start, true);
            push(&mut out.decoded, &char_codes(&script[start..end]));
            end
        }
        b'u' | b'd' => match starts_percent_call(rest) {
            Some(len) => {
                let end = expression_end(bytes, i + len, true);
                push(&mut out.decoded, &strings_of(&script[i + len..end]));
                end
            }
            None => i + 1,
        },
        _ => i + 1,
    }
}

/// The length of `unescape(`, `decodeURIComponent(` or `decodeURI(` at the start of `s`.
fn starts_percent_call(s: &[u8]) -> Option<usize> {
    ["unescape(", "decodeURIComponent(", "decodeURI("]
        .iter()
        .find(|call| s.starts_with(call.as_bytes()))
        .map(|call| call.len())
}

/// The text between a literal's quotes (to the end of what there is, when it is unclosed).
fn literal_text(source: &str, start: usize, end: usize) -> &str {
    let quote = source.as_bytes()[start];
    let close = if end > start + 1 && source.as_bytes()[end - 1] == quote {
        end - 1
    } else {
        end
    };
    source.get(start + 1..close).unwrap_or("")
}

/// The length of the UTF-8 character whose first byte is `b`.
fn char_len(b: u8) -> usize {
    match b {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

fn push(out: &mut String, text: &str) {
    let room = MAX_OUT_BYTES.saturating_sub(out.len() + 1);
    let text = cut(text.trim(), room);
    if text.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(text);
}

/// Where the expression starting at `start` ends: the `)` that closes a call (`call`), or
/// the end of an assignment's statement (`;`, a line break or an unmatched `}` at depth 0).
fn expression_end(bytes: &[u8], start: usize, call: bool) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' | b'`' => {
                i = literal_end(bytes, i);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' if depth == 0 => return i,
            b')' | b']' | b'}' => depth -= 1,
            b';' | b'\n' if depth == 0 && !call => return i,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// The index just past the string literal that opens at `start`.
fn literal_end(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            // An escape takes the backslash and the whole character after it.
            b'\\' => i += 1 + bytes.get(i + 1).map_or(0, |b| char_len(*b)),
            b if b == quote => return i + 1,
            // An unclosed '' or "" literal ends at the line; a template may span lines.
            b'\n' if quote != b'`' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The string an expression builds: its literals (unescaped, and percent-decoded when an
/// `unescape` or `decodeURI` call wraps them) and its `String.fromCharCode` calls, in order.
fn strings_of(expr: &str) -> String {
    let bytes = expr.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' | b'`' => {
                let end = literal_end(bytes, i);
                let text = unescape_js(literal_text(expr, i, end));
                let percent = expr[..i].trim_end().trim_end_matches('(').trim_end();
                if percent.ends_with("unescape") || percent.ends_with("decodeURIComponent") {
                    out.push_str(&percent_decode(&text));
                } else {
                    out.push_str(&text);
                }
                i = end;
            }
            _ if bytes[i..].starts_with(b"fromCharCode(") => {
                let start = i + "fromCharCode(".len();
                let end = expression_end(bytes, start, true);
                out.push_str(&char_codes(&expr[start..end]));
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

/// `28595, 0x95e8, 36172` as the characters they code; anything not a number is skipped.
fn char_codes(args: &str) -> String {
    args.split(',')
        .filter_map(|a| {
            let a = a.trim();
            match a.strip_prefix("0x").or_else(|| a.strip_prefix("0X")) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => a.parse::<u32>().ok(),
            }
        })
        .filter_map(char::from_u32)
        .collect()
}

/// `%XX` runs as UTF-8 (what `decodeURIComponent` reads), and `%uXXXX` as one UTF-16 unit
/// (what `unescape` reads); broken escapes stay as they are.
fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut bytes: Vec<u8> = Vec::new();
    let flush = |bytes: &mut Vec<u8>, out: &mut String| {
        out.push_str(&String::from_utf8_lossy(bytes));
        bytes.clear();
    };
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let hex = |from: usize, n: usize| -> Option<u32> {
            let s: String = chars.get(from..from + n)?.iter().collect();
            u32::from_str_radix(&s, 16).ok()
        };
        if chars[i] == '%' {
            if chars.get(i + 1) == Some(&'u')
                && let Some(unit) = hex(i + 2, 4)
            {
                flush(&mut bytes, &mut out);
                out.push(char::from_u32(unit).unwrap_or('\u{FFFD}'));
                i += 6;
                continue;
            }
            if let Some(byte) = hex(i + 1, 2) {
                bytes.push(byte as u8);
                i += 3;
                continue;
            }
        }
        flush(&mut bytes, &mut out);
        out.push(chars[i]);
        i += 1;
    }
    flush(&mut bytes, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(script: &str) -> ScriptStrings {
        script_strings(std::iter::once(script))
    }

    #[test]
    fn what_a_script_writes_is_decoded_into_text() {
        let s = strings(
            r#"document.write("<div>\u6fb3\u95e8\u8d4c\u573a <b>\x41</b></div>");
               el.innerHTML = String.fromCharCode(30495, 20154) + " 百家乐";
               box.insertAdjacentHTML('beforeend', unescape('%u6ce8%u518c') + decodeURIComponent('%E9%80%81'));"#,
        );
        assert!(s.written.contains("<div>澳门赌场 <b>A</b></div>"), "{s:?}");
        assert!(s.written.contains("真人 百家乐"), "{s:?}");
        assert!(s.written.contains("beforeend注册送"), "{s:?}");
    }

    #[test]
    fn escaped_strings_elsewhere_are_decoded_for_the_script_zone() {
        let s = strings(
            r#"var a = "\u5f69\u7968"; var b = String.fromCharCode(0x8d4c, 0x535a); var c = "plain";"#,
        );
        assert_eq!(s.written, "");
        assert!(s.decoded.contains("彩票"), "{s:?}");
        assert!(s.decoded.contains("赌博"), "{s:?}");
        assert!(!s.decoded.contains("plain"), "{s:?}");
    }

    #[test]
    fn ordinary_scripts_give_nothing_and_hostile_ones_end() {
        assert_eq!(
            strings("var x = 1; function f(a) { return a + 2; }"),
            ScriptStrings::default()
        );
        // Unclosed literals, calls and sinks at the very end must not loop or panic.
        for s in [
            "document.write(\"\\u6fb3",
            "x.innerHTML",
            "String.fromCharCode(",
            "'\\",
            "unescape('%u12",
            "document.write((((",
        ] {
            let _ = strings(s);
        }
        let long = format!("document.write('{}')", "\\u8d4c".repeat(200_000));
        let s = strings(&long);
        assert!(s.written.len() <= MAX_OUT_BYTES);
        assert!(s.written.starts_with("赌赌"));
    }
}
