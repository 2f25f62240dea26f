//! Connecting and migrating. SQLite (the embedded default) or PostgreSQL.
use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, TransactionTrait};

use super::DomainError;

/// Opens a pool. For a SQLite file URL the parent directory is created and WAL is on.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DomainError> {
    let is_sqlite = url.starts_with("sqlite:");
    if is_sqlite {
        if let Some(path) = sqlite_path(url) {
            if let Some(parent) = std::path::Path::new(&path).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(|e| DomainError::Internal(format!("creating {}: {e}", parent.display())))?;
                }
            }
        }
    }
    let in_memory = url.contains(":memory:");
    let mut opts = ConnectOptions::new(url.to_string());
    // On PostgreSQL one connection is held by the live-update listener (LISTEN), so the
    // pool has at least one more for requests.
    let max_connections = if is_sqlite { max_connections } else { max_connections.max(2) };
    opts.max_connections(if in_memory { 1 } else { max_connections })
        .min_connections(if in_memory { 1 } else { 0 })
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if in_memory {
        // One connection that never closes: an in-memory database lives as long as it.
        opts.idle_timeout(Duration::from_secs(u32::MAX as u64)).max_lifetime(Duration::from_secs(u32::MAX as u64));
    }
    if is_sqlite {
        // Per connection (PRAGMAs run once would reach only one pooled connection): WAL
        // for concurrent readers, NORMAL sync (safe with WAL), waits on locks, FKs on.
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        opts.map_sqlx_sqlite_opts(move |o| {
            let o = o.busy_timeout(Duration::from_secs(10)).foreign_keys(true);
            if in_memory {
                o
            } else {
                o.journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Normal)
            }
        });
    }
    Ok(Database::connect(opts).await?)
}

/// Did a write fail on a unique index (a concurrent or duplicate insert)?
pub fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`: a deferred transaction
/// that reads and then writes fails at once with SQLITE_BUSY when another connection holds
/// the write lock (the busy timeout can't help an upgrade), so concurrent requests (SCIM
/// clients, sign-ins) got errors. PostgreSQL ignores the mode.
pub async fn write(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    db.begin_with_options(TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() }).await
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && !path.contains(":memory:")).then(|| path.to_string())
}

/// Key of the PostgreSQL advisory lock that serialises migrations across processes.
const MIGRATION_LOCK: i64 = 0x6761_7465_686f_7573; // "gatehous"

/// Applies pending migrations. On PostgreSQL several processes starting at once take
/// turns under an advisory lock.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DomainError> {
    if db.get_database_backend() == DbBackend::Postgres {
        // A transaction-level lock: held by this transaction until it commits, and
        // PostgreSQL runs the DDL inside it.
        let conn = db.begin().await?;
        conn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")).await?;
        Migrator::up(&conn, None).await?;
        conn.commit().await?;
    } else {
        Migrator::up(db, None).await?;
    }
    Ok(())
}

/// Pool use for `/metrics`: (open connections, idle ones, the maximum).
pub fn pool_use(db: &DatabaseConnection) -> (u32, u32, u32) {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            (p.size(), u32::try_from(p.num_idle()).unwrap_or(u32::MAX), p.options().get_max_connections())
        }
        _ => {
            let p = db.get_sqlite_connection_pool();
            (p.size(), u32::try_from(p.num_idle()).unwrap_or(u32::MAX), p.options().get_max_connections())
        }
    }
}

/// True when every known migration has been applied (for `/readyz`).
pub async fn migrations_current(db: &DatabaseConnection) -> Result<bool, DomainError> {
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}
