//! The normalizer against a generic NFKC + lower-case chain, and the whole file pipeline
//! (decode + extract + normalize + match) on the real pages of pages-zh. Figures:
//! benches/README.md.
//!
//! cargo bench --bench pipeline

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sitepatrol_core::decode::{DecodeOptions, decode};
use sitepatrol_core::extract::{ContentKind, extract_html};
use sitepatrol_core::normalize::{Derived, denoise_into, normalize_into};
use sitepatrol_core::rules::{self, RuleSource, Ruleset};
use sitepatrol_core::scan::{ScanOptions, Scanner};
use unicode_normalization::UnicodeNormalization;

fn normalizing(c: &mut Criterion) {
    let Some(data) = common::shared_data() else {
        return;
    };
    let text = common::extracted_text(&data, 7_500_000);
    let mut group = c.benchmark_group("normalize");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(6));
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("generic_nfkc_lowercase", |b| {
        b.iter(|| {
            let out: String = text.nfkc().flat_map(char::to_lowercase).collect();
            black_box(out.len())
        })
    });
    let mut out = Derived::new();
    group.bench_function("sitepatrol_normalize", |b| {
        b.iter(|| {
            normalize_into(&text, &mut out);
            black_box(out.text.len())
        })
    });
    let mut normalized = Derived::new();
    normalize_into(&text, &mut normalized);
    let mut denoised = Derived::new();
    group.bench_function("sitepatrol_denoise", |b| {
        b.iter(|| {
            denoise_into(&normalized.text, &mut denoised);
            black_box(denoised.text.len())
        })
    });
    group.finish();
}

/// A ruleset of the bundled rules plus one rule over a 100k-term dictionary, the size of a
/// large operator list.
fn big_ruleset(data: &std::path::Path, dir: &std::path::Path) -> Ruleset {
    let terms = common::dictionary(data, 100_000, 0.2);
    std::fs::write(dir.join("terms.txt"), terms.join("\n")).expect("temp dir is writable");
    std::fs::write(
        dir.join("big.toml"),
        r#"[[rule]]
id = "bench.operator_list"
category = "other_prohibited"
clause = "§2(11)"
severity = "low"
description = "a 100k-term operator list"
terms_file = "terms.txt"
"#,
    )
    .expect("temp dir is writable");
    match rules::load(&[RuleSource::Bundled, RuleSource::Path(dir.to_path_buf())]) {
        Ok((ruleset, _)) => ruleset,
        Err(d) => panic!("bench ruleset does not load: {d:#?}"),
    }
}

/// A copy of `rulesets/` in `dir` whose every file sets `segment` to `segment` in its
/// `[defaults]`, loaded.
fn bundled_with_segment(dir: &std::path::Path, segment: bool) -> Ruleset {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rulesets");
    for entry in walkdir::WalkDir::new(&source) {
        let entry = entry.expect("rulesets/ is readable");
        let target = dir.join(entry.path().strip_prefix(&source).expect("under rulesets/"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("temp dir is writable");
        } else if entry.path().extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(entry.path()).expect("ruleset is UTF-8");
            let mut lines: Vec<String> = text
                .lines()
                .filter(|l| !l.starts_with("segment = "))
                .map(str::to_string)
                .collect();
            let option = format!("segment = {segment}");
            match lines.iter().position(|l| l == "[defaults]") {
                Some(at) => lines.insert(at + 1, option),
                None => {
                    lines.insert(0, option);
                    lines.insert(0, "[defaults]".to_string());
                }
            }
            let text = lines.join("\n");
            std::fs::write(&target, text).expect("temp dir is writable");
        } else {
            std::fs::copy(entry.path(), &target).expect("temp dir is writable");
        }
    }
    match rules::load(&[RuleSource::Path(dir.to_path_buf())]) {
        Ok((ruleset, _)) => ruleset,
        Err(d) => panic!("bench ruleset does not load: {d:#?}"),
    }
}

