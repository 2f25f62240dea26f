//! Groups, resources and grants (admins), a member's reachable resources and one
//! resource's page (everyone, answered 404 without access).
use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{AccessPage, GroupView, ResourceView};

#[cfg(feature = "ssr")]
fn view_of(r: crate::model::Resource, level: &str) -> ResourceView {
    crate::server::resources::view(r, level)
}

/// Admins of `slug`: every group with its members.
#[server]
pub async fn list_groups(slug: String) -> Result<Vec<GroupView>, AppError> {
    use super::ctx::*;
    let (st, cap) = admin(&slug).await?;
    Ok(crate::server::groups::list(&st.db, cap.workspace_id())
        .await
        .map_err(fail)?
        .into_iter()
        .map(|g| GroupView { id: g.group.id, name: g.group.name, is_everyone: g.group.is_everyone, managed_by: g.managed_by, members: g.members })
        .collect())
}

/// Admins of `slug`: group changes. `action` is `create` (name), `rename` (id, name),
/// `delete` (id), `add` (id, email) or `remove` (id, membership_id).
#[server]
pub async fn change_group(
    slug: String,
    action: String,
    id: Option<i64>,
    name: Option<String>,
    email: Option<String>,
    membership_id: Option<i64>,
) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::groups;
    let (st, cap) = admin(&slug).await?;
    let now = st.now();
    let missing = || fail(crate::server::DomainError::Invalid("Something is missing from the form.".into()));
    let (code, msg) = match action.as_str() {
        "create" => {
            let g = groups::create(&st.db, &st.events, now, &cap, name.as_deref().unwrap_or("")).await.map_err(fail)?;
            ("group_created", format!("Group “{}” created.", g.name))
        }
        "rename" => {
            groups::rename(&st.db, &st.events, now, &cap, id.ok_or_else(missing)?, name.as_deref().unwrap_or("")).await.map_err(fail)?;
            ("group_renamed", "Group renamed.".to_string())
        }
        "delete" => {
            groups::delete(&st.db, &st.events, now, &cap, id.ok_or_else(missing)?).await.map_err(fail)?;
            ("group_deleted", "Group deleted; its members lost what only it granted.".to_string())
        }
        "add" => {
            groups::add_member(&st.db, &st.events, now, &cap, id.ok_or_else(missing)?, email.as_deref().unwrap_or("")).await.map_err(fail)?;
            ("group_member_added", "Member added.".to_string())
        }
        "remove" => {
            groups::remove_member(&st.db, &st.events, now, &cap, id.ok_or_else(missing)?, membership_id.ok_or_else(missing)?).await.map_err(fail)?;
            ("group_member_removed", "Member removed.".to_string())
        }
        _ => return Err(missing()),
    };
    redirect_no_js(&format!("/w/{}/settings/groups?saved={code}", urlencode(&slug)));
    Ok(msg)
}

/// Admins of `slug`: resources, groups and grants, for the matrix.
#[server]
pub async fn load_access(slug: String) -> Result<AccessPage, AppError> {
    use super::ctx::*;
    use crate::server::{groups, resources};
    let (st, cap) = admin(&slug).await?;
    let rs = resources::list(&st.db, cap.workspace_id()).await.map_err(fail)?;
    let gs = groups::list(&st.db, cap.workspace_id()).await.map_err(fail)?;
    let grants = resources::grants(&st.db, cap.workspace_id()).await.map_err(fail)?;
    let mut grants: Vec<(i64, i64, String)> = grants.into_iter().map(|((g, r), l)| (g, r, l.as_str().to_string())).collect();
    grants.sort();
    Ok(AccessPage {
        resources: rs.into_iter().map(|r| view_of(r, "")).collect(),
        groups: gs.into_iter().map(|g| (g.group.id, g.group.name, g.managed_by)).collect(),
        grants,
    })
}

/// Admins of `slug`: resource changes. `action` is `create` (kind, name, description),
/// `update` (id, name, description) or `delete` (id).
#[server]
pub async fn change_resource(
    slug: String,
    action: String,
    id: Option<i64>,
    kind: Option<String>,
    name: Option<String>,
    description: Option<String>,
) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::resources;
    let (st, cap) = admin(&slug).await?;
    let now = st.now();
    let missing = || fail(crate::server::DomainError::Invalid("Something is missing from the form.".into()));
    let (name, description) = (name.unwrap_or_default(), description.unwrap_or_default());
    let (code, msg) = match action.as_str() {
        "create" => {
            let r = resources::create(
                &st.db,
                &st.events,
                now,
                &cap,
                st.config.max_resources_per_workspace,
                resources::NewResource { kind: kind.as_deref().unwrap_or(""), name: &name, description: &description },
            )
            .await
            .map_err(fail)?;
            ("resource_created", format!("“{}” created.", r.name))
        }
        "update" => {
            resources::update(&st.db, &st.events, now, &cap, id.ok_or_else(missing)?, &name, &description).await.map_err(fail)?;
            ("resource_saved", "Saved.".to_string())
        }
        "delete" => {
            resources::delete(&st.db, &st.events, now, &cap, id.ok_or_else(missing)?).await.map_err(fail)?;
            ("resource_deleted", "Deleted, with every grant on it.".to_string())
        }
        _ => return Err(missing()),
    };
    redirect_no_js(&format!("/w/{}/settings/access?saved={code}", urlencode(&slug)));
    Ok(msg)
}

