//! The review API of the real `sitepatrol daemon` binary on loopback, with a temporary store:
//! every route and role, pagination, filters, actions and bulk actions, exports, the evidence
//! snapshot, the audit log, recrawls, rate limiting, a restart, the OpenAPI document's truth,
//! and the reviewers' CLI (`sitepatrol flags ...`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::daemon::*;
use crate::common::{self, Action, serve};
use serde_json::Value;
use sitepatrol_server::api::ROUTES;
use sitepatrol_server::review::auth::{Role, config_line, new_token};
use sitepatrol_server::review::export::CSV_COLUMNS;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A response as the test sees it.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub(crate) fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// One request over HTTP/1.0 (the server closes after the response).
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    call_from(None, addr, method, path, headers, body).await
}

/// [`call`], from the local address `from` when there is one (another loopback address).
async fn call_from(
    from: Option<Ipv4Addr>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    let mut stream = match from {
        None => tokio::net::TcpStream::connect(addr).await.expect("connect"),
        Some(from) => {
            let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
            socket
                .bind((from, 0).into())
                .unwrap_or_else(|e| panic!("bind {from}: {e}"));
            socket.connect(addr).await.expect("connect")
        }
    };
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: test\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("send");
    if let Some(body) = body {
        stream.write_all(body.as_bytes()).await.expect("send body");
    }
    let mut raw = Vec::new();
    // A server that refuses a body before reading all of it may reset the connection after
    // its answer; what arrived before the reset is the answer.
    if let Err(e) = stream.read_to_end(&mut raw).await {
        assert!(!raw.is_empty(), "no answer to {method} {path}: {e}");
    }
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
        body: raw[split + 4..].to_vec(),
    }
}

/// The API as one token holder sees it.
#[derive(Clone)]
pub(crate) struct Client {
    pub(crate) addr: SocketAddr,
    pub(crate) token: Option<String>,
}

impl Client {
    pub(crate) async fn send(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        self.send_from(None, method, path, body).await
    }

