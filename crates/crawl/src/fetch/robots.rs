//! robots.txt, parsed with texting_robots (a maintained parser tested against Google's suite).
//!
//! Per RFC 9309: a 4xx answer (no robots.txt) allows everything; a 5xx answer or an unreachable
//! server means "assume complete disallow". A robots.txt that shuts this crawler out of the
//! whole site is reported to the caller, who records an `info` finding so reviewers know the
//! site went unseen.

use std::time::Duration;

use texting_robots::Robot;
use url::Url;

/// The product token sitepatrol matches in `User-agent:` lines.
pub const ROBOTS_TOKEN: &str = "sitepatrol";

/// Largest robots.txt read (Google reads 500 KiB).
pub const MAX_ROBOTS_BYTES: usize = 500 << 10;

/// The rules of one origin.
#[derive(Debug)]
pub enum Robots {
    /// No robots.txt, or it is being ignored.
    AllowAll,
    /// The server failed (5xx, or no answer): nothing may be fetched.
    DisallowAll {
        reason: String,
    },
    Rules(Box<Robot>),
}

impl Robots {
    /// Parse a fetched robots.txt; what the parser rejects allows everything, as a missing
    /// file would.
    pub fn parse(body: &[u8]) -> Robots {
        let body = &body[..body.len().min(MAX_ROBOTS_BYTES)];
        match Robot::new(ROBOTS_TOKEN, body) {
            Ok(robot) => Robots::Rules(Box::new(robot)),
            Err(_) => Robots::AllowAll,
        }
    }

    /// The rules for an HTTP status of the robots.txt request.
    pub fn from_status(status: u16, body: &[u8]) -> Robots {
        match status {
            200..=299 => Robots::parse(body),
            400..=499 => Robots::AllowAll,
            _ => Robots::DisallowAll {
                reason: format!("robots.txt answered HTTP {status}"),
            },
        }
    }

    pub fn allowed(&self, url: &Url) -> bool {
        match self {
            Robots::AllowAll => true,
            Robots::DisallowAll { .. } => false,
            Robots::Rules(robot) => robot.allowed(url.as_str()),
        }
    }

    pub fn crawl_delay(&self) -> Option<Duration> {
        match self {
            Robots::Rules(robot) => robot
                .delay
                .filter(|d| d.is_finite() && *d > 0.0)
                .map(|d| Duration::from_secs_f32(d.min(86_400.0))),
            _ => None,
        }
    }

    pub fn sitemaps(&self) -> Vec<String> {
        match self {
            Robots::Rules(robot) => robot.sitemaps.clone(),
            _ => Vec::new(),
        }
    }

    /// Whether the whole site is closed to this crawler (the home page is disallowed).
    pub fn blocks_everything(&self, origin: &Url) -> bool {
        let Ok(home) = origin.join("/") else {
            return false;
        };
        !self.allowed(&home)
    }
}

/// `https://host:port/robots.txt` for a URL.
pub fn robots_url(url: &Url) -> Option<Url> {
    url.join("/robots.txt").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn rules_for_our_token_apply() {
        let robots = Robots::parse(
            b"User-agent: *\nDisallow: /private/\n\nUser-agent: sitepatrol\nDisallow: /admin/\nCrawl-delay: 2\nSitemap: https://a.test/s.xml\n",
        );
        assert!(robots.allowed(&url("https://a.test/private/x")));
        assert!(!robots.allowed(&url("https://a.test/admin/x")));
        assert_eq!(robots.crawl_delay(), Some(Duration::from_secs(2)));
        assert_eq!(robots.sitemaps(), vec!["https://a.test/s.xml".to_string()]);
        assert!(!robots.blocks_everything(&url("https://a.test/")));
    }

    #[test]
    fn disallow_all_is_recognised() {
        let robots = Robots::parse(b"User-agent: *\nDisallow: /\n");
        assert!(robots.blocks_everything(&url("https://a.test/page")));
    }

    #[test]
    fn statuses_follow_rfc_9309() {
        assert!(Robots::from_status(404, b"").allowed(&url("https://a.test/x")));
        assert!(!Robots::from_status(503, b"").allowed(&url("https://a.test/x")));
        assert!(Robots::from_status(200, b"\xff\xfe garbage \0").allowed(&url("https://a.test/x")));
    }
}
