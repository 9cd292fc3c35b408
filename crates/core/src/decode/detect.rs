//! Statistical detection: BOM-less UTF-16/UTF-32 by their NUL bytes, then chardetng.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::Encoding;

/// At most this many bytes of the condensed sample (see [`sample`]) are given to chardetng.
///
/// chardetng is by far the slowest part of decoding: about 5 MB/s per core in a release
/// build (≈0.4 ms for 2 KiB of CJK text, ≈0.8 ms for 4 KiB), on ASCII as on CJK bytes,
/// against ~500 MB/s for a GB18030 decoding pass. Feeding it whole pages would cap the
/// pipeline near 10 MB/s. Its choice between the CJK encodings settles within a few hundred
/// characters, so it gets a bounded sample of the non-ASCII text with a little ASCII context
/// instead of the raw bytes. Chosen by measurement: every result in `tests/it/decode_accuracy.rs`
/// (both corpora, and the wrong-header scenarios) is the same for budgets from 1 KiB to
/// 8 KiB; 2 KiB (about 1000 double-byte characters) keeps a margin. A raw 8 KiB prefix, by
/// contrast, missed a GBK page whose first 8 KiB after the first non-ASCII byte held only 62
/// non-ASCII bytes (scripts and markup).
pub const DETECT_BUDGET: usize = 2 * 1024;

/// ASCII bytes kept on each side of a run of non-ASCII bytes in the sample: enough for the
/// ASCII-range trail bytes of GBK/Big5/Shift_JIS and the digits of GB18030 four-byte
/// sequences, and for the letter-pair context chardetng's Latin models look at.
const ASCII_CONTEXT: usize = 4;

/// The bytes chardetng is shown: non-ASCII runs with [`ASCII_CONTEXT`] bytes of ASCII around
/// them, long ASCII stretches (markup, scripts) cut to their ends, up to [`DETECT_BUDGET`]
/// bytes. With `drop_odd_runs`, runs of non-ASCII bytes of odd length are left out (see
/// [`cjk_guess_without_odd_runs`]). Returns the sample and whether it reaches the end of the
/// document (only then may chardetng be told the stream is complete).
fn sample(bytes: &[u8], drop_odd_runs: bool) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(DETECT_BUDGET + 64);
    let mut i = Encoding::ascii_valid_up_to(bytes).saturating_sub(ASCII_CONTEXT);
    while i < bytes.len() && out.len() < DETECT_BUDGET {
        if bytes[i] < 0x80 {
            let run = bytes[i..]
                .iter()
                .position(|&b| b >= 0x80)
                .unwrap_or(bytes.len() - i);
            let at_end = i + run == bytes.len();
            if run <= 2 * ASCII_CONTEXT + 1 {
                out.extend_from_slice(&bytes[i..i + run]);
            } else {
                out.extend_from_slice(&bytes[i..i + ASCII_CONTEXT]);
                if !at_end {
                    out.push(b' ');
                    out.extend_from_slice(&bytes[i + run - ASCII_CONTEXT..i + run]);
                }
            }
            i += run;
        } else {
            let run = bytes[i..]
                .iter()
                .position(|&b| b < 0x80)
                .unwrap_or(bytes.len() - i);
            if !(drop_odd_runs && run % 2 == 1) {
                out.extend_from_slice(&bytes[i..i + run]);
            }
            i += run;
        }
    }
    (out, i >= bytes.len())
}

/// A top-level domain in the form chardetng accepts: lower-case ASCII letters, digits and
/// hyphens (punycode `xn--...` included), no period.
///
/// `chardetng::EncodingDetector::guess` *asserts* on upper case, periods and non-ASCII; the
/// TLD comes from URLs in crawled data, so it is validated here rather than trusted. A full
/// host name is accepted and reduced to its last label, since that is the common mistake.
pub fn normalize_tld(tld: &str) -> Option<String> {
    let tld = tld.trim().trim_end_matches('.');
    let label = tld.rsplit('.').next()?;
    if label.is_empty() || label.len() > 63 {
        return None;
    }
    let lower = label.to_ascii_lowercase();
    lower
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        .then_some(lower)
}

/// A Unicode encoding recognised without a BOM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wide {
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

/// How many leading bytes the NUL-pattern sniff looks at.
const SNIFF_BYTES: usize = 4096;

