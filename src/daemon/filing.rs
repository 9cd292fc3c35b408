//! The filing checks of a site after its crawl: the numbers its pages showed (collected by the
//! crawler's detector), the provider's registry, and where its domain resolves.

use std::net::IpAddr;
use std::sync::Arc;

use crate::config::Config;
use crate::site::Site;
use sitepatrol_core::filing::checks::{
    CheckContext, Hosting, RegistryAnswer, SiteFiling, check_site,
};
use sitepatrol_core::filing::registry::RegistryError;
use sitepatrol_core::filing::services::ServiceCatalog;
use sitepatrol_core::filing::{CsvRegistry, Detector, Registry, SiteRecord};
use sitepatrol_core::finding::Finding;
use sitepatrol_crawl::registry::{HttpRegistry, HttpRegistryConfig};

pub struct FilingCheck {
    pub detector: Arc<Detector>,
    registry: Option<Arc<dyn Registry>>,
    hosted: Vec<ipnet::IpNet>,
}

/// Why the filing checks `config.filing` asks for cannot be set up; each names its key.
#[derive(Debug, thiserror::Error)]
pub enum FilingSetupError {
    /// Every problem of the service catalogue, each as `file:line: message`.
    #[error("filing.services: {}", .0.join("; "))]
    Services(Vec<String>),
    #[error("filing.registry_file: {0}")]
    RegistryFile(#[source] RegistryError),
    #[error("filing.registry_url: {0}")]
    RegistryUrl(#[source] RegistryError),
}

// The daemon's start-up reports its errors as text.
impl FilingCheck {
    /// The checks `config.filing` asks for; `Ok(None)` when they are off.
    pub fn load(config: &Config) -> Result<Option<FilingCheck>, FilingSetupError> {
        let filing = &config.filing;
        if !filing.enabled {
            return Ok(None);
        }
        let catalog = match &filing.services {
            Some(path) => ServiceCatalog::from_path(path),
            None => ServiceCatalog::bundled(),
        }
        .map_err(FilingSetupError::Services)?;
        let registry: Option<Arc<dyn Registry>> = if let Some(path) = &filing.registry_file {
            let registry = CsvRegistry::from_path(path).map_err(FilingSetupError::RegistryFile)?;
            Some(Arc::new(registry))
        } else if let Some(template) = &filing.registry_url {
            let registry = HttpRegistry::new(HttpRegistryConfig::new(template.clone()))
                .map_err(FilingSetupError::RegistryUrl)?;
            Some(Arc::new(registry))
        } else {
            None
        };
        Ok(Some(FilingCheck {
            detector: Arc::new(Detector::new(catalog)),
            registry,
            hosted: config.hosted_nets.clone(),
        }))
    }

    pub fn describe(&self) -> String {
        match &self.registry {
            Some(r) => r.describe(),
            None => "no registry (registry checks skipped)".into(),
        }
    }

    /// Judge the site's first domain. An `origin` in the inventory is where it resolves, as
    /// for the crawl.
    pub async fn check(&self, site: &Site, pages: &SiteFiling) -> (SiteRecord, Vec<Finding>) {
        let host = pages.host.clone();
        let hosting = if self.hosted.is_empty() {
            Hosting::Assumed
        } else if let Some(origin) = site.origin {
            Hosting::classify(&self.hosted, vec![origin])
        } else {
            match tokio::net::lookup_host((host.as_str(), site.effective_port())).await {
                Ok(addrs) => {
                    Hosting::classify(&self.hosted, addrs.map(|a| a.ip()).collect::<Vec<IpAddr>>())
                }
                Err(e) => Hosting::Unresolved(e.to_string()),
            }
        };
        let registry = match &self.registry {
            None => RegistryAnswer::None,
            Some(registry) => match registry.lookup(&host).await {
                Ok(Some(record)) => RegistryAnswer::Record {
                    source: registry.describe(),
                    record: Box::new(record),
                },
                Ok(None) => RegistryAnswer::NoRecord {
                    source: registry.describe(),
                },
                Err(e) => RegistryAnswer::Failed(e.to_string()),
            },
        };
        let cx = CheckContext {
            registry,
            hosting,
            catalog: self.detector.catalog(),
            today: sitepatrol_core::clock::today(),
        };
        check_site(pages, &cx)
    }
}
