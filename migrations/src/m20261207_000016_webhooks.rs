//! Signed webhooks (issue 18). An endpoint is a workspace's URL, the events it wants and
//! its signing secret (kept as is: HMAC needs it; shown once). A delivery is one event for
//! one endpoint, written in the same transaction as the change it reports (an outbox), and
//! sent by whichever server process leases it first; it keeps the last attempt's outcome
//! for the delivery log. `dropped` counts events not queued because the endpoint's queue
//! was full.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000016_webhooks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let c = Alias::new;
        let endpoints = || Alias::new("webhook_endpoints");
        m.create_table(
            Table::create()
                .table(endpoints())
                .col(ColumnDef::new(c("id")).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(c("workspace_id")).big_integer().not_null())
                .col(ColumnDef::new(c("url")).string().not_null())
                .col(ColumnDef::new(c("events")).string().not_null())
                .col(ColumnDef::new(c("secret")).string().not_null())
                .col(ColumnDef::new(c("previous_secret")).string().null())
                .col(ColumnDef::new(c("previous_valid_until")).big_integer().null())
                .col(ColumnDef::new(c("created_at")).big_integer().not_null())
                .col(ColumnDef::new(c("created_by")).string().not_null())
                .col(ColumnDef::new(c("dropped")).big_integer().not_null().default(0))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_webhook_endpoints_workspace_id")
                        .from(endpoints(), c("workspace_id"))
                        .to(c("workspaces"), c("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("idx_webhook_endpoints_workspace").table(endpoints()).col(c("workspace_id")).to_owned()).await?;
        let deliveries = || Alias::new("webhook_deliveries");
        m.create_table(
            Table::create()
                .table(deliveries())
                .col(ColumnDef::new(c("id")).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(c("endpoint_id")).big_integer().not_null())
                .col(ColumnDef::new(c("workspace_id")).big_integer().not_null())
                .col(ColumnDef::new(c("event_id")).string().not_null())
                .col(ColumnDef::new(c("event_type")).string().not_null())
                .col(ColumnDef::new(c("subject")).string().not_null())
                .col(ColumnDef::new(c("payload")).text().not_null())
                .col(ColumnDef::new(c("state")).string().not_null())
                .col(ColumnDef::new(c("attempts")).integer().not_null())
                .col(ColumnDef::new(c("next_attempt_at")).big_integer().not_null())
                .col(ColumnDef::new(c("lease_token")).string().null())
                .col(ColumnDef::new(c("lease_until")).big_integer().null())
                .col(ColumnDef::new(c("last_attempt_at")).big_integer().null())
                .col(ColumnDef::new(c("last_status")).integer().null())
                .col(ColumnDef::new(c("last_error")).string().null())
                .col(ColumnDef::new(c("created_at")).big_integer().not_null())
                .col(ColumnDef::new(c("delivered_at")).big_integer().null())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_webhook_deliveries_endpoint_id")
                        .from(deliveries(), c("endpoint_id"))
                        .to(endpoints(), c("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // The worker's scans (the workspaces with due deliveries, then each one's), the
        // per-subject ordering check, an endpoint's queue length, and the delivery log.
        m.create_index(
            Index::create().name("idx_webhook_deliveries_due").table(deliveries()).col(c("state")).col(c("workspace_id")).col(c("next_attempt_at")).to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("idx_webhook_deliveries_queue").table(deliveries()).col(c("endpoint_id")).col(c("state")).to_owned()).await?;
        m.create_index(
            Index::create().name("idx_webhook_deliveries_subject").table(deliveries()).col(c("endpoint_id")).col(c("subject")).col(c("id")).to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("idx_webhook_deliveries_workspace").table(deliveries()).col(c("workspace_id")).col(c("id")).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("webhook_deliveries")).to_owned()).await?;
        m.drop_table(Table::drop().table(Alias::new("webhook_endpoints")).to_owned()).await
    }
}
