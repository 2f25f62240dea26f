//! Sessions: a 256-bit random token (carried in a cookie, see `web::cookies`); only its
//! SHA-256 is stored.
//! Expiry is absolute and computed on every request from the workspace's *current*
//! lifetime, so shortening the lifetime applies to existing sessions at once.
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, Set, Statement};

use super::crypto::Token;
use super::entities::session;
use super::permissions::{AdminCap, Status, Viewer};
use super::DomainError;

/// Only refresh `last_seen_at` this often, so a session check is one read.
const TOUCH_EVERY_SECS: i64 = 60;

/// Where a sign-in came from, kept with its session so its member can tell their
/// sessions apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// A SAML sign-in's subject, for Single Logout.
    pub saml: Option<SamlSubject>,
}

/// Who the IdP said a SAML session's person is: what its LogoutRequest names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamlSubject {
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
}

/// The longest User-Agent kept (browsers send 100–300 characters).
const MAX_USER_AGENT: usize = 512;

/// Starts a session (always a new token: no fixation).
pub async fn create<C: ConnectionTrait>(db: &C, now: i64, account_id: i64, workspace_id: i64, method: &str, origin: &Origin) -> Result<Token, DomainError> {
    let token = Token::generate();
    let user_agent: String = origin.user_agent.as_deref().unwrap_or("").chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT).collect();
    session::ActiveModel {
        token_hash: Set(token.hash()),
        account_id: Set(account_id),
        workspace_id: Set(workspace_id),
        method: Set(method.to_string()),
        created_at: Set(now),
        last_seen_at: Set(now),
        user_agent: Set(user_agent),
        ip: Set(origin.ip.clone().unwrap_or_default()),
        saml_name_id: Set(origin.saml.as_ref().map(|s| s.name_id.clone())),
        saml_name_id_format: Set(origin.saml.as_ref().and_then(|s| s.name_id_format.clone())),
        saml_session_index: Set(origin.saml.as_ref().and_then(|s| s.session_index.clone())),
        ..Default::default()
    }
    .insert(db)
    .await?;
    // Every sign-in (password, SAML, OIDC, an accepted invite) makes a session: count it.
    super::stats::bump(db, workspace_id, now, &super::stats::sign_in_metric(method)).await?;
    Ok(token)
}

#[derive(Debug, FromQueryResult)]
struct SessionRow {
    session_id: i64,
    created_at: i64,
    last_seen_at: i64,
    account_id: i64,
    email: String,
    full_name: String,
    workspace_id: i64,
    slug: String,
    workspace_name: String,
    session_lifetime_secs: i64,
    session_idle_secs: i64,
    membership_id: i64,
    role: super::permissions::Role,
    status: Status,
}

