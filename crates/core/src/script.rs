//! Just enough JavaScript to see what a script writes, decodes and branches on: for the
//! script checks in `rules/checks`, and for the text that extraction reads out of scripts
//! (`extract/written.rs`).
//!
//! This is not a parser. A lexer splits script text into tokens (so brackets inside strings,
//! regex literals and comments do not count), and a few patterns are read off the tokens:
//! calls like `document.write(...)` and `eval(...)` with their argument folded into text where
//! it is made of literals (`'<ifr' + 'ame'`, `unescape('%3C...')`, `atob('...')`,
//! `String.fromCharCode(...)`), and `if (...) {...} else {...}` with its condition and branches.
//! Anything else in an argument (a variable, a call) stands as [`UNKNOWN`], so a URL built at
//! run time is never guessed at. Work is linear in the text and bounded per construct, and
//! hostile input (unterminated strings, unbalanced brackets) only ends a construct early.

use std::ops::Range;

/// Stands for a part of an expression whose value is not known before run time.
pub(crate) const UNKNOWN: char = '\u{FFFC}';

/// Tokens after which a `/` starts a regex literal rather than a division.
const REGEX_AFTER_WORDS: &[&str] = &[
    "return",
    "typeof",
    "case",
    "do",
    "else",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "instanceof",
    "yield",
    "await",
];

/// Operators of more than one character, longest first.
const OPERATORS: &[&str] = &[
    ">>>=", "===", "!==", "**=", "<<=", ">>=", ">>>", "...", "&&=", "||=", "??=", "==", "!=", "<=",
    ">=", "=>", "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=",
    "**", "<<", ">>",
];

/// A call's argument or an `if`'s condition is read for this many tokens at most (an unclosed
/// bracket would otherwise run to the end of the script for every call after it).
const MAX_ARGUMENT_TOKENS: usize = 4_000;
/// A statement without braces ends after this many tokens (bracketed groups count as one) at
/// most, so that hostile nesting (`if(a)if(a)if(a)...`) stays linear.
const MAX_STATEMENT_TOKENS: usize = 2_000;
/// A folded argument keeps at most this many bytes.
const MAX_FOLDED_BYTES: usize = 256 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Ident,
    /// A quoted string or a template literal (its `${...}` parts are not read).
    Str,
    Regex,
    Number,
    Punct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: u32,
    pub end: u32,
}

/// The tokens of one script text.
pub(crate) struct Script<'a> {
    pub text: &'a str,
    pub tokens: Vec<Token>,
    /// Per opening bracket, the index just past its closing one (0 for other tokens).
    closes: Vec<u32>,
    /// Where names are assigned, built on first use.
    names: std::cell::OnceCell<std::collections::HashMap<&'a str, Vec<usize>>>,
}

impl<'a> Script<'a> {
    pub fn lex(text: &'a str) -> Script<'a> {
        let tokens = lex(text);
        let closes = match_brackets(text, &tokens);
        Script {
            text,
            tokens,
            closes,
            names: std::cell::OnceCell::new(),
        }
    }

    pub fn src(&self, i: usize) -> &'a str {
        let t = self.tokens[i];
        &self.text[t.start as usize..t.end as usize]
    }

    fn is(&self, i: usize, kind: Kind, text: &str) -> bool {
        self.tokens
            .get(i)
            .is_some_and(|t| t.kind == kind && self.src(i) == text)
    }

    fn punct(&self, i: usize, text: &str) -> bool {
        self.is(i, Kind::Punct, text)
    }

    /// The byte range in the text of tokens `range`.
    pub fn span(&self, range: Range<usize>) -> Range<usize> {
        if range.is_empty() {
            return 0..0;
        }
        self.tokens[range.start].start as usize..self.tokens[range.end - 1].end as usize
    }

    /// The index just past the bracket that closes the one at `open` (any closing bracket
    /// balances any opening one), the end of the script when it never closes, or just past
    /// `open` when it is not an opening bracket. Constant time: worked out when lexing.
    pub fn close(&self, open: usize) -> usize {
        match self.closes.get(open) {
            Some(&end) if end > 0 => end as usize,
            _ => (open + 1).min(self.tokens.len()),
        }
    }

