//! What a SCIM client's changes tell the product's webhook endpoint: a user pushed joins, a
//! group pushed is created, one PATCH that adds one member and removes another is one
//! `group.changed` and one `access.changed` with the gain and the loss, and the IdP's
//! deactivation and admin role are member events. Signatures checked by the Standard
//! Webhooks reference library, as in `crate::webhooks`.
use super::*;
use app::server::clock::Clock;

use crate::webhooks::{round, Receiver};

#[tokio::test]
async fn an_idps_changes_reach_the_products_endpoint() {
    let app = TestApp::with_config(|c| {
        c.allow_private_metadata_urls = true;
        c.webhook_retry_secs = 1;
    })
    .await;
    // On the wall clock: receivers refuse timestamps more than five minutes off.
    app.clock.0.store(crate::common::wall_clock(), std::sync::atomic::Ordering::SeqCst);
    let s = setup_on(app).await;
    let ws = app::server::workspaces::by_slug(&s.app.state.db, "acme").await.expect("acme");
    let cap = crate::common::operator().admin_of(ws.id);
    let rx = Receiver::start().await;
    let all = app::server::webhooks::Kind::ALL;
    let input = app::server::webhooks::EndpointInput { url: &rx.url("/hooks"), events: &all, https_only: false, allow_private: true };
    let (_, secret) = app::server::webhooks::create(&s.app.state.db, s.app.clock.now(), &cap, input).await.expect("endpoint");
    rx.expect(&[&secret], json!([])).await;

    let (_, nia, _) = s.call("POST", "/Users", Some(user("nia@acme.test", "nia@acme.test"))).await;
    let (_, omar, _) = s.call("POST", "/Users", Some(user("omar@acme.test", "omar@acme.test"))).await;
    let (nia, omar) = (nia["id"].as_str().expect("id").to_string(), omar["id"].as_str().expect("id").to_string());
    let (st, g, _) = s.call("POST", "/Groups", Some(json!({ "schemas": [GROUP], "displayName": "Analysts", "members": [{ "value": nia }] }))).await;
    assert_eq!(st, StatusCode::CREATED);
    let gid: i64 = g["id"].as_str().expect("gid").parse().expect("numeric");
    // Granted on the app's clock, the one the worker runs on, so its event is due at once.
    let quiet = app::server::events::Events::silent();
    let new = app::server::resources::NewResource { kind: "datasource", name: "Warehouse", description: "" };
    let now = s.app.clock.now();
    let warehouse = app::server::resources::create(&s.app.state.db, &quiet, now, &cap, u64::MAX, new).await.expect("resource");
    app::server::resources::set_grant(&s.app.state.db, &quiet, now, &cap, gid, warehouse.id, Some(app::server::access::Level::View)).await.expect("grant");
    while round(&s.app).await > 0 {}
    let before = rx.received().await.len();

    // One request: Omar in, Nia out.
    let ops = json!([
        { "op": "add", "path": "members", "value": [{ "value": omar }] },
        { "op": "remove", "path": format!("members[value eq \"{nia}\"]") },
    ]);
    let (st, _, _) = s.call("PATCH", &format!("/Groups/{gid}"), Some(patch(ops))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    while round(&s.app).await > 0 {}
    let got = rx.received().await;
    let new: Vec<Value> = got[before..].iter().map(|r| r["event"].clone()).collect();
    assert!(got.iter().all(|r| r["verified"] == true), "{got:#?}");
    let of = |t: &str| new.iter().filter(|e| e["type"] == t).cloned().collect::<Vec<_>>();
    let (changed, access) = (of("group.changed"), of("access.changed"));
    assert_eq!(new.len(), 2, "{new:#?}");
    let (nia_id, omar_id): (i64, i64) = (nia.parse().expect("id"), omar.parse().expect("id"));
    assert_eq!((changed[0]["data"]["members_added"].clone(), changed[0]["data"]["members_removed"].clone()), (json!([omar_id]), json!([nia_id])));
    assert_eq!(access[0]["data"]["cause"], "group_members_changed");
    let mut moves: Vec<(Value, Value, Value, Value)> = access[0]["data"]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| (c["member"]["id"].clone(), c["resource"]["id"].clone(), c["before"].clone(), c["after"].clone()))
        .collect();
    moves.sort_by_key(|m| m.0.as_i64());
    let mut expected =
        vec![(json!(nia_id), json!(warehouse.id), json!("view"), Value::Null), (json!(omar_id), json!(warehouse.id), Value::Null, json!("view"))];
    expected.sort_by_key(|m| m.0.as_i64());
    assert_eq!(moves, expected);

    // The IdP makes Omar an admin, then deactivates Nia.
    let mut admin = user("omar@acme.test", "omar@acme.test");
    admin["roles"] = json!([{ "value": "admin" }]);
    let (st, body, _) = s.call("PUT", &format!("/Users/{omar}"), Some(admin)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (st, _, _) = s.call("PATCH", &format!("/Users/{nia}"), Some(patch(json!([{ "op": "replace", "path": "active", "value": false }])))).await;
    assert_eq!(st, StatusCode::OK);
    while round(&s.app).await > 0 {}
    let types: Vec<String> = rx.received().await.iter().map(|r| r["event"]["type"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(types.iter().filter(|t| *t == "member.joined").count(), 2);
    assert!(
        types.contains(&"group.created".to_string()) && types.contains(&"member.role_changed".to_string()) && types.contains(&"member.deactivated".to_string()),
        "{types:?}"
    );
}
