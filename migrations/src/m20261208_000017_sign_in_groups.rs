//! IdP groups at sign-in (issue 17): a SAML provider may name the attribute that carries a
//! member's IdP groups, and the IdP groups whose members are admins; a group may be kept
//! in sync with one IdP group of one provider at each sign-in (`sign_in_provider_id`,
//! `idp_group`), which makes it managed by sign-in, as SCIM's are by provisioning.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000017_sign_in_groups"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let c = Alias::new;
        // SQLite takes one column per ALTER TABLE.
        for col in ["groups_attribute", "admin_idp_groups"] {
            m.alter_table(Table::alter().table(c("saml_providers")).add_column(ColumnDef::new(c(col)).string().not_null().default("")).to_owned()).await?;
        }
        m.alter_table(Table::alter().table(c("groups")).add_column(ColumnDef::new(c("sign_in_provider_id")).big_integer().null()).to_owned()).await?;
        m.alter_table(Table::alter().table(c("groups")).add_column(ColumnDef::new(c("idp_group")).string().null()).to_owned()).await?;
        // One Gatehouse group per IdP group of a provider.
        m.create_index(Index::create().name("idx_groups_sign_in").table(c("groups")).col(c("sign_in_provider_id")).col(c("idp_group")).unique().to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let c = Alias::new;
        m.drop_index(Index::drop().name("idx_groups_sign_in").table(c("groups")).to_owned()).await?;
        for col in ["sign_in_provider_id", "idp_group"] {
            m.alter_table(Table::alter().table(c("groups")).drop_column(c(col)).to_owned()).await?;
        }
        for col in ["groups_attribute", "admin_idp_groups"] {
            m.alter_table(Table::alter().table(c("saml_providers")).drop_column(c(col)).to_owned()).await?;
        }
        Ok(())
    }
}