fn pipeline(c: &mut Criterion) {
    let Some(data) = common::shared_data() else {
        return;
    };
    let pages = common::pages(&data);
    let total: usize = pages.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("pipeline_pages_zh");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Bytes(total as u64));

    group.bench_function("decode", |b| {
        b.iter(|| {
            for page in &pages {
                black_box(decode(page, &DecodeOptions::default()).text.len());
            }
        })
    });
    let decoded: Vec<String> = pages
        .iter()
        .map(|p| decode(p, &DecodeOptions::default()).text)
        .collect();
    // The floor under `extract` before the tokenizer switch: html5ever's tokenizer with a sink
    // that only switches into raw-text states and counts characters.
    group.bench_function("html5ever_tokenizer_only", |b| {
        b.iter(|| {
            for page in &decoded {
                black_box(tokenize_only(page));
            }
        })
    });
    // The floor under `extract` since the tokenizer switch (issue 17): html5gum's tokenizer
    // through a callback that counts text, switching raw-text states by the tag's name, with
    // parse errors off, as `extract/tokenize.rs` runs it.
    group.bench_function("html5gum_tokenizer_only", |b| {
        b.iter(|| {
            for page in &decoded {
                black_box(gum_tokenize_only(page));
            }
        })
    });
    group.bench_function("extract", |b| {
        b.iter(|| {
            for page in &decoded {
                black_box(extract_html(page, None).zones.len());
            }
        })
    });

    // The starter rulesets the curated ones replaced (three files, seven rules): the baseline
    // that says what the full rulesets cost, measured in the same run.
    let starter = Arc::new(
        rules::load(&[RuleSource::Path(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/starter-rulesets"),
        )])
        .expect("starter rules load")
        .0,
    );
    let scanner = Scanner::new(starter, ScanOptions::default());
    group.bench_function("full_starter_rules", |b| {
        b.iter(|| {
            for page in &pages {
                let report = scanner.scan_bytes(page, Some(ContentKind::Html), "bench", None, None);
                black_box(report.findings.len());
            }
        })
    });

    let bundled = Arc::new(
        rules::load(&[RuleSource::Bundled])
            .expect("bundled rules load")
            .0,
    );
    let scanner = Scanner::new(bundled, ScanOptions::default());
    group.bench_function("full_bundled_rules", |b| {
        b.iter(|| {
            for page in &pages {
                let report = scanner.scan_bytes(page, Some(ContentKind::Html), "bench", None, None);
                black_box(report.findings.len());
            }
        })
    });

    // The bundled rules with `segment` off everywhere and on everywhere, to put what word
    // segmentation costs beside the rules as shipped.
    for (name, segment) in [
        ("full_bundled_rules_unsegmented", false),
        ("full_bundled_rules_all_segmented", true),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let ruleset = Arc::new(bundled_with_segment(dir.path(), segment));
        let scanner = Scanner::new(ruleset, ScanOptions::default());
        group.bench_function(name, |b| {
            b.iter(|| {
                for page in &pages {
                    let report =
                        scanner.scan_bytes(page, Some(ContentKind::Html), "bench", None, None);
                    black_box(report.findings.len());
                }
            })
        });
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let big = Arc::new(big_ruleset(&data, dir.path()));
    let scanner = Scanner::new(big, ScanOptions::default());
    group.bench_function("full_100k_terms", |b| {
        b.iter(|| {
            for page in &pages {
                let report = scanner.scan_bytes(page, Some(ContentKind::Html), "bench", None, None);
                black_box(report.findings.len());
            }
        })
    });
    group.finish();
}

fn tokenize_only(html: &str) -> usize {
    use html5ever::tendril::StrTendril;
    use html5ever::tokenizer::states::RawKind;
    use html5ever::tokenizer::{
        BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
    };
    struct Count(std::cell::Cell<usize>);
    impl TokenSink for Count {
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
    let tokenizer = Tokenizer::new(Count(std::cell::Cell::new(0)), TokenizerOpts::default());
    let queue = BufferQueue::default();
    queue.push_back(StrTendril::from_slice(html));
    let _ = tokenizer.feed(&queue);
    tokenizer.end();
    tokenizer.sink.0.get()
}

fn gum_tokenize_only(html: &str) -> usize {
    use html5gum::emitters::callback::{CallbackEmitter, CallbackEvent};
    use html5gum::{Emitter, ForwardingEmitter, Span, Tokenizer};
    type Count = fn(CallbackEvent<'_>, Span<()>) -> Option<usize>;
    struct Quiet(CallbackEmitter<Count, usize>);
    impl ForwardingEmitter for Quiet {
        type Token = usize;
        fn inner(&mut self) -> &mut impl Emitter<Token = usize> {
            &mut self.0
        }
        fn should_emit_errors(&mut self) -> bool {
            false
        }
    }
    let count: Count = |event, _| match event {
        CallbackEvent::String { value } => Some(value.len()),
        _ => None,
    };
    let mut emitter = CallbackEmitter::new(count);
    emitter.naively_switch_states(true);
    Tokenizer::new_with_emitter(html, Quiet(emitter))
        .map(|n| n.unwrap_or(0))
        .sum()
}

criterion_group!(benches, normalizing, pipeline);
criterion_main!(benches);
