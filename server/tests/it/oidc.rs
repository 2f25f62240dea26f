//! Google, Microsoft and Slack sign-in against oidc-provider (npm, OpenID certified),
//! started once per test binary with three provider-shaped profiles
//! (scripts/interop/oidc_provider.mjs).
use app::server::entities::oidc_state;
use app::server::oidc::OidcProvider;
use app::server::permissions::AdminCap;
use app::server::{methods, oidc};
use axum::http::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::common::{Reply, TestApp, ORIGIN, T0};

const CLIENT_ID: &str = "gatehouse";
const CLIENT_SECRET: &str = "gatehouse-secret";
/// A work tenant (the provider's default tenant is the personal-accounts one).
const TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

fn issuers() -> &'static BTreeMap<&'static str, String> {
    static ISSUERS: OnceLock<BTreeMap<&'static str, String>> = OnceLock::new();
    ISSUERS.get_or_init(|| [("google", "google"), ("office365", "microsoft"), ("slack", "slack")].into_iter().map(|(k, p)| (k, spawn_provider(k, p))).collect())
}

/// Starts an oidc-provider with `profile` for our provider `key`; returns its issuer.
fn spawn_provider(key: &str, profile: &str) -> String {
    let (child, issuer) = spawn_idp(profile, CLIENT_ID, CLIENT_SECRET, &["--redirect-uri", &format!("{ORIGIN}/auth/{key}/callback")]);
    std::mem::forget(child); // exits with us
    issuer
}

/// Starts an oidc-provider of `profile` with one client and `redirect` (its redirect URI
/// arguments); returns the process and its issuer.
pub fn spawn_idp(profile: &str, client_id: &str, secret: &str, redirect: &[&str]) -> (std::process::Child, String) {
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut child = Command::new("node")
        .arg(repo.join("scripts/interop/oidc_provider.mjs"))
        .args(["--port", "0", "--profile", profile, "--client-id", client_id, "--client-secret", secret])
        .args(redirect)
        .current_dir(&repo)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start oidc-provider (run `scripts/setup.sh test` first)");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("READY");
    assert!(line.starts_with("READY "), "oidc-provider did not start: {line}");
    (child, line.trim().trim_start_matches("READY ").to_string())
}

fn now() -> i64 {
    crate::common::wall_clock()
}

/// Workspace `acme` with all three providers configured and switched on, the clock at now.
async fn app() -> TestApp {
    let iss = issuers();
    let app = TestApp::with_config(|c| {
        c.oidc = ["google", "office365", "slack"].iter().map(|k| OidcProvider::new(k, CLIENT_ID, CLIENT_SECRET, Some(&iss[k]))).collect();
    })
    .await;
    app.create_workspace("acme", crate::common::ADMIN_EMAIL).await;
    app.clock.advance(now() - T0);
    let cap = cap(&app).await;
    let all: Vec<String> = ["google", "office365", "slack"].iter().map(|s| s.to_string()).collect();
    methods::change(&app.state.db, app.state.now(), &cap, &app.state.config, &all, &[]).await.expect("enable");
    app
}

async fn cap(app: &TestApp) -> AdminCap {
    let ws = app::server::workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    crate::common::operator().admin_of(ws.id)
}

/// A browser's cookies at the IdP.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, headers: &reqwest::header::HeaderMap) {
        for v in headers.get_all(reqwest::header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            if let Some((k, val)) = v.split(';').next().and_then(|p| p.split_once('=')) {
                self.0.insert(k.trim().to_string(), val.to_string());
            }
        }
    }
    fn header(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
}

/// `loc` made absolute against the IdP's origin (its paths are absolute from the root).
fn at(url: &str, loc: &str) -> String {
    if loc.starts_with("http") {
        return loc.to_string();
    }
    let u = reqwest::Url::parse(url).expect("url");
    u.join(loc).expect("join").to_string()
}

/// From our answer redirecting to the IdP (`first`), logs in there as `login`; stops at the redirect
/// back to us and returns its path and query.
pub async fn through_idp(first: &str, login: &str) -> String {
    let client = crate::saml::client();
    let mut jar = Jar::default();
    let mut url = first.to_string();
    for _ in 0..10 {
        let resp = client.get(&url).header(reqwest::header::COOKIE, jar.header()).send().await.expect("GET IdP");
        jar.take(resp.headers());
        match resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string) {
            Some(l) if l.starts_with(ORIGIN) => return l.trim_start_matches(ORIGIN).to_string(),
            Some(l) => url = at(&url, &l),
            None => {
                let status = resp.status();
                let body = resp.text().await.expect("body");
                assert_eq!(status, 200, "{body}");
                let action = body.split("action=\"").nth(1).and_then(|s| s.split('"').next()).expect("form action").replace("&amp;", "&");
                let resp = client
                    .post(at(&url, &action))
                    .header(reqwest::header::COOKIE, jar.header())
                    .form(&[("login", login), ("action", "login")])
                    .send()
                    .await
                    .expect("POST login");
                jar.take(resp.headers());
                let l = resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).expect("after login").to_string();
                if l.starts_with(ORIGIN) {
                    return l.trim_start_matches(ORIGIN).to_string();
                }
                url = at(&url, &l);
            }
        }
    }
    panic!("no redirect back to us");
}

