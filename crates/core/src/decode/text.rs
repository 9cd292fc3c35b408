//! Byte-to-text conversion that counts malformed sequences.
//!
//! encoding_rs's one-shot `decode` only says *whether* it replaced something. The scanner
//! needs *how many*: the count is both a quality signal in the report and the main evidence
//! for overruling a declaration, so every conversion here goes through the
//! "without replacement" API and inserts U+FFFD itself. Counting U+FFFD in the output instead
//! would be wrong: pages do contain literal U+FFFD (mojibake copied from other pages).

use encoding_rs::{DecoderResult, Encoding, UTF_8};

/// Size of the scratch buffer the streaming decoder writes into before text is appended to
/// the result. A fixed-size scratch buffer (rather than decoding straight into the spare
/// capacity of the result `String`) keeps the cost per malformed sequence constant: binary
/// garbage can produce one error per byte, and re-preparing a large spare capacity after
/// each one would make decoding quadratic.
const SCRATCH: usize = 16 * 1024;

/// Text plus the number of malformed sequences that were replaced with U+FFFD.
#[derive(Debug, Clone)]
pub(crate) struct Converted {
    pub text: String,
    pub malformed: usize,
}

/// Decode `bytes` with `encoding` (no BOM handling: BOMs are dealt with before this is
/// called), counting malformed sequences.
pub(crate) fn convert(encoding: &'static Encoding, bytes: &[u8]) -> Converted {
    if encoding == UTF_8 {
        return convert_utf8(bytes);
    }
    let mut decoder = encoding.new_decoder_without_bom_handling();
    // Typical CJK pages grow by about half when converted to UTF-8 (two bytes → three).
    let mut text = String::with_capacity(bytes.len().saturating_add(bytes.len() / 2));
    let mut scratch = " ".repeat(SCRATCH.min(bytes.len().saturating_mul(3).max(16)));
    let mut malformed = 0usize;
    let mut src = bytes;
    loop {
        let (result, read, written) =
            decoder.decode_to_str_without_replacement(src, &mut scratch, true);
        text.push_str(&scratch[..written]);
        src = &src[read..];
        match result {
            DecoderResult::InputEmpty => break,
            DecoderResult::OutputFull => {}
            DecoderResult::Malformed(_, _) => {
                malformed += 1;
                text.push('\u{FFFD}');
            }
        }
    }
    Converted { text, malformed }
}

/// UTF-8 through the standard library: validation is far faster than a transcoding pass,
/// and `utf8_chunks` reports invalid sequences with the same "maximal subpart" rule as the
/// WHATWG decoder, so counts agree with the other encodings.
pub(crate) fn convert_utf8(bytes: &[u8]) -> Converted {
    if let Ok(s) = simdutf8::basic::from_utf8(bytes) {
        return Converted {
            text: s.to_owned(),
            malformed: 0,
        };
    }
    let mut text = String::with_capacity(bytes.len() + 16);
    let mut malformed = 0usize;
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            malformed += 1;
            text.push('\u{FFFD}');
        }
    }
    Converted { text, malformed }
}

/// What a cheap UTF-8 pass found out about the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utf8Scan {
    /// Multi-byte (non-ASCII) sequences that were valid.
    pub valid_multibyte: usize,
    /// Malformed sequences seen. When `gave_up` is true this is a lower bound.
    pub malformed: usize,
    /// The scan stopped early because the bytes were clearly not UTF-8.
    pub gave_up: bool,
}

impl Utf8Scan {
    /// The bytes are UTF-8 with at most the odd broken sequence: at least one valid multi-byte
    /// sequence, and no more than one malformed sequence per [`UTF8_VALID_PER_ERROR`] valid
    /// ones (a truncated final character counts as one error, so a long page cut off mid-
    /// character still qualifies). A legacy-encoded page fails this within its first few
    /// non-ASCII characters: most GBK/Big5 pairs are not valid UTF-8.
    pub fn is_mostly_utf8(&self) -> bool {
        !self.gave_up
            && self.valid_multibyte > 0
            && self.malformed.saturating_mul(UTF8_VALID_PER_ERROR) <= self.valid_multibyte
    }
}

/// How many valid multi-byte sequences a single malformed one must be outnumbered by for the
/// bytes to still count as UTF-8. Real UTF-8 with damage has thousands of valid sequences per
/// error; a GBK page read as UTF-8 has about one accidental valid sequence per ten errors.
pub(crate) const UTF8_VALID_PER_ERROR: usize = 50;

