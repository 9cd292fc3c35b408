//! Filing, licence and permit numbers as sites display them.
//!
//! Footers vary in width, spacing and punctuation (`京 ICP 证 110745 号`, full-width digits,
//! `—` for `-`, 【】 for []). Matching runs on a *filing view* of each zone: sitepatrol's
//! normalized text (NFKC, lower case, Simplified), with whitespace dropped, every dash folded to
//! `-` and every bracket to `[]`/`()`. The view keeps a map back to the original, so each
//! number is reported as the page showed it, with its offset.
//!
//! The formats, with real examples and where they were seen, are listed in
//! `rulesets/filing/README.md`.

use std::ops::Range;
use std::sync::{LazyLock, OnceLock};

use regex::Regex;
use regex_automata::meta::Regex as MetaRegex;
use serde::Serialize;

use super::provinces::{self, Province};
use crate::extract::ZoneKind;
use crate::normalize::{Derived, map_chars_into, normalize};

/// The kinds of number a site displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberKind {
    /// ICP 备案 (non-commercial filing): 京ICP备12345678号-1.
    IcpFiling,
    /// ICP 经营许可证: 京ICP证030173号.
    IcpLicence,
    /// 增值电信业务经营许可证: 粤B2-20090191.
    TelecomLicence,
    /// 公安联网备案: 京公网安备11010502030143号.
    PsbFiling,
    /// 互联网新闻信息服务许可证.
    NewsPermit,
    /// 网络出版服务许可证.
    PublishingPermit,
    /// 网络文化经营许可证.
    CulturePermit,
    /// 信息网络传播视听节目许可证.
    AudioVideoPermit,
    /// 广播电视节目制作经营许可证.
    RadioTvPermit,
    /// 互联网药品信息服务资格证书.
    DrugInfoPermit,
    /// 互联网药品交易服务资格证书.
    DrugTradePermit,
    /// 医疗器械网络交易服务第三方平台备案.
    MedicalDevicePermit,
    /// 互联网宗教信息服务许可证.
    ReligionPermit,
}

impl NumberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberKind::IcpFiling => "icp_filing",
            NumberKind::IcpLicence => "icp_licence",
            NumberKind::TelecomLicence => "telecom_licence",
            NumberKind::PsbFiling => "psb_filing",
            NumberKind::NewsPermit => "news_permit",
            NumberKind::PublishingPermit => "publishing_permit",
            NumberKind::CulturePermit => "culture_permit",
            NumberKind::AudioVideoPermit => "audio_video_permit",
            NumberKind::RadioTvPermit => "radio_tv_permit",
            NumberKind::DrugInfoPermit => "drug_info_permit",
            NumberKind::DrugTradePermit => "drug_trade_permit",
            NumberKind::MedicalDevicePermit => "medical_device_permit",
            NumberKind::ReligionPermit => "religion_permit",
        }
    }

    pub fn parse(name: &str) -> Option<NumberKind> {
        ALL_KINDS.into_iter().find(|k| k.as_str() == name)
    }

    /// Licences and permits beyond the ICP filing and the public-security filing.
    pub fn is_permit(self) -> bool {
        !matches!(
            self,
            NumberKind::IcpFiling
                | NumberKind::IcpLicence
                | NumberKind::TelecomLicence
                | NumberKind::PsbFiling
        )
    }
}

pub const ALL_KINDS: [NumberKind; 13] = [
    NumberKind::IcpFiling,
    NumberKind::IcpLicence,
    NumberKind::TelecomLicence,
    NumberKind::PsbFiling,
    NumberKind::NewsPermit,
    NumberKind::PublishingPermit,
    NumberKind::CulturePermit,
    NumberKind::AudioVideoPermit,
    NumberKind::RadioTvPermit,
    NumberKind::DrugInfoPermit,
    NumberKind::DrugTradePermit,
    NumberKind::MedicalDevicePermit,
    NumberKind::ReligionPermit,
];

