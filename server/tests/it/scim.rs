//! SCIM 2.0: scim2-tester (an independent RFC 7643/7644 checker) against a real listener,
//! then what it doesn't cover: Okta's and Entra's request shapes, filters, visibility
//! between providers and workspaces, deactivation, ETags, throttling, concurrency.
use app::server::entities::{account, group, group_member, membership, scim_activity};
use app::server::{methods, saml, scim, sessions};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

use crate::common::{Reply, TestApp, ADMIN_EMAIL, T0};

mod microsoft;
mod oauth;
mod sign_in_groups;
mod webhooks;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A workspace with a SAML provider as its only method and provisioning on.
struct Scim {
    app: TestApp,
    token: String,
    provider: String,
}

async fn provider(app: &TestApp, slug: &str, name: &str) -> String {
    app.offline_saml_provider(slug, name, T0).await.public_id().to_string()
}

async fn enable(app: &TestApp, slug: &str, public_id: &str) -> String {
    let ws = app::server::workspaces::by_slug(&app.state.db, slug).await.expect("workspace");
    let cap = crate::common::operator().admin_of(ws.id);
    let before = scim::enable(&app.state.db, T0, &cap, public_id, None).await;
    assert!(before.is_err(), "refused while password sign-in is on");
    methods::change(&app.state.db, T0, &cap, &app.state.config, &[saml::method_key(public_id)], &["password".to_string()]).await.expect("methods");
    scim::enable(&app.state.db, T0, &cap, public_id, None).await.expect("enable").expose().to_string()
}

async fn setup_with(f: impl FnOnce(&mut app::server::config::RuntimeConfig)) -> Scim {
    setup_on(TestApp::with_config(f).await).await
}

async fn setup_on(app: TestApp) -> Scim {
    app.create_workspace("acme", ADMIN_EMAIL).await;
    let provider = provider(&app, "acme", "Okta").await;
    let token = enable(&app, "acme", &provider).await;
    Scim { app, token, provider }
}

async fn setup() -> Scim {
    setup_with(|_| {}).await
}

impl Scim {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value, Reply) {
        call(&self.app, &self.token, method, path, body).await
    }
}

async fn call(app: &TestApp, token: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value, Reply) {
    let mut b = Request::builder().method(method).uri(format!("/scim/v2{path}")).header(header::AUTHORIZATION, format!("Bearer {token}"));
    let body = match body {
        Some(v) => {
            b = b.header(header::CONTENT_TYPE, "application/scim+json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let r = app.send(b.body(body).expect("request")).await;
    let v = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    (r.status, v, r)
}

fn user(name: &str, email: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": name,
        "name": { "givenName": "Grace", "familyName": "Hopper" },
        "emails": [{ "primary": true, "type": "work", "value": email }],
        "displayName": "Grace Hopper",
        "externalId": format!("ext-{name}"),
        "active": true,
        "password": "Pr0vided!",
        "groups": [],
    })
}

fn patch(ops: Value) -> Value {
    json!({ "schemas": [PATCH], "Operations": ops })
}

fn enc(filter: &str) -> String {
    let mut s = String::new();
    for b in filter.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => s.push(b as char),
            _ => s.push_str(&format!("%{b:02X}")),
        }
    }
    s
}

/// `email`'s membership of acme.
async fn membership_of(app: &TestApp, email: &str) -> Option<membership::Model> {
    let ws = app::server::workspaces::by_slug(&app.state.db, "acme").await.expect("acme");
    let a = account::Entity::find()
        .filter(account::Column::WorkspaceId.eq(ws.id))
        .filter(account::Column::EmailNormalized.eq(email))
        .one(&app.state.db)
        .await
        .expect("db")?;
    membership::Entity::find().filter(membership::Column::AccountId.eq(a.id)).one(&app.state.db).await.expect("db")
}

async fn groups_of(app: &TestApp, membership_id: i64) -> Vec<String> {
    let mut out = Vec::new();
    for gm in group_member::Entity::find().filter(group_member::Column::MembershipId.eq(membership_id)).all(&app.state.db).await.expect("db") {
        let g = group::Entity::find_by_id(gm.group_id).one(&app.state.db).await.expect("db").expect("group");
        out.push(g.name);
    }
    out.sort();
    out
}

#[tokio::test]
async fn scim2_tester_passes_every_check() {
    let s = setup().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = s.app.router.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
    });
    let token = s.token.clone();
    // 135 checks for RFC 7643's User, EnterpriseUser and Group (the reference server's
    // set), plus 7 for our role extension: one more schema, and add/remove/replace of the
    // extension and of its `role` attribute.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(repo().join(".venv/bin/python"))
            .arg(repo().join("scripts/interop/scim_tester.py"))
            // `--token=…` in one argument: a token may start with `-` (base64url), which
            // argparse would take for an option.
            .args(["--url", &format!("http://{addr}/scim/v2"), &format!("--token={token}"), "--expect", "142"])
            .output()
            .expect("run scim2-tester (scripts/setup.sh test installs it)")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let failures: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("SUCCESS")).collect();
    assert!(out.status.success(), "scim2-tester:\n{}\n{}", failures.join("\n"), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().any(|l| l == "142 passed, 0 failed"), "{stdout}");
}

