//! The targets of `scan` as a stream of work items, web-root directories walked lazily.
//!
//! A compliance scanner reads what the web server would serve, and a hacked web root is built
//! to be overlooked, so the walk skips nothing a filter would: dot-files and dot-directories
//! (`.cache/`, `.well-known/`, `.git/` are where dropped shells and injected pages sit), and
//! paths named in `.gitignore`, `.ignore` or the global git excludes, which whoever controls
//! the site controls too. Only what is not a regular file is passed over: devices, sockets and
//! FIFOs (opening a FIFO would block the scan forever). Symbolic links to files are read, like
//! the server reads them; symbolic links to directories are followed only when asked, since
//! they may point out of the web root or back into it (loops are reported, not followed).

use std::path::{Path, PathBuf};

/// One unit of work.
pub enum Item {
    /// A file named on the command line: scanned whatever its name or content.
    File(PathBuf),
    /// A file found in a directory: scanned when it is a page (`scan::is_page_file`).
    Walked(PathBuf),
    Stdin,
    /// A target, or a part of a directory, that could not be listed: the name and the error.
    Failed(String, String),
}

/// Every target's items in command-line order; each directory sorted by file name, depth
/// first, so the order is the same on every run. Directories are read as the walk reaches
/// them: memory holds the open directories' listings, not the whole tree.
pub fn items(targets: &[String], follow_links: bool) -> impl Iterator<Item = Item> + Send + '_ {
    targets
        .iter()
        .flat_map(move |target| target_items(target, follow_links))
}

fn target_items(target: &str, follow_links: bool) -> Box<dyn Iterator<Item = Item> + Send> {
    if target == "-" {
        return Box::new(std::iter::once(Item::Stdin));
    }
    let path = Path::new(target);
    match std::fs::metadata(path) {
        Err(e) => Box::new(std::iter::once(Item::Failed(
            target.to_string(),
            e.to_string(),
        ))),
        Ok(meta) if meta.is_dir() => Box::new(walk(path, follow_links)),
        Ok(_) => Box::new(std::iter::once(Item::File(path.to_path_buf()))),
    }
}

fn walk(root: &Path, follow_links: bool) -> impl Iterator<Item = Item> + Send + use<> {
    let fallback = root.to_path_buf();
    ignore::WalkBuilder::new(root)
        // Hidden files, ignore files and git excludes: none of them hides anything here.
        .standard_filters(false)
        .follow_links(follow_links)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build()
        .filter_map(move |entry| match entry {
            Ok(entry) => is_file(&entry).then(|| Item::Walked(entry.into_path())),
            Err(e) if is_dangling(&e) => None,
            Err(e) => Some(failed(&fallback, &e)),
        })
}

/// A regular file, or a symbolic link to one.
fn is_file(entry: &ignore::DirEntry) -> bool {
    match entry.file_type() {
        Some(t) if t.is_symlink() => entry.path().is_file(),
        Some(t) => t.is_file(),
        None => false,
    }
}

/// Following links, the walk reports a link to nothing as an error; it names no content, and
/// without following it is passed over like any other non-file, so it is here too.
fn is_dangling(error: &ignore::Error) -> bool {
    located(error).0.is_some_and(|path| {
        path.symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
            && path
                .metadata()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
    })
}

/// A listing error as the path it happened at (else the walk's root) and what happened.
fn failed(root: &Path, error: &ignore::Error) -> Item {
    let (path, message) = located(error);
    Item::Failed(path.unwrap_or(root).display().to_string(), message)
}

fn located(error: &ignore::Error) -> (Option<&Path>, String) {
    match error {
        // The path goes in its own field; the message is what went wrong there.
        ignore::Error::WithPath { path, err } => (Some(path), located(err).1),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            located(err)
        }
        ignore::Error::Loop { child, .. } => (Some(child), error.to_string()),
        other => (None, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(root: &Path, follow_links: bool) -> Vec<String> {
        let target = root.display().to_string();
        items(std::slice::from_ref(&target), follow_links)
            .map(|item| match item {
                Item::Walked(p) => p.strip_prefix(root).unwrap().display().to_string(),
                Item::Failed(p, message) => format!("failed {p}: {message}"),
                Item::File(p) => format!("file {}", p.display()),
                Item::Stdin => "-".into(),
            })
            .collect()
    }

    #[test]
    fn hidden_and_ignored_files_are_walked_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in [
            ".ignore",
            ".gitignore",
            ".cache/shell.php",
            "b.php",
            "a/z.html",
            "a/b.html",
            "ignored.inc",
        ] {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "*.inc\n.cache/\n*.php\n").unwrap();
        }
        std::fs::create_dir(root.join(".git")).unwrap();
        assert_eq!(
            names(root, false),
            [
                ".cache/shell.php",
                ".gitignore",
                ".ignore",
                "a/b.html",
                "a/z.html",
                "b.php",
                "ignored.inc"
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_files_are_read_and_loops_are_reported_not_followed() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("d")).unwrap();
        std::fs::write(root.join("d/page.html"), "<p>x</p>").unwrap();
        symlink(root.join("d/page.html"), root.join("link.html")).unwrap();
        symlink(root, root.join("d/loop")).unwrap();
        symlink(root.join("nowhere"), root.join("dangling.html")).unwrap();
        // A FIFO would block whoever opens it: it is not a file to read.
        let _ = std::process::Command::new("mkfifo")
            .arg(root.join("pipe.php"))
            .status();
        assert_eq!(names(root, false), ["d/page.html", "link.html"]);
        let followed = names(root, true);
        assert!(
            followed[0].starts_with("failed ") && followed[0].contains("loop"),
            "{followed:?}"
        );
        assert_eq!(followed[1..], ["d/page.html", "link.html"], "{followed:?}");
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_are_walked() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let name = std::ffi::OsStr::from_bytes(b"\xb6\xc4\xb2\xa9.php");
        std::fs::write(dir.path().join(name), "<?php ?>").unwrap();
        assert_eq!(names(dir.path(), false).len(), 1);
    }

    #[test]
    fn targets_keep_their_order_and_a_missing_one_fails() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.html"), "x").unwrap();
        let dir_name = dir.path().display().to_string();
        let targets = ["-".to_string(), "/no/such/target".into(), dir_name];
        let kinds: Vec<&str> = items(&targets, false)
            .map(|item| match item {
                Item::Stdin => "stdin",
                Item::Failed(..) => "failed",
                Item::Walked(_) => "walked",
                Item::File(_) => "file",
            })
            .collect();
        assert_eq!(kinds, ["stdin", "failed", "walked"]);
    }
}
