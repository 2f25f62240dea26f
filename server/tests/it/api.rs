//! API keys and the `/v1` API: every endpoint with a key of the right scope, the wrong
//! scope, another workspace's key, an expired, a rotated-out and a revoked key;
//! pagination; resource writes audited as the key; the OpenAPI document checked against
//! the routes and by an independent validator (openapi-spec-validator, PyPI).
use app::api::access::ChangeResource;
use app::api::api_keys::{CreateApiKey, RevokeApiKey, RotateApiKey};
use app::api::members::SetMemberStatus;
use app::server::entities::{api_key, audit_log, membership, resource};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use crate::common::{audit_actions, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

async fn api(app: &TestApp, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        b = b.header("authorization", format!("Bearer {k}"));
    }
    let req = match body {
        Some(v) => b.header("content-type", "application/json").body(Body::from(v.to_string())),
        None => b.body(Body::empty()),
    };
    let r = app.send(req.expect("request")).await;
    let v = if r.body.is_empty() { Value::Null } else { serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {}", r.body)) };
    (r.status, v)
}

async fn new_key(app: &TestApp, admin: &str, slug: &str, name: &str, scopes: &[&str], expires_days: &str) -> String {
    let mut args = vec![("slug", slug), ("name", name), ("expires_days", expires_days)];
    let fields: Vec<String> = scopes.iter().map(|s| s.replace(':', "_")).collect();
    for f in &fields {
        args.push((f.as_str(), "true"));
    }
    let r = app.call::<CreateApiKey>(&args, Some(admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).expect("json");
    v["key"].as_str().expect("key").to_string()
}

struct World {
    app: TestApp,
    admin: String,
    bob: String,
    revenue: i64,
}

async fn world() -> World {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    let (revenue, _) = app.granted(&admin, "Revenue", "Finance", "bob@acme.test", "view").await;
    World { app, admin, bob, revenue }
}

async fn membership_id(app: &TestApp, email_prefix: &str) -> i64 {
    let rows = membership::Entity::find().order_by_asc(membership::Column::Id).all(&app.state.db).await.expect("db");
    for m in rows {
        let a = app::server::entities::account::Entity::find_by_id(m.account_id).one(&app.state.db).await.expect("db").expect("account");
        if a.email.starts_with(email_prefix) {
            return m.id;
        }
    }
    panic!("no member {email_prefix}");
}

#[tokio::test]
async fn keys_are_made_by_admins_shown_once_stored_hashed_and_scoped() {
    let w = world().await;
    let key = new_key(&w.app, &w.admin, "acme", "Analytics", &["directory:read"], "").await;
    assert!(key.starts_with("ghk_") && key.len() > 60, "{key}");
    let stored = api_key::Entity::find().one(&w.app.state.db).await.expect("db").expect("key");
    assert!(!stored.secret_hash.contains(&key[21..]) && stored.secret_hash.len() == 64, "only the hash is kept");
    // A member can't make one (the page is "not found" to them).
    let r = w.app.call::<CreateApiKey>(&[("slug", "acme"), ("name", "Mine"), ("directory_read", "true")], Some(&w.bob)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // Bad input: a clear error and nothing made.
    for (args, why) in [
        (vec![("slug", "acme"), ("name", "No scope")], "at least one scope"),
        (vec![("slug", "acme"), ("name", " "), ("access_check", "true")], "name"),
        (vec![("slug", "acme"), ("name", "Forever"), ("access_check", "true"), ("expires_days", "99999")], "Expiry"),
        (vec![("slug", "acme"), ("name", "Soon"), ("access_check", "true"), ("expires_days", "soon")], "whole number"),
    ] {
        let r = w.app.call::<CreateApiKey>(&args, Some(&w.admin)).await;
        assert!(r.status.is_client_error() && r.body.contains(why), "{args:?}: {} {}", r.status, r.body);
    }
    assert_eq!(api_key::Entity::find().all(&w.app.state.db).await.expect("db").len(), 1);

    // The key reads the directory, and only with its scope.
    let (s, v) = api(&w.app, "GET", "/v1/members", Some(&key), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let emails: Vec<&str> = v["items"].as_array().expect("items").iter().map(|m| m["email"].as_str().expect("email")).collect();
    assert_eq!(emails, [ADMIN_EMAIL, "bob@acme.test"]);
    let (s, v) = api(&w.app, "POST", "/v1/access/check", Some(&key), Some(json!({"checks": [{"member_id": 1, "resource_id": w.revenue}]}))).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::FORBIDDEN, Some("insufficient_scope")), "{v}");
    let (s, v) = api(&w.app, "POST", "/v1/resources", Some(&key), Some(json!({"kind": "collection", "name": "X"}))).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::FORBIDDEN, Some("insufficient_scope")));
    // No key, a malformed one, a forged one with a real public id: 401.
    let forged = format!("{}_{}", &key[..20], "A".repeat(43));
    for bad in [None, Some("nonsense"), Some("ghk_zz_zz"), Some(forged.as_str())] {
        let (s, v) = api(&w.app, "GET", "/v1/members", bad, None).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "{bad:?}");
    }
    // The scheme name is case-insensitive.
    let r = w.app.send(Request::get("/v1/members").header("authorization", format!("bearer {key}")).body(Body::empty()).expect("req")).await;
    assert_eq!(r.status, StatusCode::OK);
    // Last use is shown.
    let stored = api_key::Entity::find().one(&w.app.state.db).await.expect("db").expect("key");
    assert_eq!(stored.last_used_at, Some(w.app.state.now()));
}

