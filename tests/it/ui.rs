//! The web UI of the real `sitepatrol daemon` binary on loopback, with a temporary store:
//! login and logout, the session cookie's attributes, CSRF refusal, roles, the queue's filters
//! and counts, confirm and dismiss through forms, zh/en, rectification notices (UI and API),
//! and hostile evidence (payloads in a crawled page's text come out escaped, under a CSP).

use std::net::SocketAddr;

use crate::common::daemon::*;
use crate::common::{self, Action, serve};
use sitepatrol_server::review::auth::{Role, config_line, new_token};
use sitepatrol_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn headers(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// One request over HTTP/1.0 (the server closes after the response).
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: Option<&str>,
) -> Resp {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(form) = form {
        head.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            form.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("send");
    if let Some(form) = form {
        stream.write_all(form.as_bytes()).await.expect("send body");
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&raw[split + 4..]).to_string(),
    }
}

/// One API request (`/api/v1` and `path`) with `token` as its bearer token, and no body.
async fn api(addr: SocketAddr, method: &str, path: &str, token: &str) -> Resp {
    let bearer = format!("Bearer {token}");
    let path = format!("/api/v1{path}");
    call(addr, method, &path, &[("Authorization", &bearer)], None).await
}

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A browser as far as these tests need one: a session cookie and the CSRF token of the last
/// page it loaded.
pub(crate) struct Browser {
    addr: SocketAddr,
    cookies: Vec<String>,
}

