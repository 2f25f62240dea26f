//! SAML Single Logout (issue 16).
//! - `saml_providers.slo_url` / `slo_binding`: the IdP's SingleLogoutService, from its
//!   metadata (empty: the IdP has none, and signing out stays local).
//! - `sessions.saml_name_id` / `saml_name_id_format` / `saml_session_index`: who the IdP
//!   said the session's person is, so its LogoutRequest can name the sessions to end and
//!   ours can name the person to the IdP.
//! - `saml_logouts`: LogoutRequests we sent, each bound to the browser that signed out, so
//!   the IdP's LogoutResponse is matched to it once (in every process).
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000012_saml_logout"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        for (table, column, nullable) in [
            ("saml_providers", "slo_url", false),
            ("saml_providers", "slo_binding", false),
            ("sessions", "saml_name_id", true),
            ("sessions", "saml_name_id_format", true),
            ("sessions", "saml_session_index", true),
        ] {
            let mut col = ColumnDef::new(Alias::new(column));
            col.text();
            if nullable {
                col.null();
            } else {
                col.not_null().default("");
            }
            m.alter_table(Table::alter().table(Alias::new(table)).add_column(&mut col).to_owned()).await?;
        }
        m.create_table(
            Table::create()
                .table(Alias::new("saml_logouts"))
                .col(ColumnDef::new(Alias::new("request_id")).string().not_null().primary_key())
                .col(ColumnDef::new(Alias::new("provider_id")).big_integer().not_null())
                .col(ColumnDef::new(Alias::new("browser_hash")).string().not_null())
                .col(ColumnDef::new(Alias::new("workspace_slug")).string().not_null())
                .col(ColumnDef::new(Alias::new("expires_at")).big_integer().not_null())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_saml_logouts_provider_id")
                        .from(Alias::new("saml_logouts"), Alias::new("provider_id"))
                        .to(Alias::new("saml_providers"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("saml_logouts")).to_owned()).await?;
        for (table, column) in [
            ("sessions", "saml_session_index"),
            ("sessions", "saml_name_id_format"),
            ("sessions", "saml_name_id"),
            ("saml_providers", "slo_binding"),
            ("saml_providers", "slo_url"),
        ] {
            m.alter_table(Table::alter().table(Alias::new(table)).drop_column(Alias::new(column)).to_owned()).await?;
        }
        Ok(())
    }
}
