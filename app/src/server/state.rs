//! Shared application state, provided to server functions as Leptos context and to axum
//! handlers through `FromRef`.
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use super::clock::Clock;
use super::password::Hasher;

/// Settings the domain needs at run time (a subset of the server's configuration).
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// External base URL without trailing slash, e.g. `https://gatehouse.example.com`.
    pub public_url: String,
    /// Password sign-in attempts allowed per account and per IP in a 15-minute window.
    pub login_attempts_per_window: i64,
    /// SCIM requests allowed per token per minute; beyond it, 429 with `Retry-After`.
    pub scim_requests_per_minute: i64,
    /// `/v1` requests allowed per API key per minute; beyond it, 429 with `Retry-After`.
    pub api_requests_per_minute: i64,
    /// Resources (collections and connections) one workspace may hold: a bound on what
    /// one workspace's admin or API key can make the shared database carry.
    pub max_resources_per_workspace: u64,
    /// Sends invite mail when SMTP is configured.
    pub mailer: Option<super::mail::Mailer>,
    /// OIDC providers (`google`, `slack`, `office365`) with credentials on this server.
    pub oidc: Vec<super::oidc::OidcProvider>,
    /// Bearer token for `GET /metrics`; without it the endpoint is off.
    pub metrics_token: Option<super::crypto::Secret>,
    /// Where domain verification looks up TXT records.
    pub dns: super::dns::Dns,
    /// How often each claimed domain is checked again (seconds).
    pub domain_recheck_secs: i64,
    /// Proxies whose `X-Forwarded-For`/`Forwarded` are believed (load balancers).
    pub trusted_proxies: Vec<super::http_security::Cidr>,
    /// Metadata URLs may resolve to private and loopback addresses (labs only).
    pub allow_private_metadata_urls: bool,
    /// How `/forward-auth` reads the product's URIs (none: it answers 404 to everything).
    pub forward_auth: super::forward_auth::Rules,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            public_url: "http://127.0.0.1:3000".into(),
            login_attempts_per_window: 10,
            scim_requests_per_minute: 6000,
            api_requests_per_minute: 6000,
            max_resources_per_workspace: 250_000,
            mailer: None,
            oidc: vec![],
            metrics_token: None,
            dns: super::dns::Dns::default(),
            domain_recheck_secs: 3600,
            trusted_proxies: vec![],
            allow_private_metadata_urls: false,
            forward_auth: super::forward_auth::Rules::default(),
        }
    }
}

impl RuntimeConfig {
    pub fn oidc_provider(&self, key: &str) -> Option<&super::oidc::OidcProvider> {
        self.oidc.iter().find(|p| p.key == key)
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

#[derive(Clone, axum::extract::FromRef)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<RuntimeConfig>,
    pub clock: Arc<dyn Clock>,
    pub hasher: Hasher,
    pub leptos_options: leptos::config::LeptosOptions,
    /// Live page updates (in-process on SQLite, LISTEN/NOTIFY on PostgreSQL).
    pub events: super::events::Events,
    /// Group commit of served SCIM requests' bookkeeping (budget, counts, activity).
    pub scim_ledger: super::scim::ledger::Ledger,
}

impl AppState {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
