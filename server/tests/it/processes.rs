//! Two real `gatehouse serve` processes on one PostgreSQL database, as behind a load
//! balancer: they migrate at the same time (the lock), a session made through one works
//! on the other, a SCIM deactivation through one ends the session on the other at the next
//! request, and a grant revoked through one reaches a live page open on the other.
//! PostgreSQL only (`GATEHOUSE_TEST_POSTGRES_URL`); on SQLite there is one process.
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use app::server::audit::Actor;
use app::server::permissions::AdminCap;
use app::server::{db, methods, resources, saml, sessions, testing, workspaces};
use leptos::server_fn::ServerFn;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use crate::common::*;

struct Proc {
    child: Child,
    base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db_url: &str, port: u16, public_url: &str) -> Proc {
    serve_with(db_url, port, public_url, &[])
}

fn serve_with(db_url: &str, port: u16, public_url: &str, extra: &[(&str, &str)]) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("serve")
        .env_clear()
        .envs(extra.iter().copied())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEHOUSE_DATABASE_URL", db_url)
        .env("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE_PUBLIC_URL", public_url)
        .env("GATEHOUSE_LOG", "warn")
        .env("LEPTOS_SITE_ROOT", "target/site")
        .env("LEPTOS_OUTPUT_NAME", "gatehouse")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn gatehouse");
    Proc { child, base: format!("http://127.0.0.1:{port}") }
}

