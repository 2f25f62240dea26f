//! `/forward-auth` as a reverse proxy calls it: the same rule as our own pages, decided on
//! every call, no session of another workspace counted, and every identity header always
//! written (so the proxy overwrites whatever the client sent). Behind a real Caddy here
//! (the last test); behind a real nginx in end2end/tests/proxy.spec.mjs.
use app::api::access::{ChangeGroup, ChangeResource};
use app::api::members::SetMemberStatus;
use app::server::entities::{membership, resource};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::common::{Reply, TestApp, ADMIN_PASSWORD};

const RULES: &str = "/app/{workspace}/collections/{collection}/**; /app/{workspace}/reports/{resource} view; /app/{workspace}/**";

struct World {
    app: TestApp,
    admin: String,
    bob: String,
    revenue: i64,
    finance: i64,
}

async fn world() -> World {
    let app = TestApp::with_config(|c| c.forward_auth = app::server::forward_auth::Rules::parse(RULES).expect("rules")).await;
    app.create_workspace("acme", crate::common::ADMIN_EMAIL).await;
    let admin = app.admin_cookie().await;
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    let (revenue, finance) = app.granted(&admin, "Revenue", "Finance, EMEA", "bob@acme.test", "view").await;
    World { app, admin, bob, revenue, finance }
}

/// What nginx's `auth_request` subrequest looks like: the original method, the URI in
/// `X-Original-URI`, the browser's headers (its cookie, and anything it forged).
/// In `?mode=redirect` (Traefik, Caddy) the proxy's headers are `X-Forwarded-*` instead.
async fn ask(app: &TestApp, method: &str, uri: &str, cookie: Option<&str>, mode: &str, extra: &[(&str, &str)]) -> Reply {
    let (uri_h, method_h) = if mode.contains("redirect") { ("x-forwarded-uri", "x-forwarded-method") } else { ("x-original-uri", "x-original-method") };
    let mut b = Request::builder().method(method).uri(format!("/forward-auth{mode}")).header(uri_h, uri).header(method_h, method);
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    app.send(b.body(Body::empty()).expect("request")).await
}

fn h<'a>(r: &'a Reply, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("{name} missing: {:?}", r.headers))
}

