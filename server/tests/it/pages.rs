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
    assert_scripts_allowed_by_csp(&r);
    assert_eq!(r.headers.get("x-frame-options").map(|v| v.as_bytes()), Some(&b"DENY"[..]));
    assert_eq!(r.headers.get("referrer-policy").map(|v| v.as_bytes()), Some(&b"same-origin"[..]));
}

#[tokio::test]
async fn unknown_workspace_and_unknown_paths_are_404() {
    let app = TestApp::with_workspace().await;
    assert_eq!(app.get("/w/nope/login", None).await.status, StatusCode::NOT_FOUND);
    let r = app.get("/no/such/page", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Rendered by the router's fallback, not a page route: its hydration scripts must
    // still be allowed by its policy (they were blocked by the nonce-less default).
    assert!(r.body.contains("<script"), "the 404 page hydrates: {}", r.body);
    assert_scripts_allowed_by_csp(&r);
    let admin = app.admin_cookie().await;
    let r = app.get("/w/acme/settings/nothing-here", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_scripts_allowed_by_csp(&r);
}

/// The page's CSP names a nonce, and every inline script carries exactly that nonce.
fn assert_scripts_allowed_by_csp(r: &Reply) {
    let csp = r.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).expect("csp");
    let nonce = csp.split("'nonce-").nth(1).and_then(|s| s.split('\'').next()).unwrap_or_else(|| panic!("no nonce in the CSP {csp}"));
    assert!(r.body.contains(&format!("nonce=\"{nonce}\"")), "hydration script carries the nonce");
    let script_nonces: std::collections::BTreeSet<&str> = r.body.split("nonce=\"").skip(1).filter_map(|s| s.split('"').next()).collect();
    assert_eq!(script_nonces.len(), 1, "every inline script uses the CSP's nonce: {script_nonces:?}");
    let bare = r.body.split("<script").skip(1).filter_map(|s| s.split('>').next()).filter(|tag| !tag.contains("nonce=")).count();
    assert_eq!(bare, 0, "a script element without the nonce: {}", r.body);
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

/// Many concurrent server renders of every page with a data boundary, as an admin (200)
/// and as a member (404 for the admin pages), while another thread keeps building routers
/// as every test does for its app. Building a router generated the route list, which holds
/// leptos_server's process-wide `SuppressResourceLoad` flag: a resource created on another
/// thread meanwhile never loaded and its page hung (the rare 503 after 30 s in the parallel
/// suite). Each request here must answer within 10 s. `GATEHOUSE_STRESS_ROUNDS` raises the
/// rounds (default 10).
#[tokio::test]
async fn concurrent_renders_while_other_apps_start_all_complete() {
    let app = std::sync::Arc::new(TestApp::with_workspace().await);
    let _builder = RouterBuilder::start(&app);
    stress_renders(&app, rounds(10)).await;
}

/// The same on a multi-thread runtime, where a render's tasks run on several threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_renders_on_a_multi_thread_runtime_all_complete() {
    let app = std::sync::Arc::new(TestApp::with_workspace().await);
    let _builder = RouterBuilder::start(&app);
    stress_renders(&app, rounds(10)).await;
}

/// Builds routers for `app`'s state on its own thread until dropped.
struct RouterBuilder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RouterBuilder {
    fn start(app: &TestApp) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let state = app.state.clone();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                drop(server::router::app(state.clone()));
            }
        });
        RouterBuilder { stop, thread: Some(thread) }
    }
}

