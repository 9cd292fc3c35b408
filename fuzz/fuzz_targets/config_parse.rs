//! Arbitrary (lossily UTF-8) TOML text → `Config::parse(text, "fuzz.toml", base)`.
//!
//! Must hold for every input:
//! * `Config::parse` never panics, and gives the same answer twice;
//! * an error list is never empty, and every error names where it is: a non-empty message and
//!   a non-empty path, which is `line N` (N within the text) when the TOML does not parse,
//!   and otherwise starts with a top-level key of the text (`crawl.max_pages`,
//!   `sites[3].domains[0]`, `webhooks[0].secret_file`, or the unknown key itself);
//! * an accepted config is consistent: one listen address per `http.listen` entry, unique site
//!   ids, durations at least their minimums.
//!
//! `base` is a fresh directory holding one file, `secret.txt`. Inputs whose `*_file` keys name
//! anything but a plain relative path (no `..`, not absolute) are skipped: the config reads
//! secret files without a size limit or a file-type check, so `metrics_token_file =
//! "/dev/zero"` would run the fuzzer out of memory and a FIFO would hang it (see README.md).
#![no_main]

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sitepatrol::config::Config;
use toml::de::{DeTable, DeValue};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if !hermetic(&text) {
        return;
    }
    let base = base_dir();
    let result = Config::parse(&text, "fuzz.toml", base);
    let again = Config::parse(&text, "fuzz.toml", base);
    match (&result, &again) {
        (Ok(a), Ok(b)) => assert_eq!(
            (&a.listen, format!("{:?}", a.times), a.sites.len()),
            (&b.listen, format!("{:?}", b.times), b.sites.len()),
            "not deterministic"
        ),
        (Err(a), Err(b)) => assert_eq!(a.errors, b.errors, "not deterministic"),
        _ => panic!("not deterministic: {result:?} then {again:?}"),
    }
    match result {
        Ok(config) => check_config(&config),
        Err(errors) => {
            assert_eq!(errors.source, "fuzz.toml");
            assert!(!errors.errors.is_empty(), "an error without errors");
            let table = toml::from_str::<toml::Table>(&text);
            for error in &errors.errors {
                assert!(
                    !error.message.trim().is_empty(),
                    "an error without a message: {error:?}"
                );
                assert!(!error.path.is_empty(), "an error without a path: {error:?}");
                match &table {
                    Err(_) => {
                        let line: usize = error
                            .path
                            .strip_prefix("line ")
                            .and_then(|n| n.parse().ok())
                            .unwrap_or_else(|| panic!("a syntax error not at a line: {error:?}"));
                        let lines = text.matches('\n').count() + 1;
                        assert!(
                            (1..=lines).contains(&line),
                            "line {line} of {lines}: {error:?}"
                        );
                    }
                    Ok(table) => assert!(
                        table.keys().any(|key| names_key(&error.path, key)),
                        "the path of {error:?} names no key of {:?}",
                        table.keys().collect::<Vec<_>>()
                    ),
                }
            }
            let _ = errors.to_string();
        }
    }
});

/// `path` is `key`, or starts with `key` followed by `.` or `[`.
fn names_key(path: &str, key: &str) -> bool {
    path.strip_prefix(key)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

fn check_config(config: &Config) {
    assert_eq!(config.listen.len(), config.http.listen.len());
    assert!(!config.listen.is_empty());
    assert_eq!(config.api_listen.len(), config.api.listen.len());
    let mut ids: Vec<&str> = config.sites.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate site ids accepted");
    let ms = Duration::from_millis;
    let t = &config.times;
    assert!(t.crawl_max_time >= ms(100));
    assert!(t.connect_timeout >= ms(10));
    assert!(t.first_byte_timeout >= ms(10));
    assert!(t.timeout >= ms(10));
    assert!(t.interval >= ms(100));
    assert!(t.header_read_timeout >= ms(100));
    assert!(t.body_read_timeout >= ms(100));
    assert!(t.api_failure_window >= ms(1000));
    assert!(t.session_ttl >= ms(60_000));
    assert!((0.0..=0.5).contains(&config.schedule.jitter));
    assert!(!config.rules.paths.is_empty());
}

/// A fresh directory for `base`, with `secret.txt` in it.
fn base_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("sitepatrol-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the base directory");
        std::fs::write(dir.join("secret.txt"), "s3cret-token-value\n").expect("write secret.txt");
        dir
    })
}

/// Whether every `*_file` key (at any depth, however its name is spelled) holds a plain
/// relative path, so that the config reads no file outside `base`. Text that does not parse
/// yields no config, so it reads nothing.
fn hermetic(text: &str) -> bool {
    match DeTable::parse(text) {
        Ok(table) => table_ok(table.get_ref()),
        Err(_) => true,
    }
}

fn table_ok(table: &DeTable<'_>) -> bool {
    table.iter().all(|(key, value)| {
        let value = value.get_ref();
        if key.get_ref().ends_with("_file") {
            match value {
                DeValue::String(path) => plain_relative(path),
                // Not a string: a type error, nothing is read.
                other => value_ok(other),
            }
        } else {
            value_ok(value)
        }
    })
}

fn value_ok(value: &DeValue<'_>) -> bool {
    match value {
        DeValue::Table(table) => table_ok(table),
        DeValue::Array(items) => items.iter().all(|item| value_ok(item.get_ref())),
        _ => true,
    }
}

fn plain_relative(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}
