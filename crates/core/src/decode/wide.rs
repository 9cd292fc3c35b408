//! Byte order marks, and UTF-32, which encoding_rs does not implement (the WHATWG Encoding
//! Standard dropped it) but which shows up in exported text files and old feeds.

use super::text::{Converted, convert};
use encoding_rs::{UTF_8, UTF_16BE, UTF_16LE};

/// A Unicode encoding form, with its byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Utf8,
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

impl Form {
    pub fn name(self) -> &'static str {
        match self {
            Form::Utf8 => "UTF-8",
            Form::Utf16Le => "UTF-16LE",
            Form::Utf16Be => "UTF-16BE",
            Form::Utf32Le => "UTF-32LE",
            Form::Utf32Be => "UTF-32BE",
        }
    }

    /// The encoding_rs encoding reported in [`super::Decoded::encoding`]. UTF-32 has none; the
    /// UTF-16 encoding of the same byte order stands in for it (same family, same output
    /// encoding for forms and URLs: UTF-8), and [`super::Decoded::name`] says "UTF-32LE".
    pub fn encoding(self) -> &'static encoding_rs::Encoding {
        match self {
            Form::Utf8 => UTF_8,
            Form::Utf16Le | Form::Utf32Le => UTF_16LE,
            Form::Utf16Be | Form::Utf32Be => UTF_16BE,
        }
    }
}

/// The BOM at the start of `bytes` and its length.
///
/// `FF FE 00 00` is both the UTF-32LE BOM and a UTF-16LE BOM followed by U+0000; it is read as
/// UTF-32LE (a text starting with NUL is far less likely), and [`decode_bom`] falls back to
/// UTF-16LE if the UTF-32 reading does not hold up.
pub(crate) fn sniff_bom(bytes: &[u8]) -> Option<(Form, usize)> {
    match bytes {
        [0xFF, 0xFE, 0x00, 0x00, ..] => Some((Form::Utf32Le, 4)),
        [0x00, 0x00, 0xFE, 0xFF, ..] => Some((Form::Utf32Be, 4)),
        [0xEF, 0xBB, 0xBF, ..] => Some((Form::Utf8, 3)),
        [0xFF, 0xFE, ..] => Some((Form::Utf16Le, 2)),
        [0xFE, 0xFF, ..] => Some((Form::Utf16Be, 2)),
        _ => None,
    }
}

/// Decode a document that starts with a BOM. Returns the form actually used.
pub(crate) fn decode_bom(bytes: &[u8]) -> Option<(Form, Converted)> {
    let (form, len) = sniff_bom(bytes)?;
    let body = &bytes[len..];
    if form == Form::Utf32Le {
        let as32 = convert_form(Form::Utf32Le, body);
        if as32.malformed > 0 {
            let as16 = convert_form(Form::Utf16Le, &bytes[2..]);
            if as16.malformed < as32.malformed {
                return Some((Form::Utf16Le, as16));
            }
        }
        return Some((Form::Utf32Le, as32));
    }
    Some((form, convert_form(form, body)))
}

/// Decode `bytes` (no BOM) in the given form, counting malformed sequences.
pub(crate) fn convert_form(form: Form, bytes: &[u8]) -> Converted {
    match form {
        Form::Utf32Le => convert_utf32(bytes, u32::from_le_bytes),
        Form::Utf32Be => convert_utf32(bytes, u32::from_be_bytes),
        _ => convert(form.encoding(), bytes),
    }
}

/// UTF-32 by hand: each 4-byte unit is a scalar value or malformed (surrogates and values
/// above U+10FFFF); a 1–3 byte tail is one malformed sequence.
fn convert_utf32(bytes: &[u8], unit: fn([u8; 4]) -> u32) -> Converted {
    let mut text = String::with_capacity(bytes.len() / 2);
    let mut malformed = 0usize;
    let chunks = bytes.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        match char::from_u32(unit([c[0], c[1], c[2], c[3]])) {
            Some(ch) => text.push(ch),
            None => {
                malformed += 1;
                text.push('\u{FFFD}');
            }
        }
    }
    if !tail.is_empty() {
        malformed += 1;
        text.push('\u{FFFD}');
    }
    Converted { text, malformed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf32_by_hand() {
        let c = convert_form(
            Form::Utf32Be,
            &[
                0, 0, 0x4E, 0x2D, 0, 1, 0xF6, 0x00, 0, 0, 0xD8, 0, 0x11, 0, 0, 0, 0x41,
            ],
        );
        assert_eq!(c.text, "中😀\u{FFFD}\u{FFFD}\u{FFFD}");
        assert_eq!(c.malformed, 3);
        let c = convert_form(Form::Utf32Le, &[0x2D, 0x4E, 0, 0]);
        assert_eq!(c.text, "中");
        assert_eq!(c.malformed, 0);
    }

    #[test]
    fn ambiguous_ff_fe_00_00() {
        // UTF-16LE BOM, U+0000, then "ab": not a sound UTF-32LE reading (odd unit count).
        let (form, c) = decode_bom(&[0xFF, 0xFE, 0, 0, b'a', 0, b'b', 0, b'c', 0]).unwrap();
        assert_eq!(form, Form::Utf16Le);
        assert_eq!(c.text, "\0abc");
        let (form, c) = decode_bom(&[0xFF, 0xFE, 0, 0, b'a', 0, 0, 0]).unwrap();
        assert_eq!(form, Form::Utf32Le);
        assert_eq!(c.text, "a");
    }
}
