//! Accepting an invite (public: the token is the credential).
use leptos::prelude::*;

use crate::error::AppError;
use crate::model::InviteDetails;

/// Holder of the invite token: who is invited where.
#[server]
pub async fn invite_page(token: String) -> Result<InviteDetails, AppError> {
    use super::ctx::*;
    use crate::server::{crypto::Token, members};
    let st = state()?;
    let info = members::invite_info(&st.db, st.now(), &Token::from_presented(&token)).await.map_err(fail)?;
    let ws = crate::server::workspaces::by_slug(&st.db, &info.workspace_slug).await.map_err(fail)?;
    let password_allowed = crate::server::methods::is_enabled(&st.db, ws.id, crate::server::methods::PASSWORD, &st.config).await.map_err(fail)?;
    Ok(InviteDetails { workspace_name: info.workspace_name, workspace_slug: info.workspace_slug, email: info.email, password_allowed })
}

/// Holder of the invite token: joins the workspace, sets (or proves) the password and
/// is signed in.
#[server]
pub async fn accept_invite(token: String, full_name: String, password: String) -> Result<(), AppError> {
    use super::ctx::*;
    use crate::server::{crypto::Token, members, workspaces};
    let st = state()?;
    let (slug, session) =
        members::accept_invite(&st.db, &st.events, &st.hasher, &st.config, st.now(), &Token::from_presented(&token), &full_name, password, origin())
            .await
            .map_err(fail)?;
    let ws = workspaces::by_slug(&st.db, &slug).await.map_err(fail)?;
    set_cookie(crate::web::cookies::set_cookie_header(&session, st.config.secure_cookies(), ws.session_lifetime_secs));
    leptos_axum::redirect(&format!("/w/{slug}"));
    Ok(())
}
