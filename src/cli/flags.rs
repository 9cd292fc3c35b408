//! `sitepatrol flags list|show|confirm|dismiss|export`: the reviewers' command line, a client
//! of a running daemon's review API (`/api/v1`).
//!
//! The token comes from `SITEPATROL_TOKEN`, never from an argument (arguments show up in `ps`
//! and shell history). The daemon serves plain HTTP; put a TLS proxy in front of it for remote
//! reviewers, and reach that proxy's plain side or a tunnel with `--url`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::exit;

/// The daemon's default `[http] listen` address.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9187";

#[derive(Debug, clap::Args)]
pub struct FlagsArgs {
    /// The daemon's address (default: $SITEPATROL_URL, else http://127.0.0.1:9187). The token
    /// is read from $SITEPATROL_TOKEN.
    #[arg(long, global = true, value_name = "URL")]
    url: Option<String>,
    #[command(subcommand)]
    command: FlagsCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Clone, clap::Args)]
struct Filters {
    /// open, confirmed, dismissed, resolved, reopened (repeatable).
    #[arg(long)]
    state: Vec<String>,
    /// gambling, pornography, ... (repeatable).
    #[arg(long)]
    category: Vec<String>,
    /// info, low, medium, high, critical (repeatable).
    #[arg(long)]
    severity: Vec<String>,
    #[arg(long)]
    rule: Option<String>,
    #[arg(long)]
    site: Option<String>,
    #[arg(long)]
    customer: Option<String>,
    /// Created at or after: Unix seconds, 2026-11-27 or 2026-11-27T08:00:00Z.
    #[arg(long)]
    from: Option<String>,
    /// Created before (same forms as --from).
    #[arg(long)]
    to: Option<String>,
    /// newest (default), oldest or severity.
    #[arg(long)]
    sort: Option<String>,
}

impl Filters {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        for (name, values) in [
            ("state", &self.state),
            ("category", &self.category),
            ("severity", &self.severity),
        ] {
            if !values.is_empty() {
                q.push((name, values.join(",")));
            }
        }
        for (name, value) in [
            ("rule", &self.rule),
            ("site", &self.site),
            ("customer", &self.customer),
            ("from", &self.from),
            ("to", &self.to),
            ("sort", &self.sort),
        ] {
            if let Some(v) = value {
                q.push((name, v.clone()));
            }
        }
        q
    }
}

