//! Each provider's discovery document and JWKS, fetched on first use and cached per
//! issuer for an hour by a `Discovery` the running server owns (tests build their own, so
//! nothing leaks between them), refetched at once when a token is signed with a key we
//! don't hold.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{ClientId, ClientSecret, JsonWebKeySet, RedirectUrl};

use super::OidcProvider;
use crate::server::config::RuntimeConfig;
use crate::server::DomainError;

const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches forced by an ID token signed with a key we do not hold.
const FORCED_REFRESH_EVERY: Duration = Duration::from_secs(60);

pub(super) fn http() -> Result<openidconnect::reqwest::Client, DomainError> {
    openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| DomainError::Internal(e.to_string()))
}

/// Per issuer: when it was fetched, whether that fetch was forced by an unknown key, and
/// the document with its keys. Public data; nothing shared depends on it, so each process
/// keeps its own.
#[derive(Default)]
pub struct Discovery {
    cache: Mutex<HashMap<String, Fetched>>,
    /// The workspaces' own connections, cached apart (their URLs are admins' input).
    pub(super) connections: super::connections::ConnectionCache,
}

/// When a document was fetched, whether an unknown key forced that fetch, and the document.
type Fetched = (Instant, bool, Arc<CoreProviderMetadata>);

impl Discovery {
    /// Discovery document and JWKS, cached per issuer for an hour.
    pub(super) async fn metadata(&self, p: &OidcProvider) -> Result<Arc<CoreProviderMetadata>, DomainError> {
        self.metadata_with(p, false).await
    }

    /// `refresh`: ignore the cache (a token signed with a key we don't know yet: the provider
    /// rotated its keys). A forced fetch is made at once, however recent the cached keys are
    /// (a rotation right after our last fetch must not refuse sign-ins), but at most once a
    /// minute per provider: another unknown key within that minute is refused with the keys
    /// of the forced fetch.
    pub(super) async fn metadata_with(&self, p: &OidcProvider, refresh: bool) -> Result<Arc<CoreProviderMetadata>, DomainError> {
        if let Ok(c) = self.cache.lock() {
            if let Some((at, forced, md)) = c.get(&p.issuer) {
                let fresh_enough = if refresh { *forced && at.elapsed() < FORCED_REFRESH_EVERY } else { at.elapsed() < DISCOVERY_TTL };
                if fresh_enough {
                    return Ok(md.clone());
                }
            }
        }
        let unreachable = |what: &str| DomainError::Internal(format!("{} {what} unavailable", p.key));
        let client = http()?;
        let url = format!("{}/.well-known/openid-configuration", p.issuer);
        let body = client.get(&url).send().await.map_err(|_| unreachable("discovery"))?;
        if !body.status().is_success() {
            return Err(unreachable("discovery"));
        }
        let bytes = body.bytes().await.map_err(|_| unreachable("discovery"))?;
        let md: CoreProviderMetadata = serde_json::from_slice(&bytes).map_err(|e| DomainError::Internal(format!("{} discovery document: {e}", p.key)))?;
        let issuer = md.issuer().as_str().trim_end_matches('/').to_string();
        let matches = issuer == p.issuer || (p.key == "office365" && issuer.contains("{tenantid}"));
        if !matches {
            return Err(DomainError::Internal(format!("{} discovery names issuer {issuer}, expected {}", p.key, p.issuer)));
        }
        let jwks = JsonWebKeySet::fetch_async(md.jwks_uri(), &client).await.map_err(|_| unreachable("JWKS"))?;
        let md = Arc::new(md.set_jwks(jwks));
        if let Ok(mut c) = self.cache.lock() {
            c.insert(p.issuer.clone(), (Instant::now(), refresh, md.clone()));
        }
        Ok(md)
    }
}

pub fn redirect_uri(cfg: &RuntimeConfig, key: &str) -> String {
    format!("{}/auth/{key}/callback", cfg.public_url.trim_end_matches('/'))
}

/// A client built from discovery: the authorization endpoint set, the token and userinfo
/// endpoints as the document has them.
pub(super) type Client = openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

pub(super) fn client_for(cfg: &RuntimeConfig, p: &OidcProvider, md: &CoreProviderMetadata) -> Result<Client, DomainError> {
    let redirect = RedirectUrl::new(redirect_uri(cfg, &p.key)).map_err(|e| DomainError::Internal(e.to_string()))?;
    let post_only = md
        .token_endpoint_auth_methods_supported()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|a| *a == openidconnect::core::CoreClientAuthMethod::ClientSecretPost));
    let c = CoreClient::from_provider_metadata(md.clone(), ClientId::new(p.client_id.clone()), Some(ClientSecret::new(p.client_secret.expose().to_string())))
        .set_redirect_uri(redirect);
    // Slack's token endpoint takes the secret in the body only.
    Ok(if post_only { c.set_auth_type(openidconnect::AuthType::RequestBody) } else { c })
}
