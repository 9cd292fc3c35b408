//! Server-side templates and scripts: markup with blocks of code in it.
//!
//! The source is split into markup and code blocks before any HTML parsing, the way the
//! server itself reads it: a block is code wherever it sits (in an attribute, a comment or a
//! `<script>`), and nothing in the markup ends it. Blocks:
//!
//! * PHP: `<?php ... ?>`, `<?= ... ?>` and short `<? ... ?>` (not `<?xml`, which is markup).
//!   `?>` ends a block except inside a string literal (`'...'`, `"..."`, `` `...` ``, with
//!   backslash escapes), a `/* */` comment or a heredoc/nowdoc; in a `//` or `#` comment it
//!   ends the block, as in PHP. A block that is never closed runs to the end of the file (the
//!   usual way to write a PHP file).
//! * ASP, ASP.NET, JSP, ERB, EJS: `<% ... %>` with any marker (`<%=`, `<%@`, `<%#`, `<%:`,
//!   `<%-`, ...), and `<%-- ... --%>` comments. The first `%>` ends the block even inside a
//!   string literal: the ASP and JSP parsers do the same (JSP code writes `%\>`).
//! * `<script runat="server"> ... </script>` (ASP, ASP.NET).
//! * FreeMarker directives and macro calls: `<#if ...>`, `</#list>`, `<@macro .../>`, and
//!   `<#-- ... -->` comments (a `>` inside quotes or parentheses does not end them).
//!
//! Not handled, on purpose or for cost: `{{ }}`/`{% %}`/`{$x}`/`${}` expressions of Blade,
//! Twig, Mustache, Smarty, FreeMarker and JSP EL (they stay in the markup, usually as short
//! identifiers), Blade's `@php ... @endphp`, Velocity's `#if`/`#set` lines, PHP's `?>` inside
//! a `#[...]` attribute spanning lines, and a `%>` in an ASP string (which the server itself
//! would not read as part of the string either).
//!
//! The markup, with each block replaced by a space, is an ordinary HTML page. The blocks are
//! the `code` zone. What the code prints is also HTML the page will carry (`echo '<div
//! style="display:none"><a href=...>'`, `$ReplaceStr = '<iframe ...>'`): the contents of
//! its string literals (escapes undone; PHP's `'...'`, `"..."`, heredocs and nowdocs, the
//! `"..."` of `<% %>` code with VBScript's `""` or a backslash, FreeMarker's strings; not
//! comments) are read as HTML a second time, one literal per line, and the links, iframes,
//! forms, scripts, redirects and the zones made of them (and `title`, `meta`, `attr`,
//! `hidden_text`) join those of the markup, after them. The visible text of that second
//! reading does not: `code` already holds it. Code between literals (`foreach ($links as
//! $l)`) is never read as HTML, so it cannot land in `hidden_text`. Not known to either
//! reading: whether markup around a block hides what the block prints (`<div
//! style="display:none"><?php echo $links ?></div>`), and what variables hold.

use memchr::{memchr, memmem};
use url::Url;

use super::html;
use super::urls::display;
use super::{ContentKind, Document, Zone, ZoneKind};

/// How a block ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// `?>`, outside PHP strings and block comments.
    Php,
    /// The first `%>`.
    Percent,
    /// `--%>`.
    JspComment,
    /// `</script>`.
    ServerScript,
    /// `-->`.
    FtlComment,
    /// `>`, outside quotes and parentheses.
    FtlTag,
}

/// One code block: its text is `src[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    pub(crate) start: usize,
    pub(crate) end: usize,
    close: Close,
}

/// Markup with every code block replaced by a space, and the blocks in source order.
pub(crate) fn split(src: &str) -> (String, Vec<Block>) {
    let b = src.as_bytes();
    let mut blocks = Vec::new();
    let mut markup = String::new();
    let mut copied = 0;
    let mut i = 0;
    while let Some(off) = memchr(b'<', &b[i..]) {
        let p = i + off;
        let Some((start, close)) = open_block(b, p) else {
            i = p + 1;
            continue;
        };
        let (end, resume) = close_block(b, start, close);
        // Every index here is at an ASCII delimiter or the end, so on a char boundary.
        markup.push_str(&src[copied..p]);
        markup.push(' ');
        blocks.push(Block { start, end, close });
        copied = resume;
        i = resume;
    }
    markup.push_str(&src[copied.min(src.len())..]);
    (markup, blocks)
}