/// A number found on a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisplayedNumber {
    pub kind: NumberKind,
    /// Canonical form: `京ICP备12345678号-1`, `京公网安备11010502030143号`.
    pub number: String,
    /// Without the site suffix (`京ICP备12345678号`): what identifies the filing holder.
    pub base: String,
    pub site_suffix: Option<u32>,
    /// The province the number names (canonical abbreviation), when it names one.
    pub province: Option<char>,
    /// The text as the page showed it.
    pub displayed: String,
    pub zone: ZoneKind,
    /// Byte offset of `displayed` in the zone's original text.
    pub offset: usize,
    /// What is wrong with the number; empty when it is well formed.
    pub problems: Vec<String>,
}

impl DisplayedNumber {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Build the filing view of a zone's normalized text: whitespace dropped, dashes and brackets
/// folded.
fn filing_view(normalized: &Derived) -> Derived {
    let mut view = Derived::new();
    map_chars_into(&normalized.text, &mut view, |c| match c {
        c if c.is_whitespace() => None,
        '\u{2010}'..='\u{2015}'
        | '\u{2212}'
        | '\u{FE63}'
        | '\u{2E3A}'
        | '\u{2E3B}'
        | '\u{30FC}' => Some('-'),
        '【' | '〔' | '［' | '〖' | '「' => Some('['),
        '】' | '〕' | '］' | '〗' | '」' => Some(']'),
        '（' => Some('('),
        '）' => Some(')'),
        '：' => Some(':'),
        c => Some(c),
    });
    view
}

struct Pattern {
    kind: NumberKind,
    regex: Regex,
}

fn patterns() -> &'static [Pattern] {
    static PATTERNS: OnceLock<Vec<Pattern>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let p = format!("[{}]", provinces::all_chars());
        // A label such as 许可证, 编号:, 证号: between a permit's name and its number.
        let label = r"(?:许可证|证书|资格证书|备案)?(?:编?号)?[:]?";
        let specs: Vec<(NumberKind, String)> = vec![
            (
                NumberKind::IcpFiling,
                format!(r"(?P<p>{p})icp备(?:案号?)?[:]?(?P<d>\d{{5,12}})(?:-(?P<s1>\d{{1,4}}))?号?(?:-(?P<s2>\d{{1,4}}))?"),
            ),
            (
                NumberKind::IcpLicence,
                format!(r"(?P<p>{p})icp证[:]?(?P<d>\d{{4,9}})(?:-(?P<s1>\d{{1,4}}))?号?(?:-(?P<s2>\d{{1,4}}))?"),
            ),
            // The old form without 备 or 证 (京ICP00000008号, Sohu's footer in 2005), read as
            // a licence because it is shown as 经营许可证编号.
            (
                NumberKind::IcpLicence,
                format!(r"(?P<p>{p})icp(?P<old>)(?P<d>\d{{6,8}})号(?:-(?P<s1>\d{{1,4}}))?"),
            ),
            (
                NumberKind::TelecomLicence,
                format!(
                    r"(?:(?P<p>{p})|合字)?(?P<c>(?:[a-e][1-9][.,、])*[ab][12](?:[.,、][a-e][1-9])*)-(?P<d>(?:19|20)\d{{6}})(?:-(?P<s1>\d{{1,4}}))?"
                ),
            ),
            // A dashed old form (滇B-2-4-20030004, yunnan.cn's footer in pages-zh 9890f458).
            (
                NumberKind::TelecomLicence,
                format!(r"(?P<p>{p})(?P<odd>b-[12](?:-\d{{1,2}})?)-(?P<d>(?:19|20)\d{{6}})"),
            ),
            (
                NumberKind::PsbFiling,
                format!(r"(?P<p>{p})公网安备[:]?(?P<d>\d{{6,16}}(?:-\d{{1,4}})?)号?"),
            ),
            (
                NumberKind::NewsPermit,
                format!(r"互联网新闻信息服务{label}(?P<d>\d{{11}})"),
            ),
            (
                NumberKind::PublishingPermit,
                format!(r"(?:\((?:总|署)\))?(?:网出证|新出网证)\((?P<p>{p})\)字第?(?P<d>\d{{2,4}})号"),
            ),
            (
                NumberKind::CulturePermit,
                format!(r"(?P<p>{p})网文(?:许字)?\[(?P<y>\d{{4}})\](?P<d>\d{{3,4}}-\d{{3}})号"),
            ),
            (
                NumberKind::AudioVideoPermit,
                // Often shortened to 视听节目许可证 (yangtse.com's footer in pages-zh).
                format!(r"(?:信息网络传播)?视听节目{label}(?P<d>\d{{7}})号?"),
            ),
            (
                NumberKind::RadioTvPermit,
                format!(r"广播电视节目制作经营{label}\(?(?P<p>{p})\)?字第?(?P<d>\d{{3,6}})号"),
            ),
            (
                NumberKind::DrugInfoPermit,
                format!(
                    r"\(?(?P<p>{p})\)?-?\(?(?P<n>非?经营性|非营业性)\)?-(?P<y>\d{{4}})-(?P<d>\d{{4}})"
                ),
            ),
            (
                NumberKind::DrugTradePermit,
                format!(r"互联网药品交易(?:服务)?{label}(?P<p>{p})(?P<c>[abc])(?P<d>\d{{8}})"),
            ),
            (
                NumberKind::MedicalDevicePermit,
                format!(r"\((?P<p>{p})\)网械平台备字[\[(](?P<y>\d{{4}})[\])]第?(?P<d>\d{{5}})号"),
            ),
            (
                NumberKind::ReligionPermit,
                format!(r"互联网宗教信息服务{label}(?P<p>{p})\((?P<y>\d{{4}})\)(?P<d>\d{{7}})"),
            ),
        ];
        specs
            .into_iter()
            .map(|(kind, source)| Pattern {
                kind,
                regex: Regex::new(&source).expect("the filing patterns are valid regexes"),
            })
            .collect()
    })
}