    /// The end of the statement starting at `start`: past a `;` at depth 0, or at a `}` that
    /// closes an enclosing block.
    fn statement_end(&self, start: usize) -> usize {
        let limit = (start + MAX_STATEMENT_TOKENS).min(self.tokens.len());
        let mut i = start;
        while i < limit {
            if self.tokens[i].kind == Kind::Punct {
                match self.src(i) {
                    "(" | "[" | "{" => {
                        i = self.close(i);
                        continue;
                    }
                    ";" => return i + 1,
                    ")" | "]" | "}" => return i,
                    _ => {}
                }
            }
            i += 1;
        }
        limit
    }

    /// Calls that write markup or run code, with the tokens of their argument:
    /// `document.write(...)`, `document.writeln(...)`, `eval(...)`, `Function(...)`,
    /// `setTimeout("code", n)`, `x.insertAdjacentHTML(pos, ...)`, and assignments to
    /// `innerHTML`/`outerHTML`.
    pub fn sinks(&self) -> Vec<Sink> {
        let mut out = Vec::new();
        for i in 0..self.tokens.len() {
            if self.tokens[i].kind != Kind::Ident {
                continue;
            }
            let name = self.src(i);
            let after_dot = i > 0 && self.punct(i - 1, ".");
            let kind = match name {
                "write" | "writeln"
                    if after_dot && i >= 2 && self.is(i - 2, Kind::Ident, "document") =>
                {
                    SinkKind::Write
                }
                "eval" | "Function"
                    if !after_dot || (i >= 2 && self.is(i - 2, Kind::Ident, "window")) =>
                {
                    if i > 0 && self.is(i - 1, Kind::Ident, "function") {
                        continue;
                    }
                    SinkKind::Eval
                }
                "insertAdjacentHTML" if after_dot => SinkKind::Write,
                // `setTimeout("location.href='...'", 100)`: a string first argument is code.
                "setTimeout" | "setInterval"
                    if self.tokens.get(i + 2).is_some_and(|t| t.kind == Kind::Str) =>
                {
                    SinkKind::Eval
                }
                "innerHTML" | "outerHTML" if after_dot => {
                    if self.punct(i + 1, "=") || self.punct(i + 1, "+=") {
                        let start = i + 2;
                        let end = self.statement_end(start);
                        let end = if end > start && self.punct(end - 1, ";") {
                            end - 1
                        } else {
                            end
                        };
                        out.push(Sink {
                            kind: SinkKind::Write,
                            call: self.call_start(i)..end,
                            args: start..end,
                        });
                    }
                    continue;
                }
                _ => continue,
            };
            if !self.punct(i + 1, "(") {
                continue;
            }
            let close = self.close(i + 1);
            let end = close
                .saturating_sub(1)
                .clamp(i + 2, i + 2 + MAX_ARGUMENT_TOKENS);
            let mut args = i + 2..end;
            if name == "insertAdjacentHTML" {
                // The markup is the second argument.
                match (args.clone()).find(|&j| self.punct(j, ",")) {
                    Some(comma) => args.start = comma + 1,
                    None => continue,
                }
            }
            if matches!(name, "setTimeout" | "setInterval") {
                // The code is the first argument; the delay is not.
                if let Some(comma) = (args.clone()).find(|&j| self.punct(j, ",")) {
                    args.end = comma;
                }
            }
            out.push(Sink {
                kind,
                call: self.call_start(i)..close,
                args,
            });
        }
        out
    }

    /// The first token of a member chain ending at `i` (`window.document.write` → `window`).
    fn call_start(&self, mut i: usize) -> usize {
        while i >= 2 && self.punct(i - 1, ".") && self.tokens[i - 2].kind == Kind::Ident {
            i -= 2;
        }
        i
    }

    /// Fold the expression in tokens `range` into the text it evaluates to, as far as it is
    /// made of literals and decoding calls; other parts become [`UNKNOWN`].
    pub fn fold(&self, range: Range<usize>) -> Folded {
        let mut out = Folded::default();
        self.fold_into(range, &mut out, 0);
        out
    }

    fn fold_into(&self, range: Range<usize>, out: &mut Folded, depth: usize) {
        let mut i = range.start;
        let end = range.end.min(self.tokens.len());
        while i < end {
            if out.text.len() > MAX_FOLDED_BYTES {
                return;
            }
            let next = self.fold_operand(i, end, out, depth);
            // Skip to the next `+` at this level: anything between is not folded.
            let mut j = next;
            let mut skipped = false;
            while j < end && !self.punct(j, "+") {
                if self.tokens[j].kind == Kind::Punct && matches!(self.src(j), "(" | "[" | "{") {
                    j = self.close(j);
                } else {
                    j += 1;
                }
                skipped = true;
            }
            if skipped {
                out.push_unknown();
            }
            i = j + 1;
        }
    }

