//! Claimed email domains of a workspace: SAML providers create accounts on first sign-in
//! only for emails in these domains, and the login page routes them to their provider.
//! A domain belongs to one workspace at most.
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;

use super::audit;
use super::entities::workspace_domain;
use super::permissions::AdminCap;
use super::DomainError;

/// Lower-cases and checks a DNS name: labels of letters, digits and dashes, a dot, no
/// wildcard, at most 253 characters.
/// Public email services nobody can claim (a claimed domain is trusted for SAML JIT).
const PUBLIC_MAIL: [&str; 24] = [
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com", "ymail.com",
    "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "gmx.de", "mail.com",
    "yandex.com", "yandex.ru", "qq.com", "163.com", "zoho.com", "fastmail.com", "hey.com",
];

/// Accounts provisioned without an email get `<random>@` this (the `.invalid` TLD never
/// resolves and can't be claimed), so they can't sign in until an email arrives.
pub const NO_EMAIL_DOMAIN: &str = "no-email.invalid";

pub fn validate_domain(raw: &str) -> Result<String, DomainError> {
    let d = raw.trim().trim_end_matches('.').to_lowercase();
    let d = d.strip_prefix('@').unwrap_or(&d).to_string();
    let label_ok = |l: &str| {
        !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if d == NO_EMAIL_DOMAIN || d.ends_with(".invalid") || d == "invalid" {
        return Err(DomainError::Invalid(format!("{d} is reserved (RFC 2606): it can't receive mail.")));
    }
    if PUBLIC_MAIL.contains(&d.as_str()) {
        return Err(DomainError::Invalid(format!(
            "{d} is a public email service: claiming it would let your SAML providers create accounts for anyone who uses it."
        )));
    }
    if d.len() <= 253 && d.contains('.') && d.split('.').all(label_ok) && d.rsplit('.').next().is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit())) {
        Ok(d)
    } else {
        Err(DomainError::Invalid(format!("“{}” is not a domain name like example.com.", raw.trim())))
    }
}

pub async fn list<C: ConnectionTrait>(db: &C, workspace_id: i64) -> Result<Vec<String>, DomainError> {
    Ok(workspace_domain::Entity::find()
        .filter(workspace_domain::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(workspace_domain::Column::Domain)
        .all(db)
        .await?
        .into_iter()
        .map(|d| d.domain)
        .collect())
}

/// Is `email`'s domain claimed by this workspace?
pub async fn claims_email<C: ConnectionTrait>(db: &C, workspace_id: i64, email_normalized: &str) -> Result<bool, DomainError> {
    let Some((_, domain)) = email_normalized.rsplit_once('@') else { return Ok(false) };
    Ok(workspace_domain::Entity::find()
        .filter(workspace_domain::Column::WorkspaceId.eq(workspace_id))
        .filter(workspace_domain::Column::Domain.eq(domain))
        .one(db)
        .await?
        .is_some())
}

/// Adds and removes claimed domains in one transaction; returns the resulting list.
pub async fn change(db: &DatabaseConnection, now: i64, cap: &AdminCap, add: &[String], remove: &[String]) -> Result<Vec<String>, DomainError> {
    let add = add.iter().map(|d| validate_domain(d)).collect::<Result<Vec<_>, _>>()?;
    let remove = remove.iter().map(|d| validate_domain(d)).collect::<Result<Vec<_>, _>>()?;
    let ws = cap.workspace_id();
    let txn = crate::server::db::write(db).await?;
    for d in &add {
        match workspace_domain::Entity::find().filter(workspace_domain::Column::Domain.eq(d.as_str())).one(&txn).await? {
            Some(existing) if existing.workspace_id == ws => {}
            Some(_) => return Err(DomainError::Refused(format!("{d} is already claimed by another workspace."))),
            None => {
                workspace_domain::ActiveModel { workspace_id: Set(ws), domain: Set(d.clone()), created_at: Set(now), ..Default::default() }
                    .insert(&txn)
                    .await?;
            }
        }
    }
    for d in &remove {
        workspace_domain::Entity::delete_many()
            .filter(workspace_domain::Column::WorkspaceId.eq(ws))
            .filter(workspace_domain::Column::Domain.eq(d.as_str()))
            .exec(&txn)
            .await?;
    }
    let after = list(&txn, ws).await?;
    if !add.is_empty() || !remove.is_empty() {
        audit::record(&txn, now, Some(ws), cap.actor(), "domains.change", "workspace", json!({ "added": add, "removed": remove, "result": after })).await?;
    }
    txn.commit().await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn domain_names() {
        assert_eq!(validate_domain(" Acme.COM. ").ok().as_deref(), Some("acme.com"));
        assert_eq!(validate_domain("@mail.acme.io").ok().as_deref(), Some("mail.acme.io"));
        for bad in ["", "gmail.com", "Outlook.com.", "acme", "*.acme.com", "acme..com", "-acme.com", "acme-.com", "a b.com", "acme.com/x", "1.2.3.4", "ünï.com"] {
            assert!(validate_domain(bad).is_err(), "{bad} accepted");
        }
    }
}
