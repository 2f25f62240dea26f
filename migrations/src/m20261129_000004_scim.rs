//! SCIM issue: what a provider's SCIM client said about a member (its userName, kept
//! verbatim, and the rest of its document, so reads return what was written), and a
//! version per group for ETags that doesn't require reading the group's members.
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000004_scim"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        m.alter_table(Table::alter().table("memberships").add_column(string_null("scim_user_name")).to_owned()).await?;
        m.alter_table(Table::alter().table("memberships").add_column(string_null("scim_user_name_normalized")).to_owned()).await?;
        m.alter_table(Table::alter().table("memberships").add_column(text_null("scim_data")).to_owned()).await?;
        m.alter_table(Table::alter().table("groups").add_column(big_integer("version").default(1)).to_owned()).await?;
        // userName is unique within one provider (NULLs, i.e. unlinked members, don't collide).
        m.create_index(
            Index::create()
                .name("ux_memberships_provider_user_name")
                .table("memberships")
                .col("managed_by_provider_id")
                .col("scim_user_name_normalized")
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_memberships_provider_external_id").table("memberships").col("managed_by_provider_id").col("external_id").to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_groups_provider_external_id").table("groups").col("managed_by_provider_id").col("external_id").to_owned())
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (table, index) in [
            ("groups", "ix_groups_provider_external_id"),
            ("memberships", "ix_memberships_provider_external_id"),
            ("memberships", "ux_memberships_provider_user_name"),
        ] {
            m.drop_index(Index::drop().name(index).table(table).to_owned()).await?;
        }
        m.alter_table(Table::alter().table("groups").drop_column("version").to_owned()).await?;
        for column in ["scim_data", "scim_user_name_normalized", "scim_user_name"] {
            m.alter_table(Table::alter().table("memberships").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
