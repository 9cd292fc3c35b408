//! The provider's own filing records: which domain holds which ICP filing, licence, public-
//! security filing and special approvals.
//!
//! Two backends sit behind [`Registry`]: a CSV file the provider exports from its filing system,
//! and an HTTP JSON lookup service. A lookup tries the host itself, then its parents up to the
//! registrable domain, because one filing covers `www.example.cn` and `example.cn` alike.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use super::numbers::{NumberKind, detect_in_zone};
use crate::domain::registrable_domain;
use crate::extract::ZoneKind;

/// One domain's filing, as the provider's filing system records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilingRecord {
    pub domain: String,
    /// The ICP filing number with its site suffix: `京ICP备05004340号-1`.
    pub icp_number: String,
    /// 主办单位名称.
    #[serde(default)]
    pub owner: String,
    /// 企业, 个人, 事业单位, 政府机关, 社会团体, ...
    #[serde(default)]
    pub owner_nature: String,
    #[serde(default)]
    pub site_name: String,
    /// `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub approved_at: Option<String>,
    /// The ICP licence (ICP证) or value-added telecom licence (B2) for commercial services.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub licence_number: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub psb_number: Option<String>,
    /// 是否限制接入: the filing system has restricted this domain's access.
    #[serde(default, deserialize_with = "flag")]
    pub restricted: bool,
    /// Approved special services (`forum`, `news`, ...), as in `rulesets/filing/services.toml`.
    #[serde(default, deserialize_with = "list")]
    pub services: Vec<String>,
    /// Permit numbers held.
    #[serde(default, deserialize_with = "list")]
    pub permits: Vec<String>,
}

impl FilingRecord {
    /// The kinds of the permits (and licences) the record holds, read with the same detectors
    /// as displayed numbers.
    pub fn permit_kinds(&self) -> Vec<NumberKind> {
        let mut kinds: Vec<NumberKind> = self
            .permits
            .iter()
            .chain(self.licence_number.iter())
            .flat_map(|p| detect_in_zone(ZoneKind::Text, p))
            .map(|n| n.kind)
            .collect();
        if self.licence_number.is_some() {
            kinds.push(NumberKind::IcpLicence);
        }
        kinds.sort();
        kinds.dedup();
        kinds
    }

    pub fn has_service(&self, service: &str) -> bool {
        self.services
            .iter()
            .any(|s| s.eq_ignore_ascii_case(service))
    }

    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if normalize_domain(&self.domain).is_none() {
            problems.push(format!("domain: `{}` is not a domain name", self.domain));
        }
        let icp = detect_in_zone(ZoneKind::Text, &self.icp_number);
        if !icp.iter().any(|n| n.kind == NumberKind::IcpFiling) {
            problems.push(format!(
                "icp_number: `{}` is not an ICP filing number (京ICP备12345678号-1)",
                self.icp_number
            ));
        }
        if let Some(psb) = &self.psb_number
            && !detect_in_zone(ZoneKind::Text, psb)
                .iter()
                .any(|n| n.kind == NumberKind::PsbFiling)
        {
            problems.push(format!(
                "psb_number: `{psb}` is not a public-security filing number (京公网安备11010502030143号)"
            ));
        }
        if let Some(date) = &self.approved_at
            && !is_date(date)
        {
            problems.push(format!("approved_at: `{date}` is not a YYYY-MM-DD date"));
        }
        problems
    }
}

fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 4
        && parts[1].len() == 2
        && parts[2].len() == 2
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))
        && parts[1].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m))
        && parts[2].parse::<u8>().is_ok_and(|d| (1..=31).contains(&d))
}

fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value: Option<String> = Option::deserialize(d)?;
    Ok(value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty()))
}

fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    match Option::<Flag>::deserialize(d)? {
        None => Ok(false),
        Some(Flag::Bool(b)) => Ok(b),
        Some(Flag::Text(text)) => match text.trim().to_ascii_lowercase().as_str() {
            "" | "否" | "no" | "false" | "0" | "n" => Ok(false),
            "是" | "yes" | "true" | "1" | "y" => Ok(true),
            other => Err(serde::de::Error::custom(format!(
                "restricted: `{other}` is not a yes/no value (是/否, true/false, 1/0)"
            ))),
        },
    }
}

fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Items(Vec<String>),
        Text(String),
    }
    let items = match Option::<List>::deserialize(d)? {
        None => Vec::new(),
        Some(List::Items(items)) => items,
        Some(List::Text(text)) => text
            .split([';', '；', '|', '、'])
            .map(str::to_string)
            .collect(),
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

/// Lower case, IDNA, no trailing dot; `None` when it is not a host name.
pub fn normalize_domain(domain: &str) -> Option<String> {
    let trimmed = domain.trim().trim_end_matches('.');
    if trimmed.is_empty() || trimmed.contains(['/', ':', ' ', '@']) {
        return None;
    }
    let url = Url::parse(&format!("http://{trimmed}/")).ok()?;
    url.host_str().map(|h| h.to_ascii_lowercase())
}

/// The candidates a lookup tries, most specific first: the host, then each parent down to the
/// registrable domain.
pub fn lookup_candidates(host: &str) -> Vec<String> {
    let Some(host) = normalize_domain(host) else {
        return Vec::new();
    };
    let floor = registrable_domain(&host).unwrap_or_else(|| host.clone());
    let mut candidates = vec![host.clone()];
    let mut rest = host.as_str();
    while rest != floor {
        match rest.split_once('.') {
            Some((_, parent)) if parent.len() >= floor.len() => {
                candidates.push(parent.to_string());
                rest = parent;
            }
            _ => break,
        }
    }
    candidates
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    /// Every bad row, each as `file:line: column: message`.
    #[error("{} bad row(s) in the filing registry:\n{}", .0.len(), .0.join("\n"))]
    Rows(Vec<String>),
    #[error("the filing registry at {url} is unavailable: {message}")]
    Unavailable { url: String, message: String },
    #[error(
        "the filing registry at {url} answered with something that is not a filing record: {message}"
    )]
    BadAnswer { url: String, message: String },
    #[error("bad registry URL template `{template}`: {message}")]
    Template { template: String, message: String },
}

pub type Lookup<'a> =
    Pin<Box<dyn Future<Output = Result<Option<FilingRecord>, RegistryError>> + Send + 'a>>;

/// A source of filing records.
pub trait Registry: Send + Sync {
    /// The record that covers `host` (exact host first, then parents), or `None` when the
    /// registry has none: the domain is unfiled.
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a>;

    /// Where the records come from, for site records and logs.
    fn describe(&self) -> String;
}

/// Records loaded from a CSV file with a header row.
#[derive(Debug, Clone)]
pub struct CsvRegistry {
    path: PathBuf,
    records: HashMap<String, Arc<FilingRecord>>,
}

impl CsvRegistry {
    pub fn from_path(path: &Path) -> Result<CsvRegistry, RegistryError> {
        let bytes = crate::bounded::read(path, crate::bounded::REGISTRY_BYTES).map_err(|e| {
            RegistryError::File {
                file: path.display().to_string(),
                message: e.to_string(),
            }
        })?;
        CsvRegistry::parse(&path.display().to_string(), &bytes).map(|records| CsvRegistry {
            path: path.to_path_buf(),
            records,
        })
    }

