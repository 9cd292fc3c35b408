//! Bytes → UTF-8.
//!
//! Order of evidence: BOM, then the HTTP `Content-Type` charset, then the XML declaration /
//! `<meta charset>` / `http-equiv` (see [`PRESCAN_LIMIT`] for how far we look), then
//! statistical detection (BOM-less UTF-16/32 by NUL pattern, UTF-8 by validity, then
//! chardetng). GBK and GB2312 are decoded as GB18030. A declaration that the bytes contradict
//! is overruled and the reason is recorded, so `extract` can show how the encoding was
//! decided.
//!
//! # Why declarations are second-guessed at all
//!
//! Declarations are wrong often enough to matter: servers send a default
//! `charset=iso-8859-1`, templates converted to UTF-8 keep their `charset=gb2312`, pages are
//! copied between sites. A scanner that decodes such a page as declared sees mojibake and
//! misses every rule (or, worse, matches rules on mojibake). Browsers can afford to trust the
//! author; a scanner cannot. But every check must also leave correct declarations alone:
//! `tests/it/decode_accuracy.rs` gives all 454 labelled documents of both corpora their true
//! encoding as an HTTP header and requires that none is overruled.
//!
//! * **Declared legacy, bytes are UTF-8.** Valid UTF-8 with at least
//!   [`UTF8_OVER_LEGACY_MIN`] multi-byte sequences (one, under a single-byte declaration) is
//!   not legacy text by accident: a GBK character has roughly a 1-in-8 chance of forming
//!   valid UTF-8 and the odds multiply. Damaged or very short UTF-8 wins when it decodes with
//!   far fewer malformed sequences than the declared encoding.
//! * **Declared UTF-8, bytes are not.** A page with at most one malformed sequence, with
//!   many more valid multi-byte sequences than malformed ones, or whose malformed sequences
//!   are under [`UTF8_FAILS_BADLY_PERCENT`] of its bytes, is damaged UTF-8 and stays UTF-8.
//!   Otherwise detection decides, if its encoding decodes cleanly and with far fewer errors;
//!   a single-byte guess (which decodes anything) also needs the UTF-8 reading to hold next
//!   to no valid text.
//! * **Declared single-byte (windows-1252, iso-8859-1, ...), bytes are double-byte CJK.** Every
//!   byte sequence is "valid" in a single-byte encoding, so errors prove nothing. If most
//!   non-ASCII bytes come in runs (as in CJK text), detection is consulted, and a CJK answer
//!   that also decodes cleanly wins.
//! * **Many malformed sequences under the declared encoding** (about one per hundred non-ASCII
//!   characters or more): detection decides, if its encoding decodes with far fewer errors.
//!   A few errors are normal (pages cut off mid-character, one bad byte from a CMS) and do not
//!   trigger the detector at all.
//!
//! This keeps the common declared page on the fast path: a UTF-8 probe that gives up within
//! the first few non-ASCII characters of a legacy page, plus one decoding pass. chardetng,
//! which is ~100 times slower than decoding, runs only for undeclared pages and when a check
//! asks.
//!
//! When the highest-precedence declaration is overruled, a lower one that survives its own
//! checks is used (a server default `charset=iso-8859-1` header over `<meta charset=gbk>` is
//! the classic case): then `decided_by` names that declaration and `overruled` still says
//! why the first one lost. Only when no declaration survives is `decided_by`
//! [`DecidedBy::DetectedOverDeclaration`].
//!
//! Big5 text declared GBK or GB2312 (a Hong Kong or Taiwan page on a server whose default
//! says gbk) decodes cleanly as GBK, so it is recognised by where its characters fall: under
//! 80% in the GB2312 area, where Simplified text keeps 97% or more. GB text declared Big5 is
//! the reverse: under 10% of its characters have a trail byte below 0x80, where Big5 text
//! puts about 40%. Only such pages are shown to chardetng, and only its answer of the other
//! Chinese encoding overrules.
//!
//! Blind spot, by choice: other wrong CJK declarations under which the bytes decode *cleanly*
//! (EUC-KR declared GBK) are not caught. GBK accepts almost any byte pair, so only chardetng
//! could tell, and running it on every declared page would cost about 0.4 ms per page. The
//! tests report how many such cases slip through.
//!
//! # Detection
//!
//! Without a usable declaration: BOM-less UTF-16/UTF-32 by where the NUL bytes are; pure ASCII
//! is reported as UTF-8 (ISO-2022-JP if it has valid escapes); bytes that are UTF-8 with at
//! most the odd broken sequence are UTF-8 (chardetng would drop UTF-8 at the first bad byte,
//! e.g. a page cut off mid-character); otherwise chardetng decides on a bounded sample of the
//! non-ASCII text (see [`DETECT_BUDGET`]). Two repairs around chardetng's guess: a TLD hint
//! that yields a badly-decoding guess is dropped, and when a single broken character made a
//! CJK page look single-byte, chardetng is asked again without the broken runs.