    /// Fold one operand starting at `i`; returns the index after it.
    fn fold_operand(&self, i: usize, end: usize, out: &mut Folded, depth: usize) -> usize {
        let token = self.tokens[i];
        match token.kind {
            Kind::Str => {
                let (value, escapes) = string_value(self.src(i));
                out.text.push_str(&value);
                out.encoded += escapes;
                i + 1
            }
            Kind::Punct if self.src(i) == "(" => {
                let close = self.close(i);
                if depth < 8 {
                    self.fold_into(i + 1..close.saturating_sub(1), out, depth + 1);
                } else {
                    out.push_unknown();
                }
                close
            }
            Kind::Ident => {
                // `window.atob(`, `String.fromCharCode(`, `unescape(`: the callee's last name.
                let mut j = i;
                while self.punct(j + 1, ".")
                    && self
                        .tokens
                        .get(j + 2)
                        .is_some_and(|t| t.kind == Kind::Ident)
                {
                    j += 2;
                }
                let callee = self.src(j);
                if !self.punct(j + 1, "(") || j + 1 >= end {
                    // A plain name stands for what it was last given (`var u = 'http://...';
                    // document.write('<iframe src="' + u + '">')`), within a budget.
                    let definition = (j == i && depth < 6 && out.resolved < MAX_RESOLVED)
                        .then(|| self.definitions(callee, i).into_iter().next())
                        .flatten();
                    match definition {
                        Some(def) => {
                            out.resolved += 1;
                            self.fold_into(def, out, depth + 2);
                        }
                        None => out.push_unknown(),
                    }
                    return j + 1;
                }
                let close = self.close(j + 1);
                let inner = j + 2..close.saturating_sub(1);
                let decoded = match callee {
                    "unescape" | "decodeURIComponent" | "decodeURI" if depth < 8 => {
                        let arg = self.fold_nested(inner, depth);
                        arg.map(|a| (percent_decode(&a.text), a.encoded))
                    }
                    "atob" if depth < 8 => {
                        let arg = self.fold_nested(inner, depth);
                        arg.and_then(|a| base64_decode(&a.text).map(|d| (d, a.encoded)))
                    }
                    "fromCharCode" => self.char_codes(inner).map(|s| {
                        let n = s.chars().count();
                        ((s, n), 0)
                    }),
                    _ => None,
                };
                match decoded {
                    Some(((text, n), encoded)) => {
                        out.text.push_str(&text);
                        out.encoded += n + encoded;
                    }
                    None => out.push_unknown(),
                }
                close
            }
            _ => {
                out.push_unknown();
                i + 1
            }
        }
    }

    fn fold_nested(&self, range: Range<usize>, depth: usize) -> Option<Folded> {
        let mut arg = Folded::default();
        self.fold_into(range, &mut arg, depth + 1);
        (!arg.text.contains(UNKNOWN)).then_some(arg)
    }

