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
mod crawl_site;
mod daemon;
mod decode_accuracy;
mod extract_gold;
mod fetch_tls;
mod filing_pages_zh;
mod filing_registry_http;
mod filing_sites;
mod hostile_report;
mod kill_loop;
mod layers;
mod properties;
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
