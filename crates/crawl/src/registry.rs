//! The filing registry as an HTTP service: the provider's own lookup API, asked one domain at a
//! time and cached. The registry trait and the CSV backend live in `sitepatrol_core::filing`;
//! this one needs the fetcher, so it lives with the crawl.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use url::Url;

use crate::fetch::politeness::{HostGate, PolitenessConfig};
use crate::fetch::{Agent, FetchConfig, Fetcher};
use sitepatrol_core::filing::registry::{
    FilingRecord, Lookup, Registry, RegistryError, lookup_candidates,
};

/// Settings of the HTTP lookup service.
#[derive(Debug, Clone)]
pub struct HttpRegistryConfig {
    /// A URL with `{domain}` where the domain goes:
    /// `http://filings.internal/api/v1/filings?domain={domain}`.
    pub url_template: String,
    pub timeout: Duration,
    /// How long an answer (a record, or "no record") is reused.
    pub cache_ttl: Duration,
}

impl HttpRegistryConfig {
    pub fn new(url_template: impl Into<String>) -> HttpRegistryConfig {
        HttpRegistryConfig {
            url_template: url_template.into(),
            timeout: Duration::from_secs(5),
            cache_ttl: Duration::from_secs(3600),
        }
    }
}

/// Records looked up one domain at a time from an HTTP service that answers 200 with a JSON
/// record (the CSV's columns as fields; `services` and `permits` as arrays or `;` lists), or 404
/// (or `null`) when it has none.
pub struct HttpRegistry {
    config: HttpRegistryConfig,
    fetcher: Fetcher,
    gate: HostGate,
    cache: Mutex<HashMap<String, (Instant, Option<FilingRecord>)>>,
}

impl HttpRegistry {
    pub fn new(config: HttpRegistryConfig) -> Result<HttpRegistry, RegistryError> {
        let template_error = |message: &str| RegistryError::Template {
            template: config.url_template.clone(),
            message: message.to_string(),
        };
        if !config.url_template.contains("{domain}") {
            return Err(template_error("it has no {domain} placeholder"));
        }
        let sample = config.url_template.replace("{domain}", "example.cn");
        let url = Url::parse(&sample).map_err(|e| template_error(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(template_error("only http and https are supported"));
        }
        // The registry is the provider's own service, inside its own network: the SSRF guard
        // that protects crawls from customers' sites does not apply to it.
        let fetcher = Fetcher::new(FetchConfig {
            connect_timeout: config.timeout,
            first_byte_timeout: config.timeout,
            total_timeout: config.timeout,
            max_body_bytes: 1 << 20,
            max_redirects: 3,
            allow_private_networks: true,
            ..FetchConfig::default()
        });
        let gate = HostGate::new(PolitenessConfig {
            global_concurrency: 16,
            per_host_concurrency: 16,
            min_delay: Duration::ZERO,
            ..PolitenessConfig::default()
        });
        Ok(HttpRegistry {
            config,
            fetcher,
            gate,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self, domain: &str) -> Option<Option<FilingRecord>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(domain)
            .filter(|(at, _)| at.elapsed() < self.config.cache_ttl)
            .map(|(_, record)| record.clone())
    }

    async fn fetch_one(&self, domain: &str) -> Result<Option<FilingRecord>, RegistryError> {
        if let Some(hit) = self.cached(domain) {
            return Ok(hit);
        }
        let encoded: String = url::form_urlencoded::byte_serialize(domain.as_bytes()).collect();
        let address = self.config.url_template.replace("{domain}", &encoded);
        let url = Url::parse(&address).map_err(|e| RegistryError::Template {
            template: self.config.url_template.clone(),
            message: e.to_string(),
        })?;
        let response = self
            .fetcher
            .get(&url, Agent::Desktop, &self.gate)
            .await
            .map_err(|e| RegistryError::Unavailable {
                url: address.clone(),
                message: format!("{} ({})", e.message, e.class.as_str()),
            })?;
        let record =
            match response.status {
                404 => None,
                200 => {
                    let value: Option<FilingRecord> = serde_json::from_slice(&response.body)
                        .map_err(|e| RegistryError::BadAnswer {
                            url: address.clone(),
                            message: e.to_string(),
                        })?;
                    if let Some(record) = &value {
                        let problems = record.validate();
                        if !problems.is_empty() {
                            return Err(RegistryError::BadAnswer {
                                url: address,
                                message: problems.join("; "),
                            });
                        }
                    }
                    value
                }
                status => {
                    return Err(RegistryError::Unavailable {
                        url: address,
                        message: format!("HTTP {status}"),
                    });
                }
            };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(domain.to_string(), (Instant::now(), record.clone()));
        Ok(record)
    }
}

impl Registry for HttpRegistry {
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a> {
        Box::pin(async move {
            for candidate in lookup_candidates(host) {
                if let Some(record) = self.fetch_one(&candidate).await? {
                    return Ok(Some(record));
                }
            }
            Ok(None)
        })
    }

    fn describe(&self) -> String {
        self.config.url_template.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_checked() {
        assert!(HttpRegistry::new(HttpRegistryConfig::new("http://r.test/filings")).is_err());
        assert!(HttpRegistry::new(HttpRegistryConfig::new("ftp://r.test/{domain}")).is_err());
        assert!(HttpRegistry::new(HttpRegistryConfig::new("http://r.test/f?d={domain}")).is_ok());
    }
}
