//! `sitepatrol token new` prints a token and config lines that hold only its hash.

use sitepatrol_server::review::auth::{Role, TokenEntry, Tokens};

#[test]
fn a_new_token_authenticates_through_the_printed_config_lines() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sitepatrol"))
        .args(["token", "new", "--role", "reviewer", "--name", "王五"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .expect("a token line")
        .to_string();
    let config = &stdout[stdout.find("[[api.tokens]]").expect("config lines")..];
    assert!(
        !config.contains(&token),
        "the config lines must not hold the token"
    );
    #[derive(serde::Deserialize)]
    struct Api {
        tokens: Vec<TokenEntry>,
    }
    #[derive(serde::Deserialize)]
    struct File {
        api: Api,
    }
    let file: File = toml::from_str(config).unwrap();
    let principal = Tokens::new(&file.api.tokens)
        .unwrap()
        .authenticate(&token)
        .unwrap();
    assert_eq!(
        (principal.name.as_str(), principal.role),
        ("王五", Role::Reviewer)
    );
}

#[test]
fn an_unknown_role_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sitepatrol"))
        .args(["token", "new", "--role", "root"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("root"));
}
