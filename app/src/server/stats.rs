//! Daily counters per workspace for the Overview page: sign-ins by method and SCIM
//! requests. Sessions and activity rows are pruned; these are one row per workspace, day
//! and metric, upserted in the same statement everywhere (every process shares them).
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};

use super::DomainError;

pub const DAY: i64 = 86_400;

/// The metric a session's method counts under: SAML providers together, OpenID Connect
/// connections together.
pub fn sign_in_metric(method: &str) -> String {
    let kind = if method.starts_with("saml") {
        "saml"
    } else if method.starts_with("oidc:") {
        "oidc"
    } else {
        method
    };
    format!("signin:{kind}")
}

/// Adds one to `metric` for today (UTC) in `workspace_id`.
pub async fn bump<C: ConnectionTrait>(db: &C, workspace_id: i64, now: i64, metric: &str) -> Result<(), DomainError> {
    bump_by(db, workspace_id, now, metric, 1).await
}

/// Adds `n` to the counter of `metric` for the day holding `now`.
pub async fn bump_by<C: ConnectionTrait>(db: &C, workspace_id: i64, now: i64, metric: &str, n: i64) -> Result<(), DomainError> {
    let backend = db.get_database_backend();
    let [a, b, c, d] = [1, 2, 3, 4].map(|i| super::db::param(backend, i));
    let sql = format!(
        "INSERT INTO daily_counts (workspace_id, day, metric, count) VALUES ({a}, {b}, {c}, {d}) \
         ON CONFLICT (workspace_id, day, metric) DO UPDATE SET count = daily_counts.count + excluded.count"
    );
    db.execute_raw(Statement::from_sql_and_values(backend, sql, [workspace_id.into(), now.div_euclid(DAY).into(), metric.into(), n.into()])).await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Count {
    pub day: i64,
    pub metric: String,
    pub count: i64,
}

/// Every counter of `workspace_id` for the `days` days ending today.
pub async fn recent<C: ConnectionTrait>(db: &C, workspace_id: i64, now: i64, days: i64) -> Result<Vec<Count>, DomainError> {
    let backend = db.get_database_backend();
    let [a, b] = [1, 2].map(|i| super::db::param(backend, i));
    let sql = format!("SELECT day, metric, count FROM daily_counts WHERE workspace_id = {a} AND day > {b} ORDER BY day, metric");
    let first = now.div_euclid(DAY) - days;
    Ok(Count::find_by_statement(Statement::from_sql_and_values(backend, sql, [workspace_id.into(), first.into()])).all(db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counters_add_up_per_day_and_metric() {
        let db = crate::server::db::connect("sqlite::memory:", 1).await.unwrap();
        crate::server::db::migrate(&db).await.unwrap();
        let t = 20_000 * DAY + 100;
        for _ in 0..3 {
            bump(&db, 1, t, "signin:password").await.unwrap();
        }
        bump(&db, 1, t + DAY, "signin:password").await.unwrap();
        bump(&db, 1, t, "scim:ok").await.unwrap();
        bump(&db, 2, t, "scim:ok").await.unwrap();
        let got = recent(&db, 1, t + DAY, 30).await.unwrap();
        let rows: Vec<(i64, &str, i64)> = got.iter().map(|c| (c.day - 20_000, c.metric.as_str(), c.count)).collect();
        assert_eq!(rows, [(0, "scim:ok", 1), (0, "signin:password", 3), (1, "signin:password", 1)]);
        assert!(recent(&db, 1, t + 40 * DAY, 30).await.unwrap().is_empty(), "older than the window");
        assert_eq!(sign_in_metric("saml:abc"), "signin:saml");
        assert_eq!(sign_in_metric("oidc:abc"), "signin:oidc");
        assert_eq!(sign_in_metric("google"), "signin:google");
    }
}
