//! The demo site, compiled into the binary: `examples/demo-site` (GBK and Big5 pages with
//! hidden gambling links, porn advertising, a browser miner and a script dropper), served on a
//! loopback port so the embedded default has something to patrol without any network. One page
//! (`/travel.html`) is clean for visitors and a gambling page for search spiders
//! (`examples/demo-cloaked`), as hacked sites serve them, for the cloaking probes to find.

use axum::Router;
use axum::routing::get;
use http::{Response, StatusCode};

use sitepatrol_server::http::{Body, text};

/// `(path, content type, body)`. No charset in the content types: the pages declare theirs,
/// as many real GBK sites do, and the decoder has to find it.
pub const FILES: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html",
        include_bytes!("../../examples/demo-site/index.html"),
    ),
    (
        "/news.html",
        "text/html",
        include_bytes!("../../examples/demo-site/news.html"),
    ),
    (
        "/video.html",
        "text/html",
        include_bytes!("../../examples/demo-site/video.html"),
    ),
    (
        "/about.txt",
        "text/plain",
        include_bytes!("../../examples/demo-site/about.txt"),
    ),
    (
        "/js/stats.js",
        "application/javascript",
        include_bytes!("../../examples/demo-site/js/stats.js"),
    ),
];

/// The page spiders get at `/travel.html`; visitors get the clean one.
const TRAVEL: &[u8] = include_bytes!("../../examples/demo-site/travel.html");
const TRAVEL_FOR_SPIDERS: &[u8] = include_bytes!("../../examples/demo-cloaked/travel.html");

/// Lists every file, so the crawl reaches the ones no page links to (the dropper script).
fn sitemap() -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    let paths = FILES.iter().map(|(path, _, _)| *path);
    for path in paths.chain(["/travel.html"]) {
        xml.push_str(&format!("<url><loc>{path}</loc></url>\n"));
    }
    xml.push_str("</urlset>\n");
    xml
}

/// The demo site's routes: its files, the sitemap, and a redirect of `/index.html`.
pub fn app() -> Router {
    let mut router = Router::new()
        .route("/index.html", get(home_page_alias))
        .route("/travel.html", get(travel_page))
        .route(
            "/sitemap.xml",
            get(|| async { text(StatusCode::OK, "application/xml", sitemap()) }),
        );
    for (path, content_type, body) in FILES {
        router = router.route(
            path,
            get(move || async move { text(StatusCode::OK, content_type, *body) }),
        );
    }
    router.fallback(|| async { text(StatusCode::NOT_FOUND, "text/plain", "not found\n") })
}

/// The cloaked page: what a 蜘蛛劫持 hack does, keyed on the User-Agent.
async fn travel_page(headers: http::HeaderMap) -> Response<Body> {
    let agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let spider = ["spider", "bot", "sogou"].iter().any(|s| agent.contains(s));
    let body = if spider { TRAVEL_FOR_SPIDERS } else { TRAVEL };
    text(StatusCode::OK, "text/html", body)
}

/// One URL for the home page, so its findings are not flagged twice.
async fn home_page_alias() -> Response<Body> {
    let mut r = text(StatusCode::MOVED_PERMANENTLY, "text/plain", "");
    r.headers_mut()
        .insert(http::header::LOCATION, http::HeaderValue::from_static("/"));
    r
}