mod detect;
mod prescan;
mod text;
mod wide;

#[cfg(test)]
mod tests;

pub use detect::{DETECT_BUDGET, normalize_tld};
pub use prescan::{PRESCAN_LIMIT, charset_from_content_type, resolve_label};

use detect::Wide;
use encoding_rs::{BIG5, EUC_JP, EUC_KR, Encoding, GB18030, ISO_2022_JP, SHIFT_JIS, UTF_8};
use serde::Serialize;
use text::{Converted, Utf8Scan, convert};
use wide::Form;

/// What the caller knows about the bytes besides the bytes themselves.
#[derive(Debug, Default, Clone, Copy)]
pub struct DecodeOptions<'a> {
    /// The HTTP `Content-Type` header value, when the bytes came over HTTP.
    pub content_type: Option<&'a str>,
    /// The top-level domain of the page's host (`"cn"`, `"tw"`), a hint for detection. Any
    /// string is accepted; see [`normalize_tld`].
    pub tld: Option<&'a str>,
}

/// Where the chosen encoding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    Bom,
    HttpHeader,
    Meta,
    XmlDeclaration,
    /// No usable declaration: detection's guess.
    Detected,
    /// A declaration existed but the bytes contradicted it; see [`Decoded::overruled`].
    DetectedOverDeclaration,
}

impl DecidedBy {
    fn describe(self) -> &'static str {
        match self {
            DecidedBy::Bom => "BOM",
            DecidedBy::HttpHeader => "HTTP header",
            DecidedBy::Meta => "meta",
            DecidedBy::XmlDeclaration => "XML declaration",
            DecidedBy::Detected | DecidedBy::DetectedOverDeclaration => "detection",
        }
    }
}

/// A charset declaration found in the header or the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Declaration {
    pub source: DecidedBy,
    /// The label as written (`gb2312`, `utf8`, ...), without surrounding quotes and spaces.
    pub label: String,
    /// The encoding the label stands for, if it is a known label, by [`encoding_name`]. For
    /// in-document declarations the HTML rules apply: `utf-16` means UTF-8 (the declaration
    /// was readable as ASCII, so the document is not UTF-16) and `x-user-defined` means
    /// windows-1252. Labels of the WHATWG "replacement" encoding (`iso-2022-kr`,
    /// `hz-gb-2312`, ...) give `"replacement"`; such declarations are never used.
    pub encoding: Option<&'static str>,
}

/// The result of decoding.
#[derive(Debug, Clone, Serialize)]
pub struct Decoded {
    #[serde(skip)]
    pub text: String,
    /// The encoding_rs encoding the bytes were decoded with (GB18030 for GBK/GB2312 content).
    /// encoding_rs has no UTF-32; for UTF-32 input this is the UTF-16 encoding of the same
    /// byte order, and [`Decoded::name`] tells them apart.
    #[serde(skip)]
    pub encoding: &'static Encoding,
    /// The name to report: [`encoding_name`] of `encoding`, or `"UTF-32LE"`/`"UTF-32BE"`.
    /// Serialized as `encoding`.
    #[serde(rename = "encoding")]
    pub name: &'static str,
    pub decided_by: DecidedBy,
    /// Every declaration seen, in order of precedence (header, XML declaration, meta).
    pub declarations: Vec<Declaration>,
    /// Why a declaration was overruled, when it was. Set with `decided_by` =
    /// `DetectedOverDeclaration`, or with a lower-precedence declaration's source when that
    /// one was used instead.
    pub overruled: Option<String>,
    /// How many malformed sequences were replaced with U+FFFD.
    pub malformed: usize,
}

