//! First run needs a one-time setup token (issue 13): its SHA-256 is kept here until setup
//! succeeds, so every process checks the same one.
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000008_setup_token"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(Table::create().table("setup_tokens").col(string("token_hash").primary_key()).col(big_integer("created_at")).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("setup_tokens").to_owned()).await
    }
}
