//! The customer checks of the storage suite: a site's customer details (migration 10) are
//! stored with it, kept in sync by every upsert, and a customer's sites are found by its id.

use sitepatrol_store::{CustomerContact, SiteInfo, SiteRecord, Store};

fn contact(name: &str, email: Option<&str>) -> CustomerContact {
    CustomerContact {
        customer_name: Some(name.into()),
        contact_email: email.map(str::to_string),
        contact_phone: Some("+86 10 1234 5678".into()),
        account_manager: Some("王经理".into()),
    }
}

fn info(id: &str, customer: &str, contact: CustomerContact) -> SiteInfo {
    SiteInfo {
        id: id.into(),
        customer: customer.into(),
        domains: vec![format!("{id}.example.cn")],
        origin: None,
        contact,
    }
}

pub(super) fn check_customer_details_follow_the_inventory(store: &dyn Store) {
    let acme = contact("示例科技有限公司", Some("ops@acme.example.cn"));
    store
        .upsert_sites(
            &[
                info("a1", "acme", acme.clone()),
                info("a2", "acme", CustomerContact::default()),
                info("b1", "beta", contact("贝塔网络", None)),
            ],
            10,
        )
        .unwrap();
    let a1 = store.site("a1").unwrap().unwrap();
    assert_eq!(a1.contact, acme);
    assert_eq!(
        store.site("a2").unwrap().unwrap().contact,
        CustomerContact::default()
    );

    // A customer's sites, by id; another customer's are not among them.
    let ids = |sites: Vec<SiteRecord>| sites.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(store.customer_sites("acme").unwrap()), ["a1", "a2"]);
    assert_eq!(ids(store.customer_sites("beta").unwrap()), ["b1"]);
    assert!(store.customer_sites("nobody").unwrap().is_empty());

    // The inventory changes the details: the upsert replaces them whole (a column emptied in
    // the inventory is emptied in the store, not left at its old value).
    let moved = CustomerContact {
        contact_email: Some("legal@acme.example.cn".into()),
        ..CustomerContact::default()
    };
    store
        .upsert_sites(&[info("a1", "acme", moved.clone())], 20)
        .unwrap();
    assert_eq!(store.site("a1").unwrap().unwrap().contact, moved);

    // A site that left the inventory is still its customer's (its confirmed cases still need
    // their notice).
    store.remove_sites(&["b1".to_string()], 30).unwrap();
    assert_eq!(ids(store.customer_sites("beta").unwrap()), ["b1"]);
    assert_eq!(
        store.customer_sites("beta").unwrap()[0]
            .contact
            .customer_name
            .as_deref(),
        Some("贝塔网络")
    );

    // The JSON of a site: the details are flat, null when absent, and JSON from before them
    // still reads.
    let json = serde_json::to_value(store.site("a2").unwrap().unwrap()).unwrap();
    for key in [
        "customer_name",
        "contact_email",
        "contact_phone",
        "account_manager",
    ] {
        assert!(json[key].is_null(), "{key} in {json}");
    }
    let old: SiteInfo =
        serde_json::from_str(r#"{"id":"o","customer":"c","domains":["o.cn"]}"#).unwrap();
    assert_eq!(old.contact, CustomerContact::default());
}