/// The name sitepatrol reports for an encoding: GBK is reported as GB18030, which is what
/// it is decoded as.
pub fn encoding_name(encoding: &'static Encoding) -> &'static str {
    if encoding == encoding_rs::GBK {
        encoding_rs::GB18030.name()
    } else {
        encoding.name()
    }
}

/// Valid UTF-8 with at least this many multi-byte sequences beats a multi-byte legacy
/// declaration outright (one suffices against a single-byte declaration). A GBK character
/// forms valid UTF-8 about one time in eight, so four in a row by accident is about a
/// 1-in-4000 event for the shortest pages and impossible for real ones. Shorter valid UTF-8
/// still wins when the declared encoding produces errors.
pub const UTF8_OVER_LEGACY_MIN: usize = 4;

/// An alternative decoding must have fewer than 1/`MUCH_BETTER` of the malformed sequences
/// of the declared one to overrule it: detection is a guess, and near-ties go to the author.
const MUCH_BETTER: usize = 4;

/// A UTF-8 declaration is only second-guessed when at least this percentage of the page's
/// bytes are malformed sequences: a proportion, so that a few bad bytes planted in a long
/// page (ten sufficed against the old absolute count) cannot make the scanner read it as
/// windows-1252 while browsers show the declared UTF-8.
const UTF8_FAILS_BADLY_PERCENT: usize = 1;

/// A single-byte encoding overrules a UTF-8 declaration only when the malformed sequences
/// outnumber the valid non-ASCII characters this many times over.
const UTF8_TEXT_VS_SINGLE_BYTE: usize = 8;

/// Under a legacy encoding, one malformed sequence per this many non-ASCII bytes (about one
/// per hundred double-byte characters) is "many": enough to ask the detector. Truncated pages
/// and the odd bad byte stay well below it (the worst real GB2312 page in pages-zh has 12
/// errors in 27 818 non-ASCII bytes).
const MANY_MALFORMED_PER_NON_ASCII: usize = 200;

/// A single-byte declaration is only second-guessed when at least this many non-ASCII bytes
/// come in runs of two or more, and they are at least half of all non-ASCII bytes.
const PAIRED_MIN: usize = 16;

/// Minimum percentage of GB2312-area characters for a GBK guess made on repaired input (see
/// `text::gb2312_share`): every GBK page in the corpora is at 97% or more, Johab at most 45%.
const GB2312_SHARE_MIN: usize = 80;

/// Under a Big5 declaration, fewer than this percentage of double-byte characters with a
/// trail byte below 0x80 asks whether the text is GB (see `text::big5_low_trail_share`).
const BIG5_LOW_TRAIL_MIN: usize = 10;

/// The decision in a form that also covers UTF-32, which encoding_rs lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Enc(&'static Encoding),
    Wide(Form),
}

impl Choice {
    fn name(self) -> &'static str {
        match self {
            Choice::Enc(e) => encoding_name(e),
            Choice::Wide(f) => f.name(),
        }
    }

    fn encoding(self) -> &'static Encoding {
        match self {
            Choice::Enc(e) => e,
            Choice::Wide(f) => f.encoding(),
        }
    }

    fn is_single_byte(self) -> bool {
        matches!(self, Choice::Enc(e) if e.is_single_byte())
    }

    fn convert(self, bytes: &[u8]) -> Converted {
        match self {
            Choice::Enc(e) => convert(e, bytes),
            Choice::Wide(f) => wide::convert_form(f, bytes),
        }
    }
}

fn wide_form(w: Wide) -> Form {
    match w {
        Wide::Utf16Le => Form::Utf16Le,
        Wide::Utf16Be => Form::Utf16Be,
        Wide::Utf32Le => Form::Utf32Le,
        Wide::Utf32Be => Form::Utf32Be,
    }
}

