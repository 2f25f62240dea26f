//! Fixed-window counters in the database, so several processes share one limit.
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use super::entities::rate_counter::{self, Column};
use super::DomainError;

/// Adds one to `key`'s counter in the current window and returns the new count.
pub async fn hit<C: ConnectionTrait>(db: &C, key: &str, now: i64, window_secs: i64) -> Result<i64, DomainError> {
    add(db, key, now, window_secs, 1).await?;
    count(db, key, now, window_secs).await
}

/// Adds `n` to `key`'s count in the window holding `now` (one statement, however large `n`).
pub async fn add<C: ConnectionTrait>(db: &C, key: &str, now: i64, window_secs: i64, n: i64) -> Result<(), DomainError> {
    let window_start = now - now.rem_euclid(window_secs);
    rate_counter::Entity::insert(rate_counter::ActiveModel { key: Set(key.to_string()), window_start: Set(window_start), count: Set(n) })
        .on_conflict(
            OnConflict::columns([Column::Key, Column::WindowStart]).value(Column::Count, Expr::col((rate_counter::Entity, Column::Count)).add(n)).to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Counts one attempt against each `(key, limit)` before the attempt is evaluated, in one
/// write transaction: true when every count stays within its limit (the attempt may go
/// on), false when one would pass it (nothing is counted then). The counter rows are
/// locked while the transaction runs (SQLite's single writer, PostgreSQL's row locks), so
/// of a burst of concurrent attempts at most `limit` are let through, however they
/// interleave. `release` gives a slot back when an attempt succeeds, so only failures
/// count.
pub async fn reserve(db: &DatabaseConnection, keys: &[(&str, i64)], now: i64, window_secs: i64) -> Result<bool, DomainError> {
    let txn = super::db::write(db).await?;
    for (key, limit) in keys {
        if hit(&txn, key, now, window_secs).await? > *limit {
            txn.rollback().await?;
            return Ok(false);
        }
    }
    txn.commit().await?;
    Ok(true)
}

/// Gives back a slot `reserve` took (the attempt succeeded).
pub async fn release<C: ConnectionTrait>(db: &C, keys: &[&str], now: i64, window_secs: i64) -> Result<(), DomainError> {
    let window_start = now - now.rem_euclid(window_secs);
    for key in keys {
        rate_counter::Entity::update_many()
            .col_expr(Column::Count, Expr::col(Column::Count).sub(1))
            .filter(Column::Key.eq(*key))
            .filter(Column::WindowStart.eq(window_start))
            .filter(Column::Count.gt(0))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// The current window's count without adding to it.
pub async fn count<C: ConnectionTrait>(db: &C, key: &str, now: i64, window_secs: i64) -> Result<i64, DomainError> {
    let window_start = now - now.rem_euclid(window_secs);
    Ok(rate_counter::Entity::find_by_id((key.to_string(), window_start)).one(db).await?.map(|r| r.count).unwrap_or(0))
}

/// Forgets windows older than a day.
pub async fn prune<C: ConnectionTrait>(db: &C, now: i64) -> Result<(), DomainError> {
    rate_counter::Entity::delete_many().filter(Column::WindowStart.lt(now - 86_400)).exec(db).await?;
    Ok(())
}
