//! A member's own sessions (any member of the workspace).
use leptos::prelude::*;

use crate::error::AppError;
use crate::model::SessionInfo;

/// The signed-in member of `slug`: their live sessions there, newest use first.
#[server]
pub async fn my_sessions(slug: String) -> Result<Vec<SessionInfo>, AppError> {
    use super::ctx::*;
    let st = state()?;
    let v = viewer(&st, &slug).await?;
    crate::server::sessions::list_own(&st.db, st.now(), &v).await.map_err(fail)
}

/// The signed-in member of `slug`: ends one of their sessions (another person's id is
/// "not found"). Ending the current one signs this browser out.
#[server]
pub async fn end_my_session(slug: String, session_id: i64) -> Result<String, AppError> {
    use super::ctx::*;
    let st = state()?;
    let v = viewer(&st, &slug).await?;
    crate::server::sessions::end_own(&st.db, &st.events, st.now(), &v, session_id).await.map_err(fail)?;
    let path =
        if session_id == v.session_id { format!("/w/{}/login", urlencode(&slug)) } else { format!("/w/{}/account?saved=session_ended", urlencode(&slug)) };
    redirect_no_js(&path);
    Ok(crate::model::notice("session_ended").unwrap_or_default().to_string())
}

/// The signed-in member of `slug`: ends every other session of theirs there.
#[server]
pub async fn end_my_other_sessions(slug: String) -> Result<String, AppError> {
    use super::ctx::*;
    let st = state()?;
    let v = viewer(&st, &slug).await?;
    let n = crate::server::sessions::end_own_others(&st.db, &st.events, st.now(), &v).await.map_err(fail)?;
    redirect_no_js(&format!("/w/{}/account?saved=other_sessions_ended", urlencode(&slug)));
    Ok(format!("Signed out everywhere else ({n} session{}).", if n == 1 { "" } else { "s" }))
}
