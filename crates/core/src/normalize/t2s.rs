//! Traditional → Simplified Chinese, one character at a time.
//!
//! A character table is enough for matching: evasion swaps single characters (賭博 for 赌博),
//! and phrase-level conversion would break the one-character-in, one-character-out shape that
//! keeps the offset map cheap. The table is OpenCC's `TSCharacters.txt` (Apache-2.0), compiled
//! into the binary; see `data/opencc/SOURCE.txt`.

use std::collections::HashMap;
use std::sync::OnceLock;

const TABLE_SOURCE: &str = include_str!("../../../../data/opencc/TSCharacters.txt");

/// The range that holds almost every entry; it gets a dense array so the hot path is one load.
const DENSE_START: u32 = 0x3400;
const DENSE_END: u32 = 0xA000;

pub(crate) struct T2s {
    /// `dense[c - DENSE_START]` is the simplified form, or 0 for "unchanged".
    dense: Vec<u32>,
    sparse: HashMap<char, char>,
}

impl T2s {
    fn parse(source: &str) -> T2s {
        let mut dense = vec![0u32; (DENSE_END - DENSE_START) as usize];
        let mut sparse = HashMap::new();
        for line in source.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let Some((key, values)) = line.split_once('\t') else {
                continue;
            };
            let mut key_chars = key.chars();
            let (Some(from), None) = (key_chars.next(), key_chars.next()) else {
                continue;
            };
            // Several candidates (乾 → 干 乾) are listed most common first.
            let Some(first) = values.split(' ').next() else {
                continue;
            };
            let mut value_chars = first.chars();
            let (Some(to), None) = (value_chars.next(), value_chars.next()) else {
                continue;
            };
            if from == to {
                continue;
            }
            let code = from as u32;
            if (DENSE_START..DENSE_END).contains(&code) {
                dense[(code - DENSE_START) as usize] = to as u32;
            } else {
                sparse.insert(from, to);
            }
        }
        T2s { dense, sparse }
    }

    #[inline]
    pub(crate) fn map(&self, c: char) -> char {
        let code = c as u32;
        if (DENSE_START..DENSE_END).contains(&code) {
            let to = self.dense[(code - DENSE_START) as usize];
            if to == 0 {
                c
            } else {
                // The table only holds valid scalar values parsed from chars.
                char::from_u32(to).unwrap_or(c)
            }
        } else if code < 0x2E80 {
            c
        } else {
            self.sparse.get(&c).copied().unwrap_or(c)
        }
    }

    /// Whether code point `code` (an ideograph) is already Simplified.
    #[inline]
    pub(crate) fn is_unchanged(&self, code: u32) -> bool {
        match code.checked_sub(DENSE_START) {
            Some(index) if code < DENSE_END => self.dense[index as usize] == 0,
            _ => !char::from_u32(code).is_some_and(|c| self.sparse.contains_key(&c)),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.dense.iter().filter(|&&v| v != 0).count() + self.sparse.len()
    }
}

pub(crate) fn table() -> &'static T2s {
    static TABLE: OnceLock<T2s> = OnceLock::new();
    TABLE.get_or_init(|| T2s::parse(TABLE_SOURCE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_common_traditional_characters() {
        let t = table();
        let converted: String = "賭博網站色情視頻開獎".chars().map(|c| t.map(c)).collect();
        assert_eq!(converted, "赌博网站色情视频开奖");
    }

    #[test]
    fn leaves_simplified_and_ascii_alone() {
        let t = table();
        for c in "赌博网站abc123，。".chars() {
            assert_eq!(t.map(c), c);
        }
    }

    #[test]
    fn table_is_loaded_in_full() {
        // TSCharacters.txt (OpenCC 1.4.2) maps 3,222 characters to a different one.
        assert_eq!(table().len(), 3222);
    }
}
