//! Helpers for the sign-in protocol endpoints (SAML, OIDC): the nonce cookie that binds a
//! pending sign-in to the browser that started it, and per-IP throttling.
use app::server::crypto::Token;
use app::web::cookies::{SameSite, SetCookie};
use app::web::AppState;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

/// Failed sign-in answers allowed per client address per minute and per scope (a SAML
/// provider, an OIDC provider and workspace). Failures, not attempts: a company of
/// thousands behind one NAT address signing in through its IdP at 9 am is never
/// throttled, while junk posted at the ACS is.
const FAILURES_PER_IP_PER_MINUTE: i64 = 60;

/// Sign-in starts allowed per client address per minute and per scope. A start is a
/// redirect, not a guess, so the ceiling sits far above any company's 9 am behind one
/// address; it bounds the pending-request rows a loop from one address can write.
pub const STARTS_PER_IP_PER_MINUTE: i64 = 1200;

/// The browser's nonce from cookie `name`, if it sent one.
pub fn nonce(headers: &HeaderMap, name: &str) -> Option<Token> {
    app::web::cookies::values(headers, name).find(|v| v.len() == 43).map(Token::from_presented)
}

/// The request's User-Agent, kept with a session it starts.
pub fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The nonce cookie. `cross_site_post`: the answer arrives as a cross-site POST (SAML), so
/// under https the cookie must be `SameSite=None; Secure`; a top-level GET (OIDC) works
/// with `Lax`.
pub fn set_nonce(name: &str, path: &str, token: &Token, secure: bool, cross_site_post: bool) -> HeaderValue {
    let same_site = if secure && cross_site_post { SameSite::None } else { SameSite::Lax };
    let cookie = SetCookie { name, value: token.expose(), path, same_site, max_age: 900, secure };
    HeaderValue::from_str(&cookie.header()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn failure_key(scope: &str, ip: &str) -> String {
    format!("signin:fail:{scope}:{ip}")
}

fn too_many() -> Response {
    let mut r = crate::pages::page(StatusCode::TOO_MANY_REQUESTS, "Too many sign-in attempts from your network. Wait a minute and try again.", None);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    r
}

/// Counts a sign-in start in `scope` from this client address: `Some(429 response)` past
/// [`STARTS_PER_IP_PER_MINUTE`].
pub async fn start_throttled(st: &AppState, scope: &str, ip: Option<&str>) -> Option<Response> {
    let ip = ip?;
    match app::server::ratelimit::hit(&st.db, &format!("signin:start:{scope}:{ip}"), st.now(), 60).await {
        Ok(n) if n > STARTS_PER_IP_PER_MINUTE => Some(too_many()),
        Ok(_) => None,
        Err(e) => Some(crate::pages::internal(e)),
    }
}

/// `Some(429 response)` when this client address has failed too often in `scope` this
/// minute. Counts nothing itself.
pub async fn throttled(st: &AppState, scope: &str, ip: Option<&str>) -> Option<Response> {
    let ip = ip?;
    match app::server::ratelimit::count(&st.db, &failure_key(scope, ip), st.now(), 60).await {
        Ok(n) if n >= FAILURES_PER_IP_PER_MINUTE => Some(too_many()),
        Ok(_) => None,
        Err(e) => Some(crate::pages::internal(e)),
    }
}

/// Records that an answer in `scope` from this client address was refused.
pub async fn failed(st: &AppState, scope: &str, ip: Option<&str>) {
    let Some(ip) = ip else { return };
    if let Err(e) = app::server::ratelimit::hit(&st.db, &failure_key(scope, ip), st.now(), 60).await {
        tracing::warn!(error = %e, "sign-in failure counter");
    }
}

/// The account of the browser's session when it is an admin of `workspace_id`: who may
/// run a provider's Test sign-in (anyone else is told the provider doesn't exist).
pub async fn tester(st: &AppState, headers: &HeaderMap, workspace_id: i64) -> Option<i64> {
    let viewer = app::web::cookies::viewer_from_headers(&st.db, st.now(), headers, st.config.secure_cookies()).await.unwrap_or(None);
    viewer.filter(|v| v.workspace_id == workspace_id && v.is_admin()).map(|v| v.account_id)
}
