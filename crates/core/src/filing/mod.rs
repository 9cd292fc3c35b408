//! Filing and licence compliance: the numbers sites display, the provider's filing registry,
//! and the checks of §4–§6 of the security responsibility letter.
//!
//! ```text
//! page Document ─▶ page.rs: numbers (numbers.rs) + link checks + services (services.rs)
//!                      │ per page, during the crawl
//!                      ▼
//! site pages + registry record (registry.rs) + hosted? ─▶ checks.rs ─▶ SiteRecord + findings
//! ```

pub mod checks;
pub mod numbers;
pub mod page;
pub mod provinces;
pub mod registry;
pub mod services;

pub use checks::{SiteFiling, SiteRecord, check_site};
pub use page::{Detector, PageFiling};
pub use registry::{CsvRegistry, FilingRecord, Registry};
