//! The filing checks end to end: nine sites served from loopback under their own names (via
//! `--resolve`), a registry CSV, and the exact findings and site records `sitepatrol scan`
//! reports for each.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{Action, serve};
use serde_json::Value;

const PSB_LINK: &str = "https://beian.mps.gov.cn/#/query/webSearch?code=";

/// A footer with both numbers, each linked to its registry as it should be.
fn footer(icp: &str, psb_digits: &str, psb_province: &str) -> String {
    format!(
        r#"<footer><a href="https://beian.miit.gov.cn/">{icp}</a>
        <a href="{PSB_LINK}{psb_digits}">{psb_province}公网安备{psb_digits}号</a></footer>"#
    )
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>{body}</body></html>"
    )
}

fn site(host: &str) -> Action {
    match host {
        "good.test" => Action::html(page(
            "示例科技",
            &format!(
                "<p>欢迎访问示例科技有限公司。</p>{}",
                footer("京ICP备05004340号-1", "11000002000001", "京")
            ),
        )),
        "unfiled.test" => Action::html(page("临时站点", "<p>网站建设中</p>")),
        // Shows good.test's number: borrowed.
        "borrowed.test" => Action::html(page(
            "借用",
            &format!(
                "<p>公司简介</p>{}",
                footer("京ICP备05004340号-1", "44030002000003", "粤")
            ),
        )),
        // The number is an image's alt text only.
        "alt.test" => Action::html(page(
            "图片备案号",
            &format!(
                r#"<p>企业官网</p><a href="https://beian.miit.gov.cn/"><img src="/icp.png" alt="浙ICP备17000004号-1"></a>
                <a href="{PSB_LINK}33010002000004">浙公网安备33010002000004号</a>"#
            ),
        )),
        // GBK, full-width digits, and the ICP number not linked.
        "gbk.test" => {
            let html = page(
                "全角备案号",
                "<p>苏ＩＣＰ备１７０６５８３６号－１ \
                 <a href=\"https://beian.mps.gov.cn/#/query/webSearch?code=32010002000005\">苏公网安备 32010002000005号</a></p>",
            )
            .replace("charset=\"utf-8\"", "charset=\"gbk\"");
            let (bytes, _, _) = encoding_rs::GBK.encode(&html);
            Action::with_type(200, "text/html; charset=gbk", bytes.into_owned())
        }
        "forum.test" => Action::html(page(
            "交流论坛",
            &format!(
                "<p>Powered by Discuz! X3.4</p><p>最新帖子 发表新帖</p>{}",
                footer("京ICP备05004346号-1", "11000002000006", "京")
            ),
        )),
        "pharmacy.test" => Action::html(page(
            "网上药店",
            &format!(
                "<p>网上药店：处方药 国药准字H20003263 功能主治 用法用量</p>{}",
                footer("京ICP备05004347号-1", "11000002000007", "京")
            ),
        )),
        "shop.test" => Action::html(page(
            "小店",
            &format!(
                "<p>新款连衣裙 ¥199 <button>加入购物车</button> <button>立即购买</button> 支持微信支付</p>{}",
                footer("京ICP备05004348号-1", "11000002000008", "京")
            ),
        )),
        _ => Action::status(404),
    }
}