/// The viewer of the first of `tokens` (a request's session cookies) that is a live
/// session; `used`: it counts as use of that session (see [`resolve`]).
pub async fn first_live<C: ConnectionTrait>(db: &C, now: i64, tokens: &[Token], ip: Option<String>, used: bool) -> Result<Option<Viewer>, DomainError> {
    for t in tokens {
        if let Some(v) = look_up(db, now, t, ip.clone(), used).await? {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// As [`resolve`], without counting as use of the session.
pub async fn peek<C: ConnectionTrait>(db: &C, now: i64, token: &Token) -> Result<Option<Viewer>, DomainError> {
    look_up(db, now, token, None, false).await
}

/// Resolves a presented token to a viewer, or `None` if unknown, expired, or the
/// membership is no longer active. One indexed join.
pub async fn resolve<C: ConnectionTrait>(db: &C, now: i64, token: &Token, ip: Option<String>) -> Result<Option<Viewer>, DomainError> {
    look_up(db, now, token, ip, true).await
}

/// `used`: the request counts as use of the session (its last use is written, at most
/// once a minute).
async fn look_up<C: ConnectionTrait>(db: &C, now: i64, token: &Token, ip: Option<String>, used: bool) -> Result<Option<Viewer>, DomainError> {
    let backend = db.get_database_backend();
    let ph = super::db::param(backend, 1);
    let sql = format!(
        "SELECT s.id AS session_id, s.created_at, s.last_seen_at, a.id AS account_id, a.email, a.full_name, \
         w.id AS workspace_id, w.slug, w.name AS workspace_name, w.session_lifetime_secs, w.session_idle_secs, \
         m.id AS membership_id, m.role, m.status \
         FROM sessions s \
         JOIN accounts a ON a.id = s.account_id AND a.workspace_id = s.workspace_id \
         JOIN workspaces w ON w.id = s.workspace_id \
         JOIN memberships m ON m.workspace_id = s.workspace_id AND m.account_id = s.account_id \
         WHERE s.token_hash = {ph}"
    );
    let row = SessionRow::find_by_statement(Statement::from_sql_and_values(backend, sql, [token.hash().into()])).one(db).await?;
    let Some(row) = row else { return Ok(None) };
    if row.status != Status::Active {
        return Ok(None);
    }
    // Past its lifetime, or unused for longer than the workspace's idle timeout (last use
    // is written at most once a minute, so idle time is known to the minute).
    let idle = row.session_idle_secs > 0 && now - row.last_seen_at >= row.session_idle_secs;
    if now >= row.created_at.saturating_add(row.session_lifetime_secs) || idle {
        session::Entity::delete_by_id(row.session_id).exec(db).await?;
        return Ok(None);
    }
    if used && now - row.last_seen_at >= TOUCH_EVERY_SECS {
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, sea_orm::sea_query::Expr::value(now))
            .filter(session::Column::Id.eq(row.session_id))
            .exec(db)
            .await?;
    }
    Ok(Some(Viewer {
        session_id: row.session_id,
        account_id: row.account_id,
        membership_id: row.membership_id,
        workspace_id: row.workspace_id,
        workspace_slug: row.slug,
        workspace_name: row.workspace_name,
        role: row.role,
        email: row.email,
        full_name: row.full_name,
        ip,
    }))
}

/// Signing out: ends the session of `token`, if it is one; returns it and its workspace's
/// slug (for Single Logout and the way back to sign-in). No live event: the signing-out
/// page would hear it and reload in the middle of its own navigation (to the IdP's Single
/// Logout); other tabs of the session learn at their next request or minute's check.
pub async fn end_by_token(db: &sea_orm::DatabaseConnection, now: i64, token: &Token) -> Result<Option<Ended>, DomainError> {
    use super::entities::workspace;
    let Some(s) = session::Entity::find().filter(session::Column::TokenHash.eq(token.hash())).one(db).await? else { return Ok(None) };
    let slug = workspace::Entity::find_by_id(s.workspace_id).one(db).await?.map(|w| w.slug).unwrap_or_default();
    // Signing out must not fail for the event's sake: if queueing it does, the session
    // still ends (without the event) and the cause is logged.
    let with_event = async {
        let txn = super::db::write(db).await?;
        let n = session::Entity::delete_by_id(s.id).exec(&txn).await?.rows_affected;
        super::webhooks::sessions_event(&txn, now, s.workspace_id, Some(s.account_id), n, "signed_out").await?;
        txn.commit().await?;
        Ok::<(), DomainError>(())
    };
    if let Err(e) = with_event.await {
        tracing::warn!(error = %e, "sign-out: the session.revoked event could not be queued; the session ends without it");
        session::Entity::delete_by_id(s.id).exec(db).await?;
    }
    Ok(Some(Ended { session: s, workspace_slug: slug }))
}

/// A session that has just ended, as its sign-out goes on (Single Logout reads how it
/// began).
#[derive(Debug, Clone)]
pub struct Ended {
    pub(in crate::server) session: session::Model,
    pub workspace_slug: String,
}

/// Ends the workspace's sessions made with sign-in `method` (switched off, or narrowed),
/// except `keep` (the acting admin's own); `reason` is what the `session.revoked` event
/// says. Returns how many ended.
pub async fn end_by_method<C: ConnectionTrait>(db: &C, now: i64, workspace_id: i64, method: &str, keep: Option<i64>, reason: &str) -> Result<u64, DomainError> {
    let mut q = session::Entity::delete_many().filter(session::Column::WorkspaceId.eq(workspace_id)).filter(session::Column::Method.eq(method));
    if let Some(k) = keep {
        q = q.filter(session::Column::Id.ne(k));
    }
    let n = q.exec(db).await?.rows_affected;
    super::webhooks::sessions_event(db, now, workspace_id, None, n, reason).await?;
    Ok(n)
}

/// Revokes every session of an account in one workspace (deactivation).
pub async fn revoke_all<C: ConnectionTrait>(db: &C, account_id: i64, workspace_id: i64) -> Result<u64, DomainError> {
    let res =
        session::Entity::delete_many().filter(session::Column::AccountId.eq(account_id)).filter(session::Column::WorkspaceId.eq(workspace_id)).exec(db).await?;
    Ok(res.rows_affected)
}

/// The sessions of one account in one workspace that would still let it in at `now`
/// (within the workspace's lifetime and idle timeout), newest first. Ended ones are only
/// deleted when next presented, so they are filtered here.
pub(in crate::server) async fn live_of<C: ConnectionTrait>(
    db: &C,
    now: i64,
    ws: &super::entities::workspace::Model,
    account_id: i64,
) -> Result<Vec<session::Model>, DomainError> {
    use sea_orm::QueryOrder;
    Ok(live(ws, now, session::Entity::find().filter(session::Column::WorkspaceId.eq(ws.id)).filter(session::Column::AccountId.eq(account_id)))
        .order_by_desc(session::Column::LastSeenAt)
        .order_by_desc(session::Column::Id)
        .all(db)
        .await?)
}

/// The viewer's own live sessions in their workspace, for their sessions page: device,
/// address, how each signed in (a SAML provider by its name), when it started and was last
/// used, and which one is this.
pub async fn list_own(db: &sea_orm::DatabaseConnection, now: i64, viewer: &Viewer) -> Result<Vec<crate::model::SessionInfo>, DomainError> {
    use super::entities::{saml_provider, workspace};
    let ws = workspace::Entity::find_by_id(viewer.workspace_id).one(db).await?.ok_or(DomainError::NotFound)?;
    let providers: std::collections::HashMap<String, String> = saml_provider::Entity::find()
        .filter(saml_provider::Column::WorkspaceId.eq(ws.id))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.method_key(), p.name))
        .collect();
    Ok(live_of(db, now, &ws, viewer.account_id)
        .await?
        .into_iter()
        .map(|s| crate::model::SessionInfo {
            id: s.id,
            device: device_label(&s.user_agent),
            ip: s.ip,
            method: providers.get(&s.method).map(|n| format!("SAML: {n}")).unwrap_or_else(|| crate::model::method_label(&s.method).to_string()),
            started: super::clock::display_time(s.created_at),
            last_active: super::clock::display_time(s.last_seen_at),
            current: s.id == viewer.session_id,
        })
        .collect())
}

