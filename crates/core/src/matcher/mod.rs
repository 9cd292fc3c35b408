//! The multi-pattern hot loop, behind a small trait.
//!
//! Every literal term of every rule is compiled into one automaton, so a page is scanned once
//! no matter how many rules there are. Matches are pushed into a sink instead of collected, so
//! the loop allocates nothing.
//!
//! The search is *overlapping*: when 网上赌博 and 赌博 belong to different rules, both must
//! report, which a leftmost-longest search would not do. The automaton is daachorse's
//! character-wise double-array Aho–Corasick: on Chinese text its transitions are per character
//! rather than per byte, which makes it several times faster than a byte-wise automaton at
//! 100k terms while staying small (see `benches/README.md`).

use daachorse::{CharwiseDoubleArrayAhoCorasick, CharwiseDoubleArrayAhoCorasickBuilder};

use regex::{Regex, RegexBuilder};

/// Index of a pattern in the slice the matcher was built from.
pub type PatternId = u32;

/// Finds every occurrence of every pattern, overlapping ones included.
pub trait Matcher: Send + Sync {
    /// Calls `sink(pattern, start, end)` for each occurrence, in order of `end`. Offsets are
    /// byte offsets into `haystack`.
    fn find_overlapping(&self, haystack: &str, sink: &mut dyn FnMut(PatternId, usize, usize));

    /// Heap memory held by the compiled patterns.
    fn heap_bytes(&self) -> usize;
}

#[derive(Debug, thiserror::Error)]
pub enum MatcherError {
    #[error("pattern {index} is empty")]
    EmptyPattern { index: usize },
    #[error("the automaton could not be built: {0}")]
    Build(String),
    #[error("regex {index}: {source}")]
    Regex {
        index: usize,
        #[source]
        source: regex::Error,
    },
}

/// The literal matcher: daachorse, character-wise, with its q-gram prefilter.
pub struct LiteralMatcher {
    automaton: Option<CharwiseDoubleArrayAhoCorasick<u32>>,
    patterns: usize,
}

impl LiteralMatcher {
    /// Build from distinct, non-empty patterns; pattern ids are their indices.
    pub fn new<P: AsRef<str>>(patterns: &[P]) -> Result<LiteralMatcher, MatcherError> {
        if let Some(index) = patterns.iter().position(|p| p.as_ref().is_empty()) {
            return Err(MatcherError::EmptyPattern { index });
        }
        if patterns.is_empty() {
            return Ok(LiteralMatcher {
                automaton: None,
                patterns: 0,
            });
        }
        let with_ids = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_ref(), i as u32));
        let automaton = CharwiseDoubleArrayAhoCorasickBuilder::new()
            .build_with_values(with_ids)
            .map_err(|e| MatcherError::Build(e.to_string()))?;
        Ok(LiteralMatcher {
            automaton: Some(automaton),
            patterns: patterns.len(),
        })
    }

    pub fn pattern_count(&self) -> usize {
        self.patterns
    }
}

