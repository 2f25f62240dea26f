//! Invites: a link for one email and role, valid for a week, of which only the hash is
//! stored.
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::json;

use super::accounts::account_by_email;
use super::memberships::membership_of;
use crate::server::audit;
use crate::server::crypto::Token;
use crate::server::entities::invite;
use crate::server::permissions::{AdminCap, Role, Status};
use crate::server::{normalize_email, DomainError};

pub const INVITE_LIFETIME_SECS: i64 = 7 * 86_400;

/// Creates an invite; the returned token goes into the link and is never stored.
pub async fn create_invite<C: ConnectionTrait>(db: &C, now: i64, cap: &AdminCap, email_raw: &str, role: Role) -> Result<Token, DomainError> {
    let email = normalize_email(email_raw)?;
    if let Some(acct) = account_by_email(db, cap.workspace_id(), &email).await? {
        if let Some(m) = membership_of(db, cap.workspace_id(), acct.id).await? {
            let why = if m.status == Status::Active { "is already a member" } else { "is a deactivated member: reactivate them instead" };
            return Err(DomainError::Refused(format!("{email} {why}.")));
        }
    }
    let token = Token::generate();
    invite::ActiveModel {
        workspace_id: Set(cap.workspace_id()),
        email: Set(email_raw.trim().to_string()),
        email_normalized: Set(email.clone()),
        role: Set(role),
        token_hash: Set(token.hash()),
        invited_by_account_id: Set(cap.actor().account_id),
        created_at: Set(now),
        expires_at: Set(now + INVITE_LIFETIME_SECS),
        accepted_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    audit::record(db, now, Some(cap.workspace_id()), cap.actor(), "member.invite", &email, json!({ "role": role })).await?;
    Ok(token)
}
