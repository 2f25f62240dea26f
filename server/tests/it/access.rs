//! Groups, resources and grants: access is decided from current data on every request, so
//! each way of losing access shows on the member's very next request, and a resource
//! without access answers exactly like one that doesn't exist.
use app::api::access::{ChangeGroup, ChangeResource, SetGrant};
use app::server::entities::{group, membership, resource};
use axum::http::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::common::{TestApp, T0};

struct World {
    app: TestApp,
    admin: String,
    bob: String,
    resource: i64,
    group: i64,
}

async fn world() -> World {
    let app = TestApp::with_workspace().await;
    let admin = app.admin_cookie().await;
    let bob = app.add_member(&admin, "bob@acme.test", "member").await;
    let r = app
        .call::<ChangeResource>(
            &[("slug", "acme"), ("action", "create"), ("kind", "collection"), ("name", "Revenue"), ("description", "Q3 numbers")],
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let resource = resource::Entity::find().one(&app.state.db).await.expect("db").expect("resource").id;
    let r = app.call::<ChangeGroup>(&[("slug", "acme"), ("action", "create"), ("name", "Finance")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let group = group::Entity::find().filter(group::Column::Name.eq("Finance")).one(&app.state.db).await.expect("db").expect("group").id;
    let r = app.call::<ChangeGroup>(&[("slug", "acme"), ("action", "add"), ("id", &group.to_string()), ("email", "bob@acme.test")], Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let w = World { app, admin, bob, resource, group };
    grant(&w, w.group, "view").await;
    w
}

async fn grant(w: &World, group: i64, level: &str) {
    let r = w
        .app
        .call::<SetGrant>(&[("slug", "acme"), ("group_id", &group.to_string()), ("resource_id", &w.resource.to_string()), ("level", level)], Some(&w.admin))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

async fn page(w: &World, cookie: &str) -> (StatusCode, String) {
    let r = w.app.get(&format!("/w/acme/r/{}", w.resource), Some(cookie)).await;
    (r.status, r.body)
}

/// The page's `<main>` (the rest carries per-response nonces).
fn main_of(body: &str) -> String {
    let start = body.find("<main").unwrap_or(0);
    let end = body[start..].find("</main>").map(|e| start + e).unwrap_or(body.len());
    body[start..end].to_string()
}

#[tokio::test]
async fn members_reach_what_their_groups_are_granted_and_admins_everything() {
    let w = world().await;
    let (st, body) = page(&w, &w.bob).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("Revenue") && body.contains("You can view this."), "{body}");
    let home = w.app.get("/w/acme", Some(&w.bob)).await;
    assert!(home.body.contains("Revenue"), "listed on the member's home");
    // The strongest grant wins (Everyone's edit over Finance's view).
    let everyone = group::Entity::find().filter(group::Column::IsEveryone.eq(true)).one(&w.app.state.db).await.expect("db").expect("everyone").id;
    grant(&w, everyone, "edit").await;
    assert!(page(&w, &w.bob).await.1.contains("You can edit this."));
    grant(&w, everyone, "none").await;
    // Admins reach everything without grants.
    let (st, body) = page(&w, &w.admin).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("You can edit this."));
    // A member of no granting group sees nothing.
    let carol = w.app.add_member(&w.admin, "carol@acme.test", "member").await;
    assert_eq!(page(&w, &carol).await.0, StatusCode::NOT_FOUND);
    assert!(!w.app.get("/w/acme", Some(&carol)).await.body.contains("Revenue"));
}

#[tokio::test]
async fn a_forbidden_resource_answers_like_a_missing_one() {
    let w = world().await;
    grant(&w, w.group, "none").await;
    let (forbidden_status, forbidden) = page(&w, &w.bob).await;
    let missing = w.app.get("/w/acme/r/999999", Some(&w.bob)).await;
    assert_eq!((forbidden_status, missing.status), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(main_of(&forbidden), main_of(&missing.body), "same body shape");
    assert!(!forbidden.contains("Revenue"));
}

#[tokio::test]
async fn every_way_of_losing_access_shows_on_the_next_request() {
    // Grant removed.
    let w = world().await;
    assert_eq!(page(&w, &w.bob).await.0, StatusCode::OK);
    grant(&w, w.group, "none").await;
    assert_eq!(page(&w, &w.bob).await.0, StatusCode::NOT_FOUND, "grant removed");

    // Removed from the group in the UI.
    let w = world().await;
    let m = membership::Entity::find().filter(membership::Column::Role.eq("member")).one(&w.app.state.db).await.expect("db").expect("bob");
    let r = w
        .app
        .call::<ChangeGroup>(&[("slug", "acme"), ("action", "remove"), ("id", &w.group.to_string()), ("membership_id", &m.id.to_string())], Some(&w.admin))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(page(&w, &w.bob).await.0, StatusCode::NOT_FOUND, "removed from the group");

    // Group deleted.
    let w = world().await;
    let r = w.app.call::<ChangeGroup>(&[("slug", "acme"), ("action", "delete"), ("id", &w.group.to_string())], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(page(&w, &w.bob).await.0, StatusCode::NOT_FOUND, "group deleted");

    // Member deactivated: their session is gone, so the next request is not served.
    let w = world().await;
    let m = membership::Entity::find().filter(membership::Column::Role.eq("member")).one(&w.app.state.db).await.expect("db").expect("bob");
    let cap = crate::common::operator().admin_of(m.workspace_id);
    app::server::members::deactivate(&w.app.state.db, &app::server::events::Events::silent(), T0, &cap, m.id).await.expect("deactivate");
    assert_ne!(page(&w, &w.bob).await.0, StatusCode::OK, "deactivated");
    assert_eq!(w.app.me_status(&w.bob).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn everyone_and_provider_groups_are_read_only_here() {
    let w = world().await;
    let everyone = group::Entity::find().filter(group::Column::IsEveryone.eq(true)).one(&w.app.state.db).await.expect("db").expect("everyone").id;
    for action in [vec![("action", "rename"), ("name", "All")], vec![("action", "delete")], vec![("action", "add"), ("email", "bob@acme.test")]] {
        let id = everyone.to_string();
        let mut args = vec![("slug", "acme"), ("id", id.as_str())];
        args.extend(action);
        let r = w.app.call::<ChangeGroup>(&args, Some(&w.admin)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains("Everyone"), "{}", r.body);
    }
    let r = w.app.call::<ChangeGroup>(&[("slug", "acme"), ("action", "create"), ("name", "everyone")], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Members can't manage groups or grants.
    let r = w.app.call::<ChangeGroup>(&[("slug", "acme"), ("action", "create"), ("name", "Mine")], Some(&w.bob)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = w
        .app
        .call::<SetGrant>(&[("slug", "acme"), ("group_id", &w.group.to_string()), ("resource_id", &w.resource.to_string()), ("level", "edit")], Some(&w.bob))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(w.app.get("/w/acme/settings/access", Some(&w.bob)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(w.app.get("/w/acme/settings/groups", Some(&w.admin)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn open_pages_hear_access_changes_and_a_deactivated_member_is_signed_out() {
    let w = world().await;
    // No session of this workspace: the stream's one event is signedout (the page reloads
    // into sign-in), and it ends.
    for (slug, cookie) in [("acme", None), ("beta", Some(w.bob.as_str())), ("nowhere", Some(w.bob.as_str()))] {
        let mut s = w.app.events(slug, "", cookie).await.expect("a stream");
        assert_eq!(s.next().await.as_deref(), Some("signedout"), "{slug} {cookie:?}");
        assert_eq!(s.next().await, None, "{slug}: and nothing else");
    }
    let mut bob = w.app.events("acme", "", Some(&w.bob)).await.expect("bob's stream");
    let mut admin = w.app.events("acme", "members,groups,access", Some(&w.admin)).await.expect("admin's stream");

    // Another workspace's changes don't reach this one.
    w.app.state.events.publish(&w.app.state.db, 999_999, &[app::server::events::Topic::Members]).await;
    grant(&w, w.group, "none").await;
    assert_eq!(bob.next().await.as_deref(), Some("access"), "the revoked grant, not the other workspace's event");
    assert_eq!(admin.next().await.as_deref(), Some("access"));
    assert_eq!(page(&w, &w.bob).await.0, StatusCode::NOT_FOUND, "what the page refetches is now a 404");

    // Group membership changes reach the Groups page and every member's access.
    let m = membership::Entity::find().filter(membership::Column::Role.eq("member")).one(&w.app.state.db).await.expect("db").expect("bob");
    let r = w
        .app
        .call::<ChangeGroup>(&[("slug", "acme"), ("action", "remove"), ("id", &w.group.to_string()), ("membership_id", &m.id.to_string())], Some(&w.admin))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(bob.next().await.as_deref(), Some("access"), "a member hears only about access (Groups is an admin page)");
    assert_eq!(admin.next().await.as_deref(), Some("groups"));
    assert_eq!(admin.next().await.as_deref(), Some("access"));

    // Deactivation: the open page is told it's signed out and the stream ends.
    let r =
        w.app.call::<app::api::members::SetMemberStatus>(&[("slug", "acme"), ("membership_id", &m.id.to_string()), ("active", "false")], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(bob.next().await.as_deref(), Some("signedout"));
    assert_eq!(bob.next().await, None, "the stream is closed");
    assert_eq!(admin.next().await.as_deref(), Some("members"), "the admin's Members page refreshes");
    assert_eq!(admin.next().await.as_deref(), Some("groups"));
    assert_eq!(admin.next().await.as_deref(), Some("access"));

    // A burst of changes reaches an open page coalesced: each topic once.
    let mut home = w.app.events("acme", "access", Some(&w.admin)).await.expect("a page following access only");
    for level in ["view", "edit", "none", "view"] {
        grant(&w, w.group, level).await;
    }
    let r = w.app.call::<ChangeGroup>(&[("slug", "acme"), ("action", "create"), ("name", "Ops")], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(home.next().await.as_deref(), Some("access"));
    assert_eq!(home.next().await, None, "one refetch for the whole burst, and no groups event for a page that doesn't follow groups");
    let mut again = w.app.events("acme", "", Some(&w.bob)).await.expect("a stream");
    assert_eq!(again.next().await.as_deref(), Some("signedout"), "a reopened stream of the ended session says so at once");
    assert_eq!(again.next().await, None);
}

async fn preview(w: &World, args: &[(&str, &str)], cookie: &str) -> (StatusCode, serde_json::Value) {
    let mut all = vec![("slug", "acme")];
    all.extend_from_slice(args);
    let r = w.app.call::<app::api::access::PreviewAccess>(&all, Some(cookie)).await;
    (r.status, serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null))
}

fn rows(p: &serde_json::Value) -> Vec<String> {
    p["deltas"]
        .as_array()
        .expect("deltas")
        .iter()
        .map(|d| {
            format!("{} {} {}→{}", d["email"].as_str().unwrap(), d["resource"].as_str().unwrap(), d["before"].as_str().unwrap(), d["after"].as_str().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn the_preview_lists_who_gains_and_who_loses_and_changes_nothing() {
    let w = world().await;
    let _carol = w.app.add_member(&w.admin, "carol@acme.test", "member").await;
    let (g, r) = (w.group.to_string(), w.resource.to_string());
    let everyone = group::Entity::find().filter(group::Column::IsEveryone.eq(true)).one(&w.app.state.db).await.expect("db").expect("everyone").id.to_string();

    let (st, p) = preview(&w, &[("what", "grant"), ("group_id", &g), ("resource_id", &r), ("level", "none")], &w.admin).await;
    assert_eq!(st, StatusCode::OK, "{p}");
    assert_eq!(rows(&p), ["bob@acme.test Revenue view→none"]);
    assert_eq!((p["gains"].as_u64(), p["losses"].as_u64()), (Some(0), Some(1)));
    assert!(p["summary"].as_str().unwrap().contains("Finance"), "{p}");
    assert_eq!(page(&w, &w.bob).await.0, StatusCode::OK, "a preview saves nothing");

    // Everyone: every active non-admin member; the admin is never listed.
    let (_, p) = preview(&w, &[("what", "grant"), ("group_id", &everyone), ("resource_id", &r), ("level", "edit")], &w.admin).await;
    assert_eq!(rows(&p), ["bob@acme.test Revenue view→edit", "carol@acme.test Revenue none→edit"]);
    // Raising Finance to edit changes only Finance's members.
    let (_, p) = preview(&w, &[("what", "grant"), ("group_id", &g), ("resource_id", &r), ("level", "edit")], &w.admin).await;
    assert_eq!(rows(&p), ["bob@acme.test Revenue view→edit"]);
    let (_, p) = preview(&w, &[("what", "add"), ("group_id", &g), ("email", "Carol@acme.test")], &w.admin).await;
    assert_eq!(rows(&p), ["carol@acme.test Revenue none→view"]);
    let (_, p) = preview(&w, &[("what", "add"), ("group_id", &g), ("email", crate::common::ADMIN_EMAIL)], &w.admin).await;
    assert_eq!(p["total"].as_u64(), Some(0), "adding an admin changes nothing they reach");
    let bob = membership::Entity::find().filter(membership::Column::Role.eq("member")).one(&w.app.state.db).await.expect("db").expect("bob").id.to_string();
    let (_, p) = preview(&w, &[("what", "remove"), ("group_id", &g), ("membership_id", &bob)], &w.admin).await;
    assert_eq!(rows(&p), ["bob@acme.test Revenue view→none"]);
    let (_, p) = preview(&w, &[("what", "delete"), ("group_id", &g)], &w.admin).await;
    assert_eq!(rows(&p), ["bob@acme.test Revenue view→none"]);
    // Bob keeps view through Everyone: deleting Finance then costs him nothing.
    grant(&w, everyone.parse().unwrap(), "view").await;
    let (_, p) = preview(&w, &[("what", "delete"), ("group_id", &g)], &w.admin).await;
    assert_eq!(p["total"].as_u64(), Some(0), "{p}");

    // Members can't preview (admin pages don't exist for them); unknown groups and resources are 404s; bad levels are 400s.
    let (st, _) = preview(&w, &[("what", "delete"), ("group_id", &g)], &w.bob).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "admin pages are 404s to members");
    let (st, _) = preview(&w, &[("what", "delete"), ("group_id", &everyone)], &w.admin).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "Everyone can't be deleted, so there's nothing to preview");
    let (st, _) = preview(&w, &[("what", "delete"), ("group_id", "999999")], &w.admin).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = preview(&w, &[("what", "grant"), ("group_id", &g), ("resource_id", "999999"), ("level", "view")], &w.admin).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = preview(&w, &[("what", "grant"), ("group_id", &g), ("resource_id", &r), ("level", "owner")], &w.admin).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let r = w.app.call::<SetGrant>(&[("slug", "acme"), ("group_id", &g), ("resource_id", &r), ("level", "owner")], Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "saving a bad level is a 400 too: {}", r.body);

    // The page renders the same rows on the server, with the confirmation form.
    let html = w.app.get(&format!("/w/acme/settings/preview?what=remove&group_id={g}&membership_id={bob}"), Some(&w.admin)).await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.body.contains("No member&#x27;s access changes.") || html.body.contains("No member's access changes."), "bob keeps view through Everyone");
    grant(&w, everyone.parse().unwrap(), "none").await;
    let html = w.app.get(&format!("/w/acme/settings/preview?what=remove&group_id={g}&membership_id={bob}"), Some(&w.admin)).await;
    assert!(html.body.contains(r#"data-member="bob@acme.test""#) && html.body.contains("Confirm and save"), "{}", main_of(&html.body));
}

/// A session cookie planted for a narrower path (a sibling subdomain can, without the
/// `__Host-` prefix) comes first in the browser's Cookie header; it doesn't shadow the
/// real session, on pages or on the live stream.
#[tokio::test]
async fn a_planted_cookie_does_not_shadow_the_real_session() {
    let w = world().await;
    let real = w.bob.clone();
    let both = format!("gatehouse_session=junkjunkjunk; {real}");
    assert_eq!(w.app.me_status(&both).await, StatusCode::OK, "the page's session is found behind the junk");
    let mut s = w.app.events("acme", "access", Some(&both)).await.expect("a stream");
    grant(&w, w.group, "none").await;
    assert_eq!(s.next().await.as_deref(), Some("access"), "the stream follows the real session, not signedout");
    // Sign out ends the real session too, not only the junk ahead of it.
    let r = w.app.call_with("/logout", &[("slug", "acme")], Some(&both), "text/html", Some(crate::common::ORIGIN)).await;
    assert!(r.status.is_redirection(), "{}", r.status);
    assert_eq!(w.app.me_status(&real).await, StatusCode::UNAUTHORIZED, "signed out for real");
}
