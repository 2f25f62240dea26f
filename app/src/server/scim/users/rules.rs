//! What a User write may do (unique userName, the last active admin stays) and how it
//! changes the member.

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{json, Value};

use super::input::Input;
use super::row::Row;
use crate::server::audit;
use crate::server::directory;
use crate::server::entities::{account, external_identity, membership};
use crate::server::permissions::{Role, Status};
use crate::server::scim::eval::get_ci;
use crate::server::scim::schema::URN_GATEHOUSE_USER;
use crate::server::scim::{clip, Client, ScimError};
use crate::server::webhooks;

/// Is `user_name` taken by another member this token sees?
pub(super) async fn user_name_taken<C: ConnectionTrait>(db: &C, client: &Client, user_name: &str, except: Option<i64>) -> Result<bool, ScimError> {
    let n = user_name.trim().to_lowercase();
    let mut linked = membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(client.workspace_id))
        .filter(membership::Column::ManagedByProviderId.eq(client.provider_id))
        .filter(membership::Column::ScimUserNameNormalized.eq(n.clone()));
    if let Some(id) = except {
        linked = linked.filter(membership::Column::Id.ne(id));
    }
    if linked.count(db).await? > 0 {
        return Ok(true);
    }
    // An unlinked member's userName is its email.
    let Some(acct) = directory::account_by_email(db, client.workspace_id, &n).await? else { return Ok(false) };
    let m = directory::membership_of(db, client.workspace_id, acct.id).await?;
    Ok(m.is_some_and(|m| m.managed_by_provider_id.is_none() && Some(m.id) != except))
}

/// Did this provider's stored document say anything about roles? Once it has, a document
/// without roles means the role was lost (member); a provider that never sends roles
/// leaves roles to the workspace's admins.
pub(super) fn sent_roles(m: &membership::Model) -> bool {
    m.scim_data
        .as_deref()
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .is_some_and(|d| d.get("roles").is_some() || d.get(URN_GATEHOUSE_USER).and_then(|e| get_ci(e, "role")).is_some())
}

/// The workspace's last active admin is not the SCIM client's to deactivate, demote or
/// delete, unless the IdP already decides whether they can sign in: they sign in through
/// this provider (an identity link of it). Otherwise a provider — whose own admin need not
/// be the workspace's — could lock the workspace's owners out. Takes the admin-change lock
/// first, so two concurrent requests can't each remove "the other" admin.
pub(super) async fn keep_last_admin<C: ConnectionTrait>(db: &C, client: &Client, row: &Row, change: &str) -> Result<(), ScimError> {
    if row.m.role != Role::Admin || row.m.status != Status::Active {
        return Ok(());
    }
    directory::lock_for_admin_change(db, client.workspace_id).await?;
    if directory::active_admin_count(db, client.workspace_id).await? > 1 {
        return Ok(());
    }
    let signs_in_here = external_identity::Entity::find()
        .filter(external_identity::Column::WorkspaceId.eq(client.workspace_id))
        .filter(external_identity::Column::AccountId.eq(row.a.id))
        .filter(external_identity::Column::ProviderKind.eq("saml"))
        .filter(external_identity::Column::ProviderKey.eq(client.provider_public_id.clone()))
        .one(db)
        .await?
        .is_some();
    if signs_in_here {
        return Ok(());
    }
    Err(ScimError::forbidden(format!(
        "{} is the workspace's last active admin and does not sign in through {}, so {change} is refused; make another member an admin in Gatehouse first",
        row.a.email, client.provider_name
    )))
}