fn starts_with_ci(b: &[u8], at: usize, needle: &[u8]) -> bool {
    b.get(at..at + needle.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(needle))
}

/// Where the code of a block opening at `p` (a `<`) starts, and how it ends.
fn open_block(b: &[u8], p: usize) -> Option<(usize, Close)> {
    let at = |k: usize| b.get(p + k).copied();
    match at(1)? {
        b'?' => {
            if starts_with_ci(b, p + 2, b"xml") {
                None
            } else if starts_with_ci(b, p + 2, b"php")
                && at(5).is_none_or(|c| c.is_ascii_whitespace())
            {
                Some((p + 5, Close::Php))
            } else if at(2) == Some(b'=') {
                Some((p + 3, Close::Php))
            } else {
                Some((p + 2, Close::Php))
            }
        }
        b'%' => {
            if starts_with_ci(b, p + 2, b"--") {
                Some((p + 4, Close::JspComment))
            } else if at(2).is_some_and(|c| b"=@#:$!-_".contains(&c)) {
                Some((p + 3, Close::Percent))
            } else {
                Some((p + 2, Close::Percent))
            }
        }
        b'#' | b'@' => {
            if at(1) == Some(b'#') && starts_with_ci(b, p + 2, b"--") {
                Some((p + 4, Close::FtlComment))
            } else if at(2)?.is_ascii_alphabetic() {
                // The sigil stays with the code: `#if x`, `/#if`, `@macro`.
                Some((p + 1, Close::FtlTag))
            } else {
                None
            }
        }
        b'/' if matches!(at(2), Some(b'#' | b'@')) && at(3)?.is_ascii_alphabetic() => {
            Some((p + 1, Close::FtlTag))
        }
        b's' | b'S' => server_script(b, p).map(|start| (start, Close::ServerScript)),
        _ => None,
    }
}

/// A `<script runat="server">` start tag at `p`: where its content starts.
fn server_script(b: &[u8], p: usize) -> Option<usize> {
    if !starts_with_ci(b, p + 1, b"script")
        || !b
            .get(p + 7)
            .is_some_and(|c| c.is_ascii_whitespace() || *c == b'/')
    {
        return None;
    }
    let gt = tag_end(b, p + 7)?;
    let tag = b[p + 7..gt].to_ascii_lowercase();
    let tag = tag.as_slice();
    let mut from = 0;
    while let Some(off) = memmem::find(&tag[from..], b"runat") {
        let mut k = from + off + 5;
        while tag.get(k).is_some_and(u8::is_ascii_whitespace) {
            k += 1;
        }
        if tag.get(k) == Some(&b'=') {
            k += 1;
            while tag
                .get(k)
                .is_some_and(|c| c.is_ascii_whitespace() || *c == b'"' || *c == b'\'')
            {
                k += 1;
            }
            if tag[k..].starts_with(b"server") {
                return Some(gt + 1);
            }
        }
        from = k.max(from + off + 5);
    }
    None
}

/// The `>` that ends a tag whose attributes start at `from`, skipping quoted values.
fn tag_end(b: &[u8], from: usize) -> Option<usize> {
    let mut quote = None;
    for (k, &c) in b.iter().enumerate().skip(from) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b'>') => return Some(k),
            _ => {}
        }
    }
    None
}

