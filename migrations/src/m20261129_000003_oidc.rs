//! OIDC issue: per-workspace allowlists (Google hd domains, Microsoft tenants, Slack
//! teams), and which browser started each sign-in (login CSRF).
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000003_oidc"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("oidc_rules")
                .col(big_integer("workspace_id"))
                .col(string("provider")) // google | slack | office365
                .col(text("allowed")) // comma-separated; empty = any
                .col(big_integer("updated_at"))
                .primary_key(Index::create().col("workspace_id").col("provider"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_oidc_rules_workspace_id")
                        .from("oidc_rules", "workspace_id")
                        .to("workspaces", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(Table::alter().table("oidc_states").add_column(string("browser_hash").default("")).to_owned()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("oidc_states").drop_column("browser_hash").to_owned()).await?;
        m.drop_table(Table::drop().table("oidc_rules").to_owned()).await
    }
}
