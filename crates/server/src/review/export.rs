//! Flags exported for reviewers' spreadsheets and for other systems.
//!
//! CSV is UTF-8 with a byte-order mark, because Excel opens a BOM-less UTF-8 CSV as the
//! system's ANSI code page and turns every Chinese character into mojibake. JSON lines carry
//! the flag as the API shows it.

use std::io::{self, Write};

use sitepatrol_store::{CaseFigures, CaseReport, Flag, FlagSignal, Timestamp};

/// The CSV columns, in order. Columns are only ever added at the end, so that sheets and
/// scripts that read them by position keep working.
pub const CSV_COLUMNS: [&str; 25] = [
    "id",
    "state",
    "severity",
    "category",
    "clause",
    "rule",
    "description",
    "site",
    "customer",
    "url",
    "zone",
    "matched",
    "snippet",
    "count",
    "fetched_at",
    "http_status",
    "ip",
    "body_sha256",
    "assignee",
    "created_at",
    "updated_at",
    "last_seen_at",
    "score",
    "signals",
    "signals_omitted",
];

/// Writes flags as CSV, header first.
pub struct CsvExport<W: Write> {
    writer: csv::Writer<W>,
}

impl<W: Write> CsvExport<W> {
    pub fn new(mut out: W) -> io::Result<CsvExport<W>> {
        out.write_all(b"\xEF\xBB\xBF")?;
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        writer.write_record(CSV_COLUMNS).map_err(io::Error::other)?;
        Ok(CsvExport { writer })
    }

