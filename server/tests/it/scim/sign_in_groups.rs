//! A group kept in sync at sign-in is not SCIM's: the provider's SCIM client neither lists
//! nor reads nor changes it, and its reconcile view doesn't offer to empty it.
use super::*;

#[tokio::test]
async fn scim_never_sees_a_group_kept_in_sync_at_sign_in() {
    let s = setup().await;
    let ws = app::server::workspaces::by_slug(&s.app.state.db, "acme").await.expect("acme");
    let cap = crate::common::operator().admin_of(ws.id);
    let quiet = app::server::events::Events::silent();
    let g = app::server::groups::create(&s.app.state.db, &quiet, T0, &cap, "Analysts").await.expect("group");
    let (_, visible, _) = s.call("GET", "/Groups", None).await;
    assert_eq!(visible["totalResults"], 1, "before mapping, the admins' group is SCIM's to link: {visible}");
    app::server::saml::groups::map(&s.app.state.db, T0, &cap, &s.provider, "analysts", g.id).await.expect("map");
    let (_, list, _) = s.call("GET", "/Groups", None).await;
    assert_eq!(list["totalResults"], 0, "{list}");
    let path = format!("/Groups/{}", g.id);
    assert_eq!(s.call("GET", &path, None).await.0, StatusCode::NOT_FOUND);
    let rename = patch(json!([{ "op": "replace", "path": "displayName", "value": "Taken" }]));
    assert_eq!(s.call("PATCH", &path, Some(rename)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.call("DELETE", &path, None).await.0, StatusCode::NOT_FOUND);
    let r = app::server::access::reconcile(&s.app.state.db, ws.id, &s.provider, 10).await.expect("reconcile");
    assert!(r.unlinked.iter().all(|(u, _, _)| u.id != g.id), "not offered for emptying");
}
