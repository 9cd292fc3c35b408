//! Issue 17, item 1: HTML tokenizer candidates, timed on the same pages in one run.
//!
//! Reads every HTML page of `pages-zh/original` and of `real-pages` (markup files: .html,
//! .htm and the server templates; not .js, .tsx, .md, .tsv), decodes the non-UTF-8 ones once
//! up front (chardetng + encoding_rs, outside the timed part), then times each candidate
//! tokenizing the whole corpus, candidates taking turns round by round with the starting one
//! rotated, on one thread. Prints MB/s (10^6 bytes of decoded UTF-8 input per second) per
//! corpus: the median and the best of the rounds.
//!
//!   cd benches/tokenizers && cargo run --release -- [SHARED_DATA] [ROUNDS]   (15 rounds: ~25 s)
//!
//! Not a workspace member: benches/README.md ("Tokenizer candidates (issue 17)").

use std::cell::Cell;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

struct Corpus {
    name: &'static str,
    pages: Vec<String>,
    raw_bytes: usize,
    non_utf8: usize,
}

impl Corpus {
    fn utf8_bytes(&self) -> usize {
        self.pages.iter().map(String::len).sum()
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

const MARKUP: &[&str] = &[
    "html", "htm", "php", "jsp", "asp", "aspx", "tpl", "ftl", "vue",
];

fn load(name: &'static str, dir: &Path) -> Corpus {
    let mut paths = Vec::new();
    files_under(dir, &mut paths);
    paths.retain(|p| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| MARKUP.contains(&e.to_ascii_lowercase().as_str()))
    });
    paths.sort();
    let mut pages = Vec::new();
    let (mut raw_bytes, mut non_utf8) = (0, 0);
    for path in paths {
        let bytes = std::fs::read(&path).expect("readable page");
        raw_bytes += bytes.len();
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                non_utf8 += 1;
                let bytes = e.into_bytes();
                let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
                det.feed(&bytes, true);
                let enc = det.guess(None, chardetng::Utf8Detection::Deny);
                enc.decode(&bytes).0.into_owned()
            }
        };
        pages.push(text);
    }
    Corpus {
        name,
        pages,
        raw_bytes,
        non_utf8,
    }
}

// ---------------------------------------------------------------- html5ever

mod h5e {
    use super::*;
    use html5ever::tendril::StrTendril;
    use html5ever::tokenizer::states::RawKind;
    use html5ever::tokenizer::{
        BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
    };

    /// Does nothing with the tokens: script and style bodies are tokenized as markup.
    pub struct Noop;
    impl TokenSink for Noop {
        type Handle = ();
        fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
            black_box(&token);
            TokenSinkResult::Continue
        }
    }

    /// Switches into the raw-text states as the tree builder (and sitepatrol's extractor) does,
    /// and counts text bytes: the floor under `extract`, as in benches/pipeline.rs.
    pub struct RawSwitch(pub Cell<usize>);
    impl TokenSink for RawSwitch {
        type Handle = ();
        fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
            match token {
                Token::CharacterTokens(s) => self.0.set(self.0.get() + s.len()),
                Token::TagToken(tag) if tag.kind == TagKind::StartTag => match &*tag.name {
                    "script" => return TokenSinkResult::RawData(RawKind::ScriptData),
                    "style" | "xmp" | "iframe" | "noembed" | "noframes" => {
                        return TokenSinkResult::RawData(RawKind::Rawtext);
                    }
                    "title" | "textarea" => return TokenSinkResult::RawData(RawKind::Rcdata),
                    _ => {}
                },
                _ => {}
            }
            TokenSinkResult::Continue
        }
    }

    fn run<S: TokenSink>(sink: S, html: &str) -> S {
        let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
        let queue = BufferQueue::default();
        queue.push_back(StrTendril::from_slice(html));
        let _ = tokenizer.feed(&queue);
        tokenizer.end();
        tokenizer.sink
    }

    pub fn noop(html: &str) -> usize {
        run(Noop, html);
        1
    }

    pub fn raw_switch(html: &str) -> usize {
        run(RawSwitch(Cell::new(0)), html).0.get()
    }
}

// ---------------------------------------------------------------- html5gum

fn html5gum_default(html: &str) -> usize {
    let mut emitter = html5gum::DefaultEmitter::default();
    emitter.naively_switch_states(true);
    let mut n = 0;
    for token in html5gum::Tokenizer::new_with_emitter(html, emitter).flatten() {
        if let html5gum::Token::String(s) = token {
            n += s.value.len();
        } else {
            n += 1;
        }
    }
    n
}

