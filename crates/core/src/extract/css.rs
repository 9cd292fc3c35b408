//! Just enough CSS to tell whether an element is hidden.
//!
//! This is not a CSS engine. It reads declarations from `style` attributes and from the
//! page's own `<style>` blocks, keeps only the properties that hide content, and matches
//! *simple* selectors: `tag`, `.class`, `#id` and compounds of them (`div.a.b`, `p#x`), in
//! comma lists. Everything else is ignored on purpose, because guessing wrong would hide
//! real content:
//!
//! * selectors with pseudo-classes/elements, attribute selectors, `*`, escapes;
//! * rules inside at-rules (`@media print { .x { display: none } }` hides nothing on screen);
//! * `html` and `body` selectors (the anti-clickjacking `html{display:none}` that a script
//!   undoes would otherwise hide the whole page);
//! * descendant/child/sibling selectors, except for one heuristic: when `.a li { font-size:
//!   12px }` (or `visibility: visible`) re-shows the children of `.a`, a `font-size: 0` (or
//!   `visibility: hidden`) on `.a` itself is not treated as hiding.
//!
//! The cascade is approximated: matching rules apply in source order (specificity is
//! ignored), then the inline style, then `!important` rules, then inline `!important`.
//!
//! Names, keywords and selectors are compared ASCII-case-insensitively; comments, `<!--`/`-->`
//! wrappers and `!important` (with or without spaces) are handled.

use std::borrow::Cow;
use std::collections::HashMap;

/// An offset at or beyond this many pixels to the left/top moves content off-screen.
pub(crate) const OFFSCREEN_PX: f32 = -500.0;
/// Width or height at or below this (with `overflow: hidden`) leaves nothing to see.
pub(crate) const TINY_PX: f32 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FontSize {
    Zero,
    /// A non-zero absolute size (px, pt, keywords, rem): resets an inherited zero.
    NonZero,
    /// A non-zero relative size (em, %): still zero under a zero parent.
    Relative,
}

/// The hiding-relevant declarations of one rule or style attribute. `None` = not declared.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Props {
    pub display_none: Option<bool>,
    pub visibility_hidden: Option<bool>,
    /// `position` other than `static`.
    pub positioned: Option<bool>,
    pub left: Option<f32>,
    pub top: Option<f32>,
    pub margin_left: Option<f32>,
    pub margin_top: Option<f32>,
    pub text_indent: Option<f32>,
    pub font_size: Option<FontSize>,
    pub width: Option<f32>,
    pub height: Option<f32>,
    pub overflow_hidden: Option<bool>,
    pub opacity: Option<f32>,
    /// `max-width` / `max-height` (with `overflow: hidden`, like a width or height).
    pub max_width: Option<f32>,
    pub max_height: Option<f32>,
    /// `clip: rect(...)` that leaves no area (it applies to positioned elements).
    pub clip_zero: Option<bool>,
    /// `clip-path` that leaves no area: `inset(50%)` and more, `circle(0)`, `ellipse(0 0)`.
    pub clip_path_zero: Option<bool>,
    /// `transform` that scales to nothing.
    pub transform_zero: Option<bool>,
    /// `filter: alpha(opacity=0)` (old IE) or `filter: opacity(0)`.
    pub filter_zero: Option<bool>,
    /// A descendant rule re-shows children of a `font-size: 0` element.
    pub desc_font_reset: bool,
    /// A descendant rule re-shows children of a `visibility: hidden` element.
    pub desc_vis_reset: bool,
}

macro_rules! overlay_fields {
    ($dst:ident, $src:ident; $($f:ident),*) => {
        $( if $src.$f.is_some() { $dst.$f = $src.$f; } )*
    };
}

impl Props {
    /// Apply `other` on top of `self` (later declarations win).
    pub(crate) fn overlay(&mut self, other: &Props) {
        overlay_fields!(self, other; display_none, visibility_hidden, positioned, left, top,
            margin_left, margin_top, text_indent, font_size, width, height, overflow_hidden,
            opacity, max_width, max_height, clip_zero, clip_path_zero, transform_zero,
            filter_zero);
        self.desc_font_reset |= other.desc_font_reset;
        self.desc_vis_reset |= other.desc_vis_reset;
    }

    fn is_empty(&self) -> bool {
        *self == Props::default()
    }
}

