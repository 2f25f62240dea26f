//! Webhook endpoints of a workspace (admins only): where the product hears what changed.
use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{WebhookEventsForm, WebhookSecretShown, WebhooksPage};

#[cfg(feature = "ssr")]
const SECRET_FLASH_COOKIE: &str = "gatehouse_webhook_secret";

#[cfg(feature = "ssr")]
fn page_path(slug: &str) -> String {
    format!("/w/{}/settings/webhooks", super::ctx::urlencode(slug))
}

/// Admins of `slug`: the endpoints, the delivery log, and a secret just made without
/// JavaScript.
#[server]
pub async fn list_webhooks(slug: String) -> Result<WebhooksPage, AppError> {
    use super::ctx::*;
    let (st, cap) = admin(&slug).await?;
    let path = page_path(&slug);
    let (st, cap) = (&st, &cap);
    with_flash(st, SECRET_FLASH_COOKIE, &path, |flash| async move { crate::server::webhooks::page(&st.db, cap, flash.as_deref()).await.map_err(fail) }).await
}

#[cfg(feature = "ssr")]
fn shown(st: &crate::web::AppState, slug: &str, id: i64, url: String, secret: String) -> WebhookSecretShown {
    use super::ctx::*;
    if is_no_js_post() {
        let path = page_path(slug);
        set_flash(st, SECRET_FLASH_COOKIE, &format!("{id}.{secret}"), &path);
        leptos_axum::redirect(&path);
    }
    WebhookSecretShown { url, secret }
}

/// Admins of `slug`: registers an endpoint for the events ticked (a checkbox per event,
/// named after it with `_` for `.`). The signing secret is in the answer, once.
#[server]
pub async fn create_webhook(slug: String, url: String, #[server(flatten)] events: WebhookEventsForm) -> Result<WebhookSecretShown, AppError> {
    use super::ctx::*;
    use crate::server::webhooks::{self, EndpointInput, Kind};
    let (st, cap) = admin(&slug).await?;
    let events: Vec<Kind> = events.ticked().into_iter().filter_map(Kind::parse).collect();
    let input = EndpointInput { url: &url, events: &events, https_only: st.config.secure_cookies(), allow_private: st.config.allow_private_metadata_urls };
    let (id, secret) = webhooks::create(&st.db, st.now(), &cap, input).await.map_err(fail)?;
    Ok(shown(&st, &slug, id, url.trim().to_string(), secret))
}

/// Admins of `slug`: a new signing secret for endpoint `id`; the old one signs too for
/// `overlap_secs` more.
#[server]
pub async fn rotate_webhook_secret(slug: String, id: i64, overlap_secs: i64) -> Result<WebhookSecretShown, AppError> {
    use super::ctx::*;
    let (st, cap) = admin(&slug).await?;
    let (url, secret) = crate::server::webhooks::rotate(&st.db, st.now(), &cap, id, overlap_secs).await.map_err(fail)?;
    Ok(shown(&st, &slug, id, url, secret))
}

/// Admins of `slug`: deletes endpoint `id` and what is queued for it.
#[server]
pub async fn delete_webhook(slug: String, id: i64) -> Result<String, AppError> {
    use super::ctx::*;
    let (st, cap) = admin(&slug).await?;
    let url = crate::server::webhooks::delete(&st.db, st.now(), &cap, id).await.map_err(fail)?;
    redirect_no_js(&format!("{}?saved=webhook_deleted", page_path(&slug)));
    Ok(format!("{url} deleted; nothing more is sent to it."))
}

/// Admins of `slug`: queues a `webhook.test` event for endpoint `id`.
#[server]
pub async fn test_webhook(slug: String, id: i64) -> Result<String, AppError> {
    use super::ctx::*;
    let (st, cap) = admin(&slug).await?;
    let url = crate::server::webhooks::send_test(&st.db, st.now(), &cap, id).await.map_err(fail)?;
    redirect_no_js(&format!("{}?saved=webhook_test_queued", page_path(&slug)));
    Ok(format!("Test event queued for {url}; it shows in the delivery log once sent."))
}
