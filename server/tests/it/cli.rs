//! The `gatehouse` binary's operator commands, run as a real process on a SQLite file.
use std::process::{Command, Stdio};

fn gatehouse(db: &str, args: &[&str], stdin: Option<&str>) -> (bool, serde_json::Value, String) {
    gatehouse_with(db, args, stdin, &[])
}

fn gatehouse_with(db: &str, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> (bool, serde_json::Value, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .envs(env.iter().copied())
        .env("GATEHOUSE_DATABASE_URL", db)
        .env("GATEHOUSE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(s) = stdin {
        child.stdin.take().expect("stdin").write_all(s.as_bytes()).expect("write");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), json, String::from_utf8_lossy(&out.stderr).to_string())
}

fn temp_db() -> String {
    let dir = std::env::temp_dir().join(format!("gh-cli-{}-{}", std::process::id(), rand::random::<u32>()));
    format!("sqlite://{}/g.db?mode=rwc", dir.display())
}

#[test]
fn workspace_create_methods_and_recover() {
    let db = temp_db();
    let (ok, out, err) = gatehouse(&db, &["workspace", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "ada@acme.test"], None);
    assert!(ok, "{err}");
    assert!(out["set_password_link"].as_str().is_some_and(|l| l.contains("/invite/")), "{out}");

    let (ok, out, err) = gatehouse(
        &db,
        &["workspace", "create", "--slug", "beta", "--name", "Beta", "--admin-email", "bo@beta.test", "--password-stdin"],
        Some("a long enough password\n"),
    );
    assert!(ok, "{err}");
    assert!(out.get("set_password_link").is_none());

    let (ok, out, _) = gatehouse(&db, &["sign-in-methods", "--workspace", "acme"], None);
    assert!(ok);
    assert_eq!(out["enabled"], serde_json::json!(["password"]));

    // Same rule as the UI: never all off.
    let (ok, _, err) = gatehouse(&db, &["sign-in-methods", "--workspace", "acme", "--disable", "password"], None);
    assert!(!ok);
    assert!(err.contains("At least one sign-in method must stay on"), "{err}");
    let (ok, _, err) = gatehouse(&db, &["sign-in-methods", "--workspace", "acme", "--enable", "google"], None);
    assert!(!ok && err.contains("not configured on this server"), "{err}");

    let (ok, out, err) = gatehouse(&db, &["recover", "--workspace", "acme", "--enable", "password"], None);
    assert!(ok, "{err}");
    assert_eq!(out["enabled_method"], "password");
    assert_eq!(out["audit"], "recorded");

    let (ok, out, err) = gatehouse(&db, &["domains", "--workspace", "acme", "--add", "Acme.test", "--add", "acme.io"], None);
    assert!(ok, "{err}");
    let shape = |out: &serde_json::Value| {
        out["domains"]
            .as_array()
            .map(|l| l.iter().map(|d| (d["domain"].as_str().unwrap_or("").to_string(), d["status"].as_str().unwrap_or("").to_string())).collect::<Vec<_>>())
    };
    assert_eq!(shape(&out), Some(vec![("acme.io".into(), "pending".into()), ("acme.test".into(), "pending".into())]));
    assert!(out["domains"][0]["record"]["value"].as_str().is_some_and(|v| v.starts_with("gatehouse-verification=")), "{out}");
    // Another workspace may claim the same domain; the operator vouches for one (audited).
    let (ok, out, err) = gatehouse(&db, &["domains", "--workspace", "beta", "--add", "acme.io", "--trust", "acme.io"], None);
    assert!(ok, "{err}");
    assert_eq!((out["domains"][0]["status"].as_str(), out["domains"][0]["trusted"].as_bool()), (Some("verified"), Some(true)));
    let (ok, _, err) = gatehouse(&db, &["domains", "--workspace", "beta", "--add", "not a domain"], None);
    assert!(!ok && err.contains("not a domain name"), "{err}");

    let (ok, _, err) = gatehouse(&db, &["recover", "--workspace", "nope", "--enable", "password"], None);
    assert!(!ok && err.contains("no workspace"), "{err}");
    let (ok, _, err) = gatehouse(&db, &["recover", "--workspace", "beta", "--promote", "ghost@beta.test"], None);
    assert!(!ok && err.contains("not a member"), "{err}");
    let (ok, out, err) = gatehouse(&db, &["recover", "--workspace", "beta", "--promote", "BO@beta.test"], None);
    assert!(ok, "{err}");
    assert_eq!(out["promoted"], "bo@beta.test");
}

#[test]
fn help_and_unknown_settings() {
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse")).args(["recover", "--help"]).output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--enable"));
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse")).arg("migrate").env("GATEHOUSE_DATBASE_URL", "x").output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting GATEHOUSE_DATBASE_URL"));
}