/// How an element's own declarations hide it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Hide {
    /// Hidden with all its descendants, whatever they declare (display:none, off-screen, ...).
    pub hard: bool,
    /// `visibility`: inherited, a descendant may override it.
    pub visibility: Option<bool>,
    /// `font-size` is zero: inherited, a descendant with an absolute size overrides it.
    pub font_zero: Option<bool>,
}

fn le(v: Option<f32>, limit: f32) -> bool {
    v.is_some_and(|v| v <= limit)
}

/// Decide what the final (cascaded) declarations of an element hide.
pub(crate) fn evaluate(p: &Props) -> Hide {
    let offscreen =
        p.positioned == Some(true) && (le(p.left, OFFSCREEN_PX) || le(p.top, OFFSCREEN_PX));
    let hard = p.display_none == Some(true)
        || offscreen
        || le(p.margin_left, OFFSCREEN_PX)
        || le(p.margin_top, OFFSCREEN_PX)
        || le(p.text_indent, OFFSCREEN_PX)
        || (p.overflow_hidden == Some(true)
            && (le(p.width, TINY_PX)
                || le(p.height, TINY_PX)
                || le(p.max_width, TINY_PX)
                || le(p.max_height, TINY_PX)))
        || le(p.opacity, 0.01)
        || (p.positioned == Some(true) && p.clip_zero == Some(true))
        || p.clip_path_zero == Some(true)
        || p.transform_zero == Some(true)
        || p.filter_zero == Some(true);
    let visibility = match p.visibility_hidden {
        Some(true) if p.desc_vis_reset => None,
        v => v,
    };
    let font_zero = match p.font_size {
        Some(FontSize::Zero) if p.desc_font_reset => None,
        Some(FontSize::Zero) => Some(true),
        Some(FontSize::NonZero) => Some(false),
        Some(FontSize::Relative) | None => None,
    };
    Hide {
        hard,
        visibility,
        font_zero,
    }
}

