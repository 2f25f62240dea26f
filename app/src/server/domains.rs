//! Claimed email domains of a workspace, proven by DNS (issue 12): the admin adds a
//! domain, publishes a TXT record with its claim's random token, and a check moves it from
//! pending to verified (or failed after a grace period). Only verified domains count: SAML
//! providers create accounts and match members by email only in them, the login page
//! routes them to their provider, and Office365 allowlist trust applies only to them.
//! Several workspaces may verify the same domain; nobody blocks anybody by claiming first.
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::json;

use super::audit;
use super::entities::workspace_domain;
use super::permissions::AdminCap;
use super::DomainError;
use crate::server::entities::Record;

/// Lower-cases and checks a DNS name: labels of letters, digits and dashes, a dot, no
/// wildcard, at most 253 characters.
/// Public email services nobody can claim (a claimed domain is trusted for SAML JIT).
const PUBLIC_MAIL: [&str; 24] = [
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "mail.com",
    "yandex.com",
    "yandex.ru",
    "qq.com",
    "163.com",
    "zoho.com",
    "fastmail.com",
    "hey.com",
];

/// Accounts provisioned without an email get `<random>@` this (the `.invalid` TLD never
/// resolves and can't be claimed), so they can't sign in until an email arrives.
pub const NO_EMAIL_DOMAIN: &str = "no-email.invalid";

