//! Sessions: a 256-bit random token in an HttpOnly cookie; only its SHA-256 is stored.
//! Expiry is absolute and computed on every request from the workspace's *current*
//! lifetime, so shortening the lifetime applies to existing sessions at once.
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, Set, Statement};

use super::crypto::Token;
use super::entities::session;
use super::permissions::{Status, Viewer};
use super::DomainError;

pub const COOKIE_NAME: &str = "gatehouse_session";
/// With https the `__Host-` prefix pins the cookie to our origin, path `/`, Secure.
pub const SECURE_COOKIE_NAME: &str = "__Host-gatehouse_session";

/// Only refresh `last_seen_at` this often, so a session check is one read.
const TOUCH_EVERY_SECS: i64 = 60;

pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

pub fn set_cookie_header(token: &Token, secure: bool, max_age: i64) -> String {
    format!("{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}", cookie_name(secure), token.expose(), max_age, if secure { "; Secure" } else { "" })
}

pub fn clear_cookie_header(secure: bool) -> String {
    format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}", cookie_name(secure), if secure { "; Secure" } else { "" })
}

/// Finds our session token in a `Cookie` header.
pub fn token_from_cookie_header(header: &str, secure: bool) -> Option<Token> {
    let name = cookie_name(secure);
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name && !v.is_empty() && v.len() <= 128).then(|| Token::from_presented(v))
    })
}

/// Starts a session (always a new token: no fixation).
pub async fn create<C: ConnectionTrait>(db: &C, now: i64, account_id: i64, workspace_id: i64, method: &str) -> Result<Token, DomainError> {
    let token = Token::generate();
    session::ActiveModel {
        token_hash: Set(token.hash()),
        account_id: Set(account_id),
        workspace_id: Set(workspace_id),
        method: Set(method.to_string()),
        created_at: Set(now),
        last_seen_at: Set(now),
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

/// The viewer of a request's session cookie (for plain axum handlers; server functions
/// use `api::ctx::viewer`), or `None` without a valid session.
pub async fn viewer_from_headers<C: ConnectionTrait>(db: &C, now: i64, headers: &http::HeaderMap, secure: bool) -> Result<Option<Viewer>, DomainError> {
    match token_from_headers(headers, secure) {
        Some(t) => resolve(db, now, &t, None).await,
        None => Ok(None),
    }
}

/// As [`viewer_from_headers`], without counting as use of the session: an open page's live
/// stream re-checks its session every minute, and that must not keep an unattended
/// session from its idle timeout.
pub async fn check_from_headers<C: ConnectionTrait>(db: &C, now: i64, headers: &http::HeaderMap, secure: bool) -> Result<Option<Viewer>, DomainError> {
    match token_from_headers(headers, secure) {
        Some(t) => look_up(db, now, &t, None, false).await,
        None => Ok(None),
    }
}

fn token_from_headers(headers: &http::HeaderMap, secure: bool) -> Option<Token> {
    headers.get_all(http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|h| token_from_cookie_header(h, secure))
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
    let ph = if backend == DbBackend::Postgres { "$1" } else { "?" };
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

pub async fn revoke<C: ConnectionTrait>(db: &C, session_id: i64) -> Result<(), DomainError> {
    session::Entity::delete_by_id(session_id).exec(db).await?;
    Ok(())
}

/// Ends the workspace's sessions made with sign-in `method` (switched off, or narrowed),
/// except `keep` (the acting admin's own). Returns how many ended.
pub async fn end_by_method<C: ConnectionTrait>(db: &C, workspace_id: i64, method: &str, keep: Option<i64>) -> Result<u64, DomainError> {
    let mut q = session::Entity::delete_many().filter(session::Column::WorkspaceId.eq(workspace_id)).filter(session::Column::Method.eq(method));
    if let Some(k) = keep {
        q = q.filter(session::Column::Id.ne(k));
    }
    Ok(q.exec(db).await?.rows_affected)
}

/// Revokes every session of an account in one workspace (deactivation).
pub async fn revoke_all<C: ConnectionTrait>(db: &C, account_id: i64, workspace_id: i64) -> Result<u64, DomainError> {
    let res =
        session::Entity::delete_many().filter(session::Column::AccountId.eq(account_id)).filter(session::Column::WorkspaceId.eq(workspace_id)).exec(db).await?;
    Ok(res.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn cookie_round_trip_and_attributes() {
        let t = Token::generate();
        let h = set_cookie_header(&t, true, 100);
        assert!(h.starts_with("__Host-gatehouse_session="));
        for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=100"] {
            assert!(h.contains(attr), "{attr} missing in {h}");
        }
        assert!(!set_cookie_header(&t, false, 1).contains("Secure"));
        let header = format!("a=b; {}={}; c=d", COOKIE_NAME, t.expose());
        assert_eq!(token_from_cookie_header(&header, false).map(|x| x.hash()), Some(t.hash()));
        assert!(token_from_cookie_header(&header, true).is_none());
        assert!(token_from_cookie_header("gatehouse_session=", false).is_none());
    }
}
