//! The Members page's order (admins first, then name, then email) is kept on the
//! membership itself (issue 15): `sort_name` (the account's lowercased full name) and
//! `sort_email` (its normalised email), indexed with the workspace and the admin rank, so
//! a page is read from the index in order instead of joining and sorting every member of
//! the workspace on each request.
//!
//! The database keeps the two columns right, not the code: a trigger fills them when a
//! membership is made and another follows every change of an account's name or email,
//! whichever path (SCIM, SAML, the account page, the CLI, a bulk insert) made it.
//! `lower()` is the database's own, as the query it replaces used (SQLite's lowers ASCII
//! only, as before). On PostgreSQL the insert's trigger reads the account `FOR SHARE`: a
//! rename committing at the same moment waits for the new membership, or is read by it,
//! and never misses it. A later migration that rebuilds `memberships` or `accounts` on
//! SQLite (`sqlite_rebuild_batch`) drops these triggers and must create them again.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000014_member_sort_key"
    }
}

/// Both backends: the columns, their values for existing rows, and the index. The rank
/// expression must read exactly as the page query writes it for the planner to use it.
const COMMON: &[&str] = &[
    "ALTER TABLE memberships ADD COLUMN sort_name text NOT NULL DEFAULT ''",
    "ALTER TABLE memberships ADD COLUMN sort_email text NOT NULL DEFAULT ''",
    "UPDATE memberships SET sort_name = COALESCE((SELECT lower(a.full_name) FROM accounts a WHERE a.id = memberships.account_id), ''), \
     sort_email = COALESCE((SELECT a.email_normalized FROM accounts a WHERE a.id = memberships.account_id), '')",
    "CREATE INDEX ix_memberships_page_order ON memberships (workspace_id, (CASE WHEN role = 'admin' THEN 0 ELSE 1 END), sort_name, sort_email, id)",
];

const SQLITE: &[&str] = &[
    "CREATE TRIGGER tr_memberships_sort_insert AFTER INSERT ON memberships BEGIN \
     UPDATE memberships SET sort_name = COALESCE((SELECT lower(full_name) FROM accounts WHERE id = NEW.account_id), ''), \
     sort_email = COALESCE((SELECT email_normalized FROM accounts WHERE id = NEW.account_id), '') WHERE id = NEW.id; END",
    "CREATE TRIGGER tr_memberships_sort_account AFTER UPDATE OF account_id ON memberships BEGIN \
     UPDATE memberships SET sort_name = COALESCE((SELECT lower(full_name) FROM accounts WHERE id = NEW.account_id), ''), \
     sort_email = COALESCE((SELECT email_normalized FROM accounts WHERE id = NEW.account_id), '') WHERE id = NEW.id; END",
    "CREATE TRIGGER tr_accounts_sort_update AFTER UPDATE OF full_name, email_normalized ON accounts BEGIN \
     UPDATE memberships SET sort_name = lower(NEW.full_name), sort_email = NEW.email_normalized WHERE account_id = NEW.id; END",
];

const POSTGRES: &[&str] = &[
    "CREATE FUNCTION gatehouse_membership_sort() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
     SELECT lower(a.full_name), a.email_normalized INTO NEW.sort_name, NEW.sort_email FROM accounts a WHERE a.id = NEW.account_id FOR SHARE; \
     NEW.sort_name := COALESCE(NEW.sort_name, ''); NEW.sort_email := COALESCE(NEW.sort_email, ''); RETURN NEW; END $$",
    "CREATE TRIGGER tr_memberships_sort BEFORE INSERT OR UPDATE OF account_id ON memberships \
     FOR EACH ROW EXECUTE FUNCTION gatehouse_membership_sort()",
    "CREATE FUNCTION gatehouse_account_sort() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
     UPDATE memberships SET sort_name = lower(NEW.full_name), sort_email = NEW.email_normalized WHERE account_id = NEW.id; RETURN NULL; END $$",
    "CREATE TRIGGER tr_accounts_sort AFTER UPDATE OF full_name, email_normalized ON accounts FOR EACH ROW \
     WHEN (OLD.full_name IS DISTINCT FROM NEW.full_name OR OLD.email_normalized IS DISTINCT FROM NEW.email_normalized) \
     EXECUTE FUNCTION gatehouse_account_sort()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let own = if m.get_database_backend() == DbBackend::Sqlite { SQLITE } else { POSTGRES };
        for s in COMMON.iter().chain(own) {
            db.execute_unprepared(s).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let drops: &[&str] = if m.get_database_backend() == DbBackend::Sqlite {
            &["DROP TRIGGER tr_memberships_sort_insert", "DROP TRIGGER tr_memberships_sort_account", "DROP TRIGGER tr_accounts_sort_update"]
        } else {
            &[
                "DROP TRIGGER tr_memberships_sort ON memberships",
                "DROP TRIGGER tr_accounts_sort ON accounts",
                "DROP FUNCTION gatehouse_membership_sort()",
                "DROP FUNCTION gatehouse_account_sort()",
            ]
        };
        for s in drops.iter().chain(&["DROP INDEX ix_memberships_page_order"]) {
            db.execute_unprepared(s).await?;
        }
        for column in ["sort_name", "sort_email"] {
            m.alter_table(Table::alter().table("memberships").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