/// Remove `/* ... */` comments (an unterminated comment runs to the end).
fn strip_comments(s: &str) -> Cow<'_, str> {
    if !s.contains("/*") {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        out.push(' ');
        match rest[start + 2..].find("*/") {
            Some(end) => rest = &rest[start + 2 + end + 2..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    /// Absolute, with the factor to pixels.
    Abs(f32),
    /// Relative to the font size (em, ex, ch).
    Font,
    Percent,
    Viewport,
}

/// `-9999px`, `0`, `-10em`, `-100%`, ... (a bare number counts as pixels, as in quirks mode).
fn parse_length(v: &str) -> Option<(f32, Unit)> {
    let v = v.trim();
    let b = v.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits_start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    let num: f32 = v[..i].parse().ok()?;
    if !num.is_finite() {
        return None;
    }
    let unit = match v[i..].trim() {
        "" | "px" => Unit::Abs(1.0),
        "pt" => Unit::Abs(4.0 / 3.0),
        "pc" => Unit::Abs(16.0),
        "in" => Unit::Abs(96.0),
        "cm" => Unit::Abs(37.8),
        "mm" => Unit::Abs(3.78),
        "q" => Unit::Abs(0.945),
        "rem" => Unit::Abs(16.0),
        "em" | "ex" | "ch" => Unit::Font,
        "%" => Unit::Percent,
        "vw" | "vh" | "vmin" | "vmax" => Unit::Viewport,
        _ => return None,
    };
    Some((num, unit))
}

/// A length as pixels, assuming a 16px font and a ~1000px wide box/viewport.
fn length_px(v: &str) -> Option<f32> {
    let (n, unit) = parse_length(v)?;
    Some(match unit {
        Unit::Abs(f) => n * f,
        Unit::Font => n * 16.0,
        Unit::Percent | Unit::Viewport => n * 10.0,
    })
}

/// A width/height: percentages only count when they are zero.
fn size_px(v: &str) -> Option<f32> {
    let (n, unit) = parse_length(v)?;
    match unit {
        Unit::Abs(f) => Some(n * f),
        Unit::Font => Some(n * 16.0),
        Unit::Percent | Unit::Viewport if n == 0.0 => Some(0.0),
        _ => None,
    }
}

fn font_size(v: &str) -> Option<FontSize> {
    if let Some((n, unit)) = parse_length(v) {
        // A 1px font is as unreadable as none (spam hides text in `font-size:1px`).
        let tiny = matches!(unit, Unit::Abs(f) if n * f <= TINY_PX);
        return Some(if n <= 0.0 || tiny {
            FontSize::Zero
        } else if matches!(unit, Unit::Font | Unit::Percent) {
            FontSize::Relative
        } else {
            FontSize::NonZero
        });
    }
    match v.trim() {
        "xx-small" | "x-small" | "small" | "medium" | "large" | "x-large" | "xx-large"
        | "xxx-large" => Some(FontSize::NonZero),
        "smaller" | "larger" => Some(FontSize::Relative),
        _ => None,
    }
}

/// The font size in the `font` shorthand: the first token that is a length, before any `/`.
fn font_shorthand_size(v: &str) -> Option<FontSize> {
    v.split_ascii_whitespace()
        .map(|tok| tok.split('/').next().unwrap_or(tok))
        .find_map(|tok| {
            // Font weights (`700`) are bare numbers too; a size needs a unit or to be zero.
            let (n, unit) = parse_length(tok)?;
            if unit == Unit::Abs(1.0) && n != 0.0 && !tok.ends_with("px") {
                return None;
            }
            font_size(tok)
        })
}

fn apply(props: &mut Props, name: &str, value: &str) {
    match name {
        "display" => props.display_none = Some(value == "none"),
        "visibility" => props.visibility_hidden = Some(matches!(value, "hidden" | "collapse")),
        "position" => {
            props.positioned = match value {
                "static" => Some(false),
                "absolute" | "fixed" | "relative" | "sticky" => Some(true),
                _ => props.positioned,
            }
        }
        "left" => props.left = length_px(value),
        "top" => props.top = length_px(value),
        "margin-left" => props.margin_left = length_px(value),
        "margin-top" => props.margin_top = length_px(value),
        "margin" => {
            let parts: Vec<&str> = value.split_ascii_whitespace().take(5).collect();
            if !parts.is_empty() && parts.len() <= 4 {
                props.margin_top = length_px(parts[0]);
                let left = match parts.len() {
                    4 => parts[3],
                    1 => parts[0],
                    _ => parts[1],
                };
                props.margin_left = length_px(left);
            }
        }
        "text-indent" => {
            props.text_indent = value.split_ascii_whitespace().next().and_then(length_px)
        }
        "font-size" => props.font_size = font_size(value),
        "font" => {
            if let Some(fs) = font_shorthand_size(value) {
                props.font_size = Some(fs);
            }
        }
        "width" => props.width = size_px(value),
        "height" => props.height = size_px(value),
        "overflow" | "overflow-x" | "overflow-y" => {
            let hidden = value
                .split_ascii_whitespace()
                .any(|t| t == "hidden" || t == "clip");
            // `overflow-x: hidden` alone still clips a zero width; keep the strongest.
            if hidden || name == "overflow" {
                props.overflow_hidden = Some(hidden);
            }
        }
        "opacity" => {
            props.opacity = value.trim().parse::<f32>().ok().filter(|v| v.is_finite());
        }
        "max-width" => props.max_width = size_px(value),
        "max-height" => props.max_height = size_px(value),
        "clip" => props.clip_zero = Some(clip_rect_zero(value)),
        "clip-path" => props.clip_path_zero = Some(clip_path_zero(value)),
        "transform" => props.transform_zero = Some(transform_zero(value)),
        "filter" => props.filter_zero = Some(filter_zero(value)),
        _ => {}
    }
}

/// The arguments of the CSS function `name(...)` at the start of `v` (lower-cased), split on
/// commas and whitespace.
fn function_args<'a>(v: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let rest = v
        .trim()
        .strip_prefix(name)?
        .trim_start()
        .strip_prefix('(')?;
    let inner = &rest[..rest.find(')')?];
    Some(
        inner
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .filter(|a| !a.is_empty())
            .collect(),
    )
}

/// `clip: rect(top right bottom left)` whose box has no width or no height (`auto` edges
/// do not clip).
fn clip_rect_zero(v: &str) -> bool {
    let Some(args) = function_args(v, "rect") else {
        return false;
    };
    if args.len() != 4 {
        return false;
    }
    let edge = |i: usize| length_px(args[i]);
    let flat =
        |a: Option<f32>, b: Option<f32>| matches!((a, b), (Some(a), Some(b)) if b - a <= TINY_PX);
    flat(edge(3), edge(1)) || flat(edge(0), edge(2))
}

/// `clip-path` that leaves nothing: opposite `inset()` percentages that meet, `circle(0)`,
/// `ellipse(0 0)`.
fn clip_path_zero(v: &str) -> bool {
    if let Some(args) = function_args(v, "inset") {
        let pct = |i: usize| {
            args.get(i)
                .and_then(|a| parse_length(a))
                .and_then(|(n, unit)| (unit == Unit::Percent).then_some(n))
        };
        // inset(top right bottom left), with CSS's shorthand for missing values.
        let top = pct(0);
        let right = if args.len() > 1 { pct(1) } else { top };
        let bottom = if args.len() > 2 { pct(2) } else { top };
        let left = if args.len() > 3 { pct(3) } else { right };
        let meet =
            |a: Option<f32>, b: Option<f32>| matches!((a, b), (Some(a), Some(b)) if a + b >= 100.0);
        return meet(top, bottom) || meet(left, right);
    }
    let zero = |a: &&str| parse_length(a).is_some_and(|(n, _)| n == 0.0);
    if let Some(args) = function_args(v, "circle") {
        return args.first().is_some_and(zero);
    }
    if let Some(args) = function_args(v, "ellipse") {
        return args.iter().take(2).any(zero);
    }
    false
}

/// `transform` with a function that scales to nothing (`scale(0)`, `scaleY(0)`). Translations
/// are left alone: a carousel's track is translated by thousands of pixels while one of its
/// slides shows.
fn transform_zero(v: &str) -> bool {
    let mut rest = v.trim();
    while let Some(open) = rest.find('(') {
        let name = rest[..open].trim();
        let Some(close) = rest[open..].find(')') else {
            break;
        };
        let args = function_args(&rest[..open + close + 1], name).unwrap_or_default();
        let zero = |a: &&str| a.parse::<f32>().is_ok_and(|n| n == 0.0);
        let hides = match name {
            "scale" | "scale3d" => args.iter().take(2).any(zero),
            "scalex" | "scaley" => args.first().is_some_and(zero),
            _ => false,
        };
        if hides {
            return true;
        }
        rest = rest[open + close + 1..].trim_start();
    }
    false
}

/// `filter: alpha(opacity=0)` (old IE) or `filter: opacity(0)`.
fn filter_zero(v: &str) -> bool {
    let compact: String = v.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    ["alpha(opacity=0)", "opacity(0)", "opacity(0%)"]
        .iter()
        .any(|z| compact.contains(z))
}

/// Split a declaration list on `;` outside parentheses and quotes.
fn split_declarations(s: &str) -> impl Iterator<Item = &str> {
    let mut depth = 0u32;
    let mut quote: Option<char> = None;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, ';') if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.into_iter()
}

