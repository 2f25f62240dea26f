//! Gatehouse schema migrations. Append-only: never edit a migration that has shipped.
//! Migrations never import entities, and every statement runs on SQLite and PostgreSQL.
pub use sea_orm_migration::prelude::*;

mod m20261129_000001_initial;
mod m20261129_000002_saml_activity;
mod m20261129_000003_oidc;
mod m20261129_000004_scim;
mod m20261129_000005_daily_counts;
mod m20261206_000006_workspace_identity;

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
        ]
    }
}
