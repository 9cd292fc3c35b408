//! The inventory: the customer sites the daemon patrols.
//!
//! Sites come from `[[sites]]` in the config and from an inventory file, CSV with a header or
//! JSON lines, that may hold hundreds of thousands of them. Every row is checked, and every
//! problem is reported with its file and line; an inventory with any error is refused whole,
//! so a reload never half-applies (the daemon keeps the inventory it had).

use std::collections::HashMap;
use std::fmt;
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use crate::config::InventoryFormat;
use crate::site::{Site, SiteSpec, into_site, validate_site};

/// A problem in an inventory file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryError {
    /// `file:line`, or `config: sites[i]`.
    pub location: String,
    pub message: String,
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Errors shown at most; a broken 100k-line file would otherwise flood the log.
pub const MAX_ERRORS: usize = 100;

/// Every problem of a load (the first [`MAX_ERRORS`]) and how many there were.
#[derive(Debug, Clone)]
pub struct InventoryErrors {
    pub errors: Vec<InventoryError>,
    pub total: usize,
}

impl fmt::Display for InventoryErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the inventory has {} error(s)", self.total)?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        if self.total > self.errors.len() {
            write!(f, "\n  ... and {} more", self.total - self.errors.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for InventoryErrors {}

/// The sites to patrol, config sites first, then the file's in file order.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub sites: Vec<Site>,
}

struct Collector {
    errors: Vec<InventoryError>,
    total: usize,
}

impl Collector {
    fn push(&mut self, location: String, message: String) {
        self.total += 1;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(InventoryError { location, message });
        }
    }
}

impl Inventory {
    /// Build the inventory from the config's sites (already validated) and the file, if any.
    pub fn load(
        config_sites: &[SiteSpec],
        file: Option<(&Path, InventoryFormat)>,
    ) -> Result<Inventory, InventoryErrors> {
        let mut errors = Collector {
            errors: Vec::new(),
            total: 0,
        };
        let mut sites = Vec::with_capacity(config_sites.len());
        let mut seen: HashMap<Arc<str>, String> = HashMap::new();
        let mut add = |location: String, spec: SiteSpec, errors: &mut Collector| {
            let mut problems = Vec::new();
            validate_site(&spec, &mut problems);
            if spec.demo && !location.starts_with("config") {
                problems.push((
                    "demo".into(),
                    "only sites in the config can be demo sites".into(),
                ));
            }
            if !problems.is_empty() {
                for (key, message) in problems {
                    errors.push(location.clone(), format!("{key}: {message}"));
                }
                return;
            }
            let site = into_site(spec);
            if let Some(first) = seen.get(&site.id) {
                errors.push(
                    location,
                    format!("id: `{}` is already used at {first}", site.id),
                );
                return;
            }
            seen.insert(site.id.clone(), location);
            sites.push(site);
        };
        for (i, spec) in config_sites.iter().enumerate() {
            add(format!("config: sites[{i}]"), spec.clone(), &mut errors);
        }
        if let Some((path, format)) = file {
            let format = match format {
                InventoryFormat::Auto
                    if path
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("csv")) =>
                {
                    InventoryFormat::Csv
                }
                InventoryFormat::Auto => InventoryFormat::Jsonl,
                other => other,
            };
            let name = path.display().to_string();
            match std::fs::File::open(path) {
                Err(e) => errors.push(name, format!("cannot open the inventory: {e}")),
                Ok(file) => {
                    let reader = std::io::BufReader::with_capacity(1 << 16, file);
                    match format {
                        InventoryFormat::Csv => read_csv(reader, &name, &mut errors, &mut add),
                        _ => read_jsonl(reader, &name, &mut errors, &mut add),
                    }
                }
            }
        }
        if errors.total > 0 {
            return Err(InventoryErrors {
                errors: errors.errors,
                total: errors.total,
            });
        }
        Ok(Inventory { sites })
    }
}

fn read_csv(
    reader: impl std::io::Read,
    name: &str,
    errors: &mut Collector,
    add: &mut impl FnMut(String, SiteSpec, &mut Collector),
) {
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(reader);
    let headers = match csv.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            errors.push(format!("{name}:1"), format!("cannot read the header: {e}"));
            return;
        }
    };
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map(|p| p.line()).unwrap_or(line);
                // Empty cells are absent values, so optional columns can be left blank.
                match record.deserialize::<SiteSpec>(Some(&headers)) {
                    Ok(spec) => add(format!("{name}:{line}"), spec, errors),
                    Err(e) => errors.push(format!("{name}:{line}"), csv_message(&e, &headers)),
                }
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(line);
                errors.push(format!("{name}:{line}"), csv_message(&e, &headers));
                if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    break;
                }
            }
        }
    }
}

fn csv_message(e: &csv::Error, headers: &csv::StringRecord) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => {
            match err.field().and_then(|i| headers.get(i as usize)) {
                Some(column) => format!("{column}: {}", err.kind()),
                None => err.kind().to_string(),
            }
        }
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        _ => e.to_string(),
    }
}

fn read_jsonl(
    reader: impl BufRead,
    name: &str,
    errors: &mut Collector,
    add: &mut impl FnMut(String, SiteSpec, &mut Collector),
) {
    for (i, line) in reader.lines().enumerate() {
        let location = format!("{name}:{}", i + 1);
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                errors.push(location, format!("cannot read: {e}"));
                return;
            }
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut de = serde_json::Deserializer::from_str(trimmed);
        match serde_path_to_error::deserialize::<_, SiteSpec>(&mut de) {
            Ok(spec) => add(location, spec, errors),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let message = strip_json_position(&inner.to_string());
                let message = if path == "." {
                    message
                } else {
                    format!("{path}: {message}")
                };
                errors.push(location, message);
            }
        }
    }
}

/// serde_json appends "at line 1 column N"; the line is the file's, reported already.
fn strip_json_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests;