/// Scan `bytes` as UTF-8 without building a string.
///
/// On a legacy-encoded page the scan gives up after a handful of errors (once errors
/// outnumber what the valid sequences seen so far could excuse), so asking "is this UTF-8?"
/// costs only the ASCII prefix plus a few characters. That is what lets every declared-GBK
/// page be checked for the "declared gb2312 but actually UTF-8" mistake at no real cost.
pub(crate) fn scan_utf8(bytes: &[u8]) -> Utf8Scan {
    match std::str::from_utf8(bytes) {
        Ok(_) => {
            return Utf8Scan {
                valid_multibyte: count_leads(bytes),
                malformed: 0,
                gave_up: false,
            };
        }
        Err(e) if e.error_len().is_none() => {
            // Valid except for an incomplete character at the very end (a truncated page).
            return Utf8Scan {
                valid_multibyte: count_leads(&bytes[..e.valid_up_to()]),
                malformed: 1,
                gave_up: false,
            };
        }
        Err(_) => {}
    }
    let mut valid_multibyte = 0usize;
    let mut malformed = 0usize;
    for chunk in bytes.utf8_chunks() {
        valid_multibyte += count_leads(chunk.valid().as_bytes());
        if !chunk.invalid().is_empty() {
            malformed += 1;
            // Give up once errors clearly dominate: allow a small absolute slack so that a
            // page whose first non-ASCII byte is broken is not written off at once.
            if malformed > 2
                && malformed.saturating_mul(UTF8_VALID_PER_ERROR)
                    > valid_multibyte + 4 * UTF8_VALID_PER_ERROR
            {
                return Utf8Scan {
                    valid_multibyte,
                    malformed,
                    gave_up: true,
                };
            }
        }
    }
    Utf8Scan {
        valid_multibyte,
        malformed,
        gave_up: false,
    }
}

/// Number of UTF-8 lead bytes (0xC0 and up) in valid UTF-8, i.e. of non-ASCII characters.
fn count_leads(valid: &[u8]) -> usize {
    valid.iter().filter(|&&b| b >= 0xC0).count()
}

/// Number of bytes ≥ 0x80.
pub(crate) fn count_non_ascii(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b >= 0x80).count()
}

/// Number of bytes ≥ 0x80 that sit next to another byte ≥ 0x80. Double-byte CJK text is made
/// of such pairs; Western single-byte text mostly has isolated accented letters. Used to
/// decide whether a Latin declaration is worth second-guessing at all.
pub(crate) fn count_paired_non_ascii(bytes: &[u8]) -> usize {
    let mut n = 0usize;
    let mut prev_high = false;
    let mut run = 0usize;
    for &b in bytes {
        let high = b >= 0x80;
        if high {
            run += 1;
        } else if prev_high {
            if run >= 2 {
                n += run;
            }
            run = 0;
        }
        prev_high = high;
    }
    if run >= 2 {
        n += run;
    }
    n
}

/// Share (in percent) of GBK double-byte characters that lie in the GB2312 area (lead and
/// trail bytes 0xA1–0xFE, leads up to 0xF7), or `None` without any.
///
/// Simplified Chinese text is almost entirely GB2312 characters: at least 97% on every GBK
/// page of both corpora. GBK accepts nearly any byte pair, so other double-byte text decodes
/// as GBK "cleanly" too, but lands mostly in the rare extension areas: Korean Johab text
/// scores 24–45%. Used to vet a GBK guess that chardetng only made on repaired input.
pub(crate) fn gb2312_share(bytes: &[u8]) -> Option<usize> {
    let (mut total, mut core) = (0usize, 0usize);
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] < 0x80 {
            // A page is mostly markup: skip each ASCII run at once, not a byte at a time.
            i += Encoding::ascii_valid_up_to(&bytes[i..]);
            continue;
        }
        let (lead, trail) = (bytes[i], bytes[i + 1]);
        if lead < 0x81 || lead == 0xFF {
            i += 1;
            continue;
        }
        total += 1;
        if (0x30..=0x39).contains(&trail) {
            i += 4; // GB18030 four-byte sequence
            continue;
        }
        if (0xA1..=0xF7).contains(&lead) && (0xA1..=0xFE).contains(&trail) {
            core += 1;
        }
        i += 2;
    }
    (total > 0).then(|| core * 100 / total)
}

