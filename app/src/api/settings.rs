//! Member Authorization settings (admins only).
use leptos::prelude::*;

use crate::error::AppError;
use crate::model::AuthenticationSettings;

/// Admins of `slug`: the sign-in methods and session lifetime.
#[server]
pub async fn auth_settings(slug: String) -> Result<AuthenticationSettings, AppError> {
    use super::ctx::*;
    use crate::server::{domains, methods, workspaces};
    let (st, cap) = admin(&slug).await?;
    let ms = methods::list(&st.db, cap.workspace_id(), &st.config).await.map_err(fail)?;
    let domains = domains::claims(&st.db, cap.workspace_id())
        .await
        .map_err(fail)?
        .into_iter()
        .map(|c| crate::model::DomainClaim {
            record_name: domains::record_name(&c.domain),
            record_value: domains::record_value(&c.token),
            checked: c.checked_at.map(crate::server::clock::display_time),
            domain: c.domain,
            status: c.status,
            last_error: c.last_error,
            trusted: c.trusted,
        })
        .collect();
    let ws = workspaces::by_slug(&st.db, &slug).await.map_err(fail)?;
    let mut allowlists = Vec::new();
    for p in &st.config.oidc {
        let what = match p.key.as_str() {
            "google" => "Allowed Google Workspace domains (hd)",
            "office365" => "Allowed Microsoft tenant IDs (TENANT, or TENANT=domain|domain for the verified domains it may assert; with several tenants, give each its domains)",
            _ => "Allowed Slack team IDs",
        };
        let list = crate::server::oidc::allowed(&st.db, cap.workspace_id(), &p.key).await.map_err(fail)?;
        allowlists.push((p.key.clone(), what.to_string(), list.join(", ")));
    }
    let provisioning = crate::server::saml::list(&st.db, cap.workspace_id())
        .await
        .map_err(fail)?
        .into_iter()
        .filter(|p| p.provisioning_enabled())
        .map(|p| p.name().to_string())
        .collect();
    Ok(AuthenticationSettings {
        provisioning,
        allowlists,
        methods: ms
            .into_iter()
            .map(|m| crate::model::MethodSetting { key: m.key, label: m.label, enabled: m.enabled, available: m.available, note: m.note })
            .collect(),
        session_lifetime_days: ws.session_lifetime_secs / 86_400,
        session_idle_minutes: ws.session_idle_secs / 60,
        session_idle_choices: crate::server::workspaces::SESSION_IDLE_CHOICES_MINUTES.to_vec(),
        domains,
    })
}

/// Admins of `slug`: switches one method on (`enabled` = "true") or off. The server
/// refuses to turn off the last enabled method. Returns a confirmation sentence.
#[server]
pub async fn set_method(slug: String, method: String, enabled: String) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::methods;
    let (st, cap) = admin(&slug).await?;
    let on = enabled == "true";
    let (enable, disable) = if on { (vec![method.clone()], vec![]) } else { (vec![], vec![method.clone()]) };
    methods::change(&st.db, st.now(), &cap, &st.config, &enable, &disable).await.map_err(fail)?;
    let label =
        methods::list(&st.db, cap.workspace_id(), &st.config).await.map_err(fail)?.into_iter().find(|m| m.key == method).map(|m| m.label).unwrap_or(method);
    let msg = if on { format!("{label} turned on.") } else { format!("{label} turned off. Sessions it started have ended (yours stays until you sign out).") };
    redirect_no_js(&format!("/w/{}/settings/authentication?method_saved={}", urlencode(&slug), if on { "method_on" } else { "method_off" }));
    Ok(msg)
}

/// Admins of `slug`: sets the session lifetime in days (1–365).
#[server]
pub async fn set_session_lifetime(slug: String, days: String) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::{workspaces, DomainError};
    let (st, cap) = admin(&slug).await?;
    let days: i64 = days.trim().parse().map_err(|_| fail(DomainError::Invalid("Session lifetime must be a whole number of days.".into())))?;
    workspaces::set_session_lifetime(&st.db, st.now(), &cap, days).await.map_err(fail)?;
    let msg = format!("Sessions now last {days} day{}.", if days == 1 { "" } else { "s" });
    redirect_no_js(&format!("/w/{}/settings/authentication?lifetime_saved=lifetime_saved", urlencode(&slug)));
    Ok(msg)
}

