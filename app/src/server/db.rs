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

/// Bound parameter `i` (from 1) of a raw statement in `backend`'s dialect: `$i` on
/// PostgreSQL, `?` on SQLite (whose `?`s bind in order).
pub fn param(backend: DbBackend, i: usize) -> String {
    if backend == DbBackend::Postgres {
        format!("${i}")
    } else {
        "?".to_string()
    }
}

/// Did a write fail on a unique index (a concurrent or duplicate insert)?
pub fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// Longest wait for the writer's turn on SQLite (as long as SQLite's own busy timeout,
/// which it replaces for transactions): past it the write fails instead of hanging.
pub const WRITER_WAIT: Duration = Duration::from_secs(10);

/// A write transaction from [`write`]. On SQLite it holds this process's writer turn until
/// it commits, rolls back or is dropped. Queries run on it as on any connection.
pub struct WriteTxn {
    txn: sea_orm::DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), sea_orm::DbErr> {
        self.txn.commit().await
    }
    pub async fn rollback(self) -> Result<(), sea_orm::DbErr> {
        self.txn.rollback().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }
    async fn execute_raw(&self, stmt: sea_orm::Statement) -> Result<sea_orm::ExecResult, sea_orm::DbErr> {
        self.txn.execute_raw(stmt).await
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, sea_orm::DbErr> {
        self.txn.execute_unprepared(sql).await
    }
    async fn query_one_raw(&self, stmt: sea_orm::Statement) -> Result<Option<sea_orm::QueryResult>, sea_orm::DbErr> {
        self.txn.query_one_raw(stmt).await
    }
    async fn query_all_raw(&self, stmt: sea_orm::Statement) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
        self.txn.query_all_raw(stmt).await
    }
}

/// The writer turn of the SQLite database behind `db`: one per pool, so per database file
/// in this process (SQLite serves one process; PostgreSQL needs none).
fn writer_turn(db: &DatabaseConnection) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static TURNS: OnceLock<Mutex<HashMap<usize, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    // Every clone of a pool shares its options, so their address names the pool for as
    // long as it lives (an address reused after a pool is gone shares an idle turn).
    let key = Arc::as_ptr(&db.get_sqlite_connection_pool().connect_options()) as usize;
    let mut turns = TURNS.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    turns.entry(key).or_default().clone()
}

/// Starts a write transaction. On SQLite, writers take turns in this process first (a
/// fair queue), then `BEGIN IMMEDIATE`: without the queue, concurrent writers each took a
/// pool connection and waited in SQLite's busy handler, which sleeps in growing steps (up
/// to 100 ms), so a burst of SCIM creates had a 180 ms p99 behind a 64 µs commit; and a
/// deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
/// another holds the lock. PostgreSQL uses its row locks and no turn.
pub async fn write(db: &DatabaseConnection) -> Result<WriteTxn, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions};
    let turn = if db.get_database_backend() == DbBackend::Sqlite {
        let turn = tokio::time::timeout(WRITER_WAIT, writer_turn(db).lock_owned())
            .await
            .map_err(|_| sea_orm::DbErr::Custom(format!("no turn to write within {} s (the database is busy)", WRITER_WAIT.as_secs())))?;
        Some(turn)
    } else {
        None
    };
    let txn = db.begin_with_options(TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() }).await?;
    Ok(WriteTxn { txn, _turn: turn })
}

/// Takes the write lock on a workspace's row for the rest of the transaction, so a
/// count-then-write rule holds under concurrent requests: limits (resources, API keys,
/// domain claims) and the last-admin checks. On PostgreSQL a row lock the workspace's
/// limited writes queue behind; on SQLite nothing, since [`write`] already lets one writer
/// in at a time. `FOR NO KEY UPDATE`, not `FOR UPDATE`: it queues the lockers behind each
/// other but not the foreign-key checks of every insert naming the workspace (sessions,
/// memberships), which take `KEY SHARE` on its row; `FOR UPDATE` held them all and could
/// close a deadlock cycle with a sign-in.
pub async fn lock_workspace<C: sea_orm::ConnectionTrait>(txn: &C, workspace_id: i64) -> Result<(), sea_orm::DbErr> {
    use sea_orm::Statement;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, "SELECT 1 FROM workspaces WHERE id = $1 FOR NO KEY UPDATE", [workspace_id.into()]))
            .await?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Statement;

    /// Writers on one SQLite file take turns in the process before they reach SQLite: with
    /// SQLite's busy handler switched off (a busy timeout of 0), 64 concurrent
    /// read-then-write transactions over 8 pooled connections all succeed and none loses
    /// an update. Without the turn the second writer to arrive fails at once with
    /// SQLITE_BUSY ("database is locked").
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn writers_take_turns_and_never_meet_the_busy_handler() {
        let dir = std::env::temp_dir().join(format!("gatehouse-writer-turn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let url = format!("sqlite://{}?mode=rwc", dir.join("turns.db").display());
        let mut opts = ConnectOptions::new(url);
        opts.max_connections(8).sqlx_logging(false);
        opts.map_sqlx_sqlite_opts(|o| o.busy_timeout(Duration::ZERO).journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal));
        let db = Database::connect(opts).await.expect("connect");
        db.execute_unprepared("CREATE TABLE counter (v INTEGER NOT NULL); INSERT INTO counter (v) VALUES (0);").await.expect("table");
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    let txn = write(&db).await?;
                    let row = txn.query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT v FROM counter")).await?;
                    let v: i64 = row.map(|r| r.try_get("", "v")).transpose()?.unwrap_or(0);
                    tokio::task::yield_now().await;
                    txn.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, "UPDATE counter SET v = ?", [(v + 1).into()])).await?;
                    txn.commit().await
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task").expect("every writer gets its turn");
        }
        let row = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT v FROM counter")).await.expect("read").expect("row");
        assert_eq!(row.try_get::<i64>("", "v").expect("v"), 64, "no update lost");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
