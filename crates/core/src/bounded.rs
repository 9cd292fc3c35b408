//! Reading operator files (config, secrets, rules, templates, lists, registries) with a size
//! bound: a wrong path to `/dev/zero`, a FIFO or a disk image must give an error naming the
//! file, not fill memory (issue 16: `--config /dev/zero` grew to 10 GB in 20 s).

use std::io::Read;
use std::path::Path;

/// Secrets (`*_file`): a token or key is bytes, not megabytes.
pub const SECRET_BYTES: u64 = 64 << 10;
/// Config files, notice templates, CA bundles and service catalogues: a few KiB each.
pub const CONFIG_BYTES: u64 = 16 << 20;
/// Ruleset files and their term and domain lists: the largest bundled list is a few MiB.
pub const RULES_BYTES: u64 = 256 << 20;
/// A filing registry export: one line per filed domain, millions of them.
pub const REGISTRY_BYTES: u64 = 4 << 30;

/// The bytes of `path`, at most `limit` of them; the message says why not (without the
/// path: callers name the file their own way).
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    // Devices and FIFOs (/dev/zero, a named pipe) would stream forever or block in open();
    // stat does neither.
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the file: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > limit {
        return Err(too_large(limit));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read the file: {e}"))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

fn too_large(limit: u64) -> String {
    format!(
        "the file is larger than {}: is this the right file?",
        human(limit)
    )
}

/// [`read`], as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, String> {
    String::from_utf8(read(path, limit)?).map_err(|e| {
        format!(
            "the file is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_large_and_binary_files_are_refused_with_a_reason() {
        if Path::new("/dev/zero").exists() {
            let zero = read(Path::new("/dev/zero"), SECRET_BYTES).unwrap_err();
            assert_eq!(zero, "not a regular file");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [b'a'; 10]).unwrap();
        assert_eq!(read(&path, 10).unwrap().len(), 10);
        assert!(read(&path, 9).unwrap_err().contains("larger than 9 bytes"));
        std::fs::write(&path, b"ok\xff").unwrap();
        assert!(read_text(&path, 10).unwrap_err().contains("offset 2"));
        let missing = read(&dir.path().join("none"), 10).unwrap_err();
        assert!(missing.starts_with("cannot read the file"), "{missing}");
    }
}
