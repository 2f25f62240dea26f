//! API keys (issue 18): service accounts of a workspace for the product's calls to `/v1`.
//! A key is `ghk_{public_id}_{secret}`; only SHA-256 of the secret is kept. Rotation
//! keeps the previous secret's hash until `previous_valid_until` (the overlap window).
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000013_api_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let t = || Alias::new("api_keys");
        let c = Alias::new;
        m.create_table(
            Table::create()
                .table(t())
                .col(ColumnDef::new(c("id")).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(c("workspace_id")).big_integer().not_null())
                .col(ColumnDef::new(c("public_id")).string().not_null().unique_key())
                .col(ColumnDef::new(c("name")).string().not_null())
                .col(ColumnDef::new(c("scopes")).string().not_null())
                .col(ColumnDef::new(c("secret_hash")).string().not_null())
                .col(ColumnDef::new(c("previous_secret_hash")).string().null())
                .col(ColumnDef::new(c("previous_valid_until")).big_integer().null())
                .col(ColumnDef::new(c("expires_at")).big_integer().null())
                .col(ColumnDef::new(c("created_at")).big_integer().not_null())
                .col(ColumnDef::new(c("created_by")).string().not_null())
                .col(ColumnDef::new(c("last_used_at")).big_integer().null())
                .col(ColumnDef::new(c("revoked_at")).big_integer().null())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_api_keys_workspace_id")
                        .from(t(), c("workspace_id"))
                        .to(c("workspaces"), c("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("idx_api_keys_workspace").table(t()).col(c("workspace_id")).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("api_keys")).to_owned()).await
    }
}
