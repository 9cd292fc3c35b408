//! The rectification notice to a customer (整改通知, one per customer): a customer with three
//! confirmed cases (two categories on one site, one on another site of the same customer)
//! gets one notice as text, HTML and PDF, from a running daemon through the API.
//!
//! The PDF's first page is rasterised with poppler's `pdftoppm` and its text read back with
//! `pdftotext` (the Chinese comes back only if a real CJK font was embedded with its ToUnicode
//! map). Without poppler-utils or a CJK font that part prints a notice and passes, unless
//! `SITEPATROL_REQUIRE_BROWSER` is set (CI sets it, and `.ci/run` installs both).

use std::process::Command;

use crate::api::{Client, Resp, Schemas, tokens};
use crate::common::daemon::*;
use crate::common::{Action, serve};
use serde_json::Value;
use sitepatrol_server::review::pdf::NoticeFont;
use sitepatrol_store::{CaseEventKind, Store};

/// Text that looks like markup on the page (written as entities, so it is the page's visible
/// text): the HTML notice must show it, not run it.
const HOSTILE: &str = "<b onclick=alert(1)>";

fn customer_site(id: &str, domain: &str, port: u16, contact: &str) -> String {
    format!(
        r#"
[[sites]]
id = "{id}"
customer = "acme"
domains = ["{domain}"]
origin = "127.0.0.1"
port = {port}
interval = "1h"
robots = "ignore"
allow_private_networks = true
{contact}
"#
    )
}

async fn checked(schemas: &Schemas, path: &str, r: Resp) -> Resp {
    let violations = schemas.validate("GET", "/customers/{customer}/notice", &r);
    assert!(violations.is_empty(), "GET {path}: {violations:?}");
    r
}

