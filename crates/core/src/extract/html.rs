//! The HTML extractor: a WHATWG tokenizer (see `tokenize`) plus a small element stack.
//!
//! There is no DOM and no recursion. The sink keeps a stack of open elements (capped at
//! [`MAX_DEPTH`]) where each frame carries everything that its content needs in O(1): whether
//! it is hidden (precomputed from the parent when pushed), whether it is preformatted, and
//! the index of the nearest open `p`/`li`/`dd`/`td`/`tr`/`a` for implied end tags. End tags
//! pop up to the matching element; an end tag with no matching open element is ignored (a
//! 256-slot counting filter over tag names proves most of those in O(1); otherwise the scan
//! is bounded by the depth cap).
//!
//! Beyond [`MAX_DEPTH`] open elements, further elements are not pushed: they are counted, each
//! end tag closes the innermost counted one, and once one of them is hidden everything until
//! it closes is hidden. Text, links and everything else are still extracted.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::LazyLock;

use html5ever::tokenizer::{Tag, TagKind};
use html5ever::{Attribute, LocalName, local_name};
use memchr::memchr;
use url::Url;

use super::css::{self, ElementKey, Hide, StyleSheet};
use super::redirect::{js_location_targets, parse_meta_refresh};
use super::text::{Sep, TextBuf, one_line};
use super::tokenize::{Handler, State, tokenize};
use super::urls::{display, parse_with_base, resolve};
use super::{
    ContentKind, Document, Field, Form, Iframe, Link, Redirect, RedirectKind, Script, Zone,
    ZoneKind,
};

/// Open elements kept on the stack; deeper ones are only counted.
pub const MAX_DEPTH: usize = 512;
/// Anchor text kept per link, in bytes.
pub const ANCHOR_TEXT_CAP: usize = 1024;
/// A `<marquee>` this small (px, attribute or style) shows nothing.
const TINY_MARQUEE_PX: f32 = 3.0;

const BLOCK: u8 = 1;
const CELL: u8 = 2;
const FOREIGN: u8 = 4;
const PRE: u8 = 8;

/// Identity-like hasher for atoms (they hash themselves with one precomputed `u64`).
#[derive(Default)]
struct AtomHasher(u64);

impl Hasher for AtomHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type AtomMap<V> = HashMap<LocalName, V, BuildHasherDefault<AtomHasher>>;

fn is_void_slow(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("area")
            | local_name!("base")
            | local_name!("basefont")
            | local_name!("bgsound")
            | local_name!("br")
            | local_name!("col")
            | local_name!("embed")
            | local_name!("frame")
            | local_name!("hr")
            | local_name!("img")
            | local_name!("image")
            | local_name!("input")
            | local_name!("keygen")
            | local_name!("link")
            | local_name!("meta")
            | local_name!("param")
            | local_name!("source")
            | local_name!("track")
            | local_name!("wbr")
    )
}

fn is_heading(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("h1")
            | local_name!("h2")
            | local_name!("h3")
            | local_name!("h4")
            | local_name!("h5")
            | local_name!("h6")
    )
}

/// Elements whose start tag closes an open `p` (in button scope).
fn closes_p(name: &LocalName) -> bool {
    is_heading(name)
        || matches!(
            *name,
            local_name!("address")
                | local_name!("article")
                | local_name!("aside")
                | local_name!("blockquote")
                | local_name!("center")
                | local_name!("details")
                | local_name!("dialog")
                | local_name!("dir")
                | local_name!("div")
                | local_name!("dl")
                | local_name!("fieldset")
                | local_name!("figcaption")
                | local_name!("figure")
                | local_name!("footer")
                | local_name!("form")
                | local_name!("header")
                | local_name!("hgroup")
                | local_name!("hr")
                | local_name!("main")
                | local_name!("menu")
                | local_name!("nav")
                | local_name!("ol")
                | local_name!("p")
                | local_name!("pre")
                | local_name!("search")
                | local_name!("section")
                | local_name!("summary")
                | local_name!("ul")
                | local_name!("li")
                | local_name!("dd")
                | local_name!("dt")
                | local_name!("listing")
                | local_name!("xmp")
                | local_name!("plaintext")
        )
}

/// Elements that separate their content from the surrounding text.
fn category_slow(name: &LocalName) -> u8 {
    if closes_p(name) {
        return BLOCK;
    }
    match *name {
        local_name!("td") | local_name!("th") => CELL,
        local_name!("body")
        | local_name!("caption")
        | local_name!("frameset")
        | local_name!("frame")
        | local_name!("head")
        | local_name!("html")
        | local_name!("iframe")
        | local_name!("legend")
        | local_name!("marquee")
        | local_name!("noembed")
        | local_name!("noframes")
        | local_name!("noscript")
        | local_name!("optgroup")
        | local_name!("option")
        | local_name!("select")
        | local_name!("table")
        | local_name!("tbody")
        | local_name!("textarea")
        | local_name!("tfoot")
        | local_name!("thead")
        | local_name!("title")
        | local_name!("tr")
        | local_name!("br") => BLOCK,
        _ => 0,
    }
}

/// Every tag name that any of the predicates above knows about.
const KNOWN_TAGS: &[&str] = &[
    "a",
    "address",
    "applet",
    "area",
    "article",
    "aside",
    "base",
    "basefont",
    "bgsound",
    "blockquote",
    "body",
    "br",
    "button",
    "caption",
    "center",
    "col",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "embed",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hgroup",
    "hr",
    "html",
    "iframe",
    "image",
    "img",
    "input",
    "keygen",
    "legend",
    "li",
    "link",
    "listing",
    "main",
    "marquee",
    "math",
    "menu",
    "meta",
    "nav",
    "noembed",
    "noframes",
    "noscript",
    "object",
    "ol",
    "optgroup",
    "option",
    "p",
    "param",
    "plaintext",
    "pre",
    "search",
    "section",
    "select",
    "source",
    "summary",
    "svg",
    "table",
    "tbody",
    "td",
    "template",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "track",
    "ul",
    "wbr",
    "xmp",
];

const T_VOID: u8 = 1;
const T_HEADING: u8 = 2;
const T_CLOSES_P: u8 = 4;
const T_SCOPE: u8 = 8;
/// The `BLOCK`/`CELL` category, shifted.
const T_CAT_SHIFT: u8 = 4;

