//! sitepatrol-core: what happens to one page, with no network, no store and no server.
//!
//! The modules follow the data flow of one page, and each stage can be used on its own:
//!
//! ```text
//! bytes ─▶ decode ─▶ extract ─▶ normalize ─▶ matcher/rules ─▶ finding
//!          (UTF-8)   (zones)    (+offset map)  (hits → rule     (evidence quoted
//!                                               evaluation)      from the original)
//! ```
//!
//! [`scan`] strings the stages together for one document; [`filing`] reads filing numbers off
//! a page and judges a site's filing against a registry. The layers above (crawl, store,
//! server, the binary) depend on this crate, never the other way round.

pub mod bounded;
pub mod clock;
pub mod decode;
pub mod digest;
pub mod domain;
pub mod error;
pub mod extract;
pub mod filing;
pub mod finding;
pub mod matcher;
pub mod named;
pub mod normalize;
pub mod rules;
pub mod scan;
pub mod script;
pub mod secret;