/// Starts at our /auth/{key}/start, logs in at the provider as `login`, and stops at the
/// redirect back to us. Returns (callback path+query, our nonce cookie).
async fn to_callback(app: &TestApp, key: &str, login: &str, rewrite: impl Fn(String) -> String) -> (String, String) {
    to_callback_in(app, "acme", key, login, rewrite).await
}

/// As `to_callback`, for workspace `slug`.
async fn to_callback_in(app: &TestApp, slug: &str, key: &str, login: &str, rewrite: impl Fn(String) -> String) -> (String, String) {
    to_callback_at(app, &issuers()[key], slug, key, login, rewrite).await
}

/// As `to_callback_in`, with the provider at issuer `base`.
async fn to_callback_at(app: &TestApp, base: &str, slug: &str, key: &str, login: &str, rewrite: impl Fn(String) -> String) -> (String, String) {
    let r = app.get(&format!("/auth/{key}/start?workspace={slug}&next=/w/{slug}/settings/members"), None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "start: {}", r.body);
    let ours = r.set_cookie("gatehouse_oidc_browser").expect("nonce cookie");
    let url = rewrite(r.location().expect("location").to_string());
    assert!(url.starts_with(base), "{url}");
    (through_idp(&url, login).await, ours)
}

async fn finish(app: &TestApp, callback: &str, cookie: &str) -> Reply {
    app.get(callback, Some(cookie)).await
}

/// The reason recorded (audit log) for the latest refusal.
async fn last_refusal(app: &TestApp) -> String {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    app::server::entities::audit_log::Entity::find()
        .filter(app::server::entities::audit_log::Column::Action.eq("oidc.refused"))
        .order_by_desc(app::server::entities::audit_log::Column::Id)
        .one(&app.state.db)
        .await
        .expect("db")
        .map(|a| a.details)
        .unwrap_or_default()
}

async fn sign_in(app: &TestApp, key: &str, login: &str) -> Reply {
    let (cb, cookie) = to_callback(app, key, login, |u| u).await;
    finish(app, &cb, &cookie).await
}

/// Signs in to workspace `slug` with provider `key` as `login`.
async fn sign_in_to(app: &TestApp, slug: &str, key: &str, login: &str) -> Reply {
    let (cb, cookie) = to_callback_in(app, slug, key, login, |u| u).await;
    finish(app, &cb, &cookie).await
}

#[tokio::test]
async fn members_sign_in_with_each_provider_and_identities_are_linked() {
    let app = app().await;
    let admin = app.admin_cookie().await;
    app.add_member(&admin, "bob@acme.test", "member").await;
    for (key, login) in [("google", "bob@acme.test".to_string()), ("office365", format!("bob@acme.test;tid={TID}")), ("slack", "bob@acme.test".to_string())] {
        let r = sign_in(&app, key, &login).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{key}: {}", r.body);
        assert_eq!(r.location(), Some("/w/acme/settings/members"), "{key}");
        let me = app.call::<app::api::auth::Me>(&[("slug", "acme")], Some(&r.cookie().expect("session"))).await;
        assert!(me.body.contains("bob@acme.test"), "{key}: {}", me.body);
    }
    let page = app.get("/w/acme/settings/members", Some(&admin)).await;
    assert!(page.body.contains("Linked: ") && page.body.contains("Google") && page.body.contains("Office365") && page.body.contains("Slack"), "{}", page.body);
}

#[tokio::test]
async fn non_members_unverified_emails_and_disallowed_organisations_are_refused() {
    let app = app().await;
    let admin = app.admin_cookie().await;
    app.add_member(&admin, "bob@acme.test", "member").await;
    let cases = [
        ("google", "zed@acme.test".to_string(), "isn't a member of acme Inc"),
        ("google", "bob@acme.test;email_verified=false".to_string(), "hasn't verified"),
        ("office365", "bob@acme.test".to_string(), "Personal Microsoft accounts"),
        ("office365", format!("bob@acme.test;tid={TID};xms_edov=false"), "didn't confirm"),
        ("slack", "bob@acme.test;email_verified=false".to_string(), "hasn't verified"),
    ];
    for (key, login, needle) in cases {
        let r = sign_in(&app, key, &login).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{key} {login}: {}", r.body);
        assert!(r.body.contains(needle), "{key} {login}: {needle} not in {}", r.body);
        assert!(r.cookie().is_none());
    }
    // Allowlists: Google hd, Microsoft tenant, Slack team.
    let cap = cap(&app).await;
    oidc::set_allowed(&app.state.db, app.state.now(), &cap, "google", "acme.test").await.expect("hd");
    oidc::set_allowed(&app.state.db, app.state.now(), &cap, "office365", "00000000-0000-0000-0000-000000000001").await.expect("tenant");
    oidc::set_allowed(&app.state.db, app.state.now(), &cap, "slack", "T0002").await.expect("team");
    for (key, login, needle) in [
        ("google", "bob@acme.test;hd=other.test".to_string(), "Google Workspace domain"),
        ("office365", format!("bob@acme.test;tid={TID}"), "Microsoft organization"),
        ("slack", "bob@acme.test".to_string(), "Slack workspace"),
    ] {
        let r = sign_in(&app, key, &login).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{key}: {}", r.body);
        assert!(r.body.contains(needle), "{key}: {}", r.body);
    }
    assert_eq!(sign_in(&app, "google", "bob@acme.test").await.status, StatusCode::SEE_OTHER, "hd on the list");
    // Bad allowlist entries are explained and change nothing.
    assert!(oidc::set_allowed(&app.state.db, app.state.now(), &cap, "office365", "not-a-guid").await.is_err());
    // Refusals are audited.
    use sea_orm::{ColumnTrait, QueryFilter};
    let n = app::server::entities::audit_log::Entity::find()
        .filter(app::server::entities::audit_log::Column::Action.eq("oidc.refused"))
        .all(&app.state.db)
        .await
        .expect("db")
        .len();
    assert!(n >= 8, "{n} refusals audited");
}