/// Admins of `slug`: sets a group's level on a resource (`none` removes the grant).
#[server]
pub async fn set_grant(slug: String, group_id: i64, resource_id: i64, level: String) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::access::Level;
    let (st, cap) = admin(&slug).await?;
    let parsed = match level.as_str() {
        "none" => None,
        other => Some(Level::parse(other).ok_or_else(|| fail(crate::server::DomainError::Invalid("The level is view, edit or none.".into())))?),
    };
    crate::server::resources::set_grant(&st.db, &st.events, st.now(), &cap, group_id, resource_id, parsed).await.map_err(fail)?;
    let msg = "Access saved.".to_string();
    redirect_no_js(&format!("/w/{}/settings/access?saved=access_saved", urlencode(&slug)));
    Ok(msg)
}

/// The signed-in member: the collections and connections they can reach.
#[server]
pub async fn my_resources(slug: String) -> Result<Vec<ResourceView>, AppError> {
    use super::ctx::*;
    let st = state()?;
    let v = viewer(&st, &slug).await?;
    Ok(crate::server::access::reachable(&st.db, &v).await.map_err(fail)?.into_iter().map(|(r, l)| view_of(r, l.as_str())).collect())
}

/// One resource, if the signed-in member reaches it; otherwise "not found", exactly as
/// for a resource that doesn't exist.
#[server]
pub async fn load_resource(slug: String, id: i64) -> Result<ResourceView, AppError> {
    use super::ctx::*;
    let st = state()?;
    let v = viewer(&st, &slug).await?;
    match crate::server::access::resource_for(&st.db, &v, id).await.map_err(fail)? {
        Some((r, l)) => Ok(view_of(r, l.as_str())),
        None => Err(fail(crate::server::DomainError::NotFound)),
    }
}

/// At most this many rows of a preview travel to the page (the totals count them all).
#[cfg(feature = "ssr")]
const PREVIEW_ROWS: usize = 500;

#[cfg(feature = "ssr")]
fn preview_view(summary: String, p: crate::server::access::Preview) -> crate::model::AccessPreview {
    use crate::model::{AccessDeltaView, AccessPreview};
    let name = |l: Option<crate::server::access::Level>| l.map(|l| l.as_str()).unwrap_or("none").to_string();
    AccessPreview {
        summary,
        gains: p.gains,
        losses: p.total.saturating_sub(p.gains),
        total: p.total,
        deltas: p
            .rows
            .into_iter()
            .map(|d| AccessDeltaView {
                kind_label: crate::server::resources::KINDS.iter().find(|(k, _)| *k == d.resource_kind).map(|(_, l)| l.to_string()).unwrap_or_default(),
                email: d.email,
                full_name: d.full_name,
                resource: d.resource_name,
                before: name(d.before),
                after: name(d.after),
            })
            .collect(),
    }
}

/// Admins of `slug`: who gains and who loses access to what if a change were saved.
/// `what` is `grant` (group_id, resource_id, level), `add` (group_id, email), `remove`
/// (group_id, membership_id) or `delete` (group_id). Nothing is changed.
#[server]
pub async fn preview_access(
    slug: String,
    what: String,
    group_id: i64,
    resource_id: Option<i64>,
    level: Option<String>,
    email: Option<String>,
    membership_id: Option<i64>,
) -> Result<crate::model::AccessPreview, AppError> {
    use super::ctx::*;
    use crate::server::access::{describe, preview, ChangeForm};
    let (st, cap) = admin(&slug).await?;
    let form = ChangeForm { what: &what, group_id, resource_id, level: level.as_deref(), email: email.as_deref(), membership_id };
    let (change, summary) = describe(&st.db, &cap, &form).await.map_err(fail)?;
    let p = preview(&st.db, cap.workspace_id(), &change, PREVIEW_ROWS).await.map_err(fail)?;
    Ok(preview_view(summary, p))
}

/// Admins of `slug`: the reconcile view of SAML provider `id` (its public id).
#[server]
pub async fn load_reconcile(slug: String, id: String) -> Result<crate::model::ReconcileView, AppError> {
    use super::ctx::*;
    use crate::model::{ReconcileGroup, ReconcileView};
    let (st, cap) = admin(&slug).await?;
    let r = crate::server::access::reconcile(&st.db, cap.workspace_id(), &id, PREVIEW_ROWS).await.map_err(fail)?;
    let summary = format!("Empty every group {} doesn't manage", r.provider_name);
    Ok(ReconcileView {
        provider_name: r.provider_name.clone(),
        provisioning: r.provisioning,
        linked: r.linked.into_iter().map(|(g, n)| ReconcileGroup { id: g.id, name: g.name, members: n, grants: 0 }).collect(),
        unlinked: r.unlinked.into_iter().map(|(g, n, k)| ReconcileGroup { id: g.id, name: g.name, members: n, grants: k }).collect(),
        if_emptied: preview_view(summary, r.if_emptied),
    })
}