impl Matcher for LiteralMatcher {
    #[inline]
    fn find_overlapping(&self, haystack: &str, sink: &mut dyn FnMut(PatternId, usize, usize)) {
        if let Some(automaton) = &self.automaton {
            for m in automaton.find_overlapping_iter(haystack) {
                sink(m.value(), m.start(), m.end());
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        self.automaton.as_ref().map_or(0, |a| a.heap_bytes())
    }
}

/// All regexes of all rules, each run on its own with the literal prefilter the regex crate
/// extracts from it.
///
/// One `RegexSet` of all of them was tried and lost: the union's lazy DFA outgrows its cache on
/// real pages and spends the scan determinizing (pages-zh about twice as slow as regex by regex).
///
/// A regex with a Unicode word boundary (`\b`, `\B`) is gated by the same pattern without its
/// boundaries: the regex crate's DFAs give up on a Unicode word boundary at the first non-ASCII
/// byte and fall back to the PikeVM, which on a Chinese page means the whole page. The
/// boundary-free gate stays in the DFAs, and the regex itself runs only where the gate matched.
///
/// Before any regex runs, one literal pass looks for the literals every match of a regex must
/// contain (`required_parts`, from regex-syntax's extractor). A regex may have several such
/// sets, one per part of it that every match holds (`(?:找|叫|约)个?(?:小姐|外围)(?:上门|微信)`
/// holds one of 小姐 and 外围 and one of 上门 and 微信); it runs only where each of its sets
/// has a literal. Regexes without such literals run on every haystack. The pass is the
/// matcher's own ([`RegexMatcher::new`]), or the caller's ([`RegexMatcher::gated_by_caller`]):
/// a ruleset puts the literals into the automaton of its terms, so each zone is read once for
/// both.
pub struct RegexMatcher {
    regexes: Vec<GatedRegex>,
    /// Each distinct gate literal and the regex parts it stands for.
    gate_literals: Vec<(String, Vec<Gate>)>,
    /// The matcher's own search for `gate_literals`; None when the caller searches them.
    own_gate: Option<LiteralMatcher>,
    /// Per regex, one bit per literal set that must be found before it runs (none: it
    /// always runs).
    needed: Vec<u32>,
}

/// One literal's part in letting a regex run: it is one of the literals of the regex's
/// required set number `part`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gate {
    pub regex: PatternId,
    pub part: u8,
}

/// Which regexes may match one haystack: the gate literals found in it mark their sets.
pub struct RegexSelection {
    found: Vec<u32>,
}

impl RegexSelection {
    /// One of the literals of `gate`'s set occurs in the haystack.
    #[inline]
    pub fn mark(&mut self, gate: Gate) {
        if let Some(slot) = self.found.get_mut(gate.regex as usize) {
            *slot |= 1 << gate.part;
        }
    }

