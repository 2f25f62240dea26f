//! A Provider Token (the SCIM bearer token) may be given an expiry when it is minted
//! (issue 13). `NULL`: it never expires, as every token minted before this migration.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000009_scim_token_expiry"
    }
}

#[derive(DeriveIden)]
enum ScimTokens {
    Table,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(ScimTokens::Table).add_column(ColumnDef::new(ScimTokens::ExpiresAt).big_integer().null()).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(ScimTokens::Table).drop_column(ScimTokens::ExpiresAt).to_owned()).await
    }
}
