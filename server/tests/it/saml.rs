//! SAML against a real IdP: pysaml2 (scripts/interop/saml_idp.py), started once for this
//! test binary, and a corpus of hostile responses (scripts/interop/saml_corpus.py).
use app::server::entities::{account, saml_activity, saml_request};
use app::server::{domains, methods, saml};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::common::{Reply, TestApp, T0};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> PathBuf {
    repo().join(".venv/bin/python")
}

pub struct Idp {
    pub base: String,
    pub state_dir: PathBuf,
}

/// The IdP for this test binary: one process, many SPs (each test registers its own).
pub fn idp() -> &'static Idp {
    static IDP: OnceLock<Idp> = OnceLock::new();
    IDP.get_or_init(|| {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let state_dir = std::env::temp_dir().join(format!("gh-idp-{}-{port}", std::process::id()));
        let mut child = Command::new(python())
            .arg(repo().join("scripts/interop/saml_idp.py"))
            .args(["--port", &port.to_string(), "--state-dir"])
            .arg(&state_dir)
            .arg("--exit-with-parent")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the pysaml2 IdP (run `scripts/setup.sh test` first)");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).expect("read READY");
        assert!(line.starts_with("READY "), "IdP did not start: {line}");
        // The child lives as long as this process (--exit-with-parent).
        std::mem::forget(child);
        Idp { base: line.trim().trim_start_matches("READY ").to_string(), state_dir }
    })
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

async fn http_get(url: &str) -> (u16, String) {
    let r = client().get(url).send().await.expect("GET to IdP");
    (r.status().as_u16(), r.text().await.expect("body"))
}

pub fn now() -> i64 {
    crate::common::wall_clock()
}

pub struct Sp {
    pub app: TestApp,
    pub id: String,
}

#[derive(Default)]
pub struct Options {
    pub allow_idp_initiated: bool,
    pub both_certs: bool,
    pub require_encryption: bool,
    pub sp_knobs: &'static str,
}

/// Workspace `acme` (claims acme.test) with a provider made from the IdP's metadata,
/// switched on, and our SP registered at the IdP.
pub async fn setup(o: Options) -> Sp {
    let app = TestApp::with_workspace().await;
    app.clock.advance(now() - T0);
    add_provider(app, "acme", o).await
}

pub async fn add_provider(app: TestApp, slug: &str, o: Options) -> Sp {
    let t = app.state.now();
    let ws = app::server::workspaces::by_slug(&app.state.db, slug).await.expect("ws");
    let cap = crate::common::operator().admin_of(ws.id);
    // The DNS proof itself is tested in `domains`; here the operator vouches for it.
    domains::trust(&app.state.db, t, &crate::common::operator(), ws.id, &format!("{slug}.test")).await.expect("claim domain");
    let md = idp_metadata(o.both_certs).await;
    let input = saml::ProviderInput {
        form: app::model::SamlProviderForm {
            name: "Test IdP".into(),
            allow_idp_initiated: o.allow_idp_initiated,
            require_encryption: o.require_encryption,
            ..Default::default()
        },
        metadata_xml: Some(md),
        ..Default::default()
    };
    let p = saml::create(&app.state.db, &app.state.config, t, &cap, &input).await.expect("create provider");
    methods::change(&app.state.db, t, &cap, &app.state.config, &[saml::method_key(p.public_id())], &[]).await.expect("enable");
    register(&app, p.public_id(), o.sp_knobs).await;
    Sp { app, id: p.public_id().to_string() }
}