    pub fn clear(&mut self) {
        self.found.fill(0);
    }
}

struct GatedRegex {
    /// The boundary-free pattern of a regex with a Unicode word boundary.
    gate_pattern: Option<String>,
    /// Compiled the first time the regex is selected: most regexes never are on a given run
    /// (their literals are rare), and compiling every gate at load cost about a sixth of the
    /// start-up. A gate that does not compile is no gate (it only saves time).
    gate: std::sync::OnceLock<Option<Regex>>,
    regex: Regex,
}

impl GatedRegex {
    fn gate(&self) -> Option<&Regex> {
        self.gate
            .get_or_init(|| {
                self.gate_pattern
                    .as_deref()
                    .and_then(|p| compile_regex(p).ok())
            })
            .as_ref()
    }
}

/// The pattern without its word-boundary assertions (`\b`, `\B`, `\b{start}` …).
///
/// Dropping an assertion only widens what a pattern matches, so the stripped pattern is a
/// sound prefilter for the original: where it finds nothing, the original finds nothing.
fn without_word_boundaries(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut class_depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let next = chars[i + 1];
            if class_depth == 0 && (next == 'b' || next == 'B') {
                i += 2;
                if chars.get(i) == Some(&'{') {
                    while i < chars.len() && chars[i] != '}' {
                        i += 1;
                    }
                    i += 1;
                }
                continue;
            }
            out.push(c);
            out.push(next);
            i += 2;
            continue;
        }
        match c {
            '[' => class_depth += 1,
            ']' if class_depth > 0 => class_depth -= 1,
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Sets of literals every match of the pattern holds one of each: the prefixes of the pattern
/// and of the parts of its top-level concatenation (each part matches inside the whole match,
/// and starts with one of its own prefixes). A set counts when it is finite and its literals
/// are all at least two bytes long (a one-byte literal rules out nothing) and whole characters
/// (the literal pass reads characters, not bytes).
///
/// The set with the longest shortest literal comes first and always counts. The others count
/// only when each of their literals is at least [`JOIN_MIN_BYTES`] long (a set such as
/// {有, 找} or {99, 67} occurs on nearly every page, so it rules out little while its hits cost
/// the literal pass on every page), and when no set already counted implies them ({location.href,
/// location} adds nothing to {location}). Empty when no set counts.
fn required_parts(pattern: &str) -> Vec<Vec<String>> {
    use regex_syntax::hir::HirKind;
    let Ok(hir) = regex_syntax::ParserBuilder::new().build().parse(pattern) else {
        return Vec::new();
    };
    let parts: Vec<&regex_syntax::hir::Hir> = match hir.kind() {
        HirKind::Concat(parts) => parts.iter().collect(),
        _ => Vec::new(),
    };
    let mut sets: Vec<Vec<String>> = std::iter::once(&hir)
        .chain(parts)
        .filter_map(prefix_literals)
        .collect();
    let shortest = |set: &Vec<String>| set.iter().map(String::len).min().unwrap_or(0);
    let Some(best) = (0..sets.len()).max_by_key(|&i| shortest(&sets[i])) else {
        return Vec::new();
    };
    let mut required = vec![sets.remove(best)];
    for set in sets {
        if shortest(&set) >= JOIN_MIN_BYTES && !required.iter().any(|kept| implies(kept, &set)) {
            required.push(set);
        }
    }
    required.truncate(MAX_PARTS);
    required
}

/// Whether a text holding a literal of `kept` always holds a literal of `other`.
fn implies(kept: &[String], other: &[String]) -> bool {
    kept.iter()
        .all(|literal| other.iter().any(|o| literal.contains(o.as_str())))
}

/// The shortest literal a set other than a regex's first may have (two Chinese characters,
/// or `eval`).
const JOIN_MIN_BYTES: usize = 4;

/// Literal sets per regex: one bit each in a `u32`.
const MAX_PARTS: usize = 32;

/// The part's prefixes, at most [`FEW_LITERALS`] of them, shortened as the extractor sees fit;
/// failing that, up to [`WORD_LIST_LITERALS`] unshortened: a list of words
/// (`cocaine|mdma|heroin|…`) is a good gate, and it has no shorter form.
fn prefix_literals(hir: &regex_syntax::hir::Hir) -> Option<Vec<String>> {
    prefix_literals_within(hir, FEW_LITERALS)
        .or_else(|| prefix_literals_within(hir, WORD_LIST_LITERALS))
}

/// A small total makes the extractor shorten literals instead of spelling out every
/// combination (`\\x(?:63|43)\\x(?:6f|4f)…` gave 256 literals per regex): the literals join
/// the terms' automaton, whose size costs every scan. 500 made the automaton twice as big
/// as the terms alone; 16 adds a sixth, and shorter literals still rule out nearly all
/// zones.
const FEW_LITERALS: usize = 16;

/// The longest list of words in one bundled regex has 48 (`weapons.en_priced_gun`).
const WORD_LIST_LITERALS: usize = 64;

fn prefix_literals_within(hir: &regex_syntax::hir::Hir, limit: usize) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix).limit_total(limit);
    let seq = extractor.extract(hir);
    let literals = seq.literals()?;
    if literals.is_empty() || literals.iter().any(|l| l.as_bytes().len() < 2) {
        return None;
    }
    literals
        .iter()
        .map(|l| String::from_utf8(l.as_bytes().to_vec()).ok())
        .collect()
}

/// Whether the DFAs would quit on this pattern at non-ASCII text.
fn has_unicode_word_boundary(pattern: &str) -> bool {
    regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .is_ok_and(|hir| hir.properties().look_set().contains_word_unicode())
}

/// A mask of the `n` lowest bits.
fn low_bits(n: usize) -> u32 {
    if n >= 32 { u32::MAX } else { (1u32 << n) - 1 }
}

/// Matches of one regex between two questions to the caller's `eligible`.
pub const RECHECK_EVERY: usize = 1024;