/// Applies a document to a membership (linking it to this provider) in `txn`.
pub(super) async fn apply<C: ConnectionTrait>(txn: &C, now: i64, client: &Client, row: Row, input: &Input) -> Result<Row, ScimError> {
    let role = input.role.or_else(|| sent_roles(&row.m).then_some(Role::Member));
    if !input.active {
        keep_last_admin(txn, client, &row, "deactivating them").await?;
    } else if role.is_some_and(|r| r != Role::Admin) {
        keep_last_admin(txn, client, &row, "demoting them").await?;
    }
    let Row { m, a } = row;
    // The account belongs to this workspace only (docs/design.md), so its email and names
    // are this workspace's to change; no other workspace sees them.
    let mut a = a;
    if let Some((email, normalized)) = input.email.as_ref().filter(|(_, n)| *n != a.email_normalized) {
        if directory::account_by_email(txn, client.workspace_id, normalized).await?.is_some() {
            return Err(ScimError::uniqueness(format!("a member with the email {email} already exists in this workspace")));
        }
        let mut am: account::ActiveModel = a.clone().into();
        am.email = Set(email.clone());
        am.email_normalized = Set(normalized.clone());
        am.updated_at = Set(now);
        a = am.update(txn).await?;
        // Links were made for the old address: a sign-in must match the new one afresh.
        let dropped = directory::drop_identity_links(txn, a.id).await?;
        audit::record(txn, now, Some(client.workspace_id), &client.actor(), "scim.user.email", &a.email_normalized, json!({ "links_dropped": dropped }))
            .await?;
    }
    let names_changed = (a.given_name.as_str(), a.family_name.as_str(), a.full_name.as_str())
        != (input.given_name.as_str(), input.family_name.as_str(), input.full_name.as_str());
    if names_changed {
        let mut am: account::ActiveModel = a.clone().into();
        am.given_name = Set(input.given_name.clone());
        am.family_name = Set(input.family_name.clone());
        am.full_name = Set(input.full_name.clone());
        am.updated_at = Set(now);
        a = am.update(txn).await?;
    }

    // Status first (it maintains Everyone and ends sessions), then the SCIM columns.
    let was_active = m.status == Status::Active;
    let mut m = m;
    if was_active && !input.active {
        let revoked = directory::deactivate_in(txn, now, &m).await?;
        audit::record(
            txn,
            now,
            Some(client.workspace_id),
            &client.actor(),
            "scim.user.deactivate",
            &a.email_normalized,
            json!({ "sessions_revoked": revoked }),
        )
        .await?;
        m = membership::Entity::find_by_id(m.id).one(txn).await?.ok_or_else(ScimError::internal)?;
    } else if !was_active && input.active {
        directory::reactivate_in(txn, now, &m).await?;
        audit::record(txn, now, Some(client.workspace_id), &client.actor(), "scim.user.reactivate", &a.email_normalized, json!({})).await?;
        m = membership::Entity::find_by_id(m.id).one(txn).await?.ok_or_else(ScimError::internal)?;
    }
    let linking = m.managed_by_provider_id != Some(client.provider_id);
    let mut am: membership::ActiveModel = m.clone().into();
    let mut role_from = None;
    if let Some(role) = role {
        if role != m.role {
            audit::record(txn, now, Some(client.workspace_id), &client.actor(), "scim.user.role", &a.email_normalized, json!({ "role": role })).await?;
            am.role = Set(role);
            role_from = Some(m.role);
        }
    }
    am.managed_by_provider_id = Set(Some(client.provider_id));
    am.external_id = Set(input.external_id.clone());
    am.scim_user_name = Set(Some(input.user_name.clone()));
    am.scim_user_name_normalized = Set(Some(input.user_name.trim().to_lowercase()));
    am.scim_data = Set(Some(Value::Object(input.rest.clone()).to_string()));
    am.updated_at = Set(now);
    let m = am.update(txn).await.map_err(|e| {
        if crate::server::db::is_unique_violation(&e) {
            ScimError::uniqueness(format!("userName “{}” is already taken", clip(&input.user_name, 80)))
        } else {
            e.into()
        }
    })?;
    if linking {
        audit::record(txn, now, Some(client.workspace_id), &client.actor(), "scim.user.link", &a.email_normalized, json!({ "membership": m.id })).await?;
    }
    if let Some(from) = role_from {
        webhooks::member_event(txn, now, webhooks::Kind::MemberRoleChanged, &m, json!({ "from": from.as_str() })).await?;
    }
    Ok(Row { m, a })
}
