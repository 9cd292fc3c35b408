//! Embeds the workspace's `rulesets/` (TOML files and the term/domain lists they reference)
//! into the binary.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let rulesets = root.join("../../rulesets");
    // A missing directory would build a binary with no bundled rules at all.
    assert!(
        rulesets.is_dir(),
        "the bundled rulesets are missing: {} is not a directory",
        rulesets.display()
    );
    println!("cargo:rerun-if-changed={}", rulesets.display());
    let mut files = Vec::new();
    collect(&rulesets, &mut files);
    files.sort();
    let mut out =
        String::from("/// `(path relative to rulesets/, contents)` of every bundled file.\n");
    out.push_str("pub(crate) static FILES: &[(&str, &[u8])] = &[\n");
    for path in &files {
        let relative = path
            .strip_prefix(&rulesets)
            .expect("walked under rulesets/")
            .to_string_lossy()
            .replace('\\', "/");
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(
            out,
            "    ({relative:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("bundled_rulesets.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "toml" || e == "txt") {
            files.push(path);
        }
    }
}