async fn ready(http: &reqwest::Client, p: &Proc) {
    for _ in 0..300 {
        if http.get(format!("{}/readyz", p.base)).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never became ready", p.base);
}

fn now() -> i64 {
    crate::common::wall_clock()
}

/// Calls a server function on `base` as the hydrated UI does (same-origin: the public URL).
async fn call<S: ServerFn>(http: &reqwest::Client, base: &str, origin: &str, cookie: Option<&str>, args: &[(&str, &str)]) -> reqwest::Response {
    // Behind a load balancer every process is reached at the public host.
    let host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    let mut b = http.post(format!("{base}{}", S::PATH)).header("origin", origin).header("host", host).header("accept", "application/json").form(args);
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    b.send().await.expect("server function")
}

/// Workspace `acme` as setup makes it, with Ada as admin (with a password, or with the
/// set-password link only): its id and the operator's admin capability.
async fn acme(conn: &sea_orm::DatabaseConnection, with_password: bool) -> (i64, AdminCap) {
    let hasher = app::server::password::Hasher::new(1).expect("hasher");
    let password = with_password.then(|| app::server::password::Password::new_secret(ADMIN_PASSWORD.into()).expect("pw"));
    let new = workspaces::NewWorkspace {
        slug: "acme".into(),
        name: "Acme".into(),
        admin_email: ADMIN_EMAIL.into(),
        admin_name: "Ada".into(),
        admin_password: password,
    };
    let ws = workspaces::create(conn, &hasher, now(), new, &Actor::operator(), None).await.expect("workspace").workspace;
    (ws.id, crate::common::operator().admin_of(ws.id))
}

fn runtime(public: &str) -> app::server::config::RuntimeConfig {
    app::server::config::RuntimeConfig {
        public_url: public.into(),
        login_attempts_per_window: 5,
        scim_requests_per_minute: 6000,
        mailer: None,
        oidc: vec![],
        metrics_token: None,
        ..Default::default()
    }
}

/// An Okta-shaped SAML provider made the only sign-in method, with provisioning on:
/// its public id and Provider Token.
async fn scim_provider(conn: &sea_orm::DatabaseConnection, cfg: &app::server::config::RuntimeConfig, cap: &AdminCap) -> (String, String) {
    let provider = testing::provider(conn, cfg, now(), cap, "Okta").await.expect("provider");
    let token = testing::scim_client(conn, cfg, now(), cap, &provider).await.expect("scim");
    (provider.public_id().to_string(), token)
}

/// Two `gatehouse serve` processes started at once on a fresh PostgreSQL database (the
/// migration lock lets one migrate), both ready, with an HTTP client that doesn't follow
/// redirects and the test's own connection for the setup the UI would do.
struct Two {
    a: Proc,
    b: Proc,
    /// A's URL, the public URL of both (as behind a load balancer).
    public: String,
    http: reqwest::Client,
    conn: sea_orm::DatabaseConnection,
}

async fn two_processes() -> Two {
    let url = fresh_postgres_url().await.expect("GATEHOUSE_TEST_POSTGRES_URL (two processes need a shared PostgreSQL)");
    let (pa, pb) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{pa}");
    let (a, b) = (serve(&url, pa, &public), serve(&url, pb, &public));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    ready(&http, &a).await;
    ready(&http, &b).await;
    let conn = db::connect(&url, 2).await.expect("connect");
    Two { a, b, public, http, conn }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: the PostgreSQL layer of make test runs it (--include-ignored)"]
async fn two_processes_on_one_postgres_act_as_one() {
    let Two { a, b, public, http, conn } = two_processes().await;
    let (ws_id, cap) = acme(&conn, true).await;

    // A session made through A works on B.
    let r = call::<app::api::auth::Login>(&http, &a.base, &public, None, &[("slug", "acme"), ("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)]).await;
    assert!(r.status().is_success() || r.status().is_redirection(), "login on A: {}", r.status());
    let admin = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gatehouse_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    let home = http.get(format!("{}/w/acme", b.base)).header("cookie", &admin).header("accept", "text/html").send().await.expect("home on B");
    assert_eq!(home.status(), 200);
    assert!(home.text().await.expect("body").contains(ADMIN_EMAIL), "B knows A's session");

    // SCIM through A; the member's session is refused by B at the next request after
    // A deactivates them.
    let cfg = runtime(&public);
    let (provider, token) = scim_provider(&conn, &cfg, &cap).await;
    let scim_call = |base: String, method: reqwest::Method, path: String, body: Value| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let r = http
                .request(method, format!("{base}/scim/v2{path}"))
                .bearer_auth(token)
                .header("content-type", "application/scim+json")
                .body(body.to_string())
                .send()
                .await
                .expect("scim");
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            (status, serde_json::from_str::<Value>(&text).unwrap_or(Value::Null))
        }
    };
    let (st, u) = scim_call(
        a.base.clone(),
        reqwest::Method::POST,
        "/Users".into(),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "nia@acme.test",
            "name": { "givenName": "Nia", "familyName": "Long" }, "emails": [{ "primary": true, "value": "nia@acme.test" }], "active": true
        }),
    )
    .await;
    assert_eq!(st, 201, "{u}");
    let uid = u["id"].as_str().expect("id").to_string();
    let nia = app::server::testing::account_by_email(&conn, ws_id, "nia@acme.test").await.expect("db").expect("nia");
    let nia_cookie = format!(
        "gatehouse_session={}",
        sessions::create(&conn, now(), nia.id, ws_id, &saml::method_key(&provider), &Default::default()).await.expect("session").expose()
    );

    // A grant for Everyone, and Nia's resource page open on B with live updates.
    let everyone = app::server::testing::everyone_group(&conn, ws_id).await.expect("everyone").id;
    let r = resources::create(
        &conn,
        &app::server::events::Events::silent(),
        now(),
        &cap,
        u64::MAX,
        app::server::resources::NewResource { kind: "collection", name: "Board pack", description: "" },
    )
    .await
    .expect("resource");
    resources::set_grant(&conn, &app::server::events::Events::silent(), now(), &cap, everyone, r.id, Some(app::server::access::Level::View))
        .await
        .expect("grant");
    let page = http.get(format!("{}/w/acme/r/{}", b.base, r.id)).header("cookie", &nia_cookie).header("accept", "text/html").send().await.expect("page");
    assert_eq!(page.status(), 200);
    let mut live = http.get(format!("{}/w/acme/events?topics=access", b.base)).header("cookie", &nia_cookie).send().await.expect("events on B");
    assert_eq!(live.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The admin revokes through A (password is off now: a session made directly).
    let ada = app::server::testing::account_by_email(&conn, ws_id, ADMIN_EMAIL).await.expect("db").expect("ada");
    let admin =
        format!("gatehouse_session={}", sessions::create(&conn, now(), ada.id, ws_id, "password", &Default::default()).await.expect("session").expose());
    let (g, rid) = (everyone.to_string(), r.id.to_string());
    let r2 = call::<app::api::access::SetGrant>(
        &http,
        &a.base,
        &public,
        Some(&admin),
        &[("slug", "acme"), ("group_id", &g), ("resource_id", &rid), ("level", "none")],
    )
    .await;
    assert_eq!(r2.status(), 200, "revoke on A");
    let mut got = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !got.contains("event: access") {
        let chunk = tokio::time::timeout_at(deadline, live.chunk()).await.expect("B's live page hears A's revocation").expect("stream").expect("not closed");
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    let gone = http.get(format!("{}/w/acme/r/{}", b.base, r.id)).header("cookie", &nia_cookie).header("accept", "text/html").send().await.expect("page");
    assert_eq!(gone.status(), 404, "and B answers 404 on the next request");

    let me = call::<app::api::auth::Me>(&http, &b.base, &public, Some(&nia_cookie), &[("slug", "acme")]).await;
    assert_eq!(me.status(), 200, "Nia is signed in on B");
    let (st, _) = scim_call(
        a.base.clone(),
        reqwest::Method::PATCH,
        format!("/Users/{uid}"),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{ "op": "replace", "path": "active", "value": false }]
        }),
    )
    .await;
    assert_eq!(st, 200);
    let me = call::<app::api::auth::Me>(&http, &b.base, &public, Some(&nia_cookie), &[("slug", "acme")]).await;
    assert_eq!(me.status(), 401, "deactivated through A: refused by B at the next request");
    // The throttle is shared too: the counter rows A wrote are B's as well.
    let (st, _) = scim_call(b.base.clone(), reqwest::Method::GET, format!("/Users/{uid}"), Value::Null).await;
    assert_eq!(st, 200, "B serves the same token");
}