/// The encoding sitepatrol decodes with for an encoding_rs/chardetng answer: GBK as GB18030.
fn as_decoded(e: &'static Encoding) -> &'static Encoding {
    if e == encoding_rs::GBK { GB18030 } else { e }
}

fn is_cjk_multibyte(e: &'static Encoding) -> bool {
    [GB18030, encoding_rs::GBK, BIG5, EUC_JP, EUC_KR, SHIFT_JIS].contains(&e)
}

/// At most one malformed sequence per 100 double-byte characters (`paired` counts bytes).
fn decodes_cleanly(malformed: usize, paired: usize) -> bool {
    malformed.saturating_mul(200) <= paired
}

fn much_better(alternative: usize, declared: usize) -> bool {
    declared >= 2 && alternative.saturating_mul(MUCH_BETTER) < declared
}

/// The outcome of checking one declaration against the bytes.
enum Verdict {
    Accept(Converted),
    /// The bytes contradict the declaration; the alternative the check found, if any.
    Contradicted {
        reason: String,
        alternative: Option<(Choice, Converted)>,
    },
}

/// Facts about the bytes, computed at most once and only when a check needs them.
struct Ctx<'a> {
    bytes: &'a [u8],
    tld: Option<String>,
    utf8: Option<Utf8Scan>,
    wide: Option<Option<Wide>>,
    non_ascii: Option<usize>,
    paired: Option<usize>,
    detected: Option<(Choice, Converted)>,
}

impl<'a> Ctx<'a> {
    fn new(bytes: &'a [u8], tld: Option<&str>) -> Self {
        Ctx {
            bytes,
            tld: tld.and_then(normalize_tld),
            utf8: None,
            wide: None,
            non_ascii: None,
            paired: None,
            detected: None,
        }
    }

    fn utf8(&mut self) -> Utf8Scan {
        *self.utf8.get_or_insert_with(|| text::scan_utf8(self.bytes))
    }

    fn wide(&mut self) -> Option<Wide> {
        *self
            .wide
            .get_or_insert_with(|| detect::sniff_wide(self.bytes))
    }

    fn non_ascii(&mut self) -> usize {
        *self
            .non_ascii
            .get_or_insert_with(|| text::count_non_ascii(self.bytes))
    }

    fn paired(&mut self) -> usize {
        *self
            .paired
            .get_or_insert_with(|| text::count_paired_non_ascii(self.bytes))
    }

    /// Most non-ASCII bytes come in runs, as in double-byte CJK text (and in non-Latin
    /// single-byte text; chardetng tells those apart).
    fn has_cjk_shape(&mut self) -> bool {
        let paired = self.paired();
        paired >= PAIRED_MIN && paired.saturating_mul(2) >= self.non_ascii()
    }

    /// Detection, ignoring declarations. Cached: several checks may ask.
    fn detected(&mut self) -> &(Choice, Converted) {
        if self.detected.is_none() {
            let d = self.detect();
            self.detected = Some(d);
        }
        self.detected.as_ref().expect("just set")
    }