/// Tag name → `T_*` flags, so that a tag costs one hash lookup instead of dozens of
/// comparisons.
static TAG_INFO: LazyLock<AtomMap<u8>> = LazyLock::new(|| {
    KNOWN_TAGS
        .iter()
        .map(|&t| {
            let name = LocalName::from(t);
            let mut flags = category_slow(&name) << T_CAT_SHIFT;
            for (yes, bit) in [
                (is_void_slow(&name), T_VOID),
                (is_heading(&name), T_HEADING),
                (closes_p(&name), T_CLOSES_P),
                (is_scope_boundary(&name), T_SCOPE),
            ] {
                if yes {
                    flags |= bit;
                }
            }
            (name, flags)
        })
        .collect()
});

fn tag_info(name: &LocalName) -> u8 {
    TAG_INFO.get(name).copied().unwrap_or(0)
}

fn category(name: &LocalName) -> u8 {
    tag_info(name) >> T_CAT_SHIFT
}

/// A slot in the open-element filter for a name.
fn name_slot(name: &LocalName) -> usize {
    let mut h = AtomHasher::default();
    name.hash(&mut h);
    (h.finish() >> 56) as usize
}

/// The "default scope" boundaries (plus foreign roots): implied end tags do not cross them.
fn is_scope_boundary(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("applet")
            | local_name!("caption")
            | local_name!("html")
            | local_name!("table")
            | local_name!("td")
            | local_name!("th")
            | local_name!("marquee")
            | local_name!("object")
            | local_name!("template")
            | local_name!("svg")
            | local_name!("math")
    )
}

struct Frame {
    name: LocalName,
    flags: u8,
    /// Hidden with all descendants (display:none, off-screen, template, ...).
    hard: bool,
    /// Inherited `visibility: hidden`.
    vis: bool,
    /// Inherited zero font size.
    fzero: bool,
    // 1-based stack index of the nearest open element of a kind (0 = none).
    near_p: u32,
    near_li: u32,
    near_dt: u32,
    near_cell: u32,
    near_tr: u32,
    near_a: u32,
}

impl Frame {
    fn hidden(&self) -> bool {
        self.hard || self.vis || self.fzero
    }
}

/// The attributes the extractor looks at, collected in one pass (first occurrence wins).
#[derive(Default)]
struct Attrs<'a> {
    style: Option<&'a str>,
    class: Option<&'a str>,
    id: Option<&'a str>,
    hidden: bool,
    alt: Option<&'a str>,
    title: Option<&'a str>,
    href: Option<&'a str>,
    src: Option<&'a str>,
    srcdoc: Option<&'a str>,
    rel: Option<&'a str>,
    name: Option<&'a str>,
    property: Option<&'a str>,
    content: Option<&'a str>,
    http_equiv: Option<&'a str>,
    action: Option<&'a str>,
    method: Option<&'a str>,
    type_: Option<&'a str>,
    width: Option<&'a str>,
    height: Option<&'a str>,
    onload: Option<&'a str>,
    onerror: Option<&'a str>,
    placeholder: Option<&'a str>,
    aria_label: Option<&'a str>,
}

/// The attributes [`Attrs::collect`] reads, by name; the tokenizer stage does not keep the
/// others (most of a page's attributes: `data-*`, `target`, `border`, ...).
#[derive(Clone, Copy)]
enum ReadAttribute {
    Style,
    Class,
    Id,
    Hidden,
    Alt,
    Title,
    Href,
    Src,
    Srcdoc,
    Rel,
    Name,
    Property,
    Content,
    HttpEquiv,
    Action,
    Method,
    Type,
    Width,
    Height,
    Onload,
    Onerror,
    Placeholder,
    AriaLabel,
}

fn read_attribute(name: &LocalName) -> Option<ReadAttribute> {
    use ReadAttribute as R;
    Some(match *name {
        local_name!("style") => R::Style,
        local_name!("class") => R::Class,
        local_name!("id") => R::Id,
        local_name!("hidden") => R::Hidden,
        local_name!("alt") => R::Alt,
        local_name!("title") => R::Title,
        local_name!("href") => R::Href,
        local_name!("src") => R::Src,
        local_name!("srcdoc") => R::Srcdoc,
        local_name!("rel") => R::Rel,
        local_name!("name") => R::Name,
        local_name!("property") => R::Property,
        local_name!("content") => R::Content,
        local_name!("http-equiv") => R::HttpEquiv,
        local_name!("action") => R::Action,
        local_name!("method") => R::Method,
        local_name!("type") => R::Type,
        local_name!("width") => R::Width,
        local_name!("height") => R::Height,
        local_name!("onload") => R::Onload,
        local_name!("onerror") => R::Onerror,
        local_name!("placeholder") => R::Placeholder,
        local_name!("aria-label") => R::AriaLabel,
        _ => return None,
    })
}

impl<'a> Attrs<'a> {
    fn collect(attrs: &'a [Attribute]) -> Attrs<'a> {
        use ReadAttribute as R;
        let mut a = Attrs::default();
        for attr in attrs {
            let v: &'a str = &attr.value;
            let Some(read) = read_attribute(&attr.name.local) else {
                continue;
            };
            let slot = match read {
                R::Style => &mut a.style,
                R::Class => &mut a.class,
                R::Id => &mut a.id,
                R::Hidden => {
                    a.hidden = true;
                    continue;
                }
                R::Alt => &mut a.alt,
                R::Title => &mut a.title,
                R::Href => &mut a.href,
                R::Src => &mut a.src,
                R::Srcdoc => &mut a.srcdoc,
                R::Rel => &mut a.rel,
                R::Name => &mut a.name,
                R::Property => &mut a.property,
                R::Content => &mut a.content,
                R::HttpEquiv => &mut a.http_equiv,
                R::Action => &mut a.action,
                R::Method => &mut a.method,
                R::Type => &mut a.type_,
                R::Width => &mut a.width,
                R::Height => &mut a.height,
                R::Onload => &mut a.onload,
                R::Onerror => &mut a.onerror,
                R::Placeholder => &mut a.placeholder,
                R::AriaLabel => &mut a.aria_label,
            };
            if slot.is_none() {
                *slot = Some(v);
            }
        }
        a
    }
}

/// A `width`/`height` attribute value in pixels (`0`, `1px`, ` 1 `); percentages are `None`.
fn attr_px(v: Option<&str>) -> Option<f32> {
    let v = v?.trim();
    let v = v.strip_suffix("px").unwrap_or(v).trim();
    v.parse::<f32>().ok().filter(|n| n.is_finite())
}

fn le(v: Option<f32>, limit: f32) -> bool {
    v.is_some_and(|v| v <= limit)
}

/// How markup is read beyond HTML, for the markup of templates, components and JSX.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Dialect {
    /// `<x/>` ends any element, as in XML, Vue, Svelte and JSX; in HTML only void and foreign
    /// elements. Without it a self-closed `<script/>` or `<title/>` swallows the rest of the
    /// file as its text.
    pub(crate) self_closing: bool,
    /// A single-file component (Vue, Svelte): `<template>` content is rendered markup (Vue's
    /// root and its `v-if`/`v-for`/slot wrappers all render their content), and an inline
    /// `<script>` outside every element is the component's code: the `js` zone, not a page
    /// script.
    pub(crate) component: bool,
}

