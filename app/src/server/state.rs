//! Shared application state, provided to server functions as Leptos context and to axum
//! handlers through `FromRef`.
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use super::clock::Clock;
use super::password::Hasher;

#[derive(Clone, axum::extract::FromRef)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<super::config::RuntimeConfig>,
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
