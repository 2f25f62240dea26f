//! Groups as every path sees them: Everyone (every active member, never renamed, never
//! linked), a group's insertion, and which groups an admin may change by hand.
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

use crate::server::entities::{group, group_member, saml_provider};
use crate::server::permissions::AdminCap;
use crate::server::DomainError;

pub const EVERYONE: &str = "Everyone";

pub(in crate::server) async fn everyone_group<C: ConnectionTrait>(db: &C, workspace_id: i64) -> Result<group::Model, DomainError> {
    group::Entity::find()
        .filter(group::Column::WorkspaceId.eq(workspace_id))
        .filter(group::Column::IsEveryone.eq(true))
        .one(db)
        .await?
        .ok_or_else(|| DomainError::Internal(format!("workspace {workspace_id} has no Everyone group")))
}

/// Number of members in a group (used by tests and pages).
pub async fn group_size<C: ConnectionTrait>(db: &C, group_id: i64) -> Result<u64, DomainError> {
    Ok(group_member::Entity::find().filter(group_member::Column::GroupId.eq(group_id)).count(db).await?)
}

/// A group admins may change here: in the workspace, not Everyone, not SCIM-linked, not
/// kept in sync at sign-in.
pub(in crate::server) async fn editable_group<C: ConnectionTrait>(db: &C, cap: &AdminCap, id: i64) -> Result<group::Model, DomainError> {
    let g = group::Entity::find_by_id(id).filter(group::Column::WorkspaceId.eq(cap.workspace_id())).one(db).await?.ok_or(DomainError::NotFound)?;
    if g.is_everyone {
        return Err(DomainError::Refused(format!("{EVERYONE} always holds every active member; it can't be changed.")));
    }
    if let Some(pid) = g.managed_by_provider_id {
        let name = saml_provider::Entity::find_by_id(pid).one(db).await?.map(|p| p.name).unwrap_or_else(|| "your identity provider".into());
        return Err(DomainError::Refused(format!("This group is managed by {name} through SCIM provisioning; change it there.")));
    }
    if let Some(pid) = g.sign_in_provider_id {
        let name = saml_provider::Entity::find_by_id(pid).one(db).await?.map(|p| p.name).unwrap_or_else(|| "your identity provider".into());
        return Err(DomainError::Refused(format!(
            "This group follows the IdP group “{}” at each sign-in with {name}; change its members at the IdP, or end the mapping on {name}'s page.",
            g.idp_group.clone().unwrap_or_default()
        )));
    }
    Ok(g)
}

/// Inserts a (non-Everyone) group; the caller maps a name clash to its own error.
pub(in crate::server) async fn insert_group<C: ConnectionTrait>(
    db: &C,
    now: i64,
    workspace_id: i64,
    name: &str,
    external_id: Option<String>,
    provider_id: Option<i64>,
) -> Result<group::Model, sea_orm::DbErr> {
    group::ActiveModel {
        workspace_id: Set(workspace_id),
        name: Set(name.to_string()),
        name_normalized: Set(name.to_lowercase()),
        is_everyone: Set(false),
        external_id: Set(external_id),
        managed_by_provider_id: Set(provider_id),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
    .insert(db)
    .await
}