/// What the tokenizer is inside of, for raw-text elements (never pushed on the stack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Raw {
    None,
    Script(usize),
    /// A component's own script; its text starts at this offset of `component_js`.
    ComponentScript(usize),
    Style,
    Title,
    /// `textarea`, `xmp`, `plaintext`: text shown as written.
    Text,
    /// `iframe`/`noembed`/`noframes` content: markup as text, not shown.
    Fallback,
}

struct PendingLink {
    href: String,
    text: String,
    tag: &'static str,
    hidden: bool,
    rel: Option<String>,
}

struct OpenAnchor {
    link: usize,
    depth: usize,
    text: TextBuf,
    alt: TextBuf,
}

struct PendingScript {
    src: Option<String>,
    text: String,
}

enum ScriptItem {
    Element(usize),
    Handler(String),
}

struct Extractor {
    dialect: Dialect,
    sheet: StyleSheet,
    stack: Vec<Frame>,
    /// Open elements per [`name_slot`]: a zero proves that no element of a name is open.
    open: [u32; 256],
    overflow: usize,
    overflow_hidden_from: Option<usize>,
    raw: Raw,
    raw_hidden: bool,
    text: TextBuf,
    hidden: TextBuf,
    titles: Vec<String>,
    cur_title: String,
    fallback: String,
    meta: Vec<String>,
    attrs: Vec<String>,
    links: Vec<PendingLink>,
    anchor: Option<OpenAnchor>,
    iframes: Vec<Iframe>,
    forms: Vec<(Option<String>, Form)>,
    open_form: Option<usize>,
    fields: Vec<Field>,
    scripts: Vec<PendingScript>,
    script_items: Vec<ScriptItem>,
    redirects: Vec<Redirect>,
    base_href: Option<String>,
    component_js: String,
}

impl Extractor {
    fn new(dialect: Dialect, sheet: StyleSheet, capacity: usize) -> Extractor {
        Extractor {
            dialect,
            sheet,
            stack: Vec::new(),
            open: [0; 256],
            overflow: 0,
            overflow_hidden_from: None,
            raw: Raw::None,
            raw_hidden: false,
            text: TextBuf::with_capacity(capacity),
            hidden: TextBuf::new(),
            titles: Vec::new(),
            cur_title: String::new(),
            fallback: String::new(),
            meta: Vec::new(),
            attrs: Vec::new(),
            links: Vec::new(),
            anchor: None,
            iframes: Vec::new(),
            forms: Vec::new(),
            open_form: None,
            fields: Vec::new(),
            scripts: Vec::new(),
            script_items: Vec::new(),
            redirects: Vec::new(),
            base_href: None,
            component_js: String::new(),
        }
    }

    fn depth(&self) -> usize {
        self.stack.len() + self.overflow
    }

    /// (hard, vis, fzero) of the current insertion point.
    fn cur_state(&self) -> (bool, bool, bool) {
        let over = self.overflow_hidden_from.is_some();
        match self.stack.last() {
            Some(f) => (f.hard || over, f.vis, f.fzero),
            None => (over, false, false),
        }
    }

    fn cur_hidden(&self) -> bool {
        self.overflow_hidden_from.is_some() || self.stack.last().is_some_and(Frame::hidden)
    }

    fn in_foreign(&self) -> bool {
        self.overflow == 0 && self.stack.last().is_some_and(|f| f.flags & FOREIGN != 0)
    }

    fn in_pre(&self) -> bool {
        self.stack.last().is_some_and(|f| f.flags & PRE != 0)
    }

    fn sep(&mut self, sep: Sep) {
        self.text.sep(sep);
        self.hidden.sep(sep);
        if let Some(a) = &mut self.anchor {
            a.text.sep(Sep::Space);
        }
    }

    fn sep_for(&mut self, cat: u8) {
        if cat & BLOCK != 0 {
            self.sep(Sep::Newline);
        } else if cat & CELL != 0 {
            self.sep(Sep::Space);
        }
    }

    fn route_text(&mut self, s: &str, hidden: bool, pre: bool) {
        if hidden {
            self.hidden.push(s, pre);
        } else if self.text.push(s, pre) {
            // Hidden runs separated by visible text are not adjacent.
            self.hidden.sep(Sep::Space);
        }
        if let Some(a) = &mut self.anchor {
            a.text.push(s, false);
        }
    }

    fn chars(&mut self, s: &str) {
        match self.raw {
            Raw::Script(i) => self.scripts[i].text.push_str(s),
            Raw::ComponentScript(_) => self.component_js.push_str(s),
            Raw::Style => {}
            Raw::Title => self.cur_title.push_str(s),
            Raw::Fallback => self.fallback.push_str(s),
            Raw::Text => self.route_text(s, self.raw_hidden, true),
            Raw::None => {
                let hidden = self.cur_hidden();
                let pre = self.in_pre();
                self.route_text(s, hidden, pre);
            }
        }
    }

    fn finish_anchor(&mut self) {
        if let Some(a) = self.anchor.take() {
            let text = if a.text.is_empty() { a.alt } else { a.text };
            self.links[a.link].text = text.into_string();
        }
    }

    fn check_anchor(&mut self) {
        if self.anchor.as_ref().is_some_and(|a| self.depth() < a.depth) {
            self.finish_anchor();
        }
    }

    fn pop(&mut self) {
        let Some(f) = self.stack.pop() else {
            return;
        };
        let slot = &mut self.open[name_slot(&f.name)];
        *slot = slot.saturating_sub(1);
        self.sep_for(f.flags);
        self.check_anchor();
    }

