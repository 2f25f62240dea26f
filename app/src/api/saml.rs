//! Custom SAML providers on the Member Authorization page (admins only).
use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{SamlProviderForm, SamlProviderPage};

#[cfg(feature = "ssr")]
const FLASH_COOKIE: &str = "gatehouse_fresh_token";

/// Admins of `slug`: one provider's page (`id` = "new" for the empty form). `test` picks
/// a "Test sign-in" result to show.
#[server]
pub async fn load_saml_provider(slug: String, id: String, test: Option<i64>) -> Result<SamlProviderPage, AppError> {
    use super::ctx::*;
    let (st, cap) = admin(&slug).await?;
    // A token minted by a no-JS rotation travels once in an HttpOnly cookie scoped to this
    // page; it is read and cleared here, and shown only if the domain finds it current.
    // Only an id shaped like ours names a cookie path (nothing from the URL reaches a
    // `Set-Cookie` header unchecked).
    let ours = id != "new" && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let (st, cap, id) = (&st, &cap, id.as_str());
    let read = move |flash: Option<String>| async move {
        crate::server::provider_page::provider_page(&st.db, &st.config, st.now(), cap, id, test, flash).await.map_err(fail)
    };
    if ours {
        with_flash(st, FLASH_COOKIE, &format!("/w/{slug}/settings/authentication/saml/{id}"), read).await
    } else {
        read(None).await
    }
}

/// Admins of `slug`: creates (`id` = "new") or updates a provider. Pasted metadata or a
/// metadata URL fills the IdP fields; otherwise they are taken as entered. Checkboxes
/// arrive only when ticked. On success the browser goes to the provider's page; the
/// answer is the confirmation sentence.
#[server]
pub async fn save_saml_provider(
    slug: String,
    id: String,
    #[server(flatten)] form: SamlProviderForm,
    metadata_xml: Option<String>,
    metadata_url: Option<String>,
) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::saml::{self, ProviderInput};
    let (st, cap) = admin(&slug).await?;
    let input = ProviderInput { form, metadata_xml, metadata_url };
    let (p, code) = if id == "new" {
        (saml::create(&st.db, &st.config, st.now(), &cap, &input).await.map_err(fail)?, "provider_added")
    } else {
        (saml::update(&st.db, &st.config, st.now(), &cap, &id, &input).await.map_err(fail)?, "provider_saved")
    };
    leptos_axum::redirect(&format!("/w/{}/settings/authentication/saml/{}?saved={code}", urlencode(&slug), p.public_id()));
    Ok(crate::model::notice(code).unwrap_or_default().to_string())
}

/// Admins of `slug`: creates (`id` = "new") or updates an OpenID Connect connection. The
/// issuer's discovery document is fetched to check it; an empty client secret keeps the
/// stored one. On success the browser goes to the connection's page.
#[server]
pub async fn save_oidc_connection(slug: String, id: String, #[server(flatten)] form: crate::model::OidcConnectionForm) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::oidc::connections;
    let (st, cap) = admin(&slug).await?;
    let (p, code) = if id == "new" || id == crate::server::provider_page::NEW_OIDC {
        (connections::create(&st.db, &st.config, st.now(), &cap, &form).await.map_err(fail)?, "connection_added")
    } else {
        (connections::update(&st.db, &st.config, st.now(), &cap, &id, &form).await.map_err(fail)?, "provider_saved")
    };
    leptos_axum::redirect(&format!("/w/{}/settings/authentication/oidc/{}?saved={code}", urlencode(&slug), p.public_id()));
    Ok(crate::model::notice(code).unwrap_or_default().to_string())
}

/// The page of provider `id` of the admin's workspace (SAML or OpenID Connect), for
/// answers that go back to it.
#[cfg(feature = "ssr")]
async fn page_of(st: &crate::web::AppState, cap: &crate::server::permissions::AdminCap, slug: &str, id: &str) -> Result<String, AppError> {
    crate::server::provider_page::path_of(&st.db, cap, slug, id).await.map_err(super::ctx::fail)
}

/// Admins of `slug`: which claimed domains provider `id` may assert, separated by commas
/// or spaces (empty: none). Only those domains' addresses are matched to members or
/// create members through this provider; it still signs in whoever it is linked to.
#[server]
pub async fn set_provider_domains(slug: String, id: String, domains: String) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::saml;
    let (st, cap) = admin(&slug).await?;
    let list: Vec<String> = domains.split([',', ' ', '\n']).map(str::trim).filter(|d| !d.is_empty()).map(str::to_string).collect();
    saml::set_asserted_domains(&st.db, st.now(), &cap, &id, Some(list)).await.map_err(fail)?;
    redirect_no_js(&format!("{}?domains_saved=domains_saved", page_of(&st, &cap, &slug, &id).await?));
    Ok(crate::model::notice("domains_saved").unwrap_or_default().to_string())
}

/// Admins of `slug`: deletes a provider (refused while it is the only method on).
#[server]
pub async fn delete_saml_provider(slug: String, id: String) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::saml;
    let (st, cap) = admin(&slug).await?;
    let name = saml::get(&st.db, &cap, &id).await.map_err(fail)?.name().to_string();
    saml::delete(&st.db, &st.events, st.now(), &cap, &id).await.map_err(fail)?;
    let msg = format!("{name} deleted.");
    leptos_axum::redirect(&format!("/w/{}/settings/authentication?method_saved=provider_deleted", urlencode(&slug)));
    Ok(msg)
}

