//! Query strings: strict parsing (an unknown or repeated-when-single parameter is an error,
//! so a typo like `?stat=open` does not silently list everything) into store filters.

use std::collections::HashMap;

use super::error::ApiError;
use sitepatrol_core::finding::Severity;
use sitepatrol_store::{EventFilter, FlagFilter, FlagSort, FlagState, Timestamp};

/// The parameters of one query string: name → values in order.
pub struct Query {
    values: HashMap<String, Vec<String>>,
}

impl Query {
    /// Parses `query` and refuses any parameter not in `allowed`.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Query, ApiError> {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if !allowed.contains(&k.as_ref()) {
                return Err(ApiError::invalid_parameter(
                    &k,
                    format!("unknown parameter; expected one of {}", allowed.join(", ")),
                ));
            }
            values
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
        Ok(Query { values })
    }

    /// A parameter given at most once.
    pub fn single(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.values.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one.as_str())),
            Some(_) => Err(ApiError::invalid_parameter(name, "given more than once")),
        }
    }

    /// A text parameter; empty is the same as absent (what an HTML form sends for a blank
    /// field).
    pub fn text(&self, name: &str) -> Result<Option<String>, ApiError> {
        Ok(self
            .single(name)?
            .filter(|v| !v.is_empty())
            .map(str::to_string))
    }

    /// A list: repeated (`state=open&state=reopened`) or comma-separated (`state=open,reopened`).
    pub fn list<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        for value in self.values.get(name).into_iter().flatten() {
            // Empty items (`state=`, `a,,b`) are skipped: an empty list filters nothing.
            for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                out.push(parse(item).map_err(|e| ApiError::invalid_parameter(name, e))?);
            }
        }
        Ok(out)
    }

    /// The `category` list, as the flag and case lists both take it.
    pub fn categories(&self) -> Result<Vec<String>, ApiError> {
        self.list("category", |s| {
            Ok::<_, std::convert::Infallible>(s.to_string())
        })
    }

    /// The `severity` list, as the flag and case lists both take it.
    pub fn severities(&self) -> Result<Vec<Severity>, ApiError> {
        self.list("severity", |s| {
            s.parse::<Severity>().map_err(|e| e.to_string())
        })
    }

    pub fn integer(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        match self.single(name)? {
            None => Ok(None),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(ApiError::invalid_parameter(
                    name,
                    format!("`{v}` is not an integer from {min} to {max}"),
                )),
            },
        }
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.single(name)? {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::invalid_parameter(
                name,
                format!("`{v}` is not true or false"),
            )),
        }
    }

    pub fn time(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        match self.single(name)? {
            None => Ok(None),
            Some(v) => parse_time(v).map(Some).ok_or_else(|| {
                ApiError::invalid_parameter(
                    name,
                    format!(
                        "`{v}` is not a time (Unix seconds, 2026-11-27 or 2026-11-27T08:00:00Z)"
                    ),
                )
            }),
        }
    }
}

/// The filter parameters of a flag list and an export.
pub const FLAG_FILTERS: &[&str] = &[
    "state", "category", "severity", "rule", "site", "customer", "from", "to", "sort",
];

/// A flag list's filter from `query` (which must allow [`FLAG_FILTERS`]).
pub fn flag_filter(query: &Query) -> Result<FlagFilter, ApiError> {
    let sort = match query.single("sort")? {
        None | Some("newest") => FlagSort::Newest,
        Some("oldest") => FlagSort::Oldest,
        Some("severity") => FlagSort::Severity,
        Some(v) => {
            return Err(ApiError::invalid_parameter(
                "sort",
                format!("`{v}` is not newest, oldest or severity"),
            ));
        }
    };
    let (from, to) = (query.time("from")?, query.time("to")?);
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ApiError::invalid_parameter("to", "is before `from`"));
    }
    Ok(FlagFilter {
        states: query.list("state", |s| s.parse::<FlagState>())?,
        categories: query.categories()?,
        severities: query.severities()?,
        rule: query.text("rule")?,
        site: query.text("site")?,
        customer: query.text("customer")?,
        created_from: from,
        created_to: to,
        sort,
        limit: 100,
        cursor: None,
    })
}

pub fn event_filter(query: &Query) -> Result<EventFilter, ApiError> {
    Ok(EventFilter {
        flag: query.integer("flag", 1, i64::MAX)?,
        actor: query.text("actor")?,
        from: query.time("from")?,
        to: query.time("to")?,
        before_id: query.integer("before", 1, i64::MAX)?,
        limit: query.integer("limit", 1, 1000)?.unwrap_or(100) as usize,
    })
}

/// Unix seconds, a date (`2026-11-27`, midnight UTC) or an RFC 3339 time with its offset
/// (`2026-11-27T08:00:00Z`, `2026-11-27T16:00:00+08:00`).
pub fn parse_time(text: &str) -> Option<Timestamp> {
    if let Ok(secs) = text.parse::<i64>() {
        // Bounded so that arithmetic on it never overflows (years 0..=9999).
        return (-62_167_219_200..=253_402_300_799)
            .contains(&secs)
            .then_some(secs);
    }
    if let Ok(time) = text.parse::<jiff::Timestamp>() {
        return Some(time.as_second());
    }
    let day = text.parse::<jiff::civil::Date>().ok()?;
    // Only the date itself: a local time without its offset would be read in nobody's zone.
    (day.to_string() == text)
        .then(|| {
            jiff::tz::TimeZone::UTC
                .to_timestamp(day.at(0, 0, 0, 0))
                .ok()
        })
        .flatten()
        .map(|midnight| midnight.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::Code;
    use crate::review::export::rfc3339;

    #[test]
    fn times_in_every_accepted_form() {
        assert_eq!(parse_time("1795766400"), Some(1_795_766_400));
        assert_eq!(parse_time("2026-11-27T08:00:00Z"), Some(1_795_766_400));
        assert_eq!(parse_time("2026-11-27"), Some(1_795_737_600));
        assert_eq!(parse_time("2000-02-29"), Some(951_782_400));
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-11-27T08:00:00",
            "tomorrow",
            "",
            "1e9",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        for ts in [0, 951_782_400, 1_795_766_400, -1] {
            assert_eq!(parse_time(&rfc3339(ts)), Some(ts));
        }
        assert_eq!(parse_time("2026-11-27T16:00:00+08:00"), Some(1_795_766_400));
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        let err = Query::parse(Some("stat=open"), FLAG_FILTERS).err().unwrap();
        assert_eq!(err.code, Code::InvalidParameter);
        assert!(err.message.contains("stat"), "{}", err.message);
        let q = Query::parse(Some("rule=a&rule=b"), FLAG_FILTERS).unwrap();
        assert!(flag_filter(&q).is_err());
    }

    #[test]
    fn lists_by_repetition_or_commas() {
        let q = Query::parse(
            Some("state=open,reopened&state=confirmed&severity=high&from=2026-11-27"),
            FLAG_FILTERS,
        )
        .unwrap();
        let f = flag_filter(&q).unwrap();
        assert_eq!(
            f.states,
            vec![FlagState::Open, FlagState::Reopened, FlagState::Confirmed]
        );
        assert_eq!(f.severities, vec![Severity::High]);
        assert_eq!(f.created_from, Some(1_795_737_600));
        let q = Query::parse(Some("state=opne"), FLAG_FILTERS).unwrap();
        assert!(flag_filter(&q).err().unwrap().message.contains("opne"));
    }
}
