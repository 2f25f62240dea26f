//! Signed webhooks against a receiver that checks every signature with the Standard
//! Webhooks reference library (`standardwebhooks`, PyPI; scripts/interop/webhook_receiver.py):
//! events of each kind delivered and verified, retries after 500s and timeouts with the
//! backoff, order per member, rotation with an overlap, the outbound address policy, and
//! isolation between workspaces. Rounds of the worker are run by the test, on a clock it
//! moves; two real processes on one PostgreSQL database are in `processes`.
use app::api::members::{SetMemberRole, SetMemberStatus, SignOutMember};
use app::api::webhooks::{CreateWebhook, DeleteWebhook, ListWebhooks, RotateWebhookSecret, TestWebhook};
use app::server::clock::Clock;
use app::server::entities::webhook_delivery;
use app::server::webhooks::delivery;
use axum::http::StatusCode;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{json, Value};

use crate::common::*;

/// The receiver: a Python process on its own port.
pub struct Receiver {
    _child: Reaped,
    pub port: u16,
    http: reqwest::Client,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let port = free_port();
        let child = std::process::Command::new(repo.join(".venv/bin/python"))
            .arg(repo.join("scripts/interop/webhook_receiver.py"))
            .args(["--port", &port.to_string()])
            .spawn()
            .expect("the venv's python (make test installs it)");
        let r = Receiver { _child: Reaped(child), port, http: reqwest::Client::new() };
        wait_for_port(port, "webhook receiver").await;
        r
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The secrets to verify with and the answers to give (see the script).
    pub async fn expect(&self, secrets: &[&str], plan: Value) {
        self.expect_by_path(secrets, plan, json!({})).await
    }

    /// The same, with some paths given their own answers.
    pub async fn expect_by_path(&self, secrets: &[&str], plan: Value, paths: Value) {
        let body = json!({ "secrets": secrets, "plan": plan, "paths": paths }).to_string();
        let r = self.http.post(self.url("/control")).header("content-type", "application/json").body(body).send().await.expect("control");
        assert!(r.status().is_success());
    }

    pub async fn received(&self) -> Vec<Value> {
        let text = self.http.get(self.url("/received")).send().await.expect("received").text().await.expect("body");
        serde_json::from_str(&text).expect("json")
    }
}

pub struct World {
    pub app: TestApp,
    pub admin: String,
}

/// Acme with its admin signed in, on the wall clock (receivers refuse timestamps more than
/// five minutes off), endpoints on loopback allowed, retries after 1 s, 1 s timeouts.
pub async fn world() -> World {
    let app = TestApp::with_config(|c| {
        c.allow_private_metadata_urls = true;
        c.webhook_retry_secs = 1;
        c.webhook_timeout_secs = 1;
    })
    .await;
    app.clock.0.store(wall_clock(), std::sync::atomic::Ordering::SeqCst);
    app.create_workspace("acme", ADMIN_EMAIL).await;
    let admin = app.admin_cookie().await;
    World { app, admin }
}

