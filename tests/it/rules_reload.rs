//! Hot reload: a handle serves one compiled ruleset, reloads it from its sources, keeps the old
//! one when the new one does not validate, and can be used from many threads at once.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sitepatrol_core::extract::ZoneKind;
use sitepatrol_core::rules::{Level, RuleSource, RulesHandle};

const RULE: &str = r#"[[rule]]
id = "t.listed"
category = "gambling"
clause = "§2(7)"
severity = "high"
description = "terms from a list"
terms_file = "terms.txt"
examples.match = ["网上赌场"]
examples.no_match = ["今天天气很好"]
"#;

fn setup(terms: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.toml"), RULE).unwrap();
    std::fs::write(dir.path().join("terms.txt"), terms).unwrap();
    dir
}

fn hits(handle: &RulesHandle, text: &str) -> usize {
    handle.current().scan_text(ZoneKind::Text, text, "t").len()
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn a_reload_picks_up_changed_lists() {
    let dir = setup("网上赌场\n");
    let (handle, first) =
        RulesHandle::new(vec![RuleSource::Path(dir.path().to_path_buf())]).unwrap();
    assert_eq!((first.generation, first.rules), (1, 1));
    assert_eq!(hits(&handle, "百家乐真人"), 0);
    write(dir.path(), "terms.txt", "网上赌场\n百家乐真人\n");
    // Nothing changes until the reload.
    assert_eq!(hits(&handle, "百家乐真人"), 0);
    let outcome = handle.reload().unwrap();
    assert_eq!(outcome.generation, 2);
    assert_eq!(handle.generation(), 2);
    assert_eq!(hits(&handle, "百家乐真人"), 1);
}

#[test]
fn a_reload_that_fails_validation_keeps_the_old_rules_and_says_why() {
    let dir = setup("网上赌场\n");
    let (handle, _) = RulesHandle::new(vec![RuleSource::Path(dir.path().to_path_buf())]).unwrap();
    let before = handle.current();
    // A broken rule file: an unknown key.
    write(
        dir.path(),
        "rules.toml",
        &RULE.replace("terms_file", "termz_file"),
    );
    let diagnostics = handle.reload().unwrap_err();
    assert!(
        diagnostics
            .iter()
            .any(|d| d.level == Level::Error && d.message.contains("termz_file")),
        "{diagnostics:#?}"
    );
    assert!(Arc::ptr_eq(&before, &handle.current()));
    assert_eq!(handle.generation(), 1);
    assert_eq!(hits(&handle, "网上赌场"), 1);
    // A list that breaks the rule's own examples is refused too.
    write(dir.path(), "rules.toml", RULE);
    write(dir.path(), "terms.txt", "天气\n");
    let diagnostics = handle.reload().unwrap_err();
    assert!(
        diagnostics.iter().any(|d| d.message.contains("example")),
        "{diagnostics:#?}"
    );
    assert_eq!(hits(&handle, "网上赌场"), 1);
    assert_eq!(hits(&handle, "天气"), 0);
    // A missing list file as well.
    std::fs::remove_file(dir.path().join("terms.txt")).unwrap();
    let diagnostics = handle.reload().unwrap_err();
    assert!(diagnostics.iter().any(|d| d.message.contains("terms.txt")));
    assert_eq!(hits(&handle, "网上赌场"), 1);
}

#[test]
fn scans_and_reloads_run_concurrently() {
    let dir = setup("网上赌场\n");
    let (handle, _) = RulesHandle::new(vec![RuleSource::Path(dir.path().to_path_buf())]).unwrap();
    let handle = Arc::new(handle);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let handle = Arc::clone(&handle);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut scans = 0u64;
                while !stop.load(Ordering::Relaxed) || scans == 0 {
                    // Every ruleset that ever serves has the term: no scan may miss it.
                    assert_eq!(hits(&handle, "欢迎来到网上赌场"), 1);
                    scans += 1;
                }
                scans
            })
        })
        .collect();
    let reloaders: Vec<_> = (0..2)
        .map(|_| {
            let handle = Arc::clone(&handle);
            std::thread::spawn(move || {
                for _ in 0..10 {
                    handle.reload().expect("the sources stay valid");
                }
            })
        })
        .collect();
    for r in reloaders {
        r.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let scans: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(scans > 0);
    // Twenty reloads, one at a time, each one generation.
    assert_eq!(handle.generation(), 21);
}

#[test]
fn the_handle_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RulesHandle>();
}

#[test]
fn a_handle_over_invalid_sources_is_not_created() {
    let dir = setup("网上赌场\n");
    write(dir.path(), "rules.toml", "[[rule]]\nid = \"broken\"\n");
    let Err(diagnostics) = RulesHandle::new(vec![RuleSource::Path(dir.path().to_path_buf())])
    else {
        panic!("invalid rules made a handle");
    };
    assert!(diagnostics.iter().any(|d| d.level == Level::Error));
}
