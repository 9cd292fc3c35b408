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

/// The current year in UTC (a year range that accepts filings and calendar pages).
pub fn current_year() -> u32 {
    let now = jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::now());
    u32::try_from(now.year()).unwrap_or(1970)
}

/// Days since the Unix epoch of a `YYYY-MM-DD` date, or `None` when it is no such date.
pub fn days_from_date(date: &str) -> Option<i64> {
    let day = date.trim().parse::<jiff::civil::Date>().ok()?;
    let midnight = jiff::tz::TimeZone::UTC
        .to_timestamp(day.at(0, 0, 0, 0))
        .ok()?;
    Some(midnight.as_second().div_euclid(86_400))
}

/// Today as days since the Unix epoch.
pub fn today() -> i64 {
    unix_now().div_euclid(86_400)
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

    #[test]
    fn dates_count_days_from_the_epoch_and_impossible_ones_are_none() {
        assert_eq!(days_from_date("1970-01-01"), Some(0));
        assert_eq!(days_from_date("2000-03-01"), Some(11_017));
        assert_eq!(days_from_date("1969-12-31"), Some(-1));
        for bad in ["2026-02-30", "2026-13-01", "yesterday", ""] {
            assert_eq!(days_from_date(bad), None, "{bad}");
        }
        assert!(today() >= days_from_date("2026-01-01").unwrap());
    }
}
