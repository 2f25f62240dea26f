//! Server-rendered pages: status codes, content, headers.
use axum::http::StatusCode;

use crate::common::*;

#[tokio::test]
async fn login_page_renders_the_password_form_with_security_headers() {
    let app = TestApp::with_workspace().await;
    let r = app.get("/w/acme/login", None).await;
    assert_eq!(r.status, StatusCode::OK);
    for needle in ["acme Inc</h1>", ">Email<", ">Password<", "Sign in</button>"] {
        assert!(r.body.contains(needle), "{needle} missing in {}", r.body);
    }
    let csp = r.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).expect("csp");
    let nonce = csp.split("'nonce-").nth(1).and_then(|s| s.split('\'').next()).expect("nonce");
    assert!(r.body.contains(&format!("nonce=\"{nonce}\"")), "hydration script carries the nonce");
    let script_nonces: std::collections::BTreeSet<&str> =
        r.body.split("nonce=\"").skip(1).filter_map(|s| s.split('"').next()).collect();
    assert_eq!(script_nonces.len(), 1, "every inline script uses the CSP's nonce: {script_nonces:?}");
    assert_eq!(r.headers.get("x-frame-options").map(|v| v.as_bytes()), Some(&b"DENY"[..]));
    assert_eq!(r.headers.get("referrer-policy").map(|v| v.as_bytes()), Some(&b"same-origin"[..]));
}

#[tokio::test]
async fn unknown_workspace_and_unknown_paths_are_404() {
    let app = TestApp::with_workspace().await;
    assert_eq!(app.get("/w/nope/login", None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/no/such/page", None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn settings_pages_are_for_admins_only() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let r = app.get("/w/acme/settings/authentication", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    for needle in ["Member Authorization", "Username and password", "Google", "Slack", "Office365", "Not configured on this server", "Session lifetime"] {
        assert!(r.body.contains(needle), "{needle} missing in {}", r.body);
    }
    assert!(r.body.contains(ADMIN_EMAIL) && r.body.contains("Sign out"), "header shows who is signed in");
    let r = app.get("/w/acme/settings/members", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Invite a member"));

    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    assert_eq!(app.get("/w/acme/settings/authentication", Some(&bob)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/w/acme/settings/members", Some(&bob)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/w/acme", Some(&bob)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_the_login_page() {
    let app = TestApp::with_workspace().await;
    let r = app.get("/w/acme/settings/members", None).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.location(), Some("/w/acme/login"));
}

#[tokio::test]
async fn health_endpoints() {
    let app = TestApp::new().await;
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    let r = app.get("/readyz", None).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "ready"));
}
