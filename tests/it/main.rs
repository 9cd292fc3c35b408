//! The integration tests, as one test binary: each file beside this one is a module, so the
//! workspace is linked into one test executable instead of one per file. Run one file's tests
//! with its module path as the filter, e.g. `cargo test --test it store_suite::`.
//!
//! The modules share one process: nothing here may set environment variables, change the
//! current directory or install process-wide state; a test that needs a process of its own
//! (the hostile report's memory peaks, the store suite's kill -9 child) runs the test binary
//! again for that one test.

mod common;

mod api;
mod cli;
mod crawl_hostile;
mod crawl_scripts;
mod crawl_site;
mod daemon;
mod decode_accuracy;
mod extract_gold;
mod fetch_tls;
mod filing_pages_zh;
mod filing_registry_http;
mod filing_sites;
mod fleet;
mod hostile_report;
mod kill_loop;
mod layers;
mod notice;
mod probes;
mod properties;
mod render;
mod report;
mod resume;
mod rules_brands;
mod rules_bundled;
mod rules_domains;
mod rules_engine;
mod rules_eval;
mod rules_lint;
mod rules_reload;
mod rules_structure;
mod store_suite;
mod token_cli;
mod ui;
mod ui_browser;
mod webhooks;

/// With `autotests = false` nothing compiles a file that main.rs does not name, and its tests
/// would silently never run: a new file straight under tests/, or one under tests/it/ that is
/// missing from the list above.
#[test]
fn every_test_file_is_a_module_of_this_binary() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let names = |dir: &std::path::Path| -> Vec<(String, bool)> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "rs"))
            .map(|p| {
                (
                    p.file_stem().unwrap().to_string_lossy().into_owned(),
                    p.is_dir(),
                )
            })
            .collect()
    };
    let mut stray: Vec<String> = names(&tests)
        .into_iter()
        .filter(|(_, dir)| !dir)
        .map(|(name, _)| format!("tests/{name}.rs: move it to tests/it/ and name it in main.rs"))
        .collect();
    let main = include_str!("main.rs");
    for (name, _) in names(&tests.join("it")) {
        if name != "main" && !main.lines().any(|l| l == format!("mod {name};")) {
            stray.push(format!("tests/it/{name}: main.rs has no `mod {name};`"));
        }
    }
    assert!(stray.is_empty(), "{stray:#?}");
}
