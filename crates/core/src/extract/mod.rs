//! Document → zones.
//!
//! A page is split into named zones, because where a word appears matters as much as the
//! word: a gambling term in a hidden block of links (暗链) is a different finding from the
//! same term in an article. Rules name the zones they apply to (see `rulesets/README.md`).
//!
//! Each zone is one string, the *original* text that evidence quotes and that finding offsets
//! index into. Multi-item zones (links, iframes, forms, ...) hold one item per line; the
//! structured items are kept beside the zones for checks that need more than text.
//!
//! # HTML zone formats
//!
//! HTML is tokenized by html5gum (WHATWG) (entities are decoded everywhere: `&#36172;&#21338;` is
//! 赌博) and walked with a small element stack, without a DOM (see `html.rs` for the stack,
//! its depth cap and implied end tags). Empty zones are omitted; zones come in [`ZoneKind`]
//! order. In every text-like zone, runs of whitespace (including U+3000 and `&nbsp;`)
//! collapse to one space, lines are trimmed and there are no blank lines.
//!
//! * `text`: visible text. Block elements (`div`, `p`, `li`, `tr`, `h1`, `table`, `option`,
//!   `title`, ...) and `<br>` start a new line; table cells (`td`, `th`) are separated by a
//!   space; inline elements do not separate (`赌<b>博</b>` is `赌博`). In `pre`, `listing`,
//!   `textarea`, `xmp` and `plaintext` a newline in the source is a line break. Text of
//!   `textarea`, `xmp`, `plaintext` and `<noscript>` counts as visible: `<noscript>` content is
//!   what visitors and crawlers without JS see, and a known SEO-spam spot. The text of an
//!   iframe's `srcdoc` document is here too (in `hidden_text` when the iframe is hidden or
//!   zero-size). Not here: `script`, `style`, `title`, `template`, and hidden content.
//! * `title`: the text of each `<title>` element, one per line (normally one).
//! * `meta`: the `content` of `<meta>` tags named (`name` or `property`) `description`,
//!   `keywords`, `og:title` or `og:description`, one per line in document order.
//! * `attr`: the `alt` and `title` attributes of any element, hidden or not, one per line
//!   (an element's `title` is skipped when equal to its `alt`).
//! * `link`: one line per `<a href>`/`<area href>`: `URL` or `URL anchor-text`, split at the
//!   first space. The URL never contains whitespace (see URLs below). Anchor text is the
//!   text inside the anchor (visible or hidden) on one line, at most 1 KiB; without text, the
//!   `alt` of images inside it (for `area`: its own `alt`). Links whose URL is empty (empty
//!   href and no base) are in [`Document::links`] but not in the zone.
//! * `script`: in document order, for each `<script>` its resolved `src` on one line and/or
//!   its inline text (trimmed, newlines kept), plus the code of `onload`/`onerror` event
//!   handler attributes (which run without user action). [`Document::scripts`] has the
//!   `<script>` elements only.
//! * `iframe`: one line per `iframe`/`frame` with a `src`: the resolved URL.
//! * `form`: one line per `<form>`: the resolved `action` (the page URL when the action is
//!   missing or empty; no line when there is no page URL either).
//! * `redirect`: one line per target: `<meta http-equiv=refresh content="N;url=...">` (any
//!   case, spaces, quotes, `,` for `;`, `url=` optional) and string literals assigned in
//!   inline scripts and `onload`/`onerror` handlers to `location`, `location.href`,
//!   `location["href"]` (with any `window.`/`top.`/`self.`/`document.`/`parent.` prefix), or
//!   passed to `location.replace(...)`/`location.assign(...)`. Resolved against the base.
//! * `field`: one line per form field the visitor fills in (`input` other than `hidden`,
//!   `submit`, `button`, `reset`, `image`, `checkbox` and `radio`; `textarea`; `select`),
//!   inside a form or not, hidden or not: `type name hint`, where `type` is the input's
//!   lower-case type (`textarea`, `select`), `name` its `name` or else `id` (`-` when it has
//!   neither) and `hint` its `placeholder`, `aria-label` and `title` (distinct ones, joined by
//!   ` / `; left out when empty). A login form is `text user 用户名` and
//!   `password pwd 请输入密码`; a card form names `cc_number` and `cvv2`. [`Document::fields`]
//!   has the fields with their form.
//! * `hidden_text`: text hidden from visitors, kept apart from `text`:
//!   - by CSS: `display:none`, `visibility:hidden` (a descendant may set `visible`),
//!     `opacity:0`, `font-size:0` (or `font:0/0`; a descendant with an absolute size shows
//!     again), `position` non-static with `left`/`top` ≤ -500px, `margin-left`/`margin-top`
//!     ≤ -500px, `text-indent` ≤ -500px, `width`/`height` ≤ 1px with `overflow:hidden`;
//!     from `style` attributes and from simple selectors (`.c`, `#id`, `tag`, `div.c`, comma
//!     lists) in the page's own `<style>` blocks, wherever the block is (see `css.rs` for
//!     what is ignored on purpose, e.g. `@media` blocks);
//!   - by markup: the `hidden` attribute, a `<marquee>` at most 3px high or wide, `<rp>`;
//!   - `<template>` content: inert, never rendered, yet a place for hostile content;
//!   - fallback content of `iframe`, `noembed` and `noframes` (shown to no modern visitor;
//!     its markup is flattened to text).
//!
//!   Separate hidden runs are separated by a space when visible text came between them.
//!   Links, iframes and forms inside hidden content have `hidden: true`.
//!
//! URLs (links, script `src`, iframes, forms, redirects, base) are resolved against the
//! first `<base href>` (itself resolved against the page URL) or the page URL, with the `url`
//! crate, and shown in display form: percent-escaped UTF-8 that is printable non-ASCII text
//! is decoded and punycode hosts are shown in Unicode (so `赌场.com/赌博` stays matchable).
//! Tabs and newlines inside a URL are dropped (as browsers do) and other whitespace is
//! escaped. `javascript:`, `mailto:`, `data:` and other non-web schemes, and references that
//! cannot be resolved (relative without a base), are kept as written.
//!
//! # JavaScript
//!
//! [`extract_js`]: zone `js` is the whole text; redirects are found in it as in inline
//! scripts (and fill the `redirect` zone).
//!
//! # Templates and server scripts
//!
//! [`extract_template`] (`.php`, `.asp`, `.jsp`, `.ftl`, `.blade.php`, ...; see
//! [`ContentKind::from_extension`]; files of no known extension that start with `<?php`,
//! `<?=` or `<%`): the code blocks are cut out of the source first (see `template.rs` for
//! the block syntaxes and what is not handled), the markup left (each block replaced by a
//! space) is extracted as HTML, and
//!
//! * `code`: the text of the code blocks, in source order: each block's lines trimmed, blank
//!   lines dropped, whitespace inside a line as written. It is in the zones a rule without
//!   `zones` reads, because what an `echo` prints is what visitors get.
//!
//! The string literals of the code are also read as the HTML it prints (escapes undone): its
//! links, iframes, forms, scripts and redirects, with their hidden flags, are added after the
//! markup's, and
//! so are its lines of `title`, `meta`, `attr`, `link`, `script`, `iframe`, `form`,
//! `redirect` and `hidden_text`. Its visible text is not added to `text`: it is code, and
//! `code` has it. The zone formats above hold for the merged zones.
//!
//! # Components and JSX
//!
//! [`extract_component`] (`.vue`, `.svelte`): the file is the component's markup, read as
//! HTML except that `<x/>` closes any element and `<template>` content is rendered (Vue's
//! root `<template>` and its `v-if`/`v-for` wrappers render their content; as HTML it would
//! be inert and land in `hidden_text`). A `<script>` outside every element is the
//! component's code: it runs in the browser as part of the app's bundle, like a `.js` file,
//! so it is the `js` zone (trimmed, one script after the other), where the rules for script
//! files read, not a page script of the `script` zone; its `location` redirects are found as
//! in `.js` files. `{{ }}` and `{#if}` expressions stay in the text.
//!
//! [`extract_jsx`] (`.jsx`, `.tsx`): the JSX elements written in the code are read as markup
//! (see `jsx.rs`: expressions are a space, string literals their text, `className` is
//! `class`, `style={{...}}` objects are CSS) in the same dialect as components, so the page's
//! text, links and hidden blocks are where they would be in HTML; and the whole file is the
//! `js` zone, as a `.js` file, so that every rule for scripts reads all of it (markup text is
//! in both `js` and `text`).
//!
//! Markdown (`.md`, `.markdown`) is plain text: a write-up quoting `<script src=...>` in a
//! code fence has no script.

