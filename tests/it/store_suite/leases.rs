//! The lease checks of the storage suite (migration 11): due sites are claimed by one owner
//! at a time, most overdue first; a lease runs out unless renewed; a host's sites go to one
//! owner at a time; a recorded run or a finished lease releases the site with its next due
//! time; a recrawl request leaves a leased site alone. PostgreSQL-only checks (claims from
//! many threads at once, the leader lock) are in `pg.rs`.

use std::collections::HashSet;

use sitepatrol_store::{CrawlRequest, LeaseRelease, SiteInfo, Store};

fn sites(store: &dyn Store, list: &[(&str, &str)]) {
    let with_origins: Vec<(&str, &str, Option<&str>)> =
        list.iter().map(|(id, host)| (*id, *host, None)).collect();
    sites_at(store, &with_origins);
}

/// Sites with the origin key the inventory gives them (`None`: no origin).
fn sites_at(store: &dyn Store, list: &[(&str, &str, Option<&str>)]) {
    let infos: Vec<SiteInfo> = list
        .iter()
        .map(|(id, host, origin)| SiteInfo {
            id: id.to_string(),
            customer: "c1".into(),
            domains: vec![host.to_string(), format!("www.{host}")],
            origin: origin.map(str::to_string),
            contact: Default::default(),
        })
        .collect();
    store.upsert_sites(&infos, 10).expect("upsert sites");
}

pub fn check_claims_lease_due_sites_to_one_owner(store: &dyn Store) {
    sites(
        store,
        &[("a", "a.cn"), ("b", "b.cn"), ("c", "c.cn"), ("d", "d.cn")],
    );
    store
        .set_next_due_many(&[("a".into(), 500), ("b".into(), 300), ("c".into(), 1_050)])
        .unwrap();
    // Never scheduled counts as due first; then the most overdue; c is not due yet.
    assert_eq!(
        store.claim_due_sites("one", 1_000, 2, 1_060).unwrap(),
        vec!["b".to_string(), "d".to_string()]
    );
    assert_eq!(
        store.claim_due_sites("two", 1_000, 10, 1_060).unwrap(),
        vec!["a".to_string()]
    );
    assert!(
        store
            .claim_due_sites("two", 1_001, 10, 1_061)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.claim_due_sites("two", 1_000, 0, 1_060).unwrap(),
        Vec::<String>::new()
    );
    let leases = store.leases(1_000).unwrap();
    let owners: Vec<(&str, &str)> = leases
        .iter()
        .map(|l| (l.site.as_str(), l.owner.as_str()))
        .collect();
    assert_eq!(owners, vec![("a", "two"), ("b", "one"), ("d", "one")]);
    assert_eq!(leases[0].host, "a.cn");
    assert_eq!(leases[0].until, 1_060);
    assert_eq!(store.overdue_sites(1_000).unwrap(), 0);
    assert_eq!(store.overdue_sites(1_050).unwrap(), 1, "c, once due");

    // Renewed, one's leases outlive the first end; a lease not renewed runs out and the
    // site goes to whoever claims next.
    assert_eq!(
        store
            .renew_leases("one", &["b".into(), "d".into(), "a".into()], 1_120)
            .unwrap(),
        vec!["b".to_string(), "d".to_string()],
        "a is two's"
    );
    assert_eq!(
        store.claim_due_sites("three", 1_060, 10, 1_120).unwrap(),
        vec!["a".to_string(), "c".to_string()]
    );
    assert!(
        store
            .renew_leases("two", &["a".into()], 1_200)
            .unwrap()
            .is_empty()
    );

    // A crawl that recorded nothing ends its lease with a next due time; a run recorded
    // with its release does the same in its own transaction; only the holder can do either.
    assert!(!store.finish_lease("b", "two", 5_000).unwrap());
    assert!(store.finish_lease("b", "one", 5_000).unwrap());
    assert_eq!(store.next_due("b").unwrap(), Some(5_000));
    let mut run = super::run("r-d", "d", 1_000);
    run.release = Some(LeaseRelease {
        owner: "one".into(),
        next_due: 4_000,
    });
    store.record_crawl(&run, &[]).unwrap();
    assert_eq!(store.next_due("d").unwrap(), Some(4_000));
    // A replay of the run changes nothing, the lease included.
    store.claim_due_sites("one", 4_000, 1, 4_060).unwrap();
    assert_eq!(store.leases(4_000).unwrap().len(), 1);
    run.release = Some(LeaseRelease {
        owner: "someone else".into(),
        next_due: 9_000,
    });
    assert!(store.record_crawl(&run, &[]).unwrap().replayed);
    assert_eq!(store.leases(4_000).unwrap()[0].owner, "one");

    // A shutdown releases without touching the due time: claimable at once.
    let held: Vec<String> = store
        .leases(4_000)
        .unwrap()
        .into_iter()
        .map(|l| l.site)
        .collect();
    assert_eq!(store.release_leases("one", &held).unwrap(), 1);
    assert!(
        store
            .leases(4_000)
            .unwrap()
            .iter()
            .all(|l| l.owner != "one")
    );
    assert_eq!(held, vec!["a".to_string()]);
    assert!(
        store
            .claim_due_sites("two", 4_000, 10, 4_060)
            .unwrap()
            .contains(&held[0])
    );

    // Sites that left the inventory are never claimed.
    store.remove_sites(&["c".into()], 20).unwrap();
    assert!(
        !store
            .claim_due_sites("four", 9_999, 10, 10_060)
            .unwrap()
            .contains(&"c".to_string())
    );
}

