//! Memberships: an account's place in its workspace (role, status, password), joined and
//! left here whichever path asks (UI, invite, SAML or OIDC sign-in, SCIM, the CLI), with the
//! Everyone group kept equal to the active members and the last-admin rule's lock.
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

use super::groups::everyone_group;
use crate::server::entities::{group_member, membership};
use crate::server::permissions::{Role, Status};
use crate::server::{sessions, webhooks, DomainError};

pub fn validate_role(role: &str) -> Result<Role, DomainError> {
    Role::parse(role).ok_or_else(|| DomainError::Invalid("Role must be admin or member.".into()))
}

/// Adds an active membership (with this workspace's password, if any) and puts it in
/// Everyone.
pub(in crate::server) async fn add_membership<C: ConnectionTrait>(
    db: &C,
    now: i64,
    workspace_id: i64,
    account_id: i64,
    role: Role,
    password_hash: Option<String>,
) -> Result<membership::Model, DomainError> {
    let m = membership::ActiveModel {
        workspace_id: Set(workspace_id),
        account_id: Set(account_id),
        role: Set(role),
        status: Set(Status::Active),
        password_hash: Set(password_hash),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let everyone = everyone_group(db, workspace_id).await?;
    group_member::ActiveModel { group_id: Set(everyone.id), membership_id: Set(m.id), created_at: Set(now) }.insert(db).await?;
    webhooks::member_event(db, now, webhooks::Kind::MemberJoined, &m, serde_json::json!({})).await?;
    Ok(m)
}

pub(in crate::server) async fn membership_of<C: ConnectionTrait>(db: &C, workspace_id: i64, account_id: i64) -> Result<Option<membership::Model>, DomainError> {
    Ok(membership::Entity::find().filter(membership::Column::WorkspaceId.eq(workspace_id)).filter(membership::Column::AccountId.eq(account_id)).one(db).await?)
}

/// The shared part of deactivation (UI and SCIM): status, groups, sessions.
pub(in crate::server) async fn deactivate_in<C: ConnectionTrait>(db: &C, now: i64, m: &membership::Model) -> Result<u64, DomainError> {
    let mut am: membership::ActiveModel = m.clone().into();
    am.status = Set(Status::Deactivated);
    am.updated_at = Set(now);
    let m = am.update(db).await?;
    group_member::Entity::delete_many().filter(group_member::Column::MembershipId.eq(m.id)).exec(db).await?;
    let ended = sessions::revoke_all(db, m.account_id, m.workspace_id).await?;
    webhooks::member_event(db, now, webhooks::Kind::MemberDeactivated, &m, serde_json::json!({ "sessions_revoked": ended })).await?;
    webhooks::sessions_event(db, now, m.workspace_id, Some(m.account_id), ended, "deactivated").await?;
    Ok(ended)
}

pub(in crate::server) async fn reactivate_in<C: ConnectionTrait>(db: &C, now: i64, m: &membership::Model) -> Result<(), DomainError> {
    let mut am: membership::ActiveModel = m.clone().into();
    am.status = Set(Status::Active);
    am.updated_at = Set(now);
    let m = am.update(db).await?;
    let everyone = everyone_group(db, m.workspace_id).await?;
    group_member::ActiveModel { group_id: Set(everyone.id), membership_id: Set(m.id), created_at: Set(now) }.insert(db).await?;
    webhooks::member_event(db, now, webhooks::Kind::MemberReactivated, &m, serde_json::json!({})).await?;
    Ok(())
}

/// Serialises the changes that could leave a workspace without an active admin: of two
/// concurrent demotions that each still see "another admin", the second counts after the
/// first has committed ([`crate::server::db::lock_workspace`]). Take it before reading
/// [`active_admin_count`], in a write transaction.
pub async fn lock_for_admin_change<C: ConnectionTrait>(db: &C, workspace_id: i64) -> Result<(), DomainError> {
    Ok(crate::server::db::lock_workspace(db, workspace_id).await?)
}

/// Active admins of a workspace (for the last-admin rules).
pub async fn active_admin_count<C: ConnectionTrait>(db: &C, workspace_id: i64) -> Result<u64, DomainError> {
    Ok(membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(workspace_id))
        .filter(membership::Column::Role.eq(Role::Admin))
        .filter(membership::Column::Status.eq(Status::Active))
        .count(db)
        .await?)
}
