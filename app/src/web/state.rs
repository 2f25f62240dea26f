//! Shared application state, provided to server functions as Leptos context and to axum
//! handlers through `FromRef`.
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::server::clock::Clock;
use crate::server::password::Hasher;

#[derive(Clone, axum::extract::FromRef)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<crate::server::config::RuntimeConfig>,
    pub clock: Arc<dyn Clock>,
    pub hasher: Hasher,
    pub leptos_options: leptos::config::LeptosOptions,
    /// Live page updates (in-process on SQLite, LISTEN/NOTIFY on PostgreSQL).
    pub events: crate::server::events::Events,
    /// Group commit of served SCIM requests' bookkeeping (budget, counts, activity).
    pub scim_ledger: crate::server::scim::ledger::Ledger,
    /// OpenID providers' discovery documents and keys, cached by this server.
    pub oidc_discovery: Arc<crate::server::oidc::Discovery>,
}

impl AppState {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The domain's view of this state, at the current time.
    pub fn deps(&self) -> crate::server::Deps<'_> {
        crate::server::Deps { db: &self.db, config: &self.config, hasher: &self.hasher, events: &self.events, discovery: &self.oidc_discovery, now: self.now() }
    }
}
