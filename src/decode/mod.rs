//! Bytes → UTF-8.
//!
//! Order of evidence: BOM, then the HTTP `Content-Type` charset, then `<meta charset>` /
//! `http-equiv` / the XML declaration, then statistical detection (chardetng). GBK and GB2312
//! are decoded as GB18030. A declaration that the bytes contradict is overruled and the reason
//! is recorded, so `extract` can show how the encoding was decided.

use encoding_rs::Encoding;
use serde::Serialize;

/// What the caller knows about the bytes besides the bytes themselves.
#[derive(Debug, Default, Clone, Copy)]
pub struct DecodeOptions<'a> {
    /// The HTTP `Content-Type` header value, when the bytes came over HTTP.
    pub content_type: Option<&'a str>,
    /// The top-level domain of the page's host (`"cn"`, `"tw"`), a hint for detection.
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
    /// No usable declaration: chardetng's guess.
    Detected,
    /// A declaration existed but the bytes contradicted it; see [`Decoded::overruled`].
    DetectedOverDeclaration,
}

/// A charset declaration found in the header or the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Declaration {
    pub source: DecidedBy,
    /// The label as written (`gb2312`, `utf8`, ...).
    pub label: String,
    /// The encoding the label maps to, if it is a known label.
    pub encoding: Option<&'static str>,
}

/// The result of decoding.
#[derive(Debug, Clone, Serialize)]
pub struct Decoded {
    #[serde(skip)]
    pub text: String,
    /// The encoding's canonical name (GB18030 for GBK/GB2312 content).
    #[serde(serialize_with = "serialize_encoding")]
    pub encoding: &'static Encoding,
    pub decided_by: DecidedBy,
    /// Every declaration seen, in order of precedence.
    pub declarations: Vec<Declaration>,
    /// Why a declaration was overruled, when it was.
    pub overruled: Option<String>,
    /// How many malformed sequences were replaced with U+FFFD.
    pub malformed: usize,
}

fn serialize_encoding<S: serde::Serializer>(e: &&'static Encoding, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(encoding_name(e))
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

/// Decode `bytes` to UTF-8. Never fails: undecodable sequences become U+FFFD and are counted.
pub fn decode(bytes: &[u8], _opts: &DecodeOptions<'_>) -> Decoded {
    // Placeholder until the decode module lands: UTF-8 only.
    let (text, _, had_errors) = encoding_rs::UTF_8.decode(bytes);
    Decoded {
        text: text.into_owned(),
        encoding: encoding_rs::UTF_8,
        decided_by: DecidedBy::Detected,
        declarations: Vec::new(),
        overruled: None,
        malformed: usize::from(had_errors),
    }
}