#[tokio::test]
async fn tokens_are_checked_scoped_and_rotated() {
    let s = setup().await;
    let (st, body, r) = call(&s.app, "not-a-token", "GET", "/Users", None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    assert_eq!(r.headers.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()), Some("Bearer realm=\"SCIM\""));
    let r = s.app.send(Request::get("/scim/v2/Users").body(Body::empty()).expect("req")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "no header");
    assert_eq!(s.call("GET", "/Users", None).await.0, StatusCode::OK);

    // Discovery needs no token and is read-only.
    let r = s.app.send(Request::get("/scim/v2/ServiceProviderConfig").body(Body::empty()).expect("req")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()), Some("application/scim+json"));
    assert_eq!(s.call("DELETE", "/Schemas", None).await.0, StatusCode::METHOD_NOT_ALLOWED);
    let (st, body, _) = s.call("GET", "/Nope", None).await;
    assert_eq!((st, body["status"].as_str()), (StatusCode::NOT_FOUND, Some("404")));

    // Rotation: the old token stops at once.
    let ws = app::server::workspaces::by_slug(&s.app.state.db, "acme").await.expect("ws");
    let cap = crate::common::operator().admin_of(ws.id);
    let new = scim::mint_token(&s.app.state.db, T0, &cap, &s.provider, None).await.expect("rotate");
    assert_eq!(s.call("GET", "/Users", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&s.app, new.expose(), "GET", "/Users", None).await.0, StatusCode::OK);
    // Turning provisioning off deletes the token; turning it on again mints a new one.
    scim::disable(&s.app.state.db, T0, &cap, &s.provider).await.expect("disable");
    assert_eq!(call(&s.app, new.expose(), "GET", "/Users", None).await.0, StatusCode::UNAUTHORIZED);
    let again = scim::enable(&s.app.state.db, T0, &cap, &s.provider, None).await.expect("enable");
    assert_eq!(call(&s.app, new.expose(), "GET", "/Users", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&s.app, again.expose(), "GET", "/Users", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn okta_user_lifecycle() {
    let s = setup().await;
    // Okta looks the user up first.
    let (st, body, _) = s.call("GET", &format!("/Users?filter={}&startIndex=1&count=100", enc(r#"userName eq "grace@acme.test""#)), None).await;
    assert_eq!((st, body["totalResults"].as_u64(), body["startIndex"].as_u64()), (StatusCode::OK, Some(0), Some(1)));

    let (st, created, r) = s.call("POST", "/Users", Some(user("grace@acme.test", "grace@acme.test"))).await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(r.location(), Some(format!("http://gatehouse.test/scim/v2/Users/{id}").as_str()));
    assert!(created.get("password").is_none(), "returned never");
    assert_eq!(created["name"], json!({ "givenName": "Grace", "familyName": "Hopper" }));
    let m = membership_of(&s.app, "grace@acme.test").await.expect("member");
    assert_eq!((m.role.as_str(), m.status.as_str()), ("member", "active"));
    let a = account::Entity::find_by_id(m.account_id).one(&s.app.state.db).await.expect("db").expect("account");
    assert_eq!(a.full_name, "Grace Hopper");
    assert!(m.password_hash.is_none(), "a provisioned password never signs anyone in");
    assert_eq!(groups_of(&s.app, m.id).await, ["Everyone"]);

    // Duplicates: 409 uniqueness, whatever the case.
    let (st, body, _) = s.call("POST", "/Users", Some(user("GRACE@acme.test", "grace@acme.test"))).await;
    assert_eq!((st, body["scimType"].as_str()), (StatusCode::CONFLICT, Some("uniqueness")));
    let (_, body, _) = s.call("GET", &format!("/Users?filter={}", enc(r#"userName eq "GRACE@ACME.TEST""#)), None).await;
    assert_eq!(body["totalResults"], 1, "userName is case-insensitive");
    assert_eq!(body["Resources"][0]["id"], json!(id));

    // A session, then deactivation the way Okta sends it.
    let session = sessions::create(&s.app.state.db, T0, a.id, m.workspace_id, "saml:x", &Default::default()).await.expect("session");
    let cookie = format!("gatehouse_session={}", session.expose());
    assert_eq!(s.app.me_status(&cookie).await, StatusCode::OK);
    let (_, g, _) = s.call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Engineering", "members": [{ "value": id }] }))).await;
    assert_eq!(groups_of(&s.app, m.id).await, ["Engineering", "Everyone"]);
    let (st, body, _) = s.call("PATCH", &format!("/Users/{id}"), Some(patch(json!([{ "op": "replace", "value": { "active": false } }])))).await;
    assert_eq!((st, body["active"].as_bool()), (StatusCode::OK, Some(false)), "{body}");
    assert!(groups_of(&s.app, m.id).await.is_empty(), "out of every group, Everyone included");
    assert_eq!(s.app.me_status(&cookie).await, StatusCode::UNAUTHORIZED, "session revoked in the same transaction");

    // Reactivation: Everyone only, groups not restored.
    let mut again = user("grace@acme.test", "grace@acme.test");
    again["active"] = json!(true);
    again["name"]["givenName"] = json!("Amazing Grace");
    again["roles"] = json!([{ "value": "admin" }]);
    let (st, body, _) = s.call("PUT", &format!("/Users/{id}"), Some(again)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let m = membership_of(&s.app, "grace@acme.test").await.expect("member");
    assert_eq!((m.role.as_str(), m.status.as_str()), ("admin", "active"), "role = admin makes an admin");
    assert_eq!(groups_of(&s.app, m.id).await, ["Everyone"]);
    let a = account::Entity::find_by_id(m.account_id).one(&s.app.state.db).await.expect("db").expect("account");
    assert_eq!(a.full_name, "Amazing Grace Hopper");
    // Losing the role makes them a member.
    let (st, _, _) = s.call("PATCH", &format!("/Users/{id}"), Some(patch(json!([{ "op": "remove", "path": "roles" }])))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(membership_of(&s.app, "grace@acme.test").await.map(|m| m.role), Some(app::model::Role::Member));
    assert_eq!(g["displayName"], "Engineering");

    // The activity page's rows, and the audit.
    let p = saml::by_public_id(&s.app.state.db, &s.provider).await.expect("provider");
    let rows = scim_activity::Entity::find().filter(scim_activity::Column::ProviderId.eq(p.id())).count(&s.app.state.db).await.expect("db");
    assert!(rows >= 8, "every request recorded ({rows})");
    let conflict = app::server::testing::scim_activity(&s.app.state.db, p.id(), 100)
        .await
        .expect("activity")
        .into_iter()
        .find(|a| a.status == 409)
        .expect("the 409 is recorded");
    assert!(conflict.outcome.contains("already"), "{}", conflict.outcome);
}

#[tokio::test]
async fn entra_request_shapes() {
    let s = setup().await;
    let (_, u, _) = s.call("POST", "/Users", Some(user("alan@acme.test", "alan@acme.test"))).await;
    let id = u["id"].as_str().expect("id").to_string();
    // Default mode: capitalised ops, string booleans, filtered paths, enterprise URNs.
    let (st, body, _) = s
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            Some(patch(json!([
                { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alan.turing@acme.test" },
                { "op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Codebreaking" },
                { "op": "Replace", "path": "active", "value": "False" },
            ]))),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["active"], json!(false));
    assert_eq!(body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"], "Codebreaking");
    assert!(membership_of(&s.app, "alan.turing@acme.test").await.is_some(), "the primary email is the account's email");
    // aadOptscim062020: lowercase ops, real booleans, dotted keys without a path.
    let (st, body, _) = s
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            Some(patch(json!([{ "op": "replace", "value": { "active": true, "name.givenName": "Alan", "name.familyName": "Turing" } }]))),
        )
        .await;
    assert_eq!((st, body["active"].as_bool()), (StatusCode::OK, Some(true)), "{body}");
    assert_eq!(body["name"]["familyName"], "Turing");

    // Matching on `emails[type eq "work"].value` (a common Entra setup, both modes): the
    // filter Entra sends, on GET and on POST .search, reads as the bracket filter.
    let entra = |email: &str| format!(r#"emails[type eq "work"].value eq "{email}""#);
    let (st, body, _) = s.call("GET", &format!("/Users?filter={}", enc(&entra("alan.turing@acme.test"))), None).await;
    assert_eq!((st, body["totalResults"].as_u64()), (StatusCode::OK, Some(1)), "{body}");
    assert_eq!(body["Resources"][0]["id"], json!(id));
    let search = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": entra("alan.turing@acme.test") });
    let (st, body, _) = s.call("POST", "/Users/.search", Some(search)).await;
    assert_eq!((st, body["totalResults"].as_u64()), (StatusCode::OK, Some(1)), "{body}");
    let (_, body, _) = s.call("GET", &format!("/Users?filter={}", enc(&entra("nobody@acme.test"))), None).await;
    assert_eq!(body["totalResults"].as_u64(), Some(0), "{body}");
    let home = r#"emails[type eq "home"].value eq "alan.turing@acme.test""#;
    let (_, body, _) = s.call("GET", &format!("/Users?filter={}", enc(home)), None).await;
    assert_eq!(body["totalResults"].as_u64(), Some(0), "one email must be both work and that address: {body}");
    // Still refused: a sub-attribute with no condition.
    let (st, body, _) = s.call("GET", &format!("/Users?filter={}", enc(r#"emails[type eq "work"].value"#)), None).await;
    assert_eq!((st, body["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidFilter")), "{body}");

    // Entra's test connection: a random filter answers an empty list.
    let (_, body, _) = s.call("GET", &format!("/Users?filter={}", enc(r#"userName eq "6b3f1c0a-random""#)), None).await;
    assert_eq!((body["totalResults"].as_u64(), body["Resources"].as_array().map(Vec::len)), (Some(0), Some(0)));

    // Remove with a value list removes only those members (a naive server empties the group).
    let mut ids = vec![id.clone()];
    for n in 0..3 {
        let (_, u, _) = s.call("POST", "/Users", Some(user(&format!("m{n}@acme.test"), &format!("m{n}@acme.test")))).await;
        ids.push(u["id"].as_str().expect("id").to_string());
    }
    let members: Vec<Value> = ids.iter().map(|i| json!({ "value": i })).collect();
    let (st, g, _) = s.call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Bletchley", "externalId": "e-1", "members": members }))).await;
    assert_eq!(st, StatusCode::CREATED);
    let gid = g["id"].as_str().expect("gid").to_string();
    let (st, _, _) = s
        .call(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(patch(json!([{ "op": "Remove", "path": "members", "value": [{ "value": ids[1] }, { "value": ids[2] }] }]))),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, g, _) = s.call("GET", &format!("/Groups/{gid}"), None).await;
    let left: Vec<&str> = g["members"].as_array().expect("members").iter().filter_map(|m| m["value"].as_str()).collect();
    assert_eq!(left, [ids[0].as_str(), ids[3].as_str()]);
    // Entra filters groups by externalId and displayName without members.
    let (_, body, _) = s.call("GET", &format!("/Groups?excludedAttributes=members&filter={}", enc(r#"externalId eq "e-1""#)), None).await;
    assert_eq!(body["totalResults"], 1);
    assert!(body["Resources"][0].get("members").is_none());
}

#[tokio::test]
async fn okta_group_push_and_the_everyone_group() {
    let s = setup().await;
    let (_, a, _) = s.call("POST", "/Users", Some(user("a@acme.test", "a@acme.test"))).await;
    let (_, b, _) = s.call("POST", "/Users", Some(user("b@acme.test", "b@acme.test"))).await;
    let (a, b) = (a["id"].as_str().expect("a").to_string(), b["id"].as_str().expect("b").to_string());
    let (st, g, _) = s.call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Sales", "members": [] }))).await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let gid = g["id"].as_str().expect("id").to_string();
    // Okta: rename with the id repeated, add with path members, remove with a filter.
    let (st, _, _) =
        s.call("PATCH", &format!("/Groups/{gid}"), Some(patch(json!([{ "op": "replace", "value": { "id": gid, "displayName": "Sales EMEA" } }])))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _, _) = s
        .call(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(patch(json!([{ "op": "add", "path": "members", "value": [{ "value": a, "display": "A" }, { "value": b }] }]))),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _, _) = s.call("PATCH", &format!("/Groups/{gid}"), Some(patch(json!([{ "op": "remove", "path": format!("members[value eq \"{a}\"]") }])))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, g, r) = s.call("GET", &format!("/Groups/{gid}"), None).await;
    assert_eq!(g["displayName"], "Sales EMEA");
    assert_eq!(g["members"], json!([{ "value": b, "$ref": format!("http://gatehouse.test/scim/v2/Users/{b}"), "type": "User" }]));
    let etag = r.headers.get(header::ETAG).and_then(|v| v.to_str().ok()).expect("etag").to_string();

    // Unknown members: 400 naming them, and nothing applied.
    let (st, body, _) = s
        .call("PATCH", &format!("/Groups/{gid}"), Some(patch(json!([{ "op": "add", "path": "members", "value": [{ "value": a }, { "value": "999999" }] }]))))
        .await;
    assert_eq!((st, body["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue")));
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("999999")), "{body}");
    let (_, g, _) = s.call("GET", &format!("/Groups/{gid}"), None).await;
    assert_eq!(g["members"].as_array().map(Vec::len), Some(1), "atomic");

    // ETags: a stale If-Match is 412; the current one works.
    let req = |tag: &str| {
        Request::builder()
            .method("PUT")
            .uri(format!("/scim/v2/Groups/{gid}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", s.token))
            .header(header::IF_MATCH, tag)
            .body(Body::from(json!({ "schemas": [GROUP], "displayName": "Sales EMEA", "members": [{ "value": b }] }).to_string()))
            .expect("req")
    };
    assert_eq!(s.app.send(req("W/\"stale\"")).await.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(s.app.send(req(&etag)).await.status, StatusCode::OK);

    // Everyone: never listed, created, renamed.
    let (_, list, _) = s.call("GET", "/Groups", None).await;
    assert!(list["Resources"].as_array().expect("list").iter().all(|g| g["displayName"] != "Everyone"), "{list}");
    let (_, found, _) = s.call("GET", &format!("/Groups?filter={}", enc(r#"displayName eq "everyone""#)), None).await;
    assert_eq!(found["totalResults"], 0);
    let (st, body, _) = s.call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Everyone" }))).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("built-in")), "{body}");
    let (st, _, _) = s.call("PATCH", &format!("/Groups/{gid}"), Some(patch(json!([{ "op": "replace", "path": "displayName", "value": "EVERYONE" }])))).await;
    assert_eq!(st, StatusCode::CONFLICT);
    let everyone = group::Entity::find().filter(group::Column::IsEveryone.eq(true)).one(&s.app.state.db).await.expect("db").expect("everyone");
    assert_eq!(s.call("GET", &format!("/Groups/{}", everyone.id), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.call("DELETE", &format!("/Groups/{}", everyone.id), None).await.0, StatusCode::NOT_FOUND);

    assert_eq!(s.call("DELETE", &format!("/Groups/{gid}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.call("DELETE", &format!("/Groups/{gid}"), None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn existing_members_are_linked_by_email_and_become_read_only() {
    let s = setup().await;
    // The admin signed up with a password; Okta finds them by userName = email.
    let (_, body, _) = s.call("GET", &format!("/Users?filter={}", enc(&format!("userName eq \"{ADMIN_EMAIL}\""))), None).await;
    assert_eq!(body["totalResults"], 1, "{body}");
    assert_eq!(body["Resources"][0]["roles"], json!([{ "value": "admin" }]));
    let before = membership_of(&s.app, ADMIN_EMAIL).await.expect("admin");
    assert!(before.managed_by_provider_id.is_none());
    // POST with the same email links that member (email is the key), keeping them admin.
    let mut u = user(ADMIN_EMAIL, ADMIN_EMAIL);
    u["roles"] = json!([{ "value": "admin" }]);
    let (st, body, _) = s.call("POST", "/Users", Some(u)).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], json!(before.id.to_string()), "the same member, not a new one");
    let after = membership_of(&s.app, ADMIN_EMAIL).await.expect("admin");
    assert!(after.managed_by_provider_id.is_some());
    assert_eq!(after.role, app::model::Role::Admin);
    assert_eq!(after.password_hash, before.password_hash, "their password stays theirs");
    // The UI refuses to change a linked member.
    let ws = app::server::workspaces::by_slug(&s.app.state.db, "acme").await.expect("ws");
    let cap = crate::common::operator().admin_of(ws.id);
    let e = app::server::members::set_role(&s.app.state.db, &app::server::events::Events::silent(), T0, &cap, after.id, app::server::permissions::Role::Member)
        .await
        .expect_err("read-only");
    assert!(e.to_string().contains("Okta"), "{e}");
    // Deleting the provider hands its members back to the workspace's admins.
    methods::change(&s.app.state.db, T0, &cap, &s.app.state.config, &["password".to_string()], &[]).await.expect("password on");
    saml::delete(&s.app.state.db, &app::server::events::Events::silent(), T0, &cap, &s.provider).await.expect("delete provider");
    let freed = membership_of(&s.app, ADMIN_EMAIL).await.expect("admin");
    assert_eq!((freed.managed_by_provider_id, freed.scim_data.as_deref()), (None, None));
    let (_, list, _) = s.call("GET", "/Users", None).await;
    assert_eq!(list["status"], "401", "its token went with it");
}

#[tokio::test]
async fn providers_and_workspaces_see_only_their_own() {
    let s = setup().await;
    let (_, u, _) = s.call("POST", "/Users", Some(user("kim@acme.test", "kim@acme.test"))).await;
    let uid = u["id"].as_str().expect("id").to_string();
    let (_, g, _) = s.call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Ops", "members": [{ "value": uid }] }))).await;
    let gid = g["id"].as_str().expect("id").to_string();

    // A second provider of the same workspace.
    let second = provider(&s.app, "acme", "Entra").await;
    let ws = app::server::workspaces::by_slug(&s.app.state.db, "acme").await.expect("ws");
    let cap = crate::common::operator().admin_of(ws.id);
    methods::change(&s.app.state.db, T0, &cap, &s.app.state.config, &[saml::method_key(&second)], &[]).await.expect("on");
    let t2 = scim::enable(&s.app.state.db, T0, &cap, &second, None).await.expect("enable").expose().to_string();
    // Another workspace with its own provider.
    s.app.create_workspace("other", "boss@other.test").await;
    let third = provider(&s.app, "other", "Other").await;
    let t3 = enable(&s.app, "other", &third).await;

    for (token, who) in [(&t2, "second provider"), (&t3, "other workspace")] {
        assert_eq!(call(&s.app, token, "GET", &format!("/Users/{uid}"), None).await.0, StatusCode::NOT_FOUND, "{who}: by id");
        assert_eq!(
            call(&s.app, token, "PATCH", &format!("/Users/{uid}"), Some(patch(json!([{ "op": "replace", "path": "active", "value": false }])))).await.0,
            StatusCode::NOT_FOUND,
            "{who}"
        );
        assert_eq!(call(&s.app, token, "DELETE", &format!("/Users/{uid}"), None).await.0, StatusCode::NOT_FOUND, "{who}");
        let (_, body, _) = call(&s.app, token, "GET", &format!("/Users?filter={}", enc(r#"userName eq "kim@acme.test""#)), None).await;
        assert_eq!(body["totalResults"], 0, "{who}: by filter");
        let (_, body, _) = call(&s.app, token, "GET", &format!("/Users?filter={}", enc(r#"emails.value co "kim""#)), None).await;
        assert_eq!(body["totalResults"], 0, "{who}: by email");
        assert_eq!(call(&s.app, token, "GET", &format!("/Groups/{gid}"), None).await.0, StatusCode::NOT_FOUND, "{who}: group");
        let (st, body, _) =
            call(&s.app, token, "POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Mine", "members": [{ "value": uid }] }))).await;
        assert_eq!((st, body["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue")), "{who}: can't add someone else's user");
    }
    // The second provider can't take over the member by email.
    let (st, body, _) = call(&s.app, &t2, "POST", "/Users", Some(user("kim2", "kim@acme.test"))).await;
    assert_eq!((st, body["scimType"].as_str()), (StatusCode::CONFLICT, Some("uniqueness")));
    assert_eq!(membership_of(&s.app, "kim@acme.test").await.map(|m| m.status), Some(app::model::Status::Active));
    // Another workspace provisioning the same address gets a person of its own, exactly as
    // for a brand-new address: 201, its own id, nothing of acme's member in the answer
    // (no 409 that would tell it the address exists elsewhere).
    let acme_kim = account::Entity::find()
        .filter(account::Column::WorkspaceId.eq(ws.id))
        .filter(account::Column::EmailNormalized.eq("kim@acme.test"))
        .one(&s.app.state.db)
        .await
        .expect("db")
        .expect("acme's kim");
    let mut theirs = user("kim@acme.test", "kim@acme.test");
    theirs["name"] = json!({ "givenName": "Mallory", "familyName": "Other" });
    let (st, body, _) = call(&s.app, &t3, "POST", "/Users", Some(theirs)).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let other_id = body["id"].as_str().expect("id").to_string();
    assert_ne!(other_id, uid);
    assert_eq!(body["name"]["givenName"], "Mallory", "only what this client sent");
    assert!(body["groups"].as_array().is_none_or(|g| g.is_empty()), "nothing of acme's groups: {body}");
    let other = app::server::workspaces::by_slug(&s.app.state.db, "other").await.expect("other");
    let other_kim = account::Entity::find()
        .filter(account::Column::WorkspaceId.eq(other.id))
        .filter(account::Column::EmailNormalized.eq("kim@acme.test"))
        .one(&s.app.state.db)
        .await
        .expect("db")
        .expect("other's kim");
    assert_ne!(other_kim.id, acme_kim.id, "two accounts, one per workspace");
    // Its client renames and re-addresses its own person; acme's member is untouched.
    let (st, body, _) = call(&s.app, &t3, "PATCH", &format!("/Users/{other_id}"), Some(patch(json!([{ "op": "replace", "path": "emails", "value": [{ "value": "evil@other.test", "primary": true }] }, { "op": "replace", "path": "active", "value": false }])))).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let after = account::Entity::find_by_id(acme_kim.id).one(&s.app.state.db).await.expect("db").expect("acme's kim");
    assert_eq!((after.email_normalized.as_str(), after.full_name.as_str()), (acme_kim.email_normalized.as_str(), acme_kim.full_name.as_str()));
    assert_eq!(membership_of(&s.app, "kim@acme.test").await.map(|m| m.status), Some(app::model::Status::Active));
}

#[tokio::test]
async fn filters_pagination_and_bad_input() {
    let s = setup().await;
    for n in 0..12 {
        let (st, _, _) = s.call("POST", "/Users", Some(user(&format!("u{n:02}@acme.test"), &format!("u{n:02}@acme.test")))).await;
        assert_eq!(st, StatusCode::CREATED);
    }
    let count = |v: &Value| v["totalResults"].as_u64();
    let q = |f: &str| format!("/Users?filter={}", enc(f));
    let (_, v, _) = s.call("GET", &q(r#"userName sw "U0" and not (userName ew "5@acme.test")"#), None).await;
    assert_eq!(count(&v), Some(9));
    let (_, v, _) = s.call("GET", &q(r#"emails[type eq "work" and value co "u1"] or userName eq "u03@acme.test""#), None).await;
    assert_eq!(count(&v), Some(3));
    let (_, v, _) = s.call("GET", &q(r#"externalId eq "EXT-u01@acme.test""#), None).await;
    assert_eq!(count(&v), Some(0), "externalId is case-exact");
    // Injection-looking values are values.
    for f in [r#"userName eq "x\" or 1 eq 1 or \"""#, r#"userName eq "'; DROP TABLE memberships; --""#] {
        let (st, v, _) = s.call("GET", &q(f), None).await;
        assert_eq!((st, count(&v)), (StatusCode::OK, Some(0)), "{f}");
    }
    // Unsupported or malformed: 400 invalidFilter, never a silent miss.
    for f in [r#"userName eq"#, r#"shoeSize eq "9""#, r#"active gt true"#, r#"(userName pr"#, r#"name eq "x""#] {
        let (st, v, _) = s.call("GET", &q(f), None).await;
        assert_eq!((st, v["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidFilter")), "{f}: {v}");
    }
    // Pages: 1-based, stable order, integer fields, beyond the end empty.
    // Users created between pages land after the ones already listed: nothing is skipped
    // or repeated.
    let mut seen = Vec::new();
    for (n, start) in [1, 6, 11, 16].into_iter().enumerate() {
        let (_, v, _) = s.call("GET", &format!("/Users?startIndex={start}&count=5"), None).await;
        assert_eq!(v["startIndex"].as_u64(), Some(start), "{v}");
        assert_eq!(v["totalResults"].as_u64(), Some(13 + 2 * n as u64), "integers, and the count as of this page");
        seen.extend(v["Resources"].as_array().expect("page").iter().filter_map(|r| r["id"].as_str().map(str::to_string)));
        for k in 0..2 {
            let (st, _, _) = s.call("POST", "/Users", Some(user(&format!("late{n}{k}@acme.test"), &format!("late{n}{k}@acme.test")))).await;
            assert_eq!(st, StatusCode::CREATED);
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_by_key(|i| i.parse::<i64>().unwrap_or(0));
    sorted.dedup();
    assert_eq!((seen.len(), seen.clone()), (19, sorted), "every user once, in order");
    let (st, v, _) = s.call("GET", "/Users?count=ten", None).await;
    assert_eq!((st, v["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue")));
    // Bad bodies: a clear error, nothing created.
    let r = s
        .app
        .send(Request::post("/scim/v2/Users").header(header::AUTHORIZATION, format!("Bearer {}", s.token)).body(Body::from("{not json")).expect("req"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("invalidSyntax"), "{}", r.body);
    let (st, v, _) = s.call("POST", "/Users", Some(json!({ "schemas": [USER], "userName": "x@acme.test", "emails": "nope" }))).await;
    assert_eq!((st, v["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue")), "{v}");
    let (st, v, _) = s.call("PATCH", "/Users/1", Some(json!({ "Operations": [] }))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(membership_of(&s.app, "x@acme.test").await.is_none());
}

#[tokio::test]
async fn requests_beyond_the_rate_are_429_with_retry_after() {
    let s = setup_with(|c| c.scim_requests_per_minute = 5).await;
    for _ in 0..5 {
        assert_eq!(s.call("GET", "/Users", None).await.0, StatusCode::OK);
    }
    let (st, body, r) = s.call("GET", "/Users", None).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: i64 = r.headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!((1..=60).contains(&retry));
    s.app.clock.advance(61);
    assert_eq!(s.call("GET", "/Users", None).await.0, StatusCode::OK, "the next window");
}

#[tokio::test]
async fn concurrent_clients_end_at_the_serial_result() {
    let s = setup().await;
    let mut ids = Vec::new();
    for n in 0..50 {
        let (_, u, _) = s.call("POST", "/Users", Some(user(&format!("c{n}@acme.test"), &format!("c{n}@acme.test")))).await;
        ids.push(u["id"].as_str().expect("id").to_string());
    }
    let (_, g, _) = s.call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Busy" }))).await;
    let gid = g["id"].as_str().expect("id").to_string();
    // 50 clients at once: each adds its user twice and removes it once if its index is odd.
    let s = std::sync::Arc::new(s);
    let mut tasks = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let (s, id, gid) = (s.clone(), id.clone(), gid.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..2 {
                let (st, _, _) =
                    s.call("PATCH", &format!("/Groups/{gid}"), Some(patch(json!([{ "op": "add", "path": "members", "value": [{ "value": id }] }])))).await;
                assert_eq!(st, StatusCode::NO_CONTENT);
            }
            if n % 2 == 1 {
                let (st, _, _) =
                    s.call("PATCH", &format!("/Groups/{gid}"), Some(patch(json!([{ "op": "remove", "path": format!("members[value eq \"{id}\"]") }])))).await;
                assert_eq!(st, StatusCode::NO_CONTENT);
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    let (_, g, _) = s.call("GET", &format!("/Groups/{gid}"), None).await;
    let mut got: Vec<String> = g["members"].as_array().expect("members").iter().filter_map(|m| m["value"].as_str().map(str::to_string)).collect();
    got.sort();
    let mut want: Vec<String> = ids.iter().enumerate().filter(|(n, _)| n % 2 == 0).map(|(_, i)| i.clone()).collect();
    want.sort();
    assert_eq!(got, want);
    let rows =
        group_member::Entity::find().filter(group_member::Column::GroupId.eq(gid.parse::<i64>().expect("gid"))).count(&s.app.state.db).await.expect("db");
    assert_eq!(rows, 25, "no duplicate rows");
}

#[tokio::test]
async fn a_member_removed_from_a_group_by_scim_loses_access_on_the_next_request() {
    let s = setup().await;
    let (_, u, _) = s.call("POST", "/Users", Some(user("nia@acme.test", "nia@acme.test"))).await;
    let uid = u["id"].as_str().expect("id").to_string();
    let (_, g, _) = s.call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Analysts", "members": [{ "value": uid }] }))).await;
    let gid: i64 = g["id"].as_str().expect("gid").parse().expect("numeric");
    let ws = app::server::workspaces::by_slug(&s.app.state.db, "acme").await.expect("ws");
    let cap = crate::common::operator().admin_of(ws.id);
    let r = warehouse_viewed_by(&s.app.state, &cap, gid).await;
    let m = membership_of(&s.app, "nia@acme.test").await.expect("member");
    let session = sessions::create(&s.app.state.db, T0, m.account_id, ws.id, "saml:x", &Default::default()).await.expect("session");
    let cookie = format!("gatehouse_session={}", session.expose());
    let path = format!("/w/acme/r/{}", r.id);
    assert_eq!(s.app.get(&path, Some(&cookie)).await.status, StatusCode::OK);
    let mut live = s.app.events("acme", "access", Some(&cookie)).await.expect("the member's open page");
    let (st, _, _) = s.call("PATCH", &format!("/Groups/{gid}"), Some(patch(json!([{ "op": "remove", "path": format!("members[value eq \"{uid}\"]") }])))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(live.next().await.as_deref(), Some("access"), "the open page is told at once");
    assert_eq!(s.app.get(&path, Some(&cookie)).await.status, StatusCode::NOT_FOUND, "the very next request");
    // Reads don't disturb open pages; the next event is the next write's.
    let _ = s.call("GET", "/Users", None).await;
    let (st, _, _) = s.call("PATCH", &format!("/Users/{uid}"), Some(patch(json!([{ "op": "replace", "path": "active", "value": false }])))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(live.next().await.as_deref(), Some("signedout"), "deactivated by the IdP: the page is signed out");
}

#[tokio::test]
async fn concurrent_writes_on_a_sqlite_file_pool_all_succeed() {
    // In-memory SQLite has one connection; a file has a pool, where a deferred
    // transaction that reads then writes used to fail at once with SQLITE_BUSY.
    let dir = std::env::temp_dir().join(format!("gh-scim-pool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = format!("sqlite://{}/db.sqlite?mode=rwc", dir.display());
    let conn = app::server::db::connect(&url, 8).await.expect("connect");
    app::server::db::migrate(&conn).await.expect("migrate");
    let s = std::sync::Arc::new(setup_on(TestApp::with_config_and_db(|_| {}, conn).await).await);
    let mut tasks = Vec::new();
    for n in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { s.call("POST", "/Users", Some(user(&format!("p{n}@acme.test"), &format!("p{n}@acme.test")))).await.0 }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), StatusCode::CREATED);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_root_search_pages_across_users_then_groups() {
    let s = setup().await;
    for n in 0..3 {
        s.call("POST", "/Users", Some(user(&format!("r{n}@acme.test"), &format!("r{n}@acme.test")))).await;
    }
    for name in ["G1", "G2"] {
        s.call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": name }))).await;
    }
    let search = |start: i64, count: i64| json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "startIndex": start, "count": count });
    // 4 users (the admin and three) and 2 groups.
    let (st, v, _) = s.call("POST", "/.search", Some(search(3, 3))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["totalResults"], 6);
    let kinds: Vec<&str> = v["Resources"].as_array().expect("list").iter().filter_map(|r| r["meta"]["resourceType"].as_str()).collect();
    assert_eq!(kinds, ["User", "User", "Group"]);
    let (_, v, _) = s.call("POST", "/.search", Some(search(6, 10))).await;
    assert_eq!(v["Resources"][0]["displayName"], "G2", "the last item is the second group");
    // A filter only groups understand matches no users, and is not an error.
    let (st, v, _) = s
        .call(
            "POST",
            "/.search",
            Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "displayName eq \"G1\" and members pr" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["totalResults"], 0, "G1 has no members");
}

#[tokio::test]
async fn the_reconcile_view_shows_linked_and_unlinked_groups_and_who_would_lose_what() {
    let s = setup().await;
    let acme = app::server::workspaces::by_slug(&s.app.state.db, "acme").await.expect("ws");
    let ada = app::server::testing::account_by_email(&s.app.state.db, acme.id, crate::common::ADMIN_EMAIL).await.expect("db").expect("ada");
    let admin =
        format!("gatehouse_session={}", sessions::create(&s.app.state.db, T0, ada.id, acme.id, "saml:x", &Default::default()).await.expect("session").expose());
    let (_, u, _) = s.call("POST", "/Users", Some(user("nia@acme.test", "nia@acme.test"))).await;
    let uid = u["id"].as_str().expect("id").to_string();
    let (st, _, _) = s.call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Analysts", "members": [{ "value": uid }] }))).await;
    assert_eq!(st, StatusCode::CREATED);
    // An app group the IdP doesn't push, granting nia a datasource.
    let ws = app::server::workspaces::by_slug(&s.app.state.db, "acme").await.expect("ws");
    let cap = crate::common::operator().admin_of(ws.id);
    let legacy = app::server::groups::create(&s.app.state.db, &app::server::events::Events::silent(), T0, &cap, "Legacy").await.expect("group");
    app::server::groups::add_member(&s.app.state.db, &app::server::events::Events::silent(), T0, &cap, legacy.id, "nia@acme.test").await.expect("add");
    warehouse_viewed_by(&s.app.state, &cap, legacy.id).await;

    let v = s.app.call::<app::api::access::LoadReconcile>(&[("slug", "acme"), ("id", &s.provider)], Some(&admin)).await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.body);
    let v: Value = serde_json::from_str(&v.body).expect("json");
    assert_eq!(
        v["linked"].as_array().map(|l| l.iter().map(|g| (g["name"].as_str().unwrap(), g["members"].as_u64().unwrap())).collect::<Vec<_>>()),
        Some(vec![("Analysts", 1)])
    );
    assert_eq!(
        v["unlinked"]
            .as_array()
            .map(|l| l.iter().map(|g| (g["name"].as_str().unwrap(), g["members"].as_u64().unwrap(), g["grants"].as_u64().unwrap())).collect::<Vec<_>>()),
        Some(vec![("Legacy", 1, 1)]),
        "Everyone is never listed"
    );
    let d = &v["if_emptied"]["deltas"][0];
    assert_eq!(
        (d["email"].as_str(), d["resource"].as_str(), d["before"].as_str(), d["after"].as_str()),
        (Some("nia@acme.test"), Some("Warehouse"), Some("view"), Some("none"))
    );
    assert_eq!(v["if_emptied"]["total"].as_u64(), Some(1));

    let page = s.app.get(&format!("/w/acme/settings/authentication/saml/{}/reconcile", s.provider), Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"data-group="Legacy""#) && page.body.contains(r#"data-member="nia@acme.test""#), "server-rendered");
    assert!(!page.body.contains("Confirm: turn provisioning on"), "provisioning is already on");
    // Another workspace's admin can't read it.
    s.app.create_workspace("beta", "boss@beta.test").await;
    let beta_ws = app::server::workspaces::by_slug(&s.app.state.db, "beta").await.expect("ws");
    let boss = app::server::testing::account_by_email(&s.app.state.db, beta_ws.id, "boss@beta.test").await.expect("db").expect("boss");
    let session = sessions::create(&s.app.state.db, T0, boss.id, beta_ws.id, "password", &Default::default()).await.expect("session");
    let beta = format!("gatehouse_session={}", session.expose());
    let v = s.app.call::<app::api::access::LoadReconcile>(&[("slug", "beta"), ("id", &s.provider)], Some(&beta)).await;
    assert_eq!(v.status, StatusCode::NOT_FOUND);
}

/// An admin session for acme's admin (password sign-in is off once provisioning is on).
async fn admin_session(app: &TestApp) -> String {
    let acme = app::server::workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    let ada = app::server::testing::account_by_email(&app.state.db, acme.id, ADMIN_EMAIL).await.expect("db").expect("ada");
    format!("gatehouse_session={}", sessions::create(&app.state.db, T0, ada.id, acme.id, "saml:x", &Default::default()).await.expect("session").expose())
}

/// A Provider Token shows when it was made and last used, may be given a lifetime from a
/// fixed list, and stops working when that ends; the page says all of it (never the value).
#[tokio::test]
async fn provider_tokens_show_their_dates_and_can_expire() {
    let s = setup().await;
    let db = &s.app.state.db;
    let ws = app::server::workspaces::by_slug(db, "acme").await.expect("ws");
    let cap = crate::common::operator().admin_of(ws.id);
    let pid = saml::get(db, &cap, &s.provider).await.expect("provider").id();
    let facts = scim::token_facts(db, pid).await.expect("db").expect("a token");
    assert_eq!((facts.created_at, facts.last_used_at, facts.expires_at), (T0, None, None));
    s.app.clock.advance(120);
    assert_eq!(s.call("GET", "/Users", None).await.0, StatusCode::OK);
    assert_eq!(scim::token_facts(db, pid).await.expect("db").expect("token").last_used_at, Some(T0 + 120));

    // A 30-day token works until its 30th day ends, then 401 with the reason.
    let t = scim::mint_token(db, T0 + 120, &cap, &s.provider, Some(30)).await.expect("mint");
    assert_eq!(scim::token_facts(db, pid).await.expect("db").expect("token").expires_at, Some(T0 + 120 + 30 * 86_400));
    assert_eq!(s.call("GET", "/Users", None).await.0, StatusCode::UNAUTHORIZED, "the old token was replaced");
    let page = s.app.get(&format!("/w/acme/settings/authentication/saml/{}", s.provider), Some(&admin_session(&s.app).await)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("data-testid=\"token-expires\""), "the page shows the expiry");
    assert!(page.body.contains("(in 29 days)") || page.body.contains("(in 30 days)"), "days left shown");
    assert!(!page.body.contains(t.expose()), "never the value");
    s.app.clock.advance(30 * 86_400 - 1);
    assert_eq!(call(&s.app, t.expose(), "GET", "/Users", None).await.0, StatusCode::OK);
    s.app.clock.advance(1);
    let (st, body, _) = call(&s.app, t.expose(), "GET", "/Users", None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("expired")), "{body}");

    // Only the offered lifetimes; nothing changes on a refusal.
    assert!(matches!(scim::mint_token(db, T0, &cap, &s.provider, Some(7)).await, Err(app::server::DomainError::Invalid(_))));
    assert!(matches!(scim::mint_token(db, T0, &cap, &s.provider, Some(-30)).await, Err(app::server::DomainError::Invalid(_))));
    assert_eq!(scim::token_facts(db, pid).await.expect("db").expect("token").expires_at, Some(T0 + 120 + 30 * 86_400));
    // The UI's and the CLI's rotation are one path, audited alike.
    let rotations = app::server::entities::audit_log::Entity::find()
        .filter(app::server::entities::audit_log::Column::Action.eq("scim.token.rotate"))
        .count(db)
        .await
        .expect("db");
    assert_eq!(rotations, 1);
}

/// The SCIM client can't deactivate, demote or delete the workspace's last active admin:
/// being linked to the provider by SCIM is not enough; signing in through it is (then the
/// IdP decides whether they can sign in at all). A refusal changes nothing, not even the link.
#[tokio::test]
async fn the_last_active_admin_is_not_the_scim_clients_to_remove() {
    use app::server::permissions::{Role, Status};
    let s = setup().await;
    let admin = membership_of(&s.app, ADMIN_EMAIL).await.expect("admin");
    let path = format!("/Users/{}", admin.id);
    let off = patch(json!([{ "op": "replace", "path": "active", "value": false }]));
    let (st, body, _) = s.call("PATCH", &path, Some(off.clone())).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("last active admin")), "{body}");
    let mut demoted = user(ADMIN_EMAIL, ADMIN_EMAIL);
    demoted["roles"] = json!([{ "value": "member" }]);
    assert_eq!(s.call("PUT", &path, Some(demoted)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.call("DELETE", &path, None).await.0, StatusCode::FORBIDDEN);
    let kept = membership_of(&s.app, ADMIN_EMAIL).await.expect("admin");
    assert_eq!((kept.status, kept.role, kept.managed_by_provider_id), (Status::Active, Role::Admin, None), "nothing applied");

    // A second admin pushed by the IdP: now the first may go.
    let mut grace = user("grace@acme.test", "grace@acme.test");
    grace["roles"] = json!([{ "value": "admin" }]);
    let (st, body, _) = s.call("POST", "/Users", Some(grace)).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let grace_path = format!("/Users/{}", body["id"].as_str().expect("id"));
    assert_eq!(s.call("PATCH", &path, Some(off.clone())).await.0, StatusCode::OK);
    // Grace is the last one now, and linked by SCIM; that is not signing in through Okta.
    let (st, body, _) = s.call("PATCH", &grace_path, Some(off.clone())).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    // Once she signs in through this provider, whether she may is the IdP's call.
    let acme = app::server::workspaces::by_slug(&s.app.state.db, "acme").await.expect("ws");
    let g = app::server::testing::account_by_email(&s.app.state.db, acme.id, "grace@acme.test").await.expect("db").expect("grace");
    use sea_orm::{ActiveModelTrait, Set};
    app::server::entities::external_identity::ActiveModel {
        account_id: Set(g.id),
        workspace_id: Set(acme.id),
        provider_kind: Set("saml".into()),
        provider_key: Set(s.provider.clone()),
        subject: Set("grace@acme.test".into()),
        created_at: Set(T0),
        last_used_at: Set(T0),
        ..Default::default()
    }
    .insert(&s.app.state.db)
    .await
    .expect("link");
    assert_eq!(s.call("PATCH", &grace_path, Some(off)).await.0, StatusCode::OK);
}

/// Two SCIM deactivations of the workspace's two admins at once, over real connections:
/// each saw "another admin" before the admin-change lock; now exactly one goes, every round,
/// on SQLite and PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deactivations_of_two_admins_leave_one() {
    let app = TestApp::new().await;
    app.create_workspace("acme", ADMIN_EMAIL).await;
    let cookie = app.admin_cookie().await;
    app.add_member(&cookie, "bea@acme.test", "admin").await;
    let provider = provider(&app, "acme", "Okta").await;
    let token = enable(&app, "acme", &provider).await;
    let ids = [membership_of(&app, ADMIN_EMAIL).await.expect("ada").id, membership_of(&app, "bea@acme.test").await.expect("bea").id];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = app.router.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
    });
    let http = reqwest::Client::new();
    let send = |id: i64, active: bool| {
        let (http, token) = (http.clone(), token.clone());
        tokio::spawn(async move {
            http.patch(format!("http://{addr}/scim/v2/Users/{id}"))
                .bearer_auth(token)
                .header("content-type", "application/scim+json")
                .body(patch(json!([{ "op": "replace", "path": "active", "value": active }])).to_string())
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        })
    };
    let ws = app::server::workspaces::by_slug(&app.state.db, "acme").await.expect("ws");
    for round in 0..8 {
        let (a, b) = (send(ids[0], false), send(ids[1], false));
        let mut statuses = [a.await.expect("join"), b.await.expect("join")];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 403], "round {round}");
        assert_eq!(app::server::directory::active_admin_count(&app.state.db, ws.id).await.expect("db"), 1, "round {round}");
        for id in ids {
            assert_eq!(send(id, true).await.expect("join"), 200);
        }
    }
}

/// The token a no-JS rotation shows once travels in a cookie; the page shows it only if it
/// is the provider's current token, so a cookie planted by anyone else shows nothing.
#[tokio::test]
async fn the_page_shows_only_the_token_it_minted() {
    let s = setup().await;
    let admin = admin_session(&s.app).await;
    let page = format!("/w/acme/settings/authentication/saml/{}", s.provider);
    let planted = "PlantedTokenPlantedTokenPlantedToken0123456";
    let r = s.app.get(&page, Some(&format!("{admin}; gatehouse_fresh_token={planted}"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains(planted) && !r.body.contains("data-testid=\"provider-token\""), "a planted token was shown");
    let r = s.app.get(&page, Some(&format!("{admin}; gatehouse_fresh_token={}", s.token))).await;
    assert!(r.body.contains(&s.token), "the minted token is shown once");
}

/// The Members page's order and search read copies of each member's name and email kept
/// on the membership (migration 14). Whatever changes an account — a SCIM PUT or PATCH, a
/// direct update by any other path — the page follows at once: nobody is listed under
/// an old name or found by an old address.
#[tokio::test]
async fn the_members_page_follows_every_change_of_name_email_and_role() {
    use sea_orm::{ActiveModelTrait, Set};
    let s = setup().await;
    let ws = app::server::workspaces::by_slug(&s.app.state.db, "acme").await.expect("acme");
    let order = |search: &'static str| {
        let db = s.app.state.db.clone();
        async move {
            let (rows, total) = app::server::testing::members_page_rows(&db, ws.id, 1, search).await.expect("page");
            assert_eq!(total as usize, rows.len());
            rows.into_iter().map(|(email, _)| email).collect::<Vec<_>>()
        }
    };
    let mut ids = Vec::new();
    for (email, given, family) in [("zoe@acme.test", "Zoe", "Last"), ("adam@acme.test", "Adam", "First")] {
        let mut u = user(email, email);
        u["name"] = json!({ "givenName": given, "familyName": family });
        u["displayName"] = json!(format!("{given} {family}"));
        let (st, body, _) = s.call("POST", "/Users", Some(u)).await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().expect("id").to_string());
    }
    assert_eq!(order("").await, [ADMIN_EMAIL, "adam@acme.test", "zoe@acme.test"], "admins first, then by name");

    // A PATCH of the given name moves Zoe ahead of Adam ("Aaron Last" < "Adam First").
    let (st, body, _) =
        s.call("PATCH", &format!("/Users/{}", ids[0]), Some(patch(json!([{ "op": "replace", "path": "name.givenName", "value": "Aaron" }])))).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(order("").await, [ADMIN_EMAIL, "zoe@acme.test", "adam@acme.test"]);
    assert_eq!(order("aaron").await, ["zoe@acme.test"], "found by the new name");
    assert!(order("zoe last").await.is_empty(), "not by the old one");

    // A PUT with a new address: found by it, not by the old one.
    let mut u = user("adam.first@acme.test", "adam.first@acme.test");
    u["name"] = json!({ "givenName": "Adam", "familyName": "First" });
    let (st, body, _) = s.call("PUT", &format!("/Users/{}", ids[1]), Some(u)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(order("adam.first@").await, ["adam.first@acme.test"]);
    assert!(order("adam@acme").await.is_empty());

    // Made an admin: listed with the admins.
    let (st, body, _) =
        s.call("PATCH", &format!("/Users/{}", ids[1]), Some(patch(json!([{ "op": "add", "path": "roles", "value": [{ "value": "admin" }] }])))).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(order("").await, [ADMIN_EMAIL, "adam.first@acme.test", "zoe@acme.test"], "\"ada admin\" < \"adam first\"");

    // Any other path that writes the account (SAML sign-in, the CLI, a bulk script).
    let m = membership_of(&s.app, "zoe@acme.test").await.expect("zoe");
    let a = account::Entity::find_by_id(m.account_id).one(&s.app.state.db).await.expect("db").expect("account");
    let mut am: account::ActiveModel = a.into();
    am.full_name = Set("Zzz Renamed".into());
    am.update(&s.app.state.db).await.expect("update");
    assert_eq!(order("zzz").await, ["zoe@acme.test"]);
    assert_eq!(order("").await.last().map(String::as_str), Some("zoe@acme.test"));
}

/// The checks Microsoft's gallery validation runs straight against a SCIM endpoint that
/// the other tests don't already make: manager set (Entra sends the id as a bare string),
/// changed (RFC 7643's `{"value": …}`) and removed; attributes cleared by an empty string
/// or a null value; every attribute we map discoverable in `/Schemas`; a missing user is
/// a SCIM 404.
#[tokio::test]
async fn microsofts_direct_checks_manager_clearing_and_discovery() {
    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let s = setup().await;
    let mut ids = Vec::new();
    for email in ["boss@acme.test", "deputy@acme.test", "worker@acme.test"] {
        let (st, u, _) = s.call("POST", "/Users", Some(user(email, email))).await;
        assert_eq!(st, StatusCode::CREATED, "{u}");
        ids.push(u["id"].as_str().expect("id").to_string());
    }
    let worker = format!("/Users/{}", ids[2]);
    let manager = |u: &Value| u[ENT]["manager"]["value"].as_str().map(str::to_string);

    let (st, u, _) = s.call("PATCH", &worker, Some(patch(json!([{ "op": "Add", "path": format!("{ENT}:manager"), "value": ids[0] }])))).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(manager(&u), Some(ids[0].clone()), "{u}");
    let (st, u, _) = s.call("PATCH", &worker, Some(patch(json!([{ "op": "Replace", "path": format!("{ENT}:manager"), "value": { "value": ids[1] } }])))).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(manager(&s.call("GET", &worker, None).await.1), Some(ids[1].clone()), "kept");
    let (st, u, _) = s.call("PATCH", &worker, Some(patch(json!([{ "op": "Remove", "path": format!("{ENT}:manager") }])))).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(manager(&s.call("GET", &worker, None).await.1), None);

    // Clearing: an empty string or null unassigns (RFC 7643 §2.5), and the name follows.
    let (st, u, _) = s
        .call(
            "PATCH",
            &worker,
            Some(patch(json!([
                { "op": "Replace", "path": format!("{ENT}:department"), "value": "Codebreaking" },
                { "op": "Replace", "path": "title", "value": "Analyst" },
            ]))),
        )
        .await;
    assert_eq!((st, u[ENT]["department"].as_str(), u["title"].as_str()), (StatusCode::OK, Some("Codebreaking"), Some("Analyst")), "{u}");
    let (st, u, _) = s
        .call(
            "PATCH",
            &worker,
            Some(patch(json!([
                { "op": "Replace", "path": format!("{ENT}:department"), "value": "" },
                { "op": "Replace", "path": "title", "value": null },
                { "op": "Replace", "path": "name.familyName", "value": "" },
            ]))),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    let u = s.call("GET", &worker, None).await.1;
    assert!(u[ENT]["department"].as_str().unwrap_or_default().is_empty(), "{u}");
    assert!(u["title"].as_str().unwrap_or_default().is_empty(), "{u}");
    assert!(u["name"]["familyName"].as_str().unwrap_or_default().is_empty(), "{u}");
    let m = membership_of(&s.app, "worker@acme.test").await.expect("worker");
    let a = account::Entity::find_by_id(m.account_id).one(&s.app.state.db).await.expect("db").expect("account");
    assert_eq!(a.full_name, "Grace", "given name alone once the family name is cleared");

    // Discovery: every attribute the tests above write is described (externalId, id and
    // meta are common attributes, outside every schema: RFC 7643 §3.1).
    let (st, schemas, _) = s.call("GET", "/Schemas", None).await;
    assert_eq!(st, StatusCode::OK);
    let described = |urn: &str| -> Vec<String> {
        let schema = schemas["Resources"].as_array().expect("resources").iter().find(|r| r["id"] == urn).unwrap_or_else(|| panic!("{urn} in /Schemas"));
        let mut names = Vec::new();
        for a in schema["attributes"].as_array().expect("attributes") {
            let name = a["name"].as_str().unwrap_or_default().to_string();
            for sub in a["subAttributes"].as_array().into_iter().flatten() {
                names.push(format!("{name}.{}", sub["name"].as_str().unwrap_or_default()));
            }
            names.push(name);
        }
        names
    };
    let core = described(USER);
    for attr in ["userName", "name.givenName", "name.familyName", "displayName", "emails.value", "emails.type", "emails.primary", "active", "title"] {
        assert!(core.iter().any(|n| n == attr), "{attr} in the User schema: {core:?}");
    }
    let enterprise = described(ENT);
    for attr in ["department", "manager.value"] {
        assert!(enterprise.iter().any(|n| n == attr), "{attr} in the enterprise schema: {enterprise:?}");
    }

    let (st, body, _) = s.call("GET", "/Users/00000000-0000-4000-8000-000000000000", None).await;
    assert_eq!((st, body["status"].as_str()), (StatusCode::NOT_FOUND, Some("404")), "{body}");
    assert_eq!(body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]));
}

/// Served requests' bookkeeping is committed in groups (one task per process writes what
/// has queued in one transaction), yet each request's budget, daily count and activity
/// line are committed before it answers, and none is lost or counted twice.
#[tokio::test]
async fn concurrent_requests_are_each_recorded_before_they_answer() {
    use app::server::entities::scim_token;
    let s = std::sync::Arc::new(setup().await);
    let db = &s.app.state.db;
    let p = saml::by_public_id(db, &s.provider).await.expect("provider");
    let pid = p.id();
    let token = scim_token::Entity::find().filter(scim_token::Column::ProviderId.eq(pid)).one(db).await.expect("db").expect("token");
    let ws = p.workspace_id();
    let now = s.app.state.now();
    let ok = |counts: Vec<app::server::stats::Count>| counts.iter().filter(|c| c.metric == "scim:ok").map(|c| c.count).sum::<i64>();
    let key = format!("scim:token:{}", token.id);
    let budget = || app::server::ratelimit::count(db, &key, now, 60);
    let rows = || scim_activity::Entity::find().filter(scim_activity::Column::ProviderId.eq(p.id())).count(db);
    let (ok0, budget0, rows0) =
        (ok(app::server::stats::recent(db, ws, now, 1).await.expect("counts")), budget().await.expect("budget"), rows().await.expect("rows"));

    const N: usize = 64;
    let mut tasks = Vec::new();
    for n in 0..N {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let filter = format!("userName eq \"probe{n}@acme.test\"");
            let (st, body, _) = s.call("GET", &format!("/Users?filter={}", enc(&filter)), None).await;
            assert_eq!(st, StatusCode::OK, "{body}");
            // Its line is there when it answers.
            let mine = scim_activity::Entity::find()
                .filter(scim_activity::Column::ProviderId.eq(pid))
                .filter(scim_activity::Column::Target.eq(filter.clone()))
                .count(&s.app.state.db)
                .await
                .expect("db");
            assert_eq!(mine, 1, "{filter}: recorded once, before the answer");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let n = N as i64;
    assert_eq!(ok(app::server::stats::recent(db, ws, now, 1).await.expect("counts")), ok0 + n, "the daily count");
    assert_eq!(budget().await.expect("budget"), budget0 + n, "the token's budget");
    assert_eq!(rows().await.expect("rows"), rows0 + N as u64, "the activity lines");
}

/// One bad entry in a group commit costs only itself: an entry whose provider is gone (its
/// activity row can't be written) and a good one queued together; the good one is
/// committed. And what a client sent is stored printable: a NUL (which PostgreSQL refuses
/// in text) or a line break in a filter shows as U+FFFD in the activity line.
#[tokio::test]
async fn a_bad_ledger_entry_costs_only_itself_and_activity_is_printable() {
    use app::server::scim::ledger::Entry;
    let s = setup().await;
    let db = &s.app.state.db;
    let p = saml::by_public_id(db, &s.provider).await.expect("provider");
    let now = s.app.state.now();
    let entry = |provider_id: i64, target: &str| Entry {
        now,
        token_id: 1,
        workspace_id: p.workspace_id(),
        provider_id,
        activity: scim::Activity {
            method: "GET".into(),
            path: "/scim/v2/Users".into(),
            operation: "list".into(),
            target: target.into(),
            status: 200,
            outcome: "ok".into(),
            duration_us: 1,
        },
    };
    let ledger = &s.app.state.scim_ledger;
    // Both are queued before the ledger's task runs (one thread): one batch.
    let (bad, good) = tokio::join!(ledger.record(entry(i64::MAX, "gone")), ledger.record(entry(p.id(), "kept")));
    assert!(bad.is_err(), "the entry of a provider that is gone fails");
    good.expect("the other entry of its batch is committed");
    let kept = scim_activity::Entity::find().filter(scim_activity::Column::Target.eq("kept")).count(db).await.expect("db");
    assert_eq!(kept, 1);

    let filter = "userName eq \"a\u{0}b\r\nc\"";
    let (st, _, _) = s.call("GET", &format!("/Users?filter={}", enc(filter)), None).await;
    assert!(st == StatusCode::OK || st == StatusCode::BAD_REQUEST, "{st}");
    let line = app::server::testing::scim_activity(db, p.id(), 1).await.expect("activity").pop().expect("the request's line");
    assert_eq!(line.target, "userName eq \"a\u{FFFD}b\u{FFFD}\u{FFFD}c\"");
}

/// A datasource "Warehouse" that group `group_id` may view, made as an admin would.
async fn warehouse_viewed_by(state: &app::web::AppState, cap: &app::server::permissions::AdminCap, group_id: i64) -> app::model::Resource {
    use app::server::resources::{self, NewResource};
    let new = NewResource { kind: "datasource", name: "Warehouse", description: "" };
    // Silent, as setup: the open pages of the test hear only what the test then does.
    let quiet = app::server::events::Events::silent();
    let r = resources::create(&state.db, &quiet, T0, cap, u64::MAX, new).await.expect("resource");
    resources::set_grant(&state.db, &quiet, T0, cap, group_id, r.id, Some(app::server::access::Level::View)).await.expect("grant");
    r
}
