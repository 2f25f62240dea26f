//! Setup, sign-in and sign-out.
use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{CurrentMember, LoginOptions};

/// Public. True while no workspace exists (first run).
#[server]
pub async fn setup_needed() -> Result<bool, AppError> {
    use super::ctx::*;
    let st = state()?;
    crate::server::workspaces::setup_needed(&st.db).await.map_err(fail)
}

/// Public, but only while the database is empty and with the one-time setup token the
/// server printed: creates the first workspace and its admin, then signs the admin in.
#[server]
pub async fn setup(setup_token: String, slug: String, name: String, admin_name: String, email: String, password: String) -> Result<(), AppError> {
    use super::ctx::*;
    use crate::server::{audit::Actor, password::Password, sessions, workspaces};
    let st = state()?;
    let pw = Password::new_secret(password).map_err(fail)?;
    let new = workspaces::NewWorkspace { slug, name, admin_email: email, admin_name, admin_password: Some(pw) };
    let actor = Actor::anonymous("setup", client_ip());
    let created = workspaces::create(&st.db, &st.hasher, st.now(), new, &actor, Some(&setup_token)).await.map_err(fail)?;
    // Sign the new admin in: the password was just set.
    if let Some(admin_id) = created.admin_account_id {
        let token = sessions::create(&st.db, st.now(), admin_id, created.workspace.id, "password", &origin()).await.map_err(fail)?;
        set_cookie(crate::web::cookies::set_cookie_header(&token, st.config.secure_cookies(), created.workspace.session_lifetime_secs));
    }
    leptos_axum::redirect(&format!("/w/{}/settings/authentication", created.workspace.slug));
    Ok(())
}

/// Public. What the sign-in page of `slug` offers.
#[server]
pub async fn login_page(slug: String) -> Result<LoginOptions, AppError> {
    use super::ctx::*;
    use crate::server::{methods, workspaces};
    let st = state()?;
    let ws = workspaces::by_slug(&st.db, &slug).await.map_err(fail)?;
    let ms = methods::list(&st.db, ws.id, &st.config).await.map_err(fail)?;
    let password_enabled = ms.iter().any(|m| m.key == methods::PASSWORD && m.enabled);
    let sso_by_email = ms.iter().any(|m| (m.key.starts_with("saml:") || m.key.starts_with("oidc:")) && m.enabled)
        && !crate::server::domains::list(&st.db, ws.id).await.map_err(fail)?.is_empty();
    let other_methods =
        ms.into_iter().filter(|m| m.key != methods::PASSWORD && m.enabled && m.available).map(|m| (m.key, format!("Sign in with {}", m.label))).collect();
    Ok(LoginOptions { workspace_name: ws.name, workspace_slug: ws.slug, password_enabled, other_methods, sso_by_email })
}

/// Public. Password sign-in; sets the session cookie and sends the member home, or to
/// `next` when it is a path in this workspace (or the product behind forward-auth).
#[server]
pub async fn login(slug: String, email: String, password: String, #[server(default)] next: Option<String>) -> Result<(), AppError> {
    use super::ctx::*;
    let st = state()?;
    let next = next.filter(|n| !n.is_empty());
    let result = crate::server::auth::password_login(st.deps(), &slug, &email, password, next.as_deref(), origin()).await;
    crate::server::metrics::sign_in(
        "password",
        match &result {
            Ok(_) => "ok",
            Err(crate::server::DomainError::RateLimited { .. }) => "throttled",
            Err(crate::server::DomainError::Db(_) | crate::server::DomainError::Internal(_)) => "error",
            Err(_) => "refused",
        },
    );
    let signed = result.map_err(fail)?;
    set_cookie(crate::web::cookies::set_cookie_header(&signed.token, st.config.secure_cookies(), signed.max_age));
    leptos_axum::redirect(&signed.redirect);
    Ok(())
}

/// Signed-in members of `slug`: who am I (for the header).
#[server]
pub async fn me(slug: String) -> Result<CurrentMember, AppError> {
    use super::ctx::*;
    let st = state()?;
    let v = viewer(&st, &slug).await?;
    Ok(CurrentMember { is_admin: v.is_admin(), full_name: v.full_name, email: v.email, workspace_slug: v.workspace_slug, workspace_name: v.workspace_name })
}
