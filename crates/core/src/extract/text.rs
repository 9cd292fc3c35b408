//! Whitespace-collapsing text builder used by every text-like zone.
//!
//! Separators are kept *pending* and only written when the next non-blank text arrives, so a
//! zone never starts or ends with whitespace, lines are trimmed, runs of whitespace become
//! one space and there are no blank lines, whatever order the block boundaries come in.

/// A pending separator; a stronger one wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) enum Sep {
    #[default]
    None,
    Space,
    Newline,
}

#[derive(Debug, Default)]
pub(crate) struct TextBuf {
    pub(crate) out: String,
    pending: Sep,
    /// Newlines are written as spaces (anchor text, attribute values).
    single_line: bool,
    /// Stop appending once `out` holds this many bytes (0 = no cap).
    cap: usize,
}

impl TextBuf {
    pub(crate) fn new() -> TextBuf {
        TextBuf::default()
    }

    pub(crate) fn with_capacity(capacity: usize) -> TextBuf {
        TextBuf {
            out: String::with_capacity(capacity),
            ..TextBuf::default()
        }
    }

    /// A one-line buffer that stops growing after about `cap` bytes.
    pub(crate) fn single_line(cap: usize) -> TextBuf {
        TextBuf {
            single_line: true,
            cap,
            ..TextBuf::default()
        }
    }

    /// Ask for a separator before the next text.
    pub(crate) fn sep(&mut self, sep: Sep) {
        if sep > self.pending {
            self.pending = sep;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    fn full(&self) -> bool {
        self.cap != 0 && self.out.len() >= self.cap
    }

    fn flush_sep(&mut self) {
        if !self.out.is_empty() {
            match self.pending {
                Sep::None => {}
                Sep::Space => self.out.push(' '),
                Sep::Newline if self.single_line => self.out.push(' '),
                Sep::Newline => self.out.push('\n'),
            }
        }
        self.pending = Sep::None;
    }

    fn push_run(&mut self, run: &str) {
        if self.full() {
            return;
        }
        self.flush_sep();
        if self.cap != 0 && self.out.len() + run.len() > self.cap {
            let mut end = self.cap - self.out.len();
            while !run.is_char_boundary(end) {
                end -= 1;
            }
            self.out.push_str(&run[..end]);
        } else {
            self.out.push_str(run);
        }
    }

    /// Append text, collapsing whitespace. With `pre`, a newline in the text is a line break
    /// (other whitespace still collapses). Returns whether any non-blank text was appended.
    pub(crate) fn push(&mut self, text: &str, pre: bool) -> bool {
        let mut wrote = false;
        let mut start: Option<usize> = None;
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if NOT_SPACE_STEP[usize::from(b)] != 0 {
                // A run of characters that cannot be whitespace, a whole character a step (a
                // CJK character is one step, not three): most of a Chinese page.
                start.get_or_insert(i);
                i = skip_non_space(bytes, i);
                continue;
            }
            let ws_len = match b {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => 1,
                _ => unicode_space_len(&bytes[i..]),
            };
            if ws_len == 0 {
                start.get_or_insert(i);
                i += utf8_width(b);
                continue;
            }
            if let Some(s) = start.take() {
                self.push_run(&text[s..i]);
                wrote = true;
            }
            self.sep(if pre && b == b'\n' {
                Sep::Newline
            } else {
                Sep::Space
            });
            i += ws_len;
        }
        if let Some(s) = start {
            self.push_run(&text[s..]);
            wrote = true;
        }
        wrote
    }

    pub(crate) fn into_string(self) -> String {
        self.out
    }
}

/// Per byte, the length of the character it starts when that character cannot be whitespace,
/// and 0 when it may be: ASCII whitespace, and C2, E1, E2 and E3, the lead bytes of Unicode
/// whitespace (see [`unicode_space_len`]). A continuation byte, which never starts a character
/// of a `str`, is 1. Looked up once per character instead of matching the byte twice.
static NOT_SPACE_STEP: [u8; 256] = {
    let mut table = [1u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0xc2 | 0xe1..=0xe3 => 0,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xff => 4,
            _ => 1,
        };
        b += 1;
    }
    table
};

/// The end of the run of characters from `i` that cannot be whitespace.
#[inline]
fn skip_non_space(bytes: &[u8], mut i: usize) -> usize {
    while let Some(&b) = bytes.get(i) {
        let step = NOT_SPACE_STEP[usize::from(b)];
        if step == 0 {
            break;
        }
        i += usize::from(step);
    }
    i
}

/// The length of the UTF-8 character whose first byte is `lead` (1 for a byte that cannot
/// start one, which a `str` never has at a character boundary).
#[inline]
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xFF => 4,
        _ => 1,
    }
}

