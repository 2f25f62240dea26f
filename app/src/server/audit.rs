//! Every admin, operator and provisioning change lands here: who, what, when, from where.
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

use super::entities::audit_log;
use super::DomainError;

/// Who is acting. Built from a verified session, the CLI, or a SCIM token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub account_id: Option<i64>,
    /// Human-readable: an email, `operator (cli)`, `scim:<provider>`, `setup`.
    pub label: String,
    pub ip: Option<String>,
}

impl Actor {
    pub fn operator() -> Self {
        Actor { account_id: None, label: "operator (cli)".into(), ip: None }
    }
    pub fn anonymous(label: &str, ip: Option<String>) -> Self {
        Actor { account_id: None, label: label.into(), ip }
    }
}

pub async fn record<C: ConnectionTrait>(
    db: &C,
    now: i64,
    workspace_id: Option<i64>,
    actor: &Actor,
    action: &str,
    target: &str,
    details: serde_json::Value,
) -> Result<(), DomainError> {
    audit_log::ActiveModel {
        workspace_id: Set(workspace_id),
        actor_account_id: Set(actor.account_id),
        actor: Set(actor.label.clone()),
        action: Set(action.to_string()),
        target: Set(target.to_string()),
        details: Set(details.to_string()),
        source_ip: Set(actor.ip.clone()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}
