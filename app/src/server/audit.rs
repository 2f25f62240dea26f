//! Every admin, operator and provisioning change lands here: who, what, when, from where.
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

use super::entities::audit_log;
use super::DomainError;
use crate::server::entities::Record;

/// Who is acting. Built from a verified session, the CLI, or a SCIM token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub account_id: Option<i64>,
    /// Human-readable: an email, `operator (cli)`, `scim:<provider>`, `setup`.
    pub label: String,
    pub ip: Option<String>,
}

impl Actor {
    pub fn operator() -> Self {
        Actor { account_id: None, label: "operator (cli)".into(), ip: None }
    }
    pub fn anonymous(label: &str, ip: Option<String>) -> Self {
        Actor { account_id: None, label: label.into(), ip }
    }
}

pub async fn record<C: ConnectionTrait>(
    db: &C,
    now: i64,
    workspace_id: Option<i64>,
    actor: &Actor,
    action: &str,
    target: &str,
    details: serde_json::Value,
) -> Result<(), DomainError> {
    audit_log::ActiveModel {
        workspace_id: Set(workspace_id),
        actor_account_id: Set(actor.account_id),
        actor: Set(actor.label.clone()),
        action: Set(action.to_string()),
        target: Set(target.to_string()),
        details: Set(details.to_string()),
        source_ip: Set(actor.ip.clone()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Refusals of the same kind written one by one per hour; beyond them, only the 100th,
/// 1,000th, … (with their count).
pub const REFUSALS_LOGGED_PER_HOUR: i64 = 20;

/// Whether the `n`-th refusal of one kind this hour is written: the first
/// [`REFUSALS_LOGGED_PER_HOUR`], then each power of ten.
pub fn refusal_logged(n: i64) -> bool {
    if n <= REFUSALS_LOGGED_PER_HOUR {
        return true;
    }
    let mut p = 100;
    while p < n {
        p = p.saturating_mul(10);
    }
    p == n
}

/// Counts a refusal of an unauthenticated request (a failed sign-in answer, say) of one
/// `kind` — a fixed code, never request text — in the shared hourly counters, and tells
/// whether to keep a row for it (see [`refusal_logged`]) and its number this hour.
/// Anyone can produce such refusals at will, for any workspace: sampled, they can neither
/// grow a log without bound nor bury real entries under their own, and the count stays
/// visible.
pub async fn count_refusal<C: ConnectionTrait>(db: &C, now: i64, scope: &str, kind: &str) -> Result<(bool, i64), DomainError> {
    let n = super::ratelimit::hit(db, &format!("refusal:{scope}:{kind}"), now, 3600).await?;
    Ok((refusal_logged(n), n))
}

/// Refusals of one kind written one by one per hour across all subjects, before only
/// powers of ten are (see [`count_subject_refusal`]).
pub const SUBJECT_REFUSALS_LOGGED_PER_HOUR: i64 = 200;

/// Counts a refusal of an answer an identity provider vouched for (a signed SAML
/// assertion, an ID token) of `kind` about `subject`. Each subject has its own sample of
/// [`REFUSALS_LOGGED_PER_HOUR`], so one person's answer resent again and again buries only
/// their own entries; and the kind as a whole is capped at
/// [`SUBJECT_REFUSALS_LOGGED_PER_HOUR`] rows (then every power of ten), because subjects
/// are cheap at a public provider (anyone can make accounts) and must not grow the log
/// without bound either. Returns whether to keep a row and the kind's count this hour.
pub async fn count_subject_refusal<C: ConnectionTrait>(db: &C, now: i64, scope: &str, kind: &str, subject: &str) -> Result<(bool, i64), DomainError> {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(&Sha256::digest(subject.as_bytes())[..8]);
    let per_subject = super::ratelimit::hit(db, &format!("refusal:{scope}:{kind}:{digest}"), now, 3600).await?;
    let per_kind = super::ratelimit::hit(db, &format!("refusal:{scope}:{kind}"), now, 3600).await?;
    let sampled = per_kind > SUBJECT_REFUSALS_LOGGED_PER_HOUR && refusal_logged(per_kind);
    let logged = (per_subject <= REFUSALS_LOGGED_PER_HOUR && per_kind <= SUBJECT_REFUSALS_LOGGED_PER_HOUR) || sampled;
    Ok((logged, per_kind))
}

/// Audit log filters (the Overview page and its CSV export).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// An action or action prefix, e.g. `scim.` or `signin`; letters, digits, `.` and `_`.
    pub action: String,
    /// Part of the actor's label (an email, `operator (cli)`, `scim:<provider>`), any case.
    pub actor: String,
    /// Only entries at or after this time.
    pub since: Option<i64>,
}

impl Filter {
    /// From a page's or an export's query: an action prefix, part of an actor, and the last
    /// `days` days (none or 0: all time; at most ten years). Validated.
    pub fn from_query(now: i64, action: Option<String>, actor: Option<String>, days: Option<i64>) -> Result<Filter, DomainError> {
        Filter {
            action: action.unwrap_or_default(),
            actor: actor.unwrap_or_default(),
            since: days.filter(|d| *d > 0).map(|d| now - d.min(3650) * super::stats::DAY),
        }
        .validated()
    }

    /// Checks the user-typed parts: bounded, and the action only of action characters.
    pub fn validated(self) -> Result<Filter, DomainError> {
        let action = self.action.trim().to_lowercase();
        if action.len() > 64 || !action.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') {
            return Err(DomainError::Invalid("An action filter is letters, digits, dots and underscores, e.g. scim. or signin.".into()));
        }
        let actor = self.actor.trim().to_lowercase();
        if actor.chars().count() > 200 {
            return Err(DomainError::Invalid("The actor filter is at most 200 characters.".into()));
        }
        Ok(Filter { action, actor, since: self.since })
    }
}

/// `LIKE` pattern text with `\`, `%` and `_` taken literally.
fn like_literal(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// One page of `workspace_id`'s audit log, newest first, and how many entries match.
pub async fn search<C: ConnectionTrait>(
    db: &C,
    workspace_id: i64,
    f: &Filter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<crate::model::AuditEntry>, u64), DomainError> {
    use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
    let mut q = audit_log::Entity::find().filter(audit_log::Column::WorkspaceId.eq(workspace_id));
    if !f.action.is_empty() {
        q = q.filter(Expr::col(audit_log::Column::Action).like(LikeExpr::new(format!("{}%", like_literal(&f.action))).escape('\\')));
    }
    if !f.actor.is_empty() {
        q = q.filter(Expr::expr(Func::lower(Expr::col(audit_log::Column::Actor))).like(LikeExpr::new(format!("%{}%", like_literal(&f.actor))).escape('\\')));
    }
    if let Some(t) = f.since {
        q = q.filter(audit_log::Column::CreatedAt.gte(t));
    }
    let total = q.clone().count(db).await?;
    let rows = q.order_by_desc(audit_log::Column::Id).offset(offset).limit(limit).all(db).await?;
    Ok((rows.into_iter().map(Record::record).collect(), total))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn refusals_are_logged_one_by_one_then_at_powers_of_ten() {
        let logged: Vec<i64> = (1..=20_000).filter(|n| refusal_logged(*n)).collect();
        let mut expected: Vec<i64> = (1..=REFUSALS_LOGGED_PER_HOUR).collect();
        expected.extend([100, 1000, 10_000]);
        assert_eq!(logged, expected);
        assert!(refusal_logged(1_000_000) && !refusal_logged(1_000_001));
    }
}