#[tokio::test]
async fn members_pass_with_their_identity_and_the_same_rule_as_our_pages() {
    let w = world().await;
    let uri = format!("/app/acme/collections/{}/charts?range=q3", w.revenue);
    let r = ask(&w.app, "GET", &uri, Some(&w.bob), "", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let bob = membership::Entity::find().filter(membership::Column::Role.eq("member")).one(&w.app.state.db).await.expect("db").expect("bob");
    assert_eq!(h(&r, "x-gatehouse-member-id"), bob.id.to_string());
    assert_eq!(h(&r, "x-gatehouse-email"), "bob@acme.test");
    assert_eq!(h(&r, "x-gatehouse-role"), "member");
    assert_eq!(h(&r, "x-gatehouse-workspace"), "acme");
    assert_eq!(h(&r, "x-gatehouse-groups"), "Everyone,Finance%2C%20EMEA", "names percent-encoded, a comma in a name included");
    assert_eq!(h(&r, "x-gatehouse-groups-truncated"), "false");
    assert_eq!(h(&r, "x-gatehouse-resource"), w.revenue.to_string());
    assert_eq!(h(&r, "x-gatehouse-access"), "view");

    // A view grant doesn't let a member change the collection (POST needs edit)...
    let r = ask(&w.app, "POST", &uri, Some(&w.bob), "", &[("origin", "https://evil.test")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(h(&r, "x-gatehouse-deny"), "level");
    assert_eq!(h(&r, "x-gatehouse-email"), "", "denials carry no identity");
    // Only GET and HEAD, exactly so spelled, are reads (a Go app may route "get" or
    // OPTIONS to its write branch).
    for method in ["get", "OPTIONS"] {
        let r = ask(&w.app, method, &uri, Some(&w.bob), "", &[]).await;
        assert_eq!((r.status, h(&r, "x-gatehouse-deny")), (StatusCode::FORBIDDEN, "level"), "{method}");
    }
    // ...unless the rule says view is enough.
    let r = ask(&w.app, "POST", &format!("/app/acme/reports/{}", w.revenue), Some(&w.bob), "", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    // Admins reach everything, with edit.
    let r = ask(&w.app, "PUT", &uri, Some(&w.admin), "", &[]).await;
    assert_eq!((r.status, h(&r, "x-gatehouse-role"), h(&r, "x-gatehouse-access")), (StatusCode::OK, "admin", "edit"));
    // A workspace-wide rule: any active member, no resource.
    let r = ask(&w.app, "GET", "/app/acme/home", Some(&w.bob), "", &[]).await;
    assert_eq!((r.status, h(&r, "x-gatehouse-resource"), h(&r, "x-gatehouse-access")), (StatusCode::OK, "", ""));

    // A resource the member can't reach, one that doesn't exist, and a path no rule names
    // all answer the same way.
    let ungranted = {
        let r = w
            .app
            .call::<ChangeResource>(&[("slug", "acme"), ("action", "create"), ("kind", "collection"), ("name", "Payroll"), ("description", "")], Some(&w.admin))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        resource::Entity::find().filter(resource::Column::Name.eq("Payroll")).one(&w.app.state.db).await.expect("db").expect("payroll").id
    };
    // Spellings of the same ungranted collection that some proxy or framework reads as
    // it: each is refused, none falls through to the workspace-wide rule.
    let spellings = [
        format!("/app/acme/%63ollections/{ungranted}"),
        format!("/app/acme/Collections/{ungranted}"),
        format!("/app/acme/collections/{ungranted};v=1"),
        format!("/app/acme/collections/{ungranted}.json"),
        format!("/app/acme//collections/{ungranted}"),
        format!("/app/acme/collections/{ungranted}/..;/..;/home"),
        "/app/acme/collections/99999999999999999999999".to_string(),
        format!("/app/acme/collections/{ungranted}#/../../home"),
        format!("/app/acme/collection%C5%BF/{ungranted}"),
        format!("/app/acme/collections./{ungranted}"),
    ];
    for path in [format!("/app/acme/collections/{ungranted}"), "/app/acme/collections/999999".into(), "/elsewhere".into()].into_iter().chain(spellings) {
        let r = ask(&w.app, "GET", &path, Some(&w.bob), "", &[]).await;
        assert_eq!((r.status, h(&r, "x-gatehouse-deny")), (StatusCode::FORBIDDEN, "not-found"), "{path}");
        let r = ask(&w.app, "GET", &path, Some(&w.bob), "?mode=redirect", &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    // The collection rule requires a collection: a datasource's id under it is missing.
    let r = w
        .app
        .call::<ChangeResource>(&[("slug", "acme"), ("action", "create"), ("kind", "datasource"), ("name", "Warehouse"), ("description", "")], Some(&w.admin))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let ds = resource::Entity::find().filter(resource::Column::Name.eq("Warehouse")).one(&w.app.state.db).await.expect("db").expect("ds").id;
    assert_eq!(ask(&w.app, "GET", &format!("/app/acme/collections/{ds}"), Some(&w.admin), "", &[]).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn access_changes_show_on_the_very_next_check() {
    let w = world().await;
    let uri = format!("/app/acme/collections/{}", w.revenue);
    assert_eq!(ask(&w.app, "GET", &uri, Some(&w.bob), "", &[]).await.status, StatusCode::OK);
    // Out of the group: gone at once.
    let bob = membership::Entity::find().filter(membership::Column::Role.eq("member")).one(&w.app.state.db).await.expect("db").expect("bob");
    let r = w
        .app
        .call::<ChangeGroup>(&[("slug", "acme"), ("action", "remove"), ("id", &w.finance.to_string()), ("membership_id", &bob.id.to_string())], Some(&w.admin))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(ask(&w.app, "GET", &uri, Some(&w.bob), "", &[]).await.status, StatusCode::FORBIDDEN);
    // Deactivated: not even the workspace-wide rule lets them through; they must sign in.
    let r = w.app.call::<SetMemberStatus>(&[("slug", "acme"), ("membership_id", &bob.id.to_string()), ("active", "false")], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = ask(&w.app, "GET", "/app/acme/home", Some(&w.bob), "", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn visitors_are_sent_to_sign_in_and_back_and_other_workspaces_sessions_count_for_nothing() {
    let w = world().await;
    w.app.create_workspace("beta", "eve@beta.test").await;
    let eve = w.app.login("beta", "eve@beta.test", ADMIN_PASSWORD).await;
    let uri = format!("/app/acme/collections/{}?tab=1", w.revenue);
    for cookie in [None, Some(eve.as_str()), Some("gatehouse_session=forged")] {
        let r = ask(&w.app, "GET", &uri, cookie, "", &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{cookie:?}");
        let login = h(&r, "x-gatehouse-sign-in").to_string();
        assert_eq!(login, format!("/w/acme/login?next=%2Fapp%2Facme%2Fcollections%2F{}%3Ftab%3D1", w.revenue));
        assert_eq!(h(&r, "x-gatehouse-email"), "");
        let r = ask(&w.app, "GET", &uri, cookie, "?mode=redirect", &[]).await;
        assert_eq!((r.status, r.location()), (StatusCode::FOUND, Some(login.as_str())));
    }
    // Eve, admin of beta, reaches beta's paths, and only as beta's admin.
    let r = ask(&w.app, "GET", "/app/beta/home", Some(&eve), "", &[]).await;
    assert_eq!((r.status, h(&r, "x-gatehouse-workspace")), (StatusCode::OK, "beta"));
    // An unknown workspace is missing, not a sign-in page.
    assert_eq!(ask(&w.app, "GET", "/app/nope/home", None, "", &[]).await.status, StatusCode::FORBIDDEN);

    // Signing in with the password form goes back to the product's path...
    let next = format!("/app/acme/collections/{}?tab=1", w.revenue);
    let r = w
        .app
        .form::<app::api::auth::Login>(
            &[("slug", "acme"), ("email", "bob@acme.test"), ("password", "member password 1"), ("next", &next)],
            None,
            "http://gatehouse.test/w/acme/login",
        )
        .await;
    assert_eq!(r.location(), Some(next.as_str()), "{} {:?}", r.status, r.headers);
    // ...but never to a path the rules give another workspace, or off the site.
    for elsewhere in ["/app/beta/home", "//evil.test/app/acme/home", "/app/acme/../beta/home", "/app/acme/home?\r\nSet-Cookie: x=y"] {
        let r = w
            .app
            .form::<app::api::auth::Login>(
                &[("slug", "acme"), ("email", "bob@acme.test"), ("password", "member password 1"), ("next", elsewhere)],
                None,
                "http://gatehouse.test/w/acme/login",
            )
            .await;
        assert_eq!(r.location(), Some("/w/acme"), "{elsewhere}");
    }
}

#[tokio::test]
async fn forged_identity_headers_never_come_back_and_bad_requests_are_clear() {
    let w = world().await;
    // The client's own X-Gatehouse-* headers are not ours to echo: every one is written
    // from the decision, empty when there is nothing to say.
    let forged = [("x-gatehouse-email", "ceo@acme.test"), ("x-gatehouse-role", "admin"), ("x-gatehouse-groups", "Admins")];
    let r = ask(&w.app, "GET", "/app/acme/home", None, "", &forged).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for name in app_server_identity_headers() {
        assert_eq!(h(&r, name), "", "{name}");
    }
    let r = ask(&w.app, "GET", "/app/acme/home", Some(&w.bob), "", &forged).await;
    assert_eq!((h(&r, "x-gatehouse-email"), h(&r, "x-gatehouse-role"), h(&r, "x-gatehouse-groups")), ("bob@acme.test", "member", "Everyone,Finance%2C%20EMEA"));
    // Paths a proxy could read differently never match.
    let sneaky = format!("/app/acme/collections/{}/../../../beta/home", w.revenue);
    assert_eq!(ask(&w.app, "GET", &sneaky, Some(&w.bob), "", &[]).await.status, StatusCode::FORBIDDEN);
    // nginx hands the client's own headers to the subrequest: an X-Forwarded-Uri or
    // -Method the client made up is not read in nginx's mode (nor X-Original-* in
    // Traefik's and Caddy's).
    let ungranted = format!("/app/acme/collections/{}", w.revenue + 1000);
    let r = ask(&w.app, "GET", &ungranted, Some(&w.bob), "", &[("x-forwarded-uri", "/app/acme/home")]).await;
    assert_eq!((r.status, h(&r, "x-gatehouse-deny")), (StatusCode::FORBIDDEN, "not-found"));
    let edit = format!("/app/acme/collections/{}", w.revenue);
    let r = ask(&w.app, "DELETE", &edit, Some(&w.bob), "", &[("x-forwarded-method", "GET")]).await;
    assert_eq!((r.status, h(&r, "x-gatehouse-deny")), (StatusCode::FORBIDDEN, "level"));
    let r = ask(&w.app, "DELETE", &edit, Some(&w.bob), "?mode=redirect", &[("x-original-method", "GET")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A long way back keeps only its path, so the sign-in location fits a proxy's buffer.
    let long = format!("/app/acme/home?q={}", "x".repeat(3000));
    let r = ask(&w.app, "GET", &long, None, "", &[]).await;
    assert_eq!(h(&r, "x-gatehouse-sign-in"), "/w/acme/login?next=%2Fapp%2Facme%2Fhome");
    // No URI from the proxy, or an unknown mode: a clear 400.
    let r = w.app.send(Request::get("/forward-auth").header("x-forwarded-uri", "/app/acme/home").body(Body::empty()).expect("request")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("X-Original-URI"), "{}", r.body);
    assert_eq!(ask(&w.app, "GET", "/app/acme/home", None, "?mode=traefik", &[]).await.status, StatusCode::BAD_REQUEST);
    let r = w.app.send(Request::get("/forward-auth").header("x-original-uri", "/app/acme/home").body(Body::empty()).expect("request")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "no method: not assumed to be GET");
    assert!(r.body.contains("X-Original-Method"), "{}", r.body);
}

fn app_server_identity_headers() -> [&'static str; 9] {
    server::forward_auth::IDENTITY_HEADERS
}

#[tokio::test]
async fn without_rules_nothing_passes() {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let r = ask(&app, "GET", "/app/acme/home", Some(&admin), "", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// Caddy (Debian's, 2.6) in front of the product as the README configures it:
/// `forward_auth` to `/forward-auth?mode=redirect`, `copy_headers` for the identity, the
/// client's own identity headers deleted first, Gatehouse's session cookie kept from the
/// product. Real HTTP through the real proxy to a stand-in product that shows what
/// reached it (scripts/interop/product_app.py, as in the nginx end-to-end test).
#[tokio::test]
async fn behind_caddy_members_pass_with_their_identity_and_forgeries_never_reach_the_product() {
    use crate::common::{free_port, wait_for_port, Reaped};
    let w = world().await;
    let (secret, _) = w.app.granted(&w.admin, "Board minutes", "Board", crate::common::ADMIN_EMAIL, "view").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let gatehouse = listener.local_addr().expect("addr").port();
    let router = w.app.router.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
    });
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let (product, proxy) = (free_port(), free_port());
    let _product = Reaped(
        std::process::Command::new("python3").arg(repo.join("scripts/interop/product_app.py")).args(["--port", &product.to_string()]).spawn().expect("python3"),
    );
    let dir = std::env::temp_dir().join(format!("gh-caddy-{}-{}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    // The README's block, as an operator would paste it, pointed at this test's ports.
    let readme = std::fs::read_to_string(repo.join("README.md")).expect("README");
    let block = readme.split("```caddyfile\n").nth(1).and_then(|rest| rest.split("```").next()).expect("README has a caddyfile block");
    let caddyfile = format!(
        "{{\n\tadmin off\n\tauto_https off\n}}\n{}",
        block
            .replace("gatehouse.example.com", &format!("http://127.0.0.1:{proxy}"))
            .replace("127.0.0.1:3000", &format!("127.0.0.1:{gatehouse}"))
            .replace("product:8080", &format!("127.0.0.1:{product}"))
    );
    for h in app_server_identity_headers() {
        assert!(block.to_lowercase().contains(h), "the README's copy_headers lists {h}");
    }
    std::fs::write(dir.join("Caddyfile"), &caddyfile).expect("write Caddyfile");
    let _caddy = Reaped(
        std::process::Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(dir.join("Caddyfile"))
            .env("XDG_DATA_HOME", &dir)
            .env("XDG_CONFIG_HOME", &dir)
            .env("HOME", &dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("caddy.log")).expect("log file"))
            .spawn()
            .expect("caddy (scripts/setup.sh test installs Debian's caddy)"),
    );
    wait_for_port(product, "the product").await;
    wait_for_port(proxy, &format!("caddy (its log: {})", dir.join("caddy.log").display())).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let url = |path: String| format!("http://127.0.0.1:{proxy}{path}");
    let shown = |body: &str, header: &str| -> Option<String> {
        let start = format!("data-header=\"{header}\">");
        body.find(&start).map(|i| body[i + start.len()..].split('<').next().unwrap_or_default().to_string())
    };
    let revenue = format!("/app/acme/collections/{}/charts", w.revenue);

    // A visitor: sent to sign in, and back here after.
    let r = http.get(url(revenue.clone())).send().await.expect("visitor");
    assert_eq!(r.status(), 302, "{caddyfile}");
    let to = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(to.ends_with(&format!("/w/acme/login?next=%2Fapp%2Facme%2Fcollections%2F{}%2Fcharts", w.revenue)), "{to}");

    // Bob, with forged identity headers and a forged original URI: what reaches the product
    // is Gatehouse's word, and his session cookie stays behind (his other cookies don't).
    let r = http
        .get(url(revenue.clone()))
        .header("cookie", format!("theme=dark; {}; lang=en", w.bob))
        .header("x-gatehouse-role", "admin")
        .header("x_gatehouse_role", "admin")
        .header("x-gatehouse-access", "edit")
        .header("x-gatehouse-email", "ceo@acme.test")
        .header("x-forwarded-uri", "/app/acme/home")
        .send()
        .await
        .expect("bob");
    assert_eq!(r.status(), 200);
    let body = r.text().await.expect("body");
    assert!(body.contains(&format!("GET {revenue}")), "{body}");
    assert_eq!(shown(&body, "x-gatehouse-email").as_deref(), Some("bob@acme.test"), "{body}");
    assert_eq!(shown(&body, "x-gatehouse-role").as_deref(), Some("member"));
    assert_eq!(shown(&body, "x-gatehouse-access").as_deref(), Some("view"));
    assert_eq!(shown(&body, "x-gatehouse-resource"), Some(w.revenue.to_string()));
    assert!(body.contains("data-testid=\"cookies\">lang theme<"), "only the product's cookies reach it: {body}");
    assert!(!body.to_lowercase().contains("x_gatehouse"), "no underscore look-alike: {body}");

    // Where the rule names no resource, the product hears of none, whatever he sends.
    let r = http
        .get(url("/app/acme/home".into()))
        .header("cookie", format!("{}; theme=dark; __Host-gatehouse_session=forged", w.bob))
        .header("x-gatehouse-resource", w.revenue.to_string())
        .header("x-gatehouse-access", "edit")
        .send()
        .await
        .expect("home");
    assert_eq!(r.status(), 200);
    let body = r.text().await.expect("body");
    assert_eq!(shown(&body, "x-gatehouse-email").as_deref(), Some("bob@acme.test"), "{body}");
    assert!(shown(&body, "x-gatehouse-resource").unwrap_or_default().is_empty(), "{body}");
    assert!(shown(&body, "x-gatehouse-access").unwrap_or_default().is_empty(), "{body}");
    assert!(body.contains("data-testid=\"cookies\">theme<"), "the session cookie first or last, either name: {body}");

    // A view grant doesn't let him write; a collection he has no grant on is not found,
    // whatever URI he claims to be asking for.
    let r = http.post(url(revenue.clone())).header("cookie", &w.bob).send().await.expect("post");
    assert_eq!(r.status(), 403);
    let r = http
        .get(url(format!("/app/acme/collections/{secret}/")))
        .header("cookie", &w.bob)
        .header("x-forwarded-uri", revenue.clone())
        .send()
        .await
        .expect("secret");
    assert_eq!(r.status(), 404);

    // Out of the group: the very next request through the proxy is not found.
    let bob = membership::Entity::find().filter(membership::Column::Role.eq("member")).one(&w.app.state.db).await.expect("db").expect("bob");
    let r = w
        .app
        .call::<ChangeGroup>(&[("slug", "acme"), ("action", "remove"), ("id", &w.finance.to_string()), ("membership_id", &bob.id.to_string())], Some(&w.admin))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = http.get(url(revenue.clone())).header("cookie", &w.bob).send().await.expect("revoked");
    assert_eq!(r.status(), 404);

    // Gatehouse's own pages through the same proxy.
    assert_eq!(http.get(url("/healthz".into())).send().await.expect("healthz").status(), 200);
    let _ = std::fs::remove_dir_all(&dir);
}
