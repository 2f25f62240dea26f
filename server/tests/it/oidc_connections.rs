//! A workspace's own OpenID Connect connections against oidc-provider (npm, OpenID
//! certified) shaped as a generic IdP, Okta (issuer under /oauth2/default, a `groups`
//! claim), Auth0 (an issuer ending in a slash, the secret posted in the body, a namespaced
//! groups claim) and Keycloak (a realm path, group paths): sign-in with JIT in the claimed
//! domain, the link kept, Test sign-in with every check whatever fails, refusals (an
//! unverified email, a wrong issuer, a domain the connection may not assert, another
//! connection's answer), groups kept in sync from the claims, and the outbound address
//! policy on the issuer.
use std::collections::BTreeMap;
use std::sync::OnceLock;

use app::api::saml::{MapSignInGroup, SaveOidcConnection, SaveSignInGroups};
use app::model::OidcConnectionForm;
use app::server::entities::{external_identity, group, saml_activity};
use app::server::oidc::connections;
use app::server::{domains, methods};
use axum::http::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use crate::common::*;
use crate::oidc::through_idp;

const CLIENT_ID: &str = "gatehouse-app";
const CLIENT_SECRET: &str = "gatehouse-app-secret";
const SHAPES: [&str; 4] = ["generic", "okta", "auth0", "keycloak"];

/// Each shape's issuer, one oidc-provider per shape for the whole test binary.
fn issuers() -> &'static BTreeMap<&'static str, String> {
    static ISSUERS: OnceLock<BTreeMap<&'static str, String>> = OnceLock::new();
    ISSUERS.get_or_init(|| {
        SHAPES
            .into_iter()
            .map(|p| {
                let (child, issuer) = spawn(p);
                std::mem::forget(child); // exits with us
                (p, issuer)
            })
            .collect()
    })
}

/// Starts an oidc-provider of `profile` taking any connection's redirect URI.
fn spawn(profile: &str) -> (std::process::Child, String) {
    crate::oidc::spawn_idp(profile, CLIENT_ID, CLIENT_SECRET, &["--redirect-uri-prefix", &format!("{ORIGIN}/oidc/")])
}

fn form(name: &str, issuer: &str) -> OidcConnectionForm {
    OidcConnectionForm {
        name: name.into(),
        issuer: issuer.into(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        require_email_verified: true,
        ..Default::default()
    }
}

/// An app that may reach the local IdPs (127.0.0.1), with workspace `acme` claiming
/// acme.test, the clock at now.
async fn app() -> TestApp {
    let app = TestApp::with_config(|c| c.allow_private_metadata_urls = true).await;
    app.create_workspace("acme", ADMIN_EMAIL).await;
    app.clock.advance(wall_clock() - T0);
    let ws = app::server::workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    domains::trust(&app.state.db, app.state.now(), &operator(), ws.id, "acme.test").await.expect("claim");
    app
}

async fn cap(app: &TestApp, slug: &str) -> app::server::permissions::AdminCap {
    let ws = app::server::workspaces::by_slug(&app.state.db, slug).await.expect("ws");
    operator().admin_of(ws.id)
}

/// Adds a connection of `shape` to `slug` (switched on unless `on` is false).
async fn connect(app: &TestApp, slug: &str, shape: &str, f: impl FnOnce(&mut OidcConnectionForm), on: bool) -> String {
    let mut fm = form(&format!("{shape} IdP"), &issuers()[shape]);
    f(&mut fm);
    let cap = cap(app, slug).await;
    let p = connections::create(&app.state.db, &app.state.config, app.state.now(), &cap, &fm).await.expect("create connection");
    if on {
        methods::change(&app.state.db, app.state.now(), &cap, &app.state.config, &[app::model::oidc_method_key(p.public_id())], &[]).await.expect("enable");
    }
    p.public_id().to_string()
}

/// Starts at our login (with `cookie`, for a test), goes through the IdP as `login`;
/// returns the callback (path and query) and our browser cookie.
async fn to_callback(app: &TestApp, start: &str, cookie: Option<&str>, login: &str) -> (String, String) {
    let r = app.get(start, cookie).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "start: {}", r.body);
    let ours = r.set_cookie("gatehouse_oidc_connection_browser").expect("browser cookie");
    (through_idp(r.location().expect("to the IdP"), login).await, ours)
}