    /// Pop until the stack has `len` frames.
    fn pop_to(&mut self, len: usize) {
        while self.stack.len() > len {
            self.pop();
        }
    }

    fn implied_end(&mut self, name: &LocalName) {
        let Some(top) = self.stack.last() else {
            return;
        };
        let target = match *name {
            local_name!("li") => top.near_li,
            local_name!("dd") | local_name!("dt") => top.near_dt,
            local_name!("td") | local_name!("th") => top.near_cell,
            local_name!("tr")
            | local_name!("tbody")
            | local_name!("thead")
            | local_name!("tfoot") => top.near_tr,
            local_name!("a") => top.near_a,
            local_name!("option") | local_name!("optgroup")
                if top.name == local_name!("option") =>
            {
                self.stack.len() as u32
            }
            _ if tag_info(name) & T_HEADING != 0 && tag_info(&top.name) & T_HEADING != 0 => {
                self.stack.len() as u32
            }
            _ => 0,
        };
        if target > 0 {
            self.pop_to(target as usize - 1);
        }
        if *name == local_name!("optgroup")
            && self
                .stack
                .last()
                .is_some_and(|f| f.name == local_name!("optgroup"))
        {
            self.pop();
        }
        if tag_info(name) & T_CLOSES_P != 0
            && let Some(near_p) = self.stack.last().map(|f| f.near_p)
            && near_p > 0
        {
            self.pop_to(near_p as usize - 1);
        }
    }

    fn push(&mut self, name: LocalName, cat: u8, hard: bool, vis: bool, fzero: bool) {
        if self.stack.len() >= MAX_DEPTH {
            self.overflow += 1;
            if (hard || vis || fzero) && self.overflow_hidden_from.is_none() {
                self.overflow_hidden_from = Some(self.overflow);
            }
            return;
        }
        let idx = self.stack.len() as u32 + 1;
        let parent = self.stack.last();
        let inherit = |f: fn(&Frame) -> u32| parent.map_or(0, f);
        let boundary = tag_info(&name) & T_SCOPE != 0;
        let near_p = match name {
            local_name!("p") => idx,
            local_name!("button") => 0,
            _ if boundary => 0,
            _ => inherit(|f| f.near_p),
        };
        let near_li = match name {
            local_name!("li") => idx,
            local_name!("ol") | local_name!("ul") => 0,
            _ if boundary => 0,
            _ => inherit(|f| f.near_li),
        };
        let near_dt = match name {
            local_name!("dd") | local_name!("dt") => idx,
            local_name!("dl") => 0,
            _ if boundary => 0,
            _ => inherit(|f| f.near_dt),
        };
        let near_cell = match name {
            local_name!("td") | local_name!("th") => idx,
            local_name!("table")
            | local_name!("tr")
            | local_name!("tbody")
            | local_name!("thead")
            | local_name!("tfoot") => 0,
            _ => inherit(|f| f.near_cell),
        };
        let near_tr = match name {
            local_name!("tr") => idx,
            local_name!("table") => 0,
            _ => inherit(|f| f.near_tr),
        };
        let near_a = match name {
            local_name!("a") => idx,
            local_name!("button") => 0,
            _ if boundary => 0,
            _ => inherit(|f| f.near_a),
        };
        let mut flags = cat;
        let parent_flags = parent.map_or(0, |f| f.flags);
        flags |= parent_flags & (FOREIGN | PRE);
        match name {
            local_name!("svg") | local_name!("math") => flags |= FOREIGN,
            local_name!("pre") | local_name!("listing") => flags |= PRE,
            _ => {}
        }
        self.open[name_slot(&name)] += 1;
        self.stack.push(Frame {
            name,
            flags,
            hard,
            vis,
            fzero,
            near_p,
            near_li,
            near_dt,
            near_cell,
            near_tr,
            near_a,
        });
    }

    /// The element's own hiding, and its cascaded declarations (for sizes).
    fn own_hide(&self, name: &LocalName, a: &Attrs<'_>) -> (Hide, css::Props) {
        let (mut hide, props) = if a.style.is_none() && !self.sheet.may_match(a.class, a.id) {
            (Hide::default(), css::Props::default())
        } else {
            let key = ElementKey {
                tag: name,
                class: a.class,
                id: a.id,
            };
            let props = css::element_hide(&self.sheet, &key, a.style);
            (css::evaluate(&props), props)
        };
        match *name {
            local_name!("template") if !self.dialect.component => hide.hard = true,
            local_name!("rp") => hide.hard = true,
            local_name!("marquee") => {
                let tiny = |attr: Option<&str>, prop: Option<f32>| {
                    le(attr_px(attr), TINY_MARQUEE_PX) || le(prop, TINY_MARQUEE_PX)
                };
                if tiny(a.width, props.width) || tiny(a.height, props.height) {
                    hide.hard = true;
                }
            }
            _ => {}
        }
        if a.hidden {
            hide.hard = true;
        }
        (hide, props)
    }

    fn add_handler(&mut self, code: &str) {
        let code = code.trim();
        if code.is_empty() {
            return;
        }
        for target in js_location_targets(code) {
            self.redirects.push(Redirect {
                kind: RedirectKind::JsLocation,
                target,
                delay: None,
            });
        }
        self.script_items.push(ScriptItem::Handler(code.to_owned()));
    }