fn body(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Notice comment events of a case.
fn notice_events(store: &dyn Store, case: i64) -> Vec<String> {
    store
        .case(case)
        .unwrap()
        .unwrap()
        .events
        .into_iter()
        .filter(|e| e.kind == CaseEventKind::Comment)
        .filter_map(|e| e.reason)
        .filter(|r| r.starts_with("整改通知 "))
        .collect()
}

/// Whether the PDF tools and a CJK font are here; a notice is printed when not.
fn pdf_tools() -> bool {
    let tool = |name: &str| {
        Command::new(name)
            .arg("-v")
            .output()
            .is_ok_and(|o| o.status.success() || !o.stderr.is_empty())
    };
    let missing: Vec<String> = [
        ("pdftoppm", tool("pdftoppm")),
        ("pdftotext", tool("pdftotext")),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(name, _)| format!("{name} (poppler-utils)"))
    .chain(NoticeFont::search().err().map(|e| e.to_string()))
    .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("SITEPATROL_REQUIRE_BROWSER").is_none(),
        "SITEPATROL_REQUIRE_BROWSER is set but the PDF check cannot run: {missing:?}"
    );
    eprintln!("notice: skipping the PDF rasterisation check: missing {missing:?}");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_with_three_confirmed_cases_gets_one_notice_as_text_html_and_pdf() {
    let server = serve(|request| {
        let path = request.path.split('?').next().unwrap_or("/").to_string();
        let hostile = HOSTILE.replace('<', "&lt;").replace('>', "&gt;");
        // The blog (same server, another name) has only the gambling page.
        let blog = request.header("host").is_some_and(|h| h.starts_with("blog."));
        match path.as_str() {
            "/p0.html" if blog => Action::status(404),
            "/" => Action::html(
                "<html><body><p>首页</p><a href='/p0.html'>p0</a><a href='/p1.html'>p1</a></body></html>",
            ),
            "/p0.html" => Action::html(format!(
                "<html><body><p>{hostile} 欢迎来到网上赌博平台</p><p>免费色情视频</p></body></html>"
            )),
            "/p1.html" => Action::html(format!(
                "<html><body><p>{hostile} 欢迎来到网上赌博平台</p></body></html>"
            )),
            _ => Action::status(404),
        }
    })
    .await;
    let setup = Setup::new();
    let t = tokens();
    let port = server.addr.port();
    let config = setup.write_config(&format!(
        "[schedule]\ninterval = \"1h\"\njitter = 0.0\nshutdown_grace = \"5s\"\n[filing]\nenabled = false\n[review]\nprovider_name = \"某某云\"\n{}\n{}\n{}",
        t.config,
        customer_site(
            "shop",
            "shop.example.test",
            port,
            "customer_name = \"示例科技有限公司\"\ncontact_email = \"ops@acme.example.cn\"\naccount_manager = \"王经理\"",
        ),
        customer_site("blog", "blog.example.test", port, ""),
    ));
    let daemon = Daemon::start(&config).await;
    let store = setup.store();
    wait_runs(&store, "shop", 1).await;
    wait_runs(&store, "blog", 1).await;

    let reviewer = Client {
        addr: daemon.http,
        token: Some(t.reviewer.clone()),
    };
    let viewer = Client {
        addr: daemon.http,
        token: Some(t.viewer.clone()),
    };
    let schemas = Schemas {
        doc: reviewer.ok("/openapi.json").await,
    };
    let notice = |format: &str| format!("/customers/acme/notice?format={format}");

    // The customer's details are in /sites.
    let shop = reviewer.ok("/sites/shop").await;
    assert_eq!(shop["customer_name"], "示例科技有限公司");
    assert_eq!(shop["contact_email"], "ops@acme.example.cn");
    assert_eq!(shop["contact_phone"], Value::Null);

    // Refusals: no case confirmed yet, an unknown customer, a viewer, a bad format.
    let r = checked(&schemas, "no case", reviewer.get(&notice("text")).await).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "not_confirmed".into()),
        "{}",
        body(&r)
    );
    let r = checked(
        &schemas,
        "nobody",
        reviewer.get("/customers/nobody/notice").await,
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "customer_not_found".into()));
    let r = checked(&schemas, "viewer", viewer.get(&notice("text")).await).await;
    assert_eq!(r.status, 403);
    let r = checked(&schemas, "format", reviewer.get(&notice("docx")).await).await;
    assert_eq!((r.status, r.code()), (400, "invalid_parameter".into()));

    // Three cases: gambling and pornography on shop, gambling on blog; confirm them all.
    let cases = reviewer.ok("/cases?customer=acme").await["cases"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(cases.len(), 3, "{cases:?}");
    for case in &cases {
        let r = reviewer
            .post(
                &format!("/cases/{}/confirm", case["id"]),
                r#"{"reason": "违规内容", "deadline_days": 5}"#,
            )
            .await;
        assert_eq!(r.status, 200, "{}", body(&r));
    }
    let ids: Vec<i64> = cases.iter().map(|c| c["id"].as_i64().unwrap()).collect();

    // HEAD records nothing.
    let r = reviewer.send("HEAD", &notice("text"), None).await;
    assert_eq!(r.status, 200);
    for id in &ids {
        assert!(notice_events(&store, *id).is_empty(), "case {id}");
    }

    // Text.
    let r = checked(&schemas, "text", reviewer.get(&notice("text")).await).await;
    assert_eq!(r.status, 200, "{}", body(&r));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let text = body(&r);
    let mut needles = vec![
        "整改通知书".to_string(),
        "致：示例科技有限公司（客户编号 acme）".into(),
        "联系方式：ops@acme.example.cn".into(),
        "客户经理：王经理".into(),
        "发现以下 3 项内容".into(),
        "第二条第（七）项".into(),
        "第三条".into(),
        "审核人：张三".into(),
        "某某云".into(),
        HOSTILE.into(),
    ];
    for id in &ids {
        let detail = store.case(*id).unwrap().unwrap();
        let deadline = sitepatrol_server::review::export::date(detail.case.deadline_at.unwrap());
        needles.push(format!("整改期限：{deadline} 前"));
        needles.push(format!("案件编号 {id}"));
        for flag in &detail.flags {
            needles.push(flag.url.clone());
            needles.push(format!("页面快照 SHA-256：{}", flag.body_sha256));
        }
    }
    for needle in &needles {
        assert!(text.contains(needle.as_str()), "{needle} missing:\n{text}");
    }
    assert!(!text.contains('§'), "{text}");
    assert_eq!(
        text.matches("第二条第（七）项").count(),
        2,
        "two gambling cases:\n{text}"
    );
    let number = text
        .lines()
        .find_map(|l| l.strip_prefix("编号："))
        .unwrap()
        .to_string();
    assert!(
        number.starts_with("ZG-") && number.contains("-C"),
        "{number}"
    );

    // One audit event per case, naming the notice.
    for id in &ids {
        let events = notice_events(&store, *id);
        assert_eq!(events.len(), 1, "case {id}: {events:?}");
        assert!(
            events[0].starts_with(&format!("整改通知 {number} generated")),
            "{events:?}"
        );
    }

    // HTML: escaped, sandboxed; reading it again records nothing new.
    let r = checked(&schemas, "html", reviewer.get(&notice("html")).await).await;
    assert_eq!(r.status, 200, "{}", body(&r));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .starts_with("sandbox")
    );
    let html = body(&r);
    assert!(
        !html.contains(HOSTILE),
        "the hostile snippet is served raw:\n{html}"
    );
    assert!(html.contains("&lt;b onclick=alert(1)&gt;"), "{html}");
    assert_eq!(html.matches("第二条第（七）项").count(), 2, "{html}");
    assert!(html.contains("第三条"), "{html}");
    assert!(html.contains("示例科技有限公司"), "{html}");
    for id in &ids {
        let detail = store.case(*id).unwrap().unwrap();
        let deadline = sitepatrol_server::review::export::date(detail.case.deadline_at.unwrap());
        assert!(
            html.contains(&deadline),
            "{deadline} missing from the HTML:\n{html}"
        );
        for flag in &detail.flags {
            // minijinja's HTML escaping writes `/` as `&#x2f;`.
            let url = flag.url.replace('/', "&#x2f;");
            assert!(html.contains(&url), "{url} missing from the HTML:\n{html}");
            assert!(html.contains(&flag.body_sha256), "{html}");
        }
    }

    // PDF.
    let r = reviewer.get(&notice("pdf")).await;
    if r.status == 503 {
        checked(&schemas, "pdf", r).await;
        assert!(!pdf_tools(), "503 for a PDF though a CJK font is installed");
    } else {
        let r = checked(&schemas, "pdf", r).await;
        assert_eq!(r.status, 200, "{}", body(&r));
        assert_eq!(r.header("content-type"), Some("application/pdf"));
        assert!(r.body.starts_with(b"%PDF-"));
        if pdf_tools() {
            check_pdf(&setup, &r.body);
        }
    }
    for id in &ids {
        assert_eq!(notice_events(&store, *id).len(), 1, "case {id}");
    }
    stop(daemon).await;
}