/// Bound on compiled size, so one pathological ruleset regex cannot eat the daemon's memory.
const REGEX_SIZE_LIMIT: usize = 32 << 20;

impl RegexMatcher {
    /// A matcher that searches the regexes' gate literals itself.
    pub fn new<P: AsRef<str>>(patterns: &[P]) -> Result<RegexMatcher, MatcherError> {
        let mut matcher = RegexMatcher::gated_by_caller(patterns)?;
        let literals: Vec<&str> = matcher
            .gate_literals
            .iter()
            .map(|(l, _)| l.as_str())
            .collect();
        matcher.own_gate = Some(LiteralMatcher::new(&literals)?);
        Ok(matcher)
    }

    /// A matcher whose caller searches [`RegexMatcher::gate_literals`] and marks what it finds
    /// in a [`RegexSelection`] before [`RegexMatcher::find_selected`].
    pub fn gated_by_caller<P: AsRef<str>>(patterns: &[P]) -> Result<RegexMatcher, MatcherError> {
        let mut regexes = Vec::with_capacity(patterns.len());
        let mut gates: std::collections::BTreeMap<String, Vec<Gate>> = Default::default();
        let mut needed = Vec::with_capacity(patterns.len());
        for (index, pattern) in patterns.iter().enumerate() {
            let pattern = pattern.as_ref();
            let regex =
                compile_regex(pattern).map_err(|source| MatcherError::Regex { index, source })?;
            let gate_pattern =
                has_unicode_word_boundary(pattern).then(|| without_word_boundaries(pattern));
            regexes.push(GatedRegex {
                gate_pattern,
                gate: std::sync::OnceLock::new(),
                regex,
            });
            let parts = required_parts(pattern);
            needed.push(low_bits(parts.len()));
            for (part, literals) in parts.into_iter().enumerate() {
                let gate = Gate {
                    regex: index as PatternId,
                    part: part as u8,
                };
                for literal in literals {
                    let owners = gates.entry(literal).or_default();
                    if !owners.contains(&gate) {
                        owners.push(gate);
                    }
                }
            }
        }
        Ok(RegexMatcher {
            regexes,
            gate_literals: gates.into_iter().collect(),
            own_gate: None,
            needed,
        })
    }

    /// Each distinct literal and the regex parts whose sets it belongs to.
    pub fn gate_literals(&self) -> &[(String, Vec<Gate>)] {
        &self.gate_literals
    }

    /// A selection sized for this matcher, marking nothing.
    pub fn selection(&self) -> RegexSelection {
        RegexSelection {
            found: vec![0; self.regexes.len()],
        }
    }

