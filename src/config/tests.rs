use super::*;

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(text, "test.toml", Path::new("."))
}

fn paths(errors: &ConfigErrors) -> Vec<String> {
    errors.errors.iter().map(|e| e.path.clone()).collect()
}

#[test]
fn the_documented_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sitepatrol.toml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.listen, vec!["127.0.0.1:9187".parse().unwrap()]);
    assert_eq!(config.times.interval, Duration::from_secs(6 * 3600));
    assert_eq!(config.sites.len(), 1);
    assert_eq!(config.sites[0].domains.len(), 2);
    assert!(!config.crawl.allow_private_networks);
    assert_eq!(config.webhooks.len(), 1);
    assert_eq!(config.webhooks[0].name, "soc");
    assert_eq!(config.webhooks[0].max_attempts, 10);
    assert_eq!(config.webhooks[0].retry_base, Duration::from_secs(30));
    assert!(!config.render.enabled);
    assert_eq!(config.times.render_timeout, Duration::from_secs(30));
    assert_eq!(config.render.max_pages, 5);
}

#[test]
fn render_is_off_by_default_and_its_limits_are_checked() {
    let config = parse("").unwrap();
    assert!(!config.render.enabled);
    assert_eq!(config.render.memory_mb, 1024);
    let text = r#"
[render]
enabled = true
timeout = "10ms"
memory_mb = 16
max_pages = 0
viewport_width = 5
"#;
    let errors = parse(text).unwrap_err();
    assert_eq!(
        paths(&errors),
        [
            "render.timeout",
            "render.memory_mb",
            "render.max_pages",
            "render.viewport_width"
        ]
    );
    let unknown = parse("[render]\nbrowsr = \"/usr/bin/chromium\"\n").unwrap_err();
    assert!(paths(&unknown)[0].starts_with("render"), "{unknown}");
}

#[test]
fn the_embedded_default_parses_and_allows_only_the_demo_site() {
    let config = Config::embedded_default().unwrap_or_else(|e| panic!("{e}"));
    assert!(config.demo.enabled);
    assert!(!config.crawl.allow_private_networks);
    assert_eq!(config.sites.len(), 1);
    assert!(config.sites[0].demo);
    assert_eq!(config.sites[0].allow_private_networks, Some(true));
    assert_eq!(config.store.path, PathBuf::from("data/sitepatrol.db"));
}

#[test]
fn an_empty_file_is_all_defaults() {
    let config = parse("").unwrap();
    assert_eq!(config.crawl.max_pages, 1000);
    assert_eq!(config.schedule.max_concurrent_crawls, 4);
    assert!(matches!(
        config.rule_sources()[..],
        [sitepatrol_core::rules::RuleSource::Bundled]
    ));
}

#[test]
fn every_error_is_reported_with_its_key_path() {
    let text = r#"
bogus = 1
[crawl]
max_pages = 0
max_time = "forever"
[schedule]
jitter = 2.0
interval = "10ms"
[http]
listen = ["nowhere"]
[logging]
level = "=="
hosted_networks = []
[retention]
body = "1y"
[[sites]]
id = "a b"
customer = ""
domains = []
[[sites]]
id = "ok"
customer = "c"
domains = ["https://x.cn/"]
origin = "not-an-ip"
[[sites]]
id = "ok"
customer = "c"
domains = ["y.cn"]
[[sites]]
id = "typo"
customer = "c"
domains = ["z.cn"]
max_pagez = 3
"#;
    let errors = parse(text).unwrap_err();
    let got = paths(&errors);
    for expected in [
        "bogus",
        "crawl.max_pages",
        "crawl.max_time",
        "schedule.jitter",
        "schedule.interval",
        "http.listen[0]",
        "logging.hosted_networks",
        "retention.body",
        "sites[0].id",
        "sites[0].customer",
        "sites[0].domains",
        "sites[1].domains[0]",
        "sites[1].origin",
        "sites[2].id",
        "sites[3].max_pagez",
    ] {
        assert!(
            got.iter().any(|p| p == expected),
            "no error at {expected}: {errors}"
        );
    }
    let unknown = errors
        .errors
        .iter()
        .find(|e| e.path == "sites[3].max_pagez")
        .unwrap();
    assert!(unknown.message.contains("max_pagez"), "{unknown}");
}

