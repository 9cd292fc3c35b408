//! JSX and TSX: the markup written in the code, as HTML.
//!
//! The file is scanned as JavaScript (strings, template literals, comments and regex
//! literals skipped), and wherever an expression may start (after `(`, `=`, `return`, `?`,
//! `&&`, `=>`, ...) a `<` followed by a name or `>` is tried as a JSX element. An element
//! that parses (tags balanced, attributes well formed) is written out as HTML: one top-level
//! element per line, `{expression}` children as a space (a string literal child as its
//! text), and elements inside expressions (`{items.map(i => <li>{i}</li>)}`, `render={<b/>}`)
//! in place. One that does not (a TypeScript `<T,>` generic, a comparison) is left as code.
//!
//! Attributes: strings as written; `className` is `class` and `htmlFor` is `for`; an
//! expression value is kept only when it is a string literal, a `style={{...}}` object of
//! literal values (turned into CSS, `px` added to numbers as React does), or the `__html` of
//! `dangerouslySetInnerHTML` (written as the element's content). Capitalized component names
//! become `x-` custom elements, except the few that render the element of their name
//! (`Head`, `Html`, `Script`, `Image`/`Img`, and `Link` as an `a`, with react-router's `to` as
//! its `href`), so that `<Title>` or `<Form>` components do not start raw-text or form
//! elements.
//!
//! Hostile input: nesting deeper than [`MAX_DEPTH`] fails the element (the file stays in the
//! `js` zone), and the bytes scanned by failed attempts are capped at a few times the file's
//! size, after which the attempts under way are given up and no more are tried: the scan
//! stays linear.

use std::borrow::Cow;

use memchr::{memchr, memchr2, memmem};

/// Elements and expressions nested deeper than this are not read as markup.
pub(crate) const MAX_DEPTH: usize = 256;

/// The markup of the JSX elements in `src`, as HTML.
pub(crate) fn markup(src: &str) -> String {
    let mut p = Parser {
        s: src,
        b: src.as_bytes(),
        out: String::new(),
        budget: src.len().saturating_mul(4).saturating_add(1 << 16),
    };
    // An error at the top level is an unterminated literal or the depth cap: the rest of the
    // file is not read as markup.
    let _ = p.js(0, 0, false);
    p.out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// An expression may start here.
    Expr,
    /// After an operand: `<` is a comparison, `/` a division.
    Operand,
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    out: String,
    /// Bytes that failed element attempts may still scan.
    budget: usize,
}

/// `Err(at)`: the text is not JSX; `at` is how far the attempt read.
type Parsed = Result<usize, usize>;

const KEYWORDS_BEFORE_EXPR: &[&[u8]] = &[
    b"return",
    b"yield",
    b"await",
    b"typeof",
    b"void",
    b"delete",
    b"in",
    b"of",
    b"instanceof",
    b"new",
    b"throw",
    b"case",
    b"default",
    b"else",
    b"do",
];

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// JSX element and attribute names: ASCII only, so that every end of a name is a char
/// boundary.
fn is_name(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'.' | b':' | b'-')
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'$'
}

/// After a `'` or `"` string starting at `i`; an unterminated one ends at the line's end.
fn skip_string(b: &[u8], i: usize) -> usize {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'\n' => return j,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// After a regex literal starting at `i`; a `/` with no end on its line is a division.
fn skip_regex(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    let mut class = false;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'[' => {
                class = true;
                j += 1;
            }
            b']' => {
                class = false;
                j += 1;
            }
            b'/' if !class => return j + 1,
            b'\n' => return i + 1,
            _ => j += 1,
        }
    }
    i + 1
}

fn skip_space_and_comments(b: &[u8], mut j: usize) -> usize {
    loop {
        while b.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        if b[j.min(b.len())..].starts_with(b"//") {
            j = memchr(b'\n', &b[j..]).map_or(b.len(), |k| j + k);
        } else if b[j.min(b.len())..].starts_with(b"/*") {
            j = memmem::find(&b[j + 2..], b"*/").map_or(b.len(), |k| j + 2 + k + 2);
        } else {
            return j;
        }
    }
}