impl Browser {
    pub(crate) fn new(addr: SocketAddr) -> Browser {
        Browser {
            addr,
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies.join("; ")
    }

    fn keep_cookies(&mut self, r: &Resp) {
        for set in r.headers("set-cookie") {
            let pair = set.split(';').next().unwrap_or("").to_string();
            let name = pair.split('=').next().unwrap_or("").to_string();
            self.cookies
                .retain(|c| c.split('=').next().unwrap_or("") != name);
            if !pair.ends_with('=') {
                self.cookies.push(pair);
            }
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Resp {
        let cookie = self.cookie_header();
        let r = call(self.addr, "GET", path, &[("Cookie", &cookie)], None).await;
        self.keep_cookies(&r);
        r
    }

    async fn post(&mut self, path: &str, form: &str) -> Resp {
        let cookie = self.cookie_header();
        let r = call(self.addr, "POST", path, &[("Cookie", &cookie)], Some(form)).await;
        self.keep_cookies(&r);
        r
    }

    pub(crate) async fn login(&mut self, token: &str) -> Resp {
        let csrf = self.csrf("/login").await;
        self.post("/login", &format!("csrf={csrf}&token={}", enc(token)))
            .await
    }

    /// The CSRF token in the forms of `page`.
    async fn csrf(&mut self, page: &str) -> String {
        let r = self.get(page).await;
        assert_eq!(r.status, 200, "GET {page}: {}", r.body);
        let at = r
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no CSRF field on {page}:\n{}", r.body));
        let rest = &r.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').expect("end of the value")].to_string()
    }
}

struct Tokens {
    viewer: String,
    reviewer: String,
    config: String,
}

fn tokens() -> Tokens {
    let viewer = new_token().unwrap();
    let reviewer = new_token().unwrap();
    let config = [
        config_line("watcher", Role::Viewer, &viewer),
        config_line("张三", Role::Reviewer, &reviewer),
    ]
    .join("\n");
    Tokens {
        viewer,
        reviewer,
        config,
    }
}

/// The hostile page: payloads in its *text* (entity-escaped in the source, so the extractor
/// reads them as characters), right beside the terms that flag it.
pub const HOSTILE: &str = "<html><body><p>&lt;script&gt;alert(1)&lt;/script&gt;网上赌博&lt;img src=x onerror=alert(1)&gt;</p>\
<p><a href=\"javascript:alert(1)\">javascript:alert(1)</a>色情视频</p>\
<script>window.__pwned = 1</script></body></html>";

/// Two ordinary pages with a gambling and a porn term each, and the hostile page.
async fn flagged_site() -> common::Server {
    serve(move |request| {
        let path = request.path.split('?').next().unwrap_or("/").to_string();
        match path.as_str() {
            "/" => Action::html(
                "<html><body><p>首页</p><a href='/p0.html'>p0</a><a href='/p1.html'>p1</a><a href='/x.html'>x</a></body></html>",
            ),
            "/p0.html" | "/p1.html" => Action::html(format!(
                "<html><body><p>{path} 欢迎来到网上赌博平台 免费色情视频</p></body></html>"
            )),
            "/x.html" => Action::html(HOSTILE),
            _ => Action::status(404),
        }
    })
    .await
}

struct World {
    setup: Setup,
    daemon: Daemon,
    tokens: Tokens,
    _site: common::Server,
}

async fn world(extra: &str) -> World {
    let tokens = tokens();
    let server = flagged_site().await;
    let setup = Setup::new();
    let config = setup.write_config(&format!(
        // Without the filing checks, whose flags these tests do not count.
        "[filing]\nenabled = false\n[schedule]\ninterval = \"1h\"\n[api]\n{extra}\n{}\n{}",
        tokens.config,
        site("shop", "shop.example.cn", server.addr.port(), "1h"),
    ));
    let daemon = Daemon::start(&config).await;
    let store = setup.store();
    wait_runs(&store, "shop", 1).await;
    World {
        setup,
        daemon,
        tokens,
        _site: server,
    }
}

fn flag_id(world: &World, url_suffix: &str, rule: &str) -> i64 {
    flags(&world.setup.store(), "shop")
        .into_iter()
        .find(|f| f.url.ends_with(url_suffix) && f.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} flag on {url_suffix}"))
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sessions_csrf_roles_queue_actions_languages_and_notices() {
    let w = world("").await;
    let addr = w.daemon.http;

    // Not logged in: pages send to the login form; the form itself is there, in Chinese.
    let r = call(addr, "GET", "/", &[], None).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login"));
    assert_eq!(call(addr, "GET", "/nope", &[], None).await.status, 404);
    let r = call(addr, "GET", "/login", &[], None).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("访问令牌"), "{}", r.body);
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(r.header(name), Some(value), "{name}");
    }
    let csp = r.header("content-security-policy").expect("a CSP");
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{part} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");

    // A wrong token: 401 and no session.
    let mut stranger = Browser::new(addr);
    let r = stranger.login("spt_wrong").await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("令牌无效"), "{}", r.body);
    assert!(
        r.headers("set-cookie")
            .iter()
            .all(|c| !c.starts_with("sitepatrol_session="))
    );
    assert_eq!(stranger.get("/").await.status, 303);

    // A login form without the login page's token (a forged cross-site login) is refused.
    let r = call(
        addr,
        "POST",
        "/login",
        &[],
        Some(&format!("token={}", enc(&w.tokens.reviewer))),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.headers("set-cookie")
            .iter()
            .all(|c| !c.starts_with("sitepatrol_session="))
    );

    // The reviewer logs in: a random session id in an HttpOnly, SameSite=Strict cookie.
    let mut reviewer = Browser::new(addr);
    let r = reviewer.login(&w.tokens.reviewer).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/"));
    let cookie = r.header("set-cookie").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");
    assert!(
        !cookie.contains(&w.tokens.reviewer),
        "the token is not the cookie"
    );
    let session = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    assert!(session.len() >= 40, "{session}");

    // The flag rows: every flag, counts per category and severity, shortcuts, action forms.
    let r = reviewer.get("/flags").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("告警明细"), "zh by default");
    assert!(r.body.contains("张三"), "{}", r.body);
    assert!(r.body.contains("data-category=\"gambling\""), "{}", r.body);
    assert!(r.body.contains("data-severity=\"high\""), "{}", r.body);
    assert!(
        r.body
            .contains("<script src=\"/assets/ui.js\" defer></script>")
    );
    assert!(r.body.contains("class=\"inline confirm\""), "{}", r.body);
    let rows = |body: &str| body.matches("<tr class=\"flag ").count();
    assert_eq!(rows(&r.body), 6, "{}", r.body);
    // Filters narrow it.
    let r = reviewer.get("/flags?category=pornography&state=").await;
    assert_eq!(rows(&r.body), 3, "{}", r.body);
    assert!(!r.body.contains("<td>gambling</td>"));
    let r = reviewer
        .get("/flags?severity=high&site=shop&rule=test.gambling")
        .await;
    assert_eq!(rows(&r.body), 3, "{}", r.body);
    let r = reviewer.get("/flags?customer=nobody").await;
    assert_eq!(rows(&r.body), 0);
    assert!(r.body.contains("id=\"no-flags\""));
    let r = reviewer.get("/flags?state=bogus").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("bogus"), "the error names the value");
    // The assets are served with their types.
    let js = reviewer.get("/assets/ui.js").await;
    assert_eq!(js.status, 200);
    assert!(
        js.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.body.contains("\"d\""));

    // A form without the session's CSRF token is refused, and changes nothing.
    let p0 = flag_id(&w, "/p0.html", "test.gambling");
    let r = reviewer
        .post(&format!("/flags/{p0}/confirm"), "csrf=forged")
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = reviewer.post(&format!("/flags/{p0}/confirm"), "").await;
    assert_eq!(r.status, 403);
    // As is a form from another origin, even with the token.
    let csrf = reviewer.csrf("/").await;
    let cookie_header = reviewer.cookie_header();
    let r = call(
        addr,
        "POST",
        &format!("/flags/{p0}/confirm"),
        &[
            ("Cookie", &cookie_header),
            ("Origin", "https://evil.example"),
        ],
        Some(&format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        w.setup
            .store()
            .flag(p0)
            .unwrap()
            .unwrap()
            .flag
            .state
            .as_str(),
        "open"
    );

    // Confirm through the queue's form, back to the queue page it came from.
    let r = reviewer
        .post(
            &format!("/flags/{p0}/confirm"),
            &format!("csrf={csrf}&next={}", enc("/flags?category=gambling")),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/flags?category=gambling"));
    let detail = w.setup.store().flag(p0).unwrap().unwrap();
    assert_eq!(detail.flag.state.as_str(), "confirmed");
    assert_eq!(detail.events.last().unwrap().actor, "张三");
    // An open redirect through `next` is not possible.
    let p1 = flag_id(&w, "/p1.html", "test.porn");
    let r = reviewer
        .post(
            &format!("/flags/{p1}/assign"),
            &format!("csrf={csrf}&assignee=%E6%9D%8E%E5%9B%9B&next=//evil.example/"),
        )
        .await;
    assert_eq!(r.header("location"), Some(format!("/flags/{p1}").as_str()));
    // Dismiss needs a reason; with one it goes through.
    let r = reviewer
        .post(&format!("/flags/{p1}/dismiss"), &format!("csrf={csrf}"))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = reviewer
        .post(
            &format!("/flags/{p1}/dismiss"),
            &format!("csrf={csrf}&reason={}", enc("误报：医学科普")),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let detail = w.setup.store().flag(p1).unwrap().unwrap();
    assert_eq!(detail.flag.state.as_str(), "dismissed");
    assert_eq!(detail.flag.assignee.as_deref(), Some("李四"));
    // A comment, then the flag page shows the history and the actions of its state.
    let r = reviewer
        .post(
            &format!("/flags/{p1}/comment"),
            &format!("csrf={csrf}&text={}", enc("已电话通知客户")),
        )
        .await;
    assert_eq!(r.status, 303);
    let page = reviewer.get(&format!("/flags/{p1}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for needle in [
        "误报：医学科普",
        "已电话通知客户",
        "李四",
        "id=\"reopen-form\"",
        "id=\"case-link\" href=\"/cases/",
    ] {
        assert!(page.body.contains(needle), "{needle}:\n{}", page.body);
    }
    assert!(!page.body.contains("id=\"confirm-form\""));
    // Every action form carries the version the page showed; a stale one is refused with
    // 409 and changes nothing.
    let shown = w.setup.store().flag(p1).unwrap().unwrap();
    let field = format!("name=\"version\" value=\"{}\"", shown.flag.version);
    assert!(page.body.contains(&field), "{field}:\n{}", page.body);
    let r = reviewer
        .post(
            &format!("/flags/{p1}/comment"),
            &format!(
                "csrf={csrf}&version={}&text={}",
                shown.flag.version - 1,
                enc("晚了")
            ),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(w.setup.store().flag(p1).unwrap().unwrap(), shown);
    // An action the state does not allow is refused with the store's reason.
    let r = reviewer
        .post(&format!("/flags/{p1}/confirm"), &format!("csrf={csrf}"))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);

    // The queue by state after the actions.
    let r = reviewer.get("/flags?state=confirmed").await;
    assert_eq!(rows(&r.body), 1, "{}", r.body);

    // English, by ?lang= and then remembered by a cookie.
    let r = reviewer.get("/flags?lang=en").await;
    assert!(
        r.body.contains("All flags") && !r.body.contains("告警明细"),
        "{}",
        r.body
    );
    assert!(r.body.contains("<html lang=\"en\">"));
    let r = reviewer.get("/flags").await;
    assert!(r.body.contains("All flags"), "the cookie keeps English");
    let r = reviewer.get("/flags?lang=zh").await;
    assert!(r.body.contains("告警明细"));

    // The notice of the confirmed flag, as text, recorded in the audit log.
    let r = reviewer.get(&format!("/flags/{p0}/notice")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    for needle in [
        "整改通知书",
        "第二条第（七）项",
        "/p0.html",
        "网上赌博",
        "前完成整改",
        "审核人：张三",
        "customer-shop",
    ] {
        assert!(r.body.contains(needle), "{needle} missing:\n{}", r.body);
    }
    let detail = w.setup.store().flag(p0).unwrap().unwrap();
    let last = detail.events.last().unwrap();
    assert_eq!(last.actor, "张三");
    assert!(
        last.reason
            .as_deref()
            .unwrap_or("")
            .contains("整改通知 ZG-"),
        "{last:?}"
    );
    // The flag page links it; an unconfirmed flag has none (409 by URL).
    let page = reviewer.get(&format!("/flags/{p0}")).await;
    assert!(page.body.contains(&format!("href=\"/flags/{p0}/notice\"")));
    let r = reviewer.get(&format!("/flags/{p1}/notice")).await;
    assert_eq!(r.status, 409);
    // The API serves the same notice to a reviewer's bearer token, and not to a viewer's.
    let notice = async |method: &str, id: i64, token: &str| {
        api(addr, method, &format!("/flags/{id}/notice"), token).await
    };
    let r = notice("GET", p0, &w.tokens.reviewer).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("整改通知书"));
    // Reading the notice again (UI, API, HEAD) records nothing more: one issue, one event.
    assert_eq!(
        reviewer.get(&format!("/flags/{p0}/notice")).await.status,
        200
    );
    let r = notice("HEAD", p0, &w.tokens.reviewer).await;
    assert_eq!(r.status, 200);
    let detail = w.setup.store().flag(p0).unwrap().unwrap();
    let notices = detail
        .events
        .iter()
        .filter(|e| e.reason.as_deref().unwrap_or("").contains("整改通知 ZG-"))
        .count();
    assert_eq!(notices, 1, "{:#?}", detail.events);
    // A flag with several signals: the notice quotes the strongest and lists the others.
    let scored = seed_scored_flag(
        &w.setup,
        "shop",
        "http://shop.example.cn/scored.html",
        &[
            ("test.gambling", "真人百家乐", 1.0),
            ("test.bet", "足球投注", 0.6),
        ],
    );
    let bearer = format!("Bearer {}", w.tokens.reviewer);
    let confirm = call(
        addr,
        "POST",
        &format!("/api/v1/flags/{scored}/confirm"),
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        None,
    )
    .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let r = notice("GET", scored, &w.tokens.reviewer).await;
    assert!(r.body.contains("命中内容：真人百家乐"), "{}", r.body);
    assert!(
        r.body
            .contains("其他命中：足球投注（上下文：前文足球投注后文）"),
        "{}",
        r.body
    );
    let r = notice("GET", p0, &w.tokens.viewer).await;
    assert_eq!(r.status, 403);

    // A viewer reads everything but sees no action and is refused one server-side.
    let mut viewer = Browser::new(addr);
    assert_eq!(viewer.login(&w.tokens.viewer).await.status, 303);
    let r = viewer.get("/").await;
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("class=\"inline confirm\""), "{}", r.body);
    let page = viewer.get(&format!("/flags/{p0}")).await;
    assert!(page.body.contains("id=\"read-only\""));
    assert!(!page.body.contains("id=\"dismiss-form\""));
    assert!(!page.body.contains("/notice\""));
    let csrf = viewer.csrf("/").await;
    let r = viewer
        .post(
            &format!("/flags/{p0}/dismiss"),
            &format!("csrf={csrf}&reason=x"),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(viewer.get(&format!("/flags/{p0}/notice")).await.status, 403);
    assert_eq!(
        w.setup
            .store()
            .flag(p0)
            .unwrap()
            .unwrap()
            .flag
            .state
            .as_str(),
        "confirmed"
    );

    // The site page: filing status, crawls, active flags.
    let r = reviewer.get("/sites/shop").await;
    assert_eq!(r.status, 200, "{}", r.body);
    for needle in [
        "customer-shop",
        "shop.example.cn",
        "id=\"runs\"",
        "completed",
    ] {
        assert!(r.body.contains(needle), "{needle}:\n{}", r.body);
    }
    assert_eq!(reviewer.get("/sites/nope").await.status, 404);
    assert_eq!(reviewer.get("/nowhere").await.status, 404);

    // The queue at / is of cases: one per site and category, not a row per flag.
    let r = reviewer.get("/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("案件队列"), "{}", r.body);
    let case_rows = |body: &str| body.matches("<tr class=\"case ").count();
    assert_eq!(case_rows(&r.body), 2, "{}", r.body);
    let store = w.setup.store();
    let porn_case = store
        .list_cases(&sitepatrol_store::CaseFilter {
            categories: vec!["pornography".into()],
            ..Default::default()
        })
        .unwrap()
        .cases
        .remove(0);
    assert_eq!(
        porn_case.pages, 2,
        "p1's flag was dismissed on its own: {porn_case:?}"
    );
    let r = reviewer.get(&format!("/cases/{}", porn_case.id)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for needle in [
        "id=\"case-flags\"",
        "id=\"confirm-form\"",
        "p0.html",
        "x.html",
    ] {
        assert!(r.body.contains(needle), "{needle}:\n{}", r.body);
    }
    // A stale version (another reviewer acted first) is refused and changes nothing.
    let csrf = reviewer.csrf("/").await;
    let stale = format!("csrf={csrf}&version={}", porn_case.version - 1);
    let r = reviewer
        .post(&format!("/cases/{}/confirm", porn_case.id), &stale)
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    // Confirming the case confirms its flags, with one audit event.
    let r = reviewer
        .post(
            &format!("/cases/{}/confirm", porn_case.id),
            &format!(
                "csrf={csrf}&version={}&deadline_days=5&next=/",
                porn_case.version
            ),
        )
        .await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/")),
        "{}",
        r.body
    );
    let detail = store.case(porn_case.id).unwrap().unwrap();
    assert_eq!(detail.case.state.as_str(), "confirmed");
    let deadline = detail.case.deadline_at.unwrap() - detail.case.confirmed_at.unwrap();
    assert_eq!(deadline, 5 * 86_400);
    let active: Vec<_> = detail
        .flags
        .iter()
        .filter(|f| f.state.is_active())
        .collect();
    assert_eq!(active.len(), 2);
    assert!(active.iter().all(|f| f.state.as_str() == "confirmed"));
    let by_reviewer: Vec<_> = detail.events.iter().filter(|e| e.actor == "张三").collect();
    assert_eq!(by_reviewer.len(), 1, "{:?}", detail.events);
    assert_eq!(by_reviewer[0].flags, 2);
    let page = reviewer.get(&format!("/cases/{}", porn_case.id)).await;
    assert!(
        page.body.contains("data-state=\"confirmed\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("id=\"confirm-form\""));
    // The customer's notice is linked from the case page and served to the session's
    // reviewer as escaped, sandboxed HTML.
    let customer = &detail.case.customer;
    let link = format!("/customers/{customer}/notice?format=html");
    assert!(page.body.contains(&link), "{}", page.body);
    assert!(page.body.contains("整改通知（客户）"), "{}", page.body);
    let r = reviewer.get(&link).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .starts_with("sandbox")
    );
    assert!(r.body.contains("第三条"), "{}", r.body);
    let site = reviewer.get(&format!("/sites/{}", detail.case.site)).await;
    assert!(site.body.contains(&link), "{}", site.body);
    // Filtered by state.
    let r = reviewer.get("/?state=confirmed").await;
    assert_eq!(case_rows(&r.body), 1, "{}", r.body);
    assert_eq!(reviewer.get("/cases/999999").await.status, 404);

    // Logout needs the CSRF token too; then the session is gone server-side, so even a
    // copy of the old cookie gets nowhere.
    let old_cookie = reviewer.cookie_header();
    let r = reviewer.post("/logout", "csrf=forged").await;
    assert_eq!(r.status, 403);
    let csrf = reviewer.csrf("/").await;
    let r = reviewer.post("/logout", &format!("csrf={csrf}")).await;
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    let r = call(addr, "GET", "/", &[("Cookie", &old_cookie)], None).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_share_the_apis_limiter_per_prefix_and_secure_cookies_follow_the_config() {
    let w =
        world("max_failures = 3\n[review]\nsecure_cookies = true\nsession_ttl = \"1m\"\n").await;
    let addr = w.daemon.http;
    // A reviewer mistyping their own token: the same prefix, so one key.
    let typo = format!("{}typo", &w.tokens.reviewer[..12]);
    let mut guesser = Browser::new(addr);
    for _ in 0..2 {
        assert_eq!(guesser.login(&typo).await.status, 401);
    }
    // The third failure goes through the API: one limiter for both.
    let r = api(addr, "GET", "/flags", &typo).await;
    assert_eq!(r.status, 401);
    // Now that key is refused with 429 and Retry-After, through the form and the API.
    let r = guesser.login(&typo).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert!(
        r.headers("set-cookie")
            .iter()
            .all(|c| !c.starts_with("sitepatrol_session="))
    );
    assert_eq!(api(addr, "GET", "/flags", &typo).await.status, 429);
    // The right token still signs in at once, from the same address.
    let r = guesser.login(&w.tokens.reviewer).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(guesser.get("/").await.status, 200);
    // A colleague behind the same address with another (wrong) token is not throttled by it.
    let mut colleague = Browser::new(addr);
    let r = colleague.login("spt_QQQQQQQQnotmine").await;
    assert_eq!(r.status, 401, "{}", r.body);

    // `secure_cookies`: the session cookie is Secure, and lives as long as the session.
    let setup = Setup::new();
    let config = setup.write_config(&format!(
        "[api]\n{}\n[review]\nsecure_cookies = true\nsession_ttl = \"1m\"\n",
        w.tokens.config
    ));
    let other = Daemon::start(&config).await;
    let mut browser = Browser::new(other.http);
    let r = browser.login(&w.tokens.viewer).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("Max-Age=60"), "{cookie}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_evidence_is_escaped_on_every_page_under_a_csp() {
    let w = world("").await;
    let mut reviewer = Browser::new(w.daemon.http);
    assert_eq!(reviewer.login(&w.tokens.reviewer).await.status, 303);
    let gambling = flag_id(&w, "/x.html", "test.gambling");
    let porn = flag_id(&w, "/x.html", "test.porn");
    let stored = w.setup.store().flag(gambling).unwrap().unwrap().flag;
    assert!(
        stored.snippet.contains("<script>alert(1)</script>")
            && stored.snippet.contains("<img src=x onerror=alert(1)>"),
        "the payloads are in the stored evidence: {:?}",
        stored.snippet
    );

    let page = reviewer.get(&format!("/flags/{gambling}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.header("content-security-policy")
            .is_some_and(|c| c.contains("script-src 'self'")),
        "{:?}",
        page.headers
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    // The snippet: escaped, and the match wrapped in <mark> between escaped parts.
    assert!(
        page.body.contains(
            "&lt;script&gt;alert(1)&lt;&#x2f;script&gt;<mark>网上赌博</mark>&lt;img src=x onerror=alert(1)&gt;"
        ),
        "{}",
        page.body
    );
    let porn_page = reviewer.get(&format!("/flags/{porn}")).await;
    assert!(
        porn_page
            .body
            .contains("javascript:alert(1)<mark>色情视频</mark>"),
        "{}",
        porn_page.body
    );
    // The signals table: the flag's signals, escaped, with the score.
    assert!(
        page.body.contains("<table id=\"signals\">"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(
            "<td class=\"signal-snippet\">&lt;script&gt;alert(1)&lt;&#x2f;script&gt;网上赌博"
        ),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<dd id=\"score\">2.00</dd>"),
        "{}",
        page.body
    );
    // A scored flag whose signals carry payloads of their own: scores, weights and
    // contributions shown, every text escaped, in the table and in the queue.
    let scored = seed_scored_flag(
        &w.setup,
        "shop",
        "http://shop.example.cn/scored.html",
        &[
            ("test.gambling", "<script>alert(7)</script>百家乐", 1.25),
            ("test.bet", "<img src=x onerror=alert(8)>", 0.5),
        ],
    );
    let scored_page = reviewer.get(&format!("/flags/{scored}")).await;
    assert_eq!(scored_page.status, 200, "{}", scored_page.body);
    for shown in [
        "<dd id=\"score\">1.75</dd>",
        "<td>test.bet</td><td>text</td><td class=\"matched\">&lt;img src=x onerror=alert(8)&gt;</td>",
        "<td class=\"signal-snippet\">前文&lt;script&gt;alert(7)&lt;&#x2f;script&gt;百家乐后文</td>",
        "<td class=\"num\">1.25</td><td class=\"num\">1.25</td>",
        "<td class=\"num\">0.50</td><td class=\"num\">0.50</td>",
    ] {
        assert!(
            scored_page.body.contains(shown),
            "{shown} not in {}",
            scored_page.body
        );
    }
    // No payload survives as markup anywhere on the flag pages or the queue, and the only
    // script is the UI's own file.
    let queue = reviewer.get("/flags").await;
    assert!(
        queue.body.contains("<td class=\"score\">1.75</td>"),
        "{}",
        queue.body
    );
    let cases = reviewer.get("/").await;
    let first_case = cases
        .body
        .split("data-href=\"/cases/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a case row")
        .to_string();
    let case_page = reviewer.get(&format!("/cases/{first_case}")).await;
    assert_eq!(case_page.status, 200, "{}", case_page.body);
    for body in [
        &page.body,
        &porn_page.body,
        &scored_page.body,
        &queue.body,
        &cases.body,
        &case_page.body,
    ] {
        for raw in [
            "<script>alert",
            "<img src=x",
            "onerror=alert(1)>",
            "href=\"javascript:",
            "__pwned",
        ] {
            assert!(!body.contains(raw), "`{raw}` unescaped:\n{body}");
        }
        assert_eq!(body.matches("<script").count(), 1, "{body}");
        assert!(body.contains("<script src=\"/assets/ui.js\" defer></script>"));
    }
    // The page URL is a link (http) with rel=noopener noreferrer nofollow.
    assert!(
        page.body.contains("rel=\"noopener noreferrer nofollow\""),
        "{}",
        page.body
    );

    // The raw copy is the API's sandboxed text: never HTML in the UI's origin.
    let snapshot = reviewer.get(&format!("/flags/{gambling}/snapshot")).await;
    assert_eq!(snapshot.status, 200, "{}", snapshot.body);
    assert_eq!(
        snapshot.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(snapshot.header("content-security-policy"), Some("sandbox"));
    assert_eq!(snapshot.header("x-content-type-options"), Some("nosniff"));
    assert!(
        snapshot.body.contains("window.__pwned"),
        "the copy is whole"
    );
}

/// Issue 14 item 5: a daemon without tokens prints a one-time admin link; from loopback it
/// opens an admin session (the queue, and an admin-only action) once; used, superseded by a
/// restart's link, expired and wrong links are refused with a page that says so, and the
/// refusals count as failed logins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_run_link_opens_an_admin_session_once_from_loopback() {
    let server = flagged_site().await;
    let setup = Setup::new();
    let config = setup.write_config(&format!(
        // No [[api.tokens]], as in the embedded default.
        "[filing]\nenabled = false\n[schedule]\ninterval = \"1h\"\n[api]\nmax_failures = 3\n{}",
        site("shop", "shop.example.cn", server.addr.port(), "1h"),
    ));
    let daemon = Daemon::start(&config).await;
    let (addr, superseded) = printed_link(&daemon);
    assert_eq!(addr, daemon.http, "the link names the UI's listener");
    // A restart with still no tokens makes a new link; the one it replaces stops working.
    stop(daemon).await;
    let daemon = Daemon::start(&config).await;
    let (addr, link) = printed_link(&daemon);
    assert_eq!(addr, daemon.http);
    assert_ne!(link, superseded);
    let store = setup.store();
    wait_runs(&store, "shop", 1).await;

    let r = Browser::new(addr)
        .get(&format!("{superseded}&lang=en"))
        .await;
    assert_eq!(r.status, 410, "{}", r.body);
    assert!(r.body.contains("newer link"), "{}", r.body);

    // A HEAD (a link checker) does not use the link up.
    let r = call(addr, "HEAD", &link, &[], None).await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers("set-cookie")
            .iter()
            .all(|c| !c.starts_with("sitepatrol_session="))
    );

    // From loopback: an admin session, and to the queue.
    let mut admin = Browser::new(addr);
    let r = admin.get(&format!("{link}&lang=en")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/"));
    let cookie = r
        .headers("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("sitepatrol_session="))
        .expect("a session cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let r = admin.get("/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("first-run-admin") && r.body.contains("(admin)"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("<tr class=\"case ") && r.body.contains("<td>gambling</td>"),
        "the queue lists the cases:\n{}",
        r.body
    );
    // An admin-only action: a recrawl from the site page, audited to nobody's token.
    let csrf = admin.csrf("/sites/shop").await;
    let r = admin
        .post("/sites/shop/recrawl", &format!("csrf={csrf}"))
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/sites/shop"));
    wait_runs(&store, "shop", 2).await;

    // Used once: the same link again is refused, and opens no session.
    let mut again = Browser::new(addr);
    let r = again.get(&format!("{link}&lang=en")).await;
    assert_eq!(r.status, 410, "{}", r.body);
    assert!(r.body.contains("used already"), "{}", r.body);
    assert!(
        r.headers("set-cookie")
            .iter()
            .all(|c| !c.starts_with("sitepatrol_session="))
    );
    assert_eq!(again.get("/").await.status, 303, "still not logged in");

    // Expired: a link whose 24 hours are over (written through the store with past times).
    let secret = "expired-secret-for-the-test-0123456789abcdefghij";
    let now = sitepatrol_core::clock::unix_now();
    store
        .create_login_link(
            &sitepatrol_store::sha256_hex(secret.as_bytes()),
            now - 2 * 86_400,
            now - 86_400,
        )
        .unwrap();
    let r = Browser::new(addr)
        .get(&format!("/login?once={secret}&lang=en"))
        .await;
    assert_eq!(r.status, 410, "{}", r.body);
    assert!(r.body.contains("expired"), "{}", r.body);

    // Wrong: 403; and the refusals count as failed logins: the fourth wrong secret of one
    // prefix gets 429 with Retry-After.
    for _ in 0..3 {
        let r = Browser::new(addr)
            .get("/login?once=WRONGWRONGsecret&lang=en")
            .await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.contains("not valid"), "{}", r.body);
    }
    let r = Browser::new(addr).get("/login?once=WRONGWRONGsecret").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    // The admin's session is untouched by all this.
    assert_eq!(admin.get("/").await.status, 200);
    assert!(daemon.log().contains("first-run login link refused"));
    stop(daemon).await;
}