/// The words every number comes with, as they read in the filing view: a zone without one
/// holds no number at all.
const NUMBER_WORDS: &[&str] = &[
    "icp",
    "公网安备",
    "b2-",
    "b1-",
    // The dashed old form (滇b-2-4-20030004): found by the `filing_detect` fuzz target,
    // which saw it missed when the footer had no other filing word.
    "b-2",
    "b-1",
    "许可证",
    "经营性",
    "营业性",
    "网文",
    "网出证",
    "新出网证",
    "网械",
    "资格证",
];

/// Whether normalized text may hold a number: whether its filing view would contain one of
/// [`NUMBER_WORDS`]. Asked of the normalized text itself, with what the view changes folded
/// into the pattern (whitespace anywhere between a word's characters, every dash the view
/// folds to `-`), so that the many zones and link texts without such a word are never copied
/// into a view: building views took most of a crawl's filing time.
pub(crate) fn may_hold_numbers(normalized: &str) -> bool {
    number_words().is_match(normalized)
}

/// Where [`NUMBER_WORDS`] occur in normalized text, read as [`may_hold_numbers`] reads it.
pub(crate) fn number_words_in(normalized: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    number_words().find_iter(normalized).map(|m| m.range())
}

/// The words as one automaton, run without a literal prefilter: the words start with `i` and
/// `b`, which scripts and English text are full of, and a prefilter stopping at each of them
/// made the search several times slower than the DFA alone.
fn number_words() -> &'static MetaRegex {
    static WORDS: LazyLock<MetaRegex> = LazyLock::new(|| {
        let dash = "[-\u{2010}-\u{2015}\u{2212}\u{FE63}\u{2E3A}\u{2E3B}\u{30FC}]";
        let words: Vec<String> = NUMBER_WORDS
            .iter()
            .map(|word| {
                word.chars()
                    .map(|c| match c {
                        '-' => dash.to_string(),
                        c => regex::escape(&c.to_string()),
                    })
                    .collect::<Vec<_>>()
                    .join(r"\s*")
            })
            .collect();
        MetaRegex::builder()
            .configure(MetaRegex::config().auto_prefilter(false))
            .build(&words.join("|"))
            .expect("valid regex")
    });
    &WORDS
}

/// Every number in one zone's text.
pub fn detect_in_zone(zone: ZoneKind, original: &str) -> Vec<DisplayedNumber> {
    detect_in_normalized(zone, original, &normalize(original))
}