/// Admins of `slug`: makes provider `id`'s OAuth client (for IdPs that take SCIM tokens
/// from a token endpoint, as Microsoft Entra's gallery does), or gives it a new secret;
/// the old one keeps working for `overlap_secs`. Answers `(client id, secret)`, the
/// secret shown once.
#[server]
pub async fn rotate_scim_client_secret(slug: String, id: String, overlap_secs: i64) -> Result<(String, String), AppError> {
    use super::ctx::*;
    use crate::server::scim::oauth;
    let (st, cap) = admin(&slug).await?;
    let c = oauth::rotate_secret(&st.db, st.now(), &cap, &id, overlap_secs).await.map_err(fail)?;
    if is_no_js_post() {
        let path = format!("/w/{slug}/settings/authentication/saml/{id}");
        set_flash(&st, FLASH_COOKIE, &format!("oauth.{}", c.client_secret.expose()), &path);
        leptos_axum::redirect(&path);
    }
    Ok((c.client_id, c.client_secret.expose().to_string()))
}

/// Admins of `slug`: turns SCIM provisioning on (`on` = "true"; SAML must be the only
/// sign-in method) or off. Turning it on mints the Provider Token and returns it once.
#[server]
pub async fn set_provisioning(slug: String, id: String, on: String, expires_in_days: Option<String>) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::scim;
    let (st, cap) = admin(&slug).await?;
    let path = format!("/w/{slug}/settings/authentication/saml/{id}");
    if on != "true" {
        scim::disable(&st.db, st.now(), &cap, &id).await.map_err(fail)?;
        if is_no_js_post() {
            leptos_axum::redirect(&path);
        }
        return Ok(String::new());
    }
    let token = scim::enable(&st.db, st.now(), &cap, &id, lifetime(expires_in_days)?).await.map_err(fail)?;
    // It is turned on from the reconcile page, and the token is shown on the provider
    // page: it travels there once, in a short-lived HttpOnly cookie scoped to that page.
    set_flash(&st, FLASH_COOKIE, token.expose(), &path);
    if is_no_js_post() {
        leptos_axum::redirect(&path);
    }
    Ok(String::new())
}

/// A token lifetime from a form's select: "" or "never" is none, else whole days.
#[cfg(feature = "ssr")]
fn lifetime(v: Option<String>) -> Result<Option<i64>, AppError> {
    match v.as_deref().map(str::trim) {
        None | Some("") | Some("never") => Ok(None),
        Some(d) => d
            .parse::<i64>()
            .map(Some)
            .map_err(|_| super::ctx::fail(crate::server::DomainError::Invalid("Choose how long the token lasts from the list.".into()))),
    }
}

/// Admins of `slug`: mints a new Provider Token (the SCIM bearer token), replacing the
/// old one, lasting `expires_in_days` (or for ever). The value is returned once and never
/// stored.
#[server]
pub async fn rotate_provider_token(slug: String, id: String, expires_in_days: Option<String>) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::scim;
    let (st, cap) = admin(&slug).await?;
    let token = scim::mint_token(&st.db, st.now(), &cap, &id, lifetime(expires_in_days)?).await.map_err(fail)?;
    if is_no_js_post() {
        let path = format!("/w/{slug}/settings/authentication/saml/{id}");
        set_flash(&st, FLASH_COOKIE, token.expose(), &path);
        leptos_axum::redirect(&path);
    }
    Ok(token.expose().to_string())
}

/// Admins of `slug`: provider `id`'s IdP groups at sign-in: the attribute that lists them
/// (empty: off) and the IdP groups of admins (one per line; empty: roles aren't set).
#[server]
pub async fn save_sign_in_groups(slug: String, id: String, groups_attribute: String, admin_groups: String) -> Result<String, AppError> {
    use super::ctx::*;
    let (st, cap) = admin(&slug).await?;
    crate::server::saml::groups::configure(&st.db, st.now(), &cap, &id, &groups_attribute, &admin_groups).await.map_err(fail)?;
    redirect_no_js(&format!("{}?groups=sign_in_groups_saved", page_of(&st, &cap, &slug, &id).await?));
    Ok("Groups at sign-in saved; they apply from each member's next sign-in.".into())
}

/// Admins of `slug`: keeps group `group_id` in sync with IdP group `idp_group` of provider
/// `id` at each sign-in.
#[server]
pub async fn map_sign_in_group(slug: String, id: String, idp_group: String, group_id: i64) -> Result<String, AppError> {
    use super::ctx::*;
    let (st, cap) = admin(&slug).await?;
    let name = crate::server::saml::groups::map(&st.db, st.now(), &cap, &id, &idp_group, group_id).await.map_err(fail)?;
    redirect_no_js(&format!("{}?groups=sign_in_group_mapped", page_of(&st, &cap, &slug, &id).await?));
    Ok(format!("“{name}” now follows the IdP group “{}” at each sign-in.", idp_group.trim()))
}

/// Admins of `slug`: ends group `group_id`'s mapping to provider `id`.
#[server]
pub async fn unmap_sign_in_group(slug: String, id: String, group_id: i64) -> Result<String, AppError> {
    use super::ctx::*;
    let (st, cap) = admin(&slug).await?;
    let name = crate::server::saml::groups::unmap(&st.db, st.now(), &cap, &id, group_id).await.map_err(fail)?;
    redirect_no_js(&format!("{}?groups=sign_in_group_unmapped", page_of(&st, &cap, &slug, &id).await?));
    Ok(format!("“{name}” is the admins' again, with its members."))
}
