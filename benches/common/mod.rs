//! Corpus and dictionary construction shared by the benchmarks.
//!
//! Everything comes from `../shared/data` (real pages and real term lists). When it is absent
//! (a fresh clone), the benchmarks print a notice and measure nothing.

#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sitepatrol_core::decode::{DecodeOptions, decode};
use sitepatrol_core::extract::{ZoneKind, extract_html};
use sitepatrol_core::normalize::normalize;

pub fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if dir.join("pages-zh/original").is_dir() && dir.join("lexicons").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "notice: {} is missing; benchmarks need the shared corpora and measure nothing",
            dir.display()
        );
        None
    }
}

/// The raw HTML pages of pages-zh, in file-name order.
pub fn pages(data: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(data.join("pages-zh/original"))
        .expect("pages-zh/original is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("page is readable"))
        .collect()
}

/// The visible text of every pages-zh page as sitepatrol extracts it, concatenated and
/// repeated to at least `min_bytes`.
pub fn extracted_text(data: &Path, min_bytes: usize) -> String {
    let mut one_pass = String::new();
    for page in pages(data) {
        let decoded = decode(&page, &DecodeOptions::default());
        let document = extract_html(&decoded.text, None);
        if let Some(zone) = document.zone(ZoneKind::Text) {
            one_pass.push_str(&zone.text);
            one_pass.push('\n');
        }
    }
    let mut text = String::with_capacity(min_bytes + one_pass.len());
    while text.len() < min_bytes {
        text.push_str(&one_pass);
    }
    text
}

/// Terms of the four shared lexicons (pornography, sexual terms, guns and explosives, illegal
/// site names), normalized like rule terms and deduplicated, in file order.
pub fn lexicon_terms(data: &Path) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut terms = Vec::new();
    for name in [
        "色情词库.txt",
        "色情类型.txt",
        "涉枪涉爆.txt",
        "非法网址.txt",
    ] {
        let text = std::fs::read_to_string(data.join("lexicons").join(name)).expect("lexicon");
        for line in text.lines() {
            let term = normalize(line.trim()).text;
            if !term.is_empty() && seen.insert(term.clone()) {
                terms.push(term);
            }
        }
    }
    terms
}

/// A small deterministic generator, so every run measures the same dictionaries.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A dictionary of `size` distinct terms: the lexicons first (up to `lexicon_share` of it),
/// then CJK n-grams of 2–6 characters drawn from the gold text of pages-zh.
pub fn dictionary(data: &Path, size: usize, lexicon_share: f64) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut terms = Vec::with_capacity(size);
    let lexicon_budget = ((size as f64) * lexicon_share) as usize;
    for term in lexicon_terms(data).into_iter().take(lexicon_budget) {
        if seen.insert(term.clone()) {
            terms.push(term);
        }
    }
    let mut gold = String::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(data.join("pages-zh/cleaned"))
        .expect("pages-zh/cleaned")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    for path in paths {
        gold.push_str(&normalize(&std::fs::read_to_string(path).unwrap_or_default()).text);
    }
    let chars: Vec<char> = gold.chars().collect();
    let is_cjk = |c: char| ('\u{4E00}'..='\u{9FFF}').contains(&c);
    let mut rng = XorShift::new(0x5EED_1234);
    let mut attempts = 0usize;
    while terms.len() < size && attempts < size * 50 {
        attempts += 1;
        let len = 2 + rng.below(5);
        let start = rng.below(chars.len().saturating_sub(len).max(1));
        let gram = &chars[start..(start + len).min(chars.len())];
        if gram.len() == len && gram.iter().all(|&c| is_cjk(c)) {
            let term: String = gram.iter().collect();
            if seen.insert(term.clone()) {
                terms.push(term);
            }
        }
    }
    assert_eq!(terms.len(), size, "could not draw {size} distinct terms");
    terms
}

/// 100 regexes of the kinds rules use: spaced-out terms, terms with suffixes, contact numbers,
/// URLs.
pub fn regexes(data: &Path) -> Vec<String> {
    let terms: Vec<String> = lexicon_terms(data)
        .into_iter()
        .filter(|t| {
            t.chars().count() >= 2 && t.chars().all(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c))
        })
        .take(80)
        .collect();
    let mut out = Vec::new();
    for term in &terms[..50] {
        let chars: Vec<String> = term
            .chars()
            .map(|c| regex::escape(&c.to_string()))
            .collect();
        out.push(chars.join(r"\s?"));
    }
    for term in &terms[50..80] {
        out.push(format!("{}(?:网|站|视频|图片|电影)", regex::escape(term)));
    }
    let generic = [
        r"qq\s*[:：]?\s*\d{5,11}",
        r"微信\s*[:：]?\s*[a-z0-9_-]{5,20}",
        r"1[3-9]\d{9}",
        r"https?://[a-z0-9.-]+\.(?:com|net|cc|vip|xyz)",
        r"www\.[a-z0-9-]+\.(?:com|net|cc)",
        r"\d{2,4}\s*元",
        r"加\s*[vV]\s*[:：]?",
        r"(?:注册|充值)送\d+",
        r"[a-z0-9]{8,}\.(?:top|xyz|vip)",
        r"\d{3,}\s*(?:万|亿)",
        r"(?:日|月)赚\d+",
        r"首存\d+",
        r"返水\d+%",
        r"(?:点击|立即)进入",
        r"免费(?:看|下载)",
        r"在线(?:观看|播放)",
        r"\d+\s*%\s*返利",
        r"(?:代|办)(?:开|理)\w{0,4}(?:发票|证)",
        r"(?:出售|购买)\w{0,4}(?:枪|弹)",
        r"[a-z]+\d{3,}",
    ];
    out.extend(generic.iter().map(|s| s.to_string()));
    assert_eq!(out.len(), 100);
    out
}
