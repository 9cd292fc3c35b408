//! What inline scripts write into the page, and what their escaped strings say.
//!
//! Hacked pages keep their gambling words out of the raw HTML: `document.write("\u6fb3...")`,
//! `el.innerHTML = String.fromCharCode(28595, ...)`. A browser shows the words; the scanner
//! must see them too. Two outputs, both read with the script lexer of [`crate::script`]:
//! - **written**: the HTML a write sink (`document.write`, `innerHTML`, `outerHTML`,
//!   `insertAdjacentHTML`) is given, folded from its literals, decoding calls and the
//!   variables they were assigned. The page shows it: the extractor reads it as a fragment,
//!   and its visible and hidden text join the page's.
//! - **decoded**: every other string a script spells in escapes or builds from character codes
//!   or percent escapes, decoded. It joins the script zone, where the raw escapes were
//!   unreadable to the rules.

use crate::script::{Kind, Script, SinkKind, UNKNOWN, string_value};

/// Script bytes read per page: beyond it, a script's strings are not decoded.
const MAX_SCRIPT_BYTES: usize = 512 * 1024;

/// Decoded text kept per page, each output, in bytes.
const MAX_OUT_BYTES: usize = 256 * 1024;

/// Callees whose literal arguments fold into decoded text.
const DECODERS: [&str; 4] = [
    "fromCharCode",
    "unescape",
    "decodeURIComponent",
    "decodeURI",
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
        if might_hide_text(script) {
            read_script(&Script::lex(script), &mut out);
        }
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

/// Most scripts have neither escapes, decoding calls nor write sinks, and are not lexed.
fn might_hide_text(script: &str) -> bool {
    script.contains('\\')
        || DECODERS.iter().any(|d| script.contains(d))
        || ["write", "innerHTML", "outerHTML", "insertAdjacentHTML"]
            .iter()
            .any(|s| script.contains(s))
}

fn read_script(script: &Script<'_>, out: &mut ScriptStrings) {
    let mut inside_sinks = Vec::new();
    for sink in script.sinks() {
        if sink.kind == SinkKind::Write {
            push(&mut out.written, &script.fold(sink.args.clone()).text);
            inside_sinks.push(sink.call);
        }
    }
    // The tokens of a write call were read above: skip each call whole. Calls sorted by
    // start and a cursor that only moves forward keep this linear in a script full of writes.
    inside_sinks.sort_by_key(|call| call.start);
    let mut next_call = 0;
    let mut i = 0;
    while i < script.tokens.len() {
        while inside_sinks
            .get(next_call)
            .is_some_and(|call| call.end <= i)
        {
            next_call += 1;
        }
        if let Some(call) = inside_sinks.get(next_call).filter(|call| call.start <= i) {
            i = call.end;
            continue;
        }
        let token = script.tokens[i];
        match token.kind {
            Kind::Str => {
                let (value, escapes) = string_value(script.src(i));
                if escapes > 0 {
                    push(&mut out.decoded, &value);
                }
                i += 1;
            }
            Kind::Ident if DECODERS.contains(&script.src(i)) => {
                let close = script.close(i + 1);
                push(&mut out.decoded, &script.fold(i..close).text);
                i = close.max(i + 1);
            }
            _ => i += 1,
        }
    }
}

/// `text` on a line of its own, its unknown parts (what only run time knows) as spaces.
fn push(out: &mut String, text: &str) {
    let text = text.replace(UNKNOWN, " ");
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
        // insertAdjacentHTML writes its second argument; the first is only a position.
        assert!(s.written.contains("注册送"), "{s:?}");
        assert!(!s.written.contains("beforeend"), "{s:?}");
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
        // A whole script just under the byte budget whose one literal folds past the output cap.
        let long = format!("document.write('{}')", "\\u8d4c".repeat(87_000));
        let s = strings(&long);
        assert!(s.written.len() <= MAX_OUT_BYTES);
        assert!(s.written.starts_with("赌赌"));
    }
}
