//! Production issue: per-workspace daily counters for the Overview page's charts
//! (sign-ins per method, SCIM requests), kept when sessions and activity rows are not.
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000005_daily_counts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("daily_counts")
                .col(big_integer("workspace_id"))
                // Days since the Unix epoch (UTC).
                .col(big_integer("day"))
                // `signin:<method>` (password, google, slack, office365, saml) or `scim`.
                .col(string("metric"))
                .col(big_integer("count").default(0))
                .primary_key(Index::create().col("workspace_id").col("day").col("metric"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("daily_counts").to_owned()).await
    }
}
