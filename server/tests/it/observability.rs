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
    assert!(
        text.contains(r#"gatehouse_http_request_duration_seconds_count{method="POST",route="/api/"#),
        "server functions are timed by route template: {text}"
    );
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

#[tokio::test]
async fn the_overview_charts_sign_ins_and_the_audit_log_filters_and_exports() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    let _ = app.admin_cookie().await;

    let r = app.call::<app::api::overview::LoadOverview>(&[("slug", "acme")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let o: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(o["days"].as_array().map(Vec::len), Some(30));
    let password = o["sign_ins"].as_array().expect("series").iter().find(|s| s["label"] == "Password").expect("password series");
    assert_eq!(password["values"].as_array().and_then(|v| v.last()).and_then(|v| v.as_u64()), Some(3), "two admin sign-ins and Bob's invite, today");
    assert_eq!(app.call::<app::api::overview::LoadOverview>(&[("slug", "acme")], Some(&bob)).await.status, StatusCode::NOT_FOUND, "admins only");
    let page = app.get("/w/acme/settings/overview", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"data-testid="sign-ins-chart" data-total="3""#), "server-rendered chart");
    assert!(page.body.contains("<svg"), "an SVG chart without JavaScript");

    // The audit log: filters by action prefix and actor.
    let audit = |args: Vec<(&'static str, &'static str)>| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let mut all = vec![("slug", "acme")];
            all.extend(args);
            app.call::<app::api::overview::LoadAudit>(&all, Some(&admin)).await
        }
    };
    let r = audit(vec![("action", "signin")]).await;
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert!(v["total"].as_u64() >= Some(2), "{v}");
    assert!(v["rows"].as_array().expect("rows").iter().all(|r| r["action"].as_str().is_some_and(|a| a.starts_with("signin"))));
    let r = audit(vec![("action", "member.inv"), ("actor", "ADA@")]).await;
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert!(v["total"].as_u64() >= Some(1) && v["rows"][0]["actor"].as_str().is_some_and(|a| a.contains("ada@")), "{v}");
    assert!(audit(vec![("actor", "nobody-like-this")]).await.body.contains("\"total\":0"));
    assert_eq!(audit(vec![("action", "%")]).await.status, StatusCode::BAD_REQUEST, "wildcards are refused, not interpreted");
    assert!(audit(vec![("actor", "%")]).await.body.contains("\"total\":0"), "a % in the actor is literal");

    // CSV export: admins only; the same filters; a header row.
    let csv = app.get("/w/acme/audit.csv?action=signin", Some(&admin)).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()), Some("text/csv; charset=utf-8"));
    let mut lines = csv.body.lines();
    assert_eq!(lines.next(), Some("time,actor,action,target,details,ip"));
    let rest: Vec<&str> = lines.collect();
    assert!(!rest.is_empty() && rest.iter().all(|l| l.contains(",signin,")), "{}", csv.body);
    assert_eq!(app.get("/w/acme/audit.csv", Some(&bob)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/w/acme/audit.csv", None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/w/other/audit.csv", Some(&admin)).await.status, StatusCode::NOT_FOUND);
}

/// Secrets live in a type whose Debug and Display print `<redacted>`: a provider's SP
/// private key, an OIDC client secret, the metrics token, an OIDC nonce and PKCE verifier
/// never reach a log line or a panic message through `{:?}`.
#[tokio::test]
async fn secrets_never_print_through_debug() {
    let app = TestApp::with_config(|c| {
        c.metrics_token = Some(TOKEN.into());
        c.oidc = vec![app::server::oidc::OidcProvider::new("google", "client", "client-secret-value", Some("https://accounts.google.com"))];
        c.mailer = Some(app::server::mail::Mailer::new("smtp://mailuser:smtp-password-value@127.0.0.1:2525", "Gatehouse <gh@acme.test>").expect("mailer"));
    })
    .await;
    app.create_workspace("acme", ADMIN_EMAIL).await;
    let printed = format!("{:?} {:#?}", app.state.config, app.state.config);
    for secret in [TOKEN, "client-secret-value", "smtp-password-value"] {
        assert!(!printed.contains(secret), "{secret} printed");
    }
    assert!(printed.contains("<redacted>"), "{printed}");
    let p = app.offline_saml_provider("acme", "Okta", T0).await;
    let key = p.row().sp_key_pem.as_ref().expect("key").expose().to_string();
    assert!(key.contains("PRIVATE KEY"));
    let printed = format!("{p:?}");
    assert!(!printed.contains("PRIVATE KEY") && !printed.contains(&key[40..80]), "{printed}");
}
