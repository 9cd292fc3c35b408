//! The backend-neutral database layer the store's logic is written against.
//!
//! Why a layer of our own rather than the logic written twice: the ingest of a crawl, the case
//! step, the review actions, the outbox and the lists are the part of the store that must
//! behave the same on SQLite and on PostgreSQL, and the one storage suite proves it only if
//! there is one copy of them. The statements are already portable (`sql.rs`); what differs is
//! how a backend binds a value and reads a column, and that is all this layer abstracts:
//!
//! - [`Val`]: a bound value or a read column, in the five types both databases store (SQLite's
//!   storage classes; PostgreSQL's BIGINT, DOUBLE PRECISION, TEXT and BYTEA; booleans read as
//!   0/1, as SQLite has them).
//! - [`Db`]: one open transaction (or, for reads, a connection) that executes a statement
//!   with `?N` placeholders and hands its rows over one by one. A backend rewrites the
//!   placeholders to its own spelling and caches the prepared statement.
//! - [`Row`]: the columns of one row, read by index with typed getters whose errors name the
//!   column and both types, never a panic.
//!
//! Everything above it (`engine.rs` and its modules) takes `&dyn Db`: a virtual call per
//! statement is nothing beside the statement.

use std::fmt;

use crate::sql;

/// A value bound to a placeholder or read from a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Val {
    /// The type's name, for errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Null => "NULL",
            Val::Int(_) => "an integer",
            Val::Real(_) => "a real",
            Val::Text(_) => "text",
            Val::Blob(_) => "a blob",
        }
    }
}

/// What can go wrong below the store's logic: the backend's own error, or a column that does
/// not hold what the store expects (a hand-edited or damaged database).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", pg_message(.0))]
    Postgres(#[from] postgres::Error),
    #[error("column {idx} holds {found}, expected {expected}")]
    ColumnType {
        idx: usize,
        expected: &'static str,
        found: &'static str,
    },
    #[error("column {idx} is out of range (the row has {len} columns)")]
    NoColumn { idx: usize, len: usize },
    #[error("column {idx}: {message}")]
    Value { idx: usize, message: String },
    #[error("the statement returned no row")]
    NoRow,
    #[error("{0}")]
    Other(String),
}

/// PostgreSQL's message with its detail and hint, which `postgres::Error`'s own display
/// leaves out ("db error" alone tells an operator nothing).
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!(
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            );
            if let Some(detail) = db.detail() {
                s.push_str(&format!("; {detail}"));
            }
            if let Some(hint) = db.hint() {
                s.push_str(&format!("; hint: {hint}"));
            }
            s
        }
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

pub type DbResult<T> = std::result::Result<T, DbError>;

/// One row, its columns in the order of the statement's select list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    vals: Vec<Val>,
}

impl Row {
    pub fn new(vals: Vec<Val>) -> Row {
        Row { vals }
    }

    pub fn len(&self) -> usize {
        self.vals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vals.is_empty()
    }

    /// The raw value of column `idx`.
    pub fn val(&self, idx: usize) -> DbResult<&Val> {
        self.vals.get(idx).ok_or(DbError::NoColumn {
            idx,
            len: self.vals.len(),
        })
    }

    /// Column `idx` as a `T`; an error (not a panic) names the column and the types.
    pub fn get<T: FromVal>(&self, idx: usize) -> DbResult<T> {
        let v = self.val(idx)?;
        T::from_val(v).ok_or_else(|| DbError::ColumnType {
            idx,
            expected: T::EXPECTED,
            found: v.type_name(),
        })
    }

    /// A text column parsed with `FromStr` (states, severities), the error naming the value.
    pub fn parse<T: std::str::FromStr<Err = String>>(&self, idx: usize) -> DbResult<T> {
        let s: String = self.get(idx)?;
        s.parse()
            .map_err(|message: String| DbError::Value { idx, message })
    }

    /// A nullable text column parsed with `FromStr`.
    pub fn parse_opt<T: std::str::FromStr<Err = String>>(&self, idx: usize) -> DbResult<Option<T>> {
        match self.get::<Option<String>>(idx)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|message: String| DbError::Value { idx, message }),
        }
    }

    /// A JSON text column.
    pub fn json<T: serde::de::DeserializeOwned>(&self, idx: usize) -> DbResult<T> {
        let s: String = self.get(idx)?;
        serde_json::from_str(&s).map_err(|e| DbError::Value {
            idx,
            message: format!("invalid JSON: {e}"),
        })
    }

    /// A count or size: never negative as the store writes it, read as 0 if it is.
    pub fn count(&self, idx: usize) -> DbResult<u64> {
        Ok(self.get::<i64>(idx)?.max(0) as u64)
    }
}