/// Recognise BOM-less UTF-16/UTF-32 by where the NUL bytes are. ASCII-compatible text (UTF-8
/// and every legacy encoding chardetng knows) has no NULs; UTF-16 markup and Latin text have
/// a NUL in every other byte, on one side; UTF-32 has two or three NULs per four bytes.
/// Requiring one side to dominate keeps NUL-padded ASCII files and binary data out.
pub(crate) fn sniff_wide(bytes: &[u8]) -> Option<Wide> {
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    if head.len() < 8 {
        return None;
    }
    let zeros = head.iter().filter(|&&b| b == 0).count();
    if zeros * 8 < head.len() {
        return None;
    }
    // UTF-32: every non-zero unit must be a plausible code point (≤ U+10FFFF).
    let (mut nonzero4, mut le32, mut be32) = (0usize, 0usize, 0usize);
    for u in head.chunks_exact(4) {
        if u == [0, 0, 0, 0] {
            continue;
        }
        nonzero4 += 1;
        if u[3] == 0 && u[2] <= 0x10 {
            le32 += 1;
        }
        if u[0] == 0 && u[1] <= 0x10 {
            be32 += 1;
        }
    }
    if nonzero4 >= 2 {
        if le32 == nonzero4 && be32 < nonzero4 {
            return Some(Wide::Utf32Le);
        }
        if be32 == nonzero4 && le32 < nonzero4 {
            return Some(Wide::Utf32Be);
        }
    }
    let (mut nonzero2, mut le16, mut be16) = (0usize, 0usize, 0usize);
    for u in head.chunks_exact(2) {
        match (u[0], u[1]) {
            (0, 0) => continue,
            (_, 0) => le16 += 1,
            (0, _) => be16 += 1,
            _ => {}
        }
        nonzero2 += 1;
    }
    // One side has the NULs (ASCII-range characters), at least a quarter of the units are
    // such characters, and the other side is nearly NUL-free (CJK code points with a zero
    // low byte are 1 in 256).
    if le16 >= 4 && le16 * 4 >= nonzero2 && le16 >= be16 * 16 {
        return Some(Wide::Utf16Le);
    }
    if be16 >= 4 && be16 * 4 >= nonzero2 && be16 >= le16 * 16 {
        return Some(Wide::Utf16Be);
    }
    None
}

/// chardetng's guess for a document that has non-ASCII bytes, over its [`sample`]. `tld` must
/// come from [`normalize_tld`].
pub(crate) fn chardetng_guess(bytes: &[u8], tld: Option<&str>) -> &'static Encoding {
    let (sample, complete) = sample(bytes, false);
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    // One call, with `last` only when the sample reaches the end of the document: chardetng
    // panics on a second feed after `last`, and a prefix must not be declared the end of the
    // stream (a character cut at the sample edge would count against the right candidate).
    detector.feed(&sample, complete);
    detector.guess(tld.map(str::as_bytes), Utf8Detection::Allow)
}

/// Whether 7-bit input is ISO-2022-JP.
///
/// Browsers disable ISO-2022-JP detection so that web authors cannot come to rely on it,
/// which is no concern for a scanner, and Japanese mail-style text would otherwise be read
/// as ASCII noise. chardetng only says ISO-2022-JP for pure 7-bit input with valid escapes.
pub(crate) fn is_iso_2022_jp(bytes: &[u8]) -> bool {
    if memchr::memchr(0x1B, bytes).is_none() {
        return false;
    }
    let end = bytes.len().min(16 * DETECT_BUDGET);
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Allow);
    detector.feed(&bytes[..end], end == bytes.len());
    detector.guess(None, Utf8Detection::Deny) == encoding_rs::ISO_2022_JP
}

