use app::api::settings::SetSessionLifetime;
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
