//! A workspace's own OpenID Connect connections (issue 17): any OIDC identity provider
//! (Okta, Auth0, Keycloak, Entra ID, …) an admin adds beside its SAML providers, with the
//! issuer, a confidential client (id and secret), extra scopes and claim names. They live
//! in the providers table (`protocol = oidc`), so the rules all of a workspace's
//! providers share apply unchanged: which claimed domains each may assert, groups kept in
//! sync at sign-in, the activity and Test sign-in, deletion.
//!
//! Everything fetched from the issuer (discovery document, keys, token endpoint) is an
//! admin-typed URL, so it goes through `outbound`'s policy: public addresses only (unless
//! the operator allows private ones), the host resolved once and pinned, no redirects,
//! no proxy, a timeout and a size cap.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::JsonWebKeySet;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use crate::model::OidcConnectionForm;
use crate::server::audit;
use crate::server::config::RuntimeConfig;
use crate::server::entities::{external_identity, saml_provider};
use crate::server::outbound::{pinned_client, Refusal};
use crate::server::permissions::AdminCap;
use crate::server::saml::{self, Provider, OIDC};
use crate::server::DomainError;

pub const DEFAULT_CLAIM_EMAIL: &str = "email";
pub const DEFAULT_CLAIM_GIVEN: &str = "given_name";
pub const DEFAULT_CLAIM_FAMILY: &str = "family_name";
/// Always asked for; `scopes` adds to them.
pub const BASE_SCOPES: [&str; 3] = ["openid", "email", "profile"];
const MAX_DOCUMENT_BYTES: usize = 128 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const WELL_KNOWN: &str = "/.well-known/openid-configuration";
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
const FORCED_REFRESH_EVERY: Duration = Duration::from_secs(60);

/// Where the IdP sends the browser back (the redirect URI to register there).
pub fn redirect_uri(cfg: &RuntimeConfig, public_id: &str) -> String {
    format!("{}/oidc/{public_id}/callback", cfg.public_url.trim_end_matches('/'))
}

fn invalid(msg: impl Into<String>) -> DomainError {
    DomainError::Invalid(msg.into())
}

/// The issuer an admin typed, or its discovery URL, as stored: no trailing slash (Auth0's
/// issuers end with one; the discovery document's own issuer is what tokens are checked
/// against). An https server takes https issuers only.
pub fn normalize_issuer(raw: &str, strict: bool) -> Result<String, DomainError> {
    let trimmed = raw.trim();
    let trimmed = trimmed.strip_suffix(WELL_KNOWN).unwrap_or(trimmed).trim_end_matches('/');
    let url = url::Url::parse(trimmed).map_err(|_| invalid("The issuer is not a URL: give it as https://idp.example.com/… (its discovery URL works too)."))?;
    if url.scheme() != "https" && (strict || url.scheme() != "http") {
        return Err(invalid("The issuer must be an https:// URL."));
    }
    if url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("The issuer must be a plain https:// URL, without a query, a fragment or credentials."));
    }
    if trimmed.len() > 512 {
        return Err(invalid("The issuer is longer than 512 characters."));
    }
    Ok(trimmed.to_string())
}

fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn refusal_text(what: &str, r: Refusal) -> String {
    match r {
        Refusal::NoHost => format!("the {what} URL has no host"),
        Refusal::NotResolved => format!("the {what} URL's host name could not be resolved"),
        Refusal::Private => format!("the {what} URL points to a private or local address (only public addresses are reached)"),
        Refusal::Client(e) => format!("no HTTP client for the {what} URL: {e}"),
    }
}

/// A client for requests to `url` under the outbound policy (the token endpoint's too).
pub(super) async fn client_for_url(url: &str, what: &str, strict: bool, allow_private: bool) -> Result<reqwest::Client, String> {
    let u = url::Url::parse(url).map_err(|_| format!("the {what} URL is not a URL"))?;
    if u.scheme() != "https" && (strict || u.scheme() != "http") {
        return Err(format!("the {what} URL is not https"));
    }
    pinned_client(&u, allow_private, FETCH_TIMEOUT).await.map_err(|r| refusal_text(what, r))
}

