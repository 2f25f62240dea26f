use app::api::auth::LoginPage;
use app::api::settings::{AuthSettings, SetMethod};
use app::server::entities::audit_log;
use app::server::{methods, workspaces};
use axum::http::StatusCode;
use sea_orm::{EntityTrait, QueryOrder};

use crate::common::*;

#[tokio::test]
async fn the_server_refuses_to_turn_off_the_last_method() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    // Called directly, not through the page: the rule lives on the server.
    let r = app.call::<SetMethod>(&[("slug", "acme"), ("method", "password"), ("enabled", "false")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("At least one sign-in method must stay on"), "{}", r.body);
    let s: serde_json::Value = serde_json::from_str(&app.call::<AuthSettings>(&[("slug", "acme")], Some(&admin)).await.body).expect("json");
    assert_eq!(s["methods"][0]["key"], "password");
    assert_eq!(s["methods"][0]["enabled"], true);
    assert_eq!(s["session_lifetime_days"], 30);
}

#[tokio::test]
async fn unconfigured_providers_cannot_be_switched_on_and_configured_ones_show_on_login() {
    let app = TestApp::with_config(|c| c.oidc = vec![app::server::oidc::OidcProvider::new("google", "client", "secret", None)]).await;
    app.create_workspace("acme", ADMIN_EMAIL).await;
    let admin = app.admin_cookie().await;
    let r = app.call::<SetMethod>(&[("slug", "acme"), ("method", "slack"), ("enabled", "true")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("not configured on this server"), "{}", r.body);
    let r = app.call::<SetMethod>(&[("slug", "acme"), ("method", "bogus"), ("enabled", "true")], Some(&admin)).await;
    assert!(r.body.contains("Unknown sign-in method"), "{}", r.body);
    let r = app.call::<SetMethod>(&[("slug", "acme"), ("method", "bogus"), ("enabled", "false")], Some(&admin)).await;
    assert!(r.body.contains("Unknown sign-in method"), "{}", r.body);

    let r = app.call::<SetMethod>(&[("slug", "acme"), ("method", "google"), ("enabled", "true")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Google turned on"));
    // Now password can go: Google remains.
    let r = app.call::<SetMethod>(&[("slug", "acme"), ("method", "password"), ("enabled", "false")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let page: serde_json::Value = serde_json::from_str(&app.call::<LoginPage>(&[("slug", "acme")], None).await.body).expect("json");
    assert_eq!(page["password_enabled"], false);
    assert_eq!(page["other_methods"], serde_json::json!([["google", "Sign in with Google"]]));
    // Password sign-in is refused while off.
    let r = app.call::<app::api::auth::Login>(&[("slug", "acme"), ("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)], None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("turned off"));
}

#[tokio::test]
async fn method_changes_are_audited_and_members_cannot_make_them() {
    let app = TestApp::with_config(|c| c.oidc = vec![app::server::oidc::OidcProvider::new("slack", "client", "secret", None)]).await;
    app.create_workspace("acme", ADMIN_EMAIL).await;
    let admin = app.admin_cookie().await;
    let member = app.add_member(&admin, "bob@acme.test", "member").await;
    let r = app.call::<SetMethod>(&[("slug", "acme"), ("method", "slack"), ("enabled", "true")], Some(&member)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.call::<SetMethod>(&[("slug", "acme"), ("method", "slack"), ("enabled", "true")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    let last = audit_log::Entity::find().order_by_desc(audit_log::Column::Id).one(&app.state.db).await.expect("db").expect("row");
    assert_eq!(last.action, "sign_in_methods.change");
    assert_eq!(last.actor, ADMIN_EMAIL);
    assert!(last.details.contains("slack"));
}

#[tokio::test]
async fn recover_re_enables_a_method_even_when_the_workspace_is_locked_out() {
    let app = TestApp::with_config(|c| c.oidc = vec![app::server::oidc::OidcProvider::new("google", "client", "secret", None)]).await;
    app.create_workspace("acme", ADMIN_EMAIL).await;
    let admin = app.admin_cookie().await;
    app.call::<SetMethod>(&[("slug", "acme"), ("method", "google"), ("enabled", "true")], Some(&admin)).await;
    app.call::<SetMethod>(&[("slug", "acme"), ("method", "password"), ("enabled", "false")], Some(&admin)).await;
    let ws = workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    let after = methods::recover(&app.state.db, T0, &crate::common::operator(), ws.id, &app.state.config, "password").await.expect("recover");
    assert!(after.contains("password"));
    let last = audit_log::Entity::find().order_by_desc(audit_log::Column::Id).one(&app.state.db).await.expect("db").expect("row");
    assert_eq!((last.action.as_str(), last.actor.as_str()), ("recover.enable_method", "operator (cli)"));
    app.login("acme", ADMIN_EMAIL, ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn claimed_domains_are_validated_pending_until_proven_and_audited() {
    use app::api::settings::ChangeDomain;
    let app = TestApp::with_workspace().await;
    app.create_workspace("other", "olga@other.test").await;
    let admin = app.admin_cookie().await;
    let other = app.login("other", "olga@other.test", ADMIN_PASSWORD).await;
    let r = app.call::<ChangeDomain>(&[("slug", "acme"), ("domain", "Acme.TEST"), ("add", "true")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.call::<ChangeDomain>(&[("slug", "acme"), ("domain", "*.evil"), ("add", "true")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("not a domain name"), "{}", r.body);
    let s: serde_json::Value = serde_json::from_str(&app.call::<AuthSettings>(&[("slug", "acme")], Some(&admin)).await.body).expect("json");
    assert_eq!((s["domains"][0]["domain"].as_str(), s["domains"][0]["status"].as_str()), (Some("acme.test"), Some("pending")));
    assert_eq!(s["domains"][0]["record_name"], "_gatehouse-challenge.acme.test");
    let acme_value = s["domains"][0]["record_value"].as_str().expect("value").to_string();
    assert!(acme_value.starts_with("gatehouse-verification=") && acme_value.len() > 40, "{acme_value}");
    let last = audit_log::Entity::find().order_by_desc(audit_log::Column::Id).one(&app.state.db).await.expect("db").expect("row");
    assert_eq!(last.action, "domains.change");
    // A claim blocks nobody: another workspace claims the same domain, with its own token.
    let r = app.call::<ChangeDomain>(&[("slug", "other"), ("domain", "acme.test"), ("add", "true")], Some(&other)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let s: serde_json::Value = serde_json::from_str(&app.call::<AuthSettings>(&[("slug", "other")], Some(&other)).await.body).expect("json");
    assert_ne!(s["domains"][0]["record_value"].as_str(), Some(acme_value.as_str()));
    // Unproven, it counts for nothing.
    let acme = app::server::workspaces::by_slug(&app.state.db, "acme").await.expect("acme");
    assert!(!app::server::domains::claims_email(&app.state.db, acme.id, "ann@acme.test").await.expect("db"));
    let r = app.call::<ChangeDomain>(&[("slug", "acme"), ("domain", "acme.test"), ("add", "false")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    let s: serde_json::Value = serde_json::from_str(&app.call::<AuthSettings>(&[("slug", "acme")], Some(&admin)).await.body).expect("json");
    assert_eq!(s["domains"], serde_json::json!([]));
}

/// A policy ends what it forbids: switching password sign-in off ends every password
/// session of the workspace at once (on the next request), except the acting admin's own,
/// and the audit entry says how many.
#[tokio::test]
async fn switching_a_method_off_ends_the_sessions_it_started() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    let ada_elsewhere = app.admin_cookie().await; // the admin's other browser
    let p = app.offline_saml_provider("acme", "Okta", T0).await;
    let r = app.call::<SetMethod>(&[("slug", "acme"), ("method", &app::server::saml::method_key(p.public_id())), ("enabled", "true")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.me_status(&bob).await, StatusCode::OK, "turning a method on ends nothing");

    let r = app.call::<SetMethod>(&[("slug", "acme"), ("method", "password"), ("enabled", "false")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Sessions it started have ended"), "{}", r.body);
    assert_eq!(app.me_status(&bob).await, StatusCode::UNAUTHORIZED, "bob's password session ended");
    assert_eq!(app.me_status(&ada_elsewhere).await, StatusCode::UNAUTHORIZED, "the admin's other password session too");
    assert_eq!(app.me_status(&admin).await, StatusCode::OK, "the acting admin's own stays");
    let last = audit_log::Entity::find().order_by_desc(audit_log::Column::Id).one(&app.state.db).await.expect("db").expect("row");
    assert_eq!(last.action, "sign_in_methods.change");
    assert!(last.details.contains(r#""sessions_ended":2"#), "{}", last.details);
}