/// The first page rasterised is not blank, and the Chinese text comes back out of the PDF.
fn check_pdf(setup: &Setup, pdf: &[u8]) {
    let file = setup.path("notice.pdf");
    std::fs::write(&file, pdf).unwrap();
    let prefix = setup.path("page");
    let out = Command::new("pdftoppm")
        .args(["-png", "-r", "50", "-f", "1", "-l", "1"])
        .arg(&file)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pdftoppm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // pdftoppm pads the page number to the width of the page count: page-1.png, page-01.png.
    let png = std::fs::read_dir(setup.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("page-") && n.ends_with(".png"))
        })
        .expect("pdftoppm wrote the first page");
    // Left for a person to look at, as the UI test leaves its screenshot.
    let _ = std::fs::copy(
        &png,
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("notice-page1.png"),
    );
    let (width, height, gray) = decode_png(&std::fs::read(&png).unwrap());
    // A4 at 50 dpi is about 413 × 585 pixels.
    assert!(
        (400..430).contains(&width) && (570..600).contains(&height),
        "{width}×{height}"
    );
    let dark = gray.iter().filter(|v| **v < 128).count();
    let share = dark as f64 / gray.len() as f64;
    assert!(share > 0.005, "the first page is blank: {dark} dark pixels");
    // The title (整改通知书, centred at the top) is ink where a blank page has none.
    let title_band = &gray[(height / 12) * width..(height / 7) * width];
    assert!(title_band.iter().any(|v| *v < 128), "no title drawn");

    let out = Command::new("pdftotext")
        .args(["-f", "1", "-l", "1", "-enc", "UTF-8"])
        .arg(&file)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "整改通知书",
        "示例科技有限公司",
        "第二条第（七）项",
        "信息源入网安全责任书",
    ] {
        assert!(
            text.contains(needle),
            "{needle} not in the PDF's text:\n{text}"
        );
    }
}

/// A minimal PNG reader for what pdftoppm writes (8-bit gray, RGB or RGBA, not interlaced):
/// width, height and one gray value per pixel.
fn decode_png(data: &[u8]) -> (usize, usize, Vec<u8>) {
    use std::io::Read;
    assert_eq!(&data[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut width, mut height, mut channels) = (0, 0, 0);
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 8 <= data.len() {
        let len = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let kind = &data[at + 4..at + 8];
        let chunk = &data[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(chunk[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(chunk[4..8].try_into().unwrap()) as usize;
                assert_eq!(chunk[8], 8, "bit depth");
                assert_eq!(chunk[12], 0, "interlaced");
                channels = match chunk[9] {
                    0 => 1,
                    2 => 3,
                    6 => 4,
                    other => panic!("colour type {other}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(chunk),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width * channels;
    assert_eq!(raw.len(), height * (stride + 1), "image data size");
    let mut pixels = vec![0u8; height * stride];
    for y in 0..height {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= channels {
                pixels[y * stride + x - channels]
            } else {
                0
            };
            let b = if y > 0 {
                pixels[(y - 1) * stride + x]
            } else {
                0
            };
            let c = if x >= channels && y > 0 {
                pixels[(y - 1) * stride + x - channels]
            } else {
                0
            };
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                other => panic!("filter {other}"),
            };
            pixels[y * stride + x] = line[x].wrapping_add(predicted);
        }
    }
    let gray = pixels
        .chunks(channels)
        .map(|p| {
            let rgb = &p[..channels.min(3)];
            (rgb.iter().map(|v| u32::from(*v)).sum::<u32>() / rgb.len() as u32) as u8
        })
        .collect();
    (width, height, gray)
}
