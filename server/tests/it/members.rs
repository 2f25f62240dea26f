use app::api::members::{InviteMember, ListMembers, SetMemberRole, SetMemberStatus};
use app::server::workspaces;
use axum::http::StatusCode;

use crate::common::*;

async fn members(app: &TestApp, cookie: &str) -> Vec<serde_json::Value> {
    let r = app.call::<ListMembers>(&[("slug", "acme")], Some(cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let page: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    page["rows"].as_array().expect("rows").clone()
}

fn id_of(rows: &[serde_json::Value], email: &str) -> String {
    rows.iter().find(|r| r["email"] == email).map(|r| r["membership_id"].to_string()).expect("member")
}

async fn everyone_size(app: &TestApp) -> u64 {
    let ws = workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    let g = app::server::testing::everyone_group(&app.state.db, ws.id).await.expect("everyone");
    app::server::directory::group_size(&app.state.db, g.id).await.expect("size")
}

#[tokio::test]
async fn invite_accept_and_list_with_admins_first() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    assert_eq!(app.me_status(&bob).await, StatusCode::OK);
    let rows = members(&app, &admin).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["email"], ADMIN_EMAIL);
    assert_eq!(rows[0]["role"], "admin");
    assert_eq!(rows[1]["email"], "bob@acme.test");
    assert_eq!(rows[1]["full_name"], "Bob Member");
    assert_eq!(rows[1]["sign_in_methods"], serde_json::json!(["password"]));
    assert_eq!(everyone_size(&app).await, 2);
    // Members can't see the list.
    assert_eq!(app.call::<ListMembers>(&[("slug", "acme")], Some(&bob)).await.status, StatusCode::NOT_FOUND);
    // Invites are used once.
    let again = app.call::<InviteMember>(&[("slug", "acme"), ("email", "bob@acme.test"), ("role", "member")], Some(&admin)).await;
    assert!(again.body.contains("already a member"), "{}", again.body);
}