pub fn check_a_host_is_leased_to_one_owner_at_a_time(store: &dyn Store) {
    // h1 and h2 share a host (in any case); h3 is another.
    sites(
        store,
        &[("h1", "shared.cn"), ("h2", "Shared.CN"), ("h3", "other.cn")],
    );
    assert_eq!(
        store.claim_due_sites("one", 100, 1, 160).unwrap(),
        vec!["h1".to_string()]
    );
    // Two cannot have h2 while one holds h1; it gets h3.
    assert_eq!(
        store.claim_due_sites("two", 100, 10, 160).unwrap(),
        vec!["h3".to_string()]
    );
    // The owner of the host may take the host's other sites (its own gate spaces them).
    assert_eq!(
        store.claim_due_sites("one", 100, 10, 160).unwrap(),
        vec!["h2".to_string()]
    );
    store.finish_lease("h1", "one", 1_000).unwrap();
    store.finish_lease("h2", "one", 100).unwrap();
    // h1 is released but h2 is due again, and free: two may have it now.
    assert_eq!(
        store.claim_due_sites("two", 101, 10, 160).unwrap(),
        vec!["h2".to_string()]
    );
    // A lease that ran out does not hold the host either.
    store.finish_lease("h2", "two", 200).unwrap();
    store.finish_lease("h3", "two", 200).unwrap();
    store.set_next_due("h1", 200).unwrap();
    assert_eq!(
        store.claim_due_sites("one", 200, 1, 210).unwrap(),
        vec!["h1".to_string()]
    );
    assert_eq!(
        store.claim_due_sites("two", 209, 10, 260).unwrap(),
        vec!["h3".to_string()]
    );
    assert_eq!(
        store.claim_due_sites("two", 210, 10, 260).unwrap(),
        vec!["h1".to_string(), "h2".to_string()]
    );
}

pub fn check_an_origin_is_leased_to_one_owner_at_a_time(store: &dyn Store) {
    // o1 and o2 are two hosts on one server; p1 and p2 are one address on two ports (two
    // server processes); n1 and n2 name no origin.
    sites_at(
        store,
        &[
            ("o1", "one.cn", Some("203.0.113.7")),
            ("o2", "two.cn", Some("203.0.113.7")),
            ("p1", "p1.cn", Some("127.0.0.1:8080")),
            ("p2", "p2.cn", Some("127.0.0.1:8081")),
            ("n1", "n1.cn", None),
            ("n2", "n2.cn", None),
        ],
    );
    assert_eq!(
        store.claim_due_sites("one", 100, 1, 160).unwrap(),
        vec!["n1".to_string()]
    );
    // Sites without an origin are grouped by nothing but their hosts.
    assert_eq!(
        store.claim_due_sites("two", 100, 2, 160).unwrap(),
        vec!["n2".to_string(), "o1".to_string()]
    );
    // One cannot have o2 while two holds o1, on another host of the same server.
    assert_eq!(
        store.claim_due_sites("one", 100, 1, 160).unwrap(),
        vec!["p1".to_string()]
    );
    // The owner of the origin may take its other sites (its own gate spaces them), and
    // another port is another origin.
    assert_eq!(
        store.claim_due_sites("two", 100, 10, 160).unwrap(),
        vec!["o2".to_string(), "p2".to_string()]
    );
    let leases = store.leases(100).unwrap();
    let origins: Vec<(&str, &str, Option<&str>)> = leases
        .iter()
        .map(|l| (l.site.as_str(), l.owner.as_str(), l.origin.as_deref()))
        .collect();
    assert_eq!(
        origins,
        vec![
            ("n1", "one", None),
            ("n2", "two", None),
            ("o1", "two", Some("203.0.113.7")),
            ("o2", "two", Some("203.0.113.7")),
            ("p1", "one", Some("127.0.0.1:8080")),
            ("p2", "two", Some("127.0.0.1:8081")),
        ]
    );
    // o2 released and due again, but two still holds o1: the origin stays two's.
    store.finish_lease("o2", "two", 100).unwrap();
    assert!(
        store
            .claim_due_sites("one", 101, 10, 160)
            .unwrap()
            .is_empty()
    );
    // A lease that ran out does not hold the origin.
    store
        .renew_leases("one", &["n1".into(), "p1".into()], 1_000)
        .unwrap();
    store
        .renew_leases("two", &["n2".into(), "p2".into()], 1_000)
        .unwrap();
    assert_eq!(
        store.claim_due_sites("one", 160, 10, 220).unwrap(),
        vec!["o1".to_string(), "o2".to_string()]
    );
}

