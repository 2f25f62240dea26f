//! The domain: everything that touches the database, never compiled to WASM.
//! Server functions (`api/`), axum handlers (`server/` crate) and the CLI all call these
//! functions; nothing is written twice.
pub mod access;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod completion;
pub mod config;
pub mod crypto;
pub mod db;
pub mod directory;
pub mod dns;
pub mod domains;
/// The sea-orm entities stop at the domain's edge: adapters (server functions, HTTP
/// handlers, the CLI) get model types. Tests and benches may read rows directly.
#[cfg(any(test, feature = "testing"))]
pub mod entities;
#[cfg(not(any(test, feature = "testing")))]
pub(in crate::server) mod entities;
pub mod error;
pub mod events;
pub mod forward_auth;
pub mod groups;
pub mod mail;
pub mod members;
pub mod methods;
pub mod metrics;
pub mod oidc;
pub mod outbound;
pub mod password;
pub mod permissions;
pub mod product_api;
pub mod provider_page;
pub mod ratelimit;
pub mod resources;
pub mod saml;
pub mod scim;
pub mod sessions;
pub mod stats;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod webhooks;
pub mod workspaces;

pub use error::DomainError;

/// What a domain call that signs someone in needs of the running server, borrowed from
/// the application state (`web::AppState::deps`): the database, the configuration, the
/// password hasher, live events, OpenID discovery and the current time.
#[derive(Clone, Copy)]
pub struct Deps<'a> {
    pub db: &'a sea_orm::DatabaseConnection,
    pub config: &'a config::RuntimeConfig,
    pub hasher: &'a password::Hasher,
    pub events: &'a events::Events,
    /// OpenID providers' discovery documents and keys.
    pub discovery: &'a oidc::Discovery,
    pub now: i64,
}

/// Lower-cases and trims an email; refuses anything that is not `local@domain`.
pub fn normalize_email(raw: &str) -> Result<String, DomainError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
               && !domain.ends_with('.') && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(DomainError::Invalid("Enter a valid email address.".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(normalize_email("  Ada@Example.COM ").ok().as_deref(), Some("ada@example.com"));
        for bad in ["", "ada", "@x.com", "ada@", "ada@x", "a b@x.com", "a@b@c.com", "a@.com"] {
            assert!(normalize_email(bad).is_err(), "{bad} accepted");
        }
    }
}