#[tokio::test]
async fn another_workspaces_admin_cannot_obtain_a_credential_for_this_one() {
    let app = TestApp::with_workspace().await;
    app.create_workspace("other", "olga@other.test").await;
    let other_admin = app.login("other", "olga@other.test", ADMIN_PASSWORD).await;
    // The admin of `other` invites acme's admin and accepts the link themselves.
    let r = app.call::<InviteMember>(&[("slug", "other"), ("email", ADMIN_EMAIL), ("role", "member")], Some(&other_admin)).await;
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    let token = v["link"].as_str().and_then(|l| l.rsplit('/').next()).expect("token").to_string();
    let r = app.call::<app::api::invites::AcceptInvite>(&[("token", &token), ("full_name", "Mallory"), ("password", "attacker password")], None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // That password opens `other` only; acme's password and profile are untouched.
    app.login("other", ADMIN_EMAIL, "attacker password").await;
    let r = app.call::<app::api::auth::Login>(&[("slug", "acme"), ("email", ADMIN_EMAIL), ("password", "attacker password")], None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let acme = app.admin_cookie().await;
    let me: serde_json::Value = serde_json::from_str(&app.call::<app::api::auth::Me>(&[("slug", "acme")], Some(&acme)).await.body).expect("json");
    assert_eq!(me["full_name"], "Ada Admin");
}

#[tokio::test]
async fn deactivation_revokes_sessions_and_leaves_everyone_reactivation_returns() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    let id = id_of(&members(&app, &admin).await, "bob@acme.test");
    let r = app.call::<SetMemberStatus>(&[("slug", "acme"), ("membership_id", &id), ("active", "false")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.me_status(&bob).await, StatusCode::UNAUTHORIZED, "the very next request");
    assert_eq!(everyone_size(&app).await, 1);
    let r = app.call::<app::api::auth::Login>(&[("slug", "acme"), ("email", "bob@acme.test"), ("password", "member password 1")], None).await;
    assert!(r.body.contains("deactivated"), "{}", r.body);

    let r = app.call::<SetMemberStatus>(&[("slug", "acme"), ("membership_id", &id), ("active", "true")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(everyone_size(&app).await, 2);
    app.login("acme", "bob@acme.test", "member password 1").await;
}

#[tokio::test]
async fn the_last_admin_can_be_neither_demoted_nor_deactivated() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let rows = members(&app, &admin).await;
    let me_id = id_of(&rows, ADMIN_EMAIL);
    // The page doesn't offer what the server would refuse...
    assert_eq!(rows.iter().find(|r| r["email"] == ADMIN_EMAIL).map(|r| r["last_admin"].clone()), Some(serde_json::json!(true)));
    let page = app.get("/w/acme/settings/members", Some(&admin)).await;
    assert!(page.body.contains("data-testid=\"last-admin\"") && !page.body.contains(">Make member<"), "{}", page.body);
    // ...and the server refuses it anyway.
    let r = app.call::<SetMemberRole>(&[("slug", "acme"), ("membership_id", &me_id), ("role", "member")], Some(&admin)).await;
    assert!(r.body.contains("last active admin"), "{}", r.body);
    let r = app.call::<SetMemberStatus>(&[("slug", "acme"), ("membership_id", &me_id), ("active", "false")], Some(&admin)).await;
    assert!(r.body.contains("last active admin"), "{}", r.body);
    // With a second admin, the first may step down.
    app.add_member(&admin, "carol@acme.test", "admin").await;
    assert!(members(&app, &admin).await.iter().all(|r| r["last_admin"] == false));
    let r = app.call::<SetMemberRole>(&[("slug", "acme"), ("membership_id", &me_id), ("role", "member")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The role change is in force on the next request.
    assert_eq!(app.call::<ListMembers>(&[("slug", "acme")], Some(&admin)).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn members_of_another_workspace_cannot_be_touched() {
    let app = TestApp::with_workspace().await;
    app.create_workspace("other", "olga@other.test").await;
    let other_admin = app.login("other", "olga@other.test", ADMIN_PASSWORD).await;
    let admin = app.admin_cookie().await;
    let acme_id = id_of(&members(&app, &admin).await, ADMIN_EMAIL);
    let r = app.call::<SetMemberStatus>(&[("slug", "other"), ("membership_id", &acme_id), ("active", "false")], Some(&other_admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.me_status(&admin).await, StatusCode::OK);
}

async fn pending(app: &TestApp, admin: &str) -> Vec<serde_json::Value> {
    let r = app.call::<app::api::members::ListInvites>(&[("slug", "acme")], Some(admin)).await;
    let page: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(page["fresh"], serde_json::Value::Null, "no flash cookie was sent");
    page["pending"].as_array().expect("pending").clone()
}

#[tokio::test]
async fn pending_invites_are_listed_and_can_be_withdrawn() {
    use app::api::members::RevokeInvite;
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let r = app.call::<InviteMember>(&[("slug", "acme"), ("email", "Carol@acme.test"), ("role", "admin")], Some(&admin)).await;
    let link: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    let token = link["link"].as_str().and_then(|l| l.rsplit('/').next()).expect("token").to_string();
    let list: Vec<serde_json::Value> = pending(&app, &admin).await;
    assert_eq!(list.len(), 1);
    assert_eq!((list[0]["email"].as_str(), list[0]["role"].as_str(), list[0]["expires_in_days"].as_i64()), (Some("Carol@acme.test"), Some("admin"), Some(7)));
    let id = list[0]["id"].to_string();
    let r = app.call::<RevokeInvite>(&[("slug", "acme"), ("invite_id", &id)], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let list: Vec<serde_json::Value> = pending(&app, &admin).await;
    assert!(list.is_empty());
    // The withdrawn link is dead.
    let r = app.call::<app::api::invites::AcceptInvite>(&[("token", &token), ("full_name", "C"), ("password", "carol password 1")], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Expired invites drop off the list too.
    app.call::<InviteMember>(&[("slug", "acme"), ("email", "dan@acme.test"), ("role", "member")], Some(&admin)).await;
    app.clock.advance(7 * 86_400);
    let admin = app.admin_cookie().await;
    let list: Vec<serde_json::Value> = pending(&app, &admin).await;
    assert!(list.is_empty());
}

#[tokio::test]
async fn the_members_page_pages_admins_first_and_searches() {
    use app::server::entities::{account, membership};
    use sea_orm::{ActiveModelTrait, Set};
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let ws = workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    // 119 more members (120 with the admin); #7 is an admin too.
    for i in 0..119 {
        let email = format!("user{i:03}@acme.test");
        let a = account::ActiveModel {
            workspace_id: Set(ws.id),
            email: Set(email.clone()),
            email_normalized: Set(email),
            full_name: Set(format!("Zed {i:03}")),
            created_at: Set(T0),
            updated_at: Set(T0),
            ..Default::default()
        }
        .insert(&app.state.db)
        .await
        .expect("account");
        let role = if i == 7 { app::model::Role::Admin } else { app::model::Role::Member };
        membership::ActiveModel {
            workspace_id: Set(ws.id),
            account_id: Set(a.id),
            role: Set(role),
            status: Set(app::model::Status::Active),
            created_at: Set(T0),
            updated_at: Set(T0),
            ..Default::default()
        }
        .insert(&app.state.db)
        .await
        .expect("membership");
    }
    let page = |args: Vec<(&'static str, String)>| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let mut all: Vec<(&str, &str)> = vec![("slug", "acme")];
            all.extend(args.iter().map(|(k, v)| (*k, v.as_str())));
            let r = app.call::<ListMembers>(&all, Some(&admin)).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            serde_json::from_str::<serde_json::Value>(&r.body).expect("json")
        }
    };
    let emails =
        |p: &serde_json::Value| p["rows"].as_array().expect("rows").iter().map(|r| r["email"].as_str().unwrap_or_default().to_string()).collect::<Vec<_>>();
    let first = page(vec![]).await;
    assert_eq!((first["total"].as_u64(), first["page"].as_u64(), first["pages"].as_u64()), (Some(120), Some(1), Some(3)));
    let e = emails(&first);
    assert_eq!(e.len(), 50);
    assert_eq!(&e[..3], [ADMIN_EMAIL, "user007@acme.test", "user000@acme.test"], "admins first, then by name");
    let third = page(vec![("page", "3".into())]).await;
    let e3 = emails(&third);
    assert_eq!(e3.len(), 20);
    assert_eq!(e3.last().map(String::as_str), Some("user118@acme.test"));
    // Every member exactly once across the pages.
    let second = emails(&page(vec![("page", "2".into())]).await);
    let mut seen: Vec<String> = e.into_iter().chain(second).chain(e3).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 120);
    // Search: by email or name, case-insensitive; LIKE wildcards are literal.
    let found = page(vec![("search", "USER11".into())]).await;
    assert_eq!(found["total"].as_u64(), Some(9), "user110..user118");
    assert_eq!(page(vec![("search", "zed 005".into())]).await["total"].as_u64(), Some(1));
    assert_eq!(page(vec![("search", "%".into())]).await["total"].as_u64(), Some(0));
    assert_eq!(page(vec![("search", "_".into())]).await["total"].as_u64(), Some(0));
    // Past the end: an empty page, not an error. The server-rendered page links onwards.
    assert_eq!(emails(&page(vec![("page", "9".into())]).await).len(), 0);
    assert_eq!(emails(&page(vec![("page", u64::MAX.to_string())]).await).len(), 0, "no offset the database can't take");
    let html = app.get("/w/acme/settings/members?page=2&q=user", Some(&admin)).await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.body.contains("page=3&amp;q=user") || html.body.contains("page=3&q=user"), "a Next link keeps the search");
    assert!(html.body.contains(r#"data-email="user050@acme.test""#), "page 2 of the search");
}

/// With password sign-in off, an invite can't be accepted with a password (that would be
/// a password session the workspace forbids): the invite page points to the workspace's
/// sign-in methods instead, and the server refuses a password posted anyway.
#[tokio::test]
async fn an_invite_offers_only_the_methods_the_workspace_allows() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let r = app.call::<app::api::members::InviteMember>(&[("slug", "acme"), ("email", "ivy@acme.test"), ("role", "member")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let link: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    let token = link["link"].as_str().expect("link").rsplit('/').next().expect("token").to_string();
    let page = app.get(&format!("/invite/{token}"), None).await;
    assert!(page.body.contains("Choose a password"), "password on: the form is offered");

    // SAML only.
    let ws = workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    let cap = crate::common::operator().admin_of(ws.id);
    let p = app.offline_saml_provider("acme", "Okta", T0).await;
    app::server::methods::change(&app.state.db, T0, &cap, &app.state.config, &[app::server::saml::method_key(p.public_id())], &["password".into()])
        .await
        .expect("saml only");

    let page = app.get(&format!("/invite/{token}"), None).await;
    assert!(page.body.contains(r#"data-testid="no-password""#) && page.body.contains("/w/acme/login"), "{}", page.body);
    assert!(!page.body.contains("Choose a password"), "no password form");
    let r = app.call::<app::api::invites::AcceptInvite>(&[("token", &token), ("full_name", "Ivy"), ("password", "a long password 1")], None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("doesn't use passwords"), "{}", r.body);
    assert!(r.cookie().is_none(), "no password session");
    assert!(app::server::testing::account_by_email(&app.state.db, ws.id, "ivy@acme.test").await.expect("db").is_none(), "nobody joined");
}

/// Without JavaScript the invite link reaches the admin's page once, in an HttpOnly cookie
/// scoped to that page: never in a URL (history, proxy logs), and a cookie naming any
/// other token shows nothing.
#[tokio::test]
async fn a_no_js_invite_link_travels_in_a_cookie_not_the_url() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let r = app.form::<InviteMember>(&[("slug", "acme"), ("email", "carol@acme.test"), ("role", "member")], Some(&admin), "/w/acme/settings/members").await;
    assert!(r.status.is_redirection(), "{}", r.status);
    assert_eq!(r.location(), Some("/w/acme/settings/members"), "nothing in the query");
    let set = r
        .headers
        .get_all(axum::http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gatehouse_fresh_invite="))
        .expect("flash cookie")
        .to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/w/acme/settings/members", "Max-Age=120"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    let flash = set.split(';').next().expect("pair").to_string();
    let token = flash.trim_start_matches("gatehouse_fresh_invite=").split('.').next().expect("token").to_string();
    let page = app.get("/w/acme/settings/members", Some(&format!("{admin}; {flash}"))).await;
    assert!(page.body.contains(&format!("/invite/{token}")), "the link is shown once");
    assert!(
        page.headers
            .get_all(axum::http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|c| c.starts_with("gatehouse_fresh_invite=;") && c.contains("Max-Age=0")),
        "and the cookie cleared"
    );
    let again = app.get("/w/acme/settings/members", Some(&admin)).await;
    assert!(!again.body.contains(&format!("/invite/{token}")));
    // A made-up token names no invite of this workspace: nothing is shown.
    let forged = app.get("/w/acme/settings/members", Some(&format!("{admin}; gatehouse_fresh_invite=AAAAforgedtokenAAAA.0"))).await;
    assert!(!forged.body.contains("/invite/AAAAforgedtokenAAAA"));
    assert!(!forged.body.contains("data-testid=\"invite-link\""));
    // The link works.
    let r = app.call::<app::api::invites::AcceptInvite>(&[("token", &token), ("full_name", "Carol"), ("password", "carol password 1")], None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// Confirmations after a no-JS form are codes: the page shows our sentence for one it
/// knows, and nothing for words somebody put in a link.
#[tokio::test]
async fn pages_show_only_their_own_notices() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let forged = "Your%20account%20is%20locked.%20Call%20%2B1%20555%200100";
    let page = app.get(&format!("/w/acme/settings/members?saved={forged}"), Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("account is locked"), "forged words shown");
    let page = app.get("/w/acme/settings/members?saved=role_changed", Some(&admin)).await;
    assert!(page.body.contains("Role changed."));
    let login = app.get(&format!("/w/acme/login?sso={forged}"), None).await;
    assert!(!login.body.contains("account is locked"));
    let login = app.get("/w/acme/login?sso=sso_bad_email", None).await;
    assert!(login.body.contains("Enter a valid email address."));
    // A no-JS change redirects with its code.
    let bea = app.add_member(&admin, "bea@acme.test", "member").await;
    drop(bea);
    let rows = members(&app, &admin).await;
    let id = id_of(&rows, "bea@acme.test");
    let r = app.form::<SetMemberRole>(&[("slug", "acme"), ("membership_id", &id), ("role", "admin")], Some(&admin), "/w/acme/settings/members").await;
    assert_eq!(r.location(), Some("/w/acme/settings/members?saved=role_changed"));
}
