//! Groups as admins manage them in the UI. Everyone (every active member, kept by
//! `directory`) and SCIM-linked groups (kept by their provider) can't be renamed, deleted or
//! have members changed here; any group can hold grants.
use std::collections::HashMap;

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::access::Change;
use super::audit;
use super::directory::EVERYONE;
use super::entities::{account, grant, group, group_member, membership, saml_provider};
use super::events::{Events, Topic};
use super::permissions::{AdminCap, Status};
use super::webhooks::{self, Kind};
use super::{normalize_email, DomainError};
use crate::server::entities::Record;

/// A group with what the Groups page shows.
#[derive(Debug, Clone)]
pub struct GroupRow {
    pub group: crate::model::Group,
    pub members: Vec<(i64, String)>,
    /// The SCIM provider's name when linked.
    pub managed_by: Option<String>,
}

fn validate_name(raw: &str) -> Result<String, DomainError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(DomainError::Invalid("A group name is 1–200 characters.".into()));
    }
    if name.eq_ignore_ascii_case(EVERYONE) {
        return Err(DomainError::Invalid(format!("“{EVERYONE}” is the built-in group of every active member.")));
    }
    Ok(name.to_string())
}

fn taken(name: &str) -> DomainError {
    DomainError::Invalid(format!("A group named “{name}” already exists."))
}

/// Every group of the workspace (Everyone first) with its members' emails.
pub async fn list<C: ConnectionTrait>(db: &C, workspace_id: i64) -> Result<Vec<GroupRow>, DomainError> {
    let groups = group::Entity::find()
        .filter(group::Column::WorkspaceId.eq(workspace_id))
        .order_by_desc(group::Column::IsEveryone)
        .order_by_asc(group::Column::NameNormalized)
        .all(db)
        .await?;
    let providers: HashMap<i64, String> =
        saml_provider::Entity::find().filter(saml_provider::Column::WorkspaceId.eq(workspace_id)).all(db).await?.into_iter().map(|p| (p.id, p.name)).collect();
    let ms: HashMap<i64, i64> =
        membership::Entity::find().filter(membership::Column::WorkspaceId.eq(workspace_id)).all(db).await?.into_iter().map(|m| (m.id, m.account_id)).collect();
    let ids: Vec<i64> = ms.values().copied().collect();
    let mut emails: HashMap<i64, String> = HashMap::new();
    for chunk in ids.chunks(500) {
        for a in account::Entity::find().filter(account::Column::Id.is_in(chunk.to_vec())).all(db).await? {
            emails.insert(a.id, a.email);
        }
    }
    let mut out = Vec::new();
    for g in groups {
        let mut members: Vec<(i64, String)> = group_member::Entity::find()
            .filter(group_member::Column::GroupId.eq(g.id))
            .all(db)
            .await?
            .into_iter()
            .filter_map(|gm| ms.get(&gm.membership_id).and_then(|a| emails.get(a)).map(|e| (gm.membership_id, e.clone())))
            .collect();
        members.sort_by(|a, b| a.1.cmp(&b.1));
        let name_of = |p: i64| providers.get(&p).cloned().unwrap_or_else(|| "your identity provider".into());
        let managed_by = g
            .managed_by_provider_id
            .map(name_of)
            .or_else(|| g.sign_in_provider_id.map(|p| format!("{} at sign-in (IdP group “{}”)", name_of(p), g.idp_group.clone().unwrap_or_default())));
        out.push(GroupRow { group: g.record(), members, managed_by });
    }
    Ok(out)
}

fn bump(g: &group::Model, now: i64) -> group::ActiveModel {
    let mut am: group::ActiveModel = g.clone().into();
    am.version = Set(g.version + 1);
    am.updated_at = Set(now);
    am
}

pub async fn create(db: &DatabaseConnection, events: &Events, now: i64, cap: &AdminCap, name: &str) -> Result<crate::model::Group, DomainError> {
    let name = validate_name(name)?;
    let txn = crate::server::db::write(db).await?;
    let g = super::directory::insert_group(&txn, now, cap.workspace_id(), &name, None, None).await.map_err(|e| {
        if crate::server::db::is_unique_violation(&e) {
            taken(&name)
        } else {
            e.into()
        }
    })?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "group.create", &name, json!({ "id": g.id })).await?;
    webhooks::group_event(&txn, now, cap.workspace_id(), Kind::GroupCreated, g.id, &name, json!({})).await?;
    txn.commit().await?;
    events.publish(db, cap.workspace_id(), &[Topic::Groups, Topic::Access]).await;
    Ok(g.record())
}

