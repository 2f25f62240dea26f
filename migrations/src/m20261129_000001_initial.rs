//! The whole data model of docs/design.md: the foundation tables, plus the
//! tables SAML, OIDC and SCIM need, so that later features add columns, not shapes.
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000001_initial"
    }
}

fn fk(from_table: &'static str, from_col: &'static str, to_table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from_table}_{from_col}"))
        .from(from_table, from_col)
        .to(to_table, "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn fk_null(from_table: &'static str, from_col: &'static str, to_table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from_table}_{from_col}"))
        .from(from_table, from_col)
        .to(to_table, "id")
        .on_delete(ForeignKeyAction::SetNull)
        .to_owned()
}

fn index(table: &'static str, cols: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(format!("ix_{}_{}", table, cols.join("_"))).table(table);
    for c in cols {
        i.col(*c);
    }
    if unique {
        i.unique();
    }
    i.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Tenants.
        m.create_table(
            Table::create()
                .table("workspaces")
                .col(big_pk_auto("id"))
                .col(string_uniq("slug"))
                .col(string("name"))
                .col(big_integer("session_lifetime_secs").default(30 * 24 * 3600))
                .col(big_integer("created_at"))
                .to_owned(),
        )
        .await?;
        // A claimed email domain belongs to one workspace only.
        m.create_table(
            Table::create()
                .table("workspace_domains")
                .col(big_pk_auto("id"))
                .col(big_integer("workspace_id"))
                .col(string_uniq("domain"))
                .col(big_integer("created_at"))
                .foreign_key(&mut fk("workspace_domains", "workspace_id", "workspaces"))
                .to_owned(),
        )
        .await?;
        // Global identities. `email_normalized` is the lower-cased email: unique case-insensitively.
        // Passwords are not here but per membership: a workspace's admin can't set (or learn)
        // a credential that opens another workspace.
        m.create_table(
            Table::create()
                .table("accounts")
                .col(big_pk_auto("id"))
                .col(string("email"))
                .col(string_uniq("email_normalized"))
                .col(string("full_name").default(""))
                .col(string("given_name").default(""))
                .col(string("family_name").default(""))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .to_owned(),
        )
        .await?;
        // Customer SAML identity providers (issue 3). `public_id` is what URLs and
        // method names (`saml:<public_id>`) carry.
        m.create_table(
            Table::create()
                .table("saml_providers")
                .col(big_pk_auto("id"))
                .col(string_uniq("public_id"))
                .col(big_integer("workspace_id"))
                .col(string("name"))
                .col(string("idp_entity_id"))
                .col(text("sso_url"))
                .col(text("certificates")) // JSON array of PEM strings, 1 or 2
                .col(boolean("allow_idp_initiated").default(false))
                .col(boolean("sign_requests").default(false))
                .col(boolean("require_encryption").default(false))
                .col(string("nameid_format"))
                .col(string("attr_email"))
                .col(string("attr_given_name"))
                .col(string("attr_family_name"))
                .col(text_null("sp_key_pem"))
                .col(text_null("sp_cert_pem"))
                .col(boolean("provisioning_enabled").default(false))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .foreign_key(&mut fk("saml_providers", "workspace_id", "workspaces"))
                .to_owned(),
        )
        .await?;
        // SCIM bearer tokens (issue 5): hashed, scoped to one provider (and so one workspace).
        m.create_table(
            Table::create()
                .table("scim_tokens")
                .col(big_pk_auto("id"))
                .col(big_integer("provider_id"))
                .col(string_uniq("token_hash"))
                .col(big_integer("created_at"))
                .col(big_integer_null("last_used_at"))
                .foreign_key(&mut fk("scim_tokens", "provider_id", "saml_providers"))
                .to_owned(),
        )
        .await?;
        // Workspace × account.
        m.create_table(
            Table::create()
                .table("memberships")
                .col(big_pk_auto("id"))
                .col(big_integer("workspace_id"))
                .col(big_integer("account_id"))
                .col(string("role")) // admin | member
                .col(string("status")) // active | deactivated
                .col(big_integer_null("managed_by_provider_id"))
                .col(string_null("external_id"))
                .col(text_null("password_hash")) // Argon2id PHC, this workspace only
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .foreign_key(&mut fk("memberships", "workspace_id", "workspaces"))
                .foreign_key(&mut fk("memberships", "account_id", "accounts"))
                .foreign_key(&mut fk_null("memberships", "managed_by_provider_id", "saml_providers"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("memberships", &["workspace_id", "account_id"], true)).await?;
        m.create_index(index("memberships", &["account_id"], false)).await?;

        m.create_table(
            Table::create()
                .table("groups")
                .col(big_pk_auto("id"))
                .col(big_integer("workspace_id"))
                .col(string("name"))
                .col(string("name_normalized"))
                .col(boolean("is_everyone").default(false))
                .col(string_null("external_id"))
                .col(big_integer_null("managed_by_provider_id"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .foreign_key(&mut fk("groups", "workspace_id", "workspaces"))
                .foreign_key(&mut fk_null("groups", "managed_by_provider_id", "saml_providers"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("groups", &["workspace_id", "name_normalized"], true)).await?;

        m.create_table(
            Table::create()
                .table("group_members")
                .col(big_integer("group_id"))
                .col(big_integer("membership_id"))
                .col(big_integer("created_at"))
                .primary_key(Index::create().col("group_id").col("membership_id"))
                .foreign_key(&mut fk("group_members", "group_id", "groups"))
                .foreign_key(&mut fk("group_members", "membership_id", "memberships"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("group_members", &["membership_id"], false)).await?;

        m.create_table(
            Table::create()
                .table("resources")
                .col(big_pk_auto("id"))
                .col(big_integer("workspace_id"))
                .col(string("kind")) // collection | datasource
                .col(string("name"))
                .col(text("description").default(""))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .foreign_key(&mut fk("resources", "workspace_id", "workspaces"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("resources", &["workspace_id"], false)).await?;

        m.create_table(
            Table::create()
                .table("grants")
                .col(big_integer("group_id"))
                .col(big_integer("resource_id"))
                .col(string("level")) // view | edit
                .col(big_integer("created_at"))
                .primary_key(Index::create().col("group_id").col("resource_id"))
                .foreign_key(&mut fk("grants", "group_id", "groups"))
                .foreign_key(&mut fk("grants", "resource_id", "resources"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("grants", &["resource_id"], false)).await?;

        // One row per method a workspace has a setting for; a missing row means disabled.
        m.create_table(
            Table::create()
                .table("sign_in_methods")
                .col(big_integer("workspace_id"))
                .col(string("method")) // password | google | slack | office365 | saml:<public_id>
                .col(boolean("enabled"))
                .col(big_integer("updated_at"))
                .primary_key(Index::create().col("workspace_id").col("method"))
                .foreign_key(&mut fk("sign_in_methods", "workspace_id", "workspaces"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("invites")
                .col(big_pk_auto("id"))
                .col(big_integer("workspace_id"))
                .col(string("email"))
                .col(string("email_normalized"))
                .col(string("role"))
                .col(string_uniq("token_hash"))
                .col(big_integer_null("invited_by_account_id"))
                .col(big_integer("created_at"))
                .col(big_integer("expires_at"))
                .col(big_integer_null("accepted_at"))
                .foreign_key(&mut fk("invites", "workspace_id", "workspaces"))
                .foreign_key(&mut fk_null("invites", "invited_by_account_id", "accounts"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("invites", &["workspace_id", "email_normalized"], false)).await?;

        // Only the SHA-256 of the session token is stored. Expiry is computed from the
        // workspace's current lifetime and `created_at` on every request.
        m.create_table(
            Table::create()
                .table("sessions")
                .col(big_pk_auto("id"))
                .col(string_uniq("token_hash"))
                .col(big_integer("account_id"))
                .col(big_integer("workspace_id"))
                .col(string("method"))
                .col(big_integer("created_at"))
                .col(big_integer("last_seen_at"))
                .foreign_key(&mut fk("sessions", "account_id", "accounts"))
                .foreign_key(&mut fk("sessions", "workspace_id", "workspaces"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("sessions", &["account_id", "workspace_id"], false)).await?;

        // Audit log rows outlive what they describe: no foreign keys.
        m.create_table(
            Table::create()
                .table("audit_log")
                .col(big_pk_auto("id"))
                .col(big_integer_null("workspace_id"))
                .col(big_integer_null("actor_account_id"))
                .col(string("actor"))
                .col(string("action"))
                .col(string("target"))
                .col(text("details"))
                .col(string_null("source_ip"))
                .col(big_integer("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("audit_log", &["workspace_id", "created_at"], false)).await?;

        // Linked external identities: SAML (provider, NameID), OIDC (issuer or tid, subject).
        m.create_table(
            Table::create()
                .table("external_identities")
                .col(big_pk_auto("id"))
                .col(big_integer("account_id"))
                .col(string("provider_kind")) // saml | google | slack | office365
                .col(string("provider_key"))
                .col(string("subject"))
                .col(big_integer("created_at"))
                .col(big_integer("last_used_at"))
                .foreign_key(&mut fk("external_identities", "account_id", "accounts"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("external_identities", &["provider_kind", "provider_key", "subject"], true)).await?;

        // Shared state for several processes: pending SAML requests, the assertion replay
        // cache, OIDC state, and fixed-window rate counters (login throttling, SCIM).
        m.create_table(
            Table::create()
                .table("saml_requests")
                .col(string("request_id").primary_key())
                .col(big_integer("provider_id"))
                .col(text("relay_state"))
                .col(boolean("test_mode").default(false))
                .col(big_integer("expires_at"))
                .foreign_key(&mut fk("saml_requests", "provider_id", "saml_providers"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("saml_replay")
                .col(big_integer("provider_id"))
                .col(string("assertion_id"))
                .col(big_integer("expires_at"))
                .primary_key(Index::create().col("provider_id").col("assertion_id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("oidc_states")
                .col(string("state_hash").primary_key())
                .col(string("provider"))
                .col(big_integer("workspace_id"))
                .col(text("nonce"))
                .col(text("pkce_verifier"))
                .col(text("next"))
                .col(big_integer("expires_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("rate_counters")
                .col(string("key"))
                .col(big_integer("window_start"))
                .col(big_integer("count"))
                .primary_key(Index::create().col("key").col("window_start"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("scim_activity")
                .col(big_pk_auto("id"))
                .col(big_integer("provider_id"))
                .col(string("method"))
                .col(string("path"))
                .col(string("operation"))
                .col(string("target"))
                .col(integer("status"))
                .col(string("outcome"))
                .col(big_integer("duration_us"))
                .col(big_integer("created_at"))
                .foreign_key(&mut fk("scim_activity", "provider_id", "saml_providers"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("scim_activity", &["provider_id", "created_at"], false)).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "scim_activity",
            "rate_counters",
            "oidc_states",
            "saml_replay",
            "saml_requests",
            "external_identities",
            "audit_log",
            "sessions",
            "invites",
            "sign_in_methods",
            "grants",
            "resources",
            "group_members",
            "groups",
            "memberships",
            "scim_tokens",
            "saml_providers",
            "accounts",
            "workspace_domains",
            "workspaces",
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
