//! Chinese word segmentation around a match, for rules with `segment = true`.
//!
//! Chinese has no spaces, so a term found as a substring may be half of one word and half of
//! the next: 大麻 in 大麻烦 (大/麻烦, "big trouble"), 白粉 in 蛋白粉 (protein powder), 口交 in
//! 路口交通 (路口/交通). [`splits_word`] asks jieba (its dictionary-only segmentation) whether a
//! match's ends fall inside words.
//!
//! Only a window around the match is segmented (its run of Chinese text, at most
//! [`WINDOW_REACH`] characters either side), never the page: jieba cuts text into runs at every
//! character that is neither Chinese nor ASCII alphanumeric and segments each run on its own,
//! and within a run a character's word depends only on the few words around it. The last
//! window is kept per thread, so the many matches of a link farm line segment it once.
//!
//! The dictionary (`data/jieba/`, see its `SOURCE.txt`) is loaded on first use, once per
//! process, so rulesets without the option never pay for it.

use std::cell::RefCell;
use std::sync::OnceLock;

use jieba_rs::Jieba;

/// The segmentation dictionary: `word frequency` per line.
const DICTIONARY: &str = include_str!("../../../../data/jieba/dict.txt");

/// Characters of context a decision needs on each side of a match. Beyond a couple of words
/// the context no longer changes where jieba cuts around the match.
const DECISION_REACH: usize = 16;

/// Characters of context segmented on each side of a match when the window is built: more
/// than a decision needs, so the next matches of the same run reuse it.
const WINDOW_REACH: usize = 48;

/// A match longer than this (in bytes) is not checked: terms are words, and a window this long
/// is no longer cheap.
const MAX_SPAN: usize = 1024;

/// The process-wide segmenter, loaded on first use.
pub fn segmenter() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(|| {
        // The bundled dictionary always parses (a test loads it). Were it ever broken, an empty
        // dictionary cuts between every two characters, which drops no match.
        Jieba::with_dict(&mut DICTIONARY.as_bytes()).unwrap_or_else(|_| Jieba::empty())
    })
}

/// The dictionary frequency of `word`, by binary search of the sorted dictionary text: jieba
/// keeps its frequencies to itself, and a map of our own would cost as much memory again.
fn frequency(word: &str) -> Option<u64> {
    let text = DICTIONARY;
    let bytes = text.as_bytes();
    let (mut lo, mut hi) = (0, bytes.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let line_start = memchr::memrchr(b'\n', &bytes[..mid]).map_or(0, |i| i + 1);
        let line_end = memchr::memchr(b'\n', &bytes[mid..]).map_or(bytes.len(), |i| mid + i);
        let line = &text[line_start..line_end];
        let (entry, freq) = line.split_once(' ').unwrap_or((line, ""));
        match entry.cmp(word) {
            std::cmp::Ordering::Equal => return freq.trim().parse().ok(),
            std::cmp::Ordering::Less => lo = line_end + 1,
            std::cmp::Ordering::Greater => hi = line_start,
        }
    }
    None
}

/// Whether the segmenter splits a word at either end of `text[start..end]`: the match starts
/// or ends inside a word (白粉 in 蛋白粉, 口交 in 路口/交通, 大麻 in 大/麻烦). A word of three or
/// more characters is a compound, split where its two best dictionary words meet (赌博|机,
/// 上门|服务, 蛋白|粉): a match may end or begin there.
///
/// Only ends that are Chinese characters are checked (ASCII ends are `word_boundary`'s), so a
/// match without Chinese characters is never split, and neither is a match of one character:
/// a character is a morpheme of nearly every word it appears in. Offsets that are not a range
/// of char boundaries of `text` are never split either.
pub fn splits_word(text: &str, start: usize, end: usize) -> bool {
    let Some(span) = text.get(start..end) else {
        return false;
    };
    if span.len() > MAX_SPAN {
        return false;
    }
    let mut chars = span.chars();
    // No second character: a match of one character is never split.
    let (Some(first), Some(last)) = (chars.next(), chars.next_back()) else {
        return false;
    };
    let (check_start, check_end) = (is_chinese(first), is_chinese(last));
    if !check_start && !check_end {
        return false;
    }
    let needed = (
        reach_back(text, start, DECISION_REACH),
        reach_forward(text, end, DECISION_REACH),
    );
    WINDOW
        .try_with(|window| {
            let mut window = window.borrow_mut();
            if !window.covers(text, needed.0, needed.1) {
                window.segment(
                    text,
                    reach_back(text, start, WINDOW_REACH),
                    reach_forward(text, end, WINDOW_REACH),
                );
            }
            (check_start && window.inside_word(text, start))
                || (check_end && window.inside_word(text, end))
        })
        .unwrap_or(false)
}

