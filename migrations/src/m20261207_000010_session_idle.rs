//! An idle timeout per workspace (issue 16): a session unused for longer than
//! `session_idle_secs` ends at its next request. 0: off, as for every workspace before.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000010_session_idle"
    }
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    SessionIdleSecs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Workspaces::Table).add_column(ColumnDef::new(Workspaces::SessionIdleSecs).big_integer().not_null().default(0)).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Workspaces::Table).drop_column(Workspaces::SessionIdleSecs).to_owned()).await
    }
}