/// Share (in percent) of Big5 double-byte characters whose trail byte is below 0x80, or `None`
/// without any. Big5 puts 63 of each lead byte's 157 characters there, and real Traditional
/// text lands about 40% of its characters on them; GB2312 text never does, as its trail bytes
/// are all 0xA1–0xFE. Used to ask whether a Big5 declaration hides GB text.
pub(crate) fn big5_low_trail_share(bytes: &[u8]) -> Option<usize> {
    let (mut total, mut low) = (0usize, 0usize);
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] < 0x80 {
            i += Encoding::ascii_valid_up_to(&bytes[i..]);
            continue;
        }
        let (lead, trail) = (bytes[i], bytes[i + 1]);
        if !(0x81..=0xFE).contains(&lead) {
            i += 1;
            continue;
        }
        total += 1;
        low += usize::from((0x40..=0x7E).contains(&trail));
        i += 2;
    }
    (total > 0).then(|| low * 100 / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The share counters a byte at a time, as they were before ASCII runs were skipped.
    fn shares_by_byte(bytes: &[u8]) -> (Option<usize>, Option<usize>) {
        let (mut gb_total, mut core) = (0usize, 0usize);
        let mut i = 0;
        while i + 1 < bytes.len() {
            let (lead, trail) = (bytes[i], bytes[i + 1]);
            if lead < 0x81 || lead == 0xFF {
                i += 1;
            } else if (0x30..=0x39).contains(&trail) {
                gb_total += 1;
                i += 4;
            } else {
                gb_total += 1;
                core +=
                    usize::from((0xA1..=0xF7).contains(&lead) && (0xA1..=0xFE).contains(&trail));
                i += 2;
            }
        }
        let (mut big5_total, mut low) = (0usize, 0usize);
        let mut i = 0;
        while i + 1 < bytes.len() {
            let (lead, trail) = (bytes[i], bytes[i + 1]);
            if (0x81..=0xFE).contains(&lead) {
                big5_total += 1;
                low += usize::from((0x40..=0x7E).contains(&trail));
                i += 2;
            } else {
                i += 1;
            }
        }
        (
            (gb_total > 0).then(|| core * 100 / gb_total),
            (big5_total > 0).then(|| low * 100 / big5_total),
        )
    }

    use proptest::prelude::*;

    proptest! {
        /// Skipping ASCII runs at once counts what the byte-at-a-time loops counted: runs of
        /// every length (encoding_rs reads them in blocks), ASCII trail bytes, four-byte
        /// sequences, and a lead byte at the very end.
        #[test]
        fn shares_skip_ascii_runs_without_changing_a_count(
            parts in proptest::collection::vec(
                prop_oneof![
                    "[ -~]{0,40}".prop_map(String::into_bytes),
                    proptest::collection::vec(0x80u8..=0xFF, 1..6),
                    proptest::collection::vec(0x30u8..=0x7E, 1..3),
                ],
                0..30,
            )
        ) {
            let bytes = parts.concat();
            prop_assert_eq!(
                (gb2312_share(&bytes), big5_low_trail_share(&bytes)),
                shares_by_byte(&bytes)
            );
        }
    }

    #[test]
    fn big5_trail_bytes_below_0x80_are_counted() {
        let big5 = encoding_rs::BIG5.encode("中華民國臺灣地區的網站內容").0;
        assert!(big5_low_trail_share(&big5).unwrap() >= 20);
        let gb = encoding_rs::GBK.encode("中华人民共和国网络安全法").0;
        assert_eq!(big5_low_trail_share(&gb), Some(0));
        assert_eq!(big5_low_trail_share(b"ascii"), None);
    }

    #[test]
    fn counts_each_malformed_sequence() {
        let c = convert(encoding_rs::GB18030, b"a\xD6\xD0b\xFFc\xD6");
        assert_eq!(c.text, "a中b\u{FFFD}c\u{FFFD}");
        assert_eq!(c.malformed, 2);
        let u = convert(UTF_8, b"x\xE4\xB8\xADy\xC3z\xE4\xB8");
        assert_eq!(u.text, "x中y\u{FFFD}z\u{FFFD}");
        assert_eq!(u.malformed, 2);
    }

    #[test]
    fn literal_replacement_character_is_not_counted() {
        let u = convert(UTF_8, "a\u{FFFD}b".as_bytes());
        assert_eq!(u.malformed, 0);
    }

    #[test]
    fn scratch_buffer_boundaries_do_not_lose_text() {
        // Long enough to need several scratch buffers, with 3-byte output characters
        // straddling buffer ends.
        let s = "中文测试abc".repeat(10_000);
        let (gbk, _, _) = encoding_rs::GBK.encode(&s);
        let c = convert(encoding_rs::GB18030, &gbk);
        assert_eq!(c.malformed, 0);
        assert_eq!(c.text, s);
    }

    #[test]
    fn utf8_scan_classifies() {
        assert!(scan_utf8("中文".as_bytes()).is_mostly_utf8());
        // Truncated last character only.
        let mut v = "中文".repeat(100).into_bytes();
        v.extend_from_slice(b"\xE4\xB8");
        let s = scan_utf8(&v);
        assert_eq!(s.malformed, 1);
        assert!(s.is_mostly_utf8());
        // GBK bytes.
        let text = "这是一个测试页面，内容是中文。".repeat(20);
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        assert!(!scan_utf8(&gbk).is_mostly_utf8());
        // ASCII only: nothing to go on.
        assert!(!scan_utf8(b"plain").is_mostly_utf8());
    }

    #[test]
    fn gb2312_share_of_gbk_text() {
        let text = "中华人民共和国".repeat(10);
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        assert_eq!(gb2312_share(&gbk), Some(100));
        // 丂 (U+4E02) is a GBK extension character (0x81 0x40).
        let (ext, _, _) = encoding_rs::GBK.encode("丂丂丂中");
        assert_eq!(gb2312_share(&ext), Some(25));
        assert_eq!(gb2312_share(b"ascii"), None);
        assert_eq!(gb2312_share(b"\x81"), None);
    }

    #[test]
    fn paired_counts_runs_of_two_or_more() {
        assert_eq!(count_paired_non_ascii(b"caf\xE9 \xD6\xD0\xCE\xC4 x\x80"), 4);
        assert_eq!(count_paired_non_ascii(b"\x80\x80"), 2);
        assert_eq!(count_non_ascii(b"a\x80\xFF"), 2);
    }
}