#[test]
fn a_type_error_names_the_nested_key() {
    let errors = parse("[crawl]\nmax_pages = \"many\"\n").unwrap_err();
    assert_eq!(paths(&errors), vec!["crawl.max_pages"]);
    let errors = parse("[crawl]\nrobots = \"sometimes\"\n").unwrap_err();
    assert_eq!(paths(&errors), vec!["crawl.robots"]);
}

#[test]
fn syntax_errors_name_the_line() {
    let errors = parse("[store]\npath = \"a\"\n[crawl\n").unwrap_err();
    assert_eq!(errors.errors.len(), 1);
    assert_eq!(errors.errors[0].path, "line 3", "{errors}");
}

#[test]
fn secrets_come_from_a_file_or_the_environment_never_two_places() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
    let config = Config::parse(
        "[http]\nmetrics_token_file = \"token\"\n",
        "x.toml",
        dir.path(),
    )
    .unwrap();
    assert_eq!(config.metrics_token.unwrap().expose(), "s3cret");

    // A variable no other test sets, so that reading the environment is race-free.
    let errors =
        parse("[http]\nmetrics_token_env = \"SITEPATROL_TEST_UNSET_TOKEN_VAR\"\n").unwrap_err();
    assert_eq!(paths(&errors), vec!["http.metrics_token_env"]);
    let errors = parse("[http]\nmetrics_token = \"a\"\nmetrics_token_file = \"b\"\n").unwrap_err();
    assert_eq!(paths(&errors), vec!["http.metrics_token"]);
    let config = parse("[http]\nmetrics_token_env = \"PATH\"\n").unwrap();
    assert!(config.metrics_token.is_some());
    assert!(!format!("{config:?}").contains(&std::env::var("PATH").unwrap()));
}

#[test]
fn cidrs() {
    assert!(parse_cidr("10.0.0.0/8").is_ok());
    assert!(parse_cidr("2001:db8::/32").is_ok());
    assert!(parse_cidr("10.0.0.1").is_ok());
    assert!(parse_cidr("10.0.0.0/33").is_err());
    assert!(parse_cidr("example.cn/24").is_err());
    let errors = parse("hosted_networks = [\"10.0.0.0/8\", \"nope\"]").unwrap_err();
    assert_eq!(paths(&errors), vec!["hosted_networks[1]"]);
}

#[test]
fn api_tokens_listen_and_limits_are_validated_with_key_paths() {
    let good = sitepatrol_server::review::auth::hash_token("spt_x");
    let text = format!(
        r#"
[api]
listen = ["127.0.0.1:9188", "nowhere"]
max_failures = 0
failure_window = "1ms"
once_login_from = ["10.0.0.0/8", "10.0.0.0/40", "::1", "here"]
[[api.tokens]]
name = "a"
role = "viewer"
hash = "{good}"
[[api.tokens]]
name = "a"
role = "admin"
hash = "{good}"
[[api.tokens]]
name = "b"
role = "reviewer"
hash = "md5:1"
"#
    );
    let errors = parse(&text).unwrap_err();
    let mut found = paths(&errors);
    found.sort();
    assert_eq!(
        found,
        [
            "api.failure_window",
            "api.listen[1]",
            "api.max_failures",
            "api.once_login_from[1]",
            "api.once_login_from[3]",
            "api.tokens[1]",
            "api.tokens[2]"
        ],
        "{errors}"
    );
    let errors = parse("[[api.tokens]]\nname = \"x\"\nrole = \"root\"\nhash = \"\"\n").unwrap_err();
    assert!(paths(&errors)[0].starts_with("api.tokens[0]"), "{errors}");
    assert!(errors.to_string().contains("root"), "{errors}");

    let config = parse(&format!(
        "[api]\nlisten = [\"127.0.0.1:0\"]\n[[api.tokens]]\nname = \"a\"\nrole = \"admin\"\nhash = \"{good}\"\n"
    ))
    .unwrap();
    assert_eq!(config.api_listen.len(), 1);
    assert_eq!(
        config.api_tokens.authenticate("spt_x").map(|p| p.name),
        Some("a".to_string())
    );
    // The default: no tokens, the API on the operations listeners.
    let config = parse("").unwrap();
    assert!(config.api_tokens.is_empty() && config.api_listen.is_empty());
    assert_eq!(config.api.max_failures, 10);
    // The first-run link: loopback only by default; networks parse as hosted_networks do.
    assert!(config.once_login_nets.is_empty());
    let config = parse("[api]\nonce_login_from = [\"10.1.0.0/16\", \"2001:db8::7\"]\n").unwrap();
    assert_eq!(
        config
            .once_login_nets
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>(),
        ["10.1.0.0/16", "2001:db8::7/128"]
    );
}

