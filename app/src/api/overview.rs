//! The admin Overview page: daily charts and the audit log.
use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{AuditPage, Overview};

/// Days the charts cover.
pub const CHART_DAYS: i64 = 30;
/// Audit entries per page.
pub const AUDIT_PAGE: u64 = 50;

/// Admins of `slug`: sign-ins per method and SCIM requests per day, last 30 days.
#[server]
pub async fn load_overview(slug: String) -> Result<Overview, AppError> {
    use super::ctx::*;
    use crate::model::Series;
    use crate::server::stats;
    let (st, cap) = admin(&slug).await?;
    let now = st.now();
    let today = now.div_euclid(stats::DAY);
    let first = today - CHART_DAYS + 1;
    let counts = stats::recent(&st.db, cap.workspace_id(), now, CHART_DAYS).await.map_err(fail)?;
    let days: Vec<String> = (first..=today).map(|d| crate::server::clock::display_date(d * stats::DAY)).collect();
    let series = |metric: &str, label: &str| {
        let mut values = vec![0u64; days.len()];
        for c in counts.iter().filter(|c| c.metric == metric) {
            if let Some(v) = usize::try_from(c.day - first).ok().and_then(|i| values.get_mut(i)) {
                *v = u64::try_from(c.count).unwrap_or(0);
            }
        }
        Series { label: label.to_string(), values }
    };
    let sign_ins =
        [("password", "Password"), ("saml", "SAML"), ("oidc", "OpenID Connect"), ("google", "Google"), ("office365", "Office365"), ("slack", "Slack")]
            .into_iter()
            .map(|(m, l)| series(&format!("signin:{m}"), l))
            .filter(|s| s.values.iter().any(|v| *v > 0))
            .collect();
    let scim = vec![series("scim:ok", "Answered"), series("scim:error", "Refused or failed")];
    Ok(Overview { days, sign_ins, scim })
}

/// Admins of `slug`: the workspace's audit log, newest first, filtered by action prefix,
/// actor and age (days); 50 per page.
#[server]
pub async fn load_audit(slug: String, action: Option<String>, actor: Option<String>, days: Option<i64>, page: Option<u64>) -> Result<AuditPage, AppError> {
    use super::ctx::*;
    use crate::model::AuditRow;
    let (st, cap) = admin(&slug).await?;
    let filter = crate::server::audit::Filter::from_query(st.now(), action, actor, days).map_err(fail)?;
    let page = page.unwrap_or(1).max(1);
    let (rows, total) =
        crate::server::audit::search(&st.db, cap.workspace_id(), &filter, (page - 1).saturating_mul(AUDIT_PAGE), AUDIT_PAGE).await.map_err(fail)?;
    Ok(AuditPage {
        rows: rows
            .into_iter()
            .map(|r| AuditRow {
                when: crate::server::clock::display_time(r.created_at),
                actor: r.actor,
                action: r.action,
                target: r.target,
                details: r.details,
                ip: r.source_ip.unwrap_or_default(),
            })
            .collect(),
        total,
        page,
        pages: total.div_ceil(AUDIT_PAGE).max(1),
    })
}
