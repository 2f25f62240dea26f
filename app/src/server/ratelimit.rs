//! Fixed-window counters in the database, so several processes share one limit.
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::entities::rate_counter::{self, Column};
use super::DomainError;

/// Adds one to `key`'s counter in the current window and returns the new count.
pub async fn hit<C: ConnectionTrait>(db: &C, key: &str, now: i64, window_secs: i64) -> Result<i64, DomainError> {
    let window_start = now - now.rem_euclid(window_secs);
    rate_counter::Entity::insert(rate_counter::ActiveModel {
        key: Set(key.to_string()),
        window_start: Set(window_start),
        count: Set(1),
    })
    .on_conflict(
        OnConflict::columns([Column::Key, Column::WindowStart])
            .value(Column::Count, Expr::col((rate_counter::Entity, Column::Count)).add(1))
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    count(db, key, now, window_secs).await
}

/// The current window's count without adding to it.
pub async fn count<C: ConnectionTrait>(db: &C, key: &str, now: i64, window_secs: i64) -> Result<i64, DomainError> {
    let window_start = now - now.rem_euclid(window_secs);
    Ok(rate_counter::Entity::find_by_id((key.to_string(), window_start))
        .one(db)
        .await?
        .map(|r| r.count)
        .unwrap_or(0))
}

/// Forgets windows older than a day.
pub async fn prune<C: ConnectionTrait>(db: &C, now: i64) -> Result<(), DomainError> {
    rate_counter::Entity::delete_many()
        .filter(Column::WindowStart.lt(now - 86_400))
        .exec(db)
        .await?;
    Ok(())
}
