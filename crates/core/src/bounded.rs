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

/// Why a bounded read failed. The messages do not name the file: callers name it their own
/// way.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the file: {0}")]
    Io(#[source] std::io::Error),
    #[error("not a regular file")]
    NotAFile,
    #[error("the file is larger than {}: is this the right file?", human(*.limit))]
    TooLarge { limit: u64 },
    #[error("the file is not UTF-8 text (invalid byte at offset {})", .0.valid_up_to())]
    NotUtf8(#[source] std::str::Utf8Error),
}

/// The bytes of `path`, at most `limit` of them.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    // Devices and FIFOs (/dev/zero, a named pipe) would stream forever or block in open();
    // stat does neither.
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile);
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read(path, limit)?).map_err(|e| ReadError::NotUtf8(e.utf8_error()))
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
            assert_eq!(zero.to_string(), "not a regular file");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [b'a'; 10]).unwrap();
        assert_eq!(read(&path, 10).unwrap().len(), 10);
        let large = read(&path, 9).unwrap_err().to_string();
        assert!(large.contains("larger than 9 bytes"), "{large}");
        std::fs::write(&path, b"ok\xff").unwrap();
        let binary = read_text(&path, 10).unwrap_err().to_string();
        assert!(binary.contains("offset 2"), "{binary}");
        let missing = read(&dir.path().join("none"), 10).unwrap_err();
        assert!(std::error::Error::source(&missing).is_some());
        let missing = missing.to_string();
        assert!(missing.starts_with("cannot read the file"), "{missing}");
    }
}