    /// Every match of the `eligible` regexes each of whose literal sets is marked in
    /// `selection` (a regex without sets always runs), regex by regex in index order. A caller
    /// that knows some regexes cannot report on this haystack (their rules apply elsewhere)
    /// saves running them. `eligible` is asked again every [`RECHECK_EVERY`] matches of a
    /// regex, which stops it when the answer turns false.
    pub fn find_selected(
        &self,
        haystack: &str,
        selection: &RegexSelection,
        eligible: &dyn Fn(PatternId) -> bool,
        sink: &mut dyn FnMut(PatternId, usize, usize),
    ) {
        for (index, gated) in self.regexes.iter().enumerate() {
            if selection.found[index] != self.needed[index] {
                continue;
            }
            let index = index as PatternId;
            if !eligible(index) {
                continue;
            }
            if gated.gate().is_some_and(|gate| !gate.is_match(haystack)) {
                continue;
            }
            for (n, m) in gated.regex.find_iter(haystack).enumerate() {
                // Asked again now and then, so a caller whose time ran out stops a regex
                // that matches everywhere.
                if n % RECHECK_EVERY == RECHECK_EVERY - 1 && !eligible(index) {
                    break;
                }
                if m.start() < m.end() {
                    sink(index, m.start(), m.end());
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.regexes.is_empty()
    }
}

/// Compile one regex with the same limits the set uses; the error's message (the regex
/// crate's) shows the pattern and points at the problem.
pub fn compile_regex(pattern: &str) -> Result<Regex, regex::Error> {
    compile_regex_within(pattern, REGEX_SIZE_LIMIT)
}

/// [`compile_regex`] with another bound on the compiled size (`rules check` asks whether a
/// regex fits a smaller one).
pub fn compile_regex_within(pattern: &str, size_limit: usize) -> Result<Regex, regex::Error> {
    if let Some(regex) = memo::get(pattern, size_limit) {
        return Ok(regex);
    }
    let regex = RegexBuilder::new(pattern)
        .size_limit(size_limit)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()?;
    memo::put(pattern, size_limit, &regex);
    Ok(regex)
}

/// Regexes compiled while a [`RegexMemo`] is alive, by pattern and size bound.
///
/// Loading the rules compiles every regex to check it (an error names its file and line),
/// then again to match with it: compiling is most of the start-up (every pattern is
/// translated, its NFA built and sized), and a compiled `Regex` is cheap to clone and the
/// same for the same pattern and bounds. So a load keeps what it compiled until it is done,
/// and nothing outlives the last load in progress.
mod memo {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use regex::Regex;

    struct Memo {
        /// Loads in progress; the map is dropped when the last one ends.
        users: usize,
        compiled: Option<HashMap<(String, usize), Regex>>,
    }

    impl Memo {
        const fn new() -> Memo {
            Memo {
                users: 0,
                compiled: None,
            }
        }

        fn enter(&mut self) {
            self.users += 1;
            self.compiled.get_or_insert_with(HashMap::new);
        }

        fn leave(&mut self) {
            self.users = self.users.saturating_sub(1);
            if self.users == 0 {
                self.compiled = None;
            }
        }
    }

    static MEMO: Mutex<Memo> = Mutex::new(Memo::new());

    fn lock() -> std::sync::MutexGuard<'static, Memo> {
        // A panic while holding it leaves at worst a partly filled map of valid regexes.
        MEMO.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(pattern: &str, size_limit: usize) -> Option<Regex> {
        let memo = lock();
        memo.compiled
            .as_ref()?
            .get(&(pattern.to_string(), size_limit))
            .cloned()
    }

    pub(super) fn put(pattern: &str, size_limit: usize, regex: &Regex) {
        let mut memo = lock();
        if let Some(compiled) = memo.compiled.as_mut() {
            compiled.insert((pattern.to_string(), size_limit), regex.clone());
        }
    }

    /// Keeps compiled regexes for reuse while it lives.
    pub struct RegexMemo(());

    impl RegexMemo {
        pub fn new() -> RegexMemo {
            lock().enter();
            RegexMemo(())
        }
    }

    impl Default for RegexMemo {
        fn default() -> RegexMemo {
            RegexMemo::new()
        }
    }

    impl Drop for RegexMemo {
        fn drop(&mut self) {
            lock().leave();
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_compiled_regexes_are_dropped_when_the_last_user_leaves() {
            let mut memo = Memo::new();
            memo.enter();
            memo.enter();
            memo.leave();
            assert!(memo.compiled.is_some(), "one user is still loading");
            memo.leave();
            assert!(memo.compiled.is_none());
            assert_eq!(memo.users, 0);
            memo.leave();
            assert_eq!(memo.users, 0, "an extra leave does not underflow");
        }
    }
}

pub use memo::RegexMemo;

impl Matcher for RegexMatcher {
    fn find_overlapping(&self, haystack: &str, sink: &mut dyn FnMut(PatternId, usize, usize)) {
        let mut selection = self.selection();
        if let Some(own_gate) = &self.own_gate {
            own_gate.find_overlapping(haystack, &mut |literal, _, _| {
                for &gate in &self.gate_literals[literal as usize].1 {
                    selection.mark(gate);
                }
            });
        }
        self.find_selected(haystack, &selection, &|_| true, sink);
    }

    fn heap_bytes(&self) -> usize {
        // The regex crate does not report its memory; its limits bound it.
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memo_reuses_compiled_regexes_only_while_it_lives() {
        let pattern = "memo-test-(?:[0-9]{3})+";
        {
            let _memo = RegexMemo::new();
            let a = compile_regex(pattern).unwrap();
            assert!(memo::get(pattern, REGEX_SIZE_LIMIT).is_some());
            // Another bound is another entry.
            assert!(memo::get(pattern, 1 << 10).is_none());
            assert!(compile_regex(pattern).unwrap().is_match("memo-test-123"));
            assert!(a.is_match("memo-test-123456"));
            // Errors are not kept: the next try reports them again.
            assert!(compile_regex("memo-test-(").is_err());
            assert!(compile_regex("memo-test-(").is_err());
        }
        // Other tests may hold a memo at the same time, so what happens once this one is
        // gone is checked on a memo of its own (`memo::tests`).
    }

    fn all(m: &dyn Matcher, haystack: &str) -> Vec<(u32, usize, usize)> {
        let mut out = Vec::new();
        m.find_overlapping(haystack, &mut |p, s, e| out.push((p, s, e)));
        out.sort();
        out
    }

    #[test]
    fn word_boundary_regexes_keep_their_unicode_boundaries() {
        let m = RegexMatcher::new(&[r"\bcocaine\b", "赌场", r"(?i)\bкокаин\b", r"a\Bb"]).unwrap();
        let hits = all(&m, "cocaine 赌场 Кокаин ab cocaines");
        assert_eq!(hits, vec![(0, 0, 7), (1, 8, 14), (2, 15, 27), (3, 28, 30)]);
        // Unicode counts 买 and щ as word characters: no boundary there.
        assert!(all(&m, "赌博 кокаинщик 买cocaine a b").is_empty());
    }

    #[test]
    fn boundary_free_prefilters_widen_and_never_break_a_pattern() {
        assert_eq!(without_word_boundaries(r"\bweed\b"), "weed");
        assert_eq!(without_word_boundaries(r"a\Bb[\b]\\b"), r"ab[\b]\\b");
        assert_eq!(without_word_boundaries(r"\b{start}x\b{end-half}"), "x");
        assert_eq!(without_word_boundaries(r"(?-u:\b)fc2\d"), r"(?-u:)fc2\d");
        assert!(compile_regex(&without_word_boundaries(r"(?-u:\b)fc2\d")).is_ok());
        assert!(!has_unicode_word_boundary(&without_word_boundaries(
            r"\bкокаин\b"
        )));
    }

    #[test]
    fn regexes_run_only_where_their_prefixes_occur() {
        assert_eq!(required_parts(r"(?:ab|cd)x\d"), vec![vec!["abx", "cdx"]]);
        // No prefix, but every match holds one of the inner alternatives.
        assert_eq!(
            required_parts(r"\d+\s?(?:rounds|rds)\b"),
            vec![vec!["rounds", "rds"]]
        );
        assert!(required_parts(r"\d+m").is_empty());
        assert!(required_parts(r"a|bc").is_empty());
        let m = RegexMatcher::new(&[r"foo\d", r"\d+m", r"(?i)bar", r"\d+mm"]).unwrap();
        assert_eq!(m.needed, vec![1, 0, 1, 1]);
        let hits = all(&m, "foo1 12mm BAR");
        assert_eq!(hits, vec![(0, 0, 4), (1, 5, 8), (2, 10, 13), (3, 5, 9)]);
        assert!(all(&m, "fo1 m ba").is_empty());
    }

    #[test]
    fn a_regex_runs_only_where_each_of_its_literal_sets_occurs() {
        // The prefixes {找, 叫, 约} are common characters; every match also holds one of
        // 小姐, 外围 and 楼凤, and one of 上门 and 微信. The (last) set with the longest
        // shortest literal comes first; sets of one common character do not join.
        let pattern = "(?:找|叫|约)个?(?:小姐|外围|楼凤)(?:上门|微信)";
        assert_eq!(
            required_parts(pattern),
            vec![vec!["上门", "微信"], vec!["小姐", "外围", "楼凤"]]
        );
        // A set implied by one already counted adds nothing.
        assert_eq!(
            required_parts(r"location(?:\.href)?\s*=\s*x"),
            vec![vec!["location"]]
        );
        let m = RegexMatcher::gated_by_caller(&[pattern]).unwrap();
        let run = |selection: &RegexSelection| {
            let mut out = Vec::new();
            m.find_selected("叫外围上门", selection, &|_| true, &mut |p, s, e| {
                out.push((p, s, e))
            });
            out
        };
        let mut selection = m.selection();
        selection.mark(Gate { regex: 0, part: 0 });
        assert_eq!(run(&selection), vec![]);
        selection.mark(Gate { regex: 0, part: 1 });
        assert_eq!(run(&selection), vec![(0, 0, 15)]);
        selection.clear();
        selection.mark(Gate { regex: 0, part: 1 });
        assert_eq!(run(&selection), vec![]);
        // The matcher's own literal pass asks for both as well.
        let m = RegexMatcher::new(&[pattern]).unwrap();
        assert_eq!(all(&m, "叫外围上门"), vec![(0, 0, 15)]);
        assert!(all(&m, "找个小姐").is_empty());
    }

    /// Regexes whose parts give several literal sets, some of them shortened or too common
    /// to count.
    const GATED: &[&str] = &[
        "(?:找|叫|约)(?:个)?(?:小姐|外围|楼凤)(?:上门|服务|微信)",
        "(?:哪里?|哪儿|附近)(?:有|找)(?:小姐|楼凤)(?:[^姐]|$)",
        "小姐(?:包夜|快餐|服务电话|微信号?)",
        r"\b(?:eval|exec)\s*\(\s*(?:base64_decode|gzinflate)\(",
        r"location(\.href)?\s*=\s*[^;]{0,9}(?:phone|tfn)=",
        r"(?:w\d\dx|ab|cd)+\d{2,3}(?:mm|cm)\b",
    ];

    proptest::proptest! {
        /// Gating by literal sets never loses a match: the matcher finds exactly what each
        /// regex finds on its own.
        #[test]
        fn gating_finds_what_the_regexes_find(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "找", "叫", "约", "个", "小姐", "外围", "楼凤", "上门", "服务", "微信", "哪", "里",
                    "有", "附近", "包夜", "电话", "号", "eval", "exec", "(", " ", "base64_decode",
                    "gzinflate", "location", ".href", "=", "phone", "tfn", ";", "w17x", "ab", "cd",
                    "12", "3", "mm", "cm", "姐", "x",
                ]),
                0..24,
            ),
        ) {
            let haystack = pieces.concat();
            let m = RegexMatcher::new(GATED).unwrap();
            let mut expected = Vec::new();
            for (i, pattern) in GATED.iter().enumerate() {
                for found in compile_regex(pattern).unwrap().find_iter(&haystack) {
                    expected.push((i as u32, found.start(), found.end()));
                }
            }
            expected.sort();
            proptest::prop_assert_eq!(all(&m, &haystack), expected);
        }
    }

    #[test]
    fn a_word_list_too_long_to_spell_out_gates_with_its_words() {
        let words: Vec<String> = (0..40).map(|i| format!("w{i:02}x")).collect();
        let pattern = format!(r"\b(?:{})\b[^\n]{{0,9}}\d", words.join("|"));
        assert_eq!(required_parts(&pattern), vec![words.clone()]);
        let m = RegexMatcher::new(&[pattern.as_str()]).unwrap();
        assert_eq!(all(&m, "a w17x 5"), vec![(0, 2, 8)]);
        assert!(all(&m, "a w1x 5").is_empty());
    }

    #[test]
    fn a_caller_gated_matcher_runs_what_the_caller_marked_and_finds_eligible() {
        let m = RegexMatcher::gated_by_caller(&[r"foo\d", r"\d+m", r"bar\d"]).unwrap();
        let literals: Vec<&str> = m.gate_literals().iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(literals, vec!["bar", "foo"]);
        let run = |selection: &RegexSelection, eligible: &dyn Fn(PatternId) -> bool| {
            let mut out = Vec::new();
            m.find_selected("foo1 bar2 3m", selection, eligible, &mut |p, s, e| {
                out.push((p, s, e))
            });
            out
        };
        let mut selection = m.selection();
        // Unmarked regexes do not run even where they would match; `\d+m` has no literal and
        // always runs.
        assert_eq!(run(&selection, &|_| true), vec![(1, 10, 12)]);
        selection.mark(Gate { regex: 2, part: 0 });
        assert_eq!(run(&selection, &|_| true), vec![(1, 10, 12), (2, 5, 9)]);
        assert_eq!(run(&selection, &|p| p != 1), vec![(2, 5, 9)]);
        selection.clear();
        assert_eq!(run(&selection, &|p| p != 1), vec![]);
    }

    #[test]
    fn a_regex_stops_when_eligible_turns_false_between_matches() {
        let m = RegexMatcher::gated_by_caller(&[r"\d"]).unwrap();
        let haystack = "1".repeat(10 * RECHECK_EVERY);
        let asked = std::cell::Cell::new(0);
        let eligible = |_| {
            asked.set(asked.get() + 1);
            asked.get() == 1
        };
        let mut found = 0;
        m.find_selected(&haystack, &m.selection(), &eligible, &mut |_, _, _| {
            found += 1
        });
        assert_eq!(found, RECHECK_EVERY - 1);
        assert_eq!(asked.get(), 2);
        let mut all = 0;
        m.find_selected(&haystack, &m.selection(), &|_| true, &mut |_, _, _| {
            all += 1
        });
        assert_eq!(all, 10 * RECHECK_EVERY);
    }

    #[test]
    fn overlapping_terms_all_report() {
        let m = LiteralMatcher::new(&["赌博", "网上赌博", "博彩"]).unwrap();
        let hits = all(&m, "网上赌博彩");
        assert_eq!(hits, vec![(0, 6, 12), (1, 0, 12), (2, 9, 15)]);
    }

    #[test]
    fn empty_pattern_set_matches_nothing() {
        let m = LiteralMatcher::new::<&str>(&[]).unwrap();
        assert!(all(&m, "anything").is_empty());
    }

    #[test]
    fn empty_pattern_is_an_error() {
        assert!(matches!(
            LiteralMatcher::new(&["a", ""]),
            Err(MatcherError::EmptyPattern { index: 1 })
        ));
    }

    #[test]
    fn duplicate_patterns_do_not_panic() {
        // Callers deduplicate; a duplicate that slips through must still not bring down a scan.
        if let Ok(m) = LiteralMatcher::new(&["a", "a"]) {
            assert!(!all(&m, "a").is_empty());
        }
    }

    #[test]
    fn regexes_report_every_match_of_matching_regexes_only() {
        let m = RegexMatcher::new(&[r"\d{3}", r"qq\s*\d+", r"never"]).unwrap();
        let text = "加qq 12345 或 678";
        let at = |s: &str| text.find(s).unwrap();
        let hits = all(&m, text);
        assert_eq!(
            hits,
            vec![
                (0, at("123"), at("123") + 3),
                (0, at("678"), at("678") + 3),
                (1, at("qq"), at("45") + 2),
            ]
        );
    }

    #[test]
    fn bad_regex_names_its_index() {
        match RegexMatcher::new(&["ok", "(unclosed"]) {
            Err(MatcherError::Regex { index, source }) => {
                assert_eq!(index, 1);
                let message = source.to_string();
                assert!(message.contains("unclosed"), "{message}");
            }
            other => panic!("expected a regex error, got {:?}", other.err()),
        }
    }
}
