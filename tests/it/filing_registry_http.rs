//! The HTTP JSON filing registry against a loopback service: answers, "no record", caching,
//! parents of a host, and clear errors when the service is down, slow or talks nonsense.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::{Action, serve};
use sitepatrol_core::filing::registry::{Registry, RegistryError};
use sitepatrol_crawl::registry::{HttpRegistry, HttpRegistryConfig};

fn config(template: String) -> HttpRegistryConfig {
    HttpRegistryConfig {
        url_template: template,
        timeout: Duration::from_secs(1),
        cache_ttl: Duration::from_secs(60),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_parents_and_the_cache() {
    let server = serve(|request| {
        if request.path == "/filings?domain=example.cn" {
            Action::with_type(
                200,
                "application/json",
                r#"{"domain":"example.cn","icp_number":"京ICP备05004340号-1","owner":"示例",
                    "owner_nature":"企业","site_name":"示例","approved_at":"2019-05-01",
                    "licence_number":null,"psb_number":"京公网安备11000002000001号",
                    "restricted":false,"services":["forum"],"permits":"(京)-经营性-2014-0008"}"#
                    .as_bytes()
                    .to_vec(),
            )
        } else {
            Action::status(404)
        }
    })
    .await;
    let registry = HttpRegistry::new(config(server.url("/filings?domain={domain}"))).unwrap();
    let record = registry
        .lookup("www.example.cn")
        .await
        .unwrap()
        .expect("found via the parent");
    assert_eq!(record.icp_number, "京ICP备05004340号-1");
    assert_eq!(record.services, ["forum"]);
    assert_eq!(record.permits, ["(京)-经营性-2014-0008"]);
    // www.example.cn (404), then example.cn (200).
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);
    assert!(registry.lookup("www.example.cn").await.unwrap().is_some());
    assert!(registry.lookup("example.cn").await.unwrap().is_some());
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        2,
        "answers come from the cache"
    );
    assert!(registry.lookup("unfiled.cn").await.unwrap().is_none());
    assert!(registry.lookup("unfiled.cn").await.unwrap().is_none());
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        3,
        "no record is cached too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_slow_or_confused_service_is_a_clear_error() {
    // Down: a port nobody listens on.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = unused.local_addr().unwrap().port();
    drop(unused);
    let down = HttpRegistry::new(config(format!("http://127.0.0.1:{port}/f/{{domain}}"))).unwrap();
    let error = down.lookup("example.cn").await.unwrap_err();
    assert!(
        matches!(error, RegistryError::Unavailable { .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains(&format!("127.0.0.1:{port}/f/example.cn")),
        "{error}"
    );

    let slow = serve(|_| Action::Hang).await;
    let registry = HttpRegistry::new(config(slow.url("/f/{domain}"))).unwrap();
    let started = std::time::Instant::now();
    let error = registry.lookup("example.cn").await.unwrap_err();
    assert!(error.to_string().contains("unavailable"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let failing = serve(|_| Action::status(503)).await;
    let registry = HttpRegistry::new(config(failing.url("/f/{domain}"))).unwrap();
    let error = registry.lookup("example.cn").await.unwrap_err();
    assert!(error.to_string().contains("HTTP 503"), "{error}");

    let confused =
        serve(|_| Action::with_type(200, "application/json", b"{\"domain\":1}".to_vec())).await;
    let registry = HttpRegistry::new(config(confused.url("/f/{domain}"))).unwrap();
    let error = registry.lookup("example.cn").await.unwrap_err();
    assert!(matches!(error, RegistryError::BadAnswer { .. }), "{error}");
}
