//! `POST /scim/oauth/{provider}/token`: the OAuth 2.0 token endpoint of a provider's SCIM
//! client (RFC 6749 §4.4, client credentials). The client authenticates with HTTP Basic
//! (§2.3.1) or with `client_id` and `client_secret` in the form body, never both; the
//! answer is a bearer token for that provider's `/scim/v2`, valid for an hour, and never
//! cached (§5.1). Failures are counted per provider and client address: 20 a minute,
//! then 429; a client is issued at most 60 tokens a minute.
use app::server::scim::oauth::{self, Refusal};
use app::web::AppState;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};

use crate::pages::peer;

const FAILURES_PER_MINUTE: i64 = 20;
const BODY_LIMIT: usize = 16 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new().route("/scim/oauth/{provider}/token", post(token)).layer(DefaultBodyLimit::max(BODY_LIMIT))
}

fn answer(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    answer(status, json!({ "error": code, "error_description": description }))
}

/// `client_id:client_secret` from `Authorization: Basic`, each form-decoded (§2.3.1).
fn basic(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok().and_then(|b| String::from_utf8(b).ok());
    let form = |s: &str| url::form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default();
    Some(decoded.and_then(|d| d.split_once(':').map(|(id, secret)| (form(id), form(secret)))).ok_or(()))
}

async fn token(State(st): State<AppState>, Path(provider): Path<String>, req: Request) -> Response {
    let now = st.now();
    let ip = peer(&req);
    let headers = req.headers().clone();
    let Ok(body) = axum::body::to_bytes(req.into_body(), BODY_LIMIT).await else {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "the request body is too large");
    };
    // Failures are counted per (provider, client address): one tenant's IdP with a wrong
    // secret, behind an address it shares with others (Microsoft's), slows only itself.
    // Every request takes a slot before it is checked, and a success gives it back, so a
    // burst of parallel guesses can't pass the limit together. Unknown providers share
    // one scope, so random names make no rows.
    let scope = match app::server::saml::by_public_id(&st.db, &provider).await {
        Ok(p) => p.public_id().to_string(),
        Err(app::server::DomainError::NotFound) => "unknown".to_string(),
        Err(e) => return server_error(e),
    };
    let fail_key = ip.as_deref().map(|ip| format!("scim:oauth:fail:{scope}:{ip}"));
    if let Some(key) = &fail_key {
        match app::server::ratelimit::reserve(&st.db, &[(key, FAILURES_PER_MINUTE)], now, 60).await {
            Ok(true) => {}
            Ok(false) => return too_many("too many failed requests for this provider from this address; retry in a minute"),
            Err(e) => return server_error(e),
        }
    }
    // From here a refusal keeps its slot; only a success gives it back.
    let media_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).unwrap_or("");
    if !media_type.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "send the request as application/x-www-form-urlencoded");
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        // §3.2: a parameter sent twice is an invalid request.
        if fields.iter().any(|(seen, _)| *seen == k) {
            return error(StatusCode::BAD_REQUEST, "invalid_request", &format!("{k} is sent more than once"));
        }
        fields.push((k.into_owned(), v.into_owned()));
    }
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(_) => return error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "only the client_credentials grant is supported"),
        None => return error(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is missing"),
    }
    let in_body = (field("client_id"), field("client_secret"));
    let by_basic = basic(&headers);
    let used_basic = by_basic.is_some();
    let (client_id, client_secret) = match (by_basic, in_body) {
        // §3.2.1 lets a client name itself in the body too; a secret there as well, or
        // another name, is two ways of authenticating at once.
        (Some(Ok((id, _))), (body_id, body_secret)) if body_secret.is_some() || body_id.is_some_and(|b| b != id) => {
            return error(StatusCode::BAD_REQUEST, "invalid_request", "authenticate the client one way: HTTP Basic or the form body, not both")
        }
        (Some(Ok(pair)), _) => pair,
        (Some(Err(())), _) => return invalid_client(true),
        (None, (Some(id), Some(secret))) => (id.to_string(), secret.to_string()),
        (None, _) => return invalid_client(false),
    };
    match oauth::issue(&st.db, now, &provider, &client_id, &client_secret).await {
        Ok(Ok(issued)) => {
            if let Some(key) = &fail_key {
                if let Err(e) = app::server::ratelimit::release(&st.db, &[key.as_str()], now, 60).await {
                    tracing::warn!(error = %e, "token endpoint failure counter");
                }
            }
            answer(StatusCode::OK, json!({ "access_token": issued.access_token.expose(), "token_type": "Bearer", "expires_in": issued.expires_in }))
        }
        Ok(Err(Refusal::TooMany)) => too_many("this client has asked for too many tokens this minute; one lasts an hour"),
        Ok(Err(Refusal::InvalidClient)) => invalid_client(used_basic),
        Ok(Err(Refusal::UnauthorizedClient(why))) => error(StatusCode::BAD_REQUEST, "unauthorized_client", &why),
        Err(e) => server_error(e),
    }
}

/// A failure on our side, in the endpoint's JSON; the error goes to the log only.
fn server_error(e: app::server::DomainError) -> Response {
    tracing::error!(error = %e, "SCIM token endpoint failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "something went wrong on our side; retry in a moment")
}

fn too_many(why: &str) -> Response {
    let mut r = error(StatusCode::TOO_MANY_REQUESTS, "invalid_request", why);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    r
}

/// §5.2: 401, with a Basic challenge when the client tried Basic.
fn invalid_client(basic: bool) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, "invalid_client", "the client id or secret is not right for this provider");
    if basic {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"gatehouse-scim\""));
    }
    r
}
