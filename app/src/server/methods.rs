//! Member Authorization: which sign-in methods a workspace allows. The server refuses
//! any change that would leave none enabled; `recover` is the operator's break-glass.
use std::collections::BTreeSet;

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::audit;
use super::config::RuntimeConfig;
use super::entities::{saml_provider, sign_in_method};
use super::permissions::AdminCap;
use super::DomainError;

pub const PASSWORD: &str = "password";
pub const OIDC_PROVIDERS: [&str; 3] = ["google", "slack", "office365"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodState {
    /// `password`, `google`, `slack`, `office365`, `saml:<provider id>` or
    /// `oidc:<connection id>`.
    pub key: String,
    pub label: String,
    pub enabled: bool,
    /// False when the server can't offer it (OIDC without credentials).
    pub available: bool,
    pub note: Option<String>,
}

pub fn label(key: &str) -> &'static str {
    crate::model::method_label(key)
}

/// Every method the workspace could have, in display order, with its current state.
pub async fn list<C: ConnectionTrait>(db: &C, workspace_id: i64, cfg: &RuntimeConfig) -> Result<Vec<MethodState>, DomainError> {
    let enabled = enabled_set(db, workspace_id).await?;
    let mut out = vec![MethodState { key: PASSWORD.into(), label: label(PASSWORD).into(), enabled: enabled.contains(PASSWORD), available: true, note: None }];
    for p in OIDC_PROVIDERS {
        let available = cfg.oidc_provider(p).is_some();
        out.push(MethodState {
            key: p.into(),
            label: label(p).into(),
            enabled: enabled.contains(p) && available,
            available,
            note: (!available).then(|| "Not configured on this server".to_string()),
        });
    }
    for sp in saml_provider::Entity::find().filter(saml_provider::Column::WorkspaceId.eq(workspace_id)).order_by_asc(saml_provider::Column::Id).all(db).await? {
        let key = sp.method_key();
        let note = if sp.is_oidc() { "OpenID Connect" } else { "SAML" };
        out.push(MethodState { enabled: enabled.contains(&key), key, label: sp.name, available: true, note: Some(note.into()) });
    }
    Ok(out)
}

pub async fn enabled_set<C: ConnectionTrait>(db: &C, workspace_id: i64) -> Result<BTreeSet<String>, DomainError> {
    Ok(sign_in_method::Entity::find()
        .filter(sign_in_method::Column::WorkspaceId.eq(workspace_id))
        .filter(sign_in_method::Column::Enabled.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.method)
        .collect())
}

/// Is `method` on for this workspace *and* offered by this server? (One read: it runs on
/// every sign-in.)
pub async fn is_enabled<C: ConnectionTrait>(db: &C, workspace_id: i64, method: &str, cfg: &RuntimeConfig) -> Result<bool, DomainError> {
    if method.starts_with("saml:") || method.starts_with("oidc:") {
        return Ok(list(db, workspace_id, cfg).await?.iter().any(|m| m.key == method && m.enabled && m.available));
    }
    let offered = method == PASSWORD || (OIDC_PROVIDERS.contains(&method) && cfg.oidc_provider(method).is_some());
    Ok(offered && sign_in_method::Entity::find_by_id((workspace_id, method.to_string())).one(db).await?.is_some_and(|m| m.enabled))
}

async fn validate_key<C: ConnectionTrait>(db: &C, workspace_id: i64, key: &str, cfg: &RuntimeConfig) -> Result<(), DomainError> {
    let states = list(db, workspace_id, cfg).await?;
    match states.iter().find(|m| m.key == key) {
        None => Err(DomainError::Invalid(format!(
            "Unknown sign-in method “{key}”: use password, google, slack, office365, saml:<provider id> or oidc:<connection id>."
        ))),
        Some(m) if !m.available => Err(DomainError::Refused(format!("{} is not configured on this server.", m.label))),
        Some(_) => Ok(()),
    }
}

async fn write<C: ConnectionTrait>(db: &C, now: i64, workspace_id: i64, key: &str, enabled: bool) -> Result<(), DomainError> {
    sign_in_method::Entity::insert(sign_in_method::ActiveModel {
        workspace_id: Set(workspace_id),
        method: Set(key.to_string()),
        enabled: Set(enabled),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([sign_in_method::Column::WorkspaceId, sign_in_method::Column::Method])
            .update_columns([sign_in_method::Column::Enabled, sign_in_method::Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub const LAST_METHOD_REFUSAL: &str = "At least one sign-in method must stay on, or nobody could sign in to this workspace.";

/// Applies enables then disables atomically; returns the resulting enabled set.
pub async fn change(
    db: &DatabaseConnection,
    now: i64,
    cap: &AdminCap,
    cfg: &RuntimeConfig,
    enable: &[String],
    disable: &[String],
) -> Result<BTreeSet<String>, DomainError> {
    let ws = cap.workspace_id();
    let txn = crate::server::db::write(db).await?;
    if let Some(key) = enable.iter().find(|k| disable.contains(k)) {
        return Err(DomainError::Invalid(format!("“{key}” can't be both enabled and disabled.")));
    }
    // Enabling needs a known method this server offers; disabling only a known one.
    for key in enable {
        validate_key(&txn, ws, key, cfg).await?;
    }
    let known = list(&txn, ws, cfg).await?;
    if let Some(key) = disable.iter().find(|k| !known.iter().any(|m| &&m.key == k)) {
        return Err(DomainError::Invalid(format!(
            "Unknown sign-in method “{key}”: use password, google, slack, office365, saml:<provider id> or oidc:<connection id>."
        )));
    }
    let before = enabled_set(&txn, ws).await?;
    for key in enable {
        write(&txn, now, ws, key, true).await?;
    }
    for key in disable {
        write(&txn, now, ws, key, false).await?;
    }
    let offered: BTreeSet<String> = list(&txn, ws, cfg).await?.into_iter().filter(|m| m.enabled && m.available).map(|m| m.key).collect();
    if offered.is_empty() {
        return Err(DomainError::Refused(LAST_METHOD_REFUSAL.into()));
    }
    let after = enabled_set(&txn, ws).await?;
    // A method switched off ends the sessions it started (but the acting admin's own, so
    // they can finish what they are doing): a policy that forbids a way in ends what it
    // forbids, on the next request in every process.
    let mut ended = 0;
    for key in before.difference(&after) {
        ended += super::sessions::end_by_method(&txn, now, ws, key, cap.session_id(), "sign_in_method_disabled").await?;
    }
    if after != before {
        audit::record(
            &txn,
            now,
            Some(ws),
            cap.actor(),
            "sign_in_methods.change",
            "workspace",
            json!({ "enabled": enable, "disabled": disable, "result": after, "sessions_ended": ended }),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(offered)
}

/// Break-glass: the operator re-enables a method whatever the workspace's state.
pub async fn recover(
    db: &DatabaseConnection,
    now: i64,
    op: &super::permissions::OperatorCap,
    workspace_id: i64,
    cfg: &RuntimeConfig,
    key: &str,
) -> Result<BTreeSet<String>, DomainError> {
    let actor = op.actor();
    let txn = crate::server::db::write(db).await?;
    validate_key(&txn, workspace_id, key, cfg).await?;
    let before = enabled_set(&txn, workspace_id).await?;
    write(&txn, now, workspace_id, key, true).await?;
    let after = enabled_set(&txn, workspace_id).await?;
    audit::record(&txn, now, Some(workspace_id), actor, "recover.enable_method", key, json!({ "before": before, "after": after })).await?;
    txn.commit().await?;
    Ok(after)
}