    /// `String.fromCharCode(100, 111, ...)` with literal numbers.
    fn char_codes(&self, range: Range<usize>) -> Option<String> {
        let mut out = String::new();
        for i in range {
            match self.tokens[i].kind {
                Kind::Number => {
                    let src = self.src(i);
                    let n = match src.strip_prefix("0x").or_else(|| src.strip_prefix("0X")) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => src.parse::<u32>().ok()?,
                    };
                    out.push(char::from_u32(n & 0xFFFF).unwrap_or('\u{FFFD}'));
                }
                Kind::Punct if self.src(i) == "," => {}
                _ => return None,
            }
        }
        Some(out)
    }

    /// `if (...)` statements: the condition's tokens and the branches' (the `if` body, and the
    /// `else` body when there is one).
    pub fn branches(&self) -> Vec<Branch> {
        let mut out = Vec::new();
        for i in 0..self.tokens.len() {
            if !self.is(i, Kind::Ident, "if") || !self.punct(i + 1, "(") {
                continue;
            }
            let close = self.close(i + 1);
            let condition = i + 2
                ..close
                    .saturating_sub(1)
                    .clamp(i + 2, i + 2 + MAX_ARGUMENT_TOKENS);
            let body_end = self.body_end(close);
            let mut bodies = Vec::with_capacity(2);
            bodies.push(close..body_end);
            if self.is(body_end, Kind::Ident, "else") {
                bodies.push(body_end + 1..self.body_end(body_end + 1));
            }
            out.push(Branch {
                keyword: i,
                condition,
                bodies,
            });
        }
        out
    }

    fn body_end(&self, start: usize) -> usize {
        if start >= self.tokens.len() {
            return start;
        }
        if self.punct(start, "{") {
            self.close(start)
        } else {
            self.statement_end(start)
        }
    }

    /// What a name was given before token `before`, most recent first (at most
    /// [`MAX_DEFINITIONS`]): the right-hand sides of `name = ...` (and `var name = ...`), and
    /// the body of `function name(...) {...}`, which may also come after (it is hoisted).
    pub fn definitions(&self, name: &str, before: usize) -> Vec<Range<usize>> {
        let index = self.names.get_or_init(|| self.index_names());
        let Some(places) = index.get(name) else {
            return Vec::new();
        };
        let earlier = places.partition_point(|&i| i < before);
        let mut out: Vec<Range<usize>> = places[..earlier]
            .iter()
            .rev()
            .filter_map(|&i| self.definition_at(i))
            // `a = a + 'x'`: the `a` on the right is the value before, not this one.
            .filter(|def| !def.contains(&before))
            .take(MAX_DEFINITIONS)
            .collect();
        if out.is_empty() {
            out.extend(
                places[earlier..]
                    .iter()
                    .filter(|&&i| i > 0 && self.is(i - 1, Kind::Ident, "function"))
                    .find_map(|&i| self.definition_at(i)),
            );
        }
        out
    }

    /// Where each name is assigned or declared as a function, in token order.
    fn index_names(&self) -> std::collections::HashMap<&'a str, Vec<usize>> {
        let mut index: std::collections::HashMap<&'a str, Vec<usize>> = Default::default();
        for i in 0..self.tokens.len() {
            if self.tokens[i].kind != Kind::Ident || (i > 0 && self.punct(i - 1, ".")) {
                continue;
            }
            let assigned = self.punct(i + 1, "=");
            let function =
                i > 0 && self.is(i - 1, Kind::Ident, "function") && self.punct(i + 1, "(");
            if assigned || function {
                index.entry(self.src(i)).or_default().push(i);
            }
        }
        index
    }

    /// The definition given at token `i` (a name followed by `=`, or a function's name).
    fn definition_at(&self, i: usize) -> Option<Range<usize>> {
        if self.punct(i + 1, "=") {
            let start = i + 2;
            let mut end = start;
            let limit = (start + 400).min(self.tokens.len());
            while end < limit {
                if self.tokens[end].kind == Kind::Punct {
                    match self.src(end) {
                        "(" | "[" | "{" => {
                            end = self.close(end);
                            continue;
                        }
                        ";" | "," | ")" | "]" | "}" => break,
                        _ => {}
                    }
                }
                end += 1;
            }
            return Some(start..end.min(limit));
        }
        let params = self.close(i + 1);
        self.punct(params, "{").then(|| params..self.close(params))
    }
}

/// Definitions of one name looked at, at most.
const MAX_DEFINITIONS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SinkKind {
    /// Writes markup into the page.
    Write,
    /// Runs a string as code.
    Eval,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sink {
    pub kind: SinkKind,
    /// The whole call (or assignment), in tokens.
    pub call: Range<usize>,
    /// The argument that is written or run, in tokens.
    pub args: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Branch {
    /// The `if` token.
    pub keyword: usize,
    pub condition: Range<usize>,
    pub bodies: Vec<Range<usize>>,
}

/// An expression folded into text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Folded {
    pub text: String,
    /// Characters that came out of an encoding: `%XX`, `\xXX`/`\uXXXX` escapes, Base64,
    /// character codes.
    pub encoded: usize,
    /// Names replaced by their definitions so far.
    resolved: usize,
}

/// Names one fold replaces by their definitions, at most: enough for a URL kept in a variable
/// or two, not a walk through a whole program.
const MAX_RESOLVED: usize = 16;

impl Folded {
    fn push_unknown(&mut self) {
        if !self.text.ends_with(UNKNOWN) {
            self.text.push(UNKNOWN);
        }
    }
}

fn match_brackets(text: &str, tokens: &[Token]) -> Vec<u32> {
    let mut closes = vec![0u32; tokens.len()];
    let mut open: Vec<usize> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if t.kind != Kind::Punct || t.end - t.start != 1 {
            continue;
        }
        match text.as_bytes()[t.start as usize] {
            b'(' | b'[' | b'{' => open.push(i),
            b')' | b']' | b'}' => {
                if let Some(o) = open.pop() {
                    closes[o] = (i + 1) as u32;
                }
            }
            _ => {}
        }
    }
    for o in open {
        closes[o] = tokens.len() as u32;
    }
    closes
}