/// Every number in one zone's text, given its normalized form (`normalize(original)`), so a
/// page's zones are normalized once for every detector that reads them.
pub fn detect_in_normalized(
    zone: ZoneKind,
    original: &str,
    normalized: &Derived,
) -> Vec<DisplayedNumber> {
    if !may_hold_numbers(&normalized.text) {
        return Vec::new();
    }
    let view = filing_view(normalized);
    let mut found = Vec::new();
    let mut taken: Vec<std::ops::Range<usize>> = Vec::new();
    for pattern in patterns() {
        for caps in pattern.regex.captures_iter(&view.text) {
            let whole = caps.get(0).expect("group 0 always matches");
            // A number inside another one (the licence digits of 京ICP证 also read as ...)
            // is not a second number.
            if taken
                .iter()
                .any(|r| r.start <= whole.start() && whole.end() <= r.end)
            {
                continue;
            }
            // Digits glued to more digits are part of something else (a phone number, an id).
            let before = view.text[..whole.start()].chars().next_back();
            if pattern.kind == NumberKind::TelecomLicence
                && caps.name("p").is_none()
                && before.is_some_and(|c| c.is_ascii_alphanumeric())
            {
                continue;
            }
            let in_normalized = view.source_range(whole.range(), &normalized.text);
            let in_original = normalized.source_range(in_normalized, original);
            let displayed = original[in_original.clone()].trim().to_string();
            if let Some(number) = build(pattern.kind, &caps, displayed, zone, in_original.start) {
                taken.push(whole.range());
                found.push(number);
            }
        }
    }
    found.sort_by_key(|n| n.offset);
    found
}

fn build(
    kind: NumberKind,
    caps: &regex::Captures<'_>,
    displayed: String,
    zone: ZoneKind,
    offset: usize,
) -> Option<DisplayedNumber> {
    let parts = Parts::of(caps);
    let mut problems = Vec::new();
    if parts.written_province == Some('云') {
        problems.push("云 appears in placeholder text; Yunnan numbers use 滇".to_string());
    }
    if is_placeholder(&parts.digits) {
        problems.push(format!(
            "{} is a placeholder, not a real number",
            parts.digits
        ));
    }
    let (prov, digits) = (&parts.prov, &parts.digits);
    let year = parts.group("y").unwrap_or("");
    let unsuffixed = |base: String| (base.clone(), base);
    let (number, base) = match kind {
        NumberKind::IcpFiling | NumberKind::IcpLicence => icp_number(kind, &parts, &mut problems),
        NumberKind::TelecomLicence => telecom_licence(&parts, &displayed, &mut problems),
        NumberKind::PsbFiling => unsuffixed(psb_filing(&parts, &mut problems)),
        NumberKind::DrugInfoPermit => unsuffixed(drug_info_permit(&parts, &mut problems)),
        NumberKind::CulturePermit => unsuffixed(format!("{prov}网文[{year}]{digits}号")),
        NumberKind::DrugTradePermit => {
            let class = parts.group("c").unwrap_or("").to_ascii_uppercase();
            unsuffixed(format!("{prov}{class}{digits}"))
        }
        NumberKind::PublishingPermit => unsuffixed(format!("网出证({prov})字第{digits}号")),
        NumberKind::RadioTvPermit => unsuffixed(format!("({prov})字第{digits}号")),
        NumberKind::MedicalDevicePermit => {
            unsuffixed(format!("({prov})网械平台备字[{year}]第{digits}号"))
        }
        NumberKind::ReligionPermit => unsuffixed(format!("{prov}({year}){digits}")),
        NumberKind::NewsPermit | NumberKind::AudioVideoPermit => unsuffixed(digits.clone()),
    };
    Some(DisplayedNumber {
        kind,
        number,
        base,
        site_suffix: parts.suffix,
        province: parts.province.map(|p| p.abbreviation),
        displayed,
        zone,
        offset,
        problems,
    })
}

/// The parts of a number's match that every kind reads.
struct Parts<'c, 'h> {
    caps: &'c regex::Captures<'h>,
    /// The province character as written (`云` among them).
    written_province: Option<char>,
    province: Option<&'static Province>,
    /// The canonical abbreviation of the province, or nothing.
    prov: String,
    digits: String,
    suffix: Option<u32>,
}