    pub fn write(&mut self, flag: &Flag) -> io::Result<()> {
        let record = [
            flag.id.to_string(),
            flag.state.as_str().to_string(),
            flag.severity.as_str().to_string(),
            flag.category.clone(),
            flag.clause.clone(),
            flag.rule.clone(),
            flag.description.clone(),
            flag.site.clone(),
            flag.customer.clone(),
            flag.url.clone(),
            flag.zone.clone().unwrap_or_default(),
            defuse(&flag.matched),
            defuse(&flag.snippet),
            flag.count.to_string(),
            rfc3339(flag.fetched_at),
            flag.http_status.map(|s| s.to_string()).unwrap_or_default(),
            flag.ip.clone().unwrap_or_default(),
            flag.body_sha256.clone(),
            flag.assignee.clone().unwrap_or_default(),
            rfc3339(flag.created_at),
            rfc3339(flag.updated_at),
            rfc3339(flag.last_seen_at),
            flag.score.map(|s| s.to_string()).unwrap_or_default(),
            defuse(&signals_cell(&flag.signals)),
            flag.signals_omitted.to_string(),
        ];
        self.writer.write_record(&record).map_err(io::Error::other)
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.writer.flush()?;
        self.writer
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

/// Every signal on one line of a cell, strongest first: `rule[zone]: matched (+contribution)`.
fn signals_cell(signals: &[FlagSignal]) -> String {
    signals
        .iter()
        .map(|s| {
            let zone = s
                .zone
                .as_deref()
                .map(|z| format!("[{z}]"))
                .unwrap_or_default();
            let added = s
                .contribution
                .map(|c| format!(" (+{c:.2})"))
                .unwrap_or_default();
            format!("{}{zone}: {}{added}", s.rule, s.matched)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Evidence is hostile: a cell starting with `=`, `+`, `-` or `@` is a formula to a
/// spreadsheet (CSV injection). A leading apostrophe keeps it text; the rest is unchanged.
fn defuse(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

/// The columns of the case report's CSV, in order; like [`CSV_COLUMNS`], only ever added to
/// at the end. Every row names its period and customer (empty: the whole fleet), so that
/// reports of several periods can be concatenated into one sheet. One row per category, then
/// the `total` row; `sites_patrolled` and `pages_scanned` are not per category and are filled
/// in the total row only. Medians are seconds, empty when no case qualifies.
pub const REPORT_CSV_COLUMNS: [&str; 16] = [
    "from",
    "to",
    "customer",
    "category",
    "opened",
    "confirmed",
    "rectified",
    "resolved",
    "dismissed",
    "overdue",
    "open_at_end",
    "overdue_at_end",
    "median_seconds_to_confirm",
    "median_seconds_to_rectify",
    "sites_patrolled",
    "pages_scanned",
];

/// The category cell of the report's total row.
pub const REPORT_TOTAL: &str = "total";

/// The case report as CSV: UTF-8 with a BOM (for Excel, as the flag export), CRLF lines.
pub fn report_csv(report: &CaseReport) -> io::Result<Vec<u8>> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(&mut out);
    writer
        .write_record(REPORT_CSV_COLUMNS)
        .map_err(io::Error::other)?;
    // The customer is the operator's text, but it reaches a spreadsheet: defused like evidence.
    let customer = defuse(report.customer.as_deref().unwrap_or(""));
    let row = |category: &str, f: &CaseFigures, totals: Option<(u64, u64)>| {
        let median = |m: Option<f64>| m.map(|m| m.to_string()).unwrap_or_default();
        let (sites, pages) = totals
            .map(|(s, p)| (s.to_string(), p.to_string()))
            .unwrap_or_default();
        vec![
            rfc3339(report.from),
            rfc3339(report.to),
            customer.clone(),
            defuse(category),
            f.opened.to_string(),
            f.confirmed.to_string(),
            f.rectified.to_string(),
            f.resolved.to_string(),
            f.dismissed.to_string(),
            f.overdue.to_string(),
            f.open_at_end.to_string(),
            f.overdue_at_end.to_string(),
            median(f.median_seconds_to_confirm),
            median(f.median_seconds_to_rectify),
            sites,
            pages,
        ]
    };
    for c in &report.categories {
        writer
            .write_record(row(&c.category, &c.figures, None))
            .map_err(io::Error::other)?;
    }
    let totals = Some((report.sites_patrolled, report.pages_scanned));
    writer
        .write_record(row(REPORT_TOTAL, &report.total, totals))
        .map_err(io::Error::other)?;
    writer.flush()?;
    drop(writer);
    Ok(out)
}

/// One JSON object per line.
pub fn write_jsonl<W: Write>(out: &mut W, flag: &Flag) -> io::Result<()> {
    serde_json::to_writer(&mut *out, flag)?;
    out.write_all(b"\n")
}

/// `2026-11-27T08:00:00Z` for a Unix timestamp.
pub fn rfc3339(ts: Timestamp) -> String {
    utc(ts, "%Y-%m-%dT%H:%M:%SZ")
}

/// `2026-11-27` for a Unix timestamp.
pub fn date(ts: Timestamp) -> String {
    utc(ts, "%Y-%m-%d")
}

/// `ts` in UTC as `format`; a time outside years -9999..=9999 (never a real one) is shown as
/// its number of seconds.
fn utc(ts: Timestamp, format: &str) -> String {
    match jiff::Timestamp::from_second(ts) {
        Ok(time) => time.strftime(format).to_string(),
        Err(_) => ts.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sitepatrol_core::finding::Severity;
    use sitepatrol_store::FlagState;

    fn flag() -> Flag {
        Flag {
            id: 7,
            fingerprint: "f".repeat(64),
            site: "s-1".into(),
            customer: "示例科技".into(),
            url: "http://www.example.cn/a?b=1,2".into(),
            rule: "gambling.online_casino".into(),
            category: "gambling".into(),
            clause: "§2(7)".into(),
            severity: Severity::High,
            description: "网络赌场推广".into(),
            zone: Some("text".into()),
            matched: "=HYPERLINK(\"http://evil.test\")".into(),
            normalized: "x".into(),
            snippet: "在线百家乐, \"24小时\"\n第二行".into(),
            offset: 3,
            count: 2,
            score: Some(1.25),
            signals: vec![
                FlagSignal {
                    rule: "gambling.online_casino".into(),
                    weight: Some(1.0),
                    contribution: Some(1.0),
                    zone: Some("text".into()),
                    matched: "=HYPERLINK(\"http://evil.test\")".into(),
                    normalized: "x".into(),
                    snippet: "s".into(),
                    offset: 3,
                    count: 2,
                    seen_by: Vec::new(),
                },
                FlagSignal {
                    rule: "gambling.bet".into(),
                    weight: None,
                    contribution: None,
                    zone: None,
                    matched: "投注".into(),
                    normalized: "投注".into(),
                    snippet: "s".into(),
                    offset: 0,
                    count: 1,
                    seen_by: Vec::new(),
                },
            ],
            signals_omitted: 4,
            state: FlagState::Open,
            assignee: None,
            fetched_at: 1_795_766_400,
            http_status: Some(200),
            ip: Some("203.0.113.9".into()),
            body_sha256: "0".repeat(64),
            created_at: 0,
            updated_at: 86_399,
            last_seen_at: 951_782_400,
            first_run: "r1".into(),
            last_run: "r2".into(),
            case_id: None,
            version: 1,
        }
    }

    #[test]
    fn csv_is_bom_utf8_with_the_columns_and_quoted_evidence() {
        let mut export = CsvExport::new(Vec::new()).unwrap();
        export.write(&flag()).unwrap();
        let bytes = export.finish().unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, CSV_COLUMNS);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(&row[8], "示例科技");
        assert_eq!(&row[9], "http://www.example.cn/a?b=1,2");
        assert_eq!(&row[11], "'=HYPERLINK(\"http://evil.test\")");
        assert_eq!(&row[12], "在线百家乐, \"24小时\"\n第二行");
        assert_eq!(&row[14], "2026-11-27T08:00:00Z");
        assert_eq!(&row[19], "1970-01-01T00:00:00Z");
        assert_eq!(&row[20], "1970-01-01T23:59:59Z");
        assert_eq!(&row[21], "2000-02-29T00:00:00Z");
        assert_eq!(&row[22], "1.25");
        assert_eq!(
            &row[23],
            "gambling.online_casino[text]: =HYPERLINK(\"http://evil.test\") (+1.00); gambling.bet: 投注"
        );
        assert_eq!(&row[24], "4");
    }

    #[test]
    fn jsonl_is_one_object_per_line() {
        let mut out = Vec::new();
        write_jsonl(&mut out, &flag()).unwrap();
        write_jsonl(&mut out, &flag()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let value: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(value["customer"], "示例科技");
        assert_eq!(value["state"], "open");
        assert_eq!(value["score"], 1.25);
        assert_eq!(value["signals"][1]["matched"], "投注");
    }

    #[test]
    fn dates() {
        assert_eq!(date(1_795_766_400), "2026-11-27");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
