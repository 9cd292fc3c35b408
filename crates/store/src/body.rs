//! Body copies: gzip, cut to a cap first.
//!
//! gzip rather than a bare deflate stream so that an operator who pulls a BLOB out of the
//! database by hand can read it with `gunzip`.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// The first `cap` bytes of `body`, gzip-compressed, and whether it was cut.
pub fn compress_body(body: &[u8], cap: usize) -> (Vec<u8>, bool) {
    let truncated = body.len() > cap;
    let kept = &body[..body.len().min(cap)];
    let mut enc = GzEncoder::new(Vec::with_capacity(kept.len() / 4 + 64), Compression::new(6));
    // Writing into a Vec cannot fail; if it somehow did, an empty copy is better than none
    // of the flag, and the hash still names the content.
    if enc.write_all(kept).is_err() {
        return (Vec::new(), truncated);
    }
    (enc.finish().unwrap_or_default(), truncated)
}

/// Decompresses a copy made by [`compress_body`], reading at most `limit` bytes so that a
/// corrupted or hostile BLOB cannot blow up memory.
pub fn decompress_body(data: &[u8], limit: usize) -> std::io::Result<Vec<u8>> {
    let out = decompress_at_most(data, limit)?;
    if out.len() > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("decompresses to more than {limit} bytes"),
        ));
    }
    Ok(out)
}

/// [`decompress_body`] without its verdict on the length: at most `limit + 1` bytes, so
/// that a caller can tell a copy longer than `limit` from one that does not decompress.
pub(super) fn decompress_at_most(data: &[u8], limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(data)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_cap() {
        let body = "<p>在线赌博</p>".repeat(1000).into_bytes();
        let (z, cut) = compress_body(&body, usize::MAX);
        assert!(!cut && z.len() < body.len() / 10);
        assert_eq!(decompress_body(&z, body.len()).unwrap(), body);
        let (z, cut) = compress_body(&body, 100);
        assert!(cut);
        assert_eq!(decompress_body(&z, 100).unwrap(), &body[..100]);
        assert!(decompress_body(&compress_body(&body, 1000).0, 999).is_err());
        assert!(decompress_body(b"not gzip", 100).is_err());
    }
}
