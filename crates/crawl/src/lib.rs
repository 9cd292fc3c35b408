//! sitepatrol-crawl: everything that talks to customers' sites and to the filing registry's
//! HTTP service. [`fetch`] gets one URL safely (SSRF guard, politeness, robots, bounded
//! bodies); [`crawl`] walks a site (frontier, canonical URLs, sitemaps, trap defences) and
//! hands each page to `sitepatrol_core::scan`; [`render`] loads pages in headless chromium, for
//! what scripts show, and a screenshot.

pub mod crawl;
pub mod fetch;
pub mod registry;
pub mod render;
