//! Accounts: one person in one workspace, found by normalised email (the key SAML, OIDC,
//! SCIM and invites all link by), and the external identities linked to them.
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::server::entities::{account, membership};
use crate::server::DomainError;

/// The account with this email in workspace `workspace_id`. Accounts belong to one
/// workspace (docs/design.md, "Identity belongs to a workspace"): nothing here ever finds
/// the same person's account in another workspace.
pub(in crate::server) async fn account_by_email<C: ConnectionTrait>(
    db: &C,
    workspace_id: i64,
    email_normalized: &str,
) -> Result<Option<account::Model>, DomainError> {
    Ok(account::Entity::find()
        .filter(account::Column::WorkspaceId.eq(workspace_id))
        .filter(account::Column::EmailNormalized.eq(email_normalized))
        .one(db)
        .await?)
}

pub(in crate::server) async fn find_or_create_account<C: ConnectionTrait>(
    db: &C,
    now: i64,
    workspace_id: i64,
    email_raw: &str,
    email_normalized: &str,
    full_name: &str,
) -> Result<account::Model, DomainError> {
    if let Some(a) = account_by_email(db, workspace_id, email_normalized).await? {
        return Ok(a);
    }
    Ok(account::ActiveModel {
        workspace_id: Set(workspace_id),
        email: Set(email_raw.trim().to_string()),
        email_normalized: Set(email_normalized.to_string()),
        full_name: Set(full_name.to_string()),
        given_name: Set(String::new()),
        family_name: Set(String::new()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Removes every external identity linked to `account_id` (its email changed: a link made
/// for the old address must not sign in the new one). Returns how many went.
pub async fn drop_identity_links<C: ConnectionTrait>(db: &C, account_id: i64) -> Result<u64, DomainError> {
    use crate::server::entities::external_identity;
    Ok(external_identity::Entity::delete_many().filter(external_identity::Column::AccountId.eq(account_id)).exec(db).await?.rows_affected)
}

pub(in crate::server) async fn with_accounts<C: ConnectionTrait>(
    db: &C,
    ms: Vec<membership::Model>,
) -> Result<Vec<(membership::Model, account::Model)>, DomainError> {
    let ids: Vec<i64> = ms.iter().map(|m| m.account_id).collect();
    let accts = account::Entity::find().filter(account::Column::Id.is_in(ids)).all(db).await?;
    let by_id: std::collections::HashMap<i64, account::Model> = accts.into_iter().map(|a| (a.id, a)).collect();
    Ok(ms.into_iter().filter_map(|m| by_id.get(&m.account_id).cloned().map(|a| (m, a))).collect())
}
