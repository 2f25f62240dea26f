//! Custom SAML providers on the Member Authorization page (admins only).
// `save_saml_provider` takes the form's 16 fields, and `#[server]` copies them into the
// browser's stub, where an item attribute can't reach; one form struct replaces them
// with the provider field list's other copies (issue 14).
#![allow(clippy::too_many_arguments)]
use leptos::prelude::*;

use crate::error::AppError;
use crate::model::SamlProviderPage;

#[cfg(feature = "ssr")]
const FLASH_COOKIE: &str = "gatehouse_fresh_token";

#[cfg(feature = "ssr")]
fn day(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

#[cfg(feature = "ssr")]
fn activity_row(row: &crate::server::entities::saml_activity::Model) -> crate::model::SamlActivityRow {
    use crate::model::{SamlActivityRow, SamlCheck};
    let (checks, attributes) = crate::server::saml::signin::checks_of(row);
    let detail = checks.iter().find(|c| !c.ok).map(|c| c.detail.clone()).unwrap_or_default();
    SamlActivityRow {
        id: row.id,
        when: chrono::DateTime::from_timestamp(row.created_at, 0).map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default(),
        accepted: row.accepted,
        test_mode: row.test_mode,
        reason: row.reason.clone(),
        detail,
        subject: row.subject.clone(),
        checks: checks.into_iter().map(|c| SamlCheck { name: c.name, ok: c.ok, detail: c.detail }).collect(),
        attributes,
    }
}

/// Admins of `slug`: one provider's page (`id` = "new" for the empty form). `test` picks
/// a "Test sign-in" result to show.
#[server]
pub async fn load_saml_provider(slug: String, id: String, test: Option<i64>) -> Result<SamlProviderPage, AppError> {
    use super::ctx::*;
    use crate::model::{SamlCert, SamlProviderForm};
    use crate::server::saml::{self, idp_metadata, signin};
    let (st, cap) = admin(&slug).await?;
    let formats = saml::NAMEID_FORMATS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if id == "new" {
        return Ok(SamlProviderPage {
            public_id: None,
            form: SamlProviderForm {
                attr_email: saml::DEFAULT_ATTR_EMAIL.into(),
                attr_given_name: saml::DEFAULT_ATTR_GIVEN.into(),
                attr_family_name: saml::DEFAULT_ATTR_FAMILY.into(),
                ..Default::default()
            },
            nameid_formats: formats,
            enabled: false,
            acs_url: String::new(),
            entity_id: String::new(),
            slo_url: String::new(),
            idp_slo_url: None,
            metadata_url: String::new(),
            login_url: String::new(),
            scim_base_url: String::new(),
            token: None,
            token_lifetimes: crate::server::scim::TOKEN_LIFETIME_DAYS.to_vec(),
            fresh_token: None,
            certs: vec![],
            activity: vec![],
            test: None,
            delete_consequences: saml::DELETE_CONSEQUENCES.into(),
            provisioning: false,
            provisioning_blocker: None,
            fallback_methods: vec![],
            scim_activity: vec![],
            claimed_domains: vec![],
            asserted_domains: vec![],
            asserted_by_default: true,
        });
    }
    let p = saml::get(&st.db, &cap, &id).await.map_err(fail)?;
    let u = saml::urls(&st.config, &p.public_id);
    let pems = saml::certificates(&p);
    let now = st.now();
    let certs = pems
        .iter()
        .filter_map(|pem| idp_metadata::certificate_facts(pem).ok())
        .map(|(_, not_after, subject)| SamlCert { subject, expires: day(not_after), days_left: (not_after - now).div_euclid(86_400) })
        .collect();
    let enabled = crate::server::methods::enabled_set(&st.db, p.workspace_id).await.map_err(fail)?.contains(&saml::method_key(&p.public_id));
    let activity = signin::activity(&st.db, p.id, 20).await.map_err(fail)?;
    let test = match test {
        Some(t) => activity.iter().find(|a| a.id == t && a.test_mode).map(activity_row),
        None => None,
    };
    // A token minted by a no-JS rotation travels once in an HttpOnly cookie scoped to
    // this page; read it and clear it.
    // Shown only if it is the provider's current token: a cookie planted by anyone else
    // (a sibling subdomain) can't put its own "token" on the page.
    let fresh_token = match take_flash(&st, FLASH_COOKIE, &format!("/w/{slug}/settings/authentication/saml/{}", p.public_id)).filter(|t| t.len() <= 64) {
        Some(t) if crate::server::scim::is_current_token(&st.db, p.id, &t).await.map_err(fail)? => Some(t),
        _ => None,
    };
    let claimed_domains = crate::server::domains::list(&st.db, p.workspace_id).await.map_err(fail)?;
    let asserted_domains = saml::asserted_domains(&st.db, &p).await.map_err(fail)?;
    let asserted_by_default = p.asserted_domains.is_none();
    Ok(SamlProviderPage {
        claimed_domains,
        asserted_domains,
        asserted_by_default,
        public_id: Some(p.public_id.clone()),
        form: SamlProviderForm {
            name: p.name.clone(),
            idp_entity_id: p.idp_entity_id.clone(),
            sso_url: p.sso_url.clone(),
            cert1: pems.first().cloned().unwrap_or_default(),
            cert2: pems.get(1).cloned().unwrap_or_default(),
            allow_idp_initiated: p.allow_idp_initiated,
            sign_requests: p.sign_requests,
            require_encryption: p.require_encryption,
            nameid_format: p.nameid_format.clone(),
            attr_email: p.attr_email.clone(),
            attr_given_name: p.attr_given_name.clone(),
            attr_family_name: p.attr_family_name.clone(),
        },
        nameid_formats: formats,
        enabled,
        acs_url: u.acs,
        entity_id: u.entity_id,
        slo_url: u.slo,
        idp_slo_url: (!p.slo_url.is_empty()).then(|| p.slo_url.clone()),
        metadata_url: u.metadata,
        login_url: u.login,
        scim_base_url: u.scim_base,
        token: crate::server::scim::token_facts(&st.db, p.id).await.map_err(fail)?.map(|t| crate::model::ProviderTokenFacts {
            created: day(t.created_at),
            last_used: t.last_used_at.map(crate::server::scim::display_time),
            expires: t.expires_at.map(day),
            days_left: t.expires_at.map(|e| (e - now).div_euclid(86_400)),
        }),
        token_lifetimes: crate::server::scim::TOKEN_LIFETIME_DAYS.to_vec(),
        fresh_token,
        certs,
        activity: activity.iter().map(activity_row).collect(),
        test,
        delete_consequences: saml::DELETE_CONSEQUENCES.into(),
        provisioning: p.provisioning_enabled,
        provisioning_blocker: if p.provisioning_enabled { None } else { crate::server::scim::enable_blocker(&st.db, &p).await.map_err(fail)? },
        fallback_methods: if p.provisioning_enabled {
            crate::server::methods::enabled_set(&st.db, p.workspace_id)
                .await
                .map_err(fail)?
                .iter()
                .filter(|m| !m.starts_with("saml:"))
                .map(|m| crate::model::method_label(m).to_string())
                .collect()
        } else {
            vec![]
        },
        scim_activity: crate::server::scim::activity(&st.db, p.id, 50)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|a| crate::model::ScimActivityRow {
                when: crate::server::scim::display_time(a.created_at),
                method: a.method,
                path: a.path,
                operation: a.operation,
                target: a.target,
                status: u16::try_from(a.status).unwrap_or(0),
                outcome: a.outcome,
                duration_ms: format!("{:.1}", a.duration_us as f64 / 1000.0),
            })
            .collect(),
    })
}