/// GETs a JSON document of at most 128 KiB. Errors say what failed, never what the remote
/// answered (admin-typed URL: no content disclosure).
async fn get_json(url: &str, what: &str, strict: bool, allow_private: bool) -> Result<Vec<u8>, String> {
    let client = client_for_url(url, what, strict, allow_private).await?;
    let mut resp = client.get(url).header("accept", "application/json").send().await.map_err(|e| {
        format!("the {what} could not be fetched from {url} ({})", if e.is_timeout() { "no answer within 10 seconds" } else { "connection failed" })
    })?;
    if resp.status().is_redirection() {
        return Err(format!("{url} redirects elsewhere (redirects aren't followed); give the final URL"));
    }
    if !resp.status().is_success() {
        return Err(format!("{url} answered HTTP {} for the {what}", resp.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|_| format!("the {what} download was interrupted"))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("the {what} is larger than 128 KiB"));
        }
    }
    Ok(body)
}

/// Where a document failed to parse, without quoting it (what a remote host answered is
/// never echoed: the URL is an admin's input).
fn unparsed(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Data => "a required field is missing or has the wrong type",
        serde_json::error::Category::Eof => "it ends early",
        _ => "it is not JSON",
    };
    format!("{what}, line {} column {}", e.line(), e.column())
}

/// The issuer's discovery document and keys, checked: it names the issuer it was fetched
/// for, and has the endpoints the authorization code flow needs.
/// An issuer's checked discovery document with its keys.
pub(super) struct Issuer {
    pub md: CoreProviderMetadata,
    /// It says it names itself (`iss`) in every authorization answer (RFC 9207), so an
    /// answer without it isn't its.
    pub names_itself: bool,
}

pub(super) async fn fetch_metadata(issuer: &str, strict: bool, allow_private: bool) -> Result<Issuer, String> {
    let url = format!("{}{WELL_KNOWN}", issuer.trim_end_matches('/'));
    let body = get_json(&url, "discovery document", strict, allow_private).await?;
    let names_itself = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("authorization_response_iss_parameter_supported").and_then(serde_json::Value::as_bool))
        .unwrap_or(false);
    let md: CoreProviderMetadata =
        serde_json::from_slice(&body).map_err(|e| format!("the discovery document at {url} is not an OpenID Provider configuration ({})", unparsed(&e)))?;
    let named = md.issuer().as_str();
    if !same_issuer(named, issuer) {
        return Err(format!("the discovery document names the issuer {named}, not {issuer}"));
    }
    if md.token_endpoint().is_none() {
        return Err("the discovery document names no token endpoint".into());
    }
    let auth = md.authorization_endpoint().url();
    if auth.scheme() != "https" && (strict || auth.scheme() != "http") {
        return Err("the authorization endpoint is not https".into());
    }
    let jwks_url = md.jwks_uri().url().to_string();
    let keys = get_json(&jwks_url, "key set (JWKS)", strict, allow_private).await?;
    let jwks: JsonWebKeySet<openidconnect::core::CoreJsonWebKey> =
        serde_json::from_slice(&keys).map_err(|e| format!("the key set at {jwks_url} is not a JWK Set ({})", unparsed(&e)))?;
    if jwks.keys().is_empty() {
        return Err(format!("the key set at {jwks_url} holds no keys"));
    }
    Ok(Issuer { md: md.set_jwks(jwks), names_itself })
}

/// Signature algorithms accepted for ID tokens: the asymmetric ones the issuer lists (RS256
/// when it lists none). Never `none`, and no HMAC (a token "signed" with the client secret
/// proves only that someone knew the secret).
pub(super) fn signing_algs(md: &CoreProviderMetadata) -> Vec<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm as A;
    let listed: Vec<A> =
        md.id_token_signing_alg_values_supported().iter().filter(|a| !matches!(a, A::HmacSha256 | A::HmacSha384 | A::HmacSha512 | A::None)).cloned().collect();
    if listed.is_empty() {
        vec![A::RsaSsaPkcs1V15Sha256]
    } else {
        listed
    }
}

/// Per connection (and issuer, so an edit fetches anew): when fetched, whether an unknown
/// key forced it, and the document with its keys, or why it couldn't be had. Public data:
/// each process keeps its own, at most `CACHED` entries (the oldest goes first; a
/// connection whose entry went is fetched again, nothing else changes).
#[derive(Default)]
pub struct ConnectionCache {
    cache: Mutex<HashMap<String, Fetched>>,
}