const REGISTRY: &str = "\u{feff}domain,icp_number,owner,owner_nature,site_name,approved_at,licence_number,psb_number,restricted,services,permits
good.test,京ICP备05004340号-1,示例科技有限公司,企业,示例科技,2015-03-01,,京公网安备11000002000001号,否,,
borrowed.test,粤ICP备16057936号-4,某某商贸,企业,借用,2016-01-01,,粤公网安备44030002000003号,否,,
alt.test,浙ICP备17000004号-1,图片公司,企业,图片,2017-01-01,,浙公网安备33010002000004号,否,,
gbk.test,苏ICP备17065836号-1,全角公司,企业,全角,2017-01-01,,苏公网安备32010002000005号,否,,
forum.test,京ICP备05004346号-1,论坛公司,企业,论坛,2015-01-01,,京公网安备11000002000006号,否,,
pharmacy.test,京ICP备05004347号-1,药店公司,企业,药店,2015-01-01,,京公网安备11000002000007号,否,,
shop.test,京ICP备05004348号-1,张三,个人,小店,2015-01-01,,京公网安备11000002000008号,否,,
outside.test,京ICP备05004349号-1,境外,企业,境外,2015-01-01,,,否,,
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nine_sites_get_exactly_their_findings_and_records() {
    let server = serve(|request| {
        let host = request
            .header("host")
            .unwrap_or("")
            .split(':')
            .next()
            .unwrap_or("")
            .to_string();
        if request.path != "/" {
            return Action::status(404);
        }
        site(&host)
    })
    .await;
    let port = server.addr.port();
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("filings.csv");
    std::fs::write(&registry, REGISTRY).unwrap();

    let hosts = [
        "good.test",
        "unfiled.test",
        "borrowed.test",
        "alt.test",
        "gbk.test",
        "forum.test",
        "pharmacy.test",
        "shop.test",
        "outside.test",
    ];
    let mut args: Vec<String> = vec![
        "scan".into(),
        "--format".into(),
        "jsonl".into(),
        "--fail-on".into(),
        "never".into(),
        "--allow-private-networks".into(),
        "--no-sitemaps".into(),
        "--retries".into(),
        "0".into(),
        "--connect-timeout".into(),
        "2".into(),
        "--registry".into(),
        registry.display().to_string(),
        "--hosted-network".into(),
        "127.0.0.1/32".into(),
    ];
    for host in hosts {
        // outside.test resolves to another loopback address, outside the hosted network;
        // nothing listens there, so its crawl fails fast and stays on this machine.
        let addr = if host == "outside.test" {
            "127.0.0.2"
        } else {
            "127.0.0.1"
        };
        args.push("--resolve".into());
        args.push(format!("{host}:{port}:{addr}"));
    }
    for host in hosts {
        args.push(format!("http://{host}:{port}/"));
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sitepatrol"))
        .args(&args)
        .output()
        .await
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let records: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();

    let host_of = |target: &str| {
        url::Url::parse(target)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default()
    };
    let mut findings: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for record in records.iter().filter(|r| r["type"] == "finding") {
        let rule = record["rule"].as_str().unwrap().to_string();
        if rule.starts_with("filing.") || rule.starts_with("service.") {
            findings
                .entry(host_of(record["target"].as_str().unwrap()))
                .or_default()
                .insert(rule);
        }
    }
    let expected: BTreeMap<String, BTreeSet<String>> = [
        ("unfiled.test", vec!["filing.unfiled_domain"]),
        ("borrowed.test", vec!["filing.number_mismatch"]),
        ("gbk.test", vec!["filing.not_linked"]),
        ("forum.test", vec!["service.forum_without_filing"]),
        (
            "pharmacy.test",
            vec!["service.beyond_scope", "service.permit_missing"],
        ),
        ("shop.test", vec!["filing.licence_required"]),
    ]
    .into_iter()
    .map(|(h, rules)| (h.to_string(), rules.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(findings, expected, "\nstdout:\n{stdout}\nstderr:\n{stderr}");

    let sites: BTreeMap<String, &Value> = records
        .iter()
        .filter(|r| r["type"] == "site")
        .map(|r| (r["host"].as_str().unwrap().to_string(), r))
        .collect();
    let status = |host: &str| sites[host]["filing_status"].as_str().unwrap().to_string();
    assert_eq!(sites.len(), 9, "{stdout}");
    for (host, want) in [
        ("good.test", "ok"),
        ("unfiled.test", "unfiled"),
        ("borrowed.test", "mismatch"),
        ("alt.test", "ok"),
        ("gbk.test", "ok"),
        ("forum.test", "ok"),
        ("pharmacy.test", "ok"),
        ("shop.test", "ok"),
        ("outside.test", "not_hosted"),
    ] {
        assert_eq!(status(host), want, "{host}: {:#}", sites[host]);
    }
    let numbers = |host: &str, field: &str| -> Vec<String> {
        sites[host][field]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["number"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(numbers("good.test", "icp_numbers"), ["京ICP备05004340号-1"]);
    assert_eq!(
        numbers("good.test", "psb_numbers"),
        ["京公网安备11000002000001号"]
    );
    assert_eq!(
        sites["good.test"]["icp_numbers"][0]["urls"][0],
        format!("http://good.test:{port}/")
    );
    assert_eq!(
        sites["good.test"]["icp_numbers"][0]["link_check"],
        "official"
    );
    assert_eq!(numbers("alt.test", "icp_numbers"), ["浙ICP备17000004号-1"]);
    assert_eq!(numbers("gbk.test", "icp_numbers"), ["苏ICP备17065836号-1"]);
    assert_eq!(
        sites["gbk.test"]["icp_numbers"][0]["displayed"],
        "苏ＩＣＰ备１７０６５８３６号－１"
    );
    assert_eq!(
        sites["gbk.test"]["icp_numbers"][0]["link_check"],
        "not_linked"
    );
    let services = |host: &str| -> Vec<String> {
        sites[host]["services_detected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["service"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(services("forum.test"), ["forum"]);
    assert_eq!(services("pharmacy.test"), ["drugs"]);
    assert!(services("good.test").is_empty());
    assert_eq!(sites["shop.test"]["commerce"]["service"], "commerce");
    assert_eq!(sites["outside.test"]["hosted"], false);
    assert_eq!(sites["outside.test"]["addresses"][0], "127.0.0.2");
    assert_eq!(sites["unfiled.test"]["registry"]["record"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_registry_detection_runs_and_registry_checks_are_noted_as_skipped() {
    let server = serve(|_| site("good.test")).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sitepatrol"))
        .args([
            "scan",
            "--format",
            "jsonl",
            "--allow-private-networks",
            "--no-sitemaps",
            &server.url("/"),
        ])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let site: Value = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["type"] == "site")
        .expect("a site record");
    assert_eq!(site["filing_status"], "unknown");
    assert_eq!(site["icp_numbers"][0]["number"], "京ICP备05004340号-1");
    assert!(
        site["notes"][0]
            .as_str()
            .unwrap()
            .contains("no filing registry"),
        "{site:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_registry_is_an_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("filings.csv");
    std::fs::write(
        &registry,
        "domain,icp_number\ngood.test,京ICP备05004340号\nbad.test,备案中\n",
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sitepatrol"))
        .args([
            "scan",
            "--registry",
            registry.to_str().unwrap(),
            "http://good.test/",
        ])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("filings.csv:3: icp_number"), "{stderr}");
}
