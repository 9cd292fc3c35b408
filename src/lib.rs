//! sitepatrol: the daemon's wiring and configuration over the layer crates.
//!
//! ```text
//! sitepatrol (this crate: config, inventory, schedule, daemon; the CLI in the binary)
//!   ├─▶ sitepatrol-server (ops endpoints, review API, review UI, metrics)
//!   │     └─▶ sitepatrol-store (Store trait, SQLite)
//!   ├─▶ sitepatrol-crawl (fetch, crawl, filing registry over HTTP)
//!   └─▶ sitepatrol-core (decode → extract → normalize → match → rules → finding, filing)
//! ```
//!
//! Every arrow points down; the crates' manifests enforce it. docs/ARCHITECTURE.md tells the
//! whole story.

pub mod config;
pub mod daemon;
pub mod duration;
pub mod inventory;
pub mod site;