    async fn send_from(
        &self,
        from: Option<Ipv4Addr>,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Resp {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers = Vec::new();
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth.as_str()));
        }
        let path = format!("/api/v1{path}");
        call_from(from, self.addr, method, &path, &headers, body).await
    }

    pub(crate) async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }

    /// GET from another local address.
    async fn get_from(&self, from: Ipv4Addr, path: &str) -> Resp {
        self.send_from(Some(from), "GET", path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &str) -> Resp {
        self.send("POST", path, Some(body)).await
    }

    /// GET that must answer 200 with JSON.
    pub(crate) async fn ok(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(
            r.status,
            200,
            "GET {path}: {:?}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    }
}

pub(crate) struct Tokens {
    pub(crate) viewer: String,
    pub(crate) reviewer: String,
    pub(crate) admin: String,
    pub(crate) config: String,
}

pub(crate) fn tokens() -> Tokens {
    let viewer = new_token().unwrap();
    let reviewer = new_token().unwrap();
    let admin = new_token().unwrap();
    let config = [
        config_line("watcher", Role::Viewer, &viewer),
        config_line("张三", Role::Reviewer, &reviewer),
        config_line("ops-admin", Role::Admin, &admin),
    ]
    .join("\n");
    Tokens {
        viewer,
        reviewer,
        admin,
        config,
    }
}

type Pages = Arc<Mutex<HashMap<String, String>>>;

/// A site of `n` pages, each with a gambling and a porn term (2n flags), and one page whose
/// text carries script payloads (evidence is hostile).
async fn flagged_site(n: usize) -> (common::Server, Pages) {
    let pages: Pages = Arc::new(Mutex::new(HashMap::new()));
    {
        let mut p = pages.lock().unwrap();
        let links: String = (0..n)
            .map(|i| format!("<a href='/p{i}.html'>p{i}</a>"))
            .collect();
        p.insert(
            "/".into(),
            format!("<html><body><p>首页</p>{links}<a href='/x.html'>x</a></body></html>"),
        );
        for i in 0..n {
            p.insert(
                format!("/p{i}.html"),
                format!(
                    "<html><body><p>第{i}页 欢迎来到网上赌博平台 免费色情视频</p><a href='/'>home</a></body></html>"
                ),
            );
        }
        p.insert(
            "/x.html".into(),
            "<html><body><p>网上赌博 &lt;script&gt;alert(1)&lt;/script&gt;</p><script>alert(2)</script><img src=x onerror=alert(3)></body></html>".into(),
        );
    }
    let served = pages.clone();
    let server = serve(move |request| {
        let path = request.path.split('?').next().unwrap_or("/").to_string();
        match served.lock().unwrap().get(&path) {
            Some(body) => Action::html(body.clone()),
            None => Action::status(404),
        }
    })
    .await;
    (server, pages)
}

/// Sample values for a route's `{name}` segments.
fn sample_path(path: &str, flag: i64) -> String {
    path.replace("{id}", &flag.to_string())
        .replace("{site}", "shop")
}

async fn wait_for<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(started.elapsed() < PATIENCE, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The schemas of the served OpenAPI document, and a validator for the subset of OpenAPI 3.0
/// schemas the document uses ($ref, type, nullable, enum, properties, required,
/// additionalProperties: false, items).
pub(crate) struct Schemas {
    pub(crate) doc: Value,
}

impl Schemas {
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let pointer = r.trim_start_matches('#');
                self.resolve(
                    self.doc
                        .pointer(pointer)
                        .unwrap_or_else(|| panic!("no {r}")),
                )
            }
            None => schema,
        }
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if value.is_null() {
            if schema["nullable"] != Value::Bool(true) {
                errors.push(format!("{at}: null but not nullable"));
            }
            return;
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.contains(value)
        {
            errors.push(format!("{at}: {value} not in {options:?}"));
        }
        let ok = match schema.get("type").and_then(Value::as_str) {
            None => true,
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            Some("array") => value.is_array(),
            Some("object") => value.is_object(),
            Some(other) => panic!("type {other} unknown to the validator"),
        };
        if !ok {
            errors.push(format!("{at}: {value} is not {}", schema["type"]));
            return;
        }
        if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
            for (i, v) in values.iter().enumerate() {
                self.check(items, v, &format!("{at}[{i}]"), errors);
            }
        }
        if let Some(object) = value.as_object() {
            let props = schema.get("properties").and_then(Value::as_object);
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let key = required.as_str().unwrap();
                if !object.contains_key(key) {
                    errors.push(format!("{at}: `{key}` missing"));
                }
            }
            for (k, v) in object {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => self.check(s, v, &format!("{at}.{k}"), errors),
                    None if schema["additionalProperties"] == Value::Bool(false) => {
                        errors.push(format!("{at}: `{k}` is not in the schema"))
                    }
                    None => {}
                }
            }
        }
    }

    /// Validate one response of `method` on the documented `path` (with `{name}`s).
    pub(crate) fn validate(&self, method: &str, path: &str, response: &Resp) -> Vec<String> {
        let operation = &self.doc["paths"][format!("/api/v1{path}")][method.to_lowercase()];
        assert!(operation.is_object(), "{method} {path} is not documented");
        let documented = &operation["responses"][response.status.to_string()];
        let documented = if documented.is_null() {
            &operation["responses"]["default"]
        } else {
            documented
        };
        assert!(
            !documented.is_null(),
            "{method} {path} answered {}, which is not documented",
            response.status
        );
        let documented = self.resolve(documented);
        let content_type = response.header("content-type").unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim();
        let media = &documented["content"][essence];
        assert!(
            media.is_object(),
            "{method} {path} {}: content type {content_type} is not documented",
            response.status
        );
        let mut errors = Vec::new();
        if essence == "application/json" {
            self.check(
                &media["schema"],
                &response.json(),
                &format!("{method} {path} {}", response.status),
                &mut errors,
            );
        }
        errors
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_api_routes_roles_actions_exports_and_restart() {
    let (server, _pages) = flagged_site(6).await;
    let setup = Setup::new();
    let t = tokens();
    let config = setup.write_config(&format!(
        // The filing checks' flags (no ICP number shown) are not what these tests count.
        "[schedule]\ninterval = \"1h\"\njitter = 0.0\nshutdown_grace = \"5s\"\n[filing]\nenabled = false\n[api]\nmax_failures = 1000\n{}\n{}",
        t.config,
        site("shop", "shop.example.test", server.addr.port(), "1h")
    ));
    let mut daemon = Daemon::start(&config).await;
    let store = setup.store();
    wait_runs(&store, "shop", 1).await;
    drop(store);

    let anonymous = Client {
        addr: daemon.http,
        token: None,
    };
    let bad = Client {
        addr: daemon.http,
        token: Some("spt_not-a-token".into()),
    };
    let viewer = Client {
        addr: daemon.http,
        token: Some(t.viewer.clone()),
    };
    let reviewer = Client {
        addr: daemon.http,
        token: Some(t.reviewer.clone()),
    };
    let admin = Client {
        addr: daemon.http,
        token: Some(t.admin.clone()),
    };

    // The OpenAPI document needs no token; it and every other response are checked against
    // its schemas along the way.
    let doc = anonymous.get("/openapi.json").await;
    assert_eq!(doc.status, 200);
    let schemas = Schemas { doc: doc.json() };
    let mut violations = Vec::new();
    let mut check = |method: &str, path: &str, r: &Resp| {
        violations.extend(schemas.validate(method, path, r));
    };

    // Everything lists 13 flags: 6 pages × 2 rules, and the hostile page.
    let all = viewer.ok("/flags?limit=1000").await;
    let flags = all["flags"].as_array().unwrap().clone();
    assert_eq!(flags.len(), 13, "{all:#}");
    let first = flags[0]["id"].as_i64().unwrap();

    // Every route: 401 without a token or with a bad one, 403 below its role. Nothing of the
    // store is in those answers.
    for route in ROUTES {
        let path = sample_path(route.path, first);
        let body = (route.method == "POST").then_some("{}");
        let Some(needed) = route.role else {
            continue;
        };
        for client in [&anonymous, &bad] {
            let r = client.send(route.method, &path, body).await;
            assert_eq!(r.status, 401, "{} {path}", route.method);
            assert_eq!(r.code(), "unauthorized");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
            assert!(!String::from_utf8_lossy(&r.body).contains("shop.example.test"));
            check(route.method, route.path, &r);
        }
        for (client, role) in [(&viewer, Role::Viewer), (&reviewer, Role::Reviewer)] {
            if !role.allows(needed) {
                let r = client.send(route.method, &path, body).await;
                assert_eq!(r.status, 403, "{} {path} as {role}", route.method);
                assert_eq!(r.code(), "forbidden");
                check(route.method, route.path, &r);
            }
        }
    }
    // Unknown paths need a token too, then are 404; wrong methods 405.
    assert_eq!(anonymous.get("/secret").await.status, 401);
    let r = viewer.get("/secret").await;
    assert_eq!((r.status, r.code().as_str()), (404, "no_route"));
    let r = viewer
        .send("DELETE", &format!("/flags/{first}"), None)
        .await;
    assert_eq!((r.status, r.code().as_str()), (405, "method_not_allowed"));

    // Pagination: pages of 5 by cursor give every flag once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/flags?limit=5&cursor={c}"),
            None => "/flags?limit=5".into(),
        };
        let r = viewer.get(&path).await;
        check("GET", "/flags", &r);
        let page = r.json();
        pages += 1;
        seen.extend(
            page["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!((seen.len(), unique.len()), (13, 13));
    let r = viewer.get("/flags?cursor=garbage").await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_cursor"));

    // Filters.
    let count = |v: &Value| v["flags"].as_array().unwrap().len();
    assert_eq!(count(&viewer.ok("/flags?severity=high").await), 7);
    assert_eq!(count(&viewer.ok("/flags?rule=test.porn").await), 6);
    assert_eq!(
        count(&viewer.ok("/flags?category=pornography,gambling").await),
        13
    );
    assert_eq!(
        count(&viewer.ok("/flags?site=shop&customer=customer-shop").await),
        13
    );
    assert_eq!(count(&viewer.ok("/flags?site=elsewhere").await), 0);
    assert_eq!(count(&viewer.ok("/flags?to=2000-01-01").await), 0);
    assert_eq!(
        count(&viewer.ok("/flags?from=2000-01-01T00:00:00Z").await),
        13
    );
    let oldest = viewer.ok("/flags?sort=oldest&limit=1").await;
    assert_eq!(
        oldest["flags"][0]["id"].as_i64(),
        seen.iter().min().copied()
    );
    let by_severity = viewer.ok("/flags?sort=severity").await;
    assert_eq!(by_severity["flags"][0]["severity"], "high");
    for (query, code) in [
        ("stat=open", "invalid_parameter"),
        ("state=closed", "invalid_parameter"),
        ("limit=0", "invalid_parameter"),
        ("from=yesterday", "invalid_parameter"),
        ("sort=random", "invalid_parameter"),
    ] {
        let r = viewer.get(&format!("/flags?{query}")).await;
        assert_eq!((r.status, r.code()), (400, code.to_string()), "{query}");
        check("GET", "/flags", &r);
    }

    // The queue: the 13 flags are two cases of the one site, gambling (high, 7 pages) first.
    let r = viewer.get("/cases").await;
    check("GET", "/cases", &r);
    let queue = r.json();
    let cases = queue["cases"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 2, "{queue:#}");
    assert_eq!(
        (
            &cases[0]["category"],
            &cases[0]["pages"],
            &cases[0]["severity"]
        ),
        (
            &Value::from("gambling"),
            &Value::from(7),
            &Value::from("high")
        )
    );
    assert_eq!(cases[1]["pages"], 6);
    let gambling_case = cases[0]["id"].as_i64().unwrap();
    let porn_case = cases[1]["id"].as_i64().unwrap();
    let r = viewer.get(&format!("/cases/{gambling_case}")).await;
    check("GET", "/cases/{id}", &r);
    assert_eq!(r.json()["flags"].as_array().unwrap().len(), 7);
    let r = viewer.get("/cases?limit=1").await;
    check("GET", "/cases", &r);
    let cursor = r.json()["next_cursor"].as_str().unwrap().to_string();
    let r = viewer.get(&format!("/cases?limit=1&cursor={cursor}")).await;
    assert_eq!(r.json()["cases"][0]["id"], porn_case);
    for (path, status, code) in [
        ("/cases?state=closed", 400, "invalid_parameter"),
        ("/cases?overdue=maybe", 400, "invalid_parameter"),
        ("/cases?cursor=garbage", 400, "invalid_cursor"),
        ("/cases/999999", 404, "case_not_found"),
    ] {
        let r = viewer.get(path).await;
        assert_eq!((r.status, r.code()), (status, code.to_string()), "{path}");
        let documented = if path.starts_with("/cases/") {
            "/cases/{id}"
        } else {
            "/cases"
        };
        check("GET", documented, &r);
    }
    let r = reviewer
        .post(
            &format!("/cases/{porn_case}/comment"),
            r#"{"text": "看一下"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    check("POST", "/cases/{id}/comment", &r);
    let version = r.json()["version"].as_i64().unwrap();
    // The case audit log has the comment once, by its reviewer.
    let r = viewer
        .get(&format!(
            "/case-events?case={porn_case}&actor=%E5%BC%A0%E4%B8%89"
        ))
        .await;
    check("GET", "/case-events", &r);
    let audit = r.json();
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{audit:#}");
    assert_eq!(
        (&events[0]["kind"], &events[0]["reason"]),
        (&Value::from("comment"), &Value::from("看一下"))
    );
    let r = viewer.get("/case-events?limit=1").await;
    check("GET", "/case-events", &r);
    assert!(r.json()["next_before"].is_i64(), "{:?}", r.json());
    let r = viewer.get("/case-events?flag=1").await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_parameter"));
    for (action, body, status, code) in [
        ("dismiss", "{}".to_string(), 422, "reason_required"),
        (
            "confirm",
            r#"{"deadline_days": 0}"#.to_string(),
            400,
            "invalid_body",
        ),
        ("reopen", "{}".to_string(), 409, "invalid_transition"),
        (
            "comment",
            format!(r#"{{"text": "x", "version": {}}}"#, version - 1),
            409,
            "conflict",
        ),
    ] {
        let r = reviewer
            .post(&format!("/cases/{porn_case}/{action}"), &body)
            .await;
        assert_eq!(
            (r.status, r.code()),
            (status, code.to_string()),
            "{action} {body}"
        );
        check("POST", &format!("/cases/{{id}}/{action}"), &r);
    }

    // One flag, with its evidence and history, and the request id echoed and logged.
    let hostile = flags
        .iter()
        .find(|f| f["url"].as_str().unwrap().ends_with("/x.html"))
        .unwrap();
    let hostile_id = hostile["id"].as_i64().unwrap();
    let r = call(
        daemon.http,
        "GET",
        &format!("/api/v1/flags/{hostile_id}"),
        &[
            ("Authorization", &format!("Bearer {}", t.viewer)),
            ("X-Request-Id", "test-req-42"),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some("test-req-42"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    check("GET", "/flags/{id}", &r);
    let detail = r.json();
    assert_eq!(detail["flag"]["matched"], "网上赌博");
    // Scored: the test rule's weight (2.0) is the whole score, and the strongest signal is
    // what the head fields quote.
    assert_eq!(detail["flag"]["score"], 2.0, "{detail:#}");
    let signal = &detail["flag"]["signals"][0];
    assert_eq!(
        (&signal["rule"], &signal["matched"]),
        (&detail["flag"]["rule"], &detail["flag"]["matched"])
    );
    assert_eq!(
        (&signal["weight"], &signal["contribution"]),
        (&2.0.into(), &2.0.into())
    );
    assert_eq!(detail["flag"]["signals_omitted"], 0);
    assert_eq!(detail["events"][0]["actor"], "crawler");
    assert!(detail["body"]["sha256"].is_string(), "{detail:#}");
    daemon.wait_log("test-req-42").await;
    let generated = viewer.get("/flags?limit=1").await;
    assert_eq!(generated.header("x-request-id").map(str::len), Some(16));

    // The page copy: plain text in a sandbox, never HTML.
    let r = viewer.get(&format!("/flags/{hostile_id}/body")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("content-security-policy"), Some("sandbox"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(
        String::from_utf8(r.body.clone())
            .unwrap()
            .contains("<script>alert(2)</script>")
    );
    check("GET", "/flags/{id}/body", &r);
    let r = viewer.get("/flags/999999/body").await;
    assert_eq!((r.status, r.code().as_str()), (404, "flag_not_found"));
    let r = viewer.get("/flags/abc").await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_parameter"));

    // Actions, each recorded with the token's name.
    let ids: Vec<i64> = flags.iter().map(|f| f["id"].as_i64().unwrap()).collect();
    let r = reviewer
        .post(
            &format!("/flags/{}/confirm", ids[0]),
            "{\"reason\":\"赌博推广\"}",
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    check("POST", "/flags/{id}/confirm", &r);
    assert_eq!(r.json()["state"], "confirmed");
    let r = reviewer
        .post(&format!("/flags/{}/confirm", ids[0]), "")
        .await;
    assert_eq!((r.status, r.code().as_str()), (409, "invalid_transition"));
    check("POST", "/flags/{id}/confirm", &r);
    let r = reviewer
        .post(&format!("/flags/{}/dismiss", ids[1]), "{}")
        .await;
    assert_eq!((r.status, r.code().as_str()), (422, "reason_required"));
    let r = reviewer
        .post(&format!("/flags/{}/dismiss", ids[1]), "{\"reason\":\"  \"}")
        .await;
    assert_eq!((r.status, r.code().as_str()), (422, "reason_required"));
    let r = reviewer
        .post(
            &format!("/flags/{}/dismiss", ids[1]),
            "{\"reason\":\"影评，不是推广\"}",
        )
        .await;
    assert_eq!(r.json()["state"], "dismissed");
    let r = reviewer
        .post(&format!("/flags/{}/reopen", ids[1]), "{}")
        .await;
    assert_eq!(r.json()["state"], "reopened");
    check("POST", "/flags/{id}/reopen", &r);
    let r = reviewer
        .post(
            &format!("/flags/{}/assign", ids[2]),
            "{\"assignee\":\"李四\"}",
        )
        .await;
    assert_eq!(r.json()["assignee"], "李四");
    check("POST", "/flags/{id}/assign", &r);
    let r = reviewer
        .post(&format!("/flags/{}/assign", ids[2]), "{\"assignee\":null}")
        .await;
    assert!(r.json()["assignee"].is_null());
    let r = reviewer
        .post(
            &format!("/flags/{}/comment", ids[2]),
            "{\"text\":\"客户已通知\"}",
        )
        .await;
    assert_eq!(r.status, 200);
    check("POST", "/flags/{id}/comment", &r);
    // The version the reviewer was shown: a stale one is a 409 `conflict` and changes
    // nothing; the current one applies.
    let version = r.json()["version"].as_i64().unwrap();
    let events_before = reviewer.ok(&format!("/flags/{}", ids[2])).await["events"]
        .as_array()
        .unwrap()
        .len();
    let r = reviewer
        .post(
            &format!("/flags/{}/assign", ids[2]),
            &format!("{{\"assignee\":\"王五\",\"version\":{}}}", version - 1),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (409, "conflict"));
    check("POST", "/flags/{id}/assign", &r);
    let after = reviewer.ok(&format!("/flags/{}", ids[2])).await;
    assert_eq!(after["events"].as_array().unwrap().len(), events_before);
    assert_eq!(after["flag"]["version"], version);
    let r = reviewer
        .post(
            &format!("/flags/{}/comment", ids[2]),
            &format!("{{\"text\":\"再看\",\"version\":{version}}}"),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["version"].as_i64().unwrap() > version);
    let r = reviewer
        .post(&format!("/flags/{}/comment", ids[2]), "{\"text\":\"\"}")
        .await;
    assert_eq!((r.status, r.code().as_str()), (422, "empty_comment"));
    let r = reviewer
        .post(&format!("/flags/{}/comment", ids[2]), "{\"txt\":\"x\"}")
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_body"));
    check("POST", "/flags/{id}/comment", &r);
    // One JSON value per body: trailing junk or a second value is refused, and nothing is
    // written.
    let before = reviewer.ok(&format!("/flags/{}", ids[2])).await["events"]
        .as_array()
        .unwrap()
        .len();
    for body in [
        "{\"text\":\"x\"} junk",
        "{\"text\":\"x\"}{\"text\":\"y\"}",
        "{\"text\":\"x\"}]",
    ] {
        let r = reviewer
            .post(&format!("/flags/{}/comment", ids[2]), body)
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "invalid_body"),
            "{body}"
        );
    }
    let after = reviewer.ok(&format!("/flags/{}", ids[2])).await["events"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);
    let r = reviewer.post("/flags/999999/confirm", "{}").await;
    assert_eq!((r.status, r.code().as_str()), (404, "flag_not_found"));
    let r = call(
        daemon.http,
        "POST",
        &format!("/api/v1/flags/{}/confirm", ids[3]),
        &[
            ("Authorization", &format!("Bearer {}", t.reviewer)),
            ("Content-Type", "text/plain"),
            ("Content-Length", "2"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (415, "unsupported_media_type")
    );
    let huge = format!("{{\"reason\":\"{}\"}}", "x".repeat(1 << 20));
    let r = reviewer
        .post(&format!("/flags/{}/confirm", ids[3]), &huge)
        .await;
    assert_eq!((r.status, r.code().as_str()), (413, "payload_too_large"));
    check("POST", "/flags/{id}/confirm", &r);
    let long = format!("{{\"reason\":\"{}\"}}", "理".repeat(10_001));
    let r = reviewer
        .post(&format!("/flags/{}/confirm", ids[3]), &long)
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_body"));
    assert_eq!(
        viewer.ok(&format!("/flags/{}", ids[3])).await["flag"]["state"],
        "open",
        "refused actions change nothing"
    );

    // Bulk: each id on its own.
    let bulk_ids = [ids[3], ids[4], ids[5], ids[0], 999_999];
    let r = reviewer
        .post(
            "/flags/bulk",
            &serde_json::json!({"action":"confirm","ids":bulk_ids,"reason":"批量"}).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    check("POST", "/flags/bulk", &r);
    let b = r.json();
    assert_eq!(
        (b["succeeded"].as_u64(), b["failed"].as_u64()),
        (Some(3), Some(2))
    );
    let results = b["results"].as_array().unwrap();
    assert_eq!(results[3]["error"]["code"], "invalid_transition");
    assert_eq!(results[4]["error"]["code"], "flag_not_found");
    let r = reviewer
        .post(
            "/flags/bulk",
            &serde_json::json!({"action":"dismiss","ids":[ids[6], ids[7]]}).to_string(),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (422, "reason_required"));
    // Versions per flag: a stale one fails that flag alone with `conflict`.
    let stale = serde_json::json!({"action":"comment","ids":[ids[2]],"text":"批量",
        "versions": {ids[2].to_string(): 0}});
    let r = reviewer.post("/flags/bulk", &stale.to_string()).await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    check("POST", "/flags/bulk", &r);
    assert_eq!(r.json()["results"][0]["error"]["code"], "conflict");
    let stray = serde_json::json!({"action":"comment","ids":[ids[2]],"text":"批量",
        "versions": {"999999": 1}});
    let r = reviewer.post("/flags/bulk", &stray.to_string()).await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_body"));
    let many: Vec<i64> = (1..=1001).collect();
    let r = reviewer
        .post(
            "/flags/bulk",
            &serde_json::json!({"action":"confirm","ids":many}).to_string(),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "too_many_ids"));
    check("POST", "/flags/bulk", &r);
    let r = reviewer
        .post(
            "/flags/bulk",
            &serde_json::json!({"action":"dismiss","ids":[ids[6], ids[7]],"reason":"测试页面"})
                .to_string(),
        )
        .await;
    assert_eq!(r.json()["succeeded"], 2);
    let confirmed = viewer.ok("/flags?state=confirmed").await;
    assert_eq!(count(&confirmed), 4);

    // The audit log names the actors.
    let r = viewer.get("/events?actor=%E5%BC%A0%E4%B8%89").await;
    check("GET", "/events", &r);
    let events = r.json();
    let events = events["events"].as_array().unwrap();
    assert!(events.len() >= 10, "{events:#?}");
    assert!(events.iter().all(|e| e["actor"] == "张三"));
    let flag_events = viewer.ok(&format!("/events?flag={}", ids[2])).await;
    let kinds: Vec<&str> = flag_events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["comment", "comment", "assign", "assign", "state"]);
    let page = viewer.ok("/events?limit=2").await;
    let before = page["next_before"].as_i64().unwrap();
    let next = viewer.ok(&format!("/events?limit=2&before={before}")).await;
    assert!(next["events"][0]["id"].as_i64().unwrap() < before);

    // Sites and runs.
    let r = viewer.get("/sites").await;
    check("GET", "/sites", &r);
    let sites = r.json();
    assert_eq!(sites["sites"][0]["id"], "shop");
    assert_eq!(sites["sites"][0]["active_flags"], 13 - 2);
    assert!(sites["sites"][0]["last_crawl_at"].is_i64());
    let r = viewer.get("/sites/shop").await;
    check("GET", "/sites/{site}", &r);
    let r = viewer.get("/sites/nowhere").await;
    assert_eq!((r.status, r.code().as_str()), (404, "site_not_found"));
    check("GET", "/sites/{site}", &r);
    let r = viewer.get("/sites/shop/runs").await;
    check("GET", "/sites/{site}/runs", &r);
    assert_eq!(r.json()["runs"].as_array().unwrap().len(), 1);

    // A recrawl now, by an admin: a second run appears long before the hour is up.
    let r = admin.post("/sites/shop/recrawl", "").await;
    assert_eq!(r.status, 202, "{:?}", String::from_utf8_lossy(&r.body));
    check("POST", "/sites/{site}/recrawl", &r);
    assert!(["queued", "running"].contains(&r.json()["status"].as_str().unwrap()));
    let r = admin.post("/sites/nowhere/recrawl", "").await;
    assert_eq!((r.status, r.code().as_str()), (404, "site_not_found"));
    wait_for("a second crawl run", async || {
        let runs = viewer.ok("/sites/shop/runs").await;
        (runs["runs"].as_array().unwrap().len() >= 2).then_some(())
    })
    .await;

    // Exports: CSV in UTF-8 with a BOM and the documented columns; JSON lines.
    let r = viewer.get("/export/flags.csv?sort=oldest").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    check("GET", "/export/flags.csv", &r);
    assert!(r.body.starts_with(b"\xEF\xBB\xBF"), "no BOM");
    let text = std::str::from_utf8(&r.body[3..]).expect("valid UTF-8");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, CSV_COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 13);
    assert_eq!(&rows[0][8], "customer-shop");
    assert!(rows.iter().any(|r| &r[11] == "色情视频"));
    let r = viewer.get("/export/flags.jsonl?state=dismissed").await;
    assert_eq!(
        r.header("content-type"),
        Some("application/jsonl; charset=utf-8")
    );
    check("GET", "/export/flags.jsonl", &r);
    let lines: Vec<Value> = String::from_utf8(r.body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["state"] == "dismissed"));

    // HEAD is GET without a body.
    let r = viewer.send("HEAD", "/flags", None).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());

    assert!(violations.is_empty(), "{violations:#?}");

    // A restart keeps every reviewer's decision.
    let before: Vec<(i64, String)> = flag_states(&viewer).await;
    daemon.signal("TERM");
    assert!(daemon.wait_exit(PATIENCE).await.success());
    let daemon = Daemon::start(&config).await;
    let viewer = Client {
        addr: daemon.http,
        token: Some(t.viewer.clone()),
    };
    assert_eq!(flag_states(&viewer).await, before);
    let history = viewer.ok(&format!("/flags/{}", ids[0])).await;
    assert!(
        history["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "张三"
                && e["to_state"] == "confirmed"
                && e["reason"] == "赌博推广")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scored_flags_serve_their_score_and_signals() {
    // A site whose only page has nothing; the scored flag is on a page the crawl never
    // fetches, so it stays as seeded.
    let server = serve(|_| Action::html("<html><body><p>首页</p></body></html>")).await;
    let setup = Setup::new();
    let t = tokens();
    let config = setup.write_config(&format!(
        "[schedule]\ninterval = \"1h\"\njitter = 0.0\n[filing]\nenabled = false\n{}\n{}",
        t.config,
        site("shop", "shop.example.test", server.addr.port(), "1h")
    ));
    let url = format!(
        "http://shop.example.test:{}/scored.html",
        server.addr.port()
    );
    let id = seed_scored_flag(
        &setup,
        "shop",
        &url,
        &[
            ("gambling.casino", "真人百家乐", 1.0),
            ("gambling.bet", "投注", 0.6),
        ],
    );
    let daemon = Daemon::start(&config).await;
    wait_runs(&setup.store(), "shop", 2).await;
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

    let r = viewer.get(&format!("/flags/{id}")).await;
    violations.extend(schemas.validate("GET", "/flags/{id}", &r));
    let flag = &r.json()["flag"];
    assert_eq!(flag["score"], 1.6);
    assert_eq!(flag["signals_omitted"], 0);
    assert_eq!(flag["matched"], "真人百家乐");
    let signals = flag["signals"].as_array().unwrap();
    assert_eq!(signals.len(), 2);
    assert_eq!(
        signals[1],
        serde_json::json!({"rule": "gambling.bet", "weight": 0.6, "contribution": 0.6,
            "zone": "text", "matched": "投注", "normalized": "投注", "snippet": "前文投注后文",
            "offset": 6, "count": 1})
    );
    // The list, the rule filter by a signal that is not the strongest, the exports.
    let r = viewer.get("/flags?rule=gambling.bet").await;
    violations.extend(schemas.validate("GET", "/flags", &r));
    let listed = r.json();
    assert_eq!(listed["flags"].as_array().unwrap().len(), 1, "{listed:#}");
    assert_eq!(listed["flags"][0]["score"], 1.6);
    let r = viewer.get("/export/flags.jsonl").await;
    let line: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(line["signals"][0]["rule"], "gambling.casino");
    let r = viewer.get("/export/flags.csv").await;
    let text = std::str::from_utf8(&r.body[3..]).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[22], "1.6");
    assert_eq!(
        &row[23],
        "gambling.casino[text]: 真人百家乐 (+1.00); gambling.bet[text]: 投注 (+0.60)"
    );
    assert!(violations.is_empty(), "{violations:#?}");
}

async fn flag_states(client: &Client) -> Vec<(i64, String)> {
    let all = client.ok("/flags?limit=1000&sort=oldest").await;
    all["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_i64().unwrap(),
                f["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tokens_everything_but_the_document_is_401_and_it_is_logged() {
    let setup = Setup::new();
    let config = setup.write_config("");
    let daemon = Daemon::start(&config).await;
    assert!(
        daemon.log().contains("no API tokens are configured"),
        "{}",
        daemon.log()
    );
    let anyone = Client {
        addr: daemon.http,
        token: Some(new_token().unwrap()),
    };
    for route in ROUTES {
        let r = anyone
            .send(route.method, &sample_path(route.path, 1), None)
            .await;
        let expected = if route.role.is_none() { 200 } else { 401 };
        assert_eq!(r.status, expected, "{} {}", route.method, route.path);
    }
    // The operations endpoints are where they were.
    assert_eq!(daemon.get("/healthz").await.0, 200);
}

/// Issue 14 item 6: failures count per client and token prefix. A client that keeps failing
/// gets 429 with Retry-After; a colleague at the same address with another prefix does not
/// (below the network's cap); and a valid token always gets in, whatever failed before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentication_is_limited_per_client_and_prefix_and_valid_tokens_always_get_in() {
    let setup = Setup::new();
    let t = tokens();
    let config = setup.write_config(&format!(
        "[api]\nmax_failures = 3\nfailure_window = \"1h\"\n{}",
        t.config
    ));
    let daemon = Daemon::start(&config).await;
    let client = |token: &str| Client {
        addr: daemon.http,
        token: Some(token.to_string()),
    };
    // A typo of the admin's token: the same prefix (the first 8 characters after spt_).
    let typo = format!("{}wrong", &t.admin[..12]);
    let guesser = client(&typo);
    for _ in 0..3 {
        assert_eq!(guesser.get("/flags").await.status, 401);
    }
    // (3) Repeated failures of one key: 429 with the rest of the window as Retry-After.
    let r = guesser.get("/flags").await;
    assert_eq!((r.status, r.code().as_str()), (429, "rate_limited"));
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(wait > 3000 && wait <= 3600, "{wait}");
    // The key is the network's: another loopback address of it is refused too.
    let same_network = Ipv4Addr::new(127, 0, 0, 2);
    assert_eq!(guesser.get_from(same_network, "/flags").await.status, 429);

    // (1) The valid token of that very prefix gets in, from the same address, at once; and
    // so does every other valid token.
    assert_eq!(client(&t.admin).get("/flags").await.status, 200);
    assert_eq!(client(&t.viewer).get("/flags").await.status, 200);
    assert_eq!(
        client(&t.reviewer)
            .get_from(same_network, "/flags")
            .await
            .status,
        200
    );

    // (2) Someone else at the same address with another (wrong) prefix is judged on their
    // own counter: 401, not 429, until they fail three times themselves.
    let other = client("spt_ZZZZZZZZsomeoneelse");
    for _ in 0..3 {
        let r = other.get("/flags").await;
        assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    }
    assert_eq!(other.get("/flags").await.status, 429);
    // No token at all is not a guess, and a key of its own.
    assert_eq!(client("").get("/flags").await.status, 401);
    // The document stays public.
    assert_eq!(guesser.get("/openapi.json").await.status, 200);
}

/// The network's cap (ten times `max_failures`): a guesser who changes the prefix with every
/// guess is refused from the whole network once it failed that often, valid tokens still in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_that_fails_too_often_is_refused_but_valid_tokens_still_get_in() {
    let setup = Setup::new();
    let t = tokens();
    let config = setup.write_config(&format!(
        "[api]\nmax_failures = 1\nfailure_window = \"1h\"\n{}",
        t.config
    ));
    let daemon = Daemon::start(&config).await;
    let client = |token: String| Client {
        addr: daemon.http,
        token: Some(token),
    };
    for i in 0..10 {
        let r = client(format!("spt_guess{i:03}x")).get("/flags").await;
        assert_eq!(r.status, 401, "guess {i}");
    }
    let r = client("spt_freshprefix".into()).get("/flags").await;
    assert_eq!((r.status, r.code().as_str()), (429, "rate_limited"));
    assert!(r.header("retry-after").is_some());
    assert_eq!(client(t.viewer.clone()).get("/flags").await.status, 200);
    // Another network is not affected.
    let r = client("spt_freshprefix".into())
        .get_from(Ipv4Addr::new(127, 0, 1, 1), "/flags")
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_can_have_its_own_listener() {
    let setup = Setup::new();
    let t = tokens();
    let config = setup.write_config(&format!("[api]\nlisten = [\"127.0.0.1:0\"]\n{}", t.config));
    let daemon = Daemon::start(&config).await;
    let api_addr: SocketAddr = daemon
        .log()
        .lines()
        .find(|l| l.contains("api server listening"))
        .and_then(|l| l.split("addr=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no api listener in the log:\n{}", daemon.log()));
    let on_api = Client {
        addr: api_addr,
        token: Some(t.viewer.clone()),
    };
    let on_ops = Client {
        addr: daemon.http,
        token: Some(t.viewer.clone()),
    };
    on_api.ok("/flags").await;
    assert_eq!(on_ops.get("/flags").await.status, 404);
    assert_eq!(daemon.get("/metrics").await.0, 200);
    assert_eq!(get(api_addr, "/metrics").await.0, 401);
}

/// The routes the router serves are exactly the documented paths, and the error codes the
/// API can answer are the documented ones.
#[test]
fn the_openapi_document_names_every_route_and_no_other() {
    let doc: Value = serde_json::from_str(sitepatrol_server::api::OPENAPI).expect("valid JSON");
    assert_eq!(doc["openapi"], "3.0.3");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), format!("/api/v1{}", r.path)))
        .collect();
    assert_eq!(documented, served);
    for route in ROUTES {
        let op = &doc["paths"][format!("/api/v1{}", route.path)][route.method.to_lowercase()];
        let public = op["security"].as_array().is_some_and(|s| s.is_empty());
        assert_eq!(
            public,
            route.role.is_none(),
            "{} {}",
            route.method,
            route.path
        );
        if let Some(role) = route.role {
            assert_eq!(
                op["description"].as_str().unwrap(),
                format!("Role: {role}."),
                "{} {}",
                route.method,
                route.path
            );
        }
        // Every `{name}` of the path is a documented path parameter.
        for segment in route.path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(['{', '}']);
            assert!(
                op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "path"),
                "{} {}: {name}",
                route.method,
                route.path
            );
        }
    }
    let codes: BTreeSet<&str> =
        doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
    let known: BTreeSet<&str> = sitepatrol_server::api::error::CODES
        .iter()
        .copied()
        .collect();
    assert_eq!(codes, known);
}

/// Runs `sitepatrol flags ...` with `token` in SITEPATROL_TOKEN; (exit code, stdout, stderr).
async fn cli(url: &str, token: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sitepatrol"));
    command
        .arg("flags")
        .args(args)
        .args(["--url", url])
        .env_remove("SITEPATROL_URL")
        .env_remove("SITEPATROL_TOKEN");
    if let Some(token) = token {
        command.env("SITEPATROL_TOKEN", token);
    }
    let output = tokio::time::timeout(PATIENCE, command.output())
        .await
        .expect("the CLI finished")
        .expect("run the CLI");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flags_cli_lists_shows_confirms_dismisses_and_exports() {
    let (server, _pages) = flagged_site(2).await;
    let setup = Setup::new();
    let t = tokens();
    let config = setup.write_config(&format!(
        "[schedule]\ninterval = \"1h\"\n[filing]\nenabled = false\n{}\n{}",
        t.config,
        site("shop", "shop.example.test", server.addr.port(), "1h")
    ));
    let daemon = Daemon::start(&config).await;
    wait_runs(&setup.store(), "shop", 1).await;
    let url = format!("http://{}", daemon.http);
    let (viewer, reviewer) = (Some(t.viewer.as_str()), Some(t.reviewer.as_str()));

    // list: JSON lines when piped, a table on request; filters reach the API.
    let (code, out, err) = cli(&url, viewer, &["list", "--all"]).await;
    assert_eq!(code, 0, "{err}");
    let flags: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(flags.len(), 5, "{out}");
    let (code, out, _) = cli(
        &url,
        viewer,
        &["list", "--severity", "medium", "--format", "table"],
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        out.contains("色情视频") && out.contains("2 flag(s)") && out.contains("SCORE"),
        "{out}"
    );
    let (_, _, err) = cli(&url, viewer, &["list", "--limit", "2"]).await;
    assert!(err.contains("--cursor"), "{err}");

    let ids: Vec<String> = flags.iter().map(|f| f["id"].to_string()).collect();
    let (code, out, _) = cli(&url, viewer, &["show", &ids[0], "--format", "table"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("history:") && out.contains("crawler"), "{out}");
    assert!(out.contains("signals:\n  test."), "{out}");
    let (code, out, _) = cli(&url, viewer, &["show", &ids[0]]).await;
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["flag"]["id"].to_string(),
        ids[0]
    );

    // Actions: a viewer is refused with a clear message; a reviewer confirms and dismisses.
    let (code, _, err) = cli(&url, viewer, &["confirm", &ids[0]]).await;
    assert_eq!(code, 2);
    assert!(err.contains("403 forbidden"), "{err}");
    let (code, out, err) = cli(&url, reviewer, &["confirm", &ids[0], "--reason", "确认"]).await;
    assert_eq!(
        (code, out.trim()),
        (0, format!("flag {}: confirmed", ids[0]).as_str()),
        "{err}"
    );
    let (code, out, _) = cli(
        &url,
        reviewer,
        &["dismiss", &ids[0], &ids[1], &ids[2], "--reason", "误报"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches(": dismissed").count(), 3, "{out}");
    let (code, out, _) = cli(&url, reviewer, &["confirm", &ids[1], &ids[3]]).await;
    assert_eq!(code, 2, "one of the two is dismissed: {out}");
    assert!(
        out.contains("not confirmed") && out.contains("invalid_transition"),
        "{out}"
    );
    let (code, _, err) = cli(&url, reviewer, &["dismiss", &ids[4]]).await;
    assert_eq!(code, 2, "--reason is required by the CLI too: {err}");

    // Export to a file: CSV with the BOM.
    let file = setup.path("flags.csv");
    let (code, _, err) = cli(
        &url,
        viewer,
        &[
            "export",
            "--state",
            "dismissed",
            "-o",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    assert_eq!(std::str::from_utf8(&bytes).unwrap().lines().count(), 1 + 3);
    let (code, out, _) = cli(
        &url,
        viewer,
        &["export", "--format", "jsonl", "--rule", "test.porn"],
    )
    .await;
    assert_eq!((code, out.lines().count()), (0, 2));

    // Clear errors: no token, a bad token, no daemon.
    let (code, _, err) = cli(&url, None, &["list"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("SITEPATROL_TOKEN is not set"), "{err}");
    let (code, _, err) = cli(&url, Some("spt_wrong"), &["list"]).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("401 unauthorized") && err.contains("SITEPATROL_TOKEN"),
        "{err}"
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (code, _, err) = cli(&dead, viewer, &["list"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("cannot reach the daemon at"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_tokens() {
    let setup = Setup::new();
    let t = tokens();
    let viewer_only = config_line("watcher", Role::Viewer, &t.viewer);
    let reviewer_only = config_line("张三", Role::Reviewer, &t.reviewer);
    let config = setup.write_config(&viewer_only);
    let daemon = Daemon::start(&config).await;
    let viewer = Client {
        addr: daemon.http,
        token: Some(t.viewer.clone()),
    };
    let reviewer = Client {
        addr: daemon.http,
        token: Some(t.reviewer.clone()),
    };
    viewer.ok("/flags").await;
    assert_eq!(reviewer.get("/flags").await.status, 401);

    // The viewer's token is revoked and the reviewer's added, without a restart.
    setup.write_config(&reviewer_only);
    daemon.signal("HUP");
    daemon.wait_log("api tokens reloaded").await;
    reviewer.ok("/flags").await;
    assert_eq!(viewer.get("/flags").await.status, 401);

    // A config that does not validate keeps the tokens in force.
    setup.write_config("[[api.tokens]]\nname = \"x\"\nrole = \"root\"\nhash = \"\"\n");
    daemon.signal("HUP");
    daemon.wait_log("inventory reload refused").await;
    reviewer.ok("/flags").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reloads_rules_tokens_and_inventory_over_the_api() {
    let setup = Setup::new();
    let t = tokens();
    let config = setup.write_config(&format!(
        "{}\n{}",
        t.config,
        site("shop", "shop.example.test", 9, "1h")
    ));
    let daemon = Daemon::start(&config).await;
    let admin = Client {
        addr: daemon.http,
        token: Some(t.admin.clone()),
    };
    let reviewer = Client {
        addr: daemon.http,
        token: Some(t.reviewer.clone()),
    };
    let schemas = Schemas {
        doc: admin.ok("/openapi.json").await,
    };
    assert_eq!(reviewer.post("/reload", "").await.status, 403);

    // A second site: both parts reload.
    setup.write_config(&format!(
        "{}\n{}\n{}",
        t.config,
        site("shop", "shop.example.test", 9, "1h"),
        site("blog", "blog.example.test", 9, "1h")
    ));
    let r = admin.post("/reload", "").await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert!(schemas.validate("POST", "/reload", &r).is_empty());
    let report = r.json();
    assert_eq!(report["rules"]["ok"], true, "{report:#}");
    assert_eq!(
        report["inventory"],
        serde_json::json!({"ok": true, "message": "2 sites"})
    );
    assert_eq!(
        admin.ok("/sites").await["sites"].as_array().unwrap().len(),
        2
    );

    // A config that does not validate: the inventory and the tokens stay, and the answer
    // says why.
    setup.write_config(&format!("{}\n[[sites]]\nid = \"bad\"\n", t.config));
    let report = admin.post("/reload", "").await.json();
    assert_eq!(report["inventory"]["ok"], false, "{report:#}");
    assert!(
        report["inventory"]["message"]
            .as_str()
            .unwrap()
            .contains("sites[0]"),
        "{report:#}"
    );
    assert_eq!(
        admin.ok("/sites").await["sites"].as_array().unwrap().len(),
        2
    );
    daemon.wait_log("trigger=\"api\"").await;
}