mod css;
mod html;
mod jsx;
mod redirect;
mod template;
mod text;
mod tokenize;
mod urls;
mod written;

pub use html::{ANCHOR_TEXT_CAP, MAX_DEPTH};

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
    /// A JavaScript file; the component code of a Vue/Svelte file; a JSX/TSX file.
    Js,
    /// Server-side code of a template: the text of its code blocks (`<?php ... ?>`,
    /// `<% ... %>`, ...), one block after the other.
    Code,
    /// One line per form field (`input`, `textarea`, `select`): `type name hint`.
    Field,
    /// The text a browser shows after the page's scripts ran (the render stage's
    /// `document.body.innerText`): what `innerHTML`, `document.write` and fetched content put
    /// on screen, which no reading of the source can promise to see.
    Rendered,
}

impl ZoneKind {
    pub const ALL: [ZoneKind; 15] = [
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
        ZoneKind::Code,
        ZoneKind::Field,
        ZoneKind::Rendered,
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
            ZoneKind::Code => "code",
            ZoneKind::Field => "field",
            ZoneKind::Rendered => "rendered",
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

// Zone sets are `u16` masks: one more zone than 16 needs a wider mask everywhere.
const _: () = assert!(ZoneKind::ALL.len() <= 16);

/// What kind of document the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    Html,
    Plain,
    Js,
    /// A server-side template or script (PHP, ASP, JSP, ERB, FreeMarker, Blade, ...): markup
    /// with code blocks.
    Template,
    /// A Vue or Svelte single-file component.
    Component,
    /// A JSX or TSX file.
    Jsx,
}

impl ContentKind {
    /// The kind for a file extension (without the dot), for the web-root walk. A double
    /// extension such as `.blade.php` has the kind of its last part.
    pub fn from_extension(ext: &str) -> Option<ContentKind> {
        match ext.to_ascii_lowercase().as_str() {
            "html" | "htm" | "shtml" | "xhtml" => Some(ContentKind::Html),
            // A write-up quoting `<script src=...>` in a code fence must not become a script.
            "txt" | "md" | "markdown" => Some(ContentKind::Plain),
            "js" | "mjs" => Some(ContentKind::Js),
            "php" | "php3" | "php4" | "php5" | "php6" | "php7" | "phtml" | "asp" | "aspx"
            | "ascx" | "jsp" | "jspx" | "cfm" | "erb" | "ejs" | "tpl" | "ftl" | "vm" | "twig"
            | "hbs" | "mustache" | "inc" => Some(ContentKind::Template),
            "vue" | "svelte" => Some(ContentKind::Component),
            "jsx" | "tsx" => Some(ContentKind::Jsx),
            // `.htm5`, `.htmls` and the like: servers map them to HTML.
            other if other.starts_with("htm") => Some(ContentKind::Html),
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

/// A form field the visitor fills in: an `input` (not `hidden`, buttons, checkboxes or radio
/// buttons), a `textarea` or a `select`, inside a form or not (kits post fields by script).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// The input's lower-case `type` (`text` when missing), or `textarea` / `select`.
    pub kind: String,
    /// `name`, else `id`; empty when neither.
    pub name: String,
    /// What tells the visitor what to type: `placeholder`, `aria-label` and `title`, distinct
    /// ones joined by ` / `, on one line.
    pub hint: String,
    /// Index in [`Document::forms`] of the form it belongs to.
    pub form: Option<usize>,
    /// Inside content hidden by CSS (a later step of a multi-step form).
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
    /// Form fields, in document order.
    pub fields: Vec<Field>,
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
            fields: Vec::new(),
            redirects: Vec::new(),
            scripts: Vec::new(),
            base_url: None,
        }
    }
}

/// Extract the zones of an HTML page. `page_url` resolves relative links; without it (a file
/// on disk) links are resolved against `<base>` only, or kept as written.
pub fn extract_html(html: &str, page_url: Option<&url::Url>) -> Document {
    html::extract(html, page_url)
}

/// The text a browser rendered for a page, as one `rendered` zone (the render stage's scan).
pub fn rendered_document(text: &str) -> Document {
    Document::single_zone(ContentKind::Html, ZoneKind::Rendered, text)
}

/// A plain-text file is one `plain` zone.
pub fn extract_plain(text: &str) -> Document {
    Document::single_zone(ContentKind::Plain, ZoneKind::Plain, text)
}

/// A JavaScript file is one `js` zone, plus the `location` redirects found in it.
pub fn extract_js(text: &str, page_url: Option<&url::Url>) -> Document {
    let mut doc = Document::single_zone(ContentKind::Js, ZoneKind::Js, text);
    doc.redirects = redirect::js_location_targets(text)
        .into_iter()
        .map(|target| Redirect {
            kind: RedirectKind::JsLocation,
            target: urls::resolve(&target, page_url),
            delay: None,
        })
        .collect();
    if !doc.redirects.is_empty() {
        let lines: Vec<&str> = doc.redirects.iter().map(|r| r.target.as_str()).collect();
        doc.zones.push(Zone {
            kind: ZoneKind::Redirect,
            text: lines.join("\n"),
        });
        doc.zones.sort_by_key(|z| z.kind);
    }
    doc.base_url = page_url.map(urls::display);
    doc
}

/// A server-side template or script: the markup as HTML, the code blocks as the `code`
/// zone, and the structures of the HTML that the code prints (see `template.rs`).
pub fn extract_template(text: &str, page_url: Option<&url::Url>) -> Document {
    template::extract(text, page_url)
}

/// A Vue or Svelte single-file component: its markup (the content of `<template>` is
/// rendered, `<x/>` closes any element) and its top-level `<script>` as the `js` zone.
pub fn extract_component(text: &str, page_url: Option<&url::Url>) -> Document {
    let dialect = html::Dialect {
        self_closing: true,
        component: true,
    };
    let mut doc = html::extract_dialect(text, page_url, dialect);
    doc.kind = ContentKind::Component;
    doc
}

/// A JSX or TSX file: the markup of its JSX elements (see `jsx.rs`), and the whole file as
/// the `js` zone, as a `.js` file, so that the rules for scripts read all of it.
pub fn extract_jsx(text: &str, page_url: Option<&url::Url>) -> Document {
    let dialect = html::Dialect {
        self_closing: true,
        component: false,
    };
    let mut doc = html::extract_dialect(&jsx::markup(text), page_url, dialect);
    let js = extract_js(text, page_url);
    doc.kind = ContentKind::Jsx;
    for r in js.redirects {
        if !doc.redirects.contains(&r) {
            doc.redirects.push(r);
        }
    }
    doc.zones.retain(|z| z.kind != ZoneKind::Redirect);
    if !doc.redirects.is_empty() {
        let lines: Vec<&str> = doc
            .redirects
            .iter()
            .map(|r| r.target.as_str())
            .filter(|t| !t.is_empty())
            .collect();
        doc.zones.push(Zone {
            kind: ZoneKind::Redirect,
            text: lines.join("\n"),
        });
    }
    if !text.is_empty() {
        doc.zones.push(Zone {
            kind: ZoneKind::Js,
            text: text.to_owned(),
        });
    }
    doc.zones.sort_by_key(|z| z.kind);
    doc
}

/// Dispatch on the content kind.
pub fn extract(kind: ContentKind, text: &str, page_url: Option<&url::Url>) -> Document {
    match kind {
        ContentKind::Html => extract_html(text, page_url),
        ContentKind::Plain => extract_plain(text),
        ContentKind::Js => extract_js(text, page_url),
        ContentKind::Template => extract_template(text, page_url),
        ContentKind::Component => extract_component(text, page_url),
        ContentKind::Jsx => extract_jsx(text, page_url),
    }
}

#[cfg(test)]
mod tests;