/// The value of an expression that is one string literal (a template literal without
/// substitutions included), escapes undone.
fn string_literal(expr: &str) -> Option<Cow<'_, str>> {
    let e = expr.trim();
    let q = *e.as_bytes().first()?;
    if !matches!(q, b'"' | b'\'' | b'`') || e.len() < 2 || !e.ends_with(q as char) {
        return None;
    }
    let inner = &e[1..e.len() - 1];
    let ib = inner.as_bytes();
    let mut k = 0;
    while k < ib.len() {
        match ib[k] {
            b'\\' => k += 2,
            c if c == q => return None,
            b'$' if q == b'`' && ib.get(k + 1) == Some(&b'{') => return None,
            _ => k += 1,
        }
    }
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Some(Cow::Owned(out))
}

/// The parts of an object literal's source (`a: 1, "b": 'x'`) at its top level, as
/// (key, value) pairs; computed keys and spreads are skipped.
fn object_entries(body: &str) -> Vec<(&str, &str)> {
    let b = body.as_bytes();
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&body[start.min(body.len())..]);
    parts
        .into_iter()
        .filter_map(|part| {
            let colon = part.find(':')?;
            let key = part[..colon].trim();
            let key = string_literal(key).map_or(key, |k| match k {
                Cow::Borrowed(k) => k,
                // Keys with escapes do not matter here.
                Cow::Owned(_) => "",
            });
            let key_ok = !key.is_empty() && key.bytes().all(|c| is_ident(c) || c == b'-');
            key_ok.then(|| (key, part[colon + 1..].trim()))
        })
        .collect()
}

/// CSS properties that React writes without a unit when given a number.
const UNITLESS: &[&str] = &[
    "opacity",
    "zIndex",
    "fontWeight",
    "lineHeight",
    "flex",
    "flexGrow",
    "flexShrink",
    "order",
    "zoom",
    "columnCount",
];

/// A `style={{...}}` object as CSS: `fontSize: 0, left: -9999` is `font-size:0;left:-9999px`.
fn style_css(expr: &str) -> Option<String> {
    let e = expr.trim();
    let body = e.strip_prefix('{')?.strip_suffix('}')?;
    let mut css = String::new();
    for (key, value) in object_entries(body) {
        let value: Cow<'_, str> = if let Some(v) = string_literal(value) {
            v
        } else if !value.is_empty()
            && value
                .trim_start_matches('-')
                .bytes()
                .all(|c| c.is_ascii_digit() || c == b'.')
        {
            if UNITLESS.contains(&key) || value.trim_start_matches('-').bytes().all(|c| c == b'0') {
                Cow::Borrowed(value)
            } else {
                Cow::Owned(format!("{value}px"))
            }
        } else {
            continue;
        };
        for c in key.chars() {
            if c.is_ascii_uppercase() {
                css.push('-');
                css.push(c.to_ascii_lowercase());
            } else {
                css.push(c);
            }
        }
        css.push(':');
        css.push_str(&value);
        css.push(';');
    }
    Some(css)
}

/// The HTML of `dangerouslySetInnerHTML={{ __html: '...' }}`.
fn inner_html(expr: &str) -> Option<Cow<'_, str>> {
    let body = expr.trim().strip_prefix('{')?.strip_suffix('}')?;
    object_entries(body)
        .into_iter()
        .find(|(k, _)| *k == "__html")
        .and_then(|(_, v)| string_literal(v))
}

/// The HTML element name for a JSX name.
fn html_name(name: &str) -> Cow<'_, str> {
    let component = name.as_bytes()[0].is_ascii_uppercase() || name.contains('.');
    if !component {
        return Cow::Borrowed(name);
    }
    match name {
        "Head" => Cow::Borrowed("head"),
        "Html" => Cow::Borrowed("html"),
        "Script" => Cow::Borrowed("script"),
        "Image" | "Img" => Cow::Borrowed("img"),
        "Link" | "NavLink" => Cow::Borrowed("a"),
        _ => Cow::Owned(format!("x-{}", name.to_ascii_lowercase())),
    }
}

fn push_attr_value(out: &mut String, value: &str) {
    out.push_str("=\"");
    out.push_str(&value.replace('"', "&quot;"));
    out.push('"');
}

fn push_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            _ => out.push(c),
        }
    }
}

