use super::*;
use std::time::Duration;

use crate::site::{Agents, RobotsPolicy, SiteSpec};

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn load(path: &Path) -> Result<Inventory, InventoryErrors> {
    Inventory::load(&[], Some((path, InventoryFormat::Auto)))
}

#[test]
fn csv_with_optional_columns_left_blank() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "sites.csv",
        "id,customer,domains,origin,port,interval,agents,allow_private_networks\n\
         s1,c1,a.cn;www.a.cn,,,,,\n\
         # a comment\n\
         s2,c2,b.cn,127.0.0.1,8080,30s,both,true\n",
    );
    let inventory = load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inventory.sites.len(), 2);
    let a = &inventory.sites[0];
    assert_eq!(a.domains, vec!["a.cn", "www.a.cn"]);
    assert_eq!(a.origin, None);
    assert_eq!(a.allow_private_networks, None);
    assert_eq!(a.start_url().unwrap().as_str(), "http://a.cn/");
    let b = &inventory.sites[1];
    assert_eq!(b.origin, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(b.interval, Some(Duration::from_secs(30)));
    assert_eq!(b.agents, Some(Agents::Both));
    assert_eq!(b.allow_private_networks, Some(true));
    assert_eq!(b.start_url().unwrap().as_str(), "http://b.cn:8080/");
}

#[test]
fn jsonl_sites() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "sites.jsonl",
        "{\"id\":\"s1\",\"customer\":\"c\",\"domains\":[\"a.cn\"],\"scheme\":\"https\"}\n\n\
         {\"id\":\"s2\",\"customer\":\"c\",\"domains\":\"b.cn;c.cn\",\"robots\":\"ignore\"}\n",
    );
    let inventory = load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        inventory.sites[0].start_url().unwrap().as_str(),
        "https://a.cn/"
    );
    assert_eq!(inventory.sites[1].domains, vec!["b.cn", "c.cn"]);
    assert_eq!(inventory.sites[1].robots, Some(RobotsPolicy::Ignore));
}

#[test]
fn errors_name_the_file_and_line_and_all_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "sites.jsonl",
        "{\"id\":\"s1\",\"customer\":\"c\",\"domains\":[\"a.cn\"]}\n\
         {\"id\":\"s2\",\"customer\":\"c\",\"domains\":[\"a.cn\"],\"colour\":\"red\"}\n\
         not json\n\
         {\"id\":\"s1\",\"customer\":\"c\",\"domains\":[\"b.cn\"]}\n\
         {\"id\":\"s4\",\"customer\":\"c\",\"domains\":[\"10.0.0.1\"],\"origin\":\"x\"}\n",
    );
    let errors = load(&path).unwrap_err();
    let text = errors.to_string();
    let name = path.display().to_string();
    assert!(
        text.contains(&format!("{name}:2: ")) && text.contains("colour"),
        "{text}"
    );
    assert!(text.contains(&format!("{name}:3: ")), "{text}");
    assert!(
        text.contains(&format!("{name}:4: id: `s1` is already used at {name}:1")),
        "{text}"
    );
    assert!(text.contains(&format!("{name}:5: domains[0]")), "{text}");
    assert!(text.contains(&format!("{name}:5: origin")), "{text}");
    assert_eq!(errors.total, 5, "{text}");

    let csv = write(
        &dir,
        "sites.csv",
        "id,customer,domains,port\ns1,c,a.cn,80\ns2,c,b.cn,eighty\ns3,c\ns4,c,d.cn,,extra\n",
    );
    let text = load(&csv).unwrap_err().to_string();
    let name = csv.display().to_string();
    assert!(text.contains(&format!("{name}:3: port: ")), "{text}");
    assert!(text.contains(&format!("{name}:4: ")), "{text}");
    assert!(text.contains(&format!("{name}:5: ")), "{text}");
}

#[test]
fn an_unknown_csv_column_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "s.csv", "id,customer,domains,colour\ns1,c,a.cn,red\n");
    let text = load(&path).unwrap_err().to_string();
    assert!(text.contains("colour"), "{text}");
}

