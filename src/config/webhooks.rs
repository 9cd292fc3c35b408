//! `[[webhooks]]`: where flag events are POSTed (issue 7, item 5).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Secret, deserialize_entry, join_path};
use crate::duration::{format_duration, parse_duration};
use sitepatrol_core::finding::Severity;
use sitepatrol_store::{WebhookEvent, WebhookTarget};

/// One `[[webhooks]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookSpec {
    name: String,
    url: String,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    secret_env: Option<String>,
    #[serde(default = "default_min_severity")]
    min_severity: Severity,
    #[serde(default = "default_events")]
    events: Vec<String>,
    #[serde(default = "default_timeout")]
    timeout: String,
    #[serde(default = "default_max_attempts")]
    max_attempts: u32,
    #[serde(default = "default_retry_base")]
    retry_base: String,
    #[serde(default = "default_retry_max")]
    retry_max: String,
}

fn default_min_severity() -> Severity {
    Severity::High
}
fn default_events() -> Vec<String> {
    WebhookEvent::ALL
        .iter()
        .map(|e| e.as_str().into())
        .collect()
}
fn default_timeout() -> String {
    "10s".into()
}
fn default_max_attempts() -> u32 {
    10
}
fn default_retry_base() -> String {
    "30s".into()
}
fn default_retry_max() -> String {
    "1h".into()
}

/// A validated webhook.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The key of its deliveries in the outbox and the API: `[a-z0-9_-]`, unique.
    pub name: String,
    pub url: url::Url,
    pub secret: Secret,
    pub min_severity: Severity,
    pub events: Vec<WebhookEvent>,
    /// For one attempt, connecting included.
    pub timeout: Duration,
    /// Attempts before a delivery is given up as `failed`.
    pub max_attempts: u32,
    /// The first retry's delay; each later one doubles, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl WebhookConfig {
    /// What the store needs to queue this webhook's deliveries.
    pub fn target(&self) -> WebhookTarget {
        WebhookTarget {
            name: self.name.clone(),
            events: self.events.clone(),
            min_severity: self.min_severity,
        }
    }
}

/// Parses `webhooks` (absent: none), recording every problem with its key path.
pub(super) fn parse(
    value: Option<&toml::Value>,
    base: &Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<WebhookConfig> {
    let items = match value {
        None => return Vec::new(),
        Some(toml::Value::Array(items)) => items,
        Some(_) => {
            errors.push(ConfigError {
                path: "webhooks".into(),
                message: "must be an array of tables ([[webhooks]])".into(),
            });
            return Vec::new();
        }
    };
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("webhooks[{i}]");
        let Some(spec) = deserialize_entry::<WebhookSpec>(item.clone(), &prefix, errors) else {
            continue;
        };
        let mut problems = Problems {
            prefix: &prefix,
            errors,
        };
        if let Some(webhook) = validate(spec, base, &mut names, &mut problems) {
            out.push(webhook);
        }
    }
    out
}

/// The problems of one webhook, each under its key path.
struct Problems<'a> {
    prefix: &'a str,
    errors: &'a mut Vec<ConfigError>,
}

impl Problems<'_> {
    fn push(&mut self, key: &str, message: String) {
        self.errors.push(ConfigError {
            path: join_path(self.prefix, key),
            message,
        });
    }
}

/// One webhook; `None` when it has any problem (all of them reported).
fn validate(
    spec: WebhookSpec,
    base: &Path,
    names: &mut HashSet<String>,
    problems: &mut Problems<'_>,
) -> Option<WebhookConfig> {
    let before = problems.errors.len();
    check_name(&spec.name, names, problems);
    let url = webhook_url(&spec.url, problems);
    let secret = webhook_secret(&spec, base, problems);
    let events = webhook_events(&spec.events, problems);
    let timeout = at_least(
        "timeout",
        &spec.timeout,
        Duration::from_millis(100),
        problems,
    );
    // Whole seconds: the outbox keeps due times in seconds.
    let retry_base = at_least(
        "retry_base",
        &spec.retry_base,
        Duration::from_secs(1),
        problems,
    );
    let retry_max = at_least(
        "retry_max",
        &spec.retry_max,
        Duration::from_secs(1),
        problems,
    );
    if retry_max < retry_base {
        problems.push(
            "retry_max",
            format!(
                "must be at least retry_base ({})",
                format_duration(retry_base)
            ),
        );
    }
    if spec.max_attempts == 0 {
        problems.push("max_attempts", "must be at least 1".into());
    }
    if problems.errors.len() != before {
        return None;
    }
    Some(WebhookConfig {
        name: spec.name,
        url: url?,
        secret: secret?,
        min_severity: spec.min_severity,
        events,
        timeout,
        max_attempts: spec.max_attempts,
        retry_base,
        retry_max,
    })
}

/// A name keys the deliveries: a short slug, used by one webhook.
fn check_name(name: &str, names: &mut HashSet<String>, problems: &mut Problems<'_>) {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        problems.push(
            "name",
            format!("`{name}` must be 1 to 64 of a-z, 0-9, - and _ (it keys the deliveries)"),
        );
    } else if !names.insert(name.to_string()) {
        problems.push("name", format!("`{name}` is used by another webhook"));
    }
}

fn webhook_url(text: &str, problems: &mut Problems<'_>) -> Option<url::Url> {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
        Ok(_) => {
            problems.push(
                "url",
                "must be an http:// or https:// URL with a host".into(),
            );
            None
        }
        // The URL itself is not repeated: it may carry a token.
        Err(e) => {
            problems.push("url", format!("is not a URL: {e}"));
            None
        }
    }
}

