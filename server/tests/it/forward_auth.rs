//! `/forward-auth` as a reverse proxy calls it: the same rule as our own pages, decided on
//! every call, no session of another workspace counted, and every identity header always
//! written (so the proxy overwrites whatever the client sent). The end-to-end test behind
//! a real nginx is in end2end/tests/proxy.spec.mjs.
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