impl<'c, 'h> Parts<'c, 'h> {
    fn of(caps: &'c regex::Captures<'h>) -> Parts<'c, 'h> {
        let group = |name: &str| caps.name(name).map(|m| m.as_str());
        let written_province = group("p").and_then(|p| p.chars().next());
        let province = written_province.and_then(provinces::by_char);
        Parts {
            caps,
            written_province,
            province,
            prov: province
                .map(|p| p.abbreviation.to_string())
                .unwrap_or_default(),
            digits: group("d").unwrap_or("").to_string(),
            suffix: group("s1")
                .or(group("s2"))
                .and_then(|s| s.parse::<u32>().ok()),
        }
    }

    fn group(&self, name: &str) -> Option<&'h str> {
        self.caps.name(name).map(|m| m.as_str())
    }

    /// `base` with the site suffix, when the number has one.
    fn with_suffix(&self, base: String) -> (String, String) {
        let number = match self.suffix {
            Some(s) => format!("{base}-{s}"),
            None => base.clone(),
        };
        (number, base)
    }
}

/// An ICP filing (8 or 10 digits, a plausible year in the 10-digit form) or licence number
/// (6 digits, not the old form without 备 or 证): `(number, base)`.
fn icp_number(
    kind: NumberKind,
    parts: &Parts<'_, '_>,
    problems: &mut Vec<String>,
) -> (String, String) {
    let digits = &parts.digits;
    let label = if kind == NumberKind::IcpFiling {
        "ICP备"
    } else {
        "ICP证"
    };
    let base = format!("{}{label}{digits}号", parts.prov);
    if kind == NumberKind::IcpFiling {
        match digits.len() {
            8 => {}
            10 => {
                let year: u32 = digits[..4].parse().unwrap_or(0);
                if !(2000..=crate::clock::current_year()).contains(&year) {
                    problems.push(format!(
                        "the year {year} in a 10-digit filing number is not plausible"
                    ));
                }
            }
            n => problems.push(format!(
                "an ICP filing number has 8 or 10 digits, this one has {n}"
            )),
        }
    } else if parts.group("old").is_some() {
        problems.push("an old form without 备 or 证".to_string());
    } else if digits.len() != 6 {
        problems.push(format!(
            "an ICP licence number has 6 digits, this one has {}",
            digits.len()
        ));
    }
    parts.with_suffix(base)
}

/// A telecom business licence (`滇B2-20030004`): its categories, a plausible year, and the
/// province or 合字 of joint ventures: `(number, base)`.
fn telecom_licence(
    parts: &Parts<'_, '_>,
    displayed: &str,
    problems: &mut Vec<String>,
) -> (String, String) {
    let digits = &parts.digits;
    let categories = match parts.group("odd") {
        Some(odd) => {
            problems.push(format!(
                "a nonstandard form ({}); licences read like 滇B2-20030004",
                odd.to_ascii_uppercase()
            ));
            odd.to_ascii_uppercase()
        }
        None => parts
            .group("c")
            .unwrap_or("b2")
            .to_ascii_uppercase()
            .replace([',', '、'], "."),
    };
    let year: u32 = digits[..4].parse().unwrap_or(0);
    if !(1995..=crate::clock::current_year()).contains(&year) {
        problems.push(format!(
            "the year {year} in the licence number is not plausible"
        ));
    }
    let prefix = match (parts.province, displayed.contains('合')) {
        (Some(p), _) => p.abbreviation.to_string(),
        (None, true) => "合字".to_string(),
        (None, false) => String::new(),
    };
    parts.with_suffix(format!("{prefix}{categories}-{digits}"))
}