/// The end of a block's code and where the markup resumes after it.
fn close_block(b: &[u8], start: usize, close: Close) -> (usize, usize) {
    let n = b.len();
    let find = |needle: &[u8]| memmem::find(&b[start..], needle).map(|k| start + k);
    match close {
        Close::Php => php_end(b, start),
        Close::Percent => match find(b"%>") {
            // ERB's and EJS's `-%>` and `_%>` trim whitespace: the marker is not code.
            Some(k) if k > start && matches!(b[k - 1], b'-' | b'_') => (k - 1, k + 2),
            Some(k) => (k, k + 2),
            None => (n, n),
        },
        Close::JspComment => find(b"--%>").map_or((n, n), |k| (k, k + 4)),
        Close::FtlComment => find(b"-->").map_or((n, n), |k| (k, k + 3)),
        Close::ServerScript => {
            let mut from = start;
            while let Some(k) = memchr(b'<', &b[from..]).map(|k| from + k) {
                if starts_with_ci(b, k + 1, b"/script") {
                    let resume = memchr(b'>', &b[k..]).map_or(n, |g| k + g + 1);
                    return (k, resume);
                }
                from = k + 1;
            }
            (n, n)
        }
        Close::FtlTag => {
            let mut quote = None;
            let mut parens = 0usize;
            for (k, &c) in b.iter().enumerate().skip(start) {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, b'"' | b'\'') => quote = Some(c),
                    (None, b'(') => parens += 1,
                    (None, b')') => parens = parens.saturating_sub(1),
                    (None, b'>') if parens == 0 => return (k, k + 1),
                    _ => {}
                }
            }
            (n, n)
        }
    }
}

/// The `?>` that ends PHP code starting at `from`: `(end of code, after the ?>)`, or the end
/// of the file twice.
fn php_end(b: &[u8], from: usize) -> (usize, usize) {
    let n = b.len();
    let mut i = from;
    while i < n {
        match b[i] {
            b'?' if b.get(i + 1) == Some(&b'>') => return (i, i + 2),
            q @ (b'\'' | b'"' | b'`') => i = skip_quoted(b, i + 1, q),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = memmem::find(&b[i + 2..], b"*/").map_or(n, |k| i + 2 + k + 2);
            }
            b'#' => i = line_comment(b, i + 1),
            b'/' if b.get(i + 1) == Some(&b'/') => i = line_comment(b, i + 2),
            b'<' if b[i..].starts_with(b"<<<") => {
                i = heredoc(b, i + 3).map_or(i + 3, |h| h.after);
            }
            _ => i += 1,
        }
    }
    (n, n)
}

/// After a string literal whose content starts at `i` (backslash escapes).
fn skip_quoted(b: &[u8], mut i: usize, quote: u8) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// A `//` or `#` comment ends at the line's end or at a `?>`, which also ends the PHP code:
/// the position of that newline or `?`.
fn line_comment(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        match b[i] {
            b'\n' => return i,
            b'?' if b.get(i + 1) == Some(&b'>') => return i,
            _ => i += 1,
        }
    }
    b.len()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// A heredoc or nowdoc string.
struct Heredoc {
    /// Its text is `b[body.0..body.1]`.
    body: (usize, usize),
    /// Nowdoc (`<<<'ID'`): no escapes.
    nowdoc: bool,
    /// Just after the closing identifier, or the end of the file.
    after: usize,
}

/// The heredoc or nowdoc whose `<<<` ends at `i`: `<<<ID`, `<<<"ID"` or `<<<'ID'`, a
/// newline, and a line starting (after indentation, allowed since PHP 7.3) with `ID` not
/// followed by an identifier character. `None`: not a heredoc opener.
fn heredoc(b: &[u8], mut i: usize) -> Option<Heredoc> {
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    let quote = match b.get(i) {
        Some(&q @ (b'"' | b'\'')) => {
            i += 1;
            Some(q)
        }
        _ => None,
    };
    let id_start = i;
    while b.get(i).is_some_and(|&c| is_ident(c)) {
        i += 1;
    }
    let id = &b[id_start..i];
    if id.is_empty() || id[0].is_ascii_digit() {
        return None;
    }
    if let Some(q) = quote {
        if b.get(i) != Some(&q) {
            return None;
        }
        i += 1;
    }
    if b.get(i) == Some(&b'\r') {
        i += 1;
    }
    if b.get(i) != Some(&b'\n') {
        return None;
    }
    let body_start = i + 1;
    let nowdoc = quote == Some(b'\'');
    while let Some(nl) = memchr(b'\n', &b[i..]).map(|k| i + k) {
        let mut k = nl + 1;
        while matches!(b.get(k), Some(b' ' | b'\t')) {
            k += 1;
        }
        if b[k..].starts_with(id) && !b.get(k + id.len()).is_some_and(|&c| is_ident(c)) {
            return Some(Heredoc {
                body: (body_start, nl.max(body_start)),
                nowdoc,
                after: k + id.len(),
            });
        }
        i = nl + 1;
    }
    Some(Heredoc {
        body: (body_start.min(b.len()), b.len()),
        nowdoc,
        after: b.len(),
    })
}