#[test]
fn saml_add_and_list() {
    let db = temp_db();
    let (ok, _, err) = gatehouse(&db, &["workspace", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "ada@acme.test"], None);
    assert!(ok, "{err}");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let idp = crate::saml::idp();
    let md = rt.block_on(async { crate::saml::client().get(format!("{}/metadata", idp.base)).send().await.expect("get").text().await.expect("text") });
    let file = std::env::temp_dir().join(format!("gh-md-{}.xml", rand::random::<u32>()));
    std::fs::write(&file, md).expect("write");
    let file = file.display().to_string();
    let (ok, out, err) = gatehouse(&db, &["saml", "add", "--workspace", "acme", "--name", "Okta", "--metadata-file", &file], None);
    assert!(ok, "{err}");
    let id = out["id"].as_str().expect("id").to_string();
    assert!(out["acs_url"].as_str().is_some_and(|u| u.ends_with(&format!("/saml/{id}/acs"))), "{out}");
    assert!(out["entity_id"].as_str().is_some_and(|u| u.ends_with(&format!("/saml/{id}/metadata"))));
    assert!(out["sp_metadata_url"].is_string());
    // From a URL, with IdP-initiated allowed: the test IdP is on loopback, which only an
    // operator's explicit setting allows.
    let url = format!("{}/metadata?both=1", idp.base);
    let args = ["saml", "add", "--workspace", "acme", "--name", "Entra", "--metadata-url", &url, "--allow-idp-initiated"];
    let (ok, _, err) = gatehouse(&db, &args, None);
    assert!(!ok && err.contains("private or local address"), "{err}");
    let (ok, out, err) = gatehouse_with(&db, &args, None, &[("GATEHOUSE_ALLOW_PRIVATE_METADATA_URLS", "true")]);
    assert!(ok, "{err}");
    assert_eq!(out["allow_idp_initiated"], true);
    // Same validation as the UI.
    std::fs::write(&file, "<EntityDescriptor/>").expect("write");
    let (ok, _, err) = gatehouse(&db, &["saml", "add", "--workspace", "acme", "--name", "Bad", "--metadata-file", &file], None);
    assert!(!ok && err.contains("not IdP metadata"), "{err}");
    let (ok, out, _) = gatehouse(&db, &["saml", "list", "--workspace", "acme"], None);
    assert!(ok);
    let names: Vec<&str> = out["providers"].as_array().expect("list").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["Okta", "Entra"]);
    assert_eq!(out["providers"][0]["enabled"], false);
    // Its method can then be switched on by id.
    let (ok, out, err) = gatehouse(&db, &["sign-in-methods", "--workspace", "acme", "--enable", &format!("saml:{id}")], None);
    assert!(ok, "{err}");
    assert!(out["enabled"].as_array().expect("enabled").iter().any(|m| m == &serde_json::json!(format!("saml:{id}"))));

    // The provider's OAuth client for SCIM, made and rotated as on its page.
    let (ok, made, err) = gatehouse(&db, &["scim", "oauth", "--workspace", "acme", "--provider", &id], None);
    assert!(ok, "{err}");
    let client_id = made["client_id"].as_str().expect("client id").to_string();
    assert!(client_id.starts_with("ghs_") && made["client_secret"].as_str().is_some_and(|s| s.len() >= 43), "{made}");
    assert!(made["token_endpoint"].as_str().is_some_and(|u| u.ends_with(&format!("/scim/oauth/{id}/token"))), "{made}");
    let (ok, rotated, err) = gatehouse(&db, &["scim", "oauth", "--workspace", "acme", "--provider", &id, "--overlap-secs", "3600"], None);
    assert!(ok, "{err}");
    assert_eq!(rotated["client_id"].as_str(), Some(client_id.as_str()), "the client id stays");
    assert_ne!(rotated["client_secret"], made["client_secret"], "a new secret");
    let (ok, _, err) = gatehouse(&db, &["scim", "oauth", "--workspace", "acme", "--provider", &id, "--overlap-secs", "5"], None);
    assert!(!ok && err.contains("old secret"), "{err}");
    let (ok, _, err) = gatehouse(&db, &["scim", "oauth", "--workspace", "acme", "--provider", "nope"], None);
    assert!(!ok && err.contains("is not a SAML provider of acme"), "{err}");
}

/// An operator command's output is its answer: without GATEHOUSE_LOG, stderr carries no
/// INFO lines (migrations, pools); `serve` still logs at info.
#[test]
fn commands_are_quiet_unless_asked() {
    let db = temp_db();
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["workspace", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "ada@acme.test"])
        .env("GATEHOUSE_DATABASE_URL", &db)
        .env_remove("GATEHOUSE_LOG")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("INFO"), "{stderr}");
    let asked = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["sign-in-methods", "--workspace", "acme"])
        .env("GATEHOUSE_DATABASE_URL", &db)
        .env("GATEHOUSE_LOG", "debug")
        .output()
        .expect("run");
    assert!(asked.status.success());
    assert!(!String::from_utf8_lossy(&asked.stderr).is_empty(), "debug was asked for");
}