/// Gives the IdP our SP metadata, as an admin would upload it.
pub async fn register(app: &TestApp, id: &str, knobs: &str) {
    let md = app.get(&format!("/saml/{id}/metadata"), None).await;
    assert_eq!(md.status, StatusCode::OK);
    assert!(md.body.contains("AssertionConsumerService"), "{}", md.body);
    // What the ACS accepts: a signed Response or a signed Assertion (both shapes are
    // posted in `every_signing_shape_and_attribute_format_works`), so assertion
    // signatures are not what it requires.
    assert!(md.body.contains(r#"WantAssertionsSigned="false""#), "{}", md.body);
    let r = client().post(format!("{}/admin/sp?{knobs}", idp().base)).body(md.body).send().await.expect("register");
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap_or_default());
}

/// The IdP's cross-site POST to our ACS, with the browser's cookies (our nonce cookie).
pub async fn post_acs_from(app: &TestApp, id: &str, saml_response: &str, relay: &str, cookie: Option<&str>, peer: Option<std::net::SocketAddr>) -> Reply {
    let body = serde_urlencoded::to_string([("SAMLResponse", saml_response), ("RelayState", relay)]).expect("form");
    let mut req =
        Request::post(format!("/saml/{id}/acs")).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").header(header::ORIGIN, "http://127.0.0.1:1"); // the IdP's page posts cross-site
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let mut req = req.body(Body::from(body)).expect("request");
    if let Some(p) = peer {
        req.extensions_mut().insert(axum::extract::ConnectInfo(p));
    }
    app.send(req).await
}

pub async fn post_acs(app: &TestApp, id: &str, saml_response: &str, relay: &str) -> Reply {
    post_acs_from(app, id, saml_response, relay, None, None).await
}

/// What the IdP answered, and the cookies the browser holds (ours from /login).
pub struct Answer {
    pub resp: String,
    pub relay: String,
    pub cookie: String,
}

impl Answer {
    pub async fn post(&self, app: &TestApp, id: &str) -> Reply {
        let r = post_acs_from(app, id, &self.resp, &self.relay, Some(&self.cookie), None).await;
        if r.status == StatusCode::FORBIDDEN {
            // Refusals some tests don't expect: say why, and keep the response for a replay.
            let last = saml_activity::Entity::find().order_by_desc(saml_activity::Column::Id).one(&app.state.db).await.expect("db");
            let file = std::env::temp_dir().join(format!("gatehouse-refused-{id}-{}.b64", last.as_ref().map(|a| a.id).unwrap_or(0)));
            let _ = std::fs::write(&file, &self.resp);
            eprintln!("ACS refused ({}): {:?}", file.display(), last.map(|a| (a.reason, a.details)));
        }
        r
    }
}

/// Follows our AuthnRequest to the IdP in test mode.
pub async fn idp_answer(app: &TestApp, id: &str, user: &str, knobs: &str, cookie: Option<&str>, path_query: &str) -> Answer {
    let r = app.get(&format!("/saml/{id}/login{path_query}"), cookie).await;
    assert!(r.status.is_redirection(), "login: {} {}", r.status, r.body);
    let loc = r.location().expect("location").to_string();
    assert!(loc.starts_with(&idp().base), "{loc}");
    let nonce = r.set_cookie("gatehouse_saml_browser").expect("browser nonce cookie");
    let (status, body) = http_get(&format!("{loc}&user={user}&format=json&{knobs}")).await;
    assert_eq!(status, 200, "IdP said: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    Answer {
        resp: v["SAMLResponse"].as_str().expect("resp").to_string(),
        relay: v["RelayState"].as_str().unwrap_or("").to_string(),
        cookie: match cookie {
            Some(c) => format!("{c}; {nonce}"),
            None => nonce,
        },
    }
}

pub async fn sign_in(sp: &Sp, user: &str, knobs: &str) -> Reply {
    idp_answer(&sp.app, &sp.id, user, knobs, None, "?next=/w/acme/settings/members").await.post(&sp.app, &sp.id).await
}

async fn last_activity(sp: &Sp) -> Option<saml_activity::Model> {
    let p = saml::by_public_id(&sp.app.state.db, &sp.id).await.expect("provider");
    saml_activity::Entity::find()
        .filter(saml_activity::Column::ProviderId.eq(p.id()))
        .order_by_desc(saml_activity::Column::Id)
        .one(&sp.app.state.db)
        .await
        .expect("db")
}

async fn last_reason(sp: &Sp) -> String {
    last_activity(sp).await.map(|a| a.reason).unwrap_or_default()
}

/// The newest activity row's reason and details, for failure messages.
async fn last_refusal_details(sp: &Sp) -> String {
    last_activity(sp).await.map(|a| format!("{}: {}", a.reason, a.details)).unwrap_or_default()
}

async fn account(sp: &Sp, email: &str) -> Option<account::Model> {
    let ws = app::server::workspaces::by_slug(&sp.app.state.db, "acme").await.expect("acme");
    app::server::testing::account_by_email(&sp.app.state.db, ws.id, email).await.expect("db")
}

#[tokio::test]
async fn sp_initiated_sign_in_creates_a_member_in_a_claimed_domain() {
    let sp = setup(Options::default()).await;
    let admin = sp.app.admin_cookie().await;
    let mut members_page = sp.app.events("acme", "members", Some(&admin)).await.expect("an open Members page");
    let r = sign_in(&sp, "carol.smith@acme.test", "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // The open Members page is told of the new member (it used to hear nothing).
    assert_eq!(members_page.next().await.as_deref(), Some("members"));
    // RelayState: back where the member wanted to go (inside this workspace).
    assert_eq!(r.location(), Some("/w/acme/settings/members"));
    let cookie = r.cookie().expect("session");
    assert_eq!(sp.app.me_status(&cookie).await, StatusCode::OK);
    let a = account(&sp, "carol.smith@acme.test").await.expect("account created");
    assert_eq!((a.given_name.as_str(), a.family_name.as_str(), a.full_name.as_str()), ("Carol", "Smith", "Carol Smith"));
    assert_eq!(last_reason(&sp).await, "ok");

    // Second sign-in: same account (identity is (provider, NameID)), names updated.
    let r = sign_in(&sp, "carol.smith@acme.test", "given=Caroline&family=Smythe").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let b = account(&sp, "carol.smith@acme.test").await.expect("account");
    assert_eq!(b.id, a.id);
    assert_eq!(b.full_name, "Caroline Smythe");
}

#[tokio::test]
async fn every_signing_shape_and_attribute_format_works() {
    let sp = setup(Options::default()).await;
    for (i, (sign, attrs)) in
        [("response", "uri"), ("assertion", "uri"), ("both", "uri"), ("response", "basic"), ("assertion", "basic"), ("both", "basic")].into_iter().enumerate()
    {
        let user = format!("user{i}@acme.test");
        let r = sign_in(&sp, &user, &format!("sign={sign}&attrs={attrs}&nameid=persistent")).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "sign={sign} attrs={attrs}: {}", r.body);
        assert!(account(&sp, &user).await.is_some(), "email read from {attrs} attributes");
    }
    // Unsigned: refused, with the reason recorded for the admin.
    let r = sign_in(&sp, "nosig@acme.test", "sign=none").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(last_reason(&sp).await, "signature");
    assert!(account(&sp, "nosig@acme.test").await.is_none());
}

#[tokio::test]
async fn encrypted_assertions_are_decrypted_with_our_key() {
    let sp = setup(Options { require_encryption: true, ..Default::default() }).await;
    for (i, cipher) in ["aes128-gcm", "aes128-cbc", "aes256-cbc", "aes256-gcm"].into_iter().enumerate() {
        for sign in ["assertion", "response", "both"] {
            let user = format!("enc{i}{sign}@acme.test");
            let r = sign_in(&sp, &user, &format!("encrypt=1&cipher={cipher}&sign={sign}")).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{cipher} sign={sign}: {}", last_refusal_details(&sp).await);
        }
    }
    // This provider requires encryption: a plain assertion is refused.
    let r = sign_in(&sp, "plain@acme.test", "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(last_reason(&sp).await, "encryption");
}

#[tokio::test]
async fn a_second_pinned_certificate_allows_rotation() {
    let both = setup(Options { both_certs: true, ..Default::default() }).await;
    let r = sign_in(&both, "rot@acme.test", "key=2").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let one = setup(Options::default()).await;
    let r = sign_in(&one, "rot@acme.test", "key=2").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a key that isn't pinned is refused");
    assert_eq!(last_reason(&one).await, "signature");
}

async fn idp_initiated(sp: &Sp, user: &str) -> Reply {
    let entity = saml::urls(&sp.app.state.config, &sp.id).entity_id;
    let url =
        format!("{}/idp-initiated?sp={}&user={user}&format=json&relay_state=/w/acme/settings/members", idp().base, app::server::saml::sp::urlencoding(&entity));
    let (status, body) = http_get(&url).await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    post_acs(&sp.app, &sp.id, v["SAMLResponse"].as_str().expect("resp"), v["RelayState"].as_str().unwrap_or("")).await
}

#[tokio::test]
async fn idp_initiated_sign_in_is_off_unless_allowed() {
    let off = setup(Options::default()).await;
    let r = idp_initiated(&off, "dana@acme.test").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("switched off"), "refused for another reason: {}", last_reason(&off).await);
    assert_eq!(last_reason(&off).await, "idp_initiated");

    let on = setup(Options { allow_idp_initiated: true, ..Default::default() }).await;
    let r = idp_initiated(&on, "dana@acme.test").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), Some("/w/acme/settings/members"));
}

#[tokio::test]
async fn a_response_is_accepted_once() {
    let sp = setup(Options { allow_idp_initiated: true, ..Default::default() }).await;
    // SP-initiated: the request is used up by the first answer.
    let a = idp_answer(&sp.app, &sp.id, "erin@acme.test", "", None, "").await;
    assert_eq!(a.post(&sp.app, &sp.id).await.status, StatusCode::SEE_OTHER);
    assert_eq!(a.post(&sp.app, &sp.id).await.status, StatusCode::FORBIDDEN);
    assert_eq!(last_reason(&sp).await, "in_response_to");
    // Unsolicited: the replay cache (assertion ID) refuses the second post.
    let entity = saml::urls(&sp.app.state.config, &sp.id).entity_id;
    let (_, body) = http_get(&format!("{}/idp-initiated?sp={}&user=erin@acme.test&format=json", idp().base, app::server::saml::sp::urlencoding(&entity))).await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let resp = v["SAMLResponse"].as_str().expect("resp");
    assert_eq!(post_acs(&sp.app, &sp.id, resp, "").await.status, StatusCode::SEE_OTHER);
    assert_eq!(post_acs(&sp.app, &sp.id, resp, "").await.status, StatusCode::FORBIDDEN);
    assert_eq!(last_reason(&sp).await, "replay");
}