/// The `code` zone: each block's lines trimmed, blank lines dropped, block after block.
fn code_zone(src: &str, blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        for line in src[block.start..block.end].lines() {
            let line = line.trim();
            if !line.is_empty() {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(line);
            }
        }
    }
    out
}

/// What the code prints, as far as it can be told without running it: the contents of its
/// string literals, escapes undone, one per line. `echo '<div style="display:none">'`,
/// `$s = "<a href=\"http://x/\">"` and `Response.Write "<a href=""x"">"` are HTML; code
/// between literals (`foreach ($links as $l)`) is not, and neither are comments.
fn printed_markup(src: &str, blocks: &[Block]) -> String {
    let mut out = String::with_capacity(blocks.iter().map(|b| b.end - b.start + 1).sum());
    for block in blocks {
        let code = &src[block.start..block.end];
        match block.close {
            Close::Php => php_strings(code, &mut out),
            Close::Percent | Close::ServerScript => asp_strings(code, &mut out),
            Close::FtlTag => c_strings(code, &mut out),
            Close::JspComment | Close::FtlComment => {}
        }
    }
    // A tag that the code opens but whose end it does not print (`'<form action="x" ' .
    // $rest`) would be dropped by the tokenizer at the end of the input. This closes it from
    // any attribute state, and is an empty unknown element (no text) anywhere else.
    out.push_str("<x \"'>");
    out
}

/// `text` and a newline, with backslash escapes undone: `\q` for the quote `q` and `\\`
/// always, and with `all`, also `\n`, `\r`, `\t` and `\$` (PHP's double-quoted strings, Java
/// and C# strings); other escapes are kept as written, as PHP does.
fn push_unescaped(out: &mut String, text: &str, quote: u8, all: bool) {
    let b = text.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        let with = match b[i + 1] {
            b'\\' => '\\',
            c if c == quote => c as char,
            b'n' if all => '\n',
            b'r' if all => '\r',
            b't' if all => '\t',
            b'$' if all => '$',
            _ => {
                i += 2;
                continue;
            }
        };
        out.push_str(&text[copied..i]);
        out.push(with);
        i += 2;
        copied = i;
    }
    // A lone backslash at the end, or one before a multi-byte character, is kept: `copied`
    // only ever moves past ASCII.
    out.push_str(&text[copied..]);
    out.push('\n');
}

/// The index of the quote that ends a string whose text starts at `i` (backslash escapes),
/// or the end of `b`.
fn quote_end(b: &[u8], mut i: usize, quote: u8) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return i,
            _ => i += 1,
        }
    }
    b.len()
}

/// The string literals of PHP code: `'...'`, `"..."`, heredocs and nowdocs; not comments,
/// and not `` `...` `` (a shell command).
fn php_strings(code: &str, out: &mut String) {
    let b = code.as_bytes();
    let n = b.len();
    let mut i = 0;
    while i < n {
        match b[i] {
            q @ (b'\'' | b'"') => {
                let end = quote_end(b, i + 1, q);
                push_unescaped(out, &code[i + 1..end], q, q == b'"');
                i = end + 1;
            }
            b'`' => i = quote_end(b, i + 1, b'`') + 1,
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = memmem::find(&b[i + 2..], b"*/").map_or(n, |k| i + 2 + k + 2);
            }
            b'#' => i = memchr(b'\n', &b[i..]).map_or(n, |k| i + k),
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = memchr(b'\n', &b[i..]).map_or(n, |k| i + k);
            }
            b'<' if b[i..].starts_with(b"<<<") => match heredoc(b, i + 3) {
                Some(h) => {
                    let body = &code[h.body.0..h.body.1];
                    if h.nowdoc {
                        out.push_str(body);
                        out.push('\n');
                    } else {
                        push_unescaped(out, body, b'"', true);
                    }
                    i = h.after;
                }
                None => i += 3,
            },
            _ => i += 1,
        }
    }
}