/// A public-security filing number: 14 digits (12 in the older form with a dash) whose region
/// code belongs to the province it names.
fn psb_filing(parts: &Parts<'_, '_>, problems: &mut Vec<String>) -> String {
    let digits = &parts.digits;
    let base = format!("{}公网安备{digits}号", parts.prov);
    let (code, older) = match digits.split_once('-') {
        Some((code, _)) => (code, true),
        None => (digits.as_str(), false),
    };
    if older && code.len() != 12 {
        problems.push(format!(
            "the older public-security form has 12 digits, this one has {}",
            code.len()
        ));
    } else if !older && code.len() != 14 {
        problems.push(format!(
            "a public-security filing number has 14 digits, this one has {}",
            code.len()
        ));
    }
    if let (Some(province), Some(region)) = (parts.province, code.get(..2))
        && region.parse::<u8>().ok() != Some(province.code)
    {
        problems.push(format!(
            "the region code {} does not belong to {} ({}; expected {}…)",
            &code[..code.len().min(6)],
            province.name,
            province.abbreviation,
            province.code
        ));
    }
    base
}

/// A drug information permit: `(京)-经营性-2019-0001`; 非营业性 is a misspelling.
fn drug_info_permit(parts: &Parts<'_, '_>, problems: &mut Vec<String>) -> String {
    let nature = parts.group("n").unwrap_or("经营性");
    if nature == "非营业性" {
        problems.push("非营业性 is a misspelling of 非经营性".to_string());
    }
    let year = parts.group("y").unwrap_or("");
    format!("({})-{nature}-{year}-{}", parts.prov, parts.digits)
}