/// Live sessions per account, for the given accounts of `ws` (one query).
pub(in crate::server) async fn live_counts<C: ConnectionTrait>(
    db: &C,
    now: i64,
    ws: &super::entities::workspace::Model,
    accounts: &[i64],
) -> Result<std::collections::HashMap<i64, u32>, DomainError> {
    use sea_orm::QuerySelect;
    let mut out = std::collections::HashMap::new();
    for chunk in accounts.chunks(500) {
        let ids: Vec<i64> =
            live(ws, now, session::Entity::find().filter(session::Column::WorkspaceId.eq(ws.id)).filter(session::Column::AccountId.is_in(chunk.to_vec())))
                .select_only()
                .column(session::Column::AccountId)
                .into_tuple()
                .all(db)
                .await?;
        for a in ids {
            *out.entry(a).or_insert(0u32) += 1;
        }
    }
    Ok(out)
}

/// Limits a session query to sessions that are live at `now` in `ws`.
fn live(ws: &super::entities::workspace::Model, now: i64, q: sea_orm::Select<session::Entity>) -> sea_orm::Select<session::Entity> {
    let q = q.filter(session::Column::CreatedAt.gt(now.saturating_sub(ws.session_lifetime_secs)));
    if ws.session_idle_secs > 0 {
        q.filter(session::Column::LastSeenAt.gt(now.saturating_sub(ws.session_idle_secs)))
    } else {
        q
    }
}

