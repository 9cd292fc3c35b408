//! What a rule's regexes cost: their compiled size, and their time on a reference page
//! against a plain regex timed on the same page in the same run.
//!
//! Loading already refuses regexes that cannot compile within the size limit and those whose
//! repetitions reach too far. What remains can still be slow in ways no static rule sees
//! (classes that blow up the lazy DFA, look-arounds the regex crate cannot do fast), so
//! `rules check` runs each one. Times are ratios to a baseline, so a debug build or a busy
//! machine moves both sides alike.

use std::time::{Duration, Instant};

use regex::Regex;

use super::{Diagnostic, Level, Rule};
use crate::matcher::{compile_regex, compile_regex_within};

/// A regex compiling to more than this is reported: it still works (the hard limit is the
/// matcher's), but it costs memory in every scanning thread's cache.
pub const WARN_COMPILED_BYTES: usize = 4 << 20;
/// A regex this many times slower than the baseline is reported...
pub const WARN_SLOWDOWN: f64 = 500.0;
/// ...and this many times slower is refused: at release speed it would scan well under a
/// megabyte a second.
pub const MAX_SLOWDOWN: f64 = 2000.0;

/// The baseline: a plain regex with a class, a repetition and a literal, as rules write them.
const BASELINE: &str = r"\d{3,}[a-z]+";

/// Lines the reference page is made of: Chinese prose, markup, script, URLs and numbers, as
/// pages mix them. Every rule's own match examples are mixed in as well, so a regex is timed
/// where its gates pass and it runs for real.
const FILLER: &[&str] = &[
    "本网站提供最新的新闻资讯，内容涵盖国内、国际、财经、体育、娱乐等多个方面。",
    "<div class=\"item\"><a href=\"https://www.example.com/news/2024/01/15/123456.html\">查看详情</a></div>",
    "var config = {id: 1024, name: 'widget', url: '//cdn.example.net/js/app.min.js?v=20240115'};",
    "联系电话：010-12345678 邮箱：service@example.com 京ICP备12345678号-1 京公网安备11010502030143号",
    "The quick brown fox jumps over the lazy dog. 1234567890 ABCDEFGHIJ abcdefghij",
    "<script>document.getElementById('main').innerHTML = '<p>' + data.title + '</p>';</script>",
    "天气预报：明天晴转多云，气温15至25摄氏度，东南风三到四级。市民出行请注意防晒。",
];

/// The reference page: filler and every rule's match examples, about `size` bytes, lower
/// case as the scanner's normalized text is.
pub fn reference_page(rules: &[Rule], size: usize) -> String {
    let examples: Vec<&str> = rules
        .iter()
        .flat_map(|r| r.examples_match.iter().map(|e| e.text()))
        .map(|t| &t[..t.floor_char_boundary(400)])
        .collect();
    let mut page = String::with_capacity(size + 512);
    let mut i = 0;
    while page.len() < size {
        page.push_str(FILLER[i % FILLER.len()]);
        page.push('\n');
        if let Some(example) = examples.get(i % examples.len().max(1)) {
            page.push_str(example);
            page.push('\n');
        }
        i += 1;
    }
    page.to_lowercase()
}

/// Bytes of the reference page each regex is timed on.
pub const REFERENCE_BYTES: usize = 64 << 10;

/// Warnings and errors about the rules' regexes, each naming its rule and file.
pub fn regex_costs(rules: &[Rule]) -> Vec<Diagnostic> {
    let page = reference_page(rules, REFERENCE_BYTES);
    let baseline = compile_regex(BASELINE).expect("the baseline compiles");
    // A regex that is very slow is judged on the short sample alone: its time per byte is
    // what matters, and on the whole page it could take minutes.
    let samples: Vec<&str> = [SAMPLE_BYTES, REFERENCE_BYTES]
        .into_iter()
        .map(|n| &page[..page.floor_char_boundary(n)])
        .collect();
    let mut diagnostics = Vec::new();
    for rule in rules {
        for pattern in &rule.regex {
            let mut report = |level, message| {
                diagnostics.push(Diagnostic {
                    level,
                    file: rule.location.file.clone(),
                    line: Some(rule.location.line),
                    rule: Some(rule.id.to_string()),
                    message,
                })
            };
            // Refused at load already when it does not compile at all.
            let Ok(regex) = compile_regex(pattern) else {
                continue;
            };
            if compile_regex_within(pattern, WARN_COMPILED_BYTES).is_err() {
                report(
                    Level::Warning,
                    format!(
                        "the regex `{pattern}` compiles to more than {} KiB: narrow its classes \
                         (`\\w` and `.` take every script) or its repetitions",
                        WARN_COMPILED_BYTES >> 10
                    ),
                );
            }
            let (took, slowdown, bytes) = measure(&regex, &baseline, &samples);
            let measured = format!(
                "the regex `{pattern}` took {:.1} ms on {:.1} KiB of a reference page, \
                 {slowdown:.0}× a plain regex timed in the same run",
                took.as_secs_f64() * 1e3,
                bytes as f64 / 1024.0
            );
            if slowdown > MAX_SLOWDOWN {
                report(
                    Level::Error,
                    format!(
                        "{measured} (over {MAX_SLOWDOWN:.0}×): it would stall scans; bound it, or match its parts as terms with `near`"
                    ),
                );
            } else if slowdown > WARN_SLOWDOWN {
                report(
                    Level::Warning,
                    format!("{measured} (over {WARN_SLOWDOWN:.0}×): it will slow every scan"),
                );
            }
        }
    }
    diagnostics
}

/// Bytes of the first, short sample of the reference page.
const SAMPLE_BYTES: usize = 1 << 10;

/// The regex's time, its slowdown against the baseline, and the bytes it was timed on: on
/// the short sample when that already shows it too slow, else on the whole page.
fn measure(regex: &Regex, baseline: &Regex, samples: &[&str]) -> (Duration, f64, usize) {
    let mut result = (Duration::ZERO, 0.0, 0);
    for &sample in samples {
        let (took, base) = time_against(regex, baseline, sample);
        let slowdown = took.as_secs_f64() / base.as_secs_f64().max(1e-9);
        result = (took, slowdown, sample.len());
        if slowdown > MAX_SLOWDOWN {
            break;
        }
    }
    result
}

/// The regex's and the baseline's times on `page`, each the fastest of a few runs taken
/// turn about (one, when the regex is already slow), in the thread's CPU time: the least
/// disturbed by whatever else the machine does.
fn time_against(regex: &Regex, baseline: &Regex, page: &str) -> (Duration, Duration) {
    let (mut best, mut best_baseline) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        best_baseline = best_baseline.min(cpu_time(|| baseline.find_iter(page).count()));
        let took = cpu_time(|| regex.find_iter(page).count());
        best = best.min(took);
        if took > Duration::from_millis(200) {
            break;
        }
    }
    (best, best_baseline)
}

fn cpu_time(work: impl FnOnce() -> usize) -> Duration {
    let clock = cpu_time::ThreadTime::try_now().ok();
    let wall = Instant::now();
    std::hint::black_box(work());
    clock
        .and_then(|c| c.try_elapsed().ok())
        .unwrap_or_else(|| wall.elapsed())
}