thread_local! {
    static WINDOW: RefCell<Window> = RefCell::new(Window::default());
}

/// The last segmented window: its text, where it was in the text it came from, and the byte
/// offsets (in that text) where its words start, ending with the window's end.
#[derive(Default)]
struct Window {
    text: String,
    at: usize,
    cuts: Vec<usize>,
}

impl Window {
    /// Whether this window holds `text[from..to]` where it stands in `text`. Segmentation
    /// depends only on the characters, so equal bytes mean equal words, whatever page they
    /// came from.
    fn covers(&self, text: &str, from: usize, to: usize) -> bool {
        let end = self.at + self.text.len();
        !self.cuts.is_empty()
            && self.at <= from
            && to <= end
            && text.as_bytes().get(self.at..end) == Some(self.text.as_bytes())
    }

    fn segment(&mut self, text: &str, from: usize, to: usize) {
        self.text.clear();
        self.text.push_str(&text[from..to]);
        self.at = from;
        self.cuts.clear();
        for token in segmenter().cut(&self.text, false) {
            self.cuts.push(from + token.byte_start);
        }
        self.cuts.push(to);
    }

    /// Whether byte `pos` of `text` is inside a word, and not where a compound's parts meet.
    fn inside_word(&self, text: &str, pos: usize) -> bool {
        let i = self.cuts.partition_point(|&c| c <= pos);
        if i == 0 || i == self.cuts.len() || self.cuts[i - 1] == pos {
            return false;
        }
        let (word_start, word_end) = (self.cuts[i - 1], self.cuts[i]);
        compound_split(&text[word_start..word_end]) != Some(pos - word_start)
    }
}

/// Where a word of three or more characters splits into the two dictionary words whose
/// frequencies have the largest product (the segmenter's own measure), as a byte offset.
fn compound_split(word: &str) -> Option<usize> {
    word.chars().nth(2)?;
    let mut best: Option<(u64, usize)> = None;
    for (at, _) in word.char_indices().skip(1) {
        let (Some(head), Some(tail)) = (frequency(&word[..at]), frequency(&word[at..])) else {
            continue;
        };
        let score = head.saturating_mul(tail);
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, at));
        }
    }
    best.map(|(_, at)| at)
}

/// The characters jieba segments together; every other character ends a run.
#[inline]
fn in_run(c: char) -> bool {
    is_chinese(c)
        || c.is_ascii_alphanumeric()
        || matches!(c, '+' | '#' | '&' | '.' | '_' | '%' | '-')
}

/// CJK unified ideographs, as jieba counts them.
#[inline]
fn is_chinese(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2A6DF}'
        | '\u{2A700}'..='\u{2EBEF}'
        | '\u{2F800}'..='\u{2FA1F}'
    )
}

/// The start of the run of `text` before `pos`, at most `reach` characters back.
fn reach_back(text: &str, pos: usize, reach: usize) -> usize {
    let mut at = pos;
    for c in text[..pos].chars().rev().take(reach) {
        if !in_run(c) {
            break;
        }
        at -= c.len_utf8();
    }
    at
}