pub async fn rename(db: &DatabaseConnection, events: &Events, now: i64, cap: &AdminCap, id: i64, name: &str) -> Result<(), DomainError> {
    let name = validate_name(name)?;
    let txn = crate::server::db::write(db).await?;
    let g = super::directory::editable_group(&txn, cap, id).await?;
    let mut am = bump(&g, now);
    am.name = Set(name.clone());
    am.name_normalized = Set(name.to_lowercase());
    am.update(&txn).await.map_err(|e| if crate::server::db::is_unique_violation(&e) { taken(&name) } else { e.into() })?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "group.rename", &name, json!({ "id": id, "from": g.name })).await?;
    webhooks::group_event(&txn, now, cap.workspace_id(), Kind::GroupChanged, id, &name, json!({ "renamed_from": g.name })).await?;
    txn.commit().await?;
    events.publish(db, cap.workspace_id(), &[Topic::Groups, Topic::Access]).await;
    Ok(())
}

/// Deletes a group, its memberships and its grants: its members lose what only it gave.
pub async fn delete(db: &DatabaseConnection, events: &Events, now: i64, cap: &AdminCap, id: i64) -> Result<(), DomainError> {
    let txn = crate::server::db::write(db).await?;
    let g = super::directory::editable_group(&txn, cap, id).await?;
    super::access::announce(&txn, now, cap.workspace_id(), &Change::DeleteGroup { group: g.id }, "group_deleted").await?;
    grant::Entity::delete_many().filter(grant::Column::GroupId.eq(g.id)).exec(&txn).await?;
    group_member::Entity::delete_many().filter(group_member::Column::GroupId.eq(g.id)).exec(&txn).await?;
    group::Entity::delete_by_id(g.id).exec(&txn).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "group.delete", &g.name, json!({ "id": id })).await?;
    webhooks::group_event(&txn, now, cap.workspace_id(), Kind::GroupDeleted, g.id, &g.name, json!({})).await?;
    txn.commit().await?;
    events.publish(db, cap.workspace_id(), &[Topic::Groups, Topic::Access]).await;
    Ok(())
}

/// Adds an active member of the workspace, by email.
pub async fn add_member(db: &DatabaseConnection, events: &Events, now: i64, cap: &AdminCap, id: i64, email: &str) -> Result<(), DomainError> {
    let email = normalize_email(email)?;
    let txn = crate::server::db::write(db).await?;
    let g = super::directory::editable_group(&txn, cap, id).await?;
    let not_member = || DomainError::Invalid(format!("{email} is not an active member of this workspace."));
    let a = super::directory::account_by_email(&txn, cap.workspace_id(), &email).await?.ok_or_else(not_member)?;
    let m = super::directory::membership_of(&txn, cap.workspace_id(), a.id).await?.filter(|m| m.status == Status::Active).ok_or_else(not_member)?;
    super::access::announce(&txn, now, cap.workspace_id(), &Change::AddMember { group: g.id, membership: m.id }, "group_member_added").await?;
    let added = group_member::Entity::insert(group_member::ActiveModel { group_id: Set(g.id), membership_id: Set(m.id), created_at: Set(now) })
        .on_conflict(OnConflict::columns([group_member::Column::GroupId, group_member::Column::MembershipId]).do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await?;
    bump(&g, now).update(&txn).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "group.member.add", &g.name, json!({ "member": email })).await?;
    if added > 0 {
        webhooks::group_event(&txn, now, cap.workspace_id(), Kind::GroupChanged, g.id, &g.name, json!({ "members_added": [m.id] })).await?;
    }
    txn.commit().await?;
    events.publish(db, cap.workspace_id(), &[Topic::Groups, Topic::Access]).await;
    Ok(())
}

pub async fn remove_member(db: &DatabaseConnection, events: &Events, now: i64, cap: &AdminCap, id: i64, membership_id: i64) -> Result<(), DomainError> {
    let txn = crate::server::db::write(db).await?;
    let g = super::directory::editable_group(&txn, cap, id).await?;
    let is_member = group_member::Entity::find()
        .filter(group_member::Column::GroupId.eq(g.id))
        .filter(group_member::Column::MembershipId.eq(membership_id))
        .one(&txn)
        .await?
        .is_some();
    if is_member {
        super::access::announce(&txn, now, cap.workspace_id(), &Change::RemoveMember { group: g.id, membership: membership_id }, "group_member_removed")
            .await?;
    }
    group_member::Entity::delete_many()
        .filter(group_member::Column::GroupId.eq(g.id))
        .filter(group_member::Column::MembershipId.eq(membership_id))
        .exec(&txn)
        .await?;
    bump(&g, now).update(&txn).await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "group.member.remove", &g.name, json!({ "membership": membership_id })).await?;
    if is_member {
        webhooks::group_event(&txn, now, cap.workspace_id(), Kind::GroupChanged, g.id, &g.name, json!({ "members_removed": [membership_id] })).await?;
    }
    txn.commit().await?;
    events.publish(db, cap.workspace_id(), &[Topic::Groups, Topic::Access]).await;
    Ok(())
}
