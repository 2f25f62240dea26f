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
    use app::server::sessions;
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let r = app.call::<SetSessionIdle>(&[("slug", "acme"), ("minutes", "15")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(axum::http::header::COOKIE, admin.parse().expect("cookie header"));
    let check = |app: &TestApp| {
        let (db, now, headers) = (app.state.db.clone(), app.state.now(), headers.clone());
        async move { sessions::check_from_headers(&db, now, &headers, false).await.expect("check").is_some() }
    };
    for _ in 0..14 {
        app.clock.advance(60);
        assert!(check(&app).await, "still within 15 minutes of last use");
    }
    app.clock.advance(60);
    assert!(!check(&app).await, "15 minutes after the last real use it has ended");
    assert_eq!(app.me_status(&admin).await, StatusCode::UNAUTHORIZED);
}
