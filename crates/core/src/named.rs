//! Enums whose values have names (severities, flag states, crawl outcomes, ...): reading a
//! name back, with an error that lists every name, taken from the enum itself so that it
//! cannot fall behind it.

/// A name that is none of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}` (expected {choices})")]
pub struct UnknownName {
    /// What was asked for (`severity`, `flag state`).
    pub what: String,
    pub name: String,
    /// Every name, as `a, b or c`.
    pub choices: String,
}

/// The value of `all` called `s`, or an error naming `what` was asked and the choices. The
/// enums' `FromStr` impls turn the error into text, which is what the API's query parsing
/// (crates/server) takes.
pub fn parse_named<T: Copy>(
    all: &[T],
    name: impl Fn(T) -> &'static str,
    what: &str,
    s: &str,
) -> Result<T, UnknownName> {
    all.iter()
        .copied()
        .find(|v| name(*v) == s)
        .ok_or_else(|| UnknownName {
            what: what.to_string(),
            name: s.to_string(),
            choices: choices(all, name),
        })
}

/// `a, b or c`.
fn choices<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> String {
    let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_back_and_the_error_lists_every_one() {
        let all = [1u8, 2, 3];
        let name = |v: u8| ["zero", "one", "two", "three"][v as usize];
        assert_eq!(parse_named(&all, name, "number", "two"), Ok(2));
        assert_eq!(
            parse_named(&all, name, "number", "zero").map_err(|e| e.to_string()),
            Err("unknown number `zero` (expected one, two or three)".to_string())
        );
        assert_eq!(
            parse_named(&[1u8], name, "number", "x").map_err(|e| e.to_string()),
            Err("unknown number `x` (expected one)".to_string())
        );
    }
}
