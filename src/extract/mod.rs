//! Document → zones.
//!
//! A page is split into named zones, because where a word appears matters as much as the
//! word: a gambling term in a hidden block of links (暗链) is a different finding from the
//! same term in an article. Rules name the zones they apply to (see `rulesets/README.md`).
//!
//! Each zone is one string, the *original* text that evidence quotes and that finding offsets
//! index into. Multi-item zones (links, iframes, forms, ...) hold one item per line; the
//! structured items are kept beside the zones for checks that need more than text.

use serde::{Deserialize, Serialize};

/// The stable zone names used by rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneKind {
    /// Visible text of an HTML page.
    Text,
    /// The `<title>`.
    Title,
    /// Meta description and keywords, one per line.
    Meta,
    /// `alt` and `title` attributes, one per line.
    Attr,
    /// One line per link: `URL anchor text`.
    Link,
    /// Inline script text, and one line per external script: its `src` URL.
    Script,
    /// One line per iframe/frame: its `src` URL.
    Iframe,
    /// One line per form: its `action` URL.
    Form,
    /// One line per redirect target (meta refresh, JS `location`).
    Redirect,
    /// Text hidden by CSS (`display:none`, off-screen, zero size, ...): where link farms hide.
    HiddenText,
    /// A plain-text file.
    Plain,
    /// A JavaScript file.
    Js,
}

impl ZoneKind {
    pub const ALL: [ZoneKind; 12] = [
        ZoneKind::Text,
        ZoneKind::Title,
        ZoneKind::Meta,
        ZoneKind::Attr,
        ZoneKind::Link,
        ZoneKind::Script,
        ZoneKind::Iframe,
        ZoneKind::Form,
        ZoneKind::Redirect,
        ZoneKind::HiddenText,
        ZoneKind::Plain,
        ZoneKind::Js,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ZoneKind::Text => "text",
            ZoneKind::Title => "title",
            ZoneKind::Meta => "meta",
            ZoneKind::Attr => "attr",
            ZoneKind::Link => "link",
            ZoneKind::Script => "script",
            ZoneKind::Iframe => "iframe",
            ZoneKind::Form => "form",
            ZoneKind::Redirect => "redirect",
            ZoneKind::HiddenText => "hidden_text",
            ZoneKind::Plain => "plain",
            ZoneKind::Js => "js",
        }
    }

    pub fn parse(name: &str) -> Option<ZoneKind> {
        ZoneKind::ALL.into_iter().find(|z| z.as_str() == name)
    }

    /// A bit for zone sets (`u16` masks).
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// What kind of document the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    Html,
    Plain,
    Js,
}

impl ContentKind {
    /// The kind for a file extension (without the dot), for the web-root walk.
    pub fn from_extension(ext: &str) -> Option<ContentKind> {
        match ext.to_ascii_lowercase().as_str() {
            "html" | "htm" | "shtml" | "xhtml" => Some(ContentKind::Html),
            "txt" => Some(ContentKind::Plain),
            "js" | "mjs" => Some(ContentKind::Js),
            _ => None,
        }
    }
}

/// One zone's original text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Zone {
    pub kind: ZoneKind,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// Resolved against `<base>` and the page URL when possible, else as written.
    pub url: String,
    /// Anchor text (or `alt` of an image inside the anchor), whitespace collapsed.
    pub text: String,
    /// `a` or `area`.
    pub tag: &'static str,
    /// Inside content hidden by CSS.
    pub hidden: bool,
    pub rel: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Iframe {
    pub src: String,
    /// `iframe` or `frame`.
    pub tag: &'static str,
    /// `width`/`height` of 0 or 1 pixel.
    pub zero_size: bool,
    /// Hidden by CSS itself or by an ancestor.
    pub hidden: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Form {
    /// Resolved `action`; the page URL (or empty) when the action is missing.
    pub action: String,
    /// Lower-case method, `get` by default.
    pub method: String,
    pub has_password: bool,
    pub hidden: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectKind {
    MetaRefresh,
    JsLocation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redirect {
    pub kind: RedirectKind,
    pub target: String,
    /// Seconds, for meta refresh.
    pub delay: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    /// Resolved `src`, for external scripts.
    pub src: Option<String>,
    /// Bytes of inline script text.
    pub inline_len: usize,
}

/// Everything extracted from one document.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub kind: ContentKind,
    /// Non-empty zones, in `ZoneKind` order.
    pub zones: Vec<Zone>,
    pub links: Vec<Link>,
    pub iframes: Vec<Iframe>,
    pub forms: Vec<Form>,
    pub redirects: Vec<Redirect>,
    pub scripts: Vec<Script>,
    /// The effective base URL, when there is one.
    pub base_url: Option<String>,
}

impl Document {
    pub fn zone(&self, kind: ZoneKind) -> Option<&Zone> {
        self.zones.iter().find(|z| z.kind == kind)
    }

    fn single_zone(kind: ContentKind, zone: ZoneKind, text: &str) -> Document {
        let zones = if text.is_empty() {
            Vec::new()
        } else {
            vec![Zone {
                kind: zone,
                text: text.to_owned(),
            }]
        };
        Document {
            kind,
            zones,
            links: Vec::new(),
            iframes: Vec::new(),
            forms: Vec::new(),
            redirects: Vec::new(),
            scripts: Vec::new(),
            base_url: None,
        }
    }
}

/// Extract the zones of an HTML page. `page_url` resolves relative links; without it (a file
/// on disk) links are resolved against `<base>` only, or kept as written.
pub fn extract_html(html: &str, _page_url: Option<&url::Url>) -> Document {
    // Placeholder until the HTML extractor lands: the whole text as one zone.
    Document::single_zone(ContentKind::Html, ZoneKind::Text, html)
}

/// A plain-text file is one `plain` zone.
pub fn extract_plain(text: &str) -> Document {
    Document::single_zone(ContentKind::Plain, ZoneKind::Plain, text)
}

/// A JavaScript file is one `js` zone.
pub fn extract_js(text: &str, _page_url: Option<&url::Url>) -> Document {
    Document::single_zone(ContentKind::Js, ZoneKind::Js, text)
}

/// Dispatch on the content kind.
pub fn extract(kind: ContentKind, text: &str, page_url: Option<&url::Url>) -> Document {
    match kind {
        ContentKind::Html => extract_html(text, page_url),
        ContentKind::Plain => extract_plain(text),
        ContentKind::Js => extract_js(text, page_url),
    }
}
