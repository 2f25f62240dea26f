//! What a SAML provider's admin page shows, read in one place (above both `saml` and
//! `scim`, which it reads): the form's values, the URLs
//! to give the IdP, certificates with their expiry, recent sign-ins and test results, the
//! Provider Token's facts and the SCIM activity. The server function only reads the
//! session and the one-time token cookie, then calls [`provider_page`].
use sea_orm::DatabaseConnection;

use super::saml::{self, idp_metadata, signin};
use crate::model::{OidcConnectionForm, SamlCert, SamlProviderForm, SamlProviderPage};
use crate::server::config::RuntimeConfig;
use crate::server::permissions::AdminCap;
use crate::server::scim::oauth;
use crate::server::DomainError;

fn day(unix: i64) -> String {
    crate::server::clock::display_date(unix)
}

fn activity_row(row: &crate::server::entities::saml_activity::Model) -> crate::model::SamlActivityRow {
    use crate::model::{SamlActivityRow, SamlCheck};
    let (checks, attributes) = signin::checks_of(row);
    let detail = checks.iter().find(|c| !c.ok).map(|c| c.detail.clone()).unwrap_or_default();
    SamlActivityRow {
        id: row.id,
        when: crate::server::clock::display_time(row.created_at),
        accepted: row.accepted,
        test_mode: row.test_mode,
        reason: row.reason.clone(),
        detail,
        subject: row.subject.clone(),
        checks: checks.into_iter().map(|c| SamlCheck { name: c.name, ok: c.ok, detail: c.detail }).collect(),
        attributes,
    }
}

fn oauth_overlaps() -> Vec<(i64, String)> {
    crate::server::crypto::overlap_choices("none: the old secret stops now")
}

/// The page of provider `id` of the admin's workspace, SAML or OpenID Connect.
pub async fn path_of(db: &DatabaseConnection, cap: &AdminCap, slug: &str, id: &str) -> Result<String, DomainError> {
    let p = saml::row(db, cap, id).await?;
    Ok(signin::page_path(slug, &p))
}

/// The id of an OpenID Connect connection's empty form.
pub const NEW_OIDC: &str = crate::model::NEW_OIDC_ID;

fn oidc_defaults() -> OidcConnectionForm {
    use crate::server::oidc::connections::{DEFAULT_CLAIM_EMAIL, DEFAULT_CLAIM_FAMILY, DEFAULT_CLAIM_GIVEN};
    OidcConnectionForm {
        claim_email: DEFAULT_CLAIM_EMAIL.into(),
        claim_given_name: DEFAULT_CLAIM_GIVEN.into(),
        claim_family_name: DEFAULT_CLAIM_FAMILY.into(),
        require_email_verified: true,
        ..Default::default()
    }
}

