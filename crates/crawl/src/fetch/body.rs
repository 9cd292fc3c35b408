//! Response bodies: read within the time budget and the size cap, then decompress within the
//! same cap, so that a few KB of gzip or brotli that expand to gigabytes stop at the cap.

use std::io::Read;

/// A body after decompression.
#[derive(Debug)]
pub(crate) struct Decompressed {
    pub bytes: Vec<u8>,
    /// The decompressed body went over the cap and was cut there.
    pub truncated: bool,
    /// The compressed stream was damaged; `bytes` holds what came before the damage.
    pub damaged: bool,
}

/// Undo `Content-Encoding` (gzip, deflate, br; several in order), keeping at most `cap`
/// decompressed bytes. Unknown encodings are passed through untouched: the bytes are still
/// the best evidence there is.
pub(crate) fn decompress(
    body: Vec<u8>,
    content_encoding: Option<&str>,
    cap: usize,
) -> Decompressed {
    let encodings: Vec<String> = content_encoding
        .unwrap_or("")
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e != "identity")
        .collect();
    let mut current = Decompressed {
        truncated: body.len() > cap,
        bytes: body,
        damaged: false,
    };
    // The last encoding applied is the first to undo.
    for encoding in encodings.iter().rev() {
        let input = std::mem::take(&mut current.bytes);
        let step = match encoding.as_str() {
            "gzip" | "x-gzip" => read_capped(flate2::read::MultiGzDecoder::new(&input[..]), cap),
            "deflate" => {
                // "deflate" is zlib-wrapped by the standard and raw by some servers.
                let zlib = read_capped(flate2::read::ZlibDecoder::new(&input[..]), cap);
                if zlib.damaged && zlib.bytes.is_empty() {
                    read_capped(flate2::read::DeflateDecoder::new(&input[..]), cap)
                } else {
                    zlib
                }
            }
            "br" => read_capped(brotli::Decompressor::new(&input[..], 16 * 1024), cap),
            _ => Decompressed {
                bytes: input,
                truncated: false,
                damaged: false,
            },
        };
        current = Decompressed {
            truncated: current.truncated || step.truncated,
            damaged: current.damaged || step.damaged,
            bytes: step.bytes,
        };
    }
    current.bytes.truncate(cap);
    current
}

fn read_capped<R: Read>(reader: R, cap: usize) -> Decompressed {
    let mut bytes = Vec::new();
    let mut limited = reader.take(cap as u64 + 1);
    let mut buf = [0u8; 16 * 1024];
    let mut damaged = false;
    loop {
        match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => {
                damaged = true;
                break;
            }
        }
    }
    let truncated = bytes.len() > cap;
    bytes.truncate(cap);
    Decompressed {
        bytes,
        truncated,
        damaged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_bomb_stops_at_the_cap() {
        let bomb = gzip(&vec![0u8; 50 << 20]);
        assert!(bomb.len() < 100 << 10, "the bomb is small: {}", bomb.len());
        let out = decompress(bomb, Some("gzip"), 1 << 20);
        assert_eq!(out.bytes.len(), 1 << 20);
        assert!(out.truncated && !out.damaged);
    }

    #[test]
    fn brotli_bomb_stops_at_the_cap() {
        let mut compressed = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut compressed, 4096, 5, 22);
            for _ in 0..64 {
                w.write_all(&[b'a'; 1 << 20]).unwrap();
            }
        }
        let out = decompress(compressed, Some("br"), 2 << 20);
        assert_eq!(out.bytes.len(), 2 << 20);
        assert!(out.truncated);
    }

    #[test]
    fn layered_and_raw_deflate_and_identity() {
        let text = "网上赌场".repeat(100);
        let out = decompress(gzip(&gzip(text.as_bytes())), Some("gzip, gzip"), 1 << 20);
        assert_eq!(out.bytes, text.as_bytes());
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(text.as_bytes()).unwrap();
        let out = decompress(raw.finish().unwrap(), Some("deflate"), 1 << 20);
        assert_eq!(out.bytes, text.as_bytes());
        let out = decompress(text.as_bytes().to_vec(), None, 1 << 20);
        assert_eq!(out.bytes, text.as_bytes());
        assert!(!out.truncated);
    }

    #[test]
    fn damaged_streams_keep_what_came_before() {
        let mut body = gzip("完整的内容".repeat(1000).as_bytes());
        body.truncate(body.len() / 2);
        let out = decompress(body, Some("gzip"), 1 << 20);
        assert!(out.damaged);
        assert!(!out.bytes.is_empty());
        let garbage = decompress(b"not gzip at all".to_vec(), Some("gzip"), 100);
        assert!(garbage.damaged && garbage.bytes.is_empty());
    }

    #[test]
    fn unknown_encodings_pass_through() {
        let out = decompress(b"abc".to_vec(), Some("zstd"), 100);
        assert_eq!(out.bytes, b"abc");
    }
}