    /// Parse every row; all bad rows are reported together.
    pub fn parse(
        name: &str,
        bytes: &[u8],
    ) -> Result<HashMap<String, Arc<FilingRecord>>, RegistryError> {
        // Spreadsheet exports start with a BOM.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(bytes);
        let headers = reader.headers().map_err(|e| RegistryError::File {
            file: name.to_string(),
            message: format!("cannot read the header row: {e}"),
        })?;
        for required in ["domain", "icp_number"] {
            if !headers.iter().any(|h| h == required) {
                return Err(RegistryError::File {
                    file: name.to_string(),
                    message: format!("the header row has no `{required}` column"),
                });
            }
        }
        let mut records = HashMap::new();
        let mut errors = Vec::new();
        let mut lines: HashMap<String, u64> = HashMap::new();
        let headers = headers.clone();
        for row in reader.records() {
            let row = match row {
                Ok(row) => row,
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    errors.push(format!("{name}:{line}: {e}"));
                    continue;
                }
            };
            let line = row.position().map(|p| p.line()).unwrap_or(0);
            let record: FilingRecord = match row.deserialize(Some(&headers)) {
                Ok(record) => record,
                Err(e) => {
                    let message = match e.kind() {
                        csv::ErrorKind::Deserialize { err, .. } => {
                            let column = err
                                .field()
                                .and_then(|f| headers.get(f as usize))
                                .map(|h| format!("{h}: "))
                                .unwrap_or_default();
                            format!("{column}{}", err.kind())
                        }
                        _ => e.to_string(),
                    };
                    errors.push(format!("{name}:{line}: {message}"));
                    continue;
                }
            };
            let problems = record.validate();
            if !problems.is_empty() {
                errors.extend(problems.into_iter().map(|p| format!("{name}:{line}: {p}")));
                continue;
            }
            let Some(domain) = normalize_domain(&record.domain) else {
                continue;
            };
            if let Some(first) = lines.insert(domain.clone(), line) {
                errors.push(format!(
                    "{name}:{line}: domain: `{domain}` is already on line {first}"
                ));
                continue;
            }
            records.insert(domain, Arc::new(record));
        }
        if errors.is_empty() {
            Ok(records)
        } else {
            Err(RegistryError::Rows(errors))
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

impl Registry for CsvRegistry {
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a> {
        let found = lookup_candidates(host)
            .iter()
            .find_map(|c| self.records.get(c))
            .map(|r| (**r).clone());
        Box::pin(async move { Ok(found) })
    }

    fn describe(&self) -> String {
        format!("{} ({} domains)", self.path.display(), self.records.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "domain,icp_number,owner,owner_nature,site_name,approved_at,licence_number,psb_number,restricted,services,permits\n";

    fn parse(rows: &str) -> Result<HashMap<String, Arc<FilingRecord>>, RegistryError> {
        CsvRegistry::parse("filings.csv", format!("{HEADER}{rows}").as_bytes())
    }

    #[test]
    fn rows_parse_with_lists_flags_and_optional_columns() {
        let records = parse(
            "Example.CN.,京ICP备05004340号-1,示例科技有限公司,企业,示例网,2019-05-01,京ICP证030173号,京公网安备11000002000001号,否,forum;news,(京)-经营性-2014-0008\n\
             blog.test,京ICP备05004341号-2,张三,个人,张三的博客,,,,,,\n",
        )
        .unwrap();
        let example = &records["example.cn"];
        assert_eq!(example.services, ["forum", "news"]);
        assert!(!example.restricted);
        assert_eq!(example.licence_number.as_deref(), Some("京ICP证030173号"));
        assert_eq!(
            example.permit_kinds(),
            [NumberKind::IcpLicence, NumberKind::DrugInfoPermit]
        );
        let blog = &records["blog.test"];
        assert_eq!(
            (blog.approved_at.clone(), blog.psb_number.clone()),
            (None, None)
        );
        assert!(blog.services.is_empty() && blog.permit_kinds().is_empty());
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let error = parse(
            "a.test,京ICP备05004340号-1,,,,,,,maybe,,\n\
             b.test,not a number,,,,,,,,,\n\
             c.test,京ICP备05004342号,,,,2019-13-01,,京公网安备123号?,,,\n\
             a.test,京ICP备05004343号,,,,,,,,,\n\
             d.test,京ICP备05004344号,,,\n",
        )
        .unwrap_err();
        let RegistryError::Rows(rows) = error else {
            panic!("expected row errors, got {error}")
        };
        let text = rows.join("\n");
        assert!(text.contains("filings.csv:2: restricted"), "{text}");
        assert!(text.contains("filings.csv:3: icp_number"), "{text}");
        assert!(text.contains("filings.csv:4: approved_at"), "{text}");
        assert!(text.contains("filings.csv:6:"), "{text}");
        assert_eq!(rows.len(), 5, "{text}");
    }

    #[test]
    fn a_missing_column_is_named() {
        let error = CsvRegistry::parse("f.csv", b"domain,owner\na.test,x\n").unwrap_err();
        assert!(error.to_string().contains("`icp_number`"), "{error}");
    }

    #[test]
    fn lookups_walk_up_to_the_registrable_domain() {
        assert_eq!(
            lookup_candidates("WWW.Shop.Example.com.cn."),
            [
                "www.shop.example.com.cn",
                "shop.example.com.cn",
                "example.com.cn"
            ]
        );
        assert_eq!(lookup_candidates("example.cn"), ["example.cn"]);
        assert!(lookup_candidates("http://x/").is_empty());
    }

    #[tokio::test]
    async fn the_csv_backend_finds_parents_but_not_siblings() {
        let records = parse("example.cn,京ICP备05004340号-1,,,,,,,,,\n").unwrap();
        let registry = CsvRegistry {
            path: PathBuf::from("filings.csv"),
            records,
        };
        assert!(registry.lookup("www.example.cn").await.unwrap().is_some());
        assert!(registry.lookup("example.cn").await.unwrap().is_some());
        assert!(registry.lookup("example.com").await.unwrap().is_none());
        assert!(registry.lookup("notexample.cn").await.unwrap().is_none());
    }
}
