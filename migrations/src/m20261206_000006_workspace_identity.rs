//! Identity per workspace (issue 12). An account now belongs to exactly one workspace
//! (`accounts.workspace_id`) and holds that workspace's view of the person; email is
//! unique per workspace, not across the instance. External identities carry the workspace
//! they were linked in. Someone in two workspaces becomes two accounts.
//!
//! Existing data: an account with one membership keeps its id and its links. An account
//! with several memberships keeps its id for the oldest one and is copied for each other
//! (that membership and its sessions move to the copy). SAML links are re-bound to the
//! membership in their provider's workspace; OIDC links of shared accounts are dropped, so
//! the next sign-in links again by the provider's verified email, in that workspace only.
//! Accounts without any membership are removed. Providers get `asserted_domains` (which of
//! the workspace's domains they may assert; NULL = the default rule).
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000006_workspace_identity"
    }
}

/// The data steps, in SQL both databases run.
const SPLIT: &[&str] = &[
    // One row per membership: the account it keeps (the old one for the oldest membership
    // of an account, a new id past every existing one for the others).
    "CREATE TABLE account_split (membership_id bigint NOT NULL PRIMARY KEY, old_account_id bigint NOT NULL, new_account_id bigint NOT NULL, workspace_id bigint NOT NULL)",
    "INSERT INTO account_split (membership_id, old_account_id, new_account_id, workspace_id) \
     SELECT m.id, m.account_id, \
       CASE WHEN m.id = (SELECT MIN(m2.id) FROM memberships m2 WHERE m2.account_id = m.account_id) THEN m.account_id \
            ELSE m.id + (SELECT MAX(a.id) FROM accounts a) END, \
       m.workspace_id \
     FROM memberships m",
    "INSERT INTO accounts (id, workspace_id, email, email_normalized, full_name, given_name, family_name, created_at, updated_at) \
     SELECT s.new_account_id, s.workspace_id, a.email, a.email_normalized, a.full_name, a.given_name, a.family_name, a.created_at, a.updated_at \
     FROM account_split s JOIN accounts a ON a.id = s.old_account_id WHERE s.new_account_id <> s.old_account_id",
    "UPDATE accounts SET workspace_id = (SELECT s.workspace_id FROM account_split s WHERE s.new_account_id = accounts.id) WHERE workspace_id IS NULL",
    "UPDATE memberships SET account_id = (SELECT s.new_account_id FROM account_split s WHERE s.membership_id = memberships.id)",
    "UPDATE sessions SET account_id = (SELECT s.new_account_id FROM account_split s WHERE s.old_account_id = sessions.account_id AND s.workspace_id = sessions.workspace_id) \
     WHERE EXISTS (SELECT 1 FROM account_split s WHERE s.old_account_id = sessions.account_id AND s.workspace_id = sessions.workspace_id)",
    // Links: SAML ones belong to their provider's workspace; OIDC ones only when the
    // account had a single membership.
    "ALTER TABLE external_identities ADD COLUMN workspace_id bigint NULL",
    "UPDATE external_identities SET workspace_id = (SELECT p.workspace_id FROM saml_providers p WHERE p.public_id = external_identities.provider_key) WHERE provider_kind = 'saml'",
    "UPDATE external_identities SET workspace_id = (SELECT s.workspace_id FROM account_split s WHERE s.old_account_id = external_identities.account_id) \
     WHERE provider_kind <> 'saml' AND (SELECT COUNT(*) FROM account_split s WHERE s.old_account_id = external_identities.account_id) = 1",
    "UPDATE external_identities SET account_id = (SELECT s.new_account_id FROM account_split s WHERE s.old_account_id = external_identities.account_id AND s.workspace_id = external_identities.workspace_id) \
     WHERE EXISTS (SELECT 1 FROM account_split s WHERE s.old_account_id = external_identities.account_id AND s.workspace_id = external_identities.workspace_id)",
    "DELETE FROM external_identities WHERE workspace_id IS NULL \
     OR NOT EXISTS (SELECT 1 FROM account_split s WHERE s.new_account_id = external_identities.account_id AND s.workspace_id = external_identities.workspace_id)",
    // Accounts nobody is a member with: nothing may sign in as them.
    "DELETE FROM sessions WHERE NOT EXISTS (SELECT 1 FROM account_split s WHERE s.new_account_id = sessions.account_id AND s.workspace_id = sessions.workspace_id)",
    "DELETE FROM accounts WHERE workspace_id IS NULL",
    "DROP TABLE account_split",
    "CREATE UNIQUE INDEX ix_accounts_workspace_id_email_normalized ON accounts (workspace_id, email_normalized)",
    "DROP INDEX ix_external_identities_provider_kind_provider_key_subject",
    "CREATE UNIQUE INDEX ix_external_identities_workspace_id_provider_kind_provider_key_subject ON external_identities (workspace_id, provider_kind, provider_key, subject)",
    "CREATE INDEX ix_external_identities_account_id ON external_identities (account_id)",
    "ALTER TABLE saml_providers ADD COLUMN asserted_domains text NULL",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if m.get_database_backend() == DbBackend::Sqlite {
            // The inline UNIQUE on accounts.email_normalized goes with a rebuild.
            let rebuild = [
                "CREATE TABLE accounts_new (\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \"workspace_id\" bigint NULL, \
                 \"email\" varchar NOT NULL, \"email_normalized\" varchar NOT NULL, \"full_name\" varchar NOT NULL DEFAULT '', \
                 \"given_name\" varchar NOT NULL DEFAULT '', \"family_name\" varchar NOT NULL DEFAULT '', \
                 \"created_at\" bigint NOT NULL, \"updated_at\" bigint NOT NULL)",
                "INSERT INTO accounts_new (id, email, email_normalized, full_name, given_name, family_name, created_at, updated_at) \
                 SELECT id, email, email_normalized, full_name, given_name, family_name, created_at, updated_at FROM accounts",
                "DROP TABLE accounts",
                "ALTER TABLE accounts_new RENAME TO accounts",
            ];
            let batch = crate::sqlite_rebuild_batch(rebuild.into_iter().chain(SPLIT.iter().copied()));
            db.execute_unprepared(&batch).await?;
        } else {
            // PostgreSQL runs a migration in one transaction.
            db.execute_unprepared("ALTER TABLE accounts ADD COLUMN workspace_id bigint NULL").await?;
            db.execute_unprepared("ALTER TABLE accounts DROP CONSTRAINT IF EXISTS accounts_email_normalized_key").await?;
            for s in SPLIT {
                db.execute_unprepared(s).await?;
            }
            db.execute_unprepared("ALTER TABLE accounts ALTER COLUMN workspace_id SET NOT NULL").await?;
            // The copies were given explicit ids: move the sequence past them.
            db.execute_unprepared("SELECT setval(pg_get_serial_sequence('accounts', 'id'), COALESCE((SELECT MAX(id) FROM accounts), 0) + 1, false)").await?;
            db.execute_unprepared(
                "ALTER TABLE accounts ADD CONSTRAINT fk_accounts_workspace_id FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        // Merging per-workspace accounts back into instance-wide ones would re-open the
        // cross-workspace takeovers this migration closes; restore a backup instead.
        Err(DbErr::Migration("m20261206_000006_workspace_identity can't be reverted; restore a backup taken before the upgrade".into()))
    }
}