/// Registers an endpoint through the page's server function: its id and secret.
pub async fn endpoint(app: &TestApp, admin: &str, slug: &str, url: &str, events: &[&str]) -> (i64, String) {
    let fields: Vec<String> = events.iter().map(|e| e.replace('.', "_")).collect();
    let mut args = vec![("slug", slug), ("url", url)];
    for f in &fields {
        args.push((f.as_str(), "true"));
    }
    let r = app.call::<CreateWebhook>(&args, Some(admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).expect("json");
    let secret = v["secret"].as_str().expect("secret").to_string();
    let row = app::server::entities::webhook_endpoint::Entity::find()
        .order_by_desc(app::server::entities::webhook_endpoint::Column::Id)
        .one(&app.state.db)
        .await
        .expect("db")
        .expect("endpoint");
    (row.id, secret)
}

/// The membership id of `email` in `slug`.
pub async fn member_id(app: &TestApp, slug: &str, email: &str) -> i64 {
    let ws = app::server::workspaces::by_slug(&app.state.db, slug).await.expect("workspace");
    let a = app::server::testing::account_by_email(&app.state.db, ws.id, email).await.expect("db").expect("account");
    app::server::testing::membership_of(&app.state.db, ws.id, a.id).await.expect("db").expect("membership").id
}

/// One round of the worker at the app's clock.
pub async fn round(app: &TestApp) -> usize {
    delivery::round(&app.state.db, &server::webhook_settings(&app.state.config), &app.clock, "test-worker").await.expect("round")
}

async fn deliveries(app: &TestApp) -> Vec<webhook_delivery::Model> {
    webhook_delivery::Entity::find().order_by_asc(webhook_delivery::Column::Id).all(&app.state.db).await.expect("db")
}

fn events_of(received: &[Value]) -> Vec<String> {
    received.iter().map(|r| r["event"]["type"].as_str().unwrap_or("?").to_string()).collect()
}

#[tokio::test]
async fn each_kind_of_change_is_delivered_signed_and_verified_by_the_reference_library() {
    let w = world().await;
    let rx = Receiver::start().await;
    let all = [
        "member.joined",
        "member.role_changed",
        "member.deactivated",
        "member.reactivated",
        "group.created",
        "group.changed",
        "access.changed",
        "session.revoked",
    ];
    let (_, secret) = endpoint(&w.app, &w.admin, "acme", &rx.url("/hooks"), &all).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    rx.expect(&[&secret], json!([])).await;

    let bob = w.app.add_member(&w.admin, "bob@acme.test", "member").await;
    let (revenue, finance) = w.app.granted(&w.admin, "Revenue", "Finance", "bob@acme.test", "view").await;
    let bob_id = member_id(&w.app, "acme", "bob@acme.test").await;
    let ok = |r: Reply| assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    ok(w.app.call::<SignOutMember>(&[("slug", "acme"), ("membership_id", &bob_id.to_string())], Some(&w.admin)).await);
    ok(w.app.call::<SetMemberRole>(&[("slug", "acme"), ("membership_id", &bob_id.to_string()), ("role", "admin")], Some(&w.admin)).await);
    ok(w.app.call::<SetMemberStatus>(&[("slug", "acme"), ("membership_id", &bob_id.to_string()), ("active", "false")], Some(&w.admin)).await);
    ok(w.app.call::<SetMemberStatus>(&[("slug", "acme"), ("membership_id", &bob_id.to_string()), ("active", "true")], Some(&w.admin)).await);
    drop(bob);

    // Everything was queued with its change; the worker sends it in rounds.
    while round(&w.app).await > 0 {}
    let got = rx.received().await;
    assert!(got.iter().all(|r| r["verified"] == true), "every delivery verifies: {got:#?}");
    assert!(deliveries(&w.app).await.iter().all(|d| d.state == "delivered" && d.attempts == 1 && d.last_status == Some(200)));
    let types = events_of(&got);
    for t in all {
        assert!(types.contains(&t.to_string()), "{t} delivered: {types:?}");
    }
    // Bob's events in the order they happened (one subject, in order).
    let bobs: Vec<String> = got
        .iter()
        .filter(|r| r["event"]["data"]["member"]["id"] == json!(bob_id) && r["event"]["type"].as_str().is_some_and(|t| t.starts_with("member.")))
        .map(|r| r["event"]["type"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(bobs, ["member.joined", "member.role_changed", "member.deactivated", "member.reactivated"]);
    let find = |t: &str| got.iter().find(|r| r["event"]["type"] == t).map(|r| r["event"].clone()).expect(t);
    let joined = find("member.joined");
    assert_eq!(joined["workspace"], "acme");
    assert_eq!(joined["data"]["member"]["email"], "bob@acme.test");
    assert!(joined["id"].as_str().is_some_and(|id| id.starts_with("msg_")));
    let role = find("member.role_changed");
    assert_eq!((role["data"]["from"].clone(), role["data"]["member"]["role"].clone()), (json!("member"), json!("admin")));
    let access = find("access.changed");
    assert_eq!(access["data"]["cause"], "grant");
    assert_eq!(access["data"]["total"], 1);
    let change = &access["data"]["changes"][0];
    assert_eq!(
        (change["member"]["email"].clone(), change["resource"]["id"].clone(), change["before"].clone(), change["after"].clone()),
        (json!("bob@acme.test"), json!(revenue), Value::Null, json!("view"))
    );
    let created = find("group.created");
    assert_eq!((created["data"]["group"]["id"].clone(), created["data"]["group"]["name"].clone()), (json!(finance), json!("Finance")));
    let changed = find("group.changed");
    assert_eq!(changed["data"]["members_added"], json!([bob_id]));
    let revoked: Vec<Value> = got.iter().filter(|r| r["event"]["type"] == "session.revoked").map(|r| r["event"]["data"].clone()).collect();
    assert_eq!(revoked[0]["reason"], "admin");
    assert_eq!(revoked[0]["member"]["email"], "bob@acme.test");
    // The headers carry the id the body has; the timestamp is the send time.
    assert_eq!(got[0]["id"], got[0]["event"]["id"]);
    let ts: i64 = got[0]["timestamp"].as_str().and_then(|t| t.parse().ok()).expect("timestamp");
    assert!((ts - wall_clock()).abs() < 60, "{ts}");
    // Reactivation restores no group: Bob is only in Everyone. Put him in a group with a
    // grant again, then delete it: he loses that access. An endpoint hears only what it
    // subscribed to: group.deleted was not chosen.
    // (As a member again: an admin reaches everything, so groups change nothing for them.)
    ok(w.app.call::<SetMemberRole>(&[("slug", "acme"), ("membership_id", &bob_id.to_string()), ("role", "member")], Some(&w.admin)).await);
    let (_, ops) = w.app.granted(&w.admin, "Costs", "Ops", "bob@acme.test", "edit").await;
    while round(&w.app).await > 0 {}
    let before = rx.received().await.len();
    let g = w.app.call::<app::api::access::ChangeGroup>(&[("slug", "acme"), ("action", "delete"), ("id", &ops.to_string())], Some(&w.admin)).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    while round(&w.app).await > 0 {}
    let after = rx.received().await;
    let new: Vec<Value> = after[before..].iter().map(|r| r["event"].clone()).collect();
    assert_eq!(new.len(), 1, "{new:#?}");
    assert_eq!((new[0]["type"].clone(), new[0]["data"]["cause"].clone()), (json!("access.changed"), json!("group_deleted")));
    let c = &new[0]["data"]["changes"][0];
    assert_eq!((c["member"]["id"].clone(), c["before"].clone(), c["after"].clone()), (json!(bob_id), json!("edit"), Value::Null));
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_backoff_then_given_up_and_the_log_says_why() {
    let w = world().await;
    let rx = Receiver::start().await;
    let (id, secret) = endpoint(&w.app, &w.admin, "acme", &rx.url("/hooks"), &["member.joined"]).await;
    // 500, then no answer within the 1 s timeout, then 200.
    rx.expect(&[&secret], json!([500, "sleep:3", 200])).await;
    w.app.add_member(&w.admin, "bob@acme.test", "member").await;
    assert_eq!(round(&w.app).await, 1);
    let d = &deliveries(&w.app).await[0];
    assert_eq!((d.state.as_str(), d.attempts, d.last_status, d.last_error.as_deref()), ("pending", 1, Some(500), Some("answered HTTP 500")));
    assert_eq!(d.next_attempt_at, w.app.clock.now() + 1, "first retry after retry_secs");
    // Not due yet: nothing is sent.
    assert_eq!(round(&w.app).await, 0);
    w.app.clock.advance(1);
    assert_eq!(round(&w.app).await, 1);
    let d = &deliveries(&w.app).await[0];
    assert_eq!((d.attempts, d.last_status, d.last_error.as_deref()), (2, None, Some("no answer within 1 s")));
    assert_eq!(d.next_attempt_at, w.app.clock.now() + 4, "four times longer");
    w.app.clock.advance(4);
    assert_eq!(round(&w.app).await, 1);
    let d = &deliveries(&w.app).await[0];
    assert_eq!((d.state.as_str(), d.attempts, d.last_status), ("delivered", 3, Some(200)));
    let got = rx.received().await;
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r["verified"] == true && r["id"] == got[0]["id"]), "one event id across retries: {got:#?}");
    // The page's log shows it.
    let r = w.app.call::<ListWebhooks>(&[("slug", "acme")], Some(&w.admin)).await;
    let page: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(page["deliveries"][0]["state"], "delivered");
    assert_eq!(page["deliveries"][0]["attempts"], 3);

    // A receiver that never succeeds: given up after the last attempt.
    rx.expect(&[&secret], json!([503, 503, 503, 503, 503, 503, 503, 503])).await;
    w.app.add_member(&w.admin, "cy@acme.test", "member").await;
    for _ in 0..delivery::MAX_ATTEMPTS {
        w.app.clock.advance(6 * 3600);
        assert_eq!(round(&w.app).await, 1);
    }
    let d = deliveries(&w.app).await.pop().expect("delivery");
    assert_eq!((d.state.as_str(), d.attempts, d.last_status), ("failed", delivery::MAX_ATTEMPTS, Some(503)));
    w.app.clock.advance(6 * 3600);
    assert_eq!(round(&w.app).await, 0, "given up: never sent again");
    let page: Value = serde_json::from_str(&w.app.call::<ListWebhooks>(&[("slug", "acme")], Some(&w.admin)).await.body).expect("json");
    assert_eq!((page["endpoints"][0]["id"].clone(), page["endpoints"][0]["failed"].clone()), (json!(id), json!(1)));
}

#[tokio::test]
async fn one_members_events_wait_for_the_earlier_ones_and_others_go_on() {
    let w = world().await;
    let rx = Receiver::start().await;
    let (_, secret) = endpoint(&w.app, &w.admin, "acme", &rx.url("/hooks"), &["member.joined", "member.role_changed"]).await;
    rx.expect(&[&secret], json!([500])).await;
    w.app.add_member(&w.admin, "bob@acme.test", "member").await;
    let bob = member_id(&w.app, "acme", "bob@acme.test").await;
    let r = w.app.call::<SetMemberRole>(&[("slug", "acme"), ("membership_id", &bob.to_string()), ("role", "admin")], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    // Bob's join fails; his role change waits behind it.
    assert_eq!(round(&w.app).await, 1);
    assert_eq!(round(&w.app).await, 0, "the role change waits for the join's retry");
    // Cy's join is another subject: it goes at once.
    w.app.add_member(&w.admin, "cy@acme.test", "member").await;
    assert_eq!(round(&w.app).await, 1);
    w.app.clock.advance(1);
    assert_eq!(round(&w.app).await, 1, "Bob's join again; his role change still waits");
    assert_eq!(round(&w.app).await, 1, "now the role change");
    let sent: Vec<(String, String, Value)> = rx
        .received()
        .await
        .iter()
        .map(|r| (r["event"]["type"].as_str().unwrap_or("").into(), r["event"]["data"]["member"]["email"].as_str().unwrap_or("").into(), r["answered"].clone()))
        .collect();
    let e = |t: &str, who: &str, status: u16| (t.to_string(), who.to_string(), json!(status));
    assert_eq!(
        sent,
        [
            e("member.joined", "bob@acme.test", 500),
            e("member.joined", "cy@acme.test", 200),
            e("member.joined", "bob@acme.test", 200),
            e("member.role_changed", "bob@acme.test", 200)
        ]
    );
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_while_the_overlap_lasts() {
    let w = world().await;
    let rx = Receiver::start().await;
    let (id, old) = endpoint(&w.app, &w.admin, "acme", &rx.url("/hooks"), &["member.joined"]).await;
    // Receivers refuse timestamps more than 5 minutes from their clock, so the rotation is
    // made as if an hour ago less 2 minutes: its hour of overlap ends 2 minutes from now.
    let wall = w.app.clock.now();
    let set = |t: i64| w.app.clock.0.store(t, std::sync::atomic::Ordering::SeqCst);
    set(wall - 3600 + 120);
    let r = w.app.call::<RotateWebhookSecret>(&[("slug", "acme"), ("id", &id.to_string()), ("overlap_secs", "3600")], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let new = serde_json::from_str::<Value>(&r.body).expect("json")["secret"].as_str().expect("secret").to_string();
    assert_ne!(new, old);
    set(wall);
    // A receiver still on the old secret, and one already on the new, both accept.
    for secret in [&old, &new] {
        rx.expect(&[secret], json!([])).await;
        let t = w.app.call::<TestWebhook>(&[("slug", "acme"), ("id", &id.to_string())], Some(&w.admin)).await;
        assert_eq!(t.status, StatusCode::OK, "{}", t.body);
        assert_eq!(round(&w.app).await, 1);
        let last = rx.received().await.pop().expect("delivery");
        assert_eq!(last["verified"], true, "{last:#?}");
        assert_eq!(last["signatures"].as_array().map(Vec::len), Some(2));
        assert_eq!(last["event"]["type"], "webhook.test");
    }
    // Past the overlap only the new secret signs.
    set(wall + 150);
    rx.expect(&[&old], json!([])).await;
    w.app.call::<TestWebhook>(&[("slug", "acme"), ("id", &id.to_string())], Some(&w.admin)).await;
    assert_eq!(round(&w.app).await, 1);
    let last = rx.received().await.pop().expect("delivery");
    assert_eq!((last["verified"].clone(), last["signatures"].as_array().map(Vec::len)), (json!(false), Some(1)));
    assert_eq!(last["error"], "No matching signature found", "refused for its signature, not its time");
    // Rotated with no overlap: the old secret stops at once.
    let r = w.app.call::<RotateWebhookSecret>(&[("slug", "acme"), ("id", &id.to_string()), ("overlap_secs", "0")], Some(&w.admin)).await;
    let newest = serde_json::from_str::<Value>(&r.body).expect("json")["secret"].as_str().expect("secret").to_string();
    rx.expect(&[&new], json!([])).await;
    w.app.call::<TestWebhook>(&[("slug", "acme"), ("id", &id.to_string())], Some(&w.admin)).await;
    round(&w.app).await;
    let last = rx.received().await.pop().expect("delivery");
    assert_eq!((last["verified"].clone(), last["error"].clone()), (json!(false), json!("No matching signature found")));
    rx.expect(&[&newest], json!([])).await;
    w.app.call::<TestWebhook>(&[("slug", "acme"), ("id", &id.to_string())], Some(&w.admin)).await;
    round(&w.app).await;
    assert_eq!(rx.received().await.pop().expect("delivery")["verified"], true);
    let actions = audit_actions(&w.app.state.db, "webhook.").await;
    let t = "webhook.test";
    assert_eq!(actions, ["webhook.create", "webhook.rotate", t, t, t, "webhook.rotate", t, t]);
}

#[tokio::test]
async fn endpoints_must_be_public_addresses_and_bad_input_is_refused_clearly() {
    // The default policy: no private or loopback targets.
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    for (url, events, why) in [
        ("http://127.0.0.1:9/hooks", vec![("member_joined", "true")], "private or local address"),
        ("http://10.0.0.8/hooks", vec![("member_joined", "true")], "private or local address"),
        ("http://169.254.169.254/latest/meta-data", vec![("member_joined", "true")], "private or local address"),
        ("http://[::1]/hooks", vec![("member_joined", "true")], "private or local address"),
        ("https://user:pw@example.com/hooks", vec![("member_joined", "true")], "user name or password"),
        ("ftp://example.com/hooks", vec![("member_joined", "true")], "must start with"),
        ("not a url", vec![("member_joined", "true")], "not a valid absolute URL"),
        ("http://8.8.8.8/hooks", vec![], "at least one event"),
    ] {
        let mut args = vec![("slug", "acme"), ("url", url)];
        args.extend(events);
        let r = app.call::<CreateWebhook>(&args, Some(&admin)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.body);
        assert!(r.body.contains(why), "{url}: {}", r.body);
    }
    assert!(app::server::entities::webhook_endpoint::Entity::find().all(&app.state.db).await.expect("db").is_empty(), "nothing saved");
    // A member can't list or add endpoints (the page is not found to them).
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    assert_eq!(app.call::<ListWebhooks>(&[("slug", "acme")], Some(&bob)).await.status, StatusCode::NOT_FOUND);
    let r = app.call::<CreateWebhook>(&[("slug", "acme"), ("url", "http://8.8.8.8/hooks"), ("member_joined", "true")], Some(&bob)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_endpoint_whose_address_turns_private_is_refused_at_the_attempt() {
    // Saved while private addresses were allowed (a lab), sent by a server that doesn't
    // allow them: the attempt refuses, nothing reaches the receiver.
    let w = world().await;
    let rx = Receiver::start().await;
    let (_, secret) = endpoint(&w.app, &w.admin, "acme", &rx.url("/hooks"), &["member.joined"]).await;
    rx.expect(&[&secret], json!([])).await;
    w.app.add_member(&w.admin, "bob@acme.test", "member").await;
    let strict = app::server::config::RuntimeConfig { allow_private_metadata_urls: false, ..(*w.app.state.config).clone() };
    delivery::round(&w.app.state.db, &server::webhook_settings(&strict), &w.app.clock, "strict").await.expect("round");
    let d = &deliveries(&w.app).await[0];
    assert_eq!((d.state.as_str(), d.last_error.as_deref()), ("pending", Some("refused: the host resolves to a private or local address")));
    assert!(rx.received().await.is_empty());
}

#[tokio::test]
async fn a_workspace_hears_only_its_own_events_and_touches_only_its_own_endpoints() {
    let w = world().await;
    w.app.create_workspace("globex", "gil@globex.test").await;
    let rx = Receiver::start().await;
    let (acme_endpoint, acme_secret) = endpoint(&w.app, &w.admin, "acme", &rx.url("/acme"), &["member.joined", "group.created"]).await;
    let gil = w.app.login("globex", "gil@globex.test", ADMIN_PASSWORD).await;
    let (globex_endpoint, globex_secret) = endpoint(&w.app, &gil, "globex", &rx.url("/globex"), &["member.joined", "group.created"]).await;
    rx.expect(&[&acme_secret, &globex_secret], json!([])).await;
    // Changes in acme only.
    w.app.add_member(&w.admin, "bob@acme.test", "member").await;
    let r = w.app.call::<app::api::access::ChangeGroup>(&[("slug", "acme"), ("action", "create"), ("name", "Finance")], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    while round(&w.app).await > 0 {}
    let got = rx.received().await;
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| r["path"] == "/acme" && r["event"]["workspace"] == "acme"), "{got:#?}");
    // Acme's admin can't see, test, rotate or delete Globex's endpoint.
    for r in [
        w.app.call::<TestWebhook>(&[("slug", "acme"), ("id", &globex_endpoint.to_string())], Some(&w.admin)).await,
        w.app.call::<RotateWebhookSecret>(&[("slug", "acme"), ("id", &globex_endpoint.to_string()), ("overlap_secs", "0")], Some(&w.admin)).await,
        w.app.call::<DeleteWebhook>(&[("slug", "acme"), ("id", &globex_endpoint.to_string())], Some(&w.admin)).await,
    ] {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    // Nor through Globex's slug: Acme's session isn't one there.
    let r = w.app.call::<DeleteWebhook>(&[("slug", "globex"), ("id", &globex_endpoint.to_string())], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let page: Value = serde_json::from_str(&w.app.call::<ListWebhooks>(&[("slug", "acme")], Some(&w.admin)).await.body).expect("json");
    assert_eq!(page["endpoints"].as_array().map(|e| e.iter().map(|e| e["id"].clone()).collect::<Vec<_>>()), Some(vec![json!(acme_endpoint)]));
    assert!(page["deliveries"].as_array().is_some_and(|d| d.len() == 2 && d.iter().all(|d| d["url"] == rx.url("/acme"))));
    let globex: Value = serde_json::from_str(&w.app.call::<ListWebhooks>(&[("slug", "globex")], Some(&gil)).await.body).expect("json");
    assert_eq!(globex["deliveries"].as_array().map(Vec::len), Some(0));
    // Deleting an endpoint drops its queue: nothing more goes out.
    rx.expect(&[&acme_secret], json!([])).await;
    w.app.add_member(&w.admin, "cy@acme.test", "member").await;
    let r = w.app.call::<DeleteWebhook>(&[("slug", "acme"), ("id", &acme_endpoint.to_string())], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(round(&w.app).await, 0);
}

#[tokio::test]
async fn a_change_that_fails_queues_nothing() {
    let w = world().await;
    let rx = Receiver::start().await;
    endpoint(&w.app, &w.admin, "acme", &rx.url("/hooks"), &["group.created", "group.changed", "member.role_changed"]).await;
    // A group name taken: the creation rolls back, and its event with it.
    for _ in 0..2 {
        w.app.call::<app::api::access::ChangeGroup>(&[("slug", "acme"), ("action", "create"), ("name", "Finance")], Some(&w.admin)).await;
    }
    // The last admin can't be demoted: refused, nothing queued.
    let ada = member_id(&w.app, "acme", ADMIN_EMAIL).await;
    let r = w.app.call::<SetMemberRole>(&[("slug", "acme"), ("membership_id", &ada.to_string()), ("role", "member")], Some(&w.admin)).await;
    assert_ne!(r.status, StatusCode::OK);
    let queued: Vec<String> = deliveries(&w.app).await.into_iter().map(|d| d.event_type).collect();
    assert_eq!(queued, ["group.created"]);
}

#[tokio::test]
async fn a_workspace_whose_endpoint_hangs_takes_a_few_slots_and_the_others_go_on() {
    let w = world().await;
    w.app.create_workspace("globex", "gil@globex.test").await;
    let rx = Receiver::start().await;
    // Acme's endpoint never answers in time; it has ten events of ten subjects waiting.
    let (_, slow) = endpoint(&w.app, &w.admin, "acme", &rx.url("/slow"), &["group.created"]).await;
    let gil = w.app.login("globex", "gil@globex.test", ADMIN_PASSWORD).await;
    let (_, fine) = endpoint(&w.app, &gil, "globex", &rx.url("/fine"), &["group.created"]).await;
    for n in 0..10 {
        let r = w.app.call::<app::api::access::ChangeGroup>(&[("slug", "acme"), ("action", "create"), ("name", &format!("Team {n}"))], Some(&w.admin)).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    // Globex's event comes last in the queue.
    let r = w.app.call::<app::api::access::ChangeGroup>(&[("slug", "globex"), ("action", "create"), ("name", "Sales")], Some(&gil)).await;
    assert_eq!(r.status, StatusCode::OK);
    rx.expect_by_path(&[&slow, &fine], json!([]), json!({ "/slow": ["sleep:3", "sleep:3", "sleep:3", "sleep:3"] })).await;
    assert_eq!(round(&w.app).await, delivery::PER_WORKSPACE + 1, "acme gets its share of the round, globex its turn");
    let got = rx.received().await;
    assert_eq!(got.iter().filter(|r| r["path"] == "/slow").count(), delivery::PER_WORKSPACE);
    let globex: Vec<&Value> = got.iter().filter(|r| r["path"] == "/fine").collect();
    assert_eq!((globex.len(), globex[0]["answered"].clone(), globex[0]["verified"].clone()), (1, json!(200), json!(true)));
}

#[tokio::test]
async fn a_full_queue_counts_what_it_could_not_take_and_tests_are_limited() {
    let w = world().await;
    let rx = Receiver::start().await;
    let (id, _) = endpoint(&w.app, &w.admin, "acme", &rx.url("/dead"), &["group.created"]).await;
    // A dead endpoint's queue, full.
    let ws = app::server::workspaces::by_slug(&w.app.state.db, "acme").await.expect("acme");
    let now = w.app.clock.now();
    let rows: Vec<webhook_delivery::ActiveModel> = (0..app::server::webhooks::MAX_PENDING)
        .map(|n| webhook_delivery::ActiveModel {
            endpoint_id: sea_orm::Set(id),
            workspace_id: sea_orm::Set(ws.id),
            event_id: sea_orm::Set(format!("msg_old{n}")),
            event_type: sea_orm::Set("group.created".into()),
            subject: sea_orm::Set(format!("group:{n}")),
            payload: sea_orm::Set("{}".into()),
            state: sea_orm::Set("pending".into()),
            attempts: sea_orm::Set(3),
            next_attempt_at: sea_orm::Set(now + 3600),
            created_at: sea_orm::Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(500) {
        webhook_delivery::Entity::insert_many(chunk.to_vec()).exec(&w.app.state.db).await.expect("insert");
    }
    let r = w.app.call::<app::api::access::ChangeGroup>(&[("slug", "acme"), ("action", "create"), ("name", "Finance")], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "the change itself goes through");
    let page: Value = serde_json::from_str(&w.app.call::<ListWebhooks>(&[("slug", "acme")], Some(&w.admin)).await.body).expect("json");
    assert_eq!((page["endpoints"][0]["pending"].clone(), page["endpoints"][0]["dropped"].clone()), (json!(app::server::webhooks::MAX_PENDING), json!(1)));
    // Test events: ten a minute.
    for n in 0..11 {
        let r = w.app.call::<TestWebhook>(&[("slug", "acme"), ("id", &id.to_string())], Some(&w.admin)).await;
        assert_eq!(r.status, if n < 10 { StatusCode::OK } else { StatusCode::TOO_MANY_REQUESTS }, "test {n}: {}", r.body);
    }
    assert_eq!(audit_actions(&w.app.state.db, "webhook.test").await.len(), 10);
}
