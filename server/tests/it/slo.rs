//! SAML Single Logout against pysaml2 (scripts/interop/saml_idp.py, its SLO endpoints):
//! IdP-initiated and SP-initiated, HTTP-Redirect and HTTP-POST, a logout message posted to
//! the ACS, an IdP without SLO, and the hostile cases (unsigned, wrong issuer, replayed,
//! another browser, another provider's or workspace's NameID).
use app::server::entities::{saml_provider, session};
use app::server::saml;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::Value;

use crate::common::*;
use crate::saml::{add_provider, client, idp, setup, sign_in, Options, Sp};

/// GETs an IdP URL and reads its JSON answer.
async fn idp_json(url: &str) -> Value {
    let r = client().get(url).send().await.expect("GET to IdP");
    let status = r.status().as_u16();
    let body = r.text().await.expect("body");
    assert_eq!(status, 200, "IdP said: {body}");
    serde_json::from_str(&body).expect("json")
}

/// POSTs a form to an IdP URL and reads its JSON answer.
async fn idp_post_json(url: &str, form: &[(&str, &str)]) -> Value {
    let r = client().post(url).form(form).send().await.expect("POST to IdP");
    let status = r.status().as_u16();
    let body = r.text().await.expect("body");
    assert_eq!(status, 200, "IdP said: {body}");
    serde_json::from_str(&body).expect("json")
}

/// The IdP's own LogoutRequest for `user`, to our provider `id`'s SP, with its knobs.
async fn idp_logout(app: &TestApp, id: &str, user: &str, knobs: &str) -> Value {
    let entity = saml::urls(&app.state.config, id).entity_id;
    idp_json(&format!("{}/idp-logout?sp={}&user={user}&format=json&{knobs}", idp().base, app::server::saml::sp::urlencoding(&entity))).await
}

/// Delivers a message the IdP made (its JSON) to us, as the browser would: a GET of the
/// redirect URL or a cross-site POST of the form. `cookie`: the browser's cookies.
async fn deliver(app: &TestApp, msg: &Value, cookie: Option<&str>) -> Reply {
    let url = msg["url"].as_str().expect("url");
    let path = url.strip_prefix(ORIGIN).unwrap_or_else(|| panic!("{url} is not ours"));
    match msg["binding"].as_str() {
        Some("redirect") => app.get(path, cookie).await,
        _ => {
            let field = if msg.get("SAMLRequest").is_some() { "SAMLRequest" } else { "SAMLResponse" };
            let form = [(field, msg[field].as_str().expect("message")), ("RelayState", msg["RelayState"].as_str().unwrap_or(""))];
            let mut b = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").header(header::ORIGIN, "http://127.0.0.1:1");
            if let Some(c) = cookie {
                b = b.header(header::COOKIE, c);
            }
            app.send(b.body(Body::from(serde_urlencoded::to_string(form).expect("form"))).expect("request")).await
        }
    }
}

/// Where an answer of ours sends the browser next: a redirect's Location, or the link of a
/// page that continues there (after a form post).
fn next_hop(r: &Reply) -> String {
    if let Some(l) = r.location() {
        return l.to_string();
    }
    let at = r.body.find("url=").unwrap_or_else(|| panic!("no way on in {} {}", r.status, r.body));
    r.body[at + 4..].split('"').next().unwrap_or("").replace("&amp;", "&")
}

async fn live_sessions(sp: &Sp, name_id: &str) -> u64 {
    session::Entity::find().filter(session::Column::SamlNameId.eq(name_id)).count(&sp.app.state.db).await.expect("db")
}