    fn start_tag(&mut self, tag: &Tag) -> Option<State> {
        let name = tag.name.clone();
        let foreign = self.in_foreign();
        if self.overflow == 0 && !foreign {
            self.implied_end(&name);
        }
        let a = Attrs::collect(&tag.attrs);
        let (own, props) = self.own_hide(&name, &a);
        let (p_hard, p_vis, p_fzero) = self.cur_state();
        let hard = p_hard || own.hard;
        let vis = own.visibility.unwrap_or(p_vis);
        let fzero = own.font_zero.unwrap_or(p_fzero);
        let hidden = hard || vis || fzero;
        let info = tag_info(&name);
        let cat = info >> T_CAT_SHIFT;
        self.sep_for(cat);
        let alt = self.alt_and_title(&a);
        if matches!(
            name,
            local_name!("input") | local_name!("textarea") | local_name!("select")
        ) {
            self.field(&name, &a, hidden);
        }
        if let Some(code) = a.onload {
            self.add_handler(code);
        }
        if let Some(code) = a.onerror {
            self.add_handler(code);
        }

        // Raw-text elements are not pushed: the tokenizer hands us their text and then their
        // end tag. In foreign content (and in the XML-like dialects) a self-closing one has no
        // content.
        let closed = tag.self_closing && (foreign || self.dialect.self_closing);
        let mut open_anchor = false;
        match name {
            local_name!("a") => {
                if let Some(href) = a.href {
                    self.finish_anchor();
                    self.push_link(href, String::new(), "a", hidden, a.rel);
                    open_anchor = true;
                }
            }
            local_name!("area") => {
                if let Some(href) = a.href {
                    self.push_link(href, alt, "area", hidden, a.rel);
                }
            }
            local_name!("img") | local_name!("image") => {
                if let (Some(alt), Some(anchor)) = (a.alt, &mut self.anchor) {
                    anchor.alt.push(alt, false);
                    anchor.alt.sep(Sep::Space);
                }
            }
            local_name!("br") => self.sep(Sep::Newline),
            local_name!("base") => {
                if self.base_href.is_none()
                    && let Some(href) = a.href
                {
                    self.base_href = Some(href.to_owned());
                }
            }
            local_name!("meta") => self.meta_tag(&a),
            local_name!("input") => {
                if a.type_
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("password"))
                    && let Some(f) = self.open_form
                {
                    self.forms[f].1.has_password = true;
                }
            }
            local_name!("form") => self.form_start(&a, hidden),
            local_name!("iframe") | local_name!("frame") => {
                if let Some(raw) = self.frame_start(&name, &a, &props, hidden, !closed) {
                    return Some(raw);
                }
            }
            _ => {
                if let Some(raw) = self.raw_text_start(&name, &a, hidden, closed) {
                    return Some(raw);
                }
            }
        }

