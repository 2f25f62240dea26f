use app::api::auth::{Login, Me, Setup, SetupNeeded};
use axum::http::StatusCode;

use crate::common::*;

#[tokio::test]
async fn first_run_setup_creates_workspace_signs_in_and_disappears() {
    let app = TestApp::new().await;
    let r = app.call::<SetupNeeded>(&[], None).await;
    assert_eq!(r.body, "true");
    // The landing page sends a new installation to setup.
    let r = app.get("/", None).await;
    assert_eq!(r.location(), Some("/setup"), "status {}", r.status);

    // Without the setup token the server printed (or a wrong or old one), nothing happens.
    let first = app::server::workspaces::mint_setup_token(&app.state.db, T0, false).await.expect("db").expect("token").expose().to_string();
    let token = app::server::workspaces::mint_setup_token(&app.state.db, T0, false).await.expect("db").expect("token").expose().to_string();
    assert!(app::server::workspaces::mint_setup_token(&app.state.db, T0, true).await.expect("db").is_none(), "a restart keeps the printed one");
    for bad in ["", "guess", first.as_str()] {
        let args = [("setup_token", bad), ("slug", "acme"), ("name", "Acme"), ("admin_name", "Ada"), ("email", "Ada@Acme.test"), ("password", ADMIN_PASSWORD)];
        let r = app.call::<Setup>(&args, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}: {}", r.body);
        assert!(r.body.contains("setup token") && r.cookie().is_none(), "{}", r.body);
    }
    assert_eq!(app.call::<SetupNeeded>(&[], None).await.body, "true");
    // The setup page asks for it.
    assert!(app.get("/setup", None).await.body.contains("Setup token"));

    let args =
        [("setup_token", token.as_str()), ("slug", "acme"), ("name", "Acme"), ("admin_name", "Ada"), ("email", "Ada@Acme.test"), ("password", ADMIN_PASSWORD)];
    let r = app.call::<Setup>(&args, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let cookie = r.cookie().expect("setup signs the admin in");
    let r = app.call::<Me>(&[("slug", "acme")], Some(&cookie)).await;
    let me: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(me["email"], "Ada@Acme.test");
    assert_eq!(me["is_admin"], true);

    // Setup is gone: the server refuses a second one, and the page is a 404.
    assert_eq!(app.call::<SetupNeeded>(&[], None).await.body, "false");
    let again =
        [("setup_token", token.as_str()), ("slug", "evil"), ("name", "Evil"), ("admin_name", "E"), ("email", "e@evil.test"), ("password", ADMIN_PASSWORD)];
    assert_eq!(app.call::<Setup>(&again, None).await.status, StatusCode::NOT_FOUND, "the token is used up");
    assert!(app::server::workspaces::mint_setup_token(&app.state.db, T0, false).await.expect("db").is_none(), "no token once set up");
    assert_eq!(app.get("/setup", None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn setup_rejects_bad_input_with_a_clear_message_and_creates_nothing() {
    let app = TestApp::new().await;
    let token = app::server::workspaces::mint_setup_token(&app.state.db, T0, false).await.expect("db").expect("token").expose().to_string();
    let t = token.as_str();
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("setup_token", t), ("slug", "Bad Slug!"), ("name", "Acme"), ("admin_name", "Ada"), ("email", "a@acme.test"), ("password", ADMIN_PASSWORD)],
            "URL name",
        ),
        (
            &[("setup_token", t), ("slug", "acme"), ("name", "Acme"), ("admin_name", "Ada"), ("email", "not-an-email"), ("password", ADMIN_PASSWORD)],
            "valid email",
        ),
        (&[("setup_token", t), ("slug", "acme"), ("name", "Acme"), ("admin_name", "Ada"), ("email", "a@acme.test"), ("password", "short")], "at least 10"),
    ];
    for (args, needle) in cases {
        let r = app.call::<Setup>(args, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains(needle), "{} lacks {needle}", r.body);
    }
    assert_eq!(app.call::<SetupNeeded>(&[], None).await.body, "true");
}

#[tokio::test]
async fn login_failures_do_not_reveal_whether_an_account_exists() {
    let app = TestApp::with_workspace().await;
    let wrong_pw = app.call::<Login>(&[("slug", "acme"), ("email", ADMIN_EMAIL), ("password", "nope nope nope")], None).await;
    let unknown = app.call::<Login>(&[("slug", "acme"), ("email", "ghost@acme.test"), ("password", "nope nope nope")], None).await;
    assert_eq!(wrong_pw.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_pw.status, unknown.status);
    assert_eq!(wrong_pw.body, unknown.body);
    assert!(wrong_pw.body.contains("Email or password is incorrect"));
    assert!(wrong_pw.cookie().is_none());
}

#[tokio::test]
async fn login_sets_a_hardened_cookie_and_logout_revokes_the_session() {
    let app = TestApp::with_workspace().await;
    let r = app.call::<Login>(&[("slug", "acme"), ("email", "ADA@acme.test"), ("password", ADMIN_PASSWORD)], None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let set_cookie = r.headers.get("set-cookie").and_then(|v| v.to_str().ok()).expect("set-cookie").to_string();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let cookie = r.cookie().expect("cookie");
    // Each login mints a new token (no fixation).
    assert_ne!(cookie, app.admin_cookie().await);
    assert_eq!(app.me_status(&cookie).await, StatusCode::OK);
    let r = app.call_with("/logout", &[("slug", "acme")], Some(&cookie), "text/html", Some(ORIGIN)).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, Some("/w/acme/login")), "{}", r.body);
    assert!(r.headers.get_all("set-cookie").iter().any(|c| c.to_str().is_ok_and(|c| c.contains("Max-Age=0"))), "the cookie is cleared");
    assert_eq!(app.me_status(&cookie).await, StatusCode::UNAUTHORIZED);
    // Signing out is a same-origin form only: another site can't sign anyone out.
    let cookie = app.admin_cookie().await;
    let r = app.call_with("/logout", &[("slug", "acme")], Some(&cookie), "text/html", Some("https://evil.example")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.me_status(&cookie).await, StatusCode::OK);
}

