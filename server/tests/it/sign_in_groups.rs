//! IdP groups at sign-in against the real pysaml2 IdP (its `groups` attribute, named as
//! Entra names it): a member's mapped groups follow the assertion at each sign-in (added,
//! removed), access follows on the next request, the admin role follows the admins' IdP
//! group (never demoting the last admin), a group managed in the UI or by SCIM is never
//! touched, and a mapped group can't be edited in the UI. Test sign-in says what a real
//! one would change.
use app::api::access::ChangeGroup;
use app::api::saml::{MapSignInGroup, SaveSignInGroups, UnmapSignInGroup};
use app::server::entities::{group, membership};
use axum::http::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::common::*;
use crate::saml::{setup, sign_in, Options, Sp};

const ENTRA_GROUPS: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";

async fn group_id(sp: &Sp, name: &str) -> i64 {
    group::Entity::find().filter(group::Column::Name.eq(name)).one(&sp.app.state.db).await.expect("db").expect("group").id
}

async fn groups_of(sp: &Sp, email: &str) -> Vec<String> {
    let ws = app::server::workspaces::by_slug(&sp.app.state.db, "acme").await.expect("acme");
    let Some(a) = app::server::testing::account_by_email(&sp.app.state.db, ws.id, email).await.expect("db") else { return vec![] };
    let m = app::server::testing::membership_of(&sp.app.state.db, ws.id, a.id).await.expect("db").expect("member");
    let ids: Vec<i64> = app::server::entities::group_member::Entity::find()
        .filter(app::server::entities::group_member::Column::MembershipId.eq(m.id))
        .all(&sp.app.state.db)
        .await
        .expect("db")
        .into_iter()
        .map(|gm| gm.group_id)
        .collect();
    let mut names: Vec<String> =
        group::Entity::find().filter(group::Column::Id.is_in(ids)).all(&sp.app.state.db).await.expect("db").into_iter().map(|g| g.name).collect();
    names.sort();
    names
}

async fn role_of(sp: &Sp, email: &str) -> String {
    let ws = app::server::workspaces::by_slug(&sp.app.state.db, "acme").await.expect("acme");
    let a = app::server::testing::account_by_email(&sp.app.state.db, ws.id, email).await.expect("db").expect("account");
    membership::Entity::find().filter(membership::Column::AccountId.eq(a.id)).one(&sp.app.state.db).await.expect("db").expect("m").role.as_str().to_string()
}