        let childless = info & T_VOID != 0 || closed;
        if !childless {
            self.push(name, cat, hard, vis, fzero);
            if open_anchor {
                self.anchor = Some(OpenAnchor {
                    link: self.links.len() - 1,
                    depth: self.depth(),
                    text: TextBuf::single_line(ANCHOR_TEXT_CAP),
                    alt: TextBuf::single_line(ANCHOR_TEXT_CAP),
                });
            }
        }
        None
    }

    /// `alt` and `title` go to the attribute zone (a title that repeats the alt once); the
    /// alt, on one line, is also an area link's text.
    fn alt_and_title(&mut self, a: &Attrs<'_>) -> String {
        let alt = a.alt.map(one_line).unwrap_or_default();
        if !alt.is_empty() {
            self.attrs.push(alt.clone());
        }
        if let Some(title) = a.title.map(one_line)
            && !title.is_empty()
            && title != alt
        {
            self.attrs.push(title);
        }
        alt
    }

    fn push_link(
        &mut self,
        href: &str,
        text: String,
        tag: &'static str,
        hidden: bool,
        rel: Option<&str>,
    ) {
        self.links.push(PendingLink {
            href: href.to_owned(),
            text,
            tag,
            hidden,
            rel: rel.map(|r| r.trim().to_owned()),
        });
    }

    fn form_start(&mut self, a: &Attrs<'_>, hidden: bool) {
        let method = a
            .method
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| matches!(m.as_str(), "get" | "post" | "dialog"))
            .unwrap_or_else(|| "get".to_owned());
        self.forms.push((
            a.action.map(str::to_owned),
            Form {
                action: String::new(),
                method,
                has_password: false,
                hidden,
            },
        ));
        self.open_form = Some(self.forms.len() - 1);
    }

    /// An iframe or frame: its source and size, its `srcdoc` read as text, and an iframe's
    /// content as fallback text (`raw_ok`: it has content to read).
    fn frame_start(
        &mut self,
        name: &LocalName,
        a: &Attrs<'_>,
        props: &css::Props,
        hidden: bool,
        raw_ok: bool,
    ) -> Option<State> {
        let tiny = |attr: Option<&str>, prop: Option<f32>| {
            le(attr_px(attr), css::TINY_PX) || le(prop, css::TINY_PX)
        };
        let zero_size = tiny(a.width, props.width) || tiny(a.height, props.height);
        let iframe = *name == local_name!("iframe");
        self.iframes.push(Iframe {
            src: a.src.unwrap_or("").to_owned(),
            tag: if iframe { "iframe" } else { "frame" },
            zero_size,
            hidden,
        });
        if let Some(doc) = a.srcdoc {
            let text = html_to_text(doc);
            self.route_text(&text, hidden || zero_size, false);
            self.sep(Sep::Newline);
        }
        if iframe && raw_ok {
            self.raw = Raw::Fallback;
            return Some(State::RawText);
        }
        None
    }

    /// Elements whose content the tokenizer hands over as raw text (scripts, styles, titles,
    /// text areas, fallbacks): which raw state reads it. `None` for every other element, and
    /// for one `closed` without content.
    fn raw_text_start(
        &mut self,
        name: &LocalName,
        a: &Attrs<'_>,
        hidden: bool,
        closed: bool,
    ) -> Option<State> {
        let raw_ok = !closed;
        match *name {
            local_name!("script")
                if raw_ok && self.dialect.component && self.depth() == 0 && a.src.is_none() =>
            {
                self.raw = Raw::ComponentScript(self.component_js.len());
                Some(State::ScriptData)
            }
            local_name!("script") if closed && self.dialect.self_closing => {
                // `<script src="..." />`: still a page script, with no text.
                if a.src.is_some() {
                    self.scripts.push(PendingScript {
                        src: a.src.map(str::to_owned),
                        text: String::new(),
                    });
                    self.script_items
                        .push(ScriptItem::Element(self.scripts.len() - 1));
                }
                None
            }
            local_name!("script") if raw_ok => {
                self.scripts.push(PendingScript {
                    src: a.src.map(str::to_owned),
                    text: String::new(),
                });
                let idx = self.scripts.len() - 1;
                self.script_items.push(ScriptItem::Element(idx));
                self.raw = Raw::Script(idx);
                Some(State::ScriptData)
            }
            local_name!("style") if raw_ok => {
                self.raw = Raw::Style;
                Some(State::RawText)
            }
            local_name!("title") if raw_ok => {
                self.raw = Raw::Title;
                Some(State::RcData)
            }
            local_name!("textarea") | local_name!("xmp") if raw_ok => {
                self.raw = Raw::Text;
                self.raw_hidden = hidden;
                Some(if *name == local_name!("textarea") {
                    State::RcData
                } else {
                    State::RawText
                })
            }
            local_name!("noembed") | local_name!("noframes") if raw_ok => {
                self.raw = Raw::Fallback;
                Some(State::RawText)
            }
            local_name!("plaintext") if raw_ok => {
                self.raw = Raw::Text;
                self.raw_hidden = hidden;
                Some(State::PlainText)
            }
            _ => None,
        }
    }

    fn meta_tag(&mut self, a: &Attrs<'_>) {
        let Some(content) = a.content else {
            return;
        };
        if a.http_equiv
            .is_some_and(|h| h.trim().eq_ignore_ascii_case("refresh"))
            && let Some((delay, target)) = parse_meta_refresh(content)
        {
            self.redirects.push(Redirect {
                kind: RedirectKind::MetaRefresh,
                target,
                delay,
            });
        }
        let key = a.name.or(a.property).map(|k| k.trim().to_ascii_lowercase());
        if matches!(
            key.as_deref(),
            Some("description" | "keywords" | "og:title" | "og:description")
        ) {
            let line = one_line(content);
            if !line.is_empty() {
                self.meta.push(line);
            }
        }
    }

    fn finish_raw(&mut self) {
        match std::mem::replace(&mut self.raw, Raw::None) {
            Raw::None | Raw::Style => {}
            Raw::Script(i) => {
                for target in js_location_targets(&self.scripts[i].text) {
                    self.redirects.push(Redirect {
                        kind: RedirectKind::JsLocation,
                        target,
                        delay: None,
                    });
                }
                if self.scripts[i].src.is_none()
                    && let Some(tag) = written_tag(&self.scripts[i].text)
                {
                    // What the script writes is markup at this point of the page.
                    match tag.kind {
                        // A container's start tag never switches the tokenizer's state.
                        TagKind::StartTag => {
                            let _ = self.start_tag(&tag);
                        }
                        TagKind::EndTag => self.end_tag(tag.name),
                    }
                }
            }
            Raw::ComponentScript(start) => {
                // Each script trimmed, one after the other on lines of their own.
                let code = self
                    .component_js
                    .split_off(start.min(self.component_js.len()));
                let code = code.trim();
                for target in js_location_targets(code) {
                    self.redirects.push(Redirect {
                        kind: RedirectKind::JsLocation,
                        target,
                        delay: None,
                    });
                }
                if !code.is_empty() {
                    if !self.component_js.is_empty() {
                        self.component_js.push('\n');
                    }
                    self.component_js.push_str(code);
                }
            }
            Raw::Title => {
                let title = one_line(&self.cur_title);
                self.cur_title.clear();
                if !title.is_empty() {
                    self.titles.push(title);
                }
            }
            Raw::Text => self.sep(Sep::Newline),
            Raw::Fallback => {
                let fallback = std::mem::take(&mut self.fallback);
                if !fallback.trim().is_empty() {
                    self.hidden.sep(Sep::Newline);
                    self.hidden.push(&html_to_text(&fallback), true);
                }
                self.sep(Sep::Newline);
            }
        }
    }

    fn end_tag(&mut self, name: LocalName) {
        if self.raw != Raw::None {
            // In a raw-text state the tokenizer only ends the element that started it.
            self.finish_raw();
            return;
        }
        match name {
            local_name!("br") => {
                self.sep(Sep::Newline);
                return;
            }
            local_name!("form") => self.open_form = None,
            _ => {}
        }
        if self.overflow > 0 {
            self.overflow -= 1;
            if self.overflow_hidden_from.is_some_and(|h| self.overflow < h) {
                self.overflow_hidden_from = None;
            }
            self.sep_for(category(&name));
            self.check_anchor();
            return;
        }
        let open_at = if self.open[name_slot(&name)] > 0 {
            self.stack.iter().rposition(|f| f.name == name)
        } else {
            None
        };
        if let Some(at) = open_at {
            self.pop_to(at);
        } else {
            // A stray `</p>` or `</div>` still separates text.
            self.sep_for(category(&name));
        }
    }

    fn eof(&mut self) {
        self.finish_raw();
        self.finish_anchor();
    }

    fn finish(self, page_url: Option<&Url>) -> Document {
        let base: Option<Url> = match &self.base_href {
            Some(href) => parse_with_base(href, page_url).or_else(|| page_url.cloned()),
            None => page_url.cloned(),
        };
        let base = base.as_ref();
        let mut zones = Vec::new();
        let mut add = |kind: ZoneKind, text: String| {
            if !text.is_empty() {
                zones.push(Zone { kind, text });
            }
        };

        // What inline scripts write is text the page shows; their escaped strings are script.
        let strings = super::written::script_strings(
            self.scripts
                .iter()
                .filter(|s| s.src.is_none())
                .map(|s| s.text.as_str()),
        );
        let written = written_fragment(&strings.written);
        let written_zone = |kind| {
            written
                .as_ref()
                .and_then(|d| d.zone(kind))
                .map_or("", |z| z.text.as_str())
        };
        add(
            ZoneKind::Text,
            joined(self.text.into_string(), written_zone(ZoneKind::Text)),
        );
        add(ZoneKind::Title, self.titles.join("\n"));
        add(ZoneKind::Meta, self.meta.join("\n"));
        add(ZoneKind::Attr, self.attrs.join("\n"));

        let links = resolve_links(self.links, base);
        add(ZoneKind::Link, link_zone(&links));

        let scripts: Vec<Script> = self
            .scripts
            .iter()
            .map(|s| Script {
                src: s.src.as_deref().map(|src| resolve(src, base)),
                inline_len: s.text.len(),
            })
            .collect();
        add(
            ZoneKind::Script,
            joined(
                script_zone(&self.script_items, &self.scripts, &scripts),
                &strings.decoded,
            ),
        );

        let iframes = resolve_iframes(self.iframes, base);
        add(
            ZoneKind::Iframe,
            lines(iframes.iter().map(|f| f.src.as_str())),
        );

        let forms = resolve_forms(self.forms, base, page_url);
        add(
            ZoneKind::Form,
            lines(forms.iter().map(|f| f.action.as_str())),
        );

        let redirects: Vec<Redirect> = self
            .redirects
            .into_iter()
            .map(|r| Redirect {
                target: resolve(&r.target, base),
                ..r
            })
            .collect();
        add(
            ZoneKind::Redirect,
            lines(redirects.iter().map(|r| r.target.as_str())),
        );

        add(
            ZoneKind::HiddenText,
            joined(
                self.hidden.into_string(),
                written_zone(ZoneKind::HiddenText),
            ),
        );
        add(ZoneKind::Js, self.component_js);
        add(ZoneKind::Field, field_lines(&self.fields));

        Document {
            kind: ContentKind::Html,
            zones,
            links,
            iframes,
            forms,
            fields: self.fields,
            redirects,
            scripts,
            base_url: base.map(display),
        }
    }
}