fn lex(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut tokens: Vec<Token> = Vec::new();
    let mut i = 0usize;
    let mut line_start = true;
    let push = |tokens: &mut Vec<Token>, kind: Kind, start: usize, end: usize| {
        tokens.push(Token {
            kind,
            start: start as u32,
            end: end as u32,
        });
    };
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            line_start = true;
            i += 1;
            continue;
        }
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let rest = &bytes[i..];
        // Comments, including the HTML-like `<!--` and a `-->` that starts a line. Only three
        // bytes can start one, so most tokens are not compared with any of them.
        let line_comment = match b {
            b'/' => rest.starts_with(b"//"),
            b'<' => rest.starts_with(b"<!--"),
            b'-' => line_start && rest.starts_with(b"-->"),
            _ => false,
        };
        if line_comment {
            i = memchr::memchr(b'\n', rest).map_or(bytes.len(), |n| i + n);
            continue;
        }
        if b == b'/' && rest.starts_with(b"/*") {
            i = memchr::memmem::find(&rest[2..], b"*/").map_or(bytes.len(), |n| i + 2 + n + 2);
            continue;
        }
        line_start = false;
        let start = i;
        if b == b'"' || b == b'\'' || b == b'`' {
            i = string_end(bytes, i);
            push(&mut tokens, Kind::Str, start, i);
            continue;
        }
        if b == b'/'
            && regex_allowed(text, &tokens)
            && let Some(end) = regex_end(bytes, i)
        {
            i = end;
            push(&mut tokens, Kind::Regex, start, i);
            continue;
        }
        if b.is_ascii_digit() || (b == b'.' && rest.get(1).is_some_and(u8::is_ascii_digit)) {
            i += 1;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.' || bytes[i] == b'_')
            {
                i += 1;
            }
            push(&mut tokens, Kind::Number, start, i);
            continue;
        }
        if b.is_ascii_alphabetic() || b == b'_' || b == b'$' || b >= 0x80 {
            i += 1;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b'$'
                    || bytes[i] >= 0x80)
            {
                i += 1;
            }
            // Never end inside a UTF-8 sequence (a non-ASCII byte always continues a name).
            while !text.is_char_boundary(i) {
                i += 1;
            }
            push(&mut tokens, Kind::Ident, start, i);
            continue;
        }
        // Most punctuation is one character; only look for a longer operator when the next
        // character could continue one.
        let len = if rest.get(1).is_some_and(|b| b"=!<>&|?.+-*/%^".contains(b)) {
            OPERATORS
                .iter()
                .find(|op| rest.starts_with(op.as_bytes()))
                .map_or(1, |op| op.len())
        } else {
            1
        };
        i += len;
        push(&mut tokens, Kind::Punct, start, i);
    }
    tokens
}

/// The end of a string literal starting at `start` (its quote). Quoted strings end at an
/// unescaped newline too (unterminated: they cannot span lines), so one stray quote does not
/// swallow the rest of the script.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' if quote != b'`' => return i,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Whether a `/` here starts a regex literal: at the start, after an operator or an opening
/// bracket, or after a keyword like `return`; not after a value (a name, a number, `)`).
fn regex_allowed(text: &str, tokens: &[Token]) -> bool {
    let Some(last) = tokens.last() else {
        return true;
    };
    let src = &text[last.start as usize..last.end as usize];
    match last.kind {
        Kind::Punct => !matches!(src, ")" | "]" | "}" | "++" | "--"),
        Kind::Ident => REGEX_AFTER_WORDS.contains(&src),
        _ => false,
    }
}

/// The end of a regex literal starting at `start`, or `None` when the line ends first.
fn regex_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    let mut class = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return None,
            b'[' => {
                class = true;
                i += 1;
            }
            b']' => {
                class = false;
                i += 1;
            }
            b'/' if !class => {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                    i += 1;
                }
                return Some(i);
            }
            _ => i += 1,
        }
    }
    None
}