pub fn validate_domain(raw: &str) -> Result<String, DomainError> {
    let d = raw.trim().trim_end_matches('.').to_lowercase();
    let d = d.strip_prefix('@').unwrap_or(&d).to_string();
    let label_ok =
        |l: &str| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
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

/// The workspace's **verified** domains: the ones SAML JIT, email-first routing and
/// Office365 allowlist trust rely on. A pending or failed claim counts for nothing.
pub async fn list<C: ConnectionTrait>(db: &C, workspace_id: i64) -> Result<Vec<String>, DomainError> {
    Ok(workspace_domain::Entity::find()
        .filter(workspace_domain::Column::WorkspaceId.eq(workspace_id))
        .filter(workspace_domain::Column::Status.eq(VERIFIED))
        .order_by_asc(workspace_domain::Column::Domain)
        .all(db)
        .await?
        .into_iter()
        .map(|d| d.domain)
        .collect())
}

/// Every claim of the workspace, whatever its status (the settings page).
pub async fn claims<C: ConnectionTrait>(db: &C, workspace_id: i64) -> Result<Vec<crate::model::ClaimedDomain>, DomainError> {
    Ok(workspace_domain::Entity::find()
        .filter(workspace_domain::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(workspace_domain::Column::Domain)
        .all(db)
        .await?
        .into_iter()
        .map(Record::record)
        .collect())
}

/// Is `email`'s domain one this workspace has proven (verified)?
pub async fn claims_email<C: ConnectionTrait>(db: &C, workspace_id: i64, email_normalized: &str) -> Result<bool, DomainError> {
    let Some((_, domain)) = email_normalized.rsplit_once('@') else { return Ok(false) };
    Ok(workspace_domain::Entity::find()
        .filter(workspace_domain::Column::WorkspaceId.eq(workspace_id))
        .filter(workspace_domain::Column::Domain.eq(domain))
        .filter(workspace_domain::Column::Status.eq(VERIFIED))
        .one(db)
        .await?
        .is_some())
}

pub const PENDING: &str = "pending";
pub const VERIFIED: &str = "verified";
pub const FAILED: &str = "failed";
/// A claim not proven within this long after it was made fails (it can still be checked
/// again by hand).
pub const PENDING_GRACE_SECS: i64 = 7 * 86_400;
/// A verified domain whose record has been missing this long (since it was last seen) is
/// no longer verified.
pub const LOST_GRACE_SECS: i64 = 3 * 86_400;

/// Claims one workspace may hold, whatever their status: every claim is looked up in DNS
/// by the periodic re-check, so one workspace's list must not grow without bound into
/// everyone's re-check time.
pub const MAX_CLAIMS_PER_WORKSPACE: usize = 50;

/// Claims the periodic re-check takes per pass, least recently checked first.
pub const RECHECK_BATCH: u64 = 500;

/// Lookups the periodic re-check runs at once: a claim whose DNS never answers holds one
/// slot for its timeout, not the whole pass.
pub const RECHECK_CONCURRENCY: usize = 8;

/// Where the challenge is published: a TXT record at this name...
pub fn record_name(domain: &str) -> String {
    format!("_gatehouse-challenge.{domain}")
}

/// ...with this value.
pub fn record_value(token: &str) -> String {
    format!("gatehouse-verification={token}")
}

/// Adds and removes claims in one transaction; returns the resulting list (all
/// statuses). A new claim is pending with a fresh challenge token until DNS proves it.
/// Several workspaces may claim the same domain: a claim blocks nobody.
pub async fn change(db: &DatabaseConnection, now: i64, cap: &AdminCap, add: &[String], remove: &[String]) -> Result<Vec<String>, DomainError> {
    let add = add.iter().map(|d| validate_domain(d)).collect::<Result<Vec<_>, _>>()?;
    let remove = remove.iter().map(|d| validate_domain(d)).collect::<Result<Vec<_>, _>>()?;
    let ws = cap.workspace_id();
    let txn = crate::server::db::write(db).await?;
    crate::server::db::lock_workspace(&txn, ws).await?;
    for d in &add {
        let exists = workspace_domain::Entity::find()
            .filter(workspace_domain::Column::WorkspaceId.eq(ws))
            .filter(workspace_domain::Column::Domain.eq(d.as_str()))
            .one(&txn)
            .await?
            .is_some();
        if !exists {
            workspace_domain::ActiveModel {
                workspace_id: Set(ws),
                domain: Set(d.clone()),
                created_at: Set(now),
                status: Set(PENDING.into()),
                token: Set(super::crypto::random_hex(16)),
                checked_at: Set(None),
                verified_at: Set(None),
                last_seen_at: Set(None),
                last_error: Set(String::new()),
                trusted: Set(false),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
    }
    for d in &remove {
        workspace_domain::Entity::delete_many()
            .filter(workspace_domain::Column::WorkspaceId.eq(ws))
            .filter(workspace_domain::Column::Domain.eq(d.as_str()))
            .exec(&txn)
            .await?;
    }
    let after: Vec<String> = claims(&txn, ws).await?.into_iter().map(|c| c.domain).collect();
    if after.len() > MAX_CLAIMS_PER_WORKSPACE && !add.is_empty() {
        txn.rollback().await?;
        return Err(DomainError::Invalid(format!("A workspace can claim at most {MAX_CLAIMS_PER_WORKSPACE} domains. Remove claims you no longer need first.")));
    }
    if !add.is_empty() || !remove.is_empty() {
        audit::record(&txn, now, Some(ws), cap.actor(), "domains.change", "workspace", json!({ "added": add, "removed": remove, "result": after })).await?;
    }
    txn.commit().await?;
    Ok(after)
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The TXT record holds this claim's value.
    Match,
    /// No TXT record at the name (NXDOMAIN or no TXT data).
    Missing,
    /// TXT records, none with this claim's value.
    Other,
    /// The resolver could not answer (timeout, unreachable, SERVFAIL): nothing is decided.
    Error(String),
}

/// Looks up one claim's record through `dns` and records the outcome: verified when it
/// matches; a pending claim fails after `PENDING_GRACE_SECS`, a verified one after its
/// record has been gone for `LOST_GRACE_SECS`. A resolver error changes no status. An
/// operator-trusted claim isn't looked up. Returns the claim as it is now.
pub(in crate::server) async fn check(
    db: &DatabaseConnection,
    dns: &super::dns::Dns,
    now: i64,
    claim: workspace_domain::Model,
) -> Result<workspace_domain::Model, DomainError> {
    if claim.trusted {
        return Ok(claim);
    }
    let found = match dns.txt(&record_name(&claim.domain)).await {
        Ok(values) if values.iter().any(|v| v.trim() == record_value(&claim.token)) => Found::Match,
        Ok(values) if values.is_empty() => Found::Missing,
        Ok(_) => Found::Other,
        Err(e) => Found::Error(e),
    };
    let (status, error) = match &found {
        Found::Match => (VERIFIED, String::new()),
        Found::Error(e) => (claim.status.as_str(), format!("The DNS lookup failed: {e}. Nothing changed; it is tried again later.")),
        Found::Missing | Found::Other => {
            let what = if found == Found::Missing {
                format!("No TXT record at {}.", record_name(&claim.domain))
            } else {
                format!("The TXT records at {} don't include {}.", record_name(&claim.domain), record_value(&claim.token))
            };
            let status = match claim.status.as_str() {
                VERIFIED if now - claim.last_seen_at.unwrap_or(now) >= LOST_GRACE_SECS => FAILED,
                VERIFIED => VERIFIED,
                _ if now - claim.created_at >= PENDING_GRACE_SECS => FAILED,
                other if other == FAILED => FAILED,
                _ => PENDING,
            };
            (status, what)
        }
    };
    let status = status.to_string();
    let was = claim.status.clone();
    let txn = crate::server::db::write(db).await?;
    let mut m: workspace_domain::ActiveModel = claim.clone().into();
    m.checked_at = Set(Some(now));
    m.last_error = Set(error.clone());
    if found == Found::Match {
        m.last_seen_at = Set(Some(now));
        if claim.status != VERIFIED {
            m.verified_at = Set(Some(now));
        }
    }
    m.status = Set(status.clone());
    let after = m.update(&txn).await?;
    if was != status {
        let actor = audit::Actor { account_id: None, label: "dns-check".into(), ip: None };
        audit::record(&txn, now, Some(claim.workspace_id), &actor, "domains.status", &claim.domain, json!({ "from": was, "to": status, "why": error })).await?;
    }
    txn.commit().await?;
    Ok(after)
}

/// Checks `domain` of workspace `workspace_id` now (the admin's "Check now", the CLI).
pub async fn verify_now(
    db: &DatabaseConnection,
    dns: &super::dns::Dns,
    now: i64,
    workspace_id: i64,
    domain: &str,
) -> Result<crate::model::ClaimedDomain, DomainError> {
    let domain = validate_domain(domain)?;
    let claim = workspace_domain::Entity::find()
        .filter(workspace_domain::Column::WorkspaceId.eq(workspace_id))
        .filter(workspace_domain::Column::Domain.eq(domain.as_str()))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound)?;
    Ok(check(db, dns, now, claim).await?.record())
}

/// Operator override for networks without DNS: the claim counts as verified and is no
/// longer looked up. Audited.
pub async fn trust(db: &DatabaseConnection, now: i64, op: &super::permissions::OperatorCap, workspace_id: i64, domain: &str) -> Result<(), DomainError> {
    let actor = op.actor();
    let domain = validate_domain(domain)?;
    let txn = crate::server::db::write(db).await?;
    let claim = workspace_domain::Entity::find()
        .filter(workspace_domain::Column::WorkspaceId.eq(workspace_id))
        .filter(workspace_domain::Column::Domain.eq(domain.as_str()))
        .one(&txn)
        .await?;
    let mut m: workspace_domain::ActiveModel = match claim {
        Some(c) => c.into(),
        None => workspace_domain::ActiveModel {
            workspace_id: Set(workspace_id),
            domain: Set(domain.clone()),
            created_at: Set(now),
            token: Set(super::crypto::random_hex(16)),
            checked_at: Set(None),
            last_seen_at: Set(None),
            last_error: Set(String::new()),
            ..Default::default()
        },
    };
    m.status = Set(VERIFIED.into());
    m.trusted = Set(true);
    m.verified_at = Set(Some(now));
    m.save(&txn).await?;
    audit::record(&txn, now, Some(workspace_id), actor, "domains.trust", &domain, json!({})).await?;
    txn.commit().await?;
    Ok(())
}

/// Re-checks claims not trusted by the operator whose last check is older than
/// `every_secs` (pending ones too, so they fail after their grace): at most
/// [`RECHECK_BATCH`] per pass, never-checked and least recently checked first, so no
/// workspace's claims wait behind another's; [`RECHECK_CONCURRENCY`] lookups at a time; a
/// claim whose check fails is logged and the pass goes on. Returns how many were checked.
/// Several processes may run it: a check is idempotent.
pub async fn recheck_due(db: &DatabaseConnection, dns: &super::dns::Dns, now: i64, every_secs: i64) -> Result<usize, DomainError> {
    use sea_orm::sea_query::{NullOrdering, Order};
    use sea_orm::Condition;
    let due = workspace_domain::Entity::find()
        .filter(workspace_domain::Column::Trusted.eq(false))
        .filter(Condition::any().add(workspace_domain::Column::CheckedAt.is_null()).add(workspace_domain::Column::CheckedAt.lte(now - every_secs)))
        .order_by_with_nulls(workspace_domain::Column::CheckedAt, Order::Asc, NullOrdering::First)
        .order_by_asc(workspace_domain::Column::Id)
        .limit(RECHECK_BATCH)
        .all(db)
        .await?;
    let mut checked = 0;
    let mut running = tokio::task::JoinSet::new();
    let mut queue = due.into_iter();
    loop {
        while running.len() < RECHECK_CONCURRENCY {
            let Some(claim) = queue.next() else { break };
            let (db, dns) = (db.clone(), dns.clone());
            running.spawn(async move {
                let (id, domain) = (claim.id, claim.domain.clone());
                (id, domain, check(&db, &dns, now, claim).await)
            });
        }
        let Some(done) = running.join_next().await else { break };
        match done {
            Ok((_, _, Ok(_))) => checked += 1,
            Ok((id, domain, Err(e))) => tracing::warn!(claim = id, %domain, error = %e, "domain re-check failed; the pass goes on"),
            Err(e) => tracing::error!(error = %e, "domain re-check task ended abnormally"),
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn domain_names() {
        assert_eq!(validate_domain(" Acme.COM. ").ok().as_deref(), Some("acme.com"));
        assert_eq!(validate_domain("@mail.acme.io").ok().as_deref(), Some("mail.acme.io"));
        for bad in ["", "gmail.com", "Outlook.com.", "acme", "*.acme.com", "acme..com", "-acme.com", "acme-.com", "a b.com", "acme.com/x", "1.2.3.4", "ünï.com"]
        {
            assert!(validate_domain(bad).is_err(), "{bad} accepted");
        }
    }
}
