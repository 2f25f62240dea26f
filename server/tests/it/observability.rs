//! `/metrics` (off without a token; bearer token otherwise) and request ids.
use axum::body::Body;
use axum::http::{header, Request, StatusCode};

use crate::common::*;

const TOKEN: &str = "metrics-token-for-tests-0123456789";

async fn scrape(app: &TestApp, auth: Option<&str>) -> Reply {
    let mut b = Request::get("/metrics");
    if let Some(a) = auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    app.send(b.body(Body::empty()).expect("request")).await
}

/// The value of the series whose line starts with `prefix` (0 when absent).
fn value(text: &str, prefix: &str) -> f64 {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_need_the_token_and_count_sign_ins_and_requests() {
    let off = TestApp::with_workspace().await;
    assert_eq!(scrape(&off, Some(&format!("Bearer {TOKEN}"))).await.status, StatusCode::NOT_FOUND, "off without a configured token");

    let app = TestApp::with_config(|c| c.metrics_token = Some(TOKEN.into())).await;
    app.create_workspace("acme", ADMIN_EMAIL).await;
    assert_eq!(scrape(&app, None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(scrape(&app, Some("Bearer wrong-token-wrong-token-wrong")).await.status, StatusCode::UNAUTHORIZED);

    let before = scrape(&app, Some(&format!("Bearer {TOKEN}"))).await.body;
    let refused = r#"gatehouse_sign_ins_total{method="password",outcome="refused"}"#;
    let ok = r#"gatehouse_sign_ins_total{method="password",outcome="ok"}"#;
    let r = app.call::<app::api::auth::Login>(&[("slug", "acme"), ("email", ADMIN_EMAIL), ("password", "not the password")], None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let _admin = app.admin_cookie().await;
    let m = scrape(&app, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(m.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/plain")));
    let text = m.body;
    assert!(value(&text, refused) >= value(&before, refused) + 1.0, "{text}");
    assert!(value(&text, ok) >= value(&before, ok) + 1.0, "{text}");
    assert!(text.contains(r#"gatehouse_http_request_duration_seconds_count{method="POST",route="/api/"#), "server functions are timed by route template: {text}");
    assert!(text.contains(r#"gatehouse_db_pool_connections{state="max"}"#));
    assert!(text.contains("# TYPE gatehouse_saml_rejections_total counter"));
    assert!(!text.contains("not the password") && !text.contains(TOKEN), "no secrets in metrics");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_sane_caller_id_is_kept() {
    let app = TestApp::new().await;
    let r = app.get("/healthz", None).await;
    let id = r.headers.get("x-request-id").and_then(|v| v.to_str().ok()).expect("an id").to_string();
    assert_eq!(id.len(), 16);
    let other = app.get("/healthz", None).await;
    assert_ne!(other.headers.get("x-request-id").and_then(|v| v.to_str().ok()), Some(id.as_str()), "a new id per request");
    let mine = app.send(Request::get("/healthz").header("x-request-id", "lb-abc_123").body(Body::empty()).expect("request")).await;
    assert_eq!(mine.headers.get("x-request-id").and_then(|v| v.to_str().ok()), Some("lb-abc_123"), "the load balancer's id is kept");
    let bad = app.send(Request::get("/healthz").header("x-request-id", "has spaces; and=more").body(Body::empty()).expect("request")).await;
    let replaced = bad.headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert_eq!(replaced.len(), 16, "an odd id is replaced, not echoed: {replaced}");
}