/// Provider `id`'s page (`new`: the empty SAML form; `new-oidc`: an OpenID Connect one). `test` picks a "Test sign-in" result to
/// show; `flash` is a token a no-JS rotation handed back, shown only if it is current.
pub async fn provider_page(
    db: &DatabaseConnection,
    cfg: &RuntimeConfig,
    now: i64,
    cap: &AdminCap,
    id: &str,
    test: Option<i64>,
    flash: Option<String>,
) -> Result<SamlProviderPage, DomainError> {
    let formats = saml::NAMEID_FORMATS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if id == "new" || id == NEW_OIDC {
        return Ok(SamlProviderPage {
            public_id: None,
            protocol: if id == NEW_OIDC { saml::OIDC } else { saml::SAML }.into(),
            oidc: oidc_defaults(),
            redirect_uri: String::new(),
            has_client_secret: false,
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
            oauth_token_url: String::new(),
            oauth_client: None,
            fresh_oauth_secret: None,
            oauth_overlaps: oauth_overlaps(),
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
            sign_in_groups: Default::default(),
        });
    }
    let p = saml::row(db, cap, id).await?;
    let u = saml::urls(cfg, &p.public_id);
    let pems = saml::certificates_of(&p);
    let certs = pems
        .iter()
        .filter_map(|pem| idp_metadata::certificate_facts(pem).ok())
        .map(|(_, not_after, subject)| SamlCert { subject, expires: day(not_after), days_left: (not_after - now).div_euclid(86_400) })
        .collect();
    let enabled = crate::server::methods::enabled_set(db, p.workspace_id).await?.contains(&saml::key_of(&p));
    let activity = signin::activity(db, p.id, 20).await?;
    let test = match test {
        Some(t) => activity.iter().find(|a| a.id == t && a.test_mode).map(activity_row),
        None => None,
    };
    // A token minted by a no-JS rotation comes back once (the adapter reads its cookie).
    // Shown only if it is the provider's current token: a cookie planted by anyone else
    // (a sibling subdomain) can't put its own "token" on the page.
    // A client secret comes back the same way, marked `oauth.`, and only while current.
    let oauth_client = oauth::client_row(db, p.id).await?;
    let (fresh_token, fresh_oauth_secret) = match flash.filter(|t| t.len() <= 80) {
        Some(t) => match t.strip_prefix("oauth.") {
            Some(secret) => (None, oauth_client.as_ref().filter(|c| oauth::is_current_secret(c, secret)).map(|_| secret.to_string())),
            None if crate::server::scim::is_current_token(db, p.id, &t).await? => (Some(t), None),
            None => (None, None),
        },
        None => (None, None),
    };
    let claimed_domains = crate::server::domains::list(db, p.workspace_id).await?;
    let asserted_domains = saml::asserted_domains(db, &p).await?;
    let asserted_by_default = p.asserted_domains.is_none();
    let sign_in_groups = sign_in_groups(db, &p).await?;
    let oidc = p.protocol == saml::OIDC;
    Ok(SamlProviderPage {
        protocol: p.protocol.clone(),
        oidc: if oidc {
            OidcConnectionForm {
                name: p.name.clone(),
                issuer: p.oidc_issuer.clone(),
                client_id: p.oidc_client_id.clone(),
                client_secret: String::new(),
                scopes: p.oidc_scopes.clone(),
                claim_email: p.attr_email.clone(),
                claim_given_name: p.attr_given_name.clone(),
                claim_family_name: p.attr_family_name.clone(),
                require_email_verified: p.oidc_require_email_verified,
            }
        } else {
            oidc_defaults()
        },
        redirect_uri: if oidc { crate::server::oidc::connections::redirect_uri(cfg, &p.public_id) } else { String::new() },
        has_client_secret: p.oidc_client_secret.is_some(),
        sign_in_groups,
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
        token: crate::server::scim::token_facts(db, p.id).await?.map(|t| crate::model::ProviderTokenFacts {
            created: day(t.created_at),
            last_used: t.last_used_at.map(crate::server::clock::display_time),
            expires: t.expires_at.map(day),
            days_left: t.expires_at.map(|e| (e - now).div_euclid(86_400)),
        }),
        token_lifetimes: crate::server::scim::TOKEN_LIFETIME_DAYS.to_vec(),
        fresh_token,
        oauth_token_url: oauth::token_url(cfg, &p.public_id),
        oauth_client: oauth_client.map(|c| crate::model::OAuthClientFacts {
            client_id: c.client_id,
            rotated: crate::server::clock::display_time(c.rotated_at),
            previous_until: c.previous_valid_until.filter(|u| *u > now).map(crate::server::clock::display_time),
            last_used: c.last_used_at.map(crate::server::clock::display_time),
        }),
        fresh_oauth_secret,
        oauth_overlaps: oauth_overlaps(),
        certs,
        activity: activity.iter().map(activity_row).collect(),
        test,
        delete_consequences: saml::DELETE_CONSEQUENCES.into(),
        provisioning: p.provisioning_enabled,
        provisioning_blocker: if p.provisioning_enabled || oidc { None } else { crate::server::scim::enable_blocker(db, &p).await? },
        fallback_methods: if p.provisioning_enabled {
            crate::server::methods::enabled_set(db, p.workspace_id)
                .await?
                .iter()
                .filter(|m| !m.starts_with("saml:"))
                .map(|m| crate::model::method_label(m).to_string())
                .collect()
        } else {
            vec![]
        },
        scim_activity: crate::server::scim::activity(db, p.id, 50)
            .await?
            .into_iter()
            .map(|a| crate::model::ScimActivityRow {
                when: crate::server::clock::display_time(a.created_at),
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

/// The provider's IdP groups at sign-in, as its page shows them.
async fn sign_in_groups<C: sea_orm::ConnectionTrait>(
    db: &C,
    p: &crate::server::entities::saml_provider::Model,
) -> Result<crate::model::SignInGroups, DomainError> {
    use crate::server::entities::group;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let mappings = saml::groups::mapped(db, p.id).await?.into_iter().map(|g| (g.id, g.name, g.idp_group.unwrap_or_default())).collect();
    let mappable = group::Entity::find()
        .filter(group::Column::WorkspaceId.eq(p.workspace_id))
        .filter(group::Column::IsEveryone.eq(false))
        .filter(group::Column::ManagedByProviderId.is_null())
        .filter(group::Column::SignInProviderId.is_null())
        .order_by_asc(group::Column::NameNormalized)
        .all(db)
        .await?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    let would_demote = would_demote(db, p).await?;
    Ok(crate::model::SignInGroups { attribute: p.groups_attribute.clone(), admin_groups: p.admin_idp_groups.clone(), mappings, mappable, would_demote })
}

/// The admins whose last sign-in through `p` listed none of its admins' IdP groups: the
/// ones its current setting makes members at their next sign-in through it (the last
/// active admin excepted). Only admins the provider may set the role of count (linked to
/// it, not SCIM-managed, in a domain it may assert), and only when their last accepted
/// sign-in recorded a complete list. Emails, sorted.
async fn would_demote<C: sea_orm::ConnectionTrait>(db: &C, p: &crate::server::entities::saml_provider::Model) -> Result<Vec<String>, DomainError> {
    use crate::server::entities::{account, external_identity, membership, saml_activity};
    use crate::server::permissions::{Role, Status};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    if p.admin_idp_groups.trim().is_empty() || p.groups_attribute.is_empty() {
        return Ok(Vec::new());
    }
    let members = membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(p.workspace_id))
        .filter(membership::Column::Role.eq(Role::Admin))
        .filter(membership::Column::Status.eq(Status::Active))
        .filter(membership::Column::ManagedByProviderId.is_null())
        .limit(500)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for m in members {
        let Some(a) = account::Entity::find_by_id(m.account_id).one(db).await? else { continue };
        if !saml::may_assert(db, p, &a.email_normalized).await? {
            continue;
        }
        let link = external_identity::Entity::find()
            .filter(external_identity::Column::WorkspaceId.eq(p.workspace_id))
            .filter(external_identity::Column::ProviderKind.eq(saml::identity_kind(p)))
            .filter(external_identity::Column::ProviderKey.eq(p.public_id.clone()))
            .filter(external_identity::Column::AccountId.eq(a.id))
            .one(db)
            .await?;
        let Some(link) = link else { continue };
        let last = saml_activity::Entity::find()
            .filter(saml_activity::Column::ProviderId.eq(p.id))
            .filter(saml_activity::Column::Accepted.eq(true))
            .filter(saml_activity::Column::TestMode.eq(false))
            .filter(saml_activity::Column::Subject.eq(link.subject.chars().take(256).collect::<String>()))
            .order_by_desc(saml_activity::Column::Id)
            .one(db)
            .await?;
        let Some(row) = last else { continue };
        let (_, attributes) = signin::checks_of(&row);
        if saml::groups::lists_an_admin_group(p, &attributes) == Some(false) {
            out.push(a.email);
        }
    }
    out.sort();
    Ok(out)
}