#[test]
fn an_endless_or_binary_config_file_is_refused_with_its_path() {
    // Regression (issue 16 hole 7): `--config /dev/zero` grew without bound.
    if Path::new("/dev/zero").exists() {
        let errors = Config::load(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(errors.source, "/dev/zero");
        assert!(
            errors.errors[0].message.contains("not a regular file"),
            "{errors:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    // Secrets read from files are bounded too (a token is bytes, not gigabytes).
    let big = dir.path().join("token");
    std::fs::write(&big, "x".repeat(100 << 10)).unwrap();
    let errors = Config::parse(
        &format!(
            "[http]\nmetrics_token_file = {:?}\n",
            big.display().to_string()
        ),
        "test.toml",
        dir.path(),
    )
    .unwrap_err();
    assert_eq!(paths(&errors), vec!["http.metrics_token_file"]);
    assert!(
        errors.errors[0].message.contains("larger than 64 KiB"),
        "{errors:?}"
    );
    let binary = dir.path().join("image.bin");
    std::fs::write(&binary, b"[http]\n\xff\xfe").unwrap();
    let errors = Config::load(&binary).unwrap_err();
    assert!(errors.errors[0].message.contains("not UTF-8"), "{errors:?}");
    assert!(errors.errors[0].message.contains("offset 7"), "{errors:?}");
}

/// Issue 16: validation stopped at the first type error in an entry, and read `5m5m` as ten
/// minutes.
#[test]
fn every_bad_key_of_one_entry_is_reported() {
    let errors = parse(
        r#"
[crawl]
max_pages = "many"
retries = -1
timeout = "5m5m"

[[sites]]
id = "a"
customer = "c"
domains = ["-bad-.test", "a..b"]
port = "eighty"
max_pages = "lots"
colour = "red"

[[sites]]
port = "x"

[[webhooks]]
name = "w"
url = 3
events = "all"
"#,
    )
    .unwrap_err();
    let found = paths(&errors);
    for expected in [
        "crawl.max_pages",
        "crawl.retries",
        "sites[0].port",
        "sites[0].max_pages",
        "sites[0].colour",
        "sites[1].port",
        "webhooks[0].url",
        "webhooks[0].events",
    ] {
        assert!(
            found.iter().any(|p| p == expected),
            "{expected} in {found:#?}"
        );
    }
    // Keys set aside are not reported missing; keys really missing are.
    let text = errors.to_string();
    assert!(!text.contains("missing field `port`"), "{text}");
    assert!(text.contains("sites[1]: missing field `id`"), "{text}");
}

#[test]
fn the_parts_of_one_good_entry_are_still_validated() {
    let errors = parse(
        r#"
[crawl]
timeout = "5m5m"

[[sites]]
id = "a"
customer = "c"
domains = ["-bad-.test", "a..b", "good.test"]
"#,
    )
    .unwrap_err();
    let found = paths(&errors);
    for expected in [
        "crawl.timeout",
        "sites[0].domains[0]",
        "sites[0].domains[1]",
    ] {
        assert!(
            found.iter().any(|p| p == expected),
            "{expected} in {found:#?}"
        );
    }
    assert!(
        !found.iter().any(|p| p == "sites[0].domains[2]"),
        "{found:#?}"
    );
}

#[test]
fn trap_limits_are_configured_checked_and_reach_the_crawler() {
    let config = Config::parse(
        "[crawl.traps]\nmax_query_variants = 50000\nduplicate_window = 8\nfirst_year = 2000\nyears_ahead = 1\n",
        "t",
        Path::new("."),
    )
    .unwrap();
    let limits = config.crawl.traps.limits();
    assert_eq!(limits.max_query_variants, 50_000);
    assert_eq!(limits.duplicate_window, 8);
    assert_eq!(
        limits.max_segment_repeats, 3,
        "unset keys keep their defaults"
    );
    assert_eq!(
        limits.year_range,
        (2000, sitepatrol_core::clock::current_year() + 1)
    );
    let defaults = Config::embedded_default().unwrap().crawl.traps.limits();
    assert_eq!(
        defaults.year_range,
        sitepatrol_crawl::crawl::TrapLimits::default().year_range
    );
    let error = Config::parse(
        "[crawl.traps]\nduplicate_window = 0\nmax_query_variants = 0\n",
        "t",
        Path::new("."),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("crawl.traps.duplicate_window"), "{error}");
    assert!(error.contains("crawl.traps.max_query_variants"), "{error}");
    let error = Config::parse("[crawl.traps]\nmax_variants = 5\n", "t", Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(error.contains("max_variants"), "{error}");
}

#[test]
fn a_postgres_url_selects_the_shared_store_and_is_kept_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("url"),
        "postgres://sp:pa55word@db.internal/patrol\n",
    )
    .unwrap();
    let config = Config::parse("[store]\nurl_file = \"url\"\n", "x.toml", dir.path()).unwrap();
    assert_eq!(
        config.store_url.as_ref().unwrap().expose(),
        "postgres://sp:pa55word@db.internal/patrol"
    );
    assert_eq!(config.store.pool_size, 8);
    let config =
        parse("[store]\nurl = \"postgresql://sp:pa55word@h/db\"\npool_size = 2\n").unwrap();
    assert!(config.store_url.is_some());
    assert_eq!(config.store.pool_size, 2);
    assert!(!format!("{config:?}").contains("pa55word"), "{config:?}");
    assert!(
        parse("").unwrap().store_url.is_none(),
        "SQLite stays the default"
    );

    let errors = parse("[store]\nurl = \"mysql://sp:pa55word@h/db\"\npool_size = 0\n").unwrap_err();
    assert_eq!(paths(&errors), vec!["store.pool_size", "store.url"]);
    assert!(!errors.to_string().contains("pa55word"), "{errors}");
    let errors = parse("[store]\nurl = \"postgres://h/db\"\nurl_env = \"X\"\n").unwrap_err();
    assert_eq!(paths(&errors), vec!["store.url"]);
    let errors = parse("[store]\nurl_env = \"SITEPATROL_TEST_UNSET_STORE_URL_VAR\"\n").unwrap_err();
    assert_eq!(paths(&errors), vec!["store.url_env"]);
    let errors = parse("[store]\nuri = \"postgres://h/db\"\n").unwrap_err();
    assert_eq!(paths(&errors), vec!["store.uri"]);
}

#[test]
fn lease_times_have_defaults_and_are_checked_against_each_other() {
    let config = parse("").unwrap();
    assert_eq!(config.times.lease_ttl, Duration::from_secs(300));
    assert_eq!(config.times.lease_renew_interval, Duration::from_secs(60));
    assert_eq!(config.times.leader_check_interval, Duration::from_secs(5));
    let config =
        parse("[schedule]\nlease_ttl = \"3s\"\nlease_renew_interval = \"1s\"\nleader_check_interval = \"500ms\"\n")
            .unwrap();
    assert_eq!(config.times.lease_ttl, Duration::from_secs(3));
    // A renewal that comes too late to keep the lease, a lease shorter than a second's
    // stored resolution allows, and an unknown key: each names its key.
    let e = parse("[schedule]\nlease_ttl = \"10s\"\nlease_renew_interval = \"10s\"\n").unwrap_err();
    assert_eq!(paths(&e), vec!["schedule.lease_renew_interval"]);
    assert!(
        e.to_string().contains("shorter than schedule.lease_ttl"),
        "{e}"
    );
    let e =
        parse("[schedule]\nlease_ttl = \"1s\"\nlease_renew_interval = \"100ms\"\n").unwrap_err();
    assert_eq!(paths(&e)[0], "schedule.lease_ttl");
    let e = parse("[schedule]\nlease_time = \"1m\"\n").unwrap_err();
    assert!(e.to_string().contains("lease_time"), "{e}");
}
