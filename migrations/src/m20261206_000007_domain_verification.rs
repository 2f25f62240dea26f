//! Domains are proven by DNS (issue 12). A claim is no longer first come, first served:
//! several workspaces may claim (and each prove) the same domain, so the global unique
//! index goes and `(workspace_id, domain)` is unique instead. Each claim gets a status
//! (`pending`, `verified`, `failed`), a random challenge token to publish as a TXT record,
//! and the times of its checks. Existing claims become pending with a fresh token.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000007_domain_verification"
    }
}

const INDEXES: &[&str] = &[
    "CREATE UNIQUE INDEX ix_workspace_domains_workspace_id_domain ON workspace_domains (workspace_id, domain)",
    "CREATE INDEX ix_workspace_domains_domain ON workspace_domains (domain)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if m.get_database_backend() == DbBackend::Sqlite {
            // The inline UNIQUE on `domain` goes with a rebuild.
            let rebuild = [
                "CREATE TABLE workspace_domains_new (\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \"workspace_id\" bigint NOT NULL, \
                 \"domain\" varchar NOT NULL, \"created_at\" bigint NOT NULL, \"status\" varchar NOT NULL DEFAULT 'pending', \
                 \"token\" varchar NOT NULL DEFAULT '', \"checked_at\" bigint NULL, \"verified_at\" bigint NULL, \"last_seen_at\" bigint NULL, \
                 \"last_error\" text NOT NULL DEFAULT '', \"trusted\" boolean NOT NULL DEFAULT false, \
                 CONSTRAINT \"fk_workspace_domains_workspace_id\" FOREIGN KEY (\"workspace_id\") REFERENCES \"workspaces\" (\"id\") ON DELETE CASCADE)",
                "INSERT INTO workspace_domains_new (id, workspace_id, domain, created_at) SELECT id, workspace_id, domain, created_at FROM workspace_domains",
                "DROP TABLE workspace_domains",
                "ALTER TABLE workspace_domains_new RENAME TO workspace_domains",
                "UPDATE workspace_domains SET token = lower(hex(randomblob(16)))",
            ];
            let batch = crate::sqlite_rebuild_batch(rebuild.into_iter().chain(INDEXES.iter().copied()));
            db.execute_unprepared(&batch).await?;
        } else {
            for s in [
                "ALTER TABLE workspace_domains DROP CONSTRAINT IF EXISTS workspace_domains_domain_key",
                "ALTER TABLE workspace_domains ADD COLUMN status varchar NOT NULL DEFAULT 'pending', ADD COLUMN token varchar NOT NULL DEFAULT '', \
                 ADD COLUMN checked_at bigint NULL, ADD COLUMN verified_at bigint NULL, ADD COLUMN last_seen_at bigint NULL, \
                 ADD COLUMN last_error text NOT NULL DEFAULT '', ADD COLUMN trusted boolean NOT NULL DEFAULT false",
                "UPDATE workspace_domains SET token = md5(random()::text || clock_timestamp()::text || id::text)",
            ]
            .iter()
            .chain(INDEXES)
            {
                db.execute_unprepared(s).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("m20261206_000007_domain_verification can't be reverted (several workspaces may hold one domain now); restore a backup".into()))
    }
}
