//! The Members page (admins only).
use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{InviteCreated, InvitesPage, MembersPage};

/// Carries a link made by a no-JS invite to the Members page once (HttpOnly, that page's
/// path only, two minutes): the token never sits in a URL, so not in history or logs.
#[cfg(feature = "ssr")]
const INVITE_FLASH_COOKIE: &str = "gatehouse_fresh_invite";

/// Admins of `slug`: one page of members (admins first), optionally searched by email or
/// name. Pages count from 1.
#[server]
pub async fn list_members(slug: String, page: Option<u64>, search: Option<String>) -> Result<MembersPage, AppError> {
    use super::ctx::*;
    let st = state()?;
    let v = viewer(&st, &slug).await?;
    let cap = v.admin().map_err(fail)?;
    crate::server::members::members_page(&st.db, st.now(), &cap, v.membership_id, page.unwrap_or(1), &search.unwrap_or_default()).await.map_err(fail)
}

/// Admins of `slug`: invites `email` with `role`; returns the link to hand over.
#[server]
pub async fn invite_member(slug: String, email: String, role: String) -> Result<InviteCreated, AppError> {
    use super::ctx::*;
    let st = state()?;
    let v = viewer(&st, &slug).await?;
    let cap = v.admin().map_err(fail)?;
    let token = crate::server::directory::create_invite(&st.db, st.now(), &cap, &email, crate::server::directory::validate_role(&role).map_err(fail)?)
        .await
        .map_err(fail)?;
    let link = format!("{}/invite/{}", st.config.public_url, token.expose());
    let emailed = match &st.config.mailer {
        Some(m) => match m.send_invite(email.trim(), &v.workspace_name, &v.email, &link).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "invite mail not sent; the admin has the link");
                false
            }
        },
        None => false,
    };
    let created = InviteCreated { email: email.trim().to_string(), link: link.clone(), emailed };
    if is_no_js_post() {
        let path = format!("/w/{}/settings/members", urlencode(&slug));
        set_flash(&st, INVITE_FLASH_COOKIE, &format!("{}.{}", token.expose(), u8::from(emailed)), &path);
        leptos_axum::redirect(&path);
    }
    Ok(created)
}

/// Admins of `slug`: makes a member an admin or a member. The last admin stays.
#[server]
pub async fn set_member_role(slug: String, membership_id: i64, role: String) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::members;
    let (st, cap) = admin(&slug).await?;
    members::set_role(&st.db, &st.events, st.now(), &cap, membership_id, crate::server::directory::validate_role(&role).map_err(fail)?).await.map_err(fail)?;
    let msg = format!("Role changed to {role}.");
    redirect_no_js(&format!("/w/{}/settings/members?saved=role_changed", urlencode(&slug)));
    Ok(msg)
}

/// Admins of `slug`: deactivates (`active` = "false") or reactivates a member.
#[server]
pub async fn set_member_status(slug: String, membership_id: i64, active: String) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::members;
    let (st, cap) = admin(&slug).await?;
    let code = if active == "true" {
        members::reactivate(&st.db, &st.events, st.now(), &cap, membership_id).await.map_err(fail)?;
        "member_reactivated"
    } else {
        members::deactivate(&st.db, &st.events, st.now(), &cap, membership_id).await.map_err(fail)?;
        "member_deactivated"
    };
    redirect_no_js(&format!("/w/{}/settings/members?saved={code}", urlencode(&slug)));
    Ok(crate::model::notice(code).unwrap_or_default().to_string())
}

/// Admins of `slug`: signs a member out everywhere (every session of theirs here ends;
/// the admin's own stays). Audited.
#[server]
pub async fn sign_out_member(slug: String, membership_id: i64) -> Result<String, AppError> {
    use super::ctx::*;
    let (st, cap) = admin(&slug).await?;
    let n = crate::server::sessions::end_member(&st.db, &st.events, st.now(), &cap, membership_id).await.map_err(fail)?;
    redirect_no_js(&format!("/w/{}/settings/members?saved=member_signed_out", urlencode(&slug)));
    Ok(format!("Member signed out everywhere ({n} session{} ended).", if n == 1 { "" } else { "s" }))
}

/// Admins of `slug`: what "sign out every member" would end now, for its confirmation.
#[server]
pub async fn sign_out_everyone_preview(slug: String) -> Result<crate::model::SignOutEveryone, AppError> {
    use super::ctx::*;
    let (st, cap) = admin(&slug).await?;
    let (sessions, members) = crate::server::sessions::everyone_count(&st.db, st.now(), &cap).await.map_err(fail)?;
    Ok(crate::model::SignOutEveryone { sessions, members })
}

/// Admins of `slug`: break-glass — every session in the workspace ends but the admin's
/// own. `confirm` must be "sign-out-everyone" (the confirmation's button sends it).
#[server]
pub async fn sign_out_everyone(slug: String, confirm: String) -> Result<String, AppError> {
    use super::ctx::*;
    let (st, cap) = admin(&slug).await?;
    if confirm != "sign-out-everyone" {
        return Err(fail(crate::server::DomainError::Invalid("Confirm signing every member out first.".into())));
    }
    let n = crate::server::sessions::end_everyone(&st.db, &st.events, st.now(), &cap).await.map_err(fail)?;
    redirect_no_js(&format!("/w/{}/settings/members?saved=everyone_signed_out", urlencode(&slug)));
    Ok(format!("Every member was signed out ({n} session{} ended; yours stays).", if n == 1 { "" } else { "s" }))
}

/// Admins of `slug`: invites not yet accepted, and the one a no-JS invite just made.
#[server]
pub async fn list_invites(slug: String) -> Result<InvitesPage, AppError> {
    use super::ctx::*;
    use crate::server::members;
    let (st, cap) = admin(&slug).await?;
    let path = format!("/w/{}/settings/members", urlencode(&slug));
    let (st, cap) = (&st, &cap);
    with_flash(st, INVITE_FLASH_COOKIE, &path, |flash| async move {
        members::invites_page(&st.db, &st.config.public_url, st.now(), cap, flash.as_deref()).await.map_err(fail)
    })
    .await
}

/// Admins of `slug`: withdraws a pending invite.
#[server]
pub async fn revoke_invite(slug: String, invite_id: i64) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::members;
    let (st, cap) = admin(&slug).await?;
    members::revoke_invite(&st.db, st.now(), &cap, invite_id).await.map_err(fail)?;
    redirect_no_js(&format!("/w/{}/settings/members?saved=invite_withdrawn", urlencode(&slug)));
    Ok(crate::model::notice("invite_withdrawn").unwrap_or_default().to_string())
}