/// Admins of `slug`: sets the idle timeout in minutes (0: off).
#[server]
pub async fn set_session_idle(slug: String, minutes: String) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::{workspaces, DomainError};
    let (st, cap) = admin(&slug).await?;
    let minutes: i64 = minutes.trim().parse().map_err(|_| fail(DomainError::Invalid("Choose the idle timeout from the list.".into())))?;
    workspaces::set_session_idle(&st.db, st.now(), &cap, minutes).await.map_err(fail)?;
    let msg = if minutes == 0 {
        "Sessions no longer end when idle.".to_string()
    } else {
        format!("Sessions unused for {} now end.", crate::model::minutes_label(minutes))
    };
    redirect_no_js(&format!("/w/{}/settings/authentication?idle_saved=idle_saved", urlencode(&slug)));
    Ok(msg)
}

/// Admins of `slug`: claims an email domain for the workspace (`add` = "true"; it is
/// pending until its TXT record is found) or gives one up. Several workspaces may claim
/// the same domain.
#[server]
pub async fn change_domain(slug: String, domain: String, add: String) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::domains;
    let (st, cap) = admin(&slug).await?;
    let d = vec![domain];
    let (added, removed) = if add == "true" { (d.as_slice(), &[][..]) } else { (&[][..], d.as_slice()) };
    domains::change(&st.db, st.now(), &cap, added, removed).await.map_err(fail)?;
    let msg = if add == "true" {
        format!("{} added: publish its TXT record, then check it.", d[0].trim().to_lowercase())
    } else {
        format!("{} removed.", d[0].trim().to_lowercase())
    };
    redirect_no_js(&format!("/w/{}/settings/authentication?domains_saved={}", urlencode(&slug), if add == "true" { "domain_added" } else { "domain_removed" }));
    Ok(msg)
}

/// Admins of `slug`: looks up `domain`'s TXT record now and says what it found.
#[server]
pub async fn check_domain(slug: String, domain: String) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::domains;
    let (st, cap) = admin(&slug).await?;
    let c = domains::verify_now(&st.db, &st.config.dns, st.now(), cap.workspace_id(), &domain).await.map_err(fail)?;
    let msg = match c.status.as_str() {
        domains::VERIFIED if c.last_error.is_empty() => format!("{} is verified.", c.domain),
        domains::VERIFIED => format!("{} is still verified, but: {}", c.domain, c.last_error),
        domains::FAILED => format!("{} failed verification: {}", c.domain, c.last_error),
        _ => format!("{} is not verified yet: {}", c.domain, c.last_error),
    };
    let code = if c.status == domains::VERIFIED && c.last_error.is_empty() { "domain_verified" } else { "domain_not_verified" };
    redirect_no_js(&format!("/w/{}/settings/authentication?domains_saved={code}", urlencode(&slug)));
    Ok(msg)
}

/// Admins of `slug`: who may use an OIDC provider here — Google Workspace domains, Microsoft
/// tenant IDs or Slack team IDs, comma-separated; empty allows any.
#[server]
pub async fn set_oidc_allowlist(slug: String, provider: String, allowed: String) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::{methods, oidc};
    let (st, cap) = admin(&slug).await?;
    let list = oidc::set_allowed(&st.db, st.now(), &cap, &provider, &allowed).await.map_err(fail)?;
    let label = methods::label(&provider);
    let msg = if list.is_empty() { format!("{label}: any account may be used.") } else { format!("{label}: only {} may be used.", list.join(", ")) };
    redirect_no_js(&format!("/w/{}/settings/authentication?allow_saved=allowlist_saved", urlencode(&slug)));
    Ok(msg)
}