/// The HTML that the page's scripts write, read as a fragment of its own. Scripts inside it
/// are cut off, so that a script writing a script cannot make the extractor recurse.
fn written_fragment(html: &str) -> Option<Document> {
    if html.is_empty() {
        return None;
    }
    let end = html
        .as_bytes()
        .windows(7)
        .position(|w| w.eq_ignore_ascii_case(b"<script"))
        .unwrap_or(html.len());
    Some(super::extract_html(&html[..end], None))
}

/// `zone`, then `more` on a line of its own.
fn joined(mut zone: String, more: &str) -> String {
    if !more.is_empty() {
        if !zone.is_empty() {
            zone.push('\n');
        }
        zone.push_str(more);
    }
    zone
}

fn resolve_links(pending: Vec<PendingLink>, base: Option<&Url>) -> Vec<Link> {
    pending
        .into_iter()
        .map(|l| Link {
            url: resolve(&l.href, base),
            text: l.text,
            tag: l.tag,
            hidden: l.hidden,
            rel: l.rel,
        })
        .collect()
}

/// The link zone: a line per link with a URL, the URL and then its text.
fn link_zone(links: &[Link]) -> String {
    let mut zone = String::new();
    for l in links.iter().filter(|l| !l.url.is_empty()) {
        zone.push_str(&l.url);
        if !l.text.is_empty() {
            zone.push(' ');
            zone.push_str(&l.text);
        }
        zone.push('\n');
    }
    trim_newline(zone)
}

/// The script zone, in page order: each script element's resolved source and inline text,
/// and each event handler's code.
fn script_zone(items: &[ScriptItem], pending: &[PendingScript], scripts: &[Script]) -> String {
    let mut zone = String::new();
    for item in items {
        let mut line = |s: &str| {
            if !s.is_empty() {
                zone.push_str(s);
                zone.push('\n');
            }
        };
        match item {
            ScriptItem::Element(i) => {
                if let Some(src) = &scripts[*i].src {
                    line(src);
                }
                line(pending[*i].text.trim());
            }
            ScriptItem::Handler(code) => line(code),
        }
    }
    trim_newline(zone)
}

fn resolve_iframes(iframes: Vec<Iframe>, base: Option<&Url>) -> Vec<Iframe> {
    iframes
        .into_iter()
        .map(|f| Iframe {
            src: if f.src.trim().is_empty() {
                String::new()
            } else {
                resolve(&f.src, base)
            },
            ..f
        })
        .collect()
}

/// Forms with their actions resolved; a form without one submits to the page itself.
fn resolve_forms(
    forms: Vec<(Option<String>, Form)>,
    base: Option<&Url>,
    page_url: Option<&Url>,
) -> Vec<Form> {
    let page = page_url.map(display).unwrap_or_default();
    forms
        .into_iter()
        .map(|(action, f)| Form {
            action: match action.as_deref().map(str::trim) {
                Some(a) if !a.is_empty() => resolve(a, base),
                _ => page.clone(),
            },
            ..f
        })
        .collect()
}

/// Input types that ask the visitor for nothing (`hidden` carries the page's own values).
const NOT_ASKED: [&str; 7] = [
    "hidden", "submit", "button", "reset", "image", "checkbox", "radio",
];

impl Extractor {
    /// Record a form field (see `Field`).
    fn field(&mut self, name: &LocalName, a: &Attrs<'_>, hidden: bool) {
        let kind = match *name {
            local_name!("textarea") => "textarea".to_owned(),
            local_name!("select") => "select".to_owned(),
            _ => {
                let kind = a.type_.map(|t| t.trim().to_ascii_lowercase());
                match kind {
                    Some(k) if NOT_ASKED.contains(&k.as_str()) => return,
                    Some(k) if !k.is_empty() && !k.contains(char::is_whitespace) => k,
                    _ => "text".to_owned(),
                }
            }
        };
        let field_name = [a.name, a.id]
            .into_iter()
            .flatten()
            .map(|n| n.split_whitespace().collect::<Vec<_>>().join("_"))
            .find(|n| !n.is_empty())
            .unwrap_or_default();
        let mut hint = String::new();
        for h in [a.placeholder, a.aria_label, a.title]
            .into_iter()
            .flatten()
            .map(one_line)
        {
            if !h.is_empty() && !hint.split(" / ").any(|x| x == h) {
                if !hint.is_empty() {
                    hint.push_str(" / ");
                }
                hint.push_str(&h);
            }
        }
        self.fields.push(Field {
            kind,
            name: field_name,
            hint,
            form: self.open_form,
            hidden,
        });
    }
}

/// The `field` zone: `type name hint`, one field a line.
fn field_lines(fields: &[Field]) -> String {
    let mut zone = String::new();
    for f in fields {
        zone.push_str(&f.kind);
        zone.push(' ');
        zone.push_str(if f.name.is_empty() { "-" } else { &f.name });
        if !f.hint.is_empty() {
            zone.push(' ');
            zone.push_str(&f.hint);
        }
        zone.push('\n');
    }
    trim_newline(zone)
}

fn trim_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
    }
    s
}

/// Non-empty items, one per line.
fn lines<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for item in items.filter(|s| !s.is_empty()) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(item);
    }
    out
}

impl Handler for Extractor {
    fn start_tag(&mut self, tag: &Tag) -> Option<State> {
        Extractor::start_tag(self, tag)
    }

    fn keeps_attribute(&self, name: &LocalName) -> bool {
        read_attribute(name).is_some()
    }

    fn end_tag(&mut self, name: LocalName) {
        Extractor::end_tag(self, name);
    }

    fn text(&mut self, text: &str) {
        self.chars(text);
    }

    fn eof(&mut self) {
        Extractor::eof(self);
    }
}