async fn sign_in(app: &TestApp, id: &str, login: &str) -> Reply {
    let (cb, ours) = to_callback(app, &format!("/oidc/{id}/login?next=/w/acme"), None, login).await;
    app.get(&cb, Some(&ours)).await
}

/// The newest activity row of connection `id`.
async fn last_activity(app: &TestApp, id: &str) -> saml_activity::Model {
    let p = connections::by_public_id(&app.state.db, id).await.expect("connection").id();
    saml_activity::Entity::find()
        .filter(saml_activity::Column::ProviderId.eq(p))
        .order_by_desc(saml_activity::Column::Id)
        .one(&app.state.db)
        .await
        .expect("db")
        .expect("an activity row")
}

#[tokio::test]
async fn every_shape_signs_in_creates_in_the_claimed_domain_and_keeps_the_link() {
    let app = app().await;
    let admin = app.admin_cookie().await;
    for (n, shape) in SHAPES.into_iter().enumerate() {
        // One connection at a time asserts every claimed domain by default: each shape
        // gets its own workspace.
        let slug = format!("w{n}");
        app.create_workspace(&slug, ADMIN_EMAIL).await;
        let ws = app::server::workspaces::by_slug(&app.state.db, &slug).await.expect("ws");
        domains::trust(&app.state.db, app.state.now(), &operator(), ws.id, &format!("{slug}.test")).await.expect("claim");
        let id = connect(&app, &slug, shape, |_| {}, true).await;
        let email = format!("carol@{slug}.test");
        let (cb, ours) = to_callback(&app, &format!("/oidc/{id}/login?next=/w/{slug}/settings/members"), None, &email).await;
        assert!(cb.starts_with(&format!("/oidc/{id}/callback?")), "{shape}: {cb}");
        let r = app.get(&cb, Some(&ours)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{shape}: {}", r.body);
        assert_eq!(r.location(), Some(format!("/w/{slug}/settings/members").as_str()), "{shape}");
        let me = app.call::<app::api::auth::Me>(&[("slug", &slug)], Some(&r.cookie().expect("session"))).await;
        assert!(me.body.contains(&email), "{shape}: {}", me.body);
        // The IdP's names became the member's.
        assert!(me.body.contains("Carol Tester"), "{shape}: {}", me.body);
        let links = external_identity::Entity::find().filter(external_identity::Column::ProviderKey.eq(id.clone())).all(&app.state.db).await.expect("db");
        assert_eq!(links.len(), 1, "{shape}: one link to the IdP's subject");
        assert_eq!(links[0].provider_kind, "oidc");
        assert_eq!(links[0].workspace_id, ws.id);
        // Again: signed in by the link, no second account.
        let (cb, ours) = to_callback(&app, &format!("/oidc/{id}/login"), None, &email).await;
        let r = app.get(&cb, Some(&ours)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{shape} again: {}", r.body);
        assert_eq!(audit_actions(&app.state.db, "oidc.").await.iter().filter(|a| *a == "oidc.jit_create").count(), n + 1, "{shape}");
    }
    // The sign-in page offers the connection; the admin's list shows it as OpenID Connect.
    let page = app.get("/w/w1/login", None).await;
    assert!(page.body.contains("Sign in with okta IdP") && page.body.contains("/oidc/"), "{}", page.body);
    let _ = admin;
}

#[tokio::test]
async fn refusals_an_unverified_email_a_wrong_issuer_an_unasserted_domain_and_another_connections_answer() {
    let app = app().await;
    let okta = connect(&app, "acme", "okta", |_| {}, true).await;
    // The IdP says the email isn't verified: nobody is matched or created.
    let r = sign_in(&app, &okta, "dave@acme.test;email_verified=false").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("didn't confirm"), "{}", r.body);
    assert_eq!(last_activity(&app, &okta).await.reason, "email_verified");
    // An answer naming another issuer (RFC 9207's iss) is refused.
    let (cb, ours) = to_callback(&app, &format!("/oidc/{okta}/login"), None, "dave@acme.test").await;
    let forged = if cb.contains("iss=") {
        cb.split('&').map(|kv| if kv.starts_with("iss=") { "iss=https%3A%2F%2Fevil.test".to_string() } else { kv.to_string() }).collect::<Vec<_>>().join("&")
    } else {
        format!("{cb}&iss=https%3A%2F%2Fevil.test")
    };
    let r = app.get(&forged, Some(&ours)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(last_activity(&app, &okta).await.reason, "issuer");
    // Nor is one without iss, from an issuer that says it always sends it.
    let (cb, ours) = to_callback(&app, &format!("/oidc/{okta}/login"), None, "dave@acme.test").await;
    assert!(cb.contains("iss="), "oidc-provider names itself: {cb}");
    let stripped = cb.split('&').filter(|kv| !kv.starts_with("iss=")).collect::<Vec<_>>().join("&");
    let r = app.get(&stripped, Some(&ours)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let row = last_activity(&app, &okta).await;
    assert_eq!(row.reason, "issuer");
    assert!(row.details.contains("RFC 9207"), "{}", row.details);
    // A second connection asserts no domain by default: it can't create or match acme.test.
    let keycloak = connect(&app, "acme", "keycloak", |_| {}, true).await;
    let r = sign_in(&app, &keycloak, "erin@acme.test").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("may not assert"), "{}", r.body);
    // The first keeps asserting what it did (acme.test): erin is created through it.
    assert_eq!(sign_in(&app, &okta, "erin@acme.test").await.status, StatusCode::SEE_OTHER);
    // Counted on the Overview under its protocol.
    let admin = app.admin_cookie().await;
    let overview = app.call::<app::api::overview::LoadOverview>(&[("slug", "acme")], Some(&admin)).await;
    assert!(overview.body.contains("OpenID Connect"), "{}", overview.body);
    // Another workspace's connection: its answer, brought to ours, names no sign-in of ours.
    app.create_workspace("globex", "root@globex.test").await;
    let other = connect(&app, "globex", "generic", |_| {}, true).await;
    let (cb, ours) = to_callback(&app, &format!("/oidc/{other}/login"), None, "erin@acme.test").await;
    let moved = cb.replace(&format!("/oidc/{other}/"), &format!("/oidc/{okta}/"));
    let r = app.get(&moved, Some(&ours)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(last_activity(&app, &okta).await.reason, "state");
    // Nor does an answer without our browser cookie (login CSRF).
    let (cb, _) = to_callback(&app, &format!("/oidc/{okta}/login"), None, "erin@acme.test").await;
    let r = app.get(&cb, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // A SAML provider's id is no OIDC connection, and the reverse.
    assert_eq!(app.get(&format!("/saml/{okta}/metadata"), None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn test_sign_in_reports_every_check_whatever_fails() {
    let app = app().await;
    let admin = app.admin_cookie().await;
    // Off, and with a wrong secret: the token endpoint refuses the code.
    let id = connect(&app, "acme", "auth0", |f| f.client_secret = "not-the-secret".into(), false).await;
    let start = format!("/oidc/{id}/login?test=1");
    // Only an admin of the workspace may test.
    assert_eq!(app.get(&start, None).await.status, StatusCode::NOT_FOUND);
    let (cb, ours) = to_callback(&app, &start, Some(&admin), "frank@acme.test").await;
    let r = app.get(&cb, Some(&ours)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let to = r.location().expect("to the page").to_string();
    assert!(to.starts_with(&format!("/w/acme/settings/authentication/oidc/{id}?test=")), "{to}");
    let page = app.get(&to, Some(&admin)).await;
    assert!(page.body.contains("Test failed") && page.body.contains("check the client ID and secret"), "{}", page.body);
    assert!(page.body.contains("invalid_client"), "{}", page.body);
    // Fixed, the test passes, lists each check and says what a real sign-in would do,
    // while signing nobody in.
    let mut f = form("auth0 IdP", &issuers()["auth0"]);
    f.client_secret = CLIENT_SECRET.into();
    let saved = app.call::<SaveOidcConnection>(&to_args(&f, &id), Some(&admin)).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let (cb, ours) = to_callback(&app, &start, Some(&admin), "frank@acme.test").await;
    let r = app.get(&cb, Some(&ours)).await;
    assert!(r.cookie().is_none(), "a test signs nobody in");
    let page = app.get(r.location().expect("page"), Some(&admin)).await;
    assert!(page.body.contains("Test passed"), "{}", page.body);
    for check in ["state", "discovery", "token", "signature", "issuer", "audience", "nonce", "email_verified", "identity"] {
        assert!(page.body.contains(check), "{check}: {}", page.body);
    }
    assert!(page.body.contains("would create this member"), "{}", page.body);
    assert!(app::server::testing::account_by_email(&app.state.db, 1, "frank@acme.test").await.expect("db").is_none());
    // The IdP's own refusal (the user cancels) is a diagnosis too.
    let r = app.get(&start, Some(&admin)).await;
    let ours = r.set_cookie("gatehouse_oidc_connection_browser").expect("cookie");
    let state = r.location().and_then(|l| l.split("state=").nth(1)).and_then(|s| s.split('&').next()).expect("state").to_string();
    let r = app.get(&format!("/oidc/{id}/callback?error=access_denied&error_description=User%20cancelled&state={state}"), Some(&ours)).await;
    let page = app.get(r.location().expect("page"), Some(&admin)).await;
    assert!(page.body.contains("error=access_denied: User cancelled"), "{}", page.body);
}

fn to_args<'a>(f: &'a OidcConnectionForm, id: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("slug", "acme"),
        ("id", id),
        ("name", &f.name),
        ("issuer", &f.issuer),
        ("client_id", &f.client_id),
        ("client_secret", &f.client_secret),
        ("scopes", &f.scopes),
        ("claim_email", &f.claim_email),
        ("claim_given_name", &f.claim_given_name),
        ("claim_family_name", &f.claim_family_name),
        ("require_email_verified", if f.require_email_verified { "on" } else { "false" }),
    ]
}

#[tokio::test]
async fn a_test_whose_issuer_is_down_is_diagnosed_and_bad_issuers_are_refused_at_save() {
    let app = app().await;
    let admin = app.admin_cookie().await;
    // An IdP of its own, which then stops: the test says so on the page.
    let (mut idp, issuer) = spawn("generic");
    let id = connect(&app, "acme", "generic", |f| f.issuer = issuer.clone(), false).await;
    idp.kill().expect("stop the IdP");
    idp.wait().expect("stopped");
    let r = app.get(&format!("/oidc/{id}/login?test=1"), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = app.get(r.location().expect("page"), Some(&admin)).await;
    assert!(page.body.contains("Test failed") && page.body.contains("discovery"), "{}", page.body);
    // Saving: an unreachable issuer, a private address without the operator's leave, a
    // discovery document naming another issuer, and an issuer at Gatehouse itself.
    let mut f = form("x", &issuer);
    let r = app.call::<SaveOidcConnection>(&to_args(&f, "new"), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("could not be fetched"), "{}", r.body);
    let strict = TestApp::new().await;
    strict.create_workspace("acme", ADMIN_EMAIL).await;
    let err = connections::create(&strict.state.db, &strict.state.config, strict.state.now(), &cap(&strict, "acme").await, &form("x", &issuers()["okta"]))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("private or local address"), "{err}");
    f.issuer = format!("{}/oauth2/other", issuers()["generic"]);
    let r = app.call::<SaveOidcConnection>(&to_args(&f, "new"), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    f.issuer = ORIGIN.into();
    let r = app.call::<SaveOidcConnection>(&to_args(&f, "new"), Some(&admin)).await;
    assert!(r.body.contains("Gatehouse itself"), "{}", r.body);
}

#[tokio::test]
async fn group_claims_keep_mapped_groups_in_sync_and_never_touch_the_others() {
    let app = app().await;
    let admin = app.admin_cookie().await;
    let id = connect(&app, "acme", "okta", |f| f.scopes = "groups".into(), true).await;
    let (warehouse, _) = app.granted(&admin, "Warehouse", "Analysts", ADMIN_EMAIL, "view").await;
    for name in ["Leads", "Finance"] {
        let r = app.call::<app::api::access::ChangeGroup>(&[("slug", "acme"), ("action", "create"), ("name", name)], Some(&admin)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let gid = |name: &'static str| {
        let db = app.state.db.clone();
        async move { group::Entity::find().filter(group::Column::Name.eq(name)).one(&db).await.expect("db").expect("group").id }
    };
    let ok = |r: Reply| assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    ok(app.call::<SaveSignInGroups>(&[("slug", "acme"), ("id", &id), ("groups_attribute", "groups"), ("admin_groups", "")], Some(&admin)).await);
    for (idp, g) in [("Analysts", gid("Analysts").await), ("Leads", gid("Leads").await)] {
        ok(app.call::<MapSignInGroup>(&[("slug", "acme"), ("id", &id), ("idp_group", idp), ("group_id", &g.to_string())], Some(&admin)).await);
    }
    let r = sign_in(&app, &id, "gina@acme.test;groups=analysts|Everyone").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let gina = r.cookie().expect("session");
    assert_eq!(app.get(&format!("/w/acme/r/{warehouse}"), Some(&gina)).await.status, StatusCode::OK, "Analysts' grant reaches her");
    // Finance is the admins' (by hand); the IdP moves her from analysts to leads.
    ok(app
        .call::<app::api::access::ChangeGroup>(
            &[("slug", "acme"), ("action", "add"), ("id", &gid("Finance").await.to_string()), ("email", "gina@acme.test")],
            Some(&admin),
        )
        .await);
    assert_eq!(sign_in(&app, &id, "gina@acme.test;groups=leads").await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get(&format!("/w/acme/r/{warehouse}"), Some(&gina)).await.status, StatusCode::NOT_FOUND, "access follows on the next request");
    let ws = app::server::workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    let a = app::server::testing::account_by_email(&app.state.db, ws.id, "gina@acme.test").await.expect("db").expect("gina");
    let m = app::server::testing::membership_of(&app.state.db, ws.id, a.id).await.expect("db").expect("member");
    let mut names = Vec::new();
    for gm in app::server::entities::group_member::Entity::find()
        .filter(app::server::entities::group_member::Column::MembershipId.eq(m.id))
        .all(&app.state.db)
        .await
        .expect("db")
    {
        names.push(group::Entity::find_by_id(gm.group_id).one(&app.state.db).await.expect("db").expect("g").name);
    }
    names.sort();
    assert_eq!(names, ["Everyone", "Finance", "Leads"], "Finance untouched, Everyone kept");
    assert!(audit_actions(&app.state.db, "saml.groups").await.iter().any(|a| a == "saml.groups.sync"));
}

#[tokio::test]
async fn email_first_routing_sends_each_domain_to_the_connection_that_asserts_it() {
    let app = app().await;
    let ws = app::server::workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    domains::trust(&app.state.db, app.state.now(), &operator(), ws.id, "contractor.test").await.expect("claim");
    let okta = connect(&app, "acme", "okta", |_| {}, true).await;
    let keycloak = connect(&app, "acme", "keycloak", |_| {}, true).await;
    // Okta keeps every domain it asserted as the only provider; Keycloak is given the
    // contractor's domain only (then Okta is narrowed to acme.test).
    let cap = cap(&app, "acme").await;
    app::server::saml::set_asserted_domains(&app.state.db, app.state.now(), &cap, &okta, Some(vec!["acme.test".into()])).await.expect("okta's");
    app::server::saml::set_asserted_domains(&app.state.db, app.state.now(), &cap, &keycloak, Some(vec!["contractor.test".into()])).await.expect("keycloak's");
    for (email, id) in [("ann%40acme.test", &okta), ("Bo%40Contractor.test", &keycloak)] {
        let r = app.get(&format!("/sso?workspace=acme&email={email}"), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains(&format!("/oidc/{id}/login?next=")), "{email}: {}", r.body);
    }
    // The contractor signs in through Keycloak and is created; Okta can't create them.
    assert_eq!(sign_in(&app, &keycloak, "bo@contractor.test").await.status, StatusCode::SEE_OTHER);
    assert_eq!(sign_in(&app, &okta, "cy@contractor.test").await.status, StatusCode::FORBIDDEN);
    let r = app.get("/sso?workspace=acme&email=someone%40elsewhere.test", None).await;
    assert_eq!(r.location(), Some("/w/acme/login?sso=sso_no_provider"));
}

#[tokio::test]
async fn a_new_issuer_or_client_needs_the_secret_again_and_drops_the_links() {
    let app = app().await;
    let admin = app.admin_cookie().await;
    let id = connect(&app, "acme", "okta", |_| {}, true).await;
    assert_eq!(sign_in(&app, &id, "hal@acme.test").await.status, StatusCode::SEE_OTHER);
    let links =
        || async { external_identity::Entity::find().filter(external_identity::Column::ProviderKey.eq(id.clone())).count(&app.state.db).await.expect("db") };
    assert_eq!(links().await, 1);
    // The same issuer and client: the stored secret is kept (and still works).
    let mut f = form("Renamed", &issuers()["okta"]);
    f.client_secret = String::new();
    let r = app.call::<SaveOidcConnection>(&to_args(&f, &id), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(sign_in(&app, &id, "hal@acme.test").await.status, StatusCode::SEE_OTHER);
    // Another issuer without the secret: refused, so the secret never reaches it.
    f.issuer = issuers()["keycloak"].clone();
    let r = app.call::<SaveOidcConnection>(&to_args(&f, &id), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("Enter the client secret again"), "{}", r.body);
    f.client_id = "another-app".into();
    f.issuer = issuers()["okta"].clone();
    assert_eq!(app.call::<SaveOidcConnection>(&to_args(&f, &id), Some(&admin)).await.status, StatusCode::BAD_REQUEST, "a new client id too");
    // With it, saved; the links made under the old issuer are gone, and hal is matched
    // again by email in the asserted domain.
    f.client_id = CLIENT_ID.into();
    f.issuer = issuers()["keycloak"].clone();
    f.client_secret = CLIENT_SECRET.into();
    assert_eq!(app.call::<SaveOidcConnection>(&to_args(&f, &id), Some(&admin)).await.status, StatusCode::OK);
    assert_eq!(links().await, 0);
    assert!(audit_actions(&app.state.db, "oidc.connection").await.iter().any(|a| a == "oidc.connection.update"));
    let r = sign_in(&app, &id, "hal@acme.test").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(links().await, 1);
}

#[tokio::test]
async fn a_token_endpoint_answer_past_the_limit_is_refused_unread() {
    let app = app().await;
    let admin = app.admin_cookie().await;
    // An IdP whose ID tokens carry 300 KB of claims.
    let (mut idp, issuer) =
        crate::oidc::spawn_idp("generic", CLIENT_ID, CLIENT_SECRET, &["--redirect-uri-prefix", &format!("{ORIGIN}/oidc/"), "--pad-claims", "300000"]);
    let id = connect(&app, "acme", "generic", |f| f.issuer = issuer.clone(), true).await;
    let (cb, ours) = to_callback(&app, &format!("/oidc/{id}/login?test=1"), Some(&admin), "ivy@acme.test").await;
    let r = app.get(&cb, Some(&ours)).await;
    let page = app.get(r.location().expect("the test's result"), Some(&admin)).await;
    assert!(page.body.contains("larger than 128 KiB"), "{}", page.body);
    // A real sign-in is refused too, and nobody is created.
    let r = sign_in(&app, &id, "ivy@acme.test").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let ws = app::server::workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    assert!(app::server::testing::account_by_email(&app.state.db, ws.id, "ivy@acme.test").await.expect("db").is_none());
    idp.kill().expect("stop the IdP");
}

#[tokio::test]
async fn the_page_names_the_admins_a_new_admin_groups_setting_would_demote() {
    let app = app().await;
    let admin = app.admin_cookie().await;
    let id = connect(&app, "acme", "okta", |_| {}, true).await;
    let save = |admins: &'static str| {
        let (app, admin, id) = (&app, admin.clone(), id.clone());
        async move {
            let r =
                app.call::<SaveSignInGroups>(&[("slug", "acme"), ("id", &id), ("groups_attribute", "groups"), ("admin_groups", admins)], Some(&admin)).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    };
    save("gh-admins").await;
    // Kim becomes an admin through the IdP; Lee, listed in no admins' group, a member.
    assert_eq!(sign_in(&app, &id, "kim@acme.test;groups=gh-admins").await.status, StatusCode::SEE_OTHER);
    assert_eq!(sign_in(&app, &id, "lee@acme.test;groups=Everyone").await.status, StatusCode::SEE_OTHER);
    let page = format!("/w/acme/settings/authentication/oidc/{id}");
    let before = app.get(&page, Some(&admin)).await;
    assert!(before.body.contains("data-testid=\"sign-in-groups\"") && !before.body.contains("would-demote"), "{}", before.body);
    // Renamed in the setting, not yet at the IdP: Kim would be demoted; the first admin,
    // not linked to this connection, is not the connection's to demote.
    save("gh-owners").await;
    let after = app.get(&page, Some(&admin)).await;
    let warning = after.body.split("data-testid=\"would-demote\"").nth(1).expect("a warning").split("</p>").next().unwrap_or_default().to_string();
    assert!(warning.contains("kim@acme.test") && !warning.contains("lee@acme.test") && !warning.contains(ADMIN_EMAIL), "{warning}");
    // And it is what happens.
    assert_eq!(sign_in(&app, &id, "kim@acme.test;groups=gh-admins").await.status, StatusCode::SEE_OTHER);
    let ws = app::server::workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    let kim = app::server::testing::account_by_email(&app.state.db, ws.id, "kim@acme.test").await.expect("db").expect("kim");
    let m = app::server::testing::membership_of(&app.state.db, ws.id, kim.id).await.expect("db").expect("member");
    assert_eq!(m.role.as_str(), "member");
    assert!(!app.get(&page, Some(&admin)).await.body.contains("would-demote"), "no admin left to warn about");
}

#[tokio::test]
async fn an_idp_that_never_sends_email_verified_signs_in_only_with_the_switch_off() {
    let app = app().await;
    // Shaped like Entra ID: an email claim, no email_verified.
    let (mut idp, issuer) = spawn("microsoft");
    let id = connect(&app, "acme", "generic", |f| f.issuer = issuer.clone(), true).await;
    let r = sign_in(&app, &id, "jo@acme.test").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let row = last_activity(&app, &id).await;
    assert_eq!(row.reason, "email_verified");
    assert!(row.details.contains("no email_verified claim"), "{}", row.details);
    let admin = app.admin_cookie().await;
    let mut f = form("Entra", &issuer);
    f.require_email_verified = false;
    let r = app.call::<SaveOidcConnection>(&to_args(&f, &id), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = sign_in(&app, &id, "jo@acme.test").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // An explicit false is refused whatever the switch says.
    let (mut okta, okta_issuer) = spawn("okta");
    let mut f = form("Okta", &okta_issuer);
    f.require_email_verified = false;
    let other = connect(&app, "acme", "okta", |x| *x = f, true).await;
    let cap = cap(&app, "acme").await;
    app::server::saml::set_asserted_domains(&app.state.db, app.state.now(), &cap, &other, Some(vec!["acme.test".into()])).await.expect("domains");
    let r = sign_in(&app, &other, "kay@acme.test;email_verified=false").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(last_activity(&app, &other).await.reason, "email_verified");
    idp.kill().expect("stop");
    okta.kill().expect("stop");
}
