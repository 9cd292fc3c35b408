//! The first run without API tokens: a one-time admin login link, so that `sitepatrol daemon`
//! on the embedded default leads to the review UI without writing a config first (issue 14).
//!
//! The secret is 32 random bytes, printed once (stdout and the log) and stored only as its
//! SHA-256, with an expiry 24 hours on. `GET /login?once=SECRET` (`sitepatrol_server::ui`)
//! uses it up. Each start without tokens makes a new link and supersedes the older unused ones
//! (`Store::create_login_link`), so a link left in an old terminal or log file is no good.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use sitepatrol_server::review::auth::random_string;
use sitepatrol_store::Store;

/// How long a first-run link works.
pub const LINK_TTL_SECS: i64 = 24 * 3600;

/// Where a browser on this machine reaches a listener bound to `bound`: an unspecified address
/// (0.0.0.0, ::) is reached at loopback of its family.
pub fn local_url(bound: SocketAddr) -> String {
    let ip = match bound.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, bound.port()))
}

/// A new link for the UI at `ui` (its listener's bound address), stored by hash: the URL to
/// open, or why there is none.
pub fn create_link(store: &Arc<dyn Store>, ui: SocketAddr, now: i64) -> Result<String, String> {
    let secret = random_string(32).map_err(|e| e.to_string())?;
    let hash = sitepatrol_store::sha256_hex(secret.as_bytes());
    store
        .create_login_link(&hash, now, now.saturating_add(LINK_TTL_SECS))
        .map_err(|e| e.to_string())?;
    Ok(format!("{}/login?once={secret}", local_url(ui)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_reached_at_loopback() {
        let url = |a: &str| local_url(a.parse().unwrap());
        assert_eq!(url("0.0.0.0:9187"), "http://127.0.0.1:9187");
        assert_eq!(url("[::]:9187"), "http://[::1]:9187");
        assert_eq!(url("127.0.0.1:40000"), "http://127.0.0.1:40000");
        assert_eq!(url("[2001:db8::1]:80"), "http://[2001:db8::1]:80");
    }
}
