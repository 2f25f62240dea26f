//! OAuth 2.0 client credentials for SCIM (issue 17; RFC 6749 §4.4). Microsoft's gallery
//! validation wants a SCIM endpoint that takes short-lived tokens from a token endpoint,
//! not only a long-lived bearer token. Per SAML provider: one OAuth client (its id is
//! public; only SHA-256 of its secret is kept, and after a rotation the previous secret's
//! hash until `previous_valid_until`), and the access tokens it was issued (hashed, each
//! with its expiry). Both go with their provider.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000015_scim_oauth"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let c = Alias::new;
        let provider_fk = |table: &str| {
            ForeignKey::create()
                .name(format!("fk_{table}_provider_id"))
                .from(Alias::new(table), Alias::new("provider_id"))
                .to(Alias::new("saml_providers"), Alias::new("id"))
                .on_delete(ForeignKeyAction::Cascade)
                .to_owned()
        };
        m.create_table(
            Table::create()
                .table(c("scim_oauth_clients"))
                .col(ColumnDef::new(c("id")).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(c("provider_id")).big_integer().not_null().unique_key())
                .col(ColumnDef::new(c("client_id")).string().not_null().unique_key())
                .col(ColumnDef::new(c("secret_hash")).string().not_null())
                .col(ColumnDef::new(c("previous_secret_hash")).string().null())
                .col(ColumnDef::new(c("previous_valid_until")).big_integer().null())
                .col(ColumnDef::new(c("created_at")).big_integer().not_null())
                .col(ColumnDef::new(c("rotated_at")).big_integer().not_null())
                .col(ColumnDef::new(c("last_used_at")).big_integer().null())
                .foreign_key(&mut provider_fk("scim_oauth_clients"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(c("scim_access_tokens"))
                .col(ColumnDef::new(c("id")).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(c("provider_id")).big_integer().not_null())
                .col(ColumnDef::new(c("token_hash")).string().not_null().unique_key())
                .col(ColumnDef::new(c("created_at")).big_integer().not_null())
                .col(ColumnDef::new(c("expires_at")).big_integer().not_null())
                .foreign_key(&mut provider_fk("scim_access_tokens"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_scim_access_tokens_provider").table(c("scim_access_tokens")).col(c("provider_id")).col(c("expires_at")).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("scim_access_tokens")).to_owned()).await?;
        m.drop_table(Table::drop().table(Alias::new("scim_oauth_clients")).to_owned()).await
    }
}