/// The value of a string literal as written (quotes included), and how many of its characters
/// came from `\x`/`\u` escapes.
pub(crate) fn string_value(literal: &str) -> (String, usize) {
    let inner = literal.get(1..).unwrap_or("");
    let quote = literal.chars().next().unwrap_or('"');
    let inner = inner.strip_suffix(quote).unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut escapes = 0;
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else { break };
        let hex = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| {
            let mut s = String::new();
            for _ in 0..n {
                match chars.peek() {
                    Some(c) if c.is_ascii_hexdigit() => s.push(chars.next().unwrap_or('0')),
                    _ => return None,
                }
            }
            u32::from_str_radix(&s, 16).ok()
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'b' | 'f' | 'v' => {}
            '0' => out.push('\0'),
            '\n' => {}
            'x' => match hex(&mut chars, 2).and_then(char::from_u32) {
                Some(c) => {
                    out.push(c);
                    escapes += 1;
                }
                None => out.push('x'),
            },
            'u' => {
                let code = if chars.peek() == Some(&'{') {
                    chars.next();
                    let s: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    u32::from_str_radix(&s, 16).ok()
                } else {
                    hex(&mut chars, 4)
                };
                match code.and_then(char::from_u32) {
                    Some(c) => {
                        out.push(c);
                        escapes += 1;
                    }
                    None => out.push('u'),
                }
            }
            other => out.push(other),
        }
    }
    (out, escapes)
}

/// `unescape`/`decodeURIComponent`: `%XX` and `%uXXXX` sequences; returns the text and how
/// many characters were encoded. Bytes of `%XX` runs are read as UTF-8 where they form it
/// (`decodeURIComponent`) and as Latin-1 otherwise (`unescape`).
pub(crate) fn percent_decode(s: &str) -> (String, usize) {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut count = 0;
    let mut i = 0;
    let mut run: Vec<u8> = Vec::new();
    let flush = |run: &mut Vec<u8>, out: &mut String| {
        match std::str::from_utf8(run) {
            Ok(text) => out.push_str(text),
            Err(_) => out.extend(run.iter().map(|&b| char::from(b))),
        }
        run.clear();
    };
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |from: usize, n: usize| {
                s.get(from..from + n)
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
            };
            if bytes.get(i + 1) == Some(&b'u')
                && let Some(code) = hex(i + 2, 4)
            {
                flush(&mut run, &mut out);
                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                count += 1;
                i += 6;
                continue;
            }
            if let Some(byte) = hex(i + 1, 2) {
                run.push(byte as u8);
                count += 1;
                i += 3;
                continue;
            }
        }
        flush(&mut run, &mut out);
        let c = s[i..].chars().next().unwrap_or('\u{FFFD}');
        out.push(c);
        i += c.len_utf8();
    }
    flush(&mut run, &mut out);
    (out, count)
}