/// Our SP metadata offers Single Logout on both bindings; the IdP's metadata fills the
/// provider's SLO endpoint (and an IdP whose metadata has none leaves it empty).
#[tokio::test]
async fn metadata_carries_single_logout_both_ways() {
    let sp = setup(Options::default()).await;
    let md = sp.app.get(&format!("/saml/{}/metadata", sp.id), None).await;
    let slo = format!("{ORIGIN}/saml/{}/slo", sp.id);
    for binding in ["HTTP-Redirect", "HTTP-POST"] {
        assert!(
            md.body.contains(&format!(r#"<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:{binding}" Location="{slo}"/>"#)),
            "{}",
            md.body
        );
    }
    let p = saml::by_public_id(&sp.app.state.db, &sp.id).await.expect("provider");
    assert_eq!((p.row().slo_url.as_str(), p.row().slo_binding.as_str()), (format!("{}/slo/redirect", idp().base).as_str(), "redirect"));
    let (_, without) = {
        let r = client().get(format!("{}/metadata?slo=0", idp().base)).send().await.expect("metadata");
        (r.status(), r.text().await.expect("body"))
    };
    let parsed = app::server::saml::idp_metadata::parse(&without).expect("metadata");
    assert_eq!((parsed.slo_url.as_str(), parsed.slo_binding.as_str()), ("", ""));
}

/// The IdP signs a person out (HTTP-Redirect and HTTP-POST): every session of that NameID
/// through this provider ends, in this process and any other (they are rows), nobody
/// else's; our signed LogoutResponse goes back to the IdP, which checks it.
#[tokio::test]
async fn idp_initiated_logout_ends_that_persons_sessions_on_both_bindings() {
    let sp = setup(Options::default()).await;
    for binding in ["redirect", "post"] {
        let carol = [
            sign_in(&sp, "carol.smith@acme.test", "").await.cookie().expect("session"),
            sign_in(&sp, "carol.smith@acme.test", "").await.cookie().expect("session"),
        ];
        let dave = sign_in(&sp, "dave@acme.test", "").await.cookie().expect("session");
        assert_eq!(live_sessions(&sp, "carol.smith@acme.test").await, 2);
        let msg = idp_logout(&sp.app, &sp.id, "carol.smith@acme.test", &format!("binding={binding}&relay_state=r-{binding}")).await;
        let r = deliver(&sp.app, &msg, None).await;
        assert!(r.status.is_redirection() || r.status == StatusCode::OK, "{binding}: {} {}", r.status, r.body);
        for c in &carol {
            assert_eq!(sp.app.me_status(c).await, StatusCode::UNAUTHORIZED, "{binding}: carol is signed out");
        }
        assert_eq!(sp.app.me_status(&dave).await, StatusCode::OK, "{binding}: dave is not");
        // Our answer, at the IdP: a signed LogoutResponse to its request.
        let hop = next_hop(&r);
        assert!(hop.starts_with(&format!("{}/slo/redirect?SAMLResponse=", idp().base)), "{hop}");
        let checked = idp_json(&hop).await;
        assert_eq!(checked["status"], "urn:oasis:names:tc:SAML:2.0:status:Success", "{checked}");
        assert_eq!((checked["in_response_to"].as_str(), checked["signed"].as_bool()), (msg["id"].as_str(), Some(true)), "{checked}");
        assert!(hop.contains(&format!("RelayState=r-{binding}")), "RelayState comes back: {hop}");
        let sign_out_dave = idp_logout(&sp.app, &sp.id, "dave@acme.test", &format!("binding={binding}")).await;
        deliver(&sp.app, &sign_out_dave, None).await;
    }
    use sea_orm::QueryOrder;
    let audit = app::server::entities::audit_log::Entity::find()
        .filter(app::server::entities::audit_log::Column::Action.eq("saml.logout"))
        .order_by_asc(app::server::entities::audit_log::Column::Id)
        .all(&sp.app.state.db)
        .await
        .expect("db");
    assert!(audit[0].details.contains("\"sessions_ended\":2") && audit[0].details.contains("carol.smith@acme.test"), "{:?}", audit[0].details);
}

/// What must end nothing: an unsigned request, one from another issuer, a replay, and a
/// request naming someone through another workspace's provider (a different SP of the same
/// IdP): it ends nothing here, and sent to our endpoint it is not addressed to us.
#[tokio::test]
async fn hostile_logout_requests_end_nothing() {
    let sp = setup(Options::default()).await;
    sp.app.create_workspace("beta", "betty@beta.test").await;
    let acme = sp.id.clone();
    let beta = add_provider(sp.app, "beta", Options::default()).await;
    let (app, beta_id) = (&beta.app, beta.id.clone());
    let acme_sp = |user: &'static str| {
        let acme = acme.clone();
        async move { crate::saml::idp_answer(app, &acme, user, "", None, "?next=/w/acme").await.post(app, &acme).await.cookie().expect("session") }
    };
    let carol = acme_sp("carol.smith@acme.test").await;
    let bea = crate::saml::idp_answer(app, &beta_id, "bea@beta.test", "", None, "?next=/w/beta").await.post(app, &beta_id).await.cookie().expect("bea");
    for (knobs, why) in [("sign=0", "not signed, redirect"), ("sign=0&binding=post", "not signed, post"), ("issuer=https://evil.example/idp", "another issuer")]
    {
        let msg = idp_logout(app, &acme, "carol.smith@acme.test", knobs).await;
        let r = deliver(app, &msg, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{why}: {}", r.body);
        assert_eq!(app.me_status(&carol).await, StatusCode::OK, "{why}");
    }
    // Another workspace's provider: the IdP signs bea out of beta, through beta's SP.
    let for_beta = idp_logout(app, &beta_id, "bea@beta.test", "").await;
    // Sent to acme's endpoint instead, it names beta's SLO URL: refused.
    let url = for_beta["url"].as_str().expect("url").replace(&format!("/saml/{beta_id}/slo"), &format!("/saml/{acme}/slo"));
    let r = deliver(app, &serde_json::json!({ "binding": "redirect", "url": url }), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Naming carol through beta's provider ends nothing in acme.
    let carol_via_beta = idp_logout(app, &beta_id, "carol.smith@acme.test", "").await;
    assert!(deliver(app, &carol_via_beta, None).await.status.is_redirection());
    assert_eq!(app.me_status(&carol).await, StatusCode::OK, "another workspace's provider can't sign acme's members out");
    // Bea's own: her session ends; acme's stay.
    assert!(deliver(app, &for_beta, None).await.status.is_redirection());
    assert_eq!(app.call::<app::api::auth::Me>(&[("slug", "beta")], Some(&bea)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me_status(&carol).await, StatusCode::OK, "acme is untouched");
    // A replay of a request that worked: refused, and carol's new session stays.
    let msg = idp_logout(app, &acme, "carol.smith@acme.test", "").await;
    assert!(deliver(app, &msg, None).await.status.is_redirection());
    assert_eq!(app.me_status(&carol).await, StatusCode::UNAUTHORIZED);
    let carol = acme_sp("carol.smith@acme.test").await;
    let r = deliver(app, &msg, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a replay: {}", r.body);
    assert_eq!(app.me_status(&carol).await, StatusCode::OK);
}

/// Signing out of a SAML session ends it here at once, then carries our signed
/// LogoutRequest (naming the NameID and SessionIndex the IdP gave) to the IdP; its
/// LogoutResponse, on either binding, lands on our SLO endpoint in the same browser and
/// says so. In another browser, or a second time, it is refused.
#[tokio::test]
async fn sp_initiated_logout_round_trip_on_both_bindings() {
    let sp = setup(Options::default()).await;
    // Signed both ways, and unsigned (an answer has no power: the session already ended,
    // and it is bound to our request and this browser).
    for (resp_binding, sign) in [("redirect", "1"), ("post", "1"), ("redirect", "0"), ("post", "0")] {
        let carol = sign_in(&sp, "carol.smith@acme.test", "").await.cookie().expect("session");
        let r = sp.app.call_with("/logout", &[("slug", "acme")], Some(&carol), "text/html", Some(ORIGIN)).await;
        assert_eq!(r.status, StatusCode::OK, "a page that continues to the IdP (a form post may not redirect cross-site): {}", r.body);
        assert_eq!(sp.app.me_status(&carol).await, StatusCode::UNAUTHORIZED, "signed out here before the IdP answers");
        let nonce = r.set_cookie("gatehouse_saml_browser").expect("the browser is bound to the request");
        let to_idp = next_hop(&r);
        assert!(to_idp.starts_with(&format!("{}/slo/redirect?SAMLRequest=", idp().base)), "{to_idp}");
        let answer = idp_json(&format!("{to_idp}&format=json&resp_binding={resp_binding}&sign={sign}")).await;
        assert_eq!(answer["request"]["name_id"], "carol.smith@acme.test", "{answer}");
        assert!(answer["request"]["session_index"].as_array().is_some_and(|s| s.len() == 1), "the SessionIndex of the sign-in: {answer}");
        // Another browser can't use the answer, and doesn't use it up.
        let elsewhere = deliver(&sp.app, &answer, None).await;
        assert_eq!(elsewhere.status, StatusCode::FORBIDDEN, "{}", elsewhere.body);
        let done = deliver(&sp.app, &answer, Some(&nonce)).await;
        assert_eq!(done.status, StatusCode::OK, "{resp_binding}: {}", done.body);
        assert!(done.body.contains("signed out here and at Test IdP") && done.body.contains("/w/acme/login?saved=signed_out_idp"), "{}", done.body);
        let again = deliver(&sp.app, &answer, Some(&nonce)).await;
        assert_eq!(again.status, StatusCode::FORBIDDEN, "used once: {}", again.body);
    }
}

/// An IdP that only offers the HTTP-POST binding gets our LogoutRequest in an auto-posting
/// form (its CSP lets the form go to the IdP only), signed in the XML.
#[tokio::test]
async fn our_logout_request_can_be_posted() {
    let sp = setup(Options::default()).await;
    let p = saml::by_public_id(&sp.app.state.db, &sp.id).await.expect("provider");
    let mut m: saml_provider::ActiveModel = p.row().clone().into();
    m.slo_url = Set(format!("{}/slo/post", idp().base));
    m.slo_binding = Set("post".into());
    m.update(&sp.app.state.db).await.expect("post binding");
    let carol = sign_in(&sp, "carol.smith@acme.test", "").await.cookie().expect("session");
    let r = sp.app.call_with("/logout", &[("slug", "acme")], Some(&carol), "text/html", Some(ORIGIN)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let csp = r.headers.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(csp.contains(&format!("form-action {}", idp().base)), "{csp}");
    let value = r.body.split(r#"name="SAMLRequest" value=""#).nth(1).and_then(|s| s.split('"').next()).expect("SAMLRequest field").to_string();
    assert!(r.body.contains(&format!(r#"action="{}/slo/post""#, idp().base)), "{}", r.body);
    let nonce = r.set_cookie("gatehouse_saml_browser").expect("nonce");
    let answer = idp_post_json(&format!("{}/slo/post", idp().base), &[("SAMLRequest", &value), ("format", "json"), ("resp_binding", "post")]).await;
    let done = deliver(&sp.app, &answer, Some(&nonce)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
}

/// Some IdPs (Keycloak) post logout messages to the ACS: they are handled as logout there,
/// not refused as a bad sign-in answer.
#[tokio::test]
async fn logout_messages_posted_to_the_acs_are_logout() {
    let sp = setup(Options::default()).await;
    let carol = sign_in(&sp, "carol.smith@acme.test", "").await.cookie().expect("session");
    let r = sp.app.call_with("/logout", &[("slug", "acme")], Some(&carol), "text/html", Some(ORIGIN)).await;
    let nonce = r.set_cookie("gatehouse_saml_browser").expect("nonce");
    let mut answer = idp_json(&format!("{}&format=json&resp_binding=post", next_hop(&r))).await;
    answer["url"] = Value::String(format!("{ORIGIN}/saml/{}/acs", sp.id));
    let done = deliver(&sp.app, &answer, Some(&nonce)).await;
    assert_eq!(done.status, StatusCode::OK, "a LogoutResponse at the ACS: {}", done.body);
    assert!(done.body.contains("signed out"), "{}", done.body);

    let dave = sign_in(&sp, "dave@acme.test", "").await.cookie().expect("session");
    let mut request = idp_logout(&sp.app, &sp.id, "dave@acme.test", "binding=post").await;
    request["url"] = Value::String(format!("{ORIGIN}/saml/{}/acs", sp.id));
    let r = deliver(&sp.app, &request, None).await;
    assert!(r.status == StatusCode::OK, "a LogoutRequest at the ACS: {} {}", r.status, r.body);
    assert_eq!(sp.app.me_status(&dave).await, StatusCode::UNAUTHORIZED);
}

/// Without an SLO endpoint at the IdP (or for a password session), signing out is local
/// and goes to the sign-in page.
#[tokio::test]
async fn without_idp_logout_signing_out_is_local() {
    let sp = setup(Options::default()).await;
    let p = saml::by_public_id(&sp.app.state.db, &sp.id).await.expect("provider");
    let mut m: saml_provider::ActiveModel = p.row().clone().into();
    m.slo_url = Set(String::new());
    m.update(&sp.app.state.db).await.expect("no SLO");
    let carol = sign_in(&sp, "carol.smith@acme.test", "").await.cookie().expect("session");
    let r = sp.app.call_with("/logout", &[("slug", "acme")], Some(&carol), "text/html", Some(ORIGIN)).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, Some("/w/acme/login")));
    assert_eq!(sp.app.me_status(&carol).await, StatusCode::UNAUTHORIZED);
    // And the IdP's LogoutRequest still ends sessions; there is nobody to answer.
    let dave = sign_in(&sp, "dave@acme.test", "").await.cookie().expect("session");
    let r = deliver(&sp.app, &idp_logout(&sp.app, &sp.id, "dave@acme.test", "").await, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(sp.app.me_status(&dave).await, StatusCode::UNAUTHORIZED);
}