#[tokio::test]
async fn oversized_passwords_are_refused_before_hashing() {
    let app = TestApp::with_workspace().await;
    let huge = "x".repeat(10_000);
    let r = app.call::<Login>(&[("slug", "acme"), ("email", ADMIN_EMAIL), ("password", &huge)], None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("at most 256"), "{}", r.body);
}

#[tokio::test]
async fn repeated_failures_are_throttled_per_account() {
    let app = TestApp::with_workspace().await; // 5 attempts per window in tests
    for _ in 0..5 {
        let r = app.call::<Login>(&[("slug", "acme"), ("email", ADMIN_EMAIL), ("password", "wrong password")], None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    // Even the right password is refused while throttled...
    let r = app.call::<Login>(&[("slug", "acme"), ("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)], None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.body.contains("RateLimited"), "{}", r.body);
    // ...and works again in the next window.
    app.clock.advance(15 * 60);
    app.login("acme", ADMIN_EMAIL, ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn cross_site_writes_are_refused() {
    let app = TestApp::with_workspace().await;
    let args = [("slug", "acme"), ("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)];
    let evil = app.call_with(<Login as leptos::server_fn::ServerFn>::PATH, &args, None, "application/json", Some("https://evil.example")).await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);
    let none = app.call_with(<Login as leptos::server_fn::ServerFn>::PATH, &args, None, "application/json", None).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    assert!(evil.cookie().is_none() && none.cookie().is_none());
    // DNS rebinding: evil.example now resolves to this server; its page posts with an
    // Origin that matches the Host it sent. The Host isn't ours: refused.
    let body = serde_urlencoded::to_string(args).expect("form");
    let req = axum::http::Request::post(<Login as leptos::server_fn::ServerFn>::PATH)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .header("host", "evil.example")
        .header("origin", "http://evil.example")
        .body(axum::body::Body::from(body))
        .expect("request");
    let rebound = app.send(req).await;
    assert_eq!(rebound.status, StatusCode::FORBIDDEN);
    assert!(rebound.cookie().is_none());
}

#[tokio::test]
async fn no_js_form_post_redirects_back_with_the_error_or_onward() {
    let app = TestApp::with_workspace().await;
    let bad = app.form::<Login>(&[("slug", "acme"), ("email", ADMIN_EMAIL), ("password", "wrong password")], None, "/w/acme/login").await;
    assert_eq!(bad.status, StatusCode::FOUND);
    let loc = bad.location().expect("location");
    assert!(loc.starts_with(&format!("{ORIGIN}/w/acme/login?")) && loc.contains("__err="), "{loc}");
    // The page rendered at that URL shows the message.
    let path = loc.trim_start_matches(ORIGIN);
    let page = app.get(path, None).await;
    assert!(page.body.contains("Email or password is incorrect"), "{}", page.body);

    let good = app.form::<Login>(&[("slug", "acme"), ("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)], None, "/w/acme/login").await;
    assert_eq!(good.location(), Some("/w/acme"));
    assert!(good.cookie().is_some());
}

#[tokio::test]
async fn failures_across_many_accounts_are_throttled_per_ip() {
    let app = TestApp::with_workspace().await; // 5 per account, 25 per IP per window
    for i in 0..25 {
        let email = format!("guess{i}@acme.test");
        let r = app.call::<Login>(&[("slug", "acme"), ("email", &email), ("password", "wrong password")], None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "attempt {i}");
    }
    let r = app.call::<Login>(&[("slug", "acme"), ("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)], None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
}

/// A burst of concurrent wrong passwords for one account, over real HTTP connections to
/// a served router, with the right password among them: each attempt is counted before
/// Argon2 runs, so at most the limit (5 here) of wrong passwords are evaluated and the rest
/// are 429, wherever the right one falls. (A success gives its slot back, since only
/// failures count: when the right password is evaluated mid-burst, one more attempt may be,
/// and it is still at most 5 wrong ones.) The right password then still works once the
/// window passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_concurrent_burst_gets_at_most_the_limit_evaluated() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = TestApp::with_config(|c| c.public_url = format!("http://{addr}")).await;
    app.create_workspace("acme", ADMIN_EMAIL).await;
    let router = app.router.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.expect("serve");
    });
    let http = reqwest::Client::new();
    let origin = format!("http://{addr}");
    let path = <app::api::auth::Login as leptos::server_fn::ServerFn>::PATH;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let password = if i == 39 { ADMIN_PASSWORD } else { "not the password" };
        let (http, origin) = (http.clone(), origin.clone());
        tasks.push(tokio::spawn(async move {
            http.post(format!("{origin}{path}"))
                .header("origin", &origin)
                .header("accept", "application/json")
                .form(&[("slug", "acme"), ("email", ADMIN_EMAIL), ("password", password)])
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    let wrong_evaluated = statuses[..39].iter().filter(|s| **s != 429).count();
    assert!(wrong_evaluated <= 5, "{wrong_evaluated} wrong passwords were evaluated: {statuses:?}");
    assert!(statuses[..39].iter().all(|s| matches!(s, 400 | 429)), "{statuses:?}");
    assert!(matches!(statuses[39], 200 | 429), "{statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 429).count() >= 34, "{statuses:?}");
    // A success gives its slot back; the window over, the right password works.
    app.clock.advance(app::server::auth::THROTTLE_WINDOW_SECS);
    let r = http
        .post(format!("{origin}{path}"))
        .header("origin", &origin)
        .header("accept", "application/json")
        .form(&[("slug", "acme"), ("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    server.abort();
}

/// Eight first-run setups at once end with exactly one workspace (on PostgreSQL too, where
/// nothing serialised the emptiness check and the insert before), and the others are the
/// same refusal as a setup after the fact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_setups_end_with_one_workspace() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let token = app::server::workspaces::mint_setup_token(&app.state.db, T0, false).await.expect("db").expect("token").expose().to_string();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (app, token) = (app.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let new = app::server::workspaces::NewWorkspace {
                slug: format!("first{i}"),
                name: format!("First {i}"),
                admin_email: format!("admin{i}@first.test"),
                admin_name: "Admin".into(),
                admin_password: Some(app::server::password::Password::new_secret(ADMIN_PASSWORD.into()).expect("pw")),
            };
            app::server::workspaces::create(&app.state.db, &app.state.hasher, T0, new, &app::server::audit::Actor::anonymous("setup", None), Some(&token)).await
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => created += 1,
            Err(app::server::DomainError::NotFound) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    use sea_orm::{EntityTrait, PaginatorTrait};
    let workspaces = app::server::entities::workspace::Entity::find().count(&app.state.db).await.expect("db");
    assert_eq!((created, workspaces), (1, 1));
}

/// One address spraying passwords over every workspace of the instance: each workspace's
/// own count (25 per address here) never trips, but the instance-wide ceiling (20× the
/// per-account limit, 100 here) does, and then even a workspace it never tried answers 429.
/// The next window starts afresh.
#[tokio::test]
async fn one_address_has_a_ceiling_across_all_workspaces() {
    let app = TestApp::with_workspace().await;
    let ceiling = 5 * app::server::auth::INSTANCE_IP_FACTOR;
    let slugs: Vec<String> = (0..6).map(|i| format!("spray{i}")).collect();
    for s in &slugs {
        app.create_workspace(s, &format!("admin@{s}.test")).await;
    }
    for n in 0..ceiling {
        let slug = &slugs[(n / 20) as usize];
        let email = format!("guess{n}@{slug}.test");
        let r = app.call::<Login>(&[("slug", slug.as_str()), ("email", &email), ("password", "wrong password")], None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "attempt {n} in {slug}: {}", r.body);
    }
    let r = app.call::<Login>(&[("slug", "acme"), ("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)], None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "a workspace this address never tried: {}", r.body);
    app.clock.advance(15 * 60);
    app.login("acme", ADMIN_EMAIL, ADMIN_PASSWORD).await;
}