/// Parse a declaration list (a `style` attribute or a rule body) into normal and
/// `!important` declarations.
pub(crate) fn parse_declarations(decls: &str, normal: &mut Props, important: &mut Props) {
    let decls = strip_comments(decls);
    for decl in split_declarations(&decls) {
        let Some((name, value)) = decl.split_once(':') else {
            continue;
        };
        let Some(name) = relevant_property(name.trim()) else {
            continue;
        };
        let mut value = value.trim().to_ascii_lowercase();
        let mut is_important = false;
        if let Some(bang) = value.rfind('!')
            && value[bang + 1..].trim() == "important"
        {
            value.truncate(bang);
            is_important = true;
        }
        let value = value.trim();
        apply(if is_important { important } else { normal }, name, value);
    }
}

/// The properties [`apply`] understands, by their canonical (lower-case) name.
const PROPERTIES: &[&str] = &[
    "display",
    "visibility",
    "position",
    "left",
    "top",
    "margin-left",
    "margin-top",
    "margin",
    "text-indent",
    "font-size",
    "font",
    "width",
    "height",
    "overflow",
    "overflow-x",
    "overflow-y",
    "opacity",
    "max-width",
    "max-height",
    "clip",
    "clip-path",
    "transform",
    "filter",
];

/// The canonical name of a property we care about (matched case-insensitively), so that
/// the values of all other properties are never even lower-cased.
fn relevant_property(name: &str) -> Option<&'static str> {
    PROPERTIES
        .iter()
        .copied()
        .find(|p| p.len() == name.len() && p.eq_ignore_ascii_case(name))
}