/// `atob`: standard Base64 (padding optional, whitespace skipped); bytes as Latin-1, as `atob`
/// returns them. `None` when the text is not Base64.
pub(crate) fn base64_decode(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    let mut count = 0;
    for b in s.bytes() {
        let value = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(char::from(((buffer >> bits) & 0xFF) as u8));
            count += 1;
        }
    }
    Some((out, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        let s = Script::lex(text);
        (0..s.tokens.len())
            .map(|i| (s.tokens[i].kind, s.src(i)))
            .collect()
    }

    #[test]
    fn lexes_strings_regexes_and_comments() {
        use Kind::*;
        assert_eq!(
            kinds(
                r#"var r=/\.(baidu|so)\//ig; // x ( {
a = b / 2 /* ) */; s = "a)\"b" + 'c(';"#
            ),
            vec![
                (Ident, "var"),
                (Ident, "r"),
                (Punct, "="),
                (Regex, r"/\.(baidu|so)\//ig"),
                (Punct, ";"),
                (Ident, "a"),
                (Punct, "="),
                (Ident, "b"),
                (Punct, "/"),
                (Number, "2"),
                (Punct, ";"),
                (Ident, "s"),
                (Punct, "="),
                (Str, r#""a)\"b""#),
                (Punct, "+"),
                (Str, "'c('"),
                (Punct, ";"),
            ]
        );
        // An unterminated string ends at its line; the next line lexes normally.
        assert_eq!(kinds("x = 'open\nif (a) {}").last(), Some(&(Punct, "}")));
        assert_eq!(kinds("<!-- hide\nx()\n-->").len(), 3);
    }

    #[test]
    fn folds_literals_and_decoding_calls() {
        let fold = |js: &str| {
            let s = Script::lex(js);
            let sink = s.sinks().into_iter().next().expect("a sink");
            s.fold(sink.args)
        };
        let f = fold(r#"document.write('<ifr' + "ame src=" + u + '>')"#);
        assert_eq!(f.text, format!("<iframe src={UNKNOWN}>"));
        let f = fold(r#"var u = "http://e.test/" + n; document.write('<iframe src="' + u + '">')"#);
        assert_eq!(f.text, format!("<iframe src=\"http://e.test/{UNKNOWN}\">"));
        let f = fold("var a = a + 'x'; document.write(a)");
        assert_eq!(f.text, format!("{UNKNOWN}x"));
        assert_eq!(f.encoded, 0);
        let f = fold("document.write(unescape('%3Cscript src=%22http://x.test/a.js%22%3E'))");
        assert_eq!(f.text, "<script src=\"http://x.test/a.js\">");
        assert_eq!(f.encoded, 4);
        let f = fold("eval(atob('ZG9jdW1lbnQud3JpdGUoMSk='))");
        assert_eq!(f.text, "document.write(1)");
        assert_eq!(f.encoded, 17);
        let f = fold("window.eval(String.fromCharCode(104, 105))");
        assert_eq!((f.text.as_str(), f.encoded), ("hi", 2));
        let f = fold(r#"eval("\x61\x6c\u0065rt(1)")"#);
        assert_eq!((f.text.as_str(), f.encoded), ("alert(1)", 3));
        let f = fold("el.innerHTML = '<a href=\"http://x.test/\">x</a>' + n;");
        assert_eq!(f.text, format!("<a href=\"http://x.test/\">x</a>{UNKNOWN}"));
        let f = fold("el.insertAdjacentHTML('beforeend', '<b>' + (a ? '1' : '2'))");
        assert_eq!(f.text, format!("<b>{UNKNOWN}"));
        // Not sinks: a method of another object, a definition.
        assert!(
            Script::lex("obj.write('x'); function eval(a){}")
                .sinks()
                .is_empty()
        );
    }

    #[test]
    fn reads_branches_and_definitions() {
        let js = "var where = document.referrer; var re = /baidu|sogou/;
            function isBot(u) { return /googlebot/i.test(u) }
            if (re.test(where)) { top.location.replace('http://x.test/') } else x();
            if (isBot(navigator.userAgent)) return; y();";
        let s = Script::lex(js);
        let b = s.branches();
        assert_eq!(b.len(), 2);
        let text = |r: Range<usize>| s.text[s.span(r)].to_string();
        assert_eq!(text(b[0].condition.clone()), "re.test(where)");
        assert_eq!(
            text(b[0].bodies[0].clone()),
            "{ top.location.replace('http://x.test/') }"
        );
        assert_eq!(text(b[0].bodies[1].clone()), "x();");
        assert_eq!(text(b[1].bodies[0].clone()), "return;");
        let def = |name: &str| text(s.definitions(name, b[1].keyword)[0].clone());
        assert_eq!(def("where"), "document.referrer");
        assert_eq!(def("re"), "/baidu|sogou/");
        assert_eq!(def("isBot"), "{ return /googlebot/i.test(u) }");
        assert!(s.definitions("nothing", b[1].keyword).is_empty());
        // Every assignment, most recent first; a function declared after its use.
        let s =
            Script::lex("var b = false; if (x) { b = true } if (b) go(); function go() { y() }");
        let defs: Vec<String> = s
            .definitions("b", 14)
            .into_iter()
            .map(|r| s.text[s.span(r)].to_string())
            .collect();
        assert_eq!(defs, ["true", "false"]);
        let go = s.definitions("go", 0);
        assert_eq!(&s.text[s.span(go[0].clone())], "{ y() }");
    }

    #[test]
    fn decoders() {
        assert_eq!(
            percent_decode("%3Ca%u4E2D%E4%B8%AD%"),
            ("<a中中%".to_string(), 5)
        );
        assert_eq!(
            base64_decode("aHR0cDovL3gudGVzdC8="),
            Some(("http://x.test/".into(), 14))
        );
        assert_eq!(base64_decode("not base64!"), None);
        assert_eq!(
            string_value(r"'a\'b\x3c\u{1F600}\n'"),
            ("a'b<\u{1F600}\n".into(), 2)
        );
    }
}