/// Find `needle` (lower-case ASCII starting with `<`) case-insensitively from `from`.
/// (Checking every `<` after memchr is about 3x faster here than a case-insensitive
/// Aho-Corasick automaton.)
fn find_tag_ci(b: &[u8], mut from: usize, needle: &[u8]) -> Option<usize> {
    while from < b.len() {
        let pos = from + memchr(b'<', &b[from..])?;
        if b.len() - pos >= needle.len() && b[pos..pos + needle.len()].eq_ignore_ascii_case(needle)
        {
            return Some(pos);
        }
        from = pos + 1;
    }
    None
}

/// Elements a script may open or close by writing the tag alone (`document.write('<div
/// style="display:none">')` before a link farm, `document.write('</div>')` after it).
const WRITTEN_CONTAINERS: &[&str] = &[
    "div", "span", "p", "font", "section", "ul", "ol", "dl", "marquee", "center", "table",
];

/// The one start or end tag of a container that an inline script writes and does nothing
/// else with: `document.write("<div style=\"position:absolute;left:-999px\">");`.
fn written_tag(js: &str) -> Option<Tag> {
    static WRITE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r#"(?s)^\s*(?:<!--)?\s*document\.write(?:ln)?\s*\(\s*(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')\s*\)\s*;?\s*(?://\s*-->|-->)?\s*$"#,
        )
        .expect("valid regex")
    });
    if !js.contains("write") {
        return None;
    }
    let caps = WRITE.captures(js)?;
    let literal = caps.get(1).or_else(|| caps.get(2))?.as_str();
    let mut fragment = String::with_capacity(literal.len());
    let mut chars = literal.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => fragment.push('\n'),
                Some('t') => fragment.push('\t'),
                Some(e) => fragment.push(e),
                None => {}
            }
        } else {
            fragment.push(c);
        }
    }
    let fragment = fragment.trim();
    if !fragment.starts_with('<') || !fragment.ends_with('>') || fragment[1..].contains('<') {
        return None;
    }
    struct First(Option<Tag>);
    impl Handler for First {
        fn start_tag(&mut self, tag: &Tag) -> Option<State> {
            self.0.get_or_insert_with(|| tag.clone());
            None
        }
        fn end_tag(&mut self, name: LocalName) {
            self.0.get_or_insert(Tag {
                kind: TagKind::EndTag,
                name,
                self_closing: false,
                had_duplicate_attributes: false,
                attrs: Vec::new(),
            });
        }
        fn text(&mut self, _text: &str) {}
    }
    let tag = tokenize(fragment, First(None)).0?;
    (WRITTEN_CONTAINERS.contains(&&*tag.name) && !tag.self_closing).then_some(tag)
}

/// Ids that an inline script does nothing but hide (`<script>document.getElementById('x')
/// .style.display = 'none';</script>`), as style rules: content hidden as soon as it is written
/// is hidden content. Scripts that hide on a condition or in a function (menus, login bars)
/// are left alone.
fn script_hidden_ids(html: &str, sheet: &mut StyleSheet) {
    const HIDE: &str = r#"document\s*\.\s*getElementById\(\s*["']([A-Za-z][\w-]*)["']\s*\)\s*\.\s*style\s*\.\s*(?:display\s*=\s*["']\s*none|visibility\s*=\s*["']\s*hidden)\s*["']\s*;?"#;
    static ONLY_HIDES: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(&format!(
            r"^\s*(?:<!--)?\s*(?:{HIDE}\s*)+(?://\s*-->|-->)?\s*$"
        ))
        .expect("valid regex")
    });
    static HIDE_ONE: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(HIDE).expect("valid regex"));
    let b = html.as_bytes();
    if memchr::memmem::find(b, b"getElementById").is_none() {
        return;
    }
    let mut from = 0;
    while let Some(pos) = find_tag_ci(b, from, b"<script") {
        let Some(gt) = memchr(b'>', &b[pos..]) else {
            break;
        };
        let start = pos + gt + 1;
        let end = find_tag_ci(b, start, b"</script").unwrap_or(b.len());
        let body = &html[start..end];
        if body.len() < 4096 && ONLY_HIDES.is_match(body) {
            for caps in HIDE_ONE.captures_iter(body) {
                sheet.add_css(&format!("#{}{{display:none}}", &caps[1]));
            }
        }
        from = end;
    }
}

/// Collect the rules of every `<style>` block before tokenizing, so that a rule applies to
/// content before the block too; and the elements that inline scripts hide by id.
fn prescan_styles(html: &str) -> StyleSheet {
    let b = html.as_bytes();
    let mut sheet = StyleSheet::default();
    let mut from = 0;
    while let Some(pos) = find_tag_ci(b, from, b"<style") {
        let after = pos + 6;
        if after < b.len() && !matches!(b[after], b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
        {
            from = after;
            continue;
        }
        let Some(gt) = memchr(b'>', &b[after..]) else {
            break;
        };
        let start = after + gt + 1;
        let end = find_tag_ci(b, start, b"</style").unwrap_or(b.len());
        sheet.add_css(&html[start..end]);
        from = end;
    }
    script_hidden_ids(html, &mut sheet);
    sheet
}

/// A flat text rendering of an HTML fragment (fallback content, `srcdoc`): entities decoded,
/// tags dropped, script/style content skipped, block tags as line breaks.
fn html_to_text(html: &str) -> String {
    /// The text so far, and whether the tokenizer is inside a script or style.
    struct Flat(TextBuf, bool);
    impl Handler for Flat {
        fn start_tag(&mut self, tag: &Tag) -> Option<State> {
            if category(&tag.name) != 0 {
                self.0.sep(Sep::Newline);
            }
            let raw = match tag.name {
                local_name!("script") => State::ScriptData,
                local_name!("style") => State::RawText,
                _ => return None,
            };
            self.1 = true;
            Some(raw)
        }
        fn end_tag(&mut self, name: LocalName) {
            if category(&name) != 0 {
                self.0.sep(Sep::Newline);
            }
            self.1 = false;
        }
        fn text(&mut self, text: &str) {
            if !self.1 {
                self.0.push(text, false);
            }
        }
    }
    tokenize(html, Flat(TextBuf::new(), false)).0.into_string()
}

/// Extract the zones of an HTML page.
pub(crate) fn extract(html: &str, page_url: Option<&Url>) -> Document {
    extract_dialect(html, page_url, Dialect::default())
}

/// Extract the zones of markup read in a dialect.
pub(crate) fn extract_dialect(html: &str, page_url: Option<&Url>, dialect: Dialect) -> Document {
    let sheet = prescan_styles(html);
    tokenize(html, Extractor::new(dialect, sheet, html.len() / 4)).finish(page_url)
}
