use app::api::settings::{SetSessionIdle, SetSessionLifetime};
use axum::http::StatusCode;

use crate::common::*;

#[tokio::test]
async fn sessions_expire_after_30_days_by_default() {
    let app = TestApp::with_workspace().await;
    let cookie = app.admin_cookie().await;
    app.clock.advance(30 * 86_400 - 1);
    assert_eq!(app.me_status(&cookie).await, StatusCode::OK);
    app.clock.advance(1);
    assert_eq!(app.me_status(&cookie).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn shortening_the_lifetime_applies_to_existing_sessions_at_once() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let member = app.add_member(&admin, "bob@acme.test", "member").await;
    app.clock.advance(3 * 86_400);
    assert_eq!(app.me_status(&member).await, StatusCode::OK);
    let r = app.call::<SetSessionLifetime>(&[("slug", "acme"), ("days", "2")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Both sessions are older than two days now.
    assert_eq!(app.me_status(&member).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me_status(&admin).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn lifetime_input_is_validated() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    for bad in ["0", "366", "abc", "-1", ""] {
        let r = app.call::<SetSessionLifetime>(&[("slug", "acme"), ("days", bad)], Some(&admin)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }
    let member = app.add_member(&admin, "bob@acme.test", "member").await;
    let r = app.call::<SetSessionLifetime>(&[("slug", "acme"), ("days", "1")], Some(&member)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "members can't change it");
}

#[tokio::test]
async fn a_session_of_one_workspace_does_not_open_another() {
    let app = TestApp::with_workspace().await;
    app.create_workspace("other", "olga@other.test").await;
    let acme = app.admin_cookie().await;
    let r = app.call::<app::api::auth::Me>(&[("slug", "other")], Some(&acme)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app.call::<app::api::settings::AuthSettings>(&[("slug", "other")], Some(&acme)).await;
    assert_ne!(r.status, StatusCode::OK);
}

/// An idle timeout ends a session unused for longer than it at its next request; use
/// keeps a session alive (last use is written at most once a minute); it is off by
/// default, only admins set it, and only to one of the offered values.
#[tokio::test]
async fn an_idle_timeout_ends_unused_sessions_and_spares_used_ones() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let member = app.add_member(&admin, "bob@acme.test", "member").await;
    // Off by default: a day of idleness ends nothing.
    app.clock.advance(86_400);
    assert_eq!(app.me_status(&member).await, StatusCode::OK);
    for bad in ["7", "-15", "abc", "", "100000"] {
        let r = app.call::<SetSessionIdle>(&[("slug", "acme"), ("minutes", bad)], Some(&admin)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }
    let r = app.call::<SetSessionIdle>(&[("slug", "acme"), ("minutes", "15")], Some(&member)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "members can't change it");
    let r = app.call::<SetSessionIdle>(&[("slug", "acme"), ("minutes", "15")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The admin keeps using theirs every 10 minutes for an hour; the member doesn't.
    for _ in 0..6 {
        app.clock.advance(600);
        assert_eq!(app.me_status(&admin).await, StatusCode::OK, "a session in use stays");
    }
    assert_eq!(app.me_status(&member).await, StatusCode::UNAUTHORIZED, "an hour unused ends it");
    // Exactly at the limit it ends; a minute before it doesn't.
    let member = app.login("acme", "bob@acme.test", "member password 1").await;
    app.clock.advance(14 * 60);
    assert_eq!(app.me_status(&member).await, StatusCode::OK);
    app.clock.advance(15 * 60);
    assert_eq!(app.me_status(&member).await, StatusCode::UNAUTHORIZED);
    // The admin's own session went idle meanwhile (29 minutes): they sign in again.
    assert_eq!(app.me_status(&admin).await, StatusCode::UNAUTHORIZED);
    let admin = app.admin_cookie().await;
    // Off again: idleness ends nothing.
    let r = app.call::<SetSessionIdle>(&[("slug", "acme"), ("minutes", "0")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.clock.advance(86_400);
    assert_eq!(app.me_status(&admin).await, StatusCode::OK);
}

/// A live page's stream re-checks its session every minute; that check isn't use, so an
/// unattended open page doesn't hold off the idle timeout.
#[tokio::test]
async fn an_open_pages_session_checks_do_not_count_as_use() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let r = app.call::<SetSessionIdle>(&[("slug", "acme"), ("minutes", "15")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(axum::http::header::COOKIE, admin.parse().expect("cookie header"));
    let check = |app: &TestApp| {
        let (db, now, headers) = (app.state.db.clone(), app.state.now(), headers.clone());
        async move { app::web::cookies::check_from_headers(&db, now, &headers, false).await.expect("check").is_some() }
    };
    for _ in 0..14 {
        app.clock.advance(60);
        assert!(check(&app).await, "still within 15 minutes of last use");
    }
    app.clock.advance(60);
    assert!(!check(&app).await, "15 minutes after the last real use it has ended");
    assert_eq!(app.me_status(&admin).await, StatusCode::UNAUTHORIZED);
}

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

/// Signs in with a password from `peer` with a browser's User-Agent; returns the cookie.
async fn login_as(app: &TestApp, slug: &str, email: &str, password: &str, user_agent: &str, peer: &str) -> String {
    use axum::http::header;
    let body = serde_urlencoded::to_string([("slug", slug), ("email", email), ("password", password)]).expect("form");
    let mut req = axum::http::Request::post(<app::api::auth::Login as leptos::server_fn::ServerFn>::PATH)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header(header::HOST, "gatehouse.test")
        .header(header::ORIGIN, ORIGIN)
        .header(header::USER_AGENT, user_agent)
        .body(axum::body::Body::from(body))
        .expect("request");
    req.extensions_mut().insert(axum::extract::ConnectInfo::<std::net::SocketAddr>(peer.parse().expect("peer")));
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.cookie().expect("session cookie")
}

fn sessions_of(r: &Reply) -> Vec<serde_json::Value> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    serde_json::from_str::<Vec<serde_json::Value>>(&r.body).expect("json")
}

async fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    use sea_orm::{EntityTrait, QueryOrder};
    app::server::entities::audit_log::Entity::find()
        .order_by_asc(app::server::entities::audit_log::Column::Id)
        .all(&app.state.db)
        .await
        .expect("db")
        .into_iter()
        .map(|a| (a.action, a.details))
        .collect()
}

/// A member sees each of their sessions (device from the User-Agent, address, method,
/// which one is this browser), ends another one — whose next request is refused — and then
/// every other one; the one they act through stays.
#[tokio::test]
async fn members_see_their_sessions_and_end_the_others() {
    use app::api::account::{EndMyOtherSessions, EndMySession, MySessions};
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    app.add_member(&admin, "bob@acme.test", "member").await;
    let laptop = login_as(&app, "acme", "bob@acme.test", "member password 1", CHROME, "198.51.100.7:5000").await;
    app.clock.advance(120);
    let phone = login_as(&app, "acme", "bob@acme.test", "member password 1", FIREFOX, "203.0.113.9:5000").await;
    let list = sessions_of(&app.call::<MySessions>(&[("slug", "acme")], Some(&laptop)).await);
    assert_eq!(list.len(), 3, "the invite's session and two sign-ins: {list:?}");
    let chrome = list.iter().find(|s| s["device"] == "Chrome 120 on Windows 10").expect("the laptop");
    assert_eq!(
        (chrome["ip"].as_str(), chrome["method"].as_str(), chrome["current"].as_bool()),
        (Some("198.51.100.7"), Some("Username and password"), Some(true))
    );
    let firefox = list.iter().find(|s| s["device"] == "Firefox 121 on Linux").expect("the phone");
    assert_eq!((firefox["ip"].as_str(), firefox["current"].as_bool()), (Some("203.0.113.9"), Some(false)));
    assert_eq!(list[0]["device"], "Firefox 121 on Linux", "the most recently used first");

    let id = firefox["id"].as_i64().expect("id").to_string();
    let r = app.call::<EndMySession>(&[("slug", "acme"), ("session_id", &id)], Some(&laptop)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.me_status(&phone).await, StatusCode::UNAUTHORIZED, "the ended session's next request");
    assert_eq!(app.me_status(&laptop).await, StatusCode::OK);
    assert_eq!(sessions_of(&app.call::<MySessions>(&[("slug", "acme")], Some(&laptop)).await).len(), 2);

    let r = app.call::<EndMyOtherSessions>(&[("slug", "acme")], Some(&laptop)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("1 session"), "{}", r.body);
    let left = sessions_of(&app.call::<MySessions>(&[("slug", "acme")], Some(&laptop)).await);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
    assert_eq!(app.me_status(&admin).await, StatusCode::OK, "another member's session is untouched");
    let actions = audit_actions(&app).await;
    assert!(actions.iter().any(|(a, _)| a == "session.end"), "{actions:?}");
    assert!(actions.iter().any(|(a, d)| a == "session.end_others" && d.contains("\"sessions_ended\":1")), "{actions:?}");
}

/// A session id is only ever one's own: a member who names another member's session, or
/// a session of another workspace, gets "not found" and nothing ends. The page needs a
/// session of this workspace.
#[tokio::test]
async fn nobody_ends_a_session_that_is_not_theirs() {
    use app::api::account::{EndMySession, MySessions};
    let app = TestApp::with_workspace().await;
    app.create_workspace("beta", "betty@beta.test").await;
    let admin = app.admin_cookie().await;
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    let betty = app.login("beta", "betty@beta.test", ADMIN_PASSWORD).await;
    let admins = sessions_of(&app.call::<MySessions>(&[("slug", "acme")], Some(&admin)).await);
    let bettys = sessions_of(&app.call::<MySessions>(&[("slug", "beta")], Some(&betty)).await);
    for (who, id) in [("the admin's", &admins[0]["id"]), ("another workspace's", &bettys[0]["id"])] {
        let r = app.call::<EndMySession>(&[("slug", "acme"), ("session_id", &id.to_string())], Some(&bob)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{who}: {}", r.body);
    }
    assert_eq!(app.me_status(&admin).await, StatusCode::OK);
    assert_eq!(app.call::<app::api::auth::Me>(&[("slug", "beta")], Some(&betty)).await.status, StatusCode::OK);
    // Betty's session is not a session of acme.
    assert_eq!(app.call::<MySessions>(&[("slug", "acme")], Some(&betty)).await.status, StatusCode::UNAUTHORIZED);
    let page = app.get("/w/acme/account", Some(&bob)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Your sessions") && page.body.contains("This browser"), "{}", page.body);
}

/// Admins see each member's live sessions and sign one out everywhere: every session of
/// theirs ends at once, the member's open page is told, and it is audited. A member can't,
/// and a membership of another workspace is not found.
#[tokio::test]
async fn an_admin_signs_a_member_out_everywhere() {
    use app::api::members::{ListMembers, SignOutMember};
    let app = TestApp::with_workspace().await;
    app.create_workspace("beta", "betty@beta.test").await;
    let admin = app.admin_cookie().await;
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    let bob2 = app.login("acme", "bob@acme.test", "member password 1").await;
    let carol = app.add_member(&admin, "carol@acme.test", "member").await;
    let listed = app.call::<ListMembers>(&[("slug", "acme")], Some(&admin)).await;
    let v: serde_json::Value = serde_json::from_str(&listed.body).expect("json");
    let bob_row = v["rows"].as_array().expect("rows").iter().find(|r| r["email"] == "bob@acme.test").expect("bob").clone();
    assert_eq!(bob_row["sessions"], 2);
    let bob_id = bob_row["membership_id"].to_string();
    let mut page = app.events("acme", "access", Some(&bob)).await.expect("bob's open page");

    let r = app.call::<SignOutMember>(&[("slug", "acme"), ("membership_id", &bob_id)], Some(&carol)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "members can't");
    let betty = app.login("beta", "betty@beta.test", ADMIN_PASSWORD).await;
    let r = app.call::<SignOutMember>(&[("slug", "beta"), ("membership_id", &bob_id)], Some(&betty)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another workspace's admin can't");
    assert_eq!(app.me_status(&bob).await, StatusCode::OK);

    let r = app.call::<SignOutMember>(&[("slug", "acme"), ("membership_id", &bob_id)], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("2 sessions"), "{}", r.body);
    assert_eq!(page.next().await.as_deref(), Some("signedout"), "the open page is told at once, not at its next minute's check");
    for c in [&bob, &bob2] {
        assert_eq!(app.me_status(c).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.me_status(&carol).await, StatusCode::OK);
    assert!(audit_actions(&app).await.iter().any(|(a, d)| a == "member.sign_out" && d.contains("\"sessions_ended\":2")));
    // Bob is still a member: he signs in again.
    app.login("acme", "bob@acme.test", "member password 1").await;
}

/// Break-glass: the admin sees what signing every member out would end, must confirm, and
/// then every session in the workspace ends but their own — never one of another
/// workspace.
#[tokio::test]
async fn an_admin_signs_every_member_out_after_confirming() {
    use app::api::members::{SignOutEveryone, SignOutEveryonePreview};
    let app = TestApp::with_workspace().await;
    app.create_workspace("beta", "betty@beta.test").await;
    let admin = app.admin_cookie().await;
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    let carol = app.add_member(&admin, "carol@acme.test", "admin").await;
    let other_admin_session = app.admin_cookie().await;
    let betty = app.login("beta", "betty@beta.test", ADMIN_PASSWORD).await;
    let r = app.call::<SignOutEveryonePreview>(&[("slug", "acme")], Some(&admin)).await;
    let p: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!((p["sessions"].as_u64(), p["members"].as_u64()), (Some(3), Some(3)), "bob, carol and the admin's other session: {p}");
    let page = app.get("/w/acme/settings/members?confirm=sign-out-everyone", Some(&admin)).await;
    assert!(page.body.contains("This ends 3 sessions of 3 members."), "{}", page.body);

    let r = app.call::<SignOutEveryone>(&[("slug", "acme"), ("confirm", "")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "not without the confirmation");
    assert_eq!(app.me_status(&bob).await, StatusCode::OK);
    let r = app.call::<SignOutEveryone>(&[("slug", "acme"), ("confirm", "sign-out-everyone")], Some(&bob)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "members can't");

    let r = app.call::<SignOutEveryone>(&[("slug", "acme"), ("confirm", "sign-out-everyone")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for c in [&bob, &carol, &other_admin_session] {
        assert_eq!(app.me_status(c).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.me_status(&admin).await, StatusCode::OK, "the acting admin's session stays");
    assert_eq!(app.call::<app::api::auth::Me>(&[("slug", "beta")], Some(&betty)).await.status, StatusCode::OK, "another workspace is untouched");
    assert!(audit_actions(&app).await.iter().any(|(a, d)| a == "workspace.sign_out_everyone" && d.contains("\"sessions_ended\":3")));
}