/// A compound selector: `tag.class#id` (any part optional, at least one present).
#[derive(Debug, Clone, Default, PartialEq)]
struct Compound {
    tag: Option<String>,
    classes: Vec<String>,
    ids: Vec<String>,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || !c.is_ascii()
}

/// Parse a lower-cased compound selector; `None` for anything we do not handle.
fn parse_compound(sel: &str) -> Option<Compound> {
    let mut c = Compound::default();
    let tag_end = sel.find(['.', '#']).unwrap_or(sel.len());
    if tag_end > 0 {
        let tag = &sel[..tag_end];
        if !tag.chars().all(is_name_char) || !tag.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return None;
        }
        if tag == "html" || tag == "body" {
            return None;
        }
        c.tag = Some(tag.to_owned());
    }
    let mut rest = &sel[tag_end..];
    while let Some(kind) = rest.chars().next() {
        let body = &rest[1..];
        let end = body
            .find(|ch: char| !is_name_char(ch))
            .unwrap_or(body.len());
        if end == 0 {
            return None;
        }
        let name = body[..end].to_owned();
        match kind {
            '.' => c.classes.push(name),
            '#' => c.ids.push(name),
            _ => return None,
        }
        rest = &body[end..];
        if !rest.is_empty() && !rest.starts_with(['.', '#']) {
            return None;
        }
    }
    if c.tag.is_none() && c.classes.is_empty() && c.ids.is_empty() {
        return None;
    }
    Some(c)
}

#[derive(Debug, Clone)]
struct Rule {
    sel: Compound,
    normal: Props,
    important: Props,
}

/// The hiding rules of a page's `<style>` blocks, indexed by their most selective key.
#[derive(Debug, Default)]
pub(crate) struct StyleSheet {
    rules: Vec<Rule>,
    by_id: HashMap<String, Vec<u32>>,
    by_class: HashMap<String, Vec<u32>>,
    by_tag: HashMap<String, Vec<u32>>,
}

/// What an element offers to selector matching. Classes and id are as written; matching
/// lower-cases them.
pub(crate) struct ElementKey<'a> {
    pub tag: &'a str,
    pub class: Option<&'a str>,
    pub id: Option<&'a str>,
}

impl StyleSheet {
    /// Whether any rule could match an element with this (lack of) class and id.
    pub(crate) fn may_match(&self, class: Option<&str>, id: Option<&str>) -> bool {
        !self.by_tag.is_empty()
            || (class.is_some() && !self.by_class.is_empty())
            || (id.is_some() && !self.by_id.is_empty())
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.rules.len()
    }

    fn push(&mut self, sel: Compound, normal: Props, important: Props) {
        if normal.is_empty() && important.is_empty() {
            return;
        }
        let Ok(idx) = u32::try_from(self.rules.len()) else {
            return;
        };
        let (map, key) = if let Some(id) = sel.ids.first() {
            (&mut self.by_id, id.clone())
        } else if let Some(class) = sel.classes.first() {
            (&mut self.by_class, class.clone())
        } else if let Some(tag) = &sel.tag {
            (&mut self.by_tag, tag.clone())
        } else {
            return;
        };
        map.entry(key).or_default().push(idx);
        self.rules.push(Rule {
            sel,
            normal,
            important,
        });
    }