    fn detect(&mut self) -> (Choice, Converted) {
        let bytes = self.bytes;
        if let Some(w) = self.wide() {
            let choice = Choice::Wide(wide_form(w));
            return (choice, choice.convert(bytes));
        }
        if Encoding::ascii_valid_up_to(bytes) == bytes.len() {
            // Pure ASCII decodes the same in every candidate; only 7-bit ISO-2022-JP differs.
            let choice = Choice::Enc(if detect::is_iso_2022_jp(bytes) {
                ISO_2022_JP
            } else {
                UTF_8
            });
            return (choice, choice.convert(bytes));
        }
        let utf8 = self.utf8();
        if utf8.is_mostly_utf8() {
            let choice = Choice::Enc(UTF_8);
            return (choice, choice.convert(bytes));
        }
        let tld = self.tld.clone();
        let mut choice = as_decoded(detect::chardetng_guess(bytes, tld.as_deref()));
        let mut converted = convert(choice, bytes);
        // The TLD is only a prior: on short texts it can pull chardetng to the wrong Chinese
        // encoding (GBK text on a .tw host read as Big5). If the guess decodes badly, the
        // guess without the hint gets a chance.
        if tld.is_some() && converted.malformed >= 2 {
            let plain = as_decoded(detect::chardetng_guess(bytes, None));
            if plain != choice {
                let c = convert(plain, bytes);
                if much_better(c.malformed, converted.malformed) {
                    (choice, converted) = (plain, c);
                }
            }
        }
        // chardetng drops a multi-byte candidate at its first malformed sequence: a single
        // broken character makes a CJK page look single-byte. If the bytes have the shape of
        // double-byte text, ask again without the broken runs, and take a CJK answer that
        // decodes cleanly.
        if choice.is_single_byte()
            && self.has_cjk_shape()
            && let Some(repaired) = detect::cjk_guess_without_odd_runs(bytes, tld.as_deref())
        {
            let repaired = as_decoded(repaired);
            let c = convert(repaired, bytes);
            // chardetng did not see the raw bytes; GBK, which accepts almost any byte pair,
            // must also look like Simplified Chinese (Korean Johab text otherwise passes).
            let plausible = repaired != GB18030
                || text::gb2312_share(bytes).is_some_and(|p| p >= GB2312_SHARE_MIN);
            if plausible && decodes_cleanly(c.malformed, self.paired()) {
                (choice, converted) = (repaired, c);
            }
        }
        // chardetng drops UTF-8 at the first invalid byte, so damaged UTF-8 that was too short
        // for `is_mostly_utf8` (say, a truncated final character after a few lines) gets a
        // legacy guess; keep UTF-8 if that guess decodes worse.
        if choice != UTF_8
            && !utf8.gave_up
            && utf8.valid_multibyte > 0
            && utf8.malformed < converted.malformed
        {
            let u = text::convert_utf8(bytes);
            if u.malformed < converted.malformed {
                return (Choice::Enc(UTF_8), u);
            }
        }
        (Choice::Enc(choice), converted)
    }

