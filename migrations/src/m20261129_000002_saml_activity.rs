//! SAML issue: each provider's recent activity (every accepted or rejected response, with
//! the reason, for the admin page and "Test sign-in"), who started a test sign-in, and
//! which browser started each request.
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000002_saml_activity"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("saml_activity")
                .col(big_pk_auto("id"))
                .col(big_integer("provider_id"))
                .col(boolean("test_mode").default(false))
                .col(boolean("accepted"))
                // Short, stable reason code (`signature`, `audience`, `replay`, …) or `ok`.
                .col(string("reason"))
                // JSON: the named checks with pass/fail and the attributes received.
                .col(text("details"))
                .col(string_null("subject"))
                .col(string_null("source_ip"))
                .col(big_integer("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_saml_activity_provider_id")
                        .from("saml_activity", "provider_id")
                        .to("saml_providers", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("idx_saml_activity_provider_id_created_at").table("saml_activity").col("provider_id").col("created_at").to_owned())
            .await?;
        // The admin who started a "Test sign-in" (null for real sign-ins).
        m.alter_table(Table::alter().table("saml_requests").add_column(big_integer_null("initiated_by")).to_owned()).await?;
        // SHA-256 of the nonce cookie of the browser that started the request: the answer
        // is only accepted from that browser (login CSRF).
        m.alter_table(Table::alter().table("saml_requests").add_column(string("browser_hash").default("")).to_owned()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("saml_requests").drop_column("browser_hash").to_owned()).await?;
        m.alter_table(Table::alter().table("saml_requests").drop_column("initiated_by").to_owned()).await?;
        m.drop_table(Table::drop().table("saml_activity").to_owned()).await
    }
}
