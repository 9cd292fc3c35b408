//! The case report served by the real daemon: `/api/v1/reports/cases` (JSON, checked against
//! the OpenAPI document), `/api/v1/reports/cases.csv`, their validation errors, and the UI's
//! `/reports` page with its CSV and JSON, over the storage suite's hand-made history (whose
//! figures `store_suite::report` asserts) with a hostile customer name.

use serde_json::{Value, json};

use crate::api::{Client, Schemas, tokens};
use crate::common::daemon::*;
use crate::common::{Action, serve};
use crate::store_suite::report::history;
use crate::ui::Browser;
use sitepatrol_server::review::export::REPORT_CSV_COLUMNS;
use sitepatrol_store::{SiteInfo, Store};

/// rb's customer: a formula to a spreadsheet, markup to a page.
const HOSTILE: &str = "=HYPERLINK(\"http://x\")<script>alert('rb')</script>";

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A report's rows as (category, [opened, confirmed, rectified, resolved, dismissed, overdue,
/// open_at_end, overdue_at_end], median to confirm, median to rectify).
fn rows(report: &Value) -> Vec<(String, [u64; 8], Value, Value)> {
    let counts = |f: &Value| {
        [
            "opened",
            "confirmed",
            "rectified",
            "resolved",
            "dismissed",
            "overdue",
            "open_at_end",
            "overdue_at_end",
        ]
        .map(|k| f[k].as_u64().unwrap_or_else(|| panic!("{k} in {f}")))
    };
    let mut out: Vec<_> = report["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .map(|c| {
            (
                c["category"].as_str().unwrap().to_string(),
                counts(c),
                c["median_seconds_to_confirm"].clone(),
                c["median_seconds_to_rectify"].clone(),
            )
        })
        .collect();
    let t = &report["total"];
    out.push((
        "total".into(),
        counts(t),
        t["median_seconds_to_confirm"].clone(),
        t["median_seconds_to_rectify"].clone(),
    ));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_case_report_as_json_csv_and_a_page() {
    let server = serve(|_| Action::html("<html><body><p>首页</p></body></html>")).await;
    let setup = Setup::new();
    {
        let store = setup.store();
        history(&store);
        store
            .upsert_sites(
                &[SiteInfo {
                    id: "rb".into(),
                    customer: HOSTILE.into(),
                    domains: vec!["rb.example.cn".into()],
                    origin: None,
                    contact: Default::default(),
                }],
                30_000,
            )
            .expect("rename rb's customer");
    }
    let t = tokens();
    let config = setup.write_config(&format!(
        "[schedule]\ninterval = \"1h\"\njitter = 0.0\n[filing]\nenabled = false\n{}\n{}",
        t.config,
        site("shop", "shop.example.test", server.addr.port(), "1h")
    ));
    let daemon = Daemon::start(&config).await;
    let anonymous = Client {
        addr: daemon.http,
        token: None,
    };
    let viewer = Client {
        addr: daemon.http,
        token: Some(t.viewer.clone()),
    };
    let schemas = Schemas {
        doc: anonymous.get("/openapi.json").await.json(),
    };
    let mut violations = Vec::new();

    // The fleet over [10_000, 20_000): the figures the storage suite asserts.
    let r = viewer.get("/reports/cases?from=10000&to=20000").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    violations.extend(schemas.validate("GET", "/reports/cases", &r));
    let fleet = r.json();
    assert_eq!(
        (&fleet["from"], &fleet["to"], &fleet["customer"]),
        (&json!(10_000), &json!(20_000), &Value::Null)
    );
    assert_eq!(
        rows(&fleet),
        vec![
            (
                "gambling".into(),
                [1, 1, 1, 0, 0, 0, 1, 1],
                json!(1000.0),
                json!(7000.0)
            ),
            (
                "malware".into(),
                [1, 0, 0, 1, 0, 0, 0, 0],
                Value::Null,
                Value::Null
            ),
            (
                "pornography".into(),
                [2, 1, 0, 0, 1, 1, 1, 1],
                json!(2000.0),
                Value::Null
            ),
            (
                "total".into(),
                [4, 2, 1, 1, 1, 1, 2, 2],
                json!(1500.0),
                json!(7000.0)
            ),
        ]
    );
    assert_eq!(
        (&fleet["sites_patrolled"], &fleet["pages_scanned"]),
        (&json!(2), &json!(57))
    );

    // One customer, by its (hostile) name; dates and RFC 3339 times like the flag list's.
    let q = format!(
        "from=1970-01-01T02:46:40Z&to=1970-01-01T05:33:20Z&customer={}",
        enc(HOSTILE)
    );
    let r = viewer.get(&format!("/reports/cases?{q}")).await;
    violations.extend(schemas.validate("GET", "/reports/cases", &r));
    let rb = r.json();
    assert_eq!(rb["customer"], HOSTILE);
    assert_eq!(
        rows(&rb),
        vec![
            (
                "gambling".into(),
                [1, 1, 0, 0, 0, 0, 1, 1],
                json!(1000.0),
                Value::Null
            ),
            (
                "malware".into(),
                [1, 0, 0, 1, 0, 0, 0, 0],
                Value::Null,
                Value::Null
            ),
            (
                "pornography".into(),
                [1, 0, 0, 0, 1, 0, 0, 0],
                Value::Null,
                Value::Null
            ),
            (
                "total".into(),
                [3, 1, 0, 1, 1, 0, 1, 1],
                json!(1000.0),
                Value::Null
            ),
        ]
    );
    assert_eq!(
        (&rb["sites_patrolled"], &rb["pages_scanned"]),
        (&json!(1), &json!(24))
    );

    // The CSV: a BOM, the documented header, a row per category and the total, the
    // customer's formula defused.
    let r = viewer.get(&format!("/reports/cases.csv?{q}")).await;
    assert_eq!(r.status, 200);
    violations.extend(schemas.validate("GET", "/reports/cases.csv", &r));
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"sitepatrol-cases-1970-01-01-1970-01-01.csv\"")
    );
    assert!(r.body.starts_with(b"\xEF\xBB\xBF"), "no BOM");
    let text = std::str::from_utf8(&r.body[3..]).expect("UTF-8");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, REPORT_CSV_COLUMNS);
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let cells = |r: &[String]| r[3..].join(",");
    assert_eq!(
        records.iter().map(|r| cells(r)).collect::<Vec<_>>(),
        vec![
            "gambling,1,1,0,0,0,0,1,1,1000,,,",
            "malware,1,0,0,1,0,0,0,0,,,,",
            "pornography,1,0,0,0,1,0,0,0,,,,",
            "total,3,1,0,1,1,0,1,1,1000,,1,24",
        ]
    );
    for record in &records {
        assert_eq!(
            &record[..3],
            [
                "1970-01-01T02:46:40Z".to_string(),
                "1970-01-01T05:33:20Z".to_string(),
                format!("'{HOSTILE}")
            ]
        );
    }
    assert!(text.contains("\r\n"), "CRLF lines");

    // Defaults: the 30 days before now.
    let r = viewer.get("/reports/cases").await;
    violations.extend(schemas.validate("GET", "/reports/cases", &r));
    let recent = r.json();
    let now = sitepatrol_core::clock::unix_now();
    let to = recent["to"].as_i64().unwrap();
    assert!((now - 60..=now).contains(&to), "to {to}, now {now}");
    assert_eq!(recent["from"].as_i64().unwrap(), to - 30 * 86_400);
    let r = viewer.get("/reports/cases?to=20000&customer=cust-a").await;
    assert_eq!(r.json()["from"], 20_000 - 30 * 86_400);

    // Refusals: 400 invalid_parameter, documented; 401 without a token.
    for bad in [
        "from=20000&to=10000",
        "from=2025-01-01&to=2026-11-01",
        "from=yesterday",
        "to=2026-13-01",
        "customer=a&customer=b",
        "site=ra",
    ] {
        for path in ["/reports/cases", "/reports/cases.csv"] {
            let r = viewer.get(&format!("{path}?{bad}")).await;
            assert_eq!(
                (r.status, r.code().as_str()),
                (400, "invalid_parameter"),
                "{path}?{bad}"
            );
            violations.extend(schemas.validate("GET", path, &r));
        }
    }
    let r = anonymous.get("/reports/cases").await;
    assert_eq!(r.status, 401);
    violations.extend(schemas.validate("GET", "/reports/cases", &r));
    assert!(violations.is_empty(), "{violations:#?}");

    // The page: linked from the header, the figures in its table, the customer escaped.
    let mut browser = Browser::new(daemon.http);
    assert_eq!(
        browser.get("/reports").await.header("location"),
        Some("/login")
    );
    browser.login(&t.viewer).await;
    let page = browser.get("/").await;
    assert!(page.body.contains("href=\"/reports\""), "{}", page.body);
    let page = browser.get(&format!("/reports?{q}&lang=en")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    assert!(
        !body.contains("<script>alert"),
        "unescaped customer:\n{body}"
    );
    assert!(body.contains("&lt;script&gt;alert("), "{body}");
    let row = |category: &str| {
        let at = body
            .find(&format!("data-category=\"{category}\""))
            .unwrap_or_else(|| panic!("no {category} row:\n{body}"));
        let end = at + body[at..].find("</tr>").unwrap();
        let cells: Vec<String> = body[at..end]
            .split("<td")
            .skip(2)
            .map(|cell| {
                let text = &cell[cell.find('>').unwrap() + 1..];
                text[..text.find("</td>").unwrap()].trim().to_string()
            })
            .collect();
        cells.join(",")
    };
    assert_eq!(row("gambling"), "1,1,0,0,0,0,1,1,00:16:40,-");
    assert_eq!(row("pornography"), "1,0,0,0,1,0,0,0,-,-");
    assert_eq!(row("total"), "3,1,0,1,1,0,1,1,00:16:40,-");
    assert!(
        body.contains("<span id=\"sites-patrolled\">1</span>"),
        "{body}"
    );
    assert!(
        body.contains("<span id=\"pages-scanned\">24</span>"),
        "{body}"
    );
    assert!(body.contains("Median time to rectify"), "English");
    // Its CSV and JSON links work with the session, as the API's do with a token.
    let href = |id: &str| {
        let needle = format!("id=\"{id}\" href=\"");
        let at = body.find(&needle).expect(id) + needle.len();
        body[at..at + body[at..].find('"').unwrap()]
            .replace("&#x2f;", "/")
            .replace("&amp;", "&")
    };
    let csv = browser.get(&href("report-csv")).await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(
        csv.body.contains("total,3,1,0,1,1,0,1,1,1000,,1,24"),
        "{}",
        csv.body
    );
    let json_link = browser.get(&href("report-json")).await;
    let served: Value = serde_json::from_str(&json_link.body).expect("JSON");
    assert_eq!(served, rb);
    // A bad period is the error page, not a report.
    let r = browser.get("/reports?from=20000&to=10000").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(browser.get("/reports/other.txt").await.status, 404);
    // Chinese by default.
    let zh = browser.get("/reports?from=10000&to=20000&lang=zh").await;
    assert!(
        zh.body.contains("案件报表") && zh.body.contains("合计"),
        "{}",
        zh.body
    );
    stop(daemon).await;
}
