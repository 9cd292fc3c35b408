//! Durations as people write them in a config: `500ms`, `30s`, `5m`, `6h`, `1d`, `1h30m`.

use std::time::Duration;

/// Text that [`parse_duration`] does not read, quoted in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not a duration like 500ms, 30s, 5m, 6h or 1d")]
    NotADuration(String),
    #[error(
        "`{0}` repeats a unit or puts a smaller one first; write each unit once, largest first, \
         like 1h30m"
    )]
    UnitOrder(String),
}

/// Parse `1h30m`-style text. A bare number is refused: `300` could mean seconds or minutes.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError::NotADuration(text.to_string());
    let text = text.trim();
    if text.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    // Each unit once, largest first (`1h30m`): `5m5m` or `30m1h` is a typo, not a sum.
    let mut last_unit = f64::INFINITY;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(bad()),
        };
        if seconds >= last_unit {
            return Err(DurationError::UnitOrder(text.to_string()));
        }
        last_unit = seconds;
        rest = &rest[unit_len..];
        let part = number * seconds;
        if !part.is_finite() || part > 1e10 {
            return Err(bad());
        }
        total += Duration::from_secs_f64(part);
    }
    Ok(total)
}

/// The shortest of the forms `parse_duration` reads.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".into()
    } else if ms.is_multiple_of(86_400_000) {
        format!("{}d", ms / 86_400_000)
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_compounds() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(
            parse_duration("1d2h3m4s5ms"),
            Ok(Duration::from_millis(93_784_005))
        );
        for bad in ["", "300", "5 minutes", "s", "-1s", "1y", "1e400s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        // Issue 16: `5m5m` was read as 10 minutes.
        for typo in ["5m5m", "30m1h", "1s1s", "500ms1s"] {
            let error = parse_duration(typo).unwrap_err();
            assert_eq!(error, DurationError::UnitOrder(typo.into()));
            assert!(
                error.to_string().contains("largest first"),
                "{typo}: {error}"
            );
        }
    }

    #[test]
    fn format_round_trips() {
        for text in ["0s", "250ms", "45s", "5m", "6h", "180d"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), text);
        }
    }
}