#[tokio::test]
async fn outside_the_claimed_domains_nobody_is_created_or_linked() {
    let sp = setup(Options::default()).await;
    let r = sign_in(&sp, "eve@outside.test", "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("not in one of this workspace") && r.body.contains("eve@outside.test"), "{}", r.body);
    assert!(account(&sp, "eve@outside.test").await.is_none());
    assert_eq!(last_reason(&sp).await, "identity");
}

#[tokio::test]
async fn existing_members_are_linked_and_deactivated_ones_refused() {
    let sp = setup(Options::default()).await;
    let admin = sp.app.admin_cookie().await;
    sp.app.add_member(&admin, "bob@acme.test", "member").await;
    let before = account(&sp, "bob@acme.test").await.expect("bob");
    let r = sign_in(&sp, "bob@acme.test", "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(account(&sp, "bob@acme.test").await.expect("bob").id, before.id, "linked, not duplicated");

    let ws = app::server::workspaces::by_slug(&sp.app.state.db, "acme").await.expect("ws");
    let m = app::server::testing::membership_of(&sp.app.state.db, ws.id, before.id).await.expect("db").expect("m");
    let cap = crate::common::operator().admin_of(ws.id);
    app::server::members::deactivate(&sp.app.state.db, &app::server::events::Events::silent(), sp.app.state.now(), &cap, m.id).await.expect("deactivate");
    let r = sign_in(&sp, "bob@acme.test", "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("deactivated"), "{}", r.body);
    assert!(r.cookie().is_none());
}

#[tokio::test]
async fn another_workspaces_provider_signs_nobody_into_this_one() {
    let a = setup(Options::default()).await;
    a.app.create_workspace("beta", "bo@beta.test").await;
    let b = add_provider(a.app, "beta", Options::default()).await;
    let a_id = saml::list(&b.app.state.db, app::server::workspaces::by_slug(&b.app.state.db, "acme").await.expect("ws").id).await.expect("list")[0]
        .public_id()
        .to_string();
    // Same IdP, same user, signed by the same key: an answer meant for beta's provider,
    // posted to acme's ACS, is refused (audience/destination/request binding).
    let ans = idp_answer(&b.app, &b.id, "alice@acme.test", "", None, "").await;
    let r = ans.post(&b.app, &a_id).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(account(&b, "alice@acme.test").await.is_none());
    // And beta's own provider won't create alice@acme.test: acme.test isn't beta's domain.
    let r = ans.post(&b.app, &b.id).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(account(&b, "alice@acme.test").await.is_none());
}

#[tokio::test]
async fn test_sign_in_diagnoses_without_a_session() {
    let sp = setup(Options::default()).await;
    let admin = sp.app.admin_cookie().await;
    // Only admins may start a test.
    assert_eq!(sp.app.get(&format!("/saml/{}/login?test=1", sp.id), None).await.status, StatusCode::NOT_FOUND);
    // Switch the provider off: tests still work (check before members depend on it).
    let ws = app::server::workspaces::by_slug(&sp.app.state.db, "acme").await.expect("ws");
    let cap = crate::common::operator().admin_of(ws.id);
    methods::change(&sp.app.state.db, sp.app.state.now(), &cap, &sp.app.state.config, &[], &[saml::method_key(&sp.id)]).await.expect("off");
    let r = idp_answer(&sp.app, &sp.id, "tess@acme.test", "attrs=basic", Some(&admin), "?test=1").await.post(&sp.app, &sp.id).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.cookie().is_none(), "a test never creates a session");
    let loc = r.location().expect("loc").to_string();
    assert!(loc.starts_with(&format!("/w/acme/settings/authentication/saml/{}?test=", sp.id)), "{loc}");
    assert!(account(&sp, "tess@acme.test").await.is_none(), "a test never creates an account");
    // The provider page shows each check and the attributes received.
    let page = sp.app.get(&loc, Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    for needle in ["Test passed", "signature", "audience", "mail", "tess@acme.test", "would create this member"] {
        assert!(page.body.contains(needle), "missing {needle}");
    }
    // A sign-in started before an admin switched the provider off is refused at the ACS
    // (the request below is turned into a real one to stand for that).
    let ans = idp_answer(&sp.app, &sp.id, "tess@acme.test", "", Some(&admin), "?test=1").await;
    saml_request::Entity::update_many()
        .col_expr(saml_request::Column::TestMode, sea_orm::sea_query::Expr::value(false))
        .exec(&sp.app.state.db)
        .await
        .expect("db");
    let r = ans.post(&sp.app, &sp.id).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(last_reason(&sp).await, "disabled");
}

/// The most common set-up mistake: the IdP signs with a certificate the provider doesn't
/// pin. The admin's Test sign-in still lands on the provider's page with every check (the
/// signature one failed), not on the end-user refusal; the same answer outside a test, or
/// in another browser, is an ordinary refusal.
#[tokio::test]
async fn a_test_sign_in_diagnoses_a_signature_from_an_unpinned_certificate() {
    let sp = setup(Options::default()).await;
    let admin = sp.app.admin_cookie().await;
    let ans = idp_answer(&sp.app, &sp.id, "tess@acme.test", "key=2", Some(&admin), "?test=1").await;
    let elsewhere = post_acs(&sp.app, &sp.id, &ans.resp, &ans.relay).await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN, "another browser gets no diagnosis: {}", elsewhere.body);
    let r = ans.post(&sp.app, &sp.id).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let loc = r.location().expect("loc").to_string();
    assert!(loc.starts_with(&format!("/w/acme/settings/authentication/saml/{}?test=", sp.id)), "{loc}");
    let page = sp.app.get(&loc, Some(&admin)).await;
    assert!(page.body.contains("Test failed") && page.body.contains("pinned certificate"), "{}", page.body);
    // The test request is used up: posting again is an ordinary refusal.
    assert_eq!(ans.post(&sp.app, &sp.id).await.status, StatusCode::FORBIDDEN);
    // A real sign-in with the same mistake is refused as before.
    let r = sign_in(&sp, "tess@acme.test", "key=2").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(last_reason(&sp).await, "signature");
}

const CORPUS_NONCE: &str = "corpus-nonce-corpus-nonce-corpus-nonce-0001";

#[tokio::test]
async fn hostile_responses_are_refused_and_none_panics() {
    let sp = setup(Options::default()).await;
    let u = saml::urls(&sp.app.state.config, &sp.id);
    let t = sp.app.state.now();
    let request_id = "_corpus0000000000000000000000000001";
    let corpus_cookie = format!("gatehouse_saml_browser={CORPUS_NONCE}");
    let out = Command::new(python())
        .arg(repo().join("scripts/interop/saml_corpus.py"))
        .arg("--idp-key")
        .arg(idp().state_dir.join("key1.pem"))
        .arg("--idp-cert")
        .arg(idp().state_dir.join("cert1.pem"))
        .args(["--idp-entity-id", &format!("{}/metadata", idp().base), "--sp-entity-id", &u.entity_id, "--acs-url", &u.acs])
        .args(["--request-id", request_id, "--now", &t.to_string(), "--email", "alice@acme.test"])
        .output()
        .expect("run corpus");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let corpus: serde_json::Value = serde_json::from_slice(&out.stdout).expect("corpus json");
    let p = saml::by_public_id(&sp.app.state.db, &sp.id).await.expect("provider");
    let fresh_request = || async {
        saml_request::Entity::delete_many().filter(saml_request::Column::RequestId.eq(request_id)).exec(&sp.app.state.db).await.expect("db");
        saml_request::ActiveModel {
            request_id: Set(request_id.into()),
            provider_id: Set(p.id()),
            relay_state: Set(String::new()),
            test_mode: Set(false),
            expires_at: Set(t + 600),
            initiated_by: Set(None),
            browser_hash: Set(app::server::crypto::Token::from_presented(CORPUS_NONCE).hash()),
        }
        .insert(&sp.app.state.db)
        .await
        .expect("request");
    };
    let cases = corpus["cases"].as_array().expect("cases");
    assert!(cases.len() >= 30, "the corpus shrank: {}", cases.len());
    let mut refused = Vec::new();
    for c in cases {
        let name = c["name"].as_str().expect("name");
        fresh_request().await;
        let r = post_acs_from(&sp.app, &sp.id, c["saml_response"].as_str().expect("resp"), "", Some(&corpus_cookie), None).await;
        assert!(r.status.is_client_error(), "{name} was not refused: {} {}", r.status, r.body);
        assert!(r.cookie().is_none(), "{name} made a session");
        refused.push(format!("{name}: {}", last_reason(&sp).await));
    }
    for n in [
        "xsw1",
        "xsw2",
        "xsw3",
        "xsw4",
        "xsw5",
        "xsw6",
        "xsw7",
        "xsw8",
        "assertion-in-extensions",
        "two-assertions",
        "nameid-comment",
        "signature-removed",
        "attacker-key-in-keyinfo",
        "rsa-sha1",
        "wrong-audience",
        "wrong-destination",
        "wrong-recipient",
        "wrong-issuer",
        "wrong-in-response-to",
        "expired",
        "not-yet-valid",
        "doctype-entities",
    ] {
        assert!(refused.iter().any(|r| r.starts_with(&format!("{n}:"))), "case {n} missing from the corpus");
    }
    eprintln!("refusals:\n  {}", refused.join("\n  "));
    // The control proves the harness: the same pipeline accepts the genuine response.
    fresh_request().await;
    let r = post_acs_from(&sp.app, &sp.id, corpus["valid"]["saml_response"].as_str().expect("valid"), "", Some(&corpus_cookie), None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "valid-control refused: {} ({})", r.body, last_reason(&sp).await);
    assert!(account(&sp, "admin@acme.test").await.is_none(), "no wrapping attack created its victim account");
}

#[tokio::test]
async fn oversized_malformed_and_redirect_binding_input_is_refused() {
    let sp = setup(Options::default()).await;
    // 5 MB body: refused before parsing.
    let big = "A".repeat(5 * 1024 * 1024);
    let r = post_acs(&sp.app, &sp.id, &big, "").await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Garbage of every kind: a plain refusal, never a 5xx.
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for junk in [
        "%%%not base64%%%".to_string(),
        b64("not xml at all"),
        b64("<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">"),
        b64("<a/>"),
        base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, 0x00, 0x41]),
        b64(&format!("<x>{}{}</x>", "<y>".repeat(10_000), "</y>".repeat(10_000))),
    ] {
        let r = post_acs(&sp.app, &sp.id, &junk, "").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{junk:.40}: {}", r.body);
    }
    let r = post_acs(&sp.app, &sp.id, "", "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Deflate bomb on the Redirect binding: the ACS only takes HTTP-POST, so a GET with a
    // deflated payload is refused without inflating anything.
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut enc, &vec![b'<'; 16 * 1024 * 1024]).expect("deflate");
    let bomb = base64::engine::general_purpose::STANDARD.encode(enc.finish().expect("finish"));
    let r = sp.app.get(&format!("/saml/{}/acs?SAMLResponse={}", sp.id, app::server::saml::sp::urlencoding(&bomb)), None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    // Unknown provider.
    assert_eq!(post_acs(&sp.app, "0123456789abcdef", "x", "").await.status, StatusCode::NOT_FOUND);
}

// ---- Admin experience: server functions as the UI calls them, with and without JS ----

use app::api::saml::{DeleteSamlProvider, RotateProviderToken, SaveSamlProvider};

/// The IdP's metadata, fetched once per test binary. (Seen twice in ~15 runs: the test
/// IdP answered /metadata without its signing certificate; fetching once, and checking the
/// certificates are there, keeps that flake of the test peer out of every other test.)
pub async fn idp_metadata(both: bool) -> String {
    static CACHE: tokio::sync::OnceCell<(String, String)> = tokio::sync::OnceCell::const_new();
    let (one, two) = CACHE
        .get_or_init(|| async {
            let mut fetched = Vec::new();
            for (suffix, certs) in [("", 1), ("?both=1", 2)] {
                let mut md = String::new();
                for _ in 0..10 {
                    md = http_get(&format!("{}/metadata{suffix}", idp().base)).await.1;
                    if md.matches("X509Certificate>").count() >= 2 * certs {
                        break;
                    }
                }
                fetched.push(md);
            }
            (fetched[0].clone(), fetched[1].clone())
        })
        .await;
    if both {
        two.clone()
    } else {
        one.clone()
    }
}

#[tokio::test]
async fn admins_add_a_provider_by_pasting_metadata_and_see_what_to_give_the_idp() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let md = idp_metadata(true).await;
    // No JS: a plain form post, answered with a redirect to the new provider's page.
    let r = app
        .form::<SaveSamlProvider>(
            &[("slug", "acme"), ("id", "new"), ("name", "Okta"), ("metadata_xml", &md), ("nameid_format", "")],
            Some(&admin),
            "/w/acme/settings/authentication/saml/new",
        )
        .await;
    assert!(r.status.is_redirection(), "{} {}", r.status, r.body);
    let loc = r.location().expect("location").to_string();
    let id = loc.split("/saml/").nth(1).and_then(|s| s.split('?').next()).expect("id").to_string();
    let p = saml::by_public_id(&app.state.db, &id).await.expect("created");
    assert_eq!(p.idp_entity_id(), format!("{}/metadata", idp().base));
    assert_eq!(saml::certificates(&p).len(), 2, "both signing certificates pinned");
    assert!(!p.allow_idp_initiated(), "IdP-initiated is off by default");

    let page = app.get(&loc, Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    let u = saml::urls(&app.state.config, &id);
    for needle in [
        u.acs.as_str(),
        u.entity_id.as_str(),
        u.scim_base.as_str(),
        "Download our SP metadata",
        "Test sign-in",
        "Generate Provider Token",
        "expires",
        "Provider added",
    ] {
        assert!(page.body.contains(needle), "{needle} missing");
    }
    // Listed among the sign-in methods, off until switched on, with an edit link.
    let settings = app.get("/w/acme/settings/authentication", Some(&admin)).await;
    assert!(settings.body.contains(&format!("data-method=\"saml:{id}\"")) && settings.body.contains("+ Add New Provider"));
    assert!(settings.body.contains(&format!("/w/acme/settings/authentication/saml/{id}")));

    // Bad input: a clear error, nothing saved.
    for (args, needle) in [
        (vec![("metadata_xml", "<not-metadata/>")], "not IdP metadata"),
        (vec![("metadata_xml", "<<<")], "not well-formed"),
        (vec![("idp_entity_id", "https://idp"), ("sso_url", "https://idp/sso"), ("cert1", "")], "signing certificate"),
        (vec![("idp_entity_id", "https://idp"), ("sso_url", "javascript:alert(1)"), ("cert1", "")], "SSO URL"),
        (vec![("idp_entity_id", "https://idp"), ("sso_url", "https://idp/sso"), ("cert1", "bm90IGEgY2VydA==")], "X.509"),
    ] {
        let mut full = vec![("slug", "acme"), ("id", "new"), ("name", "Broken")];
        full.extend(args);
        let r = app.call::<SaveSamlProvider>(&full, Some(&admin)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains(needle), "{needle} not in {}", r.body);
    }
    assert_eq!(saml::list(&app.state.db, p.workspace_id()).await.expect("list").len(), 1);

    // Entered by hand: a ticked checkbox arrives as "on" (only when ticked); saving the
    // form again without them turns them off.
    let cert = saml::certificates(&p)[0].clone();
    let by_hand = |ticked: bool| {
        let mut f =
            vec![("slug", "acme"), ("id", "new"), ("name", "By hand"), ("idp_entity_id", "https://idp.hand.test"), ("sso_url", "https://idp.hand.test/sso")];
        if ticked {
            f.extend([("allow_idp_initiated", "on"), ("sign_requests", "on"), ("require_encryption", "on")]);
        }
        f
    };
    let mut fields = by_hand(true);
    fields.push(("cert1", &cert));
    let r = app.call::<SaveSamlProvider>(&fields, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let made = saml::list(&app.state.db, p.workspace_id()).await.expect("list").into_iter().find(|x| x.name() == "By hand").expect("made");
    let row = made.row();
    assert!(row.allow_idp_initiated && row.sign_requests && row.require_encryption, "ticked boxes are on: {row:?}");
    assert_eq!(row.idp_entity_id, "https://idp.hand.test");
    let mut fields = by_hand(false);
    fields[1] = ("id", made.public_id());
    fields.push(("cert1", &cert));
    let r = app.call::<SaveSamlProvider>(&fields, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let row = saml::by_public_id(&app.state.db, made.public_id()).await.expect("saved").row().clone();
    assert!(!row.allow_idp_initiated && !row.sign_requests && !row.require_encryption, "unticked boxes are off: {row:?}");
    saml::delete(
        &app.state.db,
        &app::server::events::Events::silent(),
        app.state.now(),
        &crate::common::operator().admin_of(p.workspace_id()),
        made.public_id(),
    )
    .await
    .expect("delete");

    // Members can't see or touch providers.
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    assert_eq!(app.get(&loc, Some(&bob)).await.status, StatusCode::NOT_FOUND);
    let r = app.call::<DeleteSamlProvider>(&[("slug", "acme"), ("id", &id)], Some(&bob)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn provider_token_is_shown_once_and_stored_hashed() {
    let sp = setup(Options::default()).await;
    let admin = sp.app.admin_cookie().await;
    let r = sp.app.call::<RotateProviderToken>(&[("slug", "acme"), ("id", &sp.id)], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token: String = serde_json::from_str(&r.body).expect("token");
    assert!(token.len() >= 43);
    let stored = app::server::entities::scim_token::Entity::find().all(&sp.app.state.db).await.expect("db");
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].token_hash, token);
    assert_eq!(stored[0].token_hash, app::server::crypto::Token::from_presented(&token).hash());
    let page = sp.app.get(&format!("/w/acme/settings/authentication/saml/{}", sp.id), Some(&admin)).await;
    assert!(!page.body.contains(&token), "never shown again");
    assert!(page.body.contains("Rotate Provider Token"));
    // Rotating replaces it; without JS the new token travels once in a page-scoped cookie.
    let r = sp.app.form::<RotateProviderToken>(&[("slug", "acme"), ("id", &sp.id)], Some(&admin), "/w/acme/settings/authentication/saml").await;
    assert!(r.status.is_redirection(), "{}", r.status);
    let flash = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gatehouse_fresh_token="))
        .expect("flash")
        .to_string();
    assert!(flash.contains("HttpOnly") && flash.contains(&format!("Path=/w/acme/settings/authentication/saml/{}", sp.id)));
    let fresh = flash.split(';').next().expect("pair").to_string();
    let stored = app::server::entities::scim_token::Entity::find().all(&sp.app.state.db).await.expect("db");
    assert_eq!(stored.len(), 1, "the old token is gone");
    let page = sp.app.get(&format!("/w/acme/settings/authentication/saml/{}", sp.id), Some(&format!("{admin}; {fresh}"))).await;
    assert!(page.body.contains(fresh.trim_start_matches("gatehouse_fresh_token=")) && page.body.contains("shown only once"));
    assert!(page.headers.get_all(header::SET_COOKIE).iter().any(|v| v.to_str().unwrap_or("").starts_with("gatehouse_fresh_token=;")), "cleared after one view");
}

#[tokio::test]
async fn deleting_a_provider_ends_its_sessions_but_never_the_last_method() {
    let sp = setup(Options::default()).await;
    let admin = sp.app.admin_cookie().await;
    let r = sign_in(&sp, "fay@acme.test", "").await;
    let Some(fay) = r.cookie() else { panic!("refused: {}", last_reason(&sp).await) };
    // Make SAML the only method: deleting it is refused.
    let ws = app::server::workspaces::by_slug(&sp.app.state.db, "acme").await.expect("ws");
    let cap = crate::common::operator().admin_of(ws.id);
    // (Switched off by the admin themself, whose own password session stays.)
    let r = sp.app.call::<app::api::settings::SetMethod>(&[("slug", "acme"), ("method", "password"), ("enabled", "false")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = sp.app.call::<DeleteSamlProvider>(&[("slug", "acme"), ("id", &sp.id)], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("only sign-in method"), "{}", r.body);
    methods::change(&sp.app.state.db, sp.app.state.now(), &cap, &sp.app.state.config, &["password".to_string()], &[]).await.expect("password on");
    let r = sp.app.call::<DeleteSamlProvider>(&[("slug", "acme"), ("id", &sp.id)], Some(&admin)).await;
    assert!(r.status.is_success() || r.status.is_redirection(), "{} {}", r.status, r.body);
    assert!(saml::by_public_id(&sp.app.state.db, &sp.id).await.is_err());
    assert_eq!(sp.app.me_status(&fay).await, StatusCode::UNAUTHORIZED, "sessions through it ended");
    assert!(account(&sp, "fay@acme.test").await.is_some(), "the account stays");
    assert_eq!(sp.app.get(&format!("/saml/{}/metadata", sp.id), None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn login_page_offers_enabled_providers_and_email_first_routing() {
    let sp = setup(Options::default()).await;
    let page = sp.app.get("/w/acme/login", None).await;
    assert!(page.body.contains("Sign in with Test IdP"), "{}", page.body);
    assert!(page.body.contains(&format!("/saml/{}/login?next=/w/acme", sp.id)));
    assert!(page.body.contains("Continue with SSO"));
    // A page that moves on by itself (a redirect would keep the login form's CSP
    // form-action 'self' for the hop to the IdP, which browsers then block).
    let r = sp.app.get("/sso?workspace=acme&email=Someone%40ACME.test", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let login = format!("/saml/{}/login?next=/w/acme", sp.id);
    assert!(
        r.body.contains(&format!(r#"<meta http-equiv="refresh" content="0;url={login}">"#)) && r.body.contains(&format!(r#"href="{login}""#)),
        "{}",
        r.body
    );
    let r = sp.app.get("/sso?workspace=acme&email=someone%40elsewhere.test", None).await;
    assert!(r.location().is_some_and(|l| l == "/w/acme/login?sso=sso_no_provider"), "{:?}", r.location());
    // Switched off: gone from the login page, and its login URL refuses.
    let ws = app::server::workspaces::by_slug(&sp.app.state.db, "acme").await.expect("ws");
    let cap = crate::common::operator().admin_of(ws.id);
    methods::change(&sp.app.state.db, sp.app.state.now(), &cap, &sp.app.state.config, &[], &[saml::method_key(&sp.id)]).await.expect("off");
    let page = sp.app.get("/w/acme/login", None).await;
    assert!(!page.body.contains("Sign in with Test IdP") && !page.body.contains("Continue with SSO"));
    assert_eq!(sp.app.get(&format!("/saml/{}/login", sp.id), None).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_answer_is_only_accepted_in_the_browser_that_asked() {
    let sp = setup(Options::default()).await;
    // Login CSRF: the attacker starts a sign-in, gets the IdP's answer for their own
    // account and makes the victim's browser post it. The victim's browser lacks the nonce.
    let ans = idp_answer(&sp.app, &sp.id, "mallory@acme.test", "", None, "").await;
    let r = post_acs(&sp.app, &sp.id, &ans.resp, &ans.relay).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.cookie().is_none());
    assert_eq!(last_reason(&sp).await, "browser");
    let other = format!("gatehouse_saml_browser={}", app::server::crypto::Token::generate().expose());
    let r = post_acs_from(&sp.app, &sp.id, &ans.resp, &ans.relay, Some(&other), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // In the right browser it works (the refusals didn't use the request up).
    assert_eq!(ans.post(&sp.app, &sp.id).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_second_idp_user_with_the_same_email_does_not_take_over_the_account() {
    let sp = setup(Options::default()).await;
    assert_eq!(sign_in(&sp, "gil@acme.test", "nameid=email").await.status, StatusCode::SEE_OTHER);
    // Another IdP user (another NameID) claiming the same email is refused.
    let r = sign_in(&sp, "gil@acme.test", "nameid=persistent").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("already linked"), "{}", r.body);
    // The original identity still works.
    assert_eq!(sign_in(&sp, "gil@acme.test", "nameid=email").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_in_endpoints_are_throttled_per_address() {
    let sp = setup(Options::default()).await;
    let peer: std::net::SocketAddr = "203.0.113.9:5000".parse().expect("addr");
    let mut last = StatusCode::OK;
    for _ in 0..61 {
        last = post_acs_from(&sp.app, &sp.id, "junk", "", None, Some(peer)).await.status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    // Another address is unaffected.
    let other: std::net::SocketAddr = "203.0.113.10:5000".parse().expect("addr");
    assert_eq!(post_acs_from(&sp.app, &sp.id, "junk", "", None, Some(other)).await.status, StatusCode::FORBIDDEN);
}

/// Issue 12's second attack: workspace acme has two providers switched on, its own IdP
/// ("Okta", first) and a contractor's. The admin signs in once through the first; the
/// contractor's IdP then asserts the admin's address with a NameID of its own. It must be
/// refused (a second provider asserts no domain until an admin gives it one), and the
/// admin's account must be neither linked to it nor renamed by it.
#[tokio::test]
async fn a_second_provider_of_the_workspace_cannot_assert_its_members() {
    let okta = setup(Options::default()).await;
    let admin_email = crate::common::ADMIN_EMAIL;
    let r = sign_in(&okta, admin_email, "nameid=email").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let before = account(&okta, admin_email).await.expect("admin");

    let contractor = add_provider(okta.app, "acme", Options::default()).await;
    let r = sign_in(&contractor, admin_email, "nameid=persistent&given=Mallory").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the contractor's IdP signed in as the admin: {}", r.body);
    assert!(r.cookie().is_none());
    assert!(r.body.contains("may not assert"), "{}", r.body);
    assert_eq!(last_reason(&contractor).await, "identity");
    let after = account(&contractor, admin_email).await.expect("admin");
    assert_eq!((after.full_name.as_str(), after.given_name.as_str()), (before.full_name.as_str(), before.given_name.as_str()), "not renamed");
    let p2 = saml::by_public_id(&contractor.app.state.db, &contractor.id).await.expect("provider");
    let links = app::server::entities::external_identity::Entity::find()
        .filter(app::server::entities::external_identity::Column::ProviderKey.eq(p2.public_id()))
        .all(&contractor.app.state.db)
        .await
        .expect("db");
    assert!(links.is_empty(), "nothing linked to the contractor's provider: {links:?}");
    // Nor does it create people in the workspace's domain.
    let r = sign_in(&contractor, "newbie@acme.test", "nameid=persistent").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(account(&contractor, "newbie@acme.test").await.is_none());
    // The first provider still asserts what it did when it was the only one.
    let okta_id = saml::list(&contractor.app.state.db, p2.workspace_id())
        .await
        .expect("list")
        .into_iter()
        .find(|p| p.public_id() != contractor.id)
        .expect("okta")
        .public_id()
        .to_string();
    let r = idp_answer(&contractor.app, &okta_id, "newbie@acme.test", "nameid=email", None, "").await.post(&contractor.app, &okta_id).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // An admin who gives the contractor's provider the domain makes it the IdP's call.
    let cap = crate::common::operator().admin_of(p2.workspace_id());
    let admin = contractor.app.admin_cookie().await;
    let page = contractor.app.get(&format!("/w/acme/settings/authentication/saml/{}", contractor.id), Some(&admin)).await;
    assert!(page.body.contains("Domains this provider may assert") && page.body.contains("None."), "{}", page.body);
    let r = contractor
        .app
        .form::<app::api::saml::SetProviderDomains>(&[("slug", "acme"), ("id", &contractor.id), ("domains", "acme.test")], Some(&admin), "/w/acme")
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    let page = contractor.app.get(&format!("/w/acme/settings/authentication/saml/{}", contractor.id), Some(&admin)).await;
    assert!(!page.body.contains("None.") && page.body.contains(r#"value="acme.test""#), "{}", page.body);
    let r = sign_in(&contractor, "temp@acme.test", "nameid=persistent").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // A member can't change it (the same 404 as a missing page).
    let bob = contractor.app.add_member(&admin, "bob@acme.test", "member").await;
    let r = contractor.app.call::<app::api::saml::SetProviderDomains>(&[("slug", "acme"), ("id", &contractor.id), ("domains", "")], Some(&bob)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A domain the workspace hasn't claimed can't be given.
    assert!(saml::set_asserted_domains(&contractor.app.state.db, contractor.app.state.now(), &cap, &contractor.id, Some(vec!["victim.test".into()]))
        .await
        .is_err());
}

/// A validly signed response from the IdP, re-declared as UTF-7 or UTF-16, or with a
/// processing instruction or a DOCTYPE before its root (the XML declaration and the prolog
/// are outside what the signature covers): refused before any parser reads it, so our
/// checks and samael's parse never read two different documents. The untouched response
/// is then still accepted.
#[tokio::test]
async fn a_signed_response_with_another_encoding_or_a_prolog_is_refused() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let sp = setup(Options::default()).await;
    let ans = idp_answer(&sp.app, &sp.id, "enc@acme.test", "", None, "?next=/w/acme").await;
    let xml = String::from_utf8(b64.decode(ans.resp.as_bytes()).expect("base64")).expect("utf-8");
    let root = &xml[xml.find("<ns0:Response").or_else(|| xml.find("<samlp:Response")).or_else(|| xml.find("<saml2p:Response")).expect("root")..];
    for (why, prolog) in [
        ("UTF-7", "<?xml version=\"1.0\" encoding=\"UTF-7\"?>"),
        ("UTF-16", "<?xml version=\"1.0\" encoding=\"UTF-16\"?>"),
        ("a processing instruction", "<?xml version=\"1.0\"?><?xml-stylesheet href=\"http://evil.test/x\"?>"),
        ("a DOCTYPE", "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e \"x\">]>"),
        ("a UTF-7 DOCTYPE", "<?xml version=\"1.0\" encoding=\"UTF-7\"?>+ADw-!DOCTYPE r+AD4-"),
    ] {
        let forged = b64.encode(format!("{prolog}{root}"));
        let r = post_acs_from(&sp.app, &sp.id, &forged, &ans.relay, Some(&ans.cookie), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{why}: {}", r.body);
        assert!(r.cookie().is_none(), "{why}");
        assert!(last_refusal_details(&sp).await.contains("XML"), "{why}: {}", last_refusal_details(&sp).await);
    }
    assert_eq!(ans.post(&sp.app, &sp.id).await.status, StatusCode::SEE_OTHER, "the untouched response");
}

/// A request to `path` as it arrives from TCP peer `peer`, with `X-Forwarded-For: xff`.
async fn from_peer(app: &TestApp, method: &str, path: &str, body: Option<String>, peer: &str, xff: Option<&str>) -> Reply {
    let mut b = Request::builder().method(method).uri(path);
    if body.is_some() {
        b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").header(header::ORIGIN, "http://127.0.0.1:1");
    }
    if let Some(x) = xff {
        b = b.header("x-forwarded-for", x);
    }
    let mut req = b.body(body.map(Body::from).unwrap_or_else(Body::empty)).expect("request");
    req.extensions_mut().insert(axum::extract::ConnectInfo::<std::net::SocketAddr>(peer.parse().expect("peer")));
    app.send(req).await
}

/// Sign-in starts are never throttled, only failures: a company behind one NAT address
/// starting 150 sign-ins in a minute gets 150 redirects to its IdP (it got 429 after 60).
/// Behind a trusted balancer the client is the address the balancer appended: one
/// client's failures don't throttle another, and a client's own X-Forwarded-For entries
/// change nothing; from an untrusted peer the header is ignored.
#[tokio::test]
async fn failures_not_starts_are_throttled_per_client_behind_a_trusted_proxy() {
    let app = TestApp::with_config(|c| c.trusted_proxies = app::server::config::parse_proxies("10.0.0.0/8").expect("cidr")).await;
    app.create_workspace("acme", crate::common::ADMIN_EMAIL).await;
    app.clock.advance(now() - T0);
    let sp = add_provider(app, "acme", Options::default()).await;
    for i in 0..150 {
        let r = from_peer(&sp.app, "GET", &format!("/saml/{}/login", sp.id), None, "10.0.0.5:4000", Some("203.0.113.9")).await;
        assert!(r.status.is_redirection(), "start {i}: {}", r.status);
    }
    let junk = || Some("SAMLResponse=junk&RelayState=".to_string());
    let acs = format!("/saml/{}/acs", sp.id);
    // Client .50 behind the balancer fails 60 times, spoofing a new address each time.
    for i in 0..60 {
        let r = from_peer(&sp.app, "POST", &acs, junk(), "10.0.0.5:4000", Some(&format!("198.18.0.{i}, 203.0.113.50"))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "failure {i}");
    }
    assert_eq!(from_peer(&sp.app, "POST", &acs, junk(), "10.0.0.5:4000", Some("1.1.1.1, 203.0.113.50")).await.status, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same balancer is unaffected...
    assert_eq!(from_peer(&sp.app, "POST", &acs, junk(), "10.0.0.5:4000", Some("203.0.113.51")).await.status, StatusCode::FORBIDDEN);
    // ...and its starts still go through.
    assert!(from_peer(&sp.app, "GET", &format!("/saml/{}/login", sp.id), None, "10.0.0.5:4000", Some("203.0.113.51")).await.status.is_redirection());
    // An untrusted peer's header is ignored: it is throttled as itself.
    for _ in 0..60 {
        from_peer(&sp.app, "POST", &acs, junk(), "198.51.100.7:4000", Some("203.0.113.60")).await;
    }
    assert_eq!(from_peer(&sp.app, "POST", &acs, junk(), "198.51.100.7:4000", Some("203.0.113.61")).await.status, StatusCode::TOO_MANY_REQUESTS);
    // What sign-in records is the client's address, not the balancer's.
    let ok = idp_answer(&sp.app, &sp.id, "nat@acme.test", "", None, "?next=/w/acme").await;
    let body = serde_urlencoded::to_string([("SAMLResponse", ok.resp.as_str()), ("RelayState", ok.relay.as_str())]).expect("form");
    let mut b = Request::post(&acs)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, &ok.cookie)
        .header("x-forwarded-for", "203.0.113.77");
    b = b.header(header::ORIGIN, "http://127.0.0.1:1");
    let mut req = b.body(Body::from(body)).expect("request");
    req.extensions_mut().insert(axum::extract::ConnectInfo::<std::net::SocketAddr>("10.0.0.5:4000".parse().expect("peer")));
    assert_eq!(sp.app.send(req).await.status, StatusCode::SEE_OTHER);
    let last = last_activity(&sp).await.expect("activity");
    assert_eq!(last.source_ip.as_deref(), Some("203.0.113.77"));
}

/// Metadata by URL follows one policy in every mode: the local IdP (127.0.0.1) is refused
/// on an http server as on an https one, unless the operator allows private addresses.
#[tokio::test]
async fn metadata_urls_on_private_addresses_are_refused_unless_the_operator_allows_them() {
    let url = format!("{}/metadata", idp().base);
    for allow in [false, true] {
        let app = TestApp::with_config(|c| c.allow_private_metadata_urls = allow).await;
        app.create_workspace("acme", crate::common::ADMIN_EMAIL).await;
        let ws = app::server::workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
        let cap = crate::common::operator().admin_of(ws.id);
        let input = saml::ProviderInput {
            form: app::model::SamlProviderForm { name: "By URL".into(), ..Default::default() },
            metadata_url: Some(url.clone()),
            ..Default::default()
        };
        let r = saml::create(&app.state.db, &app.state.config, app.state.now(), &cap, &input).await;
        match allow {
            false => {
                assert!(r.as_ref().err().is_some_and(|e| e.to_string().contains("private or local address")), "{:?}", r.map(|p| p.public_id().to_string()))
            }
            true => assert!(r.is_ok(), "{:?}", r.err()),
        }
    }
}

/// Junk posted to an ACS is anyone's to send, for any provider: it is counted, not listed
/// one by one (of 250 identical refusals in an hour, 20 rows and the 100th), and it can't
/// push the provider's real sign-ins out of the activity list its page shows.
#[tokio::test]
async fn junk_posts_can_neither_flood_nor_bury_a_providers_activity() {
    let sp = setup(Options::default()).await;
    let r = sign_in(&sp, "carol.smith@acme.test", "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // From 250 addresses, so the per-address throttle never sees one client.
    for i in 0..250u32 {
        let peer: std::net::SocketAddr = format!("198.18.{}.{}:4000", i / 200, i % 200).parse().expect("addr");
        assert_eq!(post_acs_from(&sp.app, &sp.id, "junk", "", None, Some(peer)).await.status, StatusCode::FORBIDDEN);
    }
    let db = &sp.app.state.db;
    let p = saml::by_public_id(db, &sp.id).await.expect("provider");
    let refusals = saml_activity::Entity::find()
        .filter(saml_activity::Column::ProviderId.eq(p.id()))
        .filter(saml_activity::Column::Accepted.eq(false))
        .order_by_asc(saml_activity::Column::Id)
        .all(db)
        .await
        .expect("db");
    assert_eq!(refusals.len(), 21, "20 one by one, then the 100th");
    let hundredth = refusals.last().map(|r| r.details.clone()).unwrap_or_default();
    assert!(hundredth.contains("refusal 100 of this kind this hour"), "{hundredth}");
    let shown = app::server::testing::saml_activity(db, p.id(), 20).await.expect("db");
    assert!(shown.iter().any(|r| r.accepted), "the real sign-in is still listed");
    // An hour later the count starts again.
    sp.app.clock.advance(3600);
    post_acs_from(&sp.app, &sp.id, "junk", "", None, Some("198.18.9.9:4000".parse().expect("addr"))).await;
    let after = saml_activity::Entity::find()
        .filter(saml_activity::Column::ProviderId.eq(p.id()))
        .filter(saml_activity::Column::Accepted.eq(false))
        .count(db)
        .await
        .expect("db");
    assert_eq!(after, 22);
}

/// Starts are never throttled like failures, but each writes a pending request: one
/// address gets a ceiling far above any company's morning, and past it 429; another
/// address is unaffected, and the next minute starts afresh.
#[tokio::test]
async fn sign_in_starts_have_a_ceiling_per_address() {
    let sp = setup(Options::default()).await;
    let ceiling = server::browser::STARTS_PER_IP_PER_MINUTE;
    let login = format!("/saml/{}/login", sp.id);
    let start = |peer: &'static str| from_peer(&sp.app, "GET", &login, None, peer, None);
    for i in 0..ceiling {
        assert!(start("203.0.113.9:5000").await.status.is_redirection(), "start {i}");
    }
    assert_eq!(start("203.0.113.9:5000").await.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(start("203.0.113.10:5000").await.status.is_redirection());
    sp.app.clock.advance(60);
    assert!(start("203.0.113.9:5000").await.status.is_redirection());
}

/// Refusals are sampled so junk can't flood the activity list, but a signed answer is the
/// IdP's: whoever replays one captured response hundreds of times buries only that
/// subject's refusals. Another member's refusal of the same kind in the same hour is still
/// listed one by one (before, all replays of a provider shared one count, and the 21st
/// onward of anyone's was only counted).
#[tokio::test]
async fn replaying_one_captured_response_hides_no_other_members_refusal() {
    let sp = setup(Options { allow_idp_initiated: true, ..Default::default() }).await;
    let entity = saml::urls(&sp.app.state.config, &sp.id).entity_id;
    let unsolicited = |user: &'static str| {
        let url = format!("{}/idp-initiated?sp={}&user={user}&format=json", idp().base, app::server::saml::sp::urlencoding(&entity));
        async move {
            let (_, body) = http_get(&url).await;
            let v: serde_json::Value = serde_json::from_str(&body).expect("json");
            v["SAMLResponse"].as_str().expect("resp").to_string()
        }
    };
    let captured = unsolicited("mallory@acme.test").await;
    assert_eq!(post_acs(&sp.app, &sp.id, &captured, "").await.status, StatusCode::SEE_OTHER);
    for i in 0..30u32 {
        let peer: std::net::SocketAddr = format!("198.18.1.{i}:4000").parse().expect("addr");
        assert_eq!(post_acs_from(&sp.app, &sp.id, &captured, "", None, Some(peer)).await.status, StatusCode::FORBIDDEN);
    }
    let erin = unsolicited("erin@acme.test").await;
    assert_eq!(post_acs(&sp.app, &sp.id, &erin, "").await.status, StatusCode::SEE_OTHER);
    assert_eq!(post_acs(&sp.app, &sp.id, &erin, "").await.status, StatusCode::FORBIDDEN, "erin's browser posts her answer twice");
    let p = saml::by_public_id(&sp.app.state.db, &sp.id).await.expect("provider");
    let replays = saml_activity::Entity::find()
        .filter(saml_activity::Column::ProviderId.eq(p.id()))
        .filter(saml_activity::Column::Reason.eq("replay"))
        .all(&sp.app.state.db)
        .await
        .expect("db");
    let of = |who: &str| replays.iter().filter(|r| r.subject.as_deref() == Some(who)).count();
    assert_eq!(of("mallory@acme.test"), 20, "the flood is sampled: 20 one by one, the 100th not reached");
    assert_eq!(of("erin@acme.test"), 1, "erin's refusal is listed");
}

/// Subjects are cheap at a public provider (anyone can make accounts), so refusals about
/// many people are capped per kind — 200 rows an hour, then each power of ten — while one
/// person's resent answer fills at most 20 of them.
#[tokio::test]
async fn refusal_samples_are_capped_per_person_and_per_kind() {
    use app::server::audit::count_subject_refusal;
    let app = TestApp::new().await;
    let (db, now) = (&app.state.db, T0);
    let mut logged = 0;
    for i in 0..1000 {
        if count_subject_refusal(db, now, "oidc:1:google", "not_member", &format!("subject-{i}")).await.expect("count").0 {
            logged += 1;
        }
    }
    assert_eq!(logged, 201, "200 one by one, then the 1,000th");
    let mut one_person = 0;
    for _ in 0..30 {
        if count_subject_refusal(db, now, "oidc:2:google", "not_member", "the same subject").await.expect("count").0 {
            one_person += 1;
        }
    }
    assert_eq!(one_person, 20);
    assert!(count_subject_refusal(db, now, "oidc:2:google", "not_member", "someone else").await.expect("count").0, "another person is still listed");
}

/// An IdP's SSO or Single Logout URL may not be Gatehouse itself: a browser sent there by
/// it (a signed-out browser's auto-posted form) would pass our same-origin checks.
#[tokio::test]
async fn an_idp_url_on_our_own_origin_is_refused() {
    let app = TestApp::with_workspace().await;
    app.clock.advance(now() - T0);
    let ws = app::server::workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    let cap = crate::common::operator().admin_of(ws.id);
    let md = idp_metadata(false).await;
    for (what, from) in [("SSO", format!("{}/sso/redirect", idp().base)), ("SLO", format!("{}/slo/redirect", idp().base))] {
        let ours = md.replace(&from, &format!("{}/w/acme/settings/members", crate::common::ORIGIN));
        assert_ne!(ours, md, "{what} is in the metadata");
        let input = saml::ProviderInput {
            form: app::model::SamlProviderForm { name: "Loop".into(), ..Default::default() },
            metadata_xml: Some(ours),
            ..Default::default()
        };
        let r = saml::create(&app.state.db, &app.state.config, app.state.now(), &cap, &input).await;
        assert!(r.as_ref().err().is_some_and(|e| e.to_string().contains("points at Gatehouse itself")), "{what}: {:?}", r.map(|p| p.public_id().to_string()));
    }
}