/// When a document was fetched, whether an unknown key forced that fetch, and the document
/// (or why the fetch failed).
type Fetched = (Instant, bool, Result<Arc<Issuer>, String>);

/// Connections whose documents a process keeps.
const CACHED: usize = 256;
/// How long a failed fetch is answered from memory (sign-ins against an issuer that is
/// down don't each wait for it).
const FAILURE_TTL: Duration = Duration::from_secs(10);

impl ConnectionCache {
    /// The connection's discovery document and keys, cached for an hour. `refresh` (a
    /// token signed with a key we don't hold) fetches at once, at most once a minute.
    pub(super) async fn metadata(&self, p: &saml_provider::Model, strict: bool, allow_private: bool, refresh: bool) -> Result<Arc<Issuer>, String> {
        let key = format!("{}|{}", p.public_id, p.oidc_issuer);
        if let Ok(c) = self.cache.lock() {
            if let Some((at, forced, got)) = c.get(&key) {
                let fresh_enough = match got {
                    Err(_) => at.elapsed() < FAILURE_TTL,
                    Ok(_) if refresh => *forced && at.elapsed() < FORCED_REFRESH_EVERY,
                    Ok(_) => at.elapsed() < DISCOVERY_TTL,
                };
                if fresh_enough {
                    return got.clone();
                }
            }
        }
        let got = fetch_metadata(&p.oidc_issuer, strict, allow_private).await.map(Arc::new);
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= CACHED && !c.contains_key(&key) {
                if let Some(oldest) = c.iter().min_by_key(|(_, (at, _, _))| *at).map(|(k, _)| k.clone()) {
                    c.remove(&oldest);
                }
            }
            c.insert(key, (Instant::now(), refresh, got.clone()));
        }
        got
    }
}

/// Validated values ready to store.
struct Clean {
    name: String,
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    scopes: String,
    claim_email: String,
    claim_given: String,
    claim_family: String,
}

fn claim_list(raw: &str, default: &str, what: &str) -> Result<String, DomainError> {
    let names: Vec<&str> = raw.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if names.is_empty() {
        return Ok(default.to_string());
    }
    if names.len() > 10 || names.iter().any(|n| n.len() > 200 || n.chars().any(char::is_control)) {
        return Err(invalid(format!("The {what} claim names are too long or too many (at most 10, comma-separated).")));
    }
    Ok(names.join(", "))
}

fn clean_scopes(raw: &str) -> Result<String, DomainError> {
    let mut out: Vec<&str> = Vec::new();
    for s in raw.split([' ', ',', '\n']).map(str::trim).filter(|s| !s.is_empty()) {
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
        if s.len() > 100 || !s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)) {
            return Err(invalid(format!(
                "“{}” is not a scope (letters, digits and punctuation, no quotes or backslashes).",
                s.chars().take(100).collect::<String>()
            )));
        }
        if !BASE_SCOPES.contains(&s) && !out.contains(&s) {
            out.push(s);
        }
    }
    if out.len() > 20 {
        return Err(invalid("At most 20 extra scopes."));
    }
    Ok(out.join(" "))
}