#[test]
fn a_missing_file_names_it() {
    let errors = load(Path::new("/nonexistent/sites.csv")).unwrap_err();
    assert!(
        errors.to_string().contains("/nonexistent/sites.csv"),
        "{errors}"
    );
}

#[test]
fn config_sites_come_first_and_ids_are_unique_across_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "s.csv",
        "id,customer,domains\nfile1,c,a.cn\ncfg,c,b.cn\n",
    );
    let spec = SiteSpec {
        id: "cfg".into(),
        customer: "c".into(),
        domains: vec!["c.cn".into()],
        ..SiteSpec::default()
    };
    let errors = Inventory::load(
        std::slice::from_ref(&spec),
        Some((&path, InventoryFormat::Csv)),
    )
    .unwrap_err();
    assert!(errors.to_string().contains("config: sites[0]"), "{errors}");
    let inventory = Inventory::load(&[spec], None).unwrap();
    assert_eq!(&*inventory.sites[0].id, "cfg");
}

#[test]
fn errors_are_capped_but_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,customer,domains\n");
    for i in 0..(MAX_ERRORS + 50) {
        text.push_str(&format!("bad id {i},c,a.cn\n"));
    }
    let path = write(&dir, "s.csv", &text);
    let errors = load(&path).unwrap_err();
    assert_eq!(errors.errors.len(), MAX_ERRORS);
    assert_eq!(errors.total, MAX_ERRORS + 50);
}

#[test]
fn customer_details_are_optional_columns_trimmed_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "sites.csv",
        "id,customer,domains,customer_name,contact_email,contact_phone,account_manager\n\
         s1,c1,a.cn,示例科技有限公司, ops@example.cn ,+86 10-1234 5678,王经理\n\
         s2,c1,b.cn,,,,\n",
    );
    let inventory = load(&path).unwrap_or_else(|e| panic!("{e}"));
    let a = &inventory.sites[0].contact;
    assert_eq!(a.customer_name.as_deref(), Some("示例科技有限公司"));
    assert_eq!(a.contact_email.as_deref(), Some("ops@example.cn"));
    assert_eq!(a.contact_phone.as_deref(), Some("+86 10-1234 5678"));
    assert_eq!(a.account_manager.as_deref(), Some("王经理"));
    assert_eq!(
        inventory.sites[1].contact,
        sitepatrol_store::CustomerContact::default()
    );
}

#[test]
fn bad_customer_details_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let long = "名".repeat(201);
    let path = write(
        &dir,
        "sites.jsonl",
        &format!(
            "{{\"id\":\"s1\",\"customer\":\"c\",\"domains\":[\"a.cn\"],\"contact_email\":\"not-an-address\"}}\n\
             {{\"id\":\"s2\",\"customer\":\"c\",\"domains\":[\"b.cn\"],\"customer_name\":\"A\\nforged line\"}}\n\
             {{\"id\":\"s3\",\"customer\":\"c\",\"domains\":[\"c.cn\"],\"account_manager\":\"{long}\"}}\n\
             {{\"id\":\"s4\",\"customer\":\"c\",\"domains\":[\"d.cn\"],\"contact_phone\":\"call me\"}}\n\
             {{\"id\":\"s5\",\"customer\":\"c\",\"domains\":[\"e.cn\"],\"contact_email\":\"a b@x.cn\"}}\n"
        ),
    );
    let errors = load(&path).unwrap_err();
    let text = errors.to_string();
    assert_eq!(errors.total, 5, "{text}");
    let name = path.display().to_string();
    for (line, key) in [
        (
            1,
            "contact_email: `not-an-address` is not an e-mail address",
        ),
        (2, "customer_name: must not contain control characters"),
        (3, "account_manager: is longer than 200 characters"),
        (4, "contact_phone: `call me` may hold only digits"),
        (5, "contact_email: `a b@x.cn` is not an e-mail address"),
    ] {
        assert!(
            text.contains(&format!("{name}:{line}: {key}")),
            "{key}:\n{text}"
        );
    }
}