#[tokio::test]
async fn pages_follow_a_cursor_without_gaps() {
    let w = world().await;
    for i in 0..4 {
        let r = w
            .app
            .call::<ChangeResource>(
                &[("slug", "acme"), ("action", "create"), ("kind", "datasource"), ("name", &format!("DS {i}")), ("description", "")],
                Some(&w.admin),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let key = new_key(&w.app, &w.admin, "acme", "Reader", &["directory:read"], "30").await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, v) = api(&w.app, "GET", &format!("/v1/resources?limit=2&cursor={cursor}"), Some(&key), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        seen.extend(v["items"].as_array().expect("items").iter().map(|r| r["name"].as_str().expect("name").to_string()));
        match v["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ["Revenue", "DS 0", "DS 1", "DS 2", "DS 3"]);
    let (s, v) = api(&w.app, "GET", "/v1/groups", Some(&key), None).await;
    assert_eq!(s, StatusCode::OK);
    let groups: Vec<(String, u64)> =
        v["items"].as_array().expect("items").iter().map(|g| (g["name"].as_str().expect("n").to_string(), g["members"].as_u64().expect("m"))).collect();
    assert_eq!(groups, [("Everyone".to_string(), 2), ("Finance".to_string(), 1)]);
    for bad in ["/v1/members?limit=0", "/v1/members?limit=1001", "/v1/members?cursor=abc", "/v1/members?cursor=-5", "/v1/members?limit=abc"] {
        let (s, v) = api(&w.app, "GET", bad, Some(&key), None).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid")), "{bad}");
    }
}

#[tokio::test]
async fn resources_are_written_and_audited_as_the_key() {
    let w = world().await;
    let key = new_key(&w.app, &w.admin, "acme", "Product sync", &["resources:write"], "").await;
    let (s, v) = api(&w.app, "POST", "/v1/resources", Some(&key), Some(json!({"kind": "collection", "name": "Churn", "description": "weekly"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().expect("id");
    assert_eq!((v["kind"].as_str(), v["name"].as_str()), (Some("collection"), Some("Churn")));
    let (s, v) = api(&w.app, "PATCH", &format!("/v1/resources/{id}"), Some(&key), Some(json!({"name": "Churn (weekly)"}))).await;
    assert_eq!((s, v["name"].as_str(), v["description"].as_str()), (StatusCode::OK, Some("Churn (weekly)"), Some("weekly")));
    let (s, _) = api(&w.app, "DELETE", &format!("/v1/resources/{id}"), Some(&key), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = api(&w.app, "DELETE", &format!("/v1/resources/{id}"), Some(&key), None).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (s, v) = api(&w.app, "DELETE", "/v1/resources/abc", Some(&key), None).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid")), "a JSON error, not axum's text");
    let actions: Vec<(String, String)> = audit_log::Entity::find()
        .filter(audit_log::Column::Action.starts_with("resource."))
        .filter(audit_log::Column::Actor.starts_with("api key Product sync"))
        .order_by_asc(audit_log::Column::Id)
        .all(&w.app.state.db)
        .await
        .expect("db")
        .into_iter()
        .map(|a| (a.action, a.target))
        .collect();
    assert_eq!(
        actions,
        [("resource.create".into(), "Churn".into()), ("resource.update".into(), "Churn (weekly)".into()), ("resource.delete".into(), "Churn (weekly)".into())]
    );
    // Bad bodies: a clear 422, nothing written.
    for body in
        [json!({"kind": "dashboard", "name": "X"}), json!({"kind": "collection"}), json!({"kind": "collection", "name": "X", "owner": "me"}), json!([1, 2])]
    {
        let (s, v) = api(&w.app, "POST", "/v1/resources", Some(&key), Some(body.clone())).await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid")), "{body}: {v}");
    }
    let r = w
        .app
        .send(
            Request::post("/v1/resources")
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .body(Body::from("{not json"))
                .expect("req"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(resource::Entity::find().all(&w.app.state.db).await.expect("db").len(), 1, "only Revenue is left");
}

#[tokio::test]
async fn another_workspaces_key_sees_and_changes_nothing_here() {
    let w = world().await;
    w.app.create_workspace("beta", "eve@beta.test").await;
    let eve = w.app.login("beta", "eve@beta.test", ADMIN_PASSWORD).await;
    let beta = new_key(&w.app, &eve, "beta", "Beta's app", &["directory:read", "access:check", "resources:write"], "").await;
    let bob = membership_id(&w.app, "bob@").await;
    // Listing shows beta's own rows only.
    let (_, v) = api(&w.app, "GET", "/v1/members", Some(&beta), None).await;
    let emails: Vec<&str> = v["items"].as_array().expect("items").iter().map(|m| m["email"].as_str().expect("e")).collect();
    assert_eq!(emails, ["eve@beta.test"]);
    let (_, v) = api(&w.app, "GET", "/v1/resources", Some(&beta), None).await;
    assert_eq!(v["items"].as_array().expect("items").len(), 0);
    // acme's ids are not there.
    let (s, v) = api(&w.app, "POST", "/v1/access/check", Some(&beta), Some(json!({"checks": [{"member_id": bob, "resource_id": w.revenue}]}))).await;
    assert_eq!((s, &v["results"][0]["access"]), (StatusCode::OK, &Value::Null));
    for (method, body) in [("PATCH", Some(json!({"name": "pwned"}))), ("DELETE", None)] {
        let (s, _) = api(&w.app, method, &format!("/v1/resources/{}", w.revenue), Some(&beta), body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method}");
    }
    assert_eq!(resource::Entity::find_by_id(w.revenue).one(&w.app.state.db).await.expect("db").expect("kept").name, "Revenue");
    // Bob's acme session identifies nobody to beta's key.
    let token = w.bob.split_once('=').expect("cookie").1;
    let (s, _) = api(&w.app, "POST", "/v1/sessions/identify", Some(&beta), Some(json!({"token": token}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Beta's admin can't revoke or rotate acme's key through beta.
    let acme_key = new_key(&w.app, &w.admin, "acme", "Acme's app", &["directory:read"], "").await;
    let id = api_key::Entity::find().filter(api_key::Column::Name.eq("Acme's app")).one(&w.app.state.db).await.expect("db").expect("k").id.to_string();
    for r in [
        w.app.call::<RevokeApiKey>(&[("slug", "beta"), ("id", &id)], Some(&eve)).await,
        w.app.call::<RotateApiKey>(&[("slug", "beta"), ("id", &id), ("overlap_secs", "0")], Some(&eve)).await,
    ] {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    assert_eq!(api(&w.app, "GET", "/v1/members", Some(&acme_key), None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn access_checks_follow_the_pages_rule_and_identify_finds_the_member() {
    let w = world().await;
    let key = new_key(&w.app, &w.admin, "acme", "Checker", &["access:check"], "").await;
    let (admin, bob) = (membership_id(&w.app, "ada@").await, membership_id(&w.app, "bob@").await);
    let checks = json!({"checks": [
        {"member_id": bob, "resource_id": w.revenue},
        {"member_id": admin, "resource_id": w.revenue},
        {"member_id": bob, "resource_id": 999_999},
        {"member_id": 999_999, "resource_id": w.revenue},
    ]});
    let (s, v) = api(&w.app, "POST", "/v1/access/check", Some(&key), Some(checks.clone())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let got: Vec<Value> = v["results"].as_array().expect("results").iter().map(|r| r["access"].clone()).collect();
    assert_eq!(got, [json!("view"), json!("edit"), Value::Null, Value::Null]);
    // Deactivated: nothing, on the very next call.
    let r = w.app.call::<SetMemberStatus>(&[("slug", "acme"), ("membership_id", &bob.to_string()), ("active", "false")], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    let (_, v) = api(&w.app, "POST", "/v1/access/check", Some(&key), Some(checks)).await;
    assert_eq!(v["results"][0]["access"], Value::Null);
    let too_many: Vec<Value> = (0..1001).map(|i| json!({"member_id": i, "resource_id": 1})).collect();
    let (s, v) = api(&w.app, "POST", "/v1/access/check", Some(&key), Some(json!({ "checks": too_many }))).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid")));
    let (s, _) = api(&w.app, "POST", "/v1/access/check", Some(&key), Some(json!({"checks": []}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // The admin's session token names the admin; a made-up one names nobody.
    let token = w.admin.split_once('=').expect("cookie").1;
    let (s, v) = api(&w.app, "POST", "/v1/sessions/identify", Some(&key), Some(json!({ "token": token }))).await;
    assert_eq!((s, v["email"].as_str(), v["role"].as_str(), v["id"].as_i64()), (StatusCode::OK, Some(ADMIN_EMAIL), Some("admin"), Some(admin)), "{v}");
    let (s, _) = api(&w.app, "POST", "/v1/sessions/identify", Some(&key), Some(json!({"token": "made-up"}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn expiry_rotation_overlap_and_revocation() {
    let w = world().await;
    let key = new_key(&w.app, &w.admin, "acme", "Nightly", &["directory:read"], "1").await;
    let id = api_key::Entity::find().one(&w.app.state.db).await.expect("db").expect("k").id.to_string();
    // Rotated with a one-hour overlap: both work for the hour, then only the new one.
    let r = w.app.call::<RotateApiKey>(&[("slug", "acme"), ("id", &id), ("overlap_secs", "3600")], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let new: Value = serde_json::from_str(&r.body).expect("json");
    let new = new["key"].as_str().expect("key").to_string();
    assert_ne!(new, key);
    assert_eq!(new[..21], key[..21], "the same key, a new secret");
    assert_eq!(api(&w.app, "GET", "/v1/members", Some(&key), None).await.0, StatusCode::OK);
    assert_eq!(api(&w.app, "GET", "/v1/members", Some(&new), None).await.0, StatusCode::OK);
    w.app.clock.advance(3600);
    assert_eq!(api(&w.app, "GET", "/v1/members", Some(&key), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(api(&w.app, "GET", "/v1/members", Some(&new), None).await.0, StatusCode::OK);
    // A choice the page doesn't offer is refused.
    let r = w.app.call::<RotateApiKey>(&[("slug", "acme"), ("id", &id), ("overlap_secs", "31536000")], Some(&w.admin)).await;
    assert!(r.status.is_client_error(), "{}", r.body);
    // Expired after a day; an expired key can still be revoked (it stops counting then
    // as now: only active keys count against the workspace's limit).
    w.app.clock.advance(86_400);
    assert_eq!(api(&w.app, "GET", "/v1/members", Some(&new), None).await.0, StatusCode::UNAUTHORIZED);
    let r = w.app.call::<RevokeApiKey>(&[("slug", "acme"), ("id", &id)], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Revoked: at once, the previous secret included.
    let key = new_key(&w.app, &w.admin, "acme", "Hourly", &["directory:read"], "").await;
    let id = api_key::Entity::find().filter(api_key::Column::Name.eq("Hourly")).one(&w.app.state.db).await.expect("db").expect("k").id.to_string();
    let r = w.app.call::<RotateApiKey>(&[("slug", "acme"), ("id", &id), ("overlap_secs", "86400")], Some(&w.admin)).await;
    let new: Value = serde_json::from_str(&r.body).expect("json");
    let new = new["key"].as_str().expect("key").to_string();
    let r = w.app.call::<RevokeApiKey>(&[("slug", "acme"), ("id", &id)], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for k in [&key, &new] {
        assert_eq!(api(&w.app, "GET", "/v1/members", Some(k), None).await.0, StatusCode::UNAUTHORIZED);
    }
    let actions = audit_actions(&w.app.state.db, "api_key.").await;
    assert_eq!(actions, ["api_key.create", "api_key.rotate", "api_key.revoke", "api_key.create", "api_key.rotate", "api_key.revoke"]);
}

#[tokio::test]
async fn the_openapi_document_matches_the_routes_and_is_valid() {
    let app = TestApp::with_workspace().await;
    let r = app.get("/v1/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&r.body).expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
    // Every documented operation is a route that answers (401 without a key, never 404
    // or 405), and the document names the scope-bearing security scheme.
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            let concrete = path.replace("{id}", "1");
            let (s, _) = api(&app, &method.to_uppercase(), &concrete, None, None).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path}");
            operations += 1;
        }
    }
    assert_eq!(operations, 8, "members, groups, resources ×4, access check, identify");
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    // And the document is valid OpenAPI 3.1 to an independent validator.
    let file = std::env::temp_dir().join(format!("gatehouse-openapi-{}.json", std::process::id()));
    std::fs::write(&file, &r.body).expect("write");
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(repo.join(".venv/bin/python"))
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("run openapi-spec-validator (scripts/setup.sh test installs it)");
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// A key makes at most `GATEHOUSE_API_REQUESTS_PER_MINUTE` requests a minute (then 429
/// with Retry-After, its own budget only), and a workspace holds at most
/// `GATEHOUSE_MAX_RESOURCES_PER_WORKSPACE` resources, however they are made; each limit
/// is one workspace's (or key's), never a neighbour's.
#[tokio::test]
async fn a_keys_requests_and_a_workspaces_resources_are_bounded() {
    let app = TestApp::with_config(|c| {
        c.api_requests_per_minute = 3;
        c.max_resources_per_workspace = 2;
    })
    .await;
    app.create_workspace("acme", ADMIN_EMAIL).await;
    app.create_workspace("beta", "eve@beta.test").await;
    let admin = app.admin_cookie().await;
    let eve = app.login("beta", "eve@beta.test", ADMIN_PASSWORD).await;
    let sync = new_key(&app, &admin, "acme", "Sync", &["directory:read", "resources:write"], "").await;
    let other = new_key(&app, &admin, "acme", "Reports", &["directory:read"], "").await;
    let minute_start = |t: i64| t - t.rem_euclid(60);
    app.clock.0.store(minute_start(app.state.now()) + 60 + 15, std::sync::atomic::Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(api(&app, "GET", "/v1/members", Some(&sync), None).await.0, StatusCode::OK);
    }
    let r = app.send(Request::get("/v1/members").header("authorization", format!("Bearer {sync}")).body(Body::empty()).expect("req")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(r.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("45"), "the seconds left in this minute");
    let v: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["error"].as_str(), Some("rate_limited"), "{v}");
    // Another key of the same workspace has its own budget; a refused request isn't
    // counted, so the next minute gives the whole budget back.
    assert_eq!(api(&app, "GET", "/v1/members", Some(&other), None).await.0, StatusCode::OK);
    assert_eq!(api(&app, "GET", "/v1/members", Some(&sync), None).await.0, StatusCode::TOO_MANY_REQUESTS);
    app.clock.0.store(minute_start(app.state.now()) + 60, std::sync::atomic::Ordering::SeqCst);
    for name in ["Churn", "Pipeline"] {
        let (s, v) = api(&app, "POST", "/v1/resources", Some(&sync), Some(json!({"kind": "collection", "name": name}))).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let (s, v) = api(&app, "POST", "/v1/resources", Some(&sync), Some(json!({"kind": "collection", "name": "Third"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().expect("message").contains("the most this server allows"), "{v}");
    // The admin's form meets the same bound, with a clear error.
    let r = app.call::<ChangeResource>(&[("slug", "acme"), ("action", "create"), ("kind", "collection"), ("name", "Fourth")], Some(&admin)).await;
    assert_ne!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("the most this server allows"), "{}", r.body);
    assert_eq!(resource::Entity::find().all(&app.state.db).await.expect("db").len(), 2);
    // Deleting one (in the next minute: this one's 3 requests are made) makes room;
    // beta's bound is its own.
    app.clock.advance(60);
    let (s, _) = api(&app, "DELETE", &format!("/v1/resources/{}", v_id(&app, "Churn").await), Some(&sync), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let r = app.call::<ChangeResource>(&[("slug", "acme"), ("action", "create"), ("kind", "datasource"), ("name", "Warehouse")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Eight of beta's creates at once: exactly two are made (on PostgreSQL the
    // workspace's row lock orders them; on SQLite the one writer does).
    let names: Vec<String> = (0..8).map(|i| format!("B{i}")).collect();
    let args: Vec<[(&str, &str); 4]> = names.iter().map(|n| [("slug", "beta"), ("action", "create"), ("kind", "collection"), ("name", n.as_str())]).collect();
    let replies = futures::future::join_all(args.iter().map(|a| app.call::<ChangeResource>(a, Some(&eve)))).await;
    assert_eq!(replies.iter().filter(|r| r.status == StatusCode::OK).count(), 2, "{:?}", replies.iter().map(|r| &r.body).collect::<Vec<_>>());
    let beta = app::server::workspaces::by_slug(&app.state.db, "beta").await.expect("beta").id;
    assert_eq!(resource::Entity::find().filter(resource::Column::WorkspaceId.eq(beta)).all(&app.state.db).await.expect("db").len(), 2);
}

async fn v_id(app: &TestApp, name: &str) -> i64 {
    resource::Entity::find().filter(resource::Column::Name.eq(name)).one(&app.state.db).await.expect("db").expect("resource").id
}