/// The length of the Unicode (non-ASCII) whitespace character at the start of `b`, or 0:
/// U+0085, U+00A0, U+1680, U+2000..=U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
fn unicode_space_len(b: &[u8]) -> usize {
    match b {
        [0xc2, 0x85 | 0xa0, ..] => 2,
        [0xe1, 0x9a, 0x80, ..] => 3,
        [0xe2, 0x80, 0x80..=0x8a | 0xa8 | 0xa9 | 0xaf, ..] => 3,
        [0xe2, 0x81, 0x9f, ..] => 3,
        [0xe3, 0x80, 0x80, ..] => 3,
        _ => 0,
    }
}

/// `text` with whitespace collapsed to single spaces and trimmed (one line).
pub(crate) fn one_line(text: &str) -> String {
    let mut b = TextBuf::single_line(0);
    b.push(text, false);
    b.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_and_trims() {
        let mut b = TextBuf::new();
        b.push("  a \t b\u{3000}\u{a0}c  ", false);
        b.sep(Sep::Newline);
        b.sep(Sep::Newline);
        b.push("   ", false);
        b.sep(Sep::Newline);
        b.push(" d", false);
        b.sep(Sep::Newline);
        assert_eq!(b.into_string(), "a b c\nd");
    }

    #[test]
    fn no_separator_between_adjacent_runs() {
        let mut b = TextBuf::new();
        b.push("赌", false);
        b.push("博", false);
        assert_eq!(b.out, "赌博");
    }

    #[test]
    fn space_then_newline_gives_newline() {
        let mut b = TextBuf::new();
        b.push("a ", false);
        b.sep(Sep::Newline);
        b.push("b", false);
        assert_eq!(b.out, "a\nb");
    }

    #[test]
    fn unicode_whitespace_table_matches_std() {
        for c in (0x80..0x3100u32).filter_map(char::from_u32) {
            let s = c.to_string();
            let want = if c.is_whitespace() { c.len_utf8() } else { 0 };
            assert_eq!(unicode_space_len(s.as_bytes()), want, "U+{:04X}", c as u32);
        }
    }

    /// The collapsing rule one character at a time: each whitespace character asks for a
    /// separator (a newline under `pre` for a line break), every other run is written.
    fn push_by_char(b: &mut TextBuf, text: &str, pre: bool) -> bool {
        let mut wrote = false;
        let mut run = String::new();
        for c in text.chars() {
            if c.is_whitespace() {
                if !run.is_empty() {
                    b.push_run(&std::mem::take(&mut run));
                    wrote = true;
                }
                b.sep(if pre && c == '\n' {
                    Sep::Newline
                } else {
                    Sep::Space
                });
            } else {
                run.push(c);
            }
        }
        if !run.is_empty() {
            b.push_run(&run);
            wrote = true;
        }
        wrote
    }

    #[test]
    fn push_is_the_char_by_char_rule() {
        use proptest::prelude::*;
        let pieces = prop::sample::select(vec![
            "a", " ", "\t", "\n", "\r", "\u{b}", "\u{c}", "\u{1c}", "\u{85}", "\u{a0}", "é",
            "\u{1680}", "\u{2000}", "\u{200a}", "\u{200b}", "\u{2028}", "\u{202f}", "\u{205f}",
            "\u{3000}", "\u{3001}", "ぁ", "中", "龥", "😀", "€", "\u{e1}", "ሀ", "Ā", "\u{a9}",
        ]);
        proptest!(ProptestConfig::with_cases(2000), |(
            parts in prop::collection::vec(pieces, 0..24),
            pre: bool,
            cap in 0usize..12,
        )| {
            let text: String = parts.concat();
            let (mut fast, mut slow) = (TextBuf::single_line(cap), TextBuf::single_line(cap));
            (fast.single_line, slow.single_line) = (!pre, !pre);
            fast.sep(Sep::Space);
            slow.sep(Sep::Space);
            let wrote = (fast.push(&text, pre), push_by_char(&mut slow, &text, pre));
            prop_assert_eq!(wrote.0, wrote.1);
            prop_assert_eq!(&fast.out, &slow.out);
            prop_assert_eq!(fast.pending, slow.pending);
        });
    }

    #[test]
    fn pre_keeps_newlines() {
        let mut b = TextBuf::new();
        b.push("a\n\n  b  c\n", true);
        assert_eq!(b.out, "a\nb c");
    }

    #[test]
    fn single_line_and_cap() {
        let mut b = TextBuf::single_line(7);
        b.push("ab", false);
        b.sep(Sep::Newline);
        b.push("赌博网站", false);
        // "ab " is 3 bytes, one CJK char is 3 bytes: "ab 赌" = 6, the next would exceed 7.
        assert_eq!(b.out, "ab 赌");
        b.push("more", false);
        assert_eq!(b.out, "ab 赌m");
        b.push("x", false);
        assert_eq!(b.out, "ab 赌m");
        assert_eq!(one_line("  x\n\ny  "), "x y");
    }

    #[test]
    fn reports_whether_text_was_written() {
        let mut b = TextBuf::new();
        assert!(!b.push(" \n ", false));
        assert!(b.is_empty());
        assert!(b.push("x", false));
    }
}
