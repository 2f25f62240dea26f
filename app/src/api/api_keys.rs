//! API keys of a workspace (admins only): the product's credentials for `/v1`.
use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{ApiKeyShown, ApiKeysPage};

#[cfg(feature = "ssr")]
const KEY_FLASH_COOKIE: &str = "gatehouse_api_key";

/// Admins of `slug`: the workspace's keys, and a key just made without JavaScript.
#[server]
pub async fn list_api_keys(slug: String) -> Result<ApiKeysPage, AppError> {
    use super::ctx::*;
    let (st, cap) = admin(&slug).await?;
    let path = format!("/w/{}/settings/api-keys", urlencode(&slug));
    let (st, cap) = (&st, &cap);
    with_flash(st, KEY_FLASH_COOKIE, &path, |flash| async move { crate::server::api_keys::page(&st.db, st.now(), cap, flash.as_deref()).await.map_err(fail) })
        .await
}

#[cfg(feature = "ssr")]
fn shown(st: &crate::web::AppState, slug: &str, public_id: &str, name: String, key: String) -> ApiKeyShown {
    use super::ctx::*;
    if is_no_js_post() {
        let path = format!("/w/{}/settings/api-keys", urlencode(slug));
        set_flash(st, KEY_FLASH_COOKIE, &format!("{public_id}.{key}"), &path);
        leptos_axum::redirect(&path);
    }
    ApiKeyShown { name, key }
}

/// Admins of `slug`: creates a key with the scopes ticked (a checkbox per scope, named
/// after it with `_` for `:`) and an optional expiry in days. The key is in the answer,
/// once.
#[server]
pub async fn create_api_key(
    slug: String,
    name: String,
    #[server(default)] directory_read: Option<String>,
    #[server(default)] access_check: Option<String>,
    #[server(default)] resources_write: Option<String>,
    #[server(default)] expires_days: String,
) -> Result<ApiKeyShown, AppError> {
    use super::ctx::*;
    use crate::server::api_keys::{self, Scope};
    use crate::server::DomainError;
    let (st, cap) = admin(&slug).await?;
    let ticked = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty() && v != "false");
    let parsed: Vec<Scope> = [(Scope::DirectoryRead, &directory_read), (Scope::AccessCheck, &access_check), (Scope::ResourcesWrite, &resources_write)]
        .into_iter()
        .filter(|(_, v)| ticked(v))
        .map(|(s, _)| s)
        .collect();
    let expiry = match expires_days.trim() {
        "" | "never" => None,
        d => Some(d.parse::<i64>().map_err(|_| fail(DomainError::Invalid("Expiry must be a whole number of days, or empty for none.".into())))?),
    };
    let (key, secret) = api_keys::create(&st.db, st.now(), &cap, &name, &parsed, expiry).await.map_err(fail)?;
    Ok(shown(&st, &slug, &key.public_id, key.name, secret))
}

/// Admins of `slug`: a new secret for key `id`; the old one works for `overlap_secs` more.
#[server]
pub async fn rotate_api_key(slug: String, id: i64, overlap_secs: i64) -> Result<ApiKeyShown, AppError> {
    use super::ctx::*;
    use crate::server::api_keys;
    let (st, cap) = admin(&slug).await?;
    let (key, secret) = api_keys::rotate(&st.db, st.now(), &cap, id, overlap_secs).await.map_err(fail)?;
    Ok(shown(&st, &slug, &key.public_id, key.name, secret))
}

/// Admins of `slug`: revokes key `id` at once.
#[server]
pub async fn revoke_api_key(slug: String, id: i64) -> Result<String, AppError> {
    use super::ctx::*;
    let (st, cap) = admin(&slug).await?;
    let key = crate::server::api_keys::revoke(&st.db, st.now(), &cap, id).await.map_err(fail)?;
    redirect_no_js(&format!("/w/{}/settings/api-keys?saved=api_key_revoked", urlencode(&slug)));
    Ok(format!("“{}” revoked; it stopped working at once.", key.name))
}