pub fn check_an_upsert_moves_a_site_between_origins(store: &dyn Store) {
    sites_at(
        store,
        &[
            ("m1", "m1.cn", Some("198.51.100.1")),
            ("m2", "m2.cn", Some("198.51.100.2")),
        ],
    );
    assert_eq!(
        store.claim_due_sites("one", 100, 1, 1_000).unwrap(),
        vec!["m1".to_string()]
    );
    // The inventory moves m2 onto m1's server: one holds that origin now.
    sites_at(
        store,
        &[
            ("m1", "m1.cn", Some("198.51.100.1")),
            ("m2", "m2.cn", Some("198.51.100.1")),
        ],
    );
    assert!(
        store
            .claim_due_sites("two", 100, 10, 1_000)
            .unwrap()
            .is_empty()
    );
    // And off it again, or to no origin at all: m2 is free for another owner.
    sites_at(
        store,
        &[("m1", "m1.cn", Some("198.51.100.1")), ("m2", "m2.cn", None)],
    );
    assert_eq!(
        store.claim_due_sites("two", 100, 10, 1_000).unwrap(),
        vec!["m2".to_string()]
    );
    // The key is compared as the store keeps it (trimmed, lower case): an IPv6 origin in
    // capitals is the same server.
    sites_at(
        store,
        &[
            ("m1", "m1.cn", Some("2001:db8::1")),
            ("m3", "m3.cn", Some(" 2001:DB8::1 ")),
        ],
    );
    assert!(
        store
            .claim_due_sites("two", 100, 10, 1_000)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.leases(100).unwrap()[0].origin.as_deref(),
        Some("2001:db8::1")
    );
}

pub fn check_recrawl_requests_leave_leased_sites_alone(store: &dyn Store) {
    sites(store, &[("r1", "r1.cn"), ("r2", "r2.cn")]);
    store
        .set_next_due_many(&[("r1".into(), 5_000), ("r2".into(), 50)])
        .unwrap();
    assert_eq!(store.request_crawl("r1", 100).unwrap(), CrawlRequest::Due);
    assert_eq!(store.next_due("r1").unwrap(), Some(100));
    // Already more overdue than the request: it keeps its place.
    assert_eq!(store.request_crawl("r2", 100).unwrap(), CrawlRequest::Due);
    assert_eq!(store.next_due("r2").unwrap(), Some(50));
    let claimed: HashSet<String> = store
        .claim_due_sites("one", 100, 10, 160)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(claimed.len(), 2);
    assert_eq!(
        store.request_crawl("r1", 120).unwrap(),
        CrawlRequest::Leased
    );
    assert_eq!(
        store.request_crawl("nope", 120).unwrap(),
        CrawlRequest::NotFound
    );
    store.remove_sites(&["r2".into()], 130).unwrap();
    assert_eq!(
        store.request_crawl("r2", 200).unwrap(),
        CrawlRequest::NotFound
    );
    // Once the lease ran out, a request makes the site due again.
    assert_eq!(store.request_crawl("r1", 160).unwrap(), CrawlRequest::Due);
}

pub fn check_clearing_leases_frees_every_site(store: &dyn Store) {
    sites(store, &[("x", "x.cn"), ("y", "y.cn")]);
    assert_eq!(
        store.claim_due_sites("dead", 10, 10, 1_000).unwrap().len(),
        2
    );
    assert!(
        store
            .claim_due_sites("new", 11, 10, 1_000)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.clear_leases().unwrap(), 2);
    assert_eq!(
        store.claim_due_sites("new", 11, 10, 1_000).unwrap().len(),
        2
    );
}
