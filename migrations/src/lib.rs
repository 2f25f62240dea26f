//! Gatehouse schema migrations. Append-only: never edit a migration that has shipped.
//! Migrations never import entities, and every statement runs on SQLite and PostgreSQL.
pub use sea_orm_migration::prelude::*;

mod m20261129_000001_initial;
mod m20261129_000002_saml_activity;
mod m20261129_000003_oidc;
mod m20261129_000004_scim;
mod m20261129_000005_daily_counts;
mod m20261206_000006_workspace_identity;
mod m20261206_000007_domain_verification;
mod m20261206_000008_setup_token;
mod m20261206_000009_scim_token_expiry;
mod m20261207_000010_session_idle;
mod m20261207_000011_session_device;
mod m20261207_000012_saml_logout;
mod m20261207_000013_api_keys;
mod m20261207_000014_member_sort_key;
mod m20261207_000015_scim_oauth;
mod m20261207_000016_webhooks;
mod m20261208_000017_sign_in_groups;
mod m20261208_000018_oidc_connections;

/// SQLite can't drop a column's inline UNIQUE: a table is rebuilt by SQLite's documented
/// procedure instead. `steps` (create the new table, copy, drop the old, rename, and
/// whatever follows) run as one batch on one pooled connection, with foreign keys off so
/// dropping the old table cascades to nothing, in one transaction. Dropping the old table
/// drops its triggers too (`memberships` and `accounts` have some, migration 14): recreate
/// them in `steps`.
pub(crate) fn sqlite_rebuild_batch<'a>(steps: impl IntoIterator<Item = &'a str>) -> String {
    let mut batch = String::from("PRAGMA foreign_keys=OFF;\nBEGIN IMMEDIATE;\n");
    for s in steps {
        batch.push_str(s.trim_end_matches([';', '\n']));
        batch.push_str(";\n");
    }
    batch.push_str("COMMIT;\nPRAGMA foreign_keys=ON;\n");
    batch
}

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_initial::Migration),
            Box::new(m20261129_000002_saml_activity::Migration),
            Box::new(m20261129_000003_oidc::Migration),
            Box::new(m20261129_000004_scim::Migration),
            Box::new(m20261129_000005_daily_counts::Migration),
            Box::new(m20261206_000006_workspace_identity::Migration),
            Box::new(m20261206_000007_domain_verification::Migration),
            Box::new(m20261206_000008_setup_token::Migration),
            Box::new(m20261206_000009_scim_token_expiry::Migration),
            Box::new(m20261207_000010_session_idle::Migration),
            Box::new(m20261207_000011_session_device::Migration),
            Box::new(m20261207_000012_saml_logout::Migration),
            Box::new(m20261207_000013_api_keys::Migration),
            Box::new(m20261207_000014_member_sort_key::Migration),
            Box::new(m20261207_000015_scim_oauth::Migration),
            Box::new(m20261207_000016_webhooks::Migration),
            Box::new(m20261208_000017_sign_in_groups::Migration),
            Box::new(m20261208_000018_oidc_connections::Migration),
        ]
    }
}