/// Kill -9 in the middle of a SCIM burst, restart on the same database: every request that
/// got a 2xx is there, and every group PATCH (a member added and the name changed in one
/// request) is all or nothing. PostgreSQL when configured, else a SQLite file.
#[tokio::test]
async fn a_killed_process_loses_no_acknowledged_scim_write() {
    let dir = std::env::temp_dir().join(format!("gatehouse-crash-{}-{}", std::process::id(), now()));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = match fresh_postgres_url().await {
        Some(u) => u,
        None => format!("sqlite://{}/crash.db?mode=rwc", dir.display()),
    };
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let fast = [("GATEHOUSE_SCIM_REQUESTS_PER_MINUTE", "1000000")];
    let mut a = serve_with(&url, port, &public, &fast);
    let http = reqwest::Client::new();
    ready(&http, &a).await;

    let conn = db::connect(&url, 2).await.expect("connect");
    let (ws_id, cap) = acme(&conn, false).await;
    let (_, token) = scim_provider(&conn, &runtime(&public), &cap).await;

    // Four clients, each with its own group: create a user, then one PATCH that adds them
    // and renames the group to "W<w> <n>". Acknowledged (2xx) results are recorded.
    const WORKERS: usize = 4;
    let base = format!("{}/scim/v2", a.base);
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let (http, base, token, progress) = (http.clone(), base.clone(), token.clone(), progress.clone());
        tasks.push(tokio::spawn(async move {
            let post = |path: &str, body: Value| http.post(format!("{base}{path}")).bearer_auth(&token).header("content-type", "application/scim+json").body(body.to_string()).send();
            let r = post("/Groups", json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("W{w} 0") })).await.expect("group");
            assert_eq!(r.status(), 201);
            let gid = serde_json::from_str::<Value>(&r.text().await.expect("body")).expect("json")["id"].as_str().expect("id").to_string();
            let (mut users, mut patched) = (Vec::new(), 0usize);
            for n in 1.. {
                let email = format!("w{w}-{n}@acme.test");
                let Ok(r) = post("/Users", json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email, "emails": [{ "primary": true, "value": email }], "active": true })).await else { break };
                if r.status() != 201 {
                    break;
                }
                let Ok(body) = r.text().await else { break };
                let uid = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["id"].as_str().map(str::to_string)).expect("user id");
                users.push(uid.clone());
                let patch = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                    { "op": "add", "path": "members", "value": [{ "value": uid }] },
                    { "op": "replace", "path": "displayName", "value": format!("W{w} {n}") }
                ] });
                let r = http.patch(format!("{base}/Groups/{gid}")).bearer_auth(&token).header("content-type", "application/scim+json").body(patch.to_string()).send().await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        patched = n;
                        progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    _ => break,
                }
            }
            (gid, users, patched)
        }));
    }
    // Mid-burst: once 40 PATCHes are acknowledged (however slow the machine is).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while progress.load(std::sync::atomic::Ordering::Relaxed) < 40 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.child.kill().expect("kill -9"); // SIGKILL: no graceful shutdown, no flush
    let _ = a.child.wait();
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.expect("worker"));
    }
    assert!(acked.iter().map(|(_, _, n)| n).sum::<usize>() >= 40, "the burst was under way when the process died: {acked:?}");
    eprintln!("acknowledged before the kill: {:?}", acked.iter().map(|(_, u, n)| (u.len(), *n)).collect::<Vec<_>>());

    // Restart on the same database.
    let b = serve_with(&url, port, &public, &fast);
    ready(&http, &b).await;
    let get = |path: String| {
        let (http, token, base) = (http.clone(), token.clone(), format!("{}/scim/v2", b.base));
        async move {
            let r = http.get(format!("{base}{path}")).bearer_auth(token).send().await.expect("get");
            (r.status(), serde_json::from_str::<Value>(&r.text().await.unwrap_or_default()).unwrap_or(Value::Null))
        }
    };
    for (gid, users, patched) in &acked {
        for u in users {
            assert_eq!(get(format!("/Users/{u}")).await.0, 200, "an acknowledged create survived");
        }
        let (st, g) = get(format!("/Groups/{gid}")).await;
        assert_eq!(st, 200);
        let name = g["displayName"].as_str().expect("name");
        let k: usize = name.rsplit(' ').next().and_then(|n| n.parse().ok()).expect("W<w> <n>");
        assert!(k >= *patched, "every acknowledged PATCH is there ({name}, acknowledged up to {patched})");
        let mut members: Vec<String> =
            g["members"].as_array().map(|m| m.iter().filter_map(|x| x["value"].as_str().map(str::to_string)).collect()).unwrap_or_default();
        members.sort();
        let mut expected: Vec<String> = users.iter().take(k).cloned().collect();
        expected.sort();
        assert_eq!(members, expected, "the group's name and members come from the same PATCHes: all or nothing");
    }
    // Nothing half-created: every active member is in Everyone, and Everyone holds no one else.
    let everyone = app::server::testing::everyone_group(&conn, ws_id).await.expect("everyone");
    let active = app::server::entities::membership::Entity::find()
        .filter(app::server::entities::membership::Column::WorkspaceId.eq(ws_id))
        .filter(app::server::entities::membership::Column::Status.eq("active"))
        .count(&conn)
        .await
        .expect("count");
    assert_eq!(app::server::directory::group_size(&conn, everyone.id).await.expect("size"), active);
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A SAML response (from the pysaml2 IdP) accepted by one process is refused as a replay
/// by the other: the replay cache is a table, not a process's memory.
#[tokio::test]
#[ignore = "needs PostgreSQL: the PostgreSQL layer of make test runs it (--include-ignored)"]
async fn a_saml_response_accepted_by_one_process_is_a_replay_on_the_other() {
    let Two { a, b, public, http, conn } = two_processes().await;
    let (_, cap) = acme(&conn, false).await;
    let cfg = runtime(&public);
    app::server::domains::trust(&conn, now(), &crate::common::operator(), cap.workspace_id(), "acme.test").await.expect("claim domain");
    let input = saml::ProviderInput {
        form: app::model::SamlProviderForm { name: "Test IdP".into(), allow_idp_initiated: true, ..Default::default() },
        metadata_xml: Some(crate::saml::idp_metadata(false).await),
        ..Default::default()
    };
    let p = saml::create(&conn, &cfg, now(), &cap, &input).await.expect("provider").public_id().to_string();
    methods::change(&conn, now(), &cap, &cfg, &[saml::method_key(&p)], &[]).await.expect("enable");
    // The IdP gets our SP metadata (from A; B serves the same).
    let md = http.get(format!("{}/saml/{p}/metadata", b.base)).send().await.expect("metadata").text().await.expect("body");
    let r = http.post(format!("{}/admin/sp", crate::saml::idp().base)).body(md).send().await.expect("register");
    assert_eq!(r.status().as_u16(), 200);

    let entity = saml::urls(&cfg, &p).entity_id;
    let answer = http
        .get(format!("{}/idp-initiated?sp={}&user=erin@acme.test&format=json", crate::saml::idp().base, app::server::saml::sp::urlencoding(&entity)))
        .send()
        .await
        .expect("idp")
        .text()
        .await
        .expect("body");
    let v: Value = serde_json::from_str(&answer).expect("json");
    let resp = v["SAMLResponse"].as_str().expect("SAMLResponse");
    let post = |base: String| {
        let http = http.clone();
        let form = [("SAMLResponse", resp.to_string()), ("RelayState", String::new())];
        let p = p.clone();
        async move { http.post(format!("{base}/saml/{p}/acs")).header("origin", "http://127.0.0.1:1").form(&form).send().await.expect("acs").status().as_u16() }
    };
    assert_eq!(post(a.base.clone()).await, 303, "A accepts the response");
    assert_eq!(post(b.base.clone()).await, 403, "B refuses the same response");
    let last = app::server::entities::saml_activity::Entity::find()
        .order_by_desc(app::server::entities::saml_activity::Column::Id)
        .one(&conn)
        .await
        .expect("db")
        .expect("activity");
    assert_eq!(last.reason, "replay", "refused as a replay, not for another reason");
}