/// The signing secret, which a webhook must have.
fn webhook_secret(spec: &WebhookSpec, base: &Path, problems: &mut Problems<'_>) -> Option<Secret> {
    match super::secret::resolve_secret(
        "secret",
        spec.secret.as_deref(),
        spec.secret_file.as_deref(),
        spec.secret_env.as_deref(),
        base,
    ) {
        Ok(Some(secret)) => Some(secret),
        Ok(None) => {
            problems.push(
                "secret",
                "is required (set secret, secret_file or secret_env): receivers verify the signature with it".into(),
            );
            None
        }
        Err(e) => {
            problems.push(&e.path, e.message);
            None
        }
    }
}

/// The events, at least one, each once.
fn webhook_events(names: &[String], problems: &mut Problems<'_>) -> Vec<WebhookEvent> {
    let mut events = Vec::new();
    if names.is_empty() {
        problems.push("events", "needs at least one event".into());
    }
    for (j, event) in names.iter().enumerate() {
        match event.parse::<WebhookEvent>() {
            Ok(e) if !events.contains(&e) => events.push(e),
            Ok(_) => problems.push(
                &format!("events[{j}]"),
                format!("`{event}` is listed twice"),
            ),
            Err(e) => problems.push(&format!("events[{j}]"), e),
        }
    }
    events
}

/// The duration at `key`; `min` (with a problem) when it is not one or is shorter.
fn at_least(key: &str, text: &str, min: Duration, problems: &mut Problems<'_>) -> Duration {
    match parse_duration(text) {
        Ok(d) if d >= min => d,
        Ok(_) => {
            problems.push(key, format!("must be at least {}", format_duration(min)));
            min
        }
        Err(e) => {
            problems.push(key, e.to_string());
            min
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> (Vec<WebhookConfig>, Vec<ConfigError>) {
        let table: toml::Table = toml::from_str(text).unwrap();
        let mut errors = Vec::new();
        let hooks = parse(table.get("webhooks"), Path::new("."), &mut errors);
        (hooks, errors)
    }

    #[test]
    fn a_full_entry_and_the_defaults() {
        let (hooks, errors) = parse_text(
            r#"
            [[webhooks]]
            name = "soc"
            url = "https://hooks.example.cn/in?token=x"
            secret = "s3cret"
            min_severity = "critical"
            events = ["flag.state_changed"]
            timeout = "2s"
            max_attempts = 3
            retry_base = "5s"
            retry_max = "1m"

            [[webhooks]]
            name = "ops"
            url = "http://10.0.0.5:8080/hook"
            secret = "other"
            "#,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(hooks.len(), 2);
        assert_eq!(hooks[0].min_severity, Severity::Critical);
        assert_eq!(hooks[0].events, vec![WebhookEvent::FlagStateChanged]);
        assert_eq!(hooks[0].timeout, Duration::from_secs(2));
        assert_eq!(hooks[0].max_attempts, 3);
        assert_eq!(hooks[0].retry_max, Duration::from_secs(60));
        assert_eq!(hooks[0].secret.expose(), "s3cret");
        assert_eq!(hooks[1].min_severity, Severity::High);
        assert_eq!(hooks[1].events, WebhookEvent::ALL.to_vec());
        assert_eq!(hooks[1].max_attempts, 10);
        assert_eq!(hooks[1].target().name, "ops");
    }

    #[test]
    fn every_problem_is_reported_with_its_key_path() {
        let (hooks, errors) = parse_text(
            r#"
            [[webhooks]]
            name = "Bad Name"
            url = "ftp://example.cn/"
            events = ["flag.new", "flag.deleted", "flag.new"]
            timeout = "soon"
            max_attempts = 0
            retry_base = "1m"
            retry_max = "10s"

            [[webhooks]]
            name = "dup"
            url = "http://a.example.cn/"
            secret = "x"
            secret_env = "SITEPATROL_TEST_UNSET_VAR"

            [[webhooks]]
            name = "dup"
            url = "not a url"
            secret = "x"
            min_severity = "urgent"
            "#,
        );
        assert!(hooks.is_empty());
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        for expected in [
            "webhooks[0].name",
            "webhooks[0].url",
            "webhooks[0].secret",
            "webhooks[0].events[1]",
            "webhooks[0].events[2]",
            "webhooks[0].timeout",
            "webhooks[0].retry_max",
            "webhooks[0].max_attempts",
            "webhooks[1].secret",
            "webhooks[2].min_severity",
        ] {
            assert!(
                paths.contains(&expected),
                "{expected} missing from {errors:?}"
            );
        }
        // The second `dup` is refused only after its own entry parsed; a type error stops
        // an entry at the first problem, as serde reports it.
        assert!(
            errors.iter().all(|e| !e.message.contains("not a url")),
            "URLs are not echoed: {errors:?}"
        );
    }

    #[test]
    fn names_must_be_unique() {
        let (hooks, errors) = parse_text(
            r#"
            [[webhooks]]
            name = "a"
            url = "http://a.example.cn/"
            secret = "x"
            [[webhooks]]
            name = "a"
            url = "http://b.example.cn/"
            secret = "y"
            "#,
        );
        assert_eq!(hooks.len(), 1);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "webhooks[1].name");
    }

    #[test]
    fn not_an_array() {
        let (_, errors) = parse_text("webhooks = 3");
        assert_eq!(errors[0].path, "webhooks");
    }
}
