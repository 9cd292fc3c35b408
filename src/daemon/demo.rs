//! The demo site, compiled into the binary: `examples/demo-site` (GBK and Big5 pages with
//! hidden gambling links, porn advertising, a browser miner and a script dropper), served on a
//! loopback port so the embedded default has something to patrol without any network.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

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

/// Lists every file, so the crawl reaches the ones no page links to (the dropper script).
fn sitemap() -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for (path, _, _) in FILES {
        xml.push_str(&format!("<url><loc>{path}</loc></url>\n"));
    }
    xml.push_str("</urlset>\n");
    xml
}

pub async fn handle(_: Arc<()>, request: Request<Incoming>) -> Response<Body> {
    let path = match request.uri().path() {
        // One URL for the home page, so its findings are not flagged twice.
        "/index.html" => {
            let mut r = text(StatusCode::MOVED_PERMANENTLY, "text/plain", "");
            r.headers_mut()
                .insert(http::header::LOCATION, http::HeaderValue::from_static("/"));
            return r;
        }
        "/sitemap.xml" => return text(StatusCode::OK, "application/xml", sitemap()),
        other => other,
    };
    match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, body)) => text(StatusCode::OK, content_type, *body),
        None => text(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}