async fn clean(cfg: &RuntimeConfig, form: &OidcConnectionForm, existing: Option<&saml_provider::Model>) -> Result<Clean, DomainError> {
    // Defined before the secret is looked at: a kept secret is only ever sent to the
    // issuer and client it was given for.
    let strict = cfg.secure_cookies();
    let name = form.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(invalid("Give the connection a name of 1 to 80 characters (members see “Sign in with <name>”)."));
    }
    let issuer = normalize_issuer(&form.issuer, strict)?;
    let ours = url::Url::parse(&cfg.public_url).ok().map(|u| u.origin().ascii_serialization());
    if url::Url::parse(&issuer).ok().map(|u| u.origin().ascii_serialization()) == ours {
        return Err(invalid("The issuer points at Gatehouse itself; give the identity provider's issuer."));
    }
    let client_id = form.client_id.trim().to_string();
    if client_id.is_empty() || client_id.len() > 255 || client_id.chars().any(char::is_control) {
        return Err(invalid("Enter the client ID the identity provider gave this app (up to 255 characters)."));
    }
    let secret = form.client_secret.trim();
    let same_client = existing.is_some_and(|e| e.oidc_issuer == issuer && e.oidc_client_id == client_id);
    let client_secret = if secret.is_empty() {
        if existing.and_then(|e| e.oidc_client_secret.as_ref()).is_none() {
            return Err(invalid("Enter the client secret the identity provider gave this app."));
        }
        if !same_client {
            // Kept, it would go to whatever token endpoint the new issuer names.
            return Err(invalid(
                "Enter the client secret again: the issuer or the client ID changed, and the stored secret is only sent to the IdP it was given for.",
            ));
        }
        None
    } else {
        if secret.len() > 1024 || secret.chars().any(char::is_control) {
            return Err(invalid("The client secret is longer than 1024 characters or holds control characters."));
        }
        Some(secret.to_string())
    };
    // The issuer must answer now: a typo is caught here, not at a member's first sign-in.
    fetch_metadata(&issuer, strict, cfg.allow_private_metadata_urls)
        .await
        .map_err(|why| invalid(format!("The issuer's discovery document could not be used: {why}.")))?;
    Ok(Clean {
        name,
        issuer,
        client_id,
        client_secret,
        scopes: clean_scopes(&form.scopes)?,
        claim_email: claim_list(&form.claim_email, DEFAULT_CLAIM_EMAIL, "email")?,
        claim_given: claim_list(&form.claim_given_name, DEFAULT_CLAIM_GIVEN, "given name")?,
        claim_family: claim_list(&form.claim_family_name, DEFAULT_CLAIM_FAMILY, "family name")?,
    })
}

/// Adds a connection (its sign-in method starts off: test it, then switch it on). As for
/// SAML providers, a provider that asserted every domain as the workspace's only one keeps
/// asserting what it did, and the new one asserts nothing until an admin gives it domains.
pub async fn create(db: &DatabaseConnection, cfg: &RuntimeConfig, now: i64, cap: &AdminCap, form: &OidcConnectionForm) -> Result<Provider, DomainError> {
    let c = clean(cfg, form, None).await?;
    let public_id = saml::new_public_id();
    let txn = crate::server::db::write(db).await?;
    saml::before_another(&txn, cap.workspace_id()).await?;
    let model = saml_provider::ActiveModel {
        protocol: Set(OIDC.into()),
        public_id: Set(public_id.clone()),
        workspace_id: Set(cap.workspace_id()),
        asserted_domains: Set(None),
        name: Set(c.name.clone()),
        idp_entity_id: Set(String::new()),
        sso_url: Set(String::new()),
        certificates: Set("[]".into()),
        allow_idp_initiated: Set(false),
        sign_requests: Set(false),
        require_encryption: Set(false),
        nameid_format: Set(String::new()),
        attr_email: Set(c.claim_email),
        attr_given_name: Set(c.claim_given),
        attr_family_name: Set(c.claim_family),
        sp_key_pem: Set(None),
        sp_cert_pem: Set(None),
        provisioning_enabled: Set(false),
        slo_url: Set(String::new()),
        slo_binding: Set(String::new()),
        oidc_issuer: Set(c.issuer.clone()),
        oidc_client_id: Set(c.client_id.clone()),
        oidc_client_secret: Set(c.client_secret.map(crate::server::crypto::Secret::new)),
        oidc_scopes: Set(c.scopes),
        oidc_require_email_verified: Set(form.require_email_verified),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        now,
        Some(cap.workspace_id()),
        cap.actor(),
        "oidc.connection.create",
        &saml::key_of(&model),
        serde_json::json!({ "name": c.name, "issuer": c.issuer, "client_id": c.client_id }),
    )
    .await?;
    txn.commit().await?;
    Ok(Provider(model))
}