#[derive(Debug, clap::Subcommand)]
enum FlagsCommand {
    /// List flags, newest first (a page at a time; --all follows every page).
    List {
        #[command(flatten)]
        filters: Filters,
        /// Flags per page (1-1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Start at this page (the `next_cursor` a previous list printed).
        #[arg(long)]
        cursor: Option<String>,
        /// Every page, not just the first.
        #[arg(long)]
        all: bool,
        /// Default: table on a terminal, JSON lines otherwise.
        #[arg(long, value_enum)]
        format: Option<ListFormat>,
    },
    /// One flag with its evidence and history.
    Show {
        id: i64,
        /// Default: table on a terminal, JSON otherwise.
        #[arg(long, value_enum)]
        format: Option<ListFormat>,
    },
    /// Confirm flags (takedown requested). Several ids go as one bulk action.
    Confirm {
        #[arg(required = true)]
        ids: Vec<i64>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Dismiss flags as false positives; the reason is required.
    Dismiss {
        #[arg(required = true)]
        ids: Vec<i64>,
        #[arg(long)]
        reason: String,
    },
    /// Export matching flags as CSV (UTF-8 with BOM, for Excel) or JSON lines.
    Export {
        #[command(flatten)]
        filters: Filters,
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        /// Write here instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// What went wrong talking to the daemon, worded for the reviewer at the terminal.
#[derive(Debug)]
struct Failure(String);

type Outcome<T> = Result<T, Failure>;

struct Api {
    base: String,
    token: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

struct Reply {
    status: StatusCode,
    body: Bytes,
}

impl Api {
    fn new(url: Option<String>) -> Outcome<Api> {
        let base = url
            .or_else(|| {
                std::env::var("SITEPATROL_URL")
                    .ok()
                    .filter(|u| !u.is_empty())
            })
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        let base = base.trim_end_matches('/').to_string();
        let parsed = url::Url::parse(&base)
            .map_err(|e| Failure(format!("--url `{base}` is not a URL: {e}")))?;
        if parsed.scheme() != "http" {
            return Err(Failure(format!(
                "--url `{base}`: only http:// is supported (the daemon serves plain HTTP)"
            )));
        }
        let token = std::env::var("SITEPATROL_TOKEN").unwrap_or_default();
        if token.trim().is_empty() {
            return Err(Failure(
                "SITEPATROL_TOKEN is not set: set it to your API token (an admin creates one with `sitepatrol token new`)".into(),
            ));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Api {
            base,
            token: token.trim().to_string(),
            client,
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        timeout: Duration,
    ) -> Outcome<Reply> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut builder = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        let body = match body {
            Some(v) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(v.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = builder
            .body(body)
            .map_err(|e| Failure(format!("cannot make a request to {url}: {e}")))?;
        let unreachable = |e: &dyn std::fmt::Display| {
            Failure(format!(
                "cannot reach the daemon at {}: {e} (is `sitepatrol daemon` running there? --url or SITEPATROL_URL names another address)",
                self.base
            ))
        };
        let response = match tokio::time::timeout(timeout, self.client.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                // The connect error is the useful part, not hyper-util's wrapper.
                let mut source: &dyn std::error::Error = &e;
                while let Some(inner) = source.source() {
                    source = inner;
                }
                return Err(unreachable(&source));
            }
            Err(_) => return Err(unreachable(&format!("no answer within {timeout:?}"))),
        };
        let status = response.status();
        let body = match tokio::time::timeout(timeout, response.into_body().collect()).await {
            Ok(Ok(body)) => body.to_bytes(),
            Ok(Err(e)) => return Err(unreachable(&e)),
            Err(_) => return Err(unreachable(&format!("no whole answer within {timeout:?}"))),
        };
        Ok(Reply { status, body })
    }

    /// The JSON of a 2xx answer, or the API's error worded for the reviewer.
    async fn json(&self, method: Method, path: &str, body: Option<Value>) -> Outcome<Value> {
        let reply = self
            .send(method, path, body, Duration::from_secs(60))
            .await?;
        let reply = check(reply)?;
        serde_json::from_slice(&reply.body)
            .map_err(|e| Failure(format!("the daemon's answer is not JSON: {e}")))
    }
}

fn check(reply: Reply) -> Outcome<Reply> {
    if reply.status.is_success() {
        return Ok(reply);
    }
    let error: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let code = error["error"]["code"].as_str().unwrap_or("");
    let message = error["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).trim().to_string());
    let hint = match reply.status {
        StatusCode::UNAUTHORIZED => {
            " (check SITEPATROL_TOKEN; an admin creates tokens with `sitepatrol token new`)"
        }
        StatusCode::FORBIDDEN => " (ask an admin for a token with a higher role)",
        StatusCode::TOO_MANY_REQUESTS => " (too many bad tokens from this address; wait)",
        _ => "",
    };
    Err(Failure(format!(
        "the daemon answered {} {code}: {message}{hint}",
        reply.status.as_u16()
    )))
}

fn query_string(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let mut s = url::form_urlencoded::Serializer::for_suffix(String::from("?"), 1);
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub fn run(args: FlagsArgs) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::ERROR;
        }
    };
    match runtime.block_on(run_async(args)) {
        Ok(code) => code,
        Err(Failure(message)) => {
            eprintln!("error: {message}");
            exit::ERROR
        }
    }
}

async fn run_async(args: FlagsArgs) -> Outcome<i32> {
    let api = Api::new(args.url)?;
    let terminal = std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    match args.command {
        FlagsCommand::List {
            filters,
            limit,
            cursor,
            all,
            format,
        } => {
            let format = format.unwrap_or(if terminal {
                ListFormat::Table
            } else {
                ListFormat::Jsonl
            });
            let (flags, next) = list_flags(&api, &filters, limit, cursor, all).await?;
            write_flags(&mut out, &flags, next.as_deref(), format)?;
            if let Some(next) = next
                && format != ListFormat::Json
            {
                eprintln!("more flags: --cursor {next} (or --all)");
            }
            Ok(exit::OK)
        }
        FlagsCommand::Show { id, format } => {
            let detail = api.json(Method::GET, &format!("/flags/{id}"), None).await?;
            let format = format.unwrap_or(if terminal {
                ListFormat::Table
            } else {
                ListFormat::Json
            });
            match format {
                ListFormat::Table => write_detail(&mut out, &detail).map_err(write_failed)?,
                ListFormat::Json => writeln!(out, "{detail:#}").map_err(write_failed)?,
                ListFormat::Jsonl => writeln!(out, "{detail}").map_err(write_failed)?,
            }
            Ok(exit::OK)
        }
        FlagsCommand::Confirm { ids, reason } => {
            let body = match &reason {
                Some(r) => serde_json::json!({ "reason": r }),
                None => serde_json::json!({}),
            };
            act(&api, &mut out, "confirm", &ids, body).await
        }
        FlagsCommand::Dismiss { ids, reason } => {
            let body = serde_json::json!({ "reason": reason });
            act(&api, &mut out, "dismiss", &ids, body).await
        }
        FlagsCommand::Export {
            filters,
            format,
            output,
        } => export(&api, &mut out, &filters, format, output).await,
    }
}

fn write_failed(e: std::io::Error) -> Failure {
    Failure(format!("cannot write the output: {e}"))
}

/// The flags the filters select, a page of `limit` at a time from `cursor`: one page, or
/// every page with `all`. Returns them and the cursor of the next page, if any.
async fn list_flags(
    api: &Api,
    filters: &Filters,
    limit: u32,
    mut cursor: Option<String>,
    all: bool,
) -> Outcome<(Vec<Value>, Option<String>)> {
    let mut flags = Vec::new();
    loop {
        let mut q = filters.query();
        q.push(("limit", limit.to_string()));
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let page = api
            .json(Method::GET, &format!("/flags{}", query_string(&q)), None)
            .await?;
        flags.extend(page["flags"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) if all => cursor = Some(c.to_string()),
            Some(c) => return Ok((flags, Some(c.to_string()))),
            None => return Ok((flags, None)),
        }
    }
}

fn write_flags(
    out: &mut impl Write,
    flags: &[Value],
    next: Option<&str>,
    format: ListFormat,
) -> Outcome<()> {
    match format {
        ListFormat::Table => write_table(out, flags).map_err(write_failed),
        ListFormat::Json => {
            let doc = serde_json::json!({"flags": flags, "next_cursor": next});
            writeln!(out, "{doc:#}").map_err(write_failed)
        }
        ListFormat::Jsonl => {
            for flag in flags {
                writeln!(out, "{flag}").map_err(write_failed)?;
            }
            Ok(())
        }
    }
}

async fn export(
    api: &Api,
    out: &mut impl Write,
    filters: &Filters,
    format: ExportFormat,
    output: Option<PathBuf>,
) -> Outcome<i32> {
    let ext = match format {
        ExportFormat::Csv => "csv",
        ExportFormat::Jsonl => "jsonl",
    };
    let path = format!("/export/flags.{ext}{}", query_string(&filters.query()));
    let reply = api
        .send(Method::GET, &path, None, Duration::from_secs(600))
        .await?;
    let reply = check(reply)?;
    match output {
        Some(file) => std::fs::write(&file, &reply.body)
            .map_err(|e| Failure(format!("cannot write {}: {e}", file.display())))?,
        None => out.write_all(&reply.body).map_err(write_failed)?,
    }
    Ok(exit::OK)
}

/// One action on each id: alone through its own route, several through one bulk request per
/// 1,000. Prints one line per flag; exit 2 if any failed.
async fn act(
    api: &Api,
    out: &mut impl Write,
    action: &str,
    ids: &[i64],
    body: Value,
) -> Outcome<i32> {
    let write_failed = |e: std::io::Error| Failure(format!("cannot write the output: {e}"));
    let mut failed = 0;
    if let [id] = ids {
        let flag = api
            .json(Method::POST, &format!("/flags/{id}/{action}"), Some(body))
            .await?;
        writeln!(out, "flag {id}: {}", flag["state"].as_str().unwrap_or("?"))
            .map_err(write_failed)?;
        return Ok(exit::OK);
    }
    for chunk in ids.chunks(1000) {
        let mut request = body.clone();
        request["action"] = Value::from(action);
        request["ids"] = Value::from(chunk.to_vec());
        let answer = api.json(Method::POST, "/flags/bulk", Some(request)).await?;
        for result in answer["results"].as_array().into_iter().flatten() {
            let id = &result["id"];
            if result["ok"] == Value::Bool(true) {
                writeln!(
                    out,
                    "flag {id}: {}",
                    result["flag"]["state"].as_str().unwrap_or("?")
                )
                .map_err(write_failed)?;
            } else {
                failed += 1;
                writeln!(
                    out,
                    "flag {id}: not {action}ed: {} ({})",
                    clean(result["error"]["message"].as_str().unwrap_or("")),
                    result["error"]["code"].as_str().unwrap_or("")
                )
                .map_err(write_failed)?;
            }
        }
    }
    Ok(if failed == 0 { exit::OK } else { exit::ERROR })
}

/// Evidence is hostile: control characters (terminal escape sequences) are shown escaped.
pub(super) fn clean(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// `text` cut and padded to `width` terminal columns: a CJK character takes two, so counting
/// characters would misalign every row with Chinese evidence.
fn cell(text: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let text = clean(text);
    let w = |c: char| c.width().unwrap_or(0);
    let total: usize = text.chars().map(w).sum();
    let mut out = String::new();
    let mut used = 0;
    if total <= width {
        out = text;
        used = total;
    } else {
        for c in text.chars() {
            if used + w(c) > width.saturating_sub(1) {
                break;
            }
            used += w(c);
            out.push(c);
        }
        out.push('…');
        used += 1;
    }
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

fn field(flag: &Value, key: &str) -> String {
    match &flag[key] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A score, weight or contribution: two decimals, `-` when there is none (unscored).
fn number(value: &Value) -> String {
    value
        .as_f64()
        .map(|v| format!("{v:.2}"))
        .unwrap_or_else(|| "-".into())
}

fn write_table(out: &mut impl Write, flags: &[Value]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>7}  {:<9}  {:<8}  {:<14}  {:>5}  {:<12}  {:<20}  URL",
        "ID", "STATE", "SEVERITY", "CATEGORY", "SCORE", "SITE", "MATCHED"
    )?;
    for f in flags {
        writeln!(
            out,
            "{:>7}  {:<9}  {:<8}  {}  {:>5}  {}  {}  {}",
            field(f, "id"),
            field(f, "state"),
            field(f, "severity"),
            cell(&field(f, "category"), 14),
            number(&f["score"]),
            cell(&field(f, "site"), 12),
            cell(&field(f, "matched"), 20),
            clean(&field(f, "url")),
        )?;
    }
    writeln!(out, "{} flag(s)", flags.len())
}

fn write_detail(out: &mut impl Write, detail: &Value) -> std::io::Result<()> {
    let flag = &detail["flag"];
    for key in [
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
        "assignee",
        "http_status",
        "ip",
        "body_sha256",
    ] {
        writeln!(out, "{key:>12}: {}", clean(&field(flag, key)))?;
    }
    writeln!(out, "{:>12}: {}", "score", number(&flag["score"]))?;
    for key in ["fetched_at", "created_at", "updated_at", "last_seen_at"] {
        let value = flag[key]
            .as_i64()
            .map(sitepatrol_server::review::export::rfc3339)
            .unwrap_or_else(|| "-".into());
        writeln!(out, "{key:>12}: {value}")?;
    }
    write_signals(out, flag)?;
    writeln!(out, "history:")?;
    for e in detail["events"].as_array().into_iter().flatten() {
        let at = e["at"]
            .as_i64()
            .map(sitepatrol_server::review::export::rfc3339)
            .unwrap_or_default();
        let change = match (e["from_state"].as_str(), e["to_state"].as_str()) {
            (Some(from), Some(to)) => format!("{from} → {to}"),
            (None, Some(to)) => to.to_string(),
            _ => field(e, "kind"),
        };
        let reason = e["reason"].as_str().map(|r| format!(": {}", clean(r)));
        writeln!(
            out,
            "  {at}  {}  {change}{}",
            clean(&field(e, "actor")),
            reason.unwrap_or_default()
        )?;
    }
    Ok(())
}

/// The signals behind a flag, strongest first: rule, zone, weight → contribution, the match
/// and its snippet (escaped like all evidence).
fn write_signals(out: &mut impl Write, flag: &Value) -> std::io::Result<()> {
    let signals = flag["signals"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    writeln!(out, "signals:")?;
    for s in signals {
        writeln!(
            out,
            "  {}  {}  {} → {}  {}  ({})",
            cell(&field(s, "rule"), 24),
            cell(&field(s, "zone"), 11),
            number(&s["weight"]),
            number(&s["contribution"]),
            clean(&field(s, "matched")),
            clean(&field(s, "snippet")),
        )?;
    }
    match flag["signals_omitted"].as_u64() {
        Some(n) if n > 0 => writeln!(out, "  and {n} more not listed"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_in_evidence_are_shown_escaped() {
        assert_eq!(clean("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
        assert_eq!(cell("网上赌博平台", 6), "网上… ");
        assert_eq!(cell("网上赌博", 10), "网上赌博  ");
        assert_eq!(cell("abcdefgh", 5), "abcd…");
    }

    #[test]
    fn details_list_the_signals_escaped() {
        let detail = serde_json::json!({"flag": {"id": 7, "score": 1.6, "signals_omitted": 2,
            "signals": [{"rule": "gambling.casino", "zone": "text", "weight": 1.0,
                "contribution": 1.0, "matched": "百家乐\u{1b}[2J", "snippet": "前文百家乐"},
                {"rule": "gambling.bet", "zone": null, "weight": null, "contribution": null,
                "matched": "投注", "snippet": "投注"}]}, "events": []});
        let mut out = Vec::new();
        write_detail(&mut out, &detail).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("       score: 1.60"), "{text}");
        assert!(
            text.contains("1.00 → 1.00  百家乐\\u{1b}[2J  (前文百家乐)"),
            "{text}"
        );
        assert!(text.contains("- → -  投注"), "{text}");
        assert!(text.contains("and 2 more not listed"), "{text}");
        let mut out = Vec::new();
        write_table(&mut out, &[detail["flag"].clone()]).unwrap();
        assert!(String::from_utf8(out).unwrap().contains(" 1.60 "));
    }

    #[test]
    fn filters_become_the_api_query() {
        let f = Filters {
            state: vec!["open".into(), "reopened".into()],
            category: vec![],
            severity: vec!["high".into()],
            rule: None,
            site: Some("示例".into()),
            customer: None,
            from: Some("2026-11-27".into()),
            to: None,
            sort: None,
        };
        assert_eq!(
            query_string(&f.query()),
            "?state=open%2Creopened&severity=high&site=%E7%A4%BA%E4%BE%8B&from=2026-11-27"
        );
    }
}