    /// Check one declared encoding against the bytes.
    fn check(&mut self, encoding: &'static Encoding, decl: &Declaration) -> Verdict {
        let what = format!("declared {} ({})", decl.label, decl.source.describe());
        let bytes = self.bytes;
        if !prescan::usable(encoding) {
            return Verdict::Contradicted {
                reason: format!(
                    "{what} names the WHATWG replacement encoding, which would hide the whole \
                     document"
                ),
                alternative: None,
            };
        }
        if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
            // Only an HTTP header can get here: in-document utf-16 labels mean UTF-8.
            let declared = if encoding == encoding_rs::UTF_16LE {
                Form::Utf16Le
            } else {
                Form::Utf16Be
            };
            return match self.wide().map(wide_form) {
                Some(f) if f == declared => Verdict::Accept(wide::convert_form(f, bytes)),
                Some(f) => Verdict::Contradicted {
                    reason: format!("{what} but the NUL bytes are laid out as {}", f.name()),
                    alternative: None,
                },
                None => Verdict::Contradicted {
                    reason: format!("{what} but the bytes are ASCII-compatible, not UTF-16"),
                    alternative: None,
                },
            };
        }
        if let Some(w) = self.wide() {
            return Verdict::Contradicted {
                reason: format!(
                    "{what} but the bytes are {} without a BOM (NUL bytes in every code unit)",
                    wide_form(w).name()
                ),
                alternative: None,
            };
        }
        if encoding == UTF_8 {
            return self.check_utf8(what);
        }
        self.check_legacy(encoding, what)
    }

    fn check_utf8(&mut self, what: String) -> Verdict {
        let declared = text::convert_utf8(self.bytes);
        if declared.malformed < 2 {
            // Nothing, or a lone broken sequence (typically a character cut off at the end).
            return Verdict::Accept(declared);
        }
        let non_ascii_chars = declared.text.chars().filter(|c| !c.is_ascii()).count();
        let valid = non_ascii_chars.saturating_sub(declared.malformed);
        if valid >= declared.malformed.saturating_mul(MUCH_BETTER) {
            // Mostly valid: damaged UTF-8 (or a legacy snippet pasted into a UTF-8 page).
            return Verdict::Accept(declared);
        }
        if declared.malformed.saturating_mul(100)
            < self.bytes.len().saturating_mul(UTF8_FAILS_BADLY_PERCENT)
        {
            // A handful of bad bytes in a page is damage (or bait): browsers render the
            // declared UTF-8 with replacement characters, and so do we.
            return Verdict::Accept(declared);
        }
        let page_len = self.bytes.len();
        let (choice, alt) = self.detected();
        // A single-byte encoding decodes any bytes "cleanly", so it proves nothing by itself:
        // it wins only when the UTF-8 reading holds next to no text (real Latin-1 text forms
        // valid multi-byte UTF-8 only by accident).
        let single_byte_with_utf8_text = choice.is_single_byte()
            && valid.saturating_mul(UTF8_TEXT_VS_SINGLE_BYTE) > declared.malformed;
        if *choice != Choice::Enc(UTF_8)
            && much_better(alt.malformed, declared.malformed)
            && alt.malformed.saturating_mul(1000) <= page_len
            && !single_byte_with_utf8_text
        {
            return Verdict::Contradicted {
                reason: format!(
                    "{what} but the bytes are not valid UTF-8 ({} malformed sequences; {} decodes \
                     them with {})",
                    declared.malformed,
                    choice.name(),
                    alt.malformed
                ),
                alternative: Some((*choice, alt.clone())),
            };
        }
        Verdict::Accept(declared)
    }

    /// Big5 text under a GBK or GB2312 declaration decodes without a single error, as almost
    /// any byte pair is GBK, but half its characters land outside the GB2312 area that
    /// Simplified text keeps to; GB text under a Big5 declaration has none of its characters'
    /// trail bytes below 0x80, where Big5 text puts about 40%. Only such pages are shown to
    /// chardetng (it costs about as much as the rest of the page's decoding), and only its
    /// answer of the other Chinese encoding overrules.
    fn other_chinese_encoding(
        &mut self,
        encoding: &'static Encoding,
        declared: &Converted,
        what: &str,
    ) -> Option<Verdict> {
        let (share, other, why) = if encoding == GB18030 {
            let share = text::gb2312_share(self.bytes).filter(|p| *p < GB2312_SHARE_MIN)?;
            (share, BIG5, "are GB2312's")
        } else if encoding == BIG5 {
            let share =
                text::big5_low_trail_share(self.bytes).filter(|p| *p < BIG5_LOW_TRAIL_MIN)?;
            (
                share,
                GB18030,
                "end below 0x80, as about 40% of Big5 text's do",
            )
        } else {
            return None;
        };
        if !self.has_cjk_shape() {
            return None;
        }
        let (choice, alt) = self.detected();
        (*choice == Choice::Enc(other) && alt.malformed <= declared.malformed).then(|| {
            Verdict::Contradicted {
                reason: format!(
                    "{what} but only {share}% of its double-byte characters {why}, and {} \
                     decodes the bytes with {} malformed sequences",
                    if other == BIG5 { "Big5" } else { "GBK" },
                    alt.malformed
                ),
                alternative: Some((*choice, alt.clone())),
            }
        })
    }

    fn check_legacy(&mut self, encoding: &'static Encoding, what: String) -> Verdict {
        let bytes = self.bytes;
        let utf8 = self.utf8();
        // Under a single-byte declaration one valid sequence is enough: real single-byte text
        // is only valid UTF-8 if every non-ASCII byte happens to sit in a UTF-8 pattern
        // ("Ã©"), which is what UTF-8 misread as Latin-1 looks like, not Latin-1 itself.
        let min = if encoding.is_single_byte() {
            1
        } else {
            UTF8_OVER_LEGACY_MIN
        };
        if utf8.malformed == 0 && utf8.valid_multibyte >= min {
            return Verdict::Contradicted {
                reason: format!(
                    "{what} but the bytes are valid UTF-8 ({} multi-byte sequences)",
                    utf8.valid_multibyte
                ),
                alternative: Some((Choice::Enc(UTF_8), text::convert_utf8(bytes))),
            };
        }
        let declared = convert(encoding, bytes);
        if !utf8.gave_up
            && utf8.valid_multibyte > 0
            && much_better(utf8.malformed, declared.malformed)
        {
            return Verdict::Contradicted {
                reason: format!(
                    "{what} but the bytes are UTF-8 ({} malformed sequences as UTF-8, {} as {})",
                    utf8.malformed,
                    declared.malformed,
                    encoding_name(encoding)
                ),
                alternative: Some((Choice::Enc(UTF_8), text::convert_utf8(bytes))),
            };
        }
        if let Some(other) = self.other_chinese_encoding(encoding, &declared, &what) {
            return other;
        }
        if encoding.is_single_byte() && self.has_cjk_shape() {
            let non_ascii = self.non_ascii();
            let paired = self.paired();
            let (choice, alt) = self.detected();
            if let Choice::Enc(e) = *choice
                && is_cjk_multibyte(e)
                && decodes_cleanly(alt.malformed, paired)
            {
                return Verdict::Contradicted {
                    reason: format!(
                        "{what} but the bytes look like {}: {paired} of {non_ascii} non-ASCII \
                         bytes come in multi-byte runs, and {} decodes them with {} malformed \
                         sequences",
                        encoding_name(e),
                        encoding_name(e),
                        alt.malformed
                    ),
                    alternative: Some((*choice, alt.clone())),
                };
            }
        }
        if declared.malformed >= 2
            && declared
                .malformed
                .saturating_mul(MANY_MALFORMED_PER_NON_ASCII)
                >= self.non_ascii()
        {
            let (choice, alt) = self.detected();
            if *choice != Choice::Enc(encoding) && much_better(alt.malformed, declared.malformed) {
                return Verdict::Contradicted {
                    reason: format!(
                        "{what} but {} decodes the bytes with {} malformed sequences; {} with {}",
                        encoding_name(encoding),
                        declared.malformed,
                        choice.name(),
                        alt.malformed
                    ),
                    alternative: Some((*choice, alt.clone())),
                };
            }
        }
        Verdict::Accept(declared)
    }
}