/// chardetng's guess over the [`sample`] with every odd-length run of non-ASCII bytes
/// left out, if that guess is a CJK multi-byte encoding.
///
/// chardetng rules a multi-byte candidate out at its first malformed sequence, so a single
/// character cut in half (scraped pages are full of text truncated at a byte limit) turns a
/// GBK page into "windows-1252"; pages-zh has two such pages. The usual damage is a lead byte
/// followed by ASCII, which leaves a run of non-ASCII bytes of odd length. Double-byte text
/// is mostly made of even runs, so dropping the odd ones removes the damage and keeps most of
/// the evidence (what is dropped is whole runs, so the rest stays well-formed even where a
/// run was odd for a legitimate reason, such as a GBK character with an ASCII trail byte).
/// The caller only asks when the bytes have the shape of double-byte text, and accepts the
/// answer only if it decodes the *whole* document cleanly.
pub(crate) fn cjk_guess_without_odd_runs(
    bytes: &[u8],
    tld: Option<&str>,
) -> Option<&'static Encoding> {
    let (sample, complete) = sample(bytes, true);
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(&sample, complete);
    let guess = detector.guess(tld.map(str::as_bytes), Utf8Detection::Deny);
    is_cjk(guess).then_some(guess)
}

fn is_cjk(e: &'static Encoding) -> bool {
    use encoding_rs::{BIG5, EUC_JP, EUC_KR, GB18030, GBK, SHIFT_JIS};
    [GBK, GB18030, BIG5, EUC_JP, EUC_KR, SHIFT_JIS].contains(&e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tld_normalization() {
        assert_eq!(normalize_tld("CN").as_deref(), Some("cn"));
        assert_eq!(normalize_tld("www.Example.TW.").as_deref(), Some("tw"));
        assert_eq!(normalize_tld("xn--fiqs8s").as_deref(), Some("xn--fiqs8s"));
        assert_eq!(normalize_tld("中国"), None);
        assert_eq!(normalize_tld(""), None);
        assert_eq!(normalize_tld("."), None);
        assert_eq!(normalize_tld("c n"), None);
        assert_eq!(normalize_tld(&"a".repeat(64)), None);
        // Whatever comes out must be acceptable to chardetng.
        for t in ["CN", "a.B.c", "ÄÖ", "x\u{0}y", "tw.", " jp ", "-", "..."] {
            if let Some(n) = normalize_tld(t) {
                let _ = chardetng_guess(b"\xD6\xD0\xCE\xC4", Some(&n));
            }
        }
    }

    #[test]
    fn wide_sniff() {
        let le: Vec<u8> = "<html>hello</html>"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let be: Vec<u8> = "<html>hello</html>"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(sniff_wide(&le), Some(Wide::Utf16Le));
        assert_eq!(sniff_wide(&be), Some(Wide::Utf16Be));
        let le32: Vec<u8> = "<html>中文</html>"
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        let be32: Vec<u8> = "<html>中文</html>"
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect();
        assert_eq!(sniff_wide(&le32), Some(Wide::Utf32Le));
        assert_eq!(sniff_wide(&be32), Some(Wide::Utf32Be));
        assert_eq!(sniff_wide(b"<html>hello</html>"), None);
        // NUL padding before ASCII text is not UTF-16.
        let mut padded = vec![0u8; 1000];
        padded.extend_from_slice(b"<html>hello world</html>");
        assert_eq!(sniff_wide(&padded), None);
        assert_eq!(sniff_wide(&[0u8; 100]), None);
    }

    #[test]
    fn odd_runs_are_left_out() {
        let text = "<p>中华人民共和国的首都是北京，欢迎您访问本站。</p>\n".repeat(400);
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        let mut broken = gbk.to_vec();
        // A lead byte followed by ASCII: a character cut in half.
        broken.insert(100, 0xD6);
        assert_ne!(chardetng_guess(&broken, None), encoding_rs::GBK);
        assert_eq!(
            cjk_guess_without_odd_runs(&broken, None),
            Some(encoding_rs::GBK)
        );
        assert_eq!(cjk_guess_without_odd_runs(b"", None), None);
        let (cyrillic, _, _) = encoding_rs::WINDOWS_1251.encode("Привет, как дела? ");
        assert_eq!(
            cjk_guess_without_odd_runs(&cyrillic.repeat(500), None),
            None
        );
    }

    #[test]
    fn chardetng_window_and_empty_input() {
        // Must not panic; with nothing to go on and UTF-8 allowed, chardetng says UTF-8.
        assert_eq!(chardetng_guess(b"", None), encoding_rs::UTF_8);
        let text = "中华人民共和国的首都是北京。".repeat(10_000);
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        assert!(gbk.len() > DETECT_BUDGET);
        assert_eq!(chardetng_guess(&gbk, Some("cn")), encoding_rs::GBK);
    }
}