/// Digits that templates ship with.
fn is_placeholder(digits: &str) -> bool {
    let plain: String = digits.chars().filter(char::is_ascii_digit).collect();
    if plain.len() < 6 {
        return false;
    }
    let all_same = plain
        .chars()
        .all(|c| c == plain.chars().next().unwrap_or('0'));
    all_same || "12345678901234567890".starts_with(&plain) || plain.starts_with("12345678")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `may_hold_numbers` reads the normalized text as its filing view would read: the same
    /// answer as looking for the words in the view itself, on text made of the words' pieces,
    /// whitespace and every dash the view folds.
    #[test]
    fn the_word_check_answers_as_the_view_would() {
        use proptest::prelude::*;
        let pieces = prop::sample::select(vec![
            "i", "c", "p", "icp", "公", "网", "安", "备", "b", "2", "1", "-", "\u{2014}",
            "\u{30FC}", "\u{2212}", "许可", "证", "经营", "性", "营业", "文", "出", "新", "械",
            "资格", " ", "\u{3000}", "\n", "\t", "x", "【", "：", "_", "\u{00a0}",
        ]);
        proptest!(ProptestConfig::with_cases(2000), |(parts in prop::collection::vec(pieces, 0..12))| {
            let text: String = parts.concat();
            let normalized = normalize(&text);
            let view = filing_view(&normalized);
            let in_view = NUMBER_WORDS.iter().any(|w| view.text.contains(w));
            prop_assert_eq!(may_hold_numbers(&normalized.text), in_view, "{:?}", normalized.text);
        });
    }

    fn one(text: &str) -> DisplayedNumber {
        let found = detect_in_zone(ZoneKind::Text, text);
        assert_eq!(
            found.len(),
            1,
            "expected one number in {text:?}, got {found:#?}"
        );
        found.into_iter().next().unwrap()
    }

    // Examples from ../shared/docs/filing-formats.md; sources in rulesets/filing/README.md.

    #[test]
    fn icp_filings() {
        let n = one("版权所有 苏ICP备17065836号");
        assert_eq!(
            (n.kind, n.number.as_str()),
            (NumberKind::IcpFiling, "苏ICP备17065836号")
        );
        assert!(n.is_valid(), "{:?}", n.problems);
        let n = one("粤ICP备16057936号-4");
        assert_eq!(
            (n.number.as_str(), n.base.as_str(), n.site_suffix),
            ("粤ICP备16057936号-4", "粤ICP备16057936号", Some(4))
        );
        let n = one("ICP备案号：京ICP备05004340号-1");
        assert_eq!(n.number, "京ICP备05004340号-1");
        // The suffix misplaced before 号.
        assert_eq!(one("滇ICP备09010050-5号").number, "滇ICP备09010050号-5");
        // Ten digits, four of them the year.
        let n = one("粤ICP备2021123456号-3");
        assert!(n.is_valid(), "{:?}", n.problems);
        assert_eq!(n.number, "粤ICP备2021123456号-3");
    }

    #[test]
    fn spacing_width_and_punctuation_variants() {
        let n = one("京 ICP 备 05004340 号 — 1");
        assert_eq!(n.number, "京ICP备05004340号-1");
        let n = one("粤ＩＣＰ备１６０５７９３６号－４");
        assert_eq!(n.number, "粤ICP备16057936号-4");
        assert_eq!(n.displayed, "粤ＩＣＰ备１６０５７９３６号－４");
        let n = one("蒙icp备05000248号");
        assert_eq!(n.number, "蒙ICP备05000248号");
        // Traditional province character folds to Simplified.
        assert_eq!(one("滬ICP備11021479號-2").number, "沪ICP备11021479号-2");
    }

    #[test]
    fn offsets_point_at_the_displayed_text() {
        let text = "联系我们 | 京ＩＣＰ备05004340号";
        let n = one(text);
        assert_eq!(
            &text[n.offset..n.offset + n.displayed.len()],
            "京ＩＣＰ备05004340号"
        );
    }

    #[test]
    fn malformed_filings_are_reported() {
        let n = one("京ICP备0500434号");
        assert!(n.problems[0].contains("8 or 10 digits"), "{:?}", n.problems);
        let n = one("云ICP备12345678号");
        assert_eq!(n.province, Some('滇'));
        assert_eq!(n.problems.len(), 2, "{:?}", n.problems);
        let n = one("粤ICP备3021123456号");
        assert!(n.problems[0].contains("year 3021"), "{:?}", n.problems);
    }

    #[test]
    fn icp_licences() {
        let n = one("京ICP证030173号");
        assert_eq!(
            (n.kind, n.number.as_str()),
            (NumberKind::IcpLicence, "京ICP证030173号")
        );
        assert!(n.is_valid());
        assert_eq!(one("京 ICP 证 110745 号").number, "京ICP证110745号");
        let n = one("鄂ICP证:020001-5");
        assert_eq!(n.number, "鄂ICP证020001号-5");
        // The pre-2006 form, seen on sohu.com pages in pages-zh.
        let n = one("*经营许可证编号：京ICP00000008号");
        assert_eq!(
            (n.kind, n.number.as_str()),
            (NumberKind::IcpLicence, "京ICP证00000008号")
        );
        assert!(n.problems[0].contains("old form"));
    }

    #[test]
    fn telecom_licences() {
        let n = one("增值电信业务经营许可证：粤B2-20090191-2");
        assert_eq!(
            (n.kind, n.number.as_str()),
            (NumberKind::TelecomLicence, "粤B2-20090191-2")
        );
        assert_eq!(one("沪B2-20100043").number, "沪B2-20100043");
        assert_eq!(one("经营许可证 B2-20090028").number, "B2-20090028");
        assert_eq!(one("合字B2-20190051").number, "合字B2-20190051");
        assert_eq!(one("浙A1.B1.B2-20110446").number, "浙A1.B1.B2-20110446");
        let odd = one("经营许可证编号：滇B-2-4-20030004");
        assert_eq!(odd.number, "滇B-2-4-20030004");
        assert!(
            odd.problems[0].contains("nonstandard"),
            "{:?}",
            odd.problems
        );
        // A product code is not a licence.
        assert!(detect_in_zone(ZoneKind::Text, "型号 XB2-20230101").is_empty());
        // Regression (fuzz/regressions/filing_detect): the dashed form alone, with no other
        // filing word beside it, was skipped by the pre-filter.
        let alone = detect_in_zone(ZoneKind::Text, "滇B-2-4-20030004");
        assert_eq!(alone.len(), 1, "{alone:?}");
        assert_eq!(alone[0].kind, NumberKind::TelecomLicence);
    }

    #[test]
    fn public_security_filings() {
        let n = one("京公网安备11000002000001号");
        assert_eq!(
            (n.kind, n.number.as_str()),
            (NumberKind::PsbFiling, "京公网安备11000002000001号")
        );
        assert!(n.is_valid(), "{:?}", n.problems);
        assert!(one("沪公网安备 31010502000027号").is_valid());
        assert!(one("鄂公网安备 42010202000111号").is_valid());
        assert!(one("京公网安备:110102003042-1").is_valid());
        let wrong_region = one("京公网安备44010602000001号");
        assert!(
            wrong_region.problems[0].contains("does not belong to 北京"),
            "{:?}",
            wrong_region.problems
        );
        let short = one("京公网安备1101050203014号");
        assert!(
            short.problems[0].contains("14 digits"),
            "{:?}",
            short.problems
        );
    }

    #[test]
    fn permits() {
        let cases = [
            (
                "互联网药品信息服务资格证书：(京)-经营性-2014-0008",
                NumberKind::DrugInfoPermit,
                "(京)-经营性-2014-0008",
            ),
            (
                "（粤）—经营性—2018—0092",
                NumberKind::DrugInfoPermit,
                "(粤)-经营性-2018-0092",
            ),
            (
                "浙-（经营性）-2017-0005",
                NumberKind::DrugInfoPermit,
                "(浙)-经营性-2017-0005",
            ),
            (
                "(京)-非经营性-2014-0090",
                NumberKind::DrugInfoPermit,
                "(京)-非经营性-2014-0090",
            ),
            (
                "粤网文[2023]2882-203号",
                NumberKind::CulturePermit,
                "粤网文[2023]2882-203号",
            ),
            (
                "京网文【2013】0934-983号",
                NumberKind::CulturePermit,
                "京网文[2013]0934-983号",
            ),
            (
                "信息网络传播视听节目许可证：0910417",
                NumberKind::AudioVideoPermit,
                "0910417",
            ),
            (
                "新出网证（粤）字010号",
                NumberKind::PublishingPermit,
                "网出证(粤)字第010号",
            ),
            (
                "（署）网出证（粤）字第054号",
                NumberKind::PublishingPermit,
                "网出证(粤)字第054号",
            ),
            (
                "互联网新闻信息服务许可证：31120170006",
                NumberKind::NewsPermit,
                "31120170006",
            ),
            (
                "广播电视节目制作经营许可证（沪）字第1248号",
                NumberKind::RadioTvPermit,
                "(沪)字第1248号",
            ),
            (
                "(京)网械平台备字(2018)第00003号",
                NumberKind::MedicalDevicePermit,
                "(京)网械平台备字[2018]第00003号",
            ),
            (
                "（浙）网械平台备字[2018]第00002号",
                NumberKind::MedicalDevicePermit,
                "(浙)网械平台备字[2018]第00002号",
            ),
            (
                "互联网宗教信息服务许可证：粤（2022）0000011",
                NumberKind::ReligionPermit,
                "粤(2022)0000011",
            ),
            (
                "互联网药品交易服务资格证书：粤C20150007",
                NumberKind::DrugTradePermit,
                "粤C20150007",
            ),
        ];
        for (text, kind, number) in cases {
            let n = one(text);
            assert_eq!((n.kind, n.number.as_str()), (kind, number), "in {text:?}");
        }
        assert!(one("(京)-非营业性-2014-0090").problems[0].contains("misspelling"));
    }

    #[test]
    fn a_footer_with_everything() {
        let footer = "京ICP证030173号-1 京ICP备05004340号-1 京公网安备11000002000001号 \
                      京网文[2019]1234-123号 增值电信业务经营许可证：京B2-20090059";
        let kinds: Vec<NumberKind> = detect_in_zone(ZoneKind::Text, footer)
            .iter()
            .map(|n| n.kind)
            .collect();
        assert_eq!(
            kinds,
            vec![
                NumberKind::IcpLicence,
                NumberKind::IcpFiling,
                NumberKind::PsbFiling,
                NumberKind::CulturePermit,
                NumberKind::TelecomLicence
            ]
        );
    }

    #[test]
    fn ordinary_text_has_no_numbers() {
        for text in [
            "电话：010-12345678 传真：010-87654321",
            "订单号 2023120112345678",
            "ICP 是互联网内容提供商的缩写",
            "备案 号码 之类的说明文字",
        ] {
            assert!(detect_in_zone(ZoneKind::Text, text).is_empty(), "{text}");
        }
    }
}
