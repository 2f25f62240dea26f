//! The workspace admin's allowlist per provider: Google Workspace domains, Microsoft
//! tenants (each optionally with the domains it may assert), Slack teams.
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::json;

use crate::server::audit;
use crate::server::entities::oidc_rule;
use crate::server::{methods, DomainError};

/// The workspace's allowlist for a provider (empty: any).
pub async fn allowed<C: ConnectionTrait>(db: &C, workspace_id: i64, key: &str) -> Result<Vec<String>, DomainError> {
    Ok(oidc_rule::Entity::find_by_id((workspace_id, key.to_string()))
        .one(db)
        .await?
        .map(|r| r.allowed.split(',').map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default())
}

/// Admins set a provider's allowlist (comma- or space-separated).
pub async fn set_allowed(
    db: &DatabaseConnection,
    now: i64,
    cap: &crate::server::permissions::AdminCap,
    key: &str,
    raw: &str,
) -> Result<Vec<String>, DomainError> {
    if !methods::OIDC_PROVIDERS.contains(&key) {
        return Err(DomainError::Invalid("Allowlists exist for google, slack and office365.".into()));
    }
    let items: Vec<String> = raw.split([',', ' ', '\n']).map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect();
    for i in &items {
        let ok = match key {
            "google" => crate::server::domains::validate_domain(i).is_ok(),
            "office365" => {
                let (tenant, domains) = match i.split_once('=') {
                    Some((t, d)) => (t, Some(d)),
                    None => (i.as_str(), None),
                };
                tenant.len() == 36
                    && tenant.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
                    && domains.is_none_or(|d| !d.is_empty() && d.split('|').all(|d| crate::server::domains::validate_domain(d).is_ok_and(|v| v == d)))
            }
            _ => i.len() <= 32 && i.starts_with('t') && i.chars().all(|c| c.is_ascii_alphanumeric()),
        };
        if !ok {
            return Err(DomainError::Invalid(match key {
                "google" => format!("“{i}” is not a domain like example.com."),
                "office365" => format!("“{i}” is not a Microsoft tenant ID (a GUID), optionally followed by =domain|domain."),
                _ => format!("“{i}” is not a Slack team ID (like T0123ABCD)."),
            }));
        }
    }
    if items.len() > 50 {
        return Err(DomainError::Invalid("At most 50 entries.".into()));
    }
    let joined = items.join(",");
    let txn = crate::server::db::write(db).await?;
    // Narrowed (something allowed before isn't now, or any list where there was none): the
    // provider's sessions end, since which organization each came from isn't kept; members
    // sign in again under the new rule.
    let before = allowed(&txn, cap.workspace_id(), key).await?;
    let narrowed = !items.is_empty() && (before.is_empty() || before.iter().any(|b| !items.contains(b)));
    let ended =
        if narrowed { crate::server::sessions::end_by_method(&txn, now, cap.workspace_id(), key, cap.session_id(), "sign_in_rule_narrowed").await? } else { 0 };
    oidc_rule::Entity::delete_many()
        .filter(oidc_rule::Column::WorkspaceId.eq(cap.workspace_id()))
        .filter(oidc_rule::Column::Provider.eq(key))
        .exec(&txn)
        .await?;
    oidc_rule::ActiveModel { workspace_id: Set(cap.workspace_id()), provider: Set(key.to_string()), allowed: Set(joined.clone()), updated_at: Set(now) }
        .insert(&txn)
        .await?;
    audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "oidc.allowlist", key, json!({ "allowed": items, "sessions_ended": ended })).await?;
    txn.commit().await?;
    Ok(items)
}