#[tokio::test]
async fn an_invitee_joins_with_google() {
    let app = app().await;
    let admin = app.admin_cookie().await;
    let r = app.call::<app::api::members::InviteMember>(&[("slug", "acme"), ("email", "ivy@acme.test"), ("role", "member")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut members_page = app.events("acme", "members", Some(&admin)).await.expect("an open Members page");
    let r = sign_in(&app, "google", "ivy@acme.test").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // The open Members page is told of the new member (it used to hear nothing).
    assert_eq!(members_page.next().await.as_deref(), Some("members"));
    let page = app.get("/w/acme/settings/members", Some(&admin)).await;
    assert!(page.body.contains("ivy@acme.test"));
    let invites = app.call::<app::api::members::ListInvites>(&[("slug", "acme")], Some(&admin)).await;
    assert!(!invites.body.contains("ivy@acme.test"), "the invite is used up: {}", invites.body);
}

#[tokio::test]
async fn state_nonce_expiry_replay_browser_and_client_are_checked() {
    let app = app().await;
    let admin = app.admin_cookie().await;
    app.add_member(&admin, "bob@acme.test", "member").await;

    // Wrong state.
    let (cb, cookie) = to_callback(&app, "google", "bob@acme.test", |u| u).await;
    let forged = cb.replace("state=", "state=x");
    let r = finish(&app, &forged, &cookie).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // The genuine callback, in another browser (no nonce cookie): refused (login CSRF).
    let r = app.get(&cb, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // In the right browser: accepted; a second use of the same answer is refused.
    assert_eq!(finish(&app, &cb, &cookie).await.status, StatusCode::SEE_OTHER);
    assert_eq!(finish(&app, &cb, &cookie).await.status, StatusCode::FORBIDDEN);

    // Replayed code: even with its state restored, the provider refuses the code twice.
    let (cb, cookie) = to_callback(&app, "google", "bob@acme.test", |u| u).await;
    let saved = oidc_state::Entity::find().all(&app.state.db).await.expect("db");
    assert_eq!(finish(&app, &cb, &cookie).await.status, StatusCode::SEE_OTHER);
    for s in saved {
        let m: oidc_state::ActiveModel = s.into();
        m.insert(&app.state.db).await.expect("restore state");
    }
    let r = finish(&app, &cb, &cookie).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(last_refusal(&app).await.contains("code exchange failed"), "{}", last_refusal(&app).await);

    // Wrong nonce: the id_token's nonce no longer matches what we stored.
    let (cb, cookie) = to_callback(&app, "google", "bob@acme.test", |u| u).await;
    for s in oidc_state::Entity::find().all(&app.state.db).await.expect("db") {
        let mut m: oidc_state::ActiveModel = s.into();
        m.nonce = Set("another-nonce".into());
        m.update(&app.state.db).await.expect("tamper");
    }
    assert_eq!(finish(&app, &cb, &cookie).await.status, StatusCode::FORBIDDEN);
    assert!(last_refusal(&app).await.contains("nonce"), "{}", last_refusal(&app).await);

    // Expired id_token: our clock is two hours later when the answer arrives.
    let (cb, cookie) = to_callback(&app, "google", "bob@acme.test", |u| u).await;
    let row = oidc_state::Entity::find().all(&app.state.db).await.expect("db");
    for s in row {
        let mut m: oidc_state::ActiveModel = s.into();
        m.expires_at = Set(app.state.now() + 3 * 3600);
        m.update(&app.state.db).await.expect("keep state alive");
    }
    app.clock.advance(2 * 3600);
    let r = finish(&app, &cb, &cookie).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(last_refusal(&app).await.to_lowercase().contains("expired"), "{}", last_refusal(&app).await);
    app.clock.advance(-2 * 3600);

    // A code issued to another client (audience): refused.
    let (cb, cookie) = to_callback(&app, "google", "bob@acme.test", |u| u.replace(&format!("client_id={CLIENT_ID}"), "client_id=intruder")).await;
    assert_eq!(finish(&app, &cb, &cookie).await.status, StatusCode::FORBIDDEN);
    assert!(last_refusal(&app).await.contains("code exchange failed"), "{}", last_refusal(&app).await);
}

#[tokio::test]
async fn switching_a_provider_off_removes_it_and_its_callback_refuses() {
    let app = app().await;
    let admin = app.admin_cookie().await;
    app.add_member(&admin, "bob@acme.test", "member").await;
    let page = app.get("/w/acme/login", None).await;
    assert!(page.body.contains("Sign in with Slack") && page.body.contains("Sign in with Google") && page.body.contains("Sign in with Office365"));
    let (cb, cookie) = to_callback(&app, "slack", "bob@acme.test", |u| u).await;
    let cap = cap(&app).await;
    methods::change(&app.state.db, app.state.now(), &cap, &app.state.config, &[], &["slack".to_string()]).await.expect("off");
    let page = app.get("/w/acme/login", None).await;
    assert!(!page.body.contains("Sign in with Slack"));
    let r = finish(&app, &cb, &cookie).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("switched off"), "{}", r.body);
    assert_eq!(app.get("/auth/slack/start?workspace=acme", None).await.status, StatusCode::FORBIDDEN);
    // An unconfigured provider doesn't exist here.
    assert_eq!(app.get("/auth/github/start?workspace=acme", None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admins_set_allowlists_on_member_authorization() {
    use app::api::settings::SetOidcAllowlist;
    let app = app().await;
    let admin = app.admin_cookie().await;
    let page = app.get("/w/acme/settings/authentication", Some(&admin)).await;
    for needle in ["Allowed Google Workspace domains", "Allowed Microsoft tenant IDs", "Allowed Slack team IDs"] {
        assert!(page.body.contains(needle), "{needle}");
    }
    // Without JS: a form post, a redirect with the confirmation, the list kept.
    let r = app
        .form::<SetOidcAllowlist>(
            &[("slug", "acme"), ("provider", "google"), ("allowed", "Acme.test, corp.test")],
            Some(&admin),
            "/w/acme/settings/authentication",
        )
        .await;
    assert!(r.status.is_redirection(), "{}", r.status);
    assert_eq!(r.location(), Some("/w/acme/settings/authentication?allow_saved=allowlist_saved"));
    assert_eq!(oidc::allowed(&app.state.db, cap(&app).await.workspace_id(), "google").await.expect("db"), ["acme.test", "corp.test"]);
    // Bad entries: a clear error, nothing changed.
    let r = app.call::<SetOidcAllowlist>(&[("slug", "acme"), ("provider", "slack"), ("allowed", "not a team")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Slack team ID"), "{}", r.body);
    // Members can't.
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    let r = app.call::<SetOidcAllowlist>(&[("slug", "acme"), ("provider", "google"), ("allowed", "")], Some(&bob)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(oidc::allowed(&app.state.db, cap(&app).await.workspace_id(), "google").await.expect("db").len(), 2);
}

#[tokio::test]
async fn allowlisted_tenants_and_second_subjects_cannot_take_over_accounts() {
    let app = app().await;
    let admin = app.admin_cookie().await;
    app.add_member(&admin, "bob@acme.test", "member").await;
    let cap = cap(&app).await;
    // An allowlisted tenant without xms_edov: its emails are trusted only inside the
    // workspace's claimed domains, and no global link is kept.
    oidc::set_allowed(&app.state.db, app.state.now(), &cap, "office365", TID).await.expect("tenant");
    let login = format!("bob@acme.test;tid={TID};xms_edov=");
    assert_eq!(sign_in(&app, "office365", &login).await.status, StatusCode::FORBIDDEN, "acme.test is not claimed yet");
    app::server::domains::change(&app.state.db, app.state.now(), &cap, &["acme.test".into()], &[]).await.expect("claim");
    assert_eq!(sign_in(&app, "office365", &login).await.status, StatusCode::FORBIDDEN, "claimed but not verified counts for nothing");
    app::server::domains::trust(&app.state.db, app.state.now(), &crate::common::operator(), cap.workspace_id(), "acme.test").await.expect("verified");
    assert_eq!(sign_in(&app, "office365", &login).await.status, StatusCode::SEE_OTHER);
    use sea_orm::{ColumnTrait, QueryFilter};
    let links = app::server::entities::external_identity::Entity::find()
        .filter(app::server::entities::external_identity::Column::ProviderKind.eq("office365"))
        .all(&app.state.db)
        .await
        .expect("db");
    assert!(links.is_empty(), "no global link from an unverified email");
    // A second allowlisted tenant (a contractor's): with two tenants and no lists, neither
    // asserts acme.test any more; the workspace's own tenant gets it back by name, and the
    // contractor's can't assert it.
    const CONTRACTOR: &str = "00000000-0000-0000-0000-0000000000c0";
    oidc::set_allowed(&app.state.db, app.state.now(), &cap, "office365", &format!("{TID}, {CONTRACTOR}")).await.expect("two tenants");
    assert_eq!(sign_in(&app, "office365", &login).await.status, StatusCode::FORBIDDEN, "two tenants, no domain lists");
    oidc::set_allowed(&app.state.db, app.state.now(), &cap, "office365", &format!("{TID}=acme.test, {CONTRACTOR}=contractor.test")).await.expect("lists");
    assert_eq!(sign_in(&app, "office365", &login).await.status, StatusCode::SEE_OTHER, "the workspace's own tenant asserts acme.test");
    let r = sign_in(&app, "office365", &format!("bob@acme.test;tid={CONTRACTOR};xms_edov=")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the contractor's tenant can't assert acme.test: {}", r.body);
    assert!(oidc::set_allowed(&app.state.db, app.state.now(), &cap, "office365", &format!("{TID}=not a domain")).await.is_err());
    // Google: bob is linked to one subject; another subject with the same email is refused.
    assert_eq!(sign_in(&app, "google", "bob@acme.test").await.status, StatusCode::SEE_OTHER);
    let r = sign_in(&app, "google", "bob@acme.test;sub=someone-else").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("already linked to a different Google account"), "{}", r.body);
    assert_eq!(sign_in(&app, "google", "bob@acme.test").await.status, StatusCode::SEE_OTHER, "the linked one still works");
}

// ---- Issue 12: identity belongs to one workspace ----

/// Workspaces `evil` (a SAML provider with provisioning on, then provider `key` switched
/// on as a fallback; returns its SCIM token) and `victim` (password and `key` on).
async fn evil_and_victim(key: &str) -> (TestApp, String) {
    let iss = issuers();
    let app = TestApp::with_config(|c| {
        c.oidc = ["google", "office365", "slack"].iter().map(|k| OidcProvider::new(k, CLIENT_ID, CLIENT_SECRET, Some(&iss[k]))).collect();
    })
    .await;
    app.create_workspace("evil", "eve@evil.test").await;
    app.create_workspace("victim", "vic@victim.test").await;
    app.clock.advance(now() - T0);
    let t = app.state.now();
    let evil = app::server::workspaces::by_slug(&app.state.db, "evil").await.expect("evil");
    let evil_cap = crate::common::operator().admin_of(evil.id);
    let (_, cert) = app::server::saml::sp::generate_key_pair("idp").expect("cert");
    let input = app::server::saml::ProviderInput {
        form: app::model::SamlProviderForm {
            name: "Evil IdP".into(),
            idp_entity_id: "https://idp.evil.test/".into(),
            sso_url: "https://idp.evil.test/sso".into(),
            cert1: cert,
            ..Default::default()
        },
        ..Default::default()
    };
    let p = app::server::saml::create(&app.state.db, &app.state.config, t, &evil_cap, &input).await.expect("provider").public_id().to_string();
    methods::change(&app.state.db, t, &evil_cap, &app.state.config, &[app::server::saml::method_key(&p)], &["password".to_string()]).await.expect("saml only");
    let token = app::server::scim::enable(&app.state.db, t, &evil_cap, &p, None).await.expect("provisioning").expose().to_string();
    methods::change(&app.state.db, t, &evil_cap, &app.state.config, &[key.to_string()], &[]).await.expect("fallback on");
    let victim = app::server::workspaces::by_slug(&app.state.db, "victim").await.expect("victim");
    let victim_cap = crate::common::operator().admin_of(victim.id);
    methods::change(&app.state.db, t, &victim_cap, &app.state.config, &[key.to_string()], &[]).await.expect("victim's provider on");
    (app, token)
}

async fn scim_call(app: &TestApp, token: &str, method: &str, path: &str, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    use axum::body::Body;
    use axum::http::{header, Request};
    let req = Request::builder()
        .method(method)
        .uri(format!("/scim/v2{path}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/scim+json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let r = app.send(req).await;
    (r.status, serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null))
}

fn scim_user(email: &str) -> serde_json::Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "name": { "givenName": "Att", "familyName": "Acker" },
        "emails": [{ "primary": true, "type": "work", "value": email }],
        "active": true,
    })
}

/// Invites `email` to `slug` as an admin (by that workspace's admin) and accepts it with a
/// password, as the real person would.
async fn invite_and_accept(app: &TestApp, slug: &str, admin_email: &str, email: &str) {
    let admin = app.login(slug, admin_email, crate::common::ADMIN_PASSWORD).await;
    let r = app.call::<app::api::members::InviteMember>(&[("slug", slug), ("email", email), ("role", "admin")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    let token = v["link"].as_str().expect("link").rsplit('/').next().expect("token").to_string();
    let r = app.call::<app::api::invites::AcceptInvite>(&[("token", &token), ("full_name", "New Cfo"), ("password", "the real cfo's password")], None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// The attack of issue 12, step by step: workspace evil's SCIM client creates an account
/// for the attacker's own address, the attacker links their Google (Slack, Microsoft)
/// identity to it by signing in to evil, SCIM re-addresses the account to the victim's
/// future CFO, victim invites the real CFO, and the attacker signs in to victim. Every
/// variant must end refused at the last step: the link is evil's alone (and went with the
/// old address), and victim's CFO is victim's own account.
#[tokio::test]
async fn pre_hijacking_through_an_identity_link_is_refused() {
    // How the victim's CFO joins: an invite accepted after the email change, one accepted
    // before it, or SAML just-in-time creation through victim's own IdP.
    let variants = [
        ("google", "att1@gmail.com".to_string(), "PATCH", "invite"),
        ("slack", "att1@gmail.com".to_string(), "PATCH", "invite"),
        ("office365", format!("att1@evil.test;tid={TID}"), "PATCH", "invite"),
        ("google", "att1@gmail.com".to_string(), "PUT", "invite"),
        ("google", "att1@gmail.com".to_string(), "PATCH", "invite first"),
        ("google", "att1@gmail.com".to_string(), "PATCH", "saml jit"),
    ];
    for (key, login, change, join) in variants {
        let what = format!("{key} {change} {join}");
        let (app, token) = evil_and_victim(key).await;
        let (app, victim_idp) = if join == "saml jit" {
            let sp = crate::saml::add_provider(app, "victim", crate::saml::Options::default()).await;
            (sp.app, Some(sp.id))
        } else {
            (app, None)
        };
        let accept_first = join == "invite first";
        let email = login.split(';').next().expect("email").to_string();
        // 1. evil's SCIM client creates the attacker's account.
        let (st, u) = scim_call(&app, &token, "POST", "/Users", scim_user(&email)).await;
        assert_eq!(st, StatusCode::CREATED, "{what}: {u}");
        let uid = u["id"].as_str().expect("id").to_string();
        // 2. The attacker signs in to evil with the provider: linked there.
        let r = sign_in_to(&app, "evil", key, &login).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{what}: {}", r.body);
        if accept_first {
            invite_and_accept(&app, "victim", "vic@victim.test", "new.cfo@victim.test").await;
        }
        // 3. SCIM re-addresses the account to the victim's CFO (its own workspace's business).
        let (st, body) = match change {
            "PATCH" => {
                let ops = serde_json::json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{ "op": "replace", "path": "emails", "value": [{ "value": "new.cfo@victim.test", "primary": true }] }] });
                scim_call(&app, &token, "PATCH", &format!("/Users/{uid}"), ops).await
            }
            _ => scim_call(&app, &token, "PUT", &format!("/Users/{uid}"), scim_user("new.cfo@victim.test")).await,
        };
        assert_eq!(st, StatusCode::OK, "{what}: {body}");
        // 4. victim invites the real CFO, who accepts with a password (or the CFO signs in
        //    through victim's IdP for the first time).
        if let Some(id) = &victim_idp {
            let r = crate::saml::idp_answer(&app, id, "new.cfo@victim.test", "", None, "?next=/w/victim").await.post(&app, id).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{what}: JIT: {}", r.body);
        } else if !accept_first {
            invite_and_accept(&app, "victim", "vic@victim.test", "new.cfo@victim.test").await;
        }
        // 5. The attacker's provider sign-in to victim is refused, and says why.
        let r = sign_in_to(&app, "victim", key, &login).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: the attacker got into victim: {}", r.body);
        assert!(r.cookie().is_none(), "{what}");
        assert!(r.body.contains("isn't a member of victim Inc"), "{what}: {}", r.body);
        assert!(last_refusal(&app).await.contains("not a member"), "{what}: {}", last_refusal(&app).await);
        // The link went with the old address in evil too.
        let r = sign_in_to(&app, "evil", key, &login).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: the dropped link still signs in to evil: {}", r.body);
        // The real CFO is unaffected: password sign-in to victim works.
        if victim_idp.is_none() {
            let cfo = app.login("victim", "new.cfo@victim.test", "the real cfo's password").await;
            let me = app.call::<app::api::auth::Me>(&[("slug", "victim")], Some(&cfo)).await;
            assert!(me.body.contains("new.cfo@victim.test") && me.body.contains("New Cfo"), "{what}: {}", me.body);
        }
    }
}

/// A second workspace, `beta` (admin bo@beta.test), with Google sign-in on.
async fn beta_with_google(app: &TestApp) {
    app.create_workspace("beta", "bo@beta.test").await;
    let beta = app::server::workspaces::by_slug(&app.state.db, "beta").await.expect("beta");
    methods::change(&app.state.db, app.state.now(), &crate::common::operator().admin_of(beta.id), &app.state.config, &["google".to_string()], &[])
        .await
        .expect("google");
}

/// One person in two workspaces signs in to each with Google: two accounts, each with
/// its own link, and each session is for its own workspace only.
#[tokio::test]
async fn one_person_in_two_workspaces_is_linked_separately_in_each() {
    let app = app().await;
    beta_with_google(&app).await;
    let admin = app.admin_cookie().await;
    app.add_member(&admin, "pat@both.test", "member").await;
    invite_and_accept(&app, "beta", "bo@beta.test", "pat@both.test").await;
    let in_acme = sign_in_to(&app, "acme", "google", "pat@both.test").await;
    assert_eq!(in_acme.status, StatusCode::SEE_OTHER, "{}", in_acme.body);
    let in_beta = sign_in_to(&app, "beta", "google", "pat@both.test").await;
    assert_eq!(in_beta.status, StatusCode::SEE_OTHER, "{}", in_beta.body);
    use sea_orm::{ColumnTrait, QueryFilter};
    let links = app::server::entities::external_identity::Entity::find()
        .filter(app::server::entities::external_identity::Column::ProviderKind.eq("google"))
        .all(&app.state.db)
        .await
        .expect("db");
    let mut by_workspace: Vec<i64> = links.iter().map(|l| l.workspace_id).collect();
    by_workspace.sort();
    assert_eq!(links.len(), 2, "one link per workspace");
    assert_ne!(links[0].account_id, links[1].account_id, "two accounts");
    assert_ne!(by_workspace[0], by_workspace[1]);
    // Each session is its own workspace's.
    let acme_cookie = in_acme.cookie().expect("acme session");
    assert_eq!(app.call::<app::api::auth::Me>(&[("slug", "beta")], Some(&acme_cookie)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.call::<app::api::auth::Me>(&[("slug", "acme")], Some(&acme_cookie)).await.status, StatusCode::OK);
}

/// Narrowing an allowlist ends the provider's sessions (which organization each came from
/// isn't kept), so the new rule applies at once; widening it ends nothing.
#[tokio::test]
async fn narrowing_an_allowlist_ends_the_providers_sessions() {
    let app = app().await;
    let admin = app.admin_cookie().await;
    app.add_member(&admin, "bob@acme.test", "member").await;
    let r = sign_in(&app, "google", "bob@acme.test").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let bob = r.cookie().expect("session");
    let cap = cap(&app).await;
    oidc::set_allowed(&app.state.db, app.state.now(), &cap, "slack", "T0001").await.expect("another provider");
    assert_eq!(app.me_status(&bob).await, StatusCode::OK, "another provider's list ends nothing");
    oidc::set_allowed(&app.state.db, app.state.now(), &cap, "google", "acme.test").await.expect("narrowed");
    assert_eq!(app.me_status(&bob).await, StatusCode::UNAUTHORIZED, "the Google session ended");
    assert_eq!(app.me_status(&admin).await, StatusCode::OK, "a password session is untouched");
    // Widening (adding an entry) ends nothing.
    let bob = sign_in(&app, "google", "bob@acme.test;hd=acme.test").await.cookie().expect("session");
    oidc::set_allowed(&app.state.db, app.state.now(), &cap, "google", "acme.test, acme.io").await.expect("widened");
    assert_eq!(app.me_status(&bob).await, StatusCode::OK);
}

/// A callback carrying `?error=` needs no provider account, only a sign-in start: anyone
/// can send thousands, for any workspace. They are audited sampled per workspace, provider
/// and kind and hour (20 entries one by one, then the 100th with its count), so they can
/// neither grow the audit log without bound nor bury the entries around them.
#[tokio::test]
async fn error_callbacks_are_counted_not_logged_one_by_one() {
    let app = app().await;
    for _ in 0..100 {
        let r = app.get("/auth/google/start?workspace=acme", None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "start: {}", r.body);
        let cookie = r.set_cookie("gatehouse_oidc_browser").expect("nonce cookie");
        let loc = r.location().expect("location").to_string();
        let state = loc.split(['?', '&']).find_map(|p| p.strip_prefix("state=")).expect("state").to_string();
        let r = app.get(&format!("/auth/google/callback?state={state}&error=access_denied"), Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder};
    let refused = app::server::entities::audit_log::Entity::find()
        .filter(app::server::entities::audit_log::Column::Action.eq("oidc.refused"))
        .order_by_asc(app::server::entities::audit_log::Column::Id)
        .all(&app.state.db)
        .await
        .expect("db");
    assert_eq!(refused.len(), 21, "20 one by one, then the 100th");
    assert!(refused[20].details.contains("\"count_this_hour\":100"), "{}", refused[20].details);
    assert!(refused.iter().all(|r| r.details.contains("\"kind\":\"provider_error\"")));
    // Another kind of refusal is still written.
    let r = sign_in(&app, "google", "nobody@elsewhere.test").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let total = app::server::entities::audit_log::Entity::find()
        .filter(app::server::entities::audit_log::Column::Action.eq("oidc.refused"))
        .count(&app.state.db)
        .await
        .expect("db");
    assert_eq!(total, 22);
}

/// A GET of `path` as it arrives from TCP peer `peer`.
async fn get_from(app: &TestApp, path: &str, cookie: Option<&str>, peer: &str) -> Reply {
    let mut b = axum::http::Request::get(path);
    if let Some(c) = cookie {
        b = b.header(axum::http::header::COOKIE, c);
    }
    let mut req = b.body(axum::body::Body::empty()).expect("request");
    req.extensions_mut().insert(axum::extract::ConnectInfo::<std::net::SocketAddr>(peer.parse().expect("peer")));
    app.send(req).await
}

/// Callback failures are counted in the scope of the workspace whose sign-in the state
/// names. A neighbour behind the same address (one NAT, one office) who floods junk
/// callbacks, or fails sign-ins of its own workspace on purpose, throttles only those:
/// a member of another workspace behind that address still signs in. Before, every
/// callback of a provider shared one scope per address, so 60 junk callbacks blocked
/// that provider's sign-in for every workspace behind it.
#[tokio::test]
async fn a_neighbours_failed_callbacks_throttle_no_other_workspace() {
    let app = app().await;
    beta_with_google(&app).await;
    invite_and_accept(&app, "beta", "bo@beta.test", "pat@beta.test").await;
    let office = "198.51.100.20:5000";
    // Junk: states that name no pending sign-in.
    for i in 0..60 {
        let r = get_from(&app, &format!("/auth/google/callback?state=junk{i}&code=x"), None, office).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "junk {i}: {}", r.body);
    }
    assert_eq!(get_from(&app, "/auth/google/callback?state=junk&code=x", None, office).await.status, StatusCode::TOO_MANY_REQUESTS);
    // Failures of real sign-ins in acme.
    for i in 0..60 {
        let r = app.get("/auth/google/start?workspace=acme", None).await;
        let cookie = r.set_cookie("gatehouse_oidc_browser").expect("nonce cookie");
        let state = r.location().expect("location").split(['?', '&']).find_map(|p| p.strip_prefix("state=")).expect("state").to_string();
        let r = get_from(&app, &format!("/auth/google/callback?state={state}&error=access_denied"), Some(&cookie), office).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "acme failure {i}: {}", r.body);
    }
    let (cb, cookie) = to_callback_in(&app, "acme", "google", crate::common::ADMIN_EMAIL, |u| u).await;
    assert_eq!(get_from(&app, &cb, Some(&cookie), office).await.status, StatusCode::TOO_MANY_REQUESTS, "acme's own scope is throttled");
    // A member of beta behind the same address signs in.
    let (cb, cookie) = to_callback_in(&app, "beta", "google", "pat@beta.test", |u| u).await;
    let r = get_from(&app, &cb, Some(&cookie), office).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.cookie().is_some(), "a session");
}

/// Refusals after the provider vouched for a subject are sampled per subject: someone who
/// signs in with their own provider account again and again, refused each time, buries only
/// their own entries. Another person refused for the same reason in the same hour is still
/// audited one by one (before, every `not_member` of the workspace shared one count).
#[tokio::test]
async fn one_accounts_repeated_refusals_hide_no_other_persons() {
    let app = app().await;
    for i in 0..25 {
        let r = sign_in(&app, "google", "mallory@elsewhere.test").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "attempt {i}: {}", r.body);
    }
    let r = sign_in(&app, "google", "nobody@elsewhere.test").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    use sea_orm::{ColumnTrait, QueryFilter};
    let refused = app::server::entities::audit_log::Entity::find()
        .filter(app::server::entities::audit_log::Column::Action.eq("oidc.refused"))
        .all(&app.state.db)
        .await
        .expect("db");
    let of = |who: &str| refused.iter().filter(|r| r.details.contains("\"kind\":\"not_member\"") && r.details.contains(who)).count();
    assert_eq!(of("mallory@elsewhere.test"), 20, "one person's flood is sampled");
    assert_eq!(of("nobody@elsewhere.test"), 1, "another person's refusal is audited");
}

/// The provider rotates its signing key. Our keys are cached for an hour, so the next ID
/// token is signed with a key we don't hold: we fetch the provider's keys once more and the
/// sign-in goes through, even seconds after our last fetch. A second unknown key within a
/// minute of that forced fetch is refused (one forced fetch per provider per minute, so a
/// provider that misbehaves is not asked on every sign-in). Its own provider, so no other
/// test sees the rotations.
#[tokio::test]
async fn a_rotated_signing_key_is_fetched_once_and_sign_in_goes_on() {
    let issuer = spawn_provider("google", "google");
    let app = TestApp::with_config(|c| c.oidc = vec![OidcProvider::new("google", CLIENT_ID, CLIENT_SECRET, Some(&issuer))]).await;
    app.create_workspace("acme", crate::common::ADMIN_EMAIL).await;
    app.clock.advance(now() - T0);
    methods::change(&app.state.db, app.state.now(), &cap(&app).await, &app.state.config, &["google".to_string()], &[]).await.expect("enable");
    let admin = app.admin_cookie().await;
    app.add_member(&admin, "bob@acme.test", "member").await;
    let sign_in_here = || async {
        let (cb, cookie) = to_callback_at(&app, &issuer, "acme", "google", "bob@acme.test", |u| u).await;
        finish(&app, &cb, &cookie).await
    };
    let rotate = || async {
        let r = crate::saml::client().post(format!("{issuer}/__rotate-keys")).send().await.expect("rotate");
        assert!(r.status().is_success());
    };
    assert_eq!(sign_in_here().await.status, StatusCode::SEE_OTHER, "before the rotation");
    rotate().await;
    let r = sign_in_here().await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "after the rotation: {} {}", r.body, last_refusal(&app).await);
    assert_eq!(sign_in_here().await.status, StatusCode::SEE_OTHER, "the new key is cached");
    rotate().await;
    let r = sign_in_here().await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a second unknown key within the minute");
    assert!(last_refusal(&app).await.contains("\"kind\":\"exchange\""), "{}", last_refusal(&app).await);
}

/// Starting a sign-in for a workspace that doesn't exist answers 404 before anything is
/// counted: random workspace names make no rate-counter rows (a start from a known
/// address is counted, as the control shows).
#[tokio::test]
async fn a_start_for_no_workspace_counts_nothing() {
    use app::server::entities::rate_counter;
    use sea_orm::PaginatorTrait;
    let app = TestApp::with_config(|c| c.oidc = vec![OidcProvider::new("google", CLIENT_ID, CLIENT_SECRET, Some("https://accounts.example.test"))]).await;
    let before = rate_counter::Entity::find().count(&app.state.db).await.expect("count");
    for n in 0..5 {
        let r = get_from(&app, &format!("/auth/google/start?workspace=nobody-{n}"), None, "203.0.113.9:4000").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
        assert!(r.body.contains("no such workspace"), "{}", r.body);
    }
    assert_eq!(rate_counter::Entity::find().count(&app.state.db).await.expect("count"), before, "no counter rows for missing workspaces");
    // The control: a workspace that exists is counted (its start then fails: the
    // provider's issuer doesn't answer).
    app.create_workspace("acme", crate::common::ADMIN_EMAIL).await;
    get_from(&app, "/auth/google/start?workspace=acme", None, "203.0.113.9:4000").await;
    assert!(rate_counter::Entity::find().count(&app.state.db).await.expect("count") > before, "a real workspace's start is counted");
}