/// Saves a connection's settings; an empty secret keeps the stored one while the issuer
/// and client id stay. A new issuer or client id drops the connection's links to its
/// members (a `sub` is only unique within one issuer, and some IdPs, such as Entra ID,
/// give each app its own): they are matched again by email, within the domains it may
/// assert.
pub async fn update(
    db: &DatabaseConnection,
    cfg: &RuntimeConfig,
    now: i64,
    cap: &AdminCap,
    public_id: &str,
    form: &OidcConnectionForm,
) -> Result<Provider, DomainError> {
    let existing = saml::row_of(db, cap, public_id, OIDC).await?;
    let c = clean(cfg, form, Some(&existing)).await?;
    let issuer_changed = existing.oidc_issuer != c.issuer || existing.oidc_client_id != c.client_id;
    let secret_changed = c.client_secret.is_some();
    let txn = crate::server::db::write(db).await?;
    let mut m: saml_provider::ActiveModel = existing.clone().into();
    m.name = Set(c.name.clone());
    m.oidc_issuer = Set(c.issuer.clone());
    m.oidc_client_id = Set(c.client_id.clone());
    if let Some(s) = c.client_secret {
        m.oidc_client_secret = Set(Some(crate::server::crypto::Secret::new(s)));
    }
    m.oidc_scopes = Set(c.scopes);
    m.attr_email = Set(c.claim_email);
    m.attr_given_name = Set(c.claim_given);
    m.attr_family_name = Set(c.claim_family);
    m.oidc_require_email_verified = Set(form.require_email_verified);
    m.updated_at = Set(now);
    let model = m.update(&txn).await?;
    let unlinked = if issuer_changed {
        external_identity::Entity::delete_many()
            .filter(external_identity::Column::WorkspaceId.eq(existing.workspace_id))
            .filter(external_identity::Column::ProviderKind.eq(OIDC))
            .filter(external_identity::Column::ProviderKey.eq(existing.public_id.clone()))
            .exec(&txn)
            .await?
            .rows_affected
    } else {
        0
    };
    audit::record(
        &txn,
        now,
        Some(cap.workspace_id()),
        cap.actor(),
        "oidc.connection.update",
        &saml::key_of(&model),
        serde_json::json!({ "name": c.name, "issuer": c.issuer, "client_id": c.client_id, "secret_changed": secret_changed, "links_dropped": unlinked }),
    )
    .await?;
    txn.commit().await?;
    Ok(Provider(model))
}

/// A connection by its public id, whichever workspace it belongs to (the sign-in entry
/// points); a SAML provider's id is "not found" here.
pub async fn by_public_id(db: &DatabaseConnection, public_id: &str) -> Result<Provider, DomainError> {
    saml::any_by_public_id(db, public_id).await?.filter(|p| p.protocol == OIDC).map(Provider).ok_or(DomainError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_stored_without_the_discovery_path_or_a_trailing_slash() {
        assert_eq!(normalize_issuer("https://acme.okta.com/oauth2/default", true).ok().as_deref(), Some("https://acme.okta.com/oauth2/default"));
        assert_eq!(normalize_issuer(" https://acme.eu.auth0.com/ ", true).ok().as_deref(), Some("https://acme.eu.auth0.com"));
        assert_eq!(
            normalize_issuer("https://sso.acme.test/realms/acme/.well-known/openid-configuration", true).ok().as_deref(),
            Some("https://sso.acme.test/realms/acme")
        );
        assert!(normalize_issuer("http://idp.acme.test", true).is_err(), "an https server takes https issuers only");
        assert!(normalize_issuer("http://127.0.0.1:9000", false).is_ok());
        assert!(normalize_issuer("https://idp.acme.test/?x=1", true).is_err());
        assert!(normalize_issuer("https://user:pw@idp.acme.test", true).is_err());
        assert!(normalize_issuer("idp.acme.test", true).is_err());
        assert!(same_issuer("https://a.test/", "https://a.test"));
    }

    #[test]
    fn scopes_are_tokens_without_the_base_ones() {
        assert_eq!(clean_scopes("openid groups, offline_access groups").ok().as_deref(), Some("groups offline_access"));
        assert!(clean_scopes("bad\"scope").is_err());
        assert!(clean_scopes("a\\b").is_err());
        assert_eq!(clean_scopes("").ok().as_deref(), Some(""));
    }

    #[test]
    fn hmac_and_none_are_never_accepted_for_id_tokens() {
        let md: CoreProviderMetadata = serde_json::from_value(serde_json::json!({
            "issuer": "https://idp.test",
            "authorization_endpoint": "https://idp.test/auth",
            "token_endpoint": "https://idp.test/token",
            "jwks_uri": "https://idp.test/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["HS256", "none", "ES256", "RS256"]
        }))
        .expect("metadata");
        assert_eq!(signing_algs(&md), vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]);
    }
}
