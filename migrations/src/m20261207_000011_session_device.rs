//! What a member sees of each of their sessions (issue 16): the browser's User-Agent as it
//! signed in (parsed for display only, so a better parser improves old rows too) and the
//! address it signed in from. Sessions made before this migration show neither.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000011_session_device"
    }
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    UserAgent,
    Ip,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        m.alter_table(Table::alter().table(Sessions::Table).add_column(ColumnDef::new(Sessions::UserAgent).text().not_null().default("")).to_owned()).await?;
        m.alter_table(Table::alter().table(Sessions::Table).add_column(ColumnDef::new(Sessions::Ip).text().not_null().default("")).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Sessions::Table).drop_column(Sessions::Ip).to_owned()).await?;
        m.alter_table(Table::alter().table(Sessions::Table).drop_column(Sessions::UserAgent).to_owned()).await
    }
}