/// Admins of `slug`: creates (`id` = "new") or updates a provider. Pasted metadata or a
/// metadata URL fills the IdP fields; otherwise they are taken as entered. Checkboxes
/// arrive only when ticked. On success the browser goes to the provider's page; the
/// answer is the confirmation sentence.
#[server]
pub async fn save_saml_provider(
    slug: String,
    id: String,
    name: String,
    metadata_xml: Option<String>,
    metadata_url: Option<String>,
    idp_entity_id: Option<String>,
    sso_url: Option<String>,
    cert1: Option<String>,
    cert2: Option<String>,
    allow_idp_initiated: Option<String>,
    sign_requests: Option<String>,
    require_encryption: Option<String>,
    nameid_format: Option<String>,
    attr_email: Option<String>,
    attr_given_name: Option<String>,
    attr_family_name: Option<String>,
) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::saml::{self, ProviderInput};
    let (st, cap) = admin(&slug).await?;
    let input = ProviderInput {
        name,
        idp_entity_id: idp_entity_id.unwrap_or_default(),
        sso_url: sso_url.unwrap_or_default(),
        certificates: [cert1, cert2].into_iter().flatten().collect(),
        allow_idp_initiated: allow_idp_initiated.is_some(),
        sign_requests: sign_requests.is_some(),
        require_encryption: require_encryption.is_some(),
        nameid_format: nameid_format.unwrap_or_default(),
        attr_email: attr_email.unwrap_or_default(),
        attr_given_name: attr_given_name.unwrap_or_default(),
        attr_family_name: attr_family_name.unwrap_or_default(),
        metadata_xml,
        metadata_url,
    };
    let (p, code) = if id == "new" {
        (saml::create(&st.db, &st.config, st.now(), &cap, &input).await.map_err(fail)?, "provider_added")
    } else {
        (saml::update(&st.db, &st.config, st.now(), &cap, &id, &input).await.map_err(fail)?, "provider_saved")
    };
    leptos_axum::redirect(&format!("/w/{}/settings/authentication/saml/{}?saved={code}", urlencode(&slug), p.public_id));
    Ok(crate::model::notice(code).unwrap_or_default().to_string())
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
    redirect_no_js(&format!("/w/{}/settings/authentication/saml/{}?domains_saved=domains_saved", urlencode(&slug), urlencode(&id)));
    Ok(crate::model::notice("domains_saved").unwrap_or_default().to_string())
}

/// Admins of `slug`: deletes a provider (refused while it is the only method on).
#[server]
pub async fn delete_saml_provider(slug: String, id: String) -> Result<String, AppError> {
    use super::ctx::*;
    use crate::server::saml;
    let (st, cap) = admin(&slug).await?;
    let name = saml::get(&st.db, &cap, &id).await.map_err(fail)?.name;
    saml::delete(&st.db, st.now(), &cap, &id).await.map_err(fail)?;
    // Its members and groups are handed back, and sessions through it ended.
    st.events.publish(&st.db, cap.workspace_id(), &crate::server::events::Topic::ALL).await;
    let msg = format!("{name} deleted.");
    leptos_axum::redirect(&format!("/w/{}/settings/authentication?method_saved=provider_deleted", urlencode(&slug)));
    Ok(msg)
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
    // page: it travels there once, in a short-lived HttpOnly cookie scoped to that page
    // (with JS the page then loads the provider page in full).
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