/// The string literals of `<% %>` code, which is VBScript, JScript, C#, Java or (EJS)
/// JavaScript: `"..."` with VBScript's doubled `""` and the others' `\"`; a `'` starts a
/// VBScript comment (a JavaScript string in `'...'` is skipped with it), and `//` and `/* */`
/// comments are skipped.
fn asp_strings(code: &str, out: &mut String) {
    let b = code.as_bytes();
    let n = b.len();
    let mut i = 0;
    while i < n {
        match b[i] {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < n {
                    match b[j] {
                        b'\\' if b.get(j + 1) == Some(&b'"') => j += 2,
                        b'"' if b.get(j + 1) == Some(&b'"') => j += 2,
                        b'"' | b'\n' => break,
                        _ => j += 1,
                    }
                }
                let j = j.min(n);
                let text = &code[start..j];
                if text.contains("\"\"") {
                    push_unescaped(out, &text.replace("\"\"", "\""), b'"', true);
                } else {
                    push_unescaped(out, text, b'"', true);
                }
                i = j + 1;
            }
            b'\'' => i = memchr(b'\n', &b[i..]).map_or(n, |k| i + k),
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = memchr(b'\n', &b[i..]).map_or(n, |k| i + k);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = memmem::find(&b[i + 2..], b"*/").map_or(n, |k| i + 2 + k + 2);
            }
            _ => i += 1,
        }
    }
}

/// The string literals of FreeMarker directives: `"..."` and `'...'` with backslash escapes.
fn c_strings(code: &str, out: &mut String) {
    let b = code.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                let end = quote_end(b, i + 1, q);
                push_unescaped(out, &code[i + 1..end], q, true);
                i = end + 1;
            }
            _ => i += 1,
        }
    }
}

/// Extract a template: its markup as HTML, its code blocks as the `code` zone, and the
/// structures of the HTML its code prints.
pub(crate) fn extract(src: &str, page_url: Option<&Url>) -> Document {
    let (markup, blocks) = split(src);
    let mut doc = html::extract(&markup, page_url);
    doc.kind = ContentKind::Template;
    if blocks.is_empty() {
        return doc;
    }
    // Code links resolve as the markup's do: against its `<base>` when it has one.
    let page_display = page_url.map(display);
    let code_base = match &doc.base_url {
        Some(base) if Some(base) != page_display.as_ref() => {
            Url::parse(base).ok().or_else(|| page_url.cloned())
        }
        _ => page_url.cloned(),
    };
    let printed = html::extract(&printed_markup(src, &blocks), code_base.as_ref());
    merge(&mut doc, printed, code_zone(src, &blocks));
    doc
}

/// Add what the code prints to the markup's document: every zone but `text`, then the
/// structures; and the `code` zone.
fn merge(doc: &mut Document, printed: Document, code: String) {
    let mut markup_zones = std::mem::take(&mut doc.zones).into_iter().peekable();
    let mut printed_zones = printed.zones.into_iter().peekable();
    let mut zones = Vec::new();
    let mut code = Some(code);
    for kind in ZoneKind::ALL {
        let mut text = match markup_zones.next_if(|z| z.kind == kind) {
            Some(z) => z.text,
            None => String::new(),
        };
        if let Some(z) = printed_zones.next_if(|z| z.kind == kind)
            && kind != ZoneKind::Text
        {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&z.text);
        }
        if kind == ZoneKind::Code {
            text = code.take().unwrap_or_default();
        }
        if !text.is_empty() {
            zones.push(Zone { kind, text });
        }
    }
    doc.zones = zones;
    doc.links.extend(printed.links);
    doc.iframes.extend(printed.iframes);
    let forms_before = doc.forms.len();
    doc.fields
        .extend(printed.fields.into_iter().map(|f| crate::extract::Field {
            form: f.form.map(|i| i + forms_before),
            ..f
        }));
    doc.forms.extend(printed.forms);
    doc.redirects.extend(printed.redirects);
    doc.scripts.extend(printed.scripts);
}
