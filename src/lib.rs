//! sitepatrol: a content compliance scanner for a hosting provider.
//!
//! The modules follow the data flow of one page, and each stage can be used on its own:
//!
//! ```text
//! bytes ─▶ decode ─▶ extract ─▶ normalize ─▶ matcher/rules ─▶ finding
//!          (UTF-8)   (zones)    (+offset map)  (hits → rule     (evidence quoted
//!                                               evaluation)      from the original)
//! ```
//!
//! [`scan`] strings the stages together for one document; the binary's `scan`,
//! `extract` and `rules` commands are thin layers over it.

pub mod api;
pub mod bounded;
pub mod clock;
pub mod config;
pub mod crawl;
pub mod daemon;
pub mod decode;
pub mod digest;
pub mod domain;
pub mod error;
pub mod extract;
pub mod fetch;
pub mod filing;
pub mod finding;
pub mod inventory;
pub mod matcher;
pub mod metrics;
mod named;
pub mod normalize;
pub mod review;
pub mod rules;
pub mod scan;
pub mod schedule;
pub mod store;
pub mod ui;