fn ok(r: Reply) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn a_members_groups_and_role_follow_the_idp_at_each_sign_in() {
    let sp = setup(Options::default()).await;
    let admin = sp.app.admin_cookie().await;
    // Groups: Analysts and Leads mapped; Finance stays the admins'.
    let (warehouse, _) = sp.app.granted(&admin, "Warehouse", "Analysts", ADMIN_EMAIL, "view").await;
    for name in ["Leads", "Finance"] {
        ok(sp.app.call::<ChangeGroup>(&[("slug", "acme"), ("action", "create"), ("name", name)], Some(&admin)).await);
    }
    let (analysts, leads, finance) = (group_id(&sp, "Analysts").await, group_id(&sp, "Leads").await, group_id(&sp, "Finance").await);
    // Ada was put in Analysts by hand (by `granted`): mapping it makes sign-in its source.
    ok(sp
        .app
        .call::<SaveSignInGroups>(&[("slug", "acme"), ("id", &sp.id), ("groups_attribute", ENTRA_GROUPS), ("admin_groups", "gh-admins")], Some(&admin))
        .await);
    for (idp, g) in [("analysts", analysts), ("leads", leads)] {
        ok(sp.app.call::<MapSignInGroup>(&[("slug", "acme"), ("id", &sp.id), ("idp_group", idp), ("group_id", &g.to_string())], Some(&admin)).await);
    }
    // Carol signs in listed in analysts (names compare without case): created in the
    // claimed domain, put in Analysts.
    let r = sign_in(&sp, "carol@acme.test", "groups=ANALYSTS,unmapped-group").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let carol = r.cookie().expect("session");
    assert_eq!(groups_of(&sp, "carol@acme.test").await, ["Analysts", "Everyone"]);
    assert_eq!(role_of(&sp, "carol@acme.test").await, "member");
    let page = format!("/w/acme/r/{warehouse}");
    assert_eq!(sp.app.get(&page, Some(&carol)).await.status, StatusCode::OK, "Analysts' grant reaches her");
    // The admins put her in Finance by hand; the IdP moves her from analysts to leads and
    // makes her an admin.
    ok(sp.app.call::<ChangeGroup>(&[("slug", "acme"), ("action", "add"), ("id", &finance.to_string()), ("email", "carol@acme.test")], Some(&admin)).await);
    let r = sign_in(&sp, "carol@acme.test", "groups=leads,gh-admins").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(groups_of(&sp, "carol@acme.test").await, ["Everyone", "Finance", "Leads"], "Finance is the admins': untouched");
    assert_eq!(role_of(&sp, "carol@acme.test").await, "admin");
    // Without the attribute she is in none of the mapped groups, and a member again.
    let r = sign_in(&sp, "carol@acme.test", "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let carol = r.cookie().expect("session");
    assert_eq!(groups_of(&sp, "carol@acme.test").await, ["Everyone", "Finance"]);
    assert_eq!(role_of(&sp, "carol@acme.test").await, "member");
    assert_eq!(sp.app.get(&page, Some(&carol)).await.status, StatusCode::NOT_FOUND, "the next request after losing Analysts");
    // Each change is audited as the provider's sign-in groups.
    assert_eq!(audit_actions(&sp.app.state.db, "saml.groups.sync").await.len(), 3);

    // A mapped group can't be edited by hand; an unmapped one can again.
    let r = sp.app.call::<ChangeGroup>(&[("slug", "acme"), ("action", "add"), ("id", &leads.to_string()), ("email", ADMIN_EMAIL)], Some(&admin)).await;
    assert_ne!(r.status, StatusCode::OK);
    assert!(r.body.contains("follows the IdP group “leads”"), "{}", r.body);
    // Nor mapped twice, nor Everyone.
    let everyone = group_id(&sp, "Everyone").await;
    for (idp, g) in [("other", leads), ("everyone", everyone), ("leads", finance)] {
        let r = sp.app.call::<MapSignInGroup>(&[("slug", "acme"), ("id", &sp.id), ("idp_group", idp), ("group_id", &g.to_string())], Some(&admin)).await;
        assert_ne!(r.status, StatusCode::OK, "{idp} → {g}: {}", r.body);
    }
    ok(sp.app.call::<UnmapSignInGroup>(&[("slug", "acme"), ("id", &sp.id), ("group_id", &leads.to_string())], Some(&admin)).await);
    ok(sp.app.call::<ChangeGroup>(&[("slug", "acme"), ("action", "add"), ("id", &leads.to_string()), ("email", ADMIN_EMAIL)], Some(&admin)).await);
    let r = sign_in(&sp, "carol@acme.test", "groups=analysts").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(groups_of(&sp, ADMIN_EMAIL).await, ["Analysts", "Everyone", "Leads"], "Ada's groups are not Carol's sign-in's to change");
}

#[tokio::test]
async fn the_idp_never_demotes_the_last_admin_and_a_test_sign_in_says_what_would_change() {
    let sp = setup(Options::default()).await;
    let admin = sp.app.admin_cookie().await;
    ok(sp.app.call::<ChangeGroup>(&[("slug", "acme"), ("action", "create"), ("name", "Analysts")], Some(&admin)).await);
    let analysts = group_id(&sp, "Analysts").await;
    ok(sp.app.call::<SaveSignInGroups>(&[("slug", "acme"), ("id", &sp.id), ("groups_attribute", "groups"), ("admin_groups", "gh-admins")], Some(&admin)).await);
    ok(sp.app.call::<MapSignInGroup>(&[("slug", "acme"), ("id", &sp.id), ("idp_group", "analysts"), ("group_id", &analysts.to_string())], Some(&admin)).await);
    // Ada, the only admin, signs in through the IdP without the admins' group: she stays
    // admin (the friendly name `groups` matches too).
    let r = sign_in(&sp, ADMIN_EMAIL, "groups=analysts").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(role_of(&sp, ADMIN_EMAIL).await, "admin");
    assert_eq!(groups_of(&sp, ADMIN_EMAIL).await, ["Analysts", "Everyone"]);

    // Test sign-in of Ada without analysts: the report says she would leave Analysts, and
    // nothing changes.
    let answer = crate::saml::idp_answer(&sp.app, &sp.id, ADMIN_EMAIL, "groups=other", Some(&admin), "?test=1").await;
    let r = answer.post(&sp.app, &sp.id).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    use sea_orm::QueryOrder;
    let report = app::server::entities::saml_activity::Entity::find()
        .order_by_desc(app::server::entities::saml_activity::Column::Id)
        .one(&sp.app.state.db)
        .await
        .expect("db")
        .expect("activity")
        .details;
    assert!(report.contains("removed from: Analysts") && report.contains("a real sign-in would make these changes"), "{report}");
    assert_eq!(groups_of(&sp, ADMIN_EMAIL).await, ["Analysts", "Everyone"], "a test changes nothing");

    // One provider sets roles: a second one of the workspace may sync groups, not roles.
    let ws = app::server::workspaces::by_slug(&sp.app.state.db, "acme").await.expect("acme");
    let cap = crate::common::operator().admin_of(ws.id);
    let second = app::server::testing::provider(&sp.app.state.db, &sp.app.state.config, sp.app.state.now(), &cap, "Second IdP").await.expect("provider");
    let r = sp
        .app
        .call::<SaveSignInGroups>(&[("slug", "acme"), ("id", second.public_id()), ("groups_attribute", "groups"), ("admin_groups", "admins")], Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("already sets roles"), "{}", r.body);
    ok(sp
        .app
        .call::<SaveSignInGroups>(&[("slug", "acme"), ("id", second.public_id()), ("groups_attribute", "groups"), ("admin_groups", "")], Some(&admin))
        .await);

    // Bad settings are refused with a reason.
    for (attr, admins, why) in [("", "gh-admins", "groups attribute first"), ("bad\u{1}", "", "control characters")] {
        let r = sp.app.call::<SaveSignInGroups>(&[("slug", "acme"), ("id", &sp.id), ("groups_attribute", attr), ("admin_groups", admins)], Some(&admin)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains(why), "{}", r.body);
    }
}