impl Drop for RouterBuilder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn rounds(default: usize) -> usize {
    std::env::var("GATEHOUSE_STRESS_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn stress_renders(app: &std::sync::Arc<TestApp>, rounds: usize) {
    let admin = app.admin_cookie().await;
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    let pages = [
        ("/w/acme", StatusCode::OK, StatusCode::OK),
        ("/w/acme/settings/authentication", StatusCode::OK, StatusCode::NOT_FOUND),
        ("/w/acme/settings/members", StatusCode::OK, StatusCode::NOT_FOUND),
        ("/w/acme/settings/groups", StatusCode::OK, StatusCode::NOT_FOUND),
        ("/w/acme/settings/access", StatusCode::OK, StatusCode::NOT_FOUND),
        ("/w/acme/settings/overview", StatusCode::OK, StatusCode::NOT_FOUND),
    ];
    for round in 0..rounds {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..4 {
            for (path, as_admin, as_member) in pages {
                for (cookie, want) in [(admin.clone(), as_admin), (bob.clone(), as_member)] {
                    let app = app.clone();
                    set.spawn(async move {
                        let req = axum::http::Request::get(path)
                            .header(axum::http::header::ACCEPT, "text/html")
                            .header(axum::http::header::COOKIE, &cookie)
                            .body(axum::body::Body::empty())
                            .expect("request");
                        let res = tokio::time::timeout(std::time::Duration::from_secs(10), tower::ServiceExt::oneshot(app.router.clone(), req)).await;
                        let res = res.unwrap_or_else(|_| panic!("round {round}: {path} did not answer within 10 s")).expect("infallible");
                        let status = res.status();
                        let body = http_body_util::BodyExt::collect(res.into_body()).await.expect("body").to_bytes();
                        assert_eq!(status, want, "round {round}: {path}: {}", String::from_utf8_lossy(&body));
                    });
                }
            }
        }
        while let Some(r) = set.join_next().await {
            r.expect("render task");
        }
    }
}

/// Every page and answer is `no-store` (they carry sessions' data and secrets shown once:
/// tokens, invite links); only the build's static files may be cached. HSTS when the public
/// URL is https.
#[tokio::test]
async fn responses_are_not_stored_and_https_sites_send_hsts() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let invite = app.call::<app::api::members::InviteMember>(&[("slug", "acme"), ("email", "ivy@acme.test"), ("role", "member")], Some(&admin)).await;
    for (what, r) in [
        ("login page", app.get("/w/acme/login", None).await),
        ("admin page", app.get("/w/acme/settings/members", Some(&admin)).await),
        ("an invite link (a secret)", invite),
        ("a 404", app.get("/no/such/page", None).await),
        ("SCIM", app.get("/scim/v2/ServiceProviderConfig", None).await),
    ] {
        assert_eq!(r.headers.get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]), "{what}");
        assert!(r.headers.get("strict-transport-security").is_none(), "{what}: http site");
    }
    let https = TestApp::with_config(|c| c.public_url = "https://gatehouse.example.com".into()).await;
    let r = https.get("/healthz", None).await;
    assert_eq!(r.headers.get("strict-transport-security").map(|v| v.as_bytes()), Some(&b"max-age=63072000; includeSubDomains"[..]));
}

/// The body with its CSP nonce blanked wherever it appears (the one part that differs
/// per response: in `nonce` attributes and, from Leptos, in `crossorigin`).
fn without_nonces(body: &str) -> String {
    let nonce = body.split("nonce=\"").nth(1).and_then(|s| s.split('"').next()).filter(|n| n.len() >= 16).unwrap_or("");
    if nonce.is_empty() {
        body.to_string()
    } else {
        body.replace(nonce, "")
    }
}

/// A page decides once who may see it: a member who opens any admin page gets exactly the
/// page a path that doesn't exist gets (status and bytes, nonces aside): no header, no
/// admin form above a "Not found". (It showed the admin's forms, the member's header and a
/// 404 `<main>` inside the page's own.)
#[tokio::test]
async fn a_members_404_on_an_admin_page_is_the_missing_page() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    let missing = app.get("/w/acme/no/such/page", Some(&bob)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("Not found") && missing.body.contains(r#"<meta name="gatehouse-viewer" content="member">"#), "{}", missing.body);
    let provider = "0000000000000000";
    for path in [
        "/w/acme/settings/authentication".to_string(),
        format!("/w/acme/settings/authentication/saml/{provider}"),
        format!("/w/acme/settings/authentication/saml/{provider}/reconcile"),
        "/w/acme/settings/preview?what=grant&group_id=1&resource_id=1&level=view".to_string(),
        "/w/acme/settings/overview".to_string(),
        "/w/acme/settings/members".to_string(),
        "/w/acme/settings/groups".to_string(),
        "/w/acme/settings/access".to_string(),
    ] {
        let r = app.get(&path, Some(&bob)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        for admin_only in ["Invite a member", "Create group", "Add", "Session lifetime", "Sign out"] {
            assert!(!r.body.contains(&format!(">{admin_only}<")), "{path} shows {admin_only}");
        }
        assert_eq!(without_nonces(&r.body), without_nonces(&missing.body), "{path}");
        if !path.contains(provider) && !path.contains("preview") {
            let page = app.get(&path, Some(&admin)).await;
            assert_eq!(page.status, StatusCode::OK, "{path} as admin");
            assert!(page.body.contains(r#"<meta name="gatehouse-viewer" content="admin">"#), "{path}");
        }
    }
    // Signed out, an admin page still sends to sign-in.
    let r = app.get("/w/acme/settings/access", None).await;
    assert_eq!((r.status, r.location()), (StatusCode::FOUND, Some("/w/acme/login")));
}

/// A binary built by plain cargo (as `cargo test` builds it, before `cargo leptos build`
/// or without it) still names its scripts: its pages once asked for `/pkg/.js` and never
/// hydrated, which failed every JavaScript end-to-end test after a build in that order.
#[test]
fn pages_name_their_scripts_whatever_built_the_binary() {
    if std::env::var_os("LEPTOS_OUTPUT_NAME").is_none() {
        assert_eq!(server::leptos_options().output_name.as_ref(), "gatehouse");
    }
}
