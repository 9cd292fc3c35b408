//! A page's print: a 64-bit simhash of its visible text, so that pages that say the same thing
//! (a listing sorted another way, a calendar month with no events, a page with a session id in
//! its links) have prints a few bits apart, and pages that say different things do not.

use std::hash::{DefaultHasher, Hash, Hasher};

/// Prints at most this many bits apart are of near-duplicate pages.
pub const NEAR: u32 = 3;

/// The simhash of `text` over its character trigrams (whitespace runs folded to one space): a
/// trigram is a word-sized feature in Chinese and a word piece elsewhere, so no segmenter is
/// needed. `None` for text too short to tell pages apart.
pub fn print(text: &str) -> Option<u64> {
    let chars: Vec<char> = fold_spaces(text);
    if chars.len() < 8 {
        return None;
    }
    let mut weights = [0i32; 64];
    for gram in chars.windows(3) {
        let mut hasher = DefaultHasher::new();
        gram.hash(&mut hasher);
        let h = hasher.finish();
        for (bit, weight) in weights.iter_mut().enumerate() {
            *weight += if (h >> bit) & 1 == 1 { 1 } else { -1 };
        }
    }
    Some(
        weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0)
            .fold(0u64, |acc, (bit, _)| acc | 1 << bit),
    )
}

/// Whether two prints are of near-duplicate pages.
pub fn near(a: u64, b: u64) -> bool {
    (a ^ b).count_ones() <= NEAR
}

fn fold_spaces(text: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len().min(1 << 13));
    let mut space = false;
    // The first 8,192 characters tell pages apart as well as all of them.
    for c in text.chars().take(1 << 13) {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reordered_and_relabelled_pages_are_near_and_different_pages_are_not() {
        let items: Vec<String> = (0..40)
            .map(|i| format!("第{i}条 新闻标题 示例网站的栏目内容 {i}"))
            .collect();
        let listing = items.join("\n");
        let mut reversed = items.clone();
        reversed.reverse();
        let a = print(&listing).unwrap();
        let b = print(&reversed.join("\n")).unwrap();
        assert!(near(a, b), "{}", (a ^ b).count_ones());
        let month = |m: u32| format!("{m}月 日历 {}", "本月没有活动 ".repeat(30));
        assert!(near(print(&month(5)).unwrap(), print(&month(6)).unwrap()));
        let thread = |i: u32| {
            format!(
                "帖子{i} 的正文：{}",
                (0..60)
                    .map(|k| char::from_u32(0x4E00 + (i * 131 + k * 7) % 20000).unwrap())
                    .collect::<String>()
            )
        };
        assert!(!near(
            print(&thread(1)).unwrap(),
            print(&thread(2)).unwrap()
        ));
        assert_eq!(print("short"), None);
    }
}
