//! Customer OpenID Connect connections (issue 17): a workspace's own OIDC identity
//! providers live beside its SAML providers in `saml_providers`, told apart by `protocol`
//! (`saml` or `oidc`), so the rules every sign-in provider of a workspace shares (which
//! domains each may assert, "the only provider asserts every domain", groups kept in sync
//! at sign-in, the activity and test results, deletion) hold for both without a second
//! copy. An OIDC connection stores its issuer, client id and secret, extra scopes and
//! whether a missing `email_verified` claim is refused; its claim names reuse the
//! attribute columns. A pending OIDC sign-in may be an admin's test (`test_by`), known
//! before anything the provider answers is read.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000018_oidc_connections"
    }
}

const TEXT_COLUMNS: [(&str, &str); 4] = [("protocol", "saml"), ("oidc_issuer", ""), ("oidc_client_id", ""), ("oidc_scopes", "")];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let c = Alias::new;
        // SQLite takes one column per ALTER TABLE.
        for (col, default) in TEXT_COLUMNS {
            m.alter_table(Table::alter().table(c("saml_providers")).add_column(ColumnDef::new(c(col)).string().not_null().default(default)).to_owned()).await?;
        }
        m.alter_table(Table::alter().table(c("saml_providers")).add_column(ColumnDef::new(c("oidc_client_secret")).text().null()).to_owned()).await?;
        m.alter_table(
            Table::alter()
                .table(c("saml_providers"))
                .add_column(ColumnDef::new(c("oidc_require_email_verified")).boolean().not_null().default(true))
                .to_owned(),
        )
        .await?;
        m.alter_table(Table::alter().table(c("oidc_states")).add_column(ColumnDef::new(c("test_by")).big_integer().null()).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let c = Alias::new;
        m.alter_table(Table::alter().table(c("oidc_states")).drop_column(c("test_by")).to_owned()).await?;
        for col in ["oidc_require_email_verified", "oidc_client_secret"] {
            m.alter_table(Table::alter().table(c("saml_providers")).drop_column(c(col)).to_owned()).await?;
        }
        for (col, _) in TEXT_COLUMNS {
            m.alter_table(Table::alter().table(c("saml_providers")).drop_column(c(col)).to_owned()).await?;
        }
        Ok(())
    }
}
