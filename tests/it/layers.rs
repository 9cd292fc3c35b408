//! The layering the workspace promises (docs/ARCHITECTURE.md): which crate may depend on
//! which, that only the binary's crate pulls in CLI and logging-setup crates, and that no two
//! modules of a crate import each other, directly or round a longer loop.
//!
//! Cargo already refuses a cycle between crates; what it cannot see is a sibling crate added
//! where the picture has no arrow, or a cycle between modules inside one crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: &[(&str, &str)] = &[
    ("sitepatrol-core", "crates/core"),
    ("sitepatrol-crawl", "crates/crawl"),
    ("sitepatrol-store", "crates/store"),
    ("sitepatrol-server", "crates/server"),
    ("sitepatrol", "."),
];

/// The arrows of the picture: each crate and the workspace crates it may use.
const ALLOWED: &[(&str, &[&str])] = &[
    ("sitepatrol-core", &[]),
    ("sitepatrol-crawl", &["sitepatrol-core"]),
    ("sitepatrol-store", &["sitepatrol-core"]),
    (
        "sitepatrol-server",
        &["sitepatrol-core", "sitepatrol-store"],
    ),
    (
        "sitepatrol",
        &[
            "sitepatrol-core",
            "sitepatrol-crawl",
            "sitepatrol-store",
            "sitepatrol-server",
        ],
    ),
];

/// Crates that belong to a program's entry point, never to a library layer.
const BINARY_ONLY: &[&str] = &["clap", "indicatif", "tracing-subscriber"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn normal_dependencies(manifest: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let value: toml::Table = toml::from_str(&text).unwrap();
    value
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn each_crate_depends_only_on_the_layers_below_it() {
    let mut wrong = Vec::new();
    for (name, dir) in CRATES {
        let deps = normal_dependencies(&root().join(dir).join("Cargo.toml"));
        let allowed = ALLOWED.iter().find(|(n, _)| n == name).unwrap().1;
        for dep in deps.iter().filter(|d| d.starts_with("sitepatrol")) {
            if !allowed.contains(&dep.as_str()) {
                wrong.push(format!("{name} depends on {dep}, which is not below it"));
            }
        }
        if *name != "sitepatrol" {
            for dep in deps.iter().filter(|d| BINARY_ONLY.contains(&d.as_str())) {
                wrong.push(format!(
                    "{name} depends on {dep}, which only the binary may"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A module of a crate: `rules` for `src/rules/` or `src/rules.rs`, and `rules/eval` for a
/// file inside `src/rules/`.
type Module = String;

/// The code of a file without its unit tests: tests may reach anywhere in their crate.
fn without_tests(text: &str) -> &str {
    let cut = ["#[cfg(test)]\nmod tests", "#[cfg(test)]\npub mod tests"]
        .iter()
        .filter_map(|marker| text.find(marker))
        .min();
    &text[..cut.unwrap_or(text.len())]
}

/// The code without its comment lines: a doc comment naming a module is no import.
fn without_comments(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file is, and the module its siblings' paths start from.
fn module_of(src: &Path, file: &Path) -> Option<(Module, Option<String>)> {
    let relative = file.strip_prefix(src).ok()?;
    let parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    match parts.as_slice() {
        [top] if top == "lib" || top == "main" => None,
        [top] => Some((top.clone(), None)),
        [_, last] if last == "tests" => None,
        [top, last] if last == "mod" => Some((top.clone(), None)),
        [top, sub] => Some((format!("{top}/{sub}"), Some(top.clone()))),
        // Deeper files belong to their second-level module.
        [top, sub, ..] => Some((format!("{top}/{sub}"), Some(top.clone()))),
        [] => None,
    }
}

/// Edges between modules of one level: top-level modules through `crate::a`, and sibling
/// files of one directory through `super::b` or `crate::top::b`. A parent and its own
/// children use each other by design and are not edges.
fn module_edges(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let siblings: BTreeSet<Module> = files
        .iter()
        .filter_map(|f| module_of(src, f))
        .map(|(m, _)| m)
        .collect();
    let crate_path = regex::Regex::new(r"\bcrate::([a-z_0-9]+)(?:::([a-z_0-9]+))?").unwrap();
    let super_path = regex::Regex::new(r"\bsuper::([a-z_0-9]+)").unwrap();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for file in &files {
        let Some((module, parent)) = module_of(src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        let code = without_comments(without_tests(&text));
        let code = code.as_str();
        let top = module.split('/').next().unwrap().to_string();
        let mut add = |to: Module| {
            if to != module && to != top {
                edges.entry(module.clone()).or_default().insert(to);
            }
        };
        for c in crate_path.captures_iter(code) {
            let first = c[1].to_string();
            if first != top {
                add(first);
            } else if let Some(second) = c.get(2)
                && parent.is_some()
            {
                let sibling = format!("{first}/{}", second.as_str());
                if siblings.contains(&sibling) {
                    add(sibling);
                }
            }
        }
        if let Some(parent) = &parent {
            for c in super_path.captures_iter(code) {
                let sibling = format!("{parent}/{}", &c[1]);
                if siblings.contains(&sibling) {
                    add(sibling);
                }
            }
        }
    }
    edges
}

/// One cycle of the graph, if it has any, as the path round it.
fn find_cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        node: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        path: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(start) = path.iter().position(|m| m == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let mut cycles = Vec::new();
    for (name, dir) in CRATES {
        let edges = module_edges(&root().join(dir).join("src"));
        assert!(
            !edges.is_empty() || *name == "sitepatrol-store",
            "{name}: no imports read"
        );
        if let Some(cycle) = find_cycle(&edges) {
            cycles.push(format!("{name}: {}", cycle.join(" -> ")));
        }
    }
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_cycle_finder_finds_a_loop_and_passes_a_tree() {
    let graph = |pairs: &[(&str, &str)]| {
        let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        for (from, to) in pairs {
            edges
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string());
        }
        edges
    };
    let looped = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("a", "d")]);
    assert_eq!(find_cycle(&looped).unwrap(), ["a", "b", "c", "a"]);
    let tree = graph(&[("a", "b"), ("a", "c"), ("b", "c"), ("d", "a")]);
    assert_eq!(find_cycle(&tree), None);
}

#[test]
fn sibling_imports_are_read_from_super_and_crate_paths() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("api")).unwrap();
    std::fs::write(src.join("api/mod.rs"), "mod handlers; mod notice;").unwrap();
    std::fs::write(
        src.join("api/handlers.rs"),
        "use super::notice::generate;\n#[cfg(test)]\nmod tests { use crate::ui::x; }",
    )
    .unwrap();
    std::fs::write(
        src.join("api/notice.rs"),
        "//! Uses [`crate::ui`] in prose only.\nuse crate::api::handlers::blocking;",
    )
    .unwrap();
    std::fs::write(src.join("ui.rs"), "use crate::api::Api;").unwrap();
    let edges = module_edges(src);
    assert_eq!(
        edges["api/handlers"],
        BTreeSet::from(["api/notice".to_string()])
    );
    assert_eq!(find_cycle(&edges).unwrap().len(), 3);
    assert_eq!(edges["ui"], BTreeSet::from(["api".to_string()]));
    assert!(
        !edges["api/notice"].contains("ui"),
        "a comment counted as an import"
    );
}