    fn add_rule(&mut self, prelude: &str, body: &str) {
        let prelude = prelude.replace("<!--", " ").replace("-->", " ");
        let prelude = prelude.trim();
        if prelude.is_empty() || prelude.starts_with('@') {
            return;
        }
        let mut normal = Props::default();
        let mut important = Props::default();
        parse_declarations(body, &mut normal, &mut important);
        if normal.is_empty() && important.is_empty() {
            return;
        }
        for sel in prelude.split(',') {
            let sel = sel.trim().to_ascii_lowercase();
            if sel.is_empty() || sel.contains(['[', ':', '*', '(', '\\', '|', '"', '\'']) {
                continue;
            }
            match sel.find(|c: char| c.is_whitespace() || matches!(c, '>' | '+' | '~')) {
                None => {
                    if let Some(c) = parse_compound(&sel) {
                        self.push(c, normal, important);
                    }
                }
                Some(pos) => {
                    // A descendant rule that re-shows children of its first compound.
                    let mut all = normal;
                    all.overlay(&important);
                    let font_reset = matches!(
                        all.font_size,
                        Some(FontSize::NonZero) | Some(FontSize::Relative)
                    );
                    let vis_reset = all.visibility_hidden == Some(false);
                    if (font_reset || vis_reset)
                        && let Some(c) = parse_compound(&sel[..pos])
                    {
                        let reset = Props {
                            desc_font_reset: font_reset,
                            desc_vis_reset: vis_reset,
                            ..Props::default()
                        };
                        self.push(c, reset, Props::default());
                    }
                }
            }
        }
    }

    /// Add the rules of one style sheet (the text of a `<style>` block).
    pub(crate) fn add_css(&mut self, css: &str) {
        let css = strip_comments(css);
        let b = css.as_bytes();
        let mut i = 0;
        let mut prelude_start = 0;
        while i < b.len() {
            match b[i] {
                b'{' => {
                    let body_start = i + 1;
                    let end = block_end(b, body_start);
                    self.add_rule(&css[prelude_start..i], &css[body_start..end]);
                    i = end + 1;
                    prelude_start = i;
                }
                b';' | b'}' => {
                    i += 1;
                    prelude_start = i;
                }
                q @ (b'"' | b'\'') => i = string_end(b, i + 1, q),
                _ => i += 1,
            }
        }
    }

    /// Overlay the declarations of every rule matching the element, in source order.
    pub(crate) fn matched(&self, el: &ElementKey<'_>, normal: &mut Props, important: &mut Props) {
        if self.rules.is_empty() {
            return;
        }
        let mut candidates: Vec<u32> = Vec::new();
        let classes: Vec<Cow<'_, str>> = match el.class {
            Some(c) if !self.by_class.is_empty() || !self.by_id.is_empty() => {
                c.split_ascii_whitespace().map(lower).collect()
            }
            _ => Vec::new(),
        };
        if !self.by_class.is_empty() {
            for class in &classes {
                if let Some(ids) = self.by_class.get(class.as_ref()) {
                    candidates.extend_from_slice(ids);
                }
            }
        }
        let id = el.id.map(|id| lower(id.trim()));
        if let Some(id) = &id
            && let Some(ids) = self.by_id.get(id.as_ref())
        {
            candidates.extend_from_slice(ids);
        }
        if !self.by_tag.is_empty()
            && let Some(ids) = self.by_tag.get(el.tag)
        {
            candidates.extend_from_slice(ids);
        }
        if candidates.is_empty() {
            return;
        }
        candidates.sort_unstable();
        candidates.dedup();
        for idx in candidates {
            let rule = &self.rules[idx as usize];
            let sel = &rule.sel;
            let ok = sel.tag.as_deref().is_none_or(|t| t == el.tag)
                && sel.classes.iter().all(|c| classes.iter().any(|k| k == c))
                && sel.ids.iter().all(|i| id.as_deref() == Some(i.as_str()));
            if ok {
                normal.overlay(&rule.normal);
                important.overlay(&rule.important);
            }
        }
    }
}