impl Parser<'_> {
    /// Scan JavaScript from `i`. With `until_brace`, stop after the `}` that closes an
    /// expression container or substitution (`Err` at the end of the file).
    fn js(&mut self, mut i: usize, depth: usize, until_brace: bool) -> Parsed {
        if depth > MAX_DEPTH {
            return Err(i);
        }
        let b = self.b;
        let n = b.len();
        let mut braces = 0usize;
        let mut prev = Prev::Expr;
        while i < n {
            if until_brace && self.budget == 0 {
                // Inside an attempt when the budget ran out: give it up, so that nested
                // attempts do not each scan the rest of the file again.
                return Err(i);
            }
            let c = b[i];
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => i += 1,
                b'/' if b.get(i + 1) == Some(&b'/') => {
                    i = memchr(b'\n', &b[i..]).map_or(n, |k| i + k);
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    i = memmem::find(&b[i + 2..], b"*/").map_or(n, |k| i + 2 + k + 2);
                }
                b'\'' | b'"' => {
                    i = skip_string(b, i);
                    prev = Prev::Operand;
                }
                b'`' => {
                    i = self.template_literal(i + 1, depth)?;
                    prev = Prev::Operand;
                }
                b'/' if prev == Prev::Expr => {
                    i = skip_regex(b, i);
                    prev = Prev::Operand;
                }
                b'{' => {
                    braces += 1;
                    i += 1;
                    prev = Prev::Expr;
                }
                b'}' => {
                    if braces == 0 {
                        if until_brace {
                            return Ok(i + 1);
                        }
                    } else {
                        braces -= 1;
                    }
                    i += 1;
                    prev = Prev::Expr;
                }
                b'<' if prev == Prev::Expr
                    && self.budget > 0
                    && b.get(i + 1).is_some_and(|&c| c == b'>' || is_name_start(c)) =>
                {
                    let mark = self.out.len();
                    match self.element(i, depth + 1) {
                        Ok(end) => {
                            self.out.push('\n');
                            i = end;
                            prev = Prev::Operand;
                        }
                        Err(at) => {
                            self.out.truncate(mark);
                            self.budget = self.budget.saturating_sub(at.saturating_sub(i).max(1));
                            i += 1;
                            prev = Prev::Expr;
                        }
                    }
                }
                b')' | b']' => {
                    i += 1;
                    prev = Prev::Operand;
                }
                c if c.is_ascii_digit() => {
                    while b.get(i).is_some_and(|&c| is_ident(c) || c == b'.') {
                        i += 1;
                    }
                    prev = Prev::Operand;
                }
                c if is_ident(c) => {
                    let start = i;
                    while b.get(i).is_some_and(|&c| is_ident(c)) {
                        i += 1;
                    }
                    prev = if KEYWORDS_BEFORE_EXPR.contains(&&b[start..i]) {
                        Prev::Expr
                    } else {
                        Prev::Operand
                    };
                }
                _ => {
                    i += 1;
                    prev = Prev::Expr;
                }
            }
        }
        if until_brace { Err(n) } else { Ok(n) }
    }

    /// After a template literal whose text starts at `i`.
    fn template_literal(&mut self, mut i: usize, depth: usize) -> Parsed {
        let b = self.b;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'`' => return Ok(i + 1),
                b'$' if b.get(i + 1) == Some(&b'{') => i = self.js(i + 2, depth + 1, true)?,
                _ => i += 1,
            }
        }
        Err(b.len())
    }

    /// Scan the expression container whose code starts at `i`, moving the markup of the
    /// elements in it to `stash`. Returns the position after its `}`.
    fn expression_into(&mut self, stash: &mut String, i: usize, depth: usize) -> Parsed {
        let mark = self.out.len();
        let end = self.js(i, depth + 1, true)?;
        stash.push_str(&self.out[mark..]);
        self.out.truncate(mark);
        Ok(end)
    }

    /// An element or fragment at `i` (a `<`), written to `out`; the position after it.
    fn element(&mut self, i: usize, depth: usize) -> Parsed {
        if depth > MAX_DEPTH {
            return Err(i);
        }
        let (b, s) = (self.b, self.s);
        let n = b.len();
        let mut j = i + 1;
        if b.get(j) == Some(&b'>') {
            return self.children(j + 1, depth, "");
        }
        let name_start = j;
        while b.get(j).is_some_and(|&c| is_name(c)) {
            j += 1;
        }
        if j == name_start {
            return Err(j);
        }
        let name = &s[name_start..j];
        let tag = html_name(name);
        self.out.push('<');
        self.out.push_str(&tag);
        // Markup met inside attribute values, written as the element's content.
        let mut stash = String::new();
        loop {
            j = skip_space_and_comments(b, j);
            match b.get(j) {
                None => return Err(n),
                Some(b'/') => {
                    if b.get(j + 1) != Some(&b'>') {
                        return Err(j);
                    }
                    if stash.is_empty() {
                        self.out.push_str(" />");
                    } else {
                        self.out.push('>');
                        self.out.push_str(&stash);
                        self.out.push_str("</");
                        self.out.push_str(&tag);
                        self.out.push('>');
                    }
                    return Ok(j + 2);
                }
                Some(b'>') => {
                    self.out.push('>');
                    self.out.push_str(&stash);
                    return self.children(j + 1, depth, name);
                }
                Some(b'{') => j = self.expression_into(&mut stash, j + 1, depth)?,
                Some(&c) if is_name_start(c) => j = self.attribute(j, depth, &tag, &mut stash)?,
                Some(_) => return Err(j),
            }
        }
    }

    /// The attribute at `j` of an element written as `tag`: to `out` when its value is text
    /// known without running the code, with markup in its value moved to `stash`. Returns
    /// the position after it.
    fn attribute(&mut self, mut j: usize, depth: usize, tag: &str, stash: &mut String) -> Parsed {
        let (b, s) = (self.b, self.s);
        let n = b.len();
        let attr_start = j;
        while b.get(j).is_some_and(|&c| is_name(c)) {
            j += 1;
        }
        let attr = match &s[attr_start..j] {
            "className" => "class",
            "htmlFor" => "for",
            "to" if tag == "a" => "href",
            other => other,
        };
        j = skip_space_and_comments(b, j);
        if b.get(j) != Some(&b'=') {
            self.out.push(' ');
            self.out.push_str(attr);
            return Ok(j);
        }
        j = skip_space_and_comments(b, j + 1);
        match b.get(j) {
            Some(&q @ (b'"' | b'\'')) => {
                let end = memchr(q, &b[j + 1..]).ok_or(n)? + j + 1;
                self.out.push(' ');
                self.out.push_str(attr);
                push_attr_value(&mut self.out, &s[j + 1..end]);
                Ok(end + 1)
            }
            Some(b'{') => {
                let start = j + 1;
                j = self.expression_into(stash, start, depth)?;
                let expr = &s[start..j - 1];
                if attr == "dangerouslySetInnerHTML" {
                    if let Some(html) = inner_html(expr) {
                        stash.push_str(&html);
                    }
                } else if let Some(value) = string_literal(expr).or_else(|| {
                    if attr == "style" {
                        style_css(expr).map(Cow::Owned)
                    } else {
                        None
                    }
                }) {
                    self.out.push(' ');
                    self.out.push_str(attr);
                    push_attr_value(&mut self.out, &value);
                }
                Ok(j)
            }
            Some(b'<') => {
                let mark = self.out.len();
                j = self.element(j, depth + 1)?;
                stash.push_str(&self.out[mark..]);
                self.out.truncate(mark);
                Ok(j)
            }
            _ => Err(j),
        }
    }

    /// The children of an element named `name` (empty: a fragment) from `j` to its end tag.
    fn children(&mut self, mut j: usize, depth: usize, name: &str) -> Parsed {
        let (b, s) = (self.b, self.s);
        let n = b.len();
        loop {
            if self.budget == 0 {
                return Err(j);
            }
            let k = memchr2(b'<', b'{', &b[j..]).ok_or(n)? + j;
            self.out.push_str(&s[j..k]);
            if b[k] == b'{' {
                let mark = self.out.len();
                j = self.js(k + 1, depth + 1, true)?;
                match string_literal(&s[k + 1..j - 1]) {
                    Some(text) if self.out.len() == mark => push_text(&mut self.out, &text),
                    _ => self.out.push(' '),
                }
                continue;
            }
            if b.get(k + 1) != Some(&b'/') {
                j = self.element(k, depth + 1)?;
                continue;
            }
            let mut e = skip_space_and_comments(b, k + 2);
            let close_start = e;
            while b.get(e).is_some_and(|&c| is_name(c)) {
                e += 1;
            }
            let close = &s[close_start..e];
            e = skip_space_and_comments(b, e);
            if close != name || b.get(e) != Some(&b'>') {
                return Err(e);
            }
            if !name.is_empty() {
                self.out.push_str("</");
                self.out.push_str(&html_name(name));
                self.out.push('>');
            }
            return Ok(e + 1);
        }
    }
}