/// A Rust type a column converts to.
pub trait FromVal: Sized {
    const EXPECTED: &'static str;
    fn from_val(v: &Val) -> Option<Self>;
}

impl FromVal for i64 {
    const EXPECTED: &'static str = "an integer";
    fn from_val(v: &Val) -> Option<i64> {
        match v {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl FromVal for f64 {
    const EXPECTED: &'static str = "a number";
    fn from_val(v: &Val) -> Option<f64> {
        // An aggregate over a REAL column can come back as an integer in SQLite (MAX of
        // COALESCE(score, 0) with no score), as rusqlite reads it too.
        match v {
            Val::Real(r) => Some(*r),
            Val::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}

impl FromVal for bool {
    const EXPECTED: &'static str = "a boolean (0 or 1)";
    fn from_val(v: &Val) -> Option<bool> {
        match v {
            Val::Int(i) => Some(*i != 0),
            _ => None,
        }
    }
}

impl FromVal for String {
    const EXPECTED: &'static str = "text";
    fn from_val(v: &Val) -> Option<String> {
        match v {
            Val::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl FromVal for Vec<u8> {
    const EXPECTED: &'static str = "a blob";
    fn from_val(v: &Val) -> Option<Vec<u8>> {
        match v {
            Val::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl<T: FromVal> FromVal for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_val(v: &Val) -> Option<Option<T>> {
        match v {
            Val::Null => Some(None),
            v => T::from_val(v).map(Some),
        }
    }
}

/// A Rust value bound to a placeholder.
pub trait ToVal {
    fn to_val(&self) -> Val;
}

impl ToVal for Val {
    fn to_val(&self) -> Val {
        self.clone()
    }
}
impl ToVal for i64 {
    fn to_val(&self) -> Val {
        Val::Int(*self)
    }
}
impl ToVal for u64 {
    fn to_val(&self) -> Val {
        Val::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToVal for usize {
    fn to_val(&self) -> Val {
        Val::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToVal for u16 {
    fn to_val(&self) -> Val {
        Val::Int(i64::from(*self))
    }
}
impl ToVal for bool {
    fn to_val(&self) -> Val {
        Val::Int(i64::from(*self))
    }
}
impl ToVal for f64 {
    fn to_val(&self) -> Val {
        Val::Real(*self)
    }
}
impl ToVal for str {
    fn to_val(&self) -> Val {
        Val::Text(self.to_string())
    }
}
impl ToVal for String {
    fn to_val(&self) -> Val {
        Val::Text(self.clone())
    }
}
impl ToVal for [u8] {
    fn to_val(&self) -> Val {
        Val::Blob(self.to_vec())
    }
}
impl ToVal for Vec<u8> {
    fn to_val(&self) -> Val {
        Val::Blob(self.clone())
    }
}
impl<T: ToVal + ?Sized> ToVal for &T {
    fn to_val(&self) -> Val {
        (**self).to_val()
    }
}
impl<T: ToVal> ToVal for Option<T> {
    fn to_val(&self) -> Val {
        match self {
            None => Val::Null,
            Some(v) => v.to_val(),
        }
    }
}

/// The bound values of a statement, `?1` first: `vals![id, state.as_str(), at]`.
macro_rules! vals {
    ($($v:expr),* $(,)?) => {
        &[$($crate::db::ToVal::to_val(&$v)),*][..]
    };
}
pub(crate) use vals;

/// Which SQL a backend speaks, for the few places that must differ (migrations, locks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
        })
    }
}

/// One transaction (or read connection) of a backend.
pub trait Db {
    fn dialect(&self) -> Dialect;

    /// Runs a statement that returns no rows; how many rows it changed.
    fn execute(&self, sql: &str, params: &[Val]) -> DbResult<u64>;

    /// Runs a query and hands each row to `f` as it is read (a report over a year of events
    /// is not held in memory at once). `f` must not run statements on this `Db`: a backend
    /// may still be reading the rows (PostgreSQL refuses it with an error).
    fn query_each(
        &self,
        sql: &str,
        params: &[Val],
        f: &mut dyn FnMut(Row) -> DbResult<()>,
    ) -> DbResult<()>;

    /// Runs several statements without parameters (a migration's file).
    fn batch(&self, sql: &str) -> DbResult<()>;
}

impl dyn Db + '_ {
    /// Every row, mapped.
    pub fn rows<T>(
        &self,
        sql: &str,
        params: &[Val],
        mut f: impl FnMut(&Row) -> DbResult<T>,
    ) -> DbResult<Vec<T>> {
        let mut out = Vec::new();
        self.query_each(sql, params, &mut |row| {
            out.push(f(&row)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row, mapped, if there is one.
    pub fn row<T>(
        &self,
        sql: &str,
        params: &[Val],
        f: impl FnOnce(&Row) -> DbResult<T>,
    ) -> DbResult<Option<T>> {
        let mut first = None;
        self.query_each(sql, params, &mut |row| {
            if first.is_none() {
                first = Some(row);
            }
            Ok(())
        })?;
        first.as_ref().map(f).transpose()
    }

    /// The first row, mapped; [`DbError::NoRow`] without one.
    pub fn one<T>(
        &self,
        sql: &str,
        params: &[Val],
        f: impl FnOnce(&Row) -> DbResult<T>,
    ) -> DbResult<T> {
        self.row(sql, params, f)?.ok_or(DbError::NoRow)
    }
}

/// A list query's WHERE clause and its parameters, numbered as they are added.
#[derive(Default)]
pub struct Where {
    pub clauses: Vec<String>,
    pub params: Vec<Val>,
}

impl Where {
    /// Adds a condition; each `{}` in `template` becomes the next placeholder with `values`.
    pub fn add(&mut self, template: &str, values: Vec<Val>) {
        let mut out = String::with_capacity(template.len() + 8);
        let mut parts = template.split("{}");
        if let Some(first) = parts.next() {
            out.push_str(first);
        }
        for (part, value) in parts.zip(values) {
            self.params.push(value);
            out.push_str(&sql::placeholder(self.params.len()));
            out.push_str(part);
        }
        self.clauses.push(out);
    }

    pub fn any_of(&mut self, column: &str, values: Vec<Val>) {
        if values.is_empty() {
            return;
        }
        let marks = vec!["{}"; values.len()].join(", ");
        self.add(&format!("{column} IN ({marks})"), values);
    }

    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// `?N` placeholders rewritten to PostgreSQL's `$N`. A `?` inside a string literal, a quoted
/// identifier or a comment is left alone (a `LIKE '%?%'` must not turn into a parameter),
/// and so is a `?` not followed by a digit (PostgreSQL's JSON operators).
pub fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                // Quotes double inside their literal: '' reads as leaving and re-entering,
                // which copies the same characters.
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                out.push(c);
                let mut prev = '\0';
                for d in chars.by_ref() {
                    out.push(d);
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            '?' if chars.peek().is_some_and(|d| d.is_ascii_digit()) => out.push('$'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_outside_literals_become_dollars() {
        assert_eq!(
            dollar_placeholders("SELECT ?1, '?2', \"a?3\", ?12 -- ?4\n/* ?5 */ ?6 ? ?| x"),
            "SELECT $1, '?2', \"a?3\", $12 -- ?4\n/* ?5 */ $6 ? ?| x"
        );
        assert_eq!(
            dollar_placeholders("x LIKE ?1 ESCAPE '\\' AND y = 'it''s ?2' AND z = ?3"),
            "x LIKE $1 ESCAPE '\\' AND y = 'it''s ?2' AND z = $3"
        );
    }

    #[test]
    fn getters_name_the_column_and_the_types() {
        let row = Row::new(vec![Val::Int(3), Val::Text("open".into()), Val::Null]);
        assert_eq!(row.get::<i64>(0).unwrap(), 3);
        assert_eq!(row.get::<f64>(0).unwrap(), 3.0);
        assert_eq!(row.get::<Option<String>>(2).unwrap(), None);
        let e = row.get::<i64>(1).unwrap_err().to_string();
        assert_eq!(e, "column 1 holds text, expected an integer");
        let e = row.get::<String>(7).unwrap_err().to_string();
        assert!(e.contains("column 7 is out of range"), "{e}");
        assert_eq!(
            row.parse::<crate::FlagState>(1).unwrap(),
            crate::FlagState::Open
        );
    }
}