fn html5gum_callback(html: &str) -> usize {
    use html5gum::emitters::callback::{CallbackEmitter, CallbackEvent};
    let mut n = 0usize;
    {
        let mut emitter = CallbackEmitter::new(
            |event: CallbackEvent<'_>,
             _span: html5gum::Span<()>|
             -> Option<std::convert::Infallible> {
                match event {
                    CallbackEvent::String { value } => n += value.len(),
                    _ => n += 1,
                }
                None
            },
        );
        emitter.naively_switch_states(true);
        let _ = html5gum::Tokenizer::new_with_emitter(html, emitter).finish();
    }
    n
}

// ---------------------------------------------------------------- lol_html

/// Pages lol_html gave up on (a rewriting error), counted in the warm-up pass.
static LOL_ERRORS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static TL_ERRORS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Feeds the whole page to a rewriter and ends it, counting the pages it fails on.
fn rewrite<O: lol_html::OutputSink>(mut rewriter: lol_html::HtmlRewriter<'_, O>, html: &str) {
    if rewriter
        .write(html.as_bytes())
        .and_then(|()| rewriter.end())
        .is_err()
    {
        LOL_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

fn lol_html_star(html: &str) -> usize {
    use lol_html::{HtmlRewriter, Settings, element, text};
    let elements = Cell::new(0usize);
    let text_bytes = Cell::new(0usize);
    let rewriter = HtmlRewriter::new(
        Settings::new()
            .append_element_content_handler(element!("*", |_el| {
                elements.set(elements.get() + 1);
                Ok(())
            }))
            .append_element_content_handler(text!("*", |t| {
                text_bytes.set(text_bytes.get() + t.as_str().len());
                Ok(())
            })),
        |_: &[u8]| {},
    );
    rewrite(rewriter, html);
    elements.get() + text_bytes.get()
}

fn lol_html_doc_text(html: &str) -> usize {
    use lol_html::{HtmlRewriter, Settings, doc_text};
    let text_bytes = Cell::new(0usize);
    let rewriter = HtmlRewriter::new(
        Settings::new().append_document_content_handler(doc_text!(|t| {
            text_bytes.set(text_bytes.get() + t.as_str().len());
            Ok(())
        })),
        |_: &[u8]| {},
    );
    rewrite(rewriter, html);
    text_bytes.get()
}

// ---------------------------------------------------------------- tl

fn tl_parse(html: &str) -> usize {
    match tl::parse(html, tl::ParserOptions::default()) {
        Ok(dom) => dom.nodes().len(),
        Err(_) => {
            TL_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            0
        }
    }
}

// ---------------------------------------------------------------- memchr scan

/// A lower bound, not a tokenizer: finds `<`, classifies comment / end tag / start tag /
/// other markup, skips to the closing `>` (quotes not honoured), skips the bodies of script,
/// style, textarea and title to their end tag (ASCII case-insensitive), and counts the text
/// between tags. No entities, no attributes, no CDATA, no error recovery beyond that.
fn memchr_scan(html: &str) -> usize {
    use memchr::{memchr, memmem};
    let b = html.as_bytes();
    let (mut i, mut text, mut tags) = (0usize, 0usize, 0usize);
    let comment_end = memmem::Finder::new(b"-->");
    while i < b.len() {
        let Some(lt) = memchr(b'<', &b[i..]) else {
            text += b.len() - i;
            break;
        };
        text += lt;
        i += lt + 1;
        if b[i..].starts_with(b"!--") {
            i = match comment_end.find(&b[i + 3..]) {
                Some(e) => i + 3 + e + 3,
                None => b.len(),
            };
            continue;
        }
        let end_tag = b.get(i) == Some(&b'/');
        let name_start = i + end_tag as usize;
        if !b.get(name_start).is_some_and(u8::is_ascii_alphabetic)
            && b.get(i) != Some(&b'!')
            && b.get(i) != Some(&b'?')
        {
            text += 1; // a lone `<` is text
            continue;
        }
        let mut name_end = name_start;
        while name_end < b.len() && b[name_end].is_ascii_alphanumeric() {
            name_end += 1;
        }
        let name = &b[name_start..name_end];
        i = match memchr(b'>', &b[name_end..]) {
            Some(e) => name_end + e + 1,
            None => b.len(),
        };
        tags += 1;
        if !end_tag {
            let raw: Option<&[u8]> = [&b"script"[..], b"style", b"textarea", b"title"]
                .into_iter()
                .find(|r| name.eq_ignore_ascii_case(r));
            if let Some(raw) = raw {
                // Skip to `</name`, case-insensitive.
                let mut j = i;
                loop {
                    match memmem::find(&b[j..], b"</") {
                        Some(e) => {
                            let at = j + e + 2;
                            if b.len() >= at + raw.len()
                                && b[at..at + raw.len()].eq_ignore_ascii_case(raw)
                            {
                                text += at - 2 - i;
                                i = at - 2;
                                break;
                            }
                            j = at;
                        }
                        None => {
                            text += b.len() - i;
                            i = b.len();
                            break;
                        }
                    }
                }
            }
        }
    }
    text + tags
}

// ---------------------------------------------------------------- timing

type Candidate = (&'static str, fn(&str) -> usize);

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let shared = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(15);
    let corpora = [
        load("pages-zh", &shared.join("pages-zh/original")),
        load("real-pages", &shared.join("real-pages")),
    ];
    for c in &corpora {
        assert!(!c.pages.is_empty(), "no pages under {}", shared.display());
        println!(
            "{}: {} pages, {:.2} MB as stored ({} not UTF-8, decoded once up front), {:.2} MB as UTF-8",
            c.name,
            c.pages.len(),
            c.raw_bytes as f64 / 1e6,
            c.non_utf8,
            c.utf8_bytes() as f64 / 1e6
        );
    }
    let candidates: [Candidate; 8] = [
        ("html5ever 0.40 Tokenizer, no-op sink", h5e::noop),
        (
            "html5ever 0.40 Tokenizer, sink switching raw-text states",
            h5e::raw_switch,
        ),
        (
            "html5gum 0.9, DefaultEmitter (Token iterator)",
            html5gum_default,
        ),
        (
            "html5gum 0.9, CallbackEmitter (counts only)",
            html5gum_callback,
        ),
        (
            "lol_html 3, element!+text! on `*` (count only)",
            lol_html_star,
        ),
        ("lol_html 3, doc_text! only (count only)", lol_html_doc_text),
        ("tl 0.7 parse", tl_parse),
        ("memchr scan (lower bound, not spec)", memchr_scan),
    ];
    // Warm-up: one pass of each, and a check that each saw something.
    for c in &corpora {
        for (name, f) in &candidates {
            let n: usize = c.pages.iter().map(|p| f(p)).sum();
            assert!(n > 0, "{name} produced nothing on {}", c.name);
        }
    }
    println!(
        "warm-up: lol_html errors on {} page passes, tl errors on {} (both count as done pages)",
        LOL_ERRORS.load(std::sync::atomic::Ordering::Relaxed),
        TL_ERRORS.load(std::sync::atomic::Ordering::Relaxed)
    );
    // secs[corpus][candidate] = one sample per round.
    let mut secs = vec![vec![Vec::new(); candidates.len()]; corpora.len()];
    let started = Instant::now();
    for round in 0..rounds {
        for k in 0..candidates.len() {
            let idx = (k + round) % candidates.len();
            let f = candidates[idx].1;
            for (ci, c) in corpora.iter().enumerate() {
                let t = Instant::now();
                let mut n = 0usize;
                for p in &c.pages {
                    n = n.wrapping_add(f(black_box(p)));
                }
                black_box(n);
                secs[ci][idx].push(t.elapsed().as_secs_f64());
            }
        }
    }
    eprintln!("{rounds} rounds in {:.1}s", started.elapsed().as_secs_f64());
    println!();
    println!(
        "| candidate | pages-zh MB/s median (best) | real-pages MB/s median (best) | vs html5ever raw-switch, pages-zh / real-pages |"
    );
    println!("|---|---|---|---|");
    let rate = |ci: usize, idx: usize| -> (f64, f64) {
        let mb = corpora[ci].utf8_bytes() as f64 / 1e6;
        let mut s = secs[ci][idx].clone();
        let med = median(&mut s);
        let best = s.iter().cloned().fold(f64::INFINITY, f64::min);
        (mb / med, mb / best)
    };
    for (idx, (name, _)) in candidates.iter().enumerate() {
        let (zm, zb) = rate(0, idx);
        let (rm, rb) = rate(1, idx);
        let (zref, _) = rate(0, 1);
        let (rref, _) = rate(1, 1);
        println!(
            "| {name} | {zm:.1} ({zb:.1}) | {rm:.1} ({rb:.1}) | {:.2}× / {:.2}× |",
            zm / zref,
            rm / rref
        );
    }
}