/// SIGTERM: the process stops accepting, closes open live-update streams (they would
/// otherwise hold graceful shutdown forever) and exits cleanly within seconds.
#[tokio::test]
async fn sigterm_closes_live_streams_and_exits_cleanly() {
    let dir = std::env::temp_dir().join(format!("gatehouse-term-{}-{}", std::process::id(), now()));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = match fresh_postgres_url().await {
        Some(u) => u,
        None => format!("sqlite://{}/term.db?mode=rwc", dir.display()),
    };
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let mut a = serve(&url, port, &public);
    let http = reqwest::Client::new();
    ready(&http, &a).await;
    let conn = db::connect(&url, 2).await.expect("connect");
    let (ws_id, _) = acme(&conn, true).await;
    let ada = app::server::testing::account_by_email(&conn, ws_id, ADMIN_EMAIL).await.expect("db").expect("ada");
    let cookie =
        format!("gatehouse_session={}", sessions::create(&conn, now(), ada.id, ws_id, "password", &Default::default()).await.expect("session").expose());
    let mut live = http.get(format!("{}/w/acme/events", a.base)).header("cookie", &cookie).send().await.expect("events");
    assert_eq!(live.status(), 200);

    let term = Command::new("kill").args(["-TERM", &a.child.id().to_string()]).status().expect("kill -TERM");
    assert!(term.success());
    // The stream ends (no error: a clean end of body) and the process exits 0.
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match live.chunk().await {
                Ok(Some(_)) => continue,
                other => return other.map(|_| ()),
            }
        }
    })
    .await
    .expect("the stream closed on SIGTERM");
    assert!(end.is_ok(), "a clean end of the stream: {end:?}");
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = a.child.try_wait().expect("wait") {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.expect("the process exited within 10 s of SIGTERM");
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sessions ended through one process end on the other: a member signed in on B, with a
/// page open on B, is signed out everywhere by an admin through A. B refuses the session at
/// its very next request, and B's open page hears `signedout` through PostgreSQL's
/// LISTEN/NOTIFY without waiting for its once-a-minute check. Prints how long each took
/// (the figure the issue asks for), for a few rounds.
#[tokio::test]
#[ignore = "needs PostgreSQL: the PostgreSQL layer of make test runs it (--include-ignored)"]
async fn a_session_ended_through_one_process_ends_at_once_on_the_other() {
    let Two { a, b, public, http, conn } = two_processes().await;
    let (ws_id, cap) = acme(&conn, true).await;
    let ada = app::server::testing::account_by_email(&conn, ws_id, ADMIN_EMAIL).await.expect("db").expect("ada");
    let admin =
        format!("gatehouse_session={}", sessions::create(&conn, now(), ada.id, ws_id, "password", &Default::default()).await.expect("session").expose());
    let token = app::server::directory::create_invite(&conn, now(), &cap, "bob@acme.test", app::server::permissions::Role::Member).await.expect("invite");
    let joined = call::<app::api::invites::AcceptInvite>(
        &http,
        &b.base,
        &public,
        None,
        &[("token", token.expose()), ("full_name", "Bob"), ("password", "member password 1")],
    )
    .await;
    assert_eq!(joined.status(), 200, "Bob joins through B");
    let bob_id = app::server::testing::account_by_email(&conn, ws_id, "bob@acme.test").await.expect("db").expect("bob").id;
    let membership = app::server::testing::membership_of(&conn, ws_id, bob_id).await.expect("db").expect("membership").id.to_string();

    let mut page_ms = Vec::new();
    for round in 0..5 {
        let bob =
            format!("gatehouse_session={}", sessions::create(&conn, now(), bob_id, ws_id, "password", &Default::default()).await.expect("session").expose());
        let me = call::<app::api::auth::Me>(&http, &b.base, &public, Some(&bob), &[("slug", "acme")]).await;
        assert_eq!(me.status(), 200, "round {round}: Bob is signed in on B");
        let mut live = http.get(format!("{}/w/acme/events?topics=access", b.base)).header("cookie", &bob).send().await.expect("events on B");
        assert_eq!(live.status(), 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = call::<app::api::members::SignOutMember>(&http, &a.base, &public, Some(&admin), &[("slug", "acme"), ("membership_id", &membership)]).await;
        assert_eq!(r.status(), 200, "round {round}: signed out through A");
        let answered = std::time::Instant::now();
        let me = call::<app::api::auth::Me>(&http, &b.base, &public, Some(&bob), &[("slug", "acme")]).await;
        assert_eq!(me.status(), 401, "round {round}: B refuses the session at its next request");
        let mut got = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !got.contains("event: signedout") {
            let chunk = tokio::time::timeout_at(deadline, live.chunk()).await.expect("B's open page hears the sign-out within 10 s").expect("stream");
            match chunk {
                Some(c) => got.push_str(&String::from_utf8_lossy(&c)),
                None => panic!("round {round}: B's stream closed without signedout: {got}"),
            }
        }
        page_ms.push(answered.elapsed().as_secs_f64() * 1000.0);
    }
    page_ms.sort_by(f64::total_cmp);
    eprintln!(
        "sign-out through A reached B: next request refused at once (the session is read from PostgreSQL on every request); B's open page told {:.0}-{:.0} ms after A answered (median {:.0} ms, 5 rounds, counted from A's answer)",
        page_ms[0],
        page_ms[4],
        page_ms[2]
    );
}

/// An endpoint of acme at the receiver (loopback: the servers run with private addresses
/// allowed), registered through the test's own connection: its secret.
async fn webhook_to(conn: &sea_orm::DatabaseConnection, cap: &AdminCap, url: &str) -> String {
    use app::server::webhooks::{self, EndpointInput, Kind};
    let input = EndpointInput { url, events: &[Kind::GroupCreated, Kind::MemberJoined], https_only: false, allow_private: true };
    webhooks::create(conn, now(), cap, input).await.expect("endpoint").1
}

/// Waits until every queued delivery is delivered (at most 60 s).
async fn until_all_delivered(conn: &sea_orm::DatabaseConnection) -> Vec<app::server::entities::webhook_delivery::Model> {
    use app::server::entities::webhook_delivery;
    for _ in 0..600 {
        let all = webhook_delivery::Entity::find().order_by_asc(webhook_delivery::Column::Id).all(conn).await.expect("db");
        if !all.is_empty() && all.iter().all(|d| d.state == "delivered") {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("deliveries still pending after 60 s");
}

const WEBHOOKS_FAST: [(&str, &str); 3] =
    [("GATEHOUSE_ALLOW_PRIVATE_METADATA_URLS", "true"), ("GATEHOUSE_WEBHOOK_RETRY_SECS", "1"), ("GATEHOUSE_WEBHOOK_TIMEOUT_SECS", "2")];

/// Two processes' workers poll one queue: each delivery reaches the receiver once (plus its
/// retries after 500s), never twice with success, and every signature verifies.
#[tokio::test]
#[ignore = "needs PostgreSQL: the PostgreSQL layer of make test runs it (--include-ignored)"]
async fn two_processes_send_each_webhook_once() {
    let url = fresh_postgres_url().await.expect("GATEHOUSE_TEST_POSTGRES_URL");
    let (pa, pb) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{pa}");
    let (a, b) = (serve_with(&url, pa, &public, &WEBHOOKS_FAST), serve_with(&url, pb, &public, &WEBHOOKS_FAST));
    let http = reqwest::Client::new();
    ready(&http, &a).await;
    ready(&http, &b).await;
    let conn = db::connect(&url, 2).await.expect("connect");
    let (_, cap) = acme(&conn, false).await;
    let rx = crate::webhooks::Receiver::start().await;
    let secret = webhook_to(&conn, &cap, &rx.url("/hooks")).await;
    rx.expect(&[&secret], json!([500, 500, 500, 500, 500])).await;
    const GROUPS: usize = 40;
    let quiet = app::server::events::Events::silent();
    for n in 0..GROUPS {
        app::server::groups::create(&conn, &quiet, now(), &cap, &format!("Team {n}")).await.expect("group");
    }
    let done = until_all_delivered(&conn).await;
    assert_eq!(done.len(), GROUPS);
    // Let a stray second send (if there were one) arrive before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = rx.received().await;
    assert!(got.iter().all(|r| r["verified"] == true), "{got:#?}");
    let mut ok: Vec<String> = got.iter().filter(|r| r["answered"] == 200).map(|r| r["id"].as_str().unwrap_or("").to_string()).collect();
    ok.sort();
    let before = ok.len();
    ok.dedup();
    assert_eq!((before, ok.len()), (GROUPS, GROUPS), "each event accepted exactly once");
    assert_eq!(got.len(), GROUPS + 5, "plus the five answered 500, each retried");
    assert_eq!(done.iter().map(|d| i64::from(d.attempts)).sum::<i64>(), (GROUPS + 5) as i64, "every attempt counted once");
    drop((a, b));
}

/// A delivery waiting for its retry survives the process: killed (SIGKILL) after a failed
/// attempt, the queue is in the database, and the next process sends it, with the same id.
#[tokio::test]
async fn a_retry_waiting_when_the_process_dies_is_sent_after_the_restart() {
    let dir = std::env::temp_dir().join(format!("gatehouse-webhook-restart-{}-{}", std::process::id(), now()));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = match fresh_postgres_url().await {
        Some(u) => u,
        None => format!("sqlite://{}/hooks.db?mode=rwc", dir.display()),
    };
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    // The retry waits 3 s: the process is killed before it is due.
    let slow_retry = [WEBHOOKS_FAST[0], ("GATEHOUSE_WEBHOOK_RETRY_SECS", "3"), WEBHOOKS_FAST[2]];
    let mut a = serve_with(&url, port, &public, &slow_retry);
    let http = reqwest::Client::new();
    ready(&http, &a).await;
    let conn = db::connect(&url, 2).await.expect("connect");
    let (_, cap) = acme(&conn, false).await;
    let rx = crate::webhooks::Receiver::start().await;
    let secret = webhook_to(&conn, &cap, &rx.url("/hooks")).await;
    rx.expect(&[&secret], json!([500])).await;
    app::server::groups::create(&conn, &app::server::events::Events::silent(), now(), &cap, "Finance").await.expect("group");
    // The first attempt fails (recorded); the process dies while the retry waits.
    for _ in 0..100 {
        let d = app::server::entities::webhook_delivery::Entity::find().one(&conn).await.expect("db");
        if d.is_some_and(|d| d.last_status.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.child.kill().expect("kill -9");
    let _ = a.child.wait();
    let d = app::server::entities::webhook_delivery::Entity::find().one(&conn).await.expect("db").expect("delivery");
    assert_eq!((d.state.as_str(), d.attempts, d.last_status), ("pending", 1, Some(500)));
    let b = serve_with(&url, port, &public, &slow_retry);
    ready(&http, &b).await;
    let done = until_all_delivered(&conn).await;
    assert_eq!(done[0].attempts, 2);
    let got = rx.received().await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["id"], got[1]["id"], "the same event id on the retry");
    assert!(got.iter().all(|r| r["verified"] == true));
    assert_eq!(got[1]["answered"], 200);
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}