/// What ending sessions did: how many ended.
async fn ended(events: &super::events::Events, db: &sea_orm::DatabaseConnection, workspace_id: i64, n: u64) -> u64 {
    if n > 0 {
        // Open pages of the ended sessions check theirs at once and go to sign-in.
        events.publish(db, workspace_id, &[super::events::Topic::Sessions]).await;
    }
    n
}

/// A member ends one of their own sessions. Another member's session, or one of another
/// workspace, is `NotFound`, whatever its id.
pub async fn end_own(db: &sea_orm::DatabaseConnection, events: &super::events::Events, now: i64, viewer: &Viewer, session_id: i64) -> Result<(), DomainError> {
    let txn = super::db::write(db).await?;
    let n = session::Entity::delete_many()
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::AccountId.eq(viewer.account_id))
        .filter(session::Column::WorkspaceId.eq(viewer.workspace_id))
        .exec(&txn)
        .await?
        .rows_affected;
    if n == 0 {
        txn.rollback().await?;
        return Err(DomainError::NotFound);
    }
    super::audit::record(&txn, now, Some(viewer.workspace_id), &viewer.actor(), "session.end", &viewer.email, serde_json::json!({ "sessions_ended": 1 }))
        .await?;
    super::webhooks::sessions_event(&txn, now, viewer.workspace_id, Some(viewer.account_id), n, "signed_out").await?;
    txn.commit().await?;
    ended(events, db, viewer.workspace_id, n).await;
    Ok(())
}

/// A member ends every session of theirs in this workspace but the one they act through.
pub async fn end_own_others(db: &sea_orm::DatabaseConnection, events: &super::events::Events, now: i64, viewer: &Viewer) -> Result<u64, DomainError> {
    let txn = super::db::write(db).await?;
    let n = session::Entity::delete_many()
        .filter(session::Column::AccountId.eq(viewer.account_id))
        .filter(session::Column::WorkspaceId.eq(viewer.workspace_id))
        .filter(session::Column::Id.ne(viewer.session_id))
        .exec(&txn)
        .await?
        .rows_affected;
    super::audit::record(
        &txn,
        now,
        Some(viewer.workspace_id),
        &viewer.actor(),
        "session.end_others",
        &viewer.email,
        serde_json::json!({ "sessions_ended": n }),
    )
    .await?;
    super::webhooks::sessions_event(&txn, now, viewer.workspace_id, Some(viewer.account_id), n, "other_devices").await?;
    txn.commit().await?;
    Ok(ended(events, db, viewer.workspace_id, n).await)
}

/// An admin signs a member out everywhere: every session of theirs in this workspace ends
/// (the admin's own, if they chose themselves, stays). Audited with the count.
pub async fn end_member(
    db: &sea_orm::DatabaseConnection,
    events: &super::events::Events,
    now: i64,
    cap: &AdminCap,
    membership_id: i64,
) -> Result<u64, DomainError> {
    use super::entities::{account, membership};
    let txn = super::db::write(db).await?;
    let Some(m) = membership::Entity::find_by_id(membership_id).filter(membership::Column::WorkspaceId.eq(cap.workspace_id())).one(&txn).await? else {
        txn.rollback().await?;
        return Err(DomainError::NotFound);
    };
    let email = account::Entity::find_by_id(m.account_id).one(&txn).await?.map(|a| a.email_normalized).unwrap_or_default();
    let mut q = session::Entity::delete_many().filter(session::Column::AccountId.eq(m.account_id)).filter(session::Column::WorkspaceId.eq(cap.workspace_id()));
    if let Some(own) = cap.session_id() {
        q = q.filter(session::Column::Id.ne(own));
    }
    let n = q.exec(&txn).await?.rows_affected;
    super::audit::record(&txn, now, Some(cap.workspace_id()), cap.actor(), "member.sign_out", &email, serde_json::json!({ "sessions_ended": n })).await?;
    super::webhooks::sessions_event(&txn, now, cap.workspace_id(), Some(m.account_id), n, "admin").await?;
    txn.commit().await?;
    Ok(ended(events, db, cap.workspace_id(), n).await)
}