/// Decode `bytes` to UTF-8. Never fails and never panics: undecodable sequences become
/// U+FFFD and are counted in [`Decoded::malformed`].
///
/// Cost: for a declared page whose declaration holds, one UTF-8 probe (which stops within
/// the first few non-ASCII characters of a legacy page) and one decoding pass; chardetng
/// runs only without a usable declaration or when a check needs it, and then over at most
/// [`DETECT_BUDGET`] bytes.
pub fn decode(bytes: &[u8], opts: &DecodeOptions<'_>) -> Decoded {
    let found = prescan::declarations(bytes, opts.content_type);
    let declarations: Vec<Declaration> = found.iter().map(|f| f.declaration.clone()).collect();

    if let Some((form, c)) = wide::decode_bom(bytes) {
        return Decoded {
            text: c.text,
            encoding: form.encoding(),
            name: form.name(),
            decided_by: DecidedBy::Bom,
            declarations,
            overruled: None,
            malformed: c.malformed,
        };
    }

    let mut ctx = Ctx::new(bytes, opts.tld);
    let mut overruled: Option<(String, Option<(Choice, Converted)>)> = None;
    let mut judged: Vec<&'static Encoding> = Vec::new();
    for f in &found {
        let Some(encoding) = f.encoding else {
            continue;
        };
        if judged.contains(&encoding) {
            continue;
        }
        judged.push(encoding);
        match ctx.check(encoding, &f.declaration) {
            Verdict::Accept(c) => {
                return Decoded {
                    text: c.text,
                    encoding,
                    name: encoding_name(encoding),
                    decided_by: f.declaration.source,
                    declarations,
                    overruled: overruled.map(|(reason, _)| reason),
                    malformed: c.malformed,
                };
            }
            Verdict::Contradicted {
                reason,
                alternative,
            } => {
                if overruled.is_none() {
                    overruled = Some((reason, alternative));
                }
            }
        }
    }

    let (decided_by, reason, (choice, c)) = match overruled {
        None => (
            DecidedBy::Detected,
            None,
            ctx.detected.take().unwrap_or_else(|| ctx.detect()),
        ),
        Some((reason, alternative)) => (
            DecidedBy::DetectedOverDeclaration,
            Some(reason),
            match alternative {
                Some(a) => a,
                None => ctx.detected.take().unwrap_or_else(|| ctx.detect()),
            },
        ),
    };
    Decoded {
        text: c.text,
        encoding: choice.encoding(),
        name: choice.name(),
        decided_by,
        declarations,
        overruled: reason,
        malformed: c.malformed,
    }
}