/// The end of the run of `text` after `pos`, at most `reach` characters on.
fn reach_forward(text: &str, pos: usize, reach: usize) -> usize {
    let mut at = pos;
    for c in text[pos..].chars().take(reach) {
        if !in_run(c) {
            break;
        }
        at += c.len_utf8();
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the segmenter splits the first occurrence of `term` in `text`.
    fn split(text: &str, term: &str) -> bool {
        let start = text.find(term).expect("term in text");
        splits_word(text, start, start + term.len())
    }

    #[test]
    fn keeps_terms_made_of_whole_words() {
        for (text, term) in [
            ("出售大麻", "大麻"),
            ("冰毒价格", "冰毒"),
            ("卖冰毒", "冰毒"),
            ("在线真人百家乐", "真人百家乐"),
            ("真人百家乐", "百家乐"),
            ("网上赌博", "赌博"),
            ("大麻", "大麻"),
        ] {
            assert!(!split(text, term), "{term} in {text} is whole words");
        }
    }

    #[test]
    fn keeps_a_term_that_begins_a_compound() {
        assert!(!split("赌博机", "赌博"));
        assert!(!split("出售赌博机，欢迎来电", "赌博"));
    }

    #[test]
    fn drops_terms_cut_across_words() {
        for (text, term) in [
            ("这是一个大麻烦", "大麻"),
            ("大麻烦", "大麻"),
            ("买蛋白粉", "白粉"),
            ("蛋白粉", "白粉"),
            ("路口交通", "口交"),
            ("十字路口交通拥堵", "口交"),
        ] {
            assert!(split(text, term), "{term} in {text} straddles words");
        }
    }

    #[test]
    fn ascii_ends_and_ascii_terms_are_not_checked() {
        assert!(!split("have fun", "av"));
        assert!(!split("日本av女优", "av"));
        // The Chinese end is still checked: 女优 is a word after av.
        assert!(!split("日本av女优", "av女优"));
    }

    #[test]
    fn edges_noise_and_bad_offsets_never_panic() {
        let text = "大麻烦";
        assert!(!splits_word(text, 0, 1), "not a char boundary");
        assert!(!splits_word(text, 3, 1), "reversed");
        assert!(!splits_word(text, 0, 100), "past the end");
        assert!(!splits_word("", 0, 0));
        // Noise ends a run: 大麻 is whole where punctuation follows it.
        assert!(!split("谁有大麻。烦死了", "大麻"));
        // A match bridging noise (skip_noise) is checked at each end in its own run.
        let text = "很大，麻烦您了";
        let start = text.find('大').unwrap();
        let end = text.find('麻').unwrap() + '麻'.len_utf8();
        assert!(splits_word(text, start, end));
    }

    #[test]
    fn huge_lines_segment_only_a_window() {
        let line = "网上赌博".repeat(50_000);
        let start = line.len() / 2;
        let start = start - start % "网上赌博".len() + "网上".len();
        let t = std::time::Instant::now();
        for _ in 0..1000 {
            assert!(!splits_word(&line, start, start + "赌博".len()));
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn compounds_split_where_their_best_two_words_meet() {
        assert_eq!(compound_split("赌博机"), Some("赌博".len()));
        assert_eq!(compound_split("蛋白粉"), Some("蛋白".len()));
        // The segmenter's measure favours frequent characters: 出|租车, not 出租|车.
        assert_eq!(compound_split("出租车"), Some("出".len()));
        assert_eq!(compound_split("麻烦"), None, "two characters are one word");
        assert_eq!(compound_split("龘龘龘"), None, "no dictionary words");
    }

    #[test]
    fn the_bundled_dictionary_is_sorted_and_loads() {
        let mut previous = "";
        for (n, line) in DICTIONARY.lines().enumerate() {
            let (word, freq) = line.split_once(' ').expect("word frequency");
            assert!(freq.parse::<u64>().is_ok(), "line {}: {line:?}", n + 1);
            assert!(
                previous < word,
                "line {}: {word:?} after {previous:?}",
                n + 1
            );
            previous = word;
        }
        let first = DICTIONARY.lines().next().unwrap().split_once(' ').unwrap();
        let last = DICTIONARY.lines().last().unwrap().split_once(' ').unwrap();
        for (word, freq) in [first, last] {
            assert_eq!(frequency(word), freq.parse().ok(), "{word}");
        }
        assert_eq!(frequency("赌博"), Some(610));
        assert_eq!(frequency("赌"), Some(1079));
        assert_eq!(frequency("赌博网站"), None);
        assert_eq!(frequency(""), None);
        assert!(segmenter().has_word("麻烦"));
    }
}
