//! Arbitrary (lossily UTF-8) TOML text → `rules::check` → scan a fixed text with the result.
//!
//! Must hold for every input: loading, validating, compiling, running the rules' examples and
//! scanning never panic (a panic is what the fuzzer reports).
//!
//! Inputs that set `terms_file` are skipped: in-memory rulesets resolve it against the current
//! directory, so the fuzzer would read arbitrary files of the machine: before 418eea5 that meant
//! /dev/zero, /dev/stdin or a FIFO (slow, 256 MiB per read, or a hang); now it means any regular
//! file up to 256 MiB, which still makes runs depend on the machine (see README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sitepatrol_core::extract::ZoneKind;
use sitepatrol_core::rules::{RuleSource, check};
use toml::de::{DeTable, DeValue};

const SAMPLE: &str = "网上赌场 ＡＶ在线 赌 博";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    if sets_terms_file(&text) {
        return;
    }
    let (ruleset, _diagnostics) = check(&[RuleSource::Text {
        name: "fuzz.toml".into(),
        text,
    }]);
    if let Some(ruleset) = ruleset {
        let _ = ruleset.scan_text(ZoneKind::Text, SAMPLE, "fuzz");
        let _ = ruleset.scan_text(ZoneKind::Link, SAMPLE, "fuzz");
    }
});

/// Whether the ruleset text could make the loader open a terms file. The plain substring test
/// catches the ordinary spelling; the parse catches keys spelled with escapes
/// (`"terms\u005ffile"`). Text that does not parse yields no rules, so it opens nothing.
fn sets_terms_file(text: &str) -> bool {
    if text.contains("terms_file") {
        return true;
    }
    match DeTable::parse(text) {
        Ok(table) => table_has_key(table.get_ref()),
        Err(_) => false,
    }
}

fn table_has_key(table: &DeTable<'_>) -> bool {
    table
        .iter()
        .any(|(key, value)| key.get_ref() == "terms_file" || value_has_key(value.get_ref()))
}

fn value_has_key(value: &DeValue<'_>) -> bool {
    match value {
        DeValue::Table(table) => table_has_key(table),
        DeValue::Array(items) => items.iter().any(|item| value_has_key(item.get_ref())),
        _ => false,
    }
}