/// How many sessions and members "sign out every member" would end now (the admin's own
/// session excepted): for its confirmation.
pub async fn everyone_count<C: ConnectionTrait>(db: &C, now: i64, cap: &AdminCap) -> Result<(u64, u64), DomainError> {
    use super::entities::workspace;
    let ws = workspace::Entity::find_by_id(cap.workspace_id()).one(db).await?.ok_or(DomainError::NotFound)?;
    let mut q = live(&ws, now, session::Entity::find().filter(session::Column::WorkspaceId.eq(ws.id)));
    if let Some(own) = cap.session_id() {
        q = q.filter(session::Column::Id.ne(own));
    }
    let accounts: Vec<i64> = {
        use sea_orm::QuerySelect;
        q.select_only().column(session::Column::AccountId).into_tuple().all(db).await?
    };
    let sessions = accounts.len() as u64;
    let mut members = accounts;
    members.sort_unstable();
    members.dedup();
    Ok((sessions, members.len() as u64))
}

/// Break-glass: every session in the workspace ends but the admin's own. Audited with the
/// count.
pub async fn end_everyone(db: &sea_orm::DatabaseConnection, events: &super::events::Events, now: i64, cap: &AdminCap) -> Result<u64, DomainError> {
    let txn = super::db::write(db).await?;
    let mut q = session::Entity::delete_many().filter(session::Column::WorkspaceId.eq(cap.workspace_id()));
    if let Some(own) = cap.session_id() {
        q = q.filter(session::Column::Id.ne(own));
    }
    let n = q.exec(&txn).await?.rows_affected;
    super::audit::record(
        &txn,
        now,
        Some(cap.workspace_id()),
        cap.actor(),
        "workspace.sign_out_everyone",
        "every member",
        serde_json::json!({ "sessions_ended": n }),
    )
    .await?;
    super::webhooks::sessions_event(&txn, now, cap.workspace_id(), None, n, "everyone").await?;
    txn.commit().await?;
    Ok(ended(events, db, cap.workspace_id(), n).await)
}

/// A browser and operating system for a User-Agent, e.g. "Chrome 120 on Windows 10";
/// "Unknown device" when there is none or it names no browser.
pub fn device_label(user_agent: &str) -> String {
    if user_agent.trim().is_empty() {
        return "Unknown device".into();
    }
    match woothee::parser::Parser::new().parse(user_agent) {
        Some(r) if r.name != woothee::woothee::VALUE_UNKNOWN => {
            let version = r.version.split('.').next().unwrap_or("");
            let browser = if version.is_empty() || version == woothee::woothee::VALUE_UNKNOWN { r.name.to_string() } else { format!("{} {version}", r.name) };
            if r.os == woothee::woothee::VALUE_UNKNOWN {
                browser
            } else {
                format!("{browser} on {}", r.os)
            }
        }
        _ => "Unknown device".into(),
    }
}

#[cfg(test)]
mod device_tests {
    use super::device_label;

    #[test]
    fn devices_are_named_by_browser_and_system() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        assert_eq!(device_label(chrome), "Chrome 120 on Windows 10");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
        assert!(device_label(safari).starts_with("Safari 17 on iPhone"), "{}", device_label(safari));
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
        assert_eq!(device_label(firefox), "Firefox 121 on Linux");
        assert_eq!(device_label(""), "Unknown device");
        assert_eq!(device_label("   "), "Unknown device");
    }
}