/// ASCII-lower-cased, without allocating when it already is.
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Index of the `}` closing a block whose body starts at `i` (or the end of input).
fn block_end(b: &[u8], mut i: usize) -> usize {
    let mut depth = 1u32;
    while i < b.len() {
        match b[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            q @ (b'"' | b'\'') => {
                i = string_end(b, i + 1, q);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// Index just past the closing quote of a string starting at `i` (strings end at a newline).
fn string_end(b: &[u8], mut i: usize, q: u8) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'\n' => return i + 1,
            c if c == q => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// Cascade for one element: sheet rules, inline style, sheet `!important`, inline `!important`.
pub(crate) fn element_hide(sheet: &StyleSheet, el: &ElementKey<'_>, style: Option<&str>) -> Props {
    let mut normal = Props::default();
    let mut important = Props::default();
    sheet.matched(el, &mut normal, &mut important);
    if let Some(style) = style {
        let mut inline_imp = Props::default();
        parse_declarations(style, &mut normal, &mut inline_imp);
        important.overlay(&inline_imp);
    }
    normal.overlay(&important);
    normal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline(style: &str) -> Hide {
        let sheet = StyleSheet::default();
        let key = ElementKey {
            tag: "div",
            class: None,
            id: None,
        };
        evaluate(&element_hide(&sheet, &key, Some(style)))
    }

    fn with_sheet(css: &str, tag: &str, class: Option<&str>, id: Option<&str>) -> Hide {
        let mut sheet = StyleSheet::default();
        sheet.add_css(css);
        let key = ElementKey { tag, class, id };
        evaluate(&element_hide(&sheet, &key, None))
    }

    #[test]
    fn inline_hiding_tricks() {
        assert!(inline("display:none").hard);
        assert!(inline("DISPLAY : NONE !IMPORTANT").hard);
        assert!(inline("color:red;/* x */display:/**/none").hard);
        assert!(!inline("display:block").hard);
        assert_eq!(inline("visibility:hidden").visibility, Some(true));
        assert_eq!(inline("visibility:visible").visibility, Some(false));
        assert!(inline("position:absolute;left:-9999px").hard);
        assert!(inline("position: absolute; top: -1000px; left: 10px").hard);
        assert!(inline("position:relative;left:-100em").hard);
        assert!(!inline("left:-9999px").hard, "no effect without position");
        assert!(!inline("position:absolute;left:-20px").hard);
        assert!(inline("text-indent:-9999px").hard);
        assert!(!inline("text-indent:2em").hard);
        assert!(inline("margin-left:-5000px").hard);
        assert!(inline("margin:-3000px 0 0 0").hard);
        assert_eq!(inline("font-size:0").font_zero, Some(true));
        assert_eq!(inline("font-size:0px").font_zero, Some(true));
        assert_eq!(inline("font:0/0 a").font_zero, Some(true));
        assert_eq!(inline("font:bold 12px/1.5 arial").font_zero, Some(false));
        assert_eq!(inline("font-size:1.2em").font_zero, None);
        assert_eq!(inline("font-size:12px").font_zero, Some(false));
        assert_eq!(inline("font-size:1px").font_zero, Some(true));
        assert_eq!(inline("font-size:1pt").font_zero, Some(false));
        assert!(inline("height:0;overflow:hidden").hard);
        assert!(inline("width:1px;height:50px;overflow:hidden").hard);
        assert!(
            !inline("height:0").hard,
            "overflow visible: content still shows"
        );
        assert!(!inline("height:10px;overflow:hidden").hard);
        assert!(inline("opacity:0").hard);
        assert!(inline("filter:alpha(opacity=0)").hard);
        assert!(inline("filter: Alpha(Opacity = 0)").hard);
        assert!(!inline("filter:alpha(opacity=50)").hard);
        assert!(inline("position:absolute;clip:rect(0 0 0 0)").hard);
        assert!(inline("position:absolute;clip:rect(1px,1px,1px,1px)").hard);
        assert!(!inline("clip:rect(0 0 0 0)").hard, "clip needs position");
        assert!(!inline("position:absolute;clip:rect(0px,200px,100px,0px)").hard);
        assert!(!inline("position:absolute;clip:rect(auto,auto,auto,auto)").hard);
        assert!(inline("clip-path:inset(50%)").hard);
        assert!(inline("clip-path:inset(0 50% 0 50%)").hard);
        assert!(!inline("clip-path:inset(10% 20%)").hard);
        assert!(inline("clip-path:circle(0)").hard);
        assert!(!inline("clip-path:circle(40%)").hard);
        assert!(inline("transform:scale(0)").hard);
        assert!(inline("transform:rotate(5deg) scaleY(0)").hard);
        assert!(!inline("transform:scale(1.2)").hard);
        assert!(
            !inline("transform:translate3d(-2400px,0,0)").hard,
            "a carousel's track"
        );
        assert!(inline("max-height:0;overflow:hidden").hard);
        assert!(!inline("max-height:0").hard);
        assert!(!inline("opacity:0.5").hard);
        assert!(!inline("background:url(data:image/png;base64,xx);color:red").hard);
        assert!(inline("background:url(a;b);display:none").hard);
    }

    #[test]
    fn important_beats_inline_and_later_wins() {
        let h = with_sheet(".a{display:none!important}", "div", Some("a"), None);
        assert!(h.hard);
        let mut sheet = StyleSheet::default();
        sheet.add_css(".a{display:none}");
        let key = ElementKey {
            tag: "div",
            class: Some("a"),
            id: None,
        };
        assert!(!evaluate(&element_hide(&sheet, &key, Some("display:block"))).hard);
        sheet.add_css(".b{display:none!important}");
        let key = ElementKey {
            tag: "div",
            class: Some("b"),
            id: None,
        };
        assert!(evaluate(&element_hide(&sheet, &key, Some("display:block"))).hard);
        assert!(!with_sheet(".a{display:none} .a{display:block}", "div", Some("a"), None).hard);
    }

    #[test]
    fn selectors() {
        let css = "<!-- .hid{display:none} #x1 { position:absolute; top:-999px }
            div.c1 , SPAN.C2{visibility:hidden} p.a.b{display:none} xyz{display:none} -->";
        assert!(with_sheet(css, "div", Some("foo hid"), None).hard);
        assert!(with_sheet(css, "a", None, Some("X1")).hard);
        assert!(!with_sheet(css, "a", None, Some("x2")).hard);
        assert_eq!(
            with_sheet(css, "div", Some("c1"), None).visibility,
            Some(true)
        );
        assert_eq!(with_sheet(css, "p", Some("c1"), None).visibility, None);
        assert_eq!(
            with_sheet(css, "span", Some("C2"), None).visibility,
            Some(true)
        );
        assert!(with_sheet(css, "p", Some("b a"), None).hard);
        assert!(!with_sheet(css, "p", Some("a"), None).hard);
        assert!(with_sheet(css, "xyz", None, None).hard);
    }

    #[test]
    fn ignored_selectors_and_at_rules() {
        let css = "@charset \"utf-8\"; @import url(x.css);
            @media print { .np { display:none } }
            @media (max-width:600px){.m{display:none}}
            a:hover{display:none} [hidden]{display:none} *{display:none}
            html{display:none} body{visibility:hidden} .x .y{display:none}
            .ok{display:none}";
        assert!(!with_sheet(css, "div", Some("np"), None).hard);
        assert!(!with_sheet(css, "div", Some("m"), None).hard);
        assert!(!with_sheet(css, "a", None, None).hard);
        assert!(!with_sheet(css, "html", None, None).hard);
        assert_eq!(with_sheet(css, "body", None, None).visibility, None);
        assert!(!with_sheet(css, "div", Some("y"), None).hard);
        assert!(!with_sheet(css, "div", Some("x"), None).hard);
        assert!(
            with_sheet(css, "div", Some("ok"), None).hard,
            "after at-rules"
        );
    }

    #[test]
    fn descendant_reset_heuristic() {
        let css = ".nav{font-size:0} .nav li{font-size:12px} .z{font-size:0}";
        assert_eq!(with_sheet(css, "ul", Some("nav"), None).font_zero, None);
        assert_eq!(with_sheet(css, "ul", Some("z"), None).font_zero, Some(true));
        let css = ".v{visibility:hidden} .v > span{visibility:visible}";
        assert_eq!(with_sheet(css, "div", Some("v"), None).visibility, None);
    }

    #[test]
    fn garbage_does_not_panic() {
        let mut sheet = StyleSheet::default();
        for css in [
            "{",
            "}",
            "{{{{",
            "a{",
            "\"",
            "'{",
            "/*",
            ".a{display:none",
            "..{x:y}",
            "#{}",
            ".é{display:none}",
            "@media{",
            ":",
            ";;;",
            "a{b:c;d}",
            ".x{font:}",
            ".q{margin:}",
        ] {
            sheet.add_css(css);
        }
        assert_eq!(sheet.len(), 2, "only the .a and .é rules carry hiding");
        assert!(!with_sheet(".é{display:none}", "b", Some("É"), None).hard);
        assert!(with_sheet(".é{display:none}", "b", Some("é"), None).hard);
        assert!(
            with_sheet(".a{display:none", "b", Some("a"), None).hard,
            "unterminated"
        );
        assert_eq!(parse_length("1e999"), None);
        assert_eq!(parse_length("-"), None);
    }
}
