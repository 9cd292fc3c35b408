//! The wall clock, read the same way everywhere: Unix time in milliseconds or seconds, and the
//! year (for filing numbers and calendar traps). A clock before 1970 reads as 1970.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Seconds since the Unix epoch, now (the store's timestamps).
pub fn unix_now() -> i64 {
    (now_ms() / 1000) as i64
}

/// The current year. Mean Gregorian years: a day off at the turn of a year does not matter to
/// the callers (a year range that accepts filings and calendar pages).
pub fn current_year() -> u32 {
    1970 + (now_ms() / 1000 / 31_556_952) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_reads_alike_in_every_unit() {
        let ms = now_ms();
        let secs = unix_now();
        assert!((secs - (ms / 1000) as i64).abs() <= 1);
        // This code was written in 2026; a clock before that is wrong.
        assert!(current_year() >= 2026, "{}", current_year());
        assert!(current_year() < 2200);
    }
}
